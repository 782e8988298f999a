//! The typed ends of a POSIX queue, [`Sender`] and [`Receiver`]: their constructors, the
//! send family with priorities, and the receive family, by value or in place.

use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::mqueue::MQ_OFlag;

use super::limits::{priority_error, PRIO_MAX};
use super::options::Options;
use super::queue::{How, Queue};
use crate::contract::{self, Rx, Tx};
use crate::deadline::Wait;
use crate::error::{Error, Result, SendError};
use crate::message::{as_bytes, InvalidMessage, Message};

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
    /// The error a batched receive met after its first message, for the next receive.
    held: contract::Held,
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
        /// [Permissions](crate::mq#permissions)).
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

    fn wrap(q: Queue) -> Self {
        Sender { q, _t: PhantomData }
    }

    /// Sends `*msg` with `priority` straight from where it lies (no copy of the message in
    /// this process; [`Self::send_with_priority`] takes it by value, which for a large `T`
    /// costs a copy), waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// As [`Self::send_with_priority`]; the message stays with the caller.
    #[inline(always)]
    pub fn send_ref_with_priority(&self, msg: &T, priority: u32) -> Result<()> {
        if priority >= PRIO_MAX {
            return Err(priority_error(priority));
        }
        self.q.send(as_bytes(msg), priority, Wait::Forever)
    }

    /// Sends `msg` with `priority` (`0..=32767`, higher is received first), waiting while
    /// the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for a priority of 32768 or more; otherwise as
    /// [`Tx::send_wait`].
    pub fn send_with_priority(&self, msg: T, priority: u32) -> Result<(), SendError<T>> {
        self.send_with(msg, priority, Wait::Forever)
    }

    /// Sends `msg` with `priority` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if the queue is full; otherwise as [`Self::send_with_priority`].
    pub fn try_send_with_priority(&self, msg: T, priority: u32) -> Result<(), SendError<T>> {
        self.send_with(msg, priority, Wait::Now)
    }

    /// Sends `msg` with `priority`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the queue stayed full; otherwise as
    /// [`Self::send_with_priority`].
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

    fn wrap(q: Queue) -> Self {
        Receiver {
            q,
            held: contract::Held::default(),
            _t: PhantomData,
        }
    }

    /// Waits for a message and returns it with its priority (the contract's `recv`
    /// returns the oldest message of the highest priority without it).
    ///
    /// # Errors
    ///
    /// As [`Self::recv`].
    pub fn recv_with_priority(&self) -> Result<(T, u32)> {
        self.held.take_shared()?;
        let mut priority = 0;
        let msg = self.recv_with(Wait::Forever, &mut priority)?;
        Ok((msg, priority))
    }

    /// As [`Self::recv_with_priority`], without waiting.
    ///
    /// # Errors
    ///
    /// As [`Self::try_recv`].
    pub fn try_recv_with_priority(&self) -> Result<(T, u32)> {
        self.held.take_shared()?;
        let mut priority = 0;
        let msg = self.recv_with(Wait::Now, &mut priority)?;
        Ok((msg, priority))
    }

    /// As [`Self::recv_with_priority`], waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Self::recv_timeout`].
    pub fn recv_timeout_with_priority(&self, timeout: Duration) -> Result<(T, u32)> {
        self.held.take_shared()?;
        let mut priority = 0;
        let msg = self.recv_with(Wait::timeout(timeout), &mut priority)?;
        Ok((msg, priority))
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

impl<T: Message> Tx<T> for Sender<T> {
    /// Sends `*msg` with priority 0 (see [`Sender::send_with_priority`]) straight from
    /// where it lies: one `mq_timedsend`.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::Timeout`] if the queue stayed full, [`Error::Shutdown`]
    /// (see [module docs](crate::mq)), [`Error::Io`].
    #[inline(always)]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        self.q.send(as_bytes(msg), 0, wait.into())
    }
}

impl<T: Message> Rx<T> for Receiver<T> {
    /// Receives the oldest message of the highest priority: one `mq_timedreceive`.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] or [`Error::Timeout`] if none came in time;
    /// [`Error::SchemaMismatch`], [`Error::InvalidMessage`] or [`Error::Corrupt`] for a
    /// message that is not a valid `T` of this schema (it is consumed);
    /// [`Error::Shutdown`] (see [module docs](crate::mq)); [`Error::Io`].
    #[inline(always)]
    fn recv_wait(&mut self, wait: contract::Wait) -> Result<T> {
        self.held.take()?;
        self.recv_with(wait.into(), &mut 0)
    }

    /// When every bit pattern of `T` is valid, the kernel writes the message straight
    /// into `*out` (no copy in this process). After an error `*out` is unchanged, except
    /// that a message too short for such a `T` may have overwritten its first bytes (it
    /// still holds a valid `T`).
    #[inline(always)]
    fn recv_into_wait(&mut self, out: &mut T, wait: contract::Wait) -> Result<()> {
        self.held.take()?;
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
            let (n, _priority) = self.q.receive(bytes, wait.into())?;
            if n != size_of::<T>() {
                return Err(InvalidMessage::length(T::SCHEMA.name, size_of::<T>(), n).into());
            }
            Ok(())
        } else {
            *out = self.recv_with(wait.into(), &mut 0)?;
            Ok(())
        }
    }

    /// One `mq_timedreceive` per message: a queue hands out one message per system call.
    /// An error met after the first message (a refused message, which the kernel has
    /// already taken off the queue) is returned by the next receive of the family.
    fn recv_many_wait(&mut self, out: &mut [T], wait: contract::Wait) -> Result<usize> {
        self.held.take()?;
        let batch = contract::recv_each(out, wait, |m, w| self.recv_into_wait(m, w))?;
        Ok(self.held.keep(batch))
    }
}

contract::sending_end!(impl<T> Sender<T>, T);
contract::receiving_end!(impl<T> Receiver<T>, T);

impl<T> AsFd for Sender<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.q.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T] Sender<T>);

impl<T> AsFd for Receiver<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.q.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([T] Receiver<T>);

/// Why received bytes are not a `T`: a short message, or invalid bit patterns.
#[cold]
#[inline(never)]
fn refuse<T: Message>(got: &[u8]) -> Result<()> {
    if got.len() != size_of::<T>() {
        return Err(InvalidMessage::length(T::SCHEMA.name, size_of::<T>(), got.len()).into());
    }
    T::validate(got).map_err(Error::from)
}
