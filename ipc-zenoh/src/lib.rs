//! Typed channels of [`typed-ipc`](ipc) over [Zenoh](https://zenoh.io): the same
//! `#[derive(ipc::Message)]` types, the same schema check and the same validation as on
//! shared memory, pipes and sockets, between processes on different hosts, with Zenoh's
//! discovery-free peer-to-peer or routed topologies, fan-out and reconnection.
//!
//! - [`Publisher<T>`] / [`Subscriber<T>`]: publish/subscribe on a key (`Publisher<[E]>`
//!   and `Subscriber<[E]>` for slices), shaped as [`ipc::shm::Publisher`] and
//!   [`ipc::shm::Subscriber`]: `send`, `send_slice`, `recv`, `try_recv`, `recv_timeout`,
//!   a [`Sample`] that derefs to `&T`, and [`Subscriber::missed`].
//! - [`Querier<Req, Resp>`] / [`Queryable<Req, Resp>`]: request/response on Zenoh's
//!   queries.
//! - [`bridge`]: what `ipc bridge` runs — a local shared-memory topic or channel carried
//!   onto a Zenoh key, and a Zenoh key into a local channel, for a type known only from
//!   the channel's schema.
//! - [`config::peer`]: a session configuration that reaches only the endpoints given.
//!
//! # Example
//!
//! ```
//! use ipc::Message;
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Message)]
//! #[repr(C)]
//! struct Reading { sensor: u32, celsius: f32, at_ms: u64 }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Two sessions, as two hosts would have: one listens, one connects (loopback here).
//!     let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
//!     let listen = format!("tcp/127.0.0.1:{port}");
//!     let host_a = ipc_zenoh::open(ipc_zenoh::config::peer(&[&listen], &[])?)?;
//!     let host_b = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&listen])?)?;
//!
//!     let mut rx = ipc_zenoh::Subscriber::<Reading>::declare(&host_b, "demo/readings")?;
//!     let mut tx = ipc_zenoh::Publisher::<Reading>::declare(&host_a, "demo/readings")?;
//!     tx.wait_for_subscribers(std::time::Duration::from_secs(10))?;
//!
//!     tx.send(Reading { sensor: 7, celsius: 21.5, at_ms: 1 })?;
//!     let reading = rx.recv()?;                 // checked: schema, length, bit patterns
//!     assert_eq!(reading.celsius, 21.5);
//!     Ok(())
//! }
//! ```
//!
//! # Wire format
//!
//! A sample's payload is the message's bytes exactly as they lie in memory (a slice's
//! elements back to back): no serialisation, and no copy but the one Zenoh makes into its
//! buffers. Its attachment is a 29-byte tag: a magic and version, a slice flag, the
//! schema's fingerprint, the publisher's id and the sample's sequence number.
//!
//! The fingerprint is in the attachment, not in the key expression, so that every
//! subscriber of a key sees every sample published on it: one of another schema receives
//! the samples it cannot read and reports them ([`ipc::Error::SchemaMismatch`], counted),
//! where a fingerprint in the key would have hidden them from it and the mismatch would
//! have looked like silence. The key stays the user's own, for Zenoh's routing, access
//! control and storages as for untyped data. The sequence numbers let a subscriber count
//! the samples it missed (dropped under congestion, or published while a host was
//! unreachable): [`ipc::Error::Lagged`], as on a shared-memory topic.
//!
//! A publisher also answers queries on `KEY/@ipc/schema/FINGERPRINT` with its schema in
//! full, which a subscriber of another schema asks to name the publisher's type and the
//! first field that differs: once, or, while no answer comes (the publisher's queryable
//! not yet known where the subscriber is), again at a later mismatch, 50 ms after and
//! then twice as long after each lookup that got none, up to 10 s. (The `@ipc` chunk is
//! verbatim: `KEY/**` never matches it.)
//!
//! # Checks
//!
//! Every received sample is checked as on every other transport — its fingerprint, its
//! length, and the bit patterns a byte copy cannot guarantee (enum discriminants, `bool`,
//! `char`, `FixedStr` UTF-8) — before a `&T` exists. Bad input is an [`ipc::Error`],
//! never a panic; the sample is skipped and the next receive goes on.
//!
//! # Scouting
//!
//! Zenoh's default configuration scouts by UDP multicast and gossip and connects to
//! whatever peers it finds. [`config::peer`] turns both off: a session reaches only the
//! endpoints it is given.
//!
//! # Features
//!
//! Zenoh is built with its TCP transport only. `tls` adds Zenoh's TLS transport
//! (`tls/host:port` endpoints, with certificates set in the configuration's
//! `transport/link/tls` section).

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod bridge;
pub mod config;
mod options;
mod publisher;
mod query;
mod schema;
mod subscriber;
mod wire;

pub use options::{Options, Overflow};
pub use publisher::Publisher;
pub use query::{Querier, Queryable, Request};
pub use subscriber::{Sample, Subscriber};
/// The Zenoh crate this one is built on, for the session and its configuration.
pub use zenoh;

/// Opens a Zenoh session with `config` (see [`config::peer`]), waiting for it.
///
/// # Errors
///
/// [`ipc::Error::Io`] with Zenoh's error (an endpoint it cannot listen on, ...).
pub fn open(config: zenoh::Config) -> ipc::Result<zenoh::Session> {
    use zenoh::Wait;
    zenoh::open(config).wait().map_err(zenoh_error("open"))
}

/// This crate's README, whose example runs as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Wraps an error of Zenoh from call `op` as [`ipc::Error::Io`] (for `map_err`).
pub fn zenoh_error(op: &'static str) -> impl Fn(zenoh::Error) -> ipc::Error {
    move |e| ipc::Error::Io {
        op,
        source: std::io::Error::other(e),
    }
}

/// `key` as a key expression, or [`ipc::Error::InvalidName`].
pub(crate) fn key_expr(key: &str) -> ipc::Result<zenoh::key_expr::KeyExpr<'static>> {
    zenoh::key_expr::KeyExpr::new(key.to_owned()).map_err(|_| ipc::Error::InvalidName {
        name: key.to_owned(),
        reason: "not a Zenoh key expression (chunks separated by `/`, no empty chunk, \
                 no leading or trailing `/`; `*` and `**` only as whole chunks)",
    })
}
