//! The runtime of [`ipc`](https://docs.rs/ipc): the [`Message`] trait and its schema,
//! the stream codec, and typed channels over Linux IPC mechanisms.
//!
//! Users depend on the `ipc` facade, which re-exports this crate and the derive.
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
//! | [`signal`] | signals, graceful shutdown | `signal(7)`, `signalfd(2)` |
//! | [`contract`] | the [`Tx`] / [`Rx`] traits every transport's ends implement | |
//! | [`codec`] | the wire format of byte streams | |
//! | [`endpoint`] | transports named by strings (`shm:orders`, `tcp:host:port`) | |
//!
//! Every transport has `Sender<T>` / `Receiver<T>` with `send`, `try_send`,
//! `send_timeout`, `recv`, `try_recv` and `recv_timeout`, returns the one [`Error`], and
//! refuses a peer whose [`Schema`] differs.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod codec;
pub mod contract;
mod deadline;
pub mod endpoint;
mod error;
mod fd;
pub mod fifo;
mod fixed_str;
mod message;
pub mod mq;
pub mod pipe;
pub mod shm;
mod shutdown;
pub mod signal;
pub mod socket;
pub mod sync;
pub mod sysv;
pub mod tcp;
mod trust;

#[doc(hidden)]
pub mod __private;

pub use contract::{Messages, Rx, Tx, Wait};
pub use endpoint::{bind, connect, Endpoint};
pub use error::{Error, Result, SchemaId, SendError};
pub use fixed_str::{FixedStr, FixedStrError};
pub use message::{
    as_bytes, from_bytes, ref_from_bytes, Field, InvalidMessage, Kind, Message, Problem, Schema,
    Variant,
};
