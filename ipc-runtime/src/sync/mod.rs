//! Process-shared synchronisation: a futex-based counting [`Semaphore`] that lives in shared
//! memory, and the [`WaitStrategy`] the shared-memory channels use to wait.
//!
//! # Mechanism
//!
//! Linux futexes (`futex(2)`): a 32-bit word in memory that every process mapping it can
//! wait on (`FUTEX_WAIT`) and wake (`FUTEX_WAKE`). The operations here are the *shared*
//! (not `FUTEX_PRIVATE_FLAG`) ones, so the kernel keys the wait queue on the physical page
//! and two processes that map the same page meet on the same queue.
//!
//! # Contract and limits
//!
//! - The uncontended paths ([`Semaphore::post`] with nobody waiting, [`Semaphore::try_wait`])
//!   are one atomic instruction each and make no system call.
//! - Timeouts are relative and measured on `CLOCK_MONOTONIC`; a wait interrupted by a signal
//!   (`EINTR`) resumes with the time that remains. Once
//!   [`shutdown_on`](crate::signal::shutdown_on) is armed, waits sleep at most 20 ms at a
//!   time and return [`Error::Shutdown`](crate::Error::Shutdown) once shutdown is requested.
//! - A semaphore holds no owner: a process that dies while waiting leaves nothing locked.
//!   The channels use it only as a wake-up hint, never as a lock.
//! - A hostile process that maps the same memory can change the count at will; that can
//!   cause spurious wake-ups or missed ones, never undefined behaviour here. Callers that
//!   must not hang use [`Semaphore::wait_timeout`] and re-check their condition.
//!
//! The channels' wake-up handshake (publish, then check whether the peer is parked; park,
//! then re-check) needs a full barrier between a store and a load on both sides. A process
//! that can register for `membarrier(2)` (`MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED`)
//! pays nothing per message for it: the side about to park calls
//! `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` instead, which runs a full barrier on every
//! CPU that runs a registered process. Where registration fails (old kernel, seccomp), the
//! per-message side keeps a `SeqCst` swap.

pub(crate) mod atomic;
pub(crate) mod bell;
pub(crate) mod deaths;
pub(crate) mod fence;
pub(crate) mod futex;
mod semaphore;
pub(crate) mod wait;

// Not part of the API: benchmarks and tests count futex calls with it.
#[doc(hidden)]
pub use futex::futex_syscalls;
pub use semaphore::Semaphore;
pub(crate) use wait::Backoff;
pub use wait::WaitStrategy;

/// What this kernel and process offer the shared-memory waits (see the module docs and
/// [`crate::shm`]); `ipc doctor` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Support {
    /// Expedited global `membarrier(2)` registration succeeded: sending pays no barrier
    /// per message (receiving pays one per batch of read slots either way). Without it
    /// (Linux before 4.16, seccomp), each send pays a `SeqCst` operation, and a parked end
    /// sleeps in 1 ms slices.
    pub membarrier: bool,
    /// `pidfd_open(2)` works, and the thread that watches peers' pidfds runs: a parked end
    /// sleeps until woken and hears of a peer's death at once. Without it (Linux before
    /// 5.3, seccomp), parked ends sleep in 20 ms slices and look in between.
    pub pidfd: bool,
}

/// Probes what [`Support`] describes (registering this process for `membarrier` if it
/// was not, as the first shared-memory sender does).
pub fn support() -> Support {
    Support {
        membarrier: fence::registered(),
        pidfd: deaths::supported(),
    }
}
