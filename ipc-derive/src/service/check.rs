//! The rules of `#[ipc::service]`, one `fn check_<rule>` each with a comment saying why.
//! Each mistake is recorded spanned on the token at fault, and every one is reported.
//!
//! That every argument and result is a `Message` is not checked here but by the
//! compiler, on the argument structs the expansion derives `Message` for (the field
//! types keep the trait's spans, so the error points at the argument); what is checked
//! here is what the tokens show and deserves a better message.

use std::collections::HashMap;

use syn::{GenericParam, Type};

use super::ast::{Method, Receiver, Ret, Service};
use crate::check::check_field_type;
use crate::ctxt::Ctxt;

/// Names the generated client has besides the trait's methods.
const CLIENT_NAMES: [&str; 4] = ["new", "transport", "transport_mut", "into_transport"];

pub fn check(cx: &Ctxt, service: &Service<'_>) {
    check_trait_not_generic(cx, service);
    check_only_methods(cx, service);
    check_has_methods(cx, service);
    check_names(cx, service);
    for method in &service.methods {
        check_signature(cx, method);
        check_receiver(cx, method);
        check_args(cx, method);
        check_return(cx, method);
    }
}

/// Why: both ends must agree on one layout per method; a type parameter would give one
/// per instantiation, and a trait object has no fixed layout at all.
fn check_trait_not_generic(cx: &Ctxt, service: &Service<'_>) {
    let generics = &service.item.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "#[ipc::service] refuses a generic trait: both processes must agree on one \
             layout per method; use concrete message types",
        );
    }
    if let Some(w) = &generics.where_clause {
        cx.error_spanned_by(w, "#[ipc::service] refuses a where clause on the trait");
    }
    if !service.item.supertraits.is_empty() {
        cx.error_spanned_by(
            &service.item.supertraits,
            "#[ipc::service] refuses supertraits: their methods would not be served; \
             declare every method in this trait",
        );
    }
}

/// Why: constants, associated types and macros have no call to carry.
fn check_only_methods(cx: &Ctxt, service: &Service<'_>) {
    for item in &service.others {
        cx.error_spanned_by(
            item,
            "#[ipc::service] accepts only methods in the trait: a constant, type or macro \
             cannot be called from another process",
        );
    }
}

/// Why: a service without a method has nothing to serve.
fn check_has_methods(cx: &Ctxt, service: &Service<'_>) {
    if service.methods.is_empty() {
        cx.error_spanned_by(
            service.ident,
            "#[ipc::service] needs at least one method in the trait",
        );
    }
}

/// Why: the client gets `name` and `name_timeout` per method, beside `new` and its
/// transport accessors; two of them with one name would not compile, and the error
/// would point nowhere useful. Method ids are a `u16`.
fn check_names(cx: &Ctxt, service: &Service<'_>) {
    let mut seen: HashMap<String, &Method<'_>> = HashMap::new();
    for m in &service.methods {
        seen.insert(m.name.clone(), m);
    }
    for m in &service.methods {
        if let Some(other) = seen.get(&format!("{}_timeout", m.name)) {
            cx.error_spanned_by(
                other.ident,
                format!(
                    "method `{}` clashes with the client's `{}_timeout`, which calls `{}` \
                     with a timeout; rename it",
                    other.name, m.name, m.name
                ),
            );
        }
        if CLIENT_NAMES.contains(&m.name.as_str()) || m.name.starts_with("__ipc") {
            cx.error_spanned_by(
                m.ident,
                format!(
                    "method `{}` clashes with a method of the generated client ({}); rename it",
                    m.name,
                    CLIENT_NAMES.join(", ")
                ),
            );
        }
    }
    if service.methods.len() > usize::from(u16::MAX) {
        cx.error_spanned_by(service.ident, "a service has at most 65535 methods");
    }
}

/// Why: a generic method has one layout per instantiation; an `async fn` needs the async
/// runtime, which this build does not have; `unsafe` has obligations a remote caller
/// cannot keep; a variadic or foreign ABI has no meaning across a socket.
fn check_signature(cx: &Ctxt, m: &Method<'_>) {
    let sig = &m.original.sig;
    for param in &sig.generics.params {
        let what = match param {
            GenericParam::Lifetime(_) => {
                "a lifetime parameter: a borrow does not cross a process boundary"
            }
            GenericParam::Type(_) => {
                "a type parameter: both processes must agree on one layout per method"
            }
            GenericParam::Const(_) => {
                "a const parameter: both processes must agree on one layout per method"
            }
        };
        cx.error_spanned_by(
            param,
            format!(
                "#[ipc::service] refuses a generic method; `{}` has {what}",
                m.name
            ),
        );
    }
    if let Some(w) = &sig.generics.where_clause {
        cx.error_spanned_by(w, "#[ipc::service] refuses a where clause on a method");
    }
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            "#[ipc::service] has no async methods yet: declare a blocking `fn`; the server \
             calls it from its serving thread",
        );
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(
            u,
            "#[ipc::service] refuses an `unsafe fn`: a caller in another process cannot \
             uphold its safety conditions",
        );
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "#[ipc::service] refuses an `extern` method");
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(v, "#[ipc::service] refuses a variadic method");
    }
}

/// Why: the server owns one value of the service and calls every method on it, so a
/// method must borrow it (`&self` or `&mut self`), not consume it or do without it.
fn check_receiver(cx: &Ctxt, m: &Method<'_>) {
    match m.receiver {
        Receiver::Ref => {}
        Receiver::Other(arg) => cx.error_spanned_by(
            arg,
            format!(
                "`{}` takes `self` by value or by a smart pointer; a service method takes \
                 `&self` or `&mut self`: the server calls every method on the one value it owns",
                m.name
            ),
        ),
        Receiver::Missing => cx.error_spanned_by(
            m.ident,
            format!(
                "`{}` has no receiver; a service method takes `&self` or `&mut self`",
                m.name
            ),
        ),
    }
}

/// Why: arguments become the fields of a struct named after their names, so each must
/// be a plain name; their types must cross a process boundary (the derive's rules:
/// no reference, pointer, heap type or `usize`).
fn check_args(cx: &Ctxt, m: &Method<'_>) {
    for arg in &m.args {
        if arg.ident.is_none() {
            cx.error_spanned_by(
                arg.pat,
                "a service method's argument must be a plain name (`qty: u32`), not a pattern",
            );
        }
        check_field_type(cx, arg.ty);
    }
}

/// Why: the result crosses back as a message: the derive's rules apply to it, and to
/// both sides of a `Result`; `Result<T>` with one argument hides an error type that is
/// not a message (`ipc::Result`, `io::Result`), and `impl Trait` has no layout.
fn check_return(cx: &Ctxt, m: &Method<'_>) {
    let check = |ty: &Type| {
        if let Type::ImplTrait(_) = ty {
            cx.error_spanned_by(
                ty,
                "a service method cannot return `impl Trait`: the result crosses to another \
                 process as a message; name its type",
            );
        } else {
            check_field_type(cx, ty);
        }
    };
    match &m.ret {
        Ret::Unit => {}
        Ret::Value(ty) => check(ty),
        Ret::Result { ok, err } => {
            if let Some(ok) = ok {
                check(ok);
            }
            check(err);
        }
        Ret::ResultAlias(ty) => cx.error_spanned_by(
            ty,
            "write the error type of a service method's result: `Result<T, E>` with `E` a \
             Message, which arrives typed at the client",
        ),
    }
}
