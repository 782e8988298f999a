//! `#[derive(Message)]` of [`typed-ipc`](https://docs.rs/typed-ipc).
//!
//! Depend on `typed-ipc` rather than on this crate: it re-exports the derive beside the
//! `Message` trait it implements, and code names it `ipc` (`#[derive(ipc::Message)]`).
//! What the derive accepts, refuses and generates, and its attributes: [`Message`].

// Stages, one per module: `ast` builds the model (reading `attr` and `repr`), `check`
// applies the rules, `expand` generates; `ctxt` collects the errors.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod repr;
mod service;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput, ItemTrait};

/// Implements `ipc::Message` for a type whose bytes can cross a process boundary, or
/// fails the build saying why not.
///
/// ```
/// use ipc::{fixed_str, FixedStr, Message};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Message)]
/// #[repr(u8)]
/// enum Side { Buy = 1, Sell = 2 }
///
/// #[derive(Clone, Copy, Debug, PartialEq, Message)]
/// #[repr(C)]
/// #[ipc(size = 32, align = 8, new)]
/// struct Quote {
///     price: f64,
///     symbol: FixedStr<16>,
///     qty: u32,
///     side: Side,
///     _pad: [u8; 3], // padding must be a field: implicit padding does not compile
/// }
///
/// let quote = Quote::new(101.5, fixed_str!("ACME"), 100, Side::Buy); // `_pad` zeroed
/// assert_eq!(quote._pad, [0; 3]);
/// assert_eq!(Quote::SCHEMA.name, "Quote");
/// assert_ne!(Quote::FINGERPRINT, Side::FINGERPRINT);
/// ```
///
/// It accepts `#[repr(C)]` and `#[repr(transparent)]` structs — named, tuple or unit,
/// generic ones too (each type parameter gets a `Message` bound) — whose fields are
/// messages: integers, floats, `bool`, `char`, arrays, `ipc::FixedStr<N>` and other
/// derived types; and fieldless enums with an explicit integer repr, `u8` to `i64`.
///
/// It refuses, with an error on the token at fault and every mistake in the same compile:
/// references, pointers, heap-owning types (`Box`, `Vec`, `String`, `Rc`, `Arc`),
/// `usize`/`isize`, fields that are not `Message`, a missing or `Rust` repr,
/// `repr(packed)`, unions, implicit padding (the error says where to put a `_pad` field
/// and how long), a `size`/`align` pin that does not hold, enums with data or without an
/// integer repr, and unknown or duplicate `#[ipc]` attributes.
///
/// The type gets a `const` schema (name, size, alignment, and each field's name, offset
/// and type, or each variant's name and value) and a 64-bit fingerprint of it, which
/// peers compare before exchanging a message; and a `validate` that every receive runs
/// on the bits a byte copy cannot guarantee (enum discriminants, `bool`, `char`,
/// `FixedStr` UTF-8).
///
/// Attributes on the type, all optional:
///
/// - `#[ipc(size = N)]`, `#[ipc(align = N)]`: fail the build unless the type has this
///   size or alignment, a promise to the other side;
/// - `#[ipc(name = "...")]`: the schema name, which the fingerprint covers (default: the
///   type's identifier, so moving the type between modules keeps its fingerprint; pin it
///   to keep the fingerprint when the type is renamed);
/// - `#[ipc(crate = "path")]`: where the `ipc` crate is when it is not `::ipc`, for a
///   dependency renamed in `Cargo.toml` or a derive used through another crate's
///   re-export;
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
/// `cargo check`.
///
/// A struct whose fields are all `bytemuck::Zeroable` is `Zeroable` too, and one whose
/// fields are all `Pod` is `Pod`, except a generic `repr(C)` struct: bytemuck would not
/// trigger its layout check.
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

/// Generates a typed client and server from a trait: a service whose calls cross to
/// another process over any request/response transport of `ipc` (`ipc::rpc`).
///
/// ```
/// use ipc::{fixed_str, FixedStr, Message};
///
/// #[derive(Clone, Copy, Debug, PartialEq, Message)]
/// #[repr(C)]
/// pub struct Quote { pub price: f64, pub qty: u32, pub _pad: [u8; 4] }
///
/// #[derive(Clone, Copy, Debug, PartialEq, Message)]
/// #[repr(u8)]
/// pub enum Rejected { UnknownOrder = 1 }
///
/// #[ipc::service]
/// pub trait Pricing {
///     fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
///     fn cancel(&mut self, id: u64) -> Result<(), Rejected>; // the error arrives typed
///     fn reset(&mut self);                                    // a unit result
/// }
///
/// struct Desk;
/// impl Pricing for Desk {
///     fn quote(&self, _: FixedStr<16>, qty: u32) -> Quote {
///         Quote { price: 101.5 * qty as f64, qty, _pad: [0; 4] }
///     }
///     fn cancel(&mut self, id: u64) -> Result<(), Rejected> {
///         if id == 0 { Err(Rejected::UnknownOrder) } else { Ok(()) }
///     }
///     fn reset(&mut self) {}
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     if let Some(path) = std::env::var_os("PRICING_AT") {
///         // The client process.
///         let mut desk = PricingClient::new(ipc::socket::Client::connect(path)?); // or ipc::tcp::Client
///         assert_eq!(desk.quote(fixed_str!("ACME"), 2)?.price, 203.0);
///         assert_eq!(desk.cancel(0)?, Err(Rejected::UnknownOrder));
///         desk.reset()?;
///         return Ok(());
///     }
///     let path = std::env::temp_dir().join(format!("pricing-{}.sock", std::process::id()));
///     let mut server = ipc::socket::Server::bind(&path)?;       // or ipc::tcp::Server
///     let mut client = std::process::Command::new(std::env::current_exe()?)
///         .env("PRICING_AT", &path)
///         .spawn()?;
///     PricingServer::new(Desk).serve_clients(&mut server, 1)?;  // or serve_pricing(Desk, &mut server)
///     assert!(client.wait()?.success());
///     Ok(())
/// }
/// ```
///
/// For a trait `Pricing` it generates, beside the trait:
///
/// - `PricingRequest` and `PricingResponse`, the messages on the wire. Each is a
///   `#[repr(C)]` struct: a header (call number, method id, outcome), padding up to the
///   largest alignment, and a body of bytes as long as the largest argument struct (or
///   result) holding the called method's; argument structs are derived `Message`s with
///   their padding explicit. Their schemas name every method with its argument and result
///   types (as zero-sized fields), so the fingerprint covers them, and a peer built from
///   another version of the trait is refused at connect by `Error::SchemaMismatch`,
///   whose difference names the method (`` `PricingRequest.methods.quote` ``...).
/// - `PricingClient<Tr>` over any `Tr: ipc::rpc::Call<PricingRequest, PricingResponse>`
///   (`ipc::socket::Client`, `ipc::tcp::Client`): per method, `quote(args)` and
///   `quote_timeout(args, timeout)`, returning `ipc::Result<T>` (`ipc::Result<Result<T,
///   E>>` for a method returning `Result<T, E>`). Each call carries a number its answer
///   echoes; the answer of a call that timed out is skipped, never returned to the next.
/// - `PricingServer<S: Pricing>` (`new`, `handle`, `serve`, `serve_clients`) and
///   `serve_pricing(service, &mut transport)`, over any `ipc::rpc::Serve` (`ipc::socket::Server`,
///   `ipc::tcp::Server`): one thread answers every client, one call at a time, so
///   `&mut self` methods need no lock. A request naming no method, or with arguments
///   that are no valid values, is refused (`Error::Refused` at such a client) and its
///   connection closed.
///
/// It refuses, spanned on the token at fault and all in one compile: an argument or
/// result that is not a `Message` (and by name references, pointers, `usize`, `Vec`,
/// `String`, `Box`, ...), generic traits and methods, `async fn`, `unsafe fn`, methods
/// without `&self`/`&mut self`, arguments that are patterns, `Result<T>` without its
/// error type, `impl Trait` results, items other than methods, a trait without methods,
/// and method names that clash with the client's (`x` beside `x_timeout`, `new`).
/// `#[ipc::service(crate = "path")]` says where `ipc` is, as `#[ipc(crate)]` does for the
/// derive.
#[proc_macro_attribute]
pub fn service(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = parse_macro_input!(item as ItemTrait);
    service::service(args.into(), &item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
