//! Typed, zero-copy inter-process communication for Rust on Linux.
//!
//! Write a plain `#[repr(C)]` struct, derive [`Message`] on it, and send it to another
//! process over any classic IPC mechanism — pipes, named pipes, shared memory, message
//! queues, Unix sockets, TCP — with one `Sender<T>` / `Receiver<T>` shape. The derive
//! refuses at compile time a type whose bytes could not cross a process boundary
//! (pointers, references, implicit padding, `usize`, ...), and gives the type a schema
//! and a 64-bit fingerprint, so two programs built from different versions of the type
//! refuse to talk instead of reading garbage.
//!
//! The package is `typed-ipc` and its library is `ipc`: `cargo add typed-ipc`, then
//! `use ipc::…`.
//!
//! # Two processes, one typed pipe
//!
//! The parent re-runs its own executable as the child and hands it the read end of a
//! typed pipe as its standard input:
//!
//! ```
//! use ipc::{fixed_str, FixedStr, Message};
//! use std::process::{Command, Stdio};
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Message)]
//! #[repr(u8)]
//! enum Side { Buy = 1, Sell = 2 }
//!
//! #[derive(Clone, Copy, Debug, PartialEq, Message)]
//! #[repr(C)]
//! #[ipc(size = 40, align = 8)]               // checked at compile time
//! #[ipc(new)]                                // Order::new(id, price, symbol, qty, side)
//! struct Order {
//!     id: u64,
//!     price: f64,
//!     symbol: FixedStr<16>,                  // UTF-8, checked on receive
//!     qty: u32,
//!     side: Side,                            // 3 is an error on receive, never UB
//!     _pad: [u8; 3],                         // implicit padding would not compile; new zeroes it
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     if std::env::var_os("ORDER_CHILD").is_some() {
//!         // The child: read orders from stdin until the parent closes the pipe.
//!         let mut rx = ipc::pipe::Receiver::<Order>::stdin()?;
//!         let mut total = 0.0;
//!         loop {
//!             match rx.recv() {
//!                 Ok(order) => total += order.price * order.qty as f64,
//!                 Err(ipc::Error::Disconnected) => break,
//!                 Err(e) => return Err(e.into()),
//!             }
//!         }
//!         assert_eq!(total, 3.0 * 101.5 + 4.0 * 102.5);
//!         return Ok(());
//!     }
//!
//!     let (mut tx, rx) = ipc::pipe::channel::<Order>()?;
//!     let mut child = Command::new(std::env::current_exe()?)
//!         .env("ORDER_CHILD", "1")
//!         .stdin(Stdio::from(std::os::fd::OwnedFd::from(rx)))
//!         .spawn()?;
//!     let symbol = fixed_str!("ACME");          // too long for FixedStr<16>: a compile error
//!     tx.send(Order::new(1, 101.5, symbol, 3, Side::Buy))?;
//!     tx.send(Order::new(2, 102.5, symbol, 4, Side::Sell))?;
//!     drop(tx);                              // the child sees Disconnected after the last
//!     assert!(child.wait()?.success());
//!     Ok(())
//! }
//! ```
//!
//! # What crosses, and what is refused
//!
//! [`#[derive(Message)]`](derive@Message) accepts `#[repr(C)]` and `#[repr(transparent)]`
//! structs whose fields are messages — integers, floats, `bool`, `char`, arrays,
//! [`FixedStr<N>`] and other derived types — and fieldless enums with an integer `repr`.
//! Anything else (a pointer, a `Vec`, a `usize`, implicit padding, ...) is a compile error
//! on the offending token; the derive's page lists every rule and attribute.
//!
//! Every receive checks what a byte copy cannot guarantee — enum discriminants, `bool`,
//! `char`, `FixedStr` UTF-8 — and returns [`Error::InvalidMessage`] naming the field,
//! never a `T` with an invalid bit pattern.
//!
//! # Errors
//!
//! Every transport returns the same [`Error`]; a failed send returns [`SendError`] with
//! the undelivered message inside.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub use ipc_derive::{service, Message};
pub use ipc_runtime::*;

/// The README's Rust blocks, run as doc tests so that they keep compiling and working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
