//! The handshake of a stream connection: each side sends its record(s) at connect and
//! reads and checks the peer's (see [`crate::codec`], "The handshake"). A plain stream
//! end announces the type it sends; a request/response end also the type it takes, so
//! that a client and a server that disagree on either type refuse each other at connect.

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

/// Which end of a request/response connection this side is: a refusal names the peer's
/// type by it ("the request type, which the server takes").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The calling end.
    Client,
    /// The answering end.
    Server,
}

/// Sends the handshake for `Out`, then reads and checks the peer's, which must announce
/// `In`. Both sides of a plain stream do this, so each direction is checked once, at
/// connect.
pub(crate) fn handshake<Out: ?Sized + Payload, In: ?Sized + Payload>(
    fd: OwnedFd,
    timeout: Duration,
    max_fds: usize,
) -> Result<(Sender<Out>, Receiver<In>)> {
    finish(
        start(fd, Wait::Forever)?,
        Hello::<In>::new(),
        timeout,
        max_fds,
    )
}

/// The handshake of a request/response end that sends `Out` and takes `In`: sends both
/// records ([`codec::rpc_hello`]), then reads the peer's two and checks both types, so
/// that a peer that disagrees on either is refused here, by this side alone.
///
/// # Errors
///
/// As [`Hello::read`]: [`Error::SchemaMismatch`] whose `difference` says which type
/// differs.
pub(crate) fn rpc_handshake<Out: ?Sized + Payload, In: ?Sized + Payload>(
    fd: OwnedFd,
    timeout: Duration,
    max_fds: usize,
    end: End,
) -> Result<(Sender<Out>, Receiver<In>)> {
    let tx = start_rpc::<Out, In>(fd, Wait::Forever)?;
    finish(tx, Hello::<In>::rpc::<Out>(end), timeout, max_fds)
}

/// The first half of [`handshake`]: sends this side's, waiting for room as `wait` says.
/// With a bounded wait the handshake may go out in part (see [`Sender::pending`]).
pub(crate) fn start<Out: ?Sized + Payload>(fd: OwnedFd, wait: Wait) -> Result<Sender<Out>> {
    greet(fd, &codec::hello::<Out>(), wait)
}

/// The first half of [`rpc_handshake`]: sends both of this side's records, as [`start`].
pub(crate) fn start_rpc<Out: ?Sized + Payload, In: ?Sized + Payload>(
    fd: OwnedFd,
    wait: Wait,
) -> Result<Sender<Out>> {
    greet(fd, &codec::rpc_hello::<Out, In>(), wait)
}

/// Sends `hello`, this side's handshake, as one frame.
fn greet<Out: ?Sized + Payload>(fd: OwnedFd, hello: &[u8], wait: Wait) -> Result<Sender<Out>> {
    let mut tx = Sender::<Out>::new(Arc::new(fd));
    // A peer that sent its handshake and messages and closed at once has still sent
    // them: failing to greet it must not lose what it sent, so the receiving half goes
    // on (and the next send reports Disconnected).
    match tx.write_frame(&[IoSlice::new(hello)], &[], wait) {
        Ok(()) | Err(Error::Disconnected) => Ok(tx),
        Err(e) => Err(e),
    }
}

/// The second half of a handshake: reads and checks the peer's, as `hello` expects it.
pub(crate) fn finish<Out: ?Sized + Payload, In: ?Sized + Payload>(
    tx: Sender<Out>,
    mut hello: Hello<In>,
    timeout: Duration,
    max_fds: usize,
) -> Result<(Sender<Out>, Receiver<In>)> {
    hello.read(tx.as_fd(), Wait::timeout(timeout))?;
    hello.into_halves(tx, max_fds)
}

/// The second record of a request/response peer's handshake, as a [`Hello`] expects it:
/// the check of the type it takes, against the type this side sends, and which end this
/// side is.
#[derive(Clone, Copy)]
struct Takes {
    check: fn(&[u8]) -> Result<Option<usize>>,
    end: End,
}

/// The peer's handshake as it arrives, announcing `In` (and, from a request/response
/// end, then the type it takes): read without a byte past its end, so what the peer sent
/// behind it (its first messages) stays in the socket for the [`Receiver`]. The blocking
/// [`handshake`] reads it at once; a server reads it a piece at a time, as its bytes
/// arrive, without waiting (`socket::pending`).
pub(crate) struct Hello<In: ?Sized> {
    /// The first record's header, then (once the header is checked) the whole record it
    /// announces; then likewise the second record's, if one is expected.
    frame: Vec<u8>,
    /// Bytes of `frame` read so far.
    got: usize,
    /// Where the record being read begins in `frame` (0, or the first record's length).
    at: usize,
    /// The second record expected, from a request/response peer; `None` from a plain
    /// stream end.
    takes: Option<Takes>,
    _in: PhantomData<fn() -> In>,
}

impl<In: ?Sized + Payload> Hello<In> {
    /// The handshake of a plain stream end: one record, announcing `In`.
    pub(crate) fn new() -> Self {
        Hello {
            frame: vec![0; HEADER_LEN],
            got: 0,
            at: 0,
            takes: None,
            _in: PhantomData,
        }
    }

    /// The handshake of a request/response peer of this side, the `end` that sends
    /// `Out`: a record announcing `In`, then one announcing that it takes `Out`.
    pub(crate) fn rpc<Out: ?Sized + Payload>(end: End) -> Self {
        Hello {
            takes: Some(Takes {
                check: codec::decode_takes::<Out>,
                end,
            }),
            ..Hello::new()
        }
    }

    /// Reads what the handshake still lacks, waiting for it as `wait` says; `Ok` once it
    /// is whole and checked. What was read stays here when the wait runs out.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] ([`Wait::Now`]) or [`Error::Timeout`] if the wait runs out first;
    /// [`Error::Disconnected`] if the peer closes first; [`Error::Corrupt`] if the bytes
    /// are not a handshake (or not one of the kind expected: a plain stream end's where
    /// a request/response end's belongs, or the other way round),
    /// [`Error::SchemaMismatch`] if it announces another type than `In` (or, from a
    /// request/response peer, takes another type than this side sends: the error's
    /// `difference` then begins with which of the two types differs);
    /// [`Error::Shutdown`], [`Error::Io`].
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

    /// Counts `n` more bytes read, and checks the record being read once its header is
    /// whole (then makes room for the record it announces) and once it is whole (then
    /// makes room for the header of the second record, if one is expected).
    fn took(&mut self, n: usize) -> Result<()> {
        self.got += n;
        while self.got == self.frame.len() {
            let record = &self.frame[self.at..];
            let second = self.at > 0;
            // Of a header alone: not a handshake, or one of a length no handshake has,
            // the decoder says which before anything more is read.
            let checked = match (second, self.takes) {
                (true, Some(takes)) => (takes.check)(record),
                (false, Some(_)) => codec::decode_paired::<In>(record),
                _ => codec::decode_hello::<In>(record),
            };
            match checked.map_err(|e| self.naming(e, second))? {
                None if record.len() == HEADER_LEN => {
                    let len = u32::from_le_bytes([record[4], record[5], record[6], record[7]]);
                    self.frame.resize(self.at + HEADER_LEN + len as usize, 0);
                }
                Some(n) if n == record.len() => {
                    if second || self.takes.is_none() {
                        return Ok(());
                    }
                    self.at = self.frame.len();
                    self.frame.resize(self.at + HEADER_LEN, 0);
                }
                _ => return Err(Error::Corrupt("malformed handshake from the peer".into())),
            }
        }
        Ok(())
    }

    /// `e`, of the first record if not `second`, with the type it concerns named in its
    /// `difference` if it is a request/response peer's schema mismatch.
    fn naming(&self, e: Error, second: bool) -> Error {
        let Some(takes) = self.takes else {
            return e;
        };
        let (expected, found, difference) = match e {
            Error::SchemaMismatch {
                expected,
                found,
                difference,
            } => (expected, found, difference),
            e => return e,
        };
        // The first record announces what the peer sends, the second what it takes.
        let which = match (takes.end, second) {
            (End::Client, false) => "the response type, which the server answers",
            (End::Client, true) => "the request type, which the server takes",
            (End::Server, false) => "the request type, which the client sends",
            (End::Server, true) => "the response type, which the client takes",
        };
        let difference = match difference {
            Some(d) => format!("{which}: {d}"),
            None => which.to_owned(),
        };
        Error::SchemaMismatch {
            expected,
            found,
            difference: Some(difference.into_boxed_str()),
        }
    }

    /// The two halves of the connection whose sending half is `tx`, once the handshake
    /// [`Hello::read`] is whole: the receiving half's reader starts behind it, having
    /// seen the first record (the one announcing `In`).
    pub(crate) fn into_halves<Out: ?Sized + Payload>(
        self,
        tx: Sender<Out>,
        max_fds: usize,
    ) -> Result<(Sender<Out>, Receiver<In>)> {
        debug_assert_eq!(self.got, self.frame.len(), "the handshake is not whole");
        let first = if self.takes.is_some() {
            self.at
        } else {
            self.frame.len()
        };
        let mut reader = FrameReader::<In>::new();
        // The reader accepts messages once it has seen the handshake just checked.
        reader.push_hello(&self.frame[..first])?;
        let fd = tx.fd.clone();
        Ok((tx, Receiver::new(fd, reader, max_fds)))
    }
}
