//! The receiver's side of the ring: looking at its head ([`Ring::peek`]), asking whether a
//! slot is claimed or published (for the parking handshake), recording its progress in
//! `head`, and releasing read slots to the senders in batches ([`Ring::release`]).
//!
//! The senders' side is [`claim`](super::claim); a slot that stays claimed because its
//! sender died is skipped by [`abandoned`](super::abandoned).

use super::{published_seq, same_position, Peek, Region, Ring, RingError, CANCELLED};
use crate::sync::atomic::Ordering;

/// A run of published messages from some position on, as [`Ring::receive_run`] took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// How many consecutive positions carry a published message.
    pub(crate) len: u64,
    /// What the position after the run holds.
    pub(crate) end: RunEnd,
}

/// What ended a [`Run`]: the position after it is...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunEnd {
    /// ...not looked at: the run reached the limit asked for.
    Limit,
    /// ...a published message the caller refused (an invalid one, say): not consumed.
    Refused,
    /// ...not published (nothing claimed there, or a sender is writing it).
    Empty,
    /// ...published without a message.
    Cancelled,
    /// ...a `seq` that fits no state (the next [`Ring::peek`] reports it).
    Corrupt,
}

impl<R: Region> Ring<R> {
    /// Looks at position `head` (the receiver's own copy). `Empty` means nothing is
    /// published there; whether a sender has claimed it is [`Ring::claimed`]'s question
    /// (asked only when stuck, so a spinning receiver does not pull the senders' `tail`
    /// cache line on every iteration).
    #[inline]
    pub(crate) fn peek(&self, head: u64) -> Result<Peek, RingError> {
        let slot = self.region.slot(self.index(head));
        let seq = slot.seq.load(Ordering::Acquire);
        if same_position(seq, head.wrapping_add(1)) {
            return Ok(Peek::Ready {
                pos: head,
                cancelled: seq & CANCELLED != 0,
            });
        }
        if same_position(seq, self.unpublished(head)) {
            return Ok(Peek::Empty);
        }
        Err(RingError::Corrupt)
    }

    /// Takes the published messages from position `from` on, up to `max` of them (and
    /// never more than a capacity), in one pass: the receiver's one scan for a batch.
    /// For each position it loads the `seq` with `Acquire` (a plain load on x86) and, if
    /// it is exactly a published message's, calls `take(k, pos)` for the `k`-th message
    /// of the run, which may read the payload (the acquire orders the read after the
    /// sender's publish). The run stops before the first position that is not a
    /// published message, or whose message `take` refuses (returns false), and says
    /// which; nothing is consumed or released here.
    ///
    /// (A scan of the `seq`s with `Relaxed` loads and a single acquire fence, then a
    /// second pass to copy, measured about a tenth slower here for 8-byte messages: on
    /// x86 the acquires cost nothing, the second pass does.)
    #[inline(always)]
    pub(crate) fn receive_run(
        &self,
        from: u64,
        max: u64,
        mut take: impl FnMut(u64, u64) -> bool,
    ) -> Run {
        let max = max.min(self.region.capacity());
        let slots = self.region.slots();
        let mut len = 0;
        let end = loop {
            if len == max {
                break RunEnd::Limit;
            }
            let pos = from.wrapping_add(len);
            let seq = slots.at(pos).seq.load(Ordering::Acquire);
            // The streaming case first: exactly the `seq` of a published message.
            if seq == published_seq(pos, false) {
                if !take(len, pos) {
                    break RunEnd::Refused;
                }
                len += 1;
            } else if same_position(seq, pos.wrapping_add(1)) {
                // Its position, but not exactly: the `CANCELLED` bit is set.
                break RunEnd::Cancelled;
            } else if same_position(seq, self.unpublished(pos)) {
                break RunEnd::Empty;
            } else {
                break RunEnd::Corrupt;
            }
        };
        Run { len, end }
    }

    /// True if `head`'s slot is published now, or corrupt (a `SeqCst` load, for the
    /// parking handshake: the receiver does not sleep on a slot it should look at).
    pub(crate) fn published(&self, head: u64) -> bool {
        let seq = self
            .region
            .slot(self.index(head))
            .seq
            .load(Ordering::SeqCst);
        !same_position(seq, self.unpublished(head))
    }

    /// True if `tail` is further ahead of the receiver's `head` than any sender can
    /// claim: a sender claims a position only below `released + capacity`, and
    /// `released` is at most `head` (nor is `tail` ever behind `head`). Only a peer that
    /// wrote over the ring puts it there, and a receiver that skipped dead claims up to
    /// it would skip for ever.
    pub(crate) fn tail_beyond_reach(&self, head: u64) -> bool {
        let tail = self.region.control().tail.load(Ordering::SeqCst);
        tail.wrapping_sub(head) > self.region.capacity()
    }

    /// True if a sender has claimed position `head` (it may not have published it yet).
    pub(crate) fn claimed(&self, head: u64) -> bool {
        let tail = self.region.control().tail.load(Ordering::SeqCst);
        tail.wrapping_sub(head) as i64 > 0
    }

    /// [`Ring::peek`], telling `Empty` from `Pending` (claimed, not published).
    #[cfg(any(test, ipc_loom))]
    pub(crate) fn peek_full(&self, head: u64) -> Result<Peek, RingError> {
        match self.peek(head)? {
            Peek::Empty if self.claimed(head) => Ok(Peek::Pending(head)),
            p => Ok(p),
        }
    }

    /// Records that every position below `next` is read (the receiver's exact progress).
    #[inline]
    pub(crate) fn set_head(&self, next: u64) {
        self.region.control().head.store(next, Ordering::Release);
    }

    /// The receiver's recorded progress.
    pub(crate) fn head(&self) -> u64 {
        self.region.control().head.load(Ordering::Acquire)
    }

    /// Releases the slots of every position below `next` to the senders.
    ///
    /// Ordered before the caller's following load of the senders' "waiting for room"
    /// count as in [`Ring::publish`] (`fenced`: by the parking sender's `membarrier`;
    /// otherwise a `SeqCst` swap).
    pub(crate) fn release(&self, next: u64, fenced: bool) {
        let released = &self.region.control().released;
        if fenced {
            released.store(next, Ordering::Release);
            crate::sync::fence::light();
        } else {
            released.swap(next, Ordering::SeqCst);
        }
    }

    /// Messages published and not cancelled at positions `from..to`: of the last
    /// `capacity` positions at most, since no more can be unread at once (a snapshot, or
    /// exact when nobody else is attached). Reads one `seq` per position: for a sender
    /// that leaves or asks, never on the paths that send and receive.
    pub(crate) fn messages_between(&self, from: u64, to: u64) -> u64 {
        let n = to.wrapping_sub(from);
        if n as i64 <= 0 {
            return 0;
        }
        let n = n.min(self.region.capacity());
        let first = to.wrapping_sub(n);
        (0..n)
            .map(|i| first.wrapping_add(i))
            .filter(|&pos| {
                let seq = self
                    .region
                    .slot(self.index(pos))
                    .seq
                    .load(Ordering::Acquire);
                same_position(seq, pos.wrapping_add(1)) && seq & CANCELLED == 0
            })
            .count() as u64
    }

    /// Messages claimed and not yet read, as seen from `head` (a snapshot, clamped).
    pub(crate) fn len(&self, head: u64) -> u64 {
        let tail = self.region.control().tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.region.capacity())
    }
}
