//! The sweep of POSIX queues: the record of who has a queue open (`crate::reclaim::record`)
//! lies in its schema header file, after the header's text. The sweep removes a queue only
//! if its header is this user's, it can take an exclusive lock on the record (no end is
//! open), one end left without closing, and the queue is empty (`QSIZE:0` in
//! `/dev/mqueue`): nothing is lost, and a queue a setup tool made and left cleanly, or one
//! holding messages for a receiver to come, stays. A header whose queue is gone (removed
//! by a program not of this crate) describes nothing: it goes once no end has it open.

use nix::errno::Errno;

use super::header::parse_header;
use super::limits::{HEADER_DIR, HEADER_PREFIX};
use super::list::is_mqueue_mount;
use crate::reclaim::record::{crashed, hold, open_mine};

/// Where the kernel shows its POSIX queues.
const MQUEUE_DIR: &str = "/dev/mqueue/";

/// The automatic sweep's part for the queue `/rest`, whose header is
/// `/dev/shm/ipc-mq.REST`: removes it if it is `uid`'s, `scope` covers it, it is not
/// `except`, and the rule of the module docs proves it abandoned. Errors skip it.
pub(crate) fn sweep_one(rest: &str, scope: &crate::reclaim::Scope, uid: u32, except: Option<&str>) {
    // Whether a queue is empty is read from `/dev/mqueue`: without it, nothing is proven.
    static MOUNTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if scope.covers(rest) && Some(rest) != except && *MOUNTED.get_or_init(is_mqueue_mount) {
        reclaim(rest, uid, true);
    }
}

/// Removes the queue `/rest` and its header if they are `uid`'s and abandoned (only says
/// whether they are, unless `remove`); true if they are.
pub(super) fn reclaim(rest: &str, uid: u32, remove: bool) -> bool {
    let path = format!("{HEADER_DIR}{HEADER_PREFIX}{rest}");
    let Some((fd, st)) = open_mine(&path, uid) else {
        return false;
    };
    // Another program's file is not even locked.
    let mut text = [0u8; 512];
    let n = nix::sys::uio::pread(&fd, &mut text, 0).unwrap_or(0);
    if parse_header(&String::from_utf8_lossy(&text[..n])).is_none() {
        return false;
    }
    // No end open (none holds its shared lock), and none can open until this one goes.
    if !hold(&fd) {
        return false;
    }
    let queue = format!("{MQUEUE_DIR}{rest}");
    match nix::sys::stat::lstat(queue.as_str()) {
        // The queue went (unlinked by a program not of this crate, a C peer's
        // `mq_unlink`): the header describes nothing, however its ends left.
        Err(Errno::ENOENT) => {}
        // One end left without closing, and nothing is lost.
        Ok(q) if q.st_uid == uid && crashed(&fd) && is_empty(&queue) => {}
        _ => return false,
    }
    if !remove {
        return true;
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
