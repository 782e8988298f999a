//! `schema::Value::from_bytes` with a decoded tree: a program that lacks a type reads a
//! message with the tree a peer sent, then writes it back as bytes and as JSON.
//!
//! Input: two bytes of tree length (little-endian), the encoded tree, then the message
//! (cut or zero-padded to the tree's size if bit 0 of the first byte is set).
//!
//! What must hold: no panic; a value that reads writes back the same bytes
//! (`to_bytes`), and its JSON reads back (`from_json`) to a value that writes the same
//! bytes too; its `Display` works.
#![no_main]

use ipc::schema::{SchemaTree, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([lo, hi], rest) = fuzz_common::take::<2>(data);
    let n = usize::from(u16::from_le_bytes([lo, hi])).min(rest.len());
    let (encoded, bytes) = rest.split_at(n);
    let Ok(tree) = SchemaTree::decode(encoded) else {
        return;
    };
    // A tree's size is a peer's word: check it before making room (as the docs say).
    if tree.size() > 1 << 16 {
        return;
    }
    let mut bytes = bytes.to_vec();
    if lo & 1 != 0 {
        bytes.resize(tree.size(), 0);
    }
    let Ok(value) = Value::from_bytes(&tree, &bytes) else {
        return;
    };
    assert_eq!(
        value.to_bytes(&tree).unwrap(),
        bytes,
        "a value wrote other bytes"
    );
    let json = value.to_json();
    let back = Value::from_json(&tree, &json)
        .unwrap_or_else(|e| panic!("the JSON of a value does not read back: {e}: {json}"));
    assert_eq!(
        back.to_bytes(&tree).unwrap(),
        bytes,
        "JSON read back to other bytes: {json}"
    );
    let _ = value.to_string();
});
