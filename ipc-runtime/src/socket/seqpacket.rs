//! `SOCK_SEQPACKET` Unix sockets: one datagram per message, with message boundaries kept
//! by the kernel.
//!
//! Each side first sends one datagram holding its codec handshake, and checks the peer's
//! (so another schema is refused at connect, naming both types and the first field that
//! differs). Each message is then one
//! datagram: the 8-byte little-endian fingerprint of `T`, then the `size_of::<T>()`
//! message bytes. A received datagram of any other length is [`Error::Corrupt`] (one
//! longer than expected is detected with `MSG_TRUNC`, never silently cut), a wrong
//! fingerprint is [`Error::SchemaMismatch`], and the bytes are validated before a `T` is
//! produced. Datagrams are atomic, so a bounded send writes all or nothing.
//!
//! A datagram must fit the socket's send buffer (`SO_SNDBUF`, `net.core.wmem_default` for
//! a new socket): a message type too large for it is refused at send with
//! [`Error::LimitExceeded`] naming `SO_SNDBUF` and the sysctls that raise it.

use std::fmt;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{MsgFlags, SockType};

use super::sys::{self, CmsgBuf, Wait};
use super::{bind, Options, PeerCred, RawListener};
use crate::codec;
use crate::contract::{self, Rx, Tx};
use crate::error::{Error, Result, SchemaId};
use crate::message::{self, Message};

const FP_LEN: usize = 8;

/// The error of a datagram larger than the socket's send buffer (`EMSGSIZE`): a
/// `SOCK_SEQPACKET` datagram must fit `SO_SNDBUF` whole.
fn datagram_too_large(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> Error {
    let len: usize = bufs.iter().map(|b| b.len()).sum();
    let sndbuf = nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::SndBuf)
        .map(|v| v as u64)
        .unwrap_or(0);
    Error::LimitExceeded {
        limit: "SO_SNDBUF (the socket's send buffer; new sockets get net.core.wmem_default)",
        value: sndbuf,
        hint: format!(
            "a {len}-byte datagram (8-byte fingerprint + message) must fit the send buffer \
             whole; raise it as root with `sysctl -w net.core.wmem_default=N` (and \
             net.core.wmem_max, its cap for SO_SNDBUF) before the socket is made, send a \
             smaller type, or use a stream socket or shared memory"
        ),
    }
}

/// A listening `SOCK_SEQPACKET` Unix socket whose connections carry `T`.
pub struct SeqPacketListener<T> {
    raw: RawListener,
    _t: PhantomData<fn() -> T>,
}

impl<T> AsFd for SeqPacketListener<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T] SeqPacketListener<T>);

impl<T> fmt::Debug for SeqPacketListener<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqPacketListener")
            .field("raw", &self.raw)
            .finish()
    }
}

impl<T: Message> SeqPacketListener<T> {
    /// Binds to `path`, as [`super::Listener::bind`] does.
    ///
    /// # Errors
    ///
    /// As [`super::Listener::bind`].
    pub fn bind(path: impl AsRef<Path>) -> Result<Self> {
        Self::bind_with(path, Options::new())
    }

    /// Binds to `path` with `opts`.
    ///
    /// # Errors
    ///
    /// As [`super::Listener::bind`].
    pub fn bind_with(path: impl AsRef<Path>, opts: Options) -> Result<Self> {
        opts.refuse_foreign("a seqpacket socket")?;
        let raw = RawListener::bind(path.as_ref(), SockType::SeqPacket, opts)?;
        raw.describe::<T>();
        Ok(SeqPacketListener {
            raw,
            _t: PhantomData,
        })
    }

    /// Waits for a client and exchanges handshakes with it.
    ///
    /// # Errors
    ///
    /// As [`super::Listener::accept`].
    pub fn accept(&self) -> Result<SeqPacket<T>> {
        let fd = self.raw.accept_fd(Wait::Forever)?;
        SeqPacket::handshake(fd, self.raw.opts())
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

/// Datagrams up to this size are copied into one buffer and sent with `send(2)`; larger
/// ones are gathered by `sendmsg(2)`. Measured up to 4 KiB, the copy and `send` beat the
/// gather at every size (4 KiB one-way stream 1.00x raw against 1.05-1.15x); above 8 KiB
/// it is not measured, and the gather saves a large copy.
const CONTIGUOUS: usize = 8 * 1024;

/// A connected `SOCK_SEQPACKET` Unix socket carrying `T` both ways, one datagram per
/// message.
pub struct SeqPacket<T> {
    fd: OwnedFd,
    buf: Box<[u8]>,
    /// The outgoing datagram, fingerprint first, when it is at most [`CONTIGUOUS`] bytes
    /// (empty otherwise).
    out: Box<[u8]>,
    cmsg: CmsgBuf,
    /// The error a batched receive met after its first datagram, for the next receive.
    held: contract::Held,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for SeqPacket<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqPacket").field("fd", &self.fd).finish()
    }
}

impl<T: Message> SeqPacket<T> {
    /// Connects to the [`SeqPacketListener`] at `path` and exchanges handshakes.
    ///
    /// # Errors
    ///
    /// As [`super::Stream::connect`].
    pub fn connect(path: impl AsRef<Path>) -> Result<Self> {
        Self::connect_with(path, &Options::new())
    }

    /// As [`SeqPacket::connect`], with the handshake timeout of `opts` (which also bounds
    /// the wait for room in the listener's backlog).
    ///
    /// # Errors
    ///
    /// As [`super::Stream::connect_with`].
    pub fn connect_with(path: impl AsRef<Path>, opts: &Options) -> Result<Self> {
        opts.refuse_foreign("a seqpacket socket")?;
        let wait = Wait::timeout(opts.handshake_timeout);
        let fd = bind::connect(path.as_ref(), SockType::SeqPacket, wait)?;
        Self::handshake(fd, opts)
    }

    /// Adopts a connected `SOCK_SEQPACKET` Unix socket (one end of a `socketpair`, or one
    /// inherited from a parent process) and exchanges handshakes over it.
    ///
    /// # Errors
    ///
    /// As [`SeqPacket::connect`] after the connection is made.
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        Self::handshake(fd, &Options::new())
    }

    fn handshake(fd: OwnedFd, opts: &Options) -> Result<Self> {
        opts.refuse_foreign("a seqpacket socket")?;
        let mut s = Self::greet(fd, Wait::Forever)?;
        s.read_hello(Wait::timeout(opts.handshake_timeout))?;
        Ok(s)
    }

    /// The connection over `fd` with our handshake sent, waiting for room as `wait` says
    /// (a datagram goes whole or not at all); the peer's is read by
    /// [`SeqPacket::read_hello`].
    ///
    /// # Errors
    ///
    /// [`Error::Full`] ([`Wait::Now`]) or [`Error::Timeout`] if there was no room in
    /// time, as a send otherwise. A peer already gone is no error: what it sent before it
    /// left is still to be read.
    pub(crate) fn greet(fd: OwnedFd, wait: Wait) -> Result<Self> {
        let s = SeqPacket {
            fd,
            buf: vec![0; codec::max_frame_len::<T>().max(FP_LEN + size_of::<T>()) + 1]
                .into_boxed_slice(),
            out: if FP_LEN + size_of::<T>() <= CONTIGUOUS {
                let mut out = vec![0; FP_LEN + size_of::<T>()];
                out[..FP_LEN].copy_from_slice(&T::FINGERPRINT.to_le_bytes());
                out.into_boxed_slice()
            } else {
                Box::default()
            },
            cmsg: CmsgBuf::new(1),
            held: contract::Held::default(),
            _t: PhantomData,
        };
        // A peer that sent its handshake and messages and closed at once has still sent
        // them: failing to greet it must not lose what it sent, so read on.
        match s.send_datagram(&[IoSlice::new(&codec::hello::<T>())], wait) {
            Ok(()) | Err(Error::Disconnected) => Ok(s),
            Err(e) => Err(e),
        }
    }

    /// Reads the peer's handshake, one datagram, waiting for it as `wait` says, and checks
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] ([`Wait::Now`]) or [`Error::Timeout`] if it has not come in time;
    /// [`Error::Disconnected`] if the peer closed first; [`Error::Corrupt`] for a datagram
    /// that is not a handshake, [`Error::SchemaMismatch`] for one of another type;
    /// [`Error::Shutdown`], [`Error::Io`].
    pub(crate) fn read_hello(&mut self, wait: Wait) -> Result<()> {
        let n = self.recv_datagram(wait)?;
        match codec::decode_hello::<T>(&self.buf[..n])? {
            Some(used) if used == n => Ok(()),
            _ => Err(Error::Corrupt(
                "the peer's first datagram is not an ipc handshake".into(),
            )),
        }
    }

    /// The peer's pid, uid and gid (`SO_PEERCRED`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the kernel does not report them.
    pub fn peer_cred(&self) -> Result<PeerCred> {
        super::peer_cred(self.fd.as_fd())
    }

    /// Sends the fingerprint and `msg` as one datagram (see [`CONTIGUOUS`]).
    #[inline]
    fn send_frame(&mut self, msg: &T, wait: Wait) -> Result<()> {
        if !self.out.is_empty() {
            self.out[FP_LEN..].copy_from_slice(message::as_bytes(msg));
            return self.send_datagram(&[IoSlice::new(&self.out)], wait);
        }
        let fp = T::FINGERPRINT.to_le_bytes();
        let bufs = [IoSlice::new(&fp), IoSlice::new(message::as_bytes(msg))];
        self.send_datagram(&bufs, wait)
    }

    fn send_datagram(&self, bufs: &[IoSlice<'_>], wait: Wait) -> Result<()> {
        loop {
            match sys::send(self.fd.as_fd(), bufs, &[], wait.msg_flags()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => sys::again(self.fd.as_fd(), PollFlags::POLLOUT, wait, true)?,
                Err(Errno::EMSGSIZE) => return Err(datagram_too_large(self.fd.as_fd(), bufs)),
                Err(e) => return Err(Error::sys("sendmsg", e)),
            }
        }
    }

    /// Receives one datagram into `self.buf`; returns its length. A datagram longer than
    /// the buffer is an error (`MSG_TRUNC`), as is end of stream.
    fn recv_datagram(&mut self, wait: Wait) -> Result<usize> {
        let mut iov = [libc::iovec {
            iov_base: self.buf.as_mut_ptr().cast(),
            iov_len: self.buf.len(),
        }];
        // SAFETY: the one iovec covers `self.buf`, which `&mut self` keeps to this call.
        let n = unsafe { Self::recv_scattered(self.fd.as_fd(), &mut self.cmsg, &mut iov, wait)? };
        if n > self.buf.len() {
            return Err(Error::Corrupt(format!(
                "a datagram of {n} bytes, longer than any frame of `{}` ({} bytes): \
                 the peer sends another type or is not ipc",
                T::SCHEMA,
                FP_LEN + size_of::<T>()
            )));
        }
        Ok(n)
    }

    /// Receives one datagram scattered over `iov`, retrying `EINTR` and waiting as `wait`
    /// says; returns its whole length (with `MSG_TRUNC`, more than `iov` holds if it was
    /// longer). An empty datagram is end of stream or bad input ([`Self::empty_datagram`]).
    ///
    /// # Safety
    ///
    /// As [`sys::recv_iov`]: each iovec points at memory writable for the call that nothing
    /// else uses meanwhile.
    unsafe fn recv_scattered(
        fd: BorrowedFd<'_>,
        cmsg: &mut CmsgBuf,
        iov: &mut [libc::iovec],
        wait: Wait,
    ) -> Result<usize> {
        loop {
            let flags = wait.msg_flags() | MsgFlags::MSG_TRUNC;
            // SAFETY: the caller's promise about `iov`.
            match unsafe { sys::recv_iov(fd, iov, cmsg, flags) } {
                Ok(r) if r.len == 0 && !r.truncated => return Err(Self::empty_datagram(fd)),
                Ok(r) => return Ok(r.len),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => sys::again(fd, PollFlags::POLLIN, wait, false)?,
                Err(e) => return Err(Error::sys("recvmsg", e)),
            }
        }
    }

    /// A read of 0 bytes is the end of the stream (the peer closed, or shut its side down
    /// for writing and will send nothing more), or an empty datagram from a live peer.
    fn empty_datagram(fd: BorrowedFd<'_>) -> Error {
        match crate::fd::peer_shut_down(fd) {
            Ok(true) => Error::Disconnected,
            Ok(false) => Error::Corrupt(format!(
                "an empty datagram where `{}` datagrams have {} bytes: the peer is not ipc",
                T::SCHEMA,
                FP_LEN + size_of::<T>()
            )),
            Err(e) => e,
        }
    }

    /// Receives one message by value: the kernel scatters the datagram over the
    /// fingerprint, the `T` being returned and one spare byte (which catches a longer
    /// datagram), so the message is copied once, not through `self.buf`. Out of line, so
    /// that the result is written with one copy (see `mq::Receiver::recv_with`).
    #[inline(never)]
    fn recv_msg(&mut self, wait: Wait) -> Result<T> {
        let mut fp = [0u8; FP_LEN];
        let mut msg = MaybeUninit::<T>::uninit();
        let mut spare = [0u8; 1];
        let mut iov = [
            libc::iovec {
                iov_base: fp.as_mut_ptr().cast(),
                iov_len: FP_LEN,
            },
            libc::iovec {
                iov_base: msg.as_mut_ptr().cast(),
                iov_len: size_of::<T>(),
            },
            libc::iovec {
                iov_base: spare.as_mut_ptr().cast(),
                iov_len: spare.len(),
            },
        ];
        // SAFETY: the three iovecs cover `fp`, `msg` (`size_of::<T>()` bytes, written only
        // by the kernel; read below only once it reported them all written) and `spare`,
        // locals borrowed for the whole call.
        let n = unsafe { Self::recv_scattered(self.fd.as_fd(), &mut self.cmsg, &mut iov, wait)? };
        // With MSG_TRUNC the length is the datagram's, however long.
        self.check_frame(n, u64::from_le_bytes(fp))?;
        // SAFETY: `n == FP_LEN + size_of::<T>()` (checked), so the kernel wrote every byte
        // of `msg`, a local nobody else can reach.
        let bytes =
            unsafe { core::slice::from_raw_parts(msg.as_ptr().cast::<u8>(), size_of::<T>()) };
        if !const { T::SCHEMA.accepts_any_bits() } {
            T::validate(bytes).map_err(Error::from)?;
        }
        // SAFETY: all bytes written (above), and either every bit pattern is a `T` or
        // `T::validate` accepted them, which by the `Message` contract makes them a `T`.
        Ok(unsafe { msg.assume_init() })
    }

    /// Receives one datagram and checks its size and fingerprint; returns its length.
    fn recv_checked(&mut self, wait: Wait) -> Result<usize> {
        let n = self.recv_datagram(wait)?;
        let mut fp = [0; FP_LEN];
        if let Some(head) = self.buf.get(..FP_LEN).filter(|_| n >= FP_LEN) {
            fp.copy_from_slice(head);
        }
        // A datagram shorter than the fingerprint fails the length check first.
        self.check_frame(n, u64::from_le_bytes(fp))?;
        Ok(n)
    }

    /// Checks a datagram's length `n` and fingerprint `fp`.
    fn check_frame(&self, n: usize, fp: u64) -> Result<()> {
        if n != FP_LEN + size_of::<T>() {
            return Err(Error::Corrupt(format!(
                "a datagram of {n} bytes where `{}` datagrams have {}: the peer sends another \
                 type or is not ipc",
                T::SCHEMA,
                FP_LEN + size_of::<T>()
            )));
        }
        if fp != T::FINGERPRINT {
            let expected = SchemaId::of::<T>();
            let found = SchemaId {
                name: "an unknown type".into(),
                fingerprint: fp,
                ..expected.clone()
            };
            return Err(Error::mismatch(expected, found, None));
        }
        Ok(())
    }
}

impl<T: Message> Tx<T> for SeqPacket<T> {
    /// Sends the fingerprint and `*msg` as one datagram.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the peer is gone (never `SIGPIPE`), [`Error::Full`] or
    /// [`Error::Timeout`] if there was no room in time, [`Error::Shutdown`],
    /// [`Error::Io`] otherwise.
    #[inline]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        self.send_frame(msg, wait.into())
    }
}

impl<T: Message> Rx<T> for SeqPacket<T> {
    /// Receives the next datagram and checks its size, fingerprint and bit pattern.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the peer has closed; [`Error::Empty`] or
    /// [`Error::Timeout`] if none came in time; [`Error::Corrupt`] for a datagram of the
    /// wrong size; [`Error::SchemaMismatch`] for a wrong fingerprint;
    /// [`Error::InvalidMessage`] for invalid bytes; [`Error::Shutdown`]; [`Error::Io`]
    /// otherwise. The offending datagram is consumed.
    #[inline]
    fn recv_wait(&mut self, wait: contract::Wait) -> Result<T> {
        self.held.take()?;
        self.recv_msg(wait.into())
    }

    /// The datagram is checked for size, fingerprint and bit pattern before a byte of
    /// `*out` is written, then copied once into `*out`.
    #[inline]
    fn recv_into_wait(&mut self, out: &mut T, wait: contract::Wait) -> Result<()> {
        self.held.take()?;
        let n = self.recv_checked(wait.into())?;
        Ok(crate::codec::copy_validated(&self.buf[FP_LEN..n], out)?)
    }

    /// One `recv` per datagram. An error met after the first (a refused datagram, which
    /// the kernel has already handed over) is returned by the next receive of the family.
    fn recv_many_wait(&mut self, out: &mut [T], wait: contract::Wait) -> Result<usize> {
        self.held.take()?;
        let batch = contract::recv_each(out, wait, |m, w| self.recv_into_wait(m, w))?;
        Ok(self.held.keep(batch))
    }
}

contract::sending_end!(impl<T> SeqPacket<T>, T);
contract::receiving_end!(impl<T> SeqPacket<T>, T);

impl<T> AsFd for SeqPacket<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T] SeqPacket<T>);
