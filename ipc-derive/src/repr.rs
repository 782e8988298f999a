//! `#[repr(...)]`, parsed into a value that can only hold a layout the derive accepts
//! (the approach of zerocopy's `repr.rs`): a struct is `C` (maybe with `align(N)`) or
//! `transparent`; an enum has one fixed-width integer representation.

use proc_macro2::Span;
use syn::{Attribute, Ident, LitInt};

use crate::ctxt::Ctxt;

/// The layout of a struct.
pub enum StructRepr {
    /// `#[repr(C)]`, optionally `align(N)`: fields in declaration order.
    C,
    /// `#[repr(transparent)]`: the layout of its one non-zero-sized field.
    Transparent,
}

/// The integer representation of a fieldless enum.
#[derive(Clone, Copy)]
pub enum Int {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
}

impl Int {
    pub fn ident(self) -> Ident {
        let name = match self {
            Int::U8 => "u8",
            Int::U16 => "u16",
            Int::U32 => "u32",
            Int::U64 => "u64",
            Int::I8 => "i8",
            Int::I16 => "i16",
            Int::I32 => "i32",
            Int::I64 => "i64",
        };
        Ident::new(name, Span::call_site())
    }
}

/// One item inside `#[repr(...)]`, with its span.
struct Item {
    kind: Kind,
    span: Span,
}

enum Kind {
    C,
    Transparent,
    Rust,
    Packed,
    Align,
    Int(Int),
    /// `usize`, `isize`, `u128`, `i128`: legal Rust, refused here.
    OtherInt(String),
    /// Anything else: the compiler itself judges it.
    Other,
}

const STRUCT_REQUIRED: &str =
    "#[derive(Message)] requires #[repr(C)] or #[repr(transparent)] on a struct: \
     without it the compiler may reorder the fields, and two builds may disagree on the layout";

const ENUM_REQUIRED: &str = "#[derive(Message)] requires an explicit integer repr on an enum: \
     #[repr(u8)], #[repr(u16)], #[repr(u32)], #[repr(u64)], #[repr(i8)], #[repr(i16)], #[repr(i32)] or #[repr(i64)]";

/// The repr of a struct. Mistakes are recorded in `cx`; the returned value then only
/// lets the other checks run (nothing is generated when `cx` holds an error).
pub fn struct_repr(cx: &Ctxt, attrs: &[Attribute], ident: &Ident) -> StructRepr {
    let items = items(attrs);
    let mut repr = None;
    for item in &items {
        match &item.kind {
            Kind::C => repr = Some(StructRepr::C),
            Kind::Transparent => repr = Some(StructRepr::Transparent),
            Kind::Rust => cx.push(syn::Error::new(item.span, STRUCT_REQUIRED)),
            Kind::Packed => cx.push(packed(item.span)),
            // align(N) only adds trailing padding, which the padding check reports.
            Kind::Align | Kind::Int(_) | Kind::OtherInt(_) | Kind::Other => {}
        }
    }
    match repr {
        Some(repr) => repr,
        None => {
            if !items.iter().any(|i| matches!(i.kind, Kind::Rust)) {
                cx.error_spanned_by(ident, STRUCT_REQUIRED);
            }
            StructRepr::C
        }
    }
}

/// The integer repr of an enum, with the same error handling as [`struct_repr`].
pub fn enum_repr(cx: &Ctxt, attrs: &[Attribute], ident: &Ident) -> Int {
    let items = items(attrs);
    let mut int = None;
    let mut reported = false;
    for item in &items {
        match &item.kind {
            Kind::Int(i) => int = Some(*i),
            Kind::OtherInt(name) if name == "usize" || name == "isize" => {
                reported = true;
                cx.push(syn::Error::new(
                    item.span,
                    format!(
                        "#[repr({name})] is refused: use u64 or u32: the width of {name} \
                         differs between 32- and 64-bit peers"
                    ),
                ));
            }
            Kind::OtherInt(name) => {
                reported = true;
                cx.push(syn::Error::new(
                    item.span,
                    format!("#[repr({name})] is refused: use a repr from u8 to u64 or i8 to i64"),
                ));
            }
            Kind::Packed => {
                reported = true;
                cx.push(packed(item.span));
            }
            Kind::Align => {
                reported = true;
                cx.push(syn::Error::new(
                    item.span,
                    "repr(align) on an enum adds padding bytes after the discriminant; remove it",
                ));
            }
            Kind::C | Kind::Rust | Kind::Transparent | Kind::Other => {}
        }
    }
    if let Some(int) = int {
        return int;
    }
    if !reported {
        match items.iter().find(|i| matches!(i.kind, Kind::C)) {
            Some(c) => cx.push(syn::Error::new(
                c.span,
                "#[repr(C)] alone gives an enum the width of a C `int`, which depends on the \
                 platform; use #[repr(u8)], #[repr(u16)], #[repr(u32)], #[repr(u64)], \
                 #[repr(i8)], #[repr(i16)], #[repr(i32)] or #[repr(i64)]",
            )),
            None => cx.error_spanned_by(ident, ENUM_REQUIRED),
        }
    }
    Int::U8
}

fn packed(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "repr(packed) is refused: references to its fields would be misaligned; \
         use #[repr(C)] and make any padding an explicit `_pad: [u8; N]` field",
    )
}

fn items(attrs: &[Attribute]) -> Vec<Item> {
    let mut items = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
        // A malformed repr is the compiler's to report; we only read what parses.
        let _ = attr.parse_nested_meta(|meta| {
            let span = meta
                .path
                .get_ident()
                .map_or_else(Span::call_site, Ident::span);
            let name = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let kind = match name.as_str() {
                "C" => Kind::C,
                "transparent" => Kind::Transparent,
                "Rust" => Kind::Rust,
                "packed" => Kind::Packed,
                "align" => Kind::Align,
                "u8" => Kind::Int(Int::U8),
                "u16" => Kind::Int(Int::U16),
                "u32" => Kind::Int(Int::U32),
                "u64" => Kind::Int(Int::U64),
                "i8" => Kind::Int(Int::I8),
                "i16" => Kind::Int(Int::I16),
                "i32" => Kind::Int(Int::I32),
                "i64" => Kind::Int(Int::I64),
                "usize" | "isize" | "u128" | "i128" => Kind::OtherInt(name),
                _ => Kind::Other,
            };
            // `packed(N)` and `align(N)` carry an argument; the compiler checks it.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                content.parse::<LitInt>()?;
            }
            items.push(Item { kind, span });
            Ok(())
        });
    }
    items
}
