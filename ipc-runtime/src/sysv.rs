//! System V message queues (`sysvipc(7)`, `msgget(2)`, `msgsnd(2)`, `msgrcv(2)`,
//! `msgctl(2)`): kernel queues found by a numeric key, whose messages carry a *type* that
//! a receiver can select on — the feature POSIX queues lack.
//!
//! ```no_run
//! # fn main() -> ipc_runtime::Result<()> {
//! use ipc_runtime::sysv::{Key, Options, Receiver, Sender};
//! let key = Key::from_path("/tmp", 7)?;                    // ftok(3)
//! let tx = Sender::<u64>::create(key, Options::new())?;   // mode 0600, must not exist
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

use std::ffi::CString;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::deadline::Wait;
use crate::error::{Error, Result, SchemaId, SendError};
use crate::message::{from_bytes, Message};
use crate::shutdown::{check_shutdown, shutdown_armed};

const WHAT: &str = "System V message queue";

/// A message as it crosses a queue: the fingerprint of `T`, then `T`.
///
/// Packed, so it has no padding: its size is exactly `8 + size_of::<T>()` and every byte
/// is initialised (`T: Message` has no padding either).
#[repr(C, packed)]
#[derive(Clone, Copy)]
struct Frame<T> {
    fingerprint: [u8; 8],
    msg: T,
}

impl<T: Message> Frame<T> {
    const SIZE: usize = size_of::<Frame<T>>();

    #[cfg(test)]
    fn new(msg: T) -> Self {
        Frame {
            fingerprint: T::FINGERPRINT.to_le_bytes(),
            msg,
        }
    }

    #[cfg(test)]
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Frame<T>` is packed (no padding); its fingerprint is 8 initialised bytes
        // and `T: Message` guarantees every byte of a `T` is initialised; the slice covers
        // exactly `*self` and borrows it.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast::<u8>(), Self::SIZE) }
    }

    /// Checks that `bytes` is a whole frame of `T`: its length, its fingerprint, and the
    /// bit patterns of the `T` (unless every pattern is valid).
    #[inline(always)]
    fn check(bytes: &[u8]) -> Result<()> {
        if bytes.len() == Self::SIZE && bytes[..8] == T::FINGERPRINT.to_le_bytes() {
            if const { T::SCHEMA.accepts_any_bits() } {
                return Ok(());
            }
            return T::validate(&bytes[8..]).map_err(Error::from);
        }
        Err(Self::refusal(bytes))
    }

    /// Why `bytes` is not a frame of `T` (the slow path of [`Frame::check`]).
    #[cold]
    #[inline(never)]
    fn refusal(bytes: &[u8]) -> Error {
        let Some((fp, body)) = bytes.split_first_chunk::<8>() else {
            return Error::Corrupt(format!(
                "a {}-byte message, shorter than the 8-byte fingerprint every message of \
                 this crate starts with; was it written by another program?",
                bytes.len()
            ));
        };
        let fp = u64::from_le_bytes(*fp);
        if fp != T::FINGERPRINT {
            return Error::schema_mismatch::<T>(SchemaId {
                name: "<another type>".into(),
                fingerprint: fp,
                size: body.len() as u64,
                align: 0,
            });
        }
        match from_bytes::<T>(body) {
            Err(e) => e.into(),
            Ok(_) => Error::Corrupt("a message refused for no reason (a bug)".into()),
        }
    }

    /// Checks and copies out the message of `bytes`.
    #[cfg(test)]
    fn decode(bytes: &[u8]) -> Result<T> {
        Self::check(bytes)?;
        Ok(from_bytes::<T>(&bytes[8..])?)
    }
}

/// The key a queue is found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `IPC_PRIVATE`: always a new queue, found only by its id ([`Receiver::id`]), e.g.
    /// handed to a child process.
    Private,
    /// A numeric key agreed on by the processes; not 0, which is `IPC_PRIVATE` to the
    /// kernel (`create`, `open` and `open_or_create` refuse it with
    /// [`Error::InvalidName`]: use [`Key::Private`] for a private queue).
    Value(i32),
}

impl Key {
    /// The key `ftok(3)` derives from an existing file and a non-zero project id.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the path does not exist (a component of it is missing or is
    /// not a directory), [`Error::InvalidName`] for project id 0 or a path with a NUL byte.
    pub fn from_path(path: impl AsRef<Path>, project: u8) -> Result<Key> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        if project == 0 {
            return Err(Error::InvalidName {
                name: format!("{shown} (project 0)"),
                reason: "ftok needs a non-zero project id",
            });
        }
        let c =
            CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Error::InvalidName {
                name: shown.clone(),
                reason: "a path cannot contain a NUL byte",
            })?;
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        let k = unsafe { libc::ftok(c.as_ptr(), libc::c_int::from(project)) };
        if k == -1 {
            return Err(match Errno::last() {
                // A component of the path is a regular file: nothing exists there.
                Errno::ENOTDIR => Error::NotFound {
                    what: "file",
                    name: shown,
                },
                e => Error::named("ftok", "file", &shown, e),
            });
        }
        Ok(Key::Value(k))
    }

    fn raw(self) -> libc::key_t {
        match self {
            Key::Private => libc::IPC_PRIVATE,
            Key::Value(k) => k,
        }
    }

    fn label(self) -> String {
        match self {
            Key::Private => "IPC_PRIVATE".into(),
            Key::Value(k) => format!("key {k:#x}"),
        }
    }
}

/// How a queue is created.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    mode: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode 0600 (owner only).
    pub fn new() -> Self {
        Options { mode: 0o600 }
    }

    /// The permission bits of a created queue (the umask does not apply to System V IPC).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }
}

/// The sending end of a System V queue of `T`.
#[derive(Debug)]
pub struct Sender<T> {
    q: Queue,
    mtype: i64,
    _t: PhantomData<fn(T)>,
}

/// The receiving end of a System V queue of `T`.
#[derive(Debug)]
pub struct Receiver<T> {
    q: Queue,
    _t: PhantomData<fn() -> T>,
}

macro_rules! constructors {
    ($perm:expr) => {
        /// Creates a queue for `key` with `options` (`IPC_CREAT | IPC_EXCL`); with
        /// [`Key::Private`], always a new queue.
        ///
        /// # Errors
        ///
        /// [`Error::AlreadyExists`], [`Error::PermissionDenied`], [`Error::LimitExceeded`]
        /// (`msgmni`, `msgmax`), [`Error::InvalidName`] for `Key::Value(0)`.
        pub fn create(key: Key, options: Options) -> Result<Self> {
            let flags = libc::IPC_CREAT | libc::IPC_EXCL | options.mode as libc::c_int;
            Queue::get::<T>(key, flags).map(Self::wrap)
        }

        /// Opens the existing queue for `key`.
        ///
        /// # Errors
        ///
        /// [`Error::InvalidName`] for [`Key::Private`] (use `from_id`) and for
        /// `Key::Value(0)`, [`Error::NotFound`],
        /// [`Error::PermissionDenied`], [`Error::LimitExceeded`].
        pub fn open(key: Key) -> Result<Self> {
            if key == Key::Private {
                return Err(Error::InvalidName {
                    name: "IPC_PRIVATE".into(),
                    reason: "a private queue has no key to open it by; \
                             pass its id (`id()`) to the other process and use `from_id`",
                });
            }
            Queue::get::<T>(key, $perm).map(Self::wrap)
        }

        /// Opens the queue for `key`, creating it with `options` if it does not exist.
        ///
        /// # Errors
        ///
        /// As [`Self::create`] and [`Self::open`].
        pub fn open_or_create(key: Key, options: Options) -> Result<Self> {
            let flags = libc::IPC_CREAT | options.mode as libc::c_int;
            Queue::get::<T>(key, flags).map(Self::wrap)
        }

        /// Uses the queue with identifier `id` (from [`Self::id`] in another process).
        ///
        /// # Errors
        ///
        /// [`Error::NotFound`] if no queue has that id, [`Error::PermissionDenied`],
        /// [`Error::LimitExceeded`].
        pub fn from_id(id: i32) -> Result<Self> {
            let q = Queue {
                id,
                label: format!("id {id}"),
            };
            q.check::<T>()?;
            Ok(Self::wrap(q))
        }

        /// The queue identifier (`msqid`), valid in every process until removal.
        pub fn id(&self) -> i32 {
            self.q.id
        }

        /// Removes the queue (`IPC_RMID`): waiting senders and receivers get
        /// [`Error::Disconnected`], queued messages are discarded.
        ///
        /// # Errors
        ///
        /// [`Error::NotFound`] if it was already removed, [`Error::PermissionDenied`]
        /// unless the caller owns or created it (or is privileged).
        pub fn remove(&self) -> Result<()> {
            self.q.remove()
        }

        /// How many messages are waiting now (`msg_qnum`).
        ///
        /// # Errors
        ///
        /// [`Error::Disconnected`] if the queue was removed, [`Error::PermissionDenied`]
        /// without read permission.
        pub fn len(&self) -> Result<usize> {
            self.q.stat().map(|s| s.msg_qnum as usize)
        }

        /// True if no message is waiting now.
        ///
        /// # Errors
        ///
        /// As [`Self::len`].
        pub fn is_empty(&self) -> Result<bool> {
            self.len().map(|n| n == 0)
        }
    };
}

impl<T: Message> Sender<T> {
    constructors!(0o200);

    fn wrap(q: Queue) -> Self {
        Sender {
            q,
            mtype: 1,
            _t: PhantomData,
        }
    }

    /// Sets the type [`Self::send`] and its variants use (default 1).
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] unless `mtype > 0`.
    pub fn with_type(mut self, mtype: i64) -> Result<Self> {
        check_type(mtype)?;
        self.mtype = mtype;
        Ok(self)
    }

    /// Sends `*msg` with type `mtype` from where it lies, waiting while the queue is full:
    /// the message is copied once, behind its type and fingerprint, as `msgsnd` needs
    /// ([`Self::send_with_type`] takes it by value, which for a large `T` may cost one
    /// more copy).
    ///
    /// # Errors
    ///
    /// As [`Self::send_with_type`]; the message stays with the caller.
    #[inline(always)]
    pub fn send_ref(&self, msg: &T, mtype: i64) -> Result<()> {
        self.send_from(msg, mtype, Wait::Forever)
    }

    /// Sends `msg` with the default type, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the queue was removed, [`Error::Shutdown`],
    /// [`Error::PermissionDenied`], [`Error::Io`]; the message is handed back.
    #[inline(always)]
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_with(msg, self.mtype, Wait::Forever)
    }

    /// Sends `msg` with type `mtype` (`> 0`), waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] unless `mtype > 0`; otherwise as [`Self::send`].
    pub fn send_with_type(&self, msg: T, mtype: i64) -> Result<(), SendError<T>> {
        self.send_with(msg, mtype, Wait::Forever)
    }

    /// Sends `msg` with the default type if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is not; otherwise as [`Self::send`].
    pub fn try_send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_with(msg, self.mtype, Wait::Now)
    }

    /// Sends `msg` with type `mtype` if there is room now.
    ///
    /// # Errors
    ///
    /// As [`Self::try_send`] and [`Self::send_with_type`].
    pub fn try_send_with_type(&self, msg: T, mtype: i64) -> Result<(), SendError<T>> {
        self.send_with(msg, mtype, Wait::Now)
    }

    /// Sends `msg` with the default type, waiting at most `timeout` for room (polling, see
    /// the [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the queue stayed full; otherwise as [`Self::send`].
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_with(msg, self.mtype, Wait::timeout(timeout))
    }

    #[inline(always)]
    fn send_with(&self, msg: T, mtype: i64, wait: Wait) -> Result<(), SendError<T>> {
        match self.send_from(&msg, mtype, wait) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    /// Copies `*msg` once, behind its type and fingerprint, and sends it.
    #[inline(always)]
    fn send_from(&self, msg: &T, mtype: i64, wait: Wait) -> Result<()> {
        check_type(mtype)?;
        let mut staging = MaybeUninit::<Staging<T>>::uninit();
        let b = Staging::to_copy_from(&mut staging, msg);
        // SAFETY: `b` is a `MsgBuf<T>` inside `staging`, aligned for its `c_long` type; the
        // writes stay inside it: its type, the frame's fingerprint, and `size_of::<T>()`
        // bytes at the frame's (unaligned, packed) message field, copied from `*msg`, which
        // cannot overlap the local `staging`.
        unsafe {
            core::ptr::addr_of_mut!((*b).mtype).write(mtype as libc::c_long);
            let text = core::ptr::addr_of_mut!((*b).text);
            core::ptr::addr_of_mut!((*text).fingerprint).write(T::FINGERPRINT.to_le_bytes());
            core::ptr::copy_nonoverlapping(
                (msg as *const T).cast::<u8>(),
                core::ptr::addr_of_mut!((*text).msg).cast::<u8>(),
                size_of::<T>(),
            );
        }
        let p = b.cast::<libc::c_void>().cast_const();
        self.q.drive(
            wait,
            || Error::Full,
            |flags| {
                // SAFETY: `p` points to a `MsgBuf`: a `c_long` type followed by `Frame::SIZE`
                // bytes, all initialised above (`T: Message` has no padding); msgsnd reads
                // exactly those.
                let r = unsafe { libc::msgsnd(self.q.id, p, Frame::<T>::SIZE, flags) };
                Errno::result(r).map(drop)
            },
        )
    }
}

impl<T: Message> Receiver<T> {
    constructors!(0o400);

    fn wrap(q: Queue) -> Self {
        Receiver { q, _t: PhantomData }
    }

    /// Waits for the first message of any type and copies it once into `*out`, returning
    /// its type; `*out` is unchanged after an error. ([`Self::recv`] returns it by value,
    /// which for a large `T` may cost one more copy.)
    ///
    /// # Errors
    ///
    /// As [`Self::recv`].
    #[inline(always)]
    pub fn recv_into(&self, out: &mut T) -> Result<i64> {
        self.recv_to(0, Wait::Forever, out)
    }

    /// Waits for the first message of any type.
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`], [`Error::InvalidMessage`] or [`Error::Corrupt`] for a
    /// message that is not a valid `T` (it is consumed), [`Error::Disconnected`] if the
    /// queue was removed, [`Error::Shutdown`], [`Error::Io`].
    #[inline(always)]
    pub fn recv(&self) -> Result<T> {
        self.recv_with(0, Wait::Forever, &mut 0)
    }

    /// Takes the first message of any type if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`Self::recv`].
    pub fn try_recv(&self) -> Result<T> {
        self.recv_with(0, Wait::Now, &mut 0)
    }

    /// Waits at most `timeout` for a message of any type (polling, see the
    /// [module docs](self)).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; otherwise as [`Self::recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        self.recv_with(0, Wait::timeout(timeout), &mut 0)
    }

    /// Waits for the first message selected by `mtype` (0: any; `> 0`: that type; `< 0`:
    /// the lowest type `≤ |mtype|`), and returns it with its type.
    ///
    /// # Errors
    ///
    /// As [`Self::recv`].
    pub fn recv_type(&self, mtype: i64) -> Result<(T, i64)> {
        let mut ty = 0;
        let msg = self.recv_with(mtype, Wait::Forever, &mut ty)?;
        Ok((msg, ty))
    }

    /// As [`Self::recv_type`], without waiting.
    ///
    /// # Errors
    ///
    /// As [`Self::try_recv`].
    pub fn try_recv_type(&self, mtype: i64) -> Result<(T, i64)> {
        let mut ty = 0;
        let msg = self.recv_with(mtype, Wait::Now, &mut ty)?;
        Ok((msg, ty))
    }

    /// As [`Self::recv_type`], waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Self::recv_timeout`].
    pub fn recv_type_timeout(&self, mtype: i64, timeout: Duration) -> Result<(T, i64)> {
        let mut ty = 0;
        let msg = self.recv_with(mtype, Wait::timeout(timeout), &mut ty)?;
        Ok((msg, ty))
    }

    #[inline(always)]
    fn recv_with(&self, mtype: i64, wait: Wait, ty_out: &mut i64) -> Result<T> {
        let mut out = MaybeUninit::<T>::uninit();
        *ty_out = self.recv_to(mtype, wait, out.as_mut_ptr())?;
        // SAFETY: `recv_to` succeeded, so it wrote a valid `T` into `out`.
        Ok(unsafe { out.assume_init() })
    }

    /// Receives one message selected by `mtype`, checks it, and copies its `T` to `out`;
    /// returns its type. `*out` is written only on success.
    // `c_long` is `i64` here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    #[inline(always)]
    fn recv_to(&self, mtype: i64, wait: Wait, out: *mut T) -> Result<i64> {
        let mut staging = MaybeUninit::<Staging<T>>::uninit();
        let b = Staging::to_copy_to(&mut staging, out);
        let p = b.cast::<libc::c_void>();
        // One byte more than a valid message: a longer one shows as `SIZE + 1` bytes.
        let cap = Frame::<T>::SIZE + 1;
        let n = self.q.drive(
            wait,
            || Error::Empty,
            |flags| {
                // SAFETY: `p` points to a `MsgBuf<T>`: a `c_long` then at least `cap`
                // writable bytes (frame + `extra`); msgrcv writes at most `cap` text bytes
                // (`MSG_NOERROR` truncates longer messages).
                let r = unsafe {
                    libc::msgrcv(
                        self.q.id,
                        p,
                        cap,
                        mtype as libc::c_long,
                        flags | libc::MSG_NOERROR,
                    )
                };
                Errno::result(r).map(|n| n as usize)
            },
        )?;
        // SAFETY: msgrcv succeeded, so it wrote the type and `n <= cap` text bytes.
        let (ty, text) = unsafe {
            let text = core::ptr::addr_of!((*b).text);
            (
                (*b).mtype,
                core::slice::from_raw_parts(text.cast::<u8>(), n),
            )
        };
        if n == cap {
            return Err(oversized::<T>());
        }
        Frame::<T>::check(text)?;
        // SAFETY: `check` accepted the frame, so its message bytes are a valid `T`; they are
        // copied once to `out`, which the caller lends writable and which cannot overlap
        // the local `staging`.
        unsafe {
            core::ptr::copy_nonoverlapping(
                core::ptr::addr_of!((*b).text.msg).cast::<u8>(),
                out.cast::<u8>(),
                size_of::<T>(),
            );
        }
        Ok(ty as i64)
    }
}

#[cold]
fn oversized<T: Message>() -> Error {
    Error::Corrupt(format!(
        "a message longer than {} bytes (8-byte fingerprint + `{}`) was truncated and \
         dropped; was it written by another program?",
        Frame::<T>::SIZE,
        T::SCHEMA
    ))
}

/// One message as `msgsnd`/`msgrcv` see it: a `c_long` type, then the text (the frame),
/// then one spare byte that an oversized message spills into.
#[repr(C)]
struct MsgBuf<T> {
    mtype: libc::c_long,
    text: Frame<T>,
    extra: u8,
}

/// Stack room for a [`MsgBuf`], placed so that its `T` and the caller's `T` are mutually
/// aligned.
///
/// A message is copied once between the caller's `T` and this buffer. For a large `T` that
/// copy is `rep movsb`, which on current x86 cores runs about 4× slower when the
/// destination lies 1 to 31 bytes after the source modulo 4 KiB (measured here: 168 ns
/// instead of 44 ns for 4 KiB). Where two stack buffers land is luck of the frame layout,
/// and the benchmark had drawn the slow case; placed this way, a copy never is.
#[repr(C, align(64))]
struct Staging<T> {
    slack: [u64; 8],
    buf: MsgBuf<T>,
}

impl<T> Staging<T> {
    /// Where a `T` sits in a [`MsgBuf`]: after the type and the fingerprint.
    const T_AT: usize = core::mem::offset_of!(MsgBuf<T>, text) + 8;

    /// The buffer to copy `*src` into: its `T` lies 0 to 7 bytes before `src`, modulo 64.
    #[inline(always)]
    fn to_copy_from(this: &mut MaybeUninit<Self>, src: *const T) -> *mut MsgBuf<T> {
        Self::place(this, src as usize, 0)
    }

    /// The buffer to copy a `T` out of into `*dst`: its `T` lies 0 to 7 bytes after `dst`,
    /// modulo 64.
    #[inline(always)]
    fn to_copy_to(this: &mut MaybeUninit<Self>, dst: *mut T) -> *mut MsgBuf<T> {
        Self::place(this, dst as usize, 7)
    }

    #[inline(always)]
    fn place(this: &mut MaybeUninit<Self>, peer: usize, round_up: usize) -> *mut MsgBuf<T> {
        let base = this.as_mut_ptr().cast::<u8>();
        let t_at = (base as usize).wrapping_add(Self::T_AT);
        // A multiple of 8 (so the `c_long` stays aligned) below 64 (the slack).
        let off = ((peer.wrapping_sub(t_at) % 64) + round_up) & 56;
        // SAFETY: `off <= 56`, so a `MsgBuf<T>` at `base + off` ends within the 64 bytes of
        // slack plus the `buf` field that follow `base`; `base` is 64-aligned and `off` a
        // multiple of 8, so it is aligned for `MsgBuf<T>` (alignment `c_long`'s, at most 8).
        unsafe { base.add(off).cast() }
    }
}

#[derive(Debug)]
struct Queue {
    id: libc::c_int,
    label: String,
}

fn check_type(mtype: i64) -> Result<()> {
    if mtype > 0 && libc::c_long::try_from(mtype).is_ok() {
        Ok(())
    } else {
        Err(Error::Unsupported {
            what: format!("sending message type {mtype}"),
            reason: "System V message types are positive (1 or more); 0 and negative \
                     values only select messages on receive",
        })
    }
}

/// Refuses a `T` whose frame exceeds `msgmax`, the largest message the kernel takes.
fn check_msgmax<T: Message>() -> Result<()> {
    let size = Frame::<T>::SIZE as u64;
    let msgmax = read_proc("msgmax").unwrap_or(8192);
    if size > msgmax {
        return Err(Error::LimitExceeded {
            limit: "/proc/sys/kernel/msgmax",
            value: msgmax,
            hint: format!(
                "a {size}-byte message (8-byte fingerprint + `{}`) needs it raised: \
                 `sysctl -w kernel.msgmax={size}` as root, or send a smaller type",
                T::SCHEMA
            ),
        });
    }
    Ok(())
}

fn read_proc(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/kernel/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Queue {
    fn get<T: Message>(key: Key, flags: libc::c_int) -> Result<Queue> {
        let label = key.label();
        if key == Key::Value(libc::IPC_PRIVATE) {
            // The kernel would make a new private queue on every call, found by no one.
            return Err(Error::InvalidName {
                name: label,
                reason: "key 0 is IPC_PRIVATE to the kernel: every call would create a new \
                         queue that no other process can find by key; agree on a non-zero key \
                         (Key::from_path), or use Key::Private and pass the queue's id",
            });
        }
        check_msgmax::<T>()?;
        // SAFETY: msgget takes plain integers.
        let id = unsafe { libc::msgget(key.raw(), flags) };
        if id == -1 {
            return Err(match Errno::last() {
                Errno::ENOSPC => {
                    let value = read_proc("msgmni").unwrap_or(32000);
                    Error::LimitExceeded {
                        limit: "/proc/sys/kernel/msgmni",
                        value,
                        hint: format!(
                            "{value} System V queues exist system-wide; remove unused ones \
                             (`ipcs -q`, `ipcrm -q ID`) or raise it with \
                             `sysctl -w kernel.msgmni=N` as root"
                        ),
                    }
                }
                e => Error::named("msgget", WHAT, &label, e),
            });
        }
        let q = Queue { id, label };
        if let Err(e) = q.check::<T>() {
            if key == Key::Private || flags & libc::IPC_EXCL != 0 {
                // We created it just now: leave nothing behind.
                let _ = q.remove();
            }
            return Err(e);
        }
        Ok(q)
    }

    /// Refuses a `T` too large for the queue's limits.
    // `msglen_t` is `u64` here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    fn check<T: Message>(&self) -> Result<()> {
        check_msgmax::<T>()?;
        let size = Frame::<T>::SIZE as u64;
        match self.stat() {
            Ok(s) if (s.msg_qbytes as u64) < size => Err(Error::LimitExceeded {
                limit: "msg_qbytes (bytes a queue holds; default /proc/sys/kernel/msgmnb)",
                value: s.msg_qbytes as u64,
                hint: format!(
                    "a {size}-byte message never fits; raise `sysctl -w kernel.msgmnb={size}` \
                     as root before creating the queue"
                ),
            }),
            // Without read permission (a write-only sender), skip the check.
            Ok(_) | Err(Error::PermissionDenied { .. }) => Ok(()),
            Err(Error::Disconnected) => Err(Error::NotFound {
                what: WHAT,
                name: self.label.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    fn stat(&self) -> Result<libc::msqid_ds> {
        let mut ds = MaybeUninit::<libc::msqid_ds>::uninit();
        // SAFETY: `ds` is a writable `msqid_ds` for IPC_STAT to fill.
        let r = unsafe { libc::msgctl(self.id, libc::IPC_STAT, ds.as_mut_ptr()) };
        Errno::result(r).map_err(|e| self.error("msgctl(IPC_STAT)", e))?;
        // SAFETY: IPC_STAT succeeded and filled `ds`.
        Ok(unsafe { ds.assume_init() })
    }

    fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID ignores the buffer argument.
        let r = unsafe { libc::msgctl(self.id, libc::IPC_RMID, core::ptr::null_mut()) };
        Errno::result(r).map(drop).map_err(|e| match e {
            Errno::EINVAL | Errno::EIDRM => Error::NotFound {
                what: WHAT,
                name: self.label.clone(),
            },
            e => self.error("msgctl(IPC_RMID)", e),
        })
    }

    fn error(&self, op: &'static str, e: Errno) -> Error {
        match e {
            // The id no longer names a queue: it was removed.
            Errno::EIDRM | Errno::EINVAL => Error::Disconnected,
            e => Error::named(op, WHAT, &self.label, e),
        }
    }

    /// Runs `op` (given extra msgflg bits) according to `wait`.
    #[inline(always)]
    fn drive<R>(
        &self,
        wait: Wait,
        empty: fn() -> Error,
        mut op: impl FnMut(libc::c_int) -> nix::Result<R>,
    ) -> Result<R> {
        let would_block = |e| matches!(e, Errno::EAGAIN | Errno::ENOMSG);
        let deadline = match wait {
            Wait::Now => {
                return op(libc::IPC_NOWAIT).map_err(|e| {
                    if would_block(e) {
                        empty()
                    } else {
                        self.error("msgsnd/msgrcv", e)
                    }
                })
            }
            Wait::Forever if !shutdown_armed() => loop {
                match op(0) {
                    Err(Errno::EINTR) => check_shutdown()?,
                    r => return r.map_err(|e| self.error("msgsnd/msgrcv", e)),
                }
            },
            Wait::Forever => None,
            Wait::Until(at, d) => Some((at, d)),
        };
        let mut pause = Duration::from_micros(10);
        loop {
            check_shutdown()?;
            match op(libc::IPC_NOWAIT) {
                Err(e) if would_block(e) || e == Errno::EINTR => {}
                r => return r.map_err(|e| self.error("msgsnd/msgrcv", e)),
            }
            let mut sleep = pause;
            if let Some((at, d)) = deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout(d));
                }
                sleep = sleep.min(left);
            }
            std::thread::sleep(sleep);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_fingerprint_and_refuse_others() {
        let f = Frame::new(0x0102_0304u32);
        let b = f.as_bytes();
        assert_eq!(b.len(), 12);
        assert_eq!(Frame::<u32>::decode(b).unwrap(), 0x0102_0304);
        assert!(matches!(
            Frame::<i32>::decode(b),
            Err(Error::SchemaMismatch { .. })
        ));
        assert!(matches!(
            Frame::<u32>::decode(&b[..9]),
            Err(Error::InvalidMessage(_))
        ));
        assert!(matches!(
            Frame::<u32>::decode(&b[..3]),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(Frame::<u128>::SIZE, 24);
    }

    /// Every placement leaves the destination of the copy 0 to 7 bytes *before* its source
    /// modulo 64 (never 1 to 31 bytes after it), keeps the `c_long` aligned, and stays
    /// inside the staging buffer.
    fn check_placement<T: Message>() {
        let mut st = MaybeUninit::<Staging<T>>::uninit();
        let base = st.as_ptr() as usize;
        let end = base + size_of::<Staging<T>>();
        for peer in (0x10_000..0x10_000 + 256usize).map(|a| a as *mut T) {
            for (b, src, dst) in [
                {
                    let b = Staging::to_copy_from(&mut st, peer) as usize;
                    (b, peer as usize, b + Staging::<T>::T_AT)
                },
                {
                    let b = Staging::to_copy_to(&mut st, peer) as usize;
                    (b, b + Staging::<T>::T_AT, peer as usize)
                },
            ] {
                let ahead = dst.wrapping_sub(src) % 64;
                assert!(
                    ahead == 0 || ahead >= 57,
                    "{peer:?}: dst {ahead} bytes after src"
                );
                assert_eq!(b % align_of::<libc::c_long>(), 0);
                assert!(b >= base && b + size_of::<MsgBuf<T>>() <= end);
            }
        }
    }

    #[test]
    fn staging_copies_are_mutually_aligned_and_in_bounds() {
        check_placement::<[u8; 4096]>();
        check_placement::<[u8; 3]>();
        check_placement::<u64>();
        check_placement::<u128>();
    }

    #[test]
    fn types_must_be_positive() {
        assert!(check_type(1).is_ok());
        for t in [0, -1, i64::MIN] {
            let e = check_type(t).unwrap_err();
            assert!(e.to_string().contains("positive"), "{e}");
        }
    }

    #[test]
    fn ftok_refuses_project_zero_and_missing_files() {
        assert!(matches!(
            Key::from_path("/tmp", 0),
            Err(Error::InvalidName { .. })
        ));
        assert!(matches!(
            Key::from_path("/nonexistent/ipc-test", 1),
            Err(Error::NotFound { .. })
        ));
        assert_eq!(
            Key::from_path("/tmp", 1).unwrap(),
            Key::from_path("/tmp", 1).unwrap()
        );
    }

    #[test]
    fn a_private_queue_round_trips_with_type_selection() {
        let tx = Sender::<u32>::create(Key::Private, Options::new()).unwrap();
        let rx = Receiver::<u32>::from_id(tx.id()).unwrap();
        tx.send_with_type(10, 3).unwrap();
        tx.send_with_type(20, 1).unwrap();
        tx.send(30).unwrap();
        assert_eq!(rx.recv_type(3).unwrap(), (10, 3));
        assert_eq!(rx.recv_type(-2).unwrap(), (20, 1));
        assert_eq!(rx.try_recv().unwrap(), 30);
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        assert!(rx
            .recv_timeout(Duration::from_millis(5))
            .unwrap_err()
            .is_timeout());
        tx.send_ref(&40, 7).unwrap();
        let mut out = 0;
        assert_eq!(rx.recv_into(&mut out).unwrap(), 7);
        assert_eq!(out, 40);
        assert!(matches!(tx.send_ref(&1, 0), Err(Error::Unsupported { .. })));
        let wrong = Receiver::<i32>::from_id(tx.id()).unwrap();
        tx.send(1).unwrap();
        assert!(matches!(wrong.recv(), Err(Error::SchemaMismatch { .. })));
        rx.remove().unwrap();
        assert!(matches!(rx.remove(), Err(Error::NotFound { .. })));
        assert!(tx.send(1).unwrap_err().is_disconnected());
    }
}
