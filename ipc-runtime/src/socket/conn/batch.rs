//! Batched and buffered sends for a stream socket [`Sender`] (Unix and TCP).
//!
//! A batch is gathered into batch records (see [`codec`]; one header per 4 KiB of
//! messages of up to 2044 bytes) and written with one `send(2)` per 64 KiB. A buffered sender ([`Sender::buffered`]) keeps what `send` accepts in the
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
use crate::codec::{self, HEADER_LEN};
use crate::deadline::Patience;
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::socket::sys::{self, Wait};

/// How many bytes of records an unbuffered batch gathers for one `send`.
const GATHER: usize = 64 * 1024;

/// Where the records of a gathered batch end, with how many messages the batch holds up
/// to each end.
#[derive(Default)]
struct Ends {
    list: Vec<(usize, usize)>,
}

impl Ends {
    /// Notes a record ending at `end` with `msgs` messages in it.
    fn push(&mut self, end: usize, msgs: usize) {
        let before = self.list.last().map_or(0, |&(_, m)| m);
        self.list.push((end, before + msgs));
    }

    /// How many messages went with the records whose first byte is among the first `n`
    /// bytes, and the end of the record `n` falls inside, if it falls inside one.
    fn split(&self, n: usize) -> (usize, Option<usize>) {
        let whole = self.list.partition_point(|&(end, _)| end <= n);
        let start = whole.checked_sub(1).map_or(0, |i| self.list[i].0);
        let sent = |records: usize| records.checked_sub(1).map_or(0, |i| self.list[i].1);
        if n > start {
            (sent(whole + 1), Some(self.list[whole].0))
        } else {
            (sent(whole), None)
        }
    }
}

/// Gathers messages from the front of `msgs` into `frame` (cleared first), at least one
/// and up to [`GATHER`] bytes, noting where each record ends; returns how many. A
/// foreign sender's records are the bare messages.
fn gather<T: Message>(msgs: &[T], frame: &mut Vec<u8>, ends: &mut Ends, foreign: bool) -> usize {
    frame.clear();
    ends.list.clear();
    let mut k = 0;
    if foreign {
        let take = msgs.len().min((GATHER / size_of::<T>().max(1)).max(1));
        for m in &msgs[..take] {
            frame.extend_from_slice(message::as_bytes(m));
            ends.push(frame.len(), 1);
        }
        k = take;
    } else if codec::batches::<T>() {
        let mut batcher = codec::Batcher::default();
        while k < msgs.len() && (k == 0 || frame.len() + HEADER_LEN + size_of::<T>() <= GATHER) {
            // A record's worth per copy, up to GATHER bytes in all.
            let room = GATHER.saturating_sub(frame.len() + HEADER_LEN) / size_of::<T>();
            let end = msgs.len().min(k + room.max(1));
            k += batcher.push_many(frame, &msgs[k..end]);
        }
        let mut at = 0;
        while let Some(header) = frame[at..].first_chunk::<HEADER_LEN>() {
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            at += HEADER_LEN + len;
            ends.push(at, len / size_of::<T>());
        }
    } else {
        while k < msgs.len() && (k == 0 || frame.len() + codec::record_len::<T>() <= GATHER) {
            codec::push_record(frame, &msgs[k]);
            ends.push(frame.len(), 1);
            k += 1;
        }
    }
    k
}

impl<T: Message> Sender<T> {
    /// Makes this sender buffered: from now on `send` (and `send_all`) add records to a
    /// buffer of `capacity` bytes, written when it is full, on [`Sender::flush`], and on
    /// drop. For streams of small messages where throughput matters more than the latency
    /// of each one: with 8-byte messages, 64 KiB hold 4096 of them.
    ///
    /// A dropped buffered sender writes what it holds while the peer takes it, as
    /// `std::io::BufWriter` does, and gives up on a peer that takes nothing for a second
    /// (see [`Sender`]); call [`Sender::flush`] (as long as it takes) or
    /// [`Sender::close`] (as long as you allow) to learn what became of it.
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
        let mut ends = Ends::default();
        let mut done = 0;
        while done < msgs.len() {
            if let Err(e) = self.flush_pending(w) {
                if done == 0 {
                    self.frame = frame;
                    return Err(e);
                }
                break;
            }
            gather(&msgs[done..], &mut frame, &mut ends, self.foreign);
            let n = match send_some(self.fd.as_fd(), &frame, w) {
                Ok(n) => n,
                Err(e) if done == 0 => {
                    self.frame = frame;
                    return Err(e);
                }
                Err(_) => break,
            };
            let (sent, cut) = ends.split(n);
            done += sent;
            if let Some(end) = cut {
                // The record `n` falls inside is sent: its tail goes first next time.
                self.pending.extend_from_slice(&frame[n..end]);
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
        let rec = self.record_len();
        let mut w = wait;
        let mut taken = 0;
        for m in msgs {
            if self.pending.len() + rec > self.buffer {
                self.batcher.close();
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
            self.hold(m);
            taken += 1;
        }
        Ok(taken)
    }
}

impl<T: Message> Sender<T> {
    /// The bytes one message takes on the wire: its record, or its own bytes for a
    /// foreign peer.
    pub(super) fn record_len(&self) -> usize {
        if self.foreign {
            size_of::<T>()
        } else {
            codec::record_len::<T>()
        }
    }

    /// Adds `msg` to what a buffered sender holds: to the open batch record, for types
    /// that batch.
    #[inline(always)]
    pub(super) fn hold(&mut self, msg: &T) {
        if self.foreign {
            self.pending.extend_from_slice(message::as_bytes(msg));
        } else if codec::batches::<T>() {
            self.batcher.push(&mut self.pending, msg);
        } else {
            codec::push_record(&mut self.pending, msg);
        }
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
        return flush(fd, held, Patience::Within(wait));
    }
    let n = send_some(fd, held, wait)?;
    held.drain(..n);
    Ok(())
}
