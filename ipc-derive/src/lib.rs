//! `#[derive(Message)]` for the [`ipc`](https://docs.rs/ipc) crate.
//!
//! The derive checks that a type can cross a process boundary as its bytes and implements
//! `ipc::Message` for it: a `const` schema (name, size, alignment, fields or variants), a
//! fingerprint of it, and a `validate` that checks the bit patterns a byte copy cannot
//! guarantee. Use it through the `ipc` facade: `#[derive(ipc::Message)]`.
//!
//! It accepts `#[repr(C)]` and `#[repr(transparent)]` structs (named, tuple, unit,
//! generic) and fieldless enums with an integer repr from `u8` to `i64`. It refuses,
//! with an error on the token at fault: references, pointers, heap-owning types,
//! `usize`/`isize`, fields that are not `Message`, a missing or `Rust` repr,
//! `repr(packed)`, unions, implicit padding, a `size`/`align` pin that does not hold,
//! enums with data or without an integer repr, and unknown, duplicate or misplaced
//! `#[ipc]` attributes. Every mistake is reported in the same compile. On request
//! (`#[ipc(new)]`) it also generates a constructor that zeroes the padding fields.
//!
//! Stages, one per module: `ast` builds the model (reading `attr` and `repr`), `check`
//! applies the rules, `expand` generates; `ctxt` collects the errors.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod repr;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `ipc::Message` for a `#[repr(C)]`/`#[repr(transparent)]` struct or a fieldless
/// enum with an integer repr.
///
/// Attributes on the type, all optional:
///
/// - `#[ipc(size = N)]`, `#[ipc(align = N)]`: fail the build unless the type has this
///   size or alignment;
/// - `#[ipc(name = "...")]`: the schema name (default: the type's identifier), which the
///   fingerprint covers; pin it to keep the fingerprint when the type is renamed;
/// - `#[ipc(crate = "path")]`: where to find `ipc` if not at `::ipc`;
/// - `#[ipc(new)]`, on a struct with named fields: generates
///   `const fn new(field: Type, ...) -> Self`, with the struct's visibility, taking every
///   field that is not padding, in declaration order and by its own name, and zeroing the
///   padding. A field is padding when its name starts with `_` and its type is written
///   `[u8; N]`, or when it is marked `#[ipc(pad)]` (its type must then accept all-zero
///   bytes). `#[ipc(pad)]` is the only attribute a field takes, and only with `new`.
///
/// Padding and pins are checked when the type is compiled; for a generic type, when an
/// instance is used (its `SCHEMA`, `FINGERPRINT` or `validate`), since only then is its
/// layout known. Such a check in a function body runs during `cargo build`, not
/// `cargo check`. A generic `repr(C)` struct is `Zeroable` but not `Pod`, because
/// bytemuck would not trigger that check.
#[proc_macro_derive(Message, attributes(ipc))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Parses and checks the whole input, collecting every error; generates only if none.
fn derive(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let cx = ctxt::Ctxt::new();
    let model = ast::Input::from_syn(&cx, input);
    if let Some(model) = &model {
        check::check(&cx, model);
    }
    cx.finish()?;
    Ok(model.map(|m| expand::expand(&m)).unwrap_or_default())
}
