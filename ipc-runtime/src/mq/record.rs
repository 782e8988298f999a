//! Who has a queue open, and whether one of them crashed: the record every end keeps in
//! its queue's schema header file, and the sweep that reads it.
//!
//! - Every end holds a shared open-file-description lock (`F_OFD_SETLK`) on byte
//!   [`LIVE`] of the header file, through its own open of the file, for its whole life;
//!   the kernel drops it when the process exits, however it exits.
//! - Every end that may write the file counts itself in: `opened` when it opens, `closed`
//!   when it is dropped (two little-endian `u64`s at [`COUNTS`], after the header's text,
//!   updated under an exclusive lock on byte [`COUNTING`]). An end that was never dropped
//!   (its process was killed, or exited without dropping it) leaves `opened > closed`.
//! - The sweep removes a queue only if its header is this user's, it can take an
//!   exclusive lock on [`LIVE`] (no end is open), `opened > closed` (one left without
//!   closing), and the queue is empty (`QSIZE:0` in `/dev/mqueue`): nothing is lost, and a
//!   queue a setup tool made and left cleanly, or one holding messages for a receiver to
//!   come, stays. It holds the lock while it removes the queue and the header, and an end
//!   that opens meanwhile waits for it, then finds the header unlinked.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::stat::{fstat, Mode};

use super::header::parse_header;
use super::limits::{HEADER_DIR, HEADER_PREFIX};

/// The byte every open end holds a shared lock on (far beyond the file's data).
const LIVE: i64 = 1 << 30;
/// The byte an end holds exclusively while it updates the counts.
const COUNTING: i64 = LIVE + 1;
/// Where the counts lie: after the header's text, which is shorter.
pub(super) const COUNTS: u64 = 1024;

fn lock(fd: impl AsFd, kind: libc::c_int, at: i64, wait: bool) -> nix::Result<()> {
    let fl = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: at,
        l_len: 1,
        l_pid: 0,
    };
    loop {
        let arg = if wait {
            FcntlArg::F_OFD_SETLKW(&fl)
        } else {
            FcntlArg::F_OFD_SETLK(&fl)
        };
        match fcntl(&fd, arg) {
            Err(Errno::EINTR) => continue,
            r => return r.map(drop),
        }
    }
}

fn read_counts(fd: &OwnedFd) -> (u64, u64) {
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
pub(super) fn first_counts() -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&1u64.to_le_bytes());
    b
}

/// An end's place in the record: its open of the header file, holding the shared lock.
#[derive(Debug)]
pub(super) struct End {
    fd: OwnedFd,
    /// It counted itself in (`opened`), so it counts itself out when dropped.
    counted: bool,
}

/// What became of a join.
pub(super) enum Joined {
    /// The end is recorded (or could not be: a file it may not write, a lock refused).
    Yes(Option<End>),
    /// The header was removed (the queue reclaimed or unlinked) before the end took its
    /// lock: the queue it opened has no name any more.
    Gone,
}

impl End {
    /// The creator's place: its header, written with `opened` = 1, is locked here before
    /// it is linked under its name, so it is never seen unlocked.
    pub(super) fn creator(fd: OwnedFd) -> Option<End> {
        lock(&fd, libc::F_RDLCK, LIVE, false).ok()?;
        Some(End { fd, counted: true })
    }

    /// Joins the record through `fd`, the header file this end opened (for writing if
    /// `writable`): waits out a sweep that holds the file, takes the shared lock, then
    /// counts itself in.
    pub(super) fn join(fd: OwnedFd, writable: bool) -> Joined {
        if lock(&fd, libc::F_RDLCK, LIVE, true).is_err() {
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

/// Where the kernel shows its POSIX queues.
const MQUEUE_DIR: &str = "/dev/mqueue/";

/// The automatic sweep's part for POSIX queues: removes the queues of `uid` in `scope`
/// that the rule of the module docs proves abandoned. Errors skip a queue.
pub(super) fn sweep(scope: &crate::reclaim::Scope, uid: u32, except: Option<&str>) {
    if !super::list::is_mqueue_mount() {
        return;
    }
    let Ok(dir) = std::fs::read_dir(HEADER_DIR) else {
        return;
    };
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(HEADER_PREFIX))
        else {
            continue;
        };
        if scope.covers(rest) && Some(rest) != except {
            reclaim(rest, uid);
        }
    }
}

/// Removes the queue `/rest` and its header if they are `uid`'s and abandoned; true if
/// removed.
fn reclaim(rest: &str, uid: u32) -> bool {
    let path = format!("{HEADER_DIR}{HEADER_PREFIX}{rest}");
    let Ok(fd) = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(st) = fstat(&fd) else { return false };
    if st.st_uid != uid || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return false;
    }
    // Another program's file is not even locked.
    let mut text = [0u8; 512];
    let n = nix::sys::uio::pread(&fd, &mut text, 0).unwrap_or(0);
    if parse_header(&String::from_utf8_lossy(&text[..n])).is_none() {
        return false;
    }
    // No end open (none holds its shared lock), and none can open until this one goes.
    if lock(&fd, libc::F_WRLCK, LIVE, false).is_err() {
        return false;
    }
    let (opened, closed) = read_counts(&fd);
    if opened <= closed {
        return false;
    }
    let queue = format!("{MQUEUE_DIR}{rest}");
    match nix::sys::stat::lstat(queue.as_str()) {
        // The queue went (unlinked by a program not of this crate): only the header is left.
        Err(Errno::ENOENT) => {}
        Ok(q) if q.st_uid == uid && is_empty(&queue) => {}
        _ => return false,
    }
    // Remove only what was examined: the name still denotes this header.
    match nix::sys::stat::lstat(path.as_str()) {
        Ok(now) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {}
        _ => return false,
    }
    if let Ok(c) = std::ffi::CString::new(format!("/{rest}")) {
        let _ = nix::mqueue::mq_unlink(c.as_c_str());
    }
    nix::unistd::unlink(path.as_str()).is_ok()
}

/// True if the queue file `path` under `/dev/mqueue` says it holds no byte.
fn is_empty(path: &str) -> bool {
    std::fs::read_to_string(path).is_ok_and(|t| super::list::qsize(&t) == Some(0))
}
