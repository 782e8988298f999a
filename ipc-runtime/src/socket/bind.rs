//! Binding a listening Unix socket to a path: length check, a mode the umask cannot
//! loosen, placement that never replaces a live socket, reclaiming a stale one, and
//! removal on drop.
//!
//! `bind(2)` creates the socket file with mode `0777 & !umask`, and `fchmod` on a socket
//! descriptor does not reach the file (it changes the socket's own inode). Changing the
//! umask is process-wide and races other threads. So the socket is bound inside a fresh
//! private directory (mode 0700, made with `mkdtemp` beside the target, so nobody else can
//! reach the file while its mode is loose), `chmod`ed to the requested mode, and only then
//! hard-linked to the requested path. `link(2)` never replaces an existing file: if the
//! path is taken, a probe `connect` tells a live listener (refused with [`Error::Busy`])
//! from a stale file left by a crashed one (`ECONNREFUSED`: unlinked, and the link is
//! retried). Two listeners reclaiming the same stale path at the same instant can race;
//! use distinct paths per service.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use super::sys::Wait;
use crate::error::{Error, Result};

/// Longest path `sun_path` holds, not counting the terminating NUL.
pub(crate) const MAX_PATH: usize = 107;

const WHAT: &str = "Unix socket";

/// Refuses a path that cannot be a socket address.
pub(crate) fn check_path(path: &Path) -> Result<()> {
    let bytes = path.as_os_str().as_bytes();
    let reason = if bytes.is_empty() {
        "a socket path must not be empty"
    } else if bytes.contains(&0) {
        "a socket path must not contain a NUL byte"
    } else if bytes.len() > MAX_PATH {
        "too long for sun_path: a Unix socket path has at most 107 bytes (108 with the \
         terminating NUL); use a shorter directory, e.g. under /tmp or $XDG_RUNTIME_DIR"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: path.display().to_string(),
        reason,
    })
}

/// The socket file a listener placed, removed on drop if it is still ours.
#[derive(Debug)]
pub(crate) struct Placed {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Placed {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The socket file's device and inode.
    pub(crate) fn id(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        if let Ok(m) = fs::symlink_metadata(&self.path) {
            if m.dev() == self.dev && m.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
            }
        }
    }
}

/// Removes the private directory and the temporary name in it.
struct PrivateDir {
    dir: PathBuf,
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join("s"));
        let _ = fs::remove_dir(&self.dir);
    }
}

/// Creates a socket of `ty`, binds it to `path` with `mode` and listens.
pub(crate) fn bind_listen(
    path: &Path,
    ty: SockType,
    mode: u32,
    backlog: i32,
) -> Result<(OwnedFd, Placed)> {
    check_path(path)?;
    let name = path.display().to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let template = parent.join(".ipc-sock.XXXXXX");
    let dir = nix::unistd::mkdtemp(&template)
        .map_err(|e| Error::named("mkdtemp", "directory", &parent.display().to_string(), e))?;
    let private = PrivateDir { dir };
    let tmp = private.dir.join("s");
    let fd = socket::socket(AddressFamily::Unix, ty, SockFlag::SOCK_CLOEXEC, None)
        .map_err(|e| Error::sys("socket", e))?;
    // The temporary path can be longer than sun_path allows even when `path` is not;
    // then reach the directory through /proc/self/fd instead.
    let dirfd;
    let addr = if tmp.as_os_str().len() <= MAX_PATH {
        UnixAddr::new(&tmp)
    } else {
        dirfd = fs::File::open(&private.dir).map_err(|e| crate::codec::io_error("open", e))?;
        UnixAddr::new(format!("/proc/self/fd/{}/s", dirfd.as_raw_fd()).as_str())
    }
    .map_err(|e| Error::named("bind", WHAT, &name, e))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(|e| Error::named("bind", WHAT, &name, e))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode & 0o777))
        .map_err(|e| crate::codec::io_error("chmod", e))?;
    socket::listen(
        &fd,
        socket::Backlog::new(backlog).unwrap_or(socket::Backlog::MAXCONN),
    )
    .map_err(|e| Error::sys("listen", e))?;
    let mut reclaimed = 0;
    loop {
        match fs::hard_link(&tmp, path) {
            Ok(()) => break,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && reclaimed < 3 => {
                reclaim_if_stale(path, ty)?;
                reclaimed += 1;
            }
            Err(e) => {
                let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                return Err(Error::named("link", WHAT, &name, errno));
            }
        }
    }
    let m = fs::symlink_metadata(path).map_err(|e| crate::codec::io_error("stat", e))?;
    drop(private);
    Ok((
        fd,
        Placed {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
        },
    ))
}

/// `path` exists. Unlinks it if it is a socket nobody listens on; refuses otherwise.
fn reclaim_if_stale(path: &Path, ty: SockType) -> Result<()> {
    let name = path.display().to_string();
    let before = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()), // gone meanwhile: retry the link
    };
    if !before.file_type().is_socket() {
        return Err(Error::AlreadyExists {
            what: "file (not a socket)",
            name,
        });
    }
    match probe(path, ty) {
        Probe::Live => Err(Error::Busy {
            what: WHAT,
            name,
            reason: "a live listener accepts connections on it; stop that process or choose \
                     another path",
        }),
        Probe::Stale => {
            // Unlink only the file we probed, not one a racing listener put there since.
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == before.dev() && now.ino() == before.ino() => {
                    fs::remove_file(path).map_err(|e| {
                        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
                        Error::named("unlink", WHAT, &name, errno)
                    })
                }
                _ => Ok(()),
            }
        }
        Probe::Failed(e) => Err(Error::named("connect", WHAT, &name, e)),
    }
}

enum Probe {
    Live,
    Stale,
    Failed(Errno),
}

fn probe(path: &Path, ty: SockType) -> Probe {
    let fd = match socket::socket(
        AddressFamily::Unix,
        ty,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    ) {
        Ok(fd) => fd,
        Err(e) => return Probe::Failed(e),
    };
    let addr = match UnixAddr::new(path) {
        Ok(a) => a,
        Err(e) => return Probe::Failed(e),
    };
    match socket::connect(fd.as_raw_fd(), &addr) {
        // Connected, or the backlog is full (EAGAIN): someone is listening.
        Ok(()) | Err(Errno::EAGAIN | Errno::EINPROGRESS) => Probe::Live,
        Err(Errno::ECONNREFUSED) => Probe::Stale,
        // Wrong socket type (a datagram socket, say): it is someone's, leave it.
        Err(Errno::EPROTOTYPE) => Probe::Live,
        Err(e) => Probe::Failed(e),
    }
}

/// Connects a new socket of `ty` to `path`, waiting at most as `wait` allows for room
/// in the listener's backlog (see `sys::connect`).
pub(crate) fn connect(path: &Path, ty: SockType, wait: Wait) -> Result<OwnedFd> {
    check_path(path)?;
    let name = path.display().to_string();
    let fd = socket::socket(
        AddressFamily::Unix,
        ty,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| Error::sys("socket", e))?;
    let addr = UnixAddr::new(path).map_err(|e| Error::named("connect", WHAT, &name, e))?;
    match super::sys::connect(fd.as_fd(), &addr, wait)? {
        Ok(()) => Ok(fd),
        // A socket file nobody listens on, or a path that is no socket at all.
        Err(Errno::ECONNREFUSED) => Err(Error::NotFound {
            what: match std::fs::metadata(path).map(|m| m.file_type()) {
                Ok(t) if t.is_dir() => "listener on Unix socket (the path is a directory)",
                Ok(t) if t.is_fifo() => "listener on Unix socket (the path is a FIFO)",
                Ok(t) if !t.is_socket() => "listener on Unix socket (the path is no socket)",
                _ => "listener on Unix socket (the file is stale)",
            },
            name,
        }),
        // A socket of another type is bound there.
        Err(Errno::EPROTOTYPE) => Err(Error::NotFound {
            what: if ty == SockType::Stream {
                "stream listener on Unix socket (a socket of another type is bound there: \
                 a seqpacket listener is reached with `unix-seqpacket:`, SeqPacket::connect)"
            } else {
                "seqpacket listener on Unix socket (a socket of another type is bound there: \
                 a stream listener is reached with `unix:`, Stream::connect)"
            },
            name,
        }),
        Err(e) => Err(Error::named("connect", WHAT, &name, e)),
    }
}
