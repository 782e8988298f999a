//! The checks every tree passes, on schemas written by hand that break them.

use super::*;
use crate::message::{Field, Kind, Variant};

fn refused(s: &Schema) -> String {
    SchemaTree::from_schema(s).unwrap_err().to_string()
}

#[test]
fn a_layout_with_holes_overlaps_or_overruns_is_refused() {
    const GAP: &[Field] = &[
        Field::new("a", 0, &u8::SCHEMA),
        Field::new("b", 2, &u16::SCHEMA),
    ];
    assert_eq!(
        refused(&Schema::structure("S", 4, 2, GAP)),
        "inconsistent schema at `S.b`: bytes 1..2 before it belong to no field"
    );
    const OVERLAP: &[Field] = &[
        Field::new("a", 0, &u32::SCHEMA),
        Field::new("b", 2, &u16::SCHEMA),
    ];
    assert_eq!(
        refused(&Schema::structure("S", 4, 4, OVERLAP)),
        "inconsistent schema at `S.b`: offset 2 overlaps the field before it"
    );
    const PAST: &[Field] = &[
        Field::new("a", 0, &u32::SCHEMA),
        Field::new("b", 4, &u32::SCHEMA),
    ];
    assert_eq!(
        refused(&Schema::structure("S", 4, 4, PAST)),
        "inconsistent schema at `S.b`: 4 bytes at offset 4 reach past the struct's 4 bytes"
    );
    const TAIL: &[Field] = &[Field::new("a", 0, &u16::SCHEMA)];
    assert_eq!(
        refused(&Schema::structure("S", 4, 2, TAIL)),
        "inconsistent schema at `S`: bytes 2..4 belong to no field"
    );
    const MISALIGNED: &[Field] = &[Field::new("a", 1, &u16::SCHEMA)];
    assert_eq!(
        refused(&Schema::structure("S", 4, 2, MISALIGNED)),
        "inconsistent schema at `S.a`: offset 1 is not aligned to 2"
    );
    const TWICE: &[Field] = &[
        Field::new("a", 0, &u8::SCHEMA),
        Field::new("a", 1, &u8::SCHEMA),
    ];
    assert_eq!(
        refused(&Schema::structure("S", 2, 1, TWICE)),
        "inconsistent schema at `S.a`: a second field of that name"
    );
    assert!(refused(&Schema::structure("S", 3, 2, &[])).contains("not a multiple"));
    assert!(refused(&Schema::structure("S", 0, 3, &[])).contains("power of two"));
    assert!(refused(&Schema::structure("", 0, 1, &[])).contains("empty type name"));
    assert!(refused(&Schema::structure("a\nb", 0, 1, &[])).contains("control character"));
}

#[test]
fn zero_sized_fields_may_sit_anywhere_inside() {
    // `#[repr(transparent)] struct W([u8; 0], u32)`: both fields at offset 0.
    const ZST: Schema = Schema::array(&u8::SCHEMA, 0);
    const W: &[Field] = &[Field::new("0", 0, &ZST), Field::new("1", 0, &u32::SCHEMA)];
    let tree = SchemaTree::from_schema(&Schema::structure("W", 4, 4, W)).unwrap();
    assert_eq!(tree.fields().len(), 2);
    assert_eq!(
        tree.fingerprint(),
        Schema::structure("W", 4, 4, W).fingerprint()
    );
}

#[test]
fn enums_must_fit_an_integer_repr() {
    const V: &[Variant] = &[Variant::new("A", 1), Variant::new("B", 256)];
    assert_eq!(
        refused(&Schema::enumeration("E", &u8::SCHEMA, V)),
        "inconsistent schema at `E`: discriminant 256 of `B` does not fit in u8"
    );
    const NEG: &[Variant] = &[Variant::new("A", -1)];
    assert!(refused(&Schema::enumeration("E", &u64::SCHEMA, NEG)).contains("does not fit"));
    assert!(SchemaTree::from_schema(&Schema::enumeration("E", &i8::SCHEMA, NEG)).is_ok());
    const SAME: &[Variant] = &[Variant::new("A", 1), Variant::new("B", 1)];
    assert!(refused(&Schema::enumeration("E", &u8::SCHEMA, SAME)).contains("another variant's"));
    const NAMESAKES: &[Variant] = &[Variant::new("A", 1), Variant::new("A", 2)];
    assert!(refused(&Schema::enumeration("E", &u8::SCHEMA, NAMESAKES)).contains("two variants"));
    assert!(refused(&Schema::enumeration("E", &f32::SCHEMA, &[])).contains("not u8 ... i64"));
    assert!(refused(&Schema::enumeration("E", &u128::SCHEMA, &[])).contains("not u8 ... i64"));
    let max = [Variant::new("Max", u64::MAX.into())];
    let max: &'static [Variant] = Vec::leak(max.to_vec());
    assert!(SchemaTree::from_schema(&Schema::enumeration("E", &u64::SCHEMA, max)).is_ok());
}

#[test]
fn unknown_primitives_and_misstated_sizes_are_refused() {
    assert_eq!(
        refused(&Schema::primitive("usize", 8, 8)),
        "inconsistent schema at `usize`: unknown primitive `usize`"
    );
    assert!(refused(&Schema::primitive("u32", 8, 4)).contains("the schema states `u32`, 8 bytes"));
    assert!(refused(&Schema::primitive("u32", 4, 8)).contains("more than its 4 bytes"));
    const BAD_ARRAY: Schema = Schema {
        name: "array",
        size: 3,
        align: 1,
        kind: Kind::Array {
            element: &u8::SCHEMA,
            len: 4,
        },
    };
    assert!(refused(&BAD_ARRAY).contains("3 bytes"));
}

#[test]
fn arrays_of_many_zero_sized_values_are_refused() {
    const ZST: Schema = Schema::array(&u8::SCHEMA, 0);
    assert!(SchemaTree::from_schema(&Schema::array(&ZST, 63)).is_ok());
    assert!(refused(&Schema::array(&ZST, 65)).contains("zero-sized elements"));
    const INNER: Schema = Schema::array(&ZST, 8);
    assert!(refused(&Schema::array(&INNER, 8)).contains("72 values"));
}

#[test]
fn nesting_deeper_than_the_limit_is_refused() {
    fn nest(depth: usize) -> &'static Schema {
        let mut s: &'static Schema = &u8::SCHEMA;
        for _ in 1..depth {
            s = Box::leak(Box::new(Schema::array(s, 1)));
        }
        s
    }
    let ok = SchemaTree::from_schema(nest(MAX_DEPTH)).unwrap();
    assert_eq!(ok.depth(), MAX_DEPTH);
    assert_eq!(SchemaTree::decode(&ok.encode()), Ok(ok));
    assert!(matches!(
        SchemaTree::from_schema(nest(MAX_DEPTH + 1)),
        Err(SchemaError::TooDeep { .. })
    ));
}

#[test]
fn errors_become_ipc_errors() {
    let too_large = SchemaTree::of::<[u64; 4]>()
        .unwrap()
        .encode_within(3)
        .unwrap_err();
    assert_eq!(
        too_large.to_string(),
        "the schema of `[u64; 4]` takes 14 bytes to encode, more than the 3 allowed"
    );
    assert!(matches!(
        Error::from(too_large),
        Error::LimitExceeded { value: 3, .. }
    ));
    let corrupt = SchemaTree::decode(&[FORMAT_VERSION, 9]).unwrap_err();
    assert_eq!(
        corrupt.to_string(),
        "malformed schema encoding at byte 1: unknown node tag 9"
    );
    let e = Error::from(corrupt);
    assert_eq!(
        e.to_string(),
        "corrupt stream: malformed schema encoding at byte 1: unknown node tag 9"
    );
    assert_eq!(
        SchemaTree::decode(&[7]).unwrap_err().to_string(),
        "schema encoding of version 7, which this build does not read (it reads version 1); \
         upgrade this program"
    );
}
