//! Raw `futex(2)` calls on a shared (not private) 32-bit word.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;

static CALLS: AtomicU64 = AtomicU64::new(0);

/// The number of `futex(2)` system calls (waits and wakes) this process has made through
/// this crate since it started.
///
/// Benchmarks and tests use it to check that streaming through a shared-memory channel
/// makes (almost) no system calls while the receiver keeps up. Not part of the API (hidden
/// from the docs): it may change or go in any release.
pub fn futex_syscalls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Woken {
    /// Woken by `FUTEX_WAKE`, a spurious wake-up, or the word was not `expected`.
    Maybe,
    /// The timeout elapsed.
    TimedOut,
    /// A signal interrupted the wait.
    Interrupted,
}

/// `FUTEX_WAIT`: sleeps while `*word == expected`, at most `timeout` (relative,
/// `CLOCK_MONOTONIC`), or forever with `None`.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Woken {
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    CALLS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: `word` is a valid, aligned 32-bit atomic for the duration of the call (it is
    // borrowed); `ts_ptr` is null or points to a live `timespec`. FUTEX_WAIT (without the
    // private flag) only reads `*word` and never writes through the pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return Woken::Maybe;
    }
    match Errno::last() {
        Errno::ETIMEDOUT => Woken::TimedOut,
        Errno::EINTR => Woken::Interrupted,
        // EAGAIN: the word was not `expected`; anything else: treat as a spurious wake-up,
        // the caller re-checks its condition.
        _ => Woken::Maybe,
    }
}

/// `FUTEX_WAKE`: wakes at most `n` waiters on `word`; returns how many were woken.
pub(crate) fn wake(word: &AtomicU32, n: u32) -> usize {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let n = n.min(i32::MAX as u32);
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE does not access the
    // memory at all, it only uses the address as the key of the wait queue.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            core::ptr::null::<libc::timespec>(),
            core::ptr::null::<u32>(),
            0u32,
        )
    };
    r.max(0) as usize
}
