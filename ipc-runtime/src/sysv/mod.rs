//! System V message queues (`sysvipc(7)`, `msgget(2)`, `msgsnd(2)`, `msgrcv(2)`,
//! `msgctl(2)`): kernel queues found by a numeric key, whose messages carry a *type* that
//! a receiver can select on — the feature POSIX queues lack.
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::sysv::{Key, Options, Receiver, Sender};
//! let key = Key::from_path("/tmp", 7)?;                    // ftok(3)
//! let mut tx = Sender::<u64>::create(key, Options::new())?;   // mode 0600, must not exist
//! tx.send_with_type(1, 2)?;                               // type 2
//! tx.send(5)?;                                            // the sender's default type, 1
//! let rx = Receiver::<u64>::open(key)?;
//! let (msg, ty) = rx.recv_type(2)?;                       // only type-2 messages
//! assert_eq!((msg, ty), (1, 2));
//! rx.remove()?;                                           // IPC_RMID
//! # Ok(()) }
//! ```
//!
//! # Types
//!
//! A message type is a positive integer (`1..=i64::MAX`); sending type 0 or less is refused.
//! On receive, [`Receiver::recv_type`] takes `0` for the first message of any type, `t > 0`
//! for the first of type `t`, and `t < 0` for the first of the lowest type `≤ |t|` (a
//! priority queue where low types go first). [`Sender::send`] uses the sender's default type
//! (1, see [`Sender::with_type`]) and [`Receiver::recv`] takes any type, so the common
//! `send`/`recv` shape works unchanged.
//!
//! # Wire format and schema check
//!
//! A System V queue has no name to keep a schema header beside (as [`crate::mq`] does), so
//! every message carries its own proof of type: its text is the 8-byte fingerprint of `T`
//! (little-endian) followed by the `T`. The `mtype` prefix already makes the call copy the
//! message into a buffer, so the fingerprint costs 8 bytes of that copy. A receive checks
//! length, fingerprint and bit patterns; a bad message (including an oversized one, which
//! is truncated with `MSG_NOERROR`) is consumed and reported as [`Error::SchemaMismatch`],
//! [`Error::Corrupt`] or [`Error::InvalidMessage`], and the next receive goes on.
//!
//! # Cost
//!
//! As with the raw calls, a message is copied once each way, behind its type:
//! [`Sender::send_ref`] and [`Receiver::recv_into`] do exactly that; [`Sender::send`] and
//! [`Receiver::recv`] take and return the message by value, which for a large `T` may cost
//! one more copy each. The buffer a message is staged in is placed so that the copy is
//! mutually aligned with the caller's `T`: on x86, `rep movsb` (what `memcpy` uses for a
//! few KiB) runs about 4× slower when the destination lies 1 to 31 bytes after the source
//! modulo 4 KiB, which two stack buffers otherwise hit or miss by luck.
//!
//! # Lifetime
//!
//! A queue lives until it is removed ([`Receiver::remove`], `ipcrm -q ID`) or the machine
//! reboots; dropping a handle does not remove it. Removal wakes every waiter with
//! [`Error::Disconnected`], which is how a stream can end; otherwise end it with a final
//! message. `ipcs -q` lists queues.
//!
//! # Waiting
//!
//! Blocking calls use blocking `msgsnd`/`msgrcv`. System V queues have no descriptor to
//! `poll`, so the `*_timeout` variants (and blocking calls once
//! [`shutdown_on`](crate::signal::shutdown_on) is in effect) poll with `IPC_NOWAIT` and a
//! backoff sleep that grows from 10 µs to 1 ms: they may return up to about 1 ms late and
//! see a message up to 1 ms after it arrives.
//!
//! # Limits
//!
//! `/proc/sys/kernel/msgmax` caps one message (8-byte fingerprint + `T`), `msgmnb` the
//! default bytes per queue, `msgmni` the number of queues. Each gives
//! [`Error::LimitExceeded`] naming it and how to raise it.
//!
//! [`Error::Corrupt`]: crate::Error::Corrupt
//! [`Error::Disconnected`]: crate::Error::Disconnected
//! [`Error::InvalidMessage`]: crate::Error::InvalidMessage
//! [`Error::LimitExceeded`]: crate::Error::LimitExceeded
//! [`Error::SchemaMismatch`]: crate::Error::SchemaMismatch

mod ends;
pub(crate) mod frame;
mod key;
mod list;
mod options;
mod queue;

pub use ends::{Receiver, Sender};
pub use key::Key;
pub use list::{list, Listed};
pub use options::Options;
