//! [`Framed`]: the receive path every byte stream shares (pipes, FIFOs, stream sockets),
//! a [`FrameReader`] and a source of bytes, and the macros that give such an end the
//! contract's receive family (for messages) or the slice receive family (for `[E]`).

use super::FrameReader;
use crate::deadline::Wait;
use crate::error::Result;
use crate::message::Message;
use crate::payload::Payload;

/// Where a [`FrameReader`] gets its bytes: a `fill` closure (`FnMut(&mut [u8]) ->
/// Result<usize>`, as the public `recv_with` family takes), or a receiving end that also
/// looks after what arrives beside the bytes (a Unix stream's descriptors).
pub(crate) trait Source {
    /// Reads more bytes into `buf`; returns how many, `0` at the end of the stream, or an
    /// error (a timeout, say) that the reader passes on, keeping what it holds.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize>;

    /// Called before each [`Source::fill`], with `held`: the bytes the reader holds and
    /// has not decoded, all of them the beginning of the record at the front of its
    /// buffer (the reader reads only when that record is not whole), or of bytes it is
    /// skipping or searching for a record boundary. An error refuses that record: the
    /// reader returns the error, and drops the record, unread, once it is whole (the
    /// receives after it go on with the next record); bytes being skipped are dropped
    /// anyway.
    #[inline(always)]
    fn before_fill(&mut self, held: usize) -> Result<()> {
        let _ = held;
        Ok(())
    }
}

impl<F: FnMut(&mut [u8]) -> Result<usize>> Source for F {
    #[inline(always)]
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        self(buf)
    }
}

/// A receiving end made of a [`FrameReader`] and a source of bytes (a pipe or FIFO, a
/// stream socket): the receive path every byte stream shares.
pub(crate) trait Framed<P: ?Sized + Payload> {
    /// Prepares a receive that waits as `wait` says, and splits the end into its frame
    /// reader and the [`Source`] that reads more bytes into the reader's buffer.
    fn reader_and_fill(&mut self, wait: Wait) -> (&mut FrameReader<P>, impl Source + '_);

    /// The next message, by value. The message goes from the frame reader straight to
    /// the caller (a tail call, no extra copy of a large `T`).
    #[inline(always)]
    fn recv_framed(&mut self, wait: Wait) -> Result<P>
    where
        P: Message,
    {
        let (reader, fill) = self.reader_and_fill(wait);
        reader.recv_from(fill)
    }

    /// The next message into `*out`: validated in the receive buffer, then copied once.
    #[inline(always)]
    fn recv_into_framed(&mut self, out: &mut P, wait: Wait) -> Result<()>
    where
        P: Message,
    {
        let (reader, fill) = self.reader_and_fill(wait);
        reader.recv_into_from(out, fill)
    }

    /// What is there, into `out`: one read, then every whole message buffered.
    #[inline(always)]
    fn recv_many_framed(&mut self, out: &mut [P], wait: Wait) -> Result<usize>
    where
        P: Message,
    {
        let (reader, fill) = self.reader_and_fill(wait);
        reader.recv_many_from(out, fill)
    }

    /// The next message, lent from the receive buffer, validated.
    #[inline(always)]
    fn recv_ref_framed(&mut self) -> Result<&P>
    where
        P: Message,
    {
        self.recv_ref_wait_framed(Wait::Forever)
    }

    /// As [`Framed::recv_ref_framed`], waiting as `wait` says (a request/response
    /// client's answer, a server's request).
    #[inline(always)]
    fn recv_ref_wait_framed(&mut self, wait: Wait) -> Result<&P>
    where
        P: Message,
    {
        let (reader, fill) = self.reader_and_fill(wait);
        reader.recv_ref_from(fill)
    }
}

/// The receiving end of a byte stream, for a type that implements [`Framed`]: [`Rx`]
/// through the frame reader, the inherent family, and `recv_ref`, which lends a message
/// from the receive buffer.
///
/// [`Rx`]: crate::Rx
macro_rules! framed_receiving_end {
    ($end:ident) => {
        impl<T: $crate::Message> $crate::Rx<T> for $end<T> {
            /// Reads until a whole record of `T` is buffered (the writer's handshake is
            /// read and checked first), and returns it by value.
            ///
            /// # Errors
            ///
            /// [`Error::Disconnected`]($crate::Error::Disconnected) once the writers are
            /// gone and everything was received; [`Error::Empty`]($crate::Error::Empty)
            /// or [`Error::Timeout`]($crate::Error::Timeout) if no whole message came in
            /// time (a partial one is kept for the next call);
            /// [`Error::SchemaMismatch`]($crate::Error::SchemaMismatch) for a writer of
            /// another schema; [`Error::InvalidMessage`]($crate::Error::InvalidMessage)
            /// or [`Error::Corrupt`]($crate::Error::Corrupt) for bytes that are not a
            /// valid record of `T` (also a writer that died mid-record; the bad bytes are
            /// dropped and the next receive goes on);
            /// [`Error::Shutdown`]($crate::Error::Shutdown); [`Error::Io`]($crate::Error::Io).
            #[inline]
            fn recv_wait(&mut self, wait: $crate::Wait) -> $crate::Result<T> {
                $crate::codec::Framed::recv_framed(self, wait.into())
            }

            /// The validated bytes are copied once, from the receive buffer straight
            /// into `*out`; a message that is not a valid `T` is refused before any byte
            /// of `*out` is written.
            #[inline]
            fn recv_into_wait(&mut self, out: &mut T, wait: $crate::Wait) -> $crate::Result<()> {
                $crate::codec::Framed::recv_into_framed(self, out, wait.into())
            }

            /// One `read` of as much as the receive buffer (64 KiB) takes, then every
            /// whole message buffered, each validated in the buffer and copied once into
            /// `out`. A record after the first that is not a good message of `T` ends
            /// the batch before it; the next receive reports it.
            #[inline]
            fn recv_many_wait(&mut self, out: &mut [T], wait: $crate::Wait) -> $crate::Result<usize> {
                $crate::codec::Framed::recv_many_framed(self, out, wait.into())
            }
        }

        $crate::contract::receiving_end!(impl<T> $end<T>, T);

        impl<T: $crate::Message> $end<T> {
            /// Receives the next message and lends it straight from the receive buffer,
            /// validated: no copy of the message at all (the zero-copy counterpart of
            /// `recv`). The borrow ends before the next receive; copy out what must
            /// outlive it.
            ///
            /// # Errors
            ///
            /// As `recv`.
            #[inline]
            pub fn recv_ref(&mut self) -> $crate::Result<&T> {
                $crate::codec::Framed::recv_ref_framed(self)
            }
        }
    };
}
pub(crate) use framed_receiving_end;

/// The slice receive family of the receiving end of a byte stream of `[E]`, for a type
/// that implements [`Framed`]: `recv_slice`, `try_recv_slice`, `recv_slice_timeout`, each
/// lending the slice from the receive buffer.
macro_rules! framed_slice_receiving_end {
    ($end:ident) => {
        impl<E: $crate::Message> $end<[E]> {
            /// Receives the next slice, waiting for it, and lends it from the receive
            /// buffer: every element is validated in place before the `&[E]` exists, and
            /// nothing is copied (a slice is as long as its sender made it, so this end
            /// borrows rather than hands out a value; `.to_vec()` it to keep it). The
            /// borrow ends before the next receive.
            ///
            /// # Errors
            ///
            /// [`Error::LimitExceeded`]($crate::Error::LimitExceeded) (`max_len`) for a
            /// slice longer than [`max_len`](Self::max_len), and
            /// [`Error::Corrupt`]($crate::Error::Corrupt) for a record that is not a whole
            /// number of elements: refused from the record's header, before anything is
            /// allocated or read for it, and skipped (the next receive goes on after it);
            /// [`Error::InvalidMessage`]($crate::Error::InvalidMessage) for an element
            /// that is not a valid `E` (that slice is dropped);
            /// [`Error::SchemaMismatch`]($crate::Error::SchemaMismatch) for a writer of
            /// another payload (a writer of `E` rather than `[E]` too);
            /// [`Error::Disconnected`]($crate::Error::Disconnected) once the writers are
            /// gone and everything was received; otherwise as `recv` on an end of
            /// messages.
            #[inline]
            pub fn recv_slice(&mut self) -> $crate::Result<&[E]> {
                self.recv_slice_wait($crate::deadline::Wait::Forever)
            }

            /// Receives a slice if a whole one is there now (see
            /// [`recv_slice`](Self::recv_slice)).
            ///
            /// # Errors
            ///
            /// [`Error::Empty`]($crate::Error::Empty) if none is (a partial one is kept for
            /// the next call); otherwise as [`recv_slice`](Self::recv_slice).
            #[inline]
            pub fn try_recv_slice(&mut self) -> $crate::Result<&[E]> {
                self.recv_slice_wait($crate::deadline::Wait::Now)
            }

            /// Receives a slice, waiting at most `timeout` (see
            /// [`recv_slice`](Self::recv_slice)).
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`]($crate::Error::Timeout) if no whole slice came in time
            /// (a partial one is kept for the next call); otherwise as
            /// [`recv_slice`](Self::recv_slice).
            #[inline]
            pub fn recv_slice_timeout(
                &mut self,
                timeout: ::std::time::Duration,
            ) -> $crate::Result<&[E]> {
                self.recv_slice_wait($crate::deadline::Wait::timeout(timeout))
            }

            #[inline]
            fn recv_slice_wait(&mut self, wait: $crate::deadline::Wait) -> $crate::Result<&[E]> {
                let (reader, fill) = $crate::codec::Framed::<[E]>::reader_and_fill(self, wait);
                reader.recv_slice_from(fill)
            }
        }
    };
}
pub(crate) use framed_slice_receiving_end;
