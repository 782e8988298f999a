//! Request/response over stream sockets: a [`Client`] that calls and a [`Server`] that
//! answers, typed by a request and a response message. The core here is shared with
//! [`crate::tcp`].

use std::convert::Infallible;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::socket::SockType;

use super::conn::{self, Receiver, Sender};
use super::sys::Wait;
use super::{bind, Options, PeerCred, RawListener};
use crate::error::{Error, Result};
use crate::message::Message;

/// The calling side of a connection: sends `Req`, receives `Resp`.
pub(crate) struct Caller<Req, Resp> {
    tx: Sender<Req>,
    rx: Receiver<Resp>,
    /// Requests sent whose responses were not read (a call that timed out).
    outstanding: u64,
}

impl<Req: Message, Resp: Message> Caller<Req, Resp> {
    pub(crate) fn new(tx: Sender<Req>, rx: Receiver<Resp>) -> Self {
        Caller {
            tx,
            rx,
            outstanding: 0,
        }
    }

    pub(crate) fn call(&mut self, req: Req, wait: Wait) -> Result<Resp> {
        // Responses to calls that timed out come first: skip them, so answers never
        // shift by one.
        while self.outstanding > 0 {
            self.recv(wait)?;
            self.outstanding -= 1;
        }
        self.tx.send_frame(req, &[], wait)?;
        self.outstanding += 1;
        let resp = self.recv(wait)?;
        self.outstanding -= 1;
        Ok(resp)
    }

    fn recv(&mut self, wait: Wait) -> Result<Resp> {
        self.rx.recv_inner(wait)
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// Something that accepts connections for a server loop.
pub(crate) trait Accept: AsFd {
    /// Accepts one connection without waiting for it (`Error::Empty` if none is queued)
    /// and exchanges handshakes.
    fn accept_conn<Out: Message, In: Message>(&self) -> Result<(Sender<Out>, Receiver<In>)>;
}

/// The connections a server answers.
pub(crate) struct Serving<Req, Resp> {
    conns: Vec<(Receiver<Req>, Sender<Resp>)>,
    send_timeout: Duration,
}

impl<Req: Message, Resp: Message> Serving<Req, Resp> {
    pub(crate) fn new(send_timeout: Duration) -> Self {
        Serving {
            conns: Vec::new(),
            send_timeout,
        }
    }

    pub(crate) fn clients(&self) -> usize {
        self.conns.len()
    }

    /// Answers requests on every connection, accepting new ones, until `clients` (if
    /// given) connections have ended. One thread, `poll(2)` over all connections.
    pub(crate) fn run<L: Accept>(
        &mut self,
        listener: &L,
        handler: &mut dyn FnMut(Req) -> Resp,
        mut clients: Option<usize>,
    ) -> Result<()> {
        loop {
            if clients == Some(0) {
                return Ok(());
            }
            let ready: Vec<bool> = {
                let mut fds = Vec::with_capacity(self.conns.len() + 1);
                fds.push(PollFd::new(listener.as_fd(), PollFlags::POLLIN));
                for (rx, _) in &self.conns {
                    fds.push(PollFd::new(rx.as_fd(), PollFlags::POLLIN));
                }
                // A connection may hold whole requests already read: do not wait then.
                let buffered = self.conns.iter().any(|(rx, _)| rx.buffered() > 0);
                let timeout = if buffered {
                    PollTimeout::ZERO
                } else {
                    PollTimeout::NONE
                };
                match nix::poll::poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(Error::sys("poll", e)),
                }
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect()
            };
            for i in (0..self.conns.len()).rev() {
                if (ready[i + 1] || self.conns[i].0.buffered() > 0) && !self.answer(i, handler) {
                    let (_, mut tx) = self.conns.swap_remove(i);
                    // A client that does not read its answers must not stall the others.
                    tx.abandon();
                    if let Some(n) = clients.as_mut() {
                        *n -= 1;
                    }
                }
            }
            if ready[0] {
                match listener.accept_conn::<Resp, Req>() {
                    Ok((tx, rx)) => self.conns.push((rx, tx)),
                    // A failed accept concerns one client, except a system error
                    // (EMFILE, say), which would repeat forever.
                    Err(Error::Io { op, source }) if op == "accept4" => {
                        return Err(Error::Io { op, source })
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Answers every request connection `i` has ready; false once it is finished.
    fn answer(&mut self, i: usize, handler: &mut dyn FnMut(Req) -> Resp) -> bool {
        let (rx, tx) = &mut self.conns[i];
        loop {
            match rx.try_recv() {
                Ok(req) => {
                    if tx.send_timeout(handler(req), self.send_timeout).is_err() {
                        return false;
                    }
                    // Nothing more read: back to poll, which reports what else arrives
                    // (cheaper than a receive that would say EAGAIN).
                    if rx.buffered() == 0 {
                        return true;
                    }
                }
                Err(Error::Empty) => return true,
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
            .field("outstanding", &self.caller.outstanding)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to the [`Server`] at `path`. The handshake checks both directions: the
    /// server must take `Req` and answer `Resp`.
    ///
    /// # Errors
    ///
    /// As [`super::Stream::connect`]; [`Error::SchemaMismatch`] if the server's request or
    /// response type differs.
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(path, &Options::new())
    }

    /// As [`Client::connect`], with the handshake timeout of `opts`.
    ///
    /// # Errors
    ///
    /// As [`Client::connect`].
    pub fn connect_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self> {
        let wait = Wait::timeout(opts.handshake_timeout);
        let fd = bind::connect(path.as_ref(), SockType::Stream, wait)?;
        let (tx, rx) = conn::handshake::<Req, Resp>(fd, opts.handshake_timeout, opts.max_fds)?;
        Ok(Client {
            caller: Caller::new(tx, rx),
        })
    }

    /// Sends `req` and waits for the response.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the server is gone (or dropped this client after a bad
    /// request); the receive errors of [`super::Stream::recv`] for a bad response.
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

/// A request/response server on a Unix socket path: receives `Req`, answers `Resp`.
///
/// It serves any number of clients from one thread (`poll(2)`), answering each request
/// with the handler's result in order. A client that sends garbage, leaves, or does not
/// read its answers within the handshake timeout is dropped; the others are unaffected.
/// A client's handshake is awaited inside the loop (at most the handshake timeout).
pub struct Server<Req: Message, Resp: Message> {
    raw: RawListener,
    serving: Serving<Req, Resp>,
}

impl<Req: Message, Resp: Message> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.raw)
            .field("clients", &self.serving.clients())
            .finish()
    }
}

impl Accept for RawListener {
    fn accept_conn<Out: Message, In: Message>(&self) -> Result<(Sender<Out>, Receiver<In>)> {
        let fd = self.accept_fd(Wait::Now)?;
        conn::handshake::<Out, In>(fd, self.opts().handshake_timeout, self.opts().max_fds)
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
        let timeout = opts.handshake_timeout;
        Ok(Server {
            raw: RawListener::bind(path.as_ref(), SockType::Stream, opts)?,
            serving: Serving::new(timeout),
        })
    }

    /// The path this server is bound to.
    pub fn path(&self) -> &Path {
        self.raw.path()
    }

    /// Answers requests from every client with `handler`, forever.
    ///
    /// # Errors
    ///
    /// Returns only on a system error of the listener itself ([`Error::Io`], e.g. out
    /// of descriptors); errors of one client only drop that client.
    pub fn serve(&mut self, mut handler: impl FnMut(Req) -> Resp) -> Result<Infallible> {
        loop {
            // Without a client count, `run` returns only with an error.
            self.serving.run(&self.raw, &mut handler, None)?;
        }
    }

    /// Answers requests with `handler` until `clients` connections have ended.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    pub fn serve_clients(
        &mut self,
        clients: usize,
        mut handler: impl FnMut(Req) -> Resp,
    ) -> Result<()> {
        self.serving.run(&self.raw, &mut handler, Some(clients))
    }
}
