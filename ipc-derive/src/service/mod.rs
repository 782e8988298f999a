//! `#[ipc::service]`: a client and a server generated from a trait. The same stages as
//! the derive, one per module: `ast` builds the model (reading the attribute's
//! arguments), `check` applies the rules, `expand` generates; errors are collected in
//! the derive's [`Ctxt`](crate::ctxt::Ctxt) and generation starts only when there are
//! none.

mod ast;
mod check;
mod expand;

use proc_macro2::TokenStream;
use syn::ItemTrait;

use crate::ctxt::Ctxt;

/// Parses and checks the trait and the attribute's arguments, collecting every error;
/// generates only if none.
pub fn service(args: TokenStream, item: &ItemTrait) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let krate = ast::crate_path(&cx, args);
    let model = ast::Service::from_syn(&cx, item, krate);
    check::check(&cx, &model);
    cx.finish()?;
    Ok(expand::expand(&model))
}
