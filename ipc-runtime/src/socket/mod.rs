//! Unix domain sockets ([unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html)):
//! typed streams, seqpacket datagrams, request/response, peer credentials and passing
//! file descriptors.
//!
//! # Mechanism and contract
//!
//! A [`Listener`] is bound to a filesystem path; each [`Listener::accept`] gives a
//! [`Stream`] to one client, so one listener serves many clients. A [`Stream<T>`] is a
//! `SOCK_STREAM` connection carrying frames of the [stream codec](crate::codec): at
//! connect, both sides send a handshake and check the peer's, so a peer built with
//! another definition of `T` is refused with [`Error::SchemaMismatch`] on both sides
//! before any message moves; its `difference` names the first field that differs (each
//! handshake carries its writer's schema tree: see [the codec](crate::codec#the-handshake)). After that, messages arrive whole, in order, without loss
//! or duplication, until the peer closes or dies ([`Error::Disconnected`]).
//!
//! - **The socket file** is created with mode 0600 by default ([`Options::mode`]) in a way
//!   the umask cannot loosen: it is bound inside a private 0700 directory, `chmod`ed, then
//!   hard-linked into place. It is removed when the listener is dropped. A file left by a
//!   crashed listener is stale: binding finds that nobody accepts on it (`ECONNREFUSED`),
//!   removes it and binds; a live listener's file is never taken ([`Error::Busy`]).
//! - **Paths** must fit `sun_path`: at most 107 bytes, else [`Error::InvalidName`].
//! - **Credentials**: [`Stream::peer_cred`] gives the peer's pid, uid and gid
//!   (`SO_PEERCRED`, taken by the kernel at connect). [`Options::only_same_uid`] and
//!   [`Options::allow_uid`] make a listener refuse other clients: [`Listener::accept`]
//!   closes such a connection and returns [`Error::PermissionDenied`].
//! - **No `SIGPIPE`**: every send uses `MSG_NOSIGNAL`; a dead peer is
//!   [`Error::Disconnected`].
//! - **Connecting** never blocks in `connect(2)`: when the listener's backlog is full
//!   (it does not accept fast enough), `connect` retries after sleeps of at most 20 ms
//!   and gives up with [`Error::Timeout`] after the handshake timeout
//!   ([`Options::handshake_timeout`]); the handshake then has as long again.
//! - **Shutdown**: once [`shutdown_on`](crate::signal::shutdown_on) is armed, every call
//!   that waits (connect, accept, send, receive, [`Server::serve`]) returns
//!   [`Error::Shutdown`] when shutdown is requested.
//! - **Timeouts**: `recv_timeout` and `send_timeout` wait with `poll(2)`, retrying `EINTR`
//!   with the time left. A receive that times out keeps the part of a frame it read. A
//!   bounded send never leaves half a frame on the wire: a frame written only in part is
//!   completed from a buffer in the [`Sender`] before anything else (see there). What a
//!   sender still holds when it is done goes out with [`Sender::close`], which waits at
//!   most as long as it is told, or on drop, which gives up on a peer that takes nothing
//!   for a second; a message cut short then is [`Error::Corrupt`] to the peer, never a
//!   message.
//! - **Descriptors**: [`Stream::send_with_fds`] passes open files with `SCM_RIGHTS`;
//!   [`Stream::recv_with_fds`] receives them close-on-exec (`MSG_CMSG_CLOEXEC`), and a
//!   plain receive closes those of its message. One message may bring at most
//!   [`Options::max_fds`] (16 by default), and a receiver never holds more for one
//!   message. If more arrive with one read than fit (or the process is out of
//!   descriptors), the kernel closes the rest and reports `MSG_CTRUNC`: that is
//!   [`Error::LimitExceeded`] from `recv_with_fds`, never a silent loss. A peer that sends
//!   a message in pieces, descriptors with each, has them counted together: once they
//!   pass the limit the receiver closes them, the receive under way (of either kind)
//!   returns [`Error::LimitExceeded`], and the message is dropped unread as the rest of it
//!   arrives; the next receive goes on with the message after it.
//! - **Seqpacket**: [`SeqPacket`] sends one datagram per message (`SOCK_SEQPACKET`),
//!   each checked for size and fingerprint on receipt.
//! - **Request/response**: [`Client::call`] and [`Server::serve`], typed by a request and
//!   a response message. Each end's handshake announces both types (what it sends, then
//!   what it takes), so a client and a server that disagree on either refuse each other
//!   at connect: [`Client::connect`] returns [`Error::SchemaMismatch`] saying which type
//!   differs, and the server closes that connection alone. The server
//!   serves every client from one thread, and no client holds up the others: handshakes
//!   are read as their bytes arrive, each with its own deadline (the handshake timeout
//!   from accept), and answers a client leaves unread wait for room while the others
//!   are answered.
//!
//! - **In place**: besides `send`/`try_send`/`send_timeout` and
//!   `recv`/`try_recv`/`recv_timeout`, [`Stream`], its [`Sender`]/[`Receiver`] halves and
//!   [`SeqPacket`] have `send_ref(&msg)` and `recv_into(&mut out)`, which spare a large
//!   `T` the copy into `send` and out of `recv`; `recv_into` leaves `out` unchanged on
//!   any error.
//!
//! - **Slices**: a [`Stream<[E]>`](Stream) (and its [`Listener`]) carries slices of any
//!   length up to a maximum both ways: `send_slice` and `recv_slice` (`try_`, `_timeout`),
//!   the slice lent from the receive buffer, validated. Each end has its own maximum
//!   ([`Stream::set_max_len`]); a longer slice is refused by the sender, and a record that
//!   announces one by the receiver, from its header, before anything is allocated or read
//!   for it. A `Stream<[u8]>` and a `Stream<u8>` refuse each other at connect.
//!
//! Limits: a Unix socket reaches processes of one machine (one network namespace, a
//! shared filesystem for the path); `SCM_MAX_FD` (253) descriptors per message; the socket
//! buffer (`net.core.wmem_default`) decides when a send blocks.
//!
//! ```no_run
//! use ipc::socket::{Listener, Stream};
//!
//! // server process
//! let listener = Listener::<u64>::bind("/tmp/counter.sock")?;
//! let mut conn = listener.accept()?;
//! let n = conn.recv()?;
//! conn.send(n + 1)?;
//!
//! // client process
//! let mut conn = Stream::<u64>::connect("/tmp/counter.sock")?;
//! conn.send(41)?;
//! assert_eq!(conn.recv()?, 42);
//! # Ok::<(), ipc::Error>(())
//! ```

mod bind;
pub(crate) mod conn;
pub(crate) mod pending;
mod registry;
pub(crate) mod rpc;
mod seqpacket;
pub(crate) mod sys;

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{self as nixsock, sockopt, AddressFamily, SockFlag, SockType};

pub use conn::{Receiver, Sender};
pub(crate) use registry::sweep_one;
pub use registry::{list, remove_stale_with_prefix, stale_with_prefix, Listed};
pub use rpc::{Client, Server};
pub use seqpacket::{SeqPacket, SeqPacketListener};

/// The async twin of [`Stream`], on tokio (feature `tokio`; see [`crate::aio`]).
#[cfg(feature = "tokio")]
pub type AsyncStream<T> = crate::aio::Async<Stream<T>>;
/// The async twin of [`Sender`] (a split stream's sending half, Unix or TCP), on tokio.
#[cfg(feature = "tokio")]
pub type AsyncSender<T> = crate::aio::Async<Sender<T>>;
/// The async twin of [`Receiver`] (a split stream's receiving half, Unix or TCP), on tokio.
#[cfg(feature = "tokio")]
pub type AsyncReceiver<T> = crate::aio::Async<Receiver<T>>;
/// The async twin of [`Client`], on tokio (feature `tokio`; see [`crate::aio`]):
/// `call(req).await`.
#[cfg(feature = "tokio")]
pub type AsyncClient<Req, Resp> = crate::aio::Async<Client<Req, Resp>>;
/// The async twin of [`Server`], on tokio (feature `tokio`; see [`crate::aio`]): each
/// client served by a task of its own, `serve(|req| async move { … }).await`.
#[cfg(feature = "tokio")]
pub type AsyncServer<Req, Resp> = crate::aio::AsyncServer<Server<Req, Resp>>;
/// The async twin of [`SeqPacket`], on tokio (feature `tokio`; see [`crate::aio`]).
#[cfg(feature = "tokio")]
pub type AsyncSeqPacket<T> = crate::aio::Async<SeqPacket<T>>;

use crate::error::{Error, Result, SendError};
use crate::message::Message;
use crate::payload::Payload;
use conn::{duplex_slice_stream, duplex_stream, Hello};
use sys::Wait;

/// How long `connect` and `accept` wait for the peer's handshake by default.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of a listener or a connection.
#[derive(Clone, Debug)]
pub struct Options {
    mode: u32,
    allowed_uids: Option<Vec<u32>>,
    allowed_gids: Option<Vec<u32>>,
    allowed_pids: Option<Vec<i32>>,
    pub(crate) handshake_timeout: Duration,
    backlog: i32,
    pub(crate) max_fds: usize,
    pub(crate) foreign: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode 0600, any client uid, a 10 s handshake timeout, a backlog of 128, up to 16
    /// descriptors per received message.
    pub fn new() -> Self {
        Options {
            mode: 0o600,
            allowed_uids: None,
            allowed_gids: None,
            allowed_pids: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            backlog: 128,
            max_fds: conn::DEFAULT_MAX_FDS,
            foreign: false,
        }
    }

    /// Permission bits of the socket file (connecting needs write permission on it).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Accepts only clients whose uid is this process's effective uid.
    pub fn only_same_uid(self) -> Self {
        self.allow_uid(nix::unistd::geteuid().as_raw())
    }

    /// Accepts clients of `uid`; once any uid is allowed, clients of uids not allowed are
    /// refused. May be called several times.
    pub fn allow_uid(mut self, uid: u32) -> Self {
        self.allowed_uids.get_or_insert_with(Vec::new).push(uid);
        self
    }

    /// Accepts clients whose effective gid is `gid` (as `SO_PEERCRED` reports it); once
    /// any gid is allowed, clients of other gids are refused. May be called several times.
    /// Combines with the other policies: a client must pass each one that is set.
    ///
    /// ```no_run
    /// # fn main() -> ipc::Result<()> {
    /// use ipc::socket::{Listener, Options};
    /// // Only processes running with the group 1001 as their effective group.
    /// let l = Listener::<u64>::bind_with("/run/app.sock", Options::new().mode(0o660).allow_gid(1001))?;
    /// # Ok(()) }
    /// ```
    pub fn allow_gid(mut self, gid: u32) -> Self {
        self.allowed_gids.get_or_insert_with(Vec::new).push(gid);
        self
    }

    /// Accepts the client process `pid` (as `SO_PEERCRED` reports it: the process that
    /// connected); once any pid is allowed, other processes are refused. For a server of
    /// one known process, a child it started, say. May be called several times.
    pub fn allow_pid(mut self, pid: u32) -> Self {
        let pid = i32::try_from(pid).unwrap_or(i32::MAX);
        self.allowed_pids.get_or_insert_with(Vec::new).push(pid);
        self
    }

    /// How long to wait for the peer's handshake at connect and accept. A [`Server`], and
    /// the receiver of a bound endpoint ([`Incoming`](crate::endpoint::Incoming)), wait
    /// for no one's handshake: each connection has this long from its accept to complete
    /// its own, and is closed if it has not.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Length of the queue of connections not yet accepted (`listen(2)`).
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = backlog;
        self
    }

    /// How many descriptors one received message may carry (at most 253); more are
    /// [`Error::LimitExceeded`], and that message is dropped. The excess is closed at
    /// once, so a receiver never holds more than this many for one message: by the kernel
    /// when it comes with one read, by the receiver when the peer sends the message in
    /// pieces with descriptors on each (see [`Receiver`]). `0` turns descriptor passing
    /// off on the receiving side: the stream then reads with plain `recv(2)` (a little
    /// cheaper than `recvmsg(2)`), and descriptors a peer sends anyway are closed by the
    /// kernel, without a word. A request/response [`Client`] or [`Server`] always takes
    /// none.
    pub fn max_fds(mut self, n: usize) -> Self {
        self.max_fds = n.min(253);
        self
    }

    /// Foreign-peer mode, for a peer not built on this crate (a C program using
    /// `send(2)`/`recv(2)`, a Python `socket`): no handshake either way, and each message
    /// is exactly the bytes of `T`, back to back, with no framing. A [`Listener`] bound
    /// with it accepts foreign clients; [`Stream::connect_with`] and
    /// [`Stream::from_fd_with`] talk to a foreign server or an inherited descriptor.
    ///
    /// Every message received is still length-checked and validated, so foreign bytes
    /// never become an invalid `T`: a record that is not a valid `T` (a bad enum value,
    /// say) is [`Error::InvalidMessage`] and the next one still arrives; a short record at
    /// the end of the stream is an `InvalidMessage` of its length. What is given up is
    /// the schema check at connect, and the framing that keeps a stream in step after a
    /// writer died mid-record: keep the two sides in agreement with a C header generated
    /// from the type ([`schema::c_header`](crate::schema::c_header)). Descriptors still
    /// travel with `SCM_RIGHTS`. Streams of slices have no foreign mode (a bare slice has
    /// no length on the wire): [`Error::Unsupported`].
    ///
    /// ```no_run
    /// use ipc::socket::{Listener, Options};
    ///
    /// # #[derive(Clone, Copy, Debug, ipc::Message)] #[repr(C)] struct Reading { id: u32, value: f32 }
    /// // a C client does `send(fd, &reading, sizeof reading, 0)`
    /// let listener = Listener::<Reading>::bind_with("/tmp/sensors.sock", Options::new().foreign())?;
    /// let mut conn = listener.accept()?;
    /// let reading = conn.recv()?;
    /// # Ok::<(), ipc::Error>(())
    /// ```
    pub fn foreign(mut self) -> Self {
        self.foreign = true;
        self
    }

    /// [`Error::Unsupported`] if these options ask for foreign-peer mode on `what`, a
    /// socket that has none: the mode is refused, never ignored.
    pub(crate) fn refuse_foreign(&self, what: &str) -> Result<()> {
        if self.foreign {
            return Err(Error::Unsupported {
                what: format!("foreign-peer mode on {what}"),
                reason: "only a Unix stream socket (`Listener`, `Stream`) has it; talk to a \
                         program not built on ipc over one of those",
            });
        }
        Ok(())
    }
}

impl Options {
    /// Applies the peer policy (`allow_uid`, `allow_gid`, `allow_pid`) to the client at
    /// the other end of `fd`: [`Error::PermissionDenied`] naming the first check it fails.
    fn check_peer(&self, fd: BorrowedFd<'_>) -> Result<()> {
        let o = self;
        if o.allowed_uids.is_none() && o.allowed_gids.is_none() && o.allowed_pids.is_none() {
            return Ok(());
        }
        let cred = peer_cred(fd)?;
        let refused = |what| Error::PermissionDenied {
            what,
            name: cred.to_string(),
        };
        if o.allowed_uids
            .as_ref()
            .is_some_and(|a| !a.contains(&cred.uid))
        {
            return Err(refused(
                "client (its uid is not allowed by this listener: Options::allow_uid)",
            ));
        }
        if o.allowed_gids
            .as_ref()
            .is_some_and(|a| !a.contains(&cred.gid))
        {
            return Err(refused(
                "client (its gid is not allowed by this listener: Options::allow_gid)",
            ));
        }
        if o.allowed_pids
            .as_ref()
            .is_some_and(|a| !a.contains(&cred.pid))
        {
            return Err(refused(
                "client (its pid is not allowed by this listener: Options::allow_pid)",
            ));
        }
        Ok(())
    }
}

/// The credentials of the process at the other end, as the kernel recorded them when it
/// connected (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

impl fmt::Display for PeerCred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid {}, uid {}, gid {}", self.pid, self.uid, self.gid)
    }
}

pub(crate) fn peer_cred(fd: BorrowedFd<'_>) -> Result<PeerCred> {
    let c = nixsock::getsockopt(&fd, sockopt::PeerCredentials)
        .map_err(|e| Error::sys("getsockopt(SO_PEERCRED)", e))?;
    Ok(PeerCred {
        pid: c.pid(),
        uid: c.uid(),
        gid: c.gid(),
    })
}

/// A listening Unix socket of either type, without the message type.
#[derive(Debug)]
pub(crate) struct RawListener {
    fd: OwnedFd,
    placed: bind::Placed,
    /// Says who listens here (see `registry.rs`); `None` if it could not be written.
    registry: Option<registry::Registered>,
    opts: Options,
}

impl RawListener {
    pub(crate) fn bind(path: &Path, ty: SockType, opts: Options) -> Result<Self> {
        // What crashed processes of this user left (see `crate::reclaim`).
        crate::reclaim::sweep(None);
        let (fd, placed) = bind::bind_listen(path, ty, opts.mode, opts.backlog)?;
        let (dev, ino) = placed.id();
        let registry = registry::Registered::create(path, dev, ino, ty == SockType::Stream);
        Ok(RawListener {
            fd,
            placed,
            registry,
            opts,
        })
    }

    /// Records the type of the messages clients send, for `ipc list` (see `registry.rs`).
    pub(crate) fn describe<T: Message>(&self) {
        if let Some(r) = &self.registry {
            r.describe(&crate::schema::block::block_of::<T>());
        }
    }

    /// Makes `accept_fd(Wait::Now)` say [`Error::Empty`] instead of blocking when no
    /// connection is queued: the listener itself becomes non-blocking (for a server loop,
    /// which accepts until none is left; other waits poll first and retry `EAGAIN`).
    pub(crate) fn set_nonblocking(&self) -> Result<()> {
        let fl = nix::fcntl::fcntl(&self.fd, nix::fcntl::FcntlArg::F_GETFL)
            .map_err(|e| Error::sys("fcntl", e))?;
        let fl = nix::fcntl::OFlag::from_bits_truncate(fl) | nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&self.fd, nix::fcntl::FcntlArg::F_SETFL(fl))
            .map_err(|e| Error::sys("fcntl", e))?;
        Ok(())
    }

    /// Accepts one connection and checks the client's uid.
    pub(crate) fn accept_fd(&self, wait: Wait) -> Result<OwnedFd> {
        // A blocking accept cannot be woken by a shutdown request: once one is armed, wait
        // in `poll` (which watches for it) first.
        let armed_block = matches!(wait, Wait::Forever) && crate::shutdown::shutdown_armed();
        let fd = loop {
            let poll_wait = if armed_block {
                Wait::timeout(Duration::from_secs(3600))
            } else {
                wait
            };
            if !sys::ready(self.fd.as_fd(), nix::poll::PollFlags::POLLIN, poll_wait)? {
                if armed_block {
                    continue;
                }
                return Err(wait.expired(false));
            }
            let mut flags = SockFlag::SOCK_CLOEXEC;
            if !matches!(wait, Wait::Forever) {
                flags |= SockFlag::SOCK_NONBLOCK;
            }
            match nixsock::accept4(self.fd.as_raw_fd(), flags) {
                // SAFETY: accept4 returned a new descriptor that nothing else owns.
                Ok(fd) => break unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) },
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(Errno::EAGAIN) if matches!(wait, Wait::Now) => return Err(Error::Empty),
                Err(Errno::EAGAIN) => {}
                Err(e) => return Err(Error::sys("accept4", e)),
            }
        };
        if !matches!(wait, Wait::Forever) {
            // The connection itself blocks; bounded calls use poll.
            let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)
                .map_err(|e| Error::sys("fcntl", e))?;
            let fl = nix::fcntl::OFlag::from_bits_truncate(fl) - nix::fcntl::OFlag::O_NONBLOCK;
            nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(fl))
                .map_err(|e| Error::sys("fcntl", e))?;
        }
        self.opts.check_peer(fd.as_fd())?;
        Ok(fd)
    }

    pub(crate) fn path(&self) -> &Path {
        self.placed.path()
    }

    pub(crate) fn opts(&self) -> &Options {
        &self.opts
    }
}

impl AsFd for RawListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A listening Unix stream socket whose connections carry `T` both ways (or slices of
/// `E`, for `T = [E]`).
///
/// The socket file is removed when the listener is dropped.
pub struct Listener<T: ?Sized> {
    raw: RawListener,
    _t: PhantomData<fn() -> T>,
}

impl<T: ?Sized> fmt::Debug for Listener<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener").field("raw", &self.raw).finish()
    }
}

impl<P: ?Sized + Payload> Listener<P> {
    /// Binds to `path` with default [`Options`] (mode 0600).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a path longer than 107 bytes; [`Error::Busy`] if a live
    /// listener holds the path; [`Error::AlreadyExists`] if the path is a file that is not
    /// a socket; [`Error::NotFound`] / [`Error::PermissionDenied`] for the directory;
    /// [`Error::Io`] otherwise. A stale socket file is removed and replaced.
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        Self::bind_with(path, Options::new())
    }

    /// Binds to `path` with `opts`.
    ///
    /// # Errors
    ///
    /// As [`Listener::bind`].
    pub fn bind_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        let raw = RawListener::bind(path.as_ref(), SockType::Stream, opts)?;
        raw.describe::<P::Element>();
        Ok(Listener {
            raw,
            _t: PhantomData,
        })
    }

    /// Waits for a client and exchanges handshakes with it.
    ///
    /// # Errors
    ///
    /// [`Error::PermissionDenied`] for a client whose uid is not allowed (its connection
    /// is closed); [`Error::SchemaMismatch`] for a client of another schema;
    /// [`Error::Timeout`] if the client sends no handshake within the handshake timeout;
    /// [`Error::Disconnected`] if it leaves during the handshake; [`Error::Io`] otherwise.
    /// Each concerns one client: keep accepting.
    pub fn accept(&self) -> Result<Stream<P>> {
        let fd = self.raw.accept_fd(Wait::Forever)?;
        Stream::handshake(fd, &self.raw.opts)
    }

    /// As [`Listener::accept`], waiting at most `timeout` for a client to connect.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none did, as [`Listener::accept`] otherwise.
    pub fn accept_timeout(&self, timeout: Duration) -> Result<Stream<P>> {
        let fd = self.raw.accept_fd(Wait::timeout(timeout))?;
        Stream::handshake(fd, &self.raw.opts)
    }

    /// The path this listener is bound to.
    pub fn path(&self) -> &Path {
        self.raw.path()
    }

    /// The listening socket and its options (for `endpoint::Incoming`).
    pub(crate) fn raw(&self) -> &RawListener {
        &self.raw
    }
}

impl<T: ?Sized> AsFd for Listener<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Listener<T>);

/// A connected Unix stream socket carrying `T` both ways.
///
/// A `Stream<[E]>` carries slices of `E` both ways, of any length up to its maximum
/// ([`Stream::send_slice`], [`Stream::recv_slice`], [`Stream::set_max_len`]):
///
/// ```
/// use ipc::socket::Stream;
///
/// let (mut a, mut b) = Stream::<[u8]>::pair()?;
/// a.send_slice(b"hello")?;
/// assert_eq!(b.recv_slice()?, b"hello");
/// # Ok::<(), ipc::Error>(())
/// ```
#[derive(Debug)]
pub struct Stream<T: ?Sized + Payload> {
    tx: Sender<T>,
    rx: Receiver<T>,
}

impl<P: ?Sized + Payload> Stream<P> {
    /// Connects to the listener at `path` and exchanges handshakes.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no file is there or nobody listens on it;
    /// [`Error::PermissionDenied`] without write permission on the socket file;
    /// [`Error::InvalidName`] for a path longer than 107 bytes;
    /// [`Error::SchemaMismatch`] if the listener's `T` differs; [`Error::Disconnected`] if
    /// the listener closed the connection (a refused uid, say); [`Error::Timeout`] if the
    /// listener's backlog stayed full (it does not accept fast enough) or it did not
    /// answer within the handshake timeout; [`Error::Shutdown`] if shutdown was requested
    /// (see [`shutdown_on`](crate::signal::shutdown_on)) meanwhile; [`Error::Io`]
    /// otherwise.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(path, &Options::new())
    }

    /// As [`Stream::connect`], with the handshake timeout and descriptor limit of `opts`.
    /// The handshake timeout bounds the wait for a place in the listener's backlog, and
    /// as long again the wait for its handshake.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`].
    pub fn connect_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self> {
        let wait = Wait::timeout(opts.handshake_timeout);
        let fd = bind::connect(path.as_ref(), SockType::Stream, wait)?;
        Self::handshake(fd, opts)
    }

    /// A connected pair (`socketpair(2)`), handshakes done: keep one end and give the
    /// other to a child process (`fork`), or use both in one process.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the sockets cannot be created.
    pub fn pair() -> Result<(Self, Self)> {
        let (a, b) = nixsock::socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::sys("socketpair", e))?;
        let opts = Options::new();
        let (ta, tb) = (
            conn::start::<P>(a, Wait::Forever)?,
            conn::start::<P>(b, Wait::Forever)?,
        );
        let (a, b) = (
            conn::finish::<P, P>(ta, Hello::new(), opts.handshake_timeout, opts.max_fds)?,
            conn::finish::<P, P>(tb, Hello::new(), opts.handshake_timeout, opts.max_fds)?,
        );
        Ok((Stream { tx: a.0, rx: a.1 }, Stream { tx: b.0, rx: b.1 }))
    }

    /// Adopts a connected `SOCK_STREAM` Unix socket (one end of a `socketpair`, or one
    /// inherited from a parent process) and exchanges handshakes over it.
    ///
    /// # Errors
    ///
    /// As [`Stream::connect`] after the connection is made.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        Self::handshake(fd, &Options::new())
    }

    /// As [`Stream::from_fd`], with the handshake timeout and descriptor limit of `opts`.
    ///
    /// # Errors
    ///
    /// As [`Stream::from_fd`].
    pub fn from_fd_with(fd: OwnedFd, opts: &Options) -> Result<Self> {
        Self::handshake(fd, opts)
    }

    /// The stream of two halves of one connection, its handshakes done.
    pub(crate) fn from_halves(tx: Sender<P>, rx: Receiver<P>) -> Self {
        Stream { tx, rx }
    }

    fn handshake(fd: OwnedFd, opts: &Options) -> Result<Self> {
        let (tx, rx) = if opts.foreign {
            conn::bare::<P, P>(fd, opts.max_fds)?
        } else {
            conn::handshake::<P, P>(fd, opts.handshake_timeout, opts.max_fds)?
        };
        Ok(Stream { tx, rx })
    }

    /// Whether this stream talks to a program not built on this crate, without framing
    /// ([`Options::foreign`]).
    pub fn is_foreign(&self) -> bool {
        self.tx.is_foreign()
    }

    /// The peer's pid, uid and gid (`SO_PEERCRED`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the kernel does not report them.
    pub fn peer_cred(&self) -> Result<PeerCred> {
        peer_cred(self.rx.as_fd())
    }
}

impl<T: Message> Stream<T> {
    /// Sends `msg` with open descriptors attached (`SCM_RIGHTS`). The receiver gets
    /// duplicates; this side's `fds` stay open.
    ///
    /// # Errors
    ///
    /// As [`Stream::send`]; [`Error::Io`] with `EINVAL`/`ETOOMANYREFS` for more than 253
    /// descriptors or descriptors in flight beyond the kernel's limit.
    pub fn send_with_fds(&mut self, msg: T, fds: &[BorrowedFd<'_>]) -> Result<(), SendError<T>> {
        self.tx.send_frame(msg, fds, Wait::Forever)
    }

    /// Receives a message and the descriptors sent with it (close-on-exec). A plain
    /// [`Stream::recv`] closes descriptors that came with its message (at the next
    /// receive).
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if more descriptors were sent with the message than this
    /// side accepts ([`Options::max_fds`]) or than the process may open: the excess was
    /// closed (by the kernel, or by this receiver as it passed the limit), and the message
    /// is dropped; as [`Stream::recv`] otherwise.
    pub fn recv_with_fds(&mut self) -> Result<(T, Vec<OwnedFd>)> {
        self.rx.recv_with_fds(Wait::Forever)
    }

    /// As [`Stream::recv_with_fds`], waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no message was complete in time, as
    /// [`Stream::recv_with_fds`] otherwise.
    pub fn recv_with_fds_timeout(&mut self, timeout: Duration) -> Result<(T, Vec<OwnedFd>)> {
        self.rx.recv_with_fds(Wait::timeout(timeout))
    }

    /// Sets how many descriptors one received message may carry (0 to 253; see
    /// [`Options::max_fds`]).
    pub fn set_max_fds(&mut self, n: usize) {
        self.rx.set_max_fds(n.min(253));
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
