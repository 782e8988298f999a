//! [`Incoming`]: one receiving end over a listener, taking the messages of every sender
//! that connects.
//!
//! No sender holds up the receiver, or the other senders, in its handshake. A connection
//! is accepted without waiting and greeted at once (our handshake fits a fresh socket);
//! the sender's handshake is read as its bytes arrive, polled beside the connections that
//! carry messages, and the connection joins them once it is whole. On a stream (Unix or
//! TCP) this is the request/response server's machinery (`socket::pending`); a seqpacket
//! handshake is one datagram. Each connection has a deadline of its own, its accept time
//! plus the listener's handshake timeout, after which it is closed.

use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use crate::contract::{Rx, Wait};
use crate::deadline::{self, deadline_after};
use crate::error::{Error, Result};
use crate::fd;
use crate::message::Message;
use crate::socket::conn::{self, Receiver, Sender};
use crate::socket::pending::Pending;
use crate::{socket, tcp};

mod sealed {
    use std::os::fd::AsFd;
    use std::time::Instant;

    use crate::error::Result;

    /// Implemented by this crate's listeners only.
    pub trait Sealed {}

    /// A connection accepted whose sender's handshake is under way: ours is sent, the
    /// sender's is read as it arrives, until the connection's deadline.
    pub trait Handshake<C>: AsFd {
        /// When the connection is to be closed if its handshake is not whole by then;
        /// `None`: never.
        fn deadline(&self) -> Option<Instant>;

        /// Reads what has arrived of the sender's handshake, without waiting: true once
        /// it is whole and checked, false while more is awaited.
        ///
        /// # Errors
        ///
        /// [`Error::Disconnected`](crate::Error::Disconnected) if the sender left,
        /// [`Error::Corrupt`](crate::Error::Corrupt) or
        /// [`Error::SchemaMismatch`](crate::Error::SchemaMismatch) for a bad handshake,
        /// [`Error::Io`](crate::Error::Io): the connection is then to be closed.
        fn advance(&mut self) -> Result<bool>;

        /// The connection, once [`Handshake::advance`] said its handshake is whole.
        fn finish(self) -> Result<C>;
    }
}

/// A listener of connections that each carry messages of `T`: [`socket::Listener`],
/// [`socket::SeqPacketListener`] and [`tcp::Listener`] (the trait is sealed).
pub trait Listen<T: Message>: AsFd + sealed::Sealed {
    /// One connection.
    type Conn: Rx<T> + AsFd;

    /// A connection accepted whose sender's handshake is under way.
    #[doc(hidden)]
    type Handshake: sealed::Handshake<Self::Conn>;

    /// Makes [`Listen::accept_greeted`] say [`Error::Empty`] rather than wait when no
    /// connection is queued.
    #[doc(hidden)]
    fn set_nonblocking(&self) -> Result<()>;

    /// Accepts a queued connection without waiting, and greets it without waiting
    /// (sends our handshake; none to a foreign peer).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is queued; [`Error::Full`] if our handshake did not fit
    /// the socket (the connection is closed); [`Error::PermissionDenied`] for a peer the
    /// listener's policy refuses (closed); [`Error::LimitExceeded`] or [`Error::Io`] of
    /// the listener itself.
    #[doc(hidden)]
    fn accept_greeted(&self) -> Result<Self::Handshake>;
}

/// The receiving side's part of a stream connection's handshake (Unix or TCP): under
/// way, or none at all with a foreign peer.
enum Greeting<T> {
    Framed(Pending<T, T>),
    Bare(OwnedFd),
}

impl<T: Message> Greeting<T> {
    /// Greets the connection `fd` without waiting; its sender then has `timeout` from now
    /// to send its handshake. A foreign peer gets none and sends none.
    fn start(fd: OwnedFd, timeout: Duration, foreign: bool) -> Result<Self> {
        if foreign {
            return Ok(Greeting::Bare(fd));
        }
        Pending::start(fd, timeout).map(Greeting::Framed)
    }

    fn deadline(&self) -> Option<Instant> {
        match self {
            Greeting::Framed(p) => p.deadline(),
            Greeting::Bare(_) => None,
        }
    }

    fn advance(&mut self) -> Result<bool> {
        match self {
            Greeting::Framed(p) => p.advance(),
            Greeting::Bare(_) => Ok(true),
        }
    }

    /// The connection's halves; the receiving half takes at most `max_fds` descriptors
    /// per message.
    fn into_halves(self, max_fds: usize) -> Result<(Sender<T>, Receiver<T>)> {
        match self {
            Greeting::Framed(p) => p.into_halves(max_fds),
            Greeting::Bare(fd) => conn::bare(fd, max_fds),
        }
    }
}

impl<T> AsFd for Greeting<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Greeting::Framed(p) => p.as_fd(),
            Greeting::Bare(fd) => fd.as_fd(),
        }
    }
}

/// A Unix stream connection accepted by an [`Incoming`], its handshake under way.
pub struct UnixHandshake<T> {
    greeting: Greeting<T>,
    max_fds: usize,
}

impl<T> AsFd for UnixHandshake<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.greeting.as_fd()
    }
}

impl<T: Message> sealed::Handshake<socket::Stream<T>> for UnixHandshake<T> {
    fn deadline(&self) -> Option<Instant> {
        self.greeting.deadline()
    }

    fn advance(&mut self) -> Result<bool> {
        self.greeting.advance()
    }

    fn finish(self) -> Result<socket::Stream<T>> {
        let (tx, rx) = self.greeting.into_halves(self.max_fds)?;
        Ok(socket::Stream::from_halves(tx, rx))
    }
}

impl<T: Message> sealed::Sealed for socket::Listener<T> {}

impl<T: Message> Listen<T> for socket::Listener<T> {
    type Conn = socket::Stream<T>;
    type Handshake = UnixHandshake<T>;

    fn set_nonblocking(&self) -> Result<()> {
        self.raw().set_nonblocking()
    }

    fn accept_greeted(&self) -> Result<UnixHandshake<T>> {
        let raw = self.raw();
        let fd = raw.accept_fd(deadline::Wait::Now)?;
        let opts = raw.opts();
        Ok(UnixHandshake {
            greeting: Greeting::start(fd, opts.handshake_timeout, opts.foreign)?,
            max_fds: opts.max_fds,
        })
    }
}

/// A TCP connection accepted by an [`Incoming`], its handshake under way.
pub struct TcpHandshake<T> {
    greeting: Greeting<T>,
    peer: SocketAddr,
}

impl<T> AsFd for TcpHandshake<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.greeting.as_fd()
    }
}

impl<T: Message> sealed::Handshake<tcp::Stream<T>> for TcpHandshake<T> {
    fn deadline(&self) -> Option<Instant> {
        self.greeting.deadline()
    }

    fn advance(&mut self) -> Result<bool> {
        self.greeting.advance()
    }

    fn finish(self) -> Result<tcp::Stream<T>> {
        // No descriptors travel over TCP.
        let (tx, rx) = self.greeting.into_halves(0)?;
        Ok(tcp::Stream::from_halves(tx, rx, self.peer))
    }
}

impl<T: Message> sealed::Sealed for tcp::Listener<T> {}

impl<T: Message> Listen<T> for tcp::Listener<T> {
    type Conn = tcp::Stream<T>;
    type Handshake = TcpHandshake<T>;

    fn set_nonblocking(&self) -> Result<()> {
        tcp::Listener::set_nonblocking(self)
    }

    fn accept_greeted(&self) -> Result<TcpHandshake<T>> {
        let (fd, peer) = self.accept_now()?;
        Ok(TcpHandshake {
            greeting: Greeting::start(fd, self.handshake_timeout(), self.is_foreign())?,
            peer,
        })
    }
}

/// A seqpacket connection accepted by an [`Incoming`], greeted, its sender's handshake
/// (one datagram) not yet read.
pub struct SeqPacketHandshake<T> {
    conn: socket::SeqPacket<T>,
    /// When the connection is closed if its handshake has not come; `None` for a timeout
    /// the clock cannot represent (never).
    deadline: Option<Instant>,
}

impl<T> AsFd for SeqPacketHandshake<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }
}

impl<T: Message> sealed::Handshake<socket::SeqPacket<T>> for SeqPacketHandshake<T> {
    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    fn advance(&mut self) -> Result<bool> {
        match self.conn.read_hello(deadline::Wait::Now) {
            Ok(()) => Ok(true),
            Err(Error::Empty) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn finish(self) -> Result<socket::SeqPacket<T>> {
        Ok(self.conn)
    }
}

impl<T: Message> sealed::Sealed for socket::SeqPacketListener<T> {}

impl<T: Message> Listen<T> for socket::SeqPacketListener<T> {
    type Conn = socket::SeqPacket<T>;
    type Handshake = SeqPacketHandshake<T>;

    fn set_nonblocking(&self) -> Result<()> {
        self.raw().set_nonblocking()
    }

    fn accept_greeted(&self) -> Result<SeqPacketHandshake<T>> {
        let raw = self.raw();
        let fd = raw.accept_fd(deadline::Wait::Now)?;
        Ok(SeqPacketHandshake {
            conn: socket::SeqPacket::greet(fd, deadline::Wait::Now)?,
            deadline: deadline_after(raw.opts().handshake_timeout),
        })
    }
}

/// The receiving end that [`bind`](crate::endpoint::bind) makes of a Unix, seqpacket or
/// TCP endpoint: it accepts every sender that connects and receives from all of them, each
/// sender's messages in order, the senders in turn (a busy one does not starve the
/// others).
///
/// No sender holds up the receiver, or the other senders, in its handshake: a connection
/// is accepted without waiting and greeted at once, and its sender's handshake is read as
/// its bytes arrive, polled beside the senders' connections. So `try_recv` never waits,
/// `recv_timeout` keeps to its bound, and a good sender is received however many
/// connections say nothing (or a byte at a time). Each connection has the listener's
/// handshake timeout ([`socket::Options::handshake_timeout`],
/// [`tcp::Listener::set_handshake_timeout`]; 10 s by default) from its accept to complete
/// its handshake; a receive that finds it past that closes it. Messages a sender writes
/// right behind its handshake are received.
///
/// A sender that leaves is dropped quietly, and the end waits for others: it is never
/// [`Error::Disconnected`], since another sender may always come. A sender whose bytes
/// are bad gives its error (`SchemaMismatch`, `Corrupt`, ...) from the receive that met
/// them, and is dropped if they were its handshake; a peer the listener's policy refuses
/// ([`socket::Options::allow_uid`], ...) gives [`Error::PermissionDenied`] and is
/// dropped.
///
/// It has no `AsFd`: it waits on the listener and every connection at once, so no one
/// descriptor tells that a message is waiting.
pub struct Incoming<L: Listen<T>, T: Message> {
    listener: L,
    conns: Vec<L::Conn>,
    /// Connections accepted whose sender's handshake is not yet whole.
    handshakes: Vec<L::Handshake>,
    /// The connection to look at first, so that each gets its turn.
    next: usize,
}

impl<L: Listen<T>, T: Message> Incoming<L, T> {
    /// Receives from the senders that `listener` accepts. The listener is made
    /// non-blocking: the receiver accepts every connection queued, until none is left.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the listener cannot be made non-blocking.
    pub fn new(listener: L) -> Result<Self> {
        listener.set_nonblocking()?;
        Ok(Incoming {
            listener,
            conns: Vec::new(),
            handshakes: Vec::new(),
            next: 0,
        })
    }

    /// How many senders are connected now, their handshake done.
    pub fn senders(&self) -> usize {
        self.conns.len()
    }

    /// How many connections are accepted whose sender's handshake is under way.
    pub fn handshaking(&self) -> usize {
        self.handshakes.len()
    }

    /// The next message any connection holds already, in turn.
    fn ready(&mut self) -> Result<Option<T>> {
        let n = self.conns.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            match self.conns[i].try_recv() {
                Ok(msg) => {
                    self.next = (i + 1) % n;
                    return Ok(Some(msg));
                }
                Err(Error::Empty) => {}
                Err(Error::Disconnected) => {
                    self.conns.swap_remove(i);
                    // What sat after it now sits at `i`: look again from the start.
                    return self.ready();
                }
                Err(e) => {
                    self.next = (i + 1) % n;
                    return Err(e);
                }
            }
        }
        Ok(None)
    }

    /// Waits, as `wait` allows but never past the first handshake deadline, until the
    /// listener, a connection or a handshake under way has something; then reads what
    /// arrived of each handshake (a connection whose handshake is whole joins the
    /// senders; one past its deadline, or whose sender left, is closed) and accepts every
    /// queued connection.
    ///
    /// # Errors
    ///
    /// A bad handshake (that connection is closed; the others are read by the next
    /// call), the errors of [`Listen::accept_greeted`] but `Empty` and `Full`, and the
    /// wait's ([`Error::Shutdown`], [`Error::Io`] of `poll`).
    fn poll(&mut self, wait: &deadline::Wait) -> Result<()> {
        use sealed::Handshake;
        let served = self.conns.len();
        let ready: Vec<bool> = {
            let mut fds = Vec::with_capacity(2 + served + self.handshakes.len());
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
            fds.extend(
                self.conns
                    .iter()
                    .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
            );
            fds.extend(
                self.handshakes
                    .iter()
                    .map(|h| PollFd::new(h.as_fd(), PollFlags::POLLIN)),
            );
            let first = self.handshakes.iter().filter_map(|h| h.deadline()).min();
            fd::wait_any(&mut fds, &cut_short(wait, first))?;
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let now = Instant::now();
        for j in (0..self.handshakes.len()).rev() {
            let h = &mut self.handshakes[j];
            let whole = if ready[1 + served + j] {
                h.advance()
            } else {
                Ok(false)
            };
            match whole {
                Ok(false) if h.deadline().is_none_or(|at| now < at) => {}
                Ok(true) => {
                    let conn = self.handshakes.swap_remove(j).finish()?;
                    self.conns.push(conn);
                }
                // Past its deadline, or its sender left: not a sender.
                Ok(false) | Err(Error::Disconnected) => drop(self.handshakes.swap_remove(j)),
                Err(e) => {
                    drop(self.handshakes.swap_remove(j));
                    return Err(e);
                }
            }
        }
        if ready[0] {
            self.accept_all()?;
        }
        Ok(())
    }

    /// Accepts every connection queued on the listener, greeting each: one whose
    /// handshake is whole already (a foreign peer's, or one its sender wrote before the
    /// accept) joins the senders, the others wait among the handshakes.
    fn accept_all(&mut self) -> Result<()> {
        use sealed::Handshake;
        loop {
            let mut h = match self.listener.accept_greeted() {
                Ok(h) => h,
                Err(Error::Empty) => return Ok(()),
                // No room for our handshake in a fresh socket: that peer is closed.
                Err(Error::Full) => continue,
                Err(e) => return Err(e),
            };
            match h.advance() {
                Ok(false) => self.handshakes.push(h),
                Ok(true) => self.conns.push(h.finish()?),
                Err(Error::Disconnected) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// `wait`, cut short at `at` (a handshake's deadline) if that comes first.
fn cut_short(wait: &deadline::Wait, at: Option<Instant>) -> deadline::Wait {
    let until =
        |at: Instant| deadline::Wait::Until(at, at.saturating_duration_since(Instant::now()));
    match (*wait, at) {
        (deadline::Wait::Forever, Some(at)) => until(at),
        (deadline::Wait::Until(end, _), Some(at)) if at < end => until(at),
        (wait, _) => wait,
    }
}

impl<L: Listen<T>, T: Message> Rx<T> for Incoming<L, T> {
    /// Receives the next message a sender has sent, the senders in turn; meanwhile
    /// accepts new connections and reads their handshakes as they arrive, waiting for
    /// none of them.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] for [`Wait::Now`] and [`Error::Timeout`] for [`Wait::For`] if no
    /// message came in time (never [`Error::Disconnected`]); a sender's bad message or
    /// handshake, a refused peer and the listener's errors, as the type docs say.
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        let wait = deadline::Wait::from(wait);
        let mut polled = false;
        loop {
            if let Some(msg) = self.ready()? {
                return Ok(msg);
            }
            // One poll even for `Now`: connections queued, and handshakes that arrived,
            // are taken in without waiting.
            if polled && (matches!(wait, deadline::Wait::Now) || wait.is_over()) {
                return Err(wait.recv_expired());
            }
            self.poll(&wait)?;
            polled = true;
        }
    }
}
