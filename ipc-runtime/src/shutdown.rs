//! The process's shutdown request: a flag and an eventfd that every wait of this crate
//! watches, so that a request wakes it with [`Error::Shutdown`].
//!
//! [`signal`](crate::signal) raises the request (from the handler that
//! [`shutdown_on`](crate::signal::shutdown_on) installs, or from code with
//! [`request_shutdown`]) and re-exports the public calls; the waits (`fd`, the queues,
//! shared memory, `sync`) only read it here, so none of them depends on how a request is
//! made.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::error::{Error, Result};

static SHUTDOWN: AtomicBool = AtomicBool::new(false);
static SHUTDOWN_RAW_FD: AtomicI32 = AtomicI32::new(-1);
static SHUTDOWN_FD: OnceLock<EventFd> = OnceLock::new();

/// Creates the shutdown eventfd once and publishes its raw number for the handler.
pub(crate) fn shutdown_eventfd() -> Result<&'static EventFd> {
    if let Some(fd) = SHUTDOWN_FD.get() {
        return Ok(fd);
    }
    let fd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
        .map_err(|e| Error::sys("eventfd", e))?;
    // Another thread may win the race; its descriptor is the one kept, ours is closed.
    let fd = SHUTDOWN_FD.get_or_init(|| fd);
    SHUTDOWN_RAW_FD.store(fd.as_fd().as_raw_fd(), Ordering::Release);
    // Waiters parked without a timeout hear of a request through the death notices'
    // thread, which must now poll this descriptor too.
    crate::sync::deaths::shutdown_armed();
    Ok(fd)
}

/// Marks shutdown and wakes every waiter. Async-signal-safe: an atomic store, an atomic
/// load and `write(2)`, with `errno` preserved.
pub(crate) fn raise_shutdown_flag() {
    let saved = Errno::last_raw();
    SHUTDOWN.store(true, Ordering::SeqCst);
    let fd = SHUTDOWN_RAW_FD.load(Ordering::Acquire);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: `fd` is the eventfd kept open for the life of the process in
        // `SHUTDOWN_FD` (never closed), and the buffer is 8 valid bytes on the stack. A
        // failed write (counter saturated) is harmless: the eventfd is already readable.
        unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    }
    Errno::set_raw(saved);
}

/// Requests shutdown from code, as if a [`shutdown_on`](crate::signal::shutdown_on)
/// signal had arrived.
///
/// Blocking receives that started after [`shutdown_on`](crate::signal::shutdown_on) (or
/// an earlier call of this function) wake up with [`Error::Shutdown`].
///
/// # Errors
///
/// [`Error::Io`] if the eventfd cannot be created.
pub fn request_shutdown() -> Result<()> {
    shutdown_eventfd()?;
    raise_shutdown_flag();
    Ok(())
}

/// True once a shutdown signal has arrived or [`request_shutdown`] was called.
pub fn shutdown_requested() -> bool {
    SHUTDOWN.load(Ordering::SeqCst)
}

/// The eventfd that becomes readable (and stays readable) once shutdown is requested, for
/// a program's own `poll` loops; `None` until [`shutdown_on`](crate::signal::shutdown_on)
/// or [`request_shutdown`] has been called. Do not read from it.
pub fn shutdown_fd() -> Option<BorrowedFd<'static>> {
    SHUTDOWN_FD.get().map(|fd| fd.as_fd())
}

/// `Err(Error::Shutdown)` once shutdown is requested. Transports call it between waits.
#[inline]
pub(crate) fn check_shutdown() -> Result<()> {
    if shutdown_requested() {
        Err(Error::Shutdown)
    } else {
        Ok(())
    }
}

/// True when shutdown signalling is set up, so waits must be able to wake on it.
#[inline]
pub(crate) fn shutdown_armed() -> bool {
    SHUTDOWN_FD.get().is_some()
}
