//! The shared-memory segment header check, as an opener reads it (`shm/layout.rs`
//! `Meta::check` for an opener of a known type, `Meta::check_any` for one of any type,
//! after `read_meta` and `read_schema`): the header and the schema tree after it are
//! written by whoever created the segment.
//!
//! Input: one byte (bits 0-1 the kind asked for: channel, shared value, topic; bits 2-3
//! the opener: of `Order`, of `[Tick]`, of `Big`, or of any type), four bytes of file
//! length (little-endian), the first 256 bytes of the header (the rest is zero), then
//! the bytes right after the header, where the schema tree goes.
//!
//! What must hold: no panic; an accepted segment's file length is at least a header and
//! the schema it carries; a schema `check_any` vouches for re-encodes to itself, and an
//! opener of a known type that also accepts it finds that type's fingerprint.
#![no_main]

use fuzz_common::{take, Big, Order, Tick};
use ipc::fuzzing::{shm_check, shm_check_any, SHM_HEADER_LEN};
use ipc::schema::SchemaTree;
use ipc::{Error, Message, Payload};
use libfuzzer_sys::fuzz_target;

/// The header bytes the input sets: the immutable part (`Meta`) and more.
const META_BYTES: usize = 256;

fuzz_target!(|data: &[u8]| {
    let ([mode, a, b, c, d], rest) = take::<5>(data);
    let file_len = u64::from(u32::from_le_bytes([a, b, c, d]));
    let (meta, schema) = rest.split_at(rest.len().min(META_BYTES));
    let mut image = vec![0u8; SHM_HEADER_LEN];
    image[..meta.len()].copy_from_slice(meta);
    image.extend_from_slice(schema);
    let kind = (mode & 3) + 1;
    let any = shm_check_any(&image, file_len, kind);
    match &any {
        Ok(tree) => {
            assert!(file_len >= (SHM_HEADER_LEN + tree.encode().len()) as u64);
            assert_eq!(SchemaTree::decode(&tree.encode()).as_ref(), Ok(tree));
        }
        Err(e) => expected(e),
    }
    match (mode >> 2) & 3 {
        0 => known::<Order>(&image, file_len, kind, &any),
        1 => known::<[Tick]>(&image, file_len, kind, &any),
        2 => known::<Big>(&image, file_len, kind, &any),
        _ => {}
    }
});

fn known<P: ?Sized + Payload>(
    image: &[u8],
    file_len: u64,
    kind: u8,
    any: &Result<SchemaTree, Error>,
) {
    match shm_check::<P>(image, file_len, kind) {
        Ok(()) => {
            assert!(file_len >= SHM_HEADER_LEN as u64);
            if let Ok(tree) = any {
                assert_eq!(tree.fingerprint(), <P::Element as Message>::FINGERPRINT);
            }
        }
        Err(e) => expected(&e),
    }
}

fn expected(e: &Error) {
    assert!(
        matches!(e, Error::Corrupt(_) | Error::SchemaMismatch { .. }),
        "a segment header refused with {e:?}"
    );
}
