//! Reclaiming segments that crashed processes left: proving a file under `/dev/shm` is
//! this crate's and dead, and removing it only once it owes no receiver a message.

use std::os::fd::OwnedFd;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::mman::{shm_open, shm_unlink};
use nix::sys::stat::{fstat, Mode};

use super::super::layout::{self, offsets, Header, Meta, MAGIC};
use super::super::ring::MAX_PARTICIPANTS;
use super::{try_lock, PREFIX, SYSV_MAGIC, SYSV_REGISTRY};
use crate::error::{Error, Result};

/// Reads `buf.len()` bytes at `offset` of `fd` (false if the file is shorter or unreadable).
fn read_exact_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> bool {
    nix::sys::uio::pread(fd, buf, offset as libc::off_t).is_ok_and(|n| n == buf.len())
}

/// What a file under `/dev/shm` named like a segment is, read with `pread(2)` (never
/// mapped, so a file that shrinks meanwhile cannot raise SIGBUS here).
enum Found {
    /// A segment of this crate, its header published or not.
    Segment { ready: bool },
    /// A System V segment's registry file of this crate.
    Registry,
    /// Nothing this crate can prove it made: another program's file (this crate's
    /// creators name a file only once it carries the magic, see `create_named`).
    Unproven,
}

fn identify(fd: &OwnedFd, st: &libc::stat) -> Found {
    let size = st.st_size.max(0) as u64;
    if size == SYSV_REGISTRY {
        let mut magic = [0u8; 8];
        if read_exact_at(fd, &mut magic, 0) && &magic == SYSV_MAGIC {
            return Found::Registry;
        }
        return Found::Unproven;
    }
    if size < size_of::<Header>() as u64 {
        return Found::Unproven;
    }
    let mut magic = [0u8; 8];
    let mut state = [0u8; 4];
    let magic_at = core::mem::offset_of!(Header, meta) + core::mem::offset_of!(Meta, magic);
    if !read_exact_at(fd, &mut magic, magic_at as u64)
        || u64::from_ne_bytes(magic) != MAGIC
        || !read_exact_at(fd, &mut state, offsets::STATE as u64)
    {
        return Found::Unproven;
    }
    Found::Segment {
        ready: u32::from_ne_bytes(state) == layout::READY,
    }
}

/// Removes the segments under `/dev/shm` that this crate created and that no live process
/// participates in, whatever their names; returns their names (without the `ipc.` prefix).
///
/// This is the operator's broom: it scans every channel on the machine, including other
/// programs' (of any user whose segments this process may open). A program cleaning up
/// after itself calls [`remove_stale_with_prefix`] with the prefix of the names it gives
/// its channels, so that it never touches another program's.
///
/// A file is removed only if it can be proven to be this crate's and dead: its name starts
/// with `ipc.`; it carries the segment magic in its header (or, for a System V segment's
/// registry file, the registry magic), read with `pread(2)`; and no live process holds a
/// lock byte of it. A creator gives its segment's file its name only once the file
/// carries the magic and the creator's lock byte, which it holds until it has published
/// the segment; so a segment whose creator died at any point of `create` is removed at
/// once, and one whose creator lives never is. Anything else named `ipc.*` is never
/// touched: it may be another program's.
///
/// A channel that still holds messages no receiver has read is kept for its senders'
/// linger ([`Options::linger`](crate::shm::Options::linger), 60 s by default): from when its last sender left, or, if
/// its senders died without leaving, from when a reclaimer (this function, or a `create`
/// of the same name) first finds it abandoned. A receiver that opens it meanwhile reads
/// them; once the linger is over, it is removed like any dead segment. A channel whose
/// receiver closed it owes nobody its unread messages, and is removed at once.
///
/// # Errors
///
/// [`Error::Io`] if `/dev/shm` cannot be read. Segments that cannot be opened (another
/// user's) are skipped.
pub fn remove_stale() -> Result<Vec<String>> {
    remove_stale_with_prefix("")
}

/// Removes the dead segments of this crate whose channel names start with `prefix`;
/// returns their names.
///
/// `prefix` is compared with the name given to `create` (`"myapp-"` matches the channels
/// `myapp-orders` and `myapp-fills`, not `myappx` or `other-myapp-orders`); an empty prefix
/// matches every name, as [`remove_stale`] does. A program that names its channels
/// `myapp-…` calls `remove_stale_with_prefix("myapp-")` at start-up to remove what an
/// earlier run of it left when it crashed, without touching any other program's channels.
/// What counts as dead, and what is never touched, is as for [`remove_stale`].
///
/// ```no_run
/// // At start-up: whatever a crashed earlier run of this program left behind.
/// for name in ipc::shm::remove_stale_with_prefix("myapp-")? {
///     eprintln!("removed the stale channel {name}");
/// }
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// As for [`remove_stale`].
pub fn remove_stale_with_prefix(prefix: &str) -> Result<Vec<String>> {
    remove_dead(|name| name.starts_with(prefix), true)
}

/// The names of the segments that [`remove_stale_with_prefix`] would remove now, found by
/// the same rules and removing nothing: what a dry run of it says (the `ipc clean
/// --dry-run` command). Each segment is examined as the removal examines it, holding its
/// lock bytes for that moment; a channel kept for its senders' linger is not in it (its
/// [`Listed::linger_left`](super::Listed::linger_left) says for how long), and its linger
/// does not start counting.
///
/// # Errors
///
/// As for [`remove_stale`].
pub fn stale_with_prefix(prefix: &str) -> Result<Vec<String>> {
    remove_dead(|name| name.starts_with(prefix), false)
}

/// The automatic sweep's part for the segment `name` (see `crate::reclaim`): removes it
/// as [`remove_stale`] would, if it is `uid`'s, `scope` covers it and it is not `except`.
pub(crate) fn sweep_one(name: &str, scope: &crate::reclaim::Scope, uid: u32, except: Option<&str>) {
    if scope.covers(name) && Some(name) != except {
        reclaim(&format!("/{PREFIX}{name}"), Some(uid));
    }
}

/// Removes the dead segments whose names `wanted` accepts (only finds them, unless
/// `remove`); returns their names.
fn remove_dead(wanted: impl Fn(&str) -> bool, remove: bool) -> Result<Vec<String>> {
    let dir = std::fs::read_dir("/dev/shm").map_err(|e| Error::Io {
        op: "read_dir(/dev/shm)",
        source: e,
    })?;
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let file_name = entry.file_name();
        let Some(fname) = file_name.to_str() else {
            continue;
        };
        let Some(name) = fname.strip_prefix(PREFIX) else {
            continue;
        };
        if !wanted(name) {
            continue;
        }
        let shm = format!("/{fname}");
        if judge(&shm, None, remove) {
            removed.push(name.to_owned());
        }
    }
    Ok(removed)
}

/// Removes the segment file `shm` (`/ipc.NAME`) if it is abandoned and may go (see
/// [`examine`]); with `owner`, only a file of that uid. True if it was removed.
pub(super) fn reclaim(shm: &str, owner: Option<u32>) -> bool {
    judge(shm, owner, true)
}

/// [`reclaim`], which only says whether it would remove the file unless `remove`.
fn judge(shm: &str, owner: Option<u32>, remove: bool) -> bool {
    let Ok(fd) = shm_open(
        shm,
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(st) = fstat(&fd) else { return false };
    if owner.is_some_and(|uid| uid != st.st_uid) || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return false;
    }
    reclaim_fd(shm, fd, &st, remove)
}

/// [`judge`] of the file open as `fd`, whose `fstat` is `st`.
fn reclaim_fd(shm: &str, fd: OwnedFd, st: &libc::stat, remove: bool) -> bool {
    // Another program's file is not even locked.
    if matches!(identify(&fd, st), Found::Unproven) {
        return false;
    }
    // Holding the whole range while examining and unlinking keeps a new participant from
    // joining, and makes what the header says final.
    if !matches!(try_lock(&fd, 0..MAX_PARTICIPANTS), Ok(true)) || !examine(&fd, st, remove) {
        return false;
    }
    if !remove {
        return true;
    }
    // Unlink only if the name still denotes the file examined.
    match nix::sys::stat::stat(format!("/dev/shm{shm}").as_str()) {
        Ok(now) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {}
        _ => return false,
    }
    shm_unlink(shm).is_ok()
}

/// Whether a reclaimer may remove a file named like a segment, which nobody is attached
/// to (the caller holds every lock byte of it): only if it is this crate's and owes no
/// receiver a message.
///
/// - A file this crate cannot prove it made (no magic) is never removed; a segment whose
///   header is not yet published is, at once: its creator held its lock byte from before
///   the file had its name (`create_named`), so it died; a System V registry is too (its
///   memory went with its last process).
/// - A channel that still holds unread positions, and whose receiver has not closed it
///   (a receiver that closes gives up what it did not read), is kept until its
///   `linger_until`. A sender that left last wrote that deadline; if nobody did (its
///   senders died, or the receiver died after them), the first reclaimer to find it
///   writes one, its senders' longest linger from now, so the linger counts from when the
///   channel is first found abandoned (unless `!start_linger`: a dry run writes
///   nothing). A linger of zero keeps nothing.
fn examine(fd: &OwnedFd, st: &libc::stat, start_linger: bool) -> bool {
    match identify(fd, st) {
        Found::Unproven => return false,
        Found::Registry => return true,
        Found::Segment { ready: false } => return true,
        Found::Segment { ready: true } => {}
    }
    match owed(fd) {
        Owed::Nothing => true,
        Owed::Until(until) => layout::now_ns() >= until,
        Owed::FromNow(_) if !start_linger => false,
        Owed::FromNow(until) => {
            // Nobody is attached (the caller holds every lock byte), so nobody writes
            // the word meanwhile; a joiner clears it only after taking its own byte.
            let _ = nix::sys::uio::pwrite(fd, &until.to_ne_bytes(), offsets::LINGER_UNTIL as i64);
            false
        }
        Owed::Unreadable => false,
    }
}

/// What a ready segment nobody is attached to owes a receiver, read from `fd` without
/// writing: what [`examine`] decides on, and what [`list`](super::list()) reports.
pub(super) enum Owed {
    /// Nothing (no unread message, its receiver closed it, or it is no channel), or its
    /// linger is zero.
    Nothing,
    /// Unread messages, kept until this deadline (`layout::now_ns` time) that a sender
    /// that left last, or an earlier reclaimer, wrote.
    Until(u64),
    /// Unread messages and no deadline yet: the first reclaimer writes this one, its
    /// senders' longest linger from now.
    FromNow(u64),
    /// The header could not be read.
    Unreadable,
}

/// See [`Owed`].
pub(super) fn owed(fd: &OwnedFd) -> Owed {
    let word = |at: usize| {
        let mut b = [0u8; 8];
        read_exact_at(fd, &mut b, at as u64).then(|| u64::from_ne_bytes(b))
    };
    let half = |at: usize| {
        let mut b = [0u8; 4];
        read_exact_at(fd, &mut b, at as u64).then(|| u32::from_ne_bytes(b))
    };
    let (Some(kind), Some(rx_closed), Some(tail), Some(head), Some(until)) = (
        half(offsets::KIND),
        half(offsets::RX_CLOSED),
        word(offsets::TAIL),
        word(offsets::HEAD),
        word(offsets::LINGER_UNTIL),
    ) else {
        return Owed::Unreadable;
    };
    if !layout::owes(kind, rx_closed, tail, head) {
        return Owed::Nothing;
    }
    if until != 0 {
        return Owed::Until(until);
    }
    match word(offsets::LINGER_NS).unwrap_or(0) {
        0 => Owed::Nothing,
        linger => Owed::FromNow(layout::linger_deadline(Duration::from_nanos(linger)).max(1)),
    }
}
