//! Waiting for a segment to appear.
//!
//! An `open` with an explicit `Options::open_timeout` waits for a segment that does not
//! exist yet: it watches `/dev/shm` with `inotify(7)` (`IN_CREATE`, `IN_MOVED_TO`) and
//! tries again at each event, at least every 100 ms; if no watch can be made (the
//! per-user inotify limits), it tries again after sleeps growing from 1 to 50 ms.
//!

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::shm_open;
use nix::sys::stat::Mode;

use super::WHAT;
use crate::deadline::Wait;
use crate::error::{Error, Result};

/// How often a wait for a segment to appear looks again even without an inotify event.
const WATCH_SLICE: Duration = Duration::from_millis(100);

/// Opens the segment file `shm`, waiting until `until` for it to be created if it does
/// not exist yet (see the module docs).
pub(super) fn open_when_present(shm: &str, name: &str, until: &Wait) -> Result<OwnedFd> {
    let mut watch: Option<Option<DirWatch>> = None;
    let mut nap = Duration::from_millis(1);
    loop {
        match shm_open(shm, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if !matches!(until, Wait::Now) => {}
            Err(e) => return Err(Error::named("shm_open", WHAT, name, e)),
        }
        if let Wait::Until(_, timeout) = *until {
            if until.is_over() {
                return Err(Error::Timeout(timeout));
            }
        }
        crate::shutdown::check_shutdown()?;
        let Some(w) = &watch else {
            // Watch first, then look again: a segment created in between is seen either
            // way.
            watch = Some(DirWatch::new());
            continue;
        };
        let slice = until.left().map_or(WATCH_SLICE, |l| l.min(WATCH_SLICE));
        match w {
            Some(w) => w.wait(slice)?,
            None => {
                std::thread::sleep(nap.min(slice));
                nap = (nap * 2).min(Duration::from_millis(50));
            }
        }
    }
}

/// Waits until the name `shm` no longer denotes the file whose `fstat` is `old` (a file
/// left by a creator that died while creating it): removed, or replaced by a new
/// creator's. Looks every millisecond at first, then less often, up to every 50 ms.
///
/// # Errors
///
/// [`Error::Corrupt`] saying what the file is, once `until` has passed;
/// [`Error::Shutdown`].
pub(super) fn wait_replaced(shm: &str, old: &libc::stat, until: &Wait) -> Result<()> {
    let path = format!("/dev/shm{shm}");
    let mut nap = Duration::from_millis(1);
    loop {
        match nix::sys::stat::stat(path.as_str()) {
            Ok(now) if now.st_ino == old.st_ino && now.st_dev == old.st_dev => {}
            _ => return Ok(()),
        }
        if until.is_over() {
            let name = shm
                .trim_start_matches('/')
                .trim_start_matches(super::PREFIX);
            return Err(super::dead_creator(name));
        }
        crate::shutdown::check_shutdown()?;
        let left = until.left().unwrap_or(nap);
        std::thread::sleep(nap.min(left));
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// An `inotify(7)` watch of `/dev/shm` for files created or moved in.
struct DirWatch(OwnedFd);

impl DirWatch {
    /// `None` if the watch cannot be made (the per-user inotify limits, say).
    fn new() -> Option<DirWatch> {
        // SAFETY: a plain system call; it takes no pointers.
        let raw = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` was just returned open by `inotify_init1`, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: `fd` is an open inotify instance; the path is a NUL-terminated literal
        // that outlives the call.
        let wd = unsafe {
            libc::inotify_add_watch(
                fd.as_raw_fd(),
                c"/dev/shm".as_ptr(),
                libc::IN_CREATE | libc::IN_MOVED_TO,
            )
        };
        (wd >= 0).then_some(DirWatch(fd))
    }

    /// Waits at most `slice` for an event (or a shutdown request), and discards the events
    /// that came: the caller looks for its file again either way.
    fn wait(&self, slice: Duration) -> Result<()> {
        let ready = crate::fd::wait_ready(
            self.0.as_fd(),
            nix::poll::PollFlags::POLLIN,
            &Wait::timeout(slice),
        )?;
        if ready.is_some() {
            let mut buf = [0u8; 4096];
            while nix::unistd::read(&self.0, &mut buf).is_ok_and(|n| n > 0) {}
        }
        Ok(())
    }
}
