//! TCP ([tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html)): the same typed
//! streams and request/response as [`crate::socket`], across machines.
//!
//! # Mechanism and contract
//!
//! A [`Stream<T>`] is a `TcpStream` carrying frames of the [stream codec](crate::codec),
//! with the same handshake as a Unix stream: both sides send theirs at connect and check
//! the peer's, so another schema is [`Error::SchemaMismatch`] on both sides, naming the
//! first field that differs. A request/response [`Client`] and [`Server`] each announce
//! both their types, so one that disagrees with the other on either is refused at
//! connect, as over a Unix socket (see [`crate::socket`]). `TCP_NODELAY`
//! is on (each message is sent at once, not held back by Nagle's algorithm). Sends use
//! `MSG_NOSIGNAL`; timeouts, partial frames and disconnects behave as on a Unix stream
//! (see [`crate::socket::Sender`]). As there, [`Stream::send_ref`] and
//! [`Stream::recv_into`] work in place beside `send` and `recv`, sparing a large `T` a
//! copy.
//!
//! **Byte order: refuse, don't convert.** Message bytes travel exactly as they are in the
//! sender's memory, so integers and floats are in the sender's native byte order. The
//! handshake carries a byte-order flag, and a peer of the other endianness is refused at
//! connect with [`Error::SchemaMismatch`] (the found schema's name says "big-endian" or
//! "little-endian"); nothing is converted silently. Peers of one byte order (every x86-64
//! and aarch64 Linux machine, say) talk with no conversion cost.
//!
//! A `Stream<[E]>` carries slices of `E` of any length up to a maximum, as a Unix stream
//! does (see [`crate::socket`]): `send_slice`, `recv_slice`, `set_max_len`.
//!
//! There are no credentials and no descriptor passing over TCP, and no access control:
//! bind to a loopback address (`127.0.0.1:0`) unless the port is meant to be reachable.
//!
//! ```no_run
//! use ipc::tcp::{Client, Server};
//!
//! // server process
//! let mut server = Server::<u32, u64>::bind("127.0.0.1:7000")?;
//! server.serve_clients(1, |n| u64::from(n) * 2)?;
//!
//! // client process
//! let mut client = Client::<u32, u64>::connect("127.0.0.1:7000")?;
//! assert_eq!(client.call(21)?, 42);
//! # Ok::<(), ipc::Error>(())
//! ```

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use nix::poll::PollFlags;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrStorage};

use crate::codec::io_error;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;
use crate::rpc::{Handler, Reply};
use crate::socket::conn::{self, duplex_slice_stream, duplex_stream, End, Receiver, Sender};
use crate::socket::rpc::{Accept, Caller, Serving};
use crate::socket::sys::Wait;
use crate::socket::DEFAULT_HANDSHAKE_TIMEOUT;

fn connect_error(addr: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Error::NotFound {
            what: "TCP listener",
            name: addr.to_owned(),
        },
        _ => io_error("connect", e),
    }
}

fn setup(s: TcpStream) -> Result<OwnedFd> {
    s.set_nodelay(true)
        .map_err(|e| io_error("setsockopt(TCP_NODELAY)", e))?;
    Ok(OwnedFd::from(s))
}

/// Connects to `addr` without blocking in `connect(2)`: a non-blocking connect, then
/// `poll` (with the shutdown eventfd) until it completes or `wait` runs out.
fn connect_one(addr: SocketAddr, wait: Wait) -> Result<OwnedFd> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = nix::sys::socket::socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| crate::error::new_fd_error("socket", e))?;
    let sa = SockaddrStorage::from(addr);
    match crate::socket::sys::connect(fd.as_fd(), &sa, wait)? {
        Ok(()) => setup(TcpStream::from(fd)),
        Err(e) => Err(connect_error(
            &addr.to_string(),
            io::Error::from_raw_os_error(e as i32),
        )),
    }
}

/// Connects to the first address `addr` resolves to that accepts, all within `timeout`.
fn connect_addr(addr: impl ToSocketAddrs, timeout: Duration) -> Result<(OwnedFd, SocketAddr)> {
    let wait = Wait::timeout(timeout);
    let mut last = None;
    let addrs = addr.to_socket_addrs().map_err(|e| io_error("resolve", e))?;
    for a in addrs {
        match connect_one(a, wait) {
            Ok(fd) => return Ok((fd, a)),
            Err(e @ (Error::Timeout(_) | Error::Shutdown)) => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(Error::InvalidName {
        name: String::new(),
        reason: "the address resolved to nothing",
    }))
}

/// A listening TCP socket whose connections carry `T` both ways (or slices of `E`, for
/// `T = [E]`).
pub struct Listener<T: ?Sized> {
    inner: TcpListener,
    handshake_timeout: Duration,
    /// Foreign-peer mode for the connections it accepts ([`Listener::foreign`]).
    foreign: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: ?Sized> AsFd for Listener<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Listener<T>);

impl<T: ?Sized> fmt::Debug for Listener<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.inner.local_addr().ok())
            .finish()
    }
}

impl<P: ?Sized + Payload> Listener<P> {
    /// Binds to `addr` (`"127.0.0.1:0"` picks a free port; see [`Listener::local_addr`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the address is in use, not local, or not permitted.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        Ok(Listener {
            inner: TcpListener::bind(addr).map_err(|e| crate::fd::new_fd_io_error("bind", e))?,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            foreign: false,
            _t: PhantomData,
        })
    }

    /// Foreign-peer mode for every connection this listener accepts, for clients not
    /// built on this crate (a C program's `send(2)`, a Python `socket`): no handshake,
    /// each message exactly the bytes of `T`, back to back (see
    /// [`socket::Options::foreign`](crate::socket::Options::foreign), whose promises
    /// and limits these are). Over TCP the peer may be another machine: the bytes are in
    /// this machine's byte order, and without the handshake nothing checks the peer's,
    /// so agree on it (the C header generated from the type says which this is).
    #[must_use]
    pub fn foreign(mut self) -> Self {
        self.foreign = true;
        self
    }

    /// The address this listener is bound to (with the chosen port).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the system cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.inner
            .local_addr()
            .map_err(|e| io_error("getsockname", e))
    }

    /// Sets how long `accept` waits for a client's handshake (10 s by default). The
    /// receiver of a bound endpoint ([`Incoming`](crate::endpoint::Incoming)) waits for
    /// no one's handshake: each connection has this long from its accept to complete its
    /// own, and is closed if it has not.
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.handshake_timeout = timeout;
    }

    /// Makes `accept_now` say [`Error::Empty`] instead of waiting when no connection is
    /// queued (for `endpoint::Incoming`, which accepts until none is left).
    pub(crate) fn set_nonblocking(&self) -> Result<()> {
        self.inner
            .set_nonblocking(true)
            .map_err(|e| io_error("fcntl", e))
    }

    /// Accepts a queued connection without waiting for one: the connection and its
    /// peer's address, or [`Error::Empty`] if none is queued (as the function
    /// `accept_now`, which says more).
    pub(crate) fn accept_now(&self) -> Result<(OwnedFd, SocketAddr)> {
        accept_now(&self.inner)
    }

    /// How long a client has for its handshake.
    pub(crate) fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// Whether the connections it accepts are in foreign-peer mode.
    pub(crate) fn is_foreign(&self) -> bool {
        self.foreign
    }

    /// Waits for a client and exchanges handshakes with it.
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`] for a client of another schema or byte order;
    /// [`Error::Timeout`] if it sends no handshake in time; [`Error::Disconnected`] if it
    /// leaves; [`Error::Io`] otherwise. Each concerns one client: keep accepting.
    /// [`Error::LimitExceeded`] naming `RLIMIT_NOFILE` (or `fs.file-max`) when this
    /// process is out of descriptors: close some first.
    pub fn accept(&self) -> Result<Stream<P>> {
        let (s, peer) = loop {
            // A blocking accept cannot be woken by a shutdown request: once one is armed,
            // wait in `poll` (which watches for it) first.
            if crate::shutdown::shutdown_armed() {
                crate::fd::wait_fd(self.inner.as_fd(), PollFlags::POLLIN, None)?;
            }
            match self.inner.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(accept_error("accept", e)),
            }
        };
        Stream::open(setup(s)?, peer, self.handshake_timeout, self.foreign)
    }
}

/// The async twin of [`Stream`], on tokio (feature `tokio`; see [`crate::aio`]). Its
/// split halves' twins are [`socket::AsyncSender`](crate::socket::AsyncSender) and
/// [`socket::AsyncReceiver`](crate::socket::AsyncReceiver).
#[cfg(feature = "tokio")]
pub type AsyncStream<T> = crate::aio::Async<Stream<T>>;

/// The async twin of [`Client`], on tokio (feature `tokio`; see [`crate::aio`]):
/// `call(req).await`.
#[cfg(feature = "tokio")]
pub type AsyncClient<Req, Resp> = crate::aio::Async<Client<Req, Resp>>;

/// The async twin of [`Server`], on tokio (feature `tokio`; see [`crate::aio`]): each
/// client served by a task of its own, `serve(|req| async move { … }).await`.
#[cfg(feature = "tokio")]
pub type AsyncServer<Req, Resp> = crate::aio::AsyncServer<Server<Req, Resp>>;

/// A TCP connection carrying `T` both ways.
///
/// A `Stream<[E]>` carries slices of `E` both ways, of any length up to its maximum
/// ([`Stream::send_slice`], [`Stream::recv_slice`], [`Stream::set_max_len`]), as a
/// Unix [`socket::Stream`](crate::socket::Stream) does.
#[derive(Debug)]
pub struct Stream<T: ?Sized + Payload> {
    tx: Sender<T>,
    rx: Receiver<T>,
    peer: SocketAddr,
}

impl<P: ?Sized + Payload> Stream<P> {
    /// Connects to `addr` (trying each address it resolves to) and exchanges handshakes,
    /// waiting at most 10 s for the connection and as long again for the handshake.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if nobody listens there; [`Error::SchemaMismatch`] for a peer
    /// of another schema or byte order; [`Error::Timeout`] if the connection is not made
    /// (the listener's backlog is full, say, or the host does not answer) or the peer
    /// does not answer the handshake within 10 s; [`Error::Shutdown`] if shutdown was
    /// requested (see [`shutdown_on`](crate::signal::shutdown_on)) meanwhile;
    /// [`Error::Io`] otherwise.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self> {
        let (fd, peer) = connect_addr(addr, DEFAULT_HANDSHAKE_TIMEOUT)?;
        Self::open(fd, peer, DEFAULT_HANDSHAKE_TIMEOUT, false)
    }

    /// Connects to `addr` in foreign-peer mode, for a server not built on this crate: no
    /// handshake, each message exactly the bytes of `T` (see [`Listener::foreign`]).
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`], without the handshake's; [`Error::Unsupported`] for a
    /// stream of slices (a bare slice has no length on the wire).
    pub fn connect_foreign(addr: impl ToSocketAddrs) -> Result<Self> {
        let (fd, peer) = connect_addr(addr, DEFAULT_HANDSHAKE_TIMEOUT)?;
        Self::open(fd, peer, DEFAULT_HANDSHAKE_TIMEOUT, true)
    }

    /// The stream of two halves of one connection to `peer`, its handshakes done.
    pub(crate) fn from_halves(tx: Sender<P>, rx: Receiver<P>, peer: SocketAddr) -> Self {
        Stream { tx, rx, peer }
    }

    /// The stream over the connected `fd`: handshakes exchanged (waiting at most
    /// `timeout`), or none in foreign-peer mode.
    fn open(fd: OwnedFd, peer: SocketAddr, timeout: Duration, foreign: bool) -> Result<Self> {
        let (tx, rx) = if foreign {
            conn::bare::<P, P>(fd, 0)?
        } else {
            conn::handshake::<P, P>(fd, timeout, 0)?
        };
        Ok(Stream { tx, rx, peer })
    }

    /// Connects to `addr`, waiting at most `timeout` for the connection and as long
    /// again for the handshake.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if either took too long, as [`Stream::connect`] otherwise.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> Result<Self> {
        let fd = connect_one(*addr, Wait::timeout(timeout))?;
        Self::open(fd, *addr, timeout, false)
    }

    /// Adopts a connected [`TcpStream`] (accepted by a std listener, say): turns on
    /// `TCP_NODELAY` and exchanges handshakes.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`] after the connection is made.
    pub fn from_std(stream: TcpStream) -> Result<Self> {
        let peer = stream.peer_addr().map_err(|e| io_error("getpeername", e))?;
        Self::open(setup(stream)?, peer, DEFAULT_HANDSHAKE_TIMEOUT, false)
    }

    /// As [`Stream::from_std`], in foreign-peer mode (see [`Listener::foreign`]).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the stream's address or options cannot be read or set;
    /// [`Error::Unsupported`] for a stream of slices.
    pub fn from_std_foreign(stream: TcpStream) -> Result<Self> {
        let peer = stream.peer_addr().map_err(|e| io_error("getpeername", e))?;
        Self::open(setup(stream)?, peer, DEFAULT_HANDSHAKE_TIMEOUT, true)
    }

    /// Whether this stream talks to a program not built on this crate, without framing
    /// ([`Listener::foreign`]).
    pub fn is_foreign(&self) -> bool {
        self.tx.is_foreign()
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }
}

duplex_stream!(Stream);
duplex_slice_stream!(Stream);

impl<P: ?Sized + Payload> AsFd for Stream<P> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([P: ?Sized + Payload] Stream<P>);

/// A request/response client over TCP: sends `Req`, receives `Resp`.
pub struct Client<Req: Message, Resp: Message> {
    caller: Caller<Req, Resp>,
}

impl<Req: Message, Resp: Message> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to the [`Server`] at `addr`; the handshake checks both types, as
    /// [`crate::socket::Client::connect`]'s does.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`]; [`Error::SchemaMismatch`] if the server's request or
    /// response type differs (its `difference` says which); [`Error::Corrupt`] for a peer
    /// that is no request/response server.
    pub fn connect(addr: impl ToSocketAddrs) -> Result<Self> {
        let (fd, _) = connect_addr(addr, DEFAULT_HANDSHAKE_TIMEOUT)?;
        let (tx, rx) =
            conn::rpc_handshake::<Req, Resp>(fd, DEFAULT_HANDSHAKE_TIMEOUT, 0, End::Client)?;
        Ok(Client {
            caller: Caller::new(tx, rx),
        })
    }

    /// Sends `req` and waits for the response.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the server is gone; the errors of [`Stream::recv`] for a
    /// bad response, which fails its call only, except garbage ([`Error::Corrupt`]): then
    /// every later call fails with `Corrupt` too, as on a Unix socket
    /// ([`crate::socket::Client::call`]); connect again.
    pub fn call(&mut self, req: Req) -> Result<Resp> {
        self.caller.call(req, Wait::Forever)
    }

    /// As [`Client::call`], giving up after `timeout`; a late response is skipped by the
    /// next call.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the response did not arrive in time, as [`Client::call`]
    /// otherwise.
    pub fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        self.caller.call(req, Wait::timeout(timeout))
    }
}

/// The connection's socket: readable when a response (a late one, after
/// [`Client::call_timeout`] gave up) or the server's hang-up waits to be read.
impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// The calling side, the client consumed (for the shared async client).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_caller(self) -> crate::socket::rpc::Caller<Req, Resp> {
        self.caller
    }

    /// The calling side, for the async twin.
    #[cfg(feature = "tokio")]
    pub(crate) fn caller(&mut self) -> &mut crate::socket::rpc::Caller<Req, Resp> {
        &mut self.caller
    }
}

impl<Req: Message, Resp: Message> AsFd for Client<Req, Resp> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.caller.fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([Req: Message, Resp: Message] Client<Req, Resp>);

struct NonBlockingListener {
    inner: TcpListener,
    handshake_timeout: Duration,
}

impl AsFd for NonBlockingListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Accepts one connection queued on the non-blocking `inner` without waiting, with
/// `TCP_NODELAY` on; and the peer's address.
///
/// # Errors
///
/// [`Error::Empty`] if none is queued; [`Error::LimitExceeded`] when out of descriptors
/// and [`Error::Io`] with op `accept4` for another error of the listener itself; another
/// error concerns the one connection accepted (and closed).
fn accept_now(inner: &TcpListener) -> Result<(OwnedFd, SocketAddr)> {
    let (s, peer) = loop {
        match inner.accept() {
            Ok(c) => break c,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(Error::Empty),
            // Interrupted, or a connection reset before it was accepted: the next.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => return Err(accept_error("accept4", e)),
        }
    };
    // The listener is non-blocking; the connection blocks (bounded calls use poll).
    s.set_nonblocking(false).map_err(|e| io_error("fcntl", e))?;
    Ok((setup(s)?, peer))
}

impl Accept for NonBlockingListener {
    fn accept_now(&self) -> Result<OwnedFd> {
        accept_now(&self.inner).map(|(fd, _)| fd)
    }

    fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    fn max_fds(&self) -> usize {
        0
    }
}

/// A request/response server on a TCP address: receives `Req`, answers `Resp`.
///
/// As [`crate::socket::Server`]: any number of clients from one thread, each request
/// answered in order; a bad or departed client is dropped without affecting the others,
/// and a client that does not read its answers is set aside (its answers kept, its
/// requests not read) while the others are served, and dropped once its socket has had
/// no room for the handshake timeout (10 s, see [`Server::set_handshake_timeout`]).
///
/// Handshakes proceed as their bytes arrive, polled with the other connections: a
/// client that connects and says nothing (or a byte at a time) costs the others no wait,
/// and is closed once the handshake timeout has passed since its accept without a whole
/// hello. A bad hello (another schema or byte order, garbage) closes that connection
/// only; requests sent right behind the hello are answered.
///
/// It has no `AsFd`: it waits on its listener and every client at once, so no one
/// descriptor tells that it has work.
pub struct Server<Req: Message, Resp: Message> {
    listener: NonBlockingListener,
    serving: Serving<Req, Resp>,
}

impl<Req: Message, Resp: Message> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.inner.local_addr().ok())
            .field("clients", &self.serving.clients())
            .field("handshaking", &self.serving.handshaking())
            .finish()
    }
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    /// Binds to `addr` (`"127.0.0.1:0"` picks a free port).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the address is in use, not local, or not permitted.
    pub fn bind(addr: impl ToSocketAddrs) -> Result<Self> {
        let inner = TcpListener::bind(addr).map_err(|e| crate::fd::new_fd_io_error("bind", e))?;
        inner
            .set_nonblocking(true)
            .map_err(|e| io_error("fcntl", e))?;
        Ok(Server {
            listener: NonBlockingListener {
                inner,
                handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            },
            serving: Serving::new(DEFAULT_HANDSHAKE_TIMEOUT),
        })
    }

    /// The address this server is bound to (with the chosen port).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the system cannot say.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .inner
            .local_addr()
            .map_err(|e| io_error("getsockname", e))
    }

    /// The listener, which accepts without waiting (for the async twin).
    #[cfg(feature = "tokio")]
    pub(crate) fn acceptor(&self) -> &dyn Accept {
        &self.listener
    }

    /// Sets how long a client has from its accept to send its whole handshake, and how
    /// long it may leave its answers unread before it is dropped (10 s by default).
    pub fn set_handshake_timeout(&mut self, timeout: Duration) {
        self.listener.handshake_timeout = timeout;
        self.serving.set_send_timeout(timeout);
    }

    /// Answers requests from every client with `handler`, forever.
    ///
    /// # Errors
    ///
    /// Returns only on a system error of the listener itself ([`Error::LimitExceeded`]
    /// naming `RLIMIT_NOFILE` when out of descriptors with a client waiting,
    /// [`Error::Io`] for another), or with [`Error::Shutdown`] once shutdown is requested
    /// (see [`shutdown_on`](crate::signal::shutdown_on)).
    pub fn serve(&mut self, mut handler: impl FnMut(Req) -> Resp) -> Result<Infallible> {
        let mut handler = |req| Reply::Answer(handler(req));
        loop {
            self.serving
                .run(&self.listener, &mut Handler::Value(&mut handler), None)?;
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
        self.serving.run(
            &self.listener,
            &mut Handler::Value(&mut handler),
            Some(clients),
        )
    }
}

crate::socket::rpc::rpc_contract!(Client, Server, listener);

/// Maps a failed `accept`: out of descriptors (`EMFILE`, `ENFILE`) is the limit, named
/// with how to raise it; anything else as other stream errors.
fn accept_error(op: &'static str, e: io::Error) -> Error {
    match e.raw_os_error().map(nix::errno::Errno::from_raw) {
        Some(errno @ (nix::errno::Errno::EMFILE | nix::errno::Errno::ENFILE)) => {
            crate::error::new_fd_error(op, errno)
        }
        _ => io_error(op, e),
    }
}
