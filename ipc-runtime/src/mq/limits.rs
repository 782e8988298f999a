//! A POSIX queue's naming and limits, and the errors that explain a misfit: its name (a
//! `/`, then at most 248 bytes, so that the name of its schema header,
//! `/dev/shm/ipc-mq.NAME`, fits `NAME_MAX`), how errors name it and its removal, its
//! priorities (`0..PRIO_MAX`), and the system's limits on queues, capacity and message
//! size (`/proc/sys/fs/mqueue/*`, `RLIMIT_MSGQUEUE`), each named with how to raise it.

use std::ffi::CString;

use nix::errno::Errno;

use crate::error::{Error, Result};

pub(super) const WHAT: &str = "message queue";

/// Where schema headers live: `/dev/shm/ipc-mq.<name without the slash>`.
pub(super) const HEADER_DIR: &str = "/dev/shm/";
pub(super) const HEADER_PREFIX: &str = "ipc-mq.";

/// Linux's `NAME_MAX`: the longest file name.
const NAME_MAX: usize = 255;

/// The longest queue name after the `/`, so that its header's file name fits `NAME_MAX`.
const NAME_LEN_MAX: usize = NAME_MAX - HEADER_PREFIX.len();

/// Linux's `MQ_PRIO_MAX`: priorities are `0..MQ_PRIO_MAX`.
pub const PRIO_MAX: u32 = 32768;

/// Linux's `HARD_MSGMAX`: no capacity above it, even with `CAP_SYS_RESOURCE`.
const HARD_MSGMAX: u64 = 65536;

/// Linux's `HARD_MSGSIZEMAX` (16 MiB).
const HARD_MSGSIZEMAX: u64 = 16 * 1024 * 1024;

const PROC: &str = "/proc/sys/fs/mqueue/";

pub(super) fn check_name(name: &str) -> Result<CString> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    let Some(rest) = name.strip_prefix('/') else {
        return bad("a queue name starts with `/`, e.g. `/jobs`");
    };
    if rest.is_empty() || rest == "." || rest == ".." {
        return bad("a queue name needs at least one character after `/`, and not `.` or `..`");
    }
    if rest.contains('/') {
        return bad("a queue name has no `/` after the leading one");
    }
    if rest.len() > NAME_LEN_MAX {
        return bad("a queue name has at most 248 bytes after the leading `/` \
             (NAME_MAX less the `ipc-mq.` prefix of its schema header)");
    }
    CString::new(name).or_else(|_| bad("a queue name cannot contain a NUL byte"))
}

pub(super) fn header_path(name: &str) -> String {
    format!(
        "{HEADER_DIR}{HEADER_PREFIX}{}",
        name.trim_start_matches('/')
    )
}

/// How to remove the queue `name`, for errors.
pub(super) fn removal(name: &str) -> String {
    format!("`ipc::mq::unlink(\"{name}\")` as its owner or root")
}

pub(super) fn priority_error(priority: u32) -> Error {
    Error::Unsupported {
        what: format!("priority {priority}"),
        reason: "POSIX queue priorities are 0..=32767 (MQ_PRIO_MAX - 1)",
    }
}

pub(super) fn read_proc(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("{PROC}{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Explains why `mq_open(O_CREAT)` failed, naming the limit in the way.
pub(super) fn create_error(name: &str, capacity: u64, msgsize: u64, e: Errno) -> Error {
    let limit = |limit, value, hint: String| Error::LimitExceeded { limit, value, hint };
    match e {
        Errno::EINVAL | Errno::EPERM => {
            let msg_max = read_proc("msg_max").unwrap_or(10);
            let msgsize_max = read_proc("msgsize_max").unwrap_or(8192);
            if capacity > HARD_MSGMAX {
                return limit(
                    "HARD_MSGMAX (the kernel's cap on a queue's capacity)",
                    HARD_MSGMAX,
                    format!("no setting raises it; ask for a capacity of at most {HARD_MSGMAX}, not {capacity}"),
                );
            }
            if capacity > msg_max {
                return limit(
                    "/proc/sys/fs/mqueue/msg_max",
                    msg_max,
                    format!(
                        "a capacity of {capacity} needs it raised: `sysctl -w fs.mqueue.msg_max={capacity}` \
                         as root (or run with CAP_SYS_RESOURCE), or ask for a capacity of at most {msg_max}"
                    ),
                );
            }
            if msgsize > HARD_MSGSIZEMAX {
                return limit(
                    "HARD_MSGSIZEMAX (the kernel's cap on a queue's message size)",
                    HARD_MSGSIZEMAX,
                    format!(
                        "a {msgsize}-byte message cannot cross a POSIX queue; use shared memory"
                    ),
                );
            }
            if msgsize > msgsize_max {
                return limit(
                    "/proc/sys/fs/mqueue/msgsize_max",
                    msgsize_max,
                    format!(
                        "a {msgsize}-byte message needs it raised: \
                         `sysctl -w fs.mqueue.msgsize_max={msgsize}` as root, or send a smaller type"
                    ),
                );
            }
            Error::named("mq_open", WHAT, name, e)
        }
        Errno::ENOSPC => {
            let value = read_proc("queues_max").unwrap_or(256);
            limit(
                "/proc/sys/fs/mqueue/queues_max",
                value,
                format!(
                    "{value} queues exist system-wide; unlink unused ones (they are listed in an \
                     mqueue filesystem: `mount -t mqueue none /dev/mqueue`) or raise it with \
                     `sysctl -w fs.mqueue.queues_max=N` as root"
                ),
            )
        }
        // EMFILE means either: the kernel also returns it for a user over
        // RLIMIT_MSGQUEUE. Only a full descriptor table is RLIMIT_NOFILE's.
        Errno::EMFILE if crate::fd::fd_table_full() => crate::error::new_fd_error("mq_open", e),
        Errno::EMFILE | Errno::ENOMEM => {
            let (soft, _) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_MSGQUEUE)
                    .unwrap_or((0, 0));
            // The kernel charges the messages plus per-message bookkeeping (about 64 bytes).
            let need = capacity.saturating_mul(msgsize.saturating_add(64));
            limit(
                "RLIMIT_MSGQUEUE",
                soft,
                format!(
                    "this queue needs about {need} bytes of queue memory on top of this user's \
                     other queues; raise it with \
                     `ulimit -q <bytes>` (the hard limit: `msgqueue` in /etc/security/limits.conf), \
                     unlink unused queues, or ask for a smaller capacity"
                ),
            )
        }
        e => Error::named("mq_open", WHAT, name, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_limit_is_named_with_how_to_raise_it() {
        let msg_max = read_proc("msg_max").unwrap_or(10);
        let cases = [
            (
                Errno::ENOSPC,
                1,
                8,
                "/proc/sys/fs/mqueue/queues_max",
                "fs.mqueue.queues_max",
            ),
            (Errno::EMFILE, 1, 8, "RLIMIT_MSGQUEUE", "ulimit -q"),
            (
                Errno::EINVAL,
                msg_max + 1,
                8,
                "/proc/sys/fs/mqueue/msg_max",
                "fs.mqueue.msg_max",
            ),
            (
                Errno::EINVAL,
                1,
                1 << 25,
                "HARD_MSGSIZEMAX",
                "shared memory",
            ),
        ];
        for (errno, capacity, size, limit, hint) in cases {
            let e = create_error("/q", capacity, size, errno);
            match &e {
                Error::LimitExceeded { limit: l, .. } => assert!(l.starts_with(limit), "{e}"),
                e => panic!("{errno}: {e}"),
            }
            assert!(e.to_string().contains(hint), "{e}");
        }
        assert!(matches!(
            create_error("/q", 1, 8, Errno::EACCES),
            Error::PermissionDenied { .. }
        ));
    }

    #[test]
    fn names_are_validated() {
        for bad in [
            "jobs",
            "/",
            "/a/b",
            "/.",
            "/a\0b",
            &format!("/{}", "x".repeat(256)),
        ] {
            assert!(
                matches!(check_name(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(check_name(&format!("/{}", "x".repeat(248))).is_ok());
        assert!(check_name("/jobs-1.q").is_ok());
    }
}
