//! The schema header of a POSIX queue: a small file, `/dev/shm/ipc-mq.NAME`, written
//! beside the queue by its creator (whole or not at all, never over another user's file)
//! and read by every opener before it trusts a message, since the queue itself has no
//! handshake to carry its type. See [Wire format](super#wire-format-and-schema-check).

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fchmod, fstat, Mode};

use super::limits::{header_path, removal, HEADER_DIR, WHAT};
use crate::deadline::Wait;
use crate::error::{Error, Result, SchemaId};
use crate::message::Message;
use crate::reclaim::record::{first_counts, End, COUNTS};
use crate::schema::block::{block_of, BLOCK_AT};

const HEADER_MAGIC: &str = "ipc-mq-schema 1";

/// The error for a schema header in the way of creating queue `name`: a file of another
/// user (or a symbolic link) where this process's header must go.
fn squatted(name: &str, path: &str, st: &libc::stat) -> Error {
    Error::Untrusted {
        what: "schema header of message queue",
        name: path.to_owned(),
        owner: st.st_uid,
        mode: st.st_mode & 0o777,
        hint: format!(
            "it stands where the header of the queue `{name}` being created must go, and \
             is not this user's: another user may have planted it to block the name; remove \
             it (`rm {path}` as uid {} or root) and create the queue again, or use another name",
            st.st_uid
        ),
    }
}

/// Writes the schema header of queue `name` (just created by this process) with the
/// queue's mode, so that it appears whole or not at all: the header is written to an
/// unnamed file (`O_TMPFILE`) that is then linked under its name. No temporary name exists
/// that another queue's header (or another user) could collide with.
///
/// A header already there is a leftover of an earlier queue of this name: removed if it
/// is this user's, reported with [`Error::Untrusted`] (its owner, how to remove it) if not.
///
/// The file is left open, and locked, as the creating end's place in the record of who has
/// the queue open ([`End::creator`]), its counts saying the creator opened it.
pub(super) fn write_header<T: Message>(name: &str, mode: u32) -> Result<Option<End>> {
    let id = SchemaId::of::<T>();
    let text = format!(
        "{HEADER_MAGIC} {:#018x} {} {} {}\n",
        id.fingerprint, id.size, id.align, id.name
    );
    let path = header_path(name);
    let me = nix::unistd::geteuid().as_raw();
    let clear_way = || -> Result<()> {
        match nix::sys::stat::lstat(path.as_str()) {
            Ok(st) if st.st_uid != me || st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                Err(squatted(name, &path, &st))
            }
            Ok(_) => match nix::unistd::unlink(path.as_str()) {
                Ok(()) | Err(Errno::ENOENT) => Ok(()),
                Err(e) => Err(Error::named("unlink schema header", WHAT, &path, e)),
            },
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(Error::named("lstat schema header", WHAT, &path, e)),
        }
    };
    clear_way()?;
    let fd = nix::fcntl::open(
        HEADER_DIR,
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )
    .map_err(|e| header_error("create schema header", e, text.len()))?;
    // The umask applied to `mode`; set it exactly, as for the queue.
    fchmod(&fd, Mode::from_bits_truncate(mode))
        .map_err(|e| header_error("chmod schema header", e, text.len()))?;
    let mut f = std::fs::File::from(fd);
    f.write_all(text.as_bytes())
        .and_then(|()| f.write_all_at(&first_counts(), COUNTS))
        .and_then(|()| f.write_all_at(&block_of::<T>(), BLOCK_AT))
        .map_err(|e| {
            header_error(
                "write schema header",
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                text.len(),
            )
        })?;
    let end = End::creator(OwnedFd::from(f.try_clone().map_err(|source| {
        Error::Io {
            op: "dup schema header",
            source,
        }
    })?));
    let from = CString::new(format!("/proc/self/fd/{}", f.as_raw_fd())).expect("no NUL");
    let to = CString::new(path.as_str()).map_err(|_| Error::InvalidName {
        name: name.to_owned(),
        reason: "a queue name cannot contain a NUL byte",
    })?;
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call;
    // AT_SYMLINK_FOLLOW makes the kernel link the file the descriptor's /proc entry
    // denotes (the unnamed file) rather than the entry itself.
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
        Ok(_) => Ok(end),
        // Someone put a file there since `clear_way`: say whose.
        Err(Errno::EEXIST) => match nix::sys::stat::lstat(path.as_str()) {
            Ok(st) => Err(squatted(name, &path, &st)),
            Err(e) => Err(Error::named("link schema header", WHAT, &path, e)),
        },
        Err(e) => Err(header_error("link schema header", e, text.len())),
    }
}

/// Maps the failure of a step of writing a schema header: a full `/dev/shm` is the limit
/// it is; the rest as [`Error::sys`] (which names `RLIMIT_NOFILE` for `EMFILE`).
fn header_error(op: &'static str, e: Errno, len: usize) -> Error {
    match e {
        Errno::ENOSPC | Errno::EDQUOT => Error::dev_shm_full(len as u64),
        e => Error::sys(op, e),
    }
}

/// Reads the schema header of queue `name` (open as `queue`), waiting briefly for a
/// creator that has made the queue but not yet its header. The header must belong to the
/// queue's owner and pass the same owner and mode policy (`allowed`) as the queue.
///
/// Returns the schema, and the header file open for this end's place in the record of who
/// has the queue open (for writing if it may be, which the bool says).
pub(super) fn read_header(
    name: &str,
    queue: &OwnedFd,
    allowed: u32,
) -> Result<(SchemaId, OwnedFd, bool)> {
    let path = header_path(name);
    let wait = Wait::timeout(Duration::from_millis(200));
    let open = |access| {
        nix::fcntl::open(
            path.as_str(),
            access | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    let (fd, writable) = loop {
        // For writing if this user may (to count itself in the record), else for reading.
        match open(OFlag::O_RDWR).map(|f| (f, true)).or_else(|e| match e {
            Errno::EACCES | Errno::EPERM | Errno::EROFS => {
                open(OFlag::O_RDONLY).map(|f| (f, false))
            }
            e => Err(e),
        }) {
            Ok(f) => break f,
            Err(Errno::ENOENT) if !wait.is_over() => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(Errno::ENOENT) => {
                return Err(Error::Corrupt(format!(
                    "message queue `{name}` has no schema header ({path}): it was not created \
                     by this crate, or its creator died before writing it; to share it with a \
                     program not built on ipc, open it with `Options::new().foreign()`; \
                     otherwise remove it with `ipc::mq::unlink(\"{name}\")` and create \
                     it again"
                )))
            }
            Err(Errno::EACCES | Errno::EPERM) => {
                return Err(Error::PermissionDenied {
                    what: "schema header of message queue",
                    name: path,
                })
            }
            Err(e) => return Err(header_error("open schema header", e, 0)),
        }
    };
    let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
    let queue_owner = fstat(queue).map_err(|e| Error::sys("fstat", e))?.st_uid;
    if st.st_uid != queue_owner || st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::Untrusted {
            what: "schema header of message queue",
            name: path,
            owner: st.st_uid,
            mode: st.st_mode & 0o777,
            hint: format!(
                "the queue `{name}` belongs to uid {queue_owner}, its header to another user \
                 (or it is not a regular file): someone may have planted it; remove the queue \
                 and its header ({}) and create it again",
                removal(name)
            ),
        });
    }
    crate::trust::check_stat(
        "schema header of message queue",
        &path,
        &st,
        allowed,
        &removal(name),
    )?;
    // Never read more than a header can hold, whatever the file is.
    let mut text = [0u8; COUNTS as usize];
    let n =
        nix::sys::uio::pread(&fd, &mut text, 0).map_err(|e| Error::sys("read schema header", e))?;
    let id = parse_header(&String::from_utf8_lossy(&text[..n])).ok_or_else(|| {
        Error::Corrupt(format!(
            "the schema header of message queue `{name}` ({path}) is not in this crate's \
             format; remove the queue with `ipc::mq::unlink(\"{name}\")` and create it again"
        ))
    })?;
    Ok((id, fd, writable))
}

/// The schema of a header's text: its first line (what follows it, the record of
/// `record.rs` after zeros, is not read here).
pub(crate) fn parse_header(text: &str) -> Option<SchemaId> {
    let line = text.split_once('\n')?.0.strip_prefix(HEADER_MAGIC)?;
    let mut fields = line.strip_prefix(' ')?.splitn(4, ' ');
    let fingerprint = u64::from_str_radix(fields.next()?.strip_prefix("0x")?, 16).ok()?;
    let size = fields.next()?.parse().ok()?;
    let align = fields.next()?.parse().ok()?;
    let name = fields.next()?;
    if name.is_empty() || name.contains('\n') {
        return None;
    }
    Some(SchemaId {
        name: name.to_owned(),
        fingerprint,
        size,
        align,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_garbage_is_refused() {
        let id = SchemaId::of::<[u16; 3]>();
        let text = format!(
            "{HEADER_MAGIC} {:#018x} {} {} {}\n",
            id.fingerprint, id.size, id.align, id.name
        );
        assert_eq!(parse_header(&text), Some(id.clone()));
        // The record after the text (see `record.rs`) is not part of the schema.
        let mut file = text.clone().into_bytes();
        file.resize(COUNTS as usize, 0);
        file.extend_from_slice(&first_counts());
        assert_eq!(parse_header(&String::from_utf8_lossy(&file)), Some(id));
        for bad in [
            "",
            "\n",
            "ipc-mq-schema 1\n",
            "ipc-mq-schema 2 0x1 8 8 u64\n",
            "ipc-mq-schema 1 0x1 8 8 u64",
            "ipc-mq-schema 1 12 8 8 u64\n",
            "ipc-mq-schema 1 0xzz 8 8 u64\n",
            "ipc-mq-schema 1 0x1 -8 8 u64\n",
            "ipc-mq-schema 1 0x1 8 8 \n",
        ] {
            assert_eq!(parse_header(bad), None, "{bad:?}");
        }
    }
}
