//! The wire format for byte streams (pipes, FIFOs, stream sockets, TCP).
//!
//! A stream carries a writer's handshake, then its records. Every record begins with an
//! 8-byte header, a 32-bit tag and a 32-bit length (little-endian), so a reader always
//! knows where a record ends, whoever wrote it:
//!
//! | record         | bytes                                                                  |
//! |----------------|------------------------------------------------------------------------|
//! | handshake      | tag `b"ipcH"`, length, then version, flags, schema length, fingerprint, size, align, schema name, encoded schema tree (see below); at most [`ATOMIC_WRITE`] bytes in all |
//! | short message  | tag (the fingerprint folded to 32 bits, top bit set), length `size_of::<T>()`, the message |
//! | long message   | as a short one, then an 8-byte seal, the message, and the seal again   |
//! | page message   | a message of 4089 to 4096 bytes, bare: exactly the bytes a raw `write` sends |
//! | batch          | the message tag with bit 30 flipped, length `k * size_of::<T>()` (plus padding up to 4096 bytes in all), `k` messages back to back, the padding |
//! | slice          | tag (the slice's fingerprint folded to 32 bits, top bit set), length `len * size_of::<E>()`, the `len` elements; sealed as a long message is when it exceeds [`ATOMIC_WRITE`] |
//!
//! Batched sends write batch records (see `batch`): a full one is exactly a pipe page.
//! Channels of slices (`[E]`, see [`Payload`]) write one slice record per slice (see
//! [`write_slice`] and the section on slices below).
//!
//! A message record is *long* when its header and message together exceed
//! [`ATOMIC_WRITE`] (4096 bytes, Linux's `PIPE_BUF`): such a record cannot be written to a
//! pipe or FIFO with one atomic `write`, so a writer killed midway can leave part of it
//! behind, and the next writer's bytes then follow it. The seal is a fresh random number
//! per record, written before and after the message; a reader accepts a long record only
//! when both copies agree, which the bytes of another writer cannot arrange except by
//! chance (2⁻⁶⁴). A short record is written whole or not at all.
//!
//! A page-sized message (one that fits `ATOMIC_WRITE` alone but not with a header: a
//! 4 KiB page, typically) goes bare, so that each message stays one pipe page and one
//! plain `write`, as a raw writer's: a header would make every record straddle two pipe
//! pages, which measured 2.5x slower. It is written atomically, so it cannot be torn;
//! a reader tells it from a record by its first four bytes, which must not look like a
//! tag (the handshake's, or any value with the top bit set: a message that begins so is
//! sent as a long record instead), and attributes it to the page-sized writer whose
//! handshake came last (the handshake of a writer of short records, which are all
//! tagged, changes nothing). That is sound because a writer of page-sized or longer
//! messages has the stream alone (a FIFO sender of such a type takes an exclusive lock;
//! see [`crate::fifo`]). A raw writer that ignores the lock and announces another
//! page-sized type between a page-sized writer's messages takes the bare pages that
//! follow: they are skipped as its, since nothing in a bare page says whose it is.
//!
//! A writer begins with a handshake; a reader checks it against its own `T` before it
//! accepts a message, and refuses another schema with [`Error::SchemaMismatch`] naming
//! both, and the first field that differs (its `difference`: "`Order.qty`: u64 at offset 8
//! here, u32 at offset 8 there", "here" being the reader's `T`), read from the writer's
//! schema tree in its handshake. A handshake may appear again at any record boundary (several writers on one
//! FIFO each send their own) and is checked each time. What the reader does with each
//! kind of bad input, so that one bad writer never costs a good one a message:
//!
//! - a handshake of another schema: [`Error::SchemaMismatch`] once; the handshake and
//!   every later record of that schema are dropped exactly, by their lengths, and the
//!   records of good writers around them arrive intact;
//! - a message of another type with no handshake before it, or a message of `T` before
//!   any handshake: [`Error::Corrupt`], and only that record is dropped;
//! - a long record whose seals differ (its writer died midway and another writer's
//!   bytes follow): [`Error::Corrupt`] once, then the reader resynchronises on the next
//!   handshake (every writer begins with one) or header of `T`;
//! - bytes that are not a record header at all: [`Error::Corrupt`] once, and the same
//!   resynchronisation;
//! - a message of `T` whose bit pattern is not a `T`: [`Error::InvalidMessage`], and only
//!   that message is dropped;
//! - the end of the stream in the middle of a record: [`Error::Corrupt`], and the bytes
//!   after that record's start are read on (a later writer's records may be there).
//!
//! One limit: a refused writer's record longer than the reader's buffer (64 KiB, or one
//! record of `T` if that is longer) is skipped by count, not buffered; if its writer died
//! midway through it, what came after it up to its announced end is dropped with it, and
//! its seals (compared at the end) make that one [`Error::Corrupt`].
//!
//! Decoding never trusts its input: a length is checked before any payload is read, the
//! read buffer is sized by this side's `T` (a record of another type that does not fit is
//! skipped by count, never buffered), and every message is validated
//! ([`Message::validate`]) before a `T` is produced. No step of decoding holds a `T` on
//! the stack: [`FrameReader::recv_into_with`] and [`FrameReader::recv_ref_with`] receive a
//! message of any size with a small stack.
//!
//! [`FrameReader::recv_with`] returns each message by value;
//! [`FrameReader::recv_into_with`] (and [`FrameReader::read_into`]) copy the validated
//! payload straight from the buffer into a caller's `T` instead, and leave it unchanged
//! on any error. Transports build their `recv` and `recv_into` on these.
//!
//! # The handshake
//!
//! After its header, a handshake holds (integers little-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 2 | wire format version ([`VERSION`]) |
//! | 2 | 2 | flags: bit 0 the writer is big-endian, bit 1 it sends slices (takes them, with bit 2), bit 2 the record announces the type the writer takes, bit 3 a record of the type it takes follows (see below) |
//! | 4 | 4 | schema length: bytes of encoded schema tree at the end of the record (0: none) |
//! | 8 | 8 | fingerprint of the payload ([`Payload::PAYLOAD_FINGERPRINT`]) |
//! | 16 | 8 | size of a message (of an element, for slices) |
//! | 24 | 8 | its alignment |
//! | 32 | the rest but the schema | the schema's name, UTF-8, at most [`MAX_NAME_LEN`] bytes |
//! | end − schema length | schema length | the message's (the element's) [`SchemaTree`](crate::schema::SchemaTree), as [`encode`](crate::schema::SchemaTree::encode) writes it |
//!
//! The whole record, header included, is at most [`ATOMIC_WRITE`] bytes, so that it is
//! one atomic `write` on a pipe or FIFO (whose several writers interleave whole writes
//! only); a reader refuses a longer one from its header. A writer whose tree would make
//! the record longer (a type of thousands of fields, say) leaves it out (schema length
//! 0): a reader of another schema then names both schemas by fingerprint, without a
//! `difference`. Every byte stream follows the same rule, sockets and TCP included.
//!
//! The tree is read only on a mismatch, and as a peer's word: a schema length beyond the
//! record, or a name longer than [`MAX_NAME_LEN`] once the tree is taken off, is
//! [`Error::Corrupt`] (that handshake is dropped by its length); a tree that does not
//! decode, or whose fingerprint is not the one the handshake announces, is ignored, and
//! the mismatch is reported without a `difference`. A handshake of the reader's own
//! schema is accepted on its fingerprint, size and alignment; its tree is not decoded.
//!
//! ## Request/response
//!
//! A request/response end (a client or a server of [`crate::socket`] or [`crate::tcp`])
//! sends two handshake records, back to back, before anything else ([`rpc_hello`]): the
//! one above, announcing the type it sends, with flag bit 3 set (a second record
//! follows), then one of the same layout announcing the type it takes, with flag bit 2
//! set. Each end reads both of the other's and checks the
//! first against the type it takes and the second against the type it sends, so either
//! end alone finds a request type or a response type that differs, at connect: it
//! refuses the peer with [`Error::SchemaMismatch`], whose `difference` begins with which
//! of the two types differs ("the request type, which the server takes: ..."). Only the
//! first record goes on to the [`FrameReader`]. A paired record where a plain stream end's
//! belongs, or a plain one where a request/response end's first belongs, or a first one
//! in the place of the second, is [`Error::Corrupt`] at once: a request/response end and a
//! plain stream end do not connect to each other, and each says so at its handshake
//! rather than waiting for a record that never comes.
//!
//! # Slices
//!
//! A writer of slices `[E]` announces the payload `[E]` in its handshake (its name, the
//! slice's [`Payload::PAYLOAD_FINGERPRINT`], the element's size and alignment, and a flag
//! that says "slice", so that a reader of another schema can still skip its records by
//! their lengths). A reader of `[E]` and a writer of `E` (or the other way round) refuse
//! each other as any two schemas do. Each slice is one record whose length is the bytes of
//! its elements, sealed when header and elements exceed [`ATOMIC_WRITE`], exactly as a long
//! message is; slices never go bare and never in batch records.
//!
//! A reader of slices has a maximum length ([`FrameReader::set_max_len`]; by default
//! [`DEFAULT_MAX_SLICE_BYTES`] worth of elements, so that a default slice record is one
//! atomic write). A record of the slice's tag whose length is above the maximum
//! ([`Error::LimitExceeded`] naming `max_len`), or is not a whole number of elements
//! ([`Error::Corrupt`]), is refused from its header alone: nothing is allocated for it and
//! none of its payload is buffered; it is skipped by count, as a refused writer's long
//! record is, so the records after it arrive intact. The reader's buffer starts at 64 KiB
//! and grows, up to one record of the maximum length, only for a record it accepts.
//! Elements are validated ([`Message::validate`]) in the buffer before a `&[E]` exists.
//!
//! Message integers travel in the sender's native byte order; the handshake says which
//! one that is, and a reader of the other byte order refuses the stream (it never
//! converts silently).
//!
//! Any `Write` and `Read` can carry the format, a file or a buffer as well as a pipe:
//!
//! ```
//! use ipc::codec::{self, FrameReader};
//!
//! let mut wire = Vec::new();
//! codec::write_hello::<u64, _>(&mut wire)?;
//! codec::write_message(&mut wire, &42u64)?;
//! codec::write_message(&mut wire, &43u64)?;
//! assert_eq!(codec::record_len::<u64>(), codec::HEADER_LEN + 8);
//!
//! let mut reader = FrameReader::<u64>::new();
//! let mut src = &wire[..];
//! assert_eq!(reader.read_from(&mut src)?, 42);
//! let mut out = 0;
//! reader.read_into(&mut src, &mut out)?;
//! assert_eq!(out, 43);
//! assert!(reader.read_from(&mut src).unwrap_err().is_disconnected()); // end of stream
//!
//! // A reader of another type refuses the stream at its handshake.
//! let e = FrameReader::<u32>::new().read_from(&mut &wire[..]).unwrap_err();
//! assert!(matches!(e, ipc::Error::SchemaMismatch { .. }), "{e}");
//! # Ok::<(), ipc::Error>(())
//! ```

use std::cell::Cell;
use std::io::{self, IoSlice, Write};
use std::marker::PhantomData;

use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::payload::Payload;

mod batch;
mod framed;
mod hello;
mod reader;
mod slice;

pub use batch::{batch_capacity, batch_tag, BATCH_LEN};
pub(crate) use batch::{batches, messages_in, Batcher};
pub(crate) use framed::{framed_receiving_end, framed_slice_receiving_end, Framed, Source};
pub(crate) use hello::{decode_hello, decode_paired, decode_takes};
pub use hello::{hello, rpc_hello, write_hello};
use hello::{HELLO_TAG, MAX_HELLO_LEN};
pub use reader::FrameReader;
pub use slice::{default_max_len, write_slice, DEFAULT_MAX_SLICE_BYTES};
pub(crate) use slice::{elements_as_bytes, max_len_limit, SliceEnvelope};

/// Length of a record header: a 32-bit tag and a 32-bit length.
pub const HEADER_LEN: usize = 8;

/// Length of the seal of a long record (written twice: after the header and after the
/// message).
pub const SEAL_LEN: usize = 8;

/// The most bytes one `write` puts into a pipe or FIFO atomically (`PIPE_BUF` on Linux):
/// a message record longer than this is sealed.
pub const ATOMIC_WRITE: usize = 4096;

/// Longest schema name a handshake may carry.
pub const MAX_NAME_LEN: usize = 1024;

/// Version of the wire format this build writes and reads. Version 3 put a header on
/// every message and seals on long ones; version 4 added batch records; version 5 put the
/// encoded schema tree in the handshake; version 6 added the second record of a
/// request/response end's handshake, which announces the type it takes; a peer of
/// another version is refused with an error that says so.
pub const VERSION: u16 = 6;

/// The top bit of every message tag, which the handshake tag lacks.
const MESSAGE_BIT: u32 = 0x8000_0000;

/// The tag of a message record: a 64-bit fingerprint folded to 32 bits, top bit set, so it
/// can never equal the handshake tag.
const fn tag_of(fingerprint: u64) -> u32 {
    ((fingerprint ^ (fingerprint >> 32)) as u32) | MESSAGE_BIT
}

/// The tag of a message record of `T`.
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn message_tag<T: Message>() -> u32 {
    tag_of(T::FINGERPRINT)
}

/// The tag of the records of payload `P`: a message's [`message_tag`], or a slice's (from
/// its own fingerprint, so never a message's).
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn payload_tag<P: ?Sized + Payload>() -> u32 {
    tag_of(P::PAYLOAD_FINGERPRINT)
}

/// The header of a message record of `T`.
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn message_header<T: Message>() -> [u8; HEADER_LEN] {
    let tag = message_tag::<T>().to_le_bytes();
    let len = (size_of::<T>() as u32).to_le_bytes();
    [
        tag[0], tag[1], tag[2], tag[3], len[0], len[1], len[2], len[3],
    ]
}

/// Whether a message record with a payload of `len` bytes is long (sealed).
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn is_long(len: usize) -> bool {
    HEADER_LEN + len > ATOMIC_WRITE
}

/// Whether messages of `T` are page-sized: too long for a header beside them in one
/// atomic write, short enough for one alone (4089 to 4096 bytes). Such a message goes
/// bare, exactly as a raw `write` of it would, unless it looks tagged (`looks_tagged`).
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn is_page<T: Message>() -> bool {
    is_page_len(size_of::<T>())
}

/// Whether messages of `len` bytes are page-sized (see [`is_page`]).
pub(crate) const fn is_page_len(len: usize) -> bool {
    len <= ATOMIC_WRITE && is_long(len)
}

/// Whether bytes at a record boundary begin like a record header: the handshake tag, or
/// any 32-bit value with the top bit set (every message tag has it). A page-sized
/// message that begins so cannot go bare, and is sent as a long record instead.
#[inline(always)]
pub(crate) fn looks_tagged(head: &[u8; 4]) -> bool {
    let tag = u32::from_le_bytes(*head);
    tag == HELLO_TAG || tag & MESSAGE_BIT != 0
}

/// Where the payload of a message record of `len` bytes starts, from the record's start.
pub(crate) const fn payload_offset(len: usize) -> usize {
    if is_long(len) {
        HEADER_LEN + SEAL_LEN
    } else {
        HEADER_LEN
    }
}

/// The bytes a message record with a payload of `len` bytes takes on the wire.
pub(crate) const fn record_len_of(len: usize) -> usize {
    if is_long(len) {
        HEADER_LEN + SEAL_LEN + len + SEAL_LEN
    } else {
        HEADER_LEN + len
    }
}

/// The most bytes one message of `T` takes on the wire (a page-sized message that goes
/// bare takes just its own).
pub const fn record_len<T: Message>() -> usize {
    record_len_of(size_of::<T>())
}

/// What goes around one message of `T` on the wire: the header (with the seal, for a long
/// record) before it, and the seal after it; nothing at all for a page-sized message that
/// goes bare. A writer makes one per message ([`Envelope::new`]) and writes `head`, the
/// message's bytes and `tail` in that order, with one `write` where the record is short.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Envelope<T> {
    head: [u8; HEADER_LEN + SEAL_LEN],
    head_len: usize,
    _t: PhantomData<fn(T)>,
}

impl<T: Message> Envelope<T> {
    /// The envelope of `msg`: for a long record, with a fresh seal.
    #[inline(always)]
    pub fn new(msg: &T) -> Self {
        let mut head = [0; HEADER_LEN + SEAL_LEN];
        if const { is_page::<T>() } {
            let first = message::as_bytes(msg).first_chunk::<4>();
            if first.is_some_and(|f| !looks_tagged(f)) {
                return Envelope {
                    head,
                    head_len: 0,
                    _t: PhantomData,
                };
            }
        }
        head[..HEADER_LEN].copy_from_slice(&const { message_header::<T>() });
        if const { is_long(size_of::<T>()) } {
            head[HEADER_LEN..].copy_from_slice(&fresh_seal().to_le_bytes());
        }
        Envelope {
            head,
            head_len: const { payload_offset(size_of::<T>()) },
            _t: PhantomData,
        }
    }

    /// The bytes before the message.
    #[inline(always)]
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    /// The bytes after the message: the seal again for a long record, nothing otherwise.
    #[inline(always)]
    pub fn tail(&self) -> &[u8] {
        if const { is_long(size_of::<T>()) } && self.head_len > 0 {
            &self.head[HEADER_LEN..]
        } else {
            &[]
        }
    }

    /// The bytes the whole record takes on the wire.
    #[inline(always)]
    pub fn record_len(&self) -> usize {
        self.head_len + size_of::<T>() + self.tail().len()
    }
}

/// A seal for a long record: unpredictable to any other writer, different for every
/// record. A per-thread counter, mixed with the clock (so two processes that share the
/// counter's state after a `fork` still differ) and a per-process random key.
fn fresh_seal() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<(u64, u64)> = Cell::new({
            let key = std::hash::RandomState::new();
            let mut h = key.build_hasher();
            h.write_u32(std::process::id());
            (h.finish(), 0)
        });
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    STATE.with(|s| {
        let (key, n) = s.get();
        s.set((key, n.wrapping_add(1)));
        splitmix64(key ^ splitmix64(n ^ now.rotate_left(32)))
    })
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes one message record to `w`: header, message (and seals, for a long record), in
/// one vectored write where the writer allows.
///
/// # Errors
///
/// [`Error::Disconnected`] on a broken pipe or reset connection, [`Error::Io`] otherwise.
pub fn write_message<T: Message, W: Write>(w: &mut W, msg: &T) -> Result<()> {
    let env = Envelope::new(msg);
    write_all_vectored(
        w,
        &mut [
            IoSlice::new(env.head()),
            IoSlice::new(message::as_bytes(msg)),
            IoSlice::new(env.tail()),
        ],
    )
}

/// Appends the record of `msg` to `out`: the bytes [`write_message`] writes.
#[inline(always)]
pub(crate) fn push_record<T: Message>(out: &mut Vec<u8>, msg: &T) {
    if const { !is_page::<T>() && !is_long(size_of::<T>()) } {
        // The common case: a fixed header and the message.
        out.extend_from_slice(&const { message_header::<T>() });
        out.extend_from_slice(message::as_bytes(msg));
    } else {
        let env = Envelope::new(msg);
        out.extend_from_slice(env.head());
        out.extend_from_slice(message::as_bytes(msg));
        out.extend_from_slice(env.tail());
    }
}

pub(crate) fn write_all_vectored<W: Write>(w: &mut W, mut bufs: &mut [IoSlice<'_>]) -> Result<()> {
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
/// [`Error::Disconnected`] (as [`Error::io`], without naming the descriptor limits).
pub(crate) fn io_error(op: &'static str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::UnexpectedEof => Error::Disconnected,
        _ => Error::Io { op, source: e },
    }
}

/// The tag and length of a record header.
fn split_header(h: &[u8; HEADER_LEN]) -> (u32, usize) {
    (
        u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
        u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize,
    )
}

/// The error for a stream whose first bytes are not a handshake: its writer is most
/// likely a program not built on this crate.
#[cold]
fn not_ipc_stream(header: &[u8]) -> Error {
    Error::Corrupt(format!(
        "not an `ipc` stream (a foreign writer? see `foreign`): its first bytes \
         {header:02x?} are not a handshake, which every writer of this crate sends first; \
         a program not built on ipc sends bare values, which a receiver in foreign mode \
         reads"
    ))
}

fn not_a_header(header: &[u8]) -> Error {
    Error::Corrupt(format!(
        "bytes {header:02x?} are not a record header: the stream is out of step, or its \
         writer is not ipc"
    ))
}

/// The longest record a reader of `T` ever needs to hold: one message of `T`, or the
/// longest handshake.
pub(crate) const fn max_frame_len<T: Message>() -> usize {
    let msg = record_len::<T>();
    if msg > MAX_HELLO_LEN {
        msg
    } else {
        MAX_HELLO_LEN
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

/// Validates the messages of `T` lying back to back in `bytes` (as many as `out` holds,
/// at most) and copies the valid ones at the front into `out` with one copy; returns how
/// many. The first message that is not a valid `T` ends it, and it and those after it
/// are not copied.
#[inline(always)]
pub(crate) fn copy_validated_many<T: Message>(bytes: &[u8], out: &mut [T]) -> usize {
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    let size = size_of::<T>();
    let mut n = out.len().min(bytes.len() / size.max(1));
    if !const { T::SCHEMA.accepts_any_bits() } {
        n = bytes
            .chunks_exact(size)
            .take(n)
            .position(|m| T::validate(m).is_err())
            .unwrap_or(n);
    }
    // SAFETY: `bytes` holds at least `n * size_of::<T>()` bytes, and each `size_of::<T>()`
    // of them is a valid `T`: every bit pattern is one, or `T::validate` accepted them,
    // which by the `Message` contract makes them a valid `T` (no padding, no pointers).
    // `out` has room for `n` values, written as bytes (no alignment needed of the
    // source); a shared `&[u8]` and a `&mut [T]` never overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), out.as_mut_ptr().cast::<u8>(), n * size);
    }
    n
}

#[cfg(test)]
mod tests;
