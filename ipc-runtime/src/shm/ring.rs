//! The ring protocol: a bounded multi-producer, single-consumer queue of fixed-size slots
//! with a sequence number per slot (D. Vyukov's bounded queue), over an abstract
//! [`Region`] so it runs on a shared mapping and on a heap buffer alike (loom, proptest).
//!
//! # Protocol
//!
//! Slot `i` carries `seq`, initially `i`. For position `pos` (a 64-bit counter that never
//! wraps in practice) the slot is `pos & mask`:
//!
//! - **free for `pos`** when `seq == pos`;
//! - **published for `pos`** when `seq == pos + 1` (stored with `Release` after the payload
//!   write, loaded with `Acquire` by the receiver before it reads the payload);
//! - released by the receiver with `seq = pos + capacity`, which makes it free for the next
//!   lap.
//!
//! (A variant in which the receiver frees slots only by moving `head`, and senders keep a
//! cached copy of it, was measured slower on a 2-core machine: 12-13 M/s against 19-21 M/s
//! for 8-byte messages, because a sender that runs ahead finds the ring nearly full and
//! re-reads `head` for almost every message; the per-slot `seq` keeps each message's
//! traffic on the slot's own cache line.)
//!
//! A sender claims `pos` by a CAS on `tail` (after checking the slot is free for `pos`), so
//! exactly one sender writes a slot per lap and the receiver, the only one that moves
//! `head`, reads it once. Before each CAS attempt a sender writes `claims[me] = pos + 1`
//! (on its own cache line). A receiver stuck on a slot that is claimed (`tail > pos`) but
//! not published can therefore tell who holds it: if no *live* participant has
//! `claims[i] == pos + 1`, the claimer died between its CAS and its publish, and the
//! receiver releases the slot as a lost message ([`Ring::skip_abandoned`]). This is sound
//! because the claimer's `claims` store is sequenced before its CAS on `tail` (a release),
//! which the receiver's load of `tail` acquires: a receiver that sees the slot claimed
//! sees the claim too, until the claimer moves on to a later position, which it does only
//! after publishing this one (and the receiver re-checks `seq` last). A participant index
//! reused by a newcomer is reset on join, which can only delay a skip, never cause a
//! wrong one: a skip needs the slot still unpublished and its claimer dead.
//!
//! # Hostile memory
//!
//! Every index used for addressing is `pos & mask` with the local `mask`; values read
//! from shared memory (`tail`, `seq`) are only compared. A `seq` that fits no state is
//! reported as [`RingError::Corrupt`]; a `tail` that does not move makes the sender report
//! the ring full or corrupt instead of looping.

use super::super::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
    /// Next position to claim (senders, CAS).
    pub(crate) tail: CacheLine<AtomicU64>,
    /// Next position to read (receiver only; informative for others).
    pub(crate) head: CacheLine<AtomicU64>,
    /// `claims[i] == pos + 1` while participant `i` claims or holds `pos`; 0 otherwise.
    pub(crate) claims: [CacheLine<AtomicU64>; MAX_PARTICIPANTS],
}

impl RingControl {
    #[cfg(any(test, loom))]
    pub(crate) fn new() -> Self {
        RingControl {
            tail: CacheLine(AtomicU64::new(0)),
            head: CacheLine(AtomicU64::new(0)),
            claims: core::array::from_fn(|_| CacheLine(AtomicU64::new(0))),
        }
    }
}

/// The header of one slot; the payload follows it in the region's own layout.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SlotHeader {
    pub(crate) seq: AtomicU64,
    pub(crate) flags: AtomicU32,
    _reserved: u32,
}

/// Size of [`SlotHeader`] in bytes.
pub(crate) const SLOT_HEADER: usize = core::mem::size_of::<SlotHeader>();

/// `flags` bit: the sender gave the slot back without a message (a dropped loan).
pub(crate) const CANCELLED: u32 = 1;

impl SlotHeader {
    #[cfg(any(test, loom))]
    pub(crate) fn new(index: u64) -> Self {
        SlotHeader {
            seq: AtomicU64::new(index),
            flags: AtomicU32::new(0),
            _reserved: 0,
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
    /// Number of slots: a power of two, at least 2 (with one slot, a published `seq` of
    /// `pos + 1` would read as free for `pos + 1`).
    fn capacity(&self) -> u64;
    /// Slot `index` (`index < capacity()`; callers mask).
    fn slot(&self, index: u64) -> &SlotHeader;
}

/// What went wrong in a ring operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RingError {
    /// No free slot.
    Full,
    /// A sequence number fits no state of the protocol: the memory was overwritten.
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

    /// Initialises the slot sequence numbers of a fresh region (creator only).
    pub(crate) fn init(&self) {
        for i in 0..self.region.capacity() {
            self.region.slot(i).seq.store(i, Ordering::Relaxed);
            self.region.slot(i).flags.store(0, Ordering::Relaxed);
        }
    }

    /// Claims a free slot for participant `me`; returns its position. The caller writes the
    /// payload of `index(pos)` and then calls [`Ring::publish`].
    pub(crate) fn try_claim(&self, me: usize) -> Result<u64, RingError> {
        let c = self.region.control();
        let claim = &c.claims[me % MAX_PARTICIPANTS];
        let mut pos = c.tail.load(Ordering::Relaxed);
        loop {
            let seq = self
                .region
                .slot(self.index(pos))
                .seq
                .load(Ordering::Acquire);
            let dif = seq.wrapping_sub(pos) as i64;
            if dif == 0 {
                // Relaxed is enough: the CAS below is a release that the receiver's load of
                // `tail` acquires, so it sees this claim whenever it sees the new tail.
                claim.store(pos.wrapping_add(1), Ordering::Relaxed);
                match c.tail.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(pos),
                    Err(now) => pos = now,
                }
            } else {
                let now = c.tail.load(Ordering::Relaxed);
                if now == pos {
                    claim.store(0, Ordering::SeqCst);
                    // dif < 0: the slot still holds the previous lap: full. dif > 0 with a
                    // tail that did not move fits no state.
                    return Err(if dif < 0 {
                        RingError::Full
                    } else {
                        RingError::Corrupt
                    });
                }
                pos = now;
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
    pub(crate) fn publish(&self, me: usize, pos: u64, cancelled: bool, fenced: bool) {
        let slot = self.region.slot(self.index(pos));
        slot.flags
            .store(if cancelled { CANCELLED } else { 0 }, Ordering::Relaxed);
        if fenced {
            slot.seq.store(pos.wrapping_add(1), Ordering::Release);
            crate::sync::fence::light();
        } else {
            slot.seq.swap(pos.wrapping_add(1), Ordering::SeqCst);
        }
        // The claim is left as is: it names `pos`, which is now published, and the
        // receiver re-checks `seq` before it skips anything. Not clearing it saves a
        // store per message.
        let _ = me;
    }

    /// Looks at position `head` (the receiver's own copy). `Empty` means nothing is
    /// published there; whether a sender has claimed it is [`Ring::claimed`]'s question
    /// (asked only when stuck, so a spinning receiver does not pull the senders' `tail`
    /// cache line on every iteration).
    #[inline]
    pub(crate) fn peek(&self, head: u64) -> Result<Peek, RingError> {
        let slot = self.region.slot(self.index(head));
        let seq = slot.seq.load(Ordering::Acquire);
        if seq == head.wrapping_add(1) {
            let cancelled = slot.flags.load(Ordering::Relaxed) & CANCELLED != 0;
            return Ok(Peek::Ready {
                pos: head,
                cancelled,
            });
        }
        if seq == head {
            return Ok(Peek::Empty);
        }
        Err(RingError::Corrupt)
    }

    /// True if `head`'s slot is published now (a `SeqCst` load, for the parking handshake).
    pub(crate) fn published(&self, head: u64) -> bool {
        self.region
            .slot(self.index(head))
            .seq
            .load(Ordering::SeqCst)
            != head
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

    /// True if the slot at `tail` is free now (a `SeqCst` load, for the parking handshake
    /// of senders waiting for room).
    pub(crate) fn has_room(&self) -> bool {
        let tail = self.region.control().tail.load(Ordering::SeqCst);
        let seq = self
            .region
            .slot(self.index(tail))
            .seq
            .load(Ordering::SeqCst);
        seq.wrapping_sub(tail) as i64 >= 0
    }

    /// Frees the slot of the read position `pos` for the next lap and moves `head`.
    ///
    /// Ordered before the caller's following load of the senders' "waiting for room"
    /// count as in [`Ring::publish`] (`fenced`: by the parking sender's `membarrier`;
    /// otherwise a `SeqCst` swap).
    pub(crate) fn release(&self, pos: u64, fenced: bool) {
        let slot = self.region.slot(self.index(pos));
        let next = pos.wrapping_add(self.region.capacity());
        if fenced {
            slot.seq.store(next, Ordering::Release);
            crate::sync::fence::light();
        } else {
            slot.seq.swap(next, Ordering::SeqCst);
        }
        self.region
            .control()
            .head
            .store(pos.wrapping_add(1), Ordering::Release);
    }

    /// Releases `pos` if it is claimed but its claimer is dead (`alive(i)` false for every
    /// participant `i` whose claim names `pos`). Returns true if the slot was skipped.
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
        let slot = self.region.slot(self.index(pos));
        if slot.seq.load(Ordering::Acquire) != pos {
            return false;
        }
        self.release(pos, false);
        true
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
                slots: (0..capacity).map(SlotHeader::new).collect(),
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

    fn send(r: &Ring<HeapRegion>, me: usize, v: u64) -> Result<(), RingError> {
        let pos = r.try_claim(me)?;
        // SAFETY: `pos` was just claimed by us.
        unsafe { r.region().write(r.index(pos), v) };
        r.publish(me, pos, false, false);
        Ok(())
    }

    fn recv(r: &Ring<HeapRegion>, head: &mut u64) -> Option<u64> {
        match r.peek(*head).unwrap() {
            Peek::Ready { pos, cancelled } => {
                // SAFETY: `pos` is published and we are the only receiver.
                let v = unsafe { r.region().read(r.index(pos)) };
                r.release(pos, false);
                *head += 1;
                (!cancelled).then_some(v)
            }
            _ => None,
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
        fn ring_behaves_like_a_bounded_queue(
            cap_log in 1u32..5,
            ops in proptest::collection::vec(prop_oneof![
                any::<u64>().prop_map(Op::Send), Just(Op::Recv), Just(Op::Abandon)], 0..200)
        ) {
            let cap = 1u64 << cap_log;
            let r = Ring::new(HeapRegion::new(cap));
            r.init();
            let mut model = VecDeque::new();
            let mut in_ring = 0u64; // model plus abandoned slots not yet skipped
            let mut head = 0u64;
            let mut abandoned = VecDeque::new();
            let mut next_dead = 0usize;
            for op in ops {
                match op {
                    Op::Send(v) => {
                        let res = send(&r, 1, v);
                        if in_ring < cap {
                            prop_assert!(res.is_ok());
                            model.push_back(Some(v));
                            in_ring += 1;
                        } else {
                            prop_assert_eq!(res, Err(RingError::Full));
                        }
                    }
                    Op::Abandon => {
                        // A fresh participant (2, 3, ...) claims and "dies" before
                        // publishing.
                        if let Ok(pos) = r.try_claim(2 + next_dead % 60) {
                            next_dead += 1;
                            abandoned.push_back(pos);
                            model.push_back(None);
                            in_ring += 1;
                        } else {
                            prop_assert_eq!(in_ring, cap);
                        }
                    }
                    Op::Recv => loop {
                        match r.peek_full(head).unwrap() {
                            Peek::Empty => { prop_assert!(model.is_empty()); break; }
                            Peek::Pending(pos) => {
                                prop_assert_eq!(model.front(), Some(&None));
                                // The claimer is alive until we say it is dead.
                                prop_assert!(!r.skip_abandoned(pos, |i| i >= 2));
                                prop_assert!(r.skip_abandoned(pos, |_| false));
                                prop_assert_eq!(abandoned.pop_front(), Some(pos));
                                model.pop_front();
                                in_ring -= 1;
                                head += 1;
                            }
                            Peek::Ready { .. } => {
                                let got = recv(&r, &mut head);
                                prop_assert_eq!(got, model.pop_front().flatten());
                                in_ring -= 1;
                                break;
                            }
                        }
                    },
                }
            }
        }
    }

    #[test]
    fn garbage_sequence_is_corrupt_not_a_hang() {
        let r = Ring::new(HeapRegion::new(4));
        r.init();
        r.region().slot(0).seq.store(77, Ordering::Relaxed);
        assert_eq!(r.peek(0), Err(RingError::Corrupt));
        assert_eq!(r.try_claim(1), Err(RingError::Corrupt));
        r.region()
            .slot(0)
            .seq
            .store(u64::MAX - 3, Ordering::Relaxed);
        assert_eq!(r.try_claim(1), Err(RingError::Full));
    }

    #[test]
    fn threads_preserve_per_sender_order() {
        use std::sync::Arc;
        let r = Arc::new(Ring::new(HeapRegion::new(8)));
        r.init();
        let n = 20_000u64;
        let senders: Vec<_> = (1..=3u64)
            .map(|id| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || {
                    for i in 0..n {
                        while send(&r, id as usize, (id << 32) | i).is_err() {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u64; 4];
        let mut head = 0;
        let mut got = 0;
        while got < 3 * n {
            match recv(&r, &mut head) {
                Some(v) => {
                    let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                    assert_eq!(i, next[id]);
                    next[id] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for s in senders {
            s.join().unwrap();
        }
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

    /// One attempt; true if sent. No spinning, so the model stays finite.
    fn try_send(r: &Ring<HeapRegion>, me: usize, v: u64) -> bool {
        match r.try_claim(me) {
            Ok(pos) => {
                // SAFETY: `pos` was just claimed by us.
                unsafe { r.region().write(r.index(pos), v) };
                r.publish(me, pos, false, false);
                true
            }
            Err(RingError::Full) => false,
            Err(RingError::Corrupt) => panic!("corrupt"),
        }
    }

    /// One receive attempt at `head`: Some(value) when a message (or, as `u64::MAX`, a
    /// skipped abandoned slot) was consumed.
    fn try_recv(
        r: &Ring<HeapRegion>,
        head: &mut u64,
        alive: &dyn Fn(usize) -> bool,
    ) -> Option<u64> {
        match r.peek_full(*head).expect("corrupt") {
            Peek::Ready { pos, .. } => {
                // SAFETY: published, and this thread is the only receiver.
                let v = unsafe { r.region().read(r.index(pos)) };
                r.release(pos, false);
                *head += 1;
                Some(v)
            }
            Peek::Pending(pos) => {
                if r.skip_abandoned(pos, alive) {
                    *head += 1;
                    Some(u64::MAX)
                } else {
                    None
                }
            }
            Peek::Empty => None,
        }
    }

    #[test]
    fn loom_two_senders_one_receiver_in_order_no_loss_no_duplicate() {
        model(|| {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            let senders: Vec<_> = [(1u64, 2u64), (2, 2)]
                .into_iter()
                .map(|(id, n)| {
                    let r = Arc::clone(&r);
                    loom::thread::spawn(move || {
                        (0..n)
                            .map(|k| id * 10 + k)
                            .filter(|&v| try_send(&r, id as usize, v))
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
                    loom::thread::spawn(move || try_send(&r, id as usize, id))
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

    #[test]
    fn loom_dead_claimer_is_skipped_and_live_one_is_not() {
        model(|| {
            let r = Arc::new(Ring::new(HeapRegion::new(2)));
            r.init();
            // Participant 2 claims a slot and dies without publishing.
            let dead = Arc::clone(&r);
            let d = loom::thread::spawn(move || dead.try_claim(2).is_ok());
            let live = Arc::clone(&r);
            let l = loom::thread::spawn(move || try_send(&live, 1, 7));
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
