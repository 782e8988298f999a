//! [`Incoming`]: one receiving end over a listener, taking the messages of every sender
//! that connects.

use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags};

use crate::contract::{Rx, Wait};
use crate::deadline;
use crate::error::{Error, Result};
use crate::fd;
use crate::message::Message;
use crate::{socket, tcp};

/// A listener of connections that each carry messages of `T`.
pub trait Listen<T: Message>: AsFd {
    /// One connection.
    type Conn: Rx<T> + AsFd;

    /// Accepts the next connection (waiting for it), handshake included.
    ///
    /// # Errors
    ///
    /// The listener's own: a refused peer, a timeout of its handshake, a system limit.
    fn accept_conn(&self) -> Result<Self::Conn>;
}

impl<T: Message> Listen<T> for socket::Listener<T> {
    type Conn = socket::Stream<T>;

    fn accept_conn(&self) -> Result<Self::Conn> {
        self.accept()
    }
}

impl<T: Message> Listen<T> for socket::SeqPacketListener<T> {
    type Conn = socket::SeqPacket<T>;

    fn accept_conn(&self) -> Result<Self::Conn> {
        self.accept()
    }
}

impl<T: Message> Listen<T> for tcp::Listener<T> {
    type Conn = tcp::Stream<T>;

    fn accept_conn(&self) -> Result<Self::Conn> {
        self.accept()
    }
}

/// The receiving end that [`bind`](crate::endpoint::bind) makes of a Unix, seqpacket or
/// TCP endpoint: it accepts every sender that connects and receives from all of them, each
/// sender's messages in order, the senders in turn (a busy one does not starve the
/// others).
///
/// A sender that leaves is dropped quietly, and the end waits for others: it is never
/// [`Error::Disconnected`], since another sender may always come. A sender whose bytes
/// are bad gives its error (`SchemaMismatch`, `Corrupt`, ...) from the receive that met
/// them, and is dropped if it refused the handshake. Accepting a new sender runs its
/// handshake, which waits up to the listener's handshake timeout.
///
/// It has no `AsFd`: it waits on the listener and every connection at once, so no one
/// descriptor tells that a message is waiting.
pub struct Incoming<L: Listen<T>, T: Message> {
    listener: L,
    conns: Vec<L::Conn>,
    /// The connection to look at first, so that each gets its turn.
    next: usize,
}

impl<L: Listen<T>, T: Message> Incoming<L, T> {
    /// Receives from the senders that `listener` accepts.
    pub fn new(listener: L) -> Self {
        Incoming {
            listener,
            conns: Vec::new(),
            next: 0,
        }
    }

    /// How many senders are connected now.
    pub fn senders(&self) -> usize {
        self.conns.len()
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
}

impl<L: Listen<T>, T: Message> Rx<T> for Incoming<L, T> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        let wait = deadline::Wait::from(wait);
        loop {
            if let Some(msg) = self.ready()? {
                return Ok(msg);
            }
            let accept = {
                let mut fds = Vec::with_capacity(self.conns.len() + 2);
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                fds.extend(
                    self.conns
                        .iter()
                        .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
                );
                if !fd::wait_any(&mut fds, &wait)? {
                    return Err(wait.recv_expired());
                }
                fds[0].revents().is_some_and(|r| !r.is_empty())
            };
            if accept {
                match self.listener.accept_conn() {
                    Ok(conn) => self.conns.push(conn),
                    // A peer that left, or said nothing, during its handshake is simply
                    // not a sender; one that was refused (another schema) is reported.
                    Err(Error::Disconnected | Error::Timeout(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}
