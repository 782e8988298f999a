//! [`InvalidMessage`]: a received byte string that is not a valid value of its type, and
//! what is wrong with it ([`Problem`]).

use core::fmt;

/// A received byte string is not a valid value of the message type.
///
/// It names the outermost type, the path of the field at fault, its byte offset, and
/// what is wrong there.
///
/// One pointer wide (the details are boxed): `validate` returns it in a register, and
/// every `Result` that carries one stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMessage(Box<Details>);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Details {
    ty: &'static str,
    path: String,
    offset: usize,
    problem: Problem,
}

/// What is wrong with an [`InvalidMessage`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The byte string has the wrong length.
    Length {
        /// `size_of` the type.
        expected: usize,
        /// The length received.
        found: usize,
    },
    /// The bytes are not aligned for a zero-copy view.
    Misaligned {
        /// The alignment required.
        align: usize,
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
        enum_name: &'static str,
        /// The value found.
        value: i128,
    },
}

impl InvalidMessage {
    /// An error at offset 0 of the type being validated.
    pub fn new(problem: Problem) -> Self {
        InvalidMessage(Box::new(Details {
            ty: "",
            path: String::new(),
            offset: 0,
            problem,
        }))
    }

    /// A wrong-length error for type `ty`.
    pub fn length(ty: &'static str, expected: usize, found: usize) -> Self {
        Self::new(Problem::Length { expected, found }).of(ty)
    }

    /// Re-roots the error one level up: it happened in field `field` of type `ty`, which
    /// starts at byte `offset`. Used by derived `validate` functions.
    pub fn in_field(mut self, ty: &'static str, field: &'static str, offset: usize) -> Self {
        if self.0.path.is_empty() {
            self.0.path = field.to_owned();
        } else if self.0.path.starts_with('[') {
            self.0.path.insert_str(0, field);
        } else {
            self.0.path = format!("{field}.{}", self.0.path);
        }
        self.0.ty = ty;
        self.0.offset += offset;
        self
    }

    /// Re-roots the error at element `index` of an array of type `ty`.
    pub fn in_element(mut self, ty: &'static str, index: usize, offset: usize) -> Self {
        let sep = if self.0.path.is_empty() || self.0.path.starts_with('[') {
            ""
        } else {
            "."
        };
        self.0.path = format!("[{index}]{sep}{}", self.0.path);
        self.0.ty = ty;
        self.0.offset += offset;
        self
    }

    /// Names the type being validated if no outer type has (leaf validators).
    pub fn of(mut self, ty: &'static str) -> Self {
        if self.0.ty.is_empty() {
            self.0.ty = ty;
        }
        self
    }

    /// The outermost type that was being validated.
    pub fn type_name(&self) -> &'static str {
        self.0.ty
    }

    /// The path of the field at fault (`side`, `legs[2].price`), empty for the whole value.
    pub fn field(&self) -> &str {
        &self.0.path
    }

    /// Byte offset of the fault from the start of the message.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.0.problem
    }
}

impl fmt::Display for InvalidMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}`", self.0.ty)?;
        if !self.0.path.is_empty() {
            write!(f, " in field `{}` at byte {}", self.0.path, self.0.offset)?;
        }
        f.write_str(": ")?;
        match &self.0.problem {
            Problem::Length { expected, found } => {
                write!(f, "{found} bytes where the type has {expected}")
            }
            Problem::Misaligned { align } => {
                write!(f, "bytes not aligned to {align} for a zero-copy view")
            }
            Problem::Bool(b) => write!(f, "{b:#04x} is not a bool (0 or 1)"),
            Problem::Char(c) => write!(f, "{c:#x} is not a Unicode scalar value"),
            Problem::Utf8 { valid_up_to } => {
                write!(f, "not UTF-8 (valid up to byte {valid_up_to})")
            }
            Problem::StrPadding { nul_at } => {
                write!(f, "non-NUL byte after the terminating NUL at byte {nul_at}")
            }
            Problem::Discriminant { enum_name, value } => {
                write!(f, "{value} is not a discriminant of `{enum_name}`")
            }
        }
    }
}

impl std::error::Error for InvalidMessage {}
