//! The typed ends of a System V queue, [`Sender`] and [`Receiver`]: their constructors,
//! sends with a message type, and receives that select by type, by value or in place.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::time::Duration;

use nix::errno::Errno;

use super::frame::{oversized, Frame, Staging, FOREIGN, TYPED};
use super::key::Key;
use super::options::Options;
use super::queue::{check_type, Queue};
use crate::contract::{self, Rx, Tx};
use crate::deadline::Wait;
use crate::error::{Error, Result, SendError};
use crate::message::Message;

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
    /// The error a batched receive met after its first message, for the next receive.
    held: contract::Held,
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
            Queue::get::<T>(key, flags, options.foreign).map(Self::wrap)
        }

        /// Opens the existing queue for `key`.
        ///
        /// # Errors
        ///
        /// [`Error::InvalidName`] for [`Key::Private`] (use `from_id`) and for
        /// `Key::Value(0)`, [`Error::NotFound`], [`Error::SchemaMismatch`] if this crate
        /// made the queue for another type (naming the first field that differs),
        /// [`Error::PermissionDenied`], [`Error::LimitExceeded`].
        pub fn open(key: Key) -> Result<Self> {
            Self::open_with(key, Options::new())
        }

        /// Opens the existing queue for `key` with `options`: of these only
        /// [`Options::foreign`] matters to an opener (the mode is the creator's).
        ///
        /// # Errors
        ///
        /// As [`Self::open`].
        pub fn open_with(key: Key, options: Options) -> Result<Self> {
            if key == Key::Private {
                return Err(Error::InvalidName {
                    name: "IPC_PRIVATE".into(),
                    reason: "a private queue has no key to open it by; \
                             pass its id (`id()`) to the other process and use `from_id`",
                });
            }
            Queue::get::<T>(key, $perm, options.foreign).map(Self::wrap)
        }

        /// Opens the queue for `key`, creating it with `options` if it does not exist.
        ///
        /// # Errors
        ///
        /// As [`Self::create`] and [`Self::open`].
        pub fn open_or_create(key: Key, options: Options) -> Result<Self> {
            let flags = libc::IPC_CREAT | options.mode as libc::c_int;
            Queue::get::<T>(key, flags, options.foreign).map(Self::wrap)
        }

        /// Uses the queue with identifier `id` (from [`Self::id`] in another process).
        ///
        /// # Errors
        ///
        /// [`Error::NotFound`] if no queue has that id, [`Error::SchemaMismatch`] if this
        /// crate made it for another type, [`Error::PermissionDenied`],
        /// [`Error::LimitExceeded`].
        pub fn from_id(id: i32) -> Result<Self> {
            Self::from_id_with(id, Options::new())
        }

        /// Uses the queue with identifier `id` with `options`: of these only
        /// [`Options::foreign`] matters here.
        ///
        /// # Errors
        ///
        /// As [`Self::from_id`].
        pub fn from_id_with(id: i32, options: Options) -> Result<Self> {
            crate::reclaim::sweep(None);
            let mut q = Queue {
                id,
                label: format!("id {id}"),
                end: None,
                foreign: options.foreign,
            };
            q.check::<T>()?;
            if !options.foreign {
                q.check_schema::<T>()?;
                q.join_record()?;
            }
            Ok(Self::wrap(q))
        }

        /// Whether this end talks to foreign peers ([`Options::foreign`]): messages are
        /// the bare `T` behind their type.
        pub fn is_foreign(&self) -> bool {
            self.q.foreign
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

    /// Sets the type the contract's sends ([`Self::send`] and its family) use (default 1).
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
    pub fn send_ref_with_type(&self, msg: &T, mtype: i64) -> Result<()> {
        self.send_from(msg, mtype, Wait::Forever)
    }

    /// Sends `msg` with type `mtype` (`> 0`), waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] unless `mtype > 0`; otherwise as [`Tx::send_wait`].
    pub fn send_with_type(&self, msg: T, mtype: i64) -> Result<(), SendError<T>> {
        self.send_with(msg, mtype, Wait::Forever)
    }

    /// Sends `msg` with type `mtype` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is not; otherwise as [`Self::send_with_type`].
    pub fn try_send_with_type(&self, msg: T, mtype: i64) -> Result<(), SendError<T>> {
        self.send_with(msg, mtype, Wait::Now)
    }

    #[inline(always)]
    fn send_with(&self, msg: T, mtype: i64, wait: Wait) -> Result<(), SendError<T>> {
        match self.send_from(&msg, mtype, wait) {
            Ok(()) => Ok(()),
            Err(e) => Err(SendError::new(e, msg)),
        }
    }

    /// Copies `*msg` once, behind its type and fingerprint (behind its type alone for a
    /// foreign peer), and sends it.
    #[inline(always)]
    fn send_from(&self, msg: &T, mtype: i64, wait: Wait) -> Result<()> {
        if self.q.foreign {
            self.send_frame::<FOREIGN>(msg, mtype, wait)
        } else {
            self.send_frame::<TYPED>(msg, mtype, wait)
        }
    }

    #[inline(always)]
    fn send_frame<const P: usize>(&self, msg: &T, mtype: i64, wait: Wait) -> Result<()> {
        check_type(mtype)?;
        let mut staging = MaybeUninit::<Staging<T, P>>::uninit();
        let b = Staging::to_copy_from(&mut staging, msg);
        // SAFETY: `b` is a `MsgBuf<T, P>` inside `staging`, aligned for its `c_long` type;
        // the writes stay inside it: its type, the frame's `P`-byte prefix (the
        // fingerprint, or nothing), and `size_of::<T>()` bytes at the frame's (unaligned,
        // packed) message field, copied from `*msg`, which cannot overlap the local
        // `staging`.
        unsafe {
            core::ptr::addr_of_mut!((*b).mtype).write(mtype as libc::c_long);
            let text = core::ptr::addr_of_mut!((*b).text);
            if P == TYPED {
                core::ptr::addr_of_mut!((*text).prefix)
                    .cast::<[u8; TYPED]>()
                    .write_unaligned(T::FINGERPRINT.to_le_bytes());
            }
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
                let r = unsafe { libc::msgsnd(self.q.id, p, Frame::<T, P>::SIZE, flags) };
                Errno::result(r).map(drop)
            },
        )
    }
}

impl<T: Message> Receiver<T> {
    constructors!(0o400);

    fn wrap(q: Queue) -> Self {
        Receiver {
            q,
            held: contract::Held::default(),
            _t: PhantomData,
        }
    }

    /// Waits for the first message selected by `mtype` (0: any; `> 0`: that type; `< 0`:
    /// the lowest type `≤ |mtype|`), and returns it with its type.
    ///
    /// # Errors
    ///
    /// As [`Self::recv`].
    pub fn recv_type(&self, mtype: i64) -> Result<(T, i64)> {
        self.held.take_shared()?;
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
        self.held.take_shared()?;
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
        self.held.take_shared()?;
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
    #[inline(always)]
    fn recv_to(&self, mtype: i64, wait: Wait, out: *mut T) -> Result<i64> {
        if self.q.foreign {
            self.recv_frame::<FOREIGN>(mtype, wait, out)
        } else {
            self.recv_frame::<TYPED>(mtype, wait, out)
        }
    }

    // `c_long` is `i64` here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    #[inline(always)]
    fn recv_frame<const P: usize>(&self, mtype: i64, wait: Wait, out: *mut T) -> Result<i64> {
        let mut staging = MaybeUninit::<Staging<T, P>>::uninit();
        let b = Staging::to_copy_to(&mut staging, out);
        let p = b.cast::<libc::c_void>();
        // One byte more than a valid message: a longer one shows as `SIZE + 1` bytes.
        let cap = Frame::<T, P>::SIZE + 1;
        let n = self.q.drive(
            wait,
            || Error::Empty,
            |flags| {
                // SAFETY: `p` points to a `MsgBuf<T, P>`: a `c_long` then at least `cap`
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
            return Err(oversized::<T, P>());
        }
        Frame::<T, P>::check(text)?;
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

impl<T: Message> Tx<T> for Sender<T> {
    /// Sends `*msg` with this sender's type ([`Sender::with_type`], default 1): copied
    /// once, behind its type and fingerprint, as `msgsnd` needs.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::Timeout`] if the queue stayed full (a bounded wait
    /// polls, see the [module docs](crate::sysv)), [`Error::Disconnected`] if the queue
    /// was removed, [`Error::Shutdown`], [`Error::PermissionDenied`], [`Error::Io`].
    #[inline(always)]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        self.send_from(msg, self.mtype, wait.into())
    }
}

impl<T: Message> Rx<T> for Receiver<T> {
    /// Receives the first message of any type.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] or [`Error::Timeout`] if none came in time (a bounded wait polls,
    /// see the [module docs](crate::sysv)); [`Error::SchemaMismatch`],
    /// [`Error::InvalidMessage`] or [`Error::Corrupt`] for a message that is not a valid
    /// `T` (it is consumed); [`Error::Disconnected`] if the queue was removed;
    /// [`Error::Shutdown`]; [`Error::Io`].
    #[inline(always)]
    fn recv_wait(&mut self, wait: contract::Wait) -> Result<T> {
        self.held.take()?;
        self.recv_with(0, wait.into(), &mut 0)
    }

    /// The message is copied once, into `*out`; `*out` is unchanged after an error.
    #[inline(always)]
    fn recv_into_wait(&mut self, out: &mut T, wait: contract::Wait) -> Result<()> {
        self.held.take()?;
        self.recv_to(0, wait.into(), out).map(drop)
    }

    /// One `msgrcv` per message: a queue hands out one message per system call. An error
    /// met after the first message (a refused message, which the kernel has already taken
    /// off the queue) is returned by the next receive of the family.
    fn recv_many_wait(&mut self, out: &mut [T], wait: contract::Wait) -> Result<usize> {
        self.held.take()?;
        let batch = contract::recv_each(out, wait, |m, w| self.recv_into_wait(m, w))?;
        Ok(self.held.keep(batch))
    }
}

contract::sending_end!(impl<T> Sender<T>, T);
contract::receiving_end!(impl<T> Receiver<T>, T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_queue_round_trips_with_type_selection() {
        let mut tx = Sender::<u32>::create(Key::Private, Options::new()).unwrap();
        let mut rx = Receiver::<u32>::from_id(tx.id()).unwrap();
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
        tx.send_ref_with_type(&40, 7).unwrap();
        let mut out = 0;
        rx.recv_into(&mut out).unwrap();
        assert_eq!(out, 40);
        assert!(matches!(
            tx.send_ref_with_type(&1, 0),
            Err(Error::Unsupported { .. })
        ));
        // The queue's registry names its creator's type: another is refused at open.
        let e = Receiver::<i32>::from_id(tx.id()).unwrap_err();
        assert!(matches!(e, Error::SchemaMismatch { .. }), "{e:?}");
        rx.remove().unwrap();
        assert!(matches!(rx.remove(), Err(Error::NotFound { .. })));
        assert!(tx.send(1).unwrap_err().is_disconnected());
    }
}
