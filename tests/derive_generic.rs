//! Passing derives on generic structs: the `T: Message` bounds, per-instantiation schemas
//! and layout checks.

use ipc::{from_bytes, Message, Problem};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Pair<T> {
    a: T,
    b: T,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Batch<T, const N: usize> {
    items: [T; N],
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(transparent)]
struct Wrapper<T>(T);

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Tagged<T>
where
    T: Copy,
{
    tag: u32,
    value: T,
}

#[test]
fn each_instantiation_has_its_own_schema() {
    assert_eq!(Pair::<u32>::SCHEMA.size, 8);
    assert_eq!(Pair::<u64>::SCHEMA.fields()[1].offset, 8);
    assert_eq!(Pair::<u32>::SCHEMA.name, "Pair");
    assert_ne!(Pair::<u32>::FINGERPRINT, Pair::<i32>::FINGERPRINT);
    assert_ne!(Batch::<u8, 3>::FINGERPRINT, Batch::<u8, 4>::FINGERPRINT);
    assert_eq!(Batch::<u16, 3>::SCHEMA.size, 6);
    assert_eq!(Wrapper::<u16>::SCHEMA.size, 2);
    assert_eq!(Tagged::<f32>::SCHEMA.fields()[1].offset, 4);
}

#[test]
fn generic_validate_checks_the_instantiated_field() {
    let p = Pair { a: true, b: false };
    assert_eq!(from_bytes::<Pair<bool>>(ipc::as_bytes(&p)).unwrap(), p);
    let e = from_bytes::<Pair<bool>>(&[1, 5]).unwrap_err();
    assert_eq!(
        (e.field(), e.offset(), e.problem()),
        ("b", 1, &Problem::Bool(5))
    );

    let e = from_bytes::<Batch<Wrapper<bool>, 3>>(&[1, 1, 4]).unwrap_err();
    assert_eq!(e.field(), "items[2].0");
    assert!(Batch::<u64, 2>::SCHEMA.accepts_any_bits());
}
