//! The receiver's side of the ring: looking at its head ([`Ring::peek_knowing`]), asking
//! whether a slot is claimed or published (for the parking handshake), taking a run of
//! messages ([`Ring::receive_run`]) and the packed batches on the way, recording its
//! progress in `head`, and releasing read slots to the senders in batches
//! ([`Ring::release`]).
//!
//! The senders' side is [`claim`](super::claim); a slot that stays claimed because its
//! sender died is skipped by [`abandoned`](super::abandoned).

use super::{published_seq, same_position, Peek, Region, Ring, RingError, CANCELLED, PACKED};
use crate::sync::atomic::Ordering;

/// A run of published messages from some position on, as [`Ring::receive_run`] took it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// How many consecutive positions carry a published message.
    pub(crate) len: u64,
    /// What the position after the run holds.
    pub(crate) end: RunEnd,
}

/// A packed batch the receiver began: positions `start..end`, every one a message in the
/// packed array (see the ring's docs). The default is empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PackedRun {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The furthest `tail` the receiver has seen (at least `end`; 0 before any): a
    /// batch's end at or below it is within `tail` without a look at the senders' line
    /// (`tail` only grows), which a look per batch pulled from the sender.
    pub(crate) tail: u64,
}

impl PackedRun {
    /// True if `pos` is one of the batch's positions.
    #[inline(always)]
    pub(crate) fn contains(self, pos: u64) -> bool {
        pos.wrapping_sub(self.start) < self.end.wrapping_sub(self.start)
    }

    /// How many of the batch's positions there are from `pos` on (0 if `pos` is not one).
    #[inline(always)]
    fn left(self, pos: u64) -> u64 {
        if self.contains(pos) {
            self.end.wrapping_sub(pos)
        } else {
            0
        }
    }
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
    /// ...the head of a packed batch, not entered: a run enters a packed batch only at
    /// its first position, where the receiver's recorded progress moves to the batch
    /// before the batch is recorded ([`Ring::packed_run_at`]).
    Packed,
    /// ...a `seq` that fits no state (the next [`Ring::peek_knowing`] reports it).
    Corrupt,
}

impl<R: Region> Ring<R> {
    /// [`Ring::peek_knowing`] with no `tail` seen before.
    #[cfg(test)]
    pub(crate) fn peek(&self, head: u64) -> Result<Peek, RingError> {
        self.peek_knowing(head, 0)
    }

    /// Looks at position `head` (the receiver's own copy). `Empty` means nothing is
    /// published there; whether a sender has claimed it is [`Ring::claimed`]'s question
    /// (asked only when stuck, so a spinning receiver does not pull the senders' `tail`
    /// cache line on every iteration). A packed head is checked and recorded
    /// ([`Ring::packed_run_at`], with `tail_seen`, the furthest `tail` this receiver saw
    /// before); the receiver takes the batch's positions from the packed array without
    /// asking here again.
    #[inline]
    pub(crate) fn peek_knowing(&self, head: u64, tail_seen: u64) -> Result<Peek, RingError> {
        let slot = self.region.slot(self.index(head));
        let seq = slot.seq.load(Ordering::Acquire);
        if same_position(seq, head.wrapping_add(1)) {
            return match seq & (CANCELLED | PACKED) {
                0 => Ok(Peek::Ready {
                    pos: head,
                    cancelled: false,
                }),
                CANCELLED => Ok(Peek::Ready {
                    pos: head,
                    cancelled: true,
                }),
                PACKED => self
                    .packed_run_at(head, tail_seen)
                    .map(Peek::Packed)
                    .ok_or(RingError::Corrupt),
                _ => Err(RingError::Corrupt),
            };
        }
        if self.is_unpublished(seq, head) {
            return Ok(Peek::Empty);
        }
        Err(RingError::Corrupt)
    }

    /// The packed batch that the published position `pos` heads (the receiver loaded its
    /// `seq`, with the [`PACKED`] bit, with `Acquire`), recorded in the `packed` control
    /// words; `None` if the region has no packed array or the length is no batch's: 0,
    /// more than a capacity, or beyond `tail` (the sender advanced `tail` past the whole
    /// batch before it published the head, so the acquire that saw the head sees that
    /// `tail` too). `tail_seen` is a `tail` the receiver saw before (0 if none): `tail`
    /// is loaded only if the batch ends beyond it.
    ///
    /// `pos` is the receiver's head: every position before it is read. That is recorded
    /// first (`head`), then the batch: so the recorded head never lies inside a batch
    /// other than the recorded one, and a receiver that joins after this one died
    /// resumes inside the recorded batch, or before it (where the head's `seq` is intact:
    /// no slot from the recorded head on is released).
    #[inline(never)]
    pub(crate) fn packed_run_at(&self, pos: u64, tail_seen: u64) -> Option<PackedRun> {
        let c = self.region.control();
        let len = self
            .region
            .run_len(self.index(pos))?
            .load(Ordering::Relaxed);
        let end = pos.wrapping_add(len);
        let beyond = |tail: u64| (tail.wrapping_sub(end) as i64) < 0;
        let mut tail = tail_seen;
        if beyond(tail) {
            tail = c.tail.load(Ordering::Relaxed);
        }
        if len == 0 || len > self.region.capacity() || beyond(tail) {
            return None;
        }
        c.head.store(pos, Ordering::Release);
        // Start first: a receiver that dies between the two leaves the previous batch's
        // end, which no position from `pos` on lies before.
        c.packed.start.store(pos, Ordering::Relaxed);
        c.packed.end.store(end, Ordering::Relaxed);
        Some(PackedRun {
            start: pos,
            end,
            tail,
        })
    }

    /// The packed batch the receiver recorded last, if `head` (its recorded progress)
    /// lies inside it: where a receiver that joins resumes.
    pub(crate) fn packed_run_of(&self, head: u64) -> PackedRun {
        let c = self.region.control();
        let run = PackedRun {
            start: c.packed.start.load(Ordering::Acquire),
            end: c.packed.end.load(Ordering::Acquire),
            tail: 0,
        };
        if run.contains(head) && run.end.wrapping_sub(run.start) <= self.region.capacity() {
            run
        } else {
            PackedRun::default()
        }
    }

    /// Takes the published messages from position `from` on, up to `max` of them (and
    /// never more than a capacity), in one pass: the receiver's one scan for a batch.
    /// For each position it loads the `seq` with `Acquire` (a plain load on x86) and, if
    /// it is exactly a published message's, calls `take(k, pos, 1, false)` for the
    /// `k`-th message of the run, which may read the payload (the acquire orders the read
    /// after the sender's publish). Positions inside a packed batch (`packed`, the
    /// receiver's record; a run enters a batch only at its start, see
    /// [`RunEnd::Packed`]) are taken from the packed array, their `seq`s not looked at,
    /// `n` at a time: `take(k, pos, n, true)` for the `n` positions from `pos` on, the
    /// `k`-th of the run first. `take` returns how many it took: fewer than `n` if it
    /// refused the one after them. The run stops before the first position that is not a
    /// published message, or whose message `take` refuses, and says which; nothing is
    /// consumed or released here.
    ///
    /// (A scan of the `seq`s with `Relaxed` loads and a single acquire fence, then a
    /// second pass to copy, measured about a tenth slower here for 8-byte messages: on
    /// x86 the acquires cost nothing, the second pass does.)
    #[inline(always)]
    pub(crate) fn receive_run(
        &self,
        from: u64,
        max: u64,
        packed: &mut PackedRun,
        mut take: impl FnMut(u64, u64, u64, bool) -> u64,
    ) -> Run {
        let max = max.min(self.region.capacity());
        let slots = self.region.slots();
        let mut len = 0;
        let end = loop {
            if len == max {
                break RunEnd::Limit;
            }
            let pos = from.wrapping_add(len);
            let ahead = packed.left(pos);
            if ahead > 0 {
                // Inside a packed batch: every position is a message.
                let want = ahead.min(max - len);
                let took = take(len, pos, want, true).min(want);
                len += took;
                if took < want {
                    break RunEnd::Refused;
                }
                continue;
            }
            let seq = slots.at(pos).seq.load(Ordering::Acquire);
            // The streaming case first: exactly the `seq` of a published message.
            if seq == published_seq(pos, false) {
                if take(len, pos, 1, false) == 0 {
                    break RunEnd::Refused;
                }
                len += 1;
            } else if seq == published_seq(pos, false) | PACKED {
                if len > 0 {
                    break RunEnd::Packed;
                }
                match self.packed_run_at(pos, packed.tail) {
                    Some(run) => *packed = run,
                    None => break RunEnd::Corrupt,
                }
            } else if seq == published_seq(pos, true) {
                break RunEnd::Cancelled;
            } else if self.is_unpublished(seq, pos) {
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
        !self.is_unpublished(seq, head)
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
    #[cfg(test)]
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
    /// A `SeqCst` swap: a full barrier before the caller's following load of the senders'
    /// "waiting for room" count, so that the receiver needs nobody's `membarrier` (see
    /// [`crate::sync::fence`] for why its process does not register). It runs once per
    /// batch of read slots, and when the receiver finds the ring empty.
    pub(crate) fn release(&self, next: u64) {
        self.region.control().released.swap(next, Ordering::SeqCst);
    }

    /// Messages published and not cancelled at positions `from..to`, where `from` is the
    /// receiver's recorded `head`: of the last `capacity` positions at most, since no more
    /// can be unread at once (a snapshot, or exact when nobody else is attached). The
    /// positions of the packed batch the receiver is inside (its `packed` record) all
    /// count; after them it reads one `seq` per position, and a packed head counts its
    /// batch. For a sender that leaves or asks, never on the paths that send and receive.
    pub(crate) fn messages_between(&self, from: u64, to: u64) -> u64 {
        let n = to.wrapping_sub(from);
        if n as i64 <= 0 {
            return 0;
        }
        let cap = self.region.capacity();
        let mut pos = to.wrapping_sub(n.min(cap));
        let mut count = 0;
        let left = |pos: u64| to.wrapping_sub(pos);
        let k = self.packed_run_of(pos).left(pos).min(left(pos));
        count += k;
        pos = pos.wrapping_add(k);
        while left(pos) as i64 > 0 {
            let seq = self
                .region
                .slot(self.index(pos))
                .seq
                .load(Ordering::Acquire);
            let mut step = 1;
            if seq == published_seq(pos, false) {
                count += 1;
            } else if seq == published_seq(pos, false) | PACKED {
                let len = self
                    .region
                    .run_len(self.index(pos))
                    .map_or(0, |w| w.load(Ordering::Relaxed));
                if (1..=cap).contains(&len) {
                    step = len.min(left(pos));
                    count += step;
                }
            }
            pos = pos.wrapping_add(step);
        }
        count
    }

    /// Messages claimed and not yet read, as seen from `head` (a snapshot, clamped).
    pub(crate) fn len(&self, head: u64) -> u64 {
        let tail = self.region.control().tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.region.capacity())
    }
}
