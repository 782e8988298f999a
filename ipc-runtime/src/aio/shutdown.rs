//! The shutdown request, awaited: an async end that would wait wakes with
//! [`Error::Shutdown`] once shutdown is requested ([`shutdown_on`], [`request_shutdown`]),
//! as a sync end's blocking call does.
//!
//! Each end that waits watches the process's shutdown eventfd through a duplicate of it
//! registered with the runtime's reactor: no thread, and nothing at all until the
//! eventfd exists (a program that never arms shutdown pays nothing). As for the sync
//! ends, a wait that began before shutdown was first armed is not woken by it; the
//! next one is.
//!
//! [`shutdown_on`]: crate::signal::shutdown_on
//! [`request_shutdown`]: crate::signal::request_shutdown

use std::os::fd::OwnedFd;
use std::task::{Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::error::{Error, Result};
use crate::shutdown::{shutdown_fd, shutdown_requested};

/// One end's watch on the shutdown request.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// The duplicate of the shutdown eventfd, registered; `None` until it exists.
    fd: Option<AsyncFd<OwnedFd>>,
}

impl Watch {
    /// Call before returning `Pending`: [`Error::Shutdown`] once shutdown is requested;
    /// otherwise `Ok`, with `cx` woken when it is (once the shutdown eventfd exists).
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`]; [`Error::Io`] if the eventfd cannot be duplicated or
    /// registered.
    pub(crate) fn check(&mut self, cx: &mut Context<'_>) -> Result<()> {
        if shutdown_requested() {
            return Err(Error::Shutdown);
        }
        if self.fd.is_none() {
            let Some(fd) = shutdown_fd() else {
                return Ok(());
            };
            let dup = fd
                .try_clone_to_owned()
                .map_err(|e| crate::codec::io_error("dup (shutdown eventfd)", e))?;
            // SAFETY: `OwnedFd::as_raw_fd` returns the descriptor it owns, which stays open
            // and the same until the `AsyncFd` (which owns the `OwnedFd`) is dropped.
            let fd = unsafe { AsyncFd::register_with_interest(dup, Interest::READABLE) }
                .map_err(|e| crate::codec::io_error("epoll_ctl (shutdown eventfd)", e.into()))?;
            self.fd = Some(fd);
        }
        let fd = self.fd.as_ref().expect("registered above");
        match fd.poll_read_ready(cx) {
            // Readable only once a request was made (the flag is set before the write).
            Poll::Ready(Ok(_)) if shutdown_requested() => Err(Error::Shutdown),
            Poll::Ready(Ok(mut guard)) => {
                guard.clear_ready();
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(crate::codec::io_error("tokio reactor", e)),
            Poll::Pending => Ok(()),
        }
    }
}
