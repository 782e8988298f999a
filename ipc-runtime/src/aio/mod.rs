//! Async twins of the ends, on tokio (feature `tokio`): `send(msg).await`,
//! `recv().await`, `try_*` that never wait, [`Stream`](futures_core::Stream) for receivers
//! and [`Sink`](futures_sink::Sink) for senders.
//!
//! ```
//! use ipc::pipe;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tx, rx) = pipe::channel::<u64>()?;
//! let mut tx = pipe::AsyncSender::from_sync(tx)?;
//! let mut rx = pipe::AsyncReceiver::from_sync(rx)?;
//! tx.send(7).await?;
//! assert_eq!(rx.recv().await?, 7);
//! assert!(matches!(rx.try_recv(), Err(ipc::Error::Empty))); // never waits
//! let rx: pipe::Receiver<u64> = rx.into_sync(); // and back, nothing lost
//! # drop(rx);
//! # Ok(())
//! # }
//! ```
//!
//! # Names
//!
//! Each transport module names the async twin of its end `Async` + the end's name:
//! [`pipe::AsyncReceiver`](crate::pipe::AsyncReceiver), [`fifo`](crate::fifo) (whose ends
//! are the pipe's), [`socket::AsyncStream`](crate::socket::AsyncStream),
//! [`tcp::AsyncStream`](crate::tcp::AsyncStream), [`mq::AsyncSender`](crate::mq::AsyncSender),
//! [`shm::AsyncReceiver`](crate::shm::AsyncReceiver),
//! [`shm::AsyncSubscriber`](crate::shm::AsyncSubscriber). The twin lives beside its end,
//! so `use ipc::pipe::{Sender, AsyncReceiver}` takes both without renaming, and there is
//! no module named `tokio` to collide with the `tokio` crate in a user's `use` (a glob
//! `use ipc::*` would make `tokio::…` ambiguous). The descriptor-based twins are one
//! generic type, [`Async<E>`] (the name of each is an alias of it), so the whole async
//! family, `Stream` and `Sink` are written once here.
//!
//! Conversion is cheap both ways: [`Async::from_sync`] registers the end's descriptor
//! (a duplicate of it, so that both halves of a split socket can be registered) with
//! the runtime's reactor, [`Async::into_sync`] gives the end back with everything it
//! buffered. `from_sync` must run inside a tokio runtime (with its I/O driver enabled).
//!
//! # How the descriptor transports wait
//!
//! A receive tries the end's own non-waiting receive (`try_recv`: the same codec,
//! handshake and checks as the sync end) and, when it says [`Error::Empty`], waits for
//! the reactor to report the descriptor readable (`AsyncFd`, edge-triggered `epoll`),
//! then tries again. A send does the same with `try_send` and writability. The
//! descriptor's blocking mode is left as it is: every call made is one that does not
//! wait (a `poll` with no timeout before a pipe's `read`, `MSG_DONTWAIT` on sockets,
//! an expired deadline on a message queue).
//!
//! An end is in the reactor's `epoll` set only while it may wait: one that has received
//! 16 messages in a row without waiting leaves it, and the next receive or send that
//! finds nothing to do joins it again before it waits. A descriptor in an `epoll` set
//! costs its *writer* a callback at every write that wakes the reader's queue (for a
//! pipe, every write): two sync processes streaming 8-byte messages through a pipe moved a
//! median 2.0 M messages/s, and 1.35 M/s with the read end merely in an idle `epoll` set.
//! A request/response end, which waits for every answer, never leaves.
//!
//! ## Cancellation
//!
//! The only `.await` inside a receive is the wait for readiness, between two
//! non-waiting attempts. The bytes of a partial frame are in the end's frame reader
//! ([`codec::FrameReader`](crate::codec::FrameReader)), not in the future, so dropping a
//! `recv()` future (a `select!` branch that lost, a `timeout`) loses nothing: the next
//! receive goes on from there. A `send(msg)` future dropped before the message was
//! accepted sends nothing (a pipe or a queue writes a record whole or not at all); on a
//! socket, a message whose frame was begun counts as sent and its tail is written by
//! the next send or [`Async::flush`] (or, blocking, when the end is dropped).
//!
//! ## What each transport does
//!
//! | transport | twin | waits on |
//! |---|---|---|
//! | pipe, FIFO | `pipe::AsyncSender`, `pipe::AsyncReceiver` | the pipe's descriptor; a record longer than `PIPE_BUF` waits for room in naps (a pipe does not report "n bytes free") |
//! | Unix stream socket | `socket::AsyncStream`, `AsyncSender`, `AsyncReceiver` | the socket |
//! | Unix seqpacket | `socket::AsyncSeqPacket` | the socket |
//! | TCP | `tcp::AsyncStream` (its halves are the socket ones) | the socket |
//! | request/response | `socket::AsyncClient`, `tcp::AsyncClient` ([`Async::call`]) | the socket |
//! | request/response, calls pipelined | [`SharedClient`] (cloned into every task that calls) | the socket, read by one task per connection |
//! | request/response server | `socket::AsyncServer`, `tcp::AsyncServer` ([`AsyncServer`]) | the listener; a task per connection |
//! | POSIX queue | `mq::AsyncSender`, `mq::AsyncReceiver` | the queue's descriptor (pollable on Linux) |
//! | shared memory | `shm::AsyncReceiver`, `shm::AsyncSubscriber` | a doorbell socket (see [`crate::shm`]'s async section) |
//! | shared-memory request/response | [`shm::rpc::AsyncClient`](crate::shm::rpc::AsyncClient) | its answer ring's [`AsyncShm`] |
//! | shared-memory request/response server | [`shm::rpc::AsyncServer`](crate::shm::rpc::AsyncServer) | the server's one doorbell; one task for every client |
//! | System V queue | none | — |
//!
//! System V queues have no descriptor: `msgrcv(2)` can only block a thread or be
//! polled. An async twin would have to park a blocking-pool thread per waiting receiver
//! (the thread count this module exists to avoid), and a `msgrcv` cannot be cancelled
//! when its future is dropped, so a message it took afterwards would be lost. So there
//! is none: use a POSIX queue (pollable) or shared memory, or call the sync end's
//! `recv_timeout` in `tokio::task::spawn_blocking` knowingly.
//!
//! ## Shutdown
//!
//! Once [`shutdown_on`](crate::signal::shutdown_on) is armed (or
//! [`request_shutdown`](crate::signal::request_shutdown) called), every async wait —
//! receive, send, call, flush, on every transport — ends with [`Error::Shutdown`] when
//! shutdown is requested, and the receivers' `Stream`s end. A receive still returns
//! the messages that are there without waiting; it is a wait that shutdown ends, as for
//! the sync ends. Each waiting end watches the shutdown eventfd through the reactor: no
//! thread, and no cost before shutdown is armed.
//!
//! Connecting and accepting a plain stream stay sync (`Stream::connect`,
//! `Listener::accept`: short, bounded by the handshake timeout); wrap the connected end.
//! A request/response server accepts asynchronously ([`AsyncServer`]), each client's
//! handshake in a task of its own, so no client holds up the accepting loop.
//!
//! [`Error::Empty`]: crate::Error::Empty

use std::fmt;
use std::future::{poll_fn, Future};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::error::{Error, Result, SendError};
use crate::message::Message;

mod ends;
mod io;
mod server;
mod shared;
mod shm;
mod shutdown;

pub use server::{AsyncServer, ServerEnd};
pub use shared::SharedClient;
pub use shm::{AsyncShm, ShmEnd};
pub(crate) use shutdown::Watch as ShutdownWatch;

use io::{reactor, Io};

/// An end of any kind this module can make async (implemented by the transports' ends;
/// sealed).
pub trait End: AsFd + Unpin + ends::Sealed {
    /// What the end sends ([`std::convert::Infallible`] for a receiving end).
    type Sent;
    /// Prepares the end for async use (`on`) or sync use again.
    #[doc(hidden)]
    fn set_async(&mut self, _on: bool) -> Result<()> {
        Ok(())
    }
}

/// An end that receives `Item` without waiting (sealed).
pub trait AsyncRecv: End {
    /// The message type.
    type Item: Message;
    /// The end's `try_recv`.
    #[doc(hidden)]
    fn recv_now(&mut self) -> Result<Self::Item>;
    /// The end's `try_recv_into`.
    #[doc(hidden)]
    fn recv_into_now(&mut self, out: &mut Self::Item) -> Result<()>;
}

/// An end that sends its [`End::Sent`] without waiting (sealed).
pub trait AsyncSend: End
where
    Self::Sent: Message,
{
    /// The end's `try_send`.
    #[doc(hidden)]
    fn send_now(&mut self, msg: &Self::Sent) -> Result<()>;
    /// Writes what a bounded send left behind (a socket's frame tail) without waiting.
    #[doc(hidden)]
    fn flush_now(&mut self) -> Result<()> {
        Ok(())
    }
    /// After `send_now` said full while the descriptor is writable: how long to nap
    /// before trying again, for a send whose room no readiness event announces.
    #[doc(hidden)]
    fn nap(&self, _msg: &Self::Sent) -> Option<Duration> {
        None
    }
}

/// A sending end over a stream socket, whose sending side can be closed: what it holds
/// written, then the socket shut down for writing ([`Async::close`]; sealed).
pub trait AsyncClose: AsyncSend
where
    Self::Sent: Message,
{
    /// The sync end's `close`.
    #[doc(hidden)]
    fn close_within(self, timeout: Duration) -> Result<()>;
}

/// A request/response client (sealed): [`socket::Client`](crate::socket::Client),
/// [`tcp::Client`](crate::tcp::Client).
pub trait CallEnd: End {
    /// What it asks.
    type Request: Message;
    /// What it is answered.
    type Response: Message;
    #[doc(hidden)]
    fn skip_owed_now(&mut self) -> Result<bool>;
    #[doc(hidden)]
    fn send_call_now(&mut self, req: &Self::Request) -> Result<()>;
    #[doc(hidden)]
    fn flush_call_now(&mut self) -> Result<()>;
    #[doc(hidden)]
    fn recv_call_now(&mut self) -> Result<Self::Response>;
    /// The connection's halves, and how many answers are owed to calls that timed out.
    #[doc(hidden)]
    fn into_halves(
        self,
    ) -> (
        crate::socket::Sender<Self::Request>,
        crate::socket::Receiver<Self::Response>,
        u64,
    )
    where
        Self: Sized;
}

/// The async twin of a descriptor-based end `E` (see the [module docs](self)); each
/// transport names its instances (`pipe::AsyncReceiver<T>` is `Async<pipe::Receiver<T>>`).
pub struct Async<E: End> {
    /// The end, in the reactor while it may wait (see [`io`]).
    io: Io<E>,
    /// A message the `Sink` accepted and has not written yet.
    staged: Option<E::Sent>,
    /// The nap of a send waiting for room no event announces.
    nap: Option<Pin<Box<::tokio::time::Sleep>>>,
    /// False until the first receive tried without waiting for readiness: the end may
    /// hold whole messages it read while sync, which no readiness event announces.
    primed: bool,
    /// Wakes a wait with [`Error::Shutdown`] once shutdown is requested.
    shutdown: shutdown::Watch,
}

// Nothing in an `Async` is ever pinned in place (the nap is boxed): moving it is fine
// whatever the message type.
impl<E: End> Unpin for Async<E> {}

impl<E: End> Async<E> {
    /// The async twin of `end`: registers a duplicate of its descriptor with the current
    /// tokio runtime's reactor. Nothing the end buffered is lost.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the descriptor cannot be duplicated
    /// or registered.
    ///
    /// # Panics
    ///
    /// In a runtime built without its I/O driver (`enable_io`).
    pub fn from_sync(mut end: E) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            let e = std::io::Error::other("not inside a tokio runtime");
            return Err(crate::codec::io_error("Async::from_sync", e));
        }
        end.set_async(true)?;
        let dup = end
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| crate::codec::io_error("dup", e))?;
        let io = Io::new(end, dup)?;
        Ok(Async {
            io,
            staged: None,
            nap: None,
            primed: false,
            shutdown: shutdown::Watch::default(),
        })
    }

    /// The sync end back, with what it buffered. A message a `Sink` accepted and has not
    /// written yet is dropped: flush first.
    pub fn into_sync(self) -> E {
        let mut end = self.io.into_end();
        // Blocking again as it came; should that fail, its sync receives still work
        // (they poll a non-blocking descriptor).
        let _ = end.set_async(false);
        end
    }

    /// The sync end, for its other methods (options, peer credentials, ...).
    pub fn get_ref(&self) -> &E {
        self.io.end()
    }

    /// The sync end, mutably. Its waiting calls block the thread: use the `try_*` ones.
    pub fn get_mut(&mut self) -> &mut E {
        self.io.end_mut()
    }
}

impl<E: AsyncRecv> Async<E> {
    /// Polls for the next message: the building block of [`recv`](Self::recv) and of
    /// the `Stream`.
    ///
    /// # Errors
    ///
    /// As the sync end's `recv`.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Item>> {
        // Out of the reactor (streaming, see `io`), or first: try before any readiness.
        if !self.primed || !self.io.is_watched() {
            self.primed = true;
            match self.io.end_mut().recv_now() {
                Err(Error::Empty) => self.io.waited(),
                other => {
                    self.io.settle();
                    return Poll::Ready(other);
                }
            }
        }
        loop {
            self.shutdown.check(cx)?;
            let fd = self.io.watched()?;
            let mut guard = ready!(fd.poll_read_ready_mut(cx)).map_err(reactor)?;
            match guard.get_inner_mut().end.recv_now() {
                // Drained: wait for the next readiness event. No look again first, as the
                // shared-memory end does: a wake through `epoll` costs a few microseconds
                // here, not tens, and a `read` of an empty pipe takes the lock its writer
                // needs (looking again for 20 µs streamed 8-byte messages at 0.64-0.74x
                // the sync receiver, against 0.78-0.96x without, and gained no latency on
                // a socket ping-pong: 10.3-11.2 µs against 10.6-11.7 µs).
                Err(Error::Empty) => {
                    guard.clear_ready();
                    self.io.waited();
                }
                other => {
                    self.io.settle();
                    return Poll::Ready(other);
                }
            }
        }
    }

    /// Receives the next message, waiting for it without blocking the thread.
    /// Cancel-safe: dropping the future loses nothing (see the [module docs](self)).
    ///
    /// # Errors
    ///
    /// As the sync end's `recv`: [`Error::Disconnected`] once the peers are gone and
    /// everything was received, ...
    pub async fn recv(&mut self) -> Result<E::Item> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives the next message into `*out` (no `T` on the stack). Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv); after an error `*out` is unchanged.
    pub async fn recv_into(&mut self, out: &mut E::Item) -> Result<()> {
        self.primed = true;
        poll_fn(|cx| self.poll_op(cx, true, |e| e.recv_into_now(out))).await
    }

    /// Receives a message if a whole one is there now; never waits.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<E::Item> {
        self.get_mut().recv_now()
    }
}

impl<E: AsyncSend> Async<E>
where
    E::Sent: Message,
{
    /// Polls to send `*msg`: ready once it is accepted (not yet flushed).
    fn poll_send_now(&mut self, cx: &mut Context<'_>, msg: &E::Sent) -> Poll<Result<()>> {
        if !self.io.is_watched() && self.nap.is_none() {
            // Out of the reactor (a streaming receiver's end): register only to wait.
            match self.io.end_mut().send_now(msg) {
                Err(Error::Full) => {}
                other => return Poll::Ready(other),
            }
        }
        loop {
            self.shutdown.check(cx)?;
            if let Some(nap) = &mut self.nap {
                ready!(nap.as_mut().poll(cx));
                self.nap = None;
            }
            let fd = self.io.watched()?;
            let Poll::Ready(guard) = fd.poll_write_ready_mut(cx) else {
                self.io.set_writing(true);
                return Poll::Pending;
            };
            let mut guard = guard.map_err(reactor)?;
            match guard.get_inner_mut().end.send_now(msg) {
                Err(Error::Full) => match guard.get_inner().end.nap(msg) {
                    Some(d) => self.nap = Some(Box::pin(::tokio::time::sleep(d))),
                    None => guard.clear_ready(),
                },
                other => {
                    self.io.set_writing(false);
                    return Poll::Ready(other);
                }
            }
        }
    }

    /// Polls until what a bounded send left behind is written.
    fn poll_flush_now(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_op(cx, false, E::flush_now)
    }

    /// Sends `msg`, waiting for room without blocking the thread; returns once it is
    /// written whole. Dropping the future before it is accepted sends nothing.
    ///
    /// # Errors
    ///
    /// As the sync end's `send`, with the message handed back.
    pub async fn send(&mut self, msg: E::Sent) -> Result<(), SendError<E::Sent>> {
        match self.send_ref(&msg).await {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    /// Sends `*msg` (no copy into the call), as [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// As the sync end's `send`.
    pub async fn send_ref(&mut self, msg: &E::Sent) -> Result<()> {
        let mut accepted = false;
        poll_fn(|cx| {
            if !accepted {
                ready!(self.poll_send_now(cx, msg))?;
                accepted = true;
            }
            self.poll_flush_now(cx)
        })
        .await
    }

    /// Sends `msg` if there is room now; never waits.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is none; otherwise as [`send`](Self::send).
    pub fn try_send(&mut self, msg: E::Sent) -> Result<(), SendError<E::Sent>> {
        match self.get_mut().send_now(&msg) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    /// Writes what a `Sink` holds and the tail of a frame a send began.
    ///
    /// # Errors
    ///
    /// As the sync end's `flush`.
    pub async fn flush(&mut self) -> Result<()> {
        poll_fn(|cx| futures_sink::Sink::poll_flush(Pin::new(&mut *self), cx)).await
    }
}

impl<E: AsyncClose> Async<E>
where
    E::Sent: Message,
{
    /// Closes the sending side without blocking the thread: writes what the end holds
    /// (the tail of a frame a send began, what a buffered sender gathered), waiting at
    /// most `timeout` in all for the peer to take it, then shuts the socket down for
    /// writing. The peer receives what was written, then the end of the stream. This is
    /// the async twin of the sync end's `close` ([`socket::Sender::close`]); dropping an
    /// end that still holds bytes instead blocks its thread while the peer takes them,
    /// for up to a second if it takes none.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> ipc::Result<()> {
    /// use std::time::Duration;
    /// use ipc::socket::{AsyncStream, Stream};
    ///
    /// let (a, b) = Stream::<u64>::pair()?;
    /// let (mut a, mut b) = (AsyncStream::from_sync(a)?, AsyncStream::from_sync(b)?);
    /// a.send(7).await?;
    /// a.close(Duration::from_secs(1)).await?;
    /// assert_eq!(b.recv().await?, 7);
    /// assert!(b.recv().await.unwrap_err().is_disconnected());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the peer did not take it all in time: the rest is discarded,
    /// and if it began with the tail of a message, the peer reports that message cut
    /// short. [`Error::Disconnected`] if the peer is gone, [`Error::Shutdown`] once a
    /// shutdown is requested, [`Error::Io`] otherwise. The socket is shut down for
    /// writing in every case.
    ///
    /// [`socket::Sender::close`]: crate::socket::Sender::close
    pub async fn close(mut self, timeout: Duration) -> Result<()> {
        let flushed = ::tokio::time::timeout(timeout, self.flush()).await;
        // What is left (nothing, unless the wait ran out or failed) goes if the socket
        // takes it at once; the rest is discarded and the socket shut down.
        let closed = self.into_sync().close_within(Duration::ZERO);
        match flushed {
            Ok(Ok(())) => closed,
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

impl<E: End> Async<E> {
    /// Polls `op` (a non-waiting call on the end) until it does not say it would wait
    /// ([`Error::Empty`], [`Error::Full`], or a flush's [`Error::Timeout`]): tries it
    /// at once (it may need no I/O, or find what the end buffered), then waits for
    /// readability (`read`) or writability between tries.
    fn poll_op<R>(
        &mut self,
        cx: &mut Context<'_>,
        read: bool,
        mut op: impl FnMut(&mut E) -> Result<R>,
    ) -> Poll<Result<R>> {
        match op(self.get_mut()) {
            Err(Error::Empty | Error::Full | Error::Timeout(_)) => {}
            other => return Poll::Ready(self.done(read, other)),
        }
        if read {
            self.io.waited();
        }
        loop {
            self.shutdown.check(cx)?;
            let fd = self.io.watched()?;
            let mut guard = if read {
                ready!(fd.poll_read_ready_mut(cx)).map_err(reactor)?
            } else {
                let Poll::Ready(guard) = fd.poll_write_ready_mut(cx) else {
                    self.io.set_writing(true);
                    return Poll::Pending;
                };
                guard.map_err(reactor)?
            };
            match op(&mut guard.get_inner_mut().end) {
                Err(Error::Empty | Error::Full | Error::Timeout(_)) => guard.clear_ready(),
                other => return Poll::Ready(self.done(read, other)),
            }
        }
    }

    /// Notes that an operation of [`poll_op`](Self::poll_op) ended with `r`: a receive
    /// counts towards leaving the reactor, a write no longer waits through it.
    fn done<R>(&mut self, read: bool, r: R) -> R {
        if read {
            self.io.settle();
        } else {
            self.io.set_writing(false);
        }
        r
    }
}

impl<E: CallEnd> Async<E> {
    /// Sends `req` and waits for its response, without blocking the thread. Responses
    /// come in the order of the requests (a server of this crate answers each
    /// connection's requests in order), so one call is in flight at a time on a
    /// client; run several clients for concurrent calls.
    ///
    /// Cancel-safe: a call whose future is dropped after its request was sent leaves
    /// its response owed, and the next call reads and drops it first, so answers never
    /// shift by one.
    ///
    /// # Errors
    ///
    /// As the sync client's `call`: [`Error::Disconnected`] if the server is gone, ...
    pub async fn call(&mut self, req: E::Request) -> Result<E::Response> {
        self.call_ref(&req).await
    }

    /// As [`call`](Self::call), the request by reference.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_ref(&mut self, req: &E::Request) -> Result<E::Response> {
        let mut sent = false;
        poll_fn(|cx| {
            if !sent {
                // The tail of a request a dropped call left unwritten goes first: the
                // server answers it (an answer owed) only once it is whole.
                ready!(self.poll_op(cx, false, E::flush_call_now))?;
                while ready!(self.poll_op(cx, true, E::skip_owed_now))? {}
                ready!(self.poll_op(cx, false, |e| e.send_call_now(req)))?;
                sent = true;
            }
            ready!(self.poll_op(cx, false, E::flush_call_now))?;
            self.poll_op(cx, true, E::recv_call_now)
        })
        .await
    }
}

impl<E: CallEnd> Async<E> {
    /// As [`call`](Self::call), giving up after `timeout`. Cancel-safe as `call`: the
    /// late answer is skipped by the next call, never returned for it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the answer did not arrive in time, as [`call`](Self::call)
    /// otherwise.
    pub async fn call_timeout(
        &mut self,
        req: E::Request,
        timeout: Duration,
    ) -> Result<E::Response> {
        match ::tokio::time::timeout(timeout, self.call_ref(&req)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

/// What a generated service's async client calls through.
impl<E> crate::rpc::AsyncCall<E::Request, E::Response> for Async<E>
where
    E: CallEnd + Send,
    E::Sent: Send,
{
    async fn call(&mut self, req: E::Request) -> Result<E::Response> {
        self.call_ref(&req).await
    }

    fn call_timeout(
        &mut self,
        req: E::Request,
        timeout: Duration,
    ) -> impl Future<Output = Result<E::Response>> + Send {
        Async::call_timeout(self, req, timeout)
    }
}

/// A duplicate of `fd` registered with the current runtime's reactor for readability
/// (`what` names it in errors): to await a descriptor another value owns and reads, as
/// the shared-memory rpc server's doorbell.
///
/// # Errors
///
/// [`Error::Io`] if it cannot be duplicated or registered (outside a runtime, say).
pub(crate) fn watch_readable(fd: BorrowedFd<'_>, what: &'static str) -> Result<AsyncFd<OwnedFd>> {
    let dup = fd
        .try_clone_to_owned()
        .map_err(|e| crate::codec::io_error("dup", e))?;
    // SAFETY: `OwnedFd::as_raw_fd` returns the descriptor it owns, which stays open and
    // the same until the `AsyncFd` (which owns the `OwnedFd`) is dropped.
    unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) }
        .map_err(|e| crate::codec::io_error(what, e.into()))
}

/// Messages until the peers are gone or shutdown is requested: [`Error::Disconnected`]
/// and [`Error::Shutdown`] end the stream, any other error is an item (the next poll goes
/// on, as the sync end's next `recv` would).
impl<E: AsyncRecv> futures_core::Stream for Async<E> {
    type Item = Result<E::Item>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.get_mut().poll_recv(cx)) {
            Err(Error::Disconnected | Error::Shutdown) => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}

/// One message held between `start_send` and the write: `poll_ready` writes the one
/// held before accepting the next, `poll_flush` writes it and any frame tail.
impl<E: AsyncSend> futures_sink::Sink<E::Sent> for Async<E>
where
    E::Sent: Message,
{
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(msg) = this.staged.take() {
            match this.poll_send_now(cx, &msg) {
                Poll::Pending => {
                    this.staged = Some(msg);
                    return Poll::Pending;
                }
                Poll::Ready(r) => r?,
            }
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, item: E::Sent) -> Result<()> {
        let this = self.get_mut();
        debug_assert!(this.staged.is_none(), "start_send without poll_ready");
        this.staged = Some(item);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        ready!(self.as_mut().poll_ready(cx))?;
        self.get_mut().poll_flush_now(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.poll_flush(cx)
    }
}

impl<E: End + fmt::Debug> fmt::Debug for Async<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("end", self.get_ref())
            .finish_non_exhaustive()
    }
}
