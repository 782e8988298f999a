//! The handshake record: what a writer announces (its schema's name, fingerprint, size,
//! alignment, byte order, and its whole encoded schema tree where it fits), and a
//! reader's check of it.
//!
//! The record and what a reader makes of it are in the [module docs](super#the-handshake):
//! the fixed part, the name, then the encoded tree, [`ATOMIC_WRITE`] bytes at most (a
//! tree that would not fit is left out); the tree is decoded only on a mismatch, to fill
//! [`Error::SchemaMismatch`]'s `difference`, and one that does not decode or disagrees
//! with the announced fingerprint is ignored.

use std::io::{IoSlice, Write};

use super::{split_header, write_all_vectored, ATOMIC_WRITE, HEADER_LEN, MAX_NAME_LEN, VERSION};
use crate::error::{Error, Result, SchemaId};
use crate::message::slice_fingerprint;
use crate::payload::Payload;
use crate::schema::SchemaTree;

pub(super) const HELLO_TAG: u32 = u32::from_le_bytes(*b"ipcH");
/// The bytes of a handshake before the name.
pub(super) const HELLO_FIXED: usize = 32;
/// The longest handshake record, header included: one atomic write.
pub(super) const MAX_HELLO_LEN: usize = ATOMIC_WRITE;
const FLAG_BIG_ENDIAN: u16 = 1;
/// The handshake's writer sends slices (`[E]`): records of any whole number of elements,
/// whose size the handshake gives.
const FLAG_SLICE: u16 = 2;
/// The record announces the type its writer takes, not one it sends: the second record of
/// a request/response end's handshake (see [`rpc_hello`]).
const FLAG_TAKES: u16 = 4;
/// A record of the type its writer takes follows this one: the first record of a
/// request/response end's handshake. So each kind of end knows at once a peer of the other
/// kind, rather than waiting for a second record that never comes.
const FLAG_PAIRED: u16 = 8;

/// Which record of a handshake a reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Record {
    /// A plain stream end's only record.
    Plain,
    /// A request/response end's first record, of the type it sends.
    Paired,
    /// A request/response end's second record, of the type it takes.
    Takes,
    /// A record of the type its writer sends, plain or paired: what a stream's reader
    /// checks once the connection's handshake (which told the two apart) is done.
    Sends,
}
const NATIVE_FLAGS: u16 = if cfg!(target_endian = "big") {
    FLAG_BIG_ENDIAN
} else {
    0
};

/// The whole handshake record announcing `P` (a message `T`, or a slice `[E]`), with the
/// encoded schema tree of `T` (of `E`) where the record has room for it (see the
/// [module docs](super)).
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub fn hello<P: ?Sized + Payload>() -> Vec<u8> {
    record::<P>(0)
}

/// The whole handshake of a request/response end (a client or a server of
/// [`crate::socket`] or [`crate::tcp`]) that sends `Out` and takes `In`: the record
/// announcing `Out` ([`hello`]), then one announcing `In` with the flag that says "takes"
/// (see the [module docs](super)), so that each end checks both types of the other.
// Not part of the API (hidden), as `hello`.
#[doc(hidden)]
pub fn rpc_hello<Out: ?Sized + Payload, In: ?Sized + Payload>() -> Vec<u8> {
    let mut f = record::<Out>(FLAG_PAIRED);
    f.extend_from_slice(&record::<In>(FLAG_TAKES));
    f
}

/// One handshake record announcing `P`, with `role` among its flags (0, [`FLAG_PAIRED`]
/// or [`FLAG_TAKES`]).
fn record<P: ?Sized + Payload>(role: u16) -> Vec<u8> {
    let name = P::schema_id().name;
    let name = &name.as_bytes()[..name.len().min(MAX_NAME_LEN)];
    let room = MAX_HELLO_LEN - HEADER_LEN - HELLO_FIXED - name.len();
    let schema = SchemaTree::of::<P::Element>()
        .ok()
        .and_then(|tree| tree.encode_within(room).ok())
        .unwrap_or_default();
    let flags = NATIVE_FLAGS | role | if P::IS_SLICE { FLAG_SLICE } else { 0 };
    let len = HELLO_FIXED + name.len() + schema.len();
    let mut f = Vec::with_capacity(HEADER_LEN + len);
    f.extend_from_slice(&HELLO_TAG.to_le_bytes());
    f.extend_from_slice(&(len as u32).to_le_bytes());
    f.extend_from_slice(&VERSION.to_le_bytes());
    f.extend_from_slice(&flags.to_le_bytes());
    f.extend_from_slice(&(schema.len() as u32).to_le_bytes());
    f.extend_from_slice(&P::PAYLOAD_FINGERPRINT.to_le_bytes());
    f.extend_from_slice(&(size_of::<P::Element>() as u64).to_le_bytes());
    f.extend_from_slice(&(align_of::<P::Element>() as u64).to_le_bytes());
    f.extend_from_slice(name);
    f.extend_from_slice(&schema);
    debug_assert!(f.len() <= MAX_HELLO_LEN);
    f
}

/// Writes the handshake for `P` (a message `T`, or a slice `[E]`) to `w`.
///
/// # Errors
///
/// [`Error::Disconnected`] on a broken pipe or reset connection, [`Error::Io`] otherwise.
pub fn write_hello<P: ?Sized + Payload, W: Write>(w: &mut W) -> Result<()> {
    write_all_vectored(w, &mut [IoSlice::new(&hello::<P>())])
}

/// Checks a whole handshake record (header included) against `P`.
///
/// Returns the record's length if `buf` begins with a handshake of `P`, or `Ok(None)` if
/// `buf` holds only part of one (no more than [`super::max_frame_len`] bytes are ever
/// needed, and the header alone bounds the rest: see [`hello_len`]).
///
/// # Errors
///
/// [`Error::SchemaMismatch`] for a handshake of another schema or byte order (naming the
/// first field that differs where the peer sent its schema tree), [`Error::Corrupt`] for
/// bytes that are not a handshake, or one of another wire format version.
pub(crate) fn decode_hello<P: ?Sized + Payload>(buf: &[u8]) -> Result<Option<usize>> {
    decode_record::<P>(buf, Record::Plain)
}

/// As [`decode_hello`], for the first record of a request/response end's handshake
/// ([`rpc_hello`]), which announces the type the peer sends and that a second record
/// follows.
///
/// # Errors
///
/// As [`decode_hello`]; [`Error::Corrupt`] also for a plain stream end's record (it is no
/// request/response end).
pub(crate) fn decode_paired<P: ?Sized + Payload>(buf: &[u8]) -> Result<Option<usize>> {
    decode_record::<P>(buf, Record::Paired)
}

/// As [`decode_hello`], for the second record of a request/response end's handshake
/// ([`rpc_hello`]), which announces the type the peer takes: checked against `P`, the
/// type this side sends.
///
/// # Errors
///
/// As [`decode_hello`]; [`Error::Corrupt`] also for a peer whose handshake has no such
/// record (it is no request/response end).
pub(crate) fn decode_takes<P: ?Sized + Payload>(buf: &[u8]) -> Result<Option<usize>> {
    decode_record::<P>(buf, Record::Takes)
}

/// A handshake record of `P`, the one `kind` says.
fn decode_record<P: ?Sized + Payload>(buf: &[u8], kind: Record) -> Result<Option<usize>> {
    let Some((header, rest)) = buf.split_first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let (tag, len) = split_header(header);
    if tag != HELLO_TAG && kind == Record::Takes {
        return Err(Error::Corrupt(
            "the peer's handshake announces the type it sends but not the type it takes: it \
             is no request/response end (a plain stream end, say); connect a request/response \
             client to a request/response server"
                .into(),
        ));
    }
    if tag != HELLO_TAG {
        return Err(if tag == super::payload_tag::<P>() {
            Error::Corrupt(
                "a message arrived before the handshake: the writer is not ipc, or the \
                 stream was joined midway"
                    .into(),
            )
        } else {
            super::not_ipc_stream(header)
        });
    }
    let len = hello_len(len)?;
    let Some(payload) = rest.get(..len) else {
        return Ok(None);
    };
    check_record::<P>(payload, kind)?;
    Ok(Some(HEADER_LEN + len))
}

/// Checks the length a handshake header announces: the record, header included, is at
/// most [`MAX_HELLO_LEN`] bytes.
pub(super) fn hello_len(len: usize) -> Result<usize> {
    if (HELLO_FIXED..=MAX_HELLO_LEN - HEADER_LEN).contains(&len) {
        Ok(len)
    } else {
        Err(Error::Corrupt(format!(
            "handshake of {len} bytes; a handshake has {HELLO_FIXED} to {} bytes",
            MAX_HELLO_LEN - HEADER_LEN
        )))
    }
}

/// Checks a handshake record of the type its writer sends (plain or paired: a stream reader
/// takes either once the connection's handshake told them apart) against `P`; on a
/// schema mismatch the error carries the peer's schema, and the first field that differs
/// where the peer's tree says.
pub(super) fn check_hello<P: ?Sized + Payload>(p: &[u8]) -> Result<()> {
    check_record::<P>(p, Record::Sends)
}

/// As [`check_hello`], for the record `kind` says.
fn check_record<P: ?Sized + Payload>(p: &[u8], kind: Record) -> Result<()> {
    let u16_at = |i: usize| u16::from_le_bytes([p[i], p[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
    let u64_at = |i: usize| {
        let mut b = [0; 8];
        b.copy_from_slice(&p[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let version = u16_at(0);
    if version != VERSION {
        return Err(Error::Corrupt(format!(
            "the peer speaks wire format version {version}, this build speaks {VERSION}; \
             build both programs with the same version of ipc"
        )));
    }
    let flags = u16_at(2);
    let found_kind = match (flags & FLAG_PAIRED != 0, flags & FLAG_TAKES != 0) {
        (false, false) => Record::Plain,
        (true, false) => Record::Paired,
        (false, true) => Record::Takes,
        (true, true) => {
            return Err(Error::Corrupt(
                "a handshake record both paired and of a type taken: its writer does not \
                 follow the wire format"
                    .into(),
            ))
        }
    };
    let expected = match (kind, found_kind) {
        (Record::Sends, Record::Plain | Record::Paired) => true,
        (kind, found) => kind == found,
    };
    if !expected {
        return Err(Error::Corrupt(
            match kind {
                Record::Plain | Record::Sends => {
                    "the peer's handshake announces the type it takes besides the one it \
                     sends: it is a request/response end (socket::Client or Server, \
                     tcp::Client or Server); reach it with the other one of the pair"
                }
                Record::Paired => {
                    "the peer's handshake announces no type it takes: it is no \
                     request/response end (a plain stream end, say); connect a \
                     request/response client to a request/response server"
                }
                Record::Takes => {
                    "the peer's handshake announces a second type it sends where a \
                     request/response end announces the type it takes: its writer does not \
                     follow the wire format"
                }
            }
            .into(),
        ));
    }
    let (name, schema) = split_tail(p, u32_at(4) as usize)?;
    let mut found = SchemaId {
        name: String::from_utf8_lossy(name).into_owned(),
        fingerprint: u64_at(8),
        size: u64_at(16),
        align: u64_at(24),
    };
    let expected = P::schema_id();
    if flags & FLAG_BIG_ENDIAN != NATIVE_FLAGS & FLAG_BIG_ENDIAN {
        let order = if flags & FLAG_BIG_ENDIAN != 0 {
            "big"
        } else {
            "little"
        };
        found.name = format!("{} in {order}-endian byte order", found.name);
        return Err(Error::mismatch(expected, found, None));
    }
    let slice = flags & FLAG_SLICE != 0;
    if found.fingerprint != expected.fingerprint
        || found.name != expected.name
        || found.size != expected.size
        || found.align != expected.align
        || slice != P::IS_SLICE
    {
        let difference = difference::<P>(schema, found.fingerprint, slice);
        return Err(Error::mismatch(expected, found, difference));
    }
    Ok(())
}

/// The name and the encoded schema at the end of a handshake's payload `p`, the schema
/// being its last `schema_len` bytes.
fn split_tail(p: &[u8], schema_len: usize) -> Result<(&[u8], &[u8])> {
    let tail = &p[HELLO_FIXED..];
    let Some(name_len) = tail.len().checked_sub(schema_len) else {
        return Err(Error::Corrupt(format!(
            "a handshake announces {schema_len} bytes of schema but has {} after its fixed \
             part: its writer does not follow the wire format",
            tail.len()
        )));
    };
    if name_len > MAX_NAME_LEN {
        return Err(Error::Corrupt(format!(
            "a handshake with a schema name of {name_len} bytes; a name has at most \
             {MAX_NAME_LEN}: its writer does not follow the wire format"
        )));
    }
    Ok(tail.split_at(name_len))
}

/// The first field where `P`'s schema tree ("here") differs from the peer's ("there"),
/// `schema` as its handshake carries it, if it carried one that decodes and whose
/// fingerprint is the `fingerprint` it announced (of a slice, if `slice`).
#[cold]
#[inline(never)]
fn difference<P: ?Sized + Payload>(
    schema: &[u8],
    fingerprint: u64,
    slice: bool,
) -> Option<Box<str>> {
    if schema.is_empty() {
        return None;
    }
    let theirs = SchemaTree::decode(schema).ok()?;
    let announced = if slice {
        slice_fingerprint(theirs.fingerprint())
    } else {
        theirs.fingerprint()
    };
    if announced != fingerprint {
        return None;
    }
    let ours = SchemaTree::of::<P::Element>().ok()?;
    let d = ours.first_difference(&theirs)?;
    Some(d.to_string().into_boxed_str())
}

/// Whether a handshake's payload announces a writer of slices.
pub(super) fn hello_is_slice(p: &[u8]) -> bool {
    matches!(p.get(2..4), Some(&[a, b]) if u16::from_le_bytes([a, b]) & FLAG_SLICE != 0)
}

#[cfg(test)]
mod tests;
