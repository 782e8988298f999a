//! The ring protocol: a bounded multi-producer, single-consumer queue of fixed-size slots
//! over an abstract [`Region`], so it runs on a shared mapping and on a heap buffer alike
//! (loom, proptest).
//!
//! # Protocol
//!
//! Positions are 64-bit counters that never wrap in practice; position `pos` lives in slot
//! `pos & mask`. Three words say where things are:
//!
//! - `tail`: the next position to claim. Senders claim by a CAS on it, or, while the ring
//!   is biased to one sender, that sender by a plain store (see below).
//! - each slot's `seq`: `pos + 1` once position `pos` is **published** (stored with
//!   `Release` after the payload, loaded with `Acquire` by the receiver before it reads
//!   the payload), with the [`CANCELLED`] bit if it carries no message. Until then it
//!   still holds the previous lap's value, `pos + 1 - capacity` (slot `i` starts at
//!   `i + 1 - capacity`, as if lap -1 had been published and read). `seq` is the whole
//!   slot header: an 8-byte message and its `seq` fill 16 bytes, a quarter of a line.
//! - `released`: every position below it has been read, and its slot may be reused. Only
//!   the receiver writes it, in **batches**: when `batch` more slots are read, when it
//!   finds the ring empty, before it parks, and when it closes. A sender may claim `pos`
//!   when `pos < released + capacity`; it keeps its own copy of `released` and re-reads the
//!   shared one only when that copy says the ring is full.
//!
//! So a message costs at most one cache-line transfer, from sender to receiver, as a flag
//! in a bare ping-pong does, and small ones share it: the sender writes the slot (payload
//! and `seq`; four 8-byte messages to a line), which the receiver only reads; the
//! receiver writes `released` about once per batch, and senders read it about once per
//! lap. (Freeing each slot by rewriting its `seq`, as in D. Vyukov's bounded queue, costs
//! a second transfer per message: before it writes, the sender must read the line the
//! receiver wrote last.) The price is that a
//! sender may find the ring full while up to `batch - 1` read slots are not yet released;
//! `batch` is `capacity / 8`, at least 1, and the receiver releases everything as soon as
//! it runs out of messages.
//!
//! The receiver also records its exact progress in `head` (a line nobody else reads on
//! the fast path), where a receiver that joins after a crashed one resumes.
//!
//! # Claims: shared or biased
//!
//! A claim by CAS is a locked instruction, and on x86 a locked instruction waits until
//! every earlier store has reached the cache: the previous message's slot stores, whose
//! line the receiver is reading. With that wait a lone sender streamed 8-byte messages at
//! 45-47 M/s here (28 M/s in some code layouts), without it 52-54 M/s. So while one
//! sender is alone the ring is **biased** to it, and it advances `tail` with plain stores;
//! when a second sender wants to claim, it revokes the bias, and from then on every sender
//! claims by CAS ([`mode`] has the protocol). The receiver is not involved: `tail` and
//! `claims` mean the same in both modes.
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
//!
//! # Hostile memory
//!
//! Every index used for addressing is `pos & mask` with the local `mask`; values read
//! from shared memory (`tail`, `released`, `seq`, `mode`) are only compared. A `seq` or
//! a `mode` that fits no state is reported as [`RingError::Corrupt`], and so is a
//! `released` beyond `tail`; a `tail` that does not move makes the sender report the
//! ring full or corrupt instead of looping. A peer that writes a plausible but wrong
//! `released` can make a sender overwrite a message the receiver has not read; the
//! receiver then finds a `seq` of a later lap, which is `Corrupt` too. A plausible but
//! wrong `mode` can let two senders claim one slot; the receiver then reads whichever
//! bytes were written last, as it would if the peer wrote the slot itself. A `seq` that
//! names the right position with the [`CANCELLED`] bit flipped makes the receiver skip a
//! message or read a slot that carries none: a lost or garbage message, never one read
//! out of bounds (the payload is validated as any other).

use super::super::sync::atomic::{fence, AtomicU64, Ordering};

mod mode;

pub(crate) use mode::{Mode, Peers, Settle};

/// The most participants a segment has (participant 0 is the receiver or the creator).
pub(crate) const MAX_PARTICIPANTS: usize = 64;

/// A value on its own 64-byte cache line.
#[repr(C, align(64))]
#[derive(Debug, Default)]
pub(crate) struct CacheLine<T>(pub(crate) T);

impl<T> core::ops::Deref for CacheLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The ring's control words. All-zero bytes are a valid initial value (`new` under loom).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RingControl {
    /// Next position to claim (senders: by CAS, or the bias holder by plain stores).
    pub(crate) tail: CacheLine<AtomicU64>,
    /// Positions below this one are read and their slots free (receiver, in batches).
    pub(crate) released: CacheLine<AtomicU64>,
    /// The receiver's exact progress: where a receiver that joins later resumes.
    pub(crate) head: CacheLine<AtomicU64>,
    /// Who may advance `tail`, and how: a [`Mode`], encoded.
    pub(crate) mode: CacheLine<AtomicU64>,
    /// `claims[i] == pos + 1` while participant `i` claims or holds `pos`; 0 otherwise.
    pub(crate) claims: [CacheLine<AtomicU64>; MAX_PARTICIPANTS],
}

impl RingControl {
    #[cfg(any(test, loom))]
    pub(crate) fn new() -> Self {
        RingControl {
            tail: CacheLine(AtomicU64::new(0)),
            released: CacheLine(AtomicU64::new(0)),
            head: CacheLine(AtomicU64::new(0)),
            mode: CacheLine(AtomicU64::new(0)),
            claims: core::array::from_fn(|_| CacheLine(AtomicU64::new(0))),
        }
    }
}

/// The header of one slot, its sequence word; the payload follows it in the region's own
/// layout. Eight bytes, so that an 8-byte message takes a quarter of a cache line.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SlotHeader {
    pub(crate) seq: AtomicU64,
}

/// Size of [`SlotHeader`] in bytes.
pub(crate) const SLOT_HEADER: usize = core::mem::size_of::<SlotHeader>();

/// `seq` bit: the position was published without a message (the sender gave the slot back,
/// a dropped loan, or the receiver skipped it because its claimer died). The other 63 bits
/// hold a position + 1, modulo 2^63 (see [`same_position`]).
pub(crate) const CANCELLED: u64 = 1 << 63;

/// The `seq` that publishes position `pos`.
#[inline]
fn published_seq(pos: u64, cancelled: bool) -> u64 {
    (pos.wrapping_add(1) & !CANCELLED) | if cancelled { CANCELLED } else { 0 }
}

/// True if `seq` holds `value` in its position bits (whatever its `CANCELLED` bit). Two
/// positions a capacity apart never compare equal this way: capacities are far below 2^63.
#[inline]
fn same_position(seq: u64, value: u64) -> bool {
    (seq ^ value) & !CANCELLED == 0
}

impl SlotHeader {
    #[cfg(any(test, loom))]
    pub(crate) fn new() -> Self {
        SlotHeader {
            seq: AtomicU64::new(0),
        }
    }
}

/// Memory that holds a ring: its control words and `capacity` slot headers.
///
/// # Safety
///
/// `control()` and `slot(i)` for every `i < capacity()` must return references that stay
/// valid for as long as `self` lives; `capacity()` must be a power of two and constant.
pub(crate) unsafe trait Region {
    /// The control words.
    fn control(&self) -> &RingControl;
    /// Number of slots: a power of two, at least 2 (as `Options::capacity` enforces).
    fn capacity(&self) -> u64;
    /// Slot `index` (`index < capacity()`; callers mask).
    fn slot(&self, index: u64) -> &SlotHeader;
}

/// What went wrong in a ring operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingError {
    /// No free slot.
    Full,
    /// The ring is biased to another sender, or changing mode: [`Ring::settle`] it.
    Busy(Mode),
    /// A control word or sequence number fits no state of the protocol: the memory was
    /// overwritten.
    Corrupt,
}

/// What the receiver sees at its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    /// Nothing claimed.
    Empty,
    /// A sender claimed `pos` and has not published it yet (from `peek_full` only).
    #[cfg_attr(not(any(test, loom)), allow(dead_code))]
    Pending(u64),
    /// `pos` is published and may be read; `cancelled` if it carries no message.
    Ready { pos: u64, cancelled: bool },
}

/// The ring protocol over a region (see the module docs).
#[derive(Debug)]
pub(crate) struct Ring<R> {
    region: R,
    mask: u64,
}

impl<R: Region> Ring<R> {
    pub(crate) fn new(region: R) -> Self {
        let mask = region.capacity() - 1;
        Ring { region, mask }
    }

    pub(crate) fn region(&self) -> &R {
        &self.region
    }

    /// The slot index of position `pos`.
    #[inline]
    pub(crate) fn index(&self, pos: u64) -> u64 {
        pos & self.mask
    }

    /// How many read slots the receiver collects before it releases them to the senders.
    pub(crate) fn batch(&self) -> u64 {
        (self.region.capacity() / 8).max(1)
    }

    /// The `seq` of position `pos`'s slot while `pos` is not published: the value the
    /// previous lap published.
    #[inline]
    fn unpublished(&self, pos: u64) -> u64 {
        pos.wrapping_add(1).wrapping_sub(self.region.capacity())
    }

    /// Initialises the slot sequence numbers of a fresh region (creator only).
    pub(crate) fn init(&self) {
        for i in 0..self.region.capacity() {
            self.region
                .slot(i)
                .seq
                .store(self.unpublished(i), Ordering::Relaxed);
        }
    }

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
        self.try_claim_any(me, released, fenced)
    }

    /// Stores `me`'s claim of position `want - 1`, then loads the mode (Dekker's pattern
    /// against a mode changer, who sets the mode and then looks at the claims; see
    /// [`mode`]). The store is also ordered before the receiver's view of the new `tail`
    /// by the release that advances it.
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

    /// [`Ring::try_claim`] in every mode and state.
    #[inline(never)]
    fn try_claim_any(&self, me: usize, released: &mut u64, fenced: bool) -> Result<u64, RingError> {
        let c = self.region.control();
        let cap = self.region.capacity();
        let claim = &c.claims[me % MAX_PARTICIPANTS];
        let mut pos = c.tail.load(Ordering::Relaxed);
        let mut fresh = false;
        loop {
            // As unsigned, a `pos` behind `released` (a stale `pos`, or garbage) is "full".
            let used = pos.wrapping_sub(*released);
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
            let want = pos.wrapping_add(1);
            let mode = self.announce(me, want, fenced);
            if mode == Mode::Biased(me).encode() {
                // Nobody else advances `tail` while we hold the bias.
                c.tail.store(want, Ordering::Release);
                return Ok(pos);
            }
            if mode != Mode::Shared.encode() {
                claim.store(0, Ordering::Release);
                return Err(Mode::decode(mode).map_or(RingError::Corrupt, RingError::Busy));
            }
            match c
                .tail
                .compare_exchange_weak(pos, want, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return Ok(pos),
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
        let slot = self.region.slot(self.index(pos));
        let seq = published_seq(pos, cancelled);
        if fenced {
            slot.seq.store(seq, Ordering::Release);
            crate::sync::fence::light();
        } else {
            slot.seq.swap(seq, Ordering::SeqCst);
        }
    }

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

    /// True if a sender has claimed position `head` (it may not have published it yet).
    pub(crate) fn claimed(&self, head: u64) -> bool {
        let tail = self.region.control().tail.load(Ordering::SeqCst);
        tail.wrapping_sub(head) as i64 > 0
    }

    /// [`Ring::peek`], telling `Empty` from `Pending` (claimed, not published).
    #[cfg(any(test, loom))]
    pub(crate) fn peek_full(&self, head: u64) -> Result<Peek, RingError> {
        match self.peek(head)? {
            Peek::Empty if self.claimed(head) => Ok(Peek::Pending(head)),
            p => Ok(p),
        }
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
        same_position(before, self.unpublished(pos))
            && seq
                .compare_exchange(
                    before,
                    published_seq(pos, true),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                )
                .is_ok()
    }

    /// Messages claimed and not yet read, as seen from `head` (a snapshot, clamped).
    pub(crate) fn len(&self, head: u64) -> u64 {
        let tail = self.region.control().tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.region.capacity())
    }
}

/// A ring in heap memory with `u64` payloads, for tests and the loom model.
#[cfg(any(test, loom))]
pub(crate) mod heap {
    use super::*;

    #[cfg(loom)]
    use loom::cell::UnsafeCell;
    #[cfg(not(loom))]
    use std::cell::UnsafeCell;

    pub(crate) struct HeapRegion {
        control: RingControl,
        slots: Box<[SlotHeader]>,
        payload: Box<[UnsafeCell<u64>]>,
    }

    // SAFETY: the payload cells are accessed only under the ring protocol, which gives one
    // writer (the claimer) or one reader (the receiver) per slot at a time, ordered by the
    // Release/Acquire on `seq`; loom checks exactly that.
    unsafe impl Sync for HeapRegion {}

    impl HeapRegion {
        pub(crate) fn new(capacity: u64) -> Self {
            HeapRegion {
                control: RingControl::new(),
                slots: (0..capacity).map(|_| SlotHeader::new()).collect(),
                payload: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            }
        }

        /// # Safety
        ///
        /// The caller holds the claim of a position whose slot is `index`.
        pub(crate) unsafe fn write(&self, index: u64, v: u64) {
            let cell = &self.payload[index as usize];
            #[cfg(loom)]
            // SAFETY: the caller owns the slot (claimed, not yet published).
            cell.with_mut(|p| unsafe { *p = v });
            #[cfg(not(loom))]
            // SAFETY: the caller owns the slot (claimed, not yet published).
            unsafe {
                *cell.get() = v
            };
        }

        /// # Safety
        ///
        /// The caller is the receiver and the slot `index` is published and not released.
        pub(crate) unsafe fn read(&self, index: u64) -> u64 {
            let cell = &self.payload[index as usize];
            #[cfg(loom)]
            // SAFETY: the receiver owns the published slot until it releases it.
            return cell.with(|p| unsafe { *p });
            #[cfg(not(loom))]
            // SAFETY: the receiver owns the published slot until it releases it.
            unsafe {
                *cell.get()
            }
        }
    }

    impl Ring<HeapRegion> {
        /// One attempt to send `v` as participant `me`: claim, write, publish.
        pub(crate) fn send_once(
            &self,
            me: usize,
            cache: &mut u64,
            v: u64,
            fenced: bool,
        ) -> Result<(), RingError> {
            let pos = self.try_claim(me, cache, fenced)?;
            // SAFETY: `pos` was just claimed by us.
            unsafe { self.region().write(self.index(pos), v) };
            self.publish(pos, false, fenced);
            Ok(())
        }
    }

    // SAFETY: all references point into fields of `self`; `capacity` is the constant
    // length of `slots`, a power of two by construction in the tests.
    unsafe impl Region for HeapRegion {
        fn control(&self) -> &RingControl {
            &self.control
        }
        fn capacity(&self) -> u64 {
            self.slots.len() as u64
        }
        fn slot(&self, index: u64) -> &SlotHeader {
            &self.slots[index as usize]
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::heap::HeapRegion;
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn ring(cap: u64) -> Ring<HeapRegion> {
        let r = Ring::new(HeapRegion::new(cap));
        r.init();
        r
    }

    fn send(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> Result<(), RingError> {
        r.send_once(me, cache, v, false)
    }

    /// The receiver's side, releasing in batches as the channel does.
    struct Rx {
        head: u64,
        released: u64,
    }

    impl Rx {
        fn new() -> Rx {
            Rx {
                head: 0,
                released: 0,
            }
        }

        fn release_all(&mut self, r: &Ring<HeapRegion>) {
            if self.released != self.head {
                r.release(self.head, false);
                self.released = self.head;
            }
        }

        /// One message (`Some(None)` for a cancelled slot), or None if the ring is empty
        /// or the head slot is pending.
        fn recv(&mut self, r: &Ring<HeapRegion>) -> Option<Option<u64>> {
            match r.peek(self.head).unwrap() {
                Peek::Ready { pos, cancelled } => {
                    // SAFETY: `pos` is published and we are the only receiver.
                    let v = unsafe { r.region().read(r.index(pos)) };
                    self.head = pos + 1;
                    r.set_head(self.head);
                    if self.head - self.released >= r.batch() {
                        self.release_all(r);
                    }
                    Some((!cancelled).then_some(v))
                }
                _ => {
                    self.release_all(r);
                    None
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Send(u64),
        Recv,
        Abandon,
    }

    proptest! {
        #[test]
        fn ring_behaves_like_a_bounded_queue_that_frees_slots_in_batches(
            cap_log in 1u32..7,
            ops in proptest::collection::vec(prop_oneof![
                any::<u64>().prop_map(Op::Send), Just(Op::Recv), Just(Op::Abandon)], 0..300)
        ) {
            let cap = 1u64 << cap_log;
            let r = ring(cap);
            let mut rx = Rx::new();
            let mut cache = 0;
            // What the ring holds, oldest first: Some(v) sent, None abandoned by a claimer
            // that died.
            let mut model = VecDeque::new();
            let mut tail = 0u64;
            let mut abandoned = VecDeque::new();
            let mut next_dead = 0usize;
            for op in ops {
                // A claim succeeds exactly when the released slots allow it.
                let room = tail - rx.released < cap;
                match op {
                    Op::Send(v) => {
                        let res = send(&r, 1, &mut cache, v);
                        if room {
                            prop_assert!(res.is_ok());
                            model.push_back(Some(v));
                            tail += 1;
                        } else {
                            prop_assert_eq!(res, Err(RingError::Full));
                        }
                    }
                    Op::Abandon => {
                        // A fresh participant (2, 3, ...) claims and "dies" before
                        // publishing.
                        let mut dead_cache = 0;
                        let res = r.try_claim(2 + next_dead % 60, &mut dead_cache, false);
                        prop_assert_eq!(res.is_ok(), room);
                        if let Ok(pos) = res {
                            next_dead += 1;
                            abandoned.push_back(pos);
                            model.push_back(None);
                            tail += 1;
                        }
                    }
                    Op::Recv => loop {
                        match r.peek_full(rx.head).unwrap() {
                            Peek::Empty => {
                                prop_assert!(model.is_empty());
                                prop_assert_eq!(rx.recv(&r), None);
                                // Out of messages: everything read is released.
                                prop_assert_eq!(rx.released, tail);
                                break;
                            }
                            Peek::Pending(pos) => {
                                prop_assert_eq!(model.front(), Some(&None));
                                // The claimer is alive until we say it is dead.
                                prop_assert!(!r.skip_abandoned(pos, |i| i >= 2));
                                prop_assert!(r.skip_abandoned(pos, |_| false));
                                prop_assert_eq!(abandoned.pop_front(), Some(pos));
                                prop_assert_eq!(rx.recv(&r), Some(None));
                                model.pop_front();
                            }
                            Peek::Ready { .. } => {
                                let got = rx.recv(&r).unwrap();
                                prop_assert_eq!(got, model.pop_front().flatten());
                                break;
                            }
                        }
                    },
                }
                prop_assert_eq!(r.len(rx.head), model.len() as u64);
                prop_assert!(tail - rx.released <= cap);
            }
        }
    }

    #[test]
    fn a_cancelled_position_reads_as_empty_until_its_slot_is_published_again() {
        let r = ring(2);
        let mut rx = Rx::new();
        let mut cache = 0;
        // Position 0 is given back (a dropped loan), position 1 carries a message.
        let pos = r.try_claim(1, &mut cache, false).unwrap();
        r.publish(pos, true, false);
        send(&r, 1, &mut cache, 11).unwrap();
        assert_eq!(rx.recv(&r), Some(None));
        assert_eq!(rx.recv(&r), Some(Some(11)));
        // Slot 0 still holds "position 0, cancelled": for position 2 that is the previous
        // lap, so the ring is empty there, not corrupt.
        assert_eq!(r.peek(2), Ok(Peek::Empty));
        assert!(!r.published(2));
        send(&r, 1, &mut cache, 22).unwrap();
        assert_eq!(
            r.peek(2),
            Ok(Peek::Ready {
                pos: 2,
                cancelled: false
            })
        );
        assert_eq!(rx.recv(&r), Some(Some(22)));
    }

    #[test]
    fn garbage_is_corrupt_not_a_hang() {
        let r = ring(4);
        r.region().slot(0).seq.store(77, Ordering::Relaxed);
        assert_eq!(r.peek(0), Err(RingError::Corrupt));
        assert!(
            r.published(0),
            "a receiver must not sleep on a corrupt slot"
        );
        // `released` beyond `tail` (seen once the sender's copy says full).
        let mut cache = 0;
        for v in 0..4 {
            send(&r, 1, &mut cache, v).unwrap();
        }
        r.region()
            .control()
            .released
            .store(1 << 40, Ordering::Relaxed);
        assert_eq!(r.try_claim(1, &mut cache, false), Err(RingError::Corrupt));
        assert!(r.has_room(), "a sender must not sleep on a corrupt ring");
        // `released` far behind `tail`: full, not a loop.
        r.region().control().tail.store(1 << 41, Ordering::Relaxed);
        assert_eq!(r.try_claim(1, &mut cache, false), Err(RingError::Full));
    }

    #[test]
    fn a_sender_rereads_released_only_when_its_copy_says_full() {
        let r = ring(8);
        let mut rx = Rx::new();
        let mut cache = 0;
        for v in 0..8 {
            send(&r, 1, &mut cache, v).unwrap();
        }
        assert_eq!(send(&r, 1, &mut cache, 8), Err(RingError::Full));
        assert_eq!(rx.recv(&r), Some(Some(0)));
        // batch is 1 at capacity 8: released at once, and the sender sees it.
        assert_eq!(send(&r, 1, &mut cache, 8), Ok(()));
        assert_eq!(cache, 1);

        let r = ring(64);
        let mut rx = Rx::new();
        let mut cache = 0;
        for v in 0..64 {
            send(&r, 1, &mut cache, v).unwrap();
        }
        // batch is 8: seven reads release nothing, the eighth releases eight slots.
        for v in 0..7 {
            assert_eq!(rx.recv(&r), Some(Some(v)));
            assert_eq!(send(&r, 1, &mut cache, 100), Err(RingError::Full));
        }
        assert_eq!(rx.recv(&r), Some(Some(7)));
        for _ in 0..8 {
            send(&r, 1, &mut cache, 100).unwrap();
        }
        assert_eq!(send(&r, 1, &mut cache, 100), Err(RingError::Full));
        assert_eq!(r.head(), 8);
    }

    /// Participants for the mode tests: the ones listed are dead; the heavy barrier is a
    /// `SeqCst` fence (the claimers in these tests are unfenced) or fails.
    struct TestPeers {
        dead: Vec<usize>,
        barrier: bool,
    }

    impl Peers for TestPeers {
        fn alive(&self, i: usize) -> bool {
            !self.dead.contains(&i)
        }
        fn heavy(&self) -> bool {
            fence(Ordering::SeqCst);
            self.barrier
        }
    }

    fn peers(dead: &[usize]) -> TestPeers {
        TestPeers {
            dead: dead.to_vec(),
            barrier: true,
        }
    }

    #[test]
    fn a_biased_ring_is_revoked_by_a_second_sender_and_order_holds() {
        let r = ring(8);
        let mut rx = Rx::new();
        let (mut c1, mut c2) = (0, 0);
        assert!(r.take_bias(1, &peers(&[])));
        assert_eq!(r.mode(), Some(Mode::Biased(1)));
        send(&r, 1, &mut c1, 10).unwrap();
        send(&r, 1, &mut c1, 11).unwrap();
        assert_eq!(r.region().control().claims[1].load(Ordering::Relaxed), 2);
        // A second sender is told who holds the bias, and revokes it.
        let busy = send(&r, 2, &mut c2, 20);
        assert_eq!(busy, Err(RingError::Busy(Mode::Biased(1))));
        assert_eq!(r.region().control().claims[2].load(Ordering::Relaxed), 0);
        assert_eq!(r.settle(2, Mode::Biased(1), &peers(&[])), Settle::Revoked);
        assert_eq!(r.mode(), Some(Mode::Shared));
        send(&r, 2, &mut c2, 20).unwrap();
        send(&r, 1, &mut c1, 12).unwrap();
        let got: Vec<_> = std::iter::from_fn(|| rx.recv(&r)).flatten().collect();
        assert_eq!(got, [10, 11, 20, 12]);
        // The holder cannot take the bias back while it is shared with a live sender
        // (the channel looks first), but may once alone; and gives it up when it leaves.
        assert!(r.take_bias(1, &peers(&[2])));
        r.leave(2);
        assert_eq!(r.mode(), Some(Mode::Biased(1)), "only the holder leaves");
        r.leave(1);
        assert_eq!(r.mode(), Some(Mode::Shared));
    }

    #[test]
    fn moves_wait_for_live_movers_take_over_dead_ones_and_undo_without_a_barrier() {
        let r = ring(8);
        let ctl = r.region().control();
        // A live mover is waited for; a dead one's move is finished by the next sender.
        let moving = Mode::Moving {
            mover: 3,
            from: Some(1),
        };
        ctl.mode.store(moving.encode(), Ordering::Relaxed);
        assert_eq!(send(&r, 2, &mut 0, 1), Err(RingError::Busy(moving)));
        assert_eq!(r.settle(2, moving, &peers(&[])), Settle::Wait);
        assert_eq!(r.mode(), Some(moving));
        assert_eq!(r.settle(2, moving, &peers(&[3, 1])), Settle::Revoked);
        assert_eq!(r.mode(), Some(Mode::Shared));
        // A former holder that died in flight (its claim never settled) is not waited for.
        ctl.mode.store(Mode::Biased(1).encode(), Ordering::Relaxed);
        ctl.claims[1].store(7, Ordering::Relaxed);
        assert_eq!(r.settle(2, Mode::Biased(1), &peers(&[1])), Settle::Revoked);
        assert_eq!(r.mode(), Some(Mode::Shared));
        // Nor by a grant: a dead sender's claim in flight stays unsettled for ever.
        assert!(r.take_bias(2, &peers(&[1])));
        assert_eq!(r.mode(), Some(Mode::Biased(2)));
        // A live holder in flight for ever (a stopped process): the revoke is undone after
        // a while, and the caller looks at its deadline before it tries again.
        ctl.claims[2].store(ctl.tail.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        assert_eq!(r.settle(3, Mode::Biased(2), &peers(&[])), Settle::Wait);
        assert_eq!(r.mode(), Some(Mode::Biased(2)));
        ctl.claims[2].store(0, Ordering::Relaxed);
        // Without the heavy barrier no move can prove that nobody is in flight: undone.
        let no_barrier = TestPeers {
            dead: vec![],
            barrier: false,
        };
        assert_eq!(r.settle(3, Mode::Biased(2), &no_barrier), Settle::Wait);
        assert_eq!(r.mode(), Some(Mode::Biased(2)));
        r.leave(2);
        assert!(!r.take_bias(3, &no_barrier));
        assert_eq!(r.mode(), Some(Mode::Shared));
    }

    #[test]
    fn a_joiner_adopts_what_a_dead_holder_of_its_index_left() {
        let r = ring(8);
        let ctl = r.region().control();
        ctl.claims[4].store(9, Ordering::Relaxed);
        ctl.mode.store(Mode::Biased(4).encode(), Ordering::Relaxed);
        r.adopt(4, &peers(&[]));
        assert_eq!(ctl.claims[4].load(Ordering::Relaxed), 0);
        assert_eq!(r.mode(), Some(Mode::Shared));
        let moving = Mode::Moving {
            mover: 4,
            from: Some(1),
        };
        ctl.mode.store(moving.encode(), Ordering::Relaxed);
        r.adopt(4, &peers(&[1]));
        assert_eq!(r.mode(), Some(Mode::Shared));
    }

    #[test]
    fn a_garbage_mode_is_corrupt() {
        let r = ring(8);
        r.region()
            .control()
            .mode
            .store(0xdead_beef, Ordering::Relaxed);
        assert_eq!(send(&r, 1, &mut 0, 1), Err(RingError::Corrupt));
        assert_eq!(r.mode(), None);
    }

    /// The process's real barriers: claims fenced by a compiler barrier and movers'
    /// `membarrier` when this process is registered, `SeqCst` fences otherwise.
    struct ProcessPeers;

    impl Peers for ProcessPeers {
        fn alive(&self, _: usize) -> bool {
            true
        }
        fn heavy(&self) -> bool {
            if crate::sync::fence::registered() {
                crate::sync::fence::heavy()
            } else {
                fence(Ordering::SeqCst);
                true
            }
        }
    }

    /// Sends `v` as participant `me`, yielding while the ring is full and settling the
    /// mode when told `Busy`; returns the number of biases it revoked on the way.
    fn send_settling(
        r: &Ring<HeapRegion>,
        me: usize,
        cache: &mut u64,
        v: u64,
        fenced: bool,
        peers: &impl Peers,
    ) -> u32 {
        let mut revoked = 0;
        loop {
            match r.send_once(me, cache, v, fenced) {
                Ok(()) => return revoked,
                Err(RingError::Busy(m)) => {
                    if r.settle(me, m, peers) == Settle::Revoked {
                        revoked += 1;
                    }
                }
                Err(RingError::Full) => std::thread::yield_now(),
                Err(e) => panic!("{e:?}"),
            }
        }
    }

    /// Receives `n` messages `id << 32 | i` from each of senders `1..=senders`, checking
    /// each sender's order, then that nothing more arrives.
    fn receive_in_order(r: &Ring<HeapRegion>, senders: usize, n: u64) {
        let mut rx = Rx::new();
        let mut next = vec![0u64; senders + 1];
        let mut got = 0;
        while got < senders as u64 * n {
            match rx.recv(r) {
                Some(Some(v)) => {
                    let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert_eq!(i, next[id], "sender {id}");
                    next[id] += 1;
                    got += 1;
                }
                Some(None) => panic!("nothing was cancelled"),
                None => std::thread::yield_now(),
            }
        }
        assert_eq!(rx.recv(r), None, "nothing more than was sent");
    }

    /// Runs `send(ring, id)` on threads `1..=3` beside a receiver that checks each
    /// sender's order; returns what the senders returned.
    fn three_senders<T: Send + 'static>(
        r: Ring<HeapRegion>,
        n: u64,
        send: fn(&Ring<HeapRegion>, u64, u64) -> T,
    ) -> (std::sync::Arc<Ring<HeapRegion>>, Vec<T>) {
        use std::sync::Arc;
        let r = Arc::new(r);
        let senders: Vec<_> = (1..=3u64)
            .map(|id| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || send(&r, id, n))
            })
            .collect();
        receive_in_order(&r, 3, n);
        let results = senders.into_iter().map(|s| s.join().unwrap()).collect();
        (r, results)
    }

    #[test]
    fn threads_preserve_per_sender_order() {
        three_senders(ring(64), 20_000, |r, id, n| {
            let mut cache = 0;
            for i in 0..n {
                send_settling(r, id as usize, &mut cache, id << 32 | i, false, &peers(&[]));
            }
        });
    }

    #[test]
    fn threads_preserve_per_sender_order_while_a_bias_is_revoked() {
        let r = ring(64);
        assert!(r.take_bias(1, &peers(&[])));
        let (r, revoked) = three_senders(r, 20_000, |r, id, n| {
            let mut cache = 0;
            (0..n)
                .map(|i| {
                    send_settling(r, id as usize, &mut cache, id << 32 | i, false, &peers(&[]))
                })
                .sum::<u32>()
        });
        assert_eq!(revoked.iter().sum::<u32>(), 1);
        assert_eq!(r.mode(), Some(Mode::Shared));
    }

    /// The mode changes on real processors with the real barriers (`membarrier` when this
    /// process can register). A race in the protocol's nanosecond windows is rarely hit
    /// this way (removing the mover's wait still passed five runs): the loom models are
    /// what check the protocol; this checks the barriers and the plumbing.
    #[test]
    fn threads_keep_order_while_the_bias_is_taken_and_revoked_over_and_over() {
        let (_, counts) = three_senders(ring(64), 30_000, |r, id, n| {
            let fenced = crate::sync::fence::registered();
            let mut cache = 0;
            let (mut took, mut revoked) = (0u32, 0u32);
            for i in 0..n {
                // Grab the bias now and then, as a sender that thinks it is alone would:
                // the others revoke it at their next claim.
                if i % 500 == 0 && r.take_bias(id as usize, &ProcessPeers) {
                    took += 1;
                }
                revoked += send_settling(
                    r,
                    id as usize,
                    &mut cache,
                    id << 32 | i,
                    fenced,
                    &ProcessPeers,
                );
            }
            (took, revoked)
        });
        let (took, revoked) = counts
            .into_iter()
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        assert!(took > 0 && revoked > 0, "took {took}, revoked {revoked}");
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::heap::HeapRegion;
    use super::*;
    use loom::sync::Arc;

    fn model(f: impl Fn() + Sync + Send + 'static) {
        // Unbounded: every interleaving (and every weak-memory outcome loom models) of these
        // small scenarios is explored; the threads never spin, so the search is finite.
        loom::model::Builder::new().check(f);
    }

    /// Explores the interleavings with at most `bound` preemptions (for the scenarios too
    /// large for the unbounded search to finish in CI's time).
    fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(bound);
        b.check(f);
    }

    /// One attempt; true if sent. No spinning, so the model stays finite. `cache` is the
    /// sender's copy of `released`.
    fn try_send(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> bool {
        match r.send_once(me, cache, v, false) {
            Ok(()) => true,
            Err(RingError::Full) => false,
            Err(e) => panic!("{e:?}"),
        }
    }

    /// One receive attempt at `head`: Some(value) when a message (or, as `u64::MAX`, a
    /// skipped abandoned slot) was consumed. Releases each slot at once (the batch of a
    /// two-slot ring is 1).
    fn try_recv(
        r: &Ring<HeapRegion>,
        head: &mut u64,
        alive: &dyn Fn(usize) -> bool,
    ) -> Option<u64> {
        match r.peek_full(*head).expect("corrupt") {
            Peek::Ready { pos, cancelled } => {
                let v = if cancelled {
                    u64::MAX
                } else {
                    // SAFETY: published, and this thread is the only receiver.
                    unsafe { r.region().read(r.index(pos)) }
                };
                *head += 1;
                r.set_head(*head);
                r.release(*head, false);
                Some(v)
            }
            Peek::Pending(pos) => {
                if r.skip_abandoned(pos, alive) {
                    try_recv(r, head, alive)
                } else {
                    None
                }
            }
            Peek::Empty => None,
        }
    }

    #[test]
    fn loom_one_sender_reuses_slots_the_receiver_released() {
        // Three messages through two slots: the third needs the receiver's `released`,
        // and loom checks that the sender's write of the reused slot cannot race the
        // receiver's read of it.
        model(|| {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            let tx = Arc::clone(&r);
            let s = loom::thread::spawn(move || {
                let mut cache = 0;
                (0..3u64)
                    .filter(|&v| try_send(&tx, 1, &mut cache, v))
                    .collect::<Vec<_>>()
            });
            let mut head = 0;
            let mut got = Vec::new();
            for _ in 0..2 {
                got.extend(try_recv(&r, &mut head, &|_| true));
            }
            let sent = s.join().unwrap();
            while let Some(v) = try_recv(&r, &mut head, &|_| true) {
                got.push(v);
            }
            assert_eq!(got, sent);
            assert!(sent.len() >= 2);
        });
    }

    #[test]
    fn loom_two_senders_one_receiver_in_order_no_loss_no_duplicate() {
        model_bounded(3, || {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            let senders: Vec<_> = [(1u64, 2u64), (2, 2)]
                .into_iter()
                .map(|(id, n)| {
                    let r = Arc::clone(&r);
                    loom::thread::spawn(move || {
                        let mut cache = 0;
                        (0..n)
                            .map(|k| id * 10 + k)
                            .filter(|&v| try_send(&r, id as usize, &mut cache, v))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            let mut head = 0;
            let mut got = Vec::new();
            for _ in 0..3 {
                got.extend(try_recv(&r, &mut head, &|_| true));
            }
            let sent: Vec<Vec<u64>> = senders.into_iter().map(|h| h.join().unwrap()).collect();
            while let Some(v) = try_recv(&r, &mut head, &|_| true) {
                got.push(v);
            }
            for (i, id) in [1u64, 2].into_iter().enumerate() {
                let mine: Vec<_> = got.iter().copied().filter(|v| v / 10 == id).collect();
                assert_eq!(mine, sent[i]);
            }
        });
    }

    #[test]
    fn loom_three_senders_contend_for_two_slots() {
        model_bounded(2, || {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            let senders: Vec<_> = (1..=3u64)
                .map(|id| {
                    let r = Arc::clone(&r);
                    loom::thread::spawn(move || try_send(&r, id as usize, &mut 0, id))
                })
                .collect();
            let mut head = 0;
            let mut got = Vec::new();
            got.extend(try_recv(&r, &mut head, &|_| true));
            let sent: Vec<u64> = senders
                .into_iter()
                .zip(1..)
                .filter_map(|(h, id)| h.join().unwrap().then_some(id))
                .collect();
            while let Some(v) = try_recv(&r, &mut head, &|_| true) {
                got.push(v);
            }
            got.sort_unstable();
            assert_eq!(got, sent);
            assert!(sent.len() >= 2);
        });
    }

    /// Everybody alive; the heavy barrier as loom can model it, a `SeqCst` fence (the
    /// claimers here are unfenced, so their side is a `SeqCst` fence too).
    struct LoomPeers;

    impl Peers for LoomPeers {
        fn alive(&self, _: usize) -> bool {
            true
        }
        fn heavy(&self) -> bool {
            loom::sync::atomic::fence(Ordering::SeqCst);
            true
        }
    }

    /// A send that settles the mode when told `Busy` (three attempts at most, so the
    /// model stays finite); true if sent.
    fn send_settling(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> bool {
        for _ in 0..3 {
            match r.send_once(me, cache, v, false) {
                Ok(()) => return true,
                Err(RingError::Busy(mode)) => {
                    r.settle(me, mode, &LoomPeers);
                }
                Err(RingError::Full) => return false,
                Err(RingError::Corrupt) => panic!("corrupt"),
            }
        }
        false
    }

    /// Receives what is left after the senders joined; checks it is what they sent, in
    /// each sender's order (values `10 * id + k`).
    fn check_all_received(r: &Ring<HeapRegion>, mut head: u64, mut got: Vec<u64>, sent: &[u64]) {
        while let Some(v) = try_recv(r, &mut head, &|_| true) {
            got.push(v);
        }
        for id in [1, 2] {
            let mine = |vs: &[u64]| {
                vs.iter()
                    .copied()
                    .filter(|v| v / 10 == id)
                    .collect::<Vec<_>>()
            };
            assert_eq!(mine(&got), mine(sent), "sender {id}");
        }
        assert_eq!(got.len(), sent.len(), "nothing duplicated");
    }

    #[test]
    fn loom_revoking_a_bias_mid_claim_loses_and_duplicates_nothing() {
        // Sender 1 holds the bias and sends with plain `tail` stores while sender 2 revokes
        // it and sends by CAS: no position may be claimed twice or lost.
        model_bounded(2, || {
            let r = Arc::new(Ring::new(HeapRegion::new(4)));
            r.init();
            r.region()
                .control()
                .mode
                .store(Mode::Biased(1).encode(), Ordering::SeqCst);
            let holder = Arc::clone(&r);
            let h = loom::thread::spawn(move || {
                let mut cache = 0;
                (10..12u64)
                    .filter(|&v| send_settling(&holder, 1, &mut cache, v))
                    .collect::<Vec<_>>()
            });
            let rival = Arc::clone(&r);
            let v = loom::thread::spawn(move || send_settling(&rival, 2, &mut 0, 20));
            let mut head = 0;
            let got: Vec<u64> = try_recv(&r, &mut head, &|_| true).into_iter().collect();
            let mut sent = h.join().unwrap();
            assert!(v.join().unwrap(), "the revoker gets through");
            sent.push(20);
            check_all_received(&r, head, got, &sent);
        });
    }

    #[test]
    fn loom_a_grant_waits_for_a_shared_claim_in_flight() {
        // Sender 1 biases the ring to itself and sends with a plain store while sender 2
        // claims by CAS (or, once the bias is there, revokes it): the CAS and the plain
        // store must not take the same position.
        model_bounded(2, || {
            let r = Arc::new(Ring::new(HeapRegion::new(4)));
            r.init();
            let granter = Arc::clone(&r);
            let g = loom::thread::spawn(move || {
                assert!(granter.take_bias(1, &LoomPeers), "nobody else moves");
                send_settling(&granter, 1, &mut 0, 10)
            });
            let other = Arc::clone(&r);
            let s = loom::thread::spawn(move || send_settling(&other, 2, &mut 0, 20));
            let mut sent = Vec::new();
            if g.join().unwrap() {
                sent.push(10);
            }
            if s.join().unwrap() {
                sent.push(20);
            }
            // Either may give up (a live mover makes the other wait, and each tries three
            // times): what matters is that what was sent arrives once.
            check_all_received(&r, 0, Vec::new(), &sent);
        });
    }

    #[test]
    fn loom_dead_claimer_is_skipped_and_live_one_is_not() {
        model(|| {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            // Participant 2 claims a slot and dies without publishing.
            let dead = Arc::clone(&r);
            let d = loom::thread::spawn(move || dead.try_claim(2, &mut 0, false).is_ok());
            let live = Arc::clone(&r);
            let l = loom::thread::spawn(move || try_send(&live, 1, &mut 0, 7));
            let alive = |i: usize| i != 2;
            let mut head = 0;
            let mut got = Vec::new();
            for _ in 0..2 {
                got.extend(try_recv(&r, &mut head, &alive));
            }
            let claimed = d.join().unwrap();
            let sent = l.join().unwrap();
            while let Some(v) = try_recv(&r, &mut head, &alive) {
                got.push(v);
            }
            got.sort_unstable();
            let mut want = Vec::new();
            if sent {
                want.push(7);
            }
            if claimed {
                want.push(u64::MAX);
            }
            assert_eq!(got, want);
        });
    }
}
