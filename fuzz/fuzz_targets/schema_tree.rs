//! The schema tree decoder (`SchemaTree::decode`), what a peer's handshake or a
//! segment's header carries, then what a reader does with a tree that decodes:
//! `first_difference` against a real tree, `declaration()`, `Display`.
//!
//! Input: the encoded tree.
//!
//! What must hold: no panic; a tree that decodes is at most `MAX_DEPTH` deep, re-encodes
//! to bytes that decode to an equal tree with the same fingerprint, differs from itself
//! nowhere, and differs from a real tree exactly when it is not equal to it (in both
//! directions).
#![no_main]

use fuzz_common::{Big, Order};
use ipc::schema::{SchemaTree, MAX_DEPTH};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tree) = SchemaTree::decode(data) else {
        return;
    };
    assert!(tree.depth() <= MAX_DEPTH);
    let again = SchemaTree::decode(&tree.encode()).expect("a decoded tree re-encodes to a tree");
    assert_eq!(again, tree);
    assert_eq!(again.fingerprint(), tree.fingerprint());
    assert!(tree.first_difference(&tree).is_none());
    for real in [
        SchemaTree::of::<Order>().unwrap(),
        SchemaTree::of::<Big>().unwrap(),
    ] {
        for (a, b) in [(&tree, &real), (&real, &tree)] {
            match a.first_difference(b) {
                None => assert_eq!(a, b, "no difference found between different trees"),
                Some(d) => {
                    assert_ne!(a, b, "a difference found between equal trees: {d}");
                    let _ = d.to_string();
                }
            }
        }
    }
    let _ = tree.declaration().to_string();
    let _ = tree.to_string();
});
