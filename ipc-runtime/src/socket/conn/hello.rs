//! The handshake of a stream connection: each side sends its record at connect and reads
//! and checks the peer's (see [`crate::codec`], "The handshake").

use std::io::IoSlice;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::MsgFlags;

use super::super::sys::{self, Wait};
use super::{Receiver, Sender};
use crate::codec::{self, FrameReader, HEADER_LEN};
use crate::error::{Error, Result};
use crate::payload::Payload;

/// Sends the handshake for `Out`, then reads and checks the peer's, which must announce
/// `In`. Both sides do this, so each direction is checked once, at connect.
pub(crate) fn handshake<Out: ?Sized + Payload, In: ?Sized + Payload>(
    fd: OwnedFd,
    timeout: Duration,
    max_fds: usize,
) -> Result<(Sender<Out>, Receiver<In>)> {
    finish(start(fd, Wait::Forever)?, timeout, max_fds)
}

/// The first half of [`handshake`]: sends this side's, waiting for room as `wait` says.
/// With a bounded wait the handshake may go out in part (see [`Sender::pending`]).
pub(crate) fn start<Out: ?Sized + Payload>(fd: OwnedFd, wait: Wait) -> Result<Sender<Out>> {
    let mut tx = Sender::<Out>::new(Arc::new(fd));
    // A peer that sent its handshake and messages and closed at once has still sent
    // them: failing to greet it must not lose what it sent, so the receiving half goes
    // on (and the next send reports Disconnected).
    match tx.write_frame(&[IoSlice::new(&codec::hello::<Out>())], &[], wait) {
        Ok(()) | Err(Error::Disconnected) => Ok(tx),
        Err(e) => Err(e),
    }
}

/// The second half of [`handshake`]: reads and checks the peer's.
pub(crate) fn finish<Out: ?Sized + Payload, In: ?Sized + Payload>(
    tx: Sender<Out>,
    timeout: Duration,
    max_fds: usize,
) -> Result<(Sender<Out>, Receiver<In>)> {
    let mut hello = Hello::<In>::new();
    hello.read(tx.as_fd(), Wait::timeout(timeout))?;
    hello.into_halves(tx, max_fds)
}

/// The peer's handshake as it arrives, announcing `In`: read without a byte past its end,
/// so what the peer sent behind it (its first messages) stays in the socket for the
/// [`Receiver`]. The blocking [`handshake`] reads it at once; a server reads it a piece
/// at a time, as its bytes arrive, without waiting (`socket::pending`).
pub(crate) struct Hello<In: ?Sized> {
    /// The header, then (once the header is checked) the whole frame it announces.
    frame: Vec<u8>,
    /// Bytes of `frame` read so far.
    got: usize,
    _in: PhantomData<fn() -> In>,
}

impl<In: ?Sized + Payload> Hello<In> {
    pub(crate) fn new() -> Self {
        Hello {
            frame: vec![0; HEADER_LEN],
            got: 0,
            _in: PhantomData,
        }
    }

    /// Reads what the handshake still lacks, waiting for it as `wait` says; `Ok` once it
    /// is whole and checked. What was read stays here when the wait runs out.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] ([`Wait::Now`]) or [`Error::Timeout`] if the wait runs out first;
    /// [`Error::Disconnected`] if the peer closes first; [`Error::Corrupt`] if the bytes
    /// are not a handshake, [`Error::SchemaMismatch`] if it announces another type than
    /// `In`; [`Error::Shutdown`], [`Error::Io`].
    pub(crate) fn read(&mut self, fd: BorrowedFd<'_>, wait: Wait) -> Result<()> {
        while self.got < self.frame.len() {
            let rest = &mut self.frame[self.got..];
            match nix::sys::socket::recv(fd.as_raw_fd(), rest, MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Err(Error::Disconnected),
                Ok(n) => self.took(n)?,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => sys::again(fd, PollFlags::POLLIN, wait, false)?,
                Err(e) => return Err(Error::sys("recv", e)),
            }
        }
        Ok(())
    }

    /// Counts `n` more bytes read, and checks the header once it is whole (then makes
    /// room for the frame it announces) and the frame once it is.
    fn took(&mut self, n: usize) -> Result<()> {
        self.got += n;
        if self.got < self.frame.len() {
            return Ok(());
        }
        if self.frame.len() == HEADER_LEN {
            // Not a handshake, or one of a length no handshake has: the decoder says
            // which before anything more is read.
            codec::decode_hello::<In>(&self.frame)?;
            let f = &self.frame;
            let len = u32::from_le_bytes([f[4], f[5], f[6], f[7]]) as usize;
            self.frame.resize(HEADER_LEN + len, 0);
            if self.got < self.frame.len() {
                return Ok(());
            }
        }
        match codec::decode_hello::<In>(&self.frame)? {
            Some(n) if n == self.frame.len() => Ok(()),
            _ => Err(Error::Corrupt("malformed handshake from the peer".into())),
        }
    }

    /// The two halves of the connection whose sending half is `tx`, once the handshake
    /// [`Hello::read`] is whole: the receiving half's reader starts behind it.
    pub(crate) fn into_halves<Out: ?Sized + Payload>(
        self,
        tx: Sender<Out>,
        max_fds: usize,
    ) -> Result<(Sender<Out>, Receiver<In>)> {
        debug_assert_eq!(self.got, self.frame.len(), "the handshake is not whole");
        let mut reader = FrameReader::<In>::new();
        // The reader accepts messages once it has seen the handshake just checked.
        reader.push_hello(&self.frame)?;
        let fd = tx.fd.clone();
        Ok((tx, Receiver::new(fd, reader, max_fds)))
    }
}
