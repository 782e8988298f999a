//! `schema::Value::from_json`: JSON from a user or another program read as a value of a
//! type's tree, and written as a message.
//!
//! Input: one byte choosing the type, then the JSON text (bytes that are not UTF-8 are
//! replaced).
//!
//! What must hold: no panic; JSON that reads writes bytes of the tree's size that
//! validate as the type (`Message::validate`), and that read back as a value whose JSON
//! writes the same bytes again.
#![no_main]

use fuzz_common::{take, Big, Level, Order, Tick, Wide};
use ipc::schema::{SchemaTree, Value};
use ipc::{FixedStr, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([ty], json) = take::<1>(data);
    let json = String::from_utf8_lossy(json);
    match ty % 7 {
        0 => check::<Order>(&json),
        1 => check::<Tick>(&json),
        2 => check::<[Order; 2]>(&json),
        3 => check::<Level>(&json),
        4 => check::<FixedStr<5>>(&json),
        5 => check::<Big>(&json),
        _ => check::<Wide>(&json),
    }
});

fn check<T: Message>(json: &str) {
    let tree = SchemaTree::of::<T>().expect("a type with a tree");
    let Ok(value) = Value::from_json(&tree, json) else {
        return;
    };
    let bytes = value
        .to_bytes(&tree)
        .expect("a value read with the tree writes");
    assert_eq!(bytes.len(), size_of::<T>());
    T::validate(&bytes).expect("JSON wrote a message that does not validate");
    let read = Value::from_bytes(&tree, &bytes).expect("bytes of a value read back");
    let text = read.to_json();
    let again = Value::from_json(&tree, &text).expect("a value's JSON reads back");
    assert_eq!(
        again.to_bytes(&tree).unwrap(),
        bytes,
        "JSON round trip: {text}"
    );
}
