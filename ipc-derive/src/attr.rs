//! `#[ipc(...)]` attributes: on the type `size = N`, `align = N`, `name = "..."`,
//! `crate = "path"` and `new`; on a field `pad`.
//!
//! Every mistake (unknown key, duplicate key, malformed value, a type's key on a field,
//! an `#[ipc]` on a variant) is recorded in the [`Ctxt`] and parsing goes on, so all of
//! them are reported.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Attribute, Ident, LitInt, LitStr, Path, Token};

use crate::ctxt::Ctxt;

/// The attributes a type may carry.
#[derive(Default)]
pub struct TypeAttrs {
    /// `#[ipc(size = N)]`: the size the type must have.
    pub size: Option<Pin>,
    /// `#[ipc(align = N)]`: the alignment the type must have.
    pub align: Option<Pin>,
    /// `#[ipc(name = "...")]`: the schema name, instead of the type's identifier.
    pub name: Option<LitStr>,
    /// `#[ipc(crate = "path")]`: where the `ipc` crate is, instead of `::ipc`.
    pub krate: Option<Path>,
    /// `#[ipc(new)]`: generate `const fn new` taking the fields that are not padding.
    pub new: Option<Ident>,
}

/// The attributes a struct field may carry.
#[derive(Default)]
pub struct FieldAttrs {
    /// `#[ipc(pad)]`: the field is padding, zeroed by the `#[ipc(new)]` constructor.
    pub pad: Option<Ident>,
}

/// A compile-time pin such as `size = 40`, with the spans of its key and value so a
/// failed check points at the attribute.
pub struct Pin {
    pub value: usize,
    pub key: Span,
    pub lit: Span,
}

const KNOWN: &str =
    "expected `size = N`, `align = N`, `name = \"...\"`, `crate = \"path\"` or `new`";

/// Parses every `#[ipc(...)]` on the type itself.
pub fn type_attrs(cx: &Ctxt, attrs: &[Attribute]) -> TypeAttrs {
    let mut out = TypeAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("ipc")) {
        let result = attr.parse_nested_meta(|meta| {
            let Some(key) = meta.path.get_ident().cloned() else {
                cx.error_spanned_by(&meta.path, format!("unknown #[ipc] attribute; {KNOWN}"));
                return skip_value(meta.input);
            };
            match key.to_string().as_str() {
                "size" => set(cx, &mut out.size, &key, pin(&meta, &key, false)),
                "align" => set(cx, &mut out.align, &key, pin(&meta, &key, true)),
                "name" => set(cx, &mut out.name, &key, name(&meta)),
                "crate" => set(cx, &mut out.krate, &key, krate(&meta)),
                "new" => set(cx, &mut out.new, &key, flag(&meta, &key)),
                "pad" => cx.error_spanned_by(
                    &key,
                    "#[ipc(pad)] marks a field as padding; put it on the field",
                ),
                other => cx
                    .error_spanned_by(&key, format!("unknown #[ipc] attribute `{other}`; {KNOWN}")),
            }
            // After an error the value may be partly unread: skip to the next key.
            skip_value(meta.input)
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    out
}

/// Parses every `#[ipc(...)]` on a struct field, which takes only `pad`.
pub fn field_attrs(cx: &Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("ipc")) {
        let result = attr.parse_nested_meta(|meta| {
            match meta.path.get_ident() {
                Some(key) if key == "pad" => {
                    set(cx, &mut out.pad, key, flag(&meta, key));
                }
                Some(key) if TYPE_KEYS.contains(&key.to_string().as_str()) => {
                    cx.error_spanned_by(
                        key,
                        format!(
                            "#[ipc({key})] is not allowed on a field; put it on the type \
                             (a field takes only #[ipc(pad)])"
                        ),
                    );
                }
                _ => cx.error_spanned_by(
                    &meta.path,
                    "unknown #[ipc] attribute on a field; a field takes only #[ipc(pad)]",
                ),
            }
            skip_value(meta.input)
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }
    out
}

/// The keys a type takes, refused with a pointer to the type when found on a field.
const TYPE_KEYS: [&str; 5] = ["size", "align", "name", "crate", "new"];

/// Refuses `#[ipc(...)]` where it has no meaning (variants).
pub fn refuse_on(cx: &Ctxt, attrs: &[Attribute], place: &str) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("ipc")) {
        cx.error_spanned_by(
            attr,
            format!("#[ipc(...)] is not allowed on {place}; put it on the type"),
        );
    }
}

/// Stores a parsed value, refusing a key given twice. A value that failed to parse was
/// already reported, and leaves the slot as it was.
fn set<T>(cx: &Ctxt, slot: &mut Option<T>, key: &Ident, value: syn::Result<T>) {
    match value {
        Ok(_) if slot.is_some() => {
            cx.error_spanned_by(
                key,
                format!("duplicate #[ipc({key})] attribute; keep only one"),
            );
        }
        Ok(v) => *slot = Some(v),
        Err(e) => cx.push(e),
    }
}

fn pin(meta: &ParseNestedMeta<'_>, key: &Ident, power_of_two: bool) -> syn::Result<Pin> {
    let lit: LitInt = meta.value()?.parse()?;
    let value: usize = lit.base10_parse()?;
    if power_of_two && !value.is_power_of_two() {
        return Err(syn::Error::new(
            lit.span(),
            format!("#[ipc(align = {value})]: an alignment must be a power of two"),
        ));
    }
    Ok(Pin {
        value,
        key: key.span(),
        lit: lit.span(),
    })
}

/// A key that takes no value, such as `new` or `pad`: returns the key.
fn flag(meta: &ParseNestedMeta<'_>, key: &Ident) -> syn::Result<Ident> {
    if meta.input.is_empty() || meta.input.peek(Token![,]) {
        Ok(key.clone())
    } else {
        Err(meta.error(format!("#[ipc({key})] takes no value; write #[ipc({key})]")))
    }
}

fn name(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    let lit: LitStr = meta.value()?.parse()?;
    if lit.value().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "#[ipc(name)] must not be empty",
        ));
    }
    Ok(lit)
}

fn krate(meta: &ParseNestedMeta<'_>) -> syn::Result<Path> {
    let lit: LitStr = meta.value()?.parse()?;
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "#[ipc(crate = \"...\")] expects a path such as \"ipc\" or \"::my_crate::ipc\"",
        )
    })
}

/// Skips the value of an unknown key (`= expr` or `(...)`), so the keys after it are
/// still parsed and checked.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}
