//! Who may advance `tail`: every sender by CAS (`Shared`), or one sender by plain stores
//! (`Biased`), and how the ring moves between the two.
//!
//! # Claims
//!
//! Every claim stores `claims[me] = pos + 1`, then (behind a store-load barrier) loads
//! `mode`:
//!
//! - in `Biased(me)` it stores `tail = pos + 1`;
//! - in `Shared` it CASes `tail` from `pos` to `pos + 1`;
//! - in any other mode it clears its claim and reports [`super::RingError::Busy`], and the
//!   caller [`settle`](Ring::settle)s the mode before it tries again.
//!
//! A claim is *in flight* while `claims[i] == tail + 1`: its owner is between its claim
//! store and its advance of `tail`, and may still advance `tail` as the mode it loaded
//! allows. (A claim is not cleared after it succeeds: that would cost a store per
//! message. It then names a position below `tail`, which is not in flight.)
//!
//! # Moving
//!
//! The mode changes only through `Moving { mover, from }`, set by a CAS. The mover then
//! waits until no participant whose claim could race the new mode is in flight, and sets
//! the new mode:
//!
//! - **Grant** (`Shared` → `Biased(me)`), tried by a sender that finds no other claim since
//!   its last look: it waits for every other participant.
//! - **Revoke** (`Biased(o)` → `Shared`), by another sender that wants to claim: it waits
//!   for `o` only (shared claimers' CASes are safe with each other).
//!
//! The wait is an asymmetric Dekker: between its CAS of the mode and its reads of the
//! claims the mover issues a heavy barrier (`membarrier`, see [`crate::sync::fence`]),
//! which the claimers' compiler barriers pair with. A claimer whose mode load came before
//! the barrier has its claim store visible after it; one whose load came after sees
//! `Moving` and backs off. The mover stops waiting for a claimer when it has read a
//! `tail` that the claim does not name as in flight: the claimer's last advance, or a
//! later one (or the 0 it stores, with `Release`, when it backs off). Having read that
//! value, the mover (and whoever reads the new mode from it, with `Acquire`) sees every
//! later read or CAS of `tail` ordered after it by coherence, so the new mode starts from
//! the true `tail`: the new holder of the bias reads it, and the shared claimers' CASes
//! are ordered after the former holder's stores.
//!
//! Only a process registered for the heavy barrier takes the bias (its compiler barrier
//! relies on it), and only when no other participant has claimed lately
//! ([`Ring::others_claimed_since`]; the channel looks every 4,096 positions): a sender
//! that merely holds the channel open costs the streaming one nothing, and one that starts
//! to send revokes. A mover whose heavy barrier fails puts the old mode back: it cannot
//! prove that nobody is in flight; it leaves [`WANTS`] in its claim word and waits, and
//! the holder gives the bias up itself when it next looks ([`Ring::wanted`]), which needs
//! no barrier since it is between its own claims. A former holder that is dead needs no
//! barrier and no wait: its last store is final. A mover that dies leaves `Moving`, and the
//! next sender that finds the mover dead takes the move over, towards `Shared`; so it does
//! when the mode names as mover or holder a participant that never claims (a channel's
//! receiver: the word was overwritten, [`Peers::claims`]), which is never in flight.
//!
//! The holder gives the bias back when it closes.

use super::{Ordering, Region, Ring, MAX_PARTICIPANTS};
use crate::sync::atomic::{spin_loop, yield_now};

/// Who may advance `tail` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Every sender claims by CAS.
    Shared,
    /// Only this participant claims, with plain stores.
    Biased(usize),
    /// `mover` is changing the mode; `from` held the bias before, if anyone did.
    Moving { mover: usize, from: Option<usize> },
}

const BIASED: u64 = 1 << 32;
const MOVING: u64 = 2 << 32;

impl Mode {
    /// The word's value: 0 for `Shared`, a tag in bits 32.. and participant indices in
    /// bits 0..8 (`mover`, the holder) and 8..16 (`from` + 1, or 0).
    #[inline]
    pub(crate) fn encode(self) -> u64 {
        match self {
            Mode::Shared => 0,
            Mode::Biased(i) => BIASED | i as u64,
            Mode::Moving { mover, from } => {
                MOVING | mover as u64 | (from.map_or(0, |o| o as u64 + 1) << 8)
            }
        }
    }

    /// None for a value no mode encodes to (the word was overwritten).
    pub(crate) fn decode(v: u64) -> Option<Mode> {
        let index = |x: u64| (x < MAX_PARTICIPANTS as u64).then_some(x as usize);
        let (tag, low, high) = (v & !0xffff, v & 0xff, v >> 8 & 0xff);
        match tag {
            0 if v == 0 => Some(Mode::Shared),
            BIASED if high == 0 => index(low).map(Mode::Biased),
            MOVING => Some(Mode::Moving {
                mover: index(low)?,
                from: match high {
                    0 => None,
                    o => Some(index(o - 1)?),
                },
            }),
            _ => None,
        }
    }
}

/// What [`Ring::settle`] did; in every case but `Wait` the caller claims again at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// It revoked a bias: the ring is shared now.
    Revoked,
    /// The mode had changed already (or it finished a dead mover's move): look again.
    Changed,
    /// A live mover is at work, or the heavy barrier failed: wait a little first.
    Wait,
}

/// What a mover needs from its process: who is alive, and the heavy barrier.
pub(crate) trait Peers {
    /// True if participant `i` is alive (a system call: asked only when it matters).
    fn alive(&self, i: usize) -> bool;
    /// A full barrier on every CPU that runs a registered process
    /// ([`crate::sync::fence::heavy`]); false if it failed.
    fn heavy(&self) -> bool;
    /// True if participant `i` claims positions, and so may hold the bias or move the
    /// mode (a channel's receiver never does). A mode that names another one as its
    /// mover was not set by a participant: [`Ring::settle`] takes the move over as a
    /// dead mover's.
    fn claims(&self, i: usize) -> bool {
        let _ = i;
        true
    }
}

impl<R: Region> Ring<R> {
    /// The mode now, or None if the word is garbage.
    pub(crate) fn mode(&self) -> Option<Mode> {
        Mode::decode(self.region.control().mode.load(Ordering::SeqCst))
    }

    /// Makes the ring claimable for `me` after [`Ring::try_claim`] reported `Busy(mode)`:
    /// revokes another sender's bias, or takes over a move whose mover died (or is no
    /// sender: the mode word was overwritten).
    pub(crate) fn settle(&self, me: usize, mode: Mode, peers: &impl Peers) -> Settle {
        let from = match mode {
            Mode::Shared => return Settle::Changed,
            Mode::Biased(o) if o == me => return Settle::Changed,
            Mode::Biased(o) => Some(o),
            Mode::Moving { mover, from } => {
                if mover != me && peers.claims(mover) && peers.alive(mover) {
                    return Settle::Wait;
                }
                from
            }
        };
        if !self.swap_mode(mode, Mode::Moving { mover: me, from }) {
            return Settle::Changed;
        }
        if !self.finish_move(me, from, Mode::Shared, peers) {
            if from.is_some() {
                // The holder gives the bias up when it next sees this (`wanted`).
                self.region.control().claims[me].store(WANTS, Ordering::SeqCst);
            }
            return Settle::Wait;
        }
        match from {
            Some(_) => Settle::Revoked,
            None => Settle::Changed,
        }
    }

    /// Biases the ring to `me`, if it is shared. The caller has found no other live sender
    /// and its process is registered for the heavy barrier. True if it did.
    pub(crate) fn take_bias(&self, me: usize, peers: &impl Peers) -> bool {
        let moving = Mode::Moving {
            mover: me,
            from: None,
        };
        self.swap_mode(Mode::Shared, moving) && self.finish_move(me, None, Mode::Biased(me), peers)
    }

    /// True if a participant other than `me` claimed a position at or after `since`, or
    /// is waiting for a bias it could not revoke (see [`WANTS`]): then `me` does not take
    /// the bias, since it would be revoked at once. A claim word is the claimer's last
    /// claim (`pos + 1`), so this tells who has claimed lately, not who is alive: a sender
    /// that holds the channel open and does not send does not keep the ring shared.
    pub(crate) fn others_claimed_since(&self, me: usize, since: u64) -> bool {
        let c = self.region.control();
        (0..MAX_PARTICIPANTS)
            .filter(|&i| i != me)
            .any(|i| c.claims[i].load(Ordering::Relaxed) > since)
    }

    /// True if another participant failed to revoke `me`'s bias (its heavy barrier failed,
    /// or `me` stayed in flight too long) and waits for `me` to give it up.
    pub(crate) fn wanted(&self, me: usize) -> bool {
        let c = self.region.control();
        (0..MAX_PARTICIPANTS)
            .filter(|&i| i != me)
            .any(|i| c.claims[i].load(Ordering::Relaxed) == WANTS)
    }

    /// Gives up `me`'s bias, if it holds it (a sender that closes, not mid-claim).
    pub(crate) fn leave(&self, me: usize) {
        self.swap_mode(Mode::Biased(me), Mode::Shared);
    }

    /// For a participant that joins at index `me`: forgets what a dead former holder of
    /// the index left (its claim, its bias, its unfinished move).
    pub(crate) fn adopt(&self, me: usize, peers: &impl Peers) {
        self.region.control().claims[me].store(0, Ordering::SeqCst);
        match self.mode() {
            // The former holder is dead: nobody is in flight with a plain store.
            Some(Mode::Biased(o)) if o == me => self.leave(me),
            Some(m @ Mode::Moving { mover, .. }) if mover == me => {
                self.settle(me, m, peers);
            }
            _ => {}
        }
    }

    fn swap_mode(&self, from: Mode, to: Mode) -> bool {
        self.region
            .control()
            .mode
            .compare_exchange(
                from.encode(),
                to.encode(),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Completes the move that `me` holds (`Moving { mover: me, from }`) towards `target`:
    /// after the heavy barrier, waits until no participant whose claim could race `target`
    /// is in flight, then sets `target`. False if the move was undone: the barrier failed,
    /// or a live claimer stayed in flight past [`PATIENCE`] (a stopped process, say; the
    /// caller looks at its deadline and tries again).
    fn finish_move(
        &self,
        me: usize,
        from: Option<usize>,
        target: Mode,
        peers: &impl Peers,
    ) -> bool {
        let moving = Mode::Moving { mover: me, from };
        // A revoke waits for the former holder (if it is alive: a dead one's stores are
        // final); a grant waits for everybody else, since a sender may be joining.
        let watched: Vec<usize> = match target {
            Mode::Shared => from
                .filter(|&o| peers.claims(o) && peers.alive(o))
                .into_iter()
                .collect(),
            _ => (0..MAX_PARTICIPANTS).filter(|&i| i != me).collect(),
        };
        let done = (watched.is_empty() || peers.heavy())
            && watched.into_iter().all(|i| self.wait_out(i, peers));
        // Undoing is safe: while the mode said `Moving` nobody advanced `tail`.
        let to = if done {
            target
        } else {
            from.map_or(Mode::Shared, Mode::Biased)
        };
        self.swap_mode(moving, to) && done
    }

    /// Waits until participant `i`'s claim is not in flight, or `i` is dead. False if it
    /// stayed in flight past [`PATIENCE`].
    fn wait_out(&self, i: usize, peers: &impl Peers) -> bool {
        let c = self.region.control();
        // Plain loads: a stale value can only make us wait longer (a claim we read after
        // the barrier is the last one before it, or a later one).
        let in_flight = || match c.claims[i].load(Ordering::Acquire) {
            0 => false,
            claim => claim == c.tail.load(Ordering::Acquire).wrapping_add(1),
        };
        for spins in 0..PATIENCE {
            if !in_flight() {
                return true;
            }
            // A claimer that died in flight stays in flight; its stores are final.
            if spins % 1024 == 64 && !peers.alive(i) {
                return true;
            }
            if spins < 64 {
                spin_loop();
            } else {
                yield_now();
            }
        }
        !in_flight()
    }
}

/// A claim word that names no position: its owner tried to revoke a bias and could not,
/// and asks the holder to give it up between its own claims ([`Ring::wanted`]). Never
/// `tail + 1`, so it is never in flight, and no slot's claimer.
pub(crate) const WANTS: u64 = u64::MAX;

/// How many times a mover looks at a claim in flight (64 spins, then yields: about a
/// millisecond) before it undoes its move. A claim is in flight for nanoseconds unless its
/// process is descheduled in that window.
const PATIENCE: u32 = 4096;

#[cfg(all(test, not(ipc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_and_garbage_decodes_to_none() {
        let mut modes = vec![Mode::Shared];
        for i in [0, 1, 62, 63] {
            modes.push(Mode::Biased(i));
            modes.push(Mode::Moving {
                mover: i,
                from: None,
            });
            for o in [0, 5, 63] {
                modes.push(Mode::Moving {
                    mover: i,
                    from: Some(o),
                });
            }
        }
        for m in modes {
            assert_eq!(Mode::decode(m.encode()), Some(m));
        }
        for garbage in [
            1,
            64,
            BIASED | 64,
            BIASED | 1 << 8,
            MOVING | 65 << 8,
            3 << 32,
            u64::MAX,
        ] {
            assert_eq!(Mode::decode(garbage), None, "{garbage:#x}");
        }
    }
}
