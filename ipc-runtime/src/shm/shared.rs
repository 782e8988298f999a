//! [`Shared<T>`]: one value in shared memory behind a robust process-shared lock.
//!
//! # The lock
//!
//! A futex word holds `0` (free) or `owner + 1` (the holder's participant index) and a
//! "waiters" bit. Locking is one CAS when free; a contended locker sets the waiters bit
//! and sleeps on the word (`FUTEX_WAIT`, 20 ms slices), and the unlocker wakes one waiter
//! only if the bit is set. The owner is identified by its participant index, whose
//! liveness is its OFD lock byte on the segment file (see the segment docs), so a holder
//! that dies is detected without PID guessing: a waiter that finds the owner's byte
//! unlocked takes the lock over and gets [`LockError::OwnerDied`], through which the user
//! checks and repairs the value and calls [`Guard::mark_consistent`]; until then every
//! later `lock()` reports `OwnerDied` again. A newcomer that inherits a dead holder's
//! participant index releases the orphaned lock the same way.
//!
//! # Validity
//!
//! For types whose every bit pattern is valid, the guard derefs straight into shared
//! memory. Other types are copied out and validated at `lock()` and written back when the
//! guard drops, so a process that ignores the lock cannot turn the `&T` you hold into an
//! invalid value; invalid bytes found at `lock()` give [`LockError::Invalid`], whose
//! [`Repair::set`] writes a fresh value.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use std::os::fd::OwnedFd;
use std::time::Duration;

use super::layout::{self, Header, Layout, SegmentKind, Shape};
use super::options::Options;
use super::ring::MAX_PARTICIPANTS;
use super::segment::Segment;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::{InvalidMessage, Message};
use crate::sync::{futex, Semaphore};

const WAITERS: u32 = 1 << 31;
const OWNER: u32 = !WAITERS;
const SLICE: Duration = Duration::from_millis(20);

/// The lock's cache line.
#[repr(C)]
struct LockWord {
    state: AtomicU32,
    /// 1 after a holder died, until someone calls `mark_consistent`.
    inconsistent: AtomicU32,
}

/// One `T` in a shared-memory segment, behind a robust process-shared lock.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// use ipc::shm::{Options, Shared};
/// let counter = Shared::<u64>::open_or_create("counter", 0, Options::new())?;
/// *counter.lock()? += 1;
/// # Ok(()) }
/// ```
pub struct Shared<T: Message> {
    seg: Segment,
    me: u32,
    lock: NonNull<LockWord>,
    value: NonNull<T>,
    _t: PhantomData<T>,
}

// SAFETY: the handle owns its mapping; the value is only reached through the
// process-shared lock, which also excludes other threads of this process.
unsafe impl<T: Message> Send for Shared<T> {}
// SAFETY: as above; `lock()` takes `&self` and is safe to call from several threads.
unsafe impl<T: Message> Sync for Shared<T> {}

impl<T: Message> core::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Shared")
            .field("schema", &T::SCHEMA.name)
            .field("participant", &self.me)
            .finish_non_exhaustive()
    }
}

/// Why [`Shared::lock`] did not simply return a guard.
pub enum LockError<'a, T: Message> {
    /// The previous holder died while holding the lock: you hold it now; check and repair
    /// the value, then call [`Guard::mark_consistent`].
    OwnerDied(Guard<'a, T>),
    /// The bytes in shared memory are not a valid `T` (a buggy or hostile writer, or a
    /// multi-byte field torn by a dying holder). You hold the lock; write a fresh value
    /// with [`Repair::set`].
    Invalid(Repair<'a, T>, InvalidMessage),
    /// Any other error (a corrupt lock word, or [`Error::Shutdown`]).
    Failed(Error),
}

impl<T: Message> core::fmt::Debug for LockError<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("OwnerDied(..)"),
            LockError::Invalid(_, e) => write!(f, "Invalid({e})"),
            LockError::Failed(e) => write!(f, "Failed({e:?})"),
        }
    }
}

impl<T: Message> From<LockError<'_, T>> for Error {
    fn from(e: LockError<'_, T>) -> Error {
        match e {
            LockError::OwnerDied(_) => Error::OwnerDied,
            LockError::Invalid(_, e) => Error::InvalidMessage(e),
            LockError::Failed(e) => e,
        }
    }
}

impl<T: Message> Shared<T> {
    /// Creates the shared value `name` holding `init`.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`], [`Error::InvalidName`], [`Error::LimitExceeded`],
    /// [`Error::Io`].
    pub fn create(name: &str, init: T, opts: Options) -> Result<Self> {
        let schema = layout::encoded_schema::<T>()?;
        let shape = Shape::of::<T>(0).with_schema(&schema);
        let layout = Layout::shared::<T>(shape.schema_len)?;
        let seg = Segment::create(name, &opts, layout.meta::<T>(&shape), 0)?;
        seg.write_schema(&schema);
        let s = Self::assemble(seg, layout, 0);
        // SAFETY: the value's place is inside the mapping, aligned, and not yet shared.
        unsafe { s.value.as_ptr().write(init) };
        layout::set_ready(s.seg.header());
        Ok(s)
    }

    /// Opens the existing shared value `name`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::SchemaMismatch`], [`Error::Corrupt`],
    /// [`Error::PermissionDenied`], [`Error::Untrusted`] if it belongs to another user or
    /// its mode grants more than `opts` allows, [`Error::Busy`] (64 live participants).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// [`open`](Self::open) with options (mode check, open timeout: with
    /// [`Options::open_timeout`] it waits for the value to be created).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Timeout`] if an open timeout was set and the
    /// value did not appear in time.
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        Self::attach(Segment::open(name, &opts, &opts.appear_wait())?)
    }

    /// Opens `name`, or creates it holding `init` if it does not exist.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create) and [`open`](Self::open).
    pub fn open_or_create(name: &str, init: T, opts: Options) -> Result<Self> {
        for _ in 0..16 {
            match Self::create(name, init, opts.clone()) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            // Not waiting for it to appear: if it went, create it again.
            match Segment::open(name, &opts, &Wait::Now).and_then(Self::attach) {
                Err(Error::NotFound { .. }) => {}
                other => return other,
            }
        }
        Err(Error::Busy {
            what: "shared-memory segment",
            name: name.to_owned(),
            reason: "it keeps being created and removed by other processes",
        })
    }

    /// Joins a memfd-backed shared value from a descriptor made by [`share_fd`](Self::share_fd).
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open), and [`Error::Corrupt`] for an unsealed descriptor.
    pub fn from_fd(fd: OwnedFd, opts: Options) -> Result<Self> {
        Self::attach(Segment::from_fd(fd, &opts)?)
    }

    /// A new descriptor of the segment to hand to another process (see
    /// [`Backing::Memfd`](super::Backing::Memfd)).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if `/proc/self/fd` cannot be opened.
    pub fn share_fd(&self) -> Result<OwnedFd> {
        self.seg.share_fd()
    }

    fn attach(mut seg: Segment) -> Result<Self> {
        let (layout, _) = seg.check::<T>(SegmentKind::Shared)?;
        let me = seg.join(0..MAX_PARTICIPANTS, "64 live processes already share it")?;
        let s = Self::assemble(seg, layout, me);
        // A dead holder whose index we inherited: release its orphaned lock.
        let lw = s.lock_word();
        let cur = lw.state.load(Ordering::Acquire);
        if cur & OWNER == me as u32 + 1
            && lw
                .state
                .compare_exchange(cur, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            lw.inconsistent.store(1, Ordering::Release);
            futex::wake(&lw.state, 1);
        }
        Ok(s)
    }

    fn assemble(seg: Segment, layout: Layout, me: usize) -> Self {
        let base = seg.base();
        // SAFETY: `body_offset` and `body_offset + payload_offset` lie inside the mapping
        // (the layout was computed locally and checked against the mapped length); the
        // lock word is 64-aligned and the value aligned for `T`.
        let (lock, value) = unsafe {
            (
                base.add(layout.body_offset as usize).cast::<LockWord>(),
                base.add((layout.body_offset + layout.payload_offset) as usize)
                    .cast::<T>(),
            )
        };
        Shared {
            seg,
            me: me as u32,
            lock: NonNull::new(lock).expect("inside a mapping"),
            value: NonNull::new(value).expect("inside a mapping"),
            _t: PhantomData,
        }
    }

    fn lock_word(&self) -> &LockWord {
        // SAFETY: points into the mapping owned by `self`; atomics, valid for any bits.
        unsafe { self.lock.as_ref() }
    }

    /// A process-shared semaphore living in the same segment, free for the user: e.g. a
    /// worker posts it when the value is ready, the master waits on it.
    pub fn semaphore(&self) -> &Semaphore {
        let h: &Header = self.seg.header();
        &h.user_sem
    }

    /// Locks the value, waiting for the holder to unlock it or die.
    ///
    /// # Errors
    ///
    /// [`LockError::OwnerDied`] (you hold the lock) if a holder died holding it and nobody
    /// has marked it consistent since; [`LockError::Invalid`] (you hold the lock) if the
    /// bytes are not a valid `T`; [`LockError::Failed`] with [`Error::Corrupt`] if the lock
    /// word names no possible participant; [`LockError::Failed`] with [`Error::Shutdown`]
    /// if shutdown was requested (see [`shutdown_on`](crate::signal::shutdown_on)) while
    /// waiting for the holder (the wait sleeps 20 ms at a time and checks in between).
    /// `?` turns a `LockError` into an [`Error`].
    pub fn lock(&self) -> Result<Guard<'_, T>, LockError<'_, T>> {
        // A value shrunk away under this process is no longer shared (see `sigbus.rs`).
        self.seg.intact().map_err(LockError::Failed)?;
        let lw = self.lock_word();
        let mine = self.me + 1;
        let mut contended = false;
        loop {
            let cur = lw.state.load(Ordering::Relaxed);
            let owner = cur & OWNER;
            if owner == 0 {
                let new = if contended { mine | WAITERS } else { mine };
                if lw
                    .state
                    .compare_exchange(cur, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break;
                }
                continue;
            }
            if owner as usize > MAX_PARTICIPANTS {
                return Err(LockError::Failed(Error::Corrupt(format!(
                    "shared lock word {cur:#x} names no participant"
                ))));
            }
            // Held: is the holder alive? (A dead holder keeps its index forever.)
            if owner != mine && !self.seg.alive(owner as usize - 1) {
                if lw
                    .state
                    .compare_exchange(cur, mine | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    lw.inconsistent.store(1, Ordering::Release);
                    break;
                }
                continue;
            }
            contended = true;
            if cur & WAITERS == 0
                && lw
                    .state
                    .compare_exchange(cur, cur | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            // The futex wait cannot be woken by a shutdown request: check between slices.
            if let Err(e) = crate::shutdown::check_shutdown() {
                return Err(LockError::Failed(e));
            }
            futex::wait(&lw.state, cur | WAITERS, Some(SLICE));
        }
        let guard = Guard {
            shared: self,
            copy: None,
        };
        self.finish_lock(guard)
    }

    fn finish_lock<'a>(
        &'a self,
        mut guard: Guard<'a, T>,
    ) -> Result<Guard<'a, T>, LockError<'a, T>> {
        if !const { T::SCHEMA.accepts_any_bits() } {
            let mut copy = core::mem::MaybeUninit::<T>::uninit();
            // SAFETY: we hold the lock; the value's `size_of::<T>()` bytes are inside the
            // mapping; the copy is private.
            let bytes = unsafe {
                core::ptr::copy_nonoverlapping(
                    self.value.as_ptr().cast::<u8>(),
                    copy.as_mut_ptr().cast::<u8>(),
                    size_of::<T>(),
                );
                core::slice::from_raw_parts(copy.as_ptr().cast::<u8>(), size_of::<T>())
            };
            if let Err(e) = T::validate(bytes) {
                return Err(LockError::Invalid(Repair { shared: self }, e));
            }
            // SAFETY: `validate` accepted the bytes: a valid `T` by the `Message` contract.
            guard.copy = Some(unsafe { copy.assume_init() });
        }
        if self.lock_word().inconsistent.load(Ordering::Acquire) != 0 {
            return Err(LockError::OwnerDied(guard));
        }
        Ok(guard)
    }

    fn unlock(&self) {
        let lw = self.lock_word();
        if lw.state.swap(0, Ordering::Release) & WAITERS != 0 {
            futex::wake(&lw.state, 1);
        }
    }
}

/// Holds the lock of a [`Shared`] value; derefs to the value; unlocks on drop.
pub struct Guard<'a, T: Message> {
    shared: &'a Shared<T>,
    /// The validated private copy, for types with invalid bit patterns.
    copy: Option<T>,
}

impl<T: Message + core::fmt::Debug> core::fmt::Debug for Guard<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Guard").field(&**self).finish()
    }
}

impl<T: Message> Guard<'_, T> {
    /// Declares the value repaired after [`LockError::OwnerDied`]: later `lock()` calls
    /// succeed normally again.
    pub fn mark_consistent(&mut self) {
        self.shared
            .lock_word()
            .inconsistent
            .store(0, Ordering::Release);
    }
}

impl<T: Message> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.copy {
            Some(v) => v,
            // SAFETY: we hold the lock; every bit pattern is a valid `T` for types that take
            // this path (`copy` is `None` only when `accepts_any_bits`).
            None => unsafe { self.shared.value.as_ref() },
        }
    }
}

impl<T: Message> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.copy {
            Some(v) => v,
            // SAFETY: as for `deref`; the lock makes this the only writer that follows the
            // protocol.
            None => unsafe { &mut *self.shared.value.as_ptr() },
        }
    }
}

impl<T: Message> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        if let Some(v) = self.copy.take() {
            // SAFETY: we still hold the lock; the place is inside the mapping and aligned.
            unsafe { self.shared.value.as_ptr().write(v) };
        }
        self.shared.unlock();
    }
}

/// Holds the lock of a [`Shared`] value whose bytes are not a valid `T`.
pub struct Repair<'a, T: Message> {
    shared: &'a Shared<T>,
}

impl<'a, T: Message> Repair<'a, T> {
    /// Writes `value` and returns a normal guard (also marking the value consistent).
    pub fn set(self, value: T) -> Guard<'a, T> {
        let shared = self.shared;
        core::mem::forget(self);
        // SAFETY: we hold the lock; the place is inside the mapping and aligned.
        unsafe { shared.value.as_ptr().write(value) };
        let mut g = Guard { shared, copy: None };
        if !const { T::SCHEMA.accepts_any_bits() } {
            g.copy = Some(value);
        }
        g.mark_consistent();
        g
    }
}

impl<T: Message> Drop for Repair<'_, T> {
    fn drop(&mut self) {
        self.shared.unlock();
    }
}
