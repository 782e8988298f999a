//! The message types the fuzz targets decode, and what several targets check.
//!
//! The types have every field kind whose bit patterns can be invalid (enums of several
//! representations with gaps and negative discriminants, `bool`, `char`, `FixedStr`,
//! nested messages and arrays of them), so a decoder has something to refuse.

use ipc::{FixedStr, Message};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Message)]
#[repr(u8)]
pub enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Message)]
#[repr(i16)]
pub enum Level {
    Low = -3,
    Mid = 0,
    High = 700,
}

/// A message of 40 bytes: a short stream record.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Order {
    pub id: u64,
    pub price: f64,
    pub qty: u32,
    pub mark: char,
    pub side: Side,
    pub live: bool,
    pub level: Level,
    pub flags: [bool; 4],
    pub symbol: FixedStr<8>,
}

/// An element of a slice: 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Tick {
    pub price: u32,
    pub side: Side,
    pub ok: bool,
    pub _pad: [u8; 2],
}

/// A page-sized message (4092 bytes): it travels bare on a stream unless it begins like
/// a record header.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Page {
    pub seq: u32,
    pub side: Side,
    pub live: bool,
    pub _pad: [u8; 2],
    pub body: [u8; 4084],
}

/// A message longer than an atomic write (5008 bytes): a sealed stream record.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Big {
    pub order: Order,
    pub ticks: [Tick; 2],
    pub text: FixedStr<4952>,
}

/// Floats (NaNs, infinities, negative zero), a 128-bit integer and a `char`.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Wide {
    pub big: i128,
    pub x: f64,
    pub y: f32,
    pub c: char,
}

/// The first `N` bytes of `data` (zero-padded) and the rest.
pub fn take<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0; N];
    let n = data.len().min(N);
    head[..n].copy_from_slice(&data[..n]);
    (head, &data[n..])
}

/// Checks a message a decoder returned: it is a valid `T` by `T`'s own check, and its
/// bytes read back as the same bytes.
pub fn check_valid<T: Message>(msg: &T) {
    let bytes = ipc::as_bytes(msg);
    T::validate(bytes).expect("a decoder returned a message that does not validate");
    let again = ipc::from_bytes::<T>(bytes).expect("from_bytes refused a valid message");
    assert_eq!(ipc::as_bytes(&again), bytes);
}

/// A valid value of a type, to start from.
pub trait Sample: Message {
    fn sample() -> Self;
}

impl Sample for Order {
    fn sample() -> Self {
        Order {
            id: 7,
            price: 101.25,
            qty: 100,
            mark: 'é',
            side: Side::Buy,
            live: true,
            level: Level::High,
            flags: [true, false, true, false],
            symbol: ipc::fixed_str!("ACME"),
        }
    }
}

impl Sample for Tick {
    fn sample() -> Self {
        Tick {
            price: 42,
            side: Side::Sell,
            ok: true,
            _pad: [0; 2],
        }
    }
}

impl Sample for Page {
    fn sample() -> Self {
        Page {
            seq: 1,
            side: Side::Sell,
            live: false,
            _pad: [0; 2],
            body: [b'p'; 4084],
        }
    }
}

impl Sample for Big {
    fn sample() -> Self {
        Big {
            order: Order::sample(),
            ticks: [Tick::sample(); 2],
            text: ipc::fixed_str!("a long message"),
        }
    }
}
