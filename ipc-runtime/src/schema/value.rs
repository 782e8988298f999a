//! [`Value`]: a message read with a [`SchemaTree`] instead of its Rust type, from bytes
//! and back, and printed in a readable line; [`ValueError`] names the field at fault.

use core::fmt;

use super::{Node, Primitive, SchemaTree, TreeField};

/// A message, or a part of one, read with a [`SchemaTree`] instead of its Rust type.
///
/// Integers keep their width and sign, floats their bits (NaN payloads and `-0.0`
/// included), so [`Value::from_bytes`] then [`Value::to_bytes`] gives back the same bytes
/// for every valid message. `Display` prints it as `#[derive(Debug)]` prints the Rust
/// value: `Order { id: 7, side: Buy, symbol: "ACME", legs: [1.5, 2.0] }`, `Pair(1, 2)`.
///
/// `PartialEq` compares floats as floats (`NaN != NaN`); compare the bytes to compare
/// messages.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[allow(missing_docs)] // each primitive variant holds the type of its name
pub enum Value {
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    U128(u128),
    I8(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    I128(i128),
    F32(f32),
    F64(f64),
    Bool(bool),
    Char(char),
    /// A `FixedStr`'s text.
    Str(String),
    /// An enum value: the variant's name.
    Enum(String),
    /// An array's elements.
    Array(Vec<Value>),
    /// A struct: its schema name and its fields in declaration order.
    Struct {
        /// The schema name.
        name: String,
        /// The fields, by name, in declaration order.
        fields: Vec<(String, Value)>,
    },
}

/// A value does not fit its schema tree: bytes that are not a valid message, or a
/// [`Value`] or JSON that does not match the type.
///
/// `Display` reads "`Order.qty`: 70000 does not fit in u16": the path of the field at
/// fault (the top type's name, `.field`, `[index]`), then the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    path: String,
    problem: ValueProblem,
}

/// What is wrong in a [`ValueError`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueProblem {
    /// The bytes are not as long as the type.
    Length {
        /// The type's size.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A `bool` byte other than 0 or 1.
    Bool(u8),
    /// A `char` that is not a Unicode scalar value.
    Char(u32),
    /// `FixedStr` bytes that are not UTF-8.
    Utf8 {
        /// Length of the longest valid prefix.
        valid_up_to: usize,
    },
    /// A `FixedStr` with a non-NUL byte after its first NUL.
    StrPadding {
        /// Index of the first NUL.
        nul_at: usize,
    },
    /// An integer that is not the discriminant of any variant.
    Discriminant {
        /// The enum's name.
        enum_name: String,
        /// The value found.
        value: i128,
    },
    /// A value of another type than the schema's.
    Type {
        /// The schema's type (`u16`, `[u8; 4]`, `FixedStr<8>`, `Order`).
        expected: String,
        /// What was given instead.
        found: String,
    },
    /// A number outside its type's range (or a float too large for it).
    OutOfRange {
        /// The number as given.
        value: String,
        /// The type.
        ty: &'static str,
    },
    /// A number with a fraction or an exponent where an integer is expected.
    NotInteger(String),
    /// A name that is none of the enum's variants.
    UnknownVariant {
        /// The name given.
        name: String,
        /// The enum's name.
        enum_name: String,
        /// Its variants.
        variants: Vec<String>,
    },
    /// A field the struct does not have (the path ends with its name).
    UnknownField {
        /// The struct's name.
        struct_name: String,
        /// Its fields.
        fields: Vec<String>,
    },
    /// A field that is not given (the path ends with its name).
    MissingField {
        /// Its type.
        expected: String,
    },
    /// A field given twice.
    DuplicateField,
    /// A string longer than its `FixedStr`'s capacity.
    TooLong {
        /// The string's length in bytes.
        len: usize,
        /// The capacity.
        capacity: usize,
    },
    /// A string that holds a NUL byte, which would end it early in a `FixedStr`.
    Nul {
        /// Its position.
        at: usize,
    },
    /// An array with another number of elements than its type's.
    ArrayLength {
        /// The type's length.
        expected: usize,
        /// The number given.
        found: usize,
    },
    /// The text is not JSON (the error's path is empty).
    Syntax {
        /// The line of the fault, from 1.
        line: usize,
        /// Its column in characters, from 1.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

impl ValueError {
    pub(crate) fn new(path: String, problem: ValueProblem) -> Self {
        ValueError { path, problem }
    }

    /// The path of the field at fault (`Order.legs[2].price`), empty for a JSON syntax
    /// error.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn problem(&self) -> &ValueProblem {
        &self.problem
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "`{}`: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ValueError {}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueProblem::Length { expected, found } => {
                write!(f, "{found} bytes where the type has {expected}")
            }
            ValueProblem::Bool(b) => write!(f, "{b:#04x} is not a bool (0 or 1)"),
            ValueProblem::Char(c) => write!(f, "{c:#x} is not a Unicode scalar value"),
            ValueProblem::Utf8 { valid_up_to } => {
                write!(f, "not UTF-8 (valid up to byte {valid_up_to})")
            }
            ValueProblem::StrPadding { nul_at } => {
                write!(f, "non-NUL byte after the terminating NUL at byte {nul_at}")
            }
            ValueProblem::Discriminant { enum_name, value } => {
                write!(f, "{value} is not a discriminant of `{enum_name}`")
            }
            ValueProblem::Type { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ValueProblem::OutOfRange { value, ty } => write!(f, "{value} does not fit in {ty}"),
            ValueProblem::NotInteger(n) => write!(f, "{n} is not an integer"),
            ValueProblem::UnknownVariant {
                name,
                enum_name,
                variants,
            } => write!(
                f,
                "`{name}` is not a variant of `{enum_name}` ({})",
                variants.join(", ")
            ),
            ValueProblem::UnknownField {
                struct_name,
                fields,
            } => write!(
                f,
                "`{struct_name}` has no such field (it has {})",
                fields.join(", ")
            ),
            ValueProblem::MissingField { expected } => write!(f, "missing (of type {expected})"),
            ValueProblem::DuplicateField => f.write_str("given twice"),
            ValueProblem::TooLong { len, capacity } => {
                write!(f, "string of {len} bytes does not fit FixedStr<{capacity}>")
            }
            ValueProblem::Nul { at } => {
                write!(
                    f,
                    "string has a NUL byte at {at}; a FixedStr ends at its first NUL"
                )
            }
            ValueProblem::ArrayLength { expected, found } => {
                write!(f, "{found} elements where the array has {expected}")
            }
            ValueProblem::Syntax {
                line,
                column,
                message,
            } => write!(f, "not JSON at line {line}, column {column}: {message}"),
        }
    }
}

/// One step of a value path.
#[derive(Clone, Copy)]
pub(super) enum Seg<'a> {
    Name(&'a str),
    Index(usize),
}

/// The path of the value being read or written, kept as steps and rendered only for an
/// error.
pub(super) struct ValuePath<'a>(Vec<Seg<'a>>);

impl<'a> ValuePath<'a> {
    pub(super) fn new(tree: &'a SchemaTree) -> Self {
        ValuePath(vec![Seg::Name(tree.name())])
    }

    pub(super) fn push(&mut self, seg: Seg<'a>) {
        self.0.push(seg);
    }

    pub(super) fn pop(&mut self) {
        self.0.pop();
    }

    /// An error at `name`, a field of the value at the path that the tree lacks.
    pub(super) fn error_in(&self, name: &str, problem: ValueProblem) -> ValueError {
        let mut e = self.error(problem);
        e.path.push('.');
        e.path.push_str(name);
        e
    }

    pub(super) fn error(&self, problem: ValueProblem) -> ValueError {
        let mut path = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Name(n) if path.is_empty() => path.push_str(n),
                Seg::Name(n) => {
                    path.push('.');
                    path.push_str(n);
                }
                Seg::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        ValueError::new(path, problem)
    }
}

impl Value {
    /// Reads `bytes` (in this machine's byte order, as the transports carry them) as a
    /// value of `tree`, checking them as [`Message::validate`](crate::Message::validate)
    /// does, in the same order: the first error is the one it would report.
    ///
    /// # Errors
    ///
    /// [`ValueError`] naming the field: wrong length, a `bool` other than 0 or 1, a
    /// `char` that is not one, a `FixedStr` that is not UTF-8 or not NUL-padded, an enum
    /// value that is no variant's.
    pub fn from_bytes(tree: &SchemaTree, bytes: &[u8]) -> Result<Value, ValueError> {
        let mut path = ValuePath::new(tree);
        if bytes.len() != tree.size() {
            return Err(path.error(ValueProblem::Length {
                expected: tree.size(),
                found: bytes.len(),
            }));
        }
        read(tree, bytes, &mut path)
    }

    /// The bytes of the message this value of `tree` is, in this machine's byte order.
    ///
    /// The result is `tree.size()` long: check that size first if the tree comes from a
    /// peer you do not trust (a `FixedStr` of a gigabyte takes a gigabyte, whatever its
    /// text).
    ///
    /// # Errors
    ///
    /// [`ValueError`] naming the field whose value does not fit the tree: another type or
    /// width, an array of another length, a string too long or holding a NUL, an enum
    /// variant or struct field the type lacks, a field missing or given twice (a padding
    /// field, `_name: [u8; N]`, may be missing: it is zero).
    pub fn to_bytes(&self, tree: &SchemaTree) -> Result<Vec<u8>, ValueError> {
        let mut out = Vec::with_capacity(tree.size().min(1 << 16));
        write(self, tree, &mut out, &mut ValuePath::new(tree))?;
        Ok(out)
    }

    /// What the value is, for an error: `u16 7`, `a string`, `struct `Order``.
    pub(super) fn describe(&self) -> String {
        match self {
            Value::Str(_) => "a string".to_owned(),
            Value::Enum(v) => format!("variant `{v}`"),
            Value::Array(items) => format!("an array of {}", items.len()),
            Value::Struct { name, .. } => format!("struct `{name}`"),
            v => format!("{} {v}", v.primitive_name()),
        }
    }

    fn primitive_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::U16(_) => "u16",
            Value::U32(_) => "u32",
            Value::U64(_) => "u64",
            Value::U128(_) => "u128",
            Value::I8(_) => "i8",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::I128(_) => "i128",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::Char(_) => "char",
            _ => "",
        }
    }

    /// The value of a padding field left out: all zeros.
    pub(super) fn zeros(tree: &SchemaTree) -> Value {
        Value::Array(vec![Value::U8(0); tree.size()])
    }
}

fn read<'a>(t: &'a SchemaTree, b: &[u8], path: &mut ValuePath<'a>) -> Result<Value, ValueError> {
    match &t.0 {
        Node::Primitive { primitive, .. } => {
            read_primitive(*primitive, b).map_err(|p| path.error(p))
        }
        Node::Array { element, len, .. } => {
            let size = element.size();
            let mut items = Vec::with_capacity(*len);
            for i in 0..*len {
                path.push(Seg::Index(i));
                let v = read(element, field_bytes(b, i * size, size, path)?, path)?;
                path.pop();
                items.push(v);
            }
            Ok(Value::Array(items))
        }
        Node::Str { .. } => match str_text(b) {
            Ok(s) => Ok(Value::Str(s.to_owned())),
            Err(p) => Err(path.error(p)),
        },
        Node::Struct { name, fields, .. } => {
            let mut out = Vec::with_capacity(fields.len());
            for f in fields {
                path.push(Seg::Name(&f.name));
                let v = read(
                    &f.tree,
                    field_bytes(b, f.offset, f.tree.size(), path)?,
                    path,
                )?;
                path.pop();
                out.push((f.name.clone(), v));
            }
            Ok(Value::Struct {
                name: name.clone(),
                fields: out,
            })
        }
        Node::Enum {
            name,
            repr,
            variants,
            ..
        } => {
            let value = match read_primitive(*repr, b).map_err(|p| path.error(p))? {
                Value::U8(v) => v.into(),
                Value::U16(v) => v.into(),
                Value::U32(v) => v.into(),
                Value::U64(v) => v.into(),
                Value::I8(v) => v.into(),
                Value::I16(v) => v.into(),
                Value::I32(v) => v.into(),
                Value::I64(v) => v.into(),
                _ => i128::MIN, // not an enum repr: no tree has it
            };
            match variants.iter().find(|v| v.value == value) {
                Some(v) => Ok(Value::Enum(v.name.clone())),
                None => Err(path.error(ValueProblem::Discriminant {
                    enum_name: name.clone(),
                    value,
                })),
            }
        }
    }
}

/// `b[offset..offset + size]`, which every tree's layout keeps in bounds.
fn field_bytes<'b>(
    b: &'b [u8],
    offset: usize,
    size: usize,
    path: &ValuePath<'_>,
) -> Result<&'b [u8], ValueError> {
    b.get(offset..offset.saturating_add(size)).ok_or_else(|| {
        path.error(ValueProblem::Length {
            expected: offset.saturating_add(size),
            found: b.len(),
        })
    })
}

fn read_primitive(p: Primitive, b: &[u8]) -> Result<Value, ValueProblem> {
    fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N], ValueProblem> {
        b.try_into().map_err(|_| ValueProblem::Length {
            expected: N,
            found: b.len(),
        })
    }
    Ok(match p {
        Primitive::U8 => Value::U8(u8::from_ne_bytes(arr(b)?)),
        Primitive::U16 => Value::U16(u16::from_ne_bytes(arr(b)?)),
        Primitive::U32 => Value::U32(u32::from_ne_bytes(arr(b)?)),
        Primitive::U64 => Value::U64(u64::from_ne_bytes(arr(b)?)),
        Primitive::U128 => Value::U128(u128::from_ne_bytes(arr(b)?)),
        Primitive::I8 => Value::I8(i8::from_ne_bytes(arr(b)?)),
        Primitive::I16 => Value::I16(i16::from_ne_bytes(arr(b)?)),
        Primitive::I32 => Value::I32(i32::from_ne_bytes(arr(b)?)),
        Primitive::I64 => Value::I64(i64::from_ne_bytes(arr(b)?)),
        Primitive::I128 => Value::I128(i128::from_ne_bytes(arr(b)?)),
        Primitive::F32 => Value::F32(f32::from_ne_bytes(arr(b)?)),
        Primitive::F64 => Value::F64(f64::from_ne_bytes(arr(b)?)),
        Primitive::Bool => match arr::<1>(b)? {
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            [x] => return Err(ValueProblem::Bool(x)),
        },
        Primitive::Char => {
            let c = u32::from_ne_bytes(arr(b)?);
            Value::Char(char::from_u32(c).ok_or(ValueProblem::Char(c))?)
        }
    })
}

/// The text of a `FixedStr`'s bytes: UTF-8 up to the first NUL, only NULs after it.
fn str_text(b: &[u8]) -> Result<&str, ValueProblem> {
    let len = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    let text = core::str::from_utf8(&b[..len]).map_err(|e| ValueProblem::Utf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    if b[len..].iter().any(|&x| x != 0) {
        return Err(ValueProblem::StrPadding { nul_at: len });
    }
    Ok(text)
}

/// Whether `s` fits a `FixedStr<capacity>`.
pub(super) fn check_str(s: &str, capacity: usize) -> Result<(), ValueProblem> {
    if s.len() > capacity {
        return Err(ValueProblem::TooLong {
            len: s.len(),
            capacity,
        });
    }
    if let Some(at) = s.bytes().position(|b| b == 0) {
        return Err(ValueProblem::Nul { at });
    }
    Ok(())
}

/// The value of `tree`'s field `name` among `fields`: an error if given twice, or missing
/// unless it is padding.
pub(super) fn find_field<'v, V>(
    fields: &'v [(String, V)],
    f: &TreeField,
) -> Result<Option<&'v V>, ValueProblem> {
    let mut found = fields.iter().filter(|(n, _)| *n == f.name);
    let first = found.next().map(|(_, v)| v);
    if found.next().is_some() {
        return Err(ValueProblem::DuplicateField);
    }
    if first.is_none() && !f.is_padding() {
        return Err(ValueProblem::MissingField {
            expected: f.tree.to_string(),
        });
    }
    Ok(first)
}

/// An error for the first of `given` that `fields` lacks, if one is.
pub(super) fn unknown_field<'g>(
    struct_name: &str,
    fields: &[TreeField],
    mut given: impl Iterator<Item = &'g str>,
) -> Option<(&'g str, ValueProblem)> {
    let name = given.find(|n| !fields.iter().any(|f| f.name == *n))?;
    Some((
        name,
        ValueProblem::UnknownField {
            struct_name: struct_name.to_owned(),
            fields: fields.iter().map(|f| f.name.clone()).collect(),
        },
    ))
}

fn write<'a>(
    v: &Value,
    t: &'a SchemaTree,
    out: &mut Vec<u8>,
    path: &mut ValuePath<'a>,
) -> Result<(), ValueError> {
    let mismatch = |path: &ValuePath<'_>| {
        path.error(ValueProblem::Type {
            expected: t.to_string(),
            found: v.describe(),
        })
    };
    match (&t.0, v) {
        (Node::Primitive { primitive, .. }, v) => {
            match (primitive, v) {
                (Primitive::U8, Value::U8(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::U16, Value::U16(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::U32, Value::U32(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::U64, Value::U64(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::U128, Value::U128(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::I8, Value::I8(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::I16, Value::I16(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::I32, Value::I32(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::I64, Value::I64(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::I128, Value::I128(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::F32, Value::F32(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::F64, Value::F64(x)) => out.extend_from_slice(&x.to_ne_bytes()),
                (Primitive::Bool, Value::Bool(x)) => out.push(u8::from(*x)),
                (Primitive::Char, Value::Char(x)) => {
                    out.extend_from_slice(&u32::from(*x).to_ne_bytes());
                }
                _ => return Err(mismatch(path)),
            }
            Ok(())
        }
        (Node::Array { element, len, .. }, Value::Array(items)) => {
            if items.len() != *len {
                return Err(path.error(ValueProblem::ArrayLength {
                    expected: *len,
                    found: items.len(),
                }));
            }
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                write(item, element, out, path)?;
                path.pop();
            }
            Ok(())
        }
        (Node::Str { capacity }, Value::Str(s)) => {
            check_str(s, *capacity).map_err(|p| path.error(p))?;
            out.extend_from_slice(s.as_bytes());
            out.resize(out.len() + (capacity - s.len()), 0);
            Ok(())
        }
        (
            Node::Struct { name, fields, .. },
            Value::Struct {
                name: vname,
                fields: given,
            },
        ) if name == vname => {
            // The fields that are not zero-sized lie one after the other in declaration
            // order (checked when the tree was made): writing them in turn puts each at
            // its offset.
            for f in fields {
                path.push(Seg::Name(&f.name));
                match find_field(given, f).map_err(|p| path.error(p))? {
                    Some(fv) => write(fv, &f.tree, out, path)?,
                    None => out.resize(out.len() + f.tree.size(), 0),
                }
                path.pop();
            }
            let given_names = given.iter().map(|(n, _)| n.as_str());
            if let Some((n, p)) = unknown_field(name, fields, given_names) {
                return Err(path.error_in(n, p));
            }
            Ok(())
        }
        (
            Node::Enum {
                name,
                repr,
                variants,
                ..
            },
            Value::Enum(vname),
        ) => {
            let Some(var) = variants.iter().find(|x| x.name == *vname) else {
                return Err(path.error(ValueProblem::UnknownVariant {
                    name: vname.clone(),
                    enum_name: name.clone(),
                    variants: variants.iter().map(|x| x.name.clone()).collect(),
                }));
            };
            // The discriminant fits the repr (checked when the tree was made).
            let d = var.value;
            match repr {
                Primitive::U8 => out.extend_from_slice(&(d as u8).to_ne_bytes()),
                Primitive::U16 => out.extend_from_slice(&(d as u16).to_ne_bytes()),
                Primitive::U32 => out.extend_from_slice(&(d as u32).to_ne_bytes()),
                Primitive::U64 => out.extend_from_slice(&(d as u64).to_ne_bytes()),
                Primitive::I8 => out.extend_from_slice(&(d as i8).to_ne_bytes()),
                Primitive::I16 => out.extend_from_slice(&(d as i16).to_ne_bytes()),
                Primitive::I32 => out.extend_from_slice(&(d as i32).to_ne_bytes()),
                _ => out.extend_from_slice(&(d as i64).to_ne_bytes()),
            }
            Ok(())
        }
        _ => Err(mismatch(path)),
    }
}

/// As `#[derive(Debug)]` prints the Rust value, on one line.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v:?}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(v) => write!(f, "{v:?}"),
            Value::Str(v) => write!(f, "{v:?}"),
            Value::Enum(v) => f.write_str(v),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Struct { name, fields } => {
                f.write_str(name)?;
                if fields.is_empty() {
                    return Ok(());
                }
                let tuple = fields
                    .iter()
                    .enumerate()
                    .all(|(i, (n, _))| *n == i.to_string());
                f.write_str(if tuple { "(" } else { " { " })?;
                for (i, (n, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    if !tuple {
                        write!(f, "{n}: ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(if tuple { ")" } else { " }" })
            }
        }
    }
}
