//! The doorbell of an async receiver: a datagram socket in the abstract Unix namespace,
//! named by a random token that the receiver publishes in the segment header
//! (`rx_bell`). A sender that wakes the parked receiver posts its futex semaphore, as for
//! a sync receiver, and when the header holds a token also sends one byte to
//! `@ipc-bell.<token>`: the socket becomes readable and the receiver's runtime (`epoll`)
//! wakes its task. Why this design, against the others, is told in the `shm` module
//! docs ("Async").
//!
//! The sending side is in every build (a sync sender rings an async receiver of another
//! program); only the receiving side's registration with tokio is behind the feature. It
//! is one unbound socket per process, made when the process first creates or joins a
//! channel or topic ([`ready`]), so that no ring needs a descriptor.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};

use crate::error::{Error, Result};

/// The abstract address of the doorbell named `token`.
fn address(token: u64) -> Result<UnixAddr> {
    UnixAddr::new_abstract(format!("ipc-bell.{token:016x}").as_bytes())
        .map_err(|e| Error::sys("UnixAddr::new_abstract", e))
}

/// A non-blocking datagram socket (close-on-exec).
fn datagram_socket() -> Result<OwnedFd> {
    socket::socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket(AF_UNIX, SOCK_DGRAM)", e))
}

/// A random non-zero token (`getrandom(2)`; the clock and the pid if it fails).
fn random_token() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes; getrandom writes at most that many.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), libc::GRND_NONBLOCK) };
    let mut token = u64::from_ne_bytes(buf);
    if n != 8 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        token = now ^ (u64::from(std::process::id()) << 40);
    }
    token.max(1)
}

/// The receiving side: the bound socket and its token.
#[derive(Debug)]
pub(crate) struct Bell {
    fd: OwnedFd,
    token: u64,
}

impl Bell {
    /// Binds a doorbell under a fresh random name.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if no socket can be made or bound.
    pub(crate) fn new() -> Result<Bell> {
        let fd = datagram_socket()?;
        for _ in 0..8 {
            let token = random_token();
            match socket::bind(fd.as_raw_fd(), &address(token)?) {
                Ok(()) => return Ok(Bell { fd, token }),
                Err(Errno::EADDRINUSE) => continue,
                Err(e) => return Err(Error::sys("bind(doorbell)", e)),
            }
        }
        Err(Error::sys("bind(doorbell)", Errno::EADDRINUSE))
    }

    /// The token senders find in the header.
    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    /// Reads every ring queued so far (one `recv` per ring, and one that says `EAGAIN`).
    pub(crate) fn drain(&self) {
        let mut byte = [0u8; 8];
        loop {
            match socket::recv(self.fd.as_raw_fd(), &mut byte, MsgFlags::MSG_DONTWAIT) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    /// Sleeps until the bell rings, the shutdown eventfd (if armed) is readable, or
    /// `limit` passes, then reads every ring queued. For a sync waiter over many segments
    /// (the shared-memory request/response server, `shm/rpc/server.rs`).
    pub(crate) fn wait(&self, limit: Duration) {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        let shutdown = crate::shutdown::shutdown_fd();
        let mut fds = vec![PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        if let Some(fd) = shutdown {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let ms = limit.as_millis().clamp(1, i32::MAX as u128) as i32;
        // An error (EINTR) only ends the sleep early: the caller looks again.
        let _ = nix::poll::poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
        self.drain();
    }
}

impl AsFd for Bell {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Bell {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// This process's socket for ringing doorbells: made at the first call, and tried again
/// at the next one if it could not be (out of descriptors, say).
fn sender() -> Result<&'static OwnedFd> {
    static SENDER: OnceLock<OwnedFd> = OnceLock::new();
    match SENDER.get() {
        Some(fd) => Ok(fd),
        // Another thread's, if it made one first (then ours is closed).
        None => datagram_socket().map(|made| SENDER.get_or_init(|| made)),
    }
}

/// Makes this process's socket for ringing doorbells, if it has none yet. Every end of a
/// channel or topic calls it as it creates or joins one (one socket per process, kept
/// for its life): ringing an async peer later then needs no descriptor, so that a
/// process that runs out of them does not lose a ring (its peer would sleep until its
/// longest sleep ends, a minute, with a message waiting).
///
/// # Errors
///
/// [`Error::LimitExceeded`] if the process is out of descriptors.
pub(crate) fn ready() -> Result<()> {
    sender().map(|_| ())
}

/// True if this process can ring doorbells: its sending socket is made (now, if it was
/// not yet). A waiter whose death notices ring its doorbell asks before it registers, so
/// that the death notices' thread never needs a descriptor to tell it of a death.
pub(crate) fn can_ring() -> bool {
    sender().is_ok()
}

/// Rings the doorbell named `token`: one `sendto`, never blocking. False if the ring was
/// lost: this process could not make its sending socket (see [`can_ring`]), or the kernel
/// had no memory for the datagram; the caller then leaves the receiver marked as parked,
/// so that its next wake rings again. Other errors count as rung: a full queue means
/// rings are pending already (the socket is readable), and a bell that is gone belongs to
/// a receiver that left (or went back to its futex, which the caller posted too).
pub(crate) fn ring(token: u64) -> bool {
    let Ok(fd) = sender() else {
        return false;
    };
    let Ok(to) = address(token) else {
        return true;
    };
    let sent = socket::sendto(
        fd.as_raw_fd(),
        &[1],
        &to,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
    );
    !matches!(sent, Err(Errno::ENOBUFS | Errno::ENOMEM))
}
