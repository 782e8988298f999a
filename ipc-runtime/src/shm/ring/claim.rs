//! The senders' side of the ring: claiming a slot ([`Ring::try_claim`]), publishing it
//! ([`Ring::publish`]), the same for a batch of consecutive slots
//! ([`Ring::try_claim_many`], [`Ring::publish_many`]: one advance of `tail`, one
//! barrier), and the check a sender makes before it parks for room.
//!
//! What `tail`, `claims` and a slot's `seq` mean is in the parent module's docs; how the
//! mode word decides who may advance `tail`, and how it changes, is in
//! [`mode`](super::mode). The receiver's side of the same words is
//! [`receive`](super::receive).
//!
//! # Claims: shared or biased
//!
//! A claim by CAS is a locked instruction, and on x86 a locked instruction waits until
//! every earlier store has reached the cache: the previous message's slot stores, whose
//! line the receiver is reading. With that wait a lone sender streamed 8-byte messages at
//! 45-47 M/s here (28 M/s in some code layouts), without it 52-54 M/s. So while one
//! sender is alone the ring is **biased** to it, and it advances `tail` with plain stores;
//! when a second sender wants to claim, it revokes the bias, and from then on every sender
//! claims by CAS ([`mode`](super::mode) has the protocol). The receiver is not involved:
//! `tail` and `claims` mean the same in both modes.
//!
//! Two other designs were measured against this one (the shm bench's senders table runs
//! them, written by hand, beside the channel). A claim that cannot fail, one `fetch_add`
//! of `tail` (Aeron's log): it would claim before there is room, and a claimer stopped by
//! the scheduler while it waits for its slot a lap ahead holds the receiver; with 2 and
//! 16 sender processes on one CPU it kept 0.36-0.46x and 0.04-0.05x of its lone sender's
//! rate. One SPSC lane per sender (iceoryx2's publisher segments): it keeps its rate with
//! 16 senders, as this ring does (sixteen ÷ two medians 1.04 for lanes and 1.02 for this
//! ring in nine runs), but orders only each sender's messages, takes a lane of memory per
//! sender, and leaves no single sequence of positions for loans, packed batches and the
//! dead-sender rules to work on. Claiming only with room, by CAS or biased, keeps one
//! order and keeps 16 senders at the rate of two.

use super::{published_seq, Mode, Region, Ring, RingError, MAX_PARTICIPANTS, PACKED};
use crate::sync::atomic::{fence, Ordering};

impl<R: Region> Ring<R> {
    /// Claims a free slot for participant `me`; returns its position. The caller writes the
    /// payload of `index(pos)` and then calls [`Ring::publish`].
    ///
    /// `released` is the caller's copy of the shared `released` word (start it at 0); it is
    /// re-read only when it says the ring is full. `fenced` as in [`Ring::publish`]: the
    /// store-load barrier between the claim store and the mode load is a compiler barrier
    /// backed by a mode changer's heavy barrier, or else a `SeqCst` fence.
    ///
    /// `Busy` means another sender holds the bias or is changing the mode; the caller
    /// [`settle`](Ring::settle)s it and tries again.
    ///
    /// The case that streams, a bias holder with room, is inline; the rest is not.
    #[inline(always)]
    pub(crate) fn try_claim(
        &self,
        me: usize,
        released: &mut u64,
        fenced: bool,
    ) -> Result<u64, RingError> {
        let c = self.region.control();
        let pos = c.tail.load(Ordering::Relaxed);
        let want = pos.wrapping_add(1);
        if pos.wrapping_sub(*released) < self.region.capacity()
            && self.announce(me, want, fenced) == Mode::Biased(me).encode()
        {
            // Nobody else advances `tail` while we hold the bias.
            c.tail.store(want, Ordering::Release);
            return Ok(pos);
        }
        self.try_claim_any(me, released, fenced, 1)
            .map(|(pos, _)| pos)
    }

    /// Claims up to `max` consecutive free positions (`max >= 1`) for participant `me` in
    /// one advance of `tail`: as many as are free, at least one. Returns the first and
    /// how many; the caller writes and publishes them with [`Ring::publish_many`].
    ///
    /// The claim is the same as [`Ring::try_claim`]'s, one store of `claims[me]` naming
    /// the first position and one advance of `tail` (a plain store while the ring is
    /// biased to `me`, else a CAS), so a mode change and the receiver see a batch as they
    /// see one message: in flight while `tail` is still at its first position. The
    /// inline case is a bias holder whose copy of `released` shows room for all of
    /// `max`; a partial batch looks at the shared `released` once first.
    ///
    /// # Errors
    ///
    /// As [`Ring::try_claim`]: `Full` if not even one position is free, `Busy`, `Corrupt`.
    #[inline(always)]
    pub(crate) fn try_claim_many(
        &self,
        me: usize,
        released: &mut u64,
        fenced: bool,
        max: u64,
    ) -> Result<(u64, u64), RingError> {
        debug_assert!(max >= 1);
        let c = self.region.control();
        let pos = c.tail.load(Ordering::Relaxed);
        let used = pos.wrapping_sub(*released);
        let cap = self.region.capacity();
        if used < cap
            && cap - used >= max
            && self.announce(me, pos.wrapping_add(1), fenced) == Mode::Biased(me).encode()
        {
            // Nobody else advances `tail` while we hold the bias.
            c.tail.store(pos.wrapping_add(max), Ordering::Release);
            return Ok((pos, max));
        }
        self.try_claim_any(me, released, fenced, max)
    }

    /// Stores `me`'s claim of position `want - 1`, then loads the mode (Dekker's pattern
    /// against a mode changer, who sets the mode and then looks at the claims; see
    /// [`mode`](super::mode)). The store is also ordered before the receiver's view of the
    /// new `tail` by the release that advances it.
    #[inline(always)]
    fn announce(&self, me: usize, want: u64, fenced: bool) -> u64 {
        let c = self.region.control();
        c.claims[me % MAX_PARTICIPANTS].store(want, Ordering::Relaxed);
        if fenced {
            crate::sync::fence::light();
        } else {
            fence(Ordering::SeqCst);
        }
        // Acquire: a mode set by a changer comes with the `tail` it read.
        c.mode.load(Ordering::Acquire)
    }

    /// [`Ring::try_claim`] in every mode and state, for up to `max` positions (at least
    /// 1): returns the first and how many, as [`Ring::try_claim_many`].
    #[inline(never)]
    fn try_claim_any(
        &self,
        me: usize,
        released: &mut u64,
        fenced: bool,
        max: u64,
    ) -> Result<(u64, u64), RingError> {
        let c = self.region.control();
        let cap = self.region.capacity();
        let claim = &c.claims[me % MAX_PARTICIPANTS];
        let mut pos = c.tail.load(Ordering::Relaxed);
        let mut fresh = false;
        loop {
            // As unsigned, a `pos` behind `released` (a stale `pos`, or garbage) is "full".
            let used = pos.wrapping_sub(*released);
            // Our copy of `released` may be a batch or more behind: a batch that does not
            // fit in the room it shows looks at the shared word once, as a full ring does.
            if used < cap && cap - used < max && !fresh {
                *released = c.released.load(Ordering::Acquire);
                fresh = true;
                continue;
            }
            if used >= cap {
                if !fresh {
                    // Acquire: the receiver's reads of the slots below `released` happen
                    // before our writes to them.
                    *released = c.released.load(Ordering::Acquire);
                    fresh = true;
                    continue;
                }
                let now = c.tail.load(Ordering::Relaxed);
                if now == pos {
                    // Not mid-claim (a mode changer may go on); forget a claim left by a
                    // failed CAS (it could only delay a skip). Release: a mode changer
                    // that reads this 0 sees our earlier advances of `tail`.
                    claim.store(0, Ordering::Release);
                    // `released` is never beyond `tail` in a sound ring (it is read after
                    // the receiver saw those positions published, so after their claims).
                    return Err(if (used as i64) < 0 {
                        RingError::Corrupt
                    } else {
                        RingError::Full
                    });
                }
                pos = now;
                continue;
            }
            let n = (cap - used).min(max);
            let end = pos.wrapping_add(n);
            // The claim names the first position, whatever `n`: see `publish_many`.
            let mode = self.announce(me, pos.wrapping_add(1), fenced);
            if mode == Mode::Biased(me).encode() {
                // Nobody else advances `tail` while we hold the bias.
                c.tail.store(end, Ordering::Release);
                return Ok((pos, n));
            }
            if mode != Mode::Shared.encode() {
                claim.store(0, Ordering::Release);
                return Err(Mode::decode(mode).map_or(RingError::Corrupt, RingError::Busy));
            }
            match c
                .tail
                .compare_exchange_weak(pos, end, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return Ok((pos, n)),
                Err(now) => pos = now,
            }
        }
    }

    /// Publishes the claimed `pos` (with `cancelled`: gives it back without a message).
    ///
    /// The `seq` store is a release for the payload, and must be ordered before the
    /// caller's following load of the receiver's "parked" flag (the receiver stores the
    /// flag, then re-checks `seq`: one of the two sides must see the other). With
    /// `fenced` (see [`crate::sync::fence`]) a compiler barrier does that here and the
    /// parking receiver's `membarrier` does it in the processor; otherwise the store is a
    /// `SeqCst` swap, a full barrier.
    ///
    /// The claim is left as is: it names `pos`, which is now published, and the receiver
    /// re-checks `seq` before it skips anything. Not clearing it saves a store per message.
    pub(crate) fn publish(&self, pos: u64, cancelled: bool, fenced: bool) {
        self.store_seq(pos, published_seq(pos, cancelled), fenced);
    }

    /// Stores `seq` into position `pos`'s slot as [`Ring::publish`] says.
    #[inline(always)]
    fn store_seq(&self, pos: u64, seq: u64, fenced: bool) {
        let slot = self.region.slot(self.index(pos));
        if fenced {
            slot.seq.store(seq, Ordering::Release);
            crate::sync::fence::light();
        } else {
            slot.seq.swap(seq, Ordering::SeqCst);
        }
    }

    /// Publishes the claimed positions `pos..pos + n` (`n >= 1`, as
    /// [`Ring::try_claim_many`] returned them), calling `write(i, pos + i)` to write the
    /// message of position `pos + i` into its slot just before its `seq` is stored.
    ///
    /// The first position goes **last**: positions `pos + 1..pos + n` are written and
    /// published in order, each with a `Release` store of its `seq` and no barrier, then
    /// `pos` as [`Ring::publish`] publishes one message (with its barrier, or `SeqCst`
    /// swap, for the parking handshake). The receiver reads positions in order, so it
    /// reaches none of the batch before `pos`, and once its acquire of `pos`'s `seq` sees
    /// it published it sees the whole batch. Hence:
    ///
    /// - a receiver stuck on a position of a live sender's batch is stuck on its first,
    ///   the position the sender's claim names, and the dead-sender rule of
    ///   [`abandoned`](super::abandoned) needs no range: a batch whose sender died skips
    ///   position by position, delivering whatever the sender published before it died
    ///   (a later part of its batch, in order) and counting each other position lost;
    /// - a receiver parked for this batch is parked on `pos`, and one barrier after its
    ///   `seq` store pairs with its park, whatever `n`.
    #[inline(always)]
    pub(crate) fn publish_many(
        &self,
        pos: u64,
        n: u64,
        fenced: bool,
        mut write: impl FnMut(u64, u64),
    ) {
        let slots = self.region.slots();
        for i in 1..n {
            let at = pos.wrapping_add(i);
            write(i, at);
            slots
                .at(at)
                .seq
                .store(published_seq(at, false), Ordering::Release);
        }
        write(0, pos);
        self.publish(pos, false, fenced);
    }

    /// True if the region has a packed array, so that [`Ring::publish_packed`] may be used.
    #[inline]
    pub(crate) fn packs(&self) -> bool {
        self.region.run_len(0).is_some()
    }

    /// Publishes the claimed positions `pos..pos + n` (`n >= 1`, as
    /// [`Ring::try_claim_many`] returned them) as one packed batch (see the module docs;
    /// the region must have a packed array, [`Ring::packs`]): `write()` writes the
    /// messages of all `n` positions into the packed array (two copies at most, one each
    /// side of the array's end); then `n` goes into the first slot's length word, and the
    /// first position is published alone, its `seq` with the [`PACKED`] bit, as
    /// [`Ring::publish`] publishes one message (with its barrier, or `SeqCst` swap, for
    /// the parking handshake). The other positions' `seq`s are not written: the receiver
    /// knows them published from the head. So the batch is all or nothing, and as with
    /// [`Ring::publish_many`] the claim names the position the receiver waits on.
    #[inline(always)]
    pub(crate) fn publish_packed(&self, pos: u64, n: u64, fenced: bool, write: impl FnOnce()) {
        write();
        let len = self.region.run_len(self.index(pos));
        debug_assert!(
            len.is_some(),
            "publish_packed on a region without a packed array"
        );
        if let Some(len) = len {
            // Relaxed: the release of the head's `seq` below publishes it with the batch.
            len.store(n, Ordering::Relaxed);
        }
        self.store_seq(pos, published_seq(pos, false) | PACKED, fenced);
    }

    /// The next position to claim (a snapshot, for a sender's bookkeeping: only compared).
    pub(crate) fn tail(&self) -> u64 {
        self.region.control().tail.load(Ordering::Relaxed)
    }

    /// True if a sender could claim a slot now, or the control words are garbage (`SeqCst`
    /// loads, for the parking handshake of senders waiting for room: they do not sleep on
    /// a ring [`Ring::try_claim`] should look at).
    pub(crate) fn has_room(&self) -> bool {
        let c = self.region.control();
        let tail = c.tail.load(Ordering::SeqCst);
        let released = c.released.load(Ordering::SeqCst);
        let used = tail.wrapping_sub(released);
        used < self.region.capacity() || (used as i64) < 0
    }
}
