//! POSIX message queues (`mq_overview(7)`): named, kernel-buffered queues of whole
//! messages with priorities.
//!
//! ```no_run
//! # fn main() -> ipc_runtime::Result<()> {
//! use ipc_runtime::mq;
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
//! fingerprint; same owner and mode as the queue), and opening reads it before trusting
//! any message:
//!
//! * a queue made for another type (another fingerprint or message size) is refused at open
//!   with [`Error::SchemaMismatch`] naming both types;
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

use std::ffi::CString;
use std::io::{Read, Write};
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mqueue::{mq_open, MQ_OFlag, MqAttr};
use nix::poll::PollFlags;
use nix::sys::stat::{fchmod, fstat, Mode};

use crate::deadline::Wait;
use crate::error::{Error, Result, SchemaId, SendError};
use crate::fd::wait_fd;
use crate::message::{as_bytes, InvalidMessage, Message};
use crate::shutdown::{check_shutdown, shutdown_armed};

const WHAT: &str = "message queue";
/// Linux's `NAME_MAX`: the longest file name.
const NAME_MAX: usize = 255;
/// Where schema headers live: `/dev/shm/ipc-mq.<name without the slash>`.
const HEADER_DIR: &str = "/dev/shm/";
const HEADER_PREFIX: &str = "ipc-mq.";
/// The longest queue name after the `/`, so that its header's file name fits `NAME_MAX`.
const NAME_LEN_MAX: usize = NAME_MAX - HEADER_PREFIX.len();
const HEADER_MAGIC: &str = "ipc-mq-schema 1";
/// Linux's `MQ_PRIO_MAX`: priorities are `0..MQ_PRIO_MAX`.
pub const PRIO_MAX: u32 = 32768;
/// Linux's `HARD_MSGMAX`: no capacity above it, even with `CAP_SYS_RESOURCE`.
const HARD_MSGMAX: u64 = 65536;
/// Linux's `HARD_MSGSIZEMAX` (16 MiB).
const HARD_MSGSIZEMAX: u64 = 16 * 1024 * 1024;
const PROC: &str = "/proc/sys/fs/mqueue/";

/// How a queue is created or opened.
///
/// ```
/// let opts = ipc_runtime::mq::Options::new().capacity(64).mode(0o660);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Options {
    capacity: Option<usize>,
    mode: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Default options: capacity from `/proc/sys/fs/mqueue/msg_default` (10 if unreadable),
    /// mode 0600.
    pub fn new() -> Self {
        Options {
            capacity: None,
            mode: 0o600,
        }
    }

    /// The number of messages the queue holds (`mq_maxmsg`).
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = Some(messages);
        self
    }

    /// The permission bits of a created queue (default 0600); the umask does not apply.
    /// For an opener: the most a queue may grant, and whether another user's queue is
    /// accepted (only if these bits grant group or other access); see
    /// [Permissions](self#permissions).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    fn capacity_or_default(&self) -> usize {
        self.capacity
            .unwrap_or_else(|| read_proc("msg_default").unwrap_or(10) as usize)
    }
}

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

/// The sending end of a POSIX message queue of `T`.
#[derive(Debug)]
pub struct Sender<T> {
    q: Queue,
    _t: PhantomData<fn(T)>,
}

/// The receiving end of a POSIX message queue of `T`.
#[derive(Debug)]
pub struct Receiver<T> {
    q: Queue,
    _t: PhantomData<fn() -> T>,
}

macro_rules! constructors {
    ($access:expr) => {
        /// Creates the queue `name` (it must not exist) with `options`.
        ///
        /// # Errors
        ///
        /// [`Error::InvalidName`], [`Error::AlreadyExists`], [`Error::PermissionDenied`],
        /// [`Error::LimitExceeded`] naming the system limit in the way.
        pub fn create(name: &str, options: Options) -> Result<Self> {
            Queue::open::<T>(name, $access, How::Create, options).map(Self::wrap)
        }

        /// Opens the existing queue `name`, if it and its schema header belong to this
        /// process's effective uid and grant no more than mode 0600 (see
        /// [Permissions](self#permissions)).
        ///
        /// # Errors
        ///
        /// [`Error::InvalidName`], [`Error::NotFound`], [`Error::PermissionDenied`],
        /// [`Error::Untrusted`] for a queue of another user or with a wider mode,
        /// [`Error::SchemaMismatch`] if the queue's message size is not this `T`'s.
        pub fn open(name: &str) -> Result<Self> {
            Self::open_with(name, Options::new())
        }

        /// Opens the existing queue `name`, trusting what `options`' mode allows: a queue
        /// whose mode grants more is refused, and so is one of another user unless the mode
        /// grants group or other access (the capacity is ignored).
        ///
        /// # Errors
        ///
        /// As [`Self::open`].
        pub fn open_with(name: &str, options: Options) -> Result<Self> {
            Queue::open::<T>(name, $access, How::Open, options).map(Self::wrap)
        }

        /// Opens the queue `name`, creating it with `options` if it does not exist.
        ///
        /// # Errors
        ///
        /// As [`Self::create`] and [`Self::open`].
        pub fn open_or_create(name: &str, options: Options) -> Result<Self> {
            Queue::open::<T>(name, $access, How::OpenOrCreate, options).map(Self::wrap)
        }

        fn wrap(q: Queue) -> Self {
            Self { q, _t: PhantomData }
        }

        /// The queue's name.
        pub fn name(&self) -> &str {
            &self.q.name
        }

        /// How many messages the queue holds at most (`mq_maxmsg`).
        pub fn capacity(&self) -> usize {
            self.q.capacity
        }

        /// How many messages are waiting now (`mq_curmsgs`).
        ///
        /// # Errors
        ///
        /// [`Error::Io`] if `mq_getattr` fails.
        pub fn len(&self) -> Result<usize> {
            self.q.attr().map(|a| a.curmsgs() as usize)
        }

        /// True if no message is waiting now.
        ///
        /// # Errors
        ///
        /// [`Error::Io`] if `mq_getattr` fails.
        pub fn is_empty(&self) -> Result<bool> {
            self.len().map(|n| n == 0)
        }
    };
}

impl<T: Message> Sender<T> {
    constructors!(MQ_OFlag::O_WRONLY);

    /// Sends `*msg` with `priority` straight from where it lies (no copy of the message in
    /// this process; [`Self::send_with_priority`] takes it by value, which for a large `T`
    /// costs a copy), waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`Self::send_with_priority`]; the message stays with the caller.
    #[inline(always)]
    pub fn send_ref(&self, msg: &T, priority: u32) -> Result<()> {
        if priority >= PRIO_MAX {
            return Err(priority_error(priority));
        }
        self.q.send(as_bytes(msg), priority, Wait::Forever)
    }

    /// Sends `msg` with priority 0, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] (see [module docs](self)), [`Error::Io`]; the message is handed
    /// back in the [`SendError`].
    #[inline(always)]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_with(msg, 0, Wait::Forever)
    }

    /// Sends `msg` with `priority` (`0..=32767`, higher is received first), waiting while
    /// the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a priority of 32768 or more; otherwise as [`Self::send`].
    pub fn send_with_priority(&self, msg: T, priority: u32) -> Result<(), SendError<T>> {
        self.send_with(msg, priority, Wait::Forever)
    }

    /// Sends `msg` with priority 0 if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if the queue is full; otherwise as [`Self::send`].
    pub fn try_send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_with(msg, 0, Wait::Now)
    }

    /// Sends `msg` with `priority` if there is room now.
    ///
    /// # Errors
    ///
    /// As [`Self::try_send`] and [`Self::send_with_priority`].
    pub fn try_send_with_priority(&self, msg: T, priority: u32) -> Result<(), SendError<T>> {
        self.send_with(msg, priority, Wait::Now)
    }

    /// Sends `msg` with priority 0, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the queue stayed full; otherwise as [`Self::send`].
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_with(msg, 0, Wait::timeout(timeout))
    }

    /// Sends `msg` with `priority`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// As [`Self::send_timeout`] and [`Self::send_with_priority`].
    pub fn send_timeout_with_priority(
        &self,
        msg: T,
        priority: u32,
        timeout: Duration,
    ) -> Result<(), SendError<T>> {
        self.send_with(msg, priority, Wait::timeout(timeout))
    }

    #[inline(always)]
    fn send_with(&self, msg: T, priority: u32, wait: Wait) -> Result<(), SendError<T>> {
        if priority >= PRIO_MAX {
            return Err(SendError::new(priority_error(priority), msg));
        }
        match self.q.send(as_bytes(&msg), priority, wait) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }
}

impl<T: Message> Receiver<T> {
    constructors!(MQ_OFlag::O_RDONLY);

    /// Waits for a message and returns it (the oldest of the highest priority).
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`], [`Error::InvalidMessage`] or [`Error::Corrupt`] for a
    /// message that is not a valid `T` of this schema (it is consumed),
    /// [`Error::Shutdown`] (see [module docs](self)), [`Error::Io`].
    #[inline(always)]
    pub fn recv(&self) -> Result<T> {
        self.recv_with(Wait::Forever, &mut 0)
    }

    /// As [`Self::recv`], with the message's priority.
    ///
    /// # Errors
    ///
    /// As [`Self::recv`].
    pub fn recv_with_priority(&self) -> Result<(T, u32)> {
        let mut priority = 0;
        let msg = self.recv_with(Wait::Forever, &mut priority)?;
        Ok((msg, priority))
    }

    /// Takes a message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`Self::recv`].
    pub fn try_recv(&self) -> Result<T> {
        self.recv_with(Wait::Now, &mut 0)
    }

    /// As [`Self::try_recv`], with the message's priority.
    ///
    /// # Errors
    ///
    /// As [`Self::try_recv`].
    pub fn try_recv_with_priority(&self) -> Result<(T, u32)> {
        let mut priority = 0;
        let msg = self.recv_with(Wait::Now, &mut priority)?;
        Ok((msg, priority))
    }

    /// Waits at most `timeout` for a message.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; otherwise as [`Self::recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        self.recv_with(Wait::timeout(timeout), &mut 0)
    }

    /// As [`Self::recv_timeout`], with the message's priority.
    ///
    /// # Errors
    ///
    /// As [`Self::recv_timeout`].
    pub fn recv_timeout_with_priority(&self, timeout: Duration) -> Result<(T, u32)> {
        let mut priority = 0;
        let msg = self.recv_with(Wait::timeout(timeout), &mut priority)?;
        Ok((msg, priority))
    }

    /// Waits for a message and writes it into `*out`, returning its priority. When every
    /// bit pattern of `T` is valid, the kernel writes the message straight into `*out` (no
    /// copy in this process; [`Self::recv`] returns it by value, which for a large `T`
    /// costs a copy).
    ///
    /// # Errors
    ///
    /// As [`Self::recv`]. After an error, `*out` is unchanged, except that a message too
    /// short for a `T` whose every bit pattern is valid may have overwritten its first
    /// bytes (it still holds a valid `T`).
    #[inline(always)]
    pub fn recv_into(&self, out: &mut T) -> Result<u32> {
        if const { T::SCHEMA.accepts_any_bits() } {
            // SAFETY: `out` is `size_of::<T>()` bytes borrowed mutably; the kernel only
            // writes initialised bytes into them, and every bit pattern (even of a partly
            // overwritten value) is a valid `T` here.
            let bytes = unsafe {
                core::slice::from_raw_parts_mut(
                    (out as *mut T).cast::<MaybeUninit<u8>>(),
                    size_of::<T>(),
                )
            };
            let (n, priority) = self.q.receive(bytes, Wait::Forever)?;
            if n != size_of::<T>() {
                return Err(InvalidMessage::length(T::SCHEMA.name, size_of::<T>(), n).into());
            }
            Ok(priority)
        } else {
            let mut priority = 0;
            *out = self.recv_with(Wait::Forever, &mut priority)?;
            Ok(priority)
        }
    }

    // Not inlined: it then writes the message into the caller's `Result` with one copy.
    // Inlined (it was `inline(always)`), LLVM split the copy of a `[u8; 4096]` into its
    // callers' locals into pieces and a second misaligned `memcpy`, and a 4 KiB receive
    // by value cost 1.21x the raw round trip instead of 1.07x (`--bench queues`).
    #[inline(never)]
    fn recv_with(&self, wait: Wait, priority: &mut u32) -> Result<T> {
        let mut buf = MaybeUninit::<T>::uninit();
        // SAFETY: `buf` is `size_of::<T>()` bytes, borrowed mutably here; viewing them as
        // `MaybeUninit<u8>` asks nothing of their contents.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                buf.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                size_of::<T>(),
            )
        };
        let (n, prio) = self.q.receive(bytes, wait)?;
        *priority = prio;
        if n != size_of::<T>() || !const { T::SCHEMA.accepts_any_bits() } {
            // SAFETY: the kernel wrote `n <= size_of::<T>()` bytes at the start of `buf`
            // (mq_receive never returns more than the buffer length): they are initialised.
            let got = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
            refuse::<T>(got)?;
        }
        // SAFETY: all `size_of::<T>()` bytes were written by the kernel, and either every
        // bit pattern is a `T` or `T::validate` accepted them (the `Message` contract).
        Ok(unsafe { buf.assume_init() })
    }
}

impl<T> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.q.fd.as_fd()
    }
}

impl<T> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.q.fd.as_fd()
    }
}

#[derive(Clone, Copy, Debug)]
enum How {
    Create,
    Open,
    OpenOrCreate,
}

/// An open queue descriptor (on Linux an `mqd_t` is a file descriptor; closing it is
/// `mq_close`).
#[derive(Debug)]
struct Queue {
    fd: OwnedFd,
    name: String,
    capacity: usize,
}

impl Queue {
    fn open<T: Message>(name: &str, access: MQ_OFlag, how: How, opts: Options) -> Result<Self> {
        let c = check_name(name)?;
        let base = access | MQ_OFlag::O_CLOEXEC;
        let (fd, created) = match how {
            How::Create => (Self::create::<T>(&c, name, base, opts)?, true),
            How::Open => (Self::open_existing(&c, name, base, opts)?, false),
            How::OpenOrCreate => match Self::create::<T>(&c, name, base, opts) {
                Err(Error::AlreadyExists { .. }) => {
                    (Self::open_existing(&c, name, base, opts)?, false)
                }
                r => (r?, true),
            },
        };
        let mut q = Queue {
            fd,
            name: name.to_owned(),
            capacity: 0,
        };
        if created {
            // A queue without its header is of no use: remove it if the header fails.
            if let Err(e) = write_header::<T>(name, opts.mode) {
                let _ = nix::mqueue::mq_unlink(c.as_c_str());
                return Err(e);
            }
        } else {
            let found = read_header(name, &q.fd, opts.mode)?;
            if found.fingerprint != T::FINGERPRINT || found.size != size_of::<T>() as u64 {
                return Err(Error::schema_mismatch::<T>(found));
            }
        }
        let attr = q.attr()?;
        let msgsize = attr.msgsize() as u64;
        if msgsize != size_of::<T>() as u64 {
            return Err(Error::schema_mismatch::<T>(SchemaId {
                name: format!("<a type of the queue's {msgsize}-byte messages>"),
                fingerprint: 0,
                size: msgsize,
                align: 0,
            }));
        }
        q.capacity = attr.maxmsg() as usize;
        Ok(q)
    }

    /// Opens an existing queue and applies the owner and mode policy of `opts` to it
    /// before anything of it is read.
    fn open_existing(c: &CString, name: &str, flags: MQ_OFlag, opts: Options) -> Result<OwnedFd> {
        let mqd = mq_open(c.as_c_str(), flags, Mode::empty(), None)
            .map_err(|e| Error::named("mq_open", WHAT, name, e))?;
        // SAFETY: on Linux an `mqd_t` is a file descriptor we now own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(mqd.into_raw_fd()) };
        let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
        crate::trust::check_stat(WHAT, name, &st, opts.mode, &removal(name))?;
        Ok(fd)
    }

    fn create<T: Message>(
        c: &CString,
        name: &str,
        flags: MQ_OFlag,
        opts: Options,
    ) -> Result<OwnedFd> {
        let capacity = opts.capacity_or_default();
        let msgsize = size_of::<T>();
        if msgsize == 0 {
            return Err(Error::Unsupported {
                what: format!("a queue of `{}`, a zero-sized type", T::SCHEMA),
                reason: "a POSIX queue message has at least one byte",
            });
        }
        if capacity == 0 {
            return Err(Error::Unsupported {
                what: "a queue of capacity 0".into(),
                reason: "a POSIX queue holds at least one message; ask for capacity 1 or more",
            });
        }
        let attr = MqAttr::new(
            0,
            capacity.try_into().unwrap_or(libc::c_long::MAX),
            msgsize as libc::c_long,
            0,
        );
        let mode = Mode::from_bits_truncate(opts.mode);
        let mqd = mq_open(
            c.as_c_str(),
            flags | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL,
            mode,
            Some(&attr),
        )
        .map_err(|e| create_error(name, capacity as u64, msgsize as u64, e))?;
        // SAFETY: on Linux an `mqd_t` is a file descriptor we now own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(mqd.into_raw_fd()) };
        // The umask applied to mq_open's mode; set the asked-for mode exactly.
        if let Err(e) = fchmod(fd.as_fd(), mode) {
            let _ = nix::mqueue::mq_unlink(c.as_c_str());
            return Err(Error::sys("fchmod", e));
        }
        Ok(fd)
    }

    fn attr(&self) -> Result<MqAttr> {
        let mut attr = MaybeUninit::<libc::mq_attr>::uninit();
        // SAFETY: `fd` is an open queue descriptor; `attr` is a writable `mq_attr`.
        let r = unsafe { libc::mq_getattr(self.fd.as_raw_fd(), attr.as_mut_ptr()) };
        Errno::result(r).map_err(|e| Error::sys("mq_getattr", e))?;
        // SAFETY: mq_getattr succeeded, so it filled `attr`.
        let a = unsafe { attr.assume_init() };
        Ok(MqAttr::new(
            a.mq_flags,
            a.mq_maxmsg,
            a.mq_msgsize,
            a.mq_curmsgs,
        ))
    }

    /// One send of `bytes`; `Wait` decides what happens while the queue is full.
    #[inline(always)]
    fn send(&self, bytes: &[u8], prio: u32, wait: Wait) -> Result<()> {
        let fd = self.fd.as_raw_fd();
        let sys = |abs: Option<&libc::timespec>| {
            // SAFETY: `fd` is an open queue descriptor, `bytes` is valid for its length,
            // and `abs` (if any) points to a valid timespec for the duration of the call.
            let r = unsafe {
                match abs {
                    None => libc::mq_send(fd, bytes.as_ptr().cast(), bytes.len(), prio),
                    Some(t) => libc::mq_timedsend(fd, bytes.as_ptr().cast(), bytes.len(), prio, t),
                }
            };
            Errno::result(r).map(drop)
        };
        self.drive(wait, PollFlags::POLLOUT, || Error::Full, sys)
            .map_err(|e| self.op_error("mq_send", bytes.len(), e))
    }

    /// One receive into `buf`; returns the length written (at most `buf.len()`) and the
    /// priority.
    #[inline(always)]
    fn receive(&self, buf: &mut [MaybeUninit<u8>], wait: Wait) -> Result<(usize, u32)> {
        let fd = self.fd.as_raw_fd();
        let len = buf.len();
        let buf = buf.as_mut_ptr();
        let mut prio = 0u32;
        let n = self
            .drive(
                wait,
                PollFlags::POLLIN,
                || Error::Empty,
                |abs| {
                    // SAFETY: `fd` is an open queue descriptor; `buf` is `len` writable bytes
                    // (a borrowed slice); `prio` and `abs` are valid for the call.
                    let r = unsafe {
                        match abs {
                            None => libc::mq_receive(fd, buf.cast(), len, &mut prio),
                            Some(t) => libc::mq_timedreceive(fd, buf.cast(), len, &mut prio, t),
                        }
                    };
                    Errno::result(r).map(|n| n as usize)
                },
            )
            .map_err(|e| self.op_error("mq_receive", len, e))?;
        Ok((n, prio))
    }

    /// Runs `op` (called with `None` for a plain blocking call, `Some(abs)` for a timed
    /// one) according to `wait`, turning `EAGAIN`/`ETIMEDOUT` into `empty` or
    /// [`Error::Timeout`] and honouring shutdown.
    #[inline(always)]
    fn drive<R>(
        &self,
        wait: Wait,
        ready: PollFlags,
        empty: fn() -> Error,
        mut op: impl FnMut(Option<&libc::timespec>) -> nix::Result<R>,
    ) -> Result<R, OpError> {
        const NOW: libc::timespec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let armed = shutdown_armed();
        match wait {
            Wait::Now => match op(Some(&NOW)) {
                Err(Errno::ETIMEDOUT | Errno::EAGAIN) => Err(OpError::Typed(empty())),
                r => r.map_err(OpError::Sys),
            },
            // A signal interrupts the call (EINTR): go on waiting unless it asked for
            // shutdown (a handler installed while we were already waiting).
            Wait::Forever if !armed => loop {
                match op(None) {
                    Err(Errno::EINTR) => check_shutdown().map_err(OpError::Typed)?,
                    r => return r.map_err(OpError::Sys),
                }
            },
            Wait::Until(at, d) if !armed => {
                let abs = realtime_deadline(at.saturating_duration_since(Instant::now()));
                loop {
                    match op(Some(&abs)) {
                        Err(Errno::EINTR) => check_shutdown().map_err(OpError::Typed)?,
                        Err(Errno::ETIMEDOUT) => return Err(OpError::Typed(Error::Timeout(d))),
                        r => return r.map_err(OpError::Sys),
                    }
                }
            }
            // Shutdown is armed: try without waiting, then poll the queue and the
            // shutdown eventfd together.
            Wait::Forever | Wait::Until(..) => {
                let (until, d) = match wait {
                    Wait::Until(at, d) => (Some(at), d),
                    _ => (None, Duration::MAX),
                };
                loop {
                    check_shutdown().map_err(OpError::Typed)?;
                    match op(Some(&NOW)) {
                        Err(Errno::ETIMEDOUT | Errno::EAGAIN | Errno::EINTR) => {}
                        r => return r.map_err(OpError::Sys),
                    }
                    if !wait_fd(self.fd.as_fd(), ready, until).map_err(OpError::Typed)? {
                        return Err(OpError::Typed(Error::Timeout(d)));
                    }
                }
            }
        }
    }

    fn op_error(&self, op: &'static str, len: usize, e: OpError) -> Error {
        match e {
            OpError::Typed(e) => e,
            OpError::Sys(Errno::EMSGSIZE) => Error::Corrupt(format!(
                "{op} on queue `{}`: {len} bytes do not fit its message size",
                self.name
            )),
            OpError::Sys(e) => Error::sys(op, e),
        }
    }
}

enum OpError {
    Typed(Error),
    Sys(Errno),
}

/// `mq_timed*` take an absolute `CLOCK_REALTIME` time.
fn realtime_deadline(d: Duration) -> libc::timespec {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = now
        .checked_add(d)
        .unwrap_or(Duration::from_secs(i64::MAX as u64 / 2));
    libc::timespec {
        tv_sec: at.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: at.subsec_nanos() as libc::c_long,
    }
}

fn check_name(name: &str) -> Result<CString> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    let Some(rest) = name.strip_prefix('/') else {
        return bad("a queue name starts with `/`, e.g. `/jobs`");
    };
    if rest.is_empty() || rest == "." || rest == ".." {
        return bad("a queue name needs at least one character after `/`, and not `.` or `..`");
    }
    if rest.contains('/') {
        return bad("a queue name has no `/` after the leading one");
    }
    if rest.len() > NAME_LEN_MAX {
        return bad("a queue name has at most 248 bytes after the leading `/` \
             (NAME_MAX less the `ipc-mq.` prefix of its schema header)");
    }
    CString::new(name).or_else(|_| bad("a queue name cannot contain a NUL byte"))
}

fn priority_error(priority: u32) -> Error {
    Error::Unsupported {
        what: format!("priority {priority}"),
        reason: "POSIX queue priorities are 0..=32767 (MQ_PRIO_MAX - 1)",
    }
}

/// Why received bytes are not a `T`: a short message, or invalid bit patterns.
#[cold]
#[inline(never)]
fn refuse<T: Message>(got: &[u8]) -> Result<()> {
    if got.len() != size_of::<T>() {
        return Err(InvalidMessage::length(T::SCHEMA.name, size_of::<T>(), got.len()).into());
    }
    T::validate(got).map_err(Error::from)
}

fn header_path(name: &str) -> String {
    format!(
        "{HEADER_DIR}{HEADER_PREFIX}{}",
        name.trim_start_matches('/')
    )
}

/// How to remove the queue `name`, for errors.
fn removal(name: &str) -> String {
    format!("`ipc::mq::unlink(\"{name}\")` as its owner or root")
}

/// The error for a schema header in the way of creating queue `name`: a file of another
/// user (or a symbolic link) where this process's header must go.
fn squatted(name: &str, path: &str, st: &libc::stat) -> Error {
    Error::Untrusted {
        what: "schema header of message queue",
        name: path.to_owned(),
        owner: st.st_uid,
        mode: st.st_mode & 0o777,
        hint: format!(
            "it stands where the header of the queue `{name}` being created must go, and \
             is not this user's: another user may have planted it to block the name; remove \
             it (`rm {path}` as uid {} or root) and create the queue again, or use another name",
            st.st_uid
        ),
    }
}

/// Writes the schema header of queue `name` (just created by this process) with the
/// queue's mode, so that it appears whole or not at all: the header is written to an
/// unnamed file (`O_TMPFILE`) that is then linked under its name. No temporary name exists
/// that another queue's header (or another user) could collide with.
///
/// A header already there is a leftover of an earlier queue of this name: removed if it
/// is this user's, reported with [`Error::Untrusted`] (its owner, how to remove it) if not.
fn write_header<T: Message>(name: &str, mode: u32) -> Result<()> {
    let id = SchemaId::of::<T>();
    let text = format!(
        "{HEADER_MAGIC} {:#018x} {} {} {}\n",
        id.fingerprint, id.size, id.align, id.name
    );
    let path = header_path(name);
    let me = nix::unistd::geteuid().as_raw();
    let clear_way = || -> Result<()> {
        match nix::sys::stat::lstat(path.as_str()) {
            Ok(st) if st.st_uid != me || st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                Err(squatted(name, &path, &st))
            }
            Ok(_) => match nix::unistd::unlink(path.as_str()) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(Error::named("unlink schema header", WHAT, &path, e)),
            },
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::named("lstat schema header", WHAT, &path, e)),
        }
    };
    clear_way()?;
    let fd = nix::fcntl::open(
        HEADER_DIR,
        OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| header_error("create schema header", e, text.len()))?;
    // The umask applied to `mode`; set it exactly, as for the queue.
    fchmod(&fd, Mode::from_bits_truncate(mode))
        .map_err(|e| header_error("chmod schema header", e, text.len()))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(text.as_bytes()).map_err(|e| {
        header_error(
            "write schema header",
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            text.len(),
        )
    })?;
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).expect("no NUL");
    let to = CString::new(path.as_str()).map_err(|_| Error::InvalidName {
        name: name.to_owned(),
        reason: "a queue name cannot contain a NUL byte",
    })?;
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call;
    // AT_SYMLINK_FOLLOW makes the kernel link the file the descriptor's /proc entry
    // denotes (the unnamed file) rather than the entry itself.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    match Errno::result(r) {
        Ok(_) => Ok(()),
        // Someone put a file there since `clear_way`: say whose.
        Err(Errno::EEXIST) => match nix::sys::stat::lstat(path.as_str()) {
            Ok(st) => Err(squatted(name, &path, &st)),
            Err(e) => Err(Error::named("link schema header", WHAT, &path, e)),
        },
        Err(e) => Err(header_error("link schema header", e, text.len())),
    }
}

/// Maps the failure of a step of writing a schema header: a full `/dev/shm` is the limit
/// it is; the rest as [`Error::sys`] (which names `RLIMIT_NOFILE` for `EMFILE`).
fn header_error(op: &'static str, e: Errno, len: usize) -> Error {
    match e {
        Errno::ENOSPC | Errno::EDQUOT => Error::dev_shm_full(len as u64),
        e => Error::sys(op, e),
    }
}

/// Reads the schema header of queue `name` (open as `queue`), waiting briefly for a
/// creator that has made the queue but not yet its header. The header must belong to the
/// queue's owner and pass the same owner and mode policy (`allowed`) as the queue.
fn read_header(name: &str, queue: &OwnedFd, allowed: u32) -> Result<SchemaId> {
    let path = header_path(name);
    let wait = Wait::timeout(Duration::from_millis(200));
    let fd = loop {
        match nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(f) => break f,
            Err(Errno::ENOENT) if !wait.is_over() => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(Errno::ENOENT) => {
                return Err(Error::Corrupt(format!(
                    "message queue `{name}` has no schema header ({path}): it was not created \
                     by this crate, or its creator died before writing it; remove it with \
                     `ipc::mq::unlink(\"{name}\")` and create it again"
                )))
            }
            Err(Errno::EACCES | Errno::EPERM) => {
                return Err(Error::PermissionDenied {
                    what: "schema header of message queue",
                    name: path,
                })
            }
            Err(e) => return Err(header_error("open schema header", e, 0)),
        }
    };
    let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
    let queue_owner = fstat(queue).map_err(|e| Error::sys("fstat", e))?.st_uid;
    if st.st_uid != queue_owner || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::Untrusted {
            what: "schema header of message queue",
            name: path,
            owner: st.st_uid,
            mode: st.st_mode & 0o777,
            hint: format!(
                "the queue `{name}` belongs to uid {queue_owner}, its header to another user \
                 (or it is not a regular file): someone may have planted it; remove the queue \
                 and its header ({}) and create it again",
                removal(name)
            ),
        });
    }
    crate::trust::check_stat(
        "schema header of message queue",
        &path,
        &st,
        allowed,
        &removal(name),
    )?;
    // Never read more than a header can hold, whatever the file is.
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(1024)
        .read_to_string(&mut text)
        .map_err(|source| Error::Io {
            op: "read schema header",
            source,
        })?;
    parse_header(&text).ok_or_else(|| {
        Error::Corrupt(format!(
            "the schema header of message queue `{name}` ({path}) is not in this crate's \
             format; remove the queue with `ipc::mq::unlink(\"{name}\")` and create it again"
        ))
    })
}

fn parse_header(text: &str) -> Option<SchemaId> {
    let line = text.strip_suffix('\n')?.strip_prefix(HEADER_MAGIC)?;
    let mut fields = line.strip_prefix(' ')?.splitn(4, ' ');
    let fingerprint = u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok()?;
    let size = fields.next()?.parse().ok()?;
    let align = fields.next()?.parse().ok()?;
    let name = fields.next()?;
    if name.is_empty() || name.contains('\n') {
        return None;
    }
    Some(SchemaId {
        name: name.to_owned(),
        fingerprint,
        size,
        align,
    })
}

fn read_proc(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("{PROC}{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Explains why `mq_open(O_CREAT)` failed, naming the limit in the way.
fn create_error(name: &str, capacity: u64, msgsize: u64, e: Errno) -> Error {
    let limit = |limit, value, hint: String| Error::LimitExceeded { limit, value, hint };
    match e {
        Errno::EINVAL | Errno::EPERM => {
            let msg_max = read_proc("msg_max").unwrap_or(10);
            let msgsize_max = read_proc("msgsize_max").unwrap_or(8192);
            if capacity > HARD_MSGMAX {
                return limit(
                    "HARD_MSGMAX (the kernel's cap on a queue's capacity)",
                    HARD_MSGMAX,
                    format!("no setting raises it; ask for a capacity of at most {HARD_MSGMAX}, not {capacity}"),
                );
            }
            if capacity > msg_max {
                return limit(
                    "/proc/sys/fs/mqueue/msg_max",
                    msg_max,
                    format!(
                        "a capacity of {capacity} needs it raised: `sysctl -w fs.mqueue.msg_max={capacity}` \
                         as root (or run with CAP_SYS_RESOURCE), or ask for a capacity of at most {msg_max}"
                    ),
                );
            }
            if msgsize > HARD_MSGSIZEMAX {
                return limit(
                    "HARD_MSGSIZEMAX (the kernel's cap on a queue's message size)",
                    HARD_MSGSIZEMAX,
                    format!(
                        "a {msgsize}-byte message cannot cross a POSIX queue; use shared memory"
                    ),
                );
            }
            if msgsize > msgsize_max {
                return limit(
                    "/proc/sys/fs/mqueue/msgsize_max",
                    msgsize_max,
                    format!(
                        "a {msgsize}-byte message needs it raised: \
                         `sysctl -w fs.mqueue.msgsize_max={msgsize}` as root, or send a smaller type"
                    ),
                );
            }
            Error::named("mq_open", WHAT, name, e)
        }
        Errno::ENOSPC => {
            let value = read_proc("queues_max").unwrap_or(256);
            limit(
                "/proc/sys/fs/mqueue/queues_max",
                value,
                format!(
                    "{value} queues exist system-wide; unlink unused ones (they are listed in an \
                     mqueue filesystem: `mount -t mqueue none /dev/mqueue`) or raise it with \
                     `sysctl -w fs.mqueue.queues_max=N` as root"
                ),
            )
        }
        // EMFILE means either: the kernel also returns it for a user over
        // RLIMIT_MSGQUEUE. Only a full descriptor table is RLIMIT_NOFILE's.
        Errno::EMFILE if crate::fd::fd_table_full() => crate::error::new_fd_error("mq_open", e),
        Errno::EMFILE | Errno::ENOMEM => {
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MSGQUEUE)
                    .unwrap_or((0, 0));
            // The kernel charges the messages plus per-message bookkeeping (about 64 bytes).
            let need = capacity.saturating_mul(msgsize.saturating_add(64));
            limit(
                "RLIMIT_MSGQUEUE",
                soft,
                format!(
                    "this queue needs about {need} bytes of queue memory on top of this user's \
                     other queues; raise it with \
                     `ulimit -q <bytes>` (the hard limit: `msgqueue` in /etc/security/limits.conf), \
                     unlink unused queues, or ask for a smaller capacity"
                ),
            )
        }
        e => Error::named("mq_open", WHAT, name, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_garbage_is_refused() {
        let id = SchemaId::of::<[u16; 3]>();
        let text = format!(
            "{HEADER_MAGIC} {:#018x} {} {} {}\n",
            id.fingerprint, id.size, id.align, id.name
        );
        assert_eq!(parse_header(&text), Some(id));
        for bad in [
            "",
            "\n",
            "ipc-mq-schema 1\n",
            "ipc-mq-schema 2 0x1 8 8 u64\n",
            "ipc-mq-schema 1 0x1 8 8 u64",
            "ipc-mq-schema 1 12 8 8 u64\n",
            "ipc-mq-schema 1 0xzz 8 8 u64\n",
            "ipc-mq-schema 1 0x1 -8 8 u64\n",
            "ipc-mq-schema 1 0x1 8 8 \n",
        ] {
            assert_eq!(parse_header(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn each_limit_is_named_with_how_to_raise_it() {
        let msg_max = read_proc("msg_max").unwrap_or(10);
        let cases = [
            (
                Errno::ENOSPC,
                1,
                8,
                "/proc/sys/fs/mqueue/queues_max",
                "fs.mqueue.queues_max",
            ),
            (Errno::EMFILE, 1, 8, "RLIMIT_MSGQUEUE", "ulimit -q"),
            (
                Errno::EINVAL,
                msg_max + 1,
                8,
                "/proc/sys/fs/mqueue/msg_max",
                "fs.mqueue.msg_max",
            ),
            (
                Errno::EINVAL,
                1,
                1 << 25,
                "HARD_MSGSIZEMAX",
                "shared memory",
            ),
        ];
        for (errno, capacity, size, limit, hint) in cases {
            let e = create_error("/q", capacity, size, errno);
            match &e {
                Error::LimitExceeded { limit: l, .. } => assert!(l.starts_with(limit), "{e}"),
                e => panic!("{errno}: {e}"),
            }
            assert!(e.to_string().contains(hint), "{e}");
        }
        assert!(matches!(
            create_error("/q", 1, 8, Errno::EACCES),
            Error::PermissionDenied { .. }
        ));
    }

    #[test]
    fn names_are_validated() {
        for bad in [
            "jobs",
            "/",
            "/a/b",
            "/.",
            "/a\0b",
            &format!("/{}", "x".repeat(256)),
        ] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(check_name(&format!("/{}", "x".repeat(248))).is_ok());
        assert!(check_name("/jobs-1.q").is_ok());
    }
}
