//! Publish-subscribe on shared memory: [`Publisher`] and [`Subscriber`] over a topic
//! segment (the protocol is in `topic.rs`; this file maps it, joins it, and waits).
//!
//! # Contract
//!
//! - **1:N, zero copy**: one publisher writes each sample once, into the segment; every
//!   subscriber reads the same bytes in place ([`TopicSample`] derefs into the segment for
//!   types whose every bit pattern is valid; other types are copied out, then validated, as
//!   on the channel).
//! - **In order, none twice**: each subscriber sees the samples published after it joined
//!   (and, with [`Options::history`], the latest ones before), in publish order.
//! - **Overflow**: under [`Overflow::Block`] the publisher waits for the slowest live
//!   subscriber, and nothing is lost; a subscriber that dies stops counting as soon as the
//!   publisher, waiting for it, hears of its death (about a millisecond; where deaths
//!   cannot be watched, within 20 ms). Under [`Overflow::DropOldest`] the
//!   publisher never waits; a subscriber a whole ring behind gets
//!   [`Error::Lagged`]`(n)` once, with the number of samples it missed, and then reads on
//!   from the oldest sample still held ([`Subscriber::missed`] counts them all).
//! - **A held sample is never overwritten**: a subscriber may keep its [`TopicSample`] as
//!   long as it likes. Under `Block` that holds the publisher back like a slow reader;
//!   under `DropOldest` it costs one spare chunk (each subscriber has one) and the
//!   publisher goes on.
//! - **Leaving**: a subscriber that receives after the publisher left (or died) gets every
//!   sample still unread, then [`Error::Disconnected`]. The last participant to leave
//!   removes the segment.
//! - **Idle ends cost nothing**: a subscriber parked for a sample, or a publisher parked
//!   for room, sleeps (a minute at most) while its peers are watched for their death
//!   (`shm/watch.rs`, as on the channel); a sample, room, a peer joining or leaving or
//!   dying wakes it.

use core::ptr::NonNull;
use std::time::Duration;

use super::layout::{self, Layout, SegmentKind, Shape};
use super::options::Options;
use super::segment::Segment;
use super::topic::{self, Board, Overflow, SubLine, TopicControl};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::futex;

/// The publisher's participant index; subscriber `k` is participant `k + 1`.
const PUBLISHER: usize = 0;

/// How often a waiting end asks whether the peers it waits for are alive.
const PROBE_EVERY: Duration = Duration::from_millis(10);

/// A topic's mapping seen as a [`Board`]: where its parts start, computed once from the
/// layout (checked against the header) and the base of the mapping.
#[derive(Debug)]
struct SegBoard {
    control: NonNull<TopicControl>,
    subs: NonNull<u8>,
    names: NonNull<AtomicU64>,
    cells: NonNull<u8>,
    stride: usize,
    payload_offset: usize,
    capacity: u64,
    subscribers: usize,
    /// Slices: the most elements a sample holds (0 for a fixed-size message).
    max_len: u64,
    /// Slices: the bytes before the first element (the length word, padded).
    len_prefix: usize,
}

impl SegBoard {
    /// # Safety
    ///
    /// `base` is a mapping of at least `layout.total_size` bytes that outlives the board,
    /// and `layout` is a topic layout computed locally (not read from shared memory).
    unsafe fn new(base: NonNull<u8>, layout: &Layout, shape: &Shape) -> SegBoard {
        // SAFETY: the offsets of a topic layout lie inside its `total_size` bytes.
        let at = |off: u64| unsafe { base.add(off as usize) };
        SegBoard {
            control: at(layout.body_offset).cast(),
            subs: at(layout.subs_offset()),
            names: at(layout.names_offset()).cast(),
            cells: at(layout.cells_offset()),
            stride: layout.stride as usize,
            payload_offset: layout.payload_offset as usize,
            capacity: layout.capacity,
            subscribers: layout.subscribers as usize,
            max_len: shape.max_len.unwrap_or(0),
            len_prefix: shape.len_prefix() as usize,
        }
    }

    /// The start of cell `i` (`i < capacity + subscribers`).
    #[inline]
    fn cell(&self, i: u64) -> *mut u8 {
        assert!(i < self.capacity + self.subscribers as u64);
        // SAFETY: cell `i` lies inside the mapping (`SegBoard::new`).
        unsafe { self.cells.as_ptr().add(i as usize * self.stride) }
    }

    /// The bytes of chunk `c` (checked by the protocol to be below the chunk count).
    #[inline]
    fn chunk(&self, c: u64) -> *mut u8 {
        // SAFETY: the payload lies inside its cell (`payload_offset + size <= stride`).
        unsafe { self.cell(c).add(self.payload_offset) }
    }

    /// Slices: chunk `c`'s length word (the chunk is aligned for it: at least 8).
    #[inline]
    fn slice_len(&self, c: u64) -> &AtomicU64 {
        // SAFETY: the chunk starts with `len_prefix >= 8` bytes of its own, 8-aligned; the
        // word is only ever accessed atomically.
        unsafe { &*self.chunk(c).cast::<AtomicU64>() }
    }

    /// Where the elements of a sample of `P` in chunk `c` start: the chunk itself for a
    /// message, after the length word for a slice.
    #[inline(always)]
    fn elements<P: ?Sized + Payload>(&self, c: u64) -> *mut P::Element {
        self.payload(c, P::IS_SLICE).cast()
    }

    /// Where the bytes of a sample in chunk `c` start: the chunk itself for a message,
    /// after the length word for a slice.
    #[inline(always)]
    fn payload(&self, c: u64, slice: bool) -> *mut u8 {
        let at = self.chunk(c);
        if slice {
            // SAFETY: a slice chunk holds `len_prefix` bytes, then `max_len` elements.
            unsafe { at.add(self.len_prefix) }
        } else {
            at
        }
    }
}

// SAFETY: the pointers were computed by `SegBoard::new` from a locally computed layout
// over a mapping that the segment beside the board in every end keeps (fields drop in
// order, the segment last); every part is aligned for what is read there (the control
// and lines on cache lines, cells at least 16-aligned), and all memory behind these
// references is atomics.
unsafe impl Board for SegBoard {
    #[inline]
    fn control(&self) -> &TopicControl {
        // SAFETY: see the impl's comment.
        unsafe { self.control.as_ref() }
    }
    #[inline]
    fn capacity(&self) -> u64 {
        self.capacity
    }
    #[inline]
    fn subscribers(&self) -> usize {
        self.subscribers
    }
    #[inline]
    fn sub(&self, k: usize) -> &SubLine {
        assert!(k < self.subscribers);
        // SAFETY: line `k` of `subscribers`, 64 bytes each, 64-aligned, in bounds.
        unsafe { &*self.subs.as_ptr().add(64 * k).cast() }
    }
    #[inline]
    fn entry(&self, i: u64) -> &topic::Entry {
        assert!(i < self.capacity);
        // SAFETY: an entry is at the start of its cell.
        unsafe { &*self.cell(i).cast() }
    }
    #[inline]
    fn names(&self, i: u64) -> &AtomicU64 {
        assert!(i < self.capacity);
        // SAFETY: word `i` of the chunk map, 8-aligned (after 64-byte lines), in bounds.
        unsafe { &*self.names.as_ptr().add(i as usize) }
    }
}

/// Maps and checks a topic segment of `P`.
fn map_topic<P: ?Sized + Payload>(seg: &Segment) -> Result<SegBoard> {
    let (layout, shape) = seg.check::<P>(SegmentKind::Topic)?;
    let base = NonNull::new(seg.base()).ok_or_else(|| Error::Corrupt("null mapping".into()))?;
    // SAFETY: `check` computed the layout locally (from this side's `P` and the header's
    // capacity, subscriber count and maximum length) and found the mapping (`fstat`) at
    // least `total_size` long; the segment outlives the board (see `Board for SegBoard`).
    Ok(unsafe { SegBoard::new(base, &layout, &shape) })
}

fn create_topic<P: ?Sized + Payload>(
    name: &str,
    opts: &Options,
    me: usize,
) -> Result<(Segment, SegBoard)> {
    let schema = layout::encoded_schema::<P>()?;
    let shape = opts.shape_for::<P>().with_schema(&schema);
    let layout = Layout::topic(&shape, opts.slots(&shape), opts.max_subscribers)?;
    crate::sync::bell::ready()?;
    let seg = Segment::create(name, opts, layout.meta::<P>(&shape), me)?;
    seg.write_schema(&schema);
    let board = map_topic::<P>(&seg)?;
    topic::init(&board);
    let state = &board.control().state;
    state.history.store(opts.history, Ordering::Relaxed);
    state.overflow.store(
        u32::from(opts.overflow == Overflow::DropOldest),
        Ordering::Relaxed,
    );
    layout::set_ready(seg.header());
    Ok((seg, board))
}

/// Says that participant `me` joined (it holds its lock byte): who it is, for its peers'
/// death notices, then tells the parked peers to look again ([`changed`]).
fn say_joined(seg: &Segment, board: &SegBoard, me: usize) {
    let h = seg.header();
    h.peers.pid[me].store(std::process::id(), Ordering::SeqCst);
    h.peers.ns[me].store(crate::sync::deaths::pid_namespace(), Ordering::SeqCst);
    changed(seg, board);
}

/// After a participant joined, or left (its lock byte released): bumps the count that a
/// parked end compares before it sleeps without a limit, then wakes the parked ends of
/// both roles, so that each looks again at whom to watch (see `shm/watch.rs`). Joins and
/// leaves are rare: two system calls each.
fn changed(seg: &Segment, board: &SegBoard) {
    seg.header().counters.members.fetch_add(1, Ordering::SeqCst);
    let c = board.control();
    for ev in [&c.sleepers.epoch, &c.room.event.epoch] {
        ev.fetch_add(1, Ordering::SeqCst);
        futex::wake(ev, u32::MAX);
    }
    ring_bells(board);
}

/// After waking the parked subscribers' futex: rings the doorbell of every async
/// subscriber (a load per subscriber line; only when someone is parked).
fn ring_bells(board: &SegBoard) {
    for k in 0..board.subscribers() {
        let token = board.sub(k).bell.load(core::sync::atomic::Ordering::SeqCst);
        if token != 0 {
            // A lost ring is rung again at the next wake: a parked subscriber stays
            // counted among the waiters until it leaves its park.
            crate::sync::bell::ring(token);
        }
    }
}

fn overflow_of(board: &SegBoard) -> Overflow {
    if board.control().state.overflow.load(Ordering::Relaxed) == 0 {
        Overflow::Block
    } else {
        Overflow::DropOldest
    }
}

fn corrupt() -> Error {
    Error::Corrupt(
        "the topic's shared memory fits no state of the protocol: another process wrote \
         over it; remove the topic and create it again"
            .into(),
    )
}

/// Opens `name`, waiting for it to appear as `opts` says: the segment, not yet joined.
fn open_topic<P: ?Sized + Payload>(name: &str, opts: &Options) -> Result<(Segment, SegBoard)> {
    let seg = Segment::open(name, opts, &opts.appear_wait())?;
    let board = map_topic::<P>(&seg)?;
    Ok((seg, board))
}

/// Opens `name`, or creates it with `opts` holding participant `me`'s lock byte; returns
/// the participant index it holds if it created the topic.
fn open_or_create_topic<P: ?Sized + Payload>(
    name: &str,
    opts: &Options,
    me: usize,
) -> Result<(Segment, SegBoard, Option<usize>)> {
    loop {
        match Segment::open(name, opts, &Wait::Now) {
            Ok(seg) => {
                let board = map_topic::<P>(&seg)?;
                return Ok((seg, board, None));
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        match create_topic::<P>(name, opts, me) {
            Ok((seg, board)) => return Ok((seg, board, Some(me))),
            Err(Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

mod any;
mod publisher;
mod subscriber;

pub use any::AnySubscriber;

pub use publisher::{Publisher, TopicLoan};
pub use subscriber::{Subscriber, TopicSample};
