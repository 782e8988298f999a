//! The wire format for byte streams (pipes, FIFOs, stream sockets, TCP).
//!
//! A stream carries a handshake, then messages:
//!
//! | record            | bytes                                                                  |
//! |-------------------|------------------------------------------------------------------------|
//! | handshake         | tag `b"ipcH"`, 32-bit length, then version, flags, fingerprint, size, align, schema name |
//! | message           | the `size_of::<T>()` bytes of the message, nothing else                |
//! | framed message    | tag `0x8000_0000 \| fold32(fingerprint)`, 32-bit length `size_of::<T>()`, then the message |
//!
//! Tags and lengths are little-endian. A message goes bare, exactly as a raw `write` of
//! its bytes would, unless it cannot: a message whose first four bytes equal one of the
//! two tags, and every message of a type smaller than four bytes, is framed, so that a
//! reader tells the three records apart by their first four bytes alone. Bare messages
//! keep a stream of 4096-byte messages page-aligned and a stream of small ones as dense
//! as raw writes; the handful of bytes that look like a tag cost an 8-byte header.
//!
//! A writer begins with a handshake; a reader checks it against its own `T` before it
//! accepts a message, and refuses another schema with [`Error::SchemaMismatch`] naming
//! both. A handshake may appear again at any record boundary (several writers on one
//! FIFO each send their own, each with atomic writes) and is checked each time.
//!
//! Decoding never trusts its input: a header is checked (tag, and a length that must be
//! exactly what `T` or a handshake needs) before any payload is read, the read buffer is
//! sized by this side's `T`, never by the peer, and every message is validated
//! ([`Message::validate`]) before a `T` is produced. Garbage before the handshake,
//! truncation, a foreign writer and a bad bit pattern are all typed errors. After the
//! handshake there is no header to check on a bare message: bytes that are a valid `T`
//! are one (as with any raw stream), which is why the handshake must come first.
//!
//! [`FrameReader::recv_with`] returns each message by value;
//! [`FrameReader::recv_into_with`] (and [`FrameReader::read_into`]) copy the validated
//! payload straight from the buffer into a caller's `T` instead, and leave it unchanged
//! on any error. Transports build their `recv` and `recv_into` on these.
//!
//! Message integers travel in the sender's native byte order; the handshake says which
//! one that is, and a reader of the other byte order refuses the stream (it never
//! converts silently).
//!
//! ```
//! use ipc_runtime::codec::{self, FrameReader};
//!
//! let mut wire = Vec::new();
//! codec::write_hello::<u64, _>(&mut wire)?;
//! codec::write_message(&mut wire, &42u64)?;
//! assert_eq!(wire.len(), codec::hello::<u64>().len() + 8); // the message went bare
//!
//! let mut reader = FrameReader::<u64>::new();
//! let mut src = &wire[..];
//! assert_eq!(reader.read_from(&mut src)?, 42);
//! assert!(reader.read_from(&mut src).unwrap_err().is_disconnected()); // end of stream
//! # Ok::<(), ipc_runtime::Error>(())
//! ```

use std::io::{self, IoSlice, Read, Write};
use std::marker::PhantomData;

use crate::error::{Error, Result, SchemaId};
use crate::message::{self, Message};

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// Longest schema name a handshake may carry.
pub const MAX_NAME_LEN: usize = 1024;

/// Version of the wire format this build writes. Version 1 framed every message; a
/// reader of this build accepts both (a version 1 stream is all framed messages).
pub const VERSION: u16 = 2;

/// The oldest wire format version this build reads.
const MIN_VERSION: u16 = 1;

const HELLO_TAG: u32 = u32::from_le_bytes(*b"ipcH");
const HELLO_FIXED: usize = 32;
const FLAG_BIG_ENDIAN: u16 = 1;
const NATIVE_FLAGS: u16 = if cfg!(target_endian = "big") {
    FLAG_BIG_ENDIAN
} else {
    0
};

/// The tag of a message frame of `T`: the folded fingerprint with the top bit set, so it
/// can never equal the handshake tag.
pub const fn message_tag<T: Message>() -> u32 {
    let fp = T::FINGERPRINT;
    ((fp ^ (fp >> 32)) as u32) | 0x8000_0000
}

/// The header of a message frame of `T`.
pub const fn message_header<T: Message>() -> [u8; HEADER_LEN] {
    let tag = message_tag::<T>().to_le_bytes();
    let len = (size_of::<T>() as u32).to_le_bytes();
    [
        tag[0], tag[1], tag[2], tag[3], len[0], len[1], len[2], len[3],
    ]
}

/// The whole handshake frame announcing `T`.
pub fn hello<T: Message>() -> Vec<u8> {
    let name = T::SCHEMA.to_string();
    let name = &name.as_bytes()[..name.len().min(MAX_NAME_LEN)];
    let mut f = Vec::with_capacity(HEADER_LEN + HELLO_FIXED + name.len());
    f.extend_from_slice(&HELLO_TAG.to_le_bytes());
    f.extend_from_slice(&((HELLO_FIXED + name.len()) as u32).to_le_bytes());
    f.extend_from_slice(&VERSION.to_le_bytes());
    f.extend_from_slice(&NATIVE_FLAGS.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&T::FINGERPRINT.to_le_bytes());
    f.extend_from_slice(&(size_of::<T>() as u64).to_le_bytes());
    f.extend_from_slice(&(align_of::<T>() as u64).to_le_bytes());
    f.extend_from_slice(name);
    f
}

/// Writes the handshake for `T` to `w`.
///
/// # Errors
///
/// [`Error::Disconnected`] on a broken pipe or reset connection, [`Error::Io`] otherwise.
pub fn write_hello<T: Message, W: Write>(w: &mut W) -> Result<()> {
    write_all_vectored(w, &mut [IoSlice::new(&hello::<T>())])
}

/// Whether the message with these bytes must be framed (sent after a header) rather than
/// bare: if `T` is smaller than a tag, or the bytes begin with one of the two tags.
#[inline(always)]
pub fn needs_header<T: Message>(bytes: &[u8]) -> bool {
    match bytes.first_chunk::<4>() {
        Some(head) if size_of::<T>() >= 4 => {
            let tag = u32::from_le_bytes(*head);
            tag == HELLO_TAG || tag == message_tag::<T>()
        }
        _ => true,
    }
}

/// The header to write before `msg`: empty for a message that goes bare, the message
/// header otherwise ([`needs_header`]).
#[inline(always)]
pub fn header_for<T: Message>(msg: &T) -> &'static [u8] {
    if needs_header::<T>(message::as_bytes(msg)) {
        const { &message_header::<T>() }
    } else {
        &[]
    }
}

/// Writes one message to `w`: its bytes, after a header only if it needs one
/// ([`needs_header`]), in one vectored write where the writer allows.
///
/// # Errors
///
/// [`Error::Disconnected`] on a broken pipe or reset connection, [`Error::Io`] otherwise.
pub fn write_message<T: Message, W: Write>(w: &mut W, msg: &T) -> Result<()> {
    write_all_vectored(
        w,
        &mut [
            IoSlice::new(header_for(msg)),
            IoSlice::new(message::as_bytes(msg)),
        ],
    )
}

fn write_all_vectored<W: Write>(w: &mut W, mut bufs: &mut [IoSlice<'_>]) -> Result<()> {
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error("write", e)),
        }
    }
    Ok(())
}

/// Maps an I/O error from call `op` to [`Error`]: broken pipe and reset are
/// [`Error::Disconnected`].
pub fn io_error(op: &'static str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => Error::Disconnected,
        _ => Error::Io { op, source: e },
    }
}

/// One decoded frame.
#[derive(Debug)]
pub enum Frame<T> {
    /// A handshake whose schema matches `T`.
    Hello,
    /// A message.
    Message(T),
}

/// Decodes one tagged record (a handshake or a framed message) from the front of `buf`.
/// Bare messages have no tag to recognise them by out of context: [`FrameReader`] reads
/// those, knowing that the stream's handshake came first.
///
/// Returns `Ok(None)` if `buf` holds only part of a frame (no more than
/// [`max_frame_len`] bytes are ever needed), or the frame and the number of bytes it took.
///
/// # Errors
///
/// [`Error::SchemaMismatch`] for a handshake of another schema or byte order,
/// [`Error::Corrupt`] for a header that is neither a handshake nor a message of `T`,
/// [`Error::InvalidMessage`] for a payload that is not a valid `T`.
pub fn decode<T: Message>(buf: &[u8]) -> Result<Option<(Frame<T>, usize)>> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let tag = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if tag == message_tag::<T>() && len == size_of::<T>() {
        let Some(payload) = rest.get(..len) else {
            return Ok(None);
        };
        let msg = message::from_bytes::<T>(payload)?;
        return Ok(Some((Frame::Message(msg), HEADER_LEN + len)));
    }
    if tag == HELLO_TAG {
        if !(HELLO_FIXED..=HELLO_FIXED + MAX_NAME_LEN).contains(&len) {
            return Err(Error::Corrupt(format!(
                "handshake of {len} bytes; a handshake has {HELLO_FIXED} to {} bytes",
                HELLO_FIXED + MAX_NAME_LEN
            )));
        }
        let Some(payload) = rest.get(..len) else {
            return Ok(None);
        };
        check_hello::<T>(payload)?;
        return Ok(Some((Frame::Hello, HEADER_LEN + len)));
    }
    if tag & 0x8000_0000 != 0 && len <= MAX_FRAME_HINT {
        // A well-formed message header of some other type: the writer switched types.
        return Err(Error::Corrupt(format!(
            "a message frame of {len} bytes with tag {tag:#010x}, where `{}` frames have \
             {} bytes and tag {:#010x}: the writer sends another type",
            T::SCHEMA,
            size_of::<T>(),
            message_tag::<T>()
        )));
    }
    Err(Error::Corrupt(format!(
        "bytes {:02x?} are not a frame header: the stream is out of step, or its writer is not ipc",
        header
    )))
}

const MAX_FRAME_HINT: usize = 1 << 30;

fn check_hello<T: Message>(p: &[u8]) -> Result<()> {
    let u16_at = |i: usize| u16::from_le_bytes([p[i], p[i + 1]]);
    let u64_at = |i: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&p[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let version = u16_at(0);
    if !(MIN_VERSION..=VERSION).contains(&version) {
        return Err(Error::Corrupt(format!(
            "the peer speaks wire format version {version}, this build speaks {MIN_VERSION} to {VERSION}; \
             build both programs with the same version of ipc"
        )));
    }
    let flags = u16_at(2);
    let mut found = SchemaId {
        name: String::from_utf8_lossy(&p[HELLO_FIXED..]).into_owned(),
        fingerprint: u64_at(8),
        size: u64_at(16),
        align: u64_at(24),
    };
    let expected = SchemaId::of::<T>();
    if flags & FLAG_BIG_ENDIAN != NATIVE_FLAGS & FLAG_BIG_ENDIAN {
        let order = if flags & FLAG_BIG_ENDIAN != 0 {
            "big"
        } else {
            "little"
        };
        found.name = format!("{} in {order}-endian byte order", found.name);
        return Err(Error::SchemaMismatch { expected, found });
    }
    if found.fingerprint != expected.fingerprint
        || found.name != expected.name
        || found.size != expected.size
        || found.align != expected.align
    {
        return Err(Error::SchemaMismatch { expected, found });
    }
    Ok(())
}

/// The longest frame a reader of `T` ever needs to hold.
pub const fn max_frame_len<T: Message>() -> usize {
    let msg = HEADER_LEN + size_of::<T>();
    let hello = HEADER_LEN + HELLO_FIXED + MAX_NAME_LEN;
    if msg > hello {
        msg
    } else {
        hello
    }
}

/// Reads frames of `T` from a byte stream, through a buffer sized by `T` alone.
///
/// It enforces that a stream begins with a handshake, keeps partial frames across calls
/// (a receive that times out loses nothing), and reads as many bytes as are available at
/// once, so a stream of small messages costs far fewer than one `read` per message.
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
    greeted: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: Message> Default for FrameReader<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Message> FrameReader<T> {
    /// A reader with an empty buffer of `max(64 KiB, max_frame_len::<T>())` bytes.
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
            _t: PhantomData,
        }
    }

    /// Offers each `fill` room for one message only (a bare one, or a framed one if `T`
    /// is always framed) rather than the whole free buffer, as a raw reader of fixed-size
    /// records reads. For pipes: emptying a pipe with one large read makes the writer's
    /// next `write` wake the reader, which costs more than the reads it saves when the two
    /// share a CPU. A handshake then takes a few reads, once per writer.
    pub(crate) fn one_message_per_read(mut self) -> Self {
        self.read_max = if size_of::<T>() >= 4 {
            size_of::<T>()
        } else {
            HEADER_LEN + size_of::<T>()
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

    /// Decodes the next message from what is buffered, without reading.
    ///
    /// # Errors
    ///
    /// As [`decode`], plus [`Error::Corrupt`] if a message arrives before any handshake.
    /// After an error the offending bytes are dropped, so the next call does not repeat it:
    /// just the message for an invalid one ([`Error::InvalidMessage`]), everything
    /// buffered for bytes that are out of step.
    pub fn next_buffered(&mut self) -> Result<Option<T>> {
        if self.whole_message().is_none() && !self.advance()? {
            return Ok(None);
        }
        match self.whole_message() {
            Some(payload) => self.take_message(payload).map(Some),
            None => Ok(None),
        }
    }

    /// Where the payload of a whole message of `T` starts, if one is at the front of
    /// the buffer after the handshake: the steady state of a stream, checked without
    /// copying anything. A bare message starts right there, a framed one after its header.
    #[inline(always)]
    fn whole_message(&self) -> Option<usize> {
        if !self.greeted {
            return None;
        }
        let at = self.start;
        let avail = &self.buf[at..self.end];
        if avail.len() >= size_of::<T>() && !needs_header::<T>(avail) {
            return Some(at);
        }
        (avail.len() >= HEADER_LEN + size_of::<T>() && avail[..HEADER_LEN] == message_header::<T>())
            .then_some(at + HEADER_LEN)
    }

    /// Validates the payload at `payload` and copies it out, once, straight into the
    /// caller's result. For large messages each copy of a `T` costs about as much as the
    /// system call that brought it, so the message is never passed up through an
    /// `Option` or a `Frame` (the compiler copies those whole, even when they are empty).
    #[inline(always)]
    fn take_message(&mut self, payload: usize) -> Result<T> {
        let end = payload + size_of::<T>();
        // Valid or not, only this message is consumed: the stream is still in step after it.
        self.start = end;
        Ok(message::from_bytes::<T>(&self.buf[payload..end])?)
    }

    /// Validates the payload at `payload` and copies it into `*out`, which is left
    /// unchanged if the bytes are not a valid `T`.
    #[inline(always)]
    fn take_into(&mut self, payload: usize, out: &mut T) -> Result<()> {
        let end = payload + size_of::<T>();
        self.start = end;
        Ok(copy_validated(&self.buf[payload..end], out)?)
    }

    /// Deals with what is at the front of the buffer when it is not a whole message
    /// after the handshake: consumes handshakes (checking each), reports bad input
    /// (dropping it). Returns `true` once a whole message of `T` is at the front, `false`
    /// if more bytes are needed. It never makes a `T`: that is
    /// [`FrameReader::take_message`]'s job, so the common path copies a message once.
    #[inline(never)]
    fn advance(&mut self) -> Result<bool> {
        loop {
            if self.whole_message().is_some() {
                return Ok(true);
            }
            let avail = &self.buf[self.start..self.end];
            let Some(head) = avail.first_chunk::<4>() else {
                return Ok(false);
            };
            let tag = u32::from_le_bytes(*head);
            let bare = !needs_header::<T>(avail);
            let framed = avail
                .first_chunk::<HEADER_LEN>()
                .is_some_and(|h| *h == message_header::<T>());
            if self.greeted && (bare || framed) {
                // Part of a message: wait for the rest.
                return Ok(false);
            }
            if !self.greeted && tag == message_tag::<T>() {
                self.discard();
                return Err(Error::Corrupt(
                    "a message arrived before the handshake: the writer is not ipc, or the stream was joined midway".into(),
                ));
            }
            match decode::<T>(avail) {
                Ok(None) => return Ok(false),
                Ok(Some((Frame::Hello, n))) => {
                    self.start += n;
                    self.greeted = true;
                    self.align_start();
                }
                Ok(Some((Frame::Message(_), _))) => {
                    // `decode` makes a message only of a header equal to ours, handled above.
                    self.discard();
                    return Err(Error::Corrupt("a message frame out of step".into()));
                }
                Err(e) => {
                    self.discard();
                    return Err(e);
                }
            }
        }
    }

    /// Receives the next message, calling `fill` to read more bytes into the given free
    /// space whenever the buffer holds no complete frame. `fill` returns the number of
    /// bytes read, `0` at end of stream, or an error (a timeout, say) that is passed on
    /// with the partial frame kept.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] at the end of the stream, [`Error::Corrupt`] if it ends in
    /// the middle of a frame, the errors of [`FrameReader::next_buffered`], and whatever
    /// `fill` returns.
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
                // Too little room behind a partial frame for a whole one: move it to the
                // front, so the next read takes a full buffer rather than a sliver.
                self.buf.copy_within(self.start..self.end, self.base);
                self.end -= self.start - self.base;
                self.start = self.base;
            }
            let room = (self.buf.len() - self.end).min(self.read_max);
            let n = fill(&mut self.buf[self.end..self.end + room])?;
            if n == 0 {
                let partial = self.buffered();
                self.discard();
                if partial > 0 {
                    return Err(Error::Corrupt(format!(
                        "the stream ended {partial} bytes into a frame: the writer died or closed mid-message"
                    )));
                }
                return Err(Error::Disconnected);
            }
            self.end += n.min(room);
        }
    }

    /// Receives the next message from a blocking reader (retrying `EINTR`).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`].
    pub fn read_from<R: Read>(&mut self, r: &mut R) -> Result<T> {
        self.recv_with(|buf| loop {
            match r.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("read", e)),
            }
        })
    }

    /// As [`FrameReader::read_from`], writing the message into `*out`
    /// ([`FrameReader::recv_into_with`]).
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_with`]; after an error `*out` is unchanged.
    pub fn read_into<R: Read>(&mut self, r: &mut R, out: &mut T) -> Result<()> {
        self.recv_into_with(out, |buf| loop {
            match r.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error("read", e)),
            }
        })
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
        self.start = payload + size_of::<T>();
        if (self.buf.as_ptr() as usize + payload) % align_of::<T>() == 0 {
            return Ok(message::ref_from_bytes::<T>(
                &self.buf[payload..payload + size_of::<T>()],
            )?);
        }
        // Only a framed message of a `T` aligned to more than 8 lands here (handshakes
        // realign the buffer, bare messages keep it aligned): lend an aligned copy.
        let (buf, spare) = (&self.buf, &mut self.spare);
        if spare.is_empty() {
            spare.resize(size_of::<T>() + align_of::<T>(), 0);
        }
        let at = spare.as_ptr().align_offset(align_of::<T>());
        let copy = &mut spare[at..at + size_of::<T>()];
        copy.copy_from_slice(&buf[payload..payload + size_of::<T>()]);
        Ok(message::ref_from_bytes::<T>(copy)?)
    }

    /// Moves what is buffered down so that `start` is aligned to [`Self::align`]: done
    /// after each handshake, whose length may be anything, so that the messages after it
    /// (bare ones `size_of::<T>()` long, framed ones 8 more) can be lent in place.
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

/// Validates `bytes` as a `T` and copies them into `*out`: [`message::from_bytes`]
/// without the by-value return, so a large `T` is copied once. `*out` is unchanged
/// unless this returns `Ok`.
///
/// # Errors
///
/// [`InvalidMessage`](crate::InvalidMessage) if `bytes` is not `size_of::<T>()` long or
/// holds a bit pattern that is not a `T`.
#[inline(always)]
pub(crate) fn copy_validated<T: Message>(
    bytes: &[u8],
    out: &mut T,
) -> Result<(), crate::InvalidMessage> {
    // Evaluating `T::SCHEMA` runs the derive's no-padding check for generic types.
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    if bytes.len() != size_of::<T>() {
        return Err(crate::InvalidMessage::length(
            T::SCHEMA.name,
            size_of::<T>(),
            bytes.len(),
        ));
    }
    if !const { T::SCHEMA.accepts_any_bits() } {
        T::validate(bytes)?;
    }
    // SAFETY: `bytes` is exactly `size_of::<T>()` long and, unless every bit pattern is a
    // `T`, `T::validate` accepted it, which by the `Message` contract makes it a valid `T`
    // (no padding, no pointers: the schema check above holds). The destination is a
    // `&mut T`, so valid for `size_of::<T>()` bytes of writes; a byte copy has no
    // alignment requirement on the source; a shared `&[u8]` and a `&mut T` never overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (out as *mut T).cast::<u8>(), size_of::<T>());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedStr;

    fn stream<T: Message>(msgs: &[T]) -> Vec<u8> {
        let mut w = hello::<T>();
        for m in msgs {
            write_message(&mut w, m).unwrap();
        }
        w
    }

    #[test]
    fn round_trip_with_one_byte_reads() {
        let wire = stream(&[1u32, 2, 3]);
        let mut r = FrameReader::<u32>::new();
        let mut src = wire.as_slice();
        let mut one_at_a_time = |buf: &mut [u8]| Ok(src.read(&mut buf[..1]).unwrap());
        for want in [1, 2, 3] {
            assert_eq!(r.recv_with(&mut one_at_a_time).unwrap(), want);
        }
        assert!(r
            .recv_with(&mut one_at_a_time)
            .unwrap_err()
            .is_disconnected());
    }

    #[test]
    fn other_schema_is_refused_naming_both() {
        let wire = stream(&[1u64]);
        let err = FrameReader::<[u32; 2]>::new()
            .read_from(&mut &wire[..])
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
        assert!(
            text.contains("`[u32; 2]`") && text.contains("`u64`"),
            "{text}"
        );
    }

    #[test]
    fn message_before_hello_is_refused() {
        let mut wire = Vec::new();
        write_message(&mut wire, &7u16).unwrap();
        let err = FrameReader::<u16>::new()
            .read_from(&mut &wire[..])
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
    }

    #[test]
    fn truncated_frame_is_corrupt_then_disconnected() {
        let wire = stream(&[9u64]);
        let mut r = FrameReader::<u64>::new();
        let mut src = &wire[..wire.len() - 3];
        assert!(matches!(r.read_from(&mut src), Err(Error::Corrupt(_))));
        assert!(r.read_from(&mut src).unwrap_err().is_disconnected());
    }

    #[test]
    fn invalid_bits_are_refused() {
        let mut wire = hello::<FixedStr<4>>();
        wire.extend_from_slice(&message_header::<FixedStr<4>>());
        wire.extend_from_slice(b"a\xffb\0");
        let err = FrameReader::<FixedStr<4>>::new()
            .read_from(&mut &wire[..])
            .unwrap_err();
        assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    }

    #[test]
    fn read_into_round_trips_and_leaves_out_unchanged_on_invalid_bits() {
        let hi = FixedStr::<4>::try_from("hi").unwrap();
        let mut wire = stream(&[hi]);
        wire.extend_from_slice(&message_header::<FixedStr<4>>());
        wire.extend_from_slice(b"a\xffb\0");
        let mut r = FrameReader::<FixedStr<4>>::new();
        let mut src = &wire[..];
        let mut out = FixedStr::<4>::default();
        r.read_into(&mut src, &mut out).unwrap();
        assert_eq!(out, hi);
        let err = r.read_into(&mut src, &mut out).unwrap_err();
        assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
        assert_eq!(out, hi);
    }

    #[test]
    fn oversized_hello_is_refused_before_reading_it() {
        let mut wire = HELLO_TAG.to_le_bytes().to_vec();
        wire.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = decode::<u8>(&wire).unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
    }

    #[test]
    fn a_second_hello_midstream_is_accepted() {
        let mut wire = stream(&[1u8]);
        wire.extend_from_slice(&stream(&[2u8]));
        let mut r = FrameReader::<u8>::new();
        let mut src = &wire[..];
        assert_eq!(r.read_from(&mut src).unwrap(), 1);
        assert_eq!(r.read_from(&mut src).unwrap(), 2);
    }

    #[test]
    fn messages_go_bare_unless_they_look_like_a_tag() {
        let hello_like = u64::from(HELLO_TAG) | 7 << 32;
        let tag_like = u64::from(message_tag::<u64>());
        let msgs = [1u64, hello_like, 2, tag_like, 3];
        let wire = stream(&msgs);
        // Three bare messages of 8 bytes, two framed ones of 16.
        assert_eq!(wire.len(), hello::<u64>().len() + 3 * 8 + 2 * 16);
        let mut r = FrameReader::<u64>::new();
        let mut src = &wire[..];
        for want in msgs {
            assert_eq!(r.read_from(&mut src).unwrap(), want);
        }
        assert!(r.read_from(&mut src).unwrap_err().is_disconnected());
    }

    #[test]
    fn types_smaller_than_a_tag_are_always_framed() {
        let wire = stream(&[1u16, 2]);
        assert_eq!(wire.len(), hello::<u16>().len() + 2 * (HEADER_LEN + 2));
        let mut r = FrameReader::<u16>::new();
        let mut src = &wire[..];
        assert_eq!(r.read_from(&mut src).unwrap(), 1);
        assert_eq!(r.read_from(&mut src).unwrap(), 2);
    }

    #[test]
    fn a_version_1_stream_of_framed_messages_is_read() {
        let mut wire = hello::<u32>();
        wire[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&1u16.to_le_bytes());
        for m in [5u32, 6] {
            wire.extend_from_slice(&message_header::<u32>());
            wire.extend_from_slice(&m.to_le_bytes());
        }
        let mut r = FrameReader::<u32>::new();
        let mut src = &wire[..];
        assert_eq!(r.read_from(&mut src).unwrap(), 5);
        assert_eq!(r.read_from(&mut src).unwrap(), 6);
    }

    #[test]
    fn a_newer_wire_version_is_refused() {
        let mut wire = stream(&[1u32]);
        wire[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&(VERSION + 1).to_le_bytes());
        let err = FrameReader::<u32>::new()
            .read_from(&mut &wire[..])
            .unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }

    #[test]
    fn an_invalid_message_drops_only_itself() {
        let mut wire = stream(&[['a'; 1]]);
        wire.extend_from_slice(&0xD800u32.to_le_bytes()); // a surrogate: not a char
        write_message(&mut wire, &['b'; 1]).unwrap();
        let mut r = FrameReader::<[char; 1]>::new();
        let mut src = &wire[..];
        assert_eq!(r.read_from(&mut src).unwrap(), ['a']);
        let err = r.read_from(&mut src).unwrap_err();
        assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
        assert_eq!(r.read_from(&mut src).unwrap(), ['b']);
    }

    #[test]
    fn garbage_before_the_handshake_is_refused() {
        let mut wire = 0xdead_beef_u64.to_le_bytes().to_vec();
        wire.extend_from_slice(&stream(&[1u64]));
        let err = FrameReader::<u64>::new()
            .read_from(&mut &wire[..])
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
    }

    /// Reads `wire` one byte per `read` when `slow`, else all at once.
    fn refs<T: Message + Copy>(wire: &[u8], slow: bool) -> Vec<Result<T>> {
        let mut r = FrameReader::<T>::new();
        let mut src = wire;
        let mut out = Vec::new();
        loop {
            let got = r.recv_ref_with(|buf| {
                let n = if slow { 1 } else { buf.len() }.min(src.len());
                buf[..n].copy_from_slice(&src[..n]);
                src = &src[n..];
                Ok(n)
            });
            match got {
                Err(Error::Disconnected) => return out,
                Ok(m) => {
                    assert_eq!(m as *const T as usize % align_of::<T>(), 0);
                    out.push(Ok(*m));
                }
                Err(e) => out.push(Err(e)),
            }
        }
    }

    #[test]
    fn messages_are_lent_in_place_and_aligned_after_any_handshake() {
        // The handshake's length depends on the schema name: `[u64; 10]` makes it odd.
        assert_ne!(hello::<[u64; 10]>().len() % 8, 0);
        let msg = |first: u64| std::array::from_fn::<u64, 10, _>(|i| first + i as u64);
        let msgs = [msg(1), msg(u64::from(HELLO_TAG)), msg(7)];
        let mut wire = stream(&msgs);
        wire.extend_from_slice(&stream(&msgs)); // a second writer's handshake midway
        for slow in [false, true] {
            let got: Vec<_> = refs::<[u64; 10]>(&wire, slow)
                .into_iter()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, [msgs, msgs].concat());
        }
    }

    #[test]
    fn a_framed_message_of_a_16_aligned_type_is_lent_from_an_aligned_copy() {
        let msgs = [1u128, u128::from(HELLO_TAG), 3];
        let got: Vec<_> = refs::<u128>(&stream(&msgs), false)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, msgs);
    }

    #[test]
    fn an_invalid_message_lent_in_place_drops_only_itself() {
        let mut wire = stream(&[['a'; 2]]);
        wire.extend_from_slice(&[0xD800u32.to_le_bytes(), 0x62u32.to_le_bytes()].concat());
        write_message(&mut wire, &['b'; 2]).unwrap();
        let got = refs::<[char; 2]>(&wire, false);
        assert_eq!(got.len(), 3);
        assert_eq!(*got[0].as_ref().unwrap(), ['a'; 2]);
        assert!(matches!(got[1], Err(Error::InvalidMessage(_))));
        assert_eq!(*got[2].as_ref().unwrap(), ['b'; 2]);
    }

    #[test]
    fn large_messages_fit_the_buffer() {
        // Larger than the default 64 KiB buffer. Debug builds copy a by-value message
        // several times on the stack, so run on a thread with room for that.
        std::thread::Builder::new()
            .stack_size(32 << 20)
            .spawn(|| {
                let big = vec![[7u8; 100_000]; 2];
                let wire = stream(&big);
                let mut r = FrameReader::<[u8; 100_000]>::new();
                let mut src = &wire[..];
                assert_eq!(r.read_from(&mut src).unwrap()[99_999], 7);
                assert_eq!(r.read_from(&mut src).unwrap()[0], 7);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
