//! The message types the schema tests run on: nested structs, enums of every repr, arrays
//! of structs and of arrays, `FixedStr`, tuple, unit, transparent and generic structs, a
//! pinned schema name, 128-bit integers, a zero-sized field. Each is a [`Case`]: its tree
//! and what its Rust type says, to compare the tree's answers with.

#![allow(dead_code)]

use std::fmt::Debug;

use ipc::schema::{Primitive, SchemaTree, TreeKind};
use ipc::{FixedStr, InvalidMessage, Message};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(u8)]
pub enum E8 {
    A = 1,
    B = 2,
    C = 255,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(u16)]
pub enum E16 {
    A = 0,
    B = 1000,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(u32)]
pub enum E32 {
    A,
    B,
    C,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(u64)]
pub enum E64 {
    Small = 0,
    Big = u64::MAX,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(i8)]
pub enum I8e {
    Neg = -128,
    Zero = 0,
    Pos = 127,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(i16)]
pub enum I16e {
    A = -300,
    B = 300,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(i32)]
pub enum I32e {
    Min = i32::MIN,
    Max = i32::MAX,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(i64)]
pub enum I64e {
    Min = i64::MIN,
    MinusOne = -1,
    Max = i64::MAX,
}

/// Every enum, side by side.
#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Enums {
    pub e64: E64,
    pub i64e: I64e,
    pub e32: E32,
    pub i32e: I32e,
    pub e16: E16,
    pub i16e: I16e,
    pub e8: E8,
    pub i8e: I8e,
    pub _pad: [u8; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Leg {
    pub price: f64,
    pub qty: u32,
    pub side: E8,
    pub flag: bool,
    pub _pad: [u8; 2],
}

/// Nested structs, an array of structs, a string, a char.
#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Order {
    pub id: u64,
    pub legs: [Leg; 3],
    pub symbol: FixedStr<12>,
    pub note: char,
    pub kind: E32,
    pub level: I16e,
    pub _pad: [u8; 2],
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Pair(pub u32, pub i32);

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Gen<T> {
    pub a: T,
    pub b: T,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
#[ipc(name = "market.Quote")]
pub struct QuoteV2 {
    pub bid: f32,
    pub ask: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Wide {
    pub a: u128,
    pub b: i128,
    pub c: [u128; 2],
}

/// Arrays of arrays, of strings, of enums.
#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Grid {
    pub cells: [[i16; 3]; 2],
    pub names: [FixedStr<4>; 2],
    pub sides: [E8; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(transparent)]
pub struct Wrapper(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Unit;

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct WithZst {
    pub a: u32,
    pub z: [u8; 0],
    pub unit: Unit,
}

/// Every primitive.
#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Prims {
    pub k: f64,
    pub i: u64,
    pub j: i64,
    pub e: u32,
    pub f: i32,
    pub g: f32,
    pub h: char,
    pub c: u16,
    pub d: i16,
    pub a: u8,
    pub b: i8,
    pub l: bool,
    pub _pad: [u8; 1],
}

/// Three levels of nesting, each a different kind.
#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
pub struct Deep {
    pub wrapped: [Gen<[Pair; 2]>; 2],
    pub r#type: Wrapper,
}

/// A type and what its Rust definition says.
pub struct Case {
    pub name: &'static str,
    pub tree: SchemaTree,
    pub fingerprint: u64,
    pub size: usize,
    pub align: usize,
    pub validate: fn(&[u8]) -> Result<(), InvalidMessage>,
    /// `format!("{:?}")` of the value the bytes are, under the schema name.
    pub debug: fn(&[u8]) -> String,
}

fn debug<T: Message + Debug>(bytes: &[u8]) -> String {
    format!("{:?}", ipc::from_bytes::<T>(bytes).unwrap())
}

fn case<T: Message + Debug>(name: &'static str) -> Case {
    Case {
        name,
        tree: SchemaTree::of::<T>().unwrap(),
        fingerprint: T::FINGERPRINT,
        size: size_of::<T>(),
        align: align_of::<T>(),
        validate: T::validate,
        debug: debug::<T>,
    }
}

pub fn cases() -> Vec<Case> {
    let mut quote = case::<QuoteV2>("QuoteV2");
    quote.debug = |b| debug::<QuoteV2>(b).replacen("QuoteV2", "market.Quote", 1);
    vec![
        case::<Order>("Order"),
        case::<Enums>("Enums"),
        case::<Leg>("Leg"),
        case::<Pair>("Pair"),
        case::<Gen<u16>>("Gen<u16>"),
        case::<Gen<Pair>>("Gen<Pair>"),
        case::<Gen<[E16; 2]>>("Gen<[E16; 2]>"),
        quote,
        case::<Wide>("Wide"),
        case::<Grid>("Grid"),
        case::<Wrapper>("Wrapper"),
        case::<Unit>("Unit"),
        case::<WithZst>("WithZst"),
        case::<Prims>("Prims"),
        case::<Deep>("Deep"),
        case::<E64>("E64"),
        case::<I8e>("I8e"),
        case::<[Leg; 2]>("[Leg; 2]"),
        case::<FixedStr<5>>("FixedStr<5>"),
        case::<char>("char"),
        case::<[[bool; 2]; 3]>("[[bool; 2]; 3]"),
    ]
}

/// Bytes of a valid value of `tree`, any of them: every bit pattern of the numbers (NaNs
/// with payloads included), every variant, any `char`, strings of up to the capacity.
pub fn valid_bytes(tree: &SchemaTree) -> BoxedStrategy<Vec<u8>> {
    match tree.kind() {
        TreeKind::Primitive(Primitive::Bool) => any::<bool>().prop_map(|b| vec![b.into()]).boxed(),
        TreeKind::Primitive(Primitive::Char) => any::<char>()
            .prop_map(|c| u32::from(c).to_ne_bytes().to_vec())
            .boxed(),
        TreeKind::Primitive(p) => prop::collection::vec(any::<u8>(), p.size()).boxed(),
        TreeKind::Array { element, len } => prop::collection::vec(valid_bytes(element), len)
            .prop_map(|parts| parts.concat())
            .boxed(),
        TreeKind::Str { capacity } => "[a-zA-Z0-9 é€😀\"\\\\\n]{0,8}"
            .prop_map(move |s| {
                let mut b = FixedStr::<64>::truncating(&s).as_str().as_bytes().to_vec();
                while b.len() > capacity || core::str::from_utf8(&b).is_err() {
                    b.pop();
                }
                b.resize(capacity, 0);
                b
            })
            .boxed(),
        TreeKind::Struct { fields } => fields
            .iter()
            .map(|f| valid_bytes(f.tree()))
            .collect::<Vec<_>>()
            .prop_map(|parts| parts.concat())
            .boxed(),
        TreeKind::Enum { repr, variants } => {
            let values: Vec<i128> = variants.iter().map(|v| v.value()).collect();
            let size = repr.size();
            prop::sample::select(values)
                .prop_map(move |v| {
                    let le = v.to_le_bytes();
                    let mut b = le[..size].to_vec();
                    if cfg!(target_endian = "big") {
                        b.reverse();
                    }
                    b
                })
                .boxed()
        }
        _ => unreachable!("a kind the tests do not know"),
    }
}
