//! `SchemaTree::decode` on hostile input: 10,000 arbitrary byte strings and 10,000
//! mutations of valid encodings give an error or a valid tree, never a panic, and never
//! allocate more than a small multiple of the input's length (measured by a counting
//! allocator, per thread).

mod schema_types;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ipc::schema::{SchemaError, SchemaTree, FORMAT_VERSION};
use proptest::prelude::*;

/// The system allocator, counting the bytes each thread holds and the most it held.
struct Counting;

thread_local! {
    /// (bytes held now, the most held since the last `reset`).
    static HELD: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

fn track(delta: isize) {
    // `try_with`: the thread's counter may be gone while the thread exits.
    let _ = HELD.try_with(|h| {
        let (now, peak) = h.get();
        h.set((now + delta, peak.max(now + delta)));
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so it
// keeps `System`'s guarantees; the counting touches only a thread-local `Cell` of
// integers, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; `ptr` came from `System` through `alloc`/`realloc`.
        unsafe { System.dealloc(ptr, layout) };
        track(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            track(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Decodes `bytes` and returns the result with the most bytes it held at once.
fn decode_measured(bytes: &[u8]) -> (Result<SchemaTree, SchemaError>, usize) {
    let start = HELD.with(|h| {
        let (now, _) = h.get();
        h.set((now, now));
        now
    });
    let result = SchemaTree::decode(bytes);
    let peak = HELD.with(|h| h.get().1);
    (result, (peak - start).max(0) as usize)
}

/// The most a decode may hold: a small multiple of the input, plus a little.
fn bound(len: usize) -> usize {
    64 * len + 1024
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let (result, peak) = decode_measured(bytes);
    prop_assert!(
        peak <= bound(bytes.len()),
        "{peak} bytes held for {} in",
        bytes.len()
    );
    match result {
        // A tree accepted is one tree: its encoding is the input.
        Ok(tree) => {
            prop_assert_eq!(tree.encode(), bytes);
            prop_assert!(tree.depth() <= ipc::schema::MAX_DEPTH);
        }
        // A tree that passed every check but the fingerprint: with its fingerprint
        // written in, it is accepted, and is again one tree.
        Err(SchemaError::Fingerprint { computed, .. }) => {
            let mut fixed = bytes.to_vec();
            let at = fixed.len() - 8;
            fixed[at..].copy_from_slice(&computed.to_le_bytes());
            let tree = SchemaTree::decode(&fixed);
            prop_assert!(tree.is_ok(), "{tree:?}");
            prop_assert_eq!(tree.unwrap().encode(), fixed);
        }
        Err(_) => {}
    }
    Ok(())
}

fn encodings() -> Vec<Vec<u8>> {
    schema_types::cases()
        .iter()
        .map(|c| c.tree.encode())
        .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(prop::sample::Index, u8),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
    /// A varint of any size where one was.
    Big(prop::sample::Index, u64),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<prop::sample::Index>(),
            prop::collection::vec(any::<u8>(), 1..6)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1usize..6).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u64>()).prop_map(|(i, v)| Mutation::Big(i, v)),
    ]
}

fn apply(mut b: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Set(i, v) => {
                let i = i.index(b.len());
                b[i] = *v;
            }
            Mutation::Flip(i, bit) => {
                let i = i.index(b.len());
                b[i] ^= 1 << bit;
            }
            Mutation::Insert(i, bytes) => {
                let i = i.index(b.len() + 1);
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = i.index(b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Mutation::Truncate(i) => {
                let i = i.index(b.len());
                b.truncate(i);
            }
            Mutation::Big(i, v) => {
                let i = i.index(b.len());
                let mut v = *v;
                let mut varint = Vec::new();
                while v >= 0x80 {
                    varint.push(v as u8 | 0x80);
                    v >>= 7;
                }
                varint.push(v as u8);
                b.splice(i..i + 1, varint);
            }
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        // Half of them past the version byte and into a node.
        versioned in any::<bool>(),
        tag in 0u8..7,
    ) {
        let bytes = if versioned {
            [&[FORMAT_VERSION, tag][..], &bytes].concat()
        } else {
            bytes
        };
        check(&bytes)?;
    }

    #[test]
    fn mutated_encodings_never_panic_and_stay_bounded(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = encodings();
        let original = &all[which.index(all.len())];
        check(&apply(original.clone(), &mutations))?;
    }
}

#[test]
fn valid_encodings_decode_within_the_bound() {
    for bytes in encodings() {
        let (result, peak) = decode_measured(&bytes);
        assert!(result.is_ok());
        assert!(peak <= bound(bytes.len()), "{peak} for {}", bytes.len());
        println!("{} bytes decoded holding at most {peak}", bytes.len());
    }
}

#[test]
fn hostile_counts_and_lengths_are_refused_before_anything_is_allocated() {
    let huge = |v: u64| {
        let mut out = Vec::new();
        let mut v = v;
        while v >= 0x80 {
            out.push(v as u8 | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
        out
    };
    // A struct `S` of 8 bytes claiming 2^60 fields.
    let fields = [
        &[FORMAT_VERSION, 4, 1, b'S', 8, 3][..],
        &huge(1 << 60),
        &[0; 16],
    ]
    .concat();
    // A name of 2^62 bytes.
    let name = [&[FORMAT_VERSION, 4][..], &huge(1 << 62), b"S"].concat();
    // An enum claiming 2^40 variants.
    let variants = [&[FORMAT_VERSION, 5, 1, b'E', 1, 0][..], &huge(1 << 40)].concat();
    // An array of 2^63 bytes, and one of 2^40 zero-sized elements.
    let array = [
        &[FORMAT_VERSION, 2][..],
        &huge(1 << 63),
        &[1, 1, 0],
        &[0; 8],
    ]
    .concat();
    let zst = [
        &[FORMAT_VERSION, 2][..],
        &huge(1 << 40),
        &[2, 0, 1, 1, 0],
        &[0; 8],
    ]
    .concat();
    for (what, bytes) in [
        ("fields", fields),
        ("name", name),
        ("variants", variants),
        ("array", array),
        ("zero-sized", zst),
    ] {
        let (result, peak) = decode_measured(&bytes);
        let e = result.unwrap_err();
        assert!(peak <= 1024, "{what}: {peak} bytes held");
        println!("{what}: {e}");
    }
    let (e, _) =
        decode_measured(&[&[FORMAT_VERSION, 4, 1, b'S', 8, 3][..], &huge(1 << 60)].concat());
    assert_eq!(
        e.unwrap_err().to_string(),
        "malformed schema encoding at byte 6: 1152921504606846976 fields, but only 0 bytes are left"
    );
}
