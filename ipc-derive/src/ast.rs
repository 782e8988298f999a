//! `syn::DeriveInput` turned into the derive's own small model, keeping references to
//! the original tokens for spans.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Generics, Ident, Member, Type, Visibility};

use crate::attr::{self, FieldAttrs, TypeAttrs};
use crate::ctxt::Ctxt;
use crate::repr::{self, Int, StructRepr};

/// A type `#[derive(Message)]` is applied to.
pub struct Input<'a> {
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub generics: &'a Generics,
    pub attrs: TypeAttrs,
    pub body: Body<'a>,
}

pub enum Body<'a> {
    Struct {
        repr: StructRepr,
        fields: Vec<Field<'a>>,
        /// `struct S { a: A }`, not `struct S(A)` or `struct S;`.
        named: bool,
    },
    Enum {
        repr: Int,
        variants: Vec<Variant<'a>>,
    },
}

/// One struct field.
pub struct Field<'a> {
    pub original: &'a syn::Field,
    /// `name` or `0` as `offset_of!` and field access spell it.
    pub member: Member,
    /// The name in the schema: the identifier without `r#`, or the tuple index.
    pub name: String,
    pub ty: &'a Type,
    pub attrs: FieldAttrs,
}

/// One enum variant.
pub struct Variant<'a> {
    pub original: &'a syn::Variant,
    pub ident: &'a Ident,
    /// The name in the schema: the identifier without `r#`.
    pub name: String,
}

impl<'a> Input<'a> {
    /// Builds the model. Mistakes are recorded in `cx`; `None` only when no model can be
    /// built at all (a union).
    pub fn from_syn(cx: &Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let attrs = attr::type_attrs(cx, &input.attrs);
        let body = match &input.data {
            Data::Struct(data) => Body::Struct {
                repr: repr::struct_repr(cx, &input.attrs, &input.ident),
                fields: data
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| Field::from_syn(cx, i, f))
                    .collect(),
                named: matches!(data.fields, syn::Fields::Named(_)),
            },
            Data::Enum(data) => Body::Enum {
                repr: repr::enum_repr(cx, &input.attrs, &input.ident),
                variants: data
                    .variants
                    .iter()
                    .map(|v| Variant::from_syn(cx, v))
                    .collect(),
            },
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "#[derive(Message)] refuses unions: which field holds the value is not in \
                     the bytes, so the receiver cannot validate it; use a #[repr(u8)] enum tag \
                     next to the data, or one message type per case",
                );
                return None;
            }
        };
        Some(Input {
            ident: &input.ident,
            vis: &input.vis,
            generics: &input.generics,
            attrs,
            body,
        })
    }

    /// The schema name: `#[ipc(name)]`, or the identifier without module path or generics.
    pub fn schema_name(&self) -> String {
        match &self.attrs.name {
            Some(lit) => lit.value(),
            None => self.ident.unraw().to_string(),
        }
    }
}

impl<'a> Field<'a> {
    fn from_syn(cx: &Ctxt, index: usize, field: &'a syn::Field) -> Self {
        let attrs = attr::field_attrs(cx, &field.attrs);
        let (member, name) = match &field.ident {
            Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string()),
            None => (Member::Unnamed(index.into()), index.to_string()),
        };
        Field {
            original: field,
            member,
            name,
            ty: &field.ty,
            attrs,
        }
    }

    /// True if the `#[ipc(new)]` constructor zeroes this field rather than take it: the
    /// field is marked `#[ipc(pad)]`, or it is named `_…` and its type is `[u8; N]`.
    pub fn is_padding(&self) -> bool {
        let underscored = self
            .original
            .ident
            .as_ref()
            .is_some_and(|i| i.unraw().to_string().starts_with('_'));
        self.attrs.pad.is_some() || (underscored && is_byte_array(self.ty))
    }

    /// The span of the field's first token (its name, or its type in a tuple struct).
    pub fn start_span(&self) -> Span {
        match &self.original.ident {
            Some(ident) => ident.span(),
            None => first_span(self.ty.to_token_stream()),
        }
    }

    /// The span of the field's last token (the end of its type).
    pub fn end_span(&self) -> Span {
        last_span(self.ty.to_token_stream())
    }
}

impl<'a> Variant<'a> {
    fn from_syn(cx: &Ctxt, variant: &'a syn::Variant) -> Self {
        attr::refuse_on(cx, &variant.attrs, "a variant");
        Variant {
            original: variant,
            ident: &variant.ident,
            name: variant.ident.unraw().to_string(),
        }
    }
}

/// `[u8; N]`, as written (also `[core::primitive::u8; N]`).
fn is_byte_array(ty: &Type) -> bool {
    let Type::Array(array) = ungroup(ty) else {
        return false;
    };
    let Type::Path(elem) = ungroup(&array.elem) else {
        return false;
    };
    elem.qself.is_none()
        && elem
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "u8" && s.arguments.is_none())
}

/// The type inside the invisible group a `macro_rules!` `$t:ty` leaves around it.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => ungroup(&g.elem),
        other => other,
    }
}

fn first_span(tokens: TokenStream) -> Span {
    tokens
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

fn last_span(tokens: TokenStream) -> Span {
    tokens
        .into_iter()
        .last()
        .map_or_else(Span::call_site, |t| t.span())
}
