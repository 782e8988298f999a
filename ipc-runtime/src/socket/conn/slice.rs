//! Slices `[E]` on a connected stream socket (Unix and TCP): a [`Sender`] that writes one
//! record per slice up to its maximum length, the maximum of a [`Receiver`], and the
//! slice family of a duplex stream.

use std::io::IoSlice;
use std::time::Duration;

use super::{Receiver, Sender};
use crate::codec;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::socket::sys::Wait;

/// Slice records up to this size are copied behind their header and sent with `send(2)`;
/// larger ones go in parts with `sendmsg(2)`, to avoid the copy.
const SMALL: usize = 1024;

impl<E: Message> Sender<[E]> {
    /// The most elements one slice may hold (by default
    /// [`default_max_len::<E>()`](codec::default_max_len)).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Sets the most elements one slice may hold (at least 1, at most what a record's
    /// 32-bit length can say); a longer slice is refused by `send_slice`. The peer's
    /// receiving half has a maximum of its own and refuses what exceeds it.
    pub fn set_max_len(&mut self, elements: usize) {
        self.max_len = elements.clamp(1, codec::max_len_limit::<E>());
    }

    /// Sends a copy of `elements` as one record, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] (`max_len`) if `elements` is longer than
    /// [`max_len`](Self::max_len) (nothing is written); [`Error::Disconnected`] if the
    /// peer is gone; [`Error::Shutdown`]; [`Error::Io`] otherwise.
    #[inline]
    pub fn send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_wait(elements, Wait::Forever)
    }

    /// Sends `elements` if the socket takes at least a first byte of the record now. As
    /// for a message, a record begun is finished: an unwritten tail is kept and written
    /// before anything else (see the type's docs).
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if the socket took nothing; otherwise as
    /// [`send_slice`](Self::send_slice).
    #[inline]
    pub fn try_send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_wait(elements, Wait::Now)
    }

    /// Sends `elements`, waiting at most `timeout` for the socket to take a first byte of
    /// the record (see [`try_send_slice`](Self::try_send_slice)).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if it took nothing in time; otherwise as
    /// [`send_slice`](Self::send_slice).
    #[inline]
    pub fn send_slice_timeout(&mut self, elements: &[E], timeout: Duration) -> Result<()> {
        self.send_slice_wait(elements, Wait::timeout(timeout))
    }

    fn send_slice_wait(&mut self, elements: &[E], wait: Wait) -> Result<()> {
        if elements.len() > self.max_len {
            return Err(Error::too_long(elements.len(), self.max_len as u64));
        }
        self.flush_pending(wait)?;
        let env = codec::SliceEnvelope::new(elements);
        let payload = codec::elements_as_bytes(elements);
        if env.head().len() + payload.len() > SMALL {
            // Large: header, elements and seal in one `sendmsg`, no copy of the elements.
            let parts = [
                IoSlice::new(env.head()),
                IoSlice::new(payload),
                IoSlice::new(env.tail()),
            ];
            return self.write_frame(&parts, &[], wait);
        }
        // Small: one contiguous buffer and one plain `send`, cheaper than `sendmsg`.
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.extend_from_slice(env.head());
        frame.extend_from_slice(payload);
        let sent = self.write_frame(&[IoSlice::new(&frame)], &[], wait);
        self.frame = frame;
        sent
    }
}

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
    pub fn set_max_len(&mut self, elements: usize) {
        self.reader.set_max_len(elements);
    }
}

/// The slice family of a duplex stream of `[E]` with fields `tx: Sender<[E]>` and
/// `rx: Receiver<[E]>`: send and receive slices, each direction's maximum, and `split`.
macro_rules! duplex_slice_stream {
    ($end:ident) => {
        impl<E: $crate::Message> $end<[E]> {
            /// [`Sender::send_slice`]($crate::socket::Sender::send_slice) on the sending
            /// half: a copy of `elements` as one record.
            ///
            /// # Errors
            ///
            /// As [`Sender::send_slice`]($crate::socket::Sender::send_slice).
            #[inline]
            pub fn send_slice(&mut self, elements: &[E]) -> $crate::Result<()> {
                self.tx.send_slice(elements)
            }

            /// [`Sender::try_send_slice`]($crate::socket::Sender::try_send_slice) on the
            /// sending half.
            ///
            /// # Errors
            ///
            /// As [`Sender::try_send_slice`]($crate::socket::Sender::try_send_slice).
            #[inline]
            pub fn try_send_slice(&mut self, elements: &[E]) -> $crate::Result<()> {
                self.tx.try_send_slice(elements)
            }

            /// [`Sender::send_slice_timeout`]($crate::socket::Sender::send_slice_timeout)
            /// on the sending half.
            ///
            /// # Errors
            ///
            /// As [`Sender::send_slice_timeout`]($crate::socket::Sender::send_slice_timeout).
            #[inline]
            pub fn send_slice_timeout(
                &mut self,
                elements: &[E],
                timeout: ::std::time::Duration,
            ) -> $crate::Result<()> {
                self.tx.send_slice_timeout(elements, timeout)
            }

            /// [`Receiver::recv_slice`]($crate::socket::Receiver::recv_slice) on the
            /// receiving half: the next slice, lent from the receive buffer, validated.
            ///
            /// # Errors
            ///
            /// As [`Receiver::recv_slice`]($crate::socket::Receiver::recv_slice).
            #[inline]
            pub fn recv_slice(&mut self) -> $crate::Result<&[E]> {
                self.rx.recv_slice()
            }

            /// [`Receiver::try_recv_slice`]($crate::socket::Receiver::try_recv_slice) on
            /// the receiving half.
            ///
            /// # Errors
            ///
            /// As [`Receiver::try_recv_slice`]($crate::socket::Receiver::try_recv_slice).
            #[inline]
            pub fn try_recv_slice(&mut self) -> $crate::Result<&[E]> {
                self.rx.try_recv_slice()
            }

            /// [`Receiver::recv_slice_timeout`]($crate::socket::Receiver::recv_slice_timeout)
            /// on the receiving half.
            ///
            /// # Errors
            ///
            /// As [`Receiver::recv_slice_timeout`]($crate::socket::Receiver::recv_slice_timeout).
            #[inline]
            pub fn recv_slice_timeout(
                &mut self,
                timeout: ::std::time::Duration,
            ) -> $crate::Result<&[E]> {
                self.rx.recv_slice_timeout(timeout)
            }

            /// The most elements a slice may hold, sent or received (both halves start at
            /// [`default_max_len::<E>()`]($crate::codec::default_max_len); they differ
            /// only if set apart on the halves after [`split`](Self::split)).
            pub fn max_len(&self) -> usize {
                self.rx.max_len()
            }

            /// Sets the most elements a slice may hold, both sent (a longer one is refused
            /// by `send_slice`) and received (a longer one from the peer is refused from
            /// its header, [`Error::LimitExceeded`]($crate::Error::LimitExceeded), and
            /// skipped unread).
            pub fn set_max_len(&mut self, elements: usize) {
                self.tx.set_max_len(elements);
                self.rx.set_max_len(elements);
            }

            /// Writes the tail of a partly written record, if a bounded send left one.
            ///
            /// # Errors
            ///
            /// As [`Sender::flush`]($crate::socket::Sender::flush).
            pub fn flush(&mut self) -> $crate::Result<()> {
                self.tx.flush()
            }

            /// Closes the stream: the sending half as
            /// [`Sender::close`]($crate::socket::Sender::close) does (what it holds
            /// written, waiting at most `timeout`, then the socket shut down for writing),
            /// then the receiving half.
            ///
            /// # Errors
            ///
            /// As [`Sender::close`]($crate::socket::Sender::close).
            pub fn close(self, timeout: ::std::time::Duration) -> $crate::Result<()> {
                self.tx.close(timeout)
            }

            /// Splits into the sending and the receiving half (one socket, shared), e.g. to
            /// use them from two threads.
            pub fn split(self) -> ($crate::socket::Sender<[E]>, $crate::socket::Receiver<[E]>) {
                (self.tx, self.rx)
            }
        }
    };
}
pub(crate) use duplex_slice_stream;
