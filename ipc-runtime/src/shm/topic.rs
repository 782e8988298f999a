//! The publish-subscribe protocol: one publisher, up to 63 subscribers that come and go,
//! every subscriber reading every sample in place, over an abstract [`Board`] (a shared
//! mapping, or a heap buffer for the tests and the loom model).
//!
//! # Entries and chunks
//!
//! A sample is written once, into a **chunk**, and named by an **entry** of a ring of
//! `capacity` entries. Position `pos` lives in entry `pos & mask`, whose `seq` says which
//! position it holds:
//!
//! - `seq == pos + 1`: position `pos` is published (stored with `Release` after the chunk
//!   is written; subscribers load it with `Acquire`);
//! - `seq == (pos + 1) | BUSY` (`DropOldest` only): the entry's old position was evicted
//!   and `pos` will replace it;
//! - until the first lap, entry `i` holds `i + 1 - capacity`, as if lap -1 were published
//!   (below zero, wrapped: its top bit is not `BUSY`, see [`is_busy`]).
//!
//! There are `capacity + subscribers` chunks. Chunk `i < capacity` lies right behind entry
//! `i` (an 8-byte sample and its entry take 16 bytes, four to a cache line). Under `Block`
//! entry `i` always names chunk `i`. Under `DropOldest` an entry names its own chunk
//! unless that chunk was still being read when the entry came round again: then the
//! publisher writes into a **spare** chunk and stores which in the entry's word of the
//! **chunk map** ([`Board::names`]), and the old chunk becomes a spare once its reader is
//! done. Each subscriber reads one position at a time, so at most one chunk per subscriber
//! is held outside the ring, and a free chunk always exists.
//!
//! # Cursors: who still reads what
//!
//! Each subscriber has a line of its own with its `cursor`: the position it reads or will
//! read next. It stays at `pos` while the subscriber holds the sample of `pos` (zero
//! copy: the `&T` points into the chunk), and moves past it when the sample is dropped.
//! Cursors only grow. Under `Block` a subscriber stores its cursor once per eighth of the
//! ring, when it runs out of samples and when it skips (a cursor the publisher sees behind
//! the true one only makes it wait sooner); under `DropOldest` after every sample, with a
//! full fence. The publisher keeps a lower bound of the attached subscribers' cursors
//! (`min`), re-read only when it is about to replace a position at or above it, or when
//! the count of joins and leaves (`members`) changed. So a publisher that is ahead of
//! nobody touches no subscriber's line, and a subscriber touches only its own line, the
//! entries and their chunks.
//!
//! Replacing position `old = pos - capacity` by `pos`:
//!
//! - `old < min`: nobody reads `old` or ever will; the publisher writes `pos` over the
//!   entry's chunk without a store to the entry first. A subscriber that joins meanwhile
//!   (with history, its cursor may be `old`) stores its cursor, counts itself in
//!   (`members`), and then, behind a heavy barrier, reads `tail`: the publisher, which
//!   loads `members` behind a store-load barrier after its last commit stored `tail`,
//!   either sees the join (and looks at the cursors again) or the joiner sees the `tail`
//!   that replaces `old` and starts after it ([`after_join`]).
//! - `Overflow::Block`: the publisher waits until every live subscriber's cursor is past
//!   `old`. A subscriber that dies stops counting: the publisher asks who is alive when it
//!   has waited a while (at most every 10 ms).
//! - `Overflow::DropOldest`: the publisher never waits. It evicts a batch of old positions
//!   at once (`capacity / 8`): stores `BUSY` in their entries, a full fence, then reads the
//!   cursors. The subscribers whose cursor is one of them may be reading it now: its chunk
//!   is kept for them (written into again only once each of those cursors has moved on,
//!   or its subscriber left), and the new position goes into a spare. Every other
//!   subscriber that reaches an evicted position finds it `BUSY` or replaced, is
//!   **lagged**, skips to the oldest position still held and counts what it missed. The
//!   subscriber's side of the pairing is its cursor store, a full fence, then its load of
//!   the entry.
//!
//! # A publisher that attaches
//!
//! A topic outlives its publisher: another one attaches (after the first left, or was
//! killed at any instruction) and goes on after the last position published: at `tail`,
//! or at `tail + 1` if the entry of `tail` says it is published (the first one was killed
//! in its commit, which the new one finishes). It has evicted nothing in the ring,
//! so it replaces each position of its first lap by the rule above, as any publisher
//! does. What the board does not show is who reads the chunks outside the ring, so under
//! `DropOldest` a publisher that keeps a chunk for subscribers records it in each one's
//! line (join number, chunk, position) before an entry names another chunk. One that
//! attaches keeps each chunk outside the ring for the subscribers whose record names it,
//! while they are attached with that join number and their cursor is not past that
//! position; nobody reads the other chunks outside the ring. A publisher killed between
//! storing an entry's new chunk in the map and publishing the entry leaves the old chunk
//! recorded: the next one, evicting that entry's old position, finds its readers' chunk
//! kept already and writes the entry's new one, which nobody reads.
//!
//! # Hostile memory
//!
//! Values read from the board are only compared, except a chunk index from the map or a
//! record, which is checked against the chunk count before use: a corrupt one in the map
//! is [`TopicError::Corrupt`], one in a record is no record. A peer that scribbles on
//! cursors or records can make the publisher wait (under `Block`) or keep chunks for
//! nobody; when no chunk is free the publisher reports `Corrupt` instead of writing into
//! one a subscriber may be reading.

use super::super::sync::atomic::{fence, AtomicU64, Ordering};
use super::ring::CacheLine;

pub(crate) use publish::{room_for, Publishing};

#[cfg(test)]
pub(crate) mod heap;
#[cfg(all(test, ipc_loom))]
mod loom_tests;
mod publish;
#[cfg(all(test, not(ipc_loom)))]
mod tests;

/// The most subscriber lines a topic has (participant 0 is the publisher).
pub(crate) const MAX_SUBSCRIBERS: usize = super::ring::MAX_PARTICIPANTS - 1;

/// No position reaches this (2^62: 146 years at a billion samples a second). A `tail`
/// read from the board beyond it is taken as this, so that no position arithmetic on
/// what a hostile peer wrote can overflow; a publisher refuses to attach to such a board.
pub(crate) const POSITION_LIMIT: u64 = 1 << 62;

/// The board's `tail`, as a position this process may compute with.
fn tail_of(b: &impl Board) -> u64 {
    b.control().tail.load(Ordering::Acquire).min(POSITION_LIMIT)
}

/// `seq` bit: the publisher is replacing the entry's position by the one in the other bits.
pub(crate) const BUSY: u64 = 1 << 63;

/// What the publisher does when the slowest subscriber is a whole ring behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for it (`send` blocks; `try_send` reports `Full`). A dead subscriber stops
    /// counting.
    #[default]
    Block,
    /// Never wait: a subscriber that falls a ring behind skips ahead and counts what it
    /// missed ([`Lagged`](crate::Error::Lagged)).
    DropOldest,
}

/// The publisher's control words, each on its own cache line. All-zero bytes are a valid
/// initial value.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct TopicControl {
    /// Every position below it is published; the publisher's next begins here, and
    /// replaces `tail - capacity`.
    pub(crate) tail: CacheLine<AtomicU64>,
    /// Subscribers parked waiting for a sample, and the futex word they sleep on.
    pub(crate) sleepers: CacheLine<Event>,
    /// The publisher parked waiting for room (`Block`): `wants` is the cursor every
    /// subscriber must reach (0: not waiting); `event` is its futex.
    pub(crate) room: CacheLine<Room>,
    /// 1 while the publisher finds no room (`Block`), spinning or parked: a subscriber
    /// with nothing to read then yields its CPU at once instead of spinning, since the
    /// publisher waits for another subscriber, which may share that CPU. A hint only:
    /// nothing depends on it for correctness. On a line of its own: the publisher writes
    /// it at every wait for room, and `room.wants` is read by every cursor store.
    pub(crate) stalled: CacheLine<core::sync::atomic::AtomicU32>,
    /// Bumped when a subscriber joins or leaves.
    pub(crate) members: CacheLine<AtomicU64>,
    /// What the creator chose, and the publisher's comings and goings.
    pub(crate) state: CacheLine<TopicState>,
}

/// See [`TopicControl::state`].
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct TopicState {
    /// Samples a subscriber that joins receives first (at most `capacity * 7 / 8`).
    pub(crate) history: AtomicU64,
    /// Subscribers that ever joined, wrapping: the number of the last join ([`next_join`]).
    pub(crate) joins: AtomicU64,
    /// [`Overflow`] as 0 (`Block`) or 1 (`DropOldest`).
    pub(crate) overflow: core::sync::atomic::AtomicU32,
    /// 1 while a publisher is attached and has not closed (0 before the first one and
    /// after one leaves cleanly); a subscriber that finds it 1 also checks that the
    /// publisher is alive.
    pub(crate) publishing: core::sync::atomic::AtomicU32,
    /// Publishers that ever attached.
    pub(crate) publishers: core::sync::atomic::AtomicU32,
}

/// A futex word and the count of those asleep on it.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Event {
    pub(crate) epoch: core::sync::atomic::AtomicU32,
    pub(crate) waiters: core::sync::atomic::AtomicU32,
}

/// See [`TopicControl::room`].
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Room {
    pub(crate) wants: AtomicU64,
    pub(crate) event: Event,
}

/// One subscriber's line.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct SubLine {
    /// Nonzero while a subscriber is attached: its join's number (so that a publisher
    /// that finds it dead detaches that one, not a newcomer at the same index).
    pub(crate) attached: AtomicU64,
    /// The position it reads or will read next.
    pub(crate) cursor: AtomicU64,
    /// Non-zero while the subscriber is async: the token of its doorbell, which a
    /// publisher that wakes the parked subscribers rings (see `sync::bell`).
    pub(crate) bell: core::sync::atomic::AtomicU64,
    /// `DropOldest`: the chunk a publisher last kept out of the ring for this line's
    /// subscriber of join number `kept_join`, which may read it while its cursor is
    /// `kept_pos` (see "A publisher that attaches"). Written by the publisher only.
    pub(crate) kept_join: AtomicU64,
    pub(crate) kept_chunk: AtomicU64,
    pub(crate) kept_pos: AtomicU64,
}

// A subscriber's line is one cache line of the segment (see `Layout::subs_offset`).
#[cfg(not(ipc_loom))]
const _: () = assert!(core::mem::size_of::<SubLine>() <= 64);

/// An entry of the ring: which position it holds. Where its bytes are is the entry's
/// word in the chunk map ([`Board::names`]), stored only when it changes: an 8-byte
/// sample and its entry take 16 bytes, four to a cache line.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Entry {
    pub(crate) seq: AtomicU64,
}

/// Size of [`Entry`] in bytes: the header of each cell.
pub(crate) const ENTRY: usize = core::mem::size_of::<Entry>();

/// Memory that holds a topic: its control words, subscriber lines and entries. Chunks
/// are addressed by the caller.
///
/// # Safety
///
/// Every reference returned stays valid while `self` lives; `capacity()` is a power of
/// two, at least 2, and constant; `subscribers()` is constant and at most 63.
pub(crate) unsafe trait Board {
    fn control(&self) -> &TopicControl;
    fn capacity(&self) -> u64;
    fn subscribers(&self) -> usize;
    /// Subscriber `k`'s line (`k < subscribers()`).
    fn sub(&self, k: usize) -> &SubLine;
    /// Entry `i` (`i < capacity()`; callers mask).
    fn entry(&self, i: u64) -> &Entry;
    /// The chunk entry `i` names (`i < capacity()`).
    fn names(&self, i: u64) -> &AtomicU64;
    /// Number of chunks.
    fn chunks(&self) -> u64 {
        self.capacity() + self.subscribers() as u64
    }
}

/// What went wrong in a topic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TopicError {
    /// `Block`: a live subscriber has not read the position the next sample replaces.
    Full,
    /// A word fits no state of the protocol: the memory was overwritten.
    Corrupt,
}

/// What a subscriber finds at its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    /// Published: its bytes are in this chunk (checked against the chunk count).
    Ready(u64),
    /// Not published yet.
    Empty,
    /// Replaced: the subscriber fell a ring behind.
    Lagged,
    Corrupt,
}

/// The initial `seq` of entry `i`, and the value of an entry whose position `pos` was
/// never published: the previous lap's.
fn lap_before(pos: u64, capacity: u64) -> u64 {
    pos.wrapping_add(1).wrapping_sub(capacity)
}

/// True if `seq` is a [`BUSY`] mark. Lap -1's marks (`i + 1 - capacity`, below zero) have
/// the top bit set too, but are none: a subscriber ahead of the first lap must find
/// them not yet published, never replaced.
fn is_busy(seq: u64, capacity: u64) -> bool {
    seq & BUSY != 0 && (seq as i64) < -(capacity as i64)
}

/// A store-load barrier on the path that streams: a compiler barrier when the process is
/// registered for the heavy barrier that the other side issues (see
/// [`crate::sync::fence`]), else a full fence.
#[inline(always)]
pub(crate) fn light(fenced: bool) {
    if fenced {
        crate::sync::fence::light();
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The waiting side's barrier: `membarrier` if it works, else a full fence (then the other
/// side must not rely on it: see where it is used).
pub(crate) fn heavy() -> bool {
    let ok = crate::sync::fence::heavy();
    fence(Ordering::SeqCst);
    ok
}

/// Initialises the entries of a fresh board (creator only).
pub(crate) fn init(b: &impl Board) {
    let cap = b.capacity();
    for i in 0..cap {
        b.entry(i).seq.store(lap_before(i, cap), Ordering::Relaxed);
        b.names(i).store(i, Ordering::Relaxed);
    }
}

/// What subscriber finds at `cursor` (see [`Peek`]). Under `Block` an entry that is BUSY
/// with a later position is being put back or replaced: it waits, and only a later
/// position published means it lagged.
#[inline]
pub(crate) fn peek(b: &impl Board, cursor: u64, overflow: Overflow) -> Peek {
    let cap = b.capacity();
    let i = cursor & (cap - 1);
    let entry = b.entry(i);
    let want = cursor.wrapping_add(1);
    let mut seq = entry.seq.load(Ordering::Acquire);
    if seq == want && overflow == Overflow::Block {
        // Under `Block` no entry ever moves to another chunk: entry `i` names chunk `i`.
        return Peek::Ready(i);
    }
    if seq == want {
        // The chunk named now, and the entry still at `cursor` after it: a publisher
        // that moves the entry to another chunk stores BUSY, then (behind a full
        // barrier) the new chunk, so seeing no BUSY after the chunk means it is ours.
        let chunk = b.names(i).load(Ordering::Acquire);
        seq = entry.seq.load(Ordering::Acquire);
        if seq == want {
            return if chunk < b.chunks() {
                Peek::Ready(chunk)
            } else {
                Peek::Corrupt
            };
        }
    }
    let busy = is_busy(seq, cap);
    let ahead = (if busy { seq & !BUSY } else { seq }).wrapping_sub(want) as i64;
    if ahead % cap as i64 != 0 {
        return Peek::Corrupt;
    }
    if ahead <= 0 || (busy && overflow == Overflow::Block) {
        Peek::Empty
    } else {
        Peek::Lagged
    }
}

/// Moves subscriber `me`'s cursor from `from` to `to` (after it is done with `from`'s
/// sample, or skipping), and looks whether the publisher waits for it: true if the
/// caller must wake the publisher. Under `DropOldest` the barrier after the store is a
/// full fence, which the publisher's eviction pairs with (see `evict_batch`); under
/// `Block` it pairs with the parking publisher's heavy barrier.
pub(crate) fn advance(
    b: &impl Board,
    me: usize,
    from: u64,
    to: u64,
    fenced: bool,
    overflow: Overflow,
) -> bool {
    b.sub(me).cursor.store(to, Ordering::Release);
    light(fenced && overflow == Overflow::Block);
    let wants = b.control().room.wants.load(Ordering::Relaxed);
    wants != 0 && from < wants && to >= wants
}

/// Where a lagged subscriber goes on: the oldest position that a publisher evicting in
/// batches still holds, and never back.
pub(crate) fn oldest(b: &impl Board, cursor: u64) -> u64 {
    let cap = b.capacity();
    let keep = cap - (cap / 8).max(1);
    tail_of(b)
        .saturating_sub(keep)
        .max(cursor.saturating_add(1))
}

/// Where a subscriber that joins starts: `history` positions before the tail, at most as
/// far back as a lagged subscriber would go.
pub(crate) fn start(b: &impl Board, history: u64) -> u64 {
    let cap = b.capacity();
    let keep = cap - (cap / 8).max(1);
    tail_of(b).saturating_sub(history.min(keep))
}

/// The number of a join that happens now: the next of the count of joins, never 0 (the
/// value of a line nobody is attached to). The count wraps past 0: a join number only
/// tells one join at a line from the next (see [`SubLine::attached`]), and the count
/// repeats one only after 2^64 joins, or when a peer wrote over it.
pub(crate) fn next_join(b: &impl Board) -> u64 {
    let joins = &b.control().state.joins;
    loop {
        let n = joins.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
        if n != 0 {
            return n;
        }
    }
}

/// Joins subscriber `me` as join number `join` at `cursor`: stores the cursor, then
/// marks it attached and counts itself in. The caller then issues [`heavy`] before its
/// first look at an entry (see the module docs).
pub(crate) fn join(b: &impl Board, me: usize, join: u64, cursor: u64) {
    let line = b.sub(me);
    line.cursor.store(cursor, Ordering::Release);
    line.attached.store(join, Ordering::Release);
    b.control().members.fetch_add(1, Ordering::SeqCst);
}

/// After a join and its heavy barrier: the first position a joiner at `cursor` may read.
/// The publisher may be replacing `tail - capacity` (it did not see the join): start
/// after it.
pub(crate) fn after_join(b: &impl Board, cursor: u64) -> u64 {
    cursor.max((tail_of(b) + 1).saturating_sub(b.capacity()))
}

/// Detaches subscriber `me`; true if the publisher waits and must be woken.
pub(crate) fn leave(b: &impl Board, me: usize) -> bool {
    b.sub(me).attached.store(0, Ordering::Release);
    b.control().members.fetch_add(1, Ordering::SeqCst);
    b.control().room.wants.load(Ordering::SeqCst) != 0
}
