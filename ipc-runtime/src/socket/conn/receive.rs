//! The receiving half's reads: the [`Source`] a receive fills its frame reader from (the
//! socket, and the descriptors that arrive beside its bytes, kept within the receiver's
//! limit for the message they came with), and the claim of a message's descriptors.

use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::super::sys::{self, CmsgBuf, Wait};
use super::Receiver;
use crate::codec::{FrameReader, Framed, Source};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;

/// What a receive of a [`Receiver`] reads from: the socket, and the queue of descriptors
/// that arrive beside its bytes, kept within the receiver's limit.
struct Incoming<'a> {
    fd: BorrowedFd<'a>,
    cmsg: &'a mut Option<CmsgBuf>,
    wait: Wait,
    received: &'a mut u64,
    fds: &'a mut VecDeque<FdBatch>,
    refused: &'a mut Option<u64>,
    max_fds: usize,
}

pub(super) struct FdBatch {
    offset: u64,
    fds: Vec<OwnedFd>,
    lost: bool,
}

impl<P: ?Sized + Payload> Framed<P> for Receiver<P> {
    /// The start of every receive: closes descriptors of messages already returned.
    #[inline(always)]
    fn reader_and_fill(&mut self, wait: Wait) -> (&mut FrameReader<P>, impl Source + '_) {
        if !self.fds.is_empty() {
            self.close_claimed();
        }
        let incoming = Incoming {
            fd: self.fd.as_fd(),
            cmsg: &mut self.cmsg,
            wait,
            received: &mut self.received,
            fds: &mut self.fds,
            refused: &mut self.refused,
            max_fds: self.max_fds,
        };
        (&mut self.reader, incoming)
    }
}

impl Source for Incoming<'_> {
    #[inline(always)]
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        fill(self.fd, buf, self.cmsg, self.wait, self.received, self.fds)
    }

    /// Keeps the descriptors held for the record at the front within `max_fds`: every
    /// descriptor queued now came with that record's first `held` bytes or with records
    /// the frame reader has consumed since the receive began (those are closed here).
    #[inline(always)]
    fn before_fill(&mut self, held: usize) -> Result<()> {
        if self.fds.is_empty() && self.refused.is_none() {
            return Ok(());
        }
        self.bound_fds(held)
    }
}

impl Incoming<'_> {
    /// [`Source::before_fill`] once descriptors are queued or a record is refused.
    #[cold]
    #[inline(never)]
    fn bound_fds(&mut self, held: usize) -> Result<()> {
        let front = *self.received - held as u64;
        if self.refused.is_some_and(|at| at != front) {
            // The refused record was dropped: the front is the next one.
            *self.refused = None;
        }
        // Descriptors of records consumed (dropped) since this receive began: a message
        // returned before it had its own closed or claimed already.
        while self.fds.front().is_some_and(|b| b.offset < front) {
            self.fds.pop_front();
        }
        if self.refused.is_some() {
            // More of the refused record, with more descriptors: closed as they come.
            self.fds.clear();
            return Ok(());
        }
        let count: usize = self.fds.iter().map(|b| b.fds.len()).sum();
        if count <= self.max_fds {
            return Ok(());
        }
        let sends = self.fds.len();
        self.fds.clear();
        *self.refused = Some(front);
        Err(Error::LimitExceeded {
            limit: "file descriptors per received message",
            value: self.max_fds as u64,
            hint: format!(
                "the peer sent {count} descriptors with the first {held} bytes of one message, \
                 {}; this receiver closed them, and drops the message as the rest of it \
                 arrives (the next receive goes on with the message after it). A sender of ipc \
                 sends all of a message's descriptors with its first bytes; if the peer means \
                 to send that many, raise the receiver's limit with max_fds() (at most 253)",
                in_sends(sends)
            ),
        })
    }
}

impl<T: Message> Receiver<T> {
    /// Receives a message. Descriptors that came with it stay queued until
    /// [`Receiver::claim_fds`] takes them or the next receive closes them; a message that
    /// brought more than `max_fds` while it arrived in pieces is refused and dropped (see
    /// [`Incoming::before_fill`]).
    #[inline]
    pub(crate) fn recv_inner(&mut self, wait: Wait) -> Result<T> {
        self.recv_framed(wait)
    }

    /// Receives a message and the descriptors sent with it.
    pub(crate) fn recv_with_fds(&mut self, wait: Wait) -> Result<(T, Vec<OwnedFd>)> {
        let msg = self.recv_inner(wait)?;
        Ok((msg, self.claim_fds()?))
    }
}

impl<P: ?Sized + Payload> Receiver<P> {
    /// Bytes received but not yet returned as a message.
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    pub(crate) fn set_max_fds(&mut self, n: usize) {
        self.max_fds = n;
        self.cmsg = (n > 0).then(|| CmsgBuf::new(n));
    }

    /// Stream offset of the first byte not yet decoded: the end of the frame of the
    /// message last returned.
    fn consumed(&self) -> u64 {
        self.received - self.reader.buffered() as u64
    }

    /// Closes descriptors that came with frames already decoded (returned by a plain
    /// receive, or dropped as bad input).
    fn close_claimed(&mut self) {
        let consumed = self.consumed();
        while self.fds.front().is_some_and(|b| b.offset < consumed) {
            self.fds.pop_front();
        }
    }

    /// Takes the descriptors that came with the message just returned (the batches read
    /// inside its frame, which ends at the current stream offset).
    fn claim_fds(&mut self) -> Result<Vec<OwnedFd>> {
        let consumed = self.consumed();
        let start = consumed.saturating_sub(self.reader.last_record_len() as u64);
        let mut mine = Vec::new();
        let mut lost = false;
        let mut sends = 0;
        while self.fds.front().is_some_and(|b| b.offset < consumed) {
            let b = self.fds.pop_front().expect("front exists");
            if b.offset >= start {
                mine.extend(b.fds);
                lost |= b.lost;
                sends += 1;
            }
        }
        if lost {
            return Err(Error::LimitExceeded {
                limit: "file descriptors per received message",
                value: self.max_fds as u64,
                hint: format!(
                    "the peer sent more descriptors with one message than fit (or this process \
                     reached RLIMIT_NOFILE), so the kernel closed the rest and this message was \
                     dropped; {} arrived. Raise the receiver's limit with max_fds(), or send \
                     fewer",
                    mine.len()
                ),
            });
        }
        if mine.len() > self.max_fds {
            // Sent in pieces, the last of which completed the message (or the limit was
            // lowered since they arrived).
            return Err(Error::LimitExceeded {
                limit: "file descriptors per received message",
                value: self.max_fds as u64,
                hint: format!(
                    "the peer sent {} descriptors with one message, {}; this receiver closed \
                     them and dropped the message. Raise the receiver's limit with max_fds() \
                     (at most 253) if the peer means to send that many",
                    mine.len(),
                    in_sends(sends)
                ),
            });
        }
        Ok(mine)
    }
}

/// "in one send", "in 16 sends": how the descriptors of a message came.
fn in_sends(sends: usize) -> String {
    if sends == 1 {
        "in one send".into()
    } else {
        format!("in {sends} sends")
    }
}

/// Reads more bytes for the frame reader, noting descriptors that arrive with them. A
/// reset connection (a Unix peer that closed with data of ours unread, a TCP reset) is
/// the end of the stream, as a clean close is: the frame reader then says whether it
/// came between records ([`Error::Disconnected`]) or inside one ([`Error::Corrupt`]).
fn fill(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    cmsg: &mut Option<CmsgBuf>,
    wait: Wait,
    received: &mut u64,
    batches: &mut VecDeque<FdBatch>,
) -> Result<usize> {
    loop {
        let Some(cmsg) = cmsg.as_mut() else {
            match nix::sys::socket::recv(fd.as_raw_fd(), buf, wait.msg_flags()) {
                Ok(n) => {
                    *received += n as u64;
                    return Ok(n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    sys::again(fd, PollFlags::POLLIN, wait, false)?;
                    continue;
                }
                Err(Errno::ECONNRESET) => return Ok(0),
                Err(e) => return Err(Error::sys("recv", e)),
            }
        };
        match sys::recv(fd, buf, cmsg, wait.msg_flags()) {
            Ok(r) => {
                if r.len > 0 && (!r.fds.is_empty() || r.fds_lost) {
                    batches.push_back(FdBatch {
                        offset: *received + r.len as u64 - 1,
                        fds: r.fds,
                        lost: r.fds_lost,
                    });
                }
                *received += r.len as u64;
                return Ok(r.len);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => sys::again(fd, PollFlags::POLLIN, wait, false)?,
            Err(Errno::ECONNRESET) => return Ok(0),
            Err(e) => return Err(Error::sys("recvmsg", e)),
        }
    }
}
