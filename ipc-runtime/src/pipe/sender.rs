//! The write end of a pipe or FIFO, [`Sender`]: a handshake before the first message,
//! each record written whole (atomically up to `PIPE_BUF`), and `try_send` /
//! `send_timeout` that never leave part of a frame behind.

use std::fmt;
use std::io::{self, IoSlice, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Stdio;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg};
use nix::poll::PollFlags;

use crate::codec;
use crate::contract::{self, Tx};
use crate::error::{Error, Result};
use crate::fd::{self, Sigpipe, Wait};
use crate::message::{self, Message};
use crate::payload::Payload;
use crate::unread::Unread;

/// `PIPE_BUF`: writes of at most this many bytes to a pipe or FIFO are atomic.
pub const PIPE_BUF: usize = libc::PIPE_BUF;

/// The write end of a typed pipe or FIFO.
///
/// A `Sender<[E]>` sends slices of any length up to its maximum instead of messages
/// ([`Sender::send_slice`], [`Sender::set_max_len`]).
pub struct Sender<T: ?Sized> {
    fd: OwnedFd,
    hello_sent: bool,
    sigpipe: Option<Sigpipe>,
    /// Messages written whole (for [`Sender::close`]).
    sent: u64,
    /// Whole records accepted and not yet written: what a buffered sender holds, or the
    /// part of a batch being written (see [`batch`]).
    out: Vec<u8>,
    /// The most bytes a buffered sender holds before it writes; 0 for an unbuffered one.
    buffer: usize,
    /// The batch record open at the end of `out`.
    batcher: codec::Batcher,
    /// What was written lately, for [`Sender::close`].
    written: written::Written,
    /// Slices: the most elements one slice may hold ([`Sender::set_max_len`]); 0 for
    /// messages.
    max_len: usize,
    /// A FIFO sender's share of the FIFO (see [`crate::fifo`]), retaken when the longest
    /// record it may write changes; `None` for a pipe.
    lock: Option<crate::fifo::WriterLock>,
    /// Foreign-peer mode: bare messages back to back, no handshake ([`Sender::foreign`]).
    foreign: bool,
    _t: PhantomData<fn(T)>,
}

mod batch;
mod slice;
mod written;

impl<P: ?Sized + Payload> Sender<P> {
    /// Wraps the write end of a pipe or FIFO. Does no I/O, so it cannot fail: the
    /// handshake is written just before the first message. A sender of slices `[E]`
    /// takes slices of up to [`default_max_len::<E>()`](codec::default_max_len) elements
    /// until told otherwise ([`Sender::set_max_len`]).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Sender {
            fd,
            hello_sent: false,
            sigpipe: None,
            sent: 0,
            out: Vec::new(),
            buffer: 0,
            batcher: codec::Batcher::default(),
            written: written::Written::default(),
            max_len: if P::IS_SLICE {
                codec::default_max_len::<P::Element>()
            } else {
                0
            },
            lock: None,
            foreign: false,
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

    /// Writes the handshake now rather than before the first message.
    pub(crate) fn send_hello(&mut self) -> Result<()> {
        if self.hello_sent {
            return Ok(()); // a handshake asked for twice
        }
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let hello = codec::hello::<P>();
        fd::write_all(self.fd.as_fd(), &mut [IoSlice::new(&hello)], sigpipe)?;
        self.hello_sent = true;
        self.written.note(hello.len(), 0);
        Ok(())
    }

    /// The handshake still to write before the next record (empty once it is written).
    #[inline(always)]
    fn hello(&self) -> Vec<u8> {
        if self.hello_sent {
            Vec::new()
        } else {
            codec::hello::<P>()
        }
    }

    /// The most bytes one record of this sender takes on the wire: a message's, or a
    /// slice's of the maximum length.
    pub(crate) fn longest_record(&self) -> usize {
        codec::record_len_of(self.max_len.max(1) * size_of::<P::Element>())
    }

    /// Foreign-peer mode (see [`Sender::foreign`]): no handshake, no buffer.
    pub(crate) fn set_foreign(&mut self) {
        self.foreign = true;
        self.hello_sent = true;
        self.buffer = 0;
    }

    /// Notes the share of the FIFO this sender holds (see [`crate::fifo`]).
    pub(crate) fn set_lock(&mut self, lock: crate::fifo::WriterLock) {
        self.lock = Some(lock);
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

impl<T: Message> Sender<T> {
    /// Foreign-peer mode, for a reader not built on this crate (a C program's `read`, a
    /// shell tool, Python's `struct.unpack`): no handshake and no record headers, each
    /// message is exactly the bytes of a `T`, back to back, one `write` per message
    /// (atomic up to [`PIPE_BUF`], as a C writer's). Call it before the first message;
    /// what was written before stays written. A [`buffered`](Sender::buffered) sender
    /// is not buffered in this mode, and batches go one message per `write`.
    ///
    /// Pipes and FIFOs have no `Options`, so the mode is a method of the end, the one
    /// spelling for every way a pipe's end is made (`from_fd`, `stdout`,
    /// [`channel`](crate::pipe::channel)): `pipe::Sender::<T>::from_fd(fd).foreign()`. A
    /// FIFO sender writes its handshake when it opens: give it the mode with
    /// [`fifo::Options::foreign`](crate::fifo::Options::foreign) instead.
    ///
    /// What is given up: the schema check the handshake makes at the reader, and the
    /// framing that keeps a stream in step after a torn write. Keep the two sides in
    /// agreement with a C header generated from the type
    /// ([`schema::c_header`](crate::schema::c_header)).
    #[must_use]
    pub fn foreign(mut self) -> Self {
        self.set_foreign();
        self
    }

    /// Whether this sender writes bare messages for a foreign reader ([`Sender::foreign`]).
    pub fn is_foreign(&self) -> bool {
        self.foreign
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
            // A foreign reader takes the bare message: one plain write, as a C writer's.
            Some(m) if self.foreign => (head, payload, tail) = (&[], message::as_bytes(m), &[]),
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
        self.sent += u64::from(msg.is_some());
        self.written.note(hello.len(), 0);
        self.written.note(record, usize::from(msg.is_some()));
        Ok(())
    }

    /// Closes this end once the reader has read everything this sender wrote, waiting at
    /// most `timeout` (`Duration::MAX`: for ever; zero: not at all), and tells how many
    /// messages were not read.
    ///
    /// A pipe keeps what was written while a read end is open, also after every writer
    /// has closed: dropping the sender (or exiting) loses nothing while the reader holds
    /// its end. What is still in the pipe when the last read end closes is discarded
    /// without a word to anyone; `close` is how a sender learns of it. It looks at the
    /// bytes still in the pipe (`FIONREAD`) and whether a reader has it open (`poll`'s
    /// `POLLERR`), sleeping 0.1 ms, then twice as long each time, up to 10 ms, between
    /// looks; a shutdown request (see [`shutdown_on`](crate::signal::shutdown_on)) ends
    /// the wait.
    ///
    /// The count is exact when this sender is the only writer of the pipe (bytes other
    /// writers left in it make it larger, up to every message this sender wrote): the
    /// sender keeps a record of its last writes (2 MiB of them, as runs of one shape).
    ///
    /// # Errors
    ///
    /// [`Unread`] if messages were still in the pipe when it closed, or held by a
    /// [buffered](Sender::buffered) sender that could not write them in time:
    /// `discarded: true` if no reader had the pipe open (they are gone, unless another
    /// writer still holds the pipe and a reader opens the FIFO before that one closes) or
    /// if some were held (those are gone), `discarded: false` if a reader has the pipe
    /// open and may still read them all.
    pub fn close(mut self, timeout: Duration) -> Result<(), Unread> {
        let wait = Wait::timeout(timeout);
        // What a buffered sender holds goes first; what cannot go in time is unread.
        let _ = self.write_out(&wait, true);
        let held = self.held_messages();
        self.out.clear();
        let fd = self.fd.as_fd();
        let mut nap = Duration::from_micros(100);
        let (queued, reader) = loop {
            // A pipe whose bytes cannot be counted is taken as holding none.
            let queued = fd::bytes_queued(fd).unwrap_or(0) as u64;
            let reader = !matches!(
                fd::wait_ready(fd, PollFlags::POLLOUT, &Wait::Now),
                Ok(Some(r)) if r.contains(PollFlags::POLLERR)
            );
            let left = wait.left();
            if queued == 0
                || !reader
                || left.is_some_and(|l| l.is_zero())
                || crate::shutdown::shutdown_requested()
            {
                break (queued, reader);
            }
            std::thread::sleep(left.map_or(nap, |l| nap.min(l)));
            nap = (nap * 2).min(Duration::from_millis(10));
        };
        let unread = self.unread_in(queued) + held;
        drop(self);
        match unread {
            0 => Ok(()),
            // Messages a buffered sender could not write in time are gone with it.
            n => Err(Unread::new(n, !reader || held > 0)),
        }
    }

    /// How many of this sender's messages are among the last `queued` bytes it wrote.
    fn unread_in(&self, queued: u64) -> u64 {
        self.written.messages_in_last(queued).min(self.sent)
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

impl<T: Message> Tx<T> for Sender<T> {
    /// Writes the handshake before the first message, then `*msg` as one record: whole
    /// and atomic up to [`PIPE_BUF`], sealed above (see the [module docs](crate::pipe)).
    /// A bounded wait ([`Wait::Now`](contract::Wait::Now),
    /// [`Wait::For`](contract::Wait::For)) first waits for room for all of it, so it
    /// never leaves part of a record behind.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if every read end is closed, [`Error::Full`] or
    /// [`Error::Timeout`] if there was no room in time, [`Error::LimitExceeded`] for a
    /// bounded wait on a record bigger than the pipe can ever be made
    /// (`/proc/sys/fs/pipe-max-size`; wait for ever instead), [`Error::Shutdown`] once
    /// shutdown is requested while the pipe is full (see
    /// [`shutdown_on`](crate::signal::shutdown_on)), [`Error::Io`] for another failure
    /// of `write`.
    #[inline]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        if self.buffer > 0 {
            if self.try_hold(msg) {
                return Ok(());
            }
            return self
                .send_batch(std::slice::from_ref(msg), wait.into())
                .map(drop);
        }
        match wait {
            contract::Wait::Forever => self.write_frame(Some(msg), &Wait::Forever),
            bounded => self.write_frame(Some(msg), &bounded.into()),
        }
    }

    /// Writes messages of up to 2044 bytes in batch records (one header for up to a pipe
    /// page of them), whole pages of full records up to 64 KiB per `write`, then the last,
    /// shorter record alone; page-sized messages (4089 to 4096 bytes) go 16 per `write`,
    /// straight from `msgs`. A buffered sender adds them to its buffer instead. Other
    /// messages go one per `write`, as `send` writes them. A write cut short is cut
    /// between records, so a sender killed mid-batch leaves whole messages, except for a
    /// record longer than [`PIPE_BUF`] (a message of more than 4096 bytes, or a page-sized
    /// one that goes sealed because it begins like a record tag): no `write` moves it
    /// atomically, a kill can cut it, and the reader then reports one [`Error::Corrupt`].
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`], for the first message.
    fn send_many_wait(&mut self, msgs: &[T], wait: contract::Wait) -> Result<usize> {
        if self.foreign {
            return contract::send_each(msgs, wait, |m, w| self.send_wait(m, w));
        }
        if codec::is_page::<T>() {
            return self.send_pages(msgs, wait.into());
        }
        if !codec::batches::<T>() {
            return contract::send_each(msgs, wait, |m, w| self.send_wait(m, w));
        }
        self.send_batch(msgs, wait.into())
    }

    /// Writes what a buffered sender holds, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if every read end is closed, [`Error::Shutdown`],
    /// [`Error::Io`].
    fn flush(&mut self) -> Result<()> {
        self.write_out(&Wait::Forever, true)
    }
}

contract::sending_end!(impl<T> Sender<T>, T);

impl<T: ?Sized> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Sender<T>);

/// Takes the descriptor out, after writing what a buffered sender holds. If no message
/// was sent yet, whoever wraps it next writes the handshake; if some were, a new
/// [`Sender`] on it writes another, which readers accept.
impl<T: ?Sized> From<Sender<T>> for OwnedFd {
    fn from(tx: Sender<T>) -> OwnedFd {
        tx.into_fd()
    }
}

/// Makes the write end a child's stdin/stdout/stderr (`Command::stdout(Stdio::from(tx))`),
/// after writing what a buffered sender holds.
impl<T: ?Sized> From<Sender<T>> for Stdio {
    fn from(tx: Sender<T>) -> Stdio {
        Stdio::from(tx.into_fd())
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
