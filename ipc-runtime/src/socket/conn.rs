//! The two halves of a connected stream socket (Unix `SOCK_STREAM` or TCP), shared by
//! [`crate::socket`] and [`crate::tcp`]: the handshake, framed sends that never leave a
//! partial frame, and receives through a [`FrameReader`] with timeouts.

use std::collections::VecDeque;
use std::fmt;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::sys::{self, CmsgBuf, Wait};
use crate::codec::{self, FrameReader};
use crate::contract::{self, Tx};
use crate::deadline::{Patience, DROP_STALL};
use crate::error::{Error, Result, SendError};
use crate::message::{self, Message};
use crate::payload::Payload;

/// How many descriptors one message may carry by default (`SCM_MAX_FD` is 253).
pub(crate) const DEFAULT_MAX_FDS: usize = 16;

/// Message records up to this size are copied behind their header and sent with `send(2)`;
/// larger ones go in parts with `sendmsg(2)`, to avoid the copy.
const SMALL: usize = 1024;

/// The sending half of a connected stream socket: writes frames of `T`.
///
/// A frame is never left half-written on the wire by a bounded send: if `try_send` or
/// `send_timeout` could write only part of a frame, the message counts as sent, the
/// unwritten tail is kept in this `Sender`, and it is written before anything else, by
/// the next send or by [`Sender::flush`]. So the stream never loses its framing, and no
/// accepted message is lost while the peer reads.
///
/// When the sender is done, what it still holds (such a tail, and what a
/// [buffered](Sender::buffered) sender gathered) goes out with [`Sender::close`], which
/// waits for the peer at most as long as it is told, or when the sender is dropped. Drop
/// writes it while the peer takes it, as `std::io::BufWriter` does, and gives up once the
/// peer has taken nothing for a second, is gone, or a shutdown is requested (see
/// [`shutdown_on`](crate::signal::shutdown_on)); call [`Sender::flush`] first to wait as
/// long as it takes. What is given up is discarded, and the socket is shut down for
/// writing, so nothing can follow the part of a message already sent: the peer receives
/// every message written whole, reports the one cut short, if any, as
/// [`Error::Corrupt`] (a receiver never takes part of a message for a message), then the
/// end of the stream, [`Error::Disconnected`].
///
/// A `Sender<[E]>` sends slices instead of messages ([`Sender::send_slice`]), up to its
/// maximum length ([`Sender::set_max_len`]).
pub struct Sender<T: ?Sized> {
    fd: Arc<OwnedFd>,
    pending: Vec<u8>,
    /// Where a frame is assembled before it is written.
    frame: Vec<u8>,
    /// The most bytes a buffered sender holds in `pending` before it writes; 0 for an
    /// unbuffered one (see [`Sender::buffered`]).
    buffer: usize,
    /// The batch record open at the end of `pending` (a buffered sender's).
    batcher: codec::Batcher,
    /// Slices: the most elements one slice may hold ([`Sender::set_max_len`]); 0 for
    /// messages.
    max_len: usize,
    /// Foreign-peer mode: bare messages back to back, no handshake (see
    /// [`Options::foreign`](crate::socket::Options::foreign)).
    foreign: bool,
    _t: PhantomData<fn(T)>,
}

mod batch;
mod hello;
mod receive;
mod slice;

pub(crate) use hello::{finish, handshake, rpc_handshake, start, start_rpc, End, Hello};
use receive::FdBatch;
pub(crate) use slice::duplex_slice_stream;

/// The receiving half of a connected stream socket: reads frames of `T`.
///
/// A receive that times out keeps the part of a frame it has read; the next one goes on
/// from there.
///
/// Descriptors a Unix peer sends (`SCM_RIGHTS`) are held only for the message they came
/// with, and never more than its limit ([`Options::max_fds`](crate::socket::Options::max_fds),
/// 16 by default) for one message. The kernel closes what does not fit one read; a peer
/// that sends one message in several pieces, descriptors with each, has them counted
/// together: once they pass the limit, this receiver closes them, the receive under way
/// returns [`Error::LimitExceeded`], and the message is dropped unread as the rest of it
/// arrives (its later descriptors closed as they come); the next receive goes on with the
/// message after it. A receiver that takes none (`max_fds(0)`, and TCP) reads with
/// `recv(2)`, and the kernel closes every descriptor sent to it.
///
/// A `Receiver<[E]>` receives slices instead of messages ([`Receiver::recv_slice`]), up
/// to its maximum length ([`Receiver::set_max_len`]).
pub struct Receiver<T: ?Sized> {
    fd: Arc<OwnedFd>,
    reader: FrameReader<T>,
    /// Bytes read from the socket so far (the stream offset of the next byte).
    received: u64,
    /// Descriptors received, with the stream offset of the last byte of the read that
    /// brought them (which lies inside the frame they were sent with).
    fds: VecDeque<FdBatch>,
    /// Room for received descriptors; `None` when this receiver takes none (TCP, or
    /// `max_fds(0)`): then it reads with plain `recv(2)`.
    cmsg: Option<CmsgBuf>,
    max_fds: usize,
    /// The stream offset where the record refused for its descriptors begins, while the
    /// frame reader still holds a part of it (see `Incoming::before_fill`, in `receive.rs`).
    refused: Option<u64>,
}

impl<T: ?Sized> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("fd", &self.fd.as_raw_fd())
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<P: ?Sized + Payload> fmt::Debug for Receiver<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("fd", &self.fd.as_raw_fd())
            .field("buffered", &self.reader.buffered())
            .finish()
    }
}

/// The two halves of a connection to a program not built on this crate (foreign-peer
/// mode, see [`Options::foreign`](crate::socket::Options::foreign)): no handshake either
/// way; each message goes as exactly the bytes of `Out`, and each `In` is read as
/// exactly its bytes, validated.
///
/// # Errors
///
/// [`Error::Unsupported`] for a stream of slices: a bare slice has no length on the wire.
pub(crate) fn bare<Out: ?Sized + Payload, In: ?Sized + Payload>(
    fd: OwnedFd,
    max_fds: usize,
) -> Result<(Sender<Out>, Receiver<In>)> {
    if Out::IS_SLICE || In::IS_SLICE {
        return Err(Error::Unsupported {
            what: "foreign-peer mode on a stream of slices".into(),
            reason: "a bare slice has no length on the wire for the peer to find its end by; \
                     exchange messages of one fixed size (a struct with an array and a length \
                     field, say) instead",
        });
    }
    let fd = Arc::new(fd);
    let mut tx = Sender::<Out>::new(fd.clone());
    tx.foreign = true;
    let mut reader = FrameReader::<In>::new();
    reader.set_foreign();
    Ok((tx, Receiver::new(fd, reader, max_fds)))
}

impl<P: ?Sized + Payload> Sender<P> {
    /// The sending half over `fd`, before any handshake: unbuffered, in this crate's
    /// framing.
    fn new(fd: Arc<OwnedFd>) -> Self {
        Sender {
            fd,
            pending: Vec::new(),
            frame: Vec::new(),
            buffer: 0,
            batcher: codec::Batcher::default(),
            max_len: if P::IS_SLICE {
                codec::default_max_len::<P::Element>()
            } else {
                0
            },
            foreign: false,
            _t: PhantomData,
        }
    }

    /// Whether this half writes bare messages for a program not built on this crate
    /// (see [`Options::foreign`](crate::socket::Options::foreign)).
    pub fn is_foreign(&self) -> bool {
        self.foreign
    }
}

impl<P: ?Sized + Payload> Receiver<P> {
    /// The receiving half over `fd`, reading with `reader`.
    fn new(fd: Arc<OwnedFd>, reader: FrameReader<P>, max_fds: usize) -> Self {
        Receiver {
            fd,
            reader,
            received: 0,
            fds: VecDeque::new(),
            cmsg: (max_fds > 0).then(|| CmsgBuf::new(max_fds)),
            max_fds,
            refused: None,
        }
    }
}

impl<T: Message> Tx<T> for Sender<T> {
    /// Writes `*msg` as one frame. A bounded wait returns [`Error::Full`] or
    /// [`Error::Timeout`] only if not a byte of the frame could be written; once one is,
    /// the message counts as sent and an unwritten tail is kept (see the type docs).
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the peer is gone (never `SIGPIPE`: sends use
    /// `MSG_NOSIGNAL`), [`Error::Full`] or [`Error::Timeout`] as above,
    /// [`Error::Shutdown`], [`Error::Io`] otherwise.
    #[inline]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        if self.buffer > 0 {
            if self.pending.len() + self.record_len() <= self.buffer {
                self.hold(msg);
                return Ok(());
            }
            return self
                .send_batch(std::slice::from_ref(msg), wait.into())
                .map(drop);
        }
        self.send_frame_ref(msg, &[], wait.into())
    }

    /// Gathers the records of the batch and writes them with one `send(2)` per 64 KiB; a
    /// buffered sender adds them to its buffer instead. As for one message, a bounded wait
    /// takes back nothing it began to write: a frame cut by a full socket is sent, and its
    /// tail written first next time.
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`], for the first message.
    #[inline]
    fn send_many_wait(&mut self, msgs: &[T], wait: contract::Wait) -> Result<usize> {
        self.send_batch(msgs, wait.into())
    }

    /// Writes what a buffered sender holds and the tail of a frame a bounded send began.
    ///
    /// # Errors
    ///
    /// As [`Sender::flush`].
    #[inline]
    fn flush(&mut self) -> Result<()> {
        Sender::flush(self)
    }
}

contract::sending_end!(impl<T> Sender<T>, T);

impl<P: ?Sized + Payload> Sender<P> {
    /// Drops the unwritten tail of a frame, so dropping this sender does not wait for a
    /// peer that does not read. The peer sees the frame cut short.
    pub(crate) fn abandon(&mut self) {
        self.batcher.close();
        self.pending.clear();
    }

    /// Bytes of accepted frames still waiting to be written: the tail of a frame a
    /// bounded send began, and what a buffered sender holds.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Writes what this sender holds (see [`Sender::buffered`]) and the tail of a partly
    /// written frame, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the peer is gone, [`Error::Io`] otherwise.
    pub fn flush(&mut self) -> Result<()> {
        self.flush_pending(Wait::Forever)
    }

    /// As [`Sender::flush`], waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if a tail remains, as [`Sender::flush`] otherwise.
    pub fn flush_timeout(&mut self, timeout: Duration) -> Result<()> {
        self.flush_pending(Wait::timeout(timeout))
    }

    /// Closes this sending half: writes what it holds (the tail of a frame a bounded send
    /// began, and what a [buffered](Sender::buffered) sender gathered), waiting at most
    /// `timeout` in all for the peer to take it (`Duration::ZERO`: only what the socket
    /// takes at once; `Duration::MAX`: for ever), then shuts the socket down for writing
    /// (`shutdown(2)`). The peer receives what was written, then the end of the stream
    /// ([`Error::Disconnected`]), also while this process keeps the receiving half.
    ///
    /// `Ok` means that everything this sender accepted is in the socket: the peer
    /// receives it unless it closes its end first (which the socket does not tell).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc::socket::Stream;
    ///
    /// let (a, mut b) = Stream::<u64>::pair()?;
    /// let (mut tx, _rx) = a.split();
    /// tx.send(1)?;
    /// tx.close(Duration::from_secs(1))?;
    /// assert_eq!(b.recv()?, 1);
    /// assert!(b.recv().unwrap_err().is_disconnected());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the peer did not take it all in time: the rest is discarded,
    /// with the messages in it; if it began with the tail of a message, the peer reports
    /// that message cut short ([`Error::Corrupt`]) and never receives it.
    /// [`Error::Disconnected`] if the peer is gone, [`Error::Shutdown`] once a shutdown is
    /// requested, [`Error::Io`] otherwise. After an error too, what was not written is
    /// discarded and the socket is shut down for writing.
    pub fn close(mut self, timeout: Duration) -> Result<()> {
        let written = self.flush_pending(Wait::timeout(timeout));
        self.pending.clear();
        shut_down_writing(self.fd.as_fd());
        written
    }

    /// Writes one frame. Until its first byte is written the frame is not sent and the
    /// wait's expiry is an error; after that the frame is committed and any unwritten
    /// tail goes to `pending`.
    fn write_frame(&mut self, bufs: &[IoSlice<'_>], fds: &[RawFd], wait: Wait) -> Result<()> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let n = loop {
            match sys::send(self.fd.as_fd(), bufs, fds, wait.msg_flags()) {
                Ok(n) => break n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => sys::again(self.fd.as_fd(), PollFlags::POLLOUT, wait, true)?,
                Err(e) => return Err(Error::sys("sendmsg", e)),
            }
        };
        if n < total {
            let mut skip = n;
            for b in bufs {
                let take = skip.min(b.len());
                self.pending.extend_from_slice(&b[take..]);
                skip -= take;
            }
            match self.flush_pending(wait) {
                Ok(()) | Err(Error::Full | Error::Timeout(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Writes what a bounded send left behind, without waiting ([`Error::Full`] if some
    /// remains).
    #[cfg(feature = "tokio")]
    pub(crate) fn flush_now(&mut self) -> Result<()> {
        self.flush_pending(Wait::Now)
    }

    /// Writes what this sender holds (the tail of a frame a bounded send began), waiting
    /// as `wait` says.
    pub(crate) fn flush_wait(&mut self, wait: Wait) -> Result<()> {
        self.flush_pending(wait)
    }

    fn flush_pending(&mut self, wait: Wait) -> Result<()> {
        // What is written is whole records: the open one is closed first.
        self.batcher.close();
        flush(self.fd.as_fd(), &mut self.pending, Patience::Within(wait))
    }
}

impl<T: Message> Sender<T> {
    /// Sends `msg` (with `fds`), handing it back on failure. A thin by-value shell, inlined
    /// into the caller, around [`Sender::send_frame_ref`], which works on a reference: a large
    /// message is then not copied into this call's argument and again into the next.
    #[inline]
    pub(crate) fn send_frame(
        &mut self,
        msg: T,
        fds: &[BorrowedFd<'_>],
        wait: Wait,
    ) -> Result<(), SendError<T>> {
        match self.send_frame_ref(&msg, fds, wait) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    fn send_frame_ref(&mut self, msg: &T, fds: &[BorrowedFd<'_>], wait: Wait) -> Result<()> {
        self.flush_pending(wait)?;
        let envelope = codec::Envelope::new(msg);
        let raw: Vec<RawFd>;
        let raw_fds: &[RawFd] = if fds.is_empty() {
            &[]
        } else {
            raw = fds.iter().map(|f| f.as_raw_fd()).collect();
            &raw
        };
        let payload = message::as_bytes(msg);
        if envelope.head().is_empty() || self.foreign {
            // A foreign peer takes the bare message, as a C writer's `send` gives it.
            // So does a page-sized message: one plain `send` of its own bytes.
            return self.write_frame(&[IoSlice::new(payload)], raw_fds, wait);
        }
        if envelope.record_len() > SMALL || !fds.is_empty() {
            // Large: header, payload and seal in one `sendmsg`, no copy of the payload.
            return self.write_frame(
                &[
                    IoSlice::new(envelope.head()),
                    IoSlice::new(payload),
                    IoSlice::new(envelope.tail()),
                ],
                raw_fds,
                wait,
            );
        }
        // Small: one contiguous buffer and one plain `send`, cheaper than `sendmsg`.
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.extend_from_slice(envelope.head());
        frame.extend_from_slice(payload);
        let sent = self.write_frame(&[IoSlice::new(&frame)], raw_fds, wait);
        self.frame = frame;
        sent
    }
}

/// Writes `pending` (the tail of a frame a bounded send began) to `fd`, waiting for room
/// as `patience` says; what is written leaves `pending`.
fn flush(fd: BorrowedFd<'_>, pending: &mut Vec<u8>, patience: Patience) -> Result<()> {
    let mut wait = patience.start();
    while !pending.is_empty() {
        match sys::send(fd, &[IoSlice::new(pending)], &[], wait.msg_flags()) {
            Ok(n) => {
                pending.drain(..n);
                wait = patience.taken(wait);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => sys::again(fd, PollFlags::POLLOUT, wait, true)?,
            Err(e) => return Err(Error::sys("send", e)),
        }
    }
    Ok(())
}

/// Shuts `fd` down for writing: the peer reads what was written, then the end of the
/// stream, and nothing more is written to the socket, by anyone. Errors (the peer is
/// gone) are ignored: there is nothing left to end then.
fn shut_down_writing(fd: BorrowedFd<'_>) {
    let _ = nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Write);
}

impl<T: ?Sized> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        // Finish what was accepted, as BufWriter does, while the peer takes it; give up
        // once it has taken nothing for DROP_STALL, is gone, or a shutdown is requested
        // (`shutdown_on`): a peer that does not read must not keep this process waiting.
        let fd = self.fd.as_fd();
        if flush(fd, &mut self.pending, Patience::Stall(DROP_STALL)).is_err() {
            // What is left is discarded. Nothing may follow the part of a message sent
            // (the peer would take it for the rest), and the peer must not wait for it.
            shut_down_writing(fd);
        }
    }
}

impl<T: ?Sized> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Sender<T>);

impl<T: ?Sized> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T: ?Sized] Receiver<T>);

codec::framed_receiving_end!(Receiver);
codec::framed_slice_receiving_end!(Receiver);

/// A duplex stream type with fields `tx: Sender<T>` and `rx: Receiver<T>`: the contract
/// on its halves, and the extras of a stream.
macro_rules! duplex_stream {
    ($end:ident) => {
        impl<T: $crate::Message> $crate::Tx<T> for $end<T> {
            /// [`Tx::send_wait`]($crate::Tx::send_wait) of the sending half
            /// ([`Sender`]($crate::socket::Sender)).
            #[inline]
            fn send_wait(&mut self, msg: &T, wait: $crate::Wait) -> $crate::Result<()> {
                self.tx.send_wait(msg, wait)
            }

            #[inline]
            fn send_many_wait(&mut self, msgs: &[T], wait: $crate::Wait) -> $crate::Result<usize> {
                self.tx.send_many_wait(msgs, wait)
            }

            #[inline]
            fn flush(&mut self) -> $crate::Result<()> {
                $crate::Tx::flush(&mut self.tx)
            }
        }

        impl<T: $crate::Message> $crate::Rx<T> for $end<T> {
            /// [`Rx::recv_wait`]($crate::Rx::recv_wait) of the receiving half
            /// ([`Receiver`]($crate::socket::Receiver)).
            #[inline]
            fn recv_wait(&mut self, wait: $crate::Wait) -> $crate::Result<T> {
                self.rx.recv_wait(wait)
            }

            #[inline]
            fn recv_into_wait(&mut self, out: &mut T, wait: $crate::Wait) -> $crate::Result<()> {
                self.rx.recv_into_wait(out, wait)
            }

            #[inline]
            fn recv_many_wait(&mut self, out: &mut [T], wait: $crate::Wait) -> $crate::Result<usize> {
                self.rx.recv_many_wait(out, wait)
            }
        }

        $crate::contract::sending_end!(impl<T> $end<T>, T);
        $crate::contract::receiving_end!(impl<T> $end<T>, T);

        impl<T: $crate::Message> $end<T> {
            /// Receives the next message and lends it straight from the receive buffer,
            /// validated: no copy at all. The borrow ends before the next call on this end.
            ///
            /// # Errors
            ///
            /// As `recv`.
            #[inline]
            pub fn recv_ref(&mut self) -> $crate::Result<&T> {
                self.rx.recv_ref()
            }

            /// Writes what a buffered sending half holds, and the tail of a partly written
            /// frame, if a bounded send left one.
            ///
            /// # Errors
            ///
            /// As [`Sender::flush`](crate::socket::Sender::flush).
            pub fn flush(&mut self) -> $crate::Result<()> {
                self.tx.flush()
            }

            /// Closes the stream: the sending half as
            /// [`Sender::close`](crate::socket::Sender::close) does (what it holds written,
            /// waiting at most `timeout`, then the socket shut down for writing), then the
            /// receiving half.
            ///
            /// # Errors
            ///
            /// As [`Sender::close`](crate::socket::Sender::close).
            pub fn close(self, timeout: ::std::time::Duration) -> $crate::Result<()> {
                self.tx.close(timeout)
            }

            /// Writes the tail of a frame without waiting (for the async twin).
            #[cfg(feature = "tokio")]
            pub(crate) fn flush_now(&mut self) -> $crate::Result<()> {
                self.tx.flush_now()
            }

            /// Makes the sending half buffered
            /// ([`Sender::buffered`]($crate::socket::Sender::buffered)): sends gather in a
            /// buffer of `capacity` bytes, written when it is full, on `flush`, and on drop.
            #[must_use]
            pub fn buffered(mut self, capacity: usize) -> Self {
                self.tx = self.tx.buffered(capacity);
                self
            }

            /// Splits into the sending and the receiving half (one socket, shared), e.g. to
            /// use them from two threads.
            pub fn split(self) -> ($crate::socket::Sender<T>, $crate::socket::Receiver<T>) {
                (self.tx, self.rx)
            }
        }
    };
}
pub(crate) use duplex_stream;
