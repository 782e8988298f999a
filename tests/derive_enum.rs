//! Passing derives on fieldless enums with every integer repr.

use ipc::{from_bytes, Kind, Message, Problem};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(i16)]
enum Level {
    Low = -5,
    Mid, // -4: implicit discriminants follow the previous one
    High = 300,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u64)]
#[ipc(name = "Big", size = 8)]
enum Big {
    Small,
    Huge = u64::MAX,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u16)]
enum U16 {
    A,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u32)]
enum U32 {
    A = 70_000,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(i8)]
enum I8 {
    A = -128,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(i32)]
enum I32 {
    A = i32::MIN,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(i64)]
enum I64 {
    A = i64::MIN,
    B = i64::MAX,
}

#[test]
fn schema_lists_variants_with_discriminants() {
    let Kind::Enum { repr, variants } = Level::SCHEMA.kind else {
        panic!("not an enum schema");
    };
    assert_eq!(repr, &i16::SCHEMA);
    let v: Vec<_> = variants.iter().map(|v| (v.name, v.value)).collect();
    assert_eq!(v, [("Low", -5), ("Mid", -4), ("High", 300)]);
    assert_eq!((Level::SCHEMA.size, Level::SCHEMA.align), (2, 2));
    let Kind::Enum { variants, .. } = Big::SCHEMA.kind else {
        panic!("not an enum schema");
    };
    assert_eq!(variants[1].value, i128::from(u64::MAX));
    assert_eq!(Big::SCHEMA.name, "Big");
}

#[test]
fn every_repr_round_trips() {
    for v in [Level::Low, Level::Mid, Level::High] {
        assert_eq!(from_bytes::<Level>(ipc::as_bytes(&v)).unwrap(), v);
    }
    assert_eq!(
        from_bytes::<Big>(ipc::as_bytes(&Big::Huge)).unwrap(),
        Big::Huge
    );
    assert_eq!(from_bytes::<U16>(&0u16.to_ne_bytes()).unwrap(), U16::A);
    assert_eq!(from_bytes::<U32>(&70_000u32.to_ne_bytes()).unwrap(), U32::A);
    assert_eq!(from_bytes::<I8>(&[0x80]).unwrap(), I8::A);
    assert_eq!(from_bytes::<I32>(&i32::MIN.to_ne_bytes()).unwrap(), I32::A);
    assert_eq!(from_bytes::<I64>(&i64::MAX.to_ne_bytes()).unwrap(), I64::B);
}

#[test]
fn validate_refuses_unknown_discriminants() {
    let e = from_bytes::<Side>(&[0]).unwrap_err();
    assert_eq!(
        e.problem(),
        &Problem::Discriminant {
            enum_name: "Side",
            value: 0
        }
    );
    assert_eq!(
        e.to_string(),
        "invalid `Side`: 0 is not a discriminant of `Side`"
    );
    let e = from_bytes::<Level>(&(-3i16).to_ne_bytes()).unwrap_err();
    assert!(matches!(
        e.problem(),
        Problem::Discriminant { value: -3, .. }
    ));
    let e = from_bytes::<Big>(&7u64.to_ne_bytes()).unwrap_err();
    assert!(matches!(
        e.problem(),
        Problem::Discriminant {
            enum_name: "Big",
            value: 7
        }
    ));
    let e = from_bytes::<I64>(&0i64.to_ne_bytes()).unwrap_err();
    assert!(matches!(
        e.problem(),
        Problem::Discriminant { value: 0, .. }
    ));
}

#[test]
fn validate_refuses_wrong_length_without_panicking() {
    let e = Level::validate(&[1, 2, 3]).unwrap_err();
    assert_eq!(
        e.problem(),
        &Problem::Length {
            expected: 2,
            found: 3
        }
    );
    assert!(Side::validate(&[]).is_err());
}
