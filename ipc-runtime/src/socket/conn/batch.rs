//! Batched and buffered sends for a stream socket [`Sender`] (Unix and TCP).
//!
//! A batch is gathered into one buffer of whole records and written with one `send(2)`
//! per 64 KiB. A buffered sender ([`Sender::buffered`]) keeps what `send` accepts in the
//! buffer that already holds the unwritten tail of a frame, and writes it when it is
//! full, on [`Sender::flush`], and on drop. Accepted bytes are committed: a frame is
//! never taken back once its first byte is accepted, so the stream keeps its framing.
//!
//! A buffered sender does not flush by itself when the stream goes idle: without a
//! thread or a timer of its own, a message held back would wait for the next `send`.
//! Unbuffered (the default), each `send` is written at once, for latency, and `send_all`
//! writes a batch with one system call per 64 KiB.

use std::io::IoSlice;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::{flush, Sender};
use crate::codec;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::socket::sys::{self, Wait};

/// How many bytes of records an unbuffered batch gathers for one `send`.
const GATHER: usize = 64 * 1024;

/// Where the records of a batch end in the buffer they were gathered in: computed for
/// records of one length, listed for page-sized messages, whose records have one of two
/// lengths (see [`codec`]).
struct Ends {
    list: Vec<usize>,
}

impl Ends {
    /// How many records of the gathered batch were written whole by `n` bytes, and the
    /// end of the record `n` falls inside, if it falls inside one.
    fn split<T: Message>(&self, n: usize) -> (usize, Option<usize>) {
        if codec::is_page::<T>() {
            let whole = self.list.partition_point(|&end| end <= n);
            let start = whole.checked_sub(1).map_or(0, |i| self.list[i]);
            (whole, (n > start).then(|| self.list[whole]))
        } else {
            let rec = codec::record_len::<T>();
            let whole = n / rec;
            (whole, (n % rec != 0).then_some((whole + 1) * rec))
        }
    }
}

impl<T: Message> Sender<T> {
    /// Makes this sender buffered: from now on `send` (and `send_all`) add records to a
    /// buffer of `capacity` bytes, written when it is full, on [`Sender::flush`], and on
    /// drop. For streams of small messages where throughput matters more than the latency
    /// of each one: with 8-byte messages, 64 KiB hold 4096 of them.
    ///
    /// A dropped buffered sender writes what it holds, waiting for the peer as long as it
    /// takes (as `std::io::BufWriter` does), unless the peer is gone or a shutdown is
    /// requested (see [`shutdown_on`](crate::signal::shutdown_on)); call
    /// [`Sender::flush`] to learn what became of it.
    #[must_use]
    pub fn buffered(mut self, capacity: usize) -> Self {
        self.buffer = capacity.max(codec::record_len::<T>());
        self
    }

    /// Takes a prefix of `msgs` (at least the first, waiting for room as `wait` says,
    /// unless an error comes first) and returns how many. Unbuffered, they are written
    /// before it returns (a frame whose first byte went is sent, its tail kept to write
    /// first next time); buffered, they join the buffer.
    pub(super) fn send_batch(&mut self, msgs: &[T], wait: Wait) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        if self.buffer > 0 {
            return self.buffer_batch(msgs, wait);
        }
        let forever = matches!(wait, Wait::Forever);
        let mut w = wait;
        let mut frame = std::mem::take(&mut self.frame);
        let mut ends = Ends { list: Vec::new() };
        let mut done = 0;
        while done < msgs.len() {
            if let Err(e) = self.flush_pending(w) {
                if done == 0 {
                    self.frame = frame;
                    return Err(e);
                }
                break;
            }
            frame.clear();
            ends.list.clear();
            let mut k = done;
            while k < msgs.len() && (k == done || frame.len() + codec::record_len::<T>() <= GATHER)
            {
                codec::push_record(&mut frame, &msgs[k]);
                if codec::is_page::<T>() {
                    ends.list.push(frame.len());
                }
                k += 1;
            }
            let n = match send_some(self.fd.as_fd(), &frame, w) {
                Ok(n) => n,
                Err(e) if done == 0 => {
                    self.frame = frame;
                    return Err(e);
                }
                Err(_) => break,
            };
            let (whole, cut) = ends.split::<T>(n);
            done += whole;
            if let Some(end) = cut {
                // The frame `n` falls inside is sent: its tail goes first next time.
                self.pending.extend_from_slice(&frame[n..end]);
                done += 1;
            }
            if n < frame.len() && !forever {
                break;
            }
            if !forever {
                w = Wait::Now;
            }
        }
        self.frame = frame;
        Ok(done)
    }

    /// [`Sender::send_batch`] for a buffered sender: the records join the buffer, which
    /// is written whenever it is full (the first write of the call waiting as `wait`
    /// says, later ones only if there is room now).
    fn buffer_batch(&mut self, msgs: &[T], wait: Wait) -> Result<usize> {
        let forever = matches!(wait, Wait::Forever);
        let rec = codec::record_len::<T>();
        let mut w = wait;
        let mut taken = 0;
        for m in msgs {
            if self.pending.len() + rec > self.buffer {
                match write_some(self.fd.as_fd(), &mut self.pending, w) {
                    Ok(()) => {}
                    Err(e) if taken == 0 => return Err(e),
                    Err(_) => break,
                }
                if !forever {
                    w = Wait::Now;
                }
                if self.pending.len() + rec > self.buffer {
                    break;
                }
            }
            codec::push_record(&mut self.pending, m);
            taken += 1;
        }
        Ok(taken)
    }
}

/// One `send` of at least one byte of `buf`, waiting for room as `wait` says; returns
/// how many bytes went.
fn send_some(fd: std::os::fd::BorrowedFd<'_>, buf: &[u8], wait: Wait) -> Result<usize> {
    loop {
        match sys::send(fd, &[IoSlice::new(buf)], &[], wait.msg_flags()) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => sys::again(fd, PollFlags::POLLOUT, wait, true)?,
            Err(e) => return Err(Error::sys("send", e)),
        }
    }
}

/// Writes from the front of `held`: all of it for [`Wait::Forever`], otherwise what goes
/// with one `send` once there is room (as `wait` says). What was written leaves `held`.
fn write_some(fd: std::os::fd::BorrowedFd<'_>, held: &mut Vec<u8>, wait: Wait) -> Result<()> {
    if matches!(wait, Wait::Forever) {
        return flush(fd, held, wait);
    }
    let n = send_some(fd, held, wait)?;
    held.drain(..n);
    Ok(())
}
