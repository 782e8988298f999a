//! A [`FrameReader`] of messages of `T`: each message taken from the buffer once, by
//! value, into the caller's `T`, or lent in place.

use std::io::Read;

use super::super::{copy_validated, is_long, Source, SEAL_LEN};
use super::{read_retrying, FrameReader};
use crate::error::Result;
use crate::message::{self, Message};

impl<T: Message> FrameReader<T> {
    /// Decodes the next message from what is buffered, without reading.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`], but never [`Error::Disconnected`](crate::Error::Disconnected).
    pub fn next_buffered(&mut self) -> Result<Option<T>> {
        if self.whole_message().is_none() && !self.advance()? {
            return Ok(None);
        }
        match self.whole_message() {
            Some(payload) => self.take_message(payload).map(Some),
            None => Ok(None),
        }
    }

    /// Moves `start` past the message whose payload is at `payload`, and returns the
    /// payload's end.
    #[inline(always)]
    pub(super) fn consume_message(&mut self, payload: usize) -> usize {
        let end = payload + size_of::<T>();
        if self.in_batch > 0 {
            self.in_batch -= 1;
            self.last_len = size_of::<T>();
            self.start = end;
            if self.in_batch == 0 {
                self.start += std::mem::take(&mut self.batch_pad);
            }
            return end;
        }
        let bare = payload == self.start;
        let next = if !bare && const { is_long(size_of::<T>()) } {
            end + SEAL_LEN
        } else {
            end
        };
        self.last_len = next - self.start;
        self.start = next;
        end
    }

    /// Validates the payload at `payload` and copies it out, once, straight into the
    /// caller's result. For large messages each copy of a `T` costs about as much as the
    /// system call that brought it, so the message is never passed up through an
    /// `Option` (the compiler copies those whole, even when they are empty).
    #[inline(always)]
    fn take_message(&mut self, payload: usize) -> Result<T> {
        // Valid or not, only this message is consumed: the stream is still in step after it.
        let end = self.consume_message(payload);
        Ok(message::from_bytes::<T>(&self.buf[payload..end])?)
    }

    /// Validates the payload at `payload` and copies it into `*out`, which is left
    /// unchanged if the bytes are not a valid `T`.
    #[inline(always)]
    pub(super) fn take_into(&mut self, payload: usize, out: &mut T) -> Result<()> {
        let end = self.consume_message(payload);
        Ok(copy_validated(&self.buf[payload..end], out)?)
    }

    /// Receives the next message, calling `fill` to read more bytes into the given free
    /// space whenever the buffer holds no complete record. `fill` returns the number of
    /// bytes read, `0` at end of stream, or an error (a timeout, say) that is passed on
    /// with the partial record kept.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`](crate::Error::Disconnected) at the end of the stream; [`Error::Corrupt`](crate::Error::Corrupt) if it ends in
    /// the middle of a record, and for the bad input the [module docs](crate::codec) list;
    /// [`Error::SchemaMismatch`](crate::Error::SchemaMismatch) for a handshake of another schema;
    /// [`Error::InvalidMessage`](crate::Error::InvalidMessage) for a message of `T` with a bit pattern that is not a
    /// `T`; and whatever `fill` returns. Each bad record is reported once and dropped.
    #[inline]
    pub fn recv_with(&mut self, fill: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<T> {
        self.recv_from(fill)
    }

    /// [`FrameReader::recv_with`] from any [`Source`].
    #[inline(always)]
    pub(crate) fn recv_from(&mut self, src: impl Source) -> Result<T> {
        let payload = self.next_payload(src)?;
        self.take_message(payload)
    }

    /// As [`FrameReader::recv_with`], but writes the message into `*out` instead of
    /// returning it: the validated payload is copied once, from this reader's buffer
    /// straight into `*out`, with no `T` on the stack in between.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`]. After any error `*out` is unchanged: the header is
    /// checked and the payload validated in the buffer before a byte of `*out` is written.
    #[inline]
    pub fn recv_into_with(
        &mut self,
        out: &mut T,
        fill: impl FnMut(&mut [u8]) -> Result<usize>,
    ) -> Result<()> {
        self.recv_into_from(out, fill)
    }

    /// [`FrameReader::recv_into_with`] from any [`Source`].
    #[inline(always)]
    pub(crate) fn recv_into_from(&mut self, out: &mut T, src: impl Source) -> Result<()> {
        let payload = self.next_payload(src)?;
        self.take_into(payload, out)
    }

    /// Receives the next message from a blocking reader (retrying `EINTR`).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`].
    pub fn read_from<R: Read>(&mut self, r: &mut R) -> Result<T> {
        self.recv_with(|buf| read_retrying(r, buf))
    }

    /// As [`FrameReader::read_from`], writing the message into `*out`
    /// ([`FrameReader::recv_into_with`]).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`]; after an error `*out` is unchanged.
    pub fn read_into<R: Read>(&mut self, r: &mut R, out: &mut T) -> Result<()> {
        self.recv_into_with(out, |buf| read_retrying(r, buf))
    }

    /// Receives the next message and lends it, validated, straight from this reader's
    /// buffer: no copy of the message at all. The borrow ends before the next receive.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`].
    #[inline]
    pub fn recv_ref_with(&mut self, fill: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<&T> {
        self.recv_ref_from(fill)
    }

    /// [`FrameReader::recv_ref_with`] from any [`Source`].
    #[inline(always)]
    pub(crate) fn recv_ref_from(&mut self, src: impl Source) -> Result<&T> {
        let payload = self.next_payload(src)?;
        // An invalid message is dropped alone: `start` moves past it first.
        let end = self.consume_message(payload);
        if (self.buf.as_ptr() as usize + payload) % align_of::<T>() == 0 {
            return Ok(message::ref_from_bytes::<T>(&self.buf[payload..end])?);
        }
        // Only a message of a `T` aligned to more than 8 lands here (records of such a `T`
        // are not a multiple of its alignment long): lend an aligned copy.
        let (buf, spare) = (&self.buf, &mut self.spare);
        if spare.is_empty() {
            spare.resize(size_of::<T>() + align_of::<T>(), 0);
        }
        let at = spare.as_ptr().align_offset(align_of::<T>());
        let copy = &mut spare[at..at + size_of::<T>()];
        copy.copy_from_slice(&buf[payload..end]);
        Ok(message::ref_from_bytes::<T>(copy)?)
    }
}
