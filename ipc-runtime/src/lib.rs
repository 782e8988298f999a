//! The runtime of [`typed-ipc`](https://docs.rs/typed-ipc): the [`Message`] trait and its
//! schema, the stream codec, and typed channels over Linux IPC mechanisms.
//!
//! Users depend on `typed-ipc`, whose library `ipc` re-exports this crate and the derive;
//! the examples here are written as they use it, with `ipc::` paths.
//!
//! | module | mechanism | man page |
//! |---|---|---|
//! | [`shm`] | shared-memory ring with zero-copy loans; [`shm::Shared`] | `shm_open(3)`, `memfd_create(2)`, `shmget(2)` |
//! | [`sync`] | process-shared futex semaphore | `futex(2)` |
//! | [`pipe`] | anonymous pipes | `pipe(7)` |
//! | [`fifo`] | named pipes | `fifo(7)` |
//! | [`mq`] | POSIX message queues | `mq_overview(7)` |
//! | [`sysv`] | System V message queues | `sysvipc(7)` |
//! | [`socket`] | Unix domain sockets | `unix(7)` |
//! | [`tcp`] | TCP | `tcp(7)` |
//! | [`rpc`] | typed services (`#[ipc::service]`) over [`socket`] and [`tcp`] | |
//! | [`signal`] | signals, graceful shutdown | `signal(7)`, `signalfd(2)` |
//! | [`contract`] | the [`Tx`] / [`Rx`] traits every transport's ends implement | |
//! | [`codec`] | the wire format of byte streams | |
//! | `aio` (feature `tokio`) | async twins of the ends, on tokio | `epoll(7)` |
//! | [`endpoint`] | transports named by strings (`shm:orders`, `tcp:host:port`) | |
//! | [`schema`] | a message type's schema as bytes; messages read and written without their type (values, JSON) | |
//!
//! Every transport's ends implement [`Tx`] / [`Rx`] — `send`, `try_send`, `send_timeout`,
//! `send_ref`, `recv`, `try_recv`, `recv_timeout`, `recv_into`, `iter`, `try_iter`, written
//! once in the traits and also callable as the ends' own methods —, return the one
//! [`Error`], and refuse a peer whose [`Schema`] differs.
//!
//! # Architecture
//!
//! Layers, each depending only on the ones below it (no module imports one above, and no
//! two import each other):
//!
//! | layer | what it decides | where |
//! |---|---|---|
//! | message and schema | what may cross, and its identity (fingerprint) | `message.rs`, `fixed_str.rs`, the derive |
//! | errors, deadlines, shutdown | the one [`Error`]; how long a call waits; `shutdown_on` | `error.rs`, `deadline.rs`, `shutdown.rs` |
//! | self-describing schemas | a schema as an owned tree and its bytes; values and JSON read with it | [`schema`] |
//! | descriptors and sync | waiting on descriptors, writes that never `SIGPIPE`; futexes, fences | `fd.rs`, [`sync`] |
//! | contract | [`Tx`] / [`Rx`]: the family every end offers, written once | [`contract`] |
//! | codec | how bytes of a stream become a checked `T` | [`codec`] |
//! | transports | one mechanism each, its syscalls only there | [`pipe`] (and [`fifo`]), [`shm`], [`mq`], [`sysv`], [`socket`], [`tcp`], [`signal`] |
//! | endpoints | a transport chosen at run time by a string | [`endpoint`] |
//!
//! A transport folder reads from the outside in: `mod.rs` holds the module docs (the
//! mechanism, its limits, its contract) and faces the folder; its files hold one part
//! each (`options`, the ends, the queue or ring underneath, the limits and the errors that
//! explain them). A new transport provides a sending and a receiving end, implements
//! [`Tx::send_wait`] and [`Rx::recv_wait`] for them next to them (the rest of the family
//! comes from the traits; see [`contract`]), joins the grammar of [`endpoint`], and joins
//! the conformance suite (`tests/conformance.rs`) with one entry.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
pub mod aio;
pub mod codec;
mod const_msg;
pub mod contract;
mod deadline;
pub mod endpoint;
mod error;
mod fd;
pub mod fifo;
mod fixed_str;
// Entry points for the fuzz targets into decoders private to the crate (hidden).
#[doc(hidden)]
pub mod fuzzing;
mod message;
pub mod mq;
mod payload;
pub mod pipe;
mod reclaim;
pub mod rpc;
pub mod schema;
pub mod shm;
mod shutdown;
pub mod signal;
pub mod socket;
pub mod sync;
pub mod sysv;
pub mod tcp;
#[cfg(test)]
mod testing;
mod trust;
mod unread;

#[doc(hidden)]
pub mod __private;

pub use contract::{Messages, Rx, Tx, Wait};
pub use endpoint::{bind, connect, Endpoint};
pub use error::{BatchError, Error, Result, SchemaId, SendError};
pub use fixed_str::{FixedStr, FixedStrError};
pub use message::{
    as_bytes, from_bytes, ref_from_bytes, Field, InvalidMessage, Kind, Message, Problem, Schema,
    Variant,
};
pub use payload::Payload;
pub use unread::Unread;
