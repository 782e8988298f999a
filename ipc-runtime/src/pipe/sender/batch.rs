//! Batched and buffered writing for a pipe or FIFO [`Sender`].
//!
//! The records of small messages are gathered and written with one `write` per
//! [`PIPE_BUF`] bytes of whole records (256 messages of 8 bytes), never more: a `write` of
//! at most `PIPE_BUF` bytes is atomic, so records of several writers never interleave, and
//! a writer killed in the middle of a batch leaves whole records behind, never part of
//! one. (One larger `write` would save a few system calls per 64 KiB, but the kernel may
//! then cut it anywhere, between pages, when the pipe fills.)
//!
//! A buffered sender ([`Sender::buffered`]) holds what `send` accepts until its buffer is
//! full, [`Sender::flush`] is called, or it is dropped. It does not flush by itself when
//! the stream goes idle: without a thread or a timer of its own, a message held back
//! because the reader lags would wait for the next `send`. The choice is the caller's:
//! an unbuffered sender (the default) writes each `send` at once, for latency, and
//! `send_all` writes a batch with as few system calls as atomicity allows; a buffered
//! one coalesces across calls, for throughput, and flushes when told.

use std::io::IoSlice;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, OwnedFd};

use super::{Sender, PIPE_BUF};
use crate::codec;
use crate::error::{Error, Result};
use crate::fd::{self, Sigpipe, Wait};
use crate::message::Message;

/// How many bytes of records an unbuffered batch gathers before it writes them.
const GATHER: usize = 64 * 1024;

/// Whether the records of `T` are coalesced: each has the same length, at most half of
/// [`PIPE_BUF`], so that several go in one atomic `write`.
pub(super) const fn coalesces<T: Message>() -> bool {
    !codec::is_page::<T>() && codec::record_len::<T>() <= PIPE_BUF / 2
}

/// The bytes of whole records of `T` one `write` takes: as many as fit in [`PIPE_BUF`].
pub(super) const fn chunk<T: Message>() -> usize {
    let rec = codec::record_len::<T>();
    if coalesces::<T>() {
        PIPE_BUF / rec * rec
    } else {
        rec
    }
}

impl<T: Message> Sender<T> {
    /// Makes this sender buffered: from now on `send` (and `send_all`) add records to a
    /// buffer of `capacity` bytes, written when it is full, on [`Sender::flush`], on
    /// [`Sender::close`] and on drop, each write atomic (see [`PIPE_BUF`]). For streams of
    /// small messages where throughput matters more than the latency of each one: with
    /// 8-byte messages, 64 KiB hold 4096 of them.
    ///
    /// A dropped buffered sender writes what it holds, waiting for the reader as long as
    /// it takes (as `std::io::BufWriter` does), unless the reader is gone or a shutdown is
    /// requested (see [`shutdown_on`](crate::signal::shutdown_on)); call
    /// [`Sender::flush`] or [`Sender::close`] to learn what became of it.
    ///
    /// Messages whose records are longer than half of [`PIPE_BUF`] cannot share an atomic
    /// `write`: for them the sender stays unbuffered.
    ///
    /// ```
    /// use ipc::pipe;
    ///
    /// let (tx, mut rx) = pipe::channel::<u64>()?;
    /// let mut tx = tx.buffered(64 * 1024);
    /// for n in 0..1000 {
    ///     tx.send(n)?; // into the buffer
    /// }
    /// tx.flush()?; // one write per 4 KiB of records
    /// let mut got = [0u64; 1000];
    /// let mut n = 0;
    /// while n < got.len() {
    ///     n += rx.recv_many(&mut got[n..])?;
    /// }
    /// assert!(got.iter().copied().eq(0..1000));
    /// # Ok::<(), ipc::Error>(())
    /// ```
    #[must_use]
    pub fn buffered(mut self, capacity: usize) -> Self {
        if coalesces::<T>() {
            self.buffer = capacity.max(self.chunk);
        }
        self
    }

    /// Writes what this sender holds (see [`Sender::buffered`]), waiting for room as long
    /// as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if every read end is closed, [`Error::Shutdown`],
    /// [`Error::Io`]; what was not written stays held.
    pub fn flush(&mut self) -> Result<()> {
        self.write_out(&Wait::Forever, true)
    }

    /// Bytes of records accepted and not yet written (by a buffered sender).
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// How many messages this sender holds unwritten.
    pub(super) fn held_messages(&self) -> u64 {
        (self.out.len() / codec::record_len::<T>()) as u64
    }

    /// Takes the records of a prefix of `msgs` (at least the first, waiting for room as
    /// `wait` says, unless an error comes first) and returns how many. An unbuffered
    /// sender writes them before it returns; a buffered one adds them to its buffer,
    /// writing from it whenever it is full. Only for types whose records coalesce.
    pub(super) fn send_batch(&mut self, msgs: &[T], mut wait: Wait) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let forever = matches!(wait, Wait::Forever);
        let rec = codec::record_len::<T>();
        if !self.hello_sent {
            self.write_frame(None, &wait)?;
            if !forever {
                wait = Wait::Now;
            }
        }
        let limit = if self.buffer > 0 { self.buffer } else { GATHER };
        let mut taken = 0;
        let mut failed = None;
        for m in msgs {
            if self.out.len() + rec > limit {
                // Full: write from the front; a bounded wait waits once, for the first
                // write of the call.
                if let Err(e) = self.write_out(&wait, false) {
                    failed = Some(e);
                    break;
                }
                if !forever {
                    wait = Wait::Now;
                }
                if self.out.len() + rec > limit {
                    break;
                }
            }
            codec::push_record(&mut self.out, m);
            taken += 1;
        }
        if self.buffer == 0 {
            // Unbuffered: what was taken goes now, and what cannot go without waiting
            // (past a bounded wait's first write) was not sent.
            if failed.is_none() {
                failed = self.write_out(&wait, false).err();
            }
            taken -= self.out.len() / rec;
            self.out.clear();
        }
        match failed {
            Some(e) if taken == 0 => Err(e),
            _ if taken == 0 => Err(wait.send_expired()),
            _ => Ok(taken),
        }
    }

    /// Writes the records held in `out` from the front, one atomic `write` per
    /// [`chunk`] of whole records. The first write waits for room as `wait` says; later
    /// ones do too with `all`, and are otherwise made only where there is room now. What
    /// was written leaves `out`.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::Timeout`] if the first write found no room in time,
    /// and the errors of writing; what was not written stays in `out`.
    pub(super) fn write_out(&mut self, wait: &Wait, all: bool) -> Result<()> {
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let rec = codec::record_len::<T>();
        let mut at = 0;
        let mut result = Ok(());
        while at < self.out.len() {
            let end = (at + self.chunk).min(self.out.len());
            let waits = at == 0 || all;
            let written = if matches!(wait, Wait::Forever) {
                fd::write_all(
                    self.fd.as_fd(),
                    &mut [IoSlice::new(&self.out[at..end])],
                    sigpipe,
                )
                .map(|()| true)
            } else if waits {
                self.wait_for_room(end - at, wait).and_then(|()| {
                    fd::write_all(
                        self.fd.as_fd(),
                        &mut [IoSlice::new(&self.out[at..end])],
                        sigpipe,
                    )
                    .map(|()| true)
                })
            } else {
                fd::write_now(self.fd.as_fd(), &self.out[at..end], sigpipe)
            };
            match written {
                Ok(true) => {
                    self.sent += ((end - at) / rec) as u64;
                    at = end;
                }
                Ok(false) => break,
                // Later writes that find no room in time leave the rest held.
                Err(Error::Full | Error::Timeout(_)) if at > 0 => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.out.drain(..at);
        result
    }
}

impl<T> Sender<T> {
    /// Writes every record held, waiting as long as it takes; stops at the first error
    /// (a reader gone, a shutdown requested). For drop and for giving the descriptor
    /// away, where nobody is left to report to.
    fn drain(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        for part in self.out.chunks(self.chunk.max(1)) {
            if fd::write_all(self.fd.as_fd(), &mut [IoSlice::new(part)], sigpipe).is_err() {
                break;
            }
        }
        self.out.clear();
    }

    /// The descriptor, after writing what this sender holds.
    pub(super) fn into_fd(self) -> OwnedFd {
        let mut tx = ManuallyDrop::new(self);
        tx.drain();
        drop(std::mem::take(&mut tx.out));
        // SAFETY: `tx` is never dropped (it is `ManuallyDrop`) and not used after this
        // read, so the descriptor is moved out exactly once and closed by its new owner
        // only. The one other field that owns memory, `out`, was taken and dropped above;
        // the rest are plain values.
        unsafe { std::ptr::read(&tx.fd) }
    }
}

impl<T> Drop for Sender<T> {
    /// Writes what a buffered sender holds (see [`Sender::buffered`]).
    fn drop(&mut self) {
        self.drain();
    }
}
