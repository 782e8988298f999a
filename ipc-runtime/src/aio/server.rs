//! [`AsyncServer`]: the async twin of a request/response server
//! ([`socket::AsyncServer`](crate::socket::AsyncServer),
//! [`tcp::AsyncServer`](crate::tcp::AsyncServer)), serving many clients concurrently on
//! one runtime.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use ::tokio::task::JoinSet;

use super::{shutdown, Async};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::rpc::Reply;
use crate::socket::conn::{Receiver, Sender};
use crate::socket::pending::Pending;

/// A request/response server of this crate (sealed): [`socket::Server`] and
/// [`tcp::Server`].
///
/// [`socket::Server`]: crate::socket::Server
/// [`tcp::Server`]: crate::tcp::Server
pub trait ServerEnd: super::ends::Sealed {
    /// What clients ask.
    type Request: Message;
    /// What they are answered.
    type Response: Message;
    /// The listener's descriptor.
    #[doc(hidden)]
    fn listener_fd(&self) -> BorrowedFd<'_>;
    /// Accepts one queued connection without waiting ([`Error::Empty`] if none is).
    #[doc(hidden)]
    fn accept_now(&self) -> Result<OwnedFd>;
    /// How long a client has from its accept to complete its handshake.
    #[doc(hidden)]
    fn handshake_timeout(&self) -> Duration;
    /// How many descriptors one request may carry.
    #[doc(hidden)]
    fn max_fds(&self) -> usize;
}

/// A server whose listener accepts without waiting: its own, as its sync loop does.
macro_rules! server_end {
    ($($server:ty),*) => {$(
        impl<Req: Message, Resp: Message> super::ends::Sealed for $server {}
        impl<Req: Message, Resp: Message> ServerEnd for $server {
            type Request = Req;
            type Response = Resp;
            fn listener_fd(&self) -> BorrowedFd<'_> {
                self.acceptor().as_fd()
            }
            fn accept_now(&self) -> Result<OwnedFd> {
                self.acceptor().accept_now()
            }
            fn handshake_timeout(&self) -> Duration {
                self.acceptor().handshake_timeout()
            }
            fn max_fds(&self) -> usize {
                self.acceptor().max_fds()
            }
        }
    )*};
}

server_end!(crate::socket::Server<Req, Resp>, crate::tcp::Server<Req, Resp>);

/// The async twin of a request/response server:
/// `serve(|req| async move { … }).await`.
///
/// # Design: a task per connection
///
/// The sync servers answer every client from one thread with `poll(2)`, one handler call
/// at a time. The async server instead accepts in the future that `serve` returns and
/// gives each connection a task of its own (`tokio::spawn`): its handshake, then
/// receive, `handler(req).await`, send, in a loop. So a handler may await (a database,
/// another service) while other clients are answered, on every worker of the runtime;
/// each client's requests are answered in its order, one at a time. What no client can
/// do to the others, as for the sync servers:
///
/// - **Handshakes** run in the connection's task, bounded by the handshake timeout
///   from its accept: a client that connects and says nothing (or a byte a second)
///   holds up only its own task, which closes it at the deadline.
/// - **Answers** a client does not read: its task waits for room at most the handshake
///   timeout, then drops it; the others are served meanwhile.
/// - **Garbage** or another schema: that connection is closed (a refusal the handler
///   returns as [`Reply::Close`] too).
///
/// The limits are the process's descriptors (three per client: the socket and the two
/// registered with the reactor) and the tasks' memory (a few hundred bytes each, plus
/// the frame buffers). A shutdown request ([`shutdown_on`]) ends `serve` with
/// [`Error::Shutdown`]; when `serve` returns or its future is dropped, every
/// connection's task is aborted and its socket closed.
///
/// [`shutdown_on`]: crate::signal::shutdown_on
///
/// ```no_run
/// use ipc::socket::{AsyncServer, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ipc::Result<()> {
/// let mut server = AsyncServer::from_sync(Server::<u32, u64>::bind("/tmp/double.sock")?)?;
/// server.serve(|n| async move { u64::from(n) * 2 }).await?;
/// # Ok(())
/// # }
/// ```
pub struct AsyncServer<S: ServerEnd> {
    server: S,
    /// A duplicate of the listener's descriptor, registered with the reactor.
    io: AsyncFd<OwnedFd>,
    shutdown: shutdown::Watch,
}

impl<S: ServerEnd + fmt::Debug> fmt::Debug for AsyncServer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<S: ServerEnd> AsyncServer<S> {
    /// The async twin of `server`: registers its listener with the current runtime's
    /// reactor. Connections the sync server holds from earlier `serve` calls stay there
    /// (for [`into_sync`](Self::into_sync)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the listener cannot be registered.
    pub fn from_sync(server: S) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            let e = std::io::Error::other("not inside a tokio runtime");
            return Err(crate::codec::io_error("AsyncServer::from_sync", e));
        }
        let dup = server
            .listener_fd()
            .try_clone_to_owned()
            .map_err(|e| crate::codec::io_error("dup", e))?;
        // SAFETY: `OwnedFd::as_raw_fd` returns the descriptor it owns, which stays open
        // and the same until the `AsyncFd` (which owns the `OwnedFd`) is dropped.
        let io = unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) }
            .map_err(|e| crate::codec::io_error("epoll_ctl (listener)", e.into()))?;
        Ok(AsyncServer {
            server,
            io,
            shutdown: shutdown::Watch::default(),
        })
    }

    /// The sync server back.
    pub fn into_sync(self) -> S {
        self.server
    }

    /// The sync server, for its other methods (its path or address, ...).
    pub fn get_ref(&self) -> &S {
        &self.server
    }

    /// Answers every client's requests with `handler`, forever: each connection in a
    /// task of its own, each request answered in its connection's order.
    ///
    /// # Errors
    ///
    /// Returns only on a system error of the listener itself: [`Error::LimitExceeded`]
    /// naming `RLIMIT_NOFILE` when out of descriptors with a client waiting,
    /// [`Error::Io`] for another; or with [`Error::Shutdown`] once shutdown is
    /// requested. An error of one client only drops that client.
    pub async fn serve<F, Fut>(&mut self, handler: F) -> Result<Infallible>
    where
        F: Fn(S::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S::Response> + Send + 'static,
    {
        let handler = move |req| {
            let answer = handler(req);
            async move { Reply::Answer(answer.await) }
        };
        self.serve_replies(None, handler).await?;
        unreachable!("serve_replies without a client count returns only with an error")
    }

    /// As [`serve`](Self::serve), until `clients` connections have ended (a connection
    /// counts once its handshake was whole, as for the sync servers). Connections still
    /// open then are closed.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_clients<F, Fut>(&mut self, clients: usize, handler: F) -> Result<()>
    where
        F: Fn(S::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S::Response> + Send + 'static,
    {
        let handler = move |req| {
            let answer = handler(req);
            async move { Reply::Answer(answer.await) }
        };
        self.serve_replies(Some(clients), handler).await
    }

    /// As [`serve_clients`](Self::serve_clients) (forever with `None`), the handler
    /// replying with a [`Reply`]: [`Reply::Close`] drops that client after its answer.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_replies<F, Fut>(&mut self, clients: Option<usize>, handler: F) -> Result<()>
    where
        F: Fn(S::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply<S::Response>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let mut left = clients;
        // Dropped with this future: every connection's task is aborted.
        let mut conns: JoinSet<bool> = JoinSet::new();
        loop {
            if left == Some(0) {
                return Ok(());
            }
            let event = poll_fn(|cx| {
                // Ended connections first, so that the count is up to date.
                if let Poll::Ready(Some(ended)) = conns.poll_join_next(cx) {
                    // A task that panicked (in the handler) served a client that is
                    // gone now: it counts as one that ended.
                    return Poll::Ready(Ok(Event::Ended(ended.unwrap_or(true))));
                }
                if let Err(e) = self.shutdown.check(cx) {
                    return Poll::Ready(Err(e));
                }
                match self.io.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        guard.clear_ready();
                        Poll::Ready(Ok(Event::Incoming))
                    }
                    Poll::Ready(Err(e)) => {
                        Poll::Ready(Err(crate::codec::io_error("tokio reactor", e)))
                    }
                    Poll::Pending => Poll::Pending,
                }
            })
            .await?;
            match event {
                Event::Ended(was_client) => {
                    if let (Some(n), true) = (left.as_mut(), was_client) {
                        *n -= 1;
                    }
                }
                Event::Incoming => self.accept_all(&mut conns, &handler)?,
            }
        }
    }

    /// Accepts every queued connection and gives each a task.
    ///
    /// # Errors
    ///
    /// A system error of the listener itself (which would repeat forever) and a
    /// shutdown request; a failure that concerns one client only drops that client.
    fn accept_all<F, Fut>(&self, conns: &mut JoinSet<bool>, handler: &Arc<F>) -> Result<()>
    where
        F: Fn(S::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply<S::Response>> + Send + 'static,
    {
        let timeout = self.server.handshake_timeout();
        let max_fds = self.server.max_fds();
        loop {
            match self.server.accept_now() {
                Ok(fd) => {
                    let handler = Arc::clone(handler);
                    conns.spawn(async move {
                        connection::<S::Request, S::Response, F, Fut>(fd, timeout, max_fds, handler)
                            .await
                    });
                }
                Err(Error::Empty) => return Ok(()),
                Err(Error::Io { op, source }) if op == "accept4" => {
                    return Err(Error::Io { op, source })
                }
                // Out of descriptors: the listener's own state, which the next accept
                // would meet again.
                Err(e @ Error::LimitExceeded { .. }) => return Err(e),
                Err(Error::Shutdown) => return Err(Error::Shutdown),
                // That connection is closed; the next may be fine.
                Err(_) => {}
            }
        }
    }
}

/// What a generated service's server serves through (`serve_async`).
impl<S: ServerEnd + Send> crate::rpc::AsyncServe<S::Request, S::Response> for AsyncServer<S> {
    fn serve_with<H>(
        &mut self,
        clients: Option<usize>,
        handler: H,
    ) -> impl Future<Output = Result<()>> + Send
    where
        H: Fn(S::Request) -> Reply<S::Response> + Send + Sync + 'static,
    {
        self.serve_replies(clients, move |req| std::future::ready(handler(req)))
    }
}

/// What woke the accepting loop.
enum Event {
    /// A connection's task ended; `true` if its handshake had been whole.
    Ended(bool),
    /// The listener is readable.
    Incoming,
}

/// One connection's task: its handshake (bounded by `timeout` from the accept), then
/// requests answered in order until the client leaves, misbehaves or is refused.
/// Returns whether the handshake was whole (the connection counted as a client).
async fn connection<Req, Resp, F, Fut>(
    fd: OwnedFd,
    timeout: Duration,
    max_fds: usize,
    handler: Arc<F>,
) -> bool
where
    Req: Message,
    Resp: Message,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply<Resp>> + Send + 'static,
{
    let Ok((tx, rx)) = handshake::<Req, Resp>(fd, timeout, max_fds).await else {
        return false;
    };
    let (Ok(mut tx), Ok(mut rx)) = (Async::from_sync(tx), Async::from_sync(rx)) else {
        return true;
    };
    loop {
        let Ok(req) = rx.recv().await else {
            // Gone, or speaking garbage: this client is done.
            return true;
        };
        let (resp, close) = match handler(req).await {
            Reply::Answer(resp) => (resp, false),
            Reply::Close(resp) => (resp, true),
        };
        // A client that leaves its answers unread is dropped after the timeout, the tail
        // of its last answer with it: dropping a sender that still held one would block
        // this thread waiting for a client that does not read.
        match ::tokio::time::timeout(timeout, tx.send(resp)).await {
            Ok(Ok(())) if !close => {}
            _ => {
                tx.get_mut().abandon();
                return true;
            }
        }
    }
}

/// The server's side of a connection's handshake, without blocking the thread: greets
/// the client, then reads its hello as the bytes arrive, until `timeout` has passed.
async fn handshake<Req: Message, Resp: Message>(
    fd: OwnedFd,
    timeout: Duration,
    max_fds: usize,
) -> Result<(Sender<Resp>, Receiver<Req>)> {
    let mut pending = Pending::<Resp, Req>::start_rpc(fd, timeout)?;
    let dup = pending
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| crate::codec::io_error("dup", e))?;
    // SAFETY: as in `AsyncServer::from_sync`: the `AsyncFd` owns `dup`.
    let io = unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) }
        .map_err(|e| crate::codec::io_error("epoll_ctl (connection)", e.into()))?;
    let whole = async {
        loop {
            if pending.advance()? {
                return Ok(());
            }
            io.readable()
                .await
                .map_err(|e| crate::codec::io_error("tokio reactor", e))?
                .clear_ready();
        }
    };
    match ::tokio::time::timeout(timeout, whole).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(Error::Timeout(timeout)),
    }
    drop(io);
    pending.into_halves(max_fds)
}
