//! The read end of a pipe or FIFO, [`Receiver`]: the frame reader over `read(2)`, one
//! message per read, how a FIFO receiver waits without `poll(2)` ([`FifoState`]), and
//! iteration until the writers are gone.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Stdio;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::codec::{self, FrameReader, Framed};
use crate::error::{Error, Result};
use crate::fd::{self, Wait};
use crate::message::Message;
use crate::payload::Payload;

/// The read end of a typed pipe or FIFO.
///
/// A `Receiver<[E]>` receives slices instead of messages ([`Receiver::recv_slice`]), up
/// to its maximum length ([`Receiver::set_max_len`]).
pub struct Receiver<T: ?Sized> {
    fd: OwnedFd,
    reader: FrameReader<T>,
    /// Poll before every read until the first bytes arrive: a FIFO with no writer yet
    /// reads as end of stream, while `poll` waits for one (see [`fd::read_some`]).
    poll_first: bool,
    /// For a FIFO (opened `O_NONBLOCK`) the state of its descriptor; `None` for a pipe,
    /// whose flags are left as they came.
    fifo: Option<FifoState>,
    /// A pipe this receiver made non-blocking for its async twin: a receive that must
    /// not wait reads at once (`EAGAIN`: nothing there) instead of polling first.
    nonblocking: bool,
}

/// How a FIFO receiver reads without `poll(2)`.
///
/// Linux marks a pipe or FIFO that has ever been polled (`pipe->poll_usage`, for epoll's
/// sake), and from then on every `write` wakes the reader's wait queue whether or not the
/// FIFO was empty. Measured with two processes on one CPU, 8-byte messages: a single
/// `poll` by the reader made the whole stream 15-20% slower (891-913 ns a message against
/// 746-753), and the reader fell into emptying the FIFO and sleeping every 50-70 messages.
/// So a blocking receive is a plain blocking `read`, and a non-blocking one a `read` that
/// may say `EAGAIN`; only receives with a deadline (and shutdown-aware ones) poll.
#[derive(Debug)]
struct FifoState {
    /// Whether the descriptor is blocking now: a blocking receive makes it blocking, so
    /// each receive is one `read`; any other makes it non-blocking again, so a reader
    /// racing another never blocks past its deadline.
    blocking: bool,
    /// A write end the receiver holds on its own FIFO until the first bytes arrive. With
    /// it, the FIFO always has a writer, so a read before any real writer has come waits
    /// (or says `EAGAIN`) instead of returning end of stream, and no `poll` is needed to
    /// tell the two apart. `None` once bytes came, or if it could not be opened (no write
    /// permission): then the receiver polls first, as `poll_first` says.
    placeholder: Option<OwnedFd>,
}

impl<P: ?Sized + Payload> Receiver<P> {
    /// Wraps the read end of a pipe or FIFO. Does no I/O, so it cannot fail: the
    /// writer's handshake is read and checked with the first message. A receiver of
    /// slices `[E]` takes slices of up to
    /// [`default_max_len::<E>()`](codec::default_max_len) elements until told otherwise
    /// ([`Receiver::set_max_len`]).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Receiver {
            fd,
            reader: FrameReader::new().one_message_per_read(),
            poll_first: false,
            fifo: None,
            nonblocking: false,
        }
    }

    /// A receiver of a FIFO opened `O_NONBLOCK`, maybe before its writer: `placeholder` is
    /// a write end of the same FIFO (see [`FifoState`]), or `None` to poll until the first
    /// bytes arrive.
    pub(crate) fn from_fifo_fd(fd: OwnedFd, placeholder: Option<OwnedFd>) -> Self {
        Receiver {
            poll_first: placeholder.is_none(),
            fifo: Some(FifoState {
                blocking: false,
                placeholder,
            }),
            ..Self::from_fd(fd)
        }
    }

    /// Foreign-peer mode (see [`Receiver::foreign`]).
    pub(crate) fn set_foreign(&mut self) {
        self.reader.set_foreign();
    }

    /// True while a FIFO receiver holds its placeholder writer (no bytes have come yet).
    pub(crate) fn has_placeholder(&self) -> bool {
        self.fifo.as_ref().is_some_and(|f| f.placeholder.is_some())
    }

    /// A receiver reading this process's standard input (a duplicate of descriptor 0, so
    /// dropping the receiver does not close the process's stdin).
    ///
    /// Do not read stdin otherwise (`std::io::stdin()`) while this receiver is in use.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if descriptor 0 cannot be duplicated (it is closed, say).
    pub fn stdin() -> Result<Self> {
        let fd = io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| codec::io_error("dup(stdin)", e))?;
        Ok(Self::from_fd(fd))
    }

    /// Sets a FIFO's blocking mode for a receive that waits as `wait` says.
    #[inline]
    fn prepare(&mut self, wait: &Wait) {
        if let Some(fifo) = &mut self.fifo {
            // Blocking only for a plain blocking receive: a wait that a deadline or an armed
            // shutdown must be able to end reads without blocking, and polls (the shutdown
            // eventfd too) only when nothing is there.
            let want = !self.poll_first
                && matches!(wait, Wait::Forever)
                && !crate::shutdown::shutdown_armed();
            if want != fifo.blocking && set_blocking(self.fd.as_fd(), want).is_ok() {
                fifo.blocking = want;
            }
        }
    }
}

impl<P: ?Sized + Payload> Receiver<P> {
    /// For the async twin: makes a pipe's descriptor non-blocking (`on`) or blocking
    /// again, so that its non-waiting receives are one `read` each. A FIFO's is
    /// non-blocking for them already.
    #[cfg(feature = "tokio")]
    pub(crate) fn set_async(&mut self, on: bool) -> Result<()> {
        if self.fifo.is_none() && self.nonblocking != on {
            set_blocking(self.fd.as_fd(), !on)?;
            self.nonblocking = on;
        }
        Ok(())
    }
}

/// Reads more bytes for the frame reader.
#[inline]
fn fill(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    wait: &Wait,
    poll_first: &mut bool,
    fifo: &mut Option<FifoState>,
    nonblocking_pipe: bool,
) -> Result<usize> {
    // A FIFO's descriptor is non-blocking for any receive but a blocking one, so a
    // try-receive can just read (`EAGAIN` means nothing is there) instead of polling.
    let nonblocking = nonblocking_pipe || fifo.as_ref().is_some_and(|f| !f.blocking);
    let n = fd::read_some(fd, buf, wait, *poll_first, nonblocking)?;
    // Bytes arrived, so a writer has come: from now on a read of 0 bytes is a
    // real end of stream, and reading first (polling only on EAGAIN) is safe.
    if n.is_some_and(|n| n > 0) {
        *poll_first = false;
        if let Some(f) = fifo {
            f.placeholder = None;
        }
    }
    n.ok_or_else(|| wait.recv_expired())
}

/// Sets or clears `O_NONBLOCK` on `fd` (a flag of the open file description).
fn set_blocking(fd: BorrowedFd<'_>, blocking: bool) -> Result<()> {
    let fl = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| Error::sys("fcntl(F_GETFL)", e))?;
    let mut fl = OFlag::from_bits_truncate(fl);
    fl.set(OFlag::O_NONBLOCK, !blocking);
    fcntl(fd, FcntlArg::F_SETFL(fl)).map_err(|e| Error::sys("fcntl(F_SETFL)", e))?;
    Ok(())
}

impl<T: Message> Receiver<T> {
    /// Foreign-peer mode, for a writer not built on this crate (a C program's `write`,
    /// `printf`-free binary tools, Python's `struct.pack`): no handshake is expected and
    /// there are no record headers, the stream is messages of `T` back to back, exactly
    /// their bytes. Every message is still length-checked and validated
    /// ([`Message::validate`]): an invalid bit pattern is an
    /// [`Error::InvalidMessage`] and only that message is dropped, and bytes too few for
    /// a message at the end of the stream are one too. Call it before the first receive.
    ///
    /// Pipes and FIFOs have no `Options`, so the mode is a method of the end, the one
    /// spelling for every way an end is made (`from_fd`, `stdin`,
    /// [`channel`](crate::pipe::channel), [`fifo::Receiver::open`](crate::fifo::Receiver::open),
    /// or [`fifo::Options::foreign`](crate::fifo::Options::foreign)):
    /// `pipe::Receiver::<T>::from_fd(fd).foreign()`.
    ///
    /// What is given up: the schema check of the writer's handshake, and resynchronising
    /// after a torn write: with no framing, a writer that writes part of a message shifts
    /// every message after it (validation catches what it can). Keep the two sides in
    /// agreement with a C header generated from the type
    /// ([`schema::c_header`](crate::schema::c_header)).
    #[must_use]
    pub fn foreign(mut self) -> Self {
        self.set_foreign();
        self
    }
}

codec::framed_receiving_end!(Receiver);
codec::framed_slice_receiving_end!(Receiver);

impl<E: Message> Receiver<[E]> {
    /// The most elements a slice this receiver accepts may hold (by default
    /// [`default_max_len::<E>()`](codec::default_max_len)).
    pub fn max_len(&self) -> usize {
        self.reader.max_len()
    }

    /// Sets the most elements a slice this receiver accepts may hold (at least 1). A
    /// record announcing a longer slice is refused from its header with
    /// [`Error::LimitExceeded`] (`max_len`) and skipped, before anything is allocated or
    /// read for it; the receive buffer (64 KiB) grows only for a longer slice that is
    /// accepted.
    ///
    /// ```
    /// use ipc::pipe;
    ///
    /// let (mut tx, mut rx) = pipe::channel::<[u8]>()?;
    /// tx.set_max_len(100_000)?;
    /// rx.set_max_len(50_000);
    /// tx.send_slice(&vec![1; 60_000])?; // the sender allows it, the receiver does not
    /// tx.send_slice(b"next")?;
    /// let e = rx.recv_slice().unwrap_err();
    /// assert!(matches!(e, ipc::Error::LimitExceeded { limit: "max_len", value: 50_000, .. }));
    /// assert_eq!(rx.recv_slice()?, b"next");
    /// # Ok::<(), ipc::Error>(())
    /// ```
    pub fn set_max_len(&mut self, elements: usize) {
        self.reader.set_max_len(elements);
    }
}

impl<P: ?Sized + Payload> Framed<P> for Receiver<P> {
    /// The start of every receive: sets a FIFO's blocking mode for `wait`.
    #[inline(always)]
    fn reader_and_fill(&mut self, wait: Wait) -> (&mut FrameReader<P>, impl codec::Source + '_) {
        self.prepare(&wait);
        let fd = self.fd.as_fd();
        let poll_first = &mut self.poll_first;
        let fifo = &mut self.fifo;
        let nonblocking = self.nonblocking;
        (&mut self.reader, move |buf: &mut [u8]| {
            fill(fd, buf, &wait, poll_first, fifo, nonblocking)
        })
    }
}

impl<T: ?Sized> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Receiver<T>);

/// Takes the descriptor out. Bytes this receiver has read but not yet returned as
/// messages are dropped, so convert a receiver before its first `recv`.
impl<T: ?Sized> From<Receiver<T>> for OwnedFd {
    fn from(rx: Receiver<T>) -> OwnedFd {
        rx.fd
    }
}

/// Makes the read end a child's stdin (`Command::stdin(Stdio::from(rx))`).
impl<T: ?Sized> From<Receiver<T>> for Stdio {
    fn from(rx: Receiver<T>) -> Stdio {
        Stdio::from(rx.fd)
    }
}

impl<T: Message> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("type", &T::SCHEMA.name)
            .field("fd", &self.fd)
            .field("buffered", &self.reader.buffered())
            .finish_non_exhaustive()
    }
}

impl<E: Message> fmt::Debug for Receiver<[E]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("type", &format_args!("[{}]", E::SCHEMA.name))
            .field("max_len", &self.reader.max_len())
            .field("fd", &self.fd)
            .field("buffered", &self.reader.buffered())
            .finish_non_exhaustive()
    }
}
