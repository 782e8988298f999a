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
//!   the payload), with the [`CANCELLED`] bit if it carries no message, or the [`PACKED`]
//!   bit if it heads a packed batch (below). Until then it still holds a value of an
//!   earlier lap: `pos + 1 - capacity` if the previous lap published it one by one, an
//!   older lap's if since then it only ever lay inside packed batches (slot `i` starts at
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
//! # Batches
//!
//! A sender may claim `k` consecutive positions with one advance of `tail` (as many as
//! are free, up to what it asks), naming only the first in its claim, and publish them
//! with one barrier: it stores the `seq` of every position but the first, in order, and
//! the first's last ([`Ring::publish_many`] says why that keeps the dead-sender rule and
//! the parking handshake as they are for one message). The receiver takes a batch in one
//! pass over the `seq`s, reading each message behind its acquire ([`Ring::receive_run`]),
//! then records its progress and releases the slots once. Nothing else changes: a batch
//! occupies its positions exactly as `k` messages sent one by one would.
//!
//! # Packed batches
//!
//! A slot is its `seq` and its message, so a batch of 8-byte messages moves 16 bytes per
//! message, twice what the messages are. A region may therefore also have a **packed
//! array**, one message per position without a header ([`Region::run_len`] says whether
//! it has one: the channel's layout adds it where a slot is at least a quarter header and
//! padding). A sender that claimed `k >= 2` positions may write their messages there,
//! store `k` in the first slot's payload word ([`Region::run_len`]), and publish the first
//! position alone, its `seq` with the [`PACKED`] bit ([`Ring::publish_packed`]); the
//! other positions' `seq`s are not written and keep an earlier lap's value. The receiver
//! that meets a packed head checks `k` (at least 1, at most a capacity and within
//! `tail`), records where the batch lies in the control words `packed` (a
//! [`PackedRun`], so that a receiver that joins after it resumes inside the batch), and
//! takes its positions from the packed array without looking at their `seq`s. Hence:
//!
//! - a packed batch is all or nothing: until its head is published none of it is, and a
//!   sender that dies before that leaves positions that are claimed, unpublished and
//!   named by no live claim, which the receiver skips one by one as any abandoned slot;
//! - a slot's `seq` may be any number of laps old, so "unpublished" means "a position
//!   behind this one by a multiple of the capacity" ([`Ring::is_unpublished`]), and only
//!   a later lap's value (or one that fits no lap) is corrupt;
//! - only the receiver and a leaving sender's count of unread messages
//!   ([`Ring::messages_between`]) ever interpret positions inside a batch, and both know
//!   the batch from its head or from the `packed` record;
//! - a run of the receiver enters a packed batch only at its head, and records its own
//!   progress there first ([`Ring::packed_run_at`]), so the recorded `head` lies in no
//!   batch but the recorded one, and a successor never mistakes a position inside a
//!   batch for an abandoned one.
//!
//! The per-message path is unchanged: a message sent alone still travels in its slot,
//! beside its `seq`, one cache line from sender to receiver. (A layout with every `seq`
//! in an array of its own and the messages packed in another moves batches as densely,
//! but a message sent alone then takes two lines: one-way latency rose from 156–194 ns
//! to 227–278 ns in a hand-written ping-pong here.)
//!
//! # Parts
//!
//! This file holds what every part shares: the control words, the slot header and the
//! meaning of its `seq`, the [`Region`] the ring lives in, and [`Ring`] itself. The
//! operations are in the submodules, by who performs them:
//!
//! - [`claim`]: a sender claims a slot (or a batch of them) and publishes it, on the
//!   path that streams;
//! - [`mode`]: whether senders claim by CAS or one of them with plain stores, and how
//!   the ring moves between the two;
//! - [`receive`]: the receiver looks at its head (or scans a run of published slots),
//!   records its progress and releases slots in batches;
//! - [`abandoned`]: the receiver's scan of the claims, to skip a slot whose sender died
//!   between its claim and its publish;
//! - `heap`, `tests`, `threads`, `loom_tests`: a ring in heap memory, and what runs on
//!   it: the unit and property tests, the tests under real threads, the loom models.
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
//! out of bounds (the payload is validated as any other). A `seq` is compared with
//! [`same_position`] (below), by the part that reads it. A packed head's length is only
//! believed between 1 and the distance to `tail` (at most a capacity): a wrong but
//! plausible one makes the receiver read packed entries nobody wrote (garbage, validated
//! as any message) or skip messages, never memory outside the array; a [`PACKED`] bit in
//! a region without a packed array is `Corrupt`.

use super::super::sync::atomic::{AtomicU64, Ordering};

mod abandoned;
mod claim;
mod mode;
mod receive;

#[cfg(all(test, not(ipc_loom)))]
pub(crate) use mode::WANTS;
pub(crate) use mode::{Mode, Peers, Settle};
pub(crate) use receive::{PackedRun, RunEnd};

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
    /// The last packed batch the receiver began (see the module docs): while `head` lies
    /// inside it, the positions from `head` to its end are messages of that batch.
    pub(crate) packed: CacheLine<PackedWords>,
    /// Who may advance `tail`, and how: a [`Mode`], encoded.
    pub(crate) mode: CacheLine<AtomicU64>,
    /// `claims[i] == pos + 1` while participant `i` claims or holds `pos`; 0 otherwise.
    pub(crate) claims: [CacheLine<AtomicU64>; MAX_PARTICIPANTS],
}

impl RingControl {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        RingControl {
            tail: CacheLine(AtomicU64::new(0)),
            released: CacheLine(AtomicU64::new(0)),
            head: CacheLine(AtomicU64::new(0)),
            packed: CacheLine(PackedWords {
                start: AtomicU64::new(0),
                end: AtomicU64::new(0),
            }),
            mode: CacheLine(AtomicU64::new(0)),
            claims: core::array::from_fn(|_| CacheLine(AtomicU64::new(0))),
        }
    }
}

/// Where the last packed batch the receiver began lies: `start..end` (the receiver
/// stores `start`, then `end`, both before its `head` moves into the batch).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct PackedWords {
    pub(crate) start: AtomicU64,
    pub(crate) end: AtomicU64,
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
/// a dropped loan, or the receiver skipped it because its claimer died).
pub(crate) const CANCELLED: u64 = 1 << 63;

/// `seq` bit: the position heads a packed batch (see the module docs); the batch's length
/// is in the slot's [`Region::run_len`] word.
pub(crate) const PACKED: u64 = 1 << 62;

/// The bits of a `seq` that hold a position + 1, modulo 2^62 (see [`same_position`]): at
/// a billion messages a second, positions take 146 years to wrap.
const POSITION: u64 = PACKED - 1;

/// The `seq` that publishes position `pos`.
#[inline]
fn published_seq(pos: u64, cancelled: bool) -> u64 {
    (pos.wrapping_add(1) & POSITION) | if cancelled { CANCELLED } else { 0 }
}

/// True if `seq` holds `value` in its position bits (whatever its flags). Two positions a
/// capacity apart never compare equal this way: capacities are far below 2^62.
#[inline]
fn same_position(seq: u64, value: u64) -> bool {
    (seq ^ value) & POSITION == 0
}

impl SlotHeader {
    #[cfg(test)]
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
/// valid for as long as `self` lives; `capacity()` must be a power of two and constant;
/// `slots()` must address the same headers as `slot`.
pub(crate) unsafe trait Region {
    /// The control words.
    fn control(&self) -> &RingControl;
    /// Number of slots: a power of two, at least 2 (as `Options::capacity` enforces).
    fn capacity(&self) -> u64;
    /// Slot `index` (`index < capacity()`; callers mask).
    fn slot(&self, index: u64) -> &SlotHeader;
    /// The word in slot `index`'s payload that holds the length of a packed batch the
    /// slot heads, if the region has a packed array (see the module docs); `None` if it
    /// has none, and then a `seq` with the [`PACKED`] bit is corrupt.
    fn run_len(&self, index: u64) -> Option<&AtomicU64>;
    /// Every slot header, as a first address and a stride (see [`Slots`]).
    fn slots(&self) -> Slots<'_>;
}

/// The slot headers of a region as a first address, a stride and a mask, read from the
/// region once ([`Region::slots`]). The loops over a batch address their slots through
/// it: with [`Region::slot`] the compiler, which cannot tell that a `seq` store leaves the
/// region's own fields as they were, reads those fields again for every slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slots<'a> {
    first: core::ptr::NonNull<u8>,
    stride: usize,
    mask: u64,
    _region: core::marker::PhantomData<&'a SlotHeader>,
}

impl<'a> Slots<'a> {
    /// # Safety
    ///
    /// `capacity` is a power of two, and for every `i < capacity`, `first + i * stride`
    /// is an aligned [`SlotHeader`] that stays valid for `'a`.
    pub(crate) unsafe fn new(first: core::ptr::NonNull<u8>, stride: usize, capacity: u64) -> Self {
        Slots {
            first,
            stride,
            mask: capacity - 1,
            _region: core::marker::PhantomData,
        }
    }

    /// The header of position `pos`'s slot (masked: any `pos` is in bounds).
    #[inline(always)]
    pub(crate) fn at(self, pos: u64) -> &'a SlotHeader {
        let index = (pos & self.mask) as usize;
        // SAFETY: `index < capacity`, so the header lies where `new`'s caller promised,
        // valid for `'a`.
        unsafe {
            &*self
                .first
                .as_ptr()
                .add(index * self.stride)
                .cast::<SlotHeader>()
        }
    }
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
    #[cfg_attr(not(test), allow(dead_code))]
    Pending(u64),
    /// `pos` is published and may be read; `cancelled` if it carries no message.
    Ready { pos: u64, cancelled: bool },
    /// The head heads a packed batch: the messages of its positions are published, in
    /// the packed array (the `packed` control words record it already).
    Packed(PackedRun),
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

    /// True if `seq`, the `seq` of position `pos`'s slot, says that `pos` is not
    /// published: it names a position of an earlier lap (whatever its flags), which the
    /// previous lap published one by one, or an older one if the slot lay inside packed
    /// batches since. A later lap's position, or one that is no lap's, is corrupt.
    #[inline]
    pub(crate) fn is_unpublished(&self, seq: u64, pos: u64) -> bool {
        let behind = pos.wrapping_add(1).wrapping_sub(seq) & POSITION;
        behind != 0 && behind & self.mask == 0 && behind < PACKED / 2
    }

    /// Initialises the slot sequence numbers of a fresh region (creator only), each as if
    /// lap -1 had published and read it.
    pub(crate) fn init(&self) {
        let cap = self.region.capacity();
        for i in 0..cap {
            self.region
                .slot(i)
                .seq
                .store(i.wrapping_add(1).wrapping_sub(cap), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
pub(crate) mod heap;

#[cfg(all(test, not(ipc_loom)))]
mod tests;

#[cfg(all(test, not(ipc_loom)))]
mod threads;

#[cfg(all(test, ipc_loom))]
mod loom_tests;
