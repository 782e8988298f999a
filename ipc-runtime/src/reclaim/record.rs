//! The record of who has a queue open, and whether one of them crashed, kept in a small
//! file under `/dev/shm` beside the queue (a POSIX queue's schema header, a System V
//! queue's registry):
//!
//! - Every end holds a shared open-file-description lock (`F_OFD_SETLK`) on byte
//!   [`LIVE`] of the file, through its own open of it, for its whole life; the kernel
//!   drops it when the process exits, however it exits.
//! - Every end that may write the file counts itself in: `opened` when it opens, `closed`
//!   when it is dropped (two little-endian `u64`s at [`COUNTS`], after what the file
//!   says, updated under an exclusive lock on byte [`COUNTING`]). An end that was never
//!   dropped (its process was killed, or exited without dropping it) leaves
//!   `opened > closed`.
//! - A sweeper that takes an exclusive lock on [`LIVE`] knows no end is open, and none can
//!   open while it holds it: an end that opens meanwhile waits, then finds the file
//!   unlinked ([`Joined::Gone`]).

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::stat::fstat;

/// The byte every open end holds a shared lock on (far beyond the file's data).
pub(crate) const LIVE: i64 = 1 << 30;
/// The byte an end holds exclusively while it updates the counts.
pub(crate) const COUNTING: i64 = LIVE + 1;
/// Where the counts lie: after the header's text, which is shorter.
pub(crate) const COUNTS: u64 = 1024;

/// Takes (or, with `F_UNLCK`, releases) a lock of `kind` on byte `at`; with `wait`, waits
/// for a holder to let go, at most [`MAX_WAIT`] (a sweeper or a counting end holds it for
/// microseconds; a holder that keeps it longer is not waited for).
pub(crate) fn lock(fd: impl AsFd, kind: libc::c_int, at: i64, wait: bool) -> nix::Result<()> {
    let fl = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: at,
        l_len: 1,
        l_pid: 0,
    };
    let until = std::time::Instant::now() + MAX_WAIT;
    loop {
        match fcntl(&fd, FcntlArg::F_OFD_SETLK(&fl)) {
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN | Errno::EACCES) if wait && std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
            r => return r.map(drop),
        }
    }
}

/// The longest [`lock`] waits.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn read_counts(fd: &OwnedFd) -> (u64, u64) {
    let mut b = [0u8; 16];
    match nix::sys::uio::pread(fd, &mut b, COUNTS as libc::off_t) {
        Ok(16) => (
            u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        ),
        _ => (0, 0),
    }
}

/// Adds one to `opened` (`which` 0) or `closed` (1), under the counting lock.
fn count(fd: &OwnedFd, which: usize) {
    if lock(fd, libc::F_WRLCK, COUNTING, true).is_err() {
        return;
    }
    let (opened, closed) = read_counts(fd);
    let new = if which == 0 { opened } else { closed }.saturating_add(1);
    let _ = nix::sys::uio::pwrite(
        fd,
        &new.to_le_bytes(),
        (COUNTS + 8 * which as u64) as libc::off_t,
    );
    let _ = lock(fd, libc::F_UNLCK, COUNTING, false);
}

/// The counts a new header starts with: its creator opened it.
pub(crate) fn first_counts() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&1u64.to_le_bytes());
    b
}

/// An end's place in the record: its open of the header file, holding the shared lock.
#[derive(Debug)]
pub(crate) struct End {
    fd: OwnedFd,
    /// It counted itself in (`opened`), so it counts itself out when dropped.
    counted: bool,
}

/// What became of a join.
pub(crate) enum Joined {
    /// The end is recorded (or could not be: a file it may not write, a lock refused).
    Yes(Option<End>),
    /// The header was removed (the queue reclaimed or unlinked) before the end took its
    /// lock: the queue it opened has no name any more.
    Gone,
}

impl End {
    /// The creator's place: its header, written with `opened` = 1, is locked here before
    /// it is linked under its name, so it is never seen unlocked.
    pub(crate) fn creator(fd: OwnedFd) -> Option<End> {
        lock(&fd, libc::F_RDLCK, LIVE, false).ok()?;
        Some(End { fd, counted: true })
    }

    /// Joins the record through `fd`, the header file this end opened (for writing if
    /// `writable`): waits out a sweep that holds the file, takes the shared lock, then
    /// counts itself in.
    pub(crate) fn join(fd: OwnedFd, writable: bool) -> Joined {
        if lock(&fd, libc::F_RDLCK, LIVE, true).is_err() {
            // Not recorded: the queue then looks unattended to a sweeper, which still
            // removes it only if a crash is recorded and it is empty.
            return Joined::Yes(None);
        }
        if fstat(&fd).is_ok_and(|st| st.st_nlink == 0) {
            return Joined::Gone;
        }
        if writable {
            count(&fd, 0);
        }
        Joined::Yes(Some(End {
            fd,
            counted: writable,
        }))
    }
}

impl Drop for End {
    fn drop(&mut self) {
        // Counted out before the lock goes with the descriptor: a crash in between is
        // still a clean leave.
        if self.counted {
            count(&self.fd, 1);
        }
    }
}

/// Opens the record file at `path` for a sweeper (read-write, never through a symbolic
/// link), if it is a regular file of `uid`'s; with its `fstat`, for the sweeper to check
/// later that the name still denotes it.
pub(crate) fn open_mine(path: &str, uid: u32) -> Option<(OwnedFd, libc::stat)> {
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_RDWR
            | nix::fcntl::OFlag::O_NOFOLLOW
            | nix::fcntl::OFlag::O_NONBLOCK
            | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let st = fstat(&fd).ok()?;
    (st.st_uid == uid && st.st_mode & libc::S_IFMT == libc::S_IFREG).then_some((fd, st))
}

/// A sweeper's hold on the file open as `fd`: true if no end has it open (the exclusive
/// lock on [`LIVE`] was granted, and is held until `fd` is closed).
pub(crate) fn hold(fd: &OwnedFd) -> bool {
    lock(fd, libc::F_WRLCK, LIVE, false).is_ok()
}

/// True if, by the counts, an end left without being dropped.
pub(crate) fn crashed(fd: &OwnedFd) -> bool {
    let (opened, closed) = read_counts(fd);
    opened > closed
}
