//! `#[ipc(new)]`: the generated `const fn new` takes the real fields in declaration order
//! and zeroes the padding (fields named `_…` of type `[u8; N]`, and fields marked
//! `#[ipc(pad)]`).

use ipc::{as_bytes, fixed_str, FixedStr, Message};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(size = 40, align = 8, new)]
struct Order {
    id: u64,
    price: f64,
    symbol: FixedStr<16>,
    qty: u32,
    side: Side,
    _pad: [u8; 3],
}

#[test]
fn new_takes_the_fields_in_order_and_zeroes_the_padding() {
    let order = Order::new(7, 101.25, fixed_str!("ACME"), 100, Side::Sell);
    assert_eq!(
        order,
        Order {
            id: 7,
            price: 101.25,
            symbol: "ACME".try_into().unwrap(),
            qty: 100,
            side: Side::Sell,
            _pad: [0; 3],
        }
    );
    assert_eq!(as_bytes(&order)[37..], [0, 0, 0]);
}

#[test]
fn new_is_const() {
    const ORDER: Order = Order::new(1, 2.5, FixedStr::from_static("XNYS"), 3, Side::Buy);
    assert_eq!((ORDER.id, ORDER.qty, ORDER.side), (1, 3, Side::Buy));
    assert_eq!(ORDER.symbol, "XNYS");
}

/// Several padding fields; `#[ipc(pad)]` on a type other than a byte array; a field named
/// `_…` that is not a byte array (so not padding); a raw identifier.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(new)]
struct Frame {
    kind: u8,
    _pad0: [u8; 1],
    r#type: u16,
    #[ipc(pad)]
    reserved: u32,
    _flags: u32,
    _pad1: [core::primitive::u8; 4],
    #[ipc(pad)]
    spare: [u64; 2],
}

#[test]
fn padding_is_named_or_marked_and_everything_else_is_a_parameter() {
    let frame = Frame::new(9, 0x0102, 0xdead_beef);
    assert_eq!(
        (frame.kind, frame.r#type, frame._flags),
        (9, 0x0102, 0xdead_beef)
    );
    assert_eq!(
        (frame._pad0, frame.reserved, frame._pad1, frame.spare),
        ([0], 0, [0; 4], [0; 2])
    );
    assert_eq!(core::mem::size_of::<Frame>(), 32);
    let zero_at = [1usize, 4, 5, 6, 7, 12, 13, 14, 15];
    for i in zero_at.into_iter().chain(16..32) {
        assert_eq!(as_bytes(&frame)[i], 0, "byte {i}");
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(new)]
struct Sample<T, const N: usize> {
    at: u64,
    values: [T; N],
    #[ipc(pad)]
    tail: [T; 2],
}

#[test]
fn generic_structs_get_a_constructor_for_every_instantiation() {
    let s = Sample::<u32, 2>::new(5, [1, 2]);
    assert_eq!((s.at, s.values, s.tail), (5, [1, 2], [0, 0]));
    let f = Sample::<f64, 1>::new(6, [0.5]);
    assert_eq!((f.at, f.values, f.tail), (6, [0.5], [0.0, 0.0]));
    assert_eq!(Sample::<u64, 0>::new(7, []).tail, [0; 2]);
}

mod inner {
    /// `new` has the struct's visibility: `pub(crate)` here, so callable from outside
    /// this module.
    #[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
    #[repr(C)]
    #[ipc(new, crate = "ipc")]
    pub(crate) struct Tick {
        pub(crate) at: u64,
        seq: u32,
        _pad: [u8; 4],
    }

    impl Tick {
        pub(crate) fn seq(&self) -> u32 {
            self.seq
        }
    }
}

#[test]
fn new_has_the_struct_visibility_and_honours_the_crate_path() {
    let tick = inner::Tick::new(10, 11);
    assert_eq!((tick.at, tick.seq()), (10, 11));
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(new)]
struct OnlyPadding {
    _pad: [u8; 8],
}

#[test]
fn a_struct_of_padding_only_has_new_without_parameters() {
    assert_eq!(OnlyPadding::new(), OnlyPadding { _pad: [0; 8] });
}
