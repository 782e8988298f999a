//! The fingerprint covers exactly the schema: field names, types, order and count, and
//! the schema name; nothing else (module path, crate, build, compiler).
//!
//! Each property compares two declarations that differ in one respect, written in their
//! own modules so they can share a name.

use ipc::{Field, Message, Schema};

mod base {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
        pub ask: u32,
    }
}

mod renamed_field {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
        pub offer: u32,
    }
}

mod retyped_field {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
        pub ask: i32,
    }
}

mod reordered_fields {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub ask: u32,
        pub bid: u32,
    }
}

mod added_field {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
        pub ask: u32,
        pub size: u32,
        pub _pad: [u8; 4],
    }
}

mod removed_field {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
    }
}

mod renamed_type {
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Price {
        pub bid: u32,
        pub ask: u32,
    }
}

mod same_layout_elsewhere {
    /// Same name and fields as `base::Quote`, declared in another module.
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    pub struct Quote {
        pub bid: u32,
        pub ask: u32,
    }
}

mod pinned_name {
    /// Renamed in Rust, but the schema name pins the old one.
    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    #[ipc(name = "Quote")]
    pub struct QuoteV2 {
        pub bid: u32,
        pub ask: u32,
    }

    #[derive(Clone, Copy, ipc::Message)]
    #[repr(C)]
    #[ipc(name = "market.Quote")]
    pub struct Quote {
        pub bid: u32,
        pub ask: u32,
    }
}

mod nested {
    pub mod v1 {
        #[derive(Clone, Copy, ipc::Message)]
        #[repr(u8)]
        pub enum Side {
            Buy = 1,
            Sell = 2,
        }
        #[derive(Clone, Copy, ipc::Message)]
        #[repr(C)]
        pub struct Fill {
            pub qty: u8,
            pub side: Side,
        }
    }
    pub mod v2 {
        #[derive(Clone, Copy, ipc::Message)]
        #[repr(u8)]
        pub enum Side {
            Buy = 1,
            Sell = 2,
            Short = 3,
        }
        #[derive(Clone, Copy, ipc::Message)]
        #[repr(C)]
        pub struct Fill {
            pub qty: u8,
            pub side: Side,
        }
    }
}

const BASE: u64 = base::Quote::FINGERPRINT;

#[test]
fn changes_when_a_field_is_renamed() {
    assert_ne!(renamed_field::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_a_field_is_retyped() {
    assert_ne!(retyped_field::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_fields_are_reordered() {
    assert_ne!(reordered_fields::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_a_field_is_added() {
    assert_ne!(added_field::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_a_field_is_removed() {
    assert_ne!(removed_field::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_the_schema_name_changes() {
    assert_ne!(renamed_type::Price::FINGERPRINT, BASE);
    assert_ne!(pinned_name::Quote::FINGERPRINT, BASE);
}

#[test]
fn changes_when_a_nested_type_changes() {
    assert_ne!(nested::v1::Side::FINGERPRINT, nested::v2::Side::FINGERPRINT);
    assert_ne!(nested::v1::Fill::FINGERPRINT, nested::v2::Fill::FINGERPRINT);
}

#[test]
fn identical_for_the_same_layout_in_two_modules() {
    assert_eq!(same_layout_elsewhere::Quote::FINGERPRINT, BASE);
    assert_eq!(same_layout_elsewhere::Quote::SCHEMA, base::Quote::SCHEMA);
}

#[test]
fn identical_when_a_renamed_type_pins_its_schema_name() {
    assert_eq!(pinned_name::QuoteV2::FINGERPRINT, BASE);
}

#[test]
fn depends_only_on_the_schema() {
    // A schema written by hand, with no Rust type behind it, hashes the same: nothing
    // from the type's path, crate or compiler enters the fingerprint.
    const FIELDS: &[Field] = &[
        Field::new("bid", 0, &u32::SCHEMA),
        Field::new("ask", 4, &u32::SCHEMA),
    ];
    const BY_HAND: Schema = Schema::structure("Quote", 8, 4, FIELDS);
    assert_eq!(BY_HAND.fingerprint(), BASE);
}

/// The type documented in DESIGN.md.
#[derive(Clone, Copy, ipc::Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

/// The type documented in DESIGN.md.
#[derive(Clone, Copy, ipc::Message)]
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

#[test]
fn is_pinned_for_the_documented_order_type() {
    // This value is part of the wire contract: programs built from any version of `ipc`
    // with this definition of `Order` must agree on it. If it changes, the fingerprint
    // function changed, and every deployed peer would refuse the new build.
    assert_eq!(Side::FINGERPRINT, 0x1efe_b4d1_8911_5083);
    assert_eq!(Order::FINGERPRINT, 0xa09d_10dc_26e4_8e5c);
}
