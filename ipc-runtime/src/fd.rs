//! Helpers for byte-stream file descriptors (pipes, FIFOs, stream sockets): waiting with a
//! deadline (`poll(2)`), reads and writes that retry `EINTR` with the time that remains,
//! and writes that turn a broken pipe into [`Error::Disconnected`] instead of a `SIGPIPE`
//! death, whatever the process's `SIGPIPE` disposition is.
//!
//! Everything here works on a [`BorrowedFd`] and does not care whether the descriptor is
//! blocking or not: a read or write that returns `EAGAIN` waits in `poll` and tries again.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

use crate::error::{Error, Result};

pub(crate) use crate::deadline::Wait;

impl Wait {
    /// The `poll` timeout that remains, or `None` once the deadline has passed (a `Now`
    /// wait still gets one zero-timeout poll).
    fn remaining(&self, first: bool) -> Option<PollTimeout> {
        match *self {
            Wait::Forever => Some(PollTimeout::NONE),
            Wait::Now => first.then_some(PollTimeout::ZERO),
            Wait::Until(at, _) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() && !first {
                    return None;
                }
                // Round up so a sub-millisecond remainder does not spin with timeout 0.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
                Some(PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX))
            }
        }
    }
}

/// Waits until `fd` reports one of `events` (or an error or hang-up), retrying `EINTR`
/// with the time that remains. Returns the reported events, or `None` if `wait` ran out.
///
/// # Errors
///
/// [`Error::Shutdown`] once a shutdown is requested (see `signal::shutdown_on`),
/// [`Error::Io`] if `poll` fails for another reason than `EINTR`.
pub(crate) fn wait_ready(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    wait: &Wait,
) -> Result<Option<PollFlags>> {
    // Once `signal::shutdown_on` is armed, the shutdown eventfd joins every wait, so a
    // shutdown request wakes it with `Error::Shutdown`.
    let mut fds = [PollFd::new(fd, events), PollFd::new(fd, events)];
    let n = match crate::shutdown::shutdown_fd() {
        Some(s) => {
            fds[1] = PollFd::new(s, PollFlags::POLLIN);
            2
        }
        None => 1,
    };
    loop {
        if !poll_until(&mut fds[..n], wait)? {
            return Ok(None);
        }
        match fds[0].revents() {
            Some(r) if r.is_empty() => {}
            r => return Ok(Some(r.unwrap_or(events))),
        }
    }
}

/// Waits until `fd` reports `events` (or an error/hang-up), the deadline passes, or
/// shutdown is requested.
///
/// Returns `Ok(true)` when `fd` is ready and `Ok(false)` at the deadline (`None`: no
/// deadline). This is the waiting primitive every transport with a descriptor should use
/// so that `signal::shutdown_on` wakes it.
///
/// # Errors
///
/// [`Error::Shutdown`] once shutdown is requested, [`Error::Io`] if `poll` fails.
pub(crate) fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Instant>,
) -> Result<bool> {
    crate::shutdown::check_shutdown()?;
    let wait = match deadline {
        None => Wait::Forever,
        Some(at) => Wait::Until(at, at.saturating_duration_since(Instant::now())),
    };
    // `wait_ready` polls the shutdown eventfd beside `fd` once it is armed.
    Ok(wait_ready(fd, events, &wait)?.is_some())
}

/// Waits until one of `fds` reports an event it asks for (or an error or hang-up),
/// `wait` runs out, or shutdown is requested: [`wait_ready`] for several descriptors (a
/// server's listener and connections). Returns `false` if `wait` ran out; then every
/// `revents` is empty.
///
/// # Errors
///
/// As [`wait_ready`].
pub(crate) fn wait_any(fds: &mut Vec<PollFd<'_>>, wait: &Wait) -> Result<bool> {
    let Some(shutdown) = crate::shutdown::shutdown_fd() else {
        return poll_until(fds, wait);
    };
    fds.push(PollFd::new(shutdown, PollFlags::POLLIN));
    let ready = poll_until(fds, wait);
    fds.pop();
    ready
}

/// The crate's one `poll` loop: polls `fds` (the shutdown eventfd among them once it is
/// armed) until one reports an event, retrying `EINTR` with the time that remains, and
/// turns a shutdown request into [`Error::Shutdown`].
fn poll_until(fds: &mut [PollFd<'_>], wait: &Wait) -> Result<bool> {
    let mut first = true;
    loop {
        let Some(timeout) = wait.remaining(first) else {
            return Ok(false);
        };
        first = false;
        match nix::poll::poll(fds, timeout) {
            Ok(0) => {
                if matches!(wait, Wait::Now) {
                    return Ok(false);
                }
            }
            Ok(_) => {
                crate::shutdown::check_shutdown()?;
                if fds
                    .iter()
                    .any(|f| !matches!(f.revents(), Some(r) if r.is_empty()))
                {
                    return Ok(true);
                }
            }
            // Interrupted (by the shutdown signal, say): a request shows in the eventfd.
            Err(Errno::EINTR) => crate::shutdown::check_shutdown()?,
            Err(e) => return Err(Error::sys("poll", e)),
        }
    }
}

/// Reads what is available into `buf`, waiting at most `wait` for something to arrive.
///
/// With `poll_first` (or a deadline) it polls before reading, so a blocking descriptor
/// never blocks past the deadline, and a FIFO whose writer has not opened yet is not
/// mistaken for end of stream (Linux reports `POLLHUP` on such a FIFO only after a writer
/// has come and gone, while `read` would return 0 at once). A `Wait::Now` on a descriptor
/// the caller knows is `nonblocking` just reads: `EAGAIN` is the answer "nothing yet"
/// (polling a pipe has a lasting cost, see `pipe::FifoState`).
///
/// Returns `Some(0)` at end of stream, `None` if the wait ran out.
///
/// # Errors
///
/// [`Error::Io`] for a failing `read` or `poll`.
pub(crate) fn read_some(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    wait: &Wait,
    poll_first: bool,
    nonblocking: bool,
) -> Result<Option<usize>> {
    // A blocking read cannot be woken by a shutdown request: poll first when one is armed
    // (a non-blocking descriptor reads first, and polls, the shutdown eventfd included,
    // only when it is empty).
    let mut poll_now = poll_first
        || (crate::shutdown::shutdown_armed() && !nonblocking)
        || match wait {
            Wait::Forever => false,
            Wait::Now => !nonblocking,
            Wait::Until(..) => true,
        };
    // Armed on a blocking descriptor: read with `RWF_NOWAIT` (it never blocks, whatever the
    // descriptor's mode), and poll, the shutdown eventfd included, only when it is empty.
    let nowait = poll_now && !poll_first && !nonblocking && nowait_supported() && {
        matches!(wait, Wait::Forever) && crate::shutdown::shutdown_armed()
    };
    if nowait {
        poll_now = false;
    }
    loop {
        if poll_now && wait_ready(fd, PollFlags::POLLIN, wait)?.is_none() {
            return Ok(None);
        }
        let got = if nowait {
            read_nowait(fd, buf)
        } else {
            nix::unistd::read(fd, buf)
        };
        match got {
            Err(e) if nowait && nowait_refused(e) => {
                // An old kernel: from now on, poll before a plain read.
                return read_some(fd, buf, wait, true, nonblocking);
            }
            Ok(n) => return Ok(Some(n)),
            Err(Errno::EINTR) => {}
            // Non-blocking and empty: that is the whole answer to a try-receive.
            Err(Errno::EAGAIN) if matches!(wait, Wait::Now) => return Ok(None),
            // Non-blocking descriptor, or another reader took the bytes: wait again.
            Err(Errno::EAGAIN) => poll_now = true,
            Err(e) => return Err(Error::sys("read", e)),
        }
    }
}

/// `AsRawFd` for a type that has `AsFd`: the raw number of the descriptor `as_fd` lends.
/// The generics of the impl go in brackets: `as_raw_fd_from_as_fd!([T] Sender<T>)`.
macro_rules! as_raw_fd_from_as_fd {
    ([$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&::std::os::fd::AsFd::as_fd(self))
            }
        }
    };
}
pub(crate) use as_raw_fd_from_as_fd;

/// What a write must do about `SIGPIPE`, decided once per writer from the process's
/// disposition of `SIGPIPE` (`sigaction(2)` query).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sigpipe {
    /// `SIGPIPE` is ignored (the Rust runtime's default): a broken pipe is just `EPIPE`.
    Ignored,
    /// `SIGPIPE` would kill or interrupt the process: block it around each write and
    /// consume the one a broken pipe raises.
    Guard,
}

impl Sigpipe {
    /// Queries the current disposition of `SIGPIPE`.
    pub(crate) fn detect() -> Sigpipe {
        let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
        // SAFETY: a null `act` only queries the disposition; `old` points to writable
        // memory of the right type, which the kernel fills on success.
        let rc = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), old.as_mut_ptr()) };
        if rc != 0 {
            return Sigpipe::Guard;
        }
        // SAFETY: `sigaction` returned 0, so it initialised `old` (and it was zeroed before).
        let old = unsafe { old.assume_init() };
        if old.sa_sigaction == libc::SIG_IGN {
            Sigpipe::Ignored
        } else {
            Sigpipe::Guard
        }
    }
}

/// One `writev(2)` of `bufs` to `fd`, with `SIGPIPE` handled as `sigpipe` says: a broken
/// pipe returns `Err(EPIPE)` and never delivers a `SIGPIPE` to the process.
///
/// The guard is the classic one for libraries: block `SIGPIPE` in this thread, note
/// whether one was already pending, write, and if the write failed with `EPIPE` and none
/// was pending before, consume the one it raised with a zero-timeout `sigtimedwait`;
/// then restore the thread's mask.
pub(crate) fn writev_once(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    sigpipe: Sigpipe,
) -> std::result::Result<usize, Errno> {
    writev_maybe_nowait(fd, bufs, sigpipe, false)
}

/// [`writev_once`], with `RWF_NOWAIT` if `nowait`.
fn writev_maybe_nowait(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    sigpipe: Sigpipe,
    nowait: bool,
) -> std::result::Result<usize, Errno> {
    if sigpipe == Sigpipe::Ignored {
        return write_bufs(fd, bufs, nowait);
    }
    let mut only_pipe = SigSet::empty();
    only_pipe.add(Signal::SIGPIPE);
    let old = only_pipe.thread_swap_mask(SigmaskHow::SIG_BLOCK)?;
    let was_pending = sigpipe_pending();
    let result = write_bufs(fd, bufs, nowait);
    if result == Err(Errno::EPIPE) && !was_pending {
        consume_sigpipe(&only_pipe);
    }
    if !old.contains(Signal::SIGPIPE) {
        // Unblocking what we blocked cannot fail with a valid set; if it did, the signal
        // would merely stay blocked in this thread.
        let _ = only_pipe.thread_unblock();
    }
    result
}

/// `write(2)` for one buffer (a little cheaper than `writev`), `writev(2)` for several;
/// with `nowait`, `pwritev2(RWF_NOWAIT)`, which says `EAGAIN` instead of blocking whatever
/// the descriptor's mode (see [`NOWAIT_UNSUPPORTED`]).
fn write_bufs(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    nowait: bool,
) -> std::result::Result<usize, Errno> {
    if nowait {
        // SAFETY: `IoSlice` is ABI-compatible with `iovec`, and `bufs` is a live slice of
        // them, read-only for the kernel; offset -1 writes at the current position, as a
        // pipe requires.
        let n = unsafe {
            libc::pwritev2(
                fd.as_raw_fd(),
                bufs.as_ptr().cast::<libc::iovec>(),
                bufs.len().min(libc::c_int::MAX as usize) as libc::c_int,
                -1,
                libc::RWF_NOWAIT,
            )
        };
        return Errno::result(n).map(|n| n as usize);
    }
    match bufs {
        [one] => nix::unistd::write(fd, one),
        _ => nix::sys::uio::writev(fd, bufs),
    }
}

/// Set once the kernel refuses `RWF_NOWAIT` on a pipe (before Linux 5.x did not take it):
/// waits that a shutdown must be able to end then poll before every read or write.
static NOWAIT_UNSUPPORTED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

fn nowait_supported() -> bool {
    !NOWAIT_UNSUPPORTED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Notes that `e` says the kernel does not take `RWF_NOWAIT` here; true if so.
fn nowait_refused(e: Errno) -> bool {
    let refused = matches!(e, Errno::EOPNOTSUPP | Errno::EINVAL);
    if refused {
        NOWAIT_UNSUPPORTED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    refused
}

/// `read(2)` that says `EAGAIN` instead of blocking whatever the descriptor's mode:
/// `preadv2(RWF_NOWAIT)`.
fn read_nowait(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::result::Result<usize, Errno> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, writable and borrowed for the call; offset -1 reads
    // at the current position, as a pipe requires.
    let n = unsafe { libc::preadv2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
    Errno::result(n).map(|n| n as usize)
}

fn sigpipe_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` points to a writable sigset_t that `sigpending` fills.
    if unsafe { libc::sigpending(set.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: `set` was zeroed and then filled by a successful `sigpending`.
    unsafe { libc::sigismember(set.as_ptr(), libc::SIGPIPE) == 1 }
}

fn consume_sigpipe(only_pipe: &SigSet) {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let set: &libc::sigset_t = only_pipe.as_ref();
    loop {
        // SAFETY: `set` is a valid initialised sigset_t, `info` may be null, `zero` is a
        // valid timespec; a zero timeout makes the call return at once.
        let rc = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &zero) };
        if !(rc == -1 && Errno::last() == Errno::EINTR) {
            return;
        }
    }
}

/// Writes every byte of `bufs` to the pipe or FIFO `fd`, retrying short writes and
/// `EINTR`, waiting in `poll` whenever the descriptor would block. It does not give up
/// part-way, except for a shutdown request: callers that need all-or-nothing decide
/// *before* calling it (see `pipe::Sender::try_send`).
///
/// Without a shutdown armed each write is one plain (possibly blocking) `write`. Once
/// one is armed a blocking `write` could not be woken by it, so each write is one that
/// cannot block (`RWF_NOWAIT`), and only a full pipe waits in `poll`, which watches the
/// shutdown eventfd (see `write_all_polled`); `bufs` of at most `PIPE_BUF` bytes still go
/// in one atomic write.
///
/// # Errors
///
/// [`Error::Disconnected`] if the reader is gone (`EPIPE`, never a `SIGPIPE`),
/// [`Error::Shutdown`] once shutdown is requested (a frame longer than `PIPE_BUF` may
/// then be cut short), [`Error::Io`] otherwise.
pub(crate) fn write_all(
    fd: BorrowedFd<'_>,
    mut bufs: &mut [IoSlice<'_>],
    sigpipe: Sigpipe,
) -> Result<()> {
    if crate::shutdown::shutdown_armed() {
        return write_all_polled(fd, bufs, sigpipe);
    }
    while !bufs.is_empty() {
        match writev_once(fd, bufs, sigpipe) {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let _ = wait_ready(fd, PollFlags::POLLOUT, &Wait::Forever)?;
            }
            Err(e) => return Err(Error::sys("write", e)),
        }
    }
    Ok(())
}

/// [`write_all`] once a shutdown is armed, when a plain `write` might block where the
/// shutdown eventfd cannot wake it: each write is `pwritev2(RWF_NOWAIT)`, which writes what
/// fits now (a record of at most `PIPE_BUF` bytes whole or not at all) and says `EAGAIN`
/// when nothing does; only then does it wait in `poll`, with the shutdown eventfd. A
/// kernel that refuses `RWF_NOWAIT` on pipes gets a `poll` before every write instead, and
/// writes no more than the one page `POLLOUT` promises.
fn write_all_polled(
    fd: BorrowedFd<'_>,
    mut bufs: &mut [IoSlice<'_>],
    sigpipe: Sigpipe,
) -> Result<()> {
    let mut poll_now = !nowait_supported();
    while !bufs.is_empty() {
        if poll_now {
            // Room, a hang-up or an error: the write below tells which.
            let _ = wait_ready(fd, PollFlags::POLLOUT, &Wait::Forever)?;
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let nowait = nowait_supported();
        let written = if nowait || total <= libc::PIPE_BUF {
            writev_maybe_nowait(fd, bufs, sigpipe, nowait)
        } else {
            // Not atomic in any case: a page at a time from the first non-empty slice.
            let first = bufs
                .iter()
                .find(|b| !b.is_empty())
                .map_or(&[][..], |b| &b[..]);
            let part = &first[..first.len().min(libc::PIPE_BUF)];
            // (`advance_slices` below also drops the empty slices before it.)
            writev_once(fd, &[IoSlice::new(part)], sigpipe)
        };
        match written {
            Ok(0) => return Err(Error::Disconnected),
            Ok(n) => {
                IoSlice::advance_slices(&mut bufs, n);
                poll_now = !nowait_supported();
            }
            // Full (another writer took the room), or a signal came: poll, then again.
            Err(Errno::EINTR | Errno::EAGAIN) => poll_now = true,
            Err(e) if nowait && nowait_refused(e) => poll_now = true,
            Err(e) => return Err(Error::sys("write", e)),
        }
    }
    Ok(())
}

/// Writes what of `buf` fits now to the pipe or FIFO `fd`, without waiting:
/// `pwritev2(RWF_NOWAIT)`, or on a kernel that refuses that on pipes a zero-timeout `poll`
/// and a plain `write` of at most `PIPE_BUF` bytes (which cannot block once `poll` said
/// there is room). Returns how many bytes went: 0 if there was no room. A `buf` of at most
/// `PIPE_BUF` bytes goes all or nothing; a longer one may go in part, in whole pages of the
/// pipe.
///
/// # Errors
///
/// [`Error::Disconnected`] if the reader is gone, [`Error::Io`] otherwise.
pub(crate) fn write_now(fd: BorrowedFd<'_>, buf: &[u8], sigpipe: Sigpipe) -> Result<usize> {
    loop {
        let nowait = nowait_supported();
        let part = if nowait {
            buf
        } else {
            match wait_ready(fd, PollFlags::POLLOUT, &Wait::Now)? {
                None => return Ok(0),
                Some(r) if r.contains(PollFlags::POLLERR) => return Err(Error::Disconnected),
                Some(_) => &buf[..buf.len().min(libc::PIPE_BUF)],
            }
        };
        match writev_maybe_nowait(fd, &[IoSlice::new(part)], sigpipe, nowait) {
            Ok(0) if !part.is_empty() => return Err(Error::Disconnected),
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return Ok(0),
            Err(e) if nowait && nowait_refused(e) => {}
            Err(e) => return Err(Error::sys("write", e)),
        }
    }
}

/// Bytes waiting to be read in the pipe, FIFO or socket `fd` (`ioctl(FIONREAD)`).
///
/// # Errors
///
/// [`Error::Io`] if the descriptor does not support the query.
pub(crate) fn bytes_queued(fd: BorrowedFd<'_>) -> Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which points to `n`; `fd` is
    // a valid open descriptor for the duration of the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) };
    if rc == -1 {
        return Err(Error::sys("ioctl(FIONREAD)", Errno::last()));
    }
    Ok(n.max(0) as usize)
}

/// True if the peer of socket `fd` will send nothing more: it closed, or shut its side
/// down for writing (`POLLHUP` or `POLLRDHUP` now, without waiting). nix's `PollFlags`
/// has no `POLLRDHUP`, hence the raw `poll`.
///
/// # Errors
///
/// [`Error::Io`] if `poll` fails.
pub(crate) fn peer_shut_down(fd: BorrowedFd<'_>) -> Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN | libc::POLLRDHUP,
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid pollfd for the call, which only writes its `revents`;
        // `fd` is a valid open descriptor for the duration of the call.
        if unsafe { libc::poll(&mut p, 1, 0) } >= 0 {
            return Ok(p.revents & (libc::POLLHUP | libc::POLLRDHUP) != 0);
        }
        match Errno::last() {
            Errno::EINTR => {}
            e => return Err(Error::sys("poll", e)),
        }
    }
}

/// True if this process cannot open one more descriptor (its `RLIMIT_NOFILE` is reached),
/// for calls whose `EMFILE` is ambiguous (`mq_open` also returns it for `RLIMIT_MSGQUEUE`).
/// Probes with an `eventfd` that is closed at once.
pub(crate) fn fd_table_full() -> bool {
    // SAFETY: plain system call; no memory is passed.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Errno::last() == Errno::EMFILE;
    }
    // SAFETY: `fd` was just opened here and is closed exactly once.
    unsafe { libc::close(fd) };
    false
}

/// The failure of a `std` call that makes a descriptor (`TcpListener::bind`, ...):
/// [`Error::io`], which names the limit on `EMFILE`/`ENFILE`.
pub(crate) fn new_fd_io_error(op: &'static str, e: std::io::Error) -> Error {
    Error::io(op, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn read_some_times_out_then_reads() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut buf = [0u8; 8];
        let wait = Wait::timeout(Duration::from_millis(20));
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &wait, false, false).unwrap(),
            None
        );
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Now, false, false).unwrap(),
            None
        );
        nix::unistd::write(&w, b"hi").unwrap();
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Now, false, false).unwrap(),
            Some(2)
        );
        drop(w);
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Forever, true, false).unwrap(),
            Some(0)
        );
    }

    #[test]
    fn read_some_now_on_a_nonblocking_descriptor_reads_without_polling() {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        let mut buf = [0u8; 8];
        // Empty: EAGAIN is the answer (a blocking read here would hang the test).
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Now, false, true).unwrap(),
            None
        );
        nix::unistd::write(&w, b"abc").unwrap();
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Now, false, true).unwrap(),
            Some(3)
        );
        drop(w);
        assert_eq!(
            read_some(r.as_fd(), &mut buf, &Wait::Now, false, true).unwrap(),
            Some(0)
        );
    }

    #[test]
    fn broken_pipe_is_epipe_with_either_policy() {
        for policy in [Sigpipe::detect(), Sigpipe::Guard] {
            let (r, w) = nix::unistd::pipe().unwrap();
            drop(r);
            let err = write_all(w.as_fd(), &mut [IoSlice::new(b"x")], policy).unwrap_err();
            assert!(err.is_disconnected(), "{err}");
            assert!(!sigpipe_pending());
        }
    }

    #[test]
    fn bytes_queued_counts_unread_bytes() {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"hello").unwrap();
        assert_eq!(bytes_queued(r.as_fd()).unwrap(), 5);
        assert_eq!(bytes_queued(w.as_fd()).unwrap(), 5);
    }
}
