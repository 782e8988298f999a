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
//! A queue this crate creates also gets a registry beside it (`/dev/shm/ipc-msg.ID`, see
//! "Crashes" below) that carries the creator's whole schema tree: an end of another type
//! that opens the queue (`open`, `from_id`) is refused at once with
//! [`Error::SchemaMismatch`] naming the first field that differs ("`Order.qty`: u32 at
//! offset 8 here, u64 at offset 8 there"), before any message is lost to the mismatch.
//!
//! # Foreign peers
//!
//! A program not built on this crate (C with `msgsnd`/`msgrcv`, Python with `sysv_ipc`)
//! sends `struct { long mtype; T mtext; }`, as `msgsnd(2)` documents: no fingerprint. A
//! receiver of this crate refuses such a message as "not an `ipc` message (a foreign
//! writer? see `Options::foreign`)". With [`Options::foreign`] (`open_with`,
//! `from_id_with`, `create`, `open_or_create`) both directions use exactly that layout,
//! and no registry is written or read:
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::sysv::{Key, Options, Receiver};
//! // The C side: msgsnd(id, &(struct { long mtype; uint64_t v; }){ 1, 42 }, 8, 0).
//! let rx = Receiver::<u64>::open_with(Key::Value(0x4242), Options::new().foreign())?;
//! let (v, mtype) = rx.recv_type(0)?; // length-checked and validated, as always
//! # let _ = (v, mtype); Ok(()) }
//! ```
//!
//! Every received message is still length-checked (a longer one is truncated with
//! `MSG_NOERROR` and refused) and validated ([`Message::validate`](crate::Message::validate)),
//! so foreign bytes never become an invalid `T`; the bad message is consumed and the next
//! receive goes on. What is given up: the fingerprint's check of every message and the
//! registry's check at open. Generate the C declaration from the type
//! ([`schema::c_header`](crate::schema::c_header), `ipc show ENDPOINT --c`) and include it
//! on the other side: its `_Static_assert`s fail that side's build when its layout
//! differs. The foreign frame is copied exactly as the typed one is, minus 8 bytes, so the
//! mode costs nothing. A queue created in this mode has no registry and is never swept.
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
//! # Crashes: the automatic sweep
//!
//! A queue this crate creates gets a registry file, `/dev/shm/ipc-msg.ID` (mode 0644, and
//! writable by whom the queue is),
//! that carries the record of who has it open: every end holds a shared lock on it for
//! its life, and counts itself in when it opens and out when it is dropped. When a process
//! of the same user creates or opens a queue or a shared-memory segment, the automatic
//! sweep ([`crate::shm`], "Crashes") removes a queue (`IPC_RMID`) and its registry if all
//! of these hold: the registry is this crate's and this user's, and so is the queue (same
//! id, key and owner); no end has it open; at least one end left without being dropped
//! (its process was killed, or exited without dropping it); and the queue is empty. So a
//! queue left cleanly, or one holding messages, stays. A queue has no name for
//! `IPC_RECLAIM` to match: a process restricted to a prefix sweeps only the queues created
//! by processes whose own restriction starts with it. [`Receiver::remove`] removes the
//! registry with the queue; a queue removed otherwise (`ipcrm`) leaves it, and the sweep
//! removes it once no end has it open. Queues opened by key or id that this crate did not
//! create have no registry, and are never swept.
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
mod registry;

pub use ends::{Receiver, Sender};
pub use key::Key;
pub use list::{list, Listed};
pub use options::Options;

pub(crate) use registry::sweep_one;

/// Removes the queue `id` (`IPC_RMID`), whatever it carries, and the registry this crate
/// keeps beside it: for cleanup code that holds an id but no end (an end's
/// [`Receiver::remove`] does the same). Waiting senders and receivers get
/// [`Error::Disconnected`](crate::Error::Disconnected).
///
/// # Errors
///
/// [`Error::NotFound`](crate::Error::NotFound) if no queue has that id,
/// [`Error::PermissionDenied`](crate::Error::PermissionDenied) if this user may not remove
/// it.
pub fn remove(id: i32) -> crate::Result<()> {
    queue::Queue {
        id,
        label: format!("id {id}"),
        end: None,
        foreign: false,
    }
    .remove()
}

/// Removes this user's System V queues that this crate made and crashed processes
/// abandoned, by the rule of the automatic sweep (no end open, one end never dropped,
/// empty), with their registries; returns their ids. What the sweep does by itself at the
/// next create or open, on demand (the `ipc clean` command), and whatever `IPC_RECLAIM`
/// says.
///
/// # Errors
///
/// As [`list()`].
pub fn remove_stale() -> crate::Result<Vec<i32>> {
    remove_stale_with_prefix("")
}

/// As [`remove_stale`], for the queues whose creator ran with an `IPC_RECLAIM`
/// restriction that starts with `prefix` (a queue has no name for a prefix to match; its
/// registry keeps its creator's restriction instead): what a program that runs with
/// `IPC_RECLAIM=myapp-` left.
///
/// # Errors
///
/// As [`list()`].
pub fn remove_stale_with_prefix(prefix: &str) -> crate::Result<Vec<i32>> {
    stale(prefix, true)
}

/// The ids of the queues that [`remove_stale_with_prefix`] would remove now, found by
/// the same rules and removing nothing: what a dry run of it says (the `ipc clean
/// --dry-run` command). Each is examined as the removal examines it, holding the lock of
/// its registry for that moment.
///
/// # Errors
///
/// As [`list()`].
pub fn stale_with_prefix(prefix: &str) -> crate::Result<Vec<i32>> {
    stale(prefix, false)
}

/// [`remove_stale_with_prefix`], which only finds them unless `remove`.
fn stale(prefix: &str, remove: bool) -> crate::Result<Vec<i32>> {
    let uid = nix::unistd::geteuid().as_raw();
    let scope = crate::reclaim::Scope::Prefix(prefix.to_owned());
    Ok(list()?
        .into_iter()
        .filter(|q| q.owner == uid && registry::reclaim(q.id, &scope, uid, remove))
        .map(|q| q.id)
        .collect())
}
