//! [`AsyncShm`]: the async twin of a shared-memory channel's receiver
//! ([`shm::AsyncReceiver`](crate::shm::AsyncReceiver)) and of a topic's subscriber
//! ([`shm::AsyncSubscriber`](crate::shm::AsyncSubscriber)); the design is told in
//! [`crate::shm`]'s "Async" section.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use ::tokio::time::{sleep, Instant, Sleep};

use crate::contract::{Rx, Wait};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shm::{Receiver, Sample, Subscriber, TopicSample};
use crate::sync::bell::Bell;

/// How many times one poll may find it must look again before it yields to the runtime
/// (the peers keep changing under it).
const LOOKS: u32 = 8;

/// The most messages one scan of the ring counts ahead (the receiver counts at most a
/// release batch of its ring, see `Receiver::count_ready`). A receive takes the next one
/// counted without looking at its `seq` again; each stays in its slot until it is
/// received (the receiver's head moves past it then), so dropping the end, or turning it
/// back into the sync one, loses none.
const AHEAD: usize = 64;

/// The largest message that counts as small: a channel's receiver counts such messages
/// ahead, and [`AsyncShm::recv`]'s poll is inlined for them. For a larger one the copy
/// of the message is the cost, and a receive by a call copies it once less.
const SMALL: usize = 256;

/// How long an end that found nothing keeps looking before it parks: it spins a little
/// in each poll, then yields the CPU (`sched_yield`) and the runtime (other tasks run
/// meanwhile) before the next. As the sync end's spin-then-yield phase, this spares a
/// stream whose sender pauses for less than that (a sender woken from a full ring,
/// say) the 25-70 µs of a wake-up, and the sender the system calls of ringing.
/// Adaptive, between these bounds: doubled after a park that a message ended soon (the
/// stream only paused), halved after a long one (the end was idle), so an idle end looks
/// for 50 µs.
const LOOK_MIN: Duration = Duration::from_micros(50);
const LOOK_MAX: Duration = Duration::from_micros(1000);

/// A shared-memory end that can wait on a doorbell (sealed): the channel's receiver and
/// the topic's subscriber.
pub trait ShmEnd: super::ends::Sealed + Unpin {
    /// The message type.
    type Item: Message;
    #[doc(hidden)]
    fn recv_now(&mut self) -> Result<Self::Item>;
    /// As `recv_now`, straight into `*out`.
    #[doc(hidden)]
    fn recv_into_now(&mut self, out: &mut Self::Item) -> Result<()>;
    /// `Ok` if a message is there now, left in place; `Empty` if none.
    #[doc(hidden)]
    fn message_now(&mut self) -> Result<()>;
    /// The message there now, if one is (`None`: nothing, or news only the full
    /// receive gives); no probe of the peers.
    #[doc(hidden)]
    fn take_ready(&mut self) -> Option<Result<Self::Item>>;
    /// True if receives take messages [counted ahead](AHEAD) (`count_ready`,
    /// `take_counted`); false if one at a time (`take_ready`).
    #[doc(hidden)]
    const COUNTS_AHEAD: bool;
    /// How many messages are there now, up to `max`, none consumed; 0 if none (or if
    /// the end does not count ahead).
    #[doc(hidden)]
    fn count_ready(&mut self, _max: usize) -> usize {
        0
    }
    /// Receives the message at the head, which `count_ready` counted: `Some` with what
    /// the receive gives, or `None` if it takes nothing (`recv_now` then reports why).
    #[doc(hidden)]
    fn take_counted(&mut self) -> Option<Result<Self::Item>> {
        None
    }
    #[doc(hidden)]
    fn set_bell(&mut self, token: u64);
    #[doc(hidden)]
    fn settle(&mut self);
    #[doc(hidden)]
    fn ready_now(&self) -> bool;
    #[doc(hidden)]
    fn spin(&self) -> bool;
    #[doc(hidden)]
    fn park(&mut self) -> Result<Option<Duration>>;
    #[doc(hidden)]
    fn unpark(&mut self);
}

impl<T: Message> super::ends::Sealed for Receiver<T> {}
impl<T: Message> ShmEnd for Receiver<T> {
    type Item = T;
    /// [Small](SMALL) messages only.
    const COUNTS_AHEAD: bool = size_of::<T>() <= SMALL;
    fn recv_now(&mut self) -> Result<T> {
        Rx::recv_wait(self, Wait::Now)
    }
    fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
        Rx::recv_into_wait(self, out, Wait::Now)
    }
    fn message_now(&mut self) -> Result<()> {
        Receiver::message_now(self)
    }
    #[inline(always)]
    fn take_ready(&mut self) -> Option<Result<T>> {
        Receiver::take_ready(self)
    }
    #[inline]
    fn count_ready(&mut self, max: usize) -> usize {
        Receiver::count_ready(self, max)
    }
    #[inline(always)]
    fn take_counted(&mut self) -> Option<Result<T>> {
        // An invalid message is not consumed here: the full receive reports it.
        Receiver::take_counted(self).map(Ok)
    }
    fn set_bell(&mut self, token: u64) {
        Receiver::set_bell(self, token);
    }
    fn settle(&mut self) {
        Receiver::settle(self);
    }
    fn ready_now(&self) -> bool {
        self.message_at_head()
    }
    fn spin(&self) -> bool {
        self.spin_for_message()
    }
    fn park(&mut self) -> Result<Option<Duration>> {
        Ok(self.park_async())
    }
    fn unpark(&mut self) {
        self.unpark_async();
    }
}

impl<T: Message> super::ends::Sealed for Subscriber<T> {}
impl<T: Message> ShmEnd for Subscriber<T> {
    type Item = T;
    /// One sample at a time, as the sync subscriber takes them: a topic's entry lies
    /// right before its sample, so the look at the entry brings the sample's line, and a
    /// scan ahead reads the entries the publisher is writing. Measured, a publisher
    /// kept ahead of the subscriber, eight alternating runs: async/sync median 1.2
    /// (0.75-1.5) one at a time, 1.0 (0.8-1.45) counting a cursor batch ahead, and
    /// lower counting the whole topic.
    const COUNTS_AHEAD: bool = false;
    fn recv_now(&mut self) -> Result<T> {
        Rx::recv_wait(self, Wait::Now)
    }
    fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
        Rx::recv_into_wait(self, out, Wait::Now)
    }
    fn message_now(&mut self) -> Result<()> {
        self.sample_now()
    }
    #[inline(always)]
    fn take_ready(&mut self) -> Option<Result<T>> {
        Subscriber::take_ready(self)
    }
    fn set_bell(&mut self, token: u64) {
        Subscriber::set_bell(self, token);
    }
    fn settle(&mut self) {
        Subscriber::settle(self);
    }
    fn ready_now(&self) -> bool {
        self.sample_at_cursor()
    }
    fn spin(&self) -> bool {
        self.spin_for_sample()
    }
    fn park(&mut self) -> Result<Option<Duration>> {
        self.park_async()
    }
    fn unpark(&mut self) {
        self.unpark_async();
    }
}

/// The async twin of a shared-memory receiving end, on tokio (feature `tokio`):
/// [`shm::AsyncReceiver<T>`](crate::shm::AsyncReceiver) for a channel's
/// [`Receiver`], [`shm::AsyncSubscriber<T>`](crate::shm::AsyncSubscriber) for a topic's
/// [`Subscriber`].
///
/// A receive takes the message at the head with no system call when there is one
/// (a channel's receiver, for messages of up to 256 bytes, counts the run published at
/// the head in one scan of the ring, and the receives that follow take those messages
/// without looking at their `seq` again; each stays in the ring until it is received,
/// so [`into_sync`](Self::into_sync) or a drop loses none), spins a few microseconds
/// when there is not, giving the CPU away between spins, then parks: it announces
/// itself in the segment as the sync receiver does and awaits its doorbell, a socket
/// its senders ring when they see it parked (see [`crate::shm`], "Async"). No thread
/// is made per receiver; an idle one costs nothing but a timer that fires once a
/// minute.
///
/// ```
/// use ipc::shm;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-async-{}", std::process::id());
/// let rx = shm::Receiver::<u64>::create(&name, shm::Options::new())?;
/// let mut rx = shm::AsyncReceiver::from_sync(rx)?;
/// let mut tx = shm::Sender::<u64>::open(&name)?;
/// let task = tokio::spawn(async move { rx.recv().await });
/// tx.send(7)?;
/// assert_eq!(task.await??, 7);
/// # Ok(())
/// # }
/// ```
pub struct AsyncShm<E: ShmEnd> {
    /// `None` only inside `into_sync`.
    rx: Option<E>,
    /// How many messages at the head were seen published and are not received yet
    /// (see [`AHEAD`]).
    ahead: usize,
    bell: AsyncFd<Bell>,
    /// The limit of the current park (a minute, or a slice where deaths cannot be
    /// watched).
    nap: Pin<Box<Sleep>>,
    /// Inside a park: the last poll returned `Pending` on the doorbell and the nap.
    parked: bool,
    /// When the current run of empty looks began (None: the last look found a message).
    empty_since: Option<std::time::Instant>,
    /// How long a run of empty looks lasts before a park (see [`LOOK_MIN`]).
    look_for: Duration,
    /// When the current park began.
    parked_at: Option<std::time::Instant>,
    parks: u64,
    /// Wakes a wait with [`Error::Shutdown`] once shutdown is requested.
    shutdown: super::shutdown::Watch,
}

impl<E: ShmEnd> AsyncShm<E> {
    /// The async twin of `rx`: binds its doorbell and publishes it in the segment.
    /// Nothing buffered or pending is lost.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the doorbell socket cannot be made
    /// or registered.
    ///
    /// # Panics
    ///
    /// In a runtime built without its I/O and time drivers (`enable_all`).
    pub fn from_sync(mut rx: E) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            let e = std::io::Error::other("not inside a tokio runtime");
            return Err(crate::codec::io_error("AsyncShm::from_sync", e));
        }
        let bell = Bell::new()?;
        let token = bell.token();
        // SAFETY: `Bell::as_raw_fd` returns the descriptor the bell owns, never replaced
        // or closed while the bell lives, so it stays valid and the same until the
        // `AsyncFd` is dropped.
        let bell = unsafe { AsyncFd::register_with_interest(bell, Interest::READABLE) }
            .map_err(|e| crate::codec::io_error("epoll_ctl (doorbell)", e.into()))?;
        rx.set_bell(token);
        Ok(AsyncShm {
            rx: Some(rx),
            ahead: 0,
            bell,
            nap: Box::pin(sleep(Duration::ZERO)),
            parked: false,
            empty_since: None,
            look_for: LOOK_MIN,
            parked_at: None,
            parks: 0,
            shutdown: super::shutdown::Watch::default(),
        })
    }

    /// The sync end back: the doorbell is withdrawn from the segment, and its peers
    /// wake it through the futex again.
    pub fn into_sync(mut self) -> E {
        self.leave_park();
        let mut rx = self.rx.take().expect("end present");
        rx.set_bell(0);
        rx
    }

    /// The sync end, for its other methods ([`Receiver::stats`], ...). Its waiting
    /// calls block the thread: use the `try_*` ones.
    pub fn get_ref(&self) -> &E {
        self.rx.as_ref().expect("receiver present")
    }

    /// Ends a park the last poll began (its future was dropped, or the end is leaving).
    fn leave_park(&mut self) {
        if std::mem::take(&mut self.parked) {
            if let Some(rx) = &mut self.rx {
                rx.unpark();
            }
        }
    }

    #[inline(always)]
    fn rx(&mut self) -> &mut E {
        self.rx.as_mut().expect("receiver present")
    }

    /// How many times this receiver has parked (waited for its doorbell). Each park
    /// costs a few system calls (a barrier, the sender's ring, the reads of the
    /// doorbell); a receive that finds a message, or finds one while spinning, makes
    /// none.
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// Polls for the next message: the building block of [`recv`](Self::recv) and of
    /// the `Stream`.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline(always)]
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Item>> {
        // The streaming case, inline and small: a message counted ahead is waiting (a
        // parked end has none: it parks only after it found the ring empty), or, for
        // the ends that take one at a time, a message is at the head.
        if E::COUNTS_AHEAD {
            if let Some(taken) = self.next_ahead() {
                return Poll::Ready(taken);
            }
        } else if !self.parked {
            if let Some(taken) = self.rx().take_ready() {
                self.empty_since = None;
                return Poll::Ready(taken);
            }
        }
        self.poll_recv_slow(cx)
    }

    /// [`poll_recv`](Self::poll_recv) as `recv()`'s future and the `Stream` poll it:
    /// inlined for [small](SMALL) messages, by a call for larger ones.
    #[inline(always)]
    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Item>> {
        if size_of::<E::Item>() <= SMALL {
            self.poll_recv(cx)
        } else {
            self.poll_recv_out_of_line(cx)
        }
    }

    /// [`poll_recv`](Self::poll_recv) for large messages: a call that writes the
    /// message straight into its caller's place (inlined, the poll's result is one
    /// more copy of the message on its way out).
    #[inline(never)]
    fn poll_recv_out_of_line(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Item>> {
        self.poll_recv(cx)
    }

    /// A receive with no message counted ahead: counts again, or takes the message at
    /// the head, or waits for one.
    #[inline(never)]
    fn poll_recv_slow(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Item>> {
        if !self.parked {
            if let Some(taken) = self.take_ahead() {
                self.empty_since = None;
                return Poll::Ready(taken);
            }
            // Nothing counted (a subscriber under `DropOldest` counts nothing ahead).
            if let Some(taken) = self.rx().take_ready() {
                self.empty_since = None;
                return Poll::Ready(taken);
            }
        }
        self.poll_take(cx, E::recv_now)
    }

    /// The next message counted ahead, if one is left, received now.
    #[inline(always)]
    fn next_ahead(&mut self) -> Option<Result<E::Item>> {
        if self.ahead == 0 {
            return None;
        }
        let taken = self.rx().take_counted();
        // A message not taken (invalid) ends the count: the full receive reports it.
        self.ahead = if taken.is_some() { self.ahead - 1 } else { 0 };
        taken
    }

    /// The next message counted ahead; or, with none left, counts the messages at the
    /// head again (one scan of their `seq`s: the loads overlap, where one message per
    /// poll waits for each line in turn) and receives the first of them.
    #[inline]
    fn take_ahead(&mut self) -> Option<Result<E::Item>> {
        if !E::COUNTS_AHEAD {
            return None;
        }
        if self.ahead == 0 {
            self.ahead = self.rx().count_ready(AHEAD);
        }
        self.next_ahead()
    }

    /// A receive when no message was there at once: ends a park, spins, yields, parks;
    /// once something is there, `take` takes it (or looks at it: the receives that lend
    /// a sample), and its result is returned unless it is [`Error::Empty`].
    #[inline(never)]
    fn poll_take<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(&mut E) -> Result<R>,
    ) -> Poll<Result<R>> {
        let mut looks = 0;
        loop {
            if self.parked {
                // The rings are read before the next park, not now: the message the ring
                // announced is taken first, two system calls sooner.
                let rang = match self.bell.poll_read_ready(cx) {
                    Poll::Ready(Ok(_)) => true,
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(crate::codec::io_error("doorbell", e)))
                    }
                    Poll::Pending => false,
                };
                let napped = self.nap.as_mut().poll(cx).is_ready();
                let rx = self.rx.as_ref().expect("receiver present");
                if !rang && !napped && !rx.ready_now() {
                    if let Err(e) = self.shutdown.check(cx) {
                        self.leave_park();
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Pending;
                }
                self.parked = false;
                self.rx().unpark();
                if let Some(at) = self.parked_at.take() {
                    self.look_for = if at.elapsed() < 2 * self.look_for {
                        (self.look_for * 2).min(LOOK_MAX)
                    } else {
                        (self.look_for / 2).max(LOOK_MIN)
                    };
                }
            }
            // Something at the head (or soon): take it. The end's full non-waiting receive
            // only once there is nothing: on an empty ring it also probes its peers'
            // liveness (a few system calls), which only a park needs.
            let mut ready = self.rx().ready_now();
            if !ready {
                if self.empty_since.is_none() {
                    // The first empty look: what was read goes back to the peers now,
                    // before the spin, so that a sender waiting for room can go on and
                    // fill it.
                    self.rx().settle();
                    self.empty_since = Some(std::time::Instant::now());
                }
                ready = self.rx().spin();
            }
            if ready {
                match take(self.rx()) {
                    Err(Error::Empty) => {}
                    other => {
                        self.empty_since = None;
                        return Poll::Ready(other);
                    }
                }
            }
            let since = *self.empty_since.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() < self.look_for {
                // The CPU goes to another thread before the next look, as in the sync
                // end's yield phase: on a CPU shared with the sender this runs the
                // sender at once (without it the end would spin its whole look, up to
                // a millisecond, while the sender waits for the CPU: a hundredfold
                // slower stream); on another CPU it returns in under a microsecond.
                std::thread::yield_now();
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.empty_since = None;
            match take(self.rx()) {
                Err(Error::Empty) => {}
                other => return Poll::Ready(other),
            }
            self.shutdown.check(cx)?;
            // Rings of the last park, read now (they leave the doorbell readable, and a
            // park on a readable doorbell would end at once).
            if let Poll::Ready(Ok(mut guard)) = self.bell.poll_read_ready(cx) {
                guard.get_inner().drain();
                guard.clear_ready();
            }
            match self.rx().park()? {
                Some(limit) => {
                    self.parks += 1;
                    self.parked = true;
                    self.parked_at = Some(std::time::Instant::now());
                    self.nap.as_mut().reset(Instant::now() + limit);
                }
                None => {
                    looks += 1;
                    if looks >= LOOKS {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Receives the next message (copied out of its slot), waiting for it without
    /// blocking the thread or spinning a core. Cancel-safe: a message is taken only by
    /// the poll that returns it.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]: [`Error::Disconnected`] once every sender that joined has
    /// left and no message is left, ...
    pub fn recv(&mut self) -> impl Future<Output = Result<E::Item>> + '_ {
        Recv { end: self }
    }

    /// As [`recv`](Self::recv), copying the message straight from its slot into `*out`
    /// (no `T` on the stack: for large messages). Cancel-safe as `recv`; `*out` is
    /// written only by the poll that completes.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); `*out` is unchanged.
    pub async fn recv_into(&mut self, out: &mut E::Item) -> Result<()> {
        poll_fn(|cx| {
            if !self.parked {
                if let Some(taken) = self.take_ahead() {
                    self.empty_since = None;
                    return Poll::Ready(taken.map(|msg| *out = msg));
                }
            }
            self.poll_take(cx, |rx| rx.recv_into_now(out))
        })
        .await
    }

    /// Waits until a message is at the head, and leaves it there: the first half of a
    /// receive that lends it in place. The count ahead is dropped (its messages are
    /// still in the ring, at the head).
    async fn message_at_head(&mut self) -> Result<()> {
        self.ahead = 0;
        poll_fn(|cx| self.poll_take(cx, E::message_now)).await
    }

    /// Receives a message if one is there now; never waits.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<E::Item> {
        if let Some(taken) = self.take_ahead() {
            return taken;
        }
        self.rx().recv_now()
    }
}

impl<T: Message> AsyncShm<Receiver<T>> {
    /// Receives the next message **in place**: waits for it as [`recv`](Self::recv)
    /// does, then lends it as the sync [`Receiver::recv`] does — a [`Sample`] that
    /// derefs to the message in its slot (or, for a type with invalid bit patterns, to
    /// its validated copy) and frees the slot when dropped. No copy of the message for
    /// a type whose every bit pattern is valid.
    ///
    /// Cancel-safe: dropped before it completes, it has taken nothing.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub async fn recv_sample(&mut self) -> Result<Sample<'_, T>> {
        self.message_at_head().await?;
        self.rx.as_mut().expect("receiver present").try_recv()
    }
}

impl<T: Message> AsyncShm<Subscriber<T>> {
    /// Receives the next sample **in place**: waits for it as [`recv`](Self::recv)
    /// does, then lends it as the sync [`Subscriber::recv`] does — a [`TopicSample`]
    /// that derefs to the sample in the topic (or its validated copy).
    ///
    /// Cancel-safe: dropped before it completes, it has taken nothing.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub async fn recv_sample(&mut self) -> Result<TopicSample<'_, T>> {
        self.message_at_head().await?;
        self.rx.as_mut().expect("subscriber present").try_recv()
    }
}

/// The future of [`AsyncShm::recv`]: its poll is [`AsyncShm::poll_message`], inlined
/// where the future is awaited for [small](SMALL) messages. Neither an `async fn`
/// (whose state machine costs about as many instructions as taking a small message)
/// nor `poll_fn` (whose poll the compiler keeps out of line, so that every small
/// message's `Result` goes through memory): measured in one process, 8-byte samples
/// took 106 instructions each through `async fn` and `poll_fn`, 72 through this, 54
/// through the sync receive. A larger message is taken by a call, as `poll_fn` did.
struct Recv<'a, E: ShmEnd> {
    end: &'a mut AsyncShm<E>,
}

impl<E: ShmEnd> Future for Recv<'_, E> {
    type Output = Result<E::Item>;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().end.poll_message(cx)
    }
}

impl<E: ShmEnd> Drop for AsyncShm<E> {
    fn drop(&mut self) {
        self.leave_park();
        if let Some(rx) = &mut self.rx {
            rx.set_bell(0);
        }
    }
}

/// Messages until every sender (the publisher) is gone or shutdown is requested:
/// [`Error::Disconnected`] and [`Error::Shutdown`] end the stream.
impl<E: ShmEnd> futures_core::Stream for AsyncShm<E> {
    type Item = Result<E::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.get_mut().poll_message(cx)) {
            Err(Error::Disconnected | Error::Shutdown) => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}

impl<E: ShmEnd + fmt::Debug> fmt::Debug for AsyncShm<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncShm")
            .field("rx", &self.rx)
            .field("parks", &self.parks)
            .finish_non_exhaustive()
    }
}
