//! The [`Message`] trait: what may cross a process boundary as plain bytes.
//!
//! A message is a fixed-size value whose bytes mean the same thing in every process that
//! agrees on its [`Schema`]: no pointers, no padding, no platform-dependent widths. It is
//! sent by copying its bytes (or by writing it in place in shared memory) and received by
//! checking the bit patterns that a byte copy cannot guarantee ([`Message::validate`])
//! before a `T` is produced.
//!
//! Implemented here for the integer and float primitives, `bool`, `char` and arrays
//! `[T; N]`; [`FixedStr<N>`](crate::FixedStr) implements it beside its type, and
//! `#[derive(Message)]` implements it for `#[repr(C)]` structs and integer-repr enums.

use core::fmt;

mod fingerprint;
mod invalid;

pub(crate) use fingerprint::{
    array_fingerprint, primitive_fingerprint, slice_fingerprint, str_fingerprint, EnumFingerprint,
    StructFingerprint,
};
pub use invalid::{InvalidMessage, Problem};

/// A type whose values can cross a process boundary as their bytes.
///
/// Do not implement this trait by hand: derive it (`#[derive(ipc::Message)]`), which checks
/// every requirement below at compile time.
///
/// # Safety
///
/// An implementation promises that:
///
/// 1. every byte of every value of `Self` is initialised (no padding, no `MaybeUninit`),
///    so a `&Self` may be read as `size_of::<Self>()` bytes;
/// 2. `Self` holds no pointers, references, file descriptors or interior mutability, so
///    its bytes mean the same thing in another process;
/// 3. [`Message::SCHEMA`] describes `Self` exactly: `SCHEMA.size == size_of::<Self>()`
///    and `SCHEMA.align == align_of::<Self>()`;
/// 4. for any byte string `b` of length `size_of::<Self>()`, if `Self::validate(b)` returns
///    `Ok(())`, then `b` is a valid value of `Self` (reading it with
///    `ptr::read_unaligned` is sound).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot cross a process boundary: it does not implement `ipc::Message`",
    label = "not an `ipc::Message`",
    note = "derive it with `#[derive(Clone, Copy, ipc::Message)]` and `#[repr(C)]`, or use a type that has it (integers, floats, bool, char, arrays, `ipc::FixedStr<N>`)"
)]
pub unsafe trait Message: Copy + Send + Sync + 'static {
    /// The layout of `Self`: name, size, alignment and fields.
    const SCHEMA: Schema;

    /// A 64-bit hash of [`Message::SCHEMA`]; two programs talk only if theirs agree.
    ///
    /// Stable across builds, compilers and crates: it depends only on the schema.
    const FINGERPRINT: u64 = Self::SCHEMA.fingerprint();

    /// Checks the bit patterns a byte copy cannot guarantee (enum discriminants, `bool`,
    /// `char`, `FixedStr` UTF-8, nested messages).
    ///
    /// # Errors
    ///
    /// [`InvalidMessage`] naming the field at fault, its byte offset and what is wrong,
    /// including a `bytes` whose length is not `size_of::<Self>()`.
    fn validate(bytes: &[u8]) -> Result<(), InvalidMessage>;
}

/// Views a message as its bytes.
#[inline]
pub fn as_bytes<T: Message>(msg: &T) -> &[u8] {
    // Forces the evaluation of `T::SCHEMA`, which for derived generic types is where the
    // compile-time padding check lives: without it, `as_bytes(&Pair::<u8, u32> { .. })`
    // could compile and read padding.
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    // SAFETY: `T: Message` guarantees every byte of a `T` is initialised (no padding), and
    // the slice covers exactly the `size_of::<T>()` bytes of `*msg`, borrowed for as long
    // as `msg` is.
    unsafe { core::slice::from_raw_parts((msg as *const T).cast::<u8>(), size_of::<T>()) }
}

/// Views messages lying back to back as their bytes (`size_of::<T>()` per message: a
/// message has no padding, and so neither does an array of them).
#[inline]
pub(crate) fn slice_as_bytes<T: Message>(msgs: &[T]) -> &[u8] {
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    // SAFETY: `T: Message` guarantees every byte of a `T` is initialised (no padding); the
    // elements of a slice lie `size_of::<T>()` apart with nothing between them, so the
    // `size_of_val(msgs)` bytes from its start are all initialised, and borrowed for as
    // long as `msgs` is.
    unsafe { core::slice::from_raw_parts(msgs.as_ptr().cast::<u8>(), size_of_val(msgs)) }
}

/// Validates each element lying back to back in `bytes` (a whole number of them), unless
/// every bit pattern is an `E` (then there is nothing to check, and a zero-sized `E`
/// never reaches the loop).
///
/// # Errors
///
/// [`InvalidMessage`] for the first element that is not a valid `E`.
#[inline(always)]
pub(crate) fn check_elements<E: Message>(bytes: &[u8]) -> Result<(), InvalidMessage> {
    // Evaluating `E::SCHEMA` runs the derive's no-padding check for generic types.
    const { assert!(E::SCHEMA.size == size_of::<E>()) };
    if !const { E::SCHEMA.accepts_any_bits() } {
        for element in bytes.chunks_exact(size_of::<E>()) {
            E::validate(element)?;
        }
    }
    Ok(())
}

/// Validates `bytes` and copies them into a `T`.
///
/// `bytes` need not be aligned. Types without invalid bit patterns skip validation.
///
/// # Errors
///
/// [`InvalidMessage`] if `bytes` is not `size_of::<T>()` long or holds a bit pattern that
/// is not a `T`.
#[inline]
pub fn from_bytes<T: Message>(bytes: &[u8]) -> Result<T, InvalidMessage> {
    check::<T>(bytes)?;
    // SAFETY: `check` verified `bytes.len() == size_of::<T>()` and, unless every bit
    // pattern is a `T`, that `T::validate` accepted them, which by the `Message` contract
    // makes them a valid `T`; `read_unaligned` has no alignment requirement.
    Ok(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// [`from_bytes`] for bytes another process may write while they are read (a slot of
/// shared memory read in place): the bytes are copied first and the private copy is
/// validated, so a peer that rewrites them between the check and the copy cannot make
/// an invalid `T`. One copy, as `from_bytes`.
///
/// # Errors
///
/// As [`from_bytes`].
#[inline]
pub(crate) fn from_shared_bytes<T: Message>(bytes: &[u8]) -> Result<T, InvalidMessage> {
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    if bytes.len() != size_of::<T>() {
        return Err(InvalidMessage::length(
            T::SCHEMA.name,
            size_of::<T>(),
            bytes.len(),
        ));
    }
    let mut copy = core::mem::MaybeUninit::<T>::uninit();
    // SAFETY: `bytes` is `size_of::<T>()` readable bytes, `copy` a private
    // `size_of::<T>()`-byte buffer; a byte copy needs no alignment of the source, and the
    // caller's slice cannot overlap a local.
    unsafe {
        core::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            copy.as_mut_ptr().cast::<u8>(),
            size_of::<T>(),
        );
    }
    if !const { T::SCHEMA.accepts_any_bits() } {
        // SAFETY: the first `size_of::<T>()` bytes of `copy` were initialised just above.
        let private =
            unsafe { core::slice::from_raw_parts(copy.as_ptr().cast::<u8>(), size_of::<T>()) };
        T::validate(private)?;
    }
    // SAFETY: every byte is initialised (copied above) and, unless every bit pattern is a
    // `T`, `T::validate` accepted this private copy, which by the `Message` contract makes
    // it a valid `T`; nobody else can write it.
    Ok(unsafe { copy.assume_init() })
}

/// Validates `bytes` in place and returns them as a `&T`.
///
/// # Errors
///
/// [`InvalidMessage`] if `bytes` is not `size_of::<T>()` long, not aligned for `T`, or
/// holds a bit pattern that is not a `T`.
#[inline]
pub fn ref_from_bytes<T: Message>(bytes: &[u8]) -> Result<&T, InvalidMessage> {
    check::<T>(bytes)?;
    if (bytes.as_ptr() as usize) % align_of::<T>() != 0 {
        return Err(InvalidMessage::new(Problem::Misaligned {
            align: align_of::<T>(),
        }));
    }
    // SAFETY: length, alignment and bit pattern were checked just above; the returned
    // reference borrows `bytes`, so the memory stays valid and unaliased by `&mut`.
    Ok(unsafe { &*bytes.as_ptr().cast::<T>() })
}

#[inline]
fn check<T: Message>(bytes: &[u8]) -> Result<(), InvalidMessage> {
    const { assert!(T::SCHEMA.size == size_of::<T>()) };
    if bytes.len() != size_of::<T>() {
        return Err(InvalidMessage::length(
            T::SCHEMA.name,
            size_of::<T>(),
            bytes.len(),
        ));
    }
    if const { T::SCHEMA.accepts_any_bits() } {
        return Ok(());
    }
    T::validate(bytes)
}

/// The layout of a [`Message`] type, available at compile time as `T::SCHEMA`.
///
/// Its owned form, [`SchemaTree`](crate::schema::SchemaTree), can be written to bytes and
/// read back by a process that lacks the type (see [`schema`](crate::schema)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Schema {
    /// The schema name: the type's name without its module path, or the one pinned by
    /// `#[ipc(name = "...")]`.
    pub name: &'static str,
    /// `size_of` the type, in bytes.
    pub size: usize,
    /// `align_of` the type, in bytes.
    pub align: usize,
    /// What kind of type it is, with its fields or variants.
    pub kind: Kind,
}

/// What a [`Schema`] describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// An integer, a float, `bool` or `char`.
    Primitive,
    /// `[element; len]`.
    Array {
        /// The element's schema.
        element: &'static Schema,
        /// The number of elements.
        len: usize,
    },
    /// [`FixedStr<capacity>`](crate::FixedStr): UTF-8, NUL-padded.
    Str {
        /// Capacity in bytes.
        capacity: usize,
    },
    /// A `#[repr(C)]` or `#[repr(transparent)]` struct.
    Struct {
        /// Fields in declaration order.
        fields: &'static [Field],
    },
    /// A fieldless enum with an integer representation.
    Enum {
        /// The schema of the integer representation (`u8` ... `i64`).
        repr: &'static Schema,
        /// Variants in declaration order.
        variants: &'static [Variant],
    },
}

/// One field of a struct [`Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Field {
    /// The field's name (`"0"`, `"1"`, ... for tuple structs).
    pub name: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// The field type's schema.
    pub schema: &'static Schema,
}

impl Field {
    /// Creates a field description; used by `#[derive(Message)]`.
    pub const fn new(name: &'static str, offset: usize, schema: &'static Schema) -> Self {
        Field {
            name,
            offset,
            schema,
        }
    }

    /// The field's size in bytes.
    pub const fn size(&self) -> usize {
        self.schema.size
    }

    /// The fingerprint of the field's type.
    pub const fn fingerprint(&self) -> u64 {
        self.schema.fingerprint()
    }
}

/// One variant of an enum [`Schema`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Variant {
    /// The variant's name.
    pub name: &'static str,
    /// Its discriminant, widened to `i128`.
    pub value: i128,
}

impl Variant {
    /// Creates a variant description; used by `#[derive(Message)]`.
    pub const fn new(name: &'static str, value: i128) -> Self {
        Variant { name, value }
    }
}

impl Schema {
    /// The schema of a primitive type.
    pub const fn primitive(name: &'static str, size: usize, align: usize) -> Self {
        Schema {
            name,
            size,
            align,
            kind: Kind::Primitive,
        }
    }

    /// The schema of a struct; used by `#[derive(Message)]`.
    pub const fn structure(
        name: &'static str,
        size: usize,
        align: usize,
        fields: &'static [Field],
    ) -> Self {
        Schema {
            name,
            size,
            align,
            kind: Kind::Struct { fields },
        }
    }

    /// The schema of a fieldless enum; used by `#[derive(Message)]`.
    pub const fn enumeration(
        name: &'static str,
        repr: &'static Schema,
        variants: &'static [Variant],
    ) -> Self {
        Schema {
            name,
            size: repr.size,
            align: repr.align,
            kind: Kind::Enum { repr, variants },
        }
    }

    /// The schema of `[element; len]`.
    pub const fn array(element: &'static Schema, len: usize) -> Self {
        Schema {
            name: "array",
            size: element.size * len,
            align: element.align,
            kind: Kind::Array { element, len },
        }
    }

    /// The struct fields, or an empty slice for other kinds.
    pub const fn fields(&self) -> &'static [Field] {
        match self.kind {
            Kind::Struct { fields } => fields,
            _ => &[],
        }
    }

    /// True if every bit pattern of `size` bytes is a valid value (no enum, `bool`, `char`
    /// or `FixedStr` anywhere inside), so receiving it needs no validation.
    pub const fn accepts_any_bits(&self) -> bool {
        match self.kind {
            Kind::Primitive => !(str_eq(self.name, "bool") || str_eq(self.name, "char")),
            Kind::Array { element, len } => len == 0 || element.accepts_any_bits(),
            Kind::Str { .. } | Kind::Enum { .. } => false,
            Kind::Struct { fields } => {
                let mut i = 0;
                while i < fields.len() {
                    if !fields[i].schema.accepts_any_bits() {
                        return false;
                    }
                    i += 1;
                }
                true
            }
        }
    }

    /// The 64-bit fingerprint of this schema.
    ///
    /// It hashes (FNV-1a, then a SplitMix64 finaliser) a canonical encoding of the kind,
    /// name, size, alignment, and each field's name, offset and type fingerprint (each
    /// variant's name and value for enums). It therefore changes when a field is renamed,
    /// retyped, reordered, added or removed, or the schema name changes, and it does not
    /// depend on the module path, the crate, the build or the compiler.
    pub const fn fingerprint(&self) -> u64 {
        match self.kind {
            Kind::Primitive => primitive_fingerprint(self.name, self.size, self.align),
            Kind::Array { element, len } => array_fingerprint(element.fingerprint(), len),
            Kind::Str { capacity } => str_fingerprint(capacity),
            Kind::Struct { fields } => {
                let mut h = StructFingerprint::new(self.name, self.size, self.align, fields.len());
                let mut i = 0;
                while i < fields.len() {
                    let f = &fields[i];
                    h = h.field(f.name, f.offset, f.schema.fingerprint());
                    i += 1;
                }
                h.finish()
            }
            Kind::Enum { repr, variants } => {
                let mut h = EnumFingerprint::new(self.name, repr.fingerprint(), variants.len());
                let mut i = 0;
                while i < variants.len() {
                    h = h.variant(variants[i].name, variants[i].value);
                    i += 1;
                }
                h.finish()
            }
        }
    }
}

/// `Display` prints the type as Rust spells it (`Order`, `[u32; 4]`, `FixedStr<16>`);
/// the alternate form (`{:#}`) adds size, alignment, fingerprint and the fields.
impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Array { element, len } => write!(f, "[{element}; {len}]")?,
            Kind::Str { capacity } => write!(f, "FixedStr<{capacity}>")?,
            _ => f.write_str(self.name)?,
        }
        if f.alternate() {
            write!(
                f,
                " ({} bytes, align {}, fingerprint {:#018x})",
                self.size,
                self.align,
                self.fingerprint()
            )?;
            for field in self.fields() {
                write!(
                    f,
                    "\n  {:>5}  {}: {}",
                    field.offset, field.name, field.schema
                )?;
            }
        }
        Ok(())
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

macro_rules! impl_numeric {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive number has no padding, no pointers, and every bit pattern
        // of its size is a valid value; the schema states its real size and alignment.
        unsafe impl Message for $t {
            const SCHEMA: Schema =
                Schema::primitive(stringify!($t), size_of::<$t>(), align_of::<$t>());
            #[inline]
            fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
                if bytes.len() != size_of::<$t>() {
                    return Err(InvalidMessage::length(stringify!($t), size_of::<$t>(), bytes.len()));
                }
                Ok(())
            }
        }
    )*};
}
impl_numeric!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

// SAFETY: `bool` is one initialised byte without pointers; `validate` accepts only the
// bytes 0 and 1, exactly the valid `bool`s.
unsafe impl Message for bool {
    const SCHEMA: Schema = Schema::primitive("bool", 1, 1);
    #[inline]
    fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
        match bytes {
            [0 | 1] => Ok(()),
            [b] => Err(InvalidMessage::new(Problem::Bool(*b)).of("bool")),
            _ => Err(InvalidMessage::length("bool", 1, bytes.len())),
        }
    }
}

// SAFETY: `char` is four initialised bytes without pointers; `validate` accepts only
// native-endian `u32`s that `char::from_u32` accepts, exactly the valid `char`s.
unsafe impl Message for char {
    const SCHEMA: Schema = Schema::primitive("char", 4, align_of::<char>());
    #[inline]
    fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
        let Ok(raw) = <[u8; 4]>::try_from(bytes) else {
            return Err(InvalidMessage::length("char", 4, bytes.len()));
        };
        let v = u32::from_ne_bytes(raw);
        match char::from_u32(v) {
            Some(_) => Ok(()),
            None => Err(InvalidMessage::new(Problem::Char(v)).of("char")),
        }
    }
}

// SAFETY: an array of `T: Message` has no padding between elements (size is a multiple
// of alignment) and no pointers; `validate` checks the length and every element.
unsafe impl<T: Message, const N: usize> Message for [T; N] {
    const SCHEMA: Schema = Schema::array(&T::SCHEMA, N);
    fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
        if bytes.len() != size_of::<Self>() {
            return Err(InvalidMessage::length(
                "array",
                size_of::<Self>(),
                bytes.len(),
            ));
        }
        if const { T::SCHEMA.accepts_any_bits() } {
            return Ok(());
        }
        let size = size_of::<T>();
        for i in 0..N {
            let offset = i * size;
            T::validate(&bytes[offset..offset + size])
                .map_err(|e| e.in_element("array", i, offset))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FixedStr;

    #[test]
    fn primitives_have_their_real_layout() {
        assert_eq!(u64::SCHEMA.size, 8);
        assert_eq!(<[u16; 3]>::SCHEMA.size, 6);
        assert_eq!(<[u16; 3]>::SCHEMA.align, 2);
        assert_eq!(format!("{}", <[[u8; 2]; 3]>::SCHEMA), "[[u8; 2]; 3]");
    }

    #[test]
    fn primitive_fingerprints_differ() {
        let fps = [
            u8::FINGERPRINT,
            i8::FINGERPRINT,
            u16::FINGERPRINT,
            u32::FINGERPRINT,
            f32::FINGERPRINT,
            char::FINGERPRINT,
            bool::FINGERPRINT,
            <[u8; 4]>::FINGERPRINT,
            <[u8; 5]>::FINGERPRINT,
            <[i8; 4]>::FINGERPRINT,
            FixedStr::<4>::FINGERPRINT,
        ];
        for (i, a) in fps.iter().enumerate() {
            for b in &fps[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn bool_and_char_are_validated() {
        assert!(bool::validate(&[1]).is_ok());
        assert_eq!(
            bool::validate(&[2]).unwrap_err().problem(),
            &Problem::Bool(2)
        );
        assert!(char::validate(&('é' as u32).to_ne_bytes()).is_ok());
        assert!(char::validate(&0xD800u32.to_ne_bytes()).is_err());
        assert!(char::validate(&[0; 3]).is_err());
    }

    #[test]
    fn array_errors_name_the_element() {
        let e = <[bool; 4]>::validate(&[1, 0, 7, 1]).unwrap_err();
        assert_eq!(e.field(), "[2]");
        assert_eq!(e.offset(), 2);
        assert_eq!(
            e.to_string(),
            "invalid `array` in field `[2]` at byte 2: 0x07 is not a bool (0 or 1)"
        );
    }

    #[test]
    fn from_bytes_checks_length_and_bits() {
        assert_eq!(from_bytes::<u32>(&7u32.to_ne_bytes()).unwrap(), 7);
        assert!(from_bytes::<u32>(&[0; 3]).is_err());
        assert!(from_bytes::<bool>(&[3]).is_err());
        assert!(from_bytes::<[bool; 2]>(&[1, 0]).unwrap()[0]);
    }

    /// Fingerprints are part of the wire contract: these values, taken before the hashing
    /// was shared with `ipc::schema`, must never change. Only types whose alignment is the
    /// same on every Linux target are pinned (`u64` and `u128` align differently on some).
    #[test]
    fn fingerprints_are_pinned() {
        const FIELDS: &[Field] = &[
            Field::new("bid", 0, &u32::SCHEMA),
            Field::new("ask", 4, &<[u16; 2]>::SCHEMA),
        ];
        const QUOTE: Schema = Schema::structure("Quote", 8, 4, FIELDS);
        const VARIANTS: &[Variant] = &[Variant::new("Buy", 1), Variant::new("Sell", -2)];
        const SIDE: Schema = Schema::enumeration("Side", &i16::SCHEMA, VARIANTS);
        assert_eq!(u8::FINGERPRINT, 0x171a_d139_b40e_2138);
        assert_eq!(f32::FINGERPRINT, 0x8aa5_168e_a20f_2084);
        assert_eq!(bool::FINGERPRINT, 0xaa8b_1c7f_f99e_5b14);
        assert_eq!(char::FINGERPRINT, 0x3b02_d77c_d45a_a52c);
        assert_eq!(<[u16; 3]>::FINGERPRINT, 0xf29b_6a7e_0f4e_b30b);
        assert_eq!(FixedStr::<16>::FINGERPRINT, 0x5b89_174c_5226_c32f);
        assert_eq!(QUOTE.fingerprint(), 0x317a_e05d_3373_dd32);
        assert_eq!(SIDE.fingerprint(), 0x9588_7f93_8ff8_7718);
        assert_eq!(slice_fingerprint(u32::FINGERPRINT), 0x810c_4ea7_ae3e_97d3);
    }
}
