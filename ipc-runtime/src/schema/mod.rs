//! Self-describing schemas: the whole [`Schema`] of a message type as an owned tree that
//! can be written to bytes and read back, compared, printed, and used to read and write
//! messages without their Rust type.
//!
//! A [`SchemaTree`] holds what `T::SCHEMA` says — type names, field names and offsets,
//! sizes, alignments, primitive kinds, enum representations and discriminants, array
//! lengths, `FixedStr` capacities, nesting — as owned data. It is built from a type
//! ([`SchemaTree::of`]) or from the bytes of [`SchemaTree::encode`]
//! ([`SchemaTree::decode`]), and its [`fingerprint`](SchemaTree::fingerprint) is the
//! type's [`Message::FINGERPRINT`]. With it, a program that does not know the type can:
//!
//! - name the first difference between two versions of a type
//!   ([`SchemaTree::first_difference`]: "`Order.qty`: u32 at offset 32 here, u64 at offset
//!   32 there");
//! - turn a message's bytes into a [`Value`] (checked as [`Message::validate`] checks
//!   them), print it as `Order { id: 7, side: Buy, … }` or as JSON, and turn JSON back
//!   into bytes, with errors that name the field ([`ValueError`]);
//! - print the type as a Rust declaration with its layout ([`SchemaTree::declaration`]).
//!
//! ```
//! use ipc::schema::{SchemaTree, Value};
//! use ipc::{fixed_str, FixedStr, Message};
//!
//! #[derive(Clone, Copy, Debug, Message)]
//! #[repr(u8)]
//! enum Side { Buy = 1, Sell = 2 }
//!
//! #[derive(Clone, Copy, Debug, Message)]
//! #[repr(C)]
//! struct Order { id: u64, qty: u32, side: Side, _pad: [u8; 3], symbol: FixedStr<8> }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // One side describes its type in a few bytes; the other reads the description.
//! let wire = SchemaTree::of::<Order>()?.encode();
//! let tree = SchemaTree::decode(&wire)?;
//! assert_eq!(tree.fingerprint(), Order::FINGERPRINT);
//!
//! // It reads messages of that type without knowing `Order`...
//! let order = Order { id: 7, qty: 100, side: Side::Buy, _pad: [0; 3], symbol: fixed_str!("ACME") };
//! let value = Value::from_bytes(&tree, ipc::as_bytes(&order))?;
//! assert_eq!(
//!     value.to_string(),
//!     r#"Order { id: 7, qty: 100, side: Buy, _pad: [0, 0, 0], symbol: "ACME" }"#
//! );
//! assert_eq!(
//!     value.to_json(),
//!     r#"{"id":7,"qty":100,"side":"Buy","_pad":[0,0,0],"symbol":"ACME"}"#
//! );
//!
//! // ...writes them from JSON (padding fields, `_name: [u8; N]`, may be left out)...
//! let json = r#"{"id": 7, "qty": 100, "side": "Buy", "symbol": "ACME"}"#;
//! let bytes = Value::from_json(&tree, json)?.to_bytes(&tree)?;
//! assert_eq!(bytes, ipc::as_bytes(&order));
//!
//! // ...and says which field is wrong.
//! let err = Value::from_json(&tree, r#"{"id": 7, "qty": -1, "side": "Buy", "symbol": ""}"#);
//! assert_eq!(err.unwrap_err().to_string(), "`Order.qty`: -1 does not fit in u32");
//! # Ok(())
//! # }
//! ```
//!
//! # The encoding
//!
//! [`SchemaTree::encode`] writes [`FORMAT_VERSION`] (one byte), then the tree as a
//! pre-order walk, then the tree's fingerprint (8 bytes, little-endian), which
//! [`SchemaTree::decode`] recomputes and compares. Numbers are unsigned LEB128 varints
//! (`uN`; signed ones zigzag-encoded first, `sN`), always in their shortest form; a string
//! is its length in bytes (a varint) and its UTF-8; an alignment is one byte, its base-2
//! logarithm. Each node starts with a tag:
//!
//! | tag | node | then |
//! |---|---|---|
//! | 1 | primitive | kind (1 `u8`, 2 `u16`, 3 `u32`, 4 `u64`, 5 `u128`, 6 `i8`, 7 `i16`, 8 `i32`, 9 `i64`, 10 `i128`, 11 `f32`, 12 `f64`, 13 `bool`, 14 `char`: one byte), alignment |
//! | 2 | `[T; len]` | `len`, then the node of `T` |
//! | 3 | `FixedStr<capacity>` | `capacity` |
//! | 4 | struct | name, size, alignment, number of fields, then each field: name, offset, node |
//! | 5 | enum | name, representation (a primitive kind), alignment, number of variants, then each variant: name, discriminant (`sN`) |
//!
//! What follows from the others is not written: a primitive's name and size, an array's
//! size and alignment, an enum's size. A type used in several places is written in each
//! (no back-references), so decoding does work and allocates memory in proportion to the
//! input; the type of `Order` above takes 81 bytes.
//!
//! # What a tree guarantees
//!
//! Every `SchemaTree`, built from a type or decoded from bytes, passed these checks, so
//! the code reading messages with it never indexes out of bounds:
//!
//! - nesting is at most [`MAX_DEPTH`] deep; sizes are at most `isize::MAX`; alignments
//!   are powers of two, at most 2<sup>29</sup>, and divide the size;
//! - a struct's fields have distinct non-empty names, each lies inside the struct at an
//!   offset aligned for it, and the fields that are not zero-sized lie one after the other
//!   in declaration order and cover every byte (no padding, as the derive requires);
//! - an array's size is its length times its element's; an array of zero-sized elements
//!   holds at most 64 values in all (nothing to read, but each would be a [`Value`]);
//! - an enum's representation is an integer from `u8` to `i64`, its variants have
//!   distinct names and distinct discriminants that fit it;
//! - names hold no control characters.
//!
//! A type that fails them (nested deeper than [`MAX_DEPTH`], say, or a hand-written
//! [`Message`] with an unknown primitive) has no tree: [`SchemaTree::of`] says why.

pub(crate) mod block;
mod c;
mod check;
mod decl;
mod diff;
mod encoding;
mod json;
mod sample;
mod value;

use core::fmt;

use crate::error::Error;
use crate::message::{
    array_fingerprint, primitive_fingerprint, str_fingerprint, EnumFingerprint, Message, Schema,
    StructFingerprint,
};

pub use c::{c_header, write_c_header, CDeclaration};
pub use decl::Declaration;
pub use diff::Difference;
pub use encoding::FORMAT_VERSION;
pub use sample::AnySample;
pub use value::{Value, ValueError, ValueProblem};

/// The deepest nesting a tree may have: the top type is at depth 1, its fields and array
/// elements at depth 2, and so on.
pub const MAX_DEPTH: usize = 64;

/// The layout of a message type as an owned tree: a [`Schema`] that can cross a process
/// boundary as bytes ([`encode`](Self::encode), [`decode`](Self::decode)).
///
/// Every tree is consistent (see the [module docs](self)); its fields are read through
/// [`name`](Self::name), [`size`](Self::size), [`align`](Self::align) and
/// [`kind`](Self::kind). `Display` prints the type as Rust spells it (`Order`,
/// `[u32; 4]`, `FixedStr<16>`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchemaTree(Node);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Node {
    Primitive {
        primitive: Primitive,
        align: usize,
    },
    Array {
        element: Box<SchemaTree>,
        len: usize,
        /// `len` times the element's size, computed once.
        size: usize,
    },
    Str {
        capacity: usize,
    },
    Struct {
        name: String,
        size: usize,
        align: usize,
        fields: Vec<TreeField>,
    },
    Enum {
        name: String,
        repr: Primitive,
        align: usize,
        variants: Vec<TreeVariant>,
    },
}

/// What a [`SchemaTree`] describes, borrowed from it ([`SchemaTree::kind`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TreeKind<'a> {
    /// An integer, a float, `bool` or `char`.
    Primitive(Primitive),
    /// `[element; len]`.
    Array {
        /// The element's tree.
        element: &'a SchemaTree,
        /// The number of elements.
        len: usize,
    },
    /// `FixedStr<capacity>`: UTF-8, NUL-padded.
    Str {
        /// Capacity in bytes.
        capacity: usize,
    },
    /// A `#[repr(C)]` or `#[repr(transparent)]` struct.
    Struct {
        /// Fields in declaration order.
        fields: &'a [TreeField],
    },
    /// A fieldless enum with an integer representation.
    Enum {
        /// The representation.
        repr: Primitive,
        /// Variants in declaration order.
        variants: &'a [TreeVariant],
    },
}

/// One field of a struct [`SchemaTree`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TreeField {
    name: String,
    offset: usize,
    tree: SchemaTree,
}

impl TreeField {
    /// The field's name (`"0"`, `"1"`, ... in a tuple struct).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its byte offset from the start of the struct.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Its type.
    pub fn tree(&self) -> &SchemaTree {
        &self.tree
    }

    /// True if the derive treats the field as padding (`#[ipc(new)]` zeroes it): it is
    /// named `_…` and its type is `[u8; N]`. JSON may leave such a field out.
    pub fn is_padding(&self) -> bool {
        self.name.starts_with('_')
            && matches!(&self.tree.0, Node::Array { element, .. }
                if element.0 == Node::Primitive { primitive: Primitive::U8, align: 1 })
    }
}

/// One variant of an enum [`SchemaTree`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TreeVariant {
    name: String,
    value: i128,
}

impl TreeVariant {
    /// The variant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its discriminant.
    pub fn value(&self) -> i128 {
        self.value
    }
}

/// The primitive types a message is made of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is the type of its name
pub enum Primitive {
    U8,
    U16,
    U32,
    U64,
    U128,
    I8,
    I16,
    I32,
    I64,
    I128,
    F32,
    F64,
    Bool,
    Char,
}

impl Primitive {
    const ALL: [Primitive; 14] = [
        Primitive::U8,
        Primitive::U16,
        Primitive::U32,
        Primitive::U64,
        Primitive::U128,
        Primitive::I8,
        Primitive::I16,
        Primitive::I32,
        Primitive::I64,
        Primitive::I128,
        Primitive::F32,
        Primitive::F64,
        Primitive::Bool,
        Primitive::Char,
    ];

    /// The type's name as Rust spells it (`"u32"`, `"bool"`).
    pub fn name(self) -> &'static str {
        match self {
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::U128 => "u128",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::I64 => "i64",
            Primitive::I128 => "i128",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
            Primitive::Bool => "bool",
            Primitive::Char => "char",
        }
    }

    /// Its size in bytes.
    pub fn size(self) -> usize {
        match self {
            Primitive::U8 | Primitive::I8 | Primitive::Bool => 1,
            Primitive::U16 | Primitive::I16 => 2,
            Primitive::U32 | Primitive::I32 | Primitive::F32 | Primitive::Char => 4,
            Primitive::U64 | Primitive::I64 | Primitive::F64 => 8,
            Primitive::U128 | Primitive::I128 => 16,
        }
    }

    /// The primitive named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The smallest and largest values of an integer primitive, widened; `None` for a
    /// float, `bool` or `char`.
    pub fn int_range(self) -> Option<(i128, u128)> {
        Some(match self {
            Primitive::U8 => (0, u8::MAX.into()),
            Primitive::U16 => (0, u16::MAX.into()),
            Primitive::U32 => (0, u32::MAX.into()),
            Primitive::U64 => (0, u64::MAX.into()),
            Primitive::U128 => (0, u128::MAX),
            Primitive::I8 => (i8::MIN.into(), i8::MAX as u128),
            Primitive::I16 => (i16::MIN.into(), i16::MAX as u128),
            Primitive::I32 => (i32::MIN.into(), i32::MAX as u128),
            Primitive::I64 => (i64::MIN.into(), i64::MAX as u128),
            Primitive::I128 => (i128::MIN, i128::MAX as u128),
            _ => return None,
        })
    }

    /// Its code in the encoding (1 to 14).
    fn code(self) -> u8 {
        Self::ALL
            .iter()
            .position(|&p| p == self)
            .map_or(0, |i| i as u8 + 1)
    }

    fn from_code(code: u8) -> Option<Primitive> {
        Self::ALL.get(usize::from(code).checked_sub(1)?).copied()
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl SchemaTree {
    /// The tree of `T`'s schema.
    ///
    /// # Errors
    ///
    /// [`SchemaError`] if the schema fails a check of the [module docs](self): nested
    /// deeper than [`MAX_DEPTH`], an array of too many zero-sized values, or a
    /// hand-written [`Message`] whose schema is not one the derive makes.
    pub fn of<T: Message>() -> Result<SchemaTree, SchemaError> {
        Self::from_schema(&T::SCHEMA)
    }

    /// The tree of `schema`; see [`SchemaTree::of`].
    ///
    /// # Errors
    ///
    /// As [`SchemaTree::of`].
    pub fn from_schema(schema: &Schema) -> Result<SchemaTree, SchemaError> {
        let mut path = check::Path::new();
        check::from_schema(schema, &mut path, 1)
    }

    /// The schema name: a struct's or enum's name, `"array"`, `"FixedStr"`, or the
    /// primitive's (`"u32"`).
    pub fn name(&self) -> &str {
        match &self.0 {
            Node::Primitive { primitive, .. } => primitive.name(),
            Node::Array { .. } => "array",
            Node::Str { .. } => "FixedStr",
            Node::Struct { name, .. } | Node::Enum { name, .. } => name,
        }
    }

    /// `size_of` the type, in bytes.
    pub fn size(&self) -> usize {
        match &self.0 {
            Node::Primitive { primitive, .. } => primitive.size(),
            Node::Array { size, .. } | Node::Struct { size, .. } => *size,
            Node::Str { capacity } => *capacity,
            Node::Enum { repr, .. } => repr.size(),
        }
    }

    /// `align_of` the type, in bytes.
    pub fn align(&self) -> usize {
        match &self.0 {
            Node::Primitive { align, .. }
            | Node::Struct { align, .. }
            | Node::Enum { align, .. } => *align,
            Node::Array { element, .. } => element.align(),
            Node::Str { .. } => 1,
        }
    }

    /// What kind of type it is, with its fields, element or variants.
    pub fn kind(&self) -> TreeKind<'_> {
        match &self.0 {
            Node::Primitive { primitive, .. } => TreeKind::Primitive(*primitive),
            Node::Array { element, len, .. } => TreeKind::Array { element, len: *len },
            Node::Str { capacity } => TreeKind::Str {
                capacity: *capacity,
            },
            Node::Struct { fields, .. } => TreeKind::Struct { fields },
            Node::Enum { repr, variants, .. } => TreeKind::Enum {
                repr: *repr,
                variants,
            },
        }
    }

    /// A struct's fields, or an empty slice for other kinds.
    pub fn fields(&self) -> &[TreeField] {
        match &self.0 {
            Node::Struct { fields, .. } => fields,
            _ => &[],
        }
    }

    /// The fingerprint: equal to [`Schema::fingerprint`] of the schema the tree was made
    /// from, on either side of an [`encode`](Self::encode) and [`decode`](Self::decode).
    pub fn fingerprint(&self) -> u64 {
        match &self.0 {
            Node::Primitive { primitive, align } => {
                primitive_fingerprint(primitive.name(), primitive.size(), *align)
            }
            Node::Array { element, len, .. } => array_fingerprint(element.fingerprint(), *len),
            Node::Str { capacity } => str_fingerprint(*capacity),
            Node::Struct {
                name,
                size,
                align,
                fields,
            } => fields
                .iter()
                .fold(
                    StructFingerprint::new(name, *size, *align, fields.len()),
                    |h, f| h.field(&f.name, f.offset, f.tree.fingerprint()),
                )
                .finish(),
            Node::Enum {
                name,
                repr,
                align,
                variants,
            } => {
                let repr = primitive_fingerprint(repr.name(), repr.size(), *align);
                variants
                    .iter()
                    .fold(EnumFingerprint::new(name, repr, variants.len()), |h, v| {
                        h.variant(&v.name, v.value)
                    })
                    .finish()
            }
        }
    }

    /// How deep the tree nests: 1 for a primitive, 2 for an array of them, ...
    pub fn depth(&self) -> usize {
        1 + match &self.0 {
            Node::Array { element, .. } => element.depth(),
            Node::Struct { fields, .. } => fields.iter().map(|f| f.tree.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Rust's spelling of the type (`Order`, `[u32; 4]`, `FixedStr<16>`); the alternate form
/// (`{:#}`) adds size, alignment, fingerprint and the fields, as [`Schema`]'s does.
impl fmt::Display for SchemaTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Node::Array { element, len, .. } => write!(f, "[{element}; {len}]")?,
            Node::Str { capacity } => write!(f, "FixedStr<{capacity}>")?,
            _ => f.write_str(self.name())?,
        }
        if f.alternate() {
            write!(
                f,
                " ({} bytes, align {}, fingerprint {:#018x})",
                self.size(),
                self.align(),
                self.fingerprint()
            )?;
            for field in self.fields() {
                write!(f, "\n  {:>5}  {}: {}", field.offset, field.name, field.tree)?;
            }
        }
        Ok(())
    }
}

/// A schema tree could not be decoded, built or encoded.
///
/// Decoding errors say where in the input the problem lies (`at`, a byte offset) or, for
/// a well-formed but inconsistent tree, which type or field (`path`, `Order.legs[].qty`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The input ends before the tree does.
    #[error("schema encoding truncated: it ends at byte {at}, in the middle of {what}")]
    Truncated {
        /// The input's length.
        at: usize,
        /// What was being read.
        what: &'static str,
    },

    /// The first byte is not a format version this build reads.
    #[error(
        "schema encoding of version {found}, which this build does not read (it reads version {FORMAT_VERSION}); \
         upgrade this program"
    )]
    Version {
        /// The version found.
        found: u8,
    },

    /// The bytes do not follow the format.
    #[error("malformed schema encoding at byte {at}: {problem}")]
    Malformed {
        /// The offset of the byte at fault.
        at: usize,
        /// What is wrong.
        problem: String,
    },

    /// The tree nests deeper than [`MAX_DEPTH`].
    #[error("schema nests deeper than {MAX_DEPTH} levels at `{path}`")]
    TooDeep {
        /// The path of the node that is too deep.
        path: String,
    },

    /// The tree is well-formed but describes no valid layout (a field outside its struct,
    /// an array of the wrong size, an enum discriminant that does not fit its repr, ...).
    #[error("inconsistent schema at `{path}`: {problem}")]
    Inconsistent {
        /// The path of the type or field at fault (`Order`, `Order.qty`).
        path: String,
        /// What is wrong.
        problem: String,
    },

    /// The fingerprint stored after the tree is not the tree's.
    #[error(
        "schema encoding damaged: the tree's fingerprint is {computed:#018x}, the one stored \
         after it is {stored:#018x}"
    )]
    Fingerprint {
        /// The fingerprint stored in the encoding.
        stored: u64,
        /// The fingerprint of the decoded tree.
        computed: u64,
    },

    /// [`SchemaTree::encode_within`]: the encoding needs more bytes than allowed.
    #[error(
        "the schema of `{name}` takes {needed} bytes to encode, more than the {budget} allowed"
    )]
    TooLarge {
        /// The tree's type.
        name: String,
        /// The encoding's length.
        needed: usize,
        /// The budget given.
        budget: usize,
    },
}

/// A schema that is too large for its budget is [`Error::LimitExceeded`]; any other is
/// [`Error::Corrupt`], as a peer's description of its type that cannot be read is.
impl From<SchemaError> for Error {
    fn from(e: SchemaError) -> Error {
        match e {
            SchemaError::TooLarge {
                name,
                needed,
                budget,
            } => Error::LimitExceeded {
                limit: "the byte budget of an encoded schema",
                value: budget as u64,
                hint: format!(
                    "the schema of `{name}` takes {needed} bytes; give it more room, or send a \
                     smaller type"
                ),
            },
            e => Error::Corrupt(e.to_string()),
        }
    }
}

/// "1 byte", "40 bytes".
fn bytes(n: usize) -> String {
    if n == 1 {
        "1 byte".to_owned()
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests;
