//! Entry points for the fuzz targets (`fuzz/` in the repository) into decoders that are
//! private to the crate. Each runs the decoder exactly as its transport runs it on bytes
//! another process wrote; nothing here is part of the API (the module is hidden), and
//! nothing but the fuzz targets and their regression tests calls it.

use crate::error::{Error, Result, SchemaId};
use crate::message::Message;
use crate::payload::Payload;
use crate::schema::SchemaTree;
use crate::shm::layout::{self, Header, SegmentKind, MAX_SCHEMA_BYTES};

/// A stream handshake record (header included) checked by a reader of `P`, as every byte
/// stream's reader checks it: the record's length if `buf` begins with a handshake of
/// `P`, `Ok(None)` if it holds only part of one.
///
/// # Errors
///
/// As the reader reports them: [`Error::SchemaMismatch`], [`Error::Corrupt`].
pub fn decode_hello<P: ?Sized + Payload>(buf: &[u8]) -> Result<Option<usize>> {
    crate::codec::decode_hello::<P>(buf)
}

/// A System V queue's record (the fingerprint, then a `T`) checked as a receiver of `T`
/// checks what `msgrcv` returned.
///
/// # Errors
///
/// As the receiver reports them.
pub fn sysv_check<T: Message>(bytes: &[u8]) -> Result<()> {
    crate::sysv::frame::Frame::<T>::check(bytes)
}

/// A POSIX queue's schema header file, as its opener parses it (`None`: not in the
/// format).
pub fn mq_parse_header(text: &str) -> Option<SchemaId> {
    crate::mq::header::parse_header(text)
}

/// The bytes of a shared-memory segment's header; the encoded schema tree follows it.
pub const SHM_HEADER_LEN: usize = size_of::<Header>();

/// The kind of segment an opener asks for: `1` a channel, `2` a shared value, anything
/// else a topic.
fn kind(code: u8) -> SegmentKind {
    match code {
        1 => SegmentKind::Channel,
        2 => SegmentKind::Shared,
        _ => SegmentKind::Topic,
    }
}

/// Runs `check` on the header and schema an opener reads from a segment file of
/// `file_len` bytes that begins with `image` (zero after it, as a file grown by
/// `ftruncate` is; `image` longer than `file_len` is cut to it). A file shorter than the
/// header is refused, as an opener refuses it before mapping it.
fn with_image<R>(
    image: &[u8],
    file_len: u64,
    check: impl FnOnce(&layout::Meta, u64, Option<&[u8]>) -> Result<R>,
) -> Result<R> {
    let image = &image[..image
        .len()
        .min(usize::try_from(file_len).unwrap_or(usize::MAX))];
    if file_len < SHM_HEADER_LEN as u64 {
        return Err(Error::Corrupt(format!(
            "a segment of {file_len} bytes, shorter than its header"
        )));
    }
    // What an opener may read: the header and the most schema it copies. Aligned to 8,
    // as the page-aligned mapping is (for `Meta`'s integers).
    let room = (SHM_HEADER_LEN + MAX_SCHEMA_BYTES).min(file_len as usize);
    let mut words = vec![0u64; room.div_ceil(8)];
    let n = image.len().min(room);
    // SAFETY: `words` holds `room.div_ceil(8) * 8 >= room >= n` writable bytes, and
    // `image` `n` readable ones; a `Vec<u64>` and a `&[u8]` borrowed from elsewhere never
    // overlap; a byte copy has no alignment requirement.
    unsafe { core::ptr::copy_nonoverlapping(image.as_ptr(), words.as_mut_ptr().cast::<u8>(), n) };
    let base = words.as_ptr().cast::<u8>();
    // SAFETY: `base` points to `room >= SHM_HEADER_LEN` readable bytes aligned to 8, the
    // alignment of `Meta`'s fields.
    let meta = unsafe { layout::read_meta(base) };
    // SAFETY: `read_schema` reads only below `size_of::<Header>() + MAX_SCHEMA_BYTES` and
    // below the length it is given; both bound `room`, the bytes `base` points to.
    let theirs = unsafe { layout::read_schema(base, &meta, room as u64) };
    check(&meta, file_len, theirs.as_deref())
}

/// A shared-memory segment's header and schema, as an opener of a segment of `kind`
/// (`1` channel, `2` shared value, else topic) holding `P` checks them
/// (`Segment::check`), from a file of `file_len` bytes that begins with `image`.
///
/// # Errors
///
/// As the opener reports them: [`Error::SchemaMismatch`], [`Error::Corrupt`].
pub fn shm_check<P: ?Sized + Payload>(image: &[u8], file_len: u64, kind_code: u8) -> Result<()> {
    with_image(image, file_len, |meta, len, theirs| {
        meta.check::<P>(kind(kind_code), len, theirs).map(drop)
    })
}

/// As [`shm_check`], for an opener of a segment of any type (`Segment::check_any`):
/// the schema tree the segment carries, once it vouches for the header.
///
/// # Errors
///
/// As the opener reports them: [`Error::Corrupt`].
pub fn shm_check_any(image: &[u8], file_len: u64, kind_code: u8) -> Result<SchemaTree> {
    with_image(image, file_len, |meta, len, theirs| {
        meta.check_any(kind(kind_code), len, theirs)
            .map(|(_, _, tree)| tree)
    })
}
