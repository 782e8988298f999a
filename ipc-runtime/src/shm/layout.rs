//! The segment header and the layout of what follows it.
//!
//! ```text
//! offset 0      Meta (read once, copied, validated): magic, version, kind, schema
//!               (fingerprint, size, align, name), capacity, slot stride, offsets, total
//!               size, creator pid
//!               lifecycle: state word (READY written last, Release), the senders'
//!               linger and the deadline of a channel kept for a receiver
//!               counters, receiver-parked flag, semaphore, space event (own cache lines)
//!               peers: every participant's pid and pid namespace
//!               ring control: tail, released, head, packed (start, end), mode,
//!               claims[64] (own cache lines)
//! body_offset   channel: `capacity` slots of `stride` bytes: SlotHeader (`seq`), then T
//!               at `payload_offset`; a stride of at most 64 is a power of two, so
//!               small slots share cache lines without straddling them
//!               then, for a message whose slot is at least a quarter header and
//!               padding, the packed array: `capacity` messages of T, back to back
//!               (from a cache line)
//!               / shared value: lock word line, then T
//! ```
//!
//! The opener recomputes the whole layout from its own `T` and the header's capacity and
//! requires the header to agree field by field, so no offset or length read from shared
//! memory is ever used to address memory; the mapping length comes from `fstat`, never
//! from the header.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::ring::{CacheLine, RingControl, MAX_PARTICIPANTS, SLOT_HEADER};
use crate::error::{Error, Result, SchemaId};
use crate::message::Message;
use crate::payload::Payload;
use crate::schema::SchemaTree;
use crate::sync::Semaphore;

mod check;

/// `b"IPC-SHM\0"` as a little-endian word.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"IPC-SHM\0");
/// The format version this build writes and reads (2: slots are freed by a batched
/// `released` word, not by rewriting their `seq`; 3: the ring's `mode` word, for biased
/// claims; 4: a slot header is its 8-byte `seq`, and small slots share cache lines; 5: a
/// sender that leaves last with unread messages keeps the segment, and the header says
/// for how long; 6: every participant's pid, and a count of joins and leaves, for death
/// notices; 7: `max_len`, for slices; 8: `rx_bell`, the doorbell of an async receiver;
/// 9: a topic's `stalled` hint on a cache line of its own; 10: packed batches, a channel's
/// packed array and the ring's `packed` words; 11: a topic subscriber's line records the
/// chunk the publisher keeps out of the ring for it).
pub(crate) const VERSION: u32 = 11;
/// `state` once the creator has finished initialising.
pub(crate) const READY: u32 = 0x5245_4459;

/// What a segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum SegmentKind {
    Channel = 1,
    Shared = 2,
    Topic = 3,
}

const NAME_BYTES: usize = 64;

/// The immutable part of the header. Plain data: read with one volatile copy.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub(crate) magic: u64,
    pub(crate) version: u32,
    pub(crate) kind: u32,
    pub(crate) fingerprint: u64,
    pub(crate) msg_size: u64,
    pub(crate) msg_align: u64,
    pub(crate) schema_name: [u8; NAME_BYTES],
    pub(crate) capacity: u64,
    pub(crate) stride: u64,
    pub(crate) payload_offset: u64,
    pub(crate) body_offset: u64,
    pub(crate) total_size: u64,
    pub(crate) creator_pid: u32,
    /// Topics: the subscriber lines (0 for the other kinds).
    pub(crate) subscribers: u32,
    /// Slices: the most elements a message holds; 0 for a fixed-size message.
    pub(crate) max_len: u64,
    /// Bytes of the encoded schema tree (`ipc::schema`) right after the header.
    pub(crate) schema_len: u32,
    _pad: u32,
}

impl Meta {
    /// Its bytes as they lie at the start of a segment, for a creator that writes them
    /// into the file with `pwrite(2)`.
    pub(crate) fn to_bytes(self) -> [u8; size_of::<Meta>()] {
        // SAFETY: `Meta` is `repr(C)` of integers and a byte array that leave no padding
        // between or after them (asserted below), so every byte of it is initialised, and
        // an array of bytes of its size takes any bytes.
        unsafe { core::mem::transmute::<Meta, [u8; size_of::<Meta>()]>(self) }
    }
}

// `Meta` has no padding (see `Meta::to_bytes`): its size is the sum of its fields' sizes,
// ten `u64`s, six `u32`s and the schema name.
const _: () = assert!(size_of::<Meta>() == 10 * 8 + 6 * 4 + NAME_BYTES);

/// Statistics and membership counters.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Counters {
    /// Senders that ever joined.
    pub(crate) senders_joined: AtomicU32,
    /// Receivers that ever joined.
    pub(crate) receivers_joined: AtomicU32,
    /// 1 after the receiver closed cleanly, 0 while one is open.
    pub(crate) rx_closed: AtomicU32,
    /// Bumped whenever a participant joins or leaves cleanly (not when one dies): a parked
    /// end looks again at the peers it watches (see [`PeerIds`]) when it changed.
    pub(crate) members: AtomicU32,
    /// Messages the receiver skipped because their sender died before publishing.
    pub(crate) lost: AtomicU64,
    /// `FUTEX_WAKE` calls made by senders to wake the receiver.
    pub(crate) rx_wakes: AtomicU64,
    /// `FUTEX_WAKE` calls made by the receiver to wake senders.
    pub(crate) tx_wakes: AtomicU64,
    /// Times a lone sender biased the ring to itself (see `ring/mode.rs`).
    pub(crate) bias_taken: AtomicU64,
    /// Times a sender revoked another sender's bias.
    pub(crate) bias_revoked: AtomicU64,
}

/// Whether the segment is initialised, and how long it outlives its participants.
///
/// A sender that leaves last while messages it or another sender published are still
/// unread keeps the segment (and its name) for its linger (`Options::linger`) instead of
/// removing it: `linger_until` says until when. Nobody reads or writes these words on the
/// paths that send and receive.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Lifecycle {
    /// [`READY`] once the creator has finished initialising.
    pub(crate) state: AtomicU32,
    _reserved: u32,
    /// The longest linger of the senders that joined, in nanoseconds (`u64::MAX`: for
    /// ever): how long a reclaimer keeps unread messages of senders that died without
    /// leaving, counted from when it first finds the segment abandoned.
    pub(crate) linger_ns: AtomicU64,
    /// While nobody is attached and messages are unread: until when they are kept for a
    /// receiver, in nanoseconds since the Unix epoch (`CLOCK_REALTIME`, the one clock
    /// every process and time namespace shares; `u64::MAX`: for ever). 0 while someone
    /// is attached, or nothing is kept.
    pub(crate) linger_until: AtomicU64,
}

/// Senders waiting for room: an event count (bumped and woken by the receiver).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SpaceEvent {
    pub(crate) epoch: AtomicU32,
    pub(crate) waiters: AtomicU32,
}

/// The header at offset 0 of every segment.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) meta: CacheLine<[Meta; 1]>,
    pub(crate) state: CacheLine<Lifecycle>,
    pub(crate) counters: CacheLine<Counters>,
    /// 1 while the receiver is (about to be) parked on `rx_sem`.
    pub(crate) rx_parked: CacheLine<AtomicU32>,
    pub(crate) rx_sem: CacheLine<Semaphore>,
    /// Non-zero while the receiver is async: the token of its doorbell socket, which a
    /// sender that wakes it rings as well as posting `rx_sem` (see `sync::bell`).
    pub(crate) rx_bell: CacheLine<AtomicU64>,
    pub(crate) space: CacheLine<SpaceEvent>,
    /// Shared values: a semaphore the user may post and wait on.
    pub(crate) user_sem: CacheLine<Semaphore>,
    pub(crate) peers: CacheLine<PeerIds>,
    pub(crate) ring: RingControl,
}

/// Who each participant of a channel is, so that an end parked for its peers can ask to
/// hear of their death ([`crate::sync::deaths`]) instead of waking up to look: its pid as
/// it reads it, and its pid namespace. Written by a participant when it joins (after it
/// holds its lock byte), cleared when it leaves cleanly; a dead participant's entry stays
/// until the next one to join at its index overwrites it, and is only ever read for an
/// index whose lock byte is held.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct PeerIds {
    pub(crate) pid: [AtomicU32; MAX_PARTICIPANTS],
    pub(crate) ns: [AtomicU64; MAX_PARTICIPANTS],
}

/// What one message of a channel or topic is, as its segment lays it out: a fixed-size
/// message, or a slice of up to `max_len` elements (a length word, then the elements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The payload's fingerprint ([`Payload::PAYLOAD_FINGERPRINT`]).
    pub(crate) fingerprint: u64,
    /// `size_of` the message, or of the slice's element.
    pub(crate) size: u64,
    /// `align_of` the message, or of the slice's element.
    pub(crate) align: u64,
    /// Slices: the most elements a message holds; `None` for a fixed-size message.
    pub(crate) max_len: Option<u64>,
    /// Bytes of the encoded schema tree that follows the header (0 until
    /// [`Shape::with_schema`]).
    pub(crate) schema_len: u64,
}

impl Shape {
    /// The shape of `P`; `max_len` is used for slices only.
    pub(crate) fn of<P: ?Sized + Payload>(max_len: u64) -> Shape {
        Shape {
            fingerprint: P::PAYLOAD_FINGERPRINT,
            size: size_of::<P::Element>() as u64,
            align: align_of::<P::Element>() as u64,
            max_len: P::IS_SLICE.then_some(max_len),
            schema_len: 0,
        }
    }

    /// This shape with room after the header for `schema`, the encoded tree.
    pub(crate) fn with_schema(mut self, schema: &[u8]) -> Shape {
        self.schema_len = schema.len() as u64;
        self
    }

    /// Where the body may start: after the header and the encoded schema.
    fn header_end(&self) -> u64 {
        size_of::<Header>() as u64 + self.schema_len
    }

    /// The bytes before a slice's first element: its length word, padded to the
    /// element's alignment.
    pub(crate) fn len_prefix(&self) -> u64 {
        self.align.max(8)
    }

    /// The alignment a message's bytes start at.
    fn payload_align(&self) -> u64 {
        match self.max_len {
            None => self.align,
            Some(_) => self.len_prefix(),
        }
    }

    /// The bytes one message takes: the message, or a slice's length word and its
    /// `max_len` elements.
    fn payload_bytes(&self) -> Option<u64> {
        match self.max_len {
            None => Some(self.size),
            Some(n) => n.checked_mul(self.size)?.checked_add(self.len_prefix()),
        }
    }
}

/// Where everything lives in a segment, computed from `T` and the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) kind: SegmentKind,
    pub(crate) capacity: u64,
    pub(crate) stride: u64,
    pub(crate) payload_offset: u64,
    pub(crate) body_offset: u64,
    /// Channels: where the packed array starts (one message per slot, no header, for
    /// packed batches: see `ring.rs`), or 0 if the channel has none. Not in the header:
    /// it follows from the rest.
    pub(crate) packed_offset: u64,
    pub(crate) total_size: u64,
    /// Topics: subscriber lines; 0 for the other kinds.
    pub(crate) subscribers: u64,
}

const fn round_up(v: u64, to: u64) -> Option<u64> {
    match v.checked_add(to - 1) {
        Some(x) => Some(x / to * to),
        None => None,
    }
}

fn too_big(what: &str) -> Error {
    Error::LimitExceeded {
        limit: "address space",
        value: u64::MAX,
        hint: format!("the {what} does not fit in memory; use a smaller capacity"),
    }
}

impl Layout {
    /// The layout of a channel of `capacity` slots of `T`.
    pub(crate) fn channel(shape: &Shape, capacity: u64) -> Result<Layout> {
        let align = shape.payload_align().max(8);
        let payload_offset = round_up(SLOT_HEADER as u64, align).ok_or_else(|| too_big("slot"))?;
        let bytes = shape
            .payload_bytes()
            .and_then(|b| b.checked_add(payload_offset))
            .ok_or_else(|| too_big("slot"))?;
        // Small slots share cache lines (four 8-byte messages to a line: a line moving to
        // the receiver carries four messages) and never straddle two; larger ones start
        // on a line of their own.
        let stride = if bytes <= 64 {
            bytes.next_power_of_two()
        } else {
            round_up(bytes, align.max(64)).ok_or_else(|| too_big("slot"))?
        };
        let body_offset =
            round_up(shape.header_end(), align.max(64)).ok_or_else(|| too_big("header"))?;
        let slots_end = capacity
            .checked_mul(stride)
            .and_then(|b| b.checked_add(body_offset))
            .ok_or_else(|| too_big("ring"))?;
        // A packed array where a slot is at least a quarter header and padding: there a
        // packed batch moves at most three quarters of the bytes its slots would (8-byte
        // messages: half; 64-byte ones, in 128-byte slots: half).
        // (The head's length word is the slot's first 8 bytes from `payload_offset`.)
        let packs = shape.max_len.is_none()
            && shape.size > 0
            && (stride - shape.size) * 4 >= stride
            && stride - payload_offset >= 8;
        let (packed_offset, end) = if packs {
            let at = round_up(slots_end, align.max(64)).ok_or_else(|| too_big("ring"))?;
            let end = capacity
                .checked_mul(shape.size)
                .and_then(|b| b.checked_add(at))
                .ok_or_else(|| too_big("ring"))?;
            (at, end)
        } else {
            (0, slots_end)
        };
        let total = round_up(end, 4096)
            .filter(|&t| t <= isize::MAX as u64)
            .ok_or_else(|| too_big("ring"))?;
        Ok(Layout {
            kind: SegmentKind::Channel,
            capacity,
            stride,
            payload_offset,
            body_offset,
            packed_offset,
            total_size: total,
            subscribers: 0,
        })
    }

    /// The layout of one shared `T` behind a lock word: the lock's cache line at
    /// `body_offset`, the value at `body_offset + payload_offset`.
    pub(crate) fn shared<T: Message>(schema_len: u64) -> Result<Layout> {
        Layout::shared_of(&Shape {
            schema_len,
            ..Shape::of::<T>(0)
        })
    }

    /// As [`Layout::shared`], for a value of `shape` (a message, never a slice).
    pub(crate) fn shared_of(shape: &Shape) -> Result<Layout> {
        let schema_len = shape.schema_len;
        let align = shape.align.max(64);
        let header_end = size_of::<Header>() as u64 + schema_len;
        let body_offset = round_up(header_end, align).ok_or_else(|| too_big("header"))?;
        let payload_offset = align;
        let total = (body_offset + payload_offset)
            .checked_add(shape.size)
            .and_then(|t| round_up(t, 4096))
            .filter(|&t| t <= isize::MAX as u64)
            .ok_or_else(|| too_big("value"))?;
        Ok(Layout {
            kind: SegmentKind::Shared,
            capacity: 0,
            stride: 0,
            payload_offset,
            body_offset,
            packed_offset: 0,
            total_size: total,
            subscribers: 0,
        })
    }

    /// The layout of a topic of `capacity` entries and `subscribers` subscriber lines:
    /// the control words at `body_offset`, a line per subscriber after them, the chunk map
    /// (a word per entry), then `capacity + subscribers` cells of `stride` bytes from
    /// [`Layout::cells_offset`] (an [`Entry`](super::topic::Entry), then a chunk of `T`
    /// at `payload_offset`).
    pub(crate) fn topic(shape: &Shape, capacity: u64, subscribers: u64) -> Result<Layout> {
        let align = shape.payload_align().max(8);
        let payload_offset =
            round_up(super::topic::ENTRY as u64, align).ok_or_else(|| too_big("cell"))?;
        let bytes = shape
            .payload_bytes()
            .and_then(|b| b.checked_add(payload_offset))
            .ok_or_else(|| too_big("cell"))?;
        let stride = if bytes <= 64 {
            bytes.next_power_of_two()
        } else {
            round_up(bytes, align.max(64)).ok_or_else(|| too_big("cell"))?
        };
        let body_offset =
            round_up(shape.header_end(), align.max(64)).ok_or_else(|| too_big("header"))?;
        let mut l = Layout {
            kind: SegmentKind::Topic,
            capacity,
            stride,
            payload_offset,
            body_offset,
            packed_offset: 0,
            total_size: 0,
            subscribers,
        };
        l.total_size = capacity
            .checked_add(subscribers)
            .and_then(|cells| cells.checked_mul(stride))
            .and_then(|b| b.checked_add(l.cells_offset()))
            .and_then(|t| round_up(t, 4096))
            .filter(|&t| t <= isize::MAX as u64)
            .ok_or_else(|| too_big("topic"))?;
        Ok(l)
    }

    /// Topics: where the subscriber lines start.
    pub(crate) fn subs_offset(&self) -> u64 {
        self.body_offset + size_of::<super::topic::TopicControl>() as u64
    }

    /// Topics: where the chunk map starts (a word per entry, after the lines).
    pub(crate) fn names_offset(&self) -> u64 {
        self.subs_offset() + self.subscribers * 64
    }

    /// Topics: where the cells start (a cache line, or `T`'s alignment, after the map).
    pub(crate) fn cells_offset(&self) -> u64 {
        // `payload_offset` is `T`'s alignment (or 8): cells start aligned for both.
        let align = self.payload_offset.max(64);
        let end = self.names_offset() + self.capacity * 8;
        end.div_ceil(align) * align
    }

    /// The header a creator writes for a segment of `P` (of `shape`).
    pub(crate) fn meta<P: ?Sized + Payload>(&self, shape: &Shape) -> Meta {
        let mut schema_name = [0u8; NAME_BYTES];
        let name = P::schema_id().name;
        let n = name.len().min(NAME_BYTES);
        schema_name[..n].copy_from_slice(&name.as_bytes()[..n]);
        Meta {
            magic: MAGIC,
            version: VERSION,
            kind: self.kind as u32,
            fingerprint: shape.fingerprint,
            msg_size: shape.size,
            msg_align: shape.align,
            schema_name,
            capacity: self.capacity,
            stride: self.stride,
            payload_offset: self.payload_offset,
            body_offset: self.body_offset,
            total_size: self.total_size,
            creator_pid: std::process::id(),
            subscribers: self.subscribers as u32,
            max_len: shape.max_len.unwrap_or(0),
            schema_len: shape.schema_len as u32,
            _pad: 0,
        }
    }
}

/// The most bytes of encoded schema a segment carries after its header.
pub(crate) const MAX_SCHEMA_BYTES: usize = 16 << 10;

/// The encoded schema tree (`ipc::schema`) of `P`'s messages (a slice's element), as a
/// segment carries it after its header.
///
/// # Errors
///
/// [`Error::LimitExceeded`] if it takes more than [`MAX_SCHEMA_BYTES`].
pub(crate) fn encoded_schema<P: ?Sized + Payload>() -> Result<Vec<u8>> {
    let tree = SchemaTree::of::<P::Element>()?;
    Ok(tree.encode_within(MAX_SCHEMA_BYTES)?)
}

/// Writes `schema` after the header (creator only, before `state` is READY).
///
/// # Safety
///
/// `base` points to a writable mapping of at least `size_of::<Header>() + schema.len()`
/// bytes.
pub(crate) unsafe fn write_schema(base: *mut u8, schema: &[u8]) {
    // SAFETY: the caller guarantees the bytes are mapped and writable; nobody reads them
    // before READY is published.
    unsafe {
        core::ptr::copy_nonoverlapping(schema.as_ptr(), base.add(size_of::<Header>()), schema.len())
    };
}

/// Copies the encoded schema a segment's header announces, if it lies inside the
/// mapping and within [`MAX_SCHEMA_BYTES`] (the header is a peer's word: nothing of it is
/// trusted but for this copy, which is then decoded and checked).
///
/// # Safety
///
/// `base` points to a mapping of `file_len` readable bytes.
pub(crate) unsafe fn read_schema(base: *const u8, meta: &Meta, file_len: u64) -> Option<Vec<u8>> {
    let len = meta.schema_len as usize;
    let start = size_of::<Header>();
    if len == 0 || len > MAX_SCHEMA_BYTES || (start + len) as u64 > file_len {
        return None;
    }
    let mut out = vec![0u8; len];
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: `start + i < start + len <= file_len`: inside the mapping; a volatile
        // read of a byte another process may be writing yields some byte, never UB.
        *b = unsafe { core::ptr::read_volatile(base.add(start + i)) };
    }
    Some(out)
}

impl Meta {
    /// The schema the header names.
    pub(crate) fn schema_id(&self) -> SchemaId {
        let end = self
            .schema_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(NAME_BYTES);
        SchemaId {
            name: String::from_utf8_lossy(&self.schema_name[..end]).into_owned(),
            fingerprint: self.fingerprint,
            size: self.msg_size,
            align: self.msg_align,
        }
    }
}

/// Reads the header's immutable part out of a mapping.
///
/// # Safety
///
/// `base` points to at least `size_of::<Header>()` mapped, readable bytes.
pub(crate) unsafe fn read_meta(base: *const u8) -> Meta {
    // SAFETY: the caller guarantees the bytes are mapped; `Meta` is plain integers (every
    // bit pattern valid) at offset 0, which the mapping aligns to a page; the volatile read
    // copies it once so later checks and uses see one consistent snapshot.
    unsafe { core::ptr::read_volatile(base.cast::<Meta>()) }
}

/// Writes the header's immutable part (creator only, before `state` is READY).
///
/// # Safety
///
/// `base` points to at least `size_of::<Header>()` mapped, writable bytes.
pub(crate) unsafe fn write_meta(base: *mut u8, meta: Meta) {
    // SAFETY: as for `read_meta`, with write access; nobody reads the meta before the
    // creator publishes READY with Release.
    unsafe { core::ptr::write_volatile(base.cast::<Meta>(), meta) }
}

/// The header's atomics.
///
/// # Safety
///
/// `base` points to at least `size_of::<Header>()` mapped bytes, page-aligned, that stay
/// mapped for `'a`.
pub(crate) unsafe fn header<'a>(base: *const u8) -> &'a Header {
    // SAFETY: the caller guarantees size, alignment (a page is more than 64) and lifetime.
    // Every field of `Header` is an integer or an atomic of integers: any bit pattern,
    // including one a hostile peer wrote, is a valid value; shared access from other
    // processes goes through the atomics only (the `meta` field is read volatile).
    unsafe { &*base.cast::<Header>() }
}

/// Publishes a fully initialised segment.
pub(crate) fn set_ready(h: &Header) {
    h.state.state.store(READY, Ordering::Release);
}

/// True once the creator has published the segment.
pub(crate) fn is_ready(h: &Header) -> bool {
    h.state.state.load(Ordering::Acquire) == READY
}

/// True if a channel (`kind`) owes a receiver the positions between `head` and `tail`:
/// senders claimed them, no receiver has read them, and no receiver closed the channel (a
/// receiver that closes gives up what it has not read). A position holds a message, or a
/// dropped loan, or the claim of a sender that died before publishing: whoever can look
/// at the slots counts messages exactly; this is what the header alone says.
pub(crate) fn owes(kind: u32, rx_closed: u32, tail: u64, head: u64) -> bool {
    kind == SegmentKind::Channel as u32 && rx_closed == 0 && tail.wrapping_sub(head) as i64 > 0
}

/// Nanoseconds since the Unix epoch, `linger` from now (saturating: `u64::MAX` is for
/// ever), for [`Lifecycle::linger_until`].
pub(crate) fn linger_deadline(linger: core::time::Duration) -> u64 {
    now_ns().saturating_add(u64::try_from(linger.as_nanos()).unwrap_or(u64::MAX))
}

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Byte offsets in the header of the words a reclaimer reads and writes with
/// `pread(2)`/`pwrite(2)`, without mapping the segment (see `segment::remove_stale`).
pub(crate) mod offsets {
    use core::mem::offset_of;

    use super::{Counters, Header, Lifecycle, Meta, PeerIds};
    use crate::shm::ring::RingControl;

    pub(crate) const KIND: usize = offset_of!(Header, meta) + offset_of!(Meta, kind);
    pub(crate) const STATE: usize = offset_of!(Header, state) + offset_of!(Lifecycle, state);
    pub(crate) const LINGER_NS: usize =
        offset_of!(Header, state) + offset_of!(Lifecycle, linger_ns);
    pub(crate) const LINGER_UNTIL: usize =
        offset_of!(Header, state) + offset_of!(Lifecycle, linger_until);
    pub(crate) const RX_CLOSED: usize =
        offset_of!(Header, counters) + offset_of!(Counters, rx_closed);
    // `CacheLine` is `repr(C)` with its value first.
    pub(crate) const TAIL: usize = offset_of!(Header, ring) + offset_of!(RingControl, tail);
    pub(crate) const HEAD: usize = offset_of!(Header, ring) + offset_of!(RingControl, head);
    pub(crate) const PEER_PIDS: usize = offset_of!(Header, peers) + offset_of!(PeerIds, pid);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_the_size_the_docs_state() {
        // `shm`'s "Limits" and `Options::footprint` state it: 90 cache lines, 64 of them
        // the participants' claim words and 12 their pids.
        assert_eq!(size_of::<Header>(), 5824);
        assert_eq!(
            Layout::channel(&Shape::of::<u64>(0), 1024)
                .unwrap()
                .body_offset,
            5824
        );
    }

    fn stride_and_offset<T: Message>() -> (u64, u64) {
        let l = Layout::channel(&Shape::of::<T>(0), 8).unwrap();
        // Every payload is aligned for T, and a small slot stays within one cache line.
        for i in 0..8 {
            let start = l.body_offset + i * l.stride;
            assert_eq!((start + l.payload_offset) % align_of::<T>() as u64, 0);
            if l.stride <= 64 {
                assert_eq!(
                    start / 64,
                    (start + l.stride - 1) / 64,
                    "slot {i} straddles"
                );
            }
        }
        (l.stride, l.payload_offset)
    }

    #[test]
    fn small_slots_share_cache_lines_and_large_ones_start_on_their_own() {
        assert_eq!(stride_and_offset::<u8>(), (16, 8));
        assert_eq!(stride_and_offset::<u64>(), (16, 8));
        assert_eq!(stride_and_offset::<[u8; 8]>(), (16, 8));
        assert_eq!(stride_and_offset::<[u8; 9]>(), (32, 8));
        assert_eq!(stride_and_offset::<[u8; 56]>(), (64, 8));
        assert_eq!(stride_and_offset::<[u8; 57]>(), (128, 8));
        assert_eq!(stride_and_offset::<u128>(), (32, 16));
        assert_eq!(stride_and_offset::<[u128; 4]>(), (128, 16));
        assert_eq!(stride_and_offset::<[u8; 4096]>(), (4160, 8));
    }

    #[test]
    fn a_packed_array_where_a_slot_is_at_least_a_quarter_header_and_padding() {
        let packs = |size: u64, align: u64, slice: bool| {
            let shape = Shape {
                fingerprint: 0,
                size,
                align,
                max_len: slice.then_some(4),
                schema_len: 0,
            };
            let l = Layout::channel(&shape, 64).unwrap();
            if l.packed_offset != 0 {
                // After the slots, on a line of its own, and inside the segment.
                assert!(l.packed_offset >= l.body_offset + 64 * l.stride);
                assert_eq!(l.packed_offset % 64, 0);
                assert!(l.packed_offset + 64 * size <= l.total_size);
            }
            l.packed_offset != 0
        };
        // The sizes the docs name: 1-48, 57-96, 121-144 and 185-192 bytes.
        for size in [1, 8, 9, 24, 25, 48, 57, 64, 96, 121, 144, 185, 192] {
            assert!(packs(size, 1, false), "{size} bytes");
        }
        for size in [49, 56, 97, 120, 145, 184, 193, 256, 4096] {
            assert!(!packs(size, 1, false), "{size} bytes");
        }
        assert!(packs(16, 16, false), "a u128");
        assert!(!packs(8, 8, true), "slices have none");
        assert!(!packs(0, 1, false), "nor have messages of no bytes");
    }
}
