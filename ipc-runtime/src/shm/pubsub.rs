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
//!   subscriber, and nothing is lost; a subscriber that dies stops counting within about
//!   20 ms of the publisher having to wait for it. Under [`Overflow::DropOldest`] the
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

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::time::{Duration, Instant};

use super::layout::{self, Layout, SegmentKind};
use super::options::Options;
use super::segment::{Keep, Segment};
use super::topic::{self, Board, Overflow, Peek, Publishing, SubLine, TopicControl, TopicError};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{fence, futex, Backoff};

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
}

impl SegBoard {
    /// # Safety
    ///
    /// `base` is a mapping of at least `layout.total_size` bytes that outlives the board,
    /// and `layout` is a topic layout computed locally (not read from shared memory).
    unsafe fn new(base: NonNull<u8>, layout: &Layout) -> SegBoard {
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

/// Maps, checks and (for a creator) initialises a topic segment of `T`.
fn map_topic<T: Message>(seg: &Segment) -> Result<SegBoard> {
    // SAFETY: every segment is mapped with at least a header's bytes.
    let meta = unsafe { layout::read_meta(seg.base()) };
    let layout = meta.check::<T>(SegmentKind::Topic, seg.len())?;
    let base = NonNull::new(seg.base()).ok_or_else(|| Error::Corrupt("null mapping".into()))?;
    // SAFETY: `check` computed the layout locally and found the mapping (`fstat`) at
    // least `total_size` long; the segment outlives the board (see `Board for SegBoard`).
    Ok(unsafe { SegBoard::new(base, &layout) })
}

fn create_topic<T: Message>(name: &str, opts: &Options, me: usize) -> Result<(Segment, SegBoard)> {
    let layout = Layout::topic::<T>(opts.slots_for::<T>(), opts.max_subscribers)?;
    let seg = Segment::create(name, opts, layout.total_size, me)?;
    // SAFETY: the mapping is `total_size` bytes, at least a header; nobody reads it
    // before `set_ready`.
    unsafe { layout::write_meta(seg.base(), layout.meta::<T>()) };
    let board = map_topic::<T>(&seg)?;
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
fn open_topic<T: Message>(name: &str, opts: &Options) -> Result<(Segment, SegBoard)> {
    let seg = Segment::open(name, opts, &opts.appear_wait())?;
    let board = map_topic::<T>(&seg)?;
    Ok((seg, board))
}

/// Opens `name`, or creates it with `opts` holding participant `me`'s lock byte; returns
/// the participant index it holds if it created the topic.
fn open_or_create_topic<T: Message>(
    name: &str,
    opts: &Options,
    me: usize,
) -> Result<(Segment, SegBoard, Option<usize>)> {
    loop {
        match Segment::open(name, opts, &Wait::Now) {
            Ok(seg) => {
                let board = map_topic::<T>(&seg)?;
                return Ok((seg, board, None));
            }
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        match create_topic::<T>(name, opts, me) {
            Ok((seg, board)) => return Ok((seg, board, Some(me))),
            Err(Error::AlreadyExists { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The publishing end of a topic: one per topic at a time.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// use ipc::shm::{Options, Overflow, Publisher, Subscriber};
/// // process A
/// let opts = Options::new().capacity(256).history(8).overflow(Overflow::DropOldest);
/// let mut tx = Publisher::<[f32; 4]>::create("pose", opts)?;
/// tx.send([0.0, 1.0, 2.0, 3.0])?;
/// // processes B, C, ...
/// let mut rx = Subscriber::<[f32; 4]>::open("pose")?;
/// let pose = rx.recv()?;               // the same bytes for every subscriber
/// println!("{:?}", *pose);
/// # Ok(()) }
/// ```
pub struct Publisher<T: Message> {
    board: SegBoard,
    state: Publishing,
    fenced: bool,
    wait: crate::sync::WaitStrategy,
    seg: Segment,
    _t: PhantomData<fn(T)>,
}

// SAFETY: the handle owns its mapping and descriptor; nothing in it is tied to a thread.
unsafe impl<T: Message> Send for Publisher<T> {}

impl<T: Message> core::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Publisher")
            .field("next", &self.state.next())
            .field("capacity", &self.board.capacity())
            .finish_non_exhaustive()
    }
}

impl<T: Message> Publisher<T> {
    /// Creates the topic `name` with `opts` (capacity, history, max subscribers, overflow)
    /// and attaches as its publisher. A topic of that name left by crashed processes is
    /// reclaimed.
    ///
    /// # Errors
    ///
    /// As [`Sender::create`](super::Sender::create): [`Error::AlreadyExists`] if a live
    /// topic or channel has the name, [`Error::InvalidName`], [`Error::LimitExceeded`].
    pub fn create(name: &str, opts: Options) -> Result<Self> {
        let (seg, board) = create_topic::<T>(name, &opts, PUBLISHER)?;
        Self::attach(seg, board, &opts, true)
    }

    /// Attaches as the publisher of the existing topic `name` (created by a subscriber, or
    /// by a publisher that left); it goes on after the last sample published.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::SchemaMismatch`] for another `T`;
    /// [`Error::Busy`] if a publisher is attached.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`Publisher::open`], with `opts` (mode, wait strategy, open timeout).
    ///
    /// # Errors
    ///
    /// As [`Publisher::open`].
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        let (seg, board) = open_topic::<T>(name, &opts)?;
        Self::attach(seg, board, &opts, false)
    }

    /// Opens the topic `name`, or creates it with `opts` if it does not exist: for
    /// programs that may start in any order.
    ///
    /// # Errors
    ///
    /// As [`Publisher::create`] and [`Publisher::open`].
    pub fn open_or_create(name: &str, opts: Options) -> Result<Self> {
        let (seg, board, made) = open_or_create_topic::<T>(name, &opts, PUBLISHER)?;
        Self::attach(seg, board, &opts, made.is_some())
    }

    fn attach(mut seg: Segment, board: SegBoard, opts: &Options, joined: bool) -> Result<Self> {
        if !joined {
            seg.join(PUBLISHER..PUBLISHER + 1, "the topic has a publisher")?;
        }
        let state = Publishing::attach(&board, overflow_of(&board)).map_err(|_| corrupt())?;
        // "Publishing" before "a publisher came": a subscriber that sees a publisher came
        // and none publishing takes it to have left (`publisher_gone`).
        let s = &board.control().state;
        s.publishing.store(1, Ordering::SeqCst);
        s.publishers.fetch_add(1, Ordering::SeqCst);
        Ok(Publisher {
            board,
            state,
            fenced: fence::registered(),
            wait: opts.wait,
            seg,
            _t: PhantomData,
        })
    }

    fn send_until(&mut self, msg: T, until: &Wait) -> Result<()> {
        let chunk = self.begin(until)?;
        // SAFETY: `begin` gave us this chunk: no subscriber reads it until `commit`; it
        // lies inside the mapping, aligned for `T`.
        unsafe { self.board.chunk(chunk).cast::<T>().write(msg) };
        self.commit();
        Ok(())
    }

    /// A chunk to write the next sample in place (zero copy), waiting for room under
    /// `Block`: write it, then [`TopicLoan::send`]. Dropping the loan sends nothing (the
    /// next loan or send reuses the chunk).
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`](crate::Tx::send_wait).
    pub fn loan(&mut self) -> Result<TopicLoan<'_, T>> {
        let chunk = self.begin(&Wait::Forever)?;
        Ok(TopicLoan {
            tx: self,
            chunk,
            written: false,
        })
    }

    /// Subscribers attached now (a system call per subscriber found).
    pub fn subscribers(&self) -> usize {
        self.seg
            .count_alive(1..1 + self.board.subscribers())
            .try_into()
            .unwrap_or(usize::MAX)
    }

    /// The position of the next sample: how many were published on this topic.
    pub fn published(&self) -> u64 {
        self.state.next()
    }

    fn commit(&mut self) {
        if self.state.commit(&self.board, self.fenced) {
            let ev = &self.board.control().sleepers;
            ev.epoch.fetch_add(1, Ordering::SeqCst);
            futex::wake(&ev.epoch, u32::MAX);
        }
    }

    /// Begins the next position, waiting for room as `until` says; returns its chunk.
    fn begin(&mut self, until: &Wait) -> Result<u64> {
        let mut backoff = Backoff::new(self.wait);
        let mut probed: Option<Instant> = None;
        let mut probe = false;
        loop {
            let seg = &self.seg;
            let mut alive = |k: usize| !probe || seg.alive(k + 1);
            match self.state.begin(&self.board, self.fenced, &mut alive) {
                Ok((_, chunk)) => return Ok(chunk),
                Err(TopicError::Corrupt) => return Err(corrupt()),
                Err(TopicError::Full) => {}
            }
            probe = false;
            if let Wait::Now = until {
                return Err(Error::Full);
            }
            let step = backoff.snooze();
            if step == Step::Park || backoff.should_check() {
                let now = Instant::now();
                let slice = until.slice(now)?.min(PROBE_EVERY);
                if probed.is_none_or(|t| now.duration_since(t) >= PROBE_EVERY) {
                    // Look again at once, asking whether those we wait for are alive.
                    probed = Some(now);
                    crate::shutdown::check_shutdown()?;
                    probe = true;
                    continue;
                }
                if step == Step::Park {
                    self.park_for_room(slice);
                }
            }
        }
    }

    /// Sleeps until a subscriber reaches the position this publisher waits for, leaves,
    /// or `slice` passes.
    fn park_for_room(&self, slice: Duration) {
        let c = self.board.control();
        let wants = self.state.waits_for(&self.board);
        let epoch = c.room.event.epoch.load(Ordering::SeqCst);
        c.room.wants.store(wants, Ordering::SeqCst);
        let fenced = topic::heavy();
        if !topic::room_for(&self.board, wants) {
            let slice = if fenced {
                slice
            } else {
                slice.min(fence::UNFENCED_SLICE)
            };
            futex::wait(&c.room.event.epoch, epoch, Some(slice));
        }
        c.room.wants.store(0, Ordering::SeqCst);
    }
}

impl<T: Message> Drop for Publisher<T> {
    fn drop(&mut self) {
        let c = self.board.control();
        c.state.publishing.store(0, Ordering::SeqCst);
        // Subscribers parked for a sample learn that none will come.
        c.sleepers.epoch.fetch_add(1, Ordering::SeqCst);
        futex::wake(&c.sleepers.epoch, u32::MAX);
        self.seg.leave(|_| Keep::No);
    }
}

impl<T: Message> crate::contract::Tx<T> for Publisher<T> {
    /// Publishes a copy of `*msg` to every subscriber (use [`loan`](Publisher::loan) to
    /// write it in place instead), waiting for room as `wait` says under
    /// [`Overflow::Block`].
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if a live subscriber has not read the sample this one replaces and
    /// `wait` is [`Wait::Now`](crate::contract::Wait::Now) (`Block` only);
    /// [`Error::Timeout`] if that lasted; [`Error::Shutdown`]; [`Error::Corrupt`] if the
    /// topic's memory was overwritten.
    fn send_wait(&mut self, msg: &T, wait: crate::contract::Wait) -> Result<()> {
        self.send_until(*msg, &wait.into())
    }
}

crate::contract::sending_end!(impl<T> Publisher<T>, T);

impl<T: Message> crate::contract::Rx<T> for Subscriber<T> {
    /// Receives a copy of the next sample (use [`recv`](Subscriber::recv) to read it in
    /// place), waiting as `wait` says.
    ///
    /// # Errors
    ///
    /// As [`Subscriber::recv`]; [`Error::Empty`] with
    /// [`Wait::Now`](crate::contract::Wait::Now), [`Error::Timeout`] when a bounded wait
    /// ends.
    fn recv_wait(&mut self, wait: crate::contract::Wait) -> Result<T> {
        self.recv_until(&wait.into()).map(|s| s.get())
    }
}

/// A chunk lent by [`Publisher::loan`]: write the sample in place, then
/// [`TopicLoan::send`].
pub struct TopicLoan<'a, T: Message> {
    tx: &'a mut Publisher<T>,
    chunk: u64,
    written: bool,
}

impl<T: Message> TopicLoan<'_, T> {
    fn ptr(&self) -> *mut T {
        self.tx.board.chunk(self.chunk).cast()
    }

    super::lend::in_place_writes!("chunk");

    /// Publishes the sample to every subscriber. If nothing was written, nothing is sent.
    pub fn send(self) {
        if self.written {
            self.tx.commit();
        }
    }
}

/// A receiving end of a topic. Any number come and go, up to the topic's
/// [`Options::max_subscribers`].
pub struct Subscriber<T: Message> {
    board: SegBoard,
    /// Subscriber index (participant `me + 1`).
    me: usize,
    cursor: u64,
    overflow: Overflow,
    fenced: bool,
    wait: crate::sync::WaitStrategy,
    missed: u64,
    /// A sample handed out in place and not dropped (leaked): move past it first.
    holding: bool,
    /// The cursor as last stored in the subscriber's line. Under `Block` it is stored
    /// every `batch` samples, when the subscriber runs out of samples, and when it skips:
    /// a cursor the publisher sees behind the true one only makes it wait sooner, and
    /// the line moves between the processes once per batch, not once per sample.
    stored: u64,
    batch: u64,
    scratch: Box<MaybeUninit<T>>,
    seg: Segment,
}

// SAFETY: as for `Publisher`.
unsafe impl<T: Message> Send for Subscriber<T> {}

impl<T: Message> core::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscriber")
            .field("cursor", &self.cursor)
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

impl<T: Message> Subscriber<T> {
    /// Subscribes to the existing topic `name`: receives what is published from now on,
    /// after the topic's history.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::SchemaMismatch`] for another `T`; [`Error::Busy`]
    /// if the topic has its maximum of subscribers.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`Subscriber::open`], with `opts` (mode, wait strategy, open timeout).
    ///
    /// # Errors
    ///
    /// As [`Subscriber::open`].
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        let (seg, board) = open_topic::<T>(name, &opts)?;
        Self::attach(seg, board, &opts, None)
    }

    /// Subscribes to `name`, creating the topic with `opts` if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Subscriber::open`] and [`Publisher::create`].
    pub fn open_or_create(name: &str, opts: Options) -> Result<Self> {
        let (seg, board, made) = open_or_create_topic::<T>(name, &opts, 1)?;
        Self::attach(seg, board, &opts, made)
    }

    fn attach(
        mut seg: Segment,
        board: SegBoard,
        opts: &Options,
        joined: Option<usize>,
    ) -> Result<Self> {
        let n = board.subscribers();
        let me = match joined {
            Some(p) => p,
            None => seg.join(1..1 + n, "the topic has its maximum of subscribers")?,
        } - 1;
        let c = board.control();
        let join = c.state.joins.fetch_add(1, Ordering::SeqCst) + 1;
        let overflow = overflow_of(&board);
        let mut cursor = topic::start(&board, c.state.history.load(Ordering::Relaxed));
        topic::join(&board, me, join, cursor);
        let from = if topic::heavy() {
            topic::after_join(&board, cursor)
        } else {
            // Without the heavy barrier the join does not pair with a publisher that is
            // replacing a position of the history: read none of it (cursors only grow).
            topic::start(&board, 0).max(cursor)
        };
        if from > cursor {
            topic::advance(&board, me, cursor, from, false, overflow);
            cursor = from;
        }
        let batch = (board.capacity() / 8).max(1);
        Ok(Subscriber {
            overflow,
            board,
            me,
            cursor,
            fenced: fence::registered(),
            wait: opts.wait,
            missed: 0,
            holding: false,
            stored: cursor,
            batch,
            scratch: Box::new(MaybeUninit::uninit()),
            seg,
        })
    }

    /// Receives the next sample, waiting for it.
    ///
    /// # Errors
    ///
    /// [`Error::Lagged`]`(n)` (`DropOldest` only) if `n` samples were dropped before this
    /// subscriber read them; the next call returns the oldest one still held.
    /// [`Error::Disconnected`] once the publisher left or died and every sample is read.
    /// [`Error::InvalidMessage`] for a sample that fails `T`'s validation (it is skipped).
    /// [`Error::Corrupt`], [`Error::Shutdown`].
    pub fn recv(&mut self) -> Result<TopicSample<'_, T>> {
        self.recv_until(&Wait::Forever)
    }

    /// Receives a sample if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; as [`Subscriber::recv`] otherwise.
    pub fn try_recv(&mut self) -> Result<TopicSample<'_, T>> {
        self.recv_until(&Wait::Now)
    }

    /// Receives a sample, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`Subscriber::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<TopicSample<'_, T>> {
        self.recv_until(&Wait::timeout(timeout))
    }

    /// Samples this subscriber missed (lagged) since it joined.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Samples published and not yet received by this subscriber (a snapshot).
    pub fn pending(&self) -> u64 {
        let tail = self.board.control().tail.load(Ordering::Acquire);
        tail.saturating_sub(self.cursor)
    }

    /// Moves the cursor past the sample at it (stored now or with the batch).
    #[inline]
    fn step(&mut self) {
        self.cursor += 1;
        if self.overflow == Overflow::DropOldest || self.cursor & (self.batch - 1) == 0 {
            self.store_cursor();
        }
    }

    /// Moves the cursor to `to` and stores it.
    fn move_to(&mut self, to: u64) {
        self.cursor = to;
        self.store_cursor();
    }

    /// Stores the cursor in the subscriber's line and wakes the publisher if it waits for
    /// it.
    fn store_cursor(&mut self) {
        if self.stored == self.cursor {
            return;
        }
        let (from, to) = (self.stored, self.cursor);
        self.stored = to;
        if topic::advance(&self.board, self.me, from, to, self.fenced, self.overflow) {
            let ev = &self.board.control().room.event;
            ev.epoch.fetch_add(1, Ordering::SeqCst);
            futex::wake(&ev.epoch, 1);
        }
    }

    /// True once no sample will come: the publisher left cleanly, or attached and died.
    fn publisher_gone(&self) -> bool {
        self.publisher_left() || {
            let s = &self.board.control().state;
            s.publishing.load(Ordering::Acquire) != 0 && !self.seg.alive(PUBLISHER)
        }
    }

    /// True once a publisher came and left cleanly. The count of publishers is read
    /// first: a publisher marks itself publishing before it counts itself in, so one that
    /// is counted is seen publishing until it leaves.
    fn publisher_left(&self) -> bool {
        let s = &self.board.control().state;
        s.publishers.load(Ordering::Acquire) > 0 && s.publishing.load(Ordering::Acquire) == 0
    }

    fn recv_until(&mut self, until: &Wait) -> Result<TopicSample<'_, T>> {
        if self.holding {
            self.holding = false;
            self.step();
        }
        let mut backoff = Backoff::new(self.wait);
        let mut probed: Option<Instant> = None;
        let mut gone = false;
        loop {
            match topic::peek(&self.board, self.cursor, self.overflow) {
                Peek::Ready(chunk) => return self.sample(chunk),
                Peek::Lagged => {
                    let to = topic::oldest(&self.board, self.cursor);
                    let n = to - self.cursor;
                    self.move_to(to);
                    self.missed += n;
                    let line = self.board.sub(self.me);
                    line.missed.fetch_add(n, Ordering::Relaxed);
                    return Err(Error::Lagged(n));
                }
                Peek::Corrupt => return Err(corrupt()),
                Peek::Empty => self.store_cursor(),
            }
            if gone {
                // Looked again after finding the publisher gone: everything is read.
                return Err(Error::Disconnected);
            }
            if self.publisher_left() {
                gone = true;
                continue;
            }
            if let Wait::Now = until {
                return Err(Error::Empty);
            }
            let step = backoff.snooze();
            if step == Step::Park || backoff.should_check() {
                let now = Instant::now();
                let slice = until.slice(now)?;
                if probed.is_none_or(|t| now.duration_since(t) >= PROBE_EVERY) {
                    probed = Some(now);
                    crate::shutdown::check_shutdown()?;
                    if self.publisher_gone() {
                        gone = true;
                        continue;
                    }
                }
                if step == Step::Park {
                    self.park(slice.min(PARK_SLICE));
                }
            }
        }
    }

    /// Sleeps until the publisher publishes or leaves, or `slice` passes.
    fn park(&self, slice: Duration) {
        let ev = &self.board.control().sleepers;
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        let fenced = topic::heavy();
        if topic::peek(&self.board, self.cursor, self.overflow) == Peek::Empty {
            let slice = if fenced {
                slice
            } else {
                slice.min(fence::UNFENCED_SLICE)
            };
            futex::wait(&ev.epoch, epoch, Some(slice));
        }
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    fn sample(&mut self, chunk: u64) -> Result<TopicSample<'_, T>> {
        let src = self.board.chunk(chunk);
        if const { T::SCHEMA.accepts_any_bits() } {
            self.holding = true;
            // SAFETY: the chunk is published at our cursor and kept for us until the
            // cursor moves (on the sample's drop, or at the next receive): the publisher
            // writes into it no more (see `topic.rs`). It is inside the mapping, aligned
            // for `T`, and every bit pattern is a `T`, so even a peer that rewrites it
            // against the protocol cannot make the reference point at an invalid value.
            let value = unsafe { &*src.cast::<T>() };
            return Ok(TopicSample {
                value,
                sub: Some(self),
            });
        }
        let dst = self.scratch.as_mut_ptr().cast::<u8>();
        // SAFETY: `src` is `size_of::<T>()` readable bytes of the chunk, `dst` a private
        // allocation of the same size; they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, size_of::<T>()) };
        self.step();
        // SAFETY: `dst` holds `size_of::<T>()` initialised bytes (copied just above).
        let bytes = unsafe { core::slice::from_raw_parts(dst, size_of::<T>()) };
        T::validate(bytes)?;
        // SAFETY: `T::validate` accepted the bytes, so by the `Message` contract they are
        // a valid `T`; the box is aligned for `T` and borrowed for as long as `self` is.
        let value = unsafe { self.scratch.assume_init_ref() };
        Ok(TopicSample { value, sub: None })
    }
}

impl<T: Message> Drop for Subscriber<T> {
    fn drop(&mut self) {
        if topic::leave(&self.board, self.me) {
            let ev = &self.board.control().room.event;
            ev.epoch.fetch_add(1, Ordering::SeqCst);
            futex::wake(&ev.epoch, 1);
        }
        self.seg.leave(|_| Keep::No);
    }
}

/// A received sample: derefs to `&T`, in the segment for types whose every bit pattern is
/// valid (the publisher does not write into it while you hold it), else a validated copy.
pub struct TopicSample<'a, T: Message> {
    value: &'a T,
    /// The subscriber whose cursor moves past this sample on drop (zero copy only).
    sub: Option<&'a mut Subscriber<T>>,
}

impl<T: Message> core::ops::Deref for TopicSample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Message + core::fmt::Debug> core::fmt::Debug for TopicSample<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("TopicSample").field(self.value).finish()
    }
}

impl<T: Message> TopicSample<'_, T> {
    /// A copy of the sample.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<T: Message> Drop for TopicSample<'_, T> {
    fn drop(&mut self) {
        if let Some(sub) = self.sub.take() {
            if sub.holding {
                sub.holding = false;
                sub.step();
            }
        }
    }
}
