//! The registry of a System V queue this crate created: a small file under `/dev/shm`,
//! `ipc-msg.ID` (readable by all, writable as the queue is), that carries the record of who has the queue open
//! (`crate::reclaim::record`), since the kernel keeps no name to hang one on.
//!
//! The file holds [`MAGIC`], the queue's id and key, and the scope (`IPC_RECLAIM`) of the
//! process that created it, then the record, then the encoded schema tree of the creator's
//! message type (`crate::schema::block`): an opener of another type is refused with the
//! first field that differs named. The sweep removes a queue (`IPC_RMID`) and
//! its registry only if the registry is this user's and the queue too, no end has it open,
//! one end left without closing, and the queue is empty; a registry whose queue is gone is
//! removed once no end has it open.

use std::ffi::CString;
use std::io::Write;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmod, fstat, Mode};

use crate::reclaim::record::{crashed, first_counts, hold, open_mine, End, Joined, COUNTS};
use crate::schema::block::{read_any_block, BLOCK_AT};
use crate::schema::SchemaTree;

const MAGIC: &[u8; 8] = b"IPC-MSGQ";
const DIR: &str = "/dev/shm/";
const PREFIX: &str = "ipc-msg.";
/// Magic, id, key, the scope's length, then the scope.
const FIXED: usize = 8 + 8 + 8 + 8;

fn path(id: i32) -> String {
    format!("{DIR}{PREFIX}{id}")
}

/// What a registry says.
struct Entry {
    id: i32,
    key: i32,
    scope: String,
}

fn read(fd: &OwnedFd) -> Option<Entry> {
    let mut b = [0u8; COUNTS as usize];
    let n = nix::sys::uio::pread(fd, &mut b, 0).ok()?;
    if n < FIXED || &b[..8] != MAGIC {
        return None;
    }
    let word = |at: usize| i64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
    let len = usize::try_from(word(24)).ok()?;
    let scope = b.get(FIXED..FIXED.checked_add(len)?)?;
    Some(Entry {
        id: i32::try_from(word(8)).ok()?,
        key: i32::try_from(word(16)).ok()?,
        scope: String::from_utf8(scope.to_vec()).ok()?,
    })
}

/// Writes the registry of queue `id` (just created by this process, for `key`), whole or
/// not at all (an unnamed file linked under its name), and returns the creator's place in
/// its record. A registry of a former queue of the same id, if this user's, is replaced.
/// Errors leave the queue without a registry: it is then never swept.
///
/// Everyone may read it (it says nothing secret), so that every end of the queue, of any
/// user, can hold its shared lock; those the queue's `mode` lets write may count.
pub(super) fn create(id: i32, key: i32, mode: u32, schema: &[u8]) -> Option<End> {
    let scope = crate::reclaim::scope().tag().as_bytes();
    if FIXED + scope.len() > COUNTS as usize {
        return None;
    }
    let mode = Mode::from_bits_truncate(0o644 | (mode & 0o022));
    let fd = nix::fcntl::open(
        DIR,
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        mode,
    )
    .ok()?;
    fchmod(&fd, mode).ok()?;
    let mut text = Vec::with_capacity(FIXED + scope.len());
    text.extend_from_slice(MAGIC);
    text.extend_from_slice(&i64::from(id).to_le_bytes());
    text.extend_from_slice(&i64::from(key).to_le_bytes());
    text.extend_from_slice(&(scope.len() as i64).to_le_bytes());
    text.extend_from_slice(scope);
    let mut f = std::fs::File::from(fd);
    f.write_all(&text).ok()?;
    f.write_all_at(&first_counts(), COUNTS).ok()?;
    f.write_all_at(schema, BLOCK_AT).ok()?;
    let end = End::creator(OwnedFd::from(f.try_clone().ok()?))?;
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()?;
    let to = CString::new(path(id)).ok()?;
    for _ in 0..2 {
        // SAFETY: both paths are valid NUL-terminated strings for the duration of the
        // call; AT_SYMLINK_FOLLOW links the unnamed file the /proc entry denotes.
        let r = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        match Errno::result(r) {
            Ok(_) => return Some(end),
            // A registry of a former queue that had this id: no queue of ours has it now.
            Err(Errno::EEXIST) => remove_if_mine(id),
            Err(_) => return None,
        }
    }
    None
}

/// Removes the registry of queue `id` if it is this user's (the queue was removed).
pub(super) fn remove_if_mine(id: i32) {
    let p = path(id);
    if nix::sys::stat::lstat(p.as_str()).is_ok_and(|st| {
        st.st_uid == nix::unistd::geteuid().as_raw() && st.st_mode & libc::S_IFMT == libc::S_IFREG
    }) {
        let _ = nix::unistd::unlink(p.as_str());
    }
}

/// The schema tree the registry of queue `id` (owned by `owner`) carries: its creator's
/// message type, if this crate made it.
pub(super) fn schema(id: i32, owner: u32) -> Option<SchemaTree> {
    let fd = nix::fcntl::open(
        path(id).as_str(),
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let st = fstat(&fd).ok()?;
    if st.st_uid != owner || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    read(&fd).filter(|e| e.id == id)?;
    read_any_block(&fd)
}

/// Joins the record of queue `id`, owned by `owner`, if it has a registry of this crate.
pub(super) fn join(id: i32, owner: u32) -> Joined {
    let p = path(id);
    let open = |access| {
        nix::fcntl::open(
            p.as_str(),
            access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let (fd, writable) = match open(OFlag::O_RDWR) {
        Ok(fd) => (fd, true),
        Err(_) => match open(OFlag::O_RDONLY) {
            Ok(fd) => (fd, false),
            Err(_) => return Joined::Yes(None),
        },
    };
    let mine =
        fstat(&fd).is_ok_and(|st| st.st_uid == owner && st.st_mode & libc::S_IFMT == libc::S_IFREG);
    if !mine || read(&fd).is_none_or(|e| e.id != id) {
        return Joined::Yes(None);
    }
    End::join(fd, writable)
}

/// The automatic sweep's part for the registry `/dev/shm/ipc-msg.ID` (see the module
/// docs): its queue, if `uid`'s and created by a process whose scope `scope` covers.
pub(crate) fn sweep_one(id: &str, scope: &crate::reclaim::Scope, uid: u32) {
    if let Ok(id) = id.parse::<i32>() {
        reclaim(id, scope, uid, true);
    }
}

/// Removes queue `id` and its registry if the rule allows (only says whether it does,
/// unless `remove`); true if it does.
pub(super) fn reclaim(id: i32, scope: &crate::reclaim::Scope, uid: u32, remove: bool) -> bool {
    let p = path(id);
    let Some((fd, st)) = open_mine(&p, uid) else {
        return false;
    };
    // Another program's file is not even locked.
    let Some(entry) = read(&fd).filter(|e| e.id == id && scope.covers(&e.scope)) else {
        return false;
    };
    if !hold(&fd) {
        return false;
    }
    let mut ds = MaybeUninit::<libc::msqid_ds>::uninit();
    // SAFETY: `ds` is a writable `msqid_ds` for IPC_STAT to fill.
    let r = unsafe { libc::msgctl(id, libc::IPC_STAT, ds.as_mut_ptr()) };
    let queue_gone = match Errno::result(r) {
        Err(Errno::EINVAL | Errno::EIDRM) => true,
        Err(_) => return false,
        Ok(_) => {
            // SAFETY: IPC_STAT succeeded and filled `ds`.
            let ds = unsafe { ds.assume_init() };
            if ds.msg_perm.uid != uid
                || ds.msg_perm.__key != entry.key
                || ds.msg_qnum != 0
                || !crashed(&fd)
            {
                return false;
            }
            false
        }
    };
    if !remove {
        return true;
    }
    // Remove only what was examined: the name still denotes this registry.
    match nix::sys::stat::lstat(p.as_str()) {
        Ok(now) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {}
        _ => return false,
    }
    if !queue_gone {
        // SAFETY: IPC_RMID ignores the buffer argument.
        unsafe { libc::msgctl(id, libc::IPC_RMID, core::ptr::null_mut()) };
    }
    nix::unistd::unlink(p.as_str()).is_ok()
}
