//! The receiving end of a topic: [`Subscriber`] and the sample it lends, [`TopicSample`].

use std::time::{Duration, Instant};

use super::SegBoard;
use super::{changed, corrupt, open_or_create_topic, open_topic, overflow_of, say_joined};
use super::{PROBE_EVERY, PUBLISHER};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::options::Options;
use crate::shm::scratch::Scratch;
use crate::shm::segment::{Keep, Segment};
use crate::shm::topic::{self, Board, Overflow, Peek};
use crate::shm::watch::{at_most_longest, Look, Watch};
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{fence, futex, Backoff};

#[cfg(feature = "tokio")]
mod wait_async;

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

/// A receiving end of a topic. Any number come and go, up to the topic's
/// [`Options::max_subscribers`].
///
/// A subscriber of slices (`Subscriber<[E]>`) receives samples that deref to `&[E]`, each
/// exactly as long as it was sent.
pub struct Subscriber<T: ?Sized + Payload> {
    end: SubEnd,
    /// Where samples of element types with invalid bit patterns are copied and validated
    /// (one element for a message, the maximum length for a slice); empty for the others,
    /// which are read in place.
    scratch: Scratch<T::Element>,
}

/// What a subscriber is whatever its type: its place in the topic and how it moves,
/// waits and leaves. [`Subscriber`] reads samples of its `T` through it, and
/// [`AnySubscriber`](super::AnySubscriber) their bytes.
pub(super) struct SubEnd {
    pub(super) board: SegBoard,
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
    /// The publisher a park watches for its death; dropped first in `Drop`.
    watch: Watch,
    seg: Segment,
}

// SAFETY: as for `Publisher`.
unsafe impl<T: ?Sized + Payload> Send for Subscriber<T> {}

impl<T: ?Sized + Payload> core::fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscriber")
            .field("cursor", &self.end.cursor)
            .field("missed", &self.end.missed)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + Payload> Subscriber<T> {
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
        let scratch = Self::scratch(&board)?;
        Ok(Subscriber {
            end: SubEnd::attach(seg, board, &opts, None)?,
            scratch,
        })
    }

    /// Subscribes to `name`, creating the topic with `opts` if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`Subscriber::open`] and [`Publisher::create`](super::Publisher::create).
    pub fn open_or_create(name: &str, opts: Options) -> Result<Self> {
        let (seg, board, made) = open_or_create_topic::<T>(name, &opts, 1)?;
        let scratch = Self::scratch(&board)?;
        Ok(Subscriber {
            end: SubEnd::attach(seg, board, &opts, made)?,
            scratch,
        })
    }

    /// The scratch buffer for `board`'s samples, allocated before the subscriber joins.
    fn scratch(board: &SegBoard) -> Result<Scratch<T::Element>> {
        Scratch::new(match () {
            () if T::Element::SCHEMA.accepts_any_bits() => 0,
            () if T::IS_SLICE => board.max_len,
            () => 1,
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
    /// Made to be polled: finding nothing costs a few loads and no system call while
    /// the publisher is the one this end last looked at (its death is watched, as a
    /// parked subscriber's is), and `Disconnected` comes at the first look after it
    /// leaves or dies.
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
        self.end.missed
    }

    /// Samples published and not yet received by this subscriber (a snapshot).
    pub fn pending(&self) -> u64 {
        self.end.pending()
    }

    #[inline(always)]
    fn recv_until(&mut self, until: &Wait) -> Result<TopicSample<'_, T>> {
        let chunk = self.end.next(until)?;
        self.sample(chunk)
    }

    #[inline(always)]
    fn sample(&mut self, chunk: u64) -> Result<TopicSample<'_, T>> {
        let end = &mut self.end;
        let src = end.board.elements::<T>(chunk);
        let len = if T::IS_SLICE {
            end.slice_len(chunk)? as usize
        } else {
            1
        };
        if const { T::Element::SCHEMA.accepts_any_bits() } {
            end.holding = true;
            // SAFETY: the chunk is published at our cursor and kept for us until the
            // cursor moves (on the sample's drop, or at the next receive): the publisher
            // writes into it no more (see `topic.rs`). Its `len` elements (at most the
            // topic's maximum, checked by `slice_len`) are inside the mapping, aligned for
            // the element, and every bit pattern is an element, so even a peer that
            // rewrites them against the protocol cannot make the reference point at an
            // invalid value.
            let value = unsafe { &*T::raw(src, len) };
            return Ok(TopicSample {
                value,
                end: Some(end),
            });
        }
        let size = size_of::<T::Element>();
        let dst = self.scratch.as_ptr().cast::<u8>();
        // SAFETY: `src` is `len` readable elements of the chunk (`len` is at most the
        // maximum, checked by `slice_len`, or 1), `dst` a private allocation of at least
        // as many; they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.cast::<u8>(), dst, len * size) };
        end.step();
        // SAFETY: `dst` holds `len * size` initialised bytes (copied just above).
        let bytes = unsafe { core::slice::from_raw_parts(dst, len * size) };
        crate::message::check_elements::<T::Element>(bytes)?;
        // SAFETY: `validate` accepted every element's bytes, so by the `Message` contract
        // they are valid elements; the scratch is aligned for the element and borrowed
        // for as long as `self` is.
        let value = unsafe { &*T::raw(self.scratch.as_ptr().cast(), len) };
        Ok(TopicSample { value, end: None })
    }
}

impl<E: Message> Subscriber<[E]> {
    /// The most elements a sample of this topic holds (its creator's
    /// [`Options::max_len`]).
    pub fn max_len(&self) -> usize {
        self.end.board.max_len as usize
    }
}

impl SubEnd {
    /// Joins the topic `seg` maps as a subscriber (or takes subscriber participant
    /// `joined` that creating it gave this process).
    pub(super) fn attach(
        mut seg: Segment,
        board: SegBoard,
        opts: &Options,
        joined: Option<usize>,
    ) -> Result<Self> {
        let n = board.subscribers();
        let me = match joined {
            Some(p) => p,
            None => seg.join(
                1..1 + n,
                "the topic has its maximum of subscribers, which its creator set \
                 (Options::max_subscribers, 8 by default, at most 63): wait for one to \
                 leave, or create the topic with more",
            )?,
        } - 1;
        // A publisher parked for room watches the subscribers it knew of: it looks again.
        say_joined(&seg, &board, me + 1);
        let c = board.control();
        let join = topic::next_join(&board);
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
        Ok(SubEnd {
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
            watch: Watch::default(),
            seg,
        })
    }

    /// Samples this subscriber missed (lagged) since it joined.
    pub(super) fn missed(&self) -> u64 {
        self.missed
    }

    /// The position of the next sample: how many the publisher published before it.
    pub(super) fn position(&self) -> u64 {
        self.cursor
    }

    /// Samples published and not yet received (a snapshot).
    pub(super) fn pending(&self) -> u64 {
        let tail = self.board.control().tail.load(Ordering::Acquire);
        tail.saturating_sub(self.cursor)
    }

    /// The chunk of the next sample, waiting for one as `until` says. The cursor stays
    /// at it: the caller reads the sample, then moves past it ([`SubEnd::step`]), or
    /// sets `holding` to move past it at the next call.
    #[inline(always)]
    pub(super) fn next(&mut self, until: &Wait) -> Result<u64> {
        self.move_past_held();
        if let Peek::Ready(chunk) = topic::peek(&self.board, self.cursor, self.overflow) {
            return Ok(chunk);
        }
        self.wait_for_sample(until)
    }

    /// A slice sample's length in elements, read once (a publisher that writes the word
    /// again cannot change what is checked after the check) and checked against the
    /// topic's maximum; a sample above it is skipped.
    #[inline(always)]
    pub(super) fn slice_len(&mut self, chunk: u64) -> Result<u64> {
        let len = self.board.slice_len(chunk).load(Ordering::Relaxed);
        if len > self.board.max_len {
            self.step();
            return Err(Error::Corrupt(format!(
                "a sample claims {len} elements, above the topic's maximum of {}: the \
                 publisher does not follow the protocol, or another process wrote over \
                 the topic; the sample is skipped",
                self.board.max_len
            )));
        }
        Ok(len)
    }

    /// Moves the cursor past the sample a receive lent (`holding`), if one did.
    #[inline(always)]
    pub(super) fn move_past_held(&mut self) {
        if self.holding {
            self.holding = false;
            self.step();
        }
    }

    /// Moves the cursor past the sample at it (stored now or with the batch).
    #[inline]
    pub(super) fn step(&mut self) {
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

    /// [`next`](Self::next) when no sample is at the cursor: skips ahead if lagged,
    /// waits (spin, yield, park) as `until` says, and tells a publisher that left.
    #[cold]
    #[inline(never)]
    fn wait_for_sample(&mut self, until: &Wait) -> Result<u64> {
        let mut backoff = Backoff::new(self.wait);
        let mut probed: Option<Instant> = None;
        // A park asked for a probe (it looked at the publisher again, slept without a
        // limit, or heard of a death).
        let mut owed = false;
        let mut gone = false;
        loop {
            match topic::peek(&self.board, self.cursor, self.overflow) {
                Peek::Ready(chunk) => return Ok(chunk),
                // Under `Block` the publisher never passes a live subscriber: only a
                // segment that changed under us says so.
                Peek::Lagged if self.overflow == Overflow::Block => {
                    self.seg.intact()?;
                    return Err(corrupt());
                }
                Peek::Lagged => {
                    self.seg.intact()?;
                    let to = topic::oldest(&self.board, self.cursor);
                    let n = to - self.cursor;
                    self.move_to(to);
                    self.missed = self.missed.saturating_add(n);
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
                // Probed only if the publisher joined, left or died since the last probe
                // (a loop of `try_recv`s costs loads, not system calls). The death notice
                // wakes what this subscriber parks on: its doorbell while it is async.
                let bell = &self.board.sub(self.me).bell;
                let wake = if bell.load(Ordering::Relaxed) != 0 {
                    Wake::Ring(bell)
                } else {
                    Wake::Bump(&self.board.control().sleepers.epoch)
                };
                if !self
                    .watch
                    .unchanged(&self.seg, PUBLISHER..PUBLISHER + 1, wake)
                {
                    self.watch.probed();
                    if self.publisher_gone() {
                        gone = true;
                        continue;
                    }
                }
                return Err(Error::Empty);
            }
            if self.board.control().stalled.load(Ordering::Relaxed) != 0 {
                // The publisher waits for a slower subscriber, perhaps on this CPU:
                // spinning would only keep it from running.
                backoff.skip_spins();
            }
            let step = backoff.snooze();
            if step == Step::Park || backoff.should_check() {
                let now = Instant::now();
                let slice = until.slice(now)?;
                if probed.is_none_or(|t| now.duration_since(t) >= PROBE_EVERY)
                    || core::mem::take(&mut owed)
                {
                    probed = Some(now);
                    crate::shutdown::check_shutdown()?;
                    self.seg.intact()?;
                    self.watch.probed();
                    if self.publisher_gone() {
                        gone = true;
                        continue;
                    }
                }
                if step == Step::Park {
                    owed = self.park(slice.min(PARK_SLICE), until.left());
                }
            }
        }
    }

    /// Sleeps until the publisher publishes, joins or leaves, or `left` passes (None: no
    /// limit), while the publisher is watched for its death; without a watch (see
    /// [`crate::sync::deaths`]), in slices of at most `slice`. True if the caller must
    /// probe liveness before it sleeps again.
    fn park(&mut self, slice: Duration, left: Option<Duration>) -> bool {
        let ev = &self.board.control().sleepers;
        let look = self
            .watch
            .look(&self.seg, PUBLISHER..PUBLISHER + 1, Wake::Bump(&ev.epoch));
        if matches!(look, Look::Fresh) {
            return true;
        }
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        let fenced = topic::heavy();
        let mut slept = false;
        if topic::peek(&self.board, self.cursor, self.overflow) == Peek::Empty
            && !self.publisher_left()
        {
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
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
        self.watch.fired() | slept | self.seg.shrunk()
    }
}

impl Drop for SubEnd {
    fn drop(&mut self) {
        self.watch.stop();
        // Waking a publisher parked for room is left to `changed`, below.
        topic::leave(&self.board, self.me);
        self.seg.header().peers.pid[self.me + 1].store(0, Ordering::SeqCst);
        self.seg.leave(|_| Keep::No);
        changed(&self.seg, &self.board);
    }
}

/// A received sample: derefs to `&T` (`&[E]` for slices), in the segment for types whose
/// every bit pattern is valid (the publisher does not write into it while you hold it),
/// else a validated copy.
pub struct TopicSample<'a, T: ?Sized + Payload> {
    value: &'a T,
    /// The subscriber whose cursor moves past this sample on drop (zero copy only).
    end: Option<&'a mut SubEnd>,
}

impl<T: ?Sized + Payload> core::ops::Deref for TopicSample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized + Payload + core::fmt::Debug> core::fmt::Debug for TopicSample<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("TopicSample").field(&self.value).finish()
    }
}

impl<T: Message> TopicSample<'_, T> {
    /// A copy of the sample.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<T: ?Sized + Payload> Drop for TopicSample<'_, T> {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end.move_past_held();
        }
    }
}
