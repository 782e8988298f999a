//! The trait under `#[ipc::service]` turned into a small model: its methods, their
//! arguments and what they return, keeping the original tokens for spans. What cannot
//! be modelled (a receiver by value, a pattern as an argument) is recorded in the model
//! for `check` to refuse, so every mistake is reported in one compile.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::{
    FnArg, GenericArgument, Ident, ItemTrait, Pat, Path, PathArguments, ReturnType, TraitItem,
    TraitItemFn, Type, Visibility,
};

use crate::ctxt::Ctxt;

/// The service: the trait and its methods.
pub struct Service<'a> {
    pub item: &'a ItemTrait,
    pub ident: &'a Ident,
    pub vis: &'a Visibility,
    pub methods: Vec<Method<'a>>,
    /// Trait items that are not methods (constants, types, macros), for `check`.
    pub others: Vec<&'a TraitItem>,
    /// `crate = "path"`: where the `ipc` crate is, instead of `::ipc`.
    pub krate: Option<Path>,
}

/// One method of the trait.
pub struct Method<'a> {
    pub original: &'a TraitItemFn,
    pub ident: &'a Ident,
    /// The name in the schema and the errors: the identifier without `r#`.
    pub name: String,
    pub receiver: Receiver<'a>,
    pub args: Vec<Arg<'a>>,
    pub ret: Ret<'a>,
}

/// How a method takes `self`.
pub enum Receiver<'a> {
    /// `&self` or `&mut self`: what a server can call on the value it owns.
    Ref,
    /// `self`, `self: Box<Self>`, ...: refused, spanned on this.
    Other(&'a FnArg),
    /// No receiver at all (an associated function): refused.
    Missing,
}

/// One argument: `name: Type`, or a pattern `check` refuses.
pub struct Arg<'a> {
    pub pat: &'a Pat,
    /// The identifier, if the pattern is a plain one.
    pub ident: Option<&'a Ident>,
    pub ty: &'a Type,
}

/// What a method returns.
pub enum Ret<'a> {
    /// Nothing (`()`).
    Unit,
    /// A value, carried as it is.
    Value(&'a Type),
    /// `Result<T, E>`: `ok` is `None` for `Result<(), E>`.
    Result { ok: Option<&'a Type>, err: &'a Type },
    /// `Result<T>` with one argument (an alias whose error is not a message): refused.
    ResultAlias(&'a Type),
}

impl<'a> Service<'a> {
    pub fn from_syn(cx: &Ctxt, item: &'a ItemTrait, krate: Option<Path>) -> Self {
        let mut methods = Vec::new();
        let mut others = Vec::new();
        for trait_item in &item.items {
            match trait_item {
                TraitItem::Fn(f) => methods.push(Method::from_syn(cx, f)),
                other => others.push(other),
            }
        }
        Service {
            item,
            ident: &item.ident,
            vis: &item.vis,
            methods,
            others,
            krate,
        }
    }

    /// The path to the `ipc` crate.
    pub fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote::quote!(::ipc),
        }
    }
}

impl<'a> Method<'a> {
    fn from_syn(_cx: &Ctxt, f: &'a TraitItemFn) -> Self {
        let sig = &f.sig;
        let mut inputs = sig.inputs.iter();
        let receiver = match sig.inputs.first() {
            Some(FnArg::Receiver(r)) if r.reference.is_some() && r.colon_token.is_none() => {
                inputs.next();
                Receiver::Ref
            }
            Some(arg @ FnArg::Receiver(_)) => {
                inputs.next();
                Receiver::Other(arg)
            }
            _ => Receiver::Missing,
        };
        let args = inputs
            .filter_map(|arg| match arg {
                FnArg::Typed(t) => Some(Arg {
                    pat: &t.pat,
                    ident: match &*t.pat {
                        Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(&p.ident),
                        _ => None,
                    },
                    ty: &t.ty,
                }),
                FnArg::Receiver(_) => None,
            })
            .collect();
        Method {
            original: f,
            ident: &sig.ident,
            name: sig.ident.unraw().to_string(),
            receiver,
            args,
            ret: Ret::from_syn(&sig.output),
        }
    }
}

impl<'a> Ret<'a> {
    fn from_syn(output: &'a ReturnType) -> Self {
        let ReturnType::Type(_, ty) = output else {
            return Ret::Unit;
        };
        if is_unit(ty) {
            return Ret::Unit;
        }
        if let Type::Path(p) = &**ty {
            let last = p.path.segments.last();
            if let (None, Some(last)) = (&p.qself, last) {
                if last.ident == "Result" {
                    if let PathArguments::AngleBracketed(a) = &last.arguments {
                        let types: Vec<&Type> = a
                            .args
                            .iter()
                            .filter_map(|g| match g {
                                GenericArgument::Type(t) => Some(t),
                                _ => None,
                            })
                            .collect();
                        match types[..] {
                            [ok, err] => {
                                return Ret::Result {
                                    ok: (!is_unit(ok)).then_some(ok),
                                    err,
                                }
                            }
                            [_] => return Ret::ResultAlias(ty),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ret::Value(ty)
    }
}

/// `()`.
pub fn is_unit(ty: &Type) -> bool {
    match ty {
        Type::Tuple(t) => t.elems.is_empty(),
        Type::Paren(p) => is_unit(&p.elem),
        Type::Group(g) => is_unit(&g.elem),
        _ => false,
    }
}

/// The attribute's arguments: nothing, or `crate = "path"`.
pub fn crate_path(cx: &Ctxt, args: TokenStream) -> Option<Path> {
    if args.is_empty() {
        return None;
    }
    let mut krate = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            let lit: syn::LitStr = meta.value()?.parse()?;
            if krate.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate `crate` argument");
            }
            match lit.parse::<Path>() {
                Ok(path) => krate = Some(path),
                Err(_) => cx.error_spanned_by(&lit, "expected a path, e.g. `crate = \"::ipc\"`"),
            }
            Ok(())
        } else {
            Err(meta.error("unknown #[ipc::service] argument; expected `crate = \"path\"`"))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        cx.push(e);
    }
    krate
}
