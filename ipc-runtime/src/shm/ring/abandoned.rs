//! Slots abandoned by a sender that died between its claim and its publish: how the
//! receiver tells such a slot from one still being written, and skips it
//! ([`Ring::skip_abandoned`]).
//!
//! The claims it scans are written by [`claim`](super::claim); the receiver calls it
//! when it is stuck on a slot that [`receive`](super::receive) reports claimed but not
//! published.
//!
//! # Dead senders
//!
//! Before each attempt to advance `tail` a sender writes `claims[me] = pos + 1` (on its own
//! cache line). A receiver stuck on a slot that is claimed (`tail > pos`) but not published
//! can therefore tell who holds it: if no *live* participant has `claims[i] == pos + 1`,
//! the claimer died between its claim and its publish, and the receiver publishes the slot
//! itself, as cancelled ([`Ring::skip_abandoned`]). This is sound because the claimer's
//! `claims` store is sequenced before its advance of `tail` (a release), which the
//! receiver's load of `tail` acquires: a receiver that sees the slot claimed sees the claim
//! too, until the claimer moves on to a later position, which it does only after publishing
//! this one (and the receiver publishes by a CAS on `seq`, which fails if the claimer did).
//! A participant index reused by a newcomer is reset on join, which can only delay a skip,
//! never cause a wrong one: a skip needs the slot still unpublished and its claimer dead.

use super::{published_seq, Region, Ring};
use crate::sync::atomic::Ordering;

impl<R: Region> Ring<R> {
    /// Publishes `pos` as cancelled if it is claimed but its claimer is dead (`alive(i)`
    /// false for every participant `i` whose claim names `pos`). Returns true if it did;
    /// the receiver then reads the slot as an empty message.
    pub(crate) fn skip_abandoned(&self, pos: u64, mut alive: impl FnMut(usize) -> bool) -> bool {
        let c = self.region.control();
        let tail = c.tail.load(Ordering::SeqCst);
        if tail.wrapping_sub(pos) as i64 <= 0 {
            return false;
        }
        let want = pos.wrapping_add(1);
        for (i, claim) in c.claims.iter().enumerate() {
            if claim.load(Ordering::SeqCst) == want && alive(i) {
                return false;
            }
        }
        let seq = &self.region.slot(self.index(pos)).seq;
        let before = seq.load(Ordering::SeqCst);
        // A CAS, so that a claimer that did publish after all keeps its message.
        self.is_unpublished(before, pos)
            && seq
                .compare_exchange(
                    before,
                    published_seq(pos, true),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                )
                .is_ok()
    }
}
