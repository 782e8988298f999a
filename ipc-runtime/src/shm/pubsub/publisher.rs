//! The publishing end of a topic: [`Publisher`] and the chunk it lends, [`TopicLoan`].

use core::marker::PhantomData;
use std::time::{Duration, Instant};

use super::{changed, corrupt, create_topic, open_or_create_topic, open_topic, say_joined};
use super::{overflow_of, SegBoard};
use super::{PROBE_EVERY, PUBLISHER};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::options::Options;
use crate::shm::segment::{Keep, Segment};
use crate::shm::topic::{self, Board, Publishing, TopicError};
use crate::shm::watch::{at_most_longest, Look, Watch};
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;
use crate::sync::wait::Step;
use crate::sync::{fence, futex, Backoff};

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
///
/// A publisher of slices (`Publisher<[E]>`) publishes samples of any length up to the
/// topic's [`Options::max_len`], with [`send_slice`](Publisher::send_slice) or, written in
/// place, [`loan_slice`](Publisher::loan_slice):
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// use ipc::shm::{Options, Publisher, Subscriber};
/// let mut tx = Publisher::<[u8]>::create("log", Options::new().max_len(1024))?;
/// tx.send_slice(b"started")?;
/// let mut rx = Subscriber::<[u8]>::open("log")?;
/// let line = rx.recv()?;              // a `&[u8]` of exactly the bytes sent
/// # let _ = &*line;
/// # Ok(()) }
/// ```
pub struct Publisher<T: ?Sized + Payload> {
    board: SegBoard,
    state: Publishing,
    fenced: bool,
    wait: crate::sync::WaitStrategy,
    /// The subscribers a park watches for their death; dropped first in `Drop`.
    watch: Watch,
    seg: Segment,
    _t: PhantomData<fn(&T)>,
}

// SAFETY: the handle owns its mapping and descriptor; nothing in it is tied to a thread.
unsafe impl<T: ?Sized + Payload> Send for Publisher<T> {}

impl<T: ?Sized + Payload> core::fmt::Debug for Publisher<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Publisher")
            .field("next", &self.state.next())
            .field("capacity", &self.board.capacity())
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + Payload> Publisher<T> {
    /// Creates the topic `name` with `opts` (capacity, history, max subscribers, overflow,
    /// and for slices the maximum length) and attaches as its publisher. A topic of that
    /// name left by crashed processes is reclaimed.
    ///
    /// # Errors
    ///
    /// As [`Sender::create`](crate::shm::Sender::create): [`Error::AlreadyExists`] if a live
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
        // Parked subscribers watch the publisher they knew of: they look again.
        say_joined(&seg, &board, PUBLISHER);
        Ok(Publisher {
            board,
            state,
            fenced: fence::registered(),
            wait: opts.wait,
            watch: Watch::default(),
            seg,
            _t: PhantomData,
        })
    }

    /// Subscribers attached now: alive, and joined to the topic, so that every sample
    /// published from now on reaches them (a system call per joined subscriber). A
    /// subscriber that is still opening the topic is not counted yet: a publisher that
    /// waits for `subscribers() > 0` before it publishes loses nothing to it.
    pub fn subscribers(&self) -> usize {
        (0..self.board.subscribers())
            .filter(|&k| {
                self.board.sub(k).attached.load(Ordering::Acquire) != 0 && self.seg.alive(1 + k)
            })
            .count()
    }

    /// The position of the next sample: how many were published on this topic.
    pub fn published(&self) -> u64 {
        self.state.next()
    }

    /// The chunk of the next position: inline when nobody holds it back, else through
    /// [`begin`](Self::begin), which waits as `until` says.
    #[inline(always)]
    fn next_chunk(&mut self, until: &Wait) -> Result<u64> {
        match self.state.begin_fast(&self.board, self.fenced) {
            Some(chunk) => Ok(chunk),
            None => self.begin(until),
        }
    }

    #[inline(always)]
    fn commit(&mut self) {
        if self.state.commit(&self.board, self.fenced) {
            self.wake_subscribers();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_subscribers(&self) {
        let ev = &self.board.control().sleepers;
        ev.epoch.fetch_add(1, Ordering::SeqCst);
        futex::wake(&ev.epoch, u32::MAX);
        super::ring_bells(&self.board);
    }

    /// Begins the next position, waiting for room as `until` says; returns its chunk.
    #[cold]
    #[inline(never)]
    fn begin(&mut self, until: &Wait) -> Result<u64> {
        // At least once a lap (see `Publishing::begin`).
        self.seg.intact()?;
        let result = self.wait_for_room(until);
        let stalled = &self.board.control().stalled;
        if stalled.load(Ordering::Relaxed) != 0 {
            stalled.store(0, Ordering::Relaxed);
        }
        result
    }

    /// [`begin`](Self::begin)'s loop; says it is stalled once it finds no room.
    fn wait_for_room(&mut self, until: &Wait) -> Result<u64> {
        let mut backoff = Backoff::new(self.wait);
        let mut probed: Option<Instant> = None;
        // Ask whether the subscribers waited for are alive, at the next look.
        let mut probe = false;
        // A park asked for that probe (it looked at the subscribers again, slept without
        // a limit, or heard of a death).
        let mut owed = false;
        let mut said = false;
        // A send that does not wait has probed (or found nothing changed since its last).
        let mut looked = false;
        loop {
            let seg = &self.seg;
            let mut alive = |k: usize| !probe || seg.alive(k + 1);
            match self.state.begin(&self.board, &mut alive) {
                Ok((_, chunk)) => return Ok(chunk),
                Err(TopicError::Corrupt) => return Err(corrupt()),
                Err(TopicError::Full) => {}
            }
            if !said {
                said = true;
                self.board.control().stalled.store(1, Ordering::Relaxed);
            }
            probe = false;
            if let Wait::Now = until {
                // Once: the subscribers waited for are probed only if one joined, left or
                // died since the last probe (a loop of `try_send`s on a full topic costs
                // loads, not system calls); a dead one's place is then given up.
                if !core::mem::replace(&mut looked, true) {
                    let subs = 1..1 + self.board.subscribers();
                    let wake = Wake::Bump(&self.board.control().room.event.epoch);
                    if !self.watch.unchanged(&self.seg, subs, wake) {
                        self.watch.probed();
                        probe = true;
                        continue;
                    }
                }
                return Err(Error::Full);
            }
            let step = backoff.snooze();
            if step == Step::Park || backoff.should_check() {
                let now = Instant::now();
                let slice = until.slice(now)?.min(PROBE_EVERY);
                if probed.is_none_or(|t| now.duration_since(t) >= PROBE_EVERY)
                    || core::mem::take(&mut owed)
                {
                    // Look again at once, asking whether those we wait for are alive.
                    probed = Some(now);
                    crate::shutdown::check_shutdown()?;
                    self.seg.intact()?;
                    self.watch.probed();
                    probe = true;
                    continue;
                }
                if step == Step::Park {
                    owed = self.park_for_room(slice, until.left());
                }
            }
        }
    }

    /// Sleeps until a subscriber reaches the position this publisher waits for, joins or
    /// leaves, or `left` passes (None: no limit), while the subscribers are watched for
    /// their death; without a watch (see [`crate::sync::deaths`]), in slices of at most
    /// `slice`. True if the caller must probe liveness before it sleeps again.
    fn park_for_room(&mut self, slice: Duration, left: Option<Duration>) -> bool {
        let c = self.board.control();
        let ev = &c.room.event;
        let subs = 1..1 + self.board.subscribers();
        let look = self.watch.look(&self.seg, subs, Wake::Bump(&ev.epoch));
        if matches!(look, Look::Fresh) {
            return true;
        }
        let wants = self.state.waits_for(&self.board);
        let epoch = ev.epoch.load(Ordering::SeqCst);
        c.room.wants.store(wants, Ordering::SeqCst);
        let fenced = topic::heavy();
        let mut slept = false;
        if !topic::room_for(&self.board, wants) {
            if matches!(look, Look::Watched) && fenced {
                // A notice that came before our load of the epoch left no trace in it.
                if !self.watch.stale(&self.seg) {
                    futex::wait(&ev.epoch, epoch, at_most_longest(left));
                    slept = true;
                }
            } else {
                let slice = if fenced {
                    slice
                } else {
                    slice.min(fence::UNFENCED_SLICE)
                };
                futex::wait(&ev.epoch, epoch, Some(slice));
            }
        }
        c.room.wants.store(0, Ordering::SeqCst);
        self.watch.fired() | slept | self.seg.shrunk()
    }
}

impl<T: Message> Publisher<T> {
    #[inline(always)]
    fn send_until(&mut self, msg: T, until: &Wait) -> Result<()> {
        let chunk = self.next_chunk(until)?;
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
    #[inline]
    pub fn loan(&mut self) -> Result<TopicLoan<'_, T>> {
        let chunk = self.next_chunk(&Wait::Forever)?;
        Ok(TopicLoan {
            tx: self,
            chunk,
            written: false,
            len: 1,
        })
    }
}

impl<E: Message> Publisher<[E]> {
    /// The most elements a sample of this topic holds (its creator's [`Options::max_len`]).
    pub fn max_len(&self) -> usize {
        self.board.max_len as usize
    }

    /// Lends the chunk of the next sample, `len` elements long, to write in place (zero
    /// copy), waiting for room under `Block`: fill it, then [`TopicLoan::send`]. The
    /// elements start with whatever an earlier sample left there (or zeros).
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if `len` is above [`max_len`](Self::max_len) (nothing is
    /// waited for); otherwise as [`Tx::send_wait`](crate::Tx::send_wait).
    #[inline]
    pub fn loan_slice(&mut self, len: usize) -> Result<TopicLoan<'_, [E]>> {
        self.check_len(len)?;
        let chunk = self.next_chunk(&Wait::Forever)?;
        Ok(TopicLoan {
            tx: self,
            chunk,
            written: false,
            len,
        })
    }

    /// Publishes a copy of `elements` to every subscriber, waiting for room under `Block`.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if `elements` is longer than [`max_len`](Self::max_len);
    /// otherwise as [`Tx::send_wait`](crate::Tx::send_wait).
    #[inline]
    pub fn send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Forever)
    }

    /// [`send_slice`](Self::send_slice) if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if a live subscriber has not read the sample this one replaces
    /// (`Block` only); otherwise as [`send_slice`](Self::send_slice).
    #[inline]
    pub fn try_send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Now)
    }

    /// [`send_slice`](Self::send_slice), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was none in time; otherwise as
    /// [`send_slice`](Self::send_slice).
    pub fn send_slice_timeout(&mut self, elements: &[E], timeout: Duration) -> Result<()> {
        self.send_slice_until(elements, &Wait::timeout(timeout))
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len as u64 > self.board.max_len {
            return Err(Error::too_long(len, self.board.max_len));
        }
        Ok(())
    }

    #[inline(always)]
    fn send_slice_until(&mut self, elements: &[E], until: &Wait) -> Result<()> {
        self.check_len(elements.len())?;
        let chunk = self.next_chunk(until)?;
        let dst = self.board.elements::<[E]>(chunk);
        // SAFETY: `begin` gave us this chunk: no subscriber reads it until `commit`; it
        // holds `max_len >= elements.len()` elements from `dst`, aligned for `E`, inside
        // the mapping, which `elements` (our own memory) does not overlap.
        unsafe { core::ptr::copy_nonoverlapping(elements.as_ptr(), dst, elements.len()) };
        self.board
            .slice_len(chunk)
            .store(elements.len() as u64, Ordering::Relaxed);
        self.commit();
        Ok(())
    }
}

impl<T: ?Sized + Payload> Drop for Publisher<T> {
    fn drop(&mut self) {
        self.watch.stop();
        let c = self.board.control();
        c.state.publishing.store(0, Ordering::SeqCst);
        self.seg.header().peers.pid[PUBLISHER].store(0, Ordering::SeqCst);
        self.seg.leave(|_| Keep::No);
        // Subscribers parked for a sample learn that none will come.
        changed(&self.seg, &self.board);
    }
}

impl<T: Message> crate::contract::Tx<T> for Publisher<T> {
    /// Publishes a copy of `*msg` to every subscriber (use [`loan`](Publisher::loan) to
    /// write it in place instead), waiting for room as `wait` says under
    /// [`Overflow::Block`](crate::shm::Overflow::Block).
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if a live subscriber has not read the sample this one replaces and
    /// `wait` is [`Wait::Now`](crate::contract::Wait::Now) (`Block` only);
    /// [`Error::Timeout`] if that lasted; [`Error::Shutdown`]; [`Error::Corrupt`] if the
    /// topic's memory was overwritten.
    #[inline(always)]
    fn send_wait(&mut self, msg: &T, wait: crate::contract::Wait) -> Result<()> {
        self.send_until(*msg, &wait.into())
    }
}

crate::contract::sending_end!(impl<T> Publisher<T>, T);

/// A chunk lent by [`Publisher::loan`] (or [`Publisher::loan_slice`]): write the sample
/// in place, then [`TopicLoan::send`].
pub struct TopicLoan<'a, T: ?Sized + Payload> {
    tx: &'a mut Publisher<T>,
    chunk: u64,
    written: bool,
    /// Slices: the elements lent (1 for a message).
    len: usize,
}

impl<T: Message> TopicLoan<'_, T> {
    fn ptr(&self) -> *mut T {
        self.tx.board.chunk(self.chunk).cast()
    }

    crate::shm::lend::in_place_writes!("chunk");

    /// Publishes the sample to every subscriber. If nothing was written, nothing is sent.
    #[inline]
    pub fn send(self) {
        if self.written {
            self.tx.commit();
        }
    }
}

impl<E: Message> TopicLoan<'_, [E]> {
    fn ptr(&self) -> *mut E {
        self.tx.board.elements::<[E]>(self.chunk)
    }

    crate::shm::lend::in_place_slice_writes!("chunk");

    /// Publishes the sample, [`len`](Self::len) elements, to every subscriber. If nothing
    /// was written, nothing is sent.
    #[inline]
    pub fn send(self) {
        if self.written {
            self.tx
                .board
                .slice_len(self.chunk)
                .store(self.len as u64, Ordering::Relaxed);
            self.tx.commit();
        }
    }
}
