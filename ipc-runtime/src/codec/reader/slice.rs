//! A [`FrameReader`] of slices `[E]`: records of any whole number of elements up to the
//! reader's maximum, refused from their header above it, lent from the buffer validated.

use std::io::Read;

use super::super::{
    is_long, max_len_limit, payload_offset, payload_tag, record_len_of, split_header, Source,
    HEADER_LEN, MAX_HELLO_LEN, SEAL_LEN,
};
use super::{read_retrying, FrameReader, Step};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;

impl<P: ?Sized + Payload> FrameReader<P> {
    /// Whether a slice record of `len` bytes is one this reader accepts: a whole number of
    /// elements, at most its maximum.
    #[inline(always)]
    pub(super) fn fits(&self, len: usize) -> bool {
        len <= self.max_bytes && len % size_of::<P::Element>() == 0
    }

    /// Slices: where the elements of a whole slice record of ours start, if one is at the
    /// front of the buffer (of a stream in step).
    #[inline(always)]
    pub(super) fn whole_slice(&self) -> Option<usize> {
        let avail = &self.buf[self.start..self.end];
        let (tag, len) = split_header(avail.first_chunk::<HEADER_LEN>()?);
        if tag != const { payload_tag::<P>() } || !self.fits(len) {
            return None;
        }
        let total = record_len_of(len);
        let record = avail.get(..total)?;
        if is_long(len) && record[HEADER_LEN..HEADER_LEN + SEAL_LEN] != record[total - SEAL_LEN..] {
            return None;
        }
        Some(self.start + payload_offset(len))
    }

    /// Slices: the room a read should have behind the record at the front: the whole of
    /// it if it is a slice of ours, else the longest handshake.
    pub(super) fn slice_room(&self) -> usize {
        let avail = &self.buf[self.start..self.end];
        match avail.first_chunk::<HEADER_LEN>().map(split_header) {
            Some((tag, len)) if tag == const { payload_tag::<P>() } && self.fits(len) => {
                record_len_of(len).max(MAX_HELLO_LEN)
            }
            _ => MAX_HELLO_LEN,
        }
    }

    /// Slices: refuses the record of ours of `len` bytes at the front of the buffer (a
    /// record boundary after a handshake), longer than the maximum or not a whole number
    /// of elements, from its header alone: nothing is allocated for it and none of its
    /// payload is kept; it is skipped by count, so the records after it arrive intact.
    #[cold]
    pub(super) fn refuse_slice(&mut self, len: usize) -> Step {
        let size = size_of::<P::Element>();
        let name = <P::Element as Message>::SCHEMA.name;
        let error = if len % size != 0 {
            Error::Corrupt(format!(
                "a slice record of {len} bytes is not a whole number of `{name}` elements \
                 ({size} bytes each): its writer does not follow the wire format; it is \
                 skipped"
            ))
        } else {
            let max = self.max_bytes / size;
            Error::LimitExceeded {
                limit: "max_len",
                value: max as u64,
                hint: format!(
                    "the peer sent a slice of {} elements; this receiver takes at most {max} \
                     (raise it with set_max_len on the receiving end); the slice was skipped \
                     unread",
                    len / size
                ),
            }
        };
        if !self.skip_record(len) {
            return Step::More;
        }
        Step::Dropped(Some(error))
    }

    /// Skips the record of `len` bytes whose header is at the front of the buffer by
    /// count, from its header on, its seals (if it is long) compared at its end, as a
    /// refused writer's record too long to buffer is. Returns `false` if the opening seal
    /// is not buffered yet (nothing is skipped then).
    fn skip_record(&mut self, len: usize) -> bool {
        let total = record_len_of(len);
        if is_long(len) {
            let at = self.start + HEADER_LEN;
            let Some(opening) = self.buf[at..self.end].first_chunk::<SEAL_LEN>() else {
                return false;
            };
            self.skip_seal = Some(*opening);
            self.skip = total - SEAL_LEN;
        } else {
            self.skip = total;
        }
        true
    }

    /// Slices: makes the buffer hold a record of `total` bytes (one this reader accepts,
    /// so at most a record of the maximum length), moving what is buffered to its front.
    #[cold]
    pub(super) fn grow(&mut self, total: usize) {
        let cap = self.buf.len() - self.base;
        let most = record_len_of(self.max_bytes);
        let cap = total.max(cap.saturating_mul(2).min(most));
        let mut buf = vec![0; cap + Self::align()].into_boxed_slice();
        let base = buf.as_ptr().align_offset(Self::align());
        let n = self.end - self.start;
        buf[base..base + n].copy_from_slice(&self.buf[self.start..self.end]);
        self.buf = buf;
        self.base = base;
        self.start = base;
        self.end = base + n;
    }
}

impl<E: Message> FrameReader<[E]> {
    /// The bytes the buffer holds (tests: it grows only for a slice this reader accepts).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The most elements a slice this reader accepts may hold (by default
    /// [`default_max_len::<E>()`](super::super::default_max_len)).
    pub fn max_len(&self) -> usize {
        self.max_bytes / size_of::<E>()
    }

    /// Sets the most elements a slice this reader accepts may hold (at least 1, at most
    /// what a record's 32-bit length can say). A longer one is refused from its header,
    /// with [`Error::LimitExceeded`], before anything is allocated or read for it; the
    /// buffer grows (once) for the longest slice that is accepted, not for the maximum.
    pub fn set_max_len(&mut self, elements: usize) {
        self.max_bytes = elements.clamp(1, max_len_limit::<E>()) * size_of::<E>();
    }

    /// Moves `start` past the slice record whose elements start at `payload`, and
    /// returns the elements' length in bytes.
    #[inline(always)]
    fn consume_slice(&mut self, payload: usize) -> usize {
        let header = self.buf[self.start..].first_chunk::<HEADER_LEN>();
        let (_, len) = split_header(header.expect("a whole record is buffered"));
        let end = payload + len;
        let next = if is_long(len) { end + SEAL_LEN } else { end };
        self.last_len = next - self.start;
        self.start = next;
        len
    }

    /// Receives the next slice, calling `fill` to read more bytes as
    /// [`FrameReader::recv_with`] does, and lends it from this reader's buffer: each
    /// element is validated in place before the `&[E]` exists, and nothing is copied
    /// (but for `E` aligned to more than 8 bytes when the record lies misaligned: then an
    /// aligned copy is lent). The borrow ends before the next receive.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`]; and [`Error::LimitExceeded`] (`max_len`) for a slice
    /// longer than [`FrameReader::max_len`], [`Error::Corrupt`] for a record that is not
    /// a whole number of elements: refused from the header, skipped by count, nothing
    /// allocated for it. [`Error::InvalidMessage`] for an element that is not a valid `E`
    /// (the slice is dropped). Each bad record is reported once and dropped.
    pub fn recv_slice_with(
        &mut self,
        fill: impl FnMut(&mut [u8]) -> Result<usize>,
    ) -> Result<&[E]> {
        self.recv_slice_from(fill)
    }

    /// [`FrameReader::recv_slice_with`] from any [`Source`].
    pub(crate) fn recv_slice_from(&mut self, src: impl Source) -> Result<&[E]> {
        let payload = self.next_payload(src)?;
        // An invalid slice is dropped alone: `start` moves past it first.
        let len = self.consume_slice(payload);
        let (buf, spare) = (&self.buf, &mut self.spare);
        let mut bytes = &buf[payload..payload + len];
        crate::message::check_elements::<E>(bytes)?;
        if bytes.as_ptr() as usize % align_of::<E>() != 0 {
            // Only elements aligned to more than 8 land here (the buffer keeps 8): lend
            // an aligned copy.
            if spare.len() < len + align_of::<E>() {
                spare.resize(len + align_of::<E>(), 0);
            }
            let at = spare.as_ptr().align_offset(align_of::<E>());
            spare[at..at + len].copy_from_slice(bytes);
            bytes = &spare[at..at + len];
        }
        // SAFETY: `bytes` is `len` bytes, a whole number of `E`s (`fits` checked the
        // length before the record was taken as ours), aligned for `E` (checked above, or
        // an aligned copy), each of them accepted by `check_elements` (every bit pattern
        // is an `E`, or `E::validate` accepted it, which by the `Message` contract makes
        // it a valid `E`). The slice borrows `self` (its buffer or spare) for as long as
        // the returned reference lives, and neither is written meanwhile.
        Ok(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<E>(), len / size_of::<E>()) })
    }

    /// Receives the next slice from a blocking reader (retrying `EINTR`), lent as
    /// [`FrameReader::recv_slice_with`] lends it.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_slice_with`].
    pub fn read_slice<R: Read>(&mut self, r: &mut R) -> Result<&[E]> {
        self.recv_slice_with(|buf| read_retrying(r, buf))
    }
}
