//! [`FrameReader`]: the records of a byte stream back into checked messages (or slices),
//! through a buffer sized by `T` alone (or, for slices, by the records accepted).

use std::io::{self, Read};
use std::marker::PhantomData;

use super::batch::{batch_tag, is_batch_len, BATCH_BIT};
use super::hello::{check_hello, hello_is_slice, hello_len};
use super::{
    io_error, is_long, is_page, is_page_len, looks_tagged, max_frame_len, message_header,
    not_a_header, not_ipc_stream, payload_offset, payload_tag, record_len, record_len_of,
    split_header, tag_of, Source, HEADER_LEN, HELLO_TAG, MESSAGE_BIT, SEAL_LEN,
};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;

mod many;
mod messages;
mod slice;

/// How many refused schemas a reader remembers, to drop their records without a word.
const MAX_STRANGERS: usize = 16;

/// Reads records of `T` from a byte stream, through a buffer sized by `T` alone.
///
/// It enforces that a stream begins with a handshake, keeps partial records across calls
/// (a receive that times out loses nothing), reads as many bytes as are available at
/// once (unless told otherwise), and deals with records of other writers as the
/// [module docs](super) say: every bad record costs one error at most, and never a good
/// writer's message.
///
/// A `FrameReader<[E]>` reads slices instead ([`FrameReader::read_slice`]), up to its
/// maximum length ([`FrameReader::set_max_len`]).
pub struct FrameReader<T: ?Sized> {
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
    /// `greeted && !lost && skip == 0 && !refuse`: the front of the buffer is a record
    /// boundary after a checked handshake, so the fast path may take a message from it.
    steady: bool,
    /// The source refused the record at the front (see [`Source::before_fill`]): it is
    /// dropped, not handed out, once it is whole.
    refuse: bool,
    /// The schemas whose handshakes were refused: their records are dropped without
    /// another error.
    strangers: Vec<Stranger>,
    /// The size of the bare (page-sized) messages of the writer whose handshake came
    /// last, and whether they are messages of `T`; `None` if that writer sends none.
    bare: Option<(usize, bool)>,
    /// The length of the record of the message last returned.
    last_len: usize,
    /// Messages of `T` left in the batch record being read (all of it is buffered), at
    /// the front of the buffer; then `batch_pad` bytes of padding end the record.
    in_batch: usize,
    batch_pad: usize,
    /// Slices: the most bytes of elements a record of ours may hold (the maximum length
    /// times the element's size); 0 for messages.
    max_bytes: usize,
    /// Foreign-peer mode: the stream is bare messages back to back, no handshake and no
    /// records (see [`FrameReader::set_foreign`]).
    foreign: bool,
    _t: PhantomData<fn() -> T>,
}

/// A writer whose handshake was refused, as far as skipping its records goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stranger {
    /// The tag of its records.
    tag: u32,
    /// The size of its messages, or of its slices' elements.
    size: usize,
    /// It sends slices: records of any whole number of `size`-byte elements.
    slice: bool,
}

impl Stranger {
    /// Whether a record of `tag` and `len` bytes may be one of this writer's.
    fn sends(&self, tag: u32, len: usize) -> bool {
        self.tag == tag
            && match (self.slice, self.size) {
                (false, size) => len == size,
                (true, 0) => len == 0,
                (true, size) => len % size == 0,
            }
    }
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

impl<P: ?Sized + Payload> Default for FrameReader<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// The buffer a reader of `P` starts with: 64 KiB, or the longest record a reader of a
/// message needs to hold (one message, or the longest handshake) if that is longer. A
/// reader of slices grows its buffer for a longer record it accepts.
const fn first_capacity<P: ?Sized + Payload>() -> usize {
    let need = if P::IS_SLICE {
        super::MAX_HELLO_LEN
    } else {
        max_frame_len::<P::Element>()
    };
    if need > 64 * 1024 {
        need
    } else {
        64 * 1024
    }
}

impl<P: ?Sized + Payload> FrameReader<P> {
    /// A reader with an empty buffer of 64 KiB, or of the longest record a reader of `T`
    /// needs to hold (one message of `T`, or the longest handshake) if that is longer.
    /// A reader of slices `[E]` takes slices of up to
    /// [`default_max_len::<E>()`](super::default_max_len) elements until told otherwise
    /// ([`FrameReader::set_max_len`]), and grows its buffer only for a slice record longer
    /// than the buffer that it accepts.
    pub fn new() -> Self {
        let cap = const { first_capacity::<P>() };
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
            refuse: false,
            strangers: Vec::new(),
            bare: None,
            last_len: 0,
            in_batch: 0,
            batch_pad: 0,
            max_bytes: if P::IS_SLICE {
                super::default_max_len::<P::Element>() * size_of::<P::Element>()
            } else {
                0
            },
            foreign: false,
            _t: PhantomData,
        }
    }

    /// Offers each `fill` room for one message record only rather than the whole free
    /// buffer, as a raw reader of fixed-size records reads. For pipes: emptying a pipe
    /// with one large read makes the writer's next `write` wake the reader, which costs
    /// more than the reads it saves when the two share a CPU. A handshake then takes a
    /// few reads, once per writer. A reader of slices, whose records vary, reads what is
    /// there.
    pub(crate) fn one_message_per_read(mut self) -> Self {
        if P::IS_SLICE {
            return self;
        }
        // A page-sized message usually goes bare: read just its bytes, a pipe page.
        self.read_max = if is_page::<P::Element>() {
            size_of::<P::Element>()
        } else {
            record_len::<P::Element>()
        };
        self
    }

    /// Foreign-peer mode, for a stream written by a program not built on this crate: no
    /// handshake is expected and there are no records, the stream is messages of `T`
    /// back to back, exactly their bytes. Each is still validated; bytes at the end of
    /// the stream too few for a message are reported as an
    /// [`InvalidMessage`](crate::InvalidMessage) of their length. A reader of one
    /// message per read reads one bare message per read. Set before the first receive.
    pub(crate) fn set_foreign(&mut self) {
        self.foreign = true;
        if self.read_max != usize::MAX {
            self.read_max = size_of::<P::Element>();
        }
    }

    /// The alignment the buffer keeps for messages: `T`'s (an element's), and at least 8.
    const fn align() -> usize {
        if align_of::<P::Element>() > 8 {
            align_of::<P::Element>()
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

    /// Where the payload of a whole message of `T` (or slice) starts, if one is at the
    /// front of the buffer of a stream in step: the steady state, checked without copying
    /// anything.
    #[inline(always)]
    fn whole_message(&self) -> Option<usize> {
        if self.foreign {
            let whole = self.end - self.start >= size_of::<P::Element>() && !self.refuse;
            return whole.then_some(self.start);
        }
        if !self.steady {
            return None;
        }
        if const { P::IS_SLICE } {
            return self.whole_slice();
        }
        if self.in_batch > 0 {
            // Inside a batch record, which was whole when it was entered.
            return Some(self.start);
        }
        let avail = &self.buf[self.start..self.end];
        if const { is_page::<P::Element>() } && matches!(self.bare, Some((_, true))) {
            // A bare page-sized message of `T`, unless the bytes there look tagged.
            if avail.first_chunk::<4>().is_some_and(|h| !looks_tagged(h)) {
                return (avail.len() >= size_of::<P::Element>()).then_some(self.start);
            }
        }
        let rec = const { record_len::<P::Element>() };
        let record = avail.get(..rec)?;
        if record[..HEADER_LEN] != const { message_header::<P::Element>() } {
            return None;
        }
        if const { is_long(size_of::<P::Element>()) }
            && record[HEADER_LEN..HEADER_LEN + SEAL_LEN] != record[rec - SEAL_LEN..]
        {
            return None;
        }
        Some(self.start + const { payload_offset(size_of::<P::Element>()) })
    }

    fn update_steady(&mut self) {
        self.steady = self.greeted
            && !self.lost
            && self.skip == 0
            && self.skip_seal.is_none()
            && !self.refuse;
    }

    /// Marks the record at the front as refused by the source (see
    /// [`Source::before_fill`]): it is dropped once whole. Bytes being skipped are no
    /// record of their own, and nothing is marked then.
    #[cold]
    fn refuse_front(&mut self) {
        if self.skip == 0 && self.skip_seal.is_none() {
            self.refuse = true;
            self.update_steady();
        }
    }

    /// What [`FrameReader::step`] found a whole message (or batch, or slice) of ours to be,
    /// unless the source refused it: then it is dropped whole, `len` bytes from the front
    /// (the batch's header already consumed).
    #[inline(always)]
    fn ours_unless_refused(&mut self, len: usize) -> Step {
        if self.refuse {
            self.start += len;
            return Step::Dropped(None);
        }
        Step::Ours
    }

    /// Deals with what is at the front of the buffer when it is not a whole message of a
    /// stream in step: drops skipped bytes, looks for a record boundary, consumes
    /// handshakes (checking each) and other writers' records, reports bad input once.
    /// Returns `true` once a whole message of `T` is at the front, `false` if more bytes
    /// are needed. It never makes a `T`: that is `FrameReader::take_message`'s job, so
    /// the common path copies a message once and no path here holds one on the stack.
    #[inline(never)]
    fn advance(&mut self) -> Result<bool> {
        if self.foreign {
            if self.refuse {
                // A refused message of a foreign peer goes once all of it is here.
                if self.buffered() < size_of::<P::Element>() {
                    return Ok(false);
                }
                self.start += size_of::<P::Element>();
                self.refuse = false;
            }
            return Ok(self.whole_message().is_some());
        }
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buffered());
                self.start += n;
                self.skip -= n;
                if self.skip > 0 {
                    // Still inside a record being skipped: the fast path must not take a
                    // message of `T` from its bytes when more arrive.
                    self.update_steady();
                    return Ok(false);
                }
            }
            if let Some(seal) = self.skip_seal {
                let Some(closing) = self.buf[self.start..self.end].first_chunk::<SEAL_LEN>() else {
                    self.update_steady();
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
            if self.lost {
                let from = self.start;
                let found = self.find_boundary();
                if self.start != from {
                    // The bytes refused were not the start of a record.
                    self.refuse = false;
                }
                if !found {
                    return Ok(false);
                }
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
                    // The record at the front is gone, refused or not.
                    self.refuse = false;
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
                    self.refuse = false;
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
            let checked = check_hello::<P>(payload);
            if let Err(Error::SchemaMismatch { found, .. }) = &checked {
                let slice = hello_is_slice(payload);
                self.refused(found.fingerprint, found.size, slice);
            } else if checked.is_err() && self.lost {
                // Bytes that look like a handshake while looking for one: not a boundary.
                return Step::Lost(not_a_header(header));
            } else {
                let page = !P::IS_SLICE && is_page::<P::Element>();
                self.bare = (checked.is_ok() && page).then_some((size_of::<P::Element>(), true));
            }
            self.greeted |= checked.is_ok();
            self.start += HEADER_LEN + len;
            return Step::Dropped(checked.err());
        }
        if !self.greeted
            && !self.lost
            && self.strangers.is_empty()
            && tag != const { payload_tag::<P>() }
            && (P::IS_SLICE || tag != const { batch_tag::<P::Element>() })
        {
            // No writer has announced itself, and this is no record of ours: the stream
            // does not begin as a writer of this crate begins one.
            return Step::Lost(not_ipc_stream(header));
        }
        if tag & MESSAGE_BIT == 0 {
            // Not tagged: a bare page-sized message of the last writer, or bytes out of step.
            return match self.bare {
                Some((size, true)) if self.greeted && avail.len() >= size => {
                    self.ours_unless_refused(size)
                }
                Some((_, true)) if self.greeted => Step::More,
                Some((size, false)) if !self.lost => {
                    // A refused writer's message: atomic, so whole; dropped by count.
                    self.skip = size;
                    Step::Dropped(None)
                }
                _ => Step::Lost(not_a_header(header)),
            };
        }
        if !P::IS_SLICE
            && tag == const { batch_tag::<P::Element>() }
            && is_batch_len(size_of::<P::Element>(), len)
        {
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
            if self.refuse {
                return self.ours_unless_refused(HEADER_LEN + len);
            }
            self.enter_batch(len);
            return Step::Ours;
        }
        let stranger_batch = self
            .strangers
            .iter()
            .any(|s| !s.slice && s.tag ^ BATCH_BIT == tag && is_batch_len(s.size, len));
        if stranger_batch {
            // A batch record of a refused writer: dropped whole, without a word.
            if avail.len() < HEADER_LEN + len {
                return Step::More;
            }
            self.start += HEADER_LEN + len;
            return Step::Dropped(None);
        }
        let total = record_len_of(len);
        let tag_ours = tag == const { payload_tag::<P>() };
        let ours = tag_ours
            && if P::IS_SLICE {
                self.fits(len)
            } else {
                len == size_of::<P::Element>()
            };
        let known = self.strangers.iter().any(|s| s.sends(tag, len));
        if tag_ours && !ours {
            if P::IS_SLICE && self.greeted && !self.lost {
                // A slice longer than this reader takes, or not a whole number of
                // elements, at a record boundary: refused from its header.
                return self.refuse_slice(len);
            }
            // A header of ours with a length no message of ours has: a torn header.
            return Step::Lost(not_a_header(header));
        }
        if total > self.buf.len() - self.base {
            if P::IS_SLICE && ours && self.greeted {
                // A slice this reader accepts, longer than its buffer so far.
                self.grow(total);
                return Step::More;
            }
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
            return self.ours_unless_refused(total);
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

    /// Remembers a writer whose handshake was refused (its schema's `fingerprint`, the
    /// `size` of its messages or elements, whether it sends slices), to drop its records
    /// without another error. If its messages are page-sized, it is the writer of the bare
    /// messages that follow; if not, it sends none, and those that follow are still the
    /// last page-sized writer's (a raw writer's handshake between that writer's pages
    /// costs it nothing).
    #[cold]
    #[inline(never)]
    fn refused(&mut self, fingerprint: u64, size: u64, slice: bool) {
        if self.strangers.len() == MAX_STRANGERS {
            self.strangers.remove(0);
        }
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        self.strangers.push(Stranger {
            tag: tag_of(fingerprint),
            size,
            slice,
        });
        if !slice && is_page_len(size) {
            self.bare = Some((size, false));
        }
    }

    /// Enters the batch record of `len` bytes whose header is at the front of the buffer
    /// (all of it is buffered): its messages are handed out one by one from here.
    #[inline(always)]
    fn enter_batch(&mut self, len: usize) {
        self.start += HEADER_LEN;
        self.in_batch = len / size_of::<P::Element>();
        self.batch_pad = len % size_of::<P::Element>();
    }

    /// Moves `start` to the next place where a record may begin (a handshake tag, or a
    /// header of `T` (for slices, the slice's tag), or a prefix of either at the end of
    /// what is buffered), dropping the bytes before it. Returns `false` if none is
    /// buffered (all was dropped).
    fn find_boundary(&mut self) -> bool {
        let (ours, ours_len) = if P::IS_SLICE {
            let t = const { payload_tag::<P>() }.to_le_bytes();
            ([t[0], t[1], t[2], t[3], 0, 0, 0, 0], 4)
        } else {
            (const { message_header::<P::Element>() }, HEADER_LEN)
        };
        let hello = HELLO_TAG.to_le_bytes();
        // Slices have no batch records: only a message reader looks for its own.
        let batch = const { batch_tag::<P::Element>() }.to_le_bytes();
        let batches = !P::IS_SLICE;
        let avail = &self.buf[self.start..self.end];
        let at = (0..avail.len()).find(|&i| {
            let rest = &avail[i..];
            let h = rest.len().min(hello.len());
            let o = rest.len().min(ours_len);
            let b = rest.len().min(batch.len());
            rest[..h] == hello[..h]
                || rest[..o] == ours[..o]
                || (batches && rest[..b] == batch[..b])
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

    /// Reads (from `src`) until a whole message of `T` is at the front of the buffer,
    /// and returns where its payload starts. Nothing of the message is copied.
    #[inline(always)]
    fn next_payload(&mut self, mut src: impl Source) -> Result<usize> {
        loop {
            if let Some(payload) = self.whole_message() {
                return Ok(payload);
            }
            if self.advance()? {
                continue;
            }
            if self.start == self.end {
                self.discard();
            } else if self.start > self.base && self.buf.len() - self.end < self.wanted_room() {
                // Too little room behind a partial record for a whole one of `T` (or one
                // of another writer's that the buffer can hold): move it to the front, so
                // the next read takes a full buffer rather than a sliver.
                self.buf.copy_within(self.start..self.end, self.base);
                self.end -= self.start - self.base;
                self.start = self.base;
            }
            if let Err(e) = src.before_fill(self.buffered()) {
                self.refuse_front();
                return Err(e);
            }
            let room = (self.buf.len() - self.end).min(self.read_max);
            let n = src.fill(&mut self.buf[self.end..self.end + room])?;
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
        // A refused record cut short by the end is reported as any record cut short.
        self.refuse = false;
        let partial = self.buffered();
        if self.foreign && partial > 0 {
            // A short last message: dropped, and reported for what it is.
            self.discard();
            let size = size_of::<P::Element>();
            return crate::InvalidMessage::length(P::Element::SCHEMA.name, size, partial).into();
        }
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

    fn discard(&mut self) {
        self.start = self.base;
        self.end = self.base;
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

    /// How much room a read should have behind a partial record at the front: one whole
    /// record of `T`, or the longest handshake (for slices, the record at the front if
    /// it is one of ours).
    #[inline(always)]
    fn wanted_room(&self) -> usize {
        if P::IS_SLICE {
            self.slice_room()
        } else {
            const { max_frame_len::<P::Element>() }
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
