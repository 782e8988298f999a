//! [`FrameReader`]: the records of a byte stream back into checked messages, through a
//! buffer sized by `T` alone.

use std::io::{self, Read};
use std::marker::PhantomData;

use super::batch::{batch_tag, is_batch_len, BATCH_BIT};
use super::{
    check_hello, copy_validated, copy_validated_many, hello_len, io_error, is_long, is_page,
    is_page_len, looks_tagged, max_frame_len, message_header, message_tag, not_a_header,
    payload_offset, record_len, record_len_of, split_header, tag_of, HEADER_LEN, HELLO_TAG,
    MESSAGE_BIT, SEAL_LEN,
};
use crate::error::{Error, Result};
use crate::message::{self, Message};

/// How many refused schemas a reader remembers, to drop their records without a word.
const MAX_STRANGERS: usize = 16;

/// Reads records of `T` from a byte stream, through a buffer sized by `T` alone.
///
/// It enforces that a stream begins with a handshake, keeps partial records across calls
/// (a receive that times out loses nothing), reads as many bytes as are available at
/// once (unless told otherwise), and deals with records of other writers as the
/// [module docs](super) say: every bad record costs one error at most, and never a good
/// writer's message.
pub struct FrameReader<T> {
    buf: Box<[u8]>,
    /// Where the buffer's usable part starts: the first byte aligned for `T` (and to 8),
    /// so a message can be lent in place ([`FrameReader::recv_ref_with`]).
    base: usize,
    /// An aligned copy of a message that could not be lent in place (see
    /// [`FrameReader::recv_ref_with`]); empty until needed.
    spare: Vec<u8>,
    /// The most bytes one `fill` is offered (the whole free buffer unless
    /// [`FrameReader::one_message_per_read`]).
    read_max: usize,
    start: usize,
    end: usize,
    /// A handshake of `T` has been checked.
    greeted: bool,
    /// Bytes out of step were reported: the reader is looking for the next record
    /// boundary (a handshake, or a header of `T`), dropping what comes before it.
    lost: bool,
    /// Bytes still to drop of a record of another type too long to buffer, before its
    /// closing seal (if it is long).
    skip: usize,
    /// The opening seal of the record being skipped, to compare with its closing one.
    skip_seal: Option<[u8; SEAL_LEN]>,
    /// `greeted && !lost && skip == 0`: the front of the buffer is a record boundary
    /// after a checked handshake, so the fast path may take a message from it.
    steady: bool,
    /// Tags and message sizes of the schemas whose handshakes were refused: their records
    /// are dropped without another error.
    strangers: Vec<(u32, usize)>,
    /// The size of the bare (page-sized) messages of the writer whose handshake came
    /// last, and whether they are messages of `T`; `None` if that writer sends none.
    bare: Option<(usize, bool)>,
    /// The length of the record of the message last returned.
    last_len: usize,
    /// Messages of `T` left in the batch record being read (all of it is buffered), at
    /// the front of the buffer; then `batch_pad` bytes of padding end the record.
    in_batch: usize,
    batch_pad: usize,
    _t: PhantomData<fn() -> T>,
}

/// What the record at the front of the buffer turned out to be.
enum Step {
    /// Only part of it is buffered.
    More,
    /// A whole message of `T` (found while looking for a record boundary).
    Ours,
    /// It was consumed (or is being skipped); the error, if any, is reported once.
    Dropped(Option<Error>),
    /// It is not a record: the stream is out of step here.
    Lost(Error),
}

impl<T: Message> Default for FrameReader<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Message> FrameReader<T> {
    /// A reader with an empty buffer of 64 KiB, or of the longest record a reader of `T`
    /// needs to hold (one message of `T`, or the longest handshake) if that is longer.
    pub fn new() -> Self {
        let cap = max_frame_len::<T>().max(64 * 1024);
        let buf = vec![0; cap + Self::align()].into_boxed_slice();
        let base = buf.as_ptr().align_offset(Self::align());
        FrameReader {
            buf,
            base,
            spare: Vec::new(),
            read_max: usize::MAX,
            start: base,
            end: base,
            greeted: false,
            lost: false,
            skip: 0,
            skip_seal: None,
            steady: false,
            strangers: Vec::new(),
            bare: None,
            last_len: 0,
            in_batch: 0,
            batch_pad: 0,
            _t: PhantomData,
        }
    }

    /// Offers each `fill` room for one message record only rather than the whole free
    /// buffer, as a raw reader of fixed-size records reads. For pipes: emptying a pipe
    /// with one large read makes the writer's next `write` wake the reader, which costs
    /// more than the reads it saves when the two share a CPU. A handshake then takes a
    /// few reads, once per writer.
    pub(crate) fn one_message_per_read(mut self) -> Self {
        // A page-sized message usually goes bare: read just its bytes, a pipe page.
        self.read_max = if is_page::<T>() {
            size_of::<T>()
        } else {
            record_len::<T>()
        };
        self
    }

    /// The alignment the buffer keeps for messages: `T`'s, and at least 8.
    const fn align() -> usize {
        if align_of::<T>() > 8 {
            align_of::<T>()
        } else {
            8
        }
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// The bytes the message last returned took on the wire, its record's header and
    /// seals included.
    pub fn last_record_len(&self) -> usize {
        self.last_len
    }

    /// Decodes the next message from what is buffered, without reading.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`], but never [`Error::Disconnected`].
    pub fn next_buffered(&mut self) -> Result<Option<T>> {
        if self.whole_message().is_none() && !self.advance()? {
            return Ok(None);
        }
        match self.whole_message() {
            Some(payload) => self.take_message(payload).map(Some),
            None => Ok(None),
        }
    }

    /// Takes a handshake read by other means (a connection's first record) as if it had
    /// come through this reader.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`]; [`Error::Corrupt`] if `record` does not fit.
    pub(crate) fn push_hello(&mut self, record: &[u8]) -> Result<()> {
        let room = self.buf.len() - self.end;
        if record.len() > room {
            return Err(Error::Corrupt(format!(
                "a handshake of {} bytes does not fit the {room} free bytes of the reader",
                record.len()
            )));
        }
        self.buf[self.end..self.end + record.len()].copy_from_slice(record);
        self.end += record.len();
        self.advance().map(drop)
    }

    /// Where the payload of a whole message of `T` starts, if one is at the front of the
    /// buffer of a stream in step: the steady state, checked without copying anything.
    #[inline(always)]
    fn whole_message(&self) -> Option<usize> {
        if !self.steady {
            return None;
        }
        if self.in_batch > 0 {
            // Inside a batch record, which was whole when it was entered.
            return Some(self.start);
        }
        let avail = &self.buf[self.start..self.end];
        if const { is_page::<T>() } && matches!(self.bare, Some((_, true))) {
            // A bare page-sized message of `T`, unless the bytes there look tagged.
            if avail.first_chunk::<4>().is_some_and(|h| !looks_tagged(h)) {
                return (avail.len() >= size_of::<T>()).then_some(self.start);
            }
        }
        let rec = const { record_len::<T>() };
        let record = avail.get(..rec)?;
        if record[..HEADER_LEN] != const { message_header::<T>() } {
            return None;
        }
        if const { is_long(size_of::<T>()) }
            && record[HEADER_LEN..HEADER_LEN + SEAL_LEN] != record[rec - SEAL_LEN..]
        {
            return None;
        }
        Some(self.start + const { payload_offset(size_of::<T>()) })
    }

    /// Moves `start` past the message whose payload is at `payload`, and returns the
    /// payload's end.
    #[inline(always)]
    fn consume_message(&mut self, payload: usize) -> usize {
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
    fn take_into(&mut self, payload: usize, out: &mut T) -> Result<()> {
        let end = self.consume_message(payload);
        Ok(copy_validated(&self.buf[payload..end], out)?)
    }

    fn update_steady(&mut self) {
        self.steady = self.greeted && !self.lost && self.skip == 0 && self.skip_seal.is_none();
    }

    /// Deals with what is at the front of the buffer when it is not a whole message of a
    /// stream in step: drops skipped bytes, looks for a record boundary, consumes
    /// handshakes (checking each) and other writers' records, reports bad input once.
    /// Returns `true` once a whole message of `T` is at the front, `false` if more bytes
    /// are needed. It never makes a `T`: that is [`FrameReader::take_message`]'s job, so
    /// the common path copies a message once and no path here holds one on the stack.
    #[inline(never)]
    fn advance(&mut self) -> Result<bool> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buffered());
                self.start += n;
                self.skip -= n;
                if self.skip > 0 {
                    return Ok(false);
                }
            }
            if let Some(seal) = self.skip_seal {
                let Some(closing) = self.buf[self.start..self.end].first_chunk::<SEAL_LEN>() else {
                    return Ok(false);
                };
                let torn = *closing != seal;
                self.skip_seal = None;
                if torn {
                    // The skipped record was cut short: what was dropped as its tail was
                    // another writer's. Look for a boundary from here.
                    self.lost = true;
                    self.update_steady();
                    return Err(Error::Corrupt(
                        "a record of a refused schema, too long for this reader's buffer, was \
                         cut short by its writer's death; the bytes after it up to here were \
                         dropped with it"
                            .into(),
                    ));
                }
                self.start += SEAL_LEN;
            }
            if self.lost && !self.find_boundary() {
                return Ok(false);
            }
            self.align_start();
            self.update_steady();
            if self.whole_message().is_some() {
                return Ok(true);
            }
            match self.step() {
                Step::More => return Ok(false),
                Step::Ours => self.lost = false,
                Step::Dropped(error) => {
                    self.lost = false;
                    if let Some(e) = error {
                        self.update_steady();
                        return Err(e);
                    }
                }
                Step::Lost(e) => {
                    // Look for the next boundary from the byte after this one; report
                    // the loss of step once, not once per false start while looking.
                    self.start += 1;
                    if !self.lost {
                        self.lost = true;
                        self.update_steady();
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Looks at the record at the front of the buffer (see [`Step`]), consuming it if it
    /// is whole and not a message of `T`.
    fn step(&mut self) -> Step {
        let avail = &self.buf[self.start..self.end];
        let Some(header) = avail.first_chunk::<HEADER_LEN>() else {
            return Step::More;
        };
        let (tag, len) = split_header(header);
        if tag == HELLO_TAG {
            let len = match hello_len(len) {
                Ok(len) => len,
                Err(e) => return Step::Lost(e),
            };
            let Some(payload) = avail.get(HEADER_LEN..HEADER_LEN + len) else {
                return Step::More;
            };
            let checked = check_hello::<T>(payload);
            if let Err(Error::SchemaMismatch { found, .. }) = &checked {
                if self.strangers.len() == MAX_STRANGERS {
                    self.strangers.remove(0);
                }
                let size = usize::try_from(found.size).unwrap_or(usize::MAX);
                self.strangers.push((tag_of(found.fingerprint), size));
                self.bare = is_page_len(size).then_some((size, false));
            } else if checked.is_err() && self.lost {
                // Bytes that look like a handshake while looking for one: not a boundary.
                return Step::Lost(not_a_header(header));
            } else {
                self.bare = (checked.is_ok() && is_page::<T>()).then_some((size_of::<T>(), true));
            }
            self.greeted |= checked.is_ok();
            self.start += HEADER_LEN + len;
            return Step::Dropped(checked.err());
        }
        if tag & MESSAGE_BIT == 0 {
            // Not tagged: a bare page-sized message of the last writer, or bytes out of step.
            return match self.bare {
                Some((size, true)) if self.greeted && avail.len() >= size => Step::Ours,
                Some((_, true)) if self.greeted => Step::More,
                Some((size, false)) if !self.lost => {
                    // A refused writer's message: atomic, so whole; dropped by count.
                    self.skip = size;
                    Step::Dropped(None)
                }
                _ => Step::Lost(not_a_header(header)),
            };
        }
        if tag == const { batch_tag::<T>() } && is_batch_len(size_of::<T>(), len) {
            let Some(record) = avail.get(..HEADER_LEN + len) else {
                return Step::More;
            };
            if !self.greeted {
                self.start += record.len();
                return Step::Dropped(Some(Error::Corrupt(
                    "a batch of messages arrived before the handshake: the writer is not ipc, \
                     or the stream was joined midway; it is dropped"
                        .into(),
                )));
            }
            self.enter_batch(len);
            return Step::Ours;
        }
        let stranger_batch = self
            .strangers
            .iter()
            .any(|&(t, size)| t ^ BATCH_BIT == tag && is_batch_len(size, len));
        if stranger_batch {
            // A batch record of a refused writer: dropped whole, without a word.
            if avail.len() < HEADER_LEN + len {
                return Step::More;
            }
            self.start += HEADER_LEN + len;
            return Step::Dropped(None);
        }
        let total = record_len_of(len);
        let ours = tag == message_tag::<T>() && len == size_of::<T>();
        let known = self.strangers.contains(&(tag, len));
        if tag == message_tag::<T>() && !ours {
            // A header of ours with a length no message of ours has: a torn header.
            return Step::Lost(not_a_header(header));
        }
        if total > self.buf.len() - self.base {
            if !known {
                // Longer than this reader can hold, from no writer announced: skipping it
                // by a length read from bytes out of step could swallow good records.
                return Step::Lost(no_handshake(tag, len));
            }
            // A refused writer's record longer than the buffer: skipped by count, and its
            // seals compared at the end.
            if is_long(len) {
                let Some(opening) = avail.get(HEADER_LEN..HEADER_LEN + SEAL_LEN) else {
                    return Step::More;
                };
                let mut seal = [0; SEAL_LEN];
                seal.copy_from_slice(opening);
                self.skip_seal = Some(seal);
                self.skip = total - SEAL_LEN;
            } else {
                self.skip = total;
            }
            return Step::Dropped(None);
        }
        let Some(record) = avail.get(..total) else {
            return Step::More;
        };
        if is_long(len) && record[HEADER_LEN..HEADER_LEN + SEAL_LEN] != record[total - SEAL_LEN..] {
            return Step::Lost(Error::Corrupt(format!(
                "a {len}-byte message was cut short: its writer died mid-message and another \
                 writer's bytes follow (the record's seals differ); it is dropped, and reading \
                 goes on from the next handshake"
            )));
        }
        if ours && self.greeted {
            return Step::Ours;
        }
        self.start += total;
        Step::Dropped(if ours {
            Some(Error::Corrupt(
                "a message arrived before the handshake: the writer is not ipc, or the \
                 stream was joined midway; it is dropped"
                    .into(),
            ))
        } else {
            (!known).then(|| no_handshake(tag, len))
        })
    }

    /// Enters the batch record of `len` bytes whose header is at the front of the buffer
    /// (all of it is buffered): its messages are handed out one by one from here.
    #[inline(always)]
    fn enter_batch(&mut self, len: usize) {
        self.start += HEADER_LEN;
        self.in_batch = len / size_of::<T>();
        self.batch_pad = len % size_of::<T>();
    }

    /// Moves `start` to the next place where a record may begin (a handshake tag, or a
    /// header of `T`, or a prefix of either at the end of what is buffered), dropping the
    /// bytes before it. Returns `false` if none is buffered (all was dropped).
    fn find_boundary(&mut self) -> bool {
        let ours = const { message_header::<T>() };
        let hello = HELLO_TAG.to_le_bytes();
        let batch = const { batch_tag::<T>() }.to_le_bytes();
        let avail = &self.buf[self.start..self.end];
        let at = (0..avail.len()).find(|&i| {
            let rest = &avail[i..];
            let h = rest.len().min(hello.len());
            let o = rest.len().min(ours.len());
            let b = rest.len().min(batch.len());
            rest[..h] == hello[..h] || rest[..o] == ours[..o] || rest[..b] == batch[..b]
        });
        match at {
            Some(i) => {
                self.start += i;
                true
            }
            None => {
                self.start = self.end;
                false
            }
        }
    }

    /// Receives the next message, calling `fill` to read more bytes into the given free
    /// space whenever the buffer holds no complete record. `fill` returns the number of
    /// bytes read, `0` at end of stream, or an error (a timeout, say) that is passed on
    /// with the partial record kept.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] at the end of the stream; [`Error::Corrupt`] if it ends in
    /// the middle of a record, and for the bad input the [module docs](super) list;
    /// [`Error::SchemaMismatch`] for a handshake of another schema;
    /// [`Error::InvalidMessage`] for a message of `T` with a bit pattern that is not a
    /// `T`; and whatever `fill` returns. Each bad record is reported once and dropped.
    #[inline]
    pub fn recv_with(&mut self, fill: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<T> {
        let payload = self.next_payload(fill)?;
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
        let payload = self.next_payload(fill)?;
        self.take_into(payload, out)
    }

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
        let Some((first, rest)) = out.split_first_mut() else {
            return Ok(0);
        };
        // One read takes all the buffer holds, whatever a single receive reads.
        let read_max = std::mem::replace(&mut self.read_max, usize::MAX);
        let payload = self.next_payload(fill);
        self.read_max = read_max;
        self.take_into(payload?, first)?;
        let mut got = 1;
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

    /// Reads (with `fill`) until a whole message of `T` is at the front of the buffer,
    /// and returns where its payload starts. Nothing of the message is copied.
    #[inline(always)]
    fn next_payload(&mut self, mut fill: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<usize> {
        loop {
            if let Some(payload) = self.whole_message() {
                return Ok(payload);
            }
            if self.advance()? {
                continue;
            }
            if self.start == self.end {
                self.discard();
            } else if self.start > self.base && self.buf.len() - self.end < max_frame_len::<T>() {
                // Too little room behind a partial record for a whole one of `T` (or one
                // of another writer's that the buffer can hold): move it to the front, so
                // the next read takes a full buffer rather than a sliver.
                self.buf.copy_within(self.start..self.end, self.base);
                self.end -= self.start - self.base;
                self.start = self.base;
            }
            let room = (self.buf.len() - self.end).min(self.read_max);
            let n = fill(&mut self.buf[self.end..self.end + room])?;
            if n == 0 {
                return Err(self.end_of_stream());
            }
            self.end += n.min(room);
        }
    }

    /// The error for the end of the stream: [`Error::Disconnected`], or
    /// [`Error::Corrupt`] if it came in the middle of a record not already reported.
    /// The bytes after the start of that record are kept: they may hold a later writer's
    /// records (a writer died midway through a long record, and the next one wrote less
    /// than the rest of it), which the next receives read before the end again.
    #[cold]
    fn end_of_stream(&mut self) -> Error {
        let partial = self.buffered();
        if partial > 0 && !self.lost && self.skip == 0 && self.skip_seal.is_none() {
            self.start += 1;
            self.lost = true;
            self.update_steady();
            return Error::Corrupt(format!(
                "the stream ended {partial} bytes into a record: the writer died or closed \
                 mid-message"
            ));
        }
        self.discard();
        self.skip = 0;
        self.skip_seal = None;
        Error::Disconnected
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

    fn discard(&mut self) {
        self.start = self.base;
        self.end = self.base;
    }

    /// Receives the next message and lends it, validated, straight from this reader's
    /// buffer: no copy of the message at all. The borrow ends before the next receive.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`].
    #[inline]
    pub fn recv_ref_with(&mut self, fill: impl FnMut(&mut [u8]) -> Result<usize>) -> Result<&T> {
        let payload = self.next_payload(fill)?;
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

    /// Moves what is buffered down so that `start` is aligned to [`Self::align`]: done
    /// whenever the slow path has consumed something other than a message of `T`
    /// (handshakes and other writers' records may have any length), so that the messages
    /// after it can be lent in place.
    fn align_start(&mut self) {
        let off = (self.buf.as_ptr() as usize + self.start) % Self::align();
        if off != 0 {
            // `base` is aligned, so `start - off >= base`.
            self.buf.copy_within(self.start..self.end, self.start - off);
            self.start -= off;
            self.end -= off;
        }
    }
}

/// The error for a message record of another type whose handshake this reader has not
/// seen.
fn no_handshake(tag: u32, len: usize) -> Error {
    Error::Corrupt(format!(
        "a {len}-byte message of another type (tag {tag:#010x}) arrived with no handshake \
         before it: the stream was joined midway, or its writer is not ipc; it is dropped"
    ))
}

fn read_retrying<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("read", e)),
        }
    }
}
