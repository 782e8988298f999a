//! Shared-memory channels and values: the fastest IPC there is, typed and checked.
//!
//! # Mechanism
//!
//! A segment is a POSIX shared-memory object (`shm_open(3)`, a file under `/dev/shm`
//! named `ipc.<name>`) or an anonymous sealed `memfd_create(2)` file, mapped with
//! `mmap(2)` into every participant. It starts with a header (magic, format version, the
//! schema's fingerprint, size, alignment and name, capacity, slot stride, creator pid and
//! an "initialised" word written last) followed by a ring of fixed-size slots
//! ([`Sender`]/[`Receiver`]) or one value behind a lock ([`Shared`]).
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::shm::{Options, Receiver, Sender};
//! // process A
//! let mut tx = Sender::<[u64; 4]>::create("prices", Options::new().capacity(1024))?;
//! tx.send([1, 2, 3, 4])?;
//! let mut slot = tx.loan()?;          // zero copy: write in place ...
//! slot.write([5, 6, 7, 8]);
//! slot.send();                        // ... and publish
//! // process B
//! let mut rx = Receiver::<[u64; 4]>::open("prices")?;
//! assert_eq!(*rx.recv()?, [1, 2, 3, 4]);
//! # Ok(()) }
//! ```
//!
//! # Contract
//!
//! - **Typed**: an opener whose `T` has another fingerprint, size or alignment gets
//!   [`Error::SchemaMismatch`](crate::Error::SchemaMismatch); a garbage, truncated or
//!   other-version header gets [`Error::Corrupt`](crate::Error::Corrupt). The mapping
//!   length comes from `fstat(2)`; every offset is recomputed locally and must match.
//! - **MPSC, ordered, no loss, no duplicates**: up to 63 senders feed one receiver; each
//!   sender's messages arrive in its order. A slot is visible only once published
//!   (release/acquire on its sequence number); a sender that dies between claiming and
//!   publishing costs exactly that message, counted in [`Stats::lost`], and never wedges
//!   the ring (see `ring.rs` for the protocol).
//! - **A sender that streams alone claims without a locked instruction**: while no other
//!   sender claims (others may be open and idle) the ring is biased to it and it advances
//!   the ring's tail with a plain store; a second sender that claims revokes the bias (a
//!   `membarrier(2)` and a wait of nanoseconds for a claim in flight), after which
//!   senders claim by compare-and-swap until one has streamed 4,096 positions alone
//!   ([`Stats::bias_taken`], [`Stats::bias_revoked`]; see `ring/mode.rs`).
//! - **Zero copy**: [`Sender::loan`] writes in place; [`Receiver::recv`] returns a
//!   [`Sample`] pointing into the segment for types with no invalid bit patterns; types
//!   with invalid bit patterns are copied out, then validated (see [`Receiver`]).
//! - **Waiting** spins, yields, then parks on a futex [`Semaphore`](crate::sync::Semaphore)
//!   in the segment; a sender wakes the receiver only when its "parked" flag (on its own
//!   cache line) is set, so steady streaming makes no system call
//!   ([`WaitStrategy`](crate::sync::WaitStrategy) via [`Options::wait`]).
//! - **Idle ends cost nothing**: a parked `recv`, or a `send` parked on a full ring,
//!   sleeps on its futex and makes no system call until a message, room, a peer joining
//!   or leaving, or a peer's death arrives, or a minute passes (it then looks and sleeps
//!   again; see "Shrunk files" below); a process with a hundred idle channels wakes 0
//!   times in 5 s (`tests/shm_idle.rs`).
//! - **Shrunk files**: a process that truncates a segment's file under live peers never
//!   kills them: every mapping is registered with a `SIGBUS` handler that gives the file
//!   its length back (what was cut reads as zeros, in every process) and marks the
//!   segment, and each end then returns [`Error::Corrupt`](crate::Error::Corrupt) where it
//!   waits or probes its peers (`tests/shm_truncate.rs`). An end that streams without
//!   ever waiting may go on over what the file holds (the ring's empty slots, values of
//!   the type); one asleep when the file shrank learns of it at its next wake-up, within a
//!   minute. Memfd segments are sealed against shrinking, System V ones cannot shrink.
//! - **Crashes**: each participant holds an OFD lock on its own byte of the segment file;
//!   the kernel releases it when the process dies, however it dies. A parked end asks to
//!   hear of its peers' deaths: one thread per process (`ipc-deaths`, started at the first
//!   park) sleeps in `poll(2)` on their pidfds and wakes the end when one exits, which
//!   then probes the locks and returns [`Error::Disconnected`](crate::Error::Disconnected)
//!   (a SIGKILLed sender was reported after 0.6 ms, the last of 101 parked ends after 1-2
//!   ms). Where that cannot be had (a peer in another pid namespace, no `pidfd_open`,
//!   no descriptors left), a parked end sleeps in slices of 20 ms and probes in between,
//!   and a spinning one probes every 5 ms. The last participant to leave
//!   unlinks the name (but see the next point). What crashed processes left behind is
//!   swept away automatically (next point); [`remove_stale_with_prefix`] removes what
//!   crashed processes of a program left (the channels whose names start with the
//!   program's prefix), [`remove_stale`] every dead segment on the machine that this
//!   process may open, and a `create` of the same name reclaims it; [`stale_with_prefix`]
//!   says what [`remove_stale_with_prefix`] would remove, removing nothing.
//! - **Nothing accumulates after crashes**: when a process creates or opens a segment
//!   (channel, topic or [`Shared`]), a POSIX queue or a System V queue, it first removes
//!   what crashed processes of the same user (`geteuid`) left: the segments that
//!   [`remove_stale`] would remove (this crate's, no live participant, owing no receiver a
//!   message; the segment being opened is left to the
//!   opener), and the queues abandoned by a crash and empty ([`crate::mq`] and
//!   [`crate::sysv`], "Crashes"). Other users' objects and files this crate cannot prove
//!   it made are skipped, and the sweep's errors are ignored: it never makes a create or
//!   open fail. It runs at a process's first create or open, then again only once 100
//!   times its last duration has passed, so it takes at most 1 % of the time of a process
//!   that does nothing but create channels: a create that sweeps costs about 20 µs more
//!   when there is nothing to examine, and about 7 ms more with 1,000 live segments of
//!   this user (7 µs each), after which the process does not sweep for 0.7 s (see the
//!   README). The environment variable `IPC_RECLAIM`, read once per
//!   process, restricts it: unset or empty, all of this user's objects; `off`, none; any
//!   other value, only the objects whose names start with it (`IPC_RECLAIM=myapp-`).
//! - **No message is lost without a word**: a sender may send before any receiver has
//!   opened the channel, and may leave (be dropped, or exit) before one has read what it
//!   sent. If it is the last to leave and messages are unread, it keeps the channel for
//!   its linger ([`Options::linger`], 60 s by default): a receiver that opens it then
//!   reads every message, then gets [`Error::Disconnected`](crate::Error::Disconnected),
//!   and removes it. Nothing reclaims such a channel before its linger is over; after it,
//!   the automatic sweep, [`remove_stale`] or a `create` of the name does. A sender that must know instead
//!   calls [`Sender::close`], which waits a given time for a receiver to come and read,
//!   and reports how many messages were never read ([`Unread`](crate::Unread));
//!   [`Sender::flush`] waits without closing, [`Sender::unread`] counts, and
//!   [`Sender::wait_for_receiver`] waits for a receiver before sending. A receiver may
//!   start first: with [`Options::open_timeout`], `open` waits for the channel to be
//!   created. A receiver that leaves gives up what it has not read (senders then get
//!   `Disconnected`).
//!
//! # Request/response
//!
//! [`rpc::Server`] and [`rpc::Client`] call and answer over shared memory, a pair of
//! channels per client that the server creates when the client announces itself in its
//! registry; the transport of a generated service (`#[ipc::service]`) between processes
//! of one machine. See [`rpc`].
//!
//! # Async (feature `tokio`)
//!
//! [`AsyncReceiver`] is the channel receiver's async twin and [`AsyncSubscriber`] the
//! topic subscriber's (`from_sync` / `into_sync`): `recv().await`, `try_recv`, and a
//! `futures_core::Stream`. A receive takes the message
//! at the head with no system call when one is there; when none is, it spins a few
//! microseconds, gives the CPU away (`sched_yield`: a sender on the same CPU runs) and
//! looks again, for 50 µs to 1 ms (a stream whose messages come faster than that never
//! parks), then parks.
//!
//! Parking needs something the runtime can wait on. A receiver parks on a futex, which
//! `epoll` cannot watch; the candidates were:
//!
//! - a thread per channel blocked on the futex, waking the task: the thread count the
//!   async API exists to avoid;
//! - one process-wide thread waiting on many futexes with `futex_waitv(2)`: at most 128
//!   futexes a call (so a thread per 128 channels), re-armed at every park and wake
//!   (each a wake of that thread and a system call more), and Linux 5.16 or later;
//! - an `eventfd` per receiver that senders write: a sender must hold the receiver's
//!   descriptor, passed with `SCM_RIGHTS` over a socket both would have to find (a
//!   rendezvous per sender) or taken with `pidfd_getfd(2)` (which needs ptrace rights on
//!   the receiver, refused by Yama's default `ptrace_scope` between processes that are
//!   not parent and child);
//! - a **doorbell**: a datagram socket in the abstract Unix namespace, bound by the
//!   receiver under a random name (`@ipc-bell.<token>`), the token published in the
//!   segment header (`rx_bell`). Any process that maps the segment can ring it with one
//!   `sendto` — no descriptor to pass, no rights beyond the segment's, and no file to
//!   clean up (the name dies with the socket, also when the receiver is killed).
//!
//! The doorbell is what both use. A topic's subscriber keeps its token in its own
//! subscriber line (a publisher that wakes the parked subscribers rings every token it
//! finds there); the rest of this paragraph tells the channel's receiver. It parks exactly as the sync receiver
//! does — stores `rx_parked`, crosses a full barrier (`membarrier`), looks at the head
//! once more — and awaits its doorbell (an `AsyncFd`) instead of the futex. A sender that
//! sees `rx_parked` after publishing swaps it to 0, posts the futex as always and, as the
//! header holds a token, rings: one `sendto` per park, none per message. The process's
//! death-notice thread ([`crate::sync`]) rings it too when a sender dies, and a sender
//! that joins or leaves wakes it as it wakes a sync receiver. So an idle async receiver
//! costs a registered descriptor and a timer that fires once a minute (the same limit as
//! the sync park's, for a segment shrunk under it), and a thousand of them are a
//! thousand descriptors in one `epoll` set, no thread each.
//!
//! Limits: the abstract namespace belongs to the network namespace, so a sender in
//! another network namespace than its async receiver cannot ring (the receiver then
//! wakes at its minute); such a receiver should stay sync. A park costs one more file
//! descriptor per async receiver (its doorbell) for its life.
//!
//! # Limits
//!
//! - One receiver, at most 63 senders per channel; capacity is a power of two >= 2. By
//!   default a channel has 64 slots, or fewer for large messages, so that its ring
//!   reserves at most 16 MiB ([`Options::capacity_for`]); every byte is allocated when
//!   the channel is created, and [`Options::footprint`] says how many before it is. A
//!   slot is an 8-byte sequence word and the message, rounded up to a power of two up
//!   to 64 bytes and to whole cache lines above (8 B messages take 16-byte slots, 64 B
//!   messages 128-byte ones, 4 KiB messages 4,160 bytes). Where a slot is at least a
//!   quarter header and padding (fixed-size messages of 1-48, 57-96, 121-144 and
//!   185-192 bytes), the ring also has a packed array of one message per slot, for
//!   batches (`send_all` copies a batch there back to back: an 8-byte message then
//!   moves 8 bytes, not 16). A header of 5,824 bytes comes first (91 cache lines: 64 of
//!   them one claim word per participant, 12 the participants' pids), then the message
//!   type's encoded schema (what `ipc show` and `ipc tail` read), and the whole is
//!   rounded up to pages. So 64 slots of 8 bytes reserve 8 KiB (16 times their
//!   payload), 1,024 of them 32 KiB (4 times); at 4 KiB and more the overhead is under
//!   5 %. Creating a channel costs about 25 µs, plus 0.2 ms per MiB to allocate its
//!   pages and, for slots smaller than a page, 0.35 ms per MiB more to touch each page
//!   once (0.56-0.59 ms per MiB in all for 4 KiB slots, 2026-12-05, the shm bench's
//!   footprint table).
//! - The receiver hands read slots back to the senders in batches of `capacity / 8` (at
//!   least 1), and all at once whenever it finds the ring empty, parks or closes. So while
//!   the receiver is busy with a backlog, a sender may find the ring full with up to
//!   `capacity / 8 - 1` slots read but not yet handed back. This is what keeps a message
//!   to at most one cache line moving, from sender to receiver (see `ring.rs`); a slot
//!   of at most 64 bytes (an 8-byte sequence word, then the message) shares its line
//!   with others, four 8-byte messages to a line.
//! - A message sent while the receiver is alive but before the ring is full is not
//!   refused if the receiver then dies: only a *blocked* send notices a crashed receiver
//!   (a cleanly closed one is noticed at once).
//! - A channel whose last participant is a receiver, or a sender with a linger of zero,
//!   is removed with any unread messages when it leaves. A channel on [`Backing::SysV`]
//!   cannot outlive its processes (the kernel frees it at the last detach), so its unread
//!   messages go with its last process whatever the linger; one on [`Backing::Memfd`]
//!   lives as long as a descriptor of it is open.
//! - Handles do not survive `fork(2)` without `exec`: a forked child that keeps the
//!   parent's descriptors also keeps the parent's liveness lock alive, so the parent's
//!   death goes unnoticed while the child lives. Open channels after forking (descriptors
//!   are close-on-exec, so `exec` is fine).
//! - POSIX segments cannot be sealed: a same-user process that shrinks the file under the
//!   mapping makes the next access raise SIGBUS. Use [`Backing::Memfd`] (sealed) where
//!   that matters.
//! - A hostile peer with write access can make messages be lost, duplicated or reordered,
//!   or the channel report `Corrupt`; it cannot make this process read out of bounds or
//!   see an invalid `T`.
//! - No end implements `AsFd`: a message arrives in memory and wakes a futex, and no
//!   descriptor becomes readable, so a shared-memory end cannot join a `poll(2)` set.
//!   Wait on it from a thread of its own.

mod channel;
pub(crate) mod layout;
mod lend;
mod options;
mod pubsub;
pub(crate) mod ring;
pub mod rpc;
mod scratch;
mod segment;
mod shared;
mod sigbus;
pub(crate) mod topic;
mod watch;

pub use channel::{AnyReceiver, AnySender, Loan, Receiver, Sample, Sender, Stats};
pub use options::{
    Backing, Options, DEFAULT_CAPACITY, DEFAULT_LINGER, DEFAULT_MAX_SUBSCRIBERS,
    DEFAULT_RING_BYTES, DEFAULT_SLICE_BYTES,
};
pub use pubsub::{AnySubscriber, Publisher, Subscriber, TopicLoan, TopicSample};
pub(crate) use segment::sweep_one;
pub use segment::{
    list, remove_stale, remove_stale_with_prefix, stale_with_prefix, Attached, Listed, Participant,
    Pattern, Role,
};
pub use shared::{Guard, LockError, Repair, Shared};
pub use topic::Overflow;

/// The async twin of [`Receiver`], on tokio (feature `tokio`; see "Async" above).
#[cfg(feature = "tokio")]
pub type AsyncReceiver<T> = crate::aio::AsyncShm<Receiver<T>>;
/// The async twin of [`Subscriber`], on tokio (feature `tokio`; see "Async" above).
#[cfg(feature = "tokio")]
pub type AsyncSubscriber<T> = crate::aio::AsyncShm<Subscriber<T>>;
