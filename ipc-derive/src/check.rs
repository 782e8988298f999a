//! Rules that need the whole model. Each records its mistakes in the [`Ctxt`], spanned
//! on the token at fault, and says what is required instead.
//!
//! Layout itself (padding, pins, `Copy`, `Message` on every field) is not computed here:
//! the generated code asks the compiler, which knows it exactly (see `expand.rs`). What
//! is checked here is what can be read from the tokens and deserves a better message
//! than a failed trait bound.

use syn::{GenericArgument, GenericParam, PathArguments, Type};

use crate::ast::{Body, Field, Input, Variant};
use crate::ctxt::Ctxt;

pub fn check(cx: &Ctxt, input: &Input<'_>) {
    check_no_lifetimes(cx, input);
    match &input.body {
        Body::Struct { fields, named, .. } => {
            for field in fields {
                check_field_type(cx, field.ty);
            }
            check_constructor(cx, input, *named, fields);
        }
        Body::Enum { variants, .. } => {
            if let Some(new) = &input.attrs.new {
                cx.error_spanned_by(
                    new,
                    "#[ipc(new)] makes a constructor from a struct's fields; an enum has no \
                     fields to take: its values are its variants",
                );
            }
            check_enum_has_variants(cx, input, variants);
            for variant in variants {
                check_variant_has_no_data(cx, variant);
            }
        }
    }
}

/// Why: the constructor's parameters take the fields' names, so a tuple or unit struct
/// has nothing to name them by (and is built by `Name(..)` already); a field marked
/// `#[ipc(pad)]` without a constructor to zero it would be a mark that does nothing.
fn check_constructor(cx: &Ctxt, input: &Input<'_>, named: bool, fields: &[Field<'_>]) {
    match &input.attrs.new {
        Some(new) if !named => cx.error_spanned_by(
            new,
            "#[ipc(new)] needs a struct with named fields: the constructor's parameters \
             take their names; build a tuple or unit struct with its own `Name(..)`",
        ),
        Some(_) => {}
        None => {
            for pad in fields.iter().filter_map(|f| f.attrs.pad.as_ref()) {
                cx.error_spanned_by(
                    pad,
                    "#[ipc(pad)] tells the #[ipc(new)] constructor to zero this field, but \
                     the type has no #[ipc(new)]; add it to the type, or remove this",
                );
            }
        }
    }
}

/// Why: a message is `'static` and holds no borrowed data, so a lifetime parameter has
/// nothing to refer to; saying so beats a failed `'static` bound in generated code.
fn check_no_lifetimes(cx: &Ctxt, input: &Input<'_>) {
    for param in &input.generics.params {
        if let GenericParam::Lifetime(lt) = param {
            cx.error_spanned_by(
                lt,
                "a Message cannot have lifetime parameters: it holds no borrowed data, \
                 because a borrow does not cross a process boundary",
            );
        }
    }
}

/// Why: these types are `Copy` or look harmless but hold addresses (references, raw
/// and function pointers, `NonNull`) or own heap memory (`Box`, `Vec`, `String`, `Rc`,
/// `Arc`), which mean nothing in another process; `usize`/`isize` change width between
/// a 32-bit and a 64-bit peer. Catching them by name gives a message saying what to use
/// instead. Arrays and generic arguments are searched too (`[&u8; 4]`, `Pair<usize>`).
pub(crate) fn check_field_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(_) => cx.error_spanned_by(
            ty,
            "a reference cannot cross a process boundary: the address means nothing in \
             the other process; store the value itself (a Message type, an array or ipc::FixedStr<N>)",
        ),
        Type::Ptr(_) => cx.error_spanned_by(
            ty,
            "a raw pointer cannot cross a process boundary: the address means nothing in \
             the other process; store the value itself, or an index or offset into shared data",
        ),
        Type::BareFn(_) => cx.error_spanned_by(
            ty,
            "a function pointer cannot cross a process boundary: code addresses differ \
             between processes; send a #[repr(u8)] enum naming the action instead",
        ),
        Type::Array(array) => check_field_type(cx, &array.elem),
        Type::Paren(inner) => check_field_type(cx, &inner.elem),
        Type::Group(inner) => check_field_type(cx, &inner.elem),
        Type::Tuple(tuple) => {
            for elem in &tuple.elems {
                check_field_type(cx, elem);
            }
        }
        Type::Path(path) if path.qself.is_none() => {
            let Some(last) = path.path.segments.last() else {
                return;
            };
            if let Some(advice) = forbidden_by_name(&last.ident.to_string()) {
                cx.error_spanned_by(ty, advice);
                return;
            }
            if let PathArguments::AngleBracketed(args) = &last.arguments {
                for arg in &args.args {
                    if let GenericArgument::Type(inner) = arg {
                        check_field_type(cx, inner);
                    }
                }
            }
        }
        _ => {}
    }
}

fn forbidden_by_name(name: &str) -> Option<String> {
    let advice = match name {
        "usize" | "isize" => {
            let to = if name == "usize" {
                "u64 or u32"
            } else {
                "i64 or i32"
            };
            return Some(format!(
                "`{name}` cannot cross a process boundary: use {to}: the width of {name} \
                 differs between 32- and 64-bit peers"
            ));
        }
        "NonNull" => {
            "a pointer cannot cross a process boundary: the address means nothing in \
                      the other process; store the value itself, or an index or offset"
        }
        "Box" => {
            "`Box` points to heap memory the other process cannot see; store the value \
                  inline (a Message type, an array or ipc::FixedStr<N>)"
        }
        "Vec" => {
            "`Vec` points to heap memory the other process cannot see; use a fixed-size \
                  array `[T; N]` with a length field"
        }
        "String" => {
            "`String` points to heap memory the other process cannot see; use \
                     `ipc::FixedStr<N>` (N bytes of UTF-8, inline)"
        }
        "Rc" | "Arc" => {
            return Some(format!(
                "`{name}` points to heap memory the other process cannot see; store the value \
                 inline (a Message type, an array or ipc::FixedStr<N>)"
            ))
        }
        _ => return None,
    };
    Some(advice.to_owned())
}

/// Why: a zero-variant enum has no valid value at all, so no received bytes could ever
/// be accepted, and `validate` would have nothing to compare against.
fn check_enum_has_variants(cx: &Ctxt, input: &Input<'_>, variants: &[Variant<'_>]) {
    if variants.is_empty() {
        cx.error_spanned_by(
            input.ident,
            "#[derive(Message)] refuses an enum without variants: no value of it can exist, \
             so none can be received; add a variant",
        );
    }
}

/// Why: a variant with data makes the enum a tagged union whose payload layout Rust
/// does not fix for us to check; only fieldless enums are a plain integer.
fn check_variant_has_no_data(cx: &Ctxt, variant: &Variant<'_>) {
    if !variant.original.fields.is_empty() {
        cx.error_spanned_by(
            &variant.original.fields,
            format!(
                "#[derive(Message)] accepts only fieldless enums, but variant `{}` has data; \
                 move the data into a #[repr(C)] struct next to a fieldless #[repr(u8)] enum tag",
                variant.name
            ),
        );
    }
}
