//! POSIX message queues (`mq_overview(7)`): named, kernel-buffered queues of whole
//! messages with priorities.
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::mq;
//! // process A
//! let tx = mq::Sender::<u64>::create("/jobs", mq::Options::new().capacity(8))?;
//! tx.send_with_priority(42, 7)?;
//! // process B
//! let rx = mq::Receiver::<u64>::open("/jobs")?;
//! let (job, priority) = rx.recv_with_priority()?;   // highest priority first
//! # let _ = (job, priority);
//! mq::unlink("/jobs")?;
//! # Ok(()) }
//! ```
//!
//! # Mechanism
//!
//! `mq_open(3)`, `mq_send(3)`/`mq_timedsend(3)`, `mq_receive(3)`/`mq_timedreceive(3)`,
//! `mq_getattr(3)`, `mq_unlink(3)`. A receive returns the oldest message of the highest
//! priority. Names are `/something`: a leading `/`, no other `/`, at most 248 bytes after
//! it (`NAME_MAX`, 255, less the header's `ipc-mq.` prefix).
//!
//! # Wire format and schema check
//!
//! A message is exactly the bytes of a `T`, and the queue's message size (`mq_msgsize`) is
//! `size_of::<T>()`, so a typed send or receive costs what the raw call costs. A queue has
//! no handshake, so its schema is stored beside it: creating `/name` also writes a small
//! schema header, `/dev/shm/ipc-mq.name` (the type's name, size, alignment and
//! fingerprint, and its whole encoded schema tree; same owner and mode as the queue), and
//! opening reads it before trusting any message:
//!
//! * a queue made for another type (another fingerprint or message size) is refused at open
//!   with [`Error::SchemaMismatch`] naming both types and the first field that differs
//!   ("`Order.qty`: u32 at offset 8 here, u64 at offset 8 there");
//! * a queue without a header (made by another program, or by a creator that crashed in
//!   between) is refused with [`Error::Corrupt`] saying how to recreate it;
//! * every received message is still checked — its length (a raw writer may send fewer
//!   bytes) and its bit patterns ([`Message::validate`]) — and a bad one gives
//!   [`Error::InvalidMessage`]. It is consumed, and the next receive goes on with the next
//!   message. Whatever anyone writes into the queue, a receiver gets errors, never a
//!   panic or an invalid `T`.
//!
//! [`unlink`] removes the queue and its header.
//!
//! # Foreign peers
//!
//! A program not built on this crate (C with `mq_send`/`mq_receive`, Python with
//! `posix_ipc`) writes and reads the same messages, the bytes of a `T`, but no schema
//! header. [`Options::foreign`] opens such a queue (and creates one without a header):
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! # #[derive(Clone, Copy, ipc::Message)] #[repr(C)] struct Reading { id: u32, value: f32 }
//! use ipc::mq;
//! // The C side: mq_open("/readings", O_CREAT | O_WRONLY, 0600, &(struct mq_attr){
//! //     .mq_maxmsg = 10, .mq_msgsize = READING_SIZE }), then mq_send(q, &r, sizeof r, 0).
//! let mut rx = mq::Receiver::<Reading>::open_with("/readings", mq::Options::new().foreign())?;
//! let reading = rx.recv()?; // length-checked and validated, as always
//! # let _ = reading; Ok(()) }
//! ```
//!
//! Nothing of the wire changes, so foreign mode costs nothing. What it gives up is the
//! check at open that the queue was made for this type: the two sides agree only if their
//! declarations do. Generate the C declaration from the type
//! ([`schema::c_header`](crate::schema::c_header), `ipc show ENDPOINT --c`) and include
//! it on the other side: its `_Static_assert`s fail that side's build when a field's
//! size or offset differs. A receiver still checks every message's length and bit
//! patterns, so a foreign writer's mistake is an error, never an invalid `T`; the
//! queue's message size must be `size_of::<T>()` (`NAME_SIZE` in the header). A queue
//! without a header is never reclaimed by the automatic sweep below.
//!
//! # Cost
//!
//! A typed send or receive is the raw call plus a length check (and [`Message::validate`]
//! for types with invalid bit patterns). [`Sender::send`] takes the message by value and
//! [`Receiver::recv`] returns it by value, which for a large `T` costs a copy each
//! (1.07x the raw round trip for 4 KiB); [`Sender::send_ref`] and [`Receiver::recv_into`]
//! work in place, like the raw calls (`cargo bench --bench queues` compares the three).
//!
//! # No disconnect
//!
//! A queue outlives every process that uses it: it exists until [`unlink`]ed (and its last
//! descriptor closed) or the machine reboots. There is no peer to lose, so a receive never
//! returns [`Error::Disconnected`] — it waits for a message that may never come. End a
//! stream with a final message both sides agree on (a sentinel value or priority), use
//! [`Receiver::recv_timeout`], or [`shutdown_on`](crate::signal::shutdown_on) so a signal
//! wakes the waiter. Unlinking a queue removes its name; processes that have it open keep
//! using it.
//!
//! # Crashes: the automatic sweep
//!
//! A queue outlives its processes by design (a setup tool may create one and exit; its
//! messages wait for a receiver to come), so it is reclaimed only when it is provably
//! abandoned by a crash and nothing is lost. Every end holds a shared lock on its queue's
//! schema header for its life, and counts itself in the header when it opens and out when
//! it is dropped. When a process of the same user creates or opens a queue or a
//! shared-memory segment, the automatic sweep ([`crate::shm`], "Crashes") removes a queue
//! and its header if all of these hold:
//!
//! - the header is this crate's and belongs to this user (and so does the queue);
//! - no end has it open (the sweep takes an exclusive lock on the header, and holds it
//!   while it removes, so no end opens meanwhile);
//! - at least one end left without being dropped: its process was killed, or exited
//!   without dropping it (`std::process::exit`, `mem::forget`);
//! - the queue is empty (`QSIZE:0` in `/dev/mqueue`, which must be mounted).
//!
//! A header whose queue a program not of this crate removed (its `mq_unlink`) describes
//! nothing: it goes as soon as no end has it open.
//!
//! So a queue left cleanly, or one that holds messages, is never reclaimed; a queue whose
//! header was written by an earlier version of this crate carries no record and is not
//! either. What the rule cannot see: a process that uses the queue through raw `mq_open`,
//! not through this crate's ends (it holds no lock, and a message it sends between the
//! sweep's look at `QSIZE` and its `mq_unlink` goes with the queue). `IPC_RECLAIM`
//! restricts or turns off the sweep (see [`crate::shm`]); a queue's name, without its
//! `/`, is what a prefix is compared with.
//!
//! # Limits
//!
//! `/proc/sys/fs/mqueue/msg_max` caps the capacity (`mq_maxmsg`; with `CAP_SYS_RESOURCE`
//! up to 65536), `msgsize_max` the message size, `queues_max` the number of queues, and
//! `RLIMIT_MSGQUEUE` (`ulimit -q`) the bytes of queue memory a user may hold. Hitting one
//! gives [`Error::LimitExceeded`] naming the limit, its value, and how to raise it; so do a
//! process out of descriptors (`RLIMIT_NOFILE`, told apart from `RLIMIT_MSGQUEUE`, for
//! which the kernel returns the same `EMFILE`) and a `/dev/shm` too full for the schema
//! header.
//! Priorities are `0..=32767`.
//!
//! The calls go through `libc` where `nix` has no fitting wrapper: `mq_timedsend`, a
//! receive into uninitialised memory, and `mq_getattr` on a descriptor held as `OwnedFd`.
//!
//! # Permissions
//!
//! A created queue gets mode 0600 (owner only) by default, whatever the umask: the mode is
//! set with `fchmod` after creation. [`Options::mode`] changes it.
//!
//! An opener trusts a queue as a shared-memory segment is trusted (the one policy of every
//! named object of this crate): [`Sender::open`] and [`Receiver::open`] refuse with
//! [`Error::Untrusted`], naming its owner and mode, a queue whose mode grants more than
//! 0600 and one that belongs to another user, before reading anything from it. The schema
//! header must belong to the queue's owner and pass the same check. To share a queue
//! between users, open it with [`Sender::open_with`] / [`Receiver::open_with`] and an
//! [`Options::mode`] that grants what the queue grants (group or other access is what makes
//! another user's queue acceptable); `open_or_create` checks an existing queue with its
//! options' mode.
//!
//! The schema header is written to an unnamed file (`O_TMPFILE`) that is linked under its
//! name once complete, so no temporary name exists for a queue name to collide with. A
//! header left where a new queue's header must go is replaced if it is this user's; if it
//! is another user's (a name squatted by creating `/dev/shm/ipc-mq.NAME`), `create` fails
//! with [`Error::Untrusted`] naming its owner and how to remove it, and leaves no queue.
//!
//! # Shutdown
//!
//! Once [`shutdown_on`](crate::signal::shutdown_on) is in effect, blocking sends and
//! receives wait with `poll(2)` on the queue descriptor and the shutdown eventfd, and
//! return [`Error::Shutdown`] when a shutdown signal arrives. Before that, they use the
//! plain blocking calls.
//!
//! [`Message::validate`]: crate::Message::validate

mod any;
mod ends;
pub(crate) mod header;
mod limits;
mod list;
mod options;
mod queue;
mod record;

pub use any::{AnyReceiver, AnySender};
pub use ends::{Receiver, Sender};

/// The async twin of [`Sender`], on tokio (feature `tokio`; see [`crate::aio`]): the
/// queue's descriptor is pollable on Linux.
#[cfg(feature = "tokio")]
pub type AsyncSender<T> = crate::aio::Async<Sender<T>>;
/// The async twin of [`Receiver`], on tokio (feature `tokio`; see [`crate::aio`]).
#[cfg(feature = "tokio")]
pub type AsyncReceiver<T> = crate::aio::Async<Receiver<T>>;
pub use limits::PRIO_MAX;
pub use list::{list, Listed};
pub use options::Options;

use crate::error::{Error, Result};
use limits::{check_name, header_path, WHAT};

/// Removes the queue `name` and its schema header. Processes that have it open keep using
/// it; the name can be created anew at once.
///
/// # Errors
///
/// [`Error::InvalidName`], [`Error::NotFound`], [`Error::PermissionDenied`].
pub fn unlink(name: &str) -> Result<()> {
    let c = check_name(name)?;
    let r =
        nix::mqueue::mq_unlink(c.as_c_str()).map_err(|e| Error::named("mq_unlink", WHAT, name, e));
    // The header goes too, even if the queue was already gone (a stale header).
    let _ = std::fs::remove_file(header_path(name));
    r
}

/// Removes this user's POSIX queues (and their schema headers) whose names start with
/// `prefix` (with or without its `/`) and that crashed processes abandoned, by the rule of
/// the automatic sweep ("Crashes", above: no end open, one end never dropped, empty), and
/// the schema headers of queues of such names that a program not of this crate removed
/// (no end open); returns their names. What the sweep does by itself at the next create or open,
/// on demand (the `ipc clean` command), and whatever `IPC_RECLAIM` says.
///
/// # Errors
///
/// As [`list()`].
pub fn remove_stale_with_prefix(prefix: &str) -> Result<Vec<String>> {
    stale(prefix, true)
}

/// The names of the queues (and headers) that [`remove_stale_with_prefix`] would remove
/// now, found by the same rules and removing nothing: what a dry run of it says (the `ipc
/// clean --dry-run` command). Each is examined as the removal examines it, holding the
/// lock of its record for that moment.
///
/// # Errors
///
/// As [`list()`].
pub fn stale_with_prefix(prefix: &str) -> Result<Vec<String>> {
    stale(prefix, false)
}

/// [`remove_stale_with_prefix`], which only finds them unless `remove`.
fn stale(prefix: &str, remove: bool) -> Result<Vec<String>> {
    let prefix = prefix.trim_start_matches('/');
    let uid = nix::unistd::geteuid().as_raw();
    let mut removed: Vec<String> = list()?
        .into_iter()
        .filter_map(|q| {
            let rest = q.name.trim_start_matches('/').to_owned();
            (rest.starts_with(prefix) && record::reclaim(&rest, uid, remove)).then_some(q.name)
        })
        .collect();
    // Headers whose queue is gone: no queue lists them.
    let headers = std::fs::read_dir(limits::HEADER_DIR).into_iter().flatten();
    for entry in headers.flatten() {
        let file = entry.file_name();
        let Some(rest) = file
            .to_str()
            .and_then(|f| f.strip_prefix(limits::HEADER_PREFIX))
        else {
            continue;
        };
        let gone = !std::path::Path::new(&format!("/dev/mqueue/{rest}")).exists();
        if rest.starts_with(prefix) && gone && record::reclaim(rest, uid, remove) {
            removed.push(format!("/{rest}"));
        }
    }
    Ok(removed)
}

pub(crate) use record::sweep_one;
