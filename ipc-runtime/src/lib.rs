//! The runtime of [`ipc`](https://docs.rs/ipc): the [`Message`] trait and its schema,
//! the stream codec, and typed channels over Linux IPC mechanisms.
//!
//! Users depend on the `ipc` facade, which re-exports this crate and the derive.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

pub mod codec;
mod error;
mod fd;
pub mod fifo;
mod fixed_str;
mod message;
pub mod mq;
pub mod pipe;
pub mod shm;
pub mod signal;
pub mod socket;
pub mod sync;
pub mod sysv;
pub mod tcp;

#[doc(hidden)]
pub mod __private;

pub use error::{Error, Result, SchemaId, SendError};
pub use fixed_str::{FixedStr, FixedStrError};
pub use message::{
    as_bytes, from_bytes, ref_from_bytes, Field, InvalidMessage, Kind, Message, Problem, Schema,
    Variant,
};
