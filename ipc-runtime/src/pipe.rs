//! Typed anonymous pipes: `pipe2(2)` (see `pipe(7)`) carrying frames of the stream codec.
//!
//! [`channel`] makes a one-way pipe, [`duplex`] a pair of them for two-way talk. Either end
//! can be handed to a child process, as its standard input or output or as any other
//! descriptor: turn it into an [`OwnedFd`] (or straight into a [`Stdio`]) and, in the
//! child, take it back with [`Sender::from_fd`] / [`Receiver::from_fd`], or with
//! [`Receiver::stdin`] / [`Sender::stdout`].
//!
//! ```
//! use std::process::{Command, Stdio};
//! use ipc_runtime::pipe;
//!
//! let (mut tx, rx) = pipe::channel::<u64>()?;
//! // The read end becomes the child's standard input (here `cat`, which echoes bytes).
//! let mut cat = Command::new("cat")
//!     .stdin(Stdio::from(rx))
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let mut back = pipe::Receiver::<u64>::from_fd(cat.stdout.take().unwrap().into());
//! tx.send(7)?;
//! drop(tx); // end of stream
//! assert_eq!(back.recv()?, 7);
//! assert!(back.recv().unwrap_err().is_disconnected());
//! assert!(cat.wait()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Besides `send`/`try_send`/`send_timeout` and `recv`/`try_recv`/`recv_timeout`,
//! [`Sender::send_ref`] and [`Receiver::recv_into`] (also on [`Duplex`]) work in place,
//! sparing a large `T` the copy into `send` and out of `recv`.
//!
//! # Contract
//!
//! - The wire format is [`crate::codec`]'s: a writer's first bytes are its handshake,
//!   written lazily just before its first message, and a [`Receiver`] refuses a writer of
//!   another schema with [`Error::SchemaMismatch`].
//! - Messages arrive complete, in order, each exactly once.
//! - [`Error::Disconnected`]: for a receiver, once every write end is closed (every writer
//!   exited, or was killed) and everything sent has been received; for a sender, once
//!   every read end is closed. A broken pipe is never a `SIGPIPE` death: when the process
//!   does not ignore `SIGPIPE` (Rust programs do, a library cannot rely on it), the signal
//!   is blocked in the writing thread around each write and the one a broken pipe raises
//!   is consumed.
//! - `EINTR` is retried everywhere, with the time that remains.
//!
//! # Limits
//!
//! - A pipe holds 64 KiB by default (`F_GETPIPE_SZ`; unprivileged processes may grow it
//!   up to `/proc/sys/fs/pipe-max-size`); `send` of a frame bigger than that completes
//!   as the reader drains it.
//! - `try_send` and `send_timeout` never leave part of a frame behind. A frame of at most
//!   `PIPE_BUF` (4096) bytes (a message record is its 8-byte header and the message; see
//!   [`codec::record_len`]) is written with one `write`, which the
//!   kernel makes atomic: it is written once `poll` reports room. A bigger frame
//!   is written only once the free space (`F_GETPIPE_SZ` minus `FIONREAD`, with two pages
//!   of slack) holds it whole, growing the pipe with `F_SETPIPE_SZ` first if it could
//!   never fit; once started it is finished, so with a second writer racing for the same
//!   room the call may wait for the reader past its timeout rather than give up midway.
//! - A receiver reads one message per `read(2)` (a handshake takes a few), as a raw
//!   reader of fixed-size records does, not everything the pipe holds: emptying the pipe
//!   makes the writer's next `write` wake the reader, and with writer and reader on one
//!   CPU that cost more than the reads it saved (`cargo bench --bench stream`: 8-byte
//!   throughput 0.85x raw with large reads, 0.96x with one message per read).
//! - A receive with a timeout polls, then reads; a partial frame stays buffered in the
//!   receiver, so a timeout loses nothing. If another process reads the same pipe end,
//!   that read may wait for data the other process took.
//! - Descriptors are made with `O_CLOEXEC`: a child gets only the ends given to it
//!   explicitly.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::PollFlags;

use crate::codec::{self, FrameReader};
use crate::error::{Error, Result, SendError};
use crate::fd::{self, Sigpipe, Wait};
use crate::message::{self, Message};

/// `PIPE_BUF`: writes of at most this many bytes to a pipe or FIFO are atomic.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// Creates a one-way pipe carrying messages of `T` (`pipe2` with `O_CLOEXEC`).
///
/// # Errors
///
/// [`Error::LimitExceeded`] if the process or the system is out of file descriptors,
/// [`Error::Io`] for other failures of `pipe2`.
pub fn channel<T: Message>() -> Result<(Sender<T>, Receiver<T>)> {
    let (r, w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| crate::error::new_fd_error("pipe2", e))?;
    Ok((Sender::from_fd(w), Receiver::from_fd(r)))
}

/// Creates a two-way channel out of two pipes: the first end sends `A` and receives `B`,
/// the second sends `B` and receives `A`.
///
/// # Errors
///
/// As [`channel`].
pub fn duplex<A: Message, B: Message>() -> Result<(Duplex<A, B>, Duplex<B, A>)> {
    let (tx_a, rx_a) = channel::<A>()?;
    let (tx_b, rx_b) = channel::<B>()?;
    Ok((Duplex { tx: tx_a, rx: rx_b }, Duplex { tx: tx_b, rx: rx_a }))
}

/// The write end of a typed pipe or FIFO.
pub struct Sender<T> {
    fd: OwnedFd,
    hello_sent: bool,
    sigpipe: Option<Sigpipe>,
    _t: PhantomData<fn(T)>,
}

impl<T: Message> Sender<T> {
    /// Wraps the write end of a pipe or FIFO. Does no I/O, so it cannot fail: the
    /// handshake is written just before the first message.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Sender {
            fd,
            hello_sent: false,
            sigpipe: None,
            _t: PhantomData,
        }
    }

    /// A sender writing to this process's standard output (a duplicate of descriptor 1,
    /// so dropping the sender does not close the process's stdout).
    ///
    /// Anything else written to stdout (`println!`) would corrupt the stream: use stderr
    /// for text while this sender is in use. Text already buffered by `std::io::stdout()`
    /// is flushed first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if descriptor 1 cannot be duplicated (it is closed, say).
    pub fn stdout() -> Result<Self> {
        let out = io::stdout();
        let mut out = out.lock();
        let _ = out.flush();
        let fd = out
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| codec::io_error("dup(stdout)", e))?;
        Ok(Self::from_fd(fd))
    }

    /// Sends a message, waiting while the pipe is full.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if every read end is closed, [`Error::Shutdown`] once
    /// shutdown is requested while the pipe is full (see
    /// [`shutdown_on`](crate::signal::shutdown_on)), [`Error::Io`] for another failure of
    /// `write`. The message is handed back in the [`SendError`].
    #[inline]
    pub fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_wait(msg, Wait::Forever)
    }

    /// Sends a message if the pipe has room for all of it now; never writes part of it.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if it has not, [`Error::LimitExceeded`] if the frame is bigger than
    /// the pipe can ever be made (`/proc/sys/fs/pipe-max-size`; use [`Sender::send`]),
    /// and the errors of [`Sender::send`].
    #[inline]
    pub fn try_send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_wait(msg, Wait::Now)
    }

    /// Sends a message, waiting at most `timeout` for room for all of it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was no room in time, and the errors of
    /// [`Sender::try_send`].
    #[inline]
    pub fn send_timeout(&mut self, msg: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_wait(msg, Wait::timeout(timeout))
    }

    /// Sends `*msg` in place, waiting while the pipe is full: [`Sender::send`] without
    /// moving a copy of a large `T` into the call. On error nothing was sent and `*msg`
    /// is still the caller's.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`].
    #[inline]
    pub fn send_ref(&mut self, msg: &T) -> Result<()> {
        self.write_frame(Some(msg), &Wait::Forever)
    }

    #[inline]
    fn send_wait(&mut self, msg: T, wait: Wait) -> Result<(), SendError<T>> {
        // By reference below: a large message is not copied again into each call.
        match self.write_frame(Some(&msg), &wait) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    /// Writes the handshake now rather than before the first message.
    pub(crate) fn send_hello(&mut self) -> Result<()> {
        self.write_frame(None, &Wait::Forever)
    }

    fn write_frame(&mut self, msg: Option<&T>, wait: &Wait) -> Result<()> {
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let hello = if self.hello_sent {
            Vec::new()
        } else {
            codec::hello::<T>()
        };
        let (head, payload, tail): (&[u8], &[u8], &[u8]);
        let envelope;
        match msg {
            Some(m) => {
                envelope = codec::Envelope::new(m);
                (head, payload, tail) = (envelope.head(), message::as_bytes(m), envelope.tail());
            }
            None => (head, payload, tail) = (&[], &[], &[]),
        }
        let record = head.len() + payload.len() + tail.len();
        let total = hello.len() + record;
        if total == 0 {
            return Ok(()); // a handshake asked for twice
        }
        if !matches!(wait, Wait::Forever) {
            self.wait_for_room(total, wait)?;
        }
        let fd = self.fd.as_fd();
        if total == payload.len() {
            // A page-sized message that goes bare: one plain `write` of its bytes, atomic.
            fd::write_all(fd, &mut [IoSlice::new(payload)], sigpipe)?;
        } else if total <= SMALL {
            // Small records are copied into one buffer: one plain write, atomic (at most
            // PIPE_BUF bytes), so records of several writers never interleave.
            let mut buf = [0u8; SMALL];
            let mut at = 0;
            for part in [&hello[..], head, payload] {
                buf[at..at + part.len()].copy_from_slice(part);
                at += part.len();
            }
            fd::write_all(fd, &mut [IoSlice::new(&buf[..at])], sigpipe)?;
        } else if total <= PIPE_BUF {
            // One write: atomic, so records of several writers never interleave.
            let mut bufs = [
                IoSlice::new(&hello),
                IoSlice::new(head),
                IoSlice::new(payload),
            ];
            fd::write_all(fd, &mut bufs, sigpipe)?;
        } else {
            if !hello.is_empty() {
                fd::write_all(fd, &mut [IoSlice::new(&hello)], sigpipe)?;
                self.hello_sent = true;
            }
            // A short record is still one atomic write; a long one is sealed (see
            // `codec`), so a reader tells it from what a successor writes after it if
            // this process dies midway.
            fd::write_all(
                fd,
                &mut [
                    IoSlice::new(head),
                    IoSlice::new(payload),
                    IoSlice::new(tail),
                ],
                sigpipe,
            )?;
        }
        self.hello_sent = true;
        Ok(())
    }

    /// Waits until `total` bytes can be written without blocking part-way.
    fn wait_for_room(&mut self, total: usize, wait: &Wait) -> Result<()> {
        let fd = self.fd.as_fd();
        if total > PIPE_BUF {
            ensure_capacity(fd, total)?;
        }
        let mut backoff = Duration::from_micros(50);
        loop {
            let Some(revents) = fd::wait_ready(fd, PollFlags::POLLOUT, wait)? else {
                return Err(wait.send_expired());
            };
            if revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                return Err(Error::Disconnected);
            }
            if total <= PIPE_BUF || room(fd)? >= total {
                return Ok(());
            }
            // A big frame and not enough room yet: poll cannot wait for "n bytes free".
            let nap = match wait.left() {
                Some(left) if left.is_zero() => return Err(wait.send_expired()),
                Some(left) => backoff.min(left),
                None => backoff,
            };
            std::thread::sleep(nap);
            backoff = (backoff * 2).min(Duration::from_millis(5));
        }
    }
}

const PAGE: usize = 4096;

/// Frames up to this size are copied into one stack buffer and written with one slice.
const SMALL: usize = 256;

/// Free bytes in the pipe, counting two pages of slack for partly filled buffers.
fn room(fd: BorrowedFd<'_>) -> Result<usize> {
    let cap =
        fcntl(fd, FcntlArg::F_GETPIPE_SZ).map_err(|e| Error::sys("fcntl(F_GETPIPE_SZ)", e))?;
    let queued = fd::bytes_queued(fd)?;
    Ok((cap.max(0) as usize).saturating_sub(queued + 2 * PAGE))
}

/// Grows the pipe so a frame of `total` bytes fits whole, if it does not yet.
fn ensure_capacity(fd: BorrowedFd<'_>, total: usize) -> Result<()> {
    let cap =
        fcntl(fd, FcntlArg::F_GETPIPE_SZ).map_err(|e| Error::sys("fcntl(F_GETPIPE_SZ)", e))?;
    let need = total + 2 * PAGE;
    if cap.max(0) as usize >= need {
        return Ok(());
    }
    let want = i32::try_from(need.next_power_of_two()).unwrap_or(i32::MAX);
    match fcntl(fd, FcntlArg::F_SETPIPE_SZ(want)) {
        Ok(_) => Ok(()),
        Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY | nix::errno::Errno::EINVAL) => {
            let max = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(cap.max(0) as u64);
            Err(Error::LimitExceeded {
                limit: "/proc/sys/fs/pipe-max-size",
                value: max,
                hint: format!(
                    "a frame of {total} bytes cannot be offered all-or-nothing; \
                     use send(), which waits while the reader drains it, or raise the limit"
                ),
            })
        }
        Err(e) => Err(Error::sys("fcntl(F_SETPIPE_SZ)", e)),
    }
}

/// The read end of a typed pipe or FIFO.
pub struct Receiver<T> {
    fd: OwnedFd,
    reader: FrameReader<T>,
    /// Poll before every read until the first bytes arrive: a FIFO with no writer yet
    /// reads as end of stream, while `poll` waits for one (see [`fd::read_some`]).
    poll_first: bool,
    /// For a FIFO (opened `O_NONBLOCK`) the state of its descriptor; `None` for a pipe,
    /// whose flags are left as they came.
    fifo: Option<FifoState>,
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

impl<T: Message> Receiver<T> {
    /// Wraps the read end of a pipe or FIFO. Does no I/O, so it cannot fail: the
    /// writer's handshake is read and checked with the first message.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Receiver {
            fd,
            reader: FrameReader::new().one_message_per_read(),
            poll_first: false,
            fifo: None,
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

    /// Receives the next message, waiting for one.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once every writer is gone and everything was received,
    /// [`Error::SchemaMismatch`] for a writer of another schema, [`Error::InvalidMessage`]
    /// or [`Error::Corrupt`] for bytes that are not a valid frame of `T` (also a writer
    /// that died mid-frame), [`Error::Io`] for a failing `read`.
    #[inline]
    pub fn recv(&mut self) -> Result<T> {
        self.recv_wait(Wait::Forever)
    }

    /// Receives a message if one has arrived, without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none has (part of one may have: it is kept for the next call),
    /// and the errors of [`Receiver::recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<T> {
        self.recv_wait(Wait::Now)
    }

    /// Receives the next message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none arrived in time (a partial one is kept), and the errors
    /// of [`Receiver::recv`].
    #[inline]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.recv_wait(Wait::timeout(timeout))
    }

    /// Receives the next message into `*out`, waiting for it: [`Receiver::recv`] without
    /// the by-value return, so the validated bytes are copied once, from the receive
    /// buffer straight into `*out`.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]. After any error `*out` is unchanged (a message that is not
    /// a valid `T` is refused before any byte of `*out` is written).
    #[inline]
    pub fn recv_into(&mut self, out: &mut T) -> Result<()> {
        self.recv_wait_into(Wait::Forever, out)
    }

    /// Receives the next message and lends it straight from the receive buffer, validated:
    /// no copy of the message at all (the zero-copy counterpart of [`Receiver::recv`]).
    /// The borrow ends before the next receive; copy out what must outlive it.
    ///
    /// ```
    /// let (mut tx, mut rx) = ipc_runtime::pipe::channel::<[u8; 4096]>()?;
    /// tx.send_ref(&[7; 4096])?;
    /// let frame: &[u8; 4096] = rx.recv_ref()?;
    /// assert_eq!(frame[4095], 7);
    /// # Ok::<(), ipc_runtime::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline]
    pub fn recv_ref(&mut self) -> Result<&T> {
        let (reader, fill) = self.reader_and_fill(Wait::Forever);
        reader.recv_ref_with(fill)
    }

    /// An iterator over received messages that ends at [`Error::Disconnected`]; any other
    /// error is yielded once, and then the iterator ends.
    pub fn iter(&mut self) -> Iter<'_, T> {
        Iter {
            rx: self,
            done: false,
        }
    }

    pub(crate) fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        let (reader, fill) = self.reader_and_fill(wait);
        // The message goes from the frame reader straight to the caller (a tail call, no
        // extra copy of a large `T`).
        reader.recv_with(fill)
    }

    fn recv_wait_into(&mut self, wait: Wait, out: &mut T) -> Result<()> {
        let (reader, fill) = self.reader_and_fill(wait);
        reader.recv_into_with(out, fill)
    }

    /// The start of every receive: sets a FIFO's blocking mode for `wait`, and splits
    /// `self` into the frame reader and the `fill` it reads more bytes with.
    #[inline(always)]
    fn reader_and_fill(
        &mut self,
        wait: Wait,
    ) -> (
        &mut FrameReader<T>,
        impl FnMut(&mut [u8]) -> Result<usize> + '_,
    ) {
        self.prepare(&wait);
        let fd = self.fd.as_fd();
        let poll_first = &mut self.poll_first;
        let fifo = &mut self.fifo;
        (&mut self.reader, move |buf: &mut [u8]| {
            fill(fd, buf, &wait, poll_first, fifo)
        })
    }

    /// Sets a FIFO's blocking mode for a receive that waits as `wait` says.
    #[inline]
    fn prepare(&mut self, wait: &Wait) {
        if let Some(fifo) = &mut self.fifo {
            let want = !self.poll_first && matches!(wait, Wait::Forever);
            if want != fifo.blocking && set_blocking(self.fd.as_fd(), want).is_ok() {
                fifo.blocking = want;
            }
        }
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
) -> Result<usize> {
    // A FIFO's descriptor is non-blocking for any receive but a blocking one, so a
    // try-receive can just read (`EAGAIN` means nothing is there) instead of polling.
    let nonblocking = fifo.as_ref().is_some_and(|f| !f.blocking);
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

/// Iterator over the messages of a [`Receiver`]; see [`Receiver::iter`].
pub struct Iter<'a, T> {
    rx: &'a mut Receiver<T>,
    done: bool,
}

impl<T: Message> Iterator for Iter<'_, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        match self.rx.recv() {
            Ok(msg) => Some(Ok(msg)),
            Err(Error::Disconnected) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a, T: Message> IntoIterator for &'a mut Receiver<T> {
    type Item = Result<T>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// One end of a [`duplex`] channel: sends `S`, receives `R`.
pub struct Duplex<S, R> {
    tx: Sender<S>,
    rx: Receiver<R>,
}

impl<S: Message, R: Message> Duplex<S, R> {
    /// Joins a sender and a receiver into one end.
    pub fn from_parts(tx: Sender<S>, rx: Receiver<R>) -> Self {
        Duplex { tx, rx }
    }

    /// Splits the end into its sender and receiver (to hand them to a child, say).
    pub fn into_parts(self) -> (Sender<S>, Receiver<R>) {
        (self.tx, self.rx)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender<S> {
        &mut self.tx
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver<R> {
        &mut self.rx
    }

    /// [`Sender::send`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`].
    #[inline]
    pub fn send(&mut self, msg: S) -> Result<(), SendError<S>> {
        self.tx.send(msg)
    }

    /// [`Sender::try_send`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`].
    #[inline]
    pub fn try_send(&mut self, msg: S) -> Result<(), SendError<S>> {
        self.tx.try_send(msg)
    }

    /// [`Sender::send_timeout`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_timeout`].
    #[inline]
    pub fn send_timeout(&mut self, msg: S, timeout: Duration) -> Result<(), SendError<S>> {
        self.tx.send_timeout(msg, timeout)
    }

    /// [`Sender::send_ref`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_ref`].
    #[inline]
    pub fn send_ref(&mut self, msg: &S) -> Result<()> {
        self.tx.send_ref(msg)
    }

    /// [`Receiver::recv_into`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv_into`]; after an error `*out` is unchanged.
    #[inline]
    pub fn recv_into(&mut self, out: &mut R) -> Result<()> {
        self.rx.recv_into(out)
    }

    /// [`Receiver::recv`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline]
    pub fn recv(&mut self) -> Result<R> {
        self.rx.recv()
    }

    /// [`Receiver::recv_ref`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline]
    pub fn recv_ref(&mut self) -> Result<&R> {
        self.rx.recv_ref()
    }

    /// [`Receiver::try_recv`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<R> {
        self.rx.try_recv()
    }

    /// [`Receiver::recv_timeout`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv_timeout`].
    #[inline]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R> {
        self.rx.recv_timeout(timeout)
    }
}

impl<T> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<T> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Takes the descriptor out. If no message was sent yet, whoever wraps it next writes the
/// handshake; if some were, a new [`Sender`] on it writes another, which readers accept.
impl<T> From<Sender<T>> for OwnedFd {
    fn from(tx: Sender<T>) -> OwnedFd {
        tx.fd
    }
}

/// Takes the descriptor out. Bytes this receiver has read but not yet returned as
/// messages are dropped, so convert a receiver before its first `recv`.
impl<T> From<Receiver<T>> for OwnedFd {
    fn from(rx: Receiver<T>) -> OwnedFd {
        rx.fd
    }
}

/// Makes the write end a child's stdin/stdout/stderr (`Command::stdout(Stdio::from(tx))`).
impl<T> From<Sender<T>> for Stdio {
    fn from(tx: Sender<T>) -> Stdio {
        Stdio::from(tx.fd)
    }
}

/// Makes the read end a child's stdin (`Command::stdin(Stdio::from(rx))`).
impl<T> From<Receiver<T>> for Stdio {
    fn from(rx: Receiver<T>) -> Stdio {
        Stdio::from(rx.fd)
    }
}

impl<T: Message> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("type", &T::SCHEMA.name)
            .field("fd", &self.fd)
            .finish_non_exhaustive()
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

impl<S: Message, R: Message> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedStr;
    use std::fs::File;

    #[test]
    fn messages_arrive_in_order_then_disconnected() {
        let (mut tx, mut rx) = channel::<u32>().unwrap();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let got: Vec<u32> = rx.iter().map(|m| m.unwrap()).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn try_recv_is_empty_and_timeout_loses_a_partial_frame_to_no_one() {
        let (tx, mut rx) = channel::<u64>().unwrap();
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        // Write the handshake and half a frame by hand, as a slow writer would.
        let mut raw = File::from(OwnedFd::from(tx));
        let mut wire = codec::hello::<u64>();
        codec::write_message(&mut wire, &0xdead_beef_u64).unwrap();
        let (first, rest) = wire.split_at(wire.len() - 5);
        raw.write_all(first).unwrap();
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        let err = rx.recv_timeout(Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, Error::Timeout(d) if d == Duration::from_millis(30)));
        raw.write_all(rest).unwrap();
        assert_eq!(rx.try_recv().unwrap(), 0xdead_beef);
        drop(raw);
        assert!(rx.try_recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn try_send_fills_the_pipe_then_reports_full_and_hands_back() {
        let (mut tx, mut rx) = channel::<[u8; 1000]>().unwrap();
        let mut sent = 0u32;
        let full = loop {
            match tx.try_send([sent as u8; 1000]) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert!(full.is_full(), "{full:?}");
        assert_eq!(full.into_inner(), [sent as u8; 1000]);
        let err = tx
            .send_timeout([0; 1000], Duration::from_millis(20))
            .unwrap_err();
        assert!(matches!(err.error(), Error::Timeout(_)), "{err:?}");
        drop(tx);
        for i in 0..sent {
            assert_eq!(rx.recv().unwrap(), [i as u8; 1000]);
        }
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn big_frames_are_offered_whole_or_not_at_all() {
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| {
                let (mut tx, mut rx) = channel::<[u8; 20_000]>().unwrap();
                let mut sent = 0u32;
                while tx.try_send([sent as u8; 20_000]).is_ok() {
                    sent += 1;
                }
                assert!(sent >= 1);
                drop(tx);
                for i in 0..sent {
                    assert_eq!(rx.recv().unwrap()[19_999], i as u8);
                }
                assert!(rx.recv().unwrap_err().is_disconnected());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn send_to_a_closed_pipe_is_disconnected() {
        let (mut tx, rx) = channel::<FixedStr<8>>().unwrap();
        drop(rx);
        let msg = FixedStr::try_from("hi").unwrap();
        let err = tx.send(msg).unwrap_err();
        assert!(err.is_disconnected());
        assert_eq!(err.into_inner(), msg);
        assert!(tx.try_send(msg).unwrap_err().is_disconnected());
    }

    #[test]
    fn duplex_ends_talk_both_ways() {
        let (mut a, mut b) = duplex::<u32, u64>().unwrap();
        a.send(5).unwrap();
        assert_eq!(b.recv().unwrap(), 5);
        b.send(6).unwrap();
        assert_eq!(a.recv_timeout(Duration::from_secs(5)).unwrap(), 6);
    }
}
