//! A counting semaphore over one futex word, usable across processes.

use core::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::futex::{self, Woken};
use super::wait::PARK_SLICE;
use crate::error::{Error, Result};

/// A process-shared counting semaphore (see the [module docs](crate::sync)).
///
/// It is two 32-bit words, `#[repr(C)]`, with no pointers: place it in shared memory and
/// every process that maps the memory can [`post`](Semaphore::post) and
/// [`wait`](Semaphore::wait) on it. [`crate::shm::Shared::semaphore`] gives one that lives
/// in a shared segment.
///
/// ```
/// use ipc::sync::Semaphore;
/// use std::time::Duration;
///
/// let sem = Semaphore::new(0);
/// sem.post();
/// assert!(sem.try_wait());
/// assert!(sem.wait_timeout(Duration::from_millis(1)).is_err());
/// ```
#[repr(C)]
#[derive(Debug)]
pub struct Semaphore {
    count: AtomicU32,
    waiters: AtomicU32,
}

impl Semaphore {
    /// A semaphore holding `initial` tokens.
    pub const fn new(initial: u32) -> Self {
        Semaphore {
            count: AtomicU32::new(initial),
            waiters: AtomicU32::new(0),
        }
    }

    /// Adds a token and wakes one waiter if any is parked.
    ///
    /// No system call when nobody waits. The count saturates at `u32::MAX`.
    pub fn post(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_add(1));
        if self.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.count, 1);
        }
    }

    /// Takes a token if one is available, without waiting.
    pub fn try_wait(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c != 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// The number of tokens right now (a snapshot).
    pub fn value(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Takes a token, sleeping until one is posted. Signals (`EINTR`) do not end the wait,
    /// except a shutdown request.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] once shutdown is requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)) while no token is available: once it
    /// is armed, the wait sleeps at most 20 ms at a time and checks for it in between.
    pub fn wait(&self) -> Result<()> {
        loop {
            if self.try_wait() {
                return Ok(());
            }
            crate::shutdown::check_shutdown()?;
            self.park(None);
        }
    }

    /// Takes a token, waiting at most `timeout` (measured on `CLOCK_MONOTONIC`).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no token came within `timeout`, [`Error::Shutdown`] as for
    /// [`Semaphore::wait`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<()> {
        let deadline = crate::deadline::deadline_after(timeout);
        loop {
            if self.try_wait() {
                return Ok(());
            }
            crate::shutdown::check_shutdown()?;
            let remaining = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if remaining.is_zero() {
                return Err(Error::Timeout(timeout));
            }
            // An EINTR or a spurious wake-up loops with the remaining time.
            self.park(Some(remaining));
        }
    }

    /// Takes a token, waiting at most `timeout` (`None`: without limit) in sleeps as long
    /// as that, not in slices: for a waiter whose shutdown request comes as a post (it is
    /// registered with [`crate::sync::deaths`]). False if no token came in time or shutdown
    /// was requested.
    pub(crate) fn wait_posted(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(crate::deadline::deadline_after);
        loop {
            if self.try_wait() {
                return true;
            }
            if crate::shutdown::shutdown_requested() {
                return false;
            }
            let remaining = match deadline {
                Some(d) => match d.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => return false,
                    left => Some(left),
                },
                None => None,
            };
            self.sleep(remaining);
        }
    }

    /// Sleeps on the count while it is zero, at most `timeout` (`None`: no limit). Once a
    /// shutdown is armed no sleep lasts more than [`PARK_SLICE`]: a futex wait cannot be
    /// woken by the shutdown eventfd, so the caller checks for a request in between.
    fn park(&self, timeout: Option<Duration>) -> Woken {
        let timeout = if crate::shutdown::shutdown_armed() {
            Some(timeout.map_or(PARK_SLICE, |t| t.min(PARK_SLICE)))
        } else {
            timeout
        };
        self.sleep(timeout)
    }

    /// One futex sleep on the count while it is zero, at most `timeout`.
    fn sleep(&self, timeout: Option<Duration>) -> Woken {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let r = if self.count.load(Ordering::SeqCst) == 0 {
            futex::wait(&self.count, 0, timeout)
        } else {
            Woken::Maybe
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

impl Default for Semaphore {
    fn default() -> Self {
        Semaphore::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tokens_are_counted() {
        let s = Semaphore::new(2);
        assert!(s.try_wait());
        assert!(s.try_wait());
        assert!(!s.try_wait());
        s.post();
        assert_eq!(s.value(), 1);
        s.wait().unwrap();
        assert_eq!(s.value(), 0);
    }

    #[test]
    fn wait_timeout_times_out_and_wakes() {
        let s = Arc::new(Semaphore::new(0));
        assert!(matches!(
            s.wait_timeout(Duration::from_millis(5)),
            Err(Error::Timeout(_))
        ));
        let s2 = Arc::clone(&s);
        let t = std::thread::spawn(move || s2.wait_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        s.post();
        assert!(t.join().unwrap().is_ok());
    }

    #[test]
    fn post_without_waiters_makes_no_syscall() {
        let s = Semaphore::new(0);
        let before = futex::futex_syscalls();
        for _ in 0..1000 {
            s.post();
            assert!(s.try_wait());
        }
        // Other tests in this process may make futex calls concurrently, but not 1000.
        assert!(futex::futex_syscalls() - before < 1000);
    }
}
