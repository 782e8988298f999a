//! The schema tree in the handshake: a mismatch names the first field that differs, and
//! a hostile tree costs an error, never a panic or an unbounded allocation.

use super::*;
use crate::codec::{write_message, FrameReader};
use crate::message::{Field, InvalidMessage, Message, Schema};

/// Implements `Message` for a `#[repr(C)]` struct of `u64`s with a hand-written schema
/// (the derive is not available inside the runtime's own tests).
macro_rules! words {
    ($t:ident, $words:expr, $schema:expr) => {
        #[derive(Clone, Copy, Debug, PartialEq)]
        #[repr(C)]
        struct $t([u64; $words]);
        // SAFETY: `$t` is `$words` `u64`s, no padding, no pointers, every bit pattern
        // valid; the schema below states its size (8 * $words) and alignment (8), and its
        // fields, all `u64`-based, cover every byte.
        unsafe impl Message for $t {
            const SCHEMA: Schema = $schema;
            fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
                if bytes.len() != size_of::<$t>() {
                    return Err(InvalidMessage::length(
                        "Order",
                        size_of::<$t>(),
                        bytes.len(),
                    ));
                }
                Ok(())
            }
        }
    };
}

const V1_FIELDS: &[Field] = &[
    Field::new("id", 0, &u64::SCHEMA),
    Field::new("qty", 8, &u32::SCHEMA),
    Field::new("price", 12, &u32::SCHEMA),
];
const V2_FIELDS: &[Field] = &[
    Field::new("id", 0, &u64::SCHEMA),
    Field::new("qty", 8, &u64::SCHEMA),
];
words!(OrderV1, 2, Schema::structure("Order", 16, 8, V1_FIELDS));
words!(OrderV2, 2, Schema::structure("Order", 16, 8, V2_FIELDS));

/// The `difference` of a mismatch (and panics on any other result).
fn difference(r: Result<impl std::fmt::Debug>) -> Option<Box<str>> {
    match r {
        Err(Error::SchemaMismatch { difference, .. }) => difference,
        other => panic!("not a mismatch: {other:?}"),
    }
}

/// A handshake of `P` whose schema bytes are replaced by `schema` (the rest as written).
fn with_schema<P: ?Sized + Payload>(schema: &[u8]) -> Vec<u8> {
    let mut h = hello::<P>();
    let old = u32::from_le_bytes(h[HEADER_LEN + 4..HEADER_LEN + 8].try_into().unwrap());
    h.truncate(h.len() - old as usize);
    h.extend_from_slice(schema);
    let len = (h.len() - HEADER_LEN) as u32;
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&(schema.len() as u32).to_le_bytes());
    h
}

fn schema_len(h: &[u8]) -> usize {
    u32::from_le_bytes(h[HEADER_LEN + 4..HEADER_LEN + 8].try_into().unwrap()) as usize
}

#[test]
fn the_handshake_ends_with_the_encoded_tree() {
    let h = hello::<OrderV1>();
    let tree = SchemaTree::of::<OrderV1>().unwrap().encode();
    assert_eq!(schema_len(&h), tree.len());
    assert!(h.ends_with(&tree));
    assert_eq!(
        h.len(),
        HEADER_LEN + HELLO_FIXED + "Order".len() + tree.len()
    );
    // A slice announces its element's tree.
    assert!(hello::<[OrderV1]>().ends_with(&tree));
}

#[test]
fn a_mismatch_names_the_first_field_that_differs_here_and_there() {
    let d = difference(decode_hello::<OrderV2>(&hello::<OrderV1>())).unwrap();
    assert_eq!(
        &*d,
        "`Order.qty`: u64 at offset 8 here, u32 at offset 8 there"
    );
    // The reader's path, with a message behind the handshake, says the same.
    let mut wire = hello::<OrderV1>();
    write_message(&mut wire, &OrderV1([1, 2])).unwrap();
    let got = FrameReader::<OrderV2>::new().read_from(&mut &wire[..]);
    assert_eq!(difference(got).unwrap(), d);
    // And for slices, of their elements.
    let got = FrameReader::<[OrderV1]>::new()
        .read_slice(&mut &hello::<[OrderV2]>()[..])
        .map(|s| s.len());
    let d = difference(got).unwrap();
    assert_eq!(
        &*d,
        "`Order.qty`: u32 at offset 8 here, u64 at offset 8 there"
    );
    // Schemas that differ as a whole: the difference says how.
    let d = difference(decode_hello::<u64>(&hello::<u32>())).unwrap();
    assert!(d.contains("u64") && d.contains("u32"), "{d}");
}

#[test]
fn a_schema_length_beyond_the_record_is_corrupt() {
    for claimed in [
        u32::MAX,
        10_000,
        1 + (hello::<OrderV1>().len() - HEADER_LEN - HELLO_FIXED) as u32,
    ] {
        let mut h = hello::<OrderV1>();
        h[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&claimed.to_le_bytes());
        for r in [decode_hello::<OrderV1>(&h), decode_hello::<OrderV2>(&h)] {
            assert!(matches!(r, Err(Error::Corrupt(_))), "{claimed}: {r:?}");
        }
    }
    // A name longer than a name may be, once the schema is taken off.
    let mut h = hello::<OrderV1>();
    h[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&0u32.to_le_bytes());
    h.resize(HEADER_LEN + HELLO_FIXED + MAX_NAME_LEN + 1, b'x');
    let len = (h.len() - HEADER_LEN) as u32;
    h[4..8].copy_from_slice(&len.to_le_bytes());
    assert!(matches!(
        decode_hello::<OrderV1>(&h),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn a_record_longer_than_one_atomic_write_is_refused_from_its_header() {
    let mut h = HELLO_TAG.to_le_bytes().to_vec();
    h.extend_from_slice(&((MAX_HELLO_LEN - HEADER_LEN + 1) as u32).to_le_bytes());
    assert!(matches!(decode_hello::<u8>(&h), Err(Error::Corrupt(_))));
    h[4..8].copy_from_slice(&((MAX_HELLO_LEN - HEADER_LEN) as u32).to_le_bytes());
    assert!(
        matches!(decode_hello::<u8>(&h), Ok(None)),
        "the longest record: read on"
    );
}

#[test]
fn a_schema_that_does_not_decode_or_disagrees_is_ignored() {
    let good = SchemaTree::of::<OrderV1>().unwrap().encode();
    let mut bad_version = good.clone();
    bad_version[0] ^= 0xff;
    let truncated = &good[..good.len() - 3];
    let another = SchemaTree::of::<u64>().unwrap().encode(); // decodes, not the fingerprint
    for schema in [&bad_version[..], truncated, &another, &[0xff; 40], &[]] {
        let h = with_schema::<OrderV1>(schema);
        // A mismatch is still reported, by fingerprints alone...
        assert_eq!(difference(decode_hello::<OrderV2>(&h)), None, "{schema:?}");
        // ...and a peer of the same schema is accepted on its fingerprint.
        assert_eq!(decode_hello::<OrderV1>(&h).unwrap(), Some(h.len()));
        let mut wire = h.clone();
        write_message(&mut wire, &OrderV1([3, 4])).unwrap();
        let got = FrameReader::<OrderV1>::new()
            .read_from(&mut &wire[..])
            .unwrap();
        assert_eq!(got, OrderV1([3, 4]));
    }
}

#[test]
fn a_bad_schema_costs_its_handshake_only_and_the_next_writer_is_read() {
    let mut bad = hello::<OrderV1>();
    bad[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut wire = bad;
    wire.extend_from_slice(&hello::<OrderV1>());
    write_message(&mut wire, &OrderV1([5, 6])).unwrap();
    let mut r = FrameReader::<OrderV1>::new();
    let mut src = &wire[..];
    assert!(matches!(r.read_from(&mut src), Err(Error::Corrupt(_))));
    assert_eq!(r.read_from(&mut src).unwrap(), OrderV1([5, 6]));
}

// A tree that doubles at each level (no back-references): `L9` holds 512 `L0`s, whose
// encoding is far longer than one atomic write.
const L0_FIELDS: &[Field] = &[Field::new("x", 0, &u64::SCHEMA)];
const L0: Schema = Schema::structure("L0", 8, 8, L0_FIELDS);
macro_rules! level {
    ($name:ident, $fields:ident, $below:expr, $size:expr) => {
        const $fields: &[Field] = &[
            Field::new("a", 0, &$below),
            Field::new("b", $size / 2, &$below),
        ];
        const $name: Schema = Schema::structure(stringify!($name), $size, 8, $fields);
    };
}
level!(L1, L1_FIELDS, L0, 16);
level!(L2, L2_FIELDS, L1, 32);
level!(L3, L3_FIELDS, L2, 64);
level!(L4, L4_FIELDS, L3, 128);
level!(L5, L5_FIELDS, L4, 256);
level!(L6, L6_FIELDS, L5, 512);
level!(L7, L7_FIELDS, L6, 1024);
level!(L8, L8_FIELDS, L7, 2048);
level!(L9, L9_FIELDS, L8, 4096);
words!(Huge, 512, L9);
// The same, but for the type's name.
words!(
    HugeToo,
    512,
    Schema::structure("HugeToo", 4096, 8, L9_FIELDS)
);

#[test]
fn a_schema_too_long_for_one_atomic_write_is_left_out() {
    assert!(SchemaTree::of::<Huge>().unwrap().encode().len() > ATOMIC_WRITE);
    let h = hello::<Huge>();
    assert_eq!(schema_len(&h), 0);
    assert_eq!(h.len(), HEADER_LEN + HELLO_FIXED + "L9".len());
    // A peer of another schema is told so by fingerprints alone...
    assert_eq!(difference(decode_hello::<HugeToo>(&h)), None);
    assert_eq!(difference(decode_hello::<OrderV1>(&h)), None);
    // ...and one of the same schema reads on.
    let msg = Huge([7; 512]);
    let mut wire = h;
    write_message(&mut wire, &msg).unwrap();
    write_message(&mut wire, &msg).unwrap();
    let mut r = FrameReader::<Huge>::new();
    let mut src = &wire[..];
    assert_eq!(r.read_from(&mut src).unwrap(), msg);
    assert_eq!(r.read_from(&mut src).unwrap(), msg);
}

#[test]
fn every_handshake_fits_one_atomic_write() {
    assert!(hello::<Huge>().len() <= ATOMIC_WRITE);
    assert!(hello::<[Huge]>().len() <= ATOMIC_WRITE);
    assert!(hello::<[[OrderV1; 64]; 64]>().len() <= ATOMIC_WRITE);
}

#[test]
fn a_request_response_handshake_announces_what_its_end_takes() {
    let both = rpc_hello::<OrderV1, u64>();
    let plain = hello::<OrderV1>();
    // The first record is a plain one of what the end sends, marked as paired.
    let first = &both[..plain.len()];
    assert_eq!(decode_paired::<OrderV1>(first).unwrap(), Some(first.len()));
    let e = decode_hello::<OrderV1>(first).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("is a request/response end")),
        "{e:?}"
    );
    let e = decode_paired::<OrderV1>(&plain).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("no request/response end")),
        "{e:?}"
    );
    let second = &both[plain.len()..];
    // The second record is checked against what this side sends, field by field.
    assert_eq!(decode_takes::<u64>(second).unwrap(), Some(second.len()));
    let d = difference(decode_takes::<u32>(second)).unwrap();
    assert!(d.contains("u64") && d.contains("u32"), "{d}");
    // Each record only in its own place.
    let e = decode_takes::<OrderV1>(first).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("write")),
        "{e:?}"
    );
    let e = decode_hello::<u64>(second).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("request/response end")),
        "{e:?}"
    );
    // A plain stream reader given a request/response end's handshake refuses it.
    let mut wire = both.clone();
    write_message(&mut wire, &OrderV1([1, 2])).unwrap();
    let mut reader = FrameReader::<OrderV1>::new();
    let mut src = &wire[..];
    let e = reader.read_from(&mut src).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("takes")),
        "{e:?}"
    );
}
