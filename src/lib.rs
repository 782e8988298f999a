//! Typed, zero-copy inter-process communication for Linux.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use ipc_derive::Message;
pub use ipc_runtime::*;
