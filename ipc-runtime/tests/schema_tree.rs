//! Schema trees of derived types: their encoding round-trips with the type's own
//! fingerprint, two trees differ exactly when `first_difference` names a place, the
//! difference reads well for the edits people make, and the declaration shows the layout.

mod schema_types;

use ipc::schema::{SchemaError, SchemaTree};
use ipc::{FixedStr, Message};
use schema_types::cases;

#[test]
fn every_tree_round_trips_through_its_encoding_with_the_types_fingerprint() {
    for case in cases() {
        let t = &case.tree;
        assert_eq!(t.fingerprint(), case.fingerprint, "{}", case.name);
        assert_eq!(
            (t.size(), t.align()),
            (case.size, case.align),
            "{}",
            case.name
        );
        let bytes = t.encode();
        let back = SchemaTree::decode(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(&back, t, "{}", case.name);
        assert_eq!(back.fingerprint(), case.fingerprint, "{}", case.name);
        assert_eq!(back.encode(), bytes, "{}: one encoding per tree", case.name);
        assert_eq!(t.to_string(), back.to_string());
        assert_eq!(format!("{t:#}"), format!("{back:#}"));
    }
}

#[test]
fn trees_display_as_their_schemas_do() {
    for case in cases() {
        let schema = match case.name {
            "Order" => schema_types::Order::SCHEMA,
            "Deep" => schema_types::Deep::SCHEMA,
            "[Leg; 2]" => <[schema_types::Leg; 2]>::SCHEMA,
            "FixedStr<5>" => FixedStr::<5>::SCHEMA,
            _ => continue,
        };
        assert_eq!(format!("{:#}", case.tree), format!("{schema:#}"));
    }
}

#[test]
fn trees_differ_exactly_where_a_difference_is_named() {
    let cases = cases();
    for a in &cases {
        for b in &cases {
            let d = a.tree.first_difference(&b.tree);
            assert_eq!(
                d.is_none(),
                a.tree == b.tree,
                "{} vs {}: {d:?}",
                a.name,
                b.name
            );
            assert_eq!(
                d.is_none(),
                a.fingerprint == b.fingerprint,
                "{} vs {}",
                a.name,
                b.name
            );
        }
    }
}

#[test]
fn the_documented_order_takes_81_bytes() {
    #[derive(Clone, Copy, Debug, ipc::Message)]
    #[repr(u8)]
    enum Side {
        Buy = 1,
        Sell = 2,
    }
    #[derive(Clone, Copy, Debug, ipc::Message)]
    #[repr(C)]
    struct Order {
        id: u64,
        qty: u32,
        side: Side,
        _pad: [u8; 3],
        symbol: FixedStr<8>,
    }
    let _ = (Side::Buy, Side::Sell);
    let tree = SchemaTree::of::<Order>().unwrap();
    assert_eq!(tree.encode().len(), 81);
    assert_eq!(tree.encode_within(81).unwrap(), tree.encode());
    assert_eq!(
        tree.encode_within(80),
        Err(SchemaError::TooLarge {
            name: "Order".into(),
            needed: 81,
            budget: 80
        })
    );
}

/// Two versions of a type, as a program and its peer built from different sources
/// would have them.
mod v1 {
    use ipc::FixedStr;

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(u8)]
    pub enum Side {
        Buy = 1,
        Sell = 2,
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Leg {
        pub price: f64,
        pub qty: u32,
        pub side: Side,
        pub _pad: [u8; 3],
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub legs: [Leg; 4],
        pub symbol: FixedStr<16>,
        pub qty: u32,
        pub ask: u32,
    }
}

macro_rules! variant {
    ($name:ident { $($body:tt)* }) => {
        mod $name {
            #[allow(unused_imports)]
            use super::v1::{Leg, Side};
            use ipc::FixedStr;

            #[derive(Clone, Copy, ipc::Message)]
            #[repr(C)]
            pub struct Order { $($body)* }
        }
    };
}

variant!(retyped { pub id: u64, pub legs: [Leg; 4], pub symbol: FixedStr<16>, pub qty: u64 });
variant!(renamed { pub id: u64, pub legs: [Leg; 4], pub symbol: FixedStr<16>, pub qty: u32, pub offer: u32 });
variant!(added {
    pub id: u64, pub legs: [Leg; 4], pub symbol: FixedStr<16>, pub qty: u32, pub ask: u32,
    pub venue: u32, pub _pad: [u8; 4]
});
variant!(removed { pub id: u64, pub legs: [Leg; 4], pub symbol: FixedStr<16>, pub qty: u32, pub _pad: [u8; 4] });
variant!(longer { pub id: u64, pub legs: [Leg; 5], pub symbol: FixedStr<16>, pub qty: u32, pub ask: u32 });
variant!(wider_str { pub id: u64, pub legs: [Leg; 4], pub symbol: FixedStr<24>, pub qty: u32, pub ask: u32 });

mod more_sides {
    use ipc::FixedStr;

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(u8)]
    pub enum Side {
        Buy = 1,
        Sell = 2,
        Short = 3,
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Leg {
        pub price: f64,
        pub qty: u32,
        pub side: Side,
        pub _pad: [u8; 3],
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub legs: [Leg; 4],
        pub symbol: FixedStr<16>,
        pub qty: u32,
        pub ask: u32,
    }
}

mod renamed_type {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub id: u64,
    }
}

fn first_difference<A: Message, B: Message>() -> String {
    let (a, b) = (
        SchemaTree::of::<A>().unwrap(),
        SchemaTree::of::<B>().unwrap(),
    );
    assert_ne!(A::FINGERPRINT, B::FINGERPRINT);
    a.first_difference(&b).unwrap().to_string()
}

#[test]
fn the_first_difference_names_the_field_and_both_sides() {
    use v1::Order;
    assert_eq!(
        first_difference::<Order, retyped::Order>(),
        "`Order.qty`: u32 at offset 88 here, u64 at offset 88 there"
    );
    assert_eq!(
        first_difference::<Order, renamed::Order>(),
        "`Order.ask`: u32 at offset 92 here, `offer`: u32 at offset 92 there"
    );
    assert_eq!(
        first_difference::<Order, added::Order>(),
        "`Order.venue`: missing here, u32 at offset 96 there"
    );
    assert_eq!(
        first_difference::<Order, removed::Order>(),
        "`Order.ask`: u32 at offset 92 here, missing there"
    );
    assert_eq!(
        first_difference::<Order, longer::Order>(),
        "`Order.legs`: [Leg; 4] at offset 8 here, [Leg; 5] at offset 8 there"
    );
    assert_eq!(
        first_difference::<Order, wider_str::Order>(),
        "`Order.symbol`: FixedStr<16> at offset 72 here, FixedStr<24> at offset 72 there"
    );
    assert_eq!(
        first_difference::<Order, more_sides::Order>(),
        "`Order.legs[].side`: no `Side::Short` here, `Side::Short` = 3 there"
    );
    assert_eq!(
        first_difference::<more_sides::Order, Order>(),
        "`Order.legs[].side`: `Side::Short` = 3 here, no `Side::Short` there"
    );
    assert_eq!(
        first_difference::<renamed_type::Quote, u64>(),
        "`Quote`: Quote here, u64 there"
    );
    assert_eq!(
        first_difference::<Order, renamed_type::Quote>(),
        "`Order`: Order here, Quote there"
    );
    let d = SchemaTree::of::<Order>()
        .unwrap()
        .first_difference(&SchemaTree::of::<retyped::Order>().unwrap())
        .unwrap();
    assert_eq!(
        (d.path(), d.here(), d.there()),
        ("Order.qty", "u32 at offset 88", "u64 at offset 88")
    );
}

/// The type documented in DESIGN.md and in `Declaration`'s docs.
mod documented {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(u8)]
    pub enum Side {
        Buy = 1,
        Sell = 2,
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub price: f64,
        pub symbol: ipc::FixedStr<16>,
        pub qty: u32,
        pub side: Side,
        pub _pad: [u8; 3],
    }
}

#[test]
fn the_declaration_notes_the_layout_of_every_type_once() {
    let tree = SchemaTree::of::<documented::Order>().unwrap();
    assert_eq!(
        tree.declaration().to_string(),
        "\
/// 40 bytes, align 8, fingerprint 0xa09d10dc26e48e5c
#[repr(C)]
pub struct Order {
    /* offset  0, size  8, align 8 */ pub id: u64,
    /* offset  8, size  8, align 8 */ pub price: f64,
    /* offset 16, size 16, align 1 */ pub symbol: FixedStr<16>,
    /* offset 32, size  4, align 4 */ pub qty: u32,
    /* offset 36, size  1, align 1 */ pub side: Side,
    /* offset 37, size  3, align 1 */ pub _pad: [u8; 3],
}

/// 1 byte, align 1, fingerprint 0x1efeb4d189115083
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}
"
    );
    let deep = SchemaTree::of::<schema_types::Deep>().unwrap();
    let text = deep.declaration().to_string();
    for line in [
        "pub struct Deep {",
        "pub wrapped: [Gen; 2],",
        "pub r#type: Wrapper,",
        "pub struct Gen {",
        "pub a: [Pair; 2],",
        "pub struct Pair(",
        "pub struct Wrapper(",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    assert_eq!(text.matches("pub struct Pair(").count(), 1, "{text}");
}
