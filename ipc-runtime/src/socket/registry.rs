//! The registry of a Unix socket this crate listens on: a small file under `/dev/shm`,
//! `ipc-sock.DEV-INO` (the device and inode of the socket file), that says which process
//! listens on which path, and for which message type, so that the `ipc` command can list
//! the sockets of this crate ([`list`]) and the automatic sweep can remove the socket file
//! a crashed listener left.
//!
//! The file holds [`MAGIC`], the listener's pid, the socket type, the path's length and
//! the path, then (at `schema::block::BLOCK_AT`) the encoded schema tree of the messages
//! clients send. The listener holds a shared lock on it for its life
//! (`crate::reclaim::record::LIVE`), and removes it, with the socket file, when dropped.
//! A registry that no one holds is a crashed listener's: the sweep removes it, and the
//! socket file with it if the path still denotes the socket that listener bound.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, Mode};

use crate::reclaim::record::{hold, lock, open_mine, LIVE};
use crate::schema::block::{read_any_block, BLOCK_AT};
use crate::schema::SchemaTree;

const MAGIC: &[u8; 8] = b"IPC-SOCK";
const DIR: &str = "/dev/shm/";
pub(crate) const PREFIX: &str = "ipc-sock.";
/// Magic, pid, socket type, the path's length: then the path.
const FIXED: usize = 8 + 4 + 4 + 8;

/// A listener's registry: removed when dropped (a clean leave).
#[derive(Debug)]
pub(crate) struct Registered {
    /// The file, open and holding the shared lock.
    fd: OwnedFd,
    name: String,
}

impl Registered {
    /// Writes the registry of the socket just bound at `path` (its file's `dev`, `ino`),
    /// whole or not at all, locked before it appears; `None` if it cannot be (the socket
    /// works the same, unlisted).
    pub(crate) fn create(path: &Path, dev: u64, ino: u64, stream: bool) -> Option<Registered> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let bytes = path.as_os_str().as_encoded_bytes();
        let mode = Mode::from_bits_truncate(0o644);
        let fd = nix::fcntl::open(
            DIR,
            OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
            mode,
        )
        .ok()?;
        nix::sys::stat::fchmod(&fd, mode).ok()?;
        let mut text = Vec::with_capacity(FIXED + bytes.len());
        text.extend_from_slice(MAGIC);
        text.extend_from_slice(&std::process::id().to_le_bytes());
        text.extend_from_slice(&u32::from(stream).to_le_bytes());
        text.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        text.extend_from_slice(bytes);
        let mut f = std::fs::File::from(fd);
        f.write_all(&text).ok()?;
        let fd = OwnedFd::from(f);
        lock(&fd, libc::F_RDLCK, LIVE, false).ok()?;
        let name = format!("{PREFIX}{dev}-{ino}");
        let from = std::ffi::CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let to = std::ffi::CString::new(format!("{DIR}{name}")).ok()?;
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
        Errno::result(r).ok()?;
        Some(Registered { fd, name })
    }

    /// Records the schema of the messages clients send (written once, after `create`).
    pub(crate) fn describe(&self, block: &[u8]) {
        let _ = nix::sys::uio::pwrite(&self.fd, block, BLOCK_AT as libc::off_t);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        remove_if_same(&format!("{DIR}{}", self.name), &self.fd);
    }
}

/// Unlinks `path` if it still is the file open as `fd`.
fn remove_if_same(path: &str, fd: &OwnedFd) {
    let (Ok(now), Ok(ours)) = (nix::sys::stat::lstat(path), fstat(fd)) else {
        return;
    };
    if now.st_ino == ours.st_ino && now.st_dev == ours.st_dev {
        let _ = nix::unistd::unlink(path);
    }
}

/// A Unix socket this crate listens (or listened) on, found by [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listed {
    /// The socket file's path.
    pub path: PathBuf,
    /// The process that listens on it.
    pub pid: u32,
    /// True if it still does; false if it died without closing it (the file is then
    /// stale: the automatic sweep, or [`remove_stale_with_prefix`], removes it).
    pub alive: bool,
    /// True for a stream socket, false for a seqpacket one.
    pub stream: bool,
    /// The type of the messages clients send, as the listener described it.
    pub tree: Option<SchemaTree>,
    /// The uid that owns the registry (the listener's).
    pub owner: u32,
}

/// What a registry says, and whether its listener lives.
fn read(fd: &OwnedFd) -> Option<(u32, bool, PathBuf)> {
    let mut b = [0u8; FIXED + 4096];
    let n = nix::sys::uio::pread(fd, &mut b, 0).ok()?;
    if n < FIXED || &b[..8] != MAGIC {
        return None;
    }
    let pid = u32::from_le_bytes(b[8..12].try_into().ok()?);
    let stream = u32::from_le_bytes(b[12..16].try_into().ok()?) != 0;
    let len = usize::try_from(u64::from_le_bytes(b[16..24].try_into().ok()?)).ok()?;
    let path = b.get(FIXED..FIXED.checked_add(len)?.min(n))?;
    if path.len() != len {
        return None;
    }
    let path = PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
    Some((pid, stream, path))
}

/// The Unix sockets this crate's listeners bound on this machine (as their registries in
/// `/dev/shm` say), with their listener's pid, whether it is alive, and the message type,
/// sorted by path.
///
/// ```no_run
/// for s in ipc::socket::list()? {
///     let state = if s.alive { "listening" } else { "stale" };
///     println!("{} ({state}, pid {})", s.path.display(), s.pid);
/// }
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Io`](crate::Error::Io) if `/dev/shm` cannot be read.
pub fn list() -> crate::Result<Vec<Listed>> {
    let dir = std::fs::read_dir(DIR).map_err(|source| crate::Error::Io {
        op: "read_dir(/dev/shm)",
        source,
    })?;
    let mut found: Vec<Listed> = dir
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(PREFIX))
        })
        .filter_map(|e| {
            let fd = open(&e.path())?;
            let (pid, stream, path) = read(&fd)?;
            let owner = fstat(&fd).ok()?.st_uid;
            Some(Listed {
                alive: !lock_free(&fd),
                tree: read_any_block(&fd),
                path,
                pid,
                stream,
                owner,
            })
        })
        .collect();
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

fn open(path: &Path) -> Option<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// True if no listener holds the registry open as `fd` (tested with a lock that is let
/// go at once).
fn lock_free(fd: &OwnedFd) -> bool {
    let mut fl = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: LIVE,
        l_len: 1,
        l_pid: 0,
    };
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_OFD_GETLK(&mut fl)).is_ok()
        && fl.l_type == libc::F_UNLCK as libc::c_short
}

/// Removes the registry `name` (a file name under `/dev/shm`) and the socket file it
/// names if its listener is dead, both are `uid`'s, and `covers` accepts the socket's
/// file name; true if removed (only says whether it would, unless `remove`).
fn reclaim(name: &str, uid: u32, covers: impl Fn(&str) -> bool, remove: bool) -> bool {
    let path = format!("{DIR}{name}");
    let Some((fd, _)) = open_mine(&path, uid) else {
        return false;
    };
    let Some((_, _, socket)) = read(&fd) else {
        return false;
    };
    let file_name = socket.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !covers(file_name) || !hold(&fd) {
        return false;
    }
    if !remove {
        return true;
    }
    // The socket file, if the path still denotes the socket that listener bound (its
    // device and inode are the registry's name) and is this user's.
    if let Ok(m) = std::fs::symlink_metadata(&socket) {
        if format!("{PREFIX}{}-{}", m.dev(), m.ino()) == name && m.uid() == uid {
            let _ = std::fs::remove_file(&socket);
        }
    }
    remove_if_same(&path, &fd);
    true
}

/// The automatic sweep's part for the registry `/dev/shm/NAME` (see the module docs).
pub(crate) fn sweep_one(name: &str, scope: &crate::reclaim::Scope, uid: u32) {
    reclaim(name, uid, |file| scope.covers(file), true);
}

/// Removes the socket files (and registries) of this user's listeners that died without
/// closing them, whose file names or whole paths start with `prefix` (`myapp-`, or
/// `/run/myapp/`); returns their paths. What the automatic sweep does by itself at the
/// next create or open, on demand (the `ipc clean` command).
///
/// # Errors
///
/// As [`list`].
pub fn remove_stale_with_prefix(prefix: &str) -> crate::Result<Vec<PathBuf>> {
    stale(prefix, true)
}

/// The paths of the socket files that [`remove_stale_with_prefix`] would remove now,
/// found by the same rules (a prefix matches a file name or a whole path) and removing
/// nothing: what a dry run of it says (the `ipc clean --dry-run` command). Each registry
/// is examined as the removal examines it, holding its lock for that moment.
///
/// # Errors
///
/// As [`list`].
pub fn stale_with_prefix(prefix: &str) -> crate::Result<Vec<PathBuf>> {
    stale(prefix, false)
}

/// [`remove_stale_with_prefix`], which only finds them unless `remove`.
fn stale(prefix: &str, remove: bool) -> crate::Result<Vec<PathBuf>> {
    let uid = nix::unistd::geteuid().as_raw();
    let dir = std::fs::read_dir(DIR).map_err(|source| crate::Error::Io {
        op: "read_dir(/dev/shm)",
        source,
    })?;
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !name.starts_with(PREFIX) {
            continue;
        }
        let Some(socket) = open(&entry.path()).and_then(|fd| read(&fd)).map(|r| r.2) else {
            continue;
        };
        let in_path = socket.to_string_lossy().starts_with(prefix);
        if reclaim(
            &name,
            uid,
            |file| in_path || file.starts_with(prefix),
            remove,
        ) {
            removed.push(socket);
        }
    }
    removed.sort();
    Ok(removed)
}
