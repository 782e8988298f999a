//! Passing derives on structs: named, tuple, unit, nested, arrays, FixedStr, pins,
//! transparent, `#[ipc(name)]`, `#[ipc(crate)]`.

use ipc::{from_bytes, Message, Problem};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

/// The example from DESIGN.md.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(size = 40, align = 8)]
struct Order {
    id: u64,
    price: f64,
    symbol: ipc::FixedStr<16>,
    qty: u32,
    side: Side,
    _pad: [u8; 3],
}

fn order() -> Order {
    Order {
        id: 7,
        price: 101.25,
        symbol: "AAPL".try_into().unwrap(),
        qty: 100,
        side: Side::Sell,
        _pad: [0; 3],
    }
}

#[test]
fn schema_lists_fields_with_offsets_and_types() {
    let s = Order::SCHEMA;
    assert_eq!((s.name, s.size, s.align), ("Order", 40, 8));
    let fields: Vec<_> = s
        .fields()
        .iter()
        .map(|f| (f.name, f.offset, f.size()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id", 0, 8),
            ("price", 8, 8),
            ("symbol", 16, 16),
            ("qty", 32, 4),
            ("side", 36, 1),
            ("_pad", 37, 3)
        ]
    );
    assert_eq!(s.fields()[4].schema, &Side::SCHEMA);
    assert!(!s.accepts_any_bits());
}

#[test]
fn round_trips_through_bytes() {
    let o = order();
    assert_eq!(from_bytes::<Order>(ipc::as_bytes(&o)).unwrap(), o);
}

#[test]
fn validate_refuses_bad_discriminant_and_names_field() {
    let mut bytes = ipc::as_bytes(&order()).to_vec();
    bytes[36] = 3;
    let e = from_bytes::<Order>(&bytes).unwrap_err();
    assert_eq!(e.field(), "side");
    assert_eq!(e.offset(), 36);
    assert_eq!(e.type_name(), "Order");
    assert_eq!(
        e.problem(),
        &Problem::Discriminant {
            enum_name: "Side",
            value: 3
        }
    );
}

#[test]
fn validate_refuses_bad_fixed_str_and_wrong_length() {
    let mut bytes = ipc::as_bytes(&order()).to_vec();
    bytes[16] = 0xff;
    let e = Order::validate(&bytes).unwrap_err();
    assert_eq!((e.field(), e.offset()), ("symbol", 16));
    assert!(matches!(e.problem(), Problem::Utf8 { valid_up_to: 0 }));
    let e = Order::validate(&bytes[..39]).unwrap_err();
    assert_eq!(
        e.problem(),
        &Problem::Length {
            expected: 40,
            found: 39
        }
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Leg {
    price: f64,
    qty: u32,
    side: Side,
    _pad: [u8; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Spread {
    id: u64,
    legs: [Leg; 2],
}

#[test]
fn nested_messages_in_arrays_report_the_field_path() {
    let leg = Leg {
        price: 1.5,
        qty: 3,
        side: Side::Buy,
        _pad: [0; 3],
    };
    let spread = Spread {
        id: 1,
        legs: [leg, leg],
    };
    let mut bytes = ipc::as_bytes(&spread).to_vec();
    assert_eq!(from_bytes::<Spread>(&bytes).unwrap(), spread);
    // legs start at 8, each leg is 16 bytes, side is at 12 inside a leg.
    bytes[8 + 16 + 12] = 9;
    let e = from_bytes::<Spread>(&bytes).unwrap_err();
    assert_eq!(e.field(), "legs[1].side");
    assert_eq!(e.offset(), 36);
    assert_eq!(e.type_name(), "Spread");
    assert_eq!(
        e.to_string(),
        "invalid `Spread` in field `legs[1].side` at byte 36: 9 is not a discriminant of `Side`"
    );
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Point(i32, i32);

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Unit;

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(transparent)]
struct Millis(u64);

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(transparent)]
struct Flag {
    on: bool,
}

#[test]
fn tuple_unit_and_transparent_structs() {
    let names: Vec<_> = Point::SCHEMA
        .fields()
        .iter()
        .map(|f| (f.name, f.offset))
        .collect();
    assert_eq!(names, [("0", 0), ("1", 4)]);
    assert_eq!(
        from_bytes::<Point>(ipc::as_bytes(&Point(-1, 2))).unwrap(),
        Point(-1, 2)
    );

    assert_eq!((Unit::SCHEMA.size, Unit::SCHEMA.fields().len()), (0, 0));
    assert_eq!(from_bytes::<Unit>(&[]).unwrap(), Unit);

    assert_eq!((Millis::SCHEMA.size, Millis::SCHEMA.align), (8, 8));
    assert!(Millis::SCHEMA.accepts_any_bits());
    assert!(Flag::validate(&[1]).is_ok());
    let e = Flag::validate(&[2]).unwrap_err();
    assert_eq!((e.field(), e.problem()), ("on", &Problem::Bool(2)));
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C, align(8))]
#[ipc(size = 8, align = 8)]
struct Aligned {
    a: u32,
    b: [u8; 4],
}

#[test]
fn pins_and_repr_align_that_hold_compile() {
    assert_eq!((Aligned::SCHEMA.size, Aligned::SCHEMA.align), (8, 8));
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(name = "acme.Tick")]
struct Tick {
    at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(crate = "ipc")]
struct WithCratePath {
    x: u16,
    r#type: u16,
}

#[test]
fn name_and_crate_attributes() {
    assert_eq!(Tick::SCHEMA.name, "acme.Tick");
    assert_eq!(WithCratePath::SCHEMA.name, "WithCratePath");
    assert_eq!(WithCratePath::SCHEMA.fields()[1].name, "type");
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Text {
    len: u32,
    c: char,
    label: ipc::FixedStr<8>,
}

#[test]
fn fixed_str_and_char_fields_are_validated() {
    let t = Text {
        len: 2,
        c: 'é',
        label: "héllo".try_into().unwrap(),
    };
    let mut bytes = ipc::as_bytes(&t).to_vec();
    assert_eq!(from_bytes::<Text>(&bytes).unwrap(), t);
    bytes[4..8].copy_from_slice(&0xD800u32.to_ne_bytes());
    let e = from_bytes::<Text>(&bytes).unwrap_err();
    assert_eq!((e.field(), e.problem()), ("c", &Problem::Char(0xD800)));
    bytes[4..8].copy_from_slice(&('a' as u32).to_ne_bytes());
    bytes[8 + 7] = b'x'; // after the NUL that ends "héllo" (6 bytes)
    let e = from_bytes::<Text>(&bytes).unwrap_err();
    assert_eq!(e.field(), "label");
    assert_eq!(e.problem(), &Problem::StrPadding { nul_at: 6 });
}
