//! Request/response over stream sockets: a [`Client`] that calls and a [`Server`] that
//! answers, typed by a request and a response message. The core here is shared with
//! [`crate::tcp`].

use std::convert::Infallible;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::sys::socket::SockType;

use super::conn::{self, End, Receiver, Sender};
use super::pending::Pending;
use super::sys::Wait;
use super::{bind, Options, PeerCred, RawListener};
use crate::codec::Framed;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::rpc::{Handler, Reply};

mod caller;

pub(crate) use caller::Caller;

/// Something that accepts connections for a server loop.
pub(crate) trait Accept: AsFd {
    /// Accepts one connection without waiting for it (`Error::Empty` if none is queued).
    /// The handshake is the serving loop's, made as the client's bytes arrive.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is queued; [`Error::Io`] with op `accept4` for an error of
    /// the listener itself (out of descriptors, say); another error concerns the one
    /// connection accepted (and closed), and the next may be accepted.
    fn accept_now(&self) -> Result<OwnedFd>;

    /// How long a client has, from its accept, to send its whole handshake.
    fn handshake_timeout(&self) -> Duration;

    /// How many descriptors one request may carry (0: none).
    fn max_fds(&self) -> usize;
}

/// One client of a server: its halves, and an answer its socket had no room for.
struct Conn<Req, Resp> {
    rx: Receiver<Req>,
    tx: Sender<Resp>,
    /// An answer not yet written at all (the socket buffer was full); it goes first.
    held: Option<Resp>,
    /// Since when answers to this client have been stuck (an answer held, or the tail of
    /// one in the sender) without a byte of them written; `None` while none is.
    stuck_since: Option<Instant>,
    /// True while whole requests may wait in the receive buffer (read behind the hello,
    /// or while answers were stuck): the server answers them before it polls. Bytes of a
    /// request not yet whole do not count, or the server would spin on them.
    unread: bool,
}

impl<Req: Message, Resp: Message> Conn<Req, Resp> {
    fn new(tx: Sender<Resp>, rx: Receiver<Req>) -> Self {
        Conn {
            rx,
            tx,
            held: None,
            stuck_since: None,
            unread: true,
        }
    }

    /// True while an answer (or part of one) waits for room in the socket: then the
    /// client's requests are not read, and the server polls for room instead.
    fn stuck(&self) -> bool {
        self.held.is_some() || self.tx.pending() > 0
    }

    /// Offers `resp` without waiting: whatever does not fit stays here for
    /// [`Conn::unstick`]. False if the client is gone.
    fn offer(&mut self, resp: Resp) -> bool {
        match self.tx.try_send(resp) {
            Ok(()) => {}
            Err(e) if matches!(e.error(), Error::Full) => self.held = Some(e.into_inner()),
            Err(_) => return false,
        }
        if self.stuck() {
            self.stuck_since.get_or_insert_with(Instant::now);
        }
        true
    }

    /// Writes what the socket now has room for, without waiting. False if the client is
    /// gone.
    fn unstick(&mut self) -> bool {
        let before = (self.tx.pending(), self.held.is_some());
        // A zero timeout writes what fits and never waits.
        match self.tx.flush_timeout(Duration::ZERO) {
            Ok(()) => {
                if let Some(resp) = self.held.take() {
                    match self.tx.try_send(resp) {
                        Ok(()) => {}
                        Err(e) if matches!(e.error(), Error::Full) => {
                            self.held = Some(e.into_inner())
                        }
                        Err(_) => return false,
                    }
                }
            }
            // Still no room (or shutting down: the serving loop returns then).
            Err(Error::Timeout(_) | Error::Shutdown) => {}
            Err(_) => return false,
        }
        if !self.stuck() {
            self.stuck_since = None;
        } else if (self.tx.pending(), self.held.is_some()) != before {
            // Progress: the client reads, slowly. Its time starts again.
            self.stuck_since = Some(Instant::now());
        }
        true
    }

    /// The instant this client is dropped at if its answers stay stuck.
    fn give_up_at(&self, after: Duration) -> Option<Instant> {
        self.stuck_since.and_then(|t| t.checked_add(after))
    }
}

/// The connections a server answers, and those whose handshake is under way.
pub(crate) struct Serving<Req, Resp> {
    conns: Vec<Conn<Req, Resp>>,
    /// Connections accepted whose client's handshake is not yet whole.
    pending: Vec<Pending<Resp, Req>>,
    /// How long a client may leave its answers unread before it is dropped.
    send_timeout: Duration,
}

impl<Req: Message, Resp: Message> Serving<Req, Resp> {
    pub(crate) fn new(send_timeout: Duration) -> Self {
        Serving {
            conns: Vec::new(),
            pending: Vec::new(),
            send_timeout,
        }
    }

    pub(crate) fn set_send_timeout(&mut self, timeout: Duration) {
        self.send_timeout = timeout;
    }

    /// Connections served (their handshake done).
    pub(crate) fn clients(&self) -> usize {
        self.conns.len()
    }

    /// Connections whose handshake is under way.
    pub(crate) fn handshaking(&self) -> usize {
        self.pending.len()
    }

    /// Answers requests on every connection, accepting new ones, until `clients` (if
    /// given) connections have ended. One thread, `poll(2)` over all connections (and
    /// the shutdown eventfd, so a shutdown request ends it with [`Error::Shutdown`]).
    ///
    /// Nothing here waits on one client:
    ///
    /// - **Handshakes** proceed as their bytes arrive. Each wake of the listener accepts
    ///   every queued connection; ours is greeted at once (without waiting) and the
    ///   client's hello is read as it comes, polled with the others, until it is whole
    ///   (the connection is then served, and requests sent right behind the hello are
    ///   read first) or the connection's own deadline, its accept time plus the
    ///   listener's handshake timeout, passes (it is then closed). A client that says
    ///   nothing, or a byte at a time, delays no one. A bad hello (another schema,
    ///   garbage) or a client that leaves during its handshake closes that connection
    ///   only.
    /// - **Answers** are written without waiting, and a client whose socket has no room
    ///   for one is polled for room (its requests are not read meanwhile) and dropped if
    ///   it stays without room for `send_timeout`.
    ///
    /// `clients` counts served connections that ended (the client left, sent garbage, or
    /// was dropped for not reading); a connection closed before its handshake was whole
    /// never was a client and is not counted.
    pub(crate) fn run<L: Accept>(
        &mut self,
        listener: &L,
        handler: &mut Handler<'_, Req, Resp>,
        mut clients: Option<usize>,
    ) -> Result<()> {
        loop {
            if clients == Some(0) {
                return Ok(());
            }
            // The poll set: the listener, then every served connection, then every
            // pending handshake.
            let served = self.conns.len();
            let ready: Vec<bool> = {
                let mut fds = Vec::with_capacity(1 + served + self.pending.len() + 1);
                fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
                // A connection may hold whole requests already read: do not wait then.
                let mut buffered = false;
                // The earliest deadline: a stuck client's, or a handshake's.
                let mut until: Option<Instant> = None;
                for c in &self.conns {
                    if c.stuck() {
                        fds.push(PollFd::new(c.tx.as_fd(), PollFlags::POLLOUT));
                        until = until
                            .into_iter()
                            .chain(c.give_up_at(self.send_timeout))
                            .min();
                    } else {
                        fds.push(PollFd::new(c.rx.as_fd(), PollFlags::POLLIN));
                        buffered |= c.unread;
                    }
                }
                for p in &self.pending {
                    fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
                    until = until.into_iter().chain(p.deadline()).min();
                }
                let wait = match until {
                    _ if buffered => Wait::Now,
                    Some(at) => Wait::Until(at, at.saturating_duration_since(Instant::now())),
                    None => Wait::Forever,
                };
                crate::fd::wait_any(&mut fds, &wait)?;
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect()
            };
            let now = Instant::now();
            for i in (0..served).rev() {
                let c = &mut self.conns[i];
                let alive = if c.stuck() {
                    if ready[i + 1] {
                        // Room again (or the client is gone: the write says which); then
                        // answer what it sent meanwhile.
                        c.unstick() && Self::answer(c, handler)
                    } else {
                        c.give_up_at(self.send_timeout).is_none_or(|at| now < at)
                    }
                } else if ready[i + 1] || c.unread {
                    Self::answer(c, handler)
                } else {
                    true
                };
                if !alive {
                    let mut c = self.conns.swap_remove(i);
                    // A client that does not read its answers must not stall the others.
                    c.tx.abandon();
                    if let Some(n) = clients.as_mut() {
                        *n -= 1;
                    }
                }
            }
            for j in (0..self.pending.len()).rev() {
                let p = &mut self.pending[j];
                // Read what arrived; then a handshake still not whole at its deadline
                // goes. An error (the client left, or its hello is bad) drops it too.
                let whole = if ready[1 + served + j] {
                    p.advance()
                } else {
                    Ok(false)
                };
                match whole {
                    Ok(false) if !p.expired(now) => {}
                    Ok(true) => {
                        let p = self.pending.swap_remove(j);
                        if let Ok((tx, rx)) = p.into_halves(listener.max_fds()) {
                            // Requests it sent behind its hello are still in its socket:
                            // the next poll reports them.
                            self.conns.push(Conn::new(tx, rx));
                        }
                    }
                    _ => drop(self.pending.swap_remove(j)),
                }
            }
            if ready[0] {
                self.accept_all(listener)?;
            }
        }
    }

    /// Accepts every connection queued on `listener` and greets each: they join the
    /// pending handshakes.
    ///
    /// # Errors
    ///
    /// A system error of the listener itself (EMFILE, say), which would repeat forever,
    /// and a shutdown request; a failure that concerns one client only drops that client.
    fn accept_all<L: Accept>(&mut self, listener: &L) -> Result<()> {
        loop {
            match listener.accept_now() {
                Ok(fd) => {
                    if let Ok(p) = Pending::start_rpc(fd, listener.handshake_timeout()) {
                        self.pending.push(p);
                    }
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

    /// Answers every request `c` has ready, until one answer finds no room; false once
    /// the connection is finished (gone, garbage, or closed by a [`Reply::Close`]).
    fn answer(c: &mut Conn<Req, Resp>, handler: &mut Handler<'_, Req, Resp>) -> bool {
        loop {
            if c.stuck() {
                // Read no more from a client that does not read: back to poll for room.
                return true;
            }
            let reply = match handler {
                Handler::Value(handler) => c.rx.try_recv().map(handler),
                // The request read in the receive buffer, validated there; the answer
                // built on the stack and offered from there.
                Handler::InPlace(handler, blank) => {
                    Framed::recv_ref_wait_framed(&mut c.rx, Wait::Now).map(|req| {
                        let mut resp = blank();
                        match handler(req, &mut resp) {
                            Reply::Answer(()) => Reply::Answer(resp),
                            Reply::Close(()) => Reply::Close(resp),
                        }
                    })
                }
            };
            match reply {
                Ok(reply) => {
                    c.unread = true;
                    let (resp, close) = match reply {
                        Reply::Answer(resp) => (resp, false),
                        Reply::Close(resp) => (resp, true),
                    };
                    // A refused client is dropped once its refusal is offered (it is in
                    // its socket unless that was full: then only the hang-up tells).
                    if !c.offer(resp) || close {
                        return false;
                    }
                    // Nothing more read: back to poll, which reports what else arrives
                    // (cheaper than a receive that would say EAGAIN).
                    if c.rx.buffered() == 0 {
                        c.unread = false;
                        return true;
                    }
                }
                // What is buffered, if anything, is part of a request: poll for the rest.
                Err(Error::Empty) => {
                    c.unread = false;
                    return true;
                }
                // Gone, or speaking garbage: drop this client, serve the others.
                Err(_) => return false,
            }
        }
    }
}

/// A request/response client over a Unix stream socket: sends `Req`, receives `Resp`.
pub struct Client<Req: Message, Resp: Message> {
    caller: Caller<Req, Resp>,
}

impl<Req: Message, Resp: Message> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("outstanding", &self.caller.owed())
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to the [`Server`] at `path`. The handshake checks both types, on this side
    /// alone: the server's handshake announces what it answers and what it takes, which
    /// must be `Resp` and `Req`.
    ///
    /// # Errors
    ///
    /// As [`super::Stream::connect`]; [`Error::SchemaMismatch`] if the server's request or
    /// response type differs, its `difference` beginning with which of the two ("the
    /// request type, which the server takes: ..."). [`Error::Corrupt`] for a peer that
    /// is no request/response server (a plain [`super::Listener`]'s stream, say).
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(path, &Options::new())
    }

    /// As [`Client::connect`], with the handshake timeout of `opts`.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`].
    pub fn connect_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self> {
        opts.refuse_foreign("a request/response client")?;
        let wait = Wait::timeout(opts.handshake_timeout);
        let fd = bind::connect(path.as_ref(), SockType::Stream, wait)?;
        // A client has no use for descriptors (a call returns none): it takes none, and
        // the kernel closes any a server sends.
        let (tx, rx) =
            conn::rpc_handshake::<Req, Resp>(fd, opts.handshake_timeout, 0, End::Client)?;
        Ok(Client {
            caller: Caller::new(tx, rx),
        })
    }

    /// Sends `req` and waits for the response.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the server is gone (or dropped this client after a bad
    /// request); the receive errors of [`super::Stream::recv`] for a bad response. A
    /// response that is no `Resp` ([`Error::InvalidMessage`], [`Error::SchemaMismatch`])
    /// fails its call only. Garbage where a response should be ([`Error::Corrupt`]) fails
    /// every later call with `Corrupt` too: whether it was the response or came before
    /// it cannot be told, so responses might no longer match their calls; connect again.
    pub fn call(&mut self, req: Req) -> Result<Resp> {
        self.caller.call(req, Wait::Forever)
    }

    /// As [`Client::call`], giving up after `timeout` in all. A response that arrives
    /// after its call timed out is skipped by the next call, so answers never shift.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the response did not arrive in time, as [`Client::call`]
    /// otherwise.
    pub fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        self.caller.call(req, Wait::timeout(timeout))
    }

    /// The server's pid, uid and gid.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the kernel does not report them.
    pub fn peer_cred(&self) -> Result<PeerCred> {
        super::peer_cred(self.caller.fd())
    }
}

/// The connection's socket: readable when a response (a late one, after
/// [`Client::call_timeout`] gave up) or the server's hang-up waits to be read.
impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// The calling side, the client consumed (for the shared async client).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_caller(self) -> Caller<Req, Resp> {
        self.caller
    }

    /// The calling side, for the async twin.
    #[cfg(feature = "tokio")]
    pub(crate) fn caller(&mut self) -> &mut Caller<Req, Resp> {
        &mut self.caller
    }
}

impl<Req: Message, Resp: Message> AsFd for Client<Req, Resp> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.caller.fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([Req: Message, Resp: Message] Client<Req, Resp>);

/// A request/response server on a Unix socket path: receives `Req`, answers `Resp`.
///
/// It serves any number of clients from one thread (`poll(2)`), answering each request
/// with the handler's result in order. A client that sends garbage or leaves is dropped.
/// Answers are written without waiting: when a client's socket has no room for one (the
/// client does not read its answers), the answer is kept, that client's further requests
/// are not read, and the server serves the others meanwhile; the client is dropped once
/// its socket has stayed without room for the handshake timeout.
///
/// Handshakes never hold the others up either: a client's hello is read as its bytes
/// arrive, polled with everyone else, so a client that connects and says nothing (or a
/// byte at a time) costs the others no wait. Each connection has the handshake timeout
/// ([`Options::handshake_timeout`], 10 s by default) from its accept to complete its
/// hello, and is closed if it has not; a client whose hello is bad (another request or
/// response type, garbage) is closed at once, and never counts as a client. Requests
/// sent right behind the hello are answered.
///
/// It has no `AsFd`: it waits on its listener and every client at once, so no one
/// descriptor tells that it has work.
pub struct Server<Req: Message, Resp: Message> {
    raw: RawListener,
    serving: Serving<Req, Resp>,
}

impl<Req: Message, Resp: Message> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.raw)
            .field("clients", &self.serving.clients())
            .field("handshaking", &self.serving.handshaking())
            .finish()
    }
}

impl Accept for RawListener {
    fn accept_now(&self) -> Result<OwnedFd> {
        self.accept_fd(Wait::Now)
    }

    fn handshake_timeout(&self) -> Duration {
        self.opts().handshake_timeout
    }

    fn max_fds(&self) -> usize {
        // A handler is given no descriptors: the server takes none, and the kernel closes
        // any a client sends.
        0
    }
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    /// Binds to `path` (see [`super::Listener::bind`]).
    ///
    /// # Errors
    ///
    /// As [`super::Listener::bind`].
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        Self::bind_with(path, Options::new())
    }

    /// Binds to `path` with `opts` (mode, allowed uids, handshake timeout).
    ///
    /// # Errors
    ///
    /// As [`super::Listener::bind`].
    pub fn bind_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        opts.refuse_foreign("a request/response server")?;
        let timeout = opts.handshake_timeout;
        let raw = RawListener::bind(path.as_ref(), SockType::Stream, opts)?;
        // The serving loop accepts until no connection is left queued.
        raw.set_nonblocking()?;
        Ok(Server {
            raw,
            serving: Serving::new(timeout),
        })
    }

    /// The path this server is bound to.
    pub fn path(&self) -> &Path {
        self.raw.path()
    }

    /// The listener, which accepts without waiting (for the async twin).
    #[cfg(feature = "tokio")]
    pub(crate) fn acceptor(&self) -> &dyn Accept {
        &self.raw
    }

    /// Answers requests from every client with `handler`, forever.
    ///
    /// # Errors
    ///
    /// Returns only on a system error of the listener itself: [`Error::LimitExceeded`]
    /// naming `RLIMIT_NOFILE` when out of descriptors with a client waiting, [`Error::Io`]
    /// for another; or with [`Error::Shutdown`] once shutdown is requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)); errors of one client only drop that
    /// client.
    pub fn serve(&mut self, mut handler: impl FnMut(Req) -> Resp) -> Result<Infallible> {
        let mut handler = |req| Reply::Answer(handler(req));
        loop {
            // Without a client count, `run` returns only with an error.
            self.serving
                .run(&self.raw, &mut Handler::Value(&mut handler), None)?;
        }
    }

    /// Answers requests with `handler` until `clients` connections have ended.
    ///
    /// A connection counts once its handshake was whole: a client that left, sent
    /// garbage or was dropped for not reading its answers has ended; one closed before
    /// its hello was whole (it said nothing until its deadline, or sent a bad hello)
    /// never was a client and does not count. Connections still open when this returns
    /// (served or handshaking) stay with the server for its next `serve*` call.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    pub fn serve_clients(
        &mut self,
        clients: usize,
        mut handler: impl FnMut(Req) -> Resp,
    ) -> Result<()> {
        let mut handler = |req| Reply::Answer(handler(req));
        self.serving
            .run(&self.raw, &mut Handler::Value(&mut handler), Some(clients))
    }
}

/// The contract of `crate::rpc` on a request/response client and server of a stream
/// socket (Unix here, TCP in `tcp.rs`): `$listener` names the server's listening field.
macro_rules! rpc_contract {
    ($client:ident, $server:ident, $listener:ident) => {
        impl<Req: Message, Resp: Message> $crate::rpc::Call<Req, Resp> for $client<Req, Resp> {
            fn call(&mut self, req: Req) -> Result<Resp> {
                $client::call(self, req)
            }

            fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
                $client::call_timeout(self, req, timeout)
            }

            /// The request is built on the stack and sent from there; the answer is read
            /// in the receive buffer, validated there, and lent to `read`.
            fn call_in_place(
                &mut self,
                write: &mut dyn FnMut(&mut Req),
                read: &mut dyn FnMut(&Resp) -> Result<()>,
                timeout: Option<Duration>,
            ) -> Result<()>
            where
                Req: $crate::rpc::Frame,
                Resp: $crate::rpc::Frame,
            {
                let wait = timeout.map_or(
                    $crate::socket::sys::Wait::Forever,
                    $crate::socket::sys::Wait::timeout,
                );
                self.caller.call_in_place(write, read, wait)
            }
        }

        impl<Req: Message, Resp: Message> $crate::rpc::Serve<Req, Resp> for $server<Req, Resp> {
            fn serve_replies(
                &mut self,
                clients: Option<usize>,
                handler: &mut dyn FnMut(Req) -> $crate::rpc::Reply<Resp>,
            ) -> Result<()> {
                loop {
                    self.serving.run(
                        &self.$listener,
                        &mut $crate::rpc::Handler::Value(handler),
                        clients,
                    )?;
                    if clients.is_some() {
                        return Ok(());
                    }
                }
            }

            /// Each request is read in the receive buffer, validated there, and lent to
            /// `handler`; the answer is built on the stack and sent from there.
            fn serve_in_place(
                &mut self,
                clients: Option<usize>,
                handler: &mut dyn FnMut(&Req, &mut Resp) -> $crate::rpc::Reply<()>,
            ) -> Result<()>
            where
                Req: $crate::rpc::Frame,
                Resp: $crate::rpc::Frame,
            {
                let blank = || <Resp as $crate::rpc::Frame>::new(0, 0, 0);
                loop {
                    self.serving.run(
                        &self.$listener,
                        &mut $crate::rpc::Handler::InPlace(handler, blank),
                        clients,
                    )?;
                    if clients.is_some() {
                        return Ok(());
                    }
                }
            }
        }
    };
}
pub(crate) use rpc_contract;

rpc_contract!(Client, Server, raw);
