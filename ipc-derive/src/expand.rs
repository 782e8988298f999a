//! Code generation. Runs only on a model that passed every check, and cannot fail.
//!
//! Layout is not computed here but asked of the compiler: the generated code compares
//! `offset_of!`/`size_of` in `const` items that call `__private::assert_no_padding` and
//! `__private::assert_pin`, which panic at compile time with a message naming the field
//! and the fix. Those calls carry the span of the field (or attribute) at fault, so the
//! error points there. For a generic type the layout is only known once it is
//! instantiated: the checks then live in an associated const that `SCHEMA` and
//! `validate` force, so they run for every instantiation that is used.
//!
//! Everything is wrapped in `const _: () = { ... };` and refers to the runtime only
//! through `::ipc::__private` (or the `#[ipc(crate)]` path) and to `::core`.

use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    BoundLifetimes, GenericParam, Generics, Ident, Lifetime, LifetimeParam, Path, PathSegment,
    PredicateType, Token, TraitBound, TraitBoundModifier, Type, TypeParamBound, TypePath,
    WherePredicate,
};

use crate::ast::{Body, Field, Input, Variant};
use crate::repr::{Int, StructRepr};

pub fn expand(input: &Input<'_>) -> TokenStream {
    let krate = match &input.attrs.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::ipc),
    };
    let p = quote!(#krate::__private);
    let body = match &input.body {
        Body::Struct { repr, fields, .. } => expand_struct(input, &p, repr, fields),
        Body::Enum { repr, variants } => expand_enum(input, &p, *repr, variants),
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, unused_qualifications, clippy::all)]
        const _: () = {
            #body
        };
    }
}

fn expand_struct(
    input: &Input<'_>,
    p: &TokenStream,
    repr: &StructRepr,
    fields: &[Field<'_>],
) -> TokenStream {
    let ident = input.ident;
    let name = input.schema_name();
    let generic = !input.generics.params.is_empty();
    let message = private_path(input, &["Message"]);
    let generics = with_bound(input.generics, &message);
    let (impl_g, ty_g, where_c) = generics.split_for_impl();

    // Layout checks, written against `Self` (generic) or the type itself (eager).
    let self_ty = if generic {
        quote!(Self)
    } else {
        quote!(#ident)
    };
    let mut checks = pin_checks(input, p, &self_ty);
    if matches!(repr, StructRepr::C) {
        checks.extend(padding_checks(input, p, &self_ty, fields));
    }
    let (layout, force) = if generic {
        (
            quote! {
                trait __IpcLayout {
                    const CHECK: ();
                }
                #[automatically_derived]
                impl #impl_g __IpcLayout for #ident #ty_g #where_c {
                    const CHECK: () = { #(#checks;)* };
                }
            },
            quote!(let () = <Self as __IpcLayout>::CHECK;),
        )
    } else {
        (quote!(#(const _: () = #checks;)*), quote!())
    };

    let tys: Vec<&Type> = fields.iter().map(|f| f.ty).collect();
    let members: Vec<_> = fields.iter().map(|f| &f.member).collect();
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    // Each field type must be a Message; the call carries the type's span, so a failed
    // bound points at the field (with the trait's #[diagnostic::on_unimplemented] text).
    let assert_fields = fields.iter().map(|f| {
        let ty = f.ty;
        quote_spanned!(ty.span()=> #p::assert_message::<#ty>();)
    });

    // The field bounds are higher-ranked so that a field that is not a `Message` is
    // reported once, by `assert_message` on that field, rather than again by every use
    // of it in the impl: the impl then simply does not exist.
    let msg_generics = with_fields(&generics, &tys, &message);
    let (msg_impl_g, _, msg_where) = msg_generics.split_for_impl();

    let bytemuck = bytemuck_impls(input, p, repr, &tys);
    let constructor = input
        .attrs
        .new
        .as_ref()
        .map(|_| constructor(input, p, fields));
    quote! {
        #layout

        #[allow(dead_code)]
        fn __ipc_assert_fields #impl_g () #where_c {
            #(#assert_fields)*
        }

        // SAFETY: the type is #[repr(C)] or #[repr(transparent)] (checked by the derive), so
        // its layout is fixed; every field is a `Message` (the bounds), so has no padding,
        // pointers or platform-dependent width inside; the `const` checks above fail the
        // build if any byte between or after the fields is padding; `SCHEMA` takes size,
        // alignment and offsets from the compiler; `validate` checks the length and then
        // every field whose type does not accept all bit patterns.
        #[automatically_derived]
        unsafe impl #msg_impl_g #p::Message for #ident #ty_g #msg_where {
            const SCHEMA: #p::Schema = {
                #force
                #p::Schema::structure(
                    #name,
                    ::core::mem::size_of::<Self>(),
                    ::core::mem::align_of::<Self>(),
                    &[#(
                        #p::Field::new(
                            #names,
                            ::core::mem::offset_of!(Self, #members),
                            &<#tys as #p::Message>::SCHEMA,
                        )
                    ),*],
                )
            };

            #[inline]
            fn validate(
                __bytes: &[::core::primitive::u8],
            ) -> ::core::result::Result<(), #p::InvalidMessage> {
                #force
                if __bytes.len() != ::core::mem::size_of::<Self>() {
                    return ::core::result::Result::Err(#p::InvalidMessage::length(
                        #name,
                        ::core::mem::size_of::<Self>(),
                        __bytes.len(),
                    ));
                }
                #(
                    if !const { <#tys as #p::Message>::SCHEMA.accepts_any_bits() } {
                        let __offset = ::core::mem::offset_of!(Self, #members);
                        let __end = __offset + ::core::mem::size_of::<#tys>();
                        <#tys as #p::Message>::validate(&__bytes[__offset..__end])
                            .map_err(|__e| __e.in_field(#name, #names, __offset))?;
                    }
                )*
                ::core::result::Result::Ok(())
            }
        }

        #bytemuck

        #constructor
    }
}

/// `#[ipc(new)]`: `const fn new` with the struct's visibility, taking every field that is
/// not padding, in declaration order and under its own name, and zeroing the padding.
///
/// A padding field's type must be `Zeroable`: a non-generic one is checked where it is
/// zeroed (an error on the field if it is not), one that involves a type parameter is a
/// bound in the method's `where` clause, which the caller meets.
fn constructor(input: &Input<'_>, p: &TokenStream, fields: &[Field<'_>]) -> TokenStream {
    let ident = input.ident;
    let vis = input.vis;
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let (pads, args): (Vec<&Field<'_>>, Vec<&Field<'_>>) =
        fields.iter().partition(|f| f.is_padding());

    let params = args.iter().map(|f| {
        let (member, ty) = (&f.member, f.ty);
        quote!(#member: #ty)
    });
    let values = fields.iter().map(|f| {
        let member = &f.member;
        if f.is_padding() {
            let ty = f.ty;
            quote_spanned!(ty.span()=> #member: #p::zeroed::<#ty>())
        } else {
            quote!(#member: #member)
        }
    });
    // A padding type that involves a type parameter is a bound of `new`; any other is
    // checked where it is zeroed, with `ZeroPadding`'s message on the field.
    let type_params: Vec<&Ident> = input.generics.type_params().map(|t| &t.ident).collect();
    let zeroable = pads
        .iter()
        .filter(|f| mentions(f.ty.to_token_stream(), &type_params))
        .map(|f| {
            let ty = f.ty;
            quote_spanned!(ty.span()=> #ty: #p::ZeroPadding)
        });

    let name = ident.unraw().to_string();
    let mut doc = format!("A `{name}` from its fields, in declaration order");
    if pads.is_empty() {
        doc.push('.');
    } else {
        let list: Vec<String> = pads.iter().map(|f| format!("`{}`", f.name)).collect();
        doc.push_str(&format!(
            ", with the padding field{} {} zeroed.",
            if pads.len() == 1 { "" } else { "s" },
            list.join(", ")
        ));
    }
    doc.push_str("\n\nGenerated by `#[ipc(new)]`.");

    quote! {
        #[automatically_derived]
        impl #impl_g #ident #ty_g #where_c {
            #[doc = #doc]
            #[must_use]
            #[inline]
            #[allow(dead_code, clippy::too_many_arguments)]
            #vis const fn new(#(#params),*) -> Self
            where
                #(#zeroable,)*
            {
                Self { #(#values),* }
            }
        }
    }
}

/// True if `tokens` name one of `idents` (a type parameter, in a field type).
fn mentions(tokens: TokenStream, idents: &[&Ident]) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => idents.iter().any(|p| **p == i),
        TokenTree::Group(g) => mentions(g.stream(), idents),
        _ => false,
    })
}

/// `const` expressions that fail the build when a field is followed by padding, each
/// spanned on that field.
fn padding_checks(
    input: &Input<'_>,
    p: &TokenStream,
    self_ty: &TokenStream,
    fields: &[Field<'_>],
) -> Vec<TokenStream> {
    // A struct without fields has size 0 whatever its alignment: nothing to check.
    let ty_name = input.ident.unraw().to_string();
    let mut checks = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let (member, ty, name) = (&field.member, field.ty, &field.name);
        let (next, at_end) = match fields.get(i + 1) {
            Some(next) => {
                let m = &next.member;
                (quote!(::core::mem::offset_of!(#self_ty, #m)), false)
            }
            None => (quote!(::core::mem::size_of::<#self_ty>()), true),
        };
        let gap = quote! {
            #next - (::core::mem::offset_of!(#self_ty, #member) + ::core::mem::size_of::<#ty>())
        };
        checks.push(spanned_call(
            field.start_span(),
            field.end_span(),
            quote!(#p::assert_no_padding),
            quote!(#ty_name, #name, #gap, #at_end),
        ));
    }
    checks
}

/// `const` expressions that fail the build when a `size`/`align` pin does not hold,
/// spanned on the attribute.
fn pin_checks(input: &Input<'_>, p: &TokenStream, self_ty: &TokenStream) -> Vec<TokenStream> {
    let ty_name = input.ident.unraw().to_string();
    let pins = [
        ("size", &input.attrs.size, quote!(size_of)),
        ("align", &input.attrs.align, quote!(align_of)),
    ];
    pins.into_iter()
        .filter_map(|(what, pin, of)| {
            let pin = pin.as_ref()?;
            let mut value = Literal::usize_unsuffixed(pin.value);
            value.set_span(pin.lit);
            Some(spanned_call(
                pin.key,
                pin.lit,
                quote!(#p::assert_pin),
                quote!(#ty_name, #what, #value, ::core::mem::#of::<#self_ty>()),
            ))
        })
        .collect()
}

/// `Zeroable` for every struct whose fields are all `Zeroable`, and `Pod` for every
/// struct whose fields are all `Pod`, via `for<'a>` bounds: the compiler accepts a bound
/// that does not hold when it is higher-ranked, so the impl exists exactly when every
/// field type has the trait.
///
/// `Pod` is not generated for a generic `repr(C)` struct: bytemuck never forces the
/// layout checks, so `Pair<u8, u32>` could be cast to bytes with its padding.
fn bytemuck_impls(
    input: &Input<'_>,
    p: &TokenStream,
    repr: &StructRepr,
    tys: &[&Type],
) -> TokenStream {
    let ident = input.ident;
    let bm = quote!(#p::bytemuck);
    let message = private_path(input, &["Message"]);
    let with_message = with_bound(input.generics, &message);
    let (_, ty_g, _) = input.generics.split_for_impl();

    let zeroable = with_fields(
        &with_message,
        tys,
        &private_path(input, &["bytemuck", "Zeroable"]),
    );
    let (impl_g, _, where_c) = zeroable.split_for_impl();
    let mut out = quote! {
        // SAFETY: every field type is `Zeroable` (the bounds), so all-zero bytes are a
        // valid value of every field; padding, if any, may be anything.
        #[automatically_derived]
        unsafe impl #impl_g #bm::Zeroable for #ident #ty_g #where_c {}
    };
    if input.generics.params.is_empty() || matches!(repr, StructRepr::Transparent) {
        let mut pod = with_fields(
            &with_message,
            tys,
            &private_path(input, &["bytemuck", "Pod"]),
        );
        // `Self: Message` implies the `Copy + 'static` that `Pod` requires; a missing
        // `Copy` is then reported once, on the `Message` impl.
        pod.make_where_clause()
            .predicates
            .push(predicate(self_type(), &message, true));
        let (impl_g, _, where_c) = pod.split_for_impl();
        out.extend(quote! {
            // SAFETY: every field type is `Pod` (the bounds); the type is repr(C) with no
            // padding (the const checks above, evaluated for this non-generic type) or
            // repr(transparent) over a `Pod` field; it is `Copy` and `'static` (Message).
            #[automatically_derived]
            unsafe impl #impl_g #bm::Pod for #ident #ty_g #where_c {}
        });
    }
    out
}

fn expand_enum(
    input: &Input<'_>,
    p: &TokenStream,
    int: Int,
    variants: &[Variant<'_>],
) -> TokenStream {
    let ident = input.ident;
    let name = input.schema_name();
    let int = int.ident();
    let int = quote!(::core::primitive::#int);
    let self_ty = quote!(#ident);
    let checks = pin_checks(input, p, &self_ty);
    let vidents: Vec<_> = variants.iter().map(|v| v.ident).collect();
    let vnames: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    let consts: Vec<_> = (0..variants.len())
        .map(|i| format_ident!("__IPC_DISCRIMINANT_{}", i))
        .collect();
    quote! {
        #(const _: () = #checks;)*

        // SAFETY: the enum is fieldless with an integer repr (checked by the derive), so a
        // value is exactly that integer, initialised and pointer-free; `SCHEMA` uses the
        // repr's size and alignment; `validate` accepts a byte string only if it has that
        // size and holds the discriminant of a variant, which is then a valid value.
        #[automatically_derived]
        unsafe impl #p::Message for #ident {
            const SCHEMA: #p::Schema = #p::Schema::enumeration(
                #name,
                &<#int as #p::Message>::SCHEMA,
                &[#(#p::Variant::new(#vnames, #ident::#vidents as ::core::primitive::i128)),*],
            );

            #[inline]
            fn validate(
                __bytes: &[::core::primitive::u8],
            ) -> ::core::result::Result<(), #p::InvalidMessage> {
                let ::core::result::Result::Ok(__raw) =
                    <[::core::primitive::u8; ::core::mem::size_of::<#int>()] as ::core::convert::TryFrom<&[::core::primitive::u8]>>::try_from(__bytes)
                else {
                    return ::core::result::Result::Err(#p::InvalidMessage::length(
                        #name,
                        ::core::mem::size_of::<#int>(),
                        __bytes.len(),
                    ));
                };
                let __value = <#int>::from_ne_bytes(__raw);
                #(const #consts: #int = #ident::#vidents as #int;)*
                match __value {
                    #(#consts)|* => ::core::result::Result::Ok(()),
                    _ => ::core::result::Result::Err(
                        #p::InvalidMessage::new(#p::Problem::Discriminant {
                            enum_name: #name,
                            value: __value as ::core::primitive::i128,
                        })
                        .of(#name),
                    ),
                }
            }
        }
    }
}

/// `generics` with `Param: bound` for every type parameter.
fn with_bound(generics: &Generics, bound: &Path) -> Generics {
    let mut generics = generics.clone();
    let params: Vec<Type> = generics
        .type_params()
        .map(|t| {
            Type::Path(TypePath {
                qself: None,
                path: t.ident.clone().into(),
            })
        })
        .collect();
    let where_clause = generics.make_where_clause();
    for param in params {
        where_clause.predicates.push(predicate(param, bound, false));
    }
    generics
}

/// `generics` with `for<'__ipc> FieldTy: bound` for every field type.
fn with_fields(generics: &Generics, tys: &[&Type], bound: &Path) -> Generics {
    let mut generics = generics.clone();
    let where_clause = generics.make_where_clause();
    for ty in tys {
        where_clause
            .predicates
            .push(predicate((*ty).clone(), bound, true));
    }
    generics
}

/// `ty: bound`, or `for<'__ipc> ty: bound`, built from syntax-tree values rather than
/// parsed from tokens, so no user type can make it fail.
fn predicate(ty: Type, bound: &Path, higher_ranked: bool) -> WherePredicate {
    let lifetimes = higher_ranked.then(|| BoundLifetimes {
        lifetimes: [GenericParam::Lifetime(LifetimeParam::new(Lifetime::new(
            "'__ipc",
            Span::call_site(),
        )))]
        .into_iter()
        .collect(),
        ..BoundLifetimes::default()
    });
    let bound = TypeParamBound::Trait(TraitBound {
        paren_token: None,
        modifier: TraitBoundModifier::None,
        lifetimes: None,
        path: bound.clone(),
    });
    WherePredicate::Type(PredicateType {
        lifetimes,
        bounded_ty: ty,
        colon_token: Token![:](Span::call_site()),
        bounds: [bound].into_iter().collect(),
    })
}

/// The type `Self`.
fn self_type() -> Type {
    Type::Path(TypePath {
        qself: None,
        path: Ident::new("Self", Span::call_site()).into(),
    })
}

/// `<ipc>::__private::<segments>`, where `<ipc>` is `::ipc` or the `#[ipc(crate)]` path.
fn private_path(input: &Input<'_>, segments: &[&str]) -> Path {
    let mut path = input.attrs.krate.clone().unwrap_or_else(|| Path {
        leading_colon: Some(Token![::](Span::call_site())),
        segments: [PathSegment::from(Ident::new("ipc", Span::call_site()))]
            .into_iter()
            .collect(),
    });
    for segment in ["__private"].iter().chain(segments) {
        path.segments
            .push(PathSegment::from(Ident::new(segment, Span::call_site())));
    }
    path
}

/// `func(args)` whose first token has span `start` and whose parentheses have span
/// `end`: the compiler reports an error in the call on the whole range, e.g. a field
/// from its name to the end of its type.
fn spanned_call(start: Span, end: Span, func: TokenStream, args: TokenStream) -> TokenStream {
    let mut group = Group::new(Delimiter::Parenthesis, args);
    group.set_span(end);
    let func = respan(func, start);
    quote!(#func #group)
}

/// `tokens` with every span replaced by `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut inner = Group::new(g.delimiter(), respan(g.stream(), span));
                inner.set_span(span);
                tt = TokenTree::Group(inner);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
