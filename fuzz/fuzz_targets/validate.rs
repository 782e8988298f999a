//! `Message::validate` of derived types (enums of `u8` and `i16` representation, `bool`,
//! `char`, `FixedStr`, nested structs and arrays of them), through `ipc::from_bytes`,
//! `ipc::ref_from_bytes` and `T::validate`.
//!
//! Input: one byte choosing the type, then the message's bytes.
//!
//! What must hold: no panic; the three agree; bytes that validate read back as a `T`
//! whose bytes are the input; they also read as a `schema::Value` of the type's tree,
//! which writes back the same bytes; bytes that do not are refused by the value reader
//! too (the module docs: it checks "as `Message::validate` does").
#![no_main]

use fuzz_common::{check_valid, take, Big, Level, Order, Page, Side, Tick};
use ipc::schema::{SchemaTree, Value};
use ipc::{FixedStr, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([ty], bytes) = take::<1>(data);
    match ty % 9 {
        0 => check::<Order>(bytes),
        1 => check::<Tick>(bytes),
        2 => check::<Page>(bytes),
        3 => check::<Big>(bytes),
        4 => check::<Side>(bytes),
        5 => check::<Level>(bytes),
        6 => check::<FixedStr<5>>(bytes),
        7 => check::<[char; 3]>(bytes),
        _ => check::<[Order; 2]>(bytes),
    }
});

fn check<T: Message>(bytes: &[u8]) {
    let valid = T::validate(bytes).is_ok();
    let owned = ipc::from_bytes::<T>(bytes);
    assert_eq!(owned.is_ok(), valid, "from_bytes and validate disagree");
    let mut aligned = vec![0u8; bytes.len() + align_of::<T>()];
    let at = aligned.as_ptr().align_offset(align_of::<T>());
    aligned[at..at + bytes.len()].copy_from_slice(bytes);
    let borrowed = ipc::ref_from_bytes::<T>(&aligned[at..at + bytes.len()]);
    assert_eq!(
        borrowed.is_ok(),
        valid,
        "ref_from_bytes and validate disagree"
    );
    let tree = SchemaTree::of::<T>().expect("a derived type has a tree");
    let value = Value::from_bytes(&tree, bytes);
    assert_eq!(
        value.is_ok(),
        valid,
        "Value::from_bytes and validate disagree: {value:?}"
    );
    if let Ok(msg) = owned {
        check_valid(&msg);
        assert_eq!(ipc::as_bytes(&msg), bytes);
        let value = value.unwrap();
        assert_eq!(
            value.to_bytes(&tree).unwrap(),
            bytes,
            "a value wrote other bytes"
        );
    }
}
