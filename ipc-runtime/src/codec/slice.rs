//! Slice records: one payload `[E]` of any length up to a maximum, as one record whose
//! length is the bytes of its elements (see the [module docs](super)).

use std::io::{IoSlice, Write};

use super::{fresh_seal, is_long, payload_tag, write_all_vectored, HEADER_LEN, SEAL_LEN};
use crate::error::{Error, Result};
use crate::message::Message;

/// The bytes of elements a slice end takes per slice unless told otherwise
/// (`set_max_len` on its ends, [`FrameReader::set_max_len`](super::FrameReader::set_max_len)):
/// 4088, so that a slice record of the default maximum, header included, is at most
/// [`ATOMIC_WRITE`](super::ATOMIC_WRITE) bytes, one atomic write, and several senders may
/// share a FIFO.
pub const DEFAULT_MAX_SLICE_BYTES: usize = super::ATOMIC_WRITE - HEADER_LEN;

/// The maximum length of a slice end of `[E]` unless told otherwise: as many elements as
/// fit in [`DEFAULT_MAX_SLICE_BYTES`], at least 1.
///
/// ```
/// assert_eq!(ipc::codec::default_max_len::<u8>(), 4088);
/// assert_eq!(ipc::codec::default_max_len::<u64>(), 511);
/// ```
pub const fn default_max_len<E: Message>() -> usize {
    let size = element_size::<E>();
    if DEFAULT_MAX_SLICE_BYTES / size == 0 {
        1
    } else {
        DEFAULT_MAX_SLICE_BYTES / size
    }
}

/// The most elements a slice record can hold: its length field counts bytes in 32 bits.
pub(crate) const fn max_len_limit<E: Message>() -> usize {
    u32::MAX as usize / element_size::<E>()
}

/// The size of `E`, which must not be zero: a slice record's length counts bytes, so a
/// slice of zero-sized elements could not say how many it holds.
const fn element_size<E: Message>() -> usize {
    assert!(
        size_of::<E>() > 0,
        "slices of zero-sized elements cannot travel on a byte stream"
    );
    size_of::<E>()
}

/// The bytes of `elements`, back to back as in memory.
#[inline(always)]
pub(crate) fn elements_as_bytes<E: Message>(elements: &[E]) -> &[u8] {
    // SAFETY: by the `Message` contract every byte of every `E` is initialised (no
    // padding), so the `size_of_val(elements)` bytes from the slice's start may be read
    // as `u8`s (alignment 1) for as long as `elements` is borrowed.
    unsafe { std::slice::from_raw_parts(elements.as_ptr().cast::<u8>(), size_of_val(elements)) }
}

/// What goes around the elements of one slice on the wire: the header (with the seal,
/// for a long record) before them, and the seal after them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SliceEnvelope {
    head: [u8; HEADER_LEN + SEAL_LEN],
    head_len: usize,
}

impl SliceEnvelope {
    /// The envelope of `elements`, which the caller has checked to be at most
    /// [`max_len_limit`] long: for a long record, with a fresh seal.
    pub(crate) fn new<E: Message>(elements: &[E]) -> Self {
        let len = elements.len() * element_size::<E>();
        debug_assert!(len <= u32::MAX as usize, "checked by the caller");
        let mut head = [0; HEADER_LEN + SEAL_LEN];
        head[..4].copy_from_slice(&const { payload_tag::<[E]>() }.to_le_bytes());
        head[4..HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
        let head_len = if is_long(len) {
            head[HEADER_LEN..].copy_from_slice(&fresh_seal().to_le_bytes());
            HEADER_LEN + SEAL_LEN
        } else {
            HEADER_LEN
        };
        SliceEnvelope { head, head_len }
    }

    /// The bytes before the elements.
    pub(crate) fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    /// The bytes after the elements: the seal again for a long record, nothing otherwise.
    pub(crate) fn tail(&self) -> &[u8] {
        &self.head[HEADER_LEN..self.head_len]
    }
}

/// Writes one slice record to `w`: header, elements (and seals, for a long record), in
/// one vectored write where the writer allows. A stream of slices begins with the
/// handshake of `[E]` ([`write_hello::<[E], _>`](super::write_hello)).
///
/// ```
/// use ipc::codec::{self, FrameReader};
///
/// let mut wire = Vec::new();
/// codec::write_hello::<[u32], _>(&mut wire)?;
/// codec::write_slice(&mut wire, &[1u32, 2, 3])?;
/// codec::write_slice::<u32, _>(&mut wire, &[])?;
///
/// let mut reader = FrameReader::<[u32]>::new();
/// let mut src = &wire[..];
/// assert_eq!(reader.read_slice(&mut src)?, &[1, 2, 3]);
/// assert!(reader.read_slice(&mut src)?.is_empty());
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::LimitExceeded`] (`max_len`) for a slice of more than `u32::MAX` bytes, which
/// no record can hold; [`Error::Disconnected`] on a broken pipe or reset connection,
/// [`Error::Io`] otherwise.
pub fn write_slice<E: Message, W: Write>(w: &mut W, elements: &[E]) -> Result<()> {
    if elements.len() > max_len_limit::<E>() {
        return Err(Error::too_long(elements.len(), max_len_limit::<E>() as u64));
    }
    let env = SliceEnvelope::new(elements);
    write_all_vectored(
        w,
        &mut [
            IoSlice::new(env.head()),
            IoSlice::new(elements_as_bytes(elements)),
            IoSlice::new(env.tail()),
        ],
    )
}

#[cfg(test)]
mod tests;
