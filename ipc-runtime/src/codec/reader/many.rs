//! Receiving many messages at once: every whole message buffered after one read, from
//! batch records and short records alike.

use std::io::Read;

use super::super::batch::{batch_tag, is_batch_len};
use super::super::{
    copy_validated, copy_validated_many, is_long, is_page, message_header, record_len,
    split_header, Source, HEADER_LEN,
};
use super::{read_retrying, FrameReader};
use crate::error::Result;
use crate::message::Message;

impl<T: Message> FrameReader<T> {
    /// Receives into `out` what is there: reads (with `fill`, as much as the buffer takes
    /// in one call) until a whole message of `T` is buffered, then takes every whole
    /// message buffered, up to `out.len()`, without reading again, and returns how many it
    /// wrote to the front of `out`. Each message is validated in the buffer and copied
    /// once into its place.
    ///
    /// A record after the first that is not a good message of `T` (another writer's
    /// handshake, bytes out of step, an invalid bit pattern) ends the batch before it,
    /// unconsumed: the next receive meets it and reports it, so no error is lost.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`], for the first message; `out` is unchanged then.
    #[inline]
    pub fn recv_many_with(
        &mut self,
        out: &mut [T],
        fill: impl FnMut(&mut [u8]) -> Result<usize>,
    ) -> Result<usize> {
        self.recv_many_from(out, fill)
    }

    /// [`FrameReader::recv_many_with`] from any [`Source`].
    #[inline]
    pub(crate) fn recv_many_from(&mut self, out: &mut [T], src: impl Source) -> Result<usize> {
        let Some((first, rest)) = out.split_first_mut() else {
            return Ok(0);
        };
        // One read takes all the buffer holds, whatever a single receive reads.
        let read_max = std::mem::replace(&mut self.read_max, usize::MAX);
        let payload = self.next_payload(src);
        self.read_max = read_max;
        self.take_into(payload?, first)?;
        let mut got = 1;
        if self.foreign {
            // Bare messages back to back: validated and copied with one copy.
            let n = copy_validated_many(&self.buf[self.start..self.end], rest);
            self.start += n * size_of::<T>();
            return Ok(got + n);
        }
        if const { !is_page::<T>() && !is_long(size_of::<T>()) } {
            // The common case: batch records, and short records whose header is checked
            // as one word; per message only validation and the copy.
            return Ok(got + self.take_buffered(rest));
        }
        for slot in rest {
            let Some(payload) = self.whole_message() else {
                break;
            };
            if copy_validated(&self.buf[payload..payload + size_of::<T>()], slot).is_err() {
                break;
            }
            self.consume_message(payload);
            got += 1;
        }
        Ok(got)
    }

    /// Takes the messages of `T` at the front of the buffer of a stream in step into
    /// `out`, from batch records and short records, stopping at the first record that is
    /// anything else or a message that is not a valid `T` (left for the next receive);
    /// returns how many.
    #[inline(always)]
    fn take_buffered(&mut self, out: &mut [T]) -> usize {
        let size = size_of::<T>();
        let short = const { !is_page::<T>() && !is_long(size_of::<T>()) };
        let header = u64::from_ne_bytes(const { message_header::<T>() });
        let batch = const { batch_tag::<T>() };
        let mut taken = 0;
        while taken < out.len() && self.steady {
            if self.in_batch > 0 {
                let k = self.in_batch.min(out.len() - taken);
                let msgs = &self.buf[self.start..self.start + k * size];
                let got = copy_validated_many(msgs, &mut out[taken..taken + k]);
                taken += got;
                self.in_batch -= got;
                self.start += got * size;
                self.last_len = size;
                if self.in_batch == 0 {
                    self.start += std::mem::take(&mut self.batch_pad);
                }
                if got < k {
                    break;
                }
                continue;
            }
            let avail = &self.buf[self.start..self.end];
            let Some(head) = avail.first_chunk::<HEADER_LEN>() else {
                break;
            };
            if short && u64::from_ne_bytes(*head) == header {
                let rec = const { record_len::<T>() };
                let Some(record) = avail.get(HEADER_LEN..rec) else {
                    break;
                };
                if copy_validated(record, &mut out[taken]).is_err() {
                    break;
                }
                taken += 1;
                self.start += rec;
                self.last_len = rec;
                continue;
            }
            let (tag, len) = split_header(head);
            if tag == batch && is_batch_len(size, len) && avail.len() >= HEADER_LEN + len {
                self.enter_batch(len);
                continue;
            }
            break;
        }
        taken
    }

    /// As [`FrameReader::recv_many_with`], from a blocking reader (retrying `EINTR`).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`].
    pub fn read_many<R: Read>(&mut self, r: &mut R, out: &mut [T]) -> Result<usize> {
        self.recv_many_with(out, |buf| read_retrying(r, buf))
    }
}
