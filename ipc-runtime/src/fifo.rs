//! Typed named pipes (FIFOs): `mkfifo(3)`, `fifo(7)`, opened by path so that unrelated
//! processes can talk.
//!
//! [`create`] (or [`Options`]) makes the FIFO and returns a [`Fifo`] guard that removes it
//! when dropped, also while a panic unwinds. [`Sender::open`] and [`Receiver::open`] open
//! it from any process that may; the channel then behaves exactly as an
//! [`ipc::pipe`](crate::pipe) channel (same types, same contract, the in-place
//! [`Sender::send_ref`] and [`Receiver::recv_into`] included).
//!
//! ```
//! use ipc::fifo::{self, Receiver, Sender};
//!
//! let path = std::env::temp_dir().join(format!("ipc-fifo-doc-{}", std::process::id()));
//! let guard = fifo::create(&path)?;                  // mode 0600; removed on drop
//! let mut rx = Receiver::<u32>::open(guard.path())?; // returns at once
//! let mut tx = Sender::<u32>::open(guard.path())?;   // a reader exists: does not block
//! tx.send(7)?;
//! assert_eq!(rx.recv()?, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Opening
//!
//! - [`Receiver::open`] never blocks: it opens with `O_NONBLOCK` and leaves waiting to
//!   `recv`. Until a first writer's bytes arrive the receiver reports nothing
//!   (`try_recv` is [`Error::Empty`], `recv` waits), never a spurious
//!   [`Error::Disconnected`]. To tell "no writer yet" from "every writer left" without
//!   `poll(2)`, the receiver holds a write end of its own FIFO (opened through
//!   `/proc/self/fd`) until the first bytes arrive; so a writer that opens and closes the
//!   FIFO without writing anything leaves the receiver waiting. (Why not `poll`: Linux
//!   makes every later `write` to a pipe that has once been polled wake its reader, which
//!   cost 15-20% of the 8-byte throughput here; receives with a timeout still poll.)
//!   Without write permission on the FIFO the receiver polls instead.
//!   [`Receiver::open_timeout`] also waits for a first writer.
//! - [`Sender::open`] blocks until a reader has the FIFO open, as `open(2)` does;
//!   [`Sender::open_timeout`] gives up after a while (non-blocking opens, retried).
//!   Once [`shutdown_on`](crate::signal::shutdown_on) is armed, [`Sender::open`] also
//!   retries non-blocking opens (sleeping at most 20 ms between them) and returns
//!   [`Error::Shutdown`] once shutdown is requested, as both `open_timeout`s do.
//!   A sender writes its handshake as soon as it is open.
//!
//! # Several writers
//!
//! Every record is written with one `write`, which the kernel makes atomic up to
//! [`PIPE_BUF`](crate::pipe::PIPE_BUF) bytes, so several senders may share one FIFO if a
//! record of `T` fits (`T` of at most `PIPE_BUF - 8` bytes; see
//! [`codec::record_len`](crate::codec::record_len)): their records interleave whole, the
//! reader checks each writer's handshake, and a writer of another schema costs one
//! [`Error::SchemaMismatch`] (naming the first field that differs) and nothing else (its
//! records are skipped exactly). A longer
//! record could be split by another writer's, so such a sender takes an exclusive
//! `flock(2)` on the FIFO and any other sender gets [`Error::Busy`] (senders of short
//! records hold a shared one, so they and a sender of long records exclude each other).
//! If a sender of long records dies midway through one, the record's seal tells the reader
//! (one [`Error::Corrupt`]), and the next sender's messages arrive intact.
//!
//! A sender of slices (`Sender<[E]>`) counts as a sender of long records while its
//! maximum length ([`Sender::set_max_len`]) allows a record longer than `PIPE_BUF`: by
//! default it does not (4088 bytes of elements at most), so any number of them share a
//! FIFO; one that raises its maximum above that takes the exclusive lock then (or gets
//! [`Error::Busy`]), and shares the FIFO again if it lowers it.
//!
//! ```
//! use ipc::fifo::{self, Receiver, Sender};
//!
//! let path = std::env::temp_dir().join(format!("ipc-fifo-slices-{}", std::process::id()));
//! let guard = fifo::create(&path)?;
//! let mut rx = Receiver::<[u8]>::open(guard.path())?;
//! let mut a = Sender::<[u8]>::open(guard.path())?;
//! let mut b = Sender::<[u8]>::open(guard.path())?; // short records: the FIFO is shared
//! a.send_slice(b"from a")?;
//! b.send_slice(b"from b")?;
//! assert_eq!(rx.recv_slice()?, b"from a");
//! assert_eq!(rx.recv_slice()?, b"from b");
//! // Records longer than PIPE_BUF need the FIFO alone: `b` has it open too.
//! assert!(matches!(a.set_max_len(50_000), Err(ipc::Error::Busy { .. })));
//! drop(b);
//! a.set_max_len(50_000)?;
//! rx.set_max_len(50_000);
//! a.send_slice(&vec![7; 50_000])?; // fits in the FIFO: nobody reads yet
//! assert_eq!(rx.recv_slice()?.len(), 50_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors on paths
//!
//! A missing path is [`Error::NotFound`], a forbidden one [`Error::PermissionDenied`], a
//! name too long [`Error::InvalidName`]; a path that exists but is not a FIFO is
//! [`Error::InvalidName`] saying so (nothing is opened or removed).

use std::fs::Permissions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::PollFlags;
use nix::sys::stat::{Mode, SFlag};

use crate::error::{Error, Result};
use crate::fd::{self, Wait};
use crate::payload::Payload;
pub use crate::pipe::{Receiver, Sender};

const WHAT: &str = "FIFO";
const NOT_A_FIFO: &str = "the path exists but is not a FIFO; remove it or choose another path";

/// Creates a FIFO at `path` with mode `0600`; see [`Options::create`].
///
/// # Errors
///
/// As [`Options::create`].
pub fn create(path: impl AsRef<Path>) -> Result<Fifo> {
    Options::new().create(path)
}

/// Removes the FIFO at `path` (for one left behind by a process that crashed).
///
/// # Errors
///
/// [`Error::NotFound`] if nothing is there, [`Error::InvalidName`] if what is there is
/// not a FIFO (it is left alone), [`Error::PermissionDenied`] if the directory forbids it.
pub fn remove(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let st = nix::sys::stat::lstat(path).map_err(|e| path_error("lstat", path, e))?;
    if !is_fifo(st.st_mode) {
        return Err(not_a_fifo(path));
    }
    nix::unistd::unlink(path).map_err(|e| path_error("unlink", path, e))
}

/// How to create a FIFO ([`Options::mode`]), and how its ends talk
/// ([`Options::foreign`], for [`Sender::open_with`] and [`Receiver::open_with`]).
#[derive(Clone, Debug)]
pub struct Options {
    mode: u32,
    foreign: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode `0600`: only the owner may open the FIFO.
    pub fn new() -> Self {
        Options {
            mode: 0o600,
            foreign: false,
        }
    }

    /// Sets the permission bits (`0o7777` at most; higher bits are ignored). They are set
    /// exactly, whatever the process's umask.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }

    /// Foreign-peer mode for the ends opened with these options ([`Sender::open_with`],
    /// [`Receiver::open_with`]), for a peer not built on this crate (a C program's
    /// `write`/`read`, a shell tool, Python's `struct`): no handshake and no record
    /// headers, each message exactly the bytes of a `T`, back to back. Every message
    /// received is still length-checked and validated. The same as
    /// [`pipe::Sender::foreign`](crate::pipe::Sender::foreign) and
    /// [`pipe::Receiver::foreign`](crate::pipe::Receiver::foreign) on an end (a FIFO
    /// sender writes its handshake at open, so it takes the mode here). What is given up:
    /// the schema check of the handshake; keep the two sides in agreement with a C header
    /// generated from the type ([`schema::c_header`](crate::schema::c_header)).
    pub fn foreign(mut self) -> Self {
        self.foreign = true;
        self
    }

    /// Creates the FIFO (`mkfifo`, then `chmod` so the umask does not change the mode) and
    /// returns a guard that removes it when dropped.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyExists`] if something is at `path`, [`Error::NotFound`] if its
    /// directory does not exist, [`Error::PermissionDenied`] if the directory forbids it,
    /// [`Error::InvalidName`] if the path is empty, holds a NUL byte or is too long.
    pub fn create(&self, path: impl AsRef<Path>) -> Result<Fifo> {
        let path = path.as_ref();
        check_path(path)?;
        let mode = Mode::from_bits_truncate(self.mode as nix::libc::mode_t);
        nix::unistd::mkfifo(path, mode).map_err(|e| path_error("mkfifo", path, e))?;
        let fifo = Fifo {
            path: path.to_owned(),
            remove: true,
        };
        std::fs::set_permissions(path, Permissions::from_mode(self.mode)).map_err(|e| {
            path_error(
                "chmod",
                path,
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        })?;
        Ok(fifo)
    }
}

/// A FIFO this process created; removed from the file system when dropped (also while a
/// panic unwinds; not if the process is killed or aborts — use [`remove`] then).
#[derive(Debug)]
pub struct Fifo {
    path: PathBuf,
    remove: bool,
}

impl Fifo {
    /// Where the FIFO is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the FIFO: it is no longer removed on drop. Returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.remove = false;
        std::mem::take(&mut self.path)
    }

    /// Removes the FIFO now, reporting failure (drop ignores it).
    ///
    /// # Errors
    ///
    /// As [`remove`].
    pub fn remove(mut self) -> Result<()> {
        self.remove = false;
        remove(&self.path)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        if self.remove {
            let _ = remove(&self.path);
        }
    }
}

impl<P: ?Sized + Payload> Sender<P> {
    /// Opens the FIFO at `path` for writing, waiting until a reader has it open (as
    /// `open(2)` does, possibly for ever: see [`Sender::open_timeout`]), and writes the
    /// handshake.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::InvalidName`] (too long,
    /// or not a FIFO), [`Error::Busy`] if `T`'s records exceed `PIPE_BUF` and another
    /// sender has the FIFO open (or another's do and it has; a sender of slices is one of
    /// short records until [`Sender::set_max_len`] says otherwise), [`Error::Disconnected`] if
    /// the reader left already, [`Error::Shutdown`] if shutdown was requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)) while waiting for a reader.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_wait(path.as_ref(), Wait::Forever, false)
    }

    /// As [`Sender::open`], with `options`: [`Options::foreign`] makes a sender of bare
    /// messages for a reader not built on this crate, which writes no handshake (the mode
    /// of `options` is for creating a FIFO, and is not used here).
    ///
    /// # Errors
    ///
    /// As [`Sender::open`].
    pub fn open_with(path: impl AsRef<Path>, options: &Options) -> Result<Self> {
        Self::open_wait(path.as_ref(), Wait::Forever, options.foreign)
    }

    /// As [`Sender::open`], waiting at most `timeout` for a reader.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no reader opened the FIFO in time, and the errors of
    /// [`Sender::open`].
    pub fn open_timeout(path: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        Self::open_wait(path.as_ref(), Wait::timeout(timeout), false)
    }

    fn open_wait(path: &Path, wait: Wait, foreign: bool) -> Result<Self> {
        check_path(path)?;
        check_is_fifo_path(path)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        let mut backoff = Duration::from_millis(1);
        let fd = loop {
            match nix::fcntl::open(path, flags | OFlag::O_NONBLOCK, Mode::empty()) {
                Ok(fd) => {
                    // Writes wait in `poll` or in `write`; either works, blocking is simpler.
                    let fl = fcntl(&fd, FcntlArg::F_GETFL).map_err(|e| Error::sys("fcntl", e))?;
                    let fl = OFlag::from_bits_truncate(fl) & !OFlag::O_NONBLOCK;
                    fcntl(&fd, FcntlArg::F_SETFL(fl)).map_err(|e| Error::sys("fcntl", e))?;
                    break fd;
                }
                // A FIFO without a reader.
                Err(Errno::ENXIO) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(path_error("open", path, e)),
            }
            check_is_fifo_path(path)?;
            // A blocking `open` cannot be woken by a shutdown request (there is no
            // descriptor to poll yet): once one is armed, retry with bounded sleeps and
            // check for it between attempts.
            let armed = crate::shutdown::shutdown_armed();
            match wait.left() {
                None if !armed => match nix::fcntl::open(path, flags, Mode::empty()) {
                    Ok(fd) => break fd,
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(path_error("open", path, e)),
                },
                Some(left) if left.is_zero() => {
                    return Err(Error::Timeout(match wait {
                        Wait::Until(_, d) => d,
                        _ => Duration::ZERO,
                    }))
                }
                left => {
                    crate::shutdown::check_shutdown()?;
                    std::thread::sleep(left.map_or(backoff, |l| backoff.min(l)));
                }
            }
            backoff = (backoff * 2).min(Duration::from_millis(20));
        };
        check_is_fifo(&fd, path)?;
        let mut tx = Sender::from_fd(fd);
        if foreign {
            tx.set_foreign();
        }
        let exclusive = tx.longest_record() > crate::pipe::PIPE_BUF;
        lock_writers(tx.as_fd(), path, exclusive)?;
        tx.set_lock(WriterLock {
            path: path.to_owned(),
            exclusive,
        });
        tx.send_hello()?;
        Ok(tx)
    }
}

impl<P: ?Sized + Payload> Receiver<P> {
    /// Opens the FIFO at `path` for reading. Returns at once, whether or not a writer has
    /// it open; `recv` waits for writers, and until a first one has come the receiver is
    /// not [`Error::Disconnected`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`], [`Error::PermissionDenied`], [`Error::InvalidName`] (too long,
    /// or not a FIFO).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        check_path(path)?;
        // Refuse a non-FIFO before opening it (opening a device may have effects);
        // checked again on the open descriptor, in case the path changed in between.
        check_is_fifo_path(path)?;
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = loop {
            match nix::fcntl::open(path, flags, Mode::empty()) {
                Ok(fd) => break fd,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(path_error("open", path, e)),
            }
        };
        check_is_fifo(&fd, path)?;
        let placeholder = placeholder_writer(&fd);
        Ok(Receiver::from_fifo_fd(fd, placeholder))
    }

    /// As [`Receiver::open`], with `options`: [`Options::foreign`] makes a receiver of
    /// bare messages from a writer not built on this crate (the mode of `options` is for
    /// creating a FIFO, and is not used here).
    ///
    /// # Errors
    ///
    /// As [`Receiver::open`].
    pub fn open_with(path: impl AsRef<Path>, options: &Options) -> Result<Self> {
        let mut rx = Self::open(path)?;
        if options.foreign {
            rx.set_foreign();
        }
        Ok(rx)
    }

    /// Opens the FIFO at `path` for reading and waits at most `timeout` for a first
    /// writer to open it (and send its handshake).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if no writer came in time, and the errors of [`Receiver::open`].
    pub fn open_timeout(path: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        let rx = Self::open(path)?;
        if !rx.has_placeholder() {
            return match fd::wait_ready(rx.as_fd(), PollFlags::POLLIN, &Wait::timeout(timeout))? {
                Some(_) => Ok(rx),
                None => Err(Error::Timeout(timeout)),
            };
        }
        // Not `poll`, which would slow every later write (see `pipe::FifoState`): look at
        // the bytes queued, sleeping 0.1 ms, then twice as long each time, up to 10 ms.
        let wait = Wait::timeout(timeout);
        let mut nap = Duration::from_micros(100);
        loop {
            crate::shutdown::check_shutdown()?;
            if fd::bytes_queued(rx.as_fd())? > 0 {
                return Ok(rx);
            }
            match wait.left() {
                Some(left) if left.is_zero() => return Err(Error::Timeout(timeout)),
                Some(left) => std::thread::sleep(nap.min(left)),
                None => std::thread::sleep(nap),
            }
            nap = (nap * 2).min(Duration::from_millis(10));
        }
    }
}

/// A write end of the FIFO `fd` reads, opened through `/proc/self/fd` (the same FIFO,
/// whatever its path names now), for a receiver to hold until its first bytes arrive (see
/// `pipe::FifoState`); `None` if it cannot be opened (no write permission, no `/proc`).
fn placeholder_writer(fd: &OwnedFd) -> Option<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    // Non-blocking: a reader (`fd`) exists, so this open never waits.
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    loop {
        match nix::fcntl::open(path.as_str(), flags, Mode::empty()) {
            Ok(w) => return Some(w),
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
}

/// A FIFO sender's share of its FIFO: the `flock(2)` it holds on its descriptor (see
/// [`lock_writers`]).
#[derive(Debug)]
pub(crate) struct WriterLock {
    path: PathBuf,
    exclusive: bool,
}

impl WriterLock {
    /// Takes the exclusive lock (`exclusive`) or the shared one instead of the one held,
    /// for a sender whose records become long or short.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] if another sender holds the FIFO; the lock held before is kept.
    pub(crate) fn retake(&mut self, fd: BorrowedFd<'_>, exclusive: bool) -> Result<()> {
        if exclusive == self.exclusive {
            return Ok(());
        }
        match lock_writers(fd, &self.path, exclusive) {
            Ok(()) => {
                self.exclusive = exclusive;
                Ok(())
            }
            Err(e) => {
                // Linux drops the lock held before a conversion that fails: take it back
                // (the shared one: only shared ones are held beside it).
                let _ = lock_writers(fd, &self.path, self.exclusive);
                Err(e)
            }
        }
    }
}

/// Takes this sender's share of the FIFO: an exclusive `flock(2)` if its records are
/// longer than `PIPE_BUF` (`exclusive`), a shared one otherwise. Senders of short records
/// share a FIFO, since each of their records is one atomic `write`; a sender of long
/// records, whose writes another writer's could split, has it alone, and while it has
/// it no sender of short records opens it either.
fn lock_writers(fd: BorrowedFd<'_>, path: &Path, exclusive: bool) -> Result<()> {
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    loop {
        // SAFETY: `fd` is an open descriptor owned by the caller for the whole call;
        // flock takes no pointers.
        let rc = unsafe { libc::flock(fd.as_raw_fd(), op | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => {}
            Errno::EWOULDBLOCK => {
                return Err(Error::Busy {
                    what: WHAT,
                    name: path.display().to_string(),
                    reason: if exclusive {
                        "its records are longer than PIPE_BUF (4096 bytes), so two writers' \
                         records could interleave; only one sender may have it open, and \
                         another has"
                    } else {
                        "a sender of records longer than PIPE_BUF (4096 bytes) has it open, \
                         and no other sender may while it does"
                    },
                })
            }
            e => return Err(Error::sys("flock", e)),
        }
    }
}

fn is_fifo(mode: nix::libc::mode_t) -> bool {
    SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) == SFlag::S_IFIFO
}

fn check_is_fifo(fd: &OwnedFd, path: &Path) -> Result<()> {
    let st = nix::sys::stat::fstat(fd).map_err(|e| Error::sys("fstat", e))?;
    if is_fifo(st.st_mode) {
        Ok(())
    } else {
        Err(not_a_fifo(path))
    }
}

fn check_is_fifo_path(path: &Path) -> Result<()> {
    let st = nix::sys::stat::stat(path).map_err(|e| path_error("stat", path, e))?;
    if is_fifo(st.st_mode) {
        Ok(())
    } else {
        Err(not_a_fifo(path))
    }
}

fn not_a_fifo(path: &Path) -> Error {
    Error::InvalidName {
        name: path.display().to_string(),
        reason: NOT_A_FIFO,
    }
}

fn check_path(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::InvalidName {
            name: String::new(),
            reason: "the path is empty",
        });
    }
    Ok(())
}

fn path_error(op: &'static str, path: &Path, e: Errno) -> Error {
    let name = path.display().to_string();
    match e {
        Errno::EINVAL => Error::InvalidName {
            name,
            reason: "the path holds a NUL byte, or is not acceptable to the system",
        },
        Errno::ENOTDIR => Error::NotFound { what: WHAT, name },
        Errno::EMFILE | Errno::ENFILE => crate::error::new_fd_error(op, e),
        Errno::EISDIR => Error::InvalidName {
            name,
            reason: NOT_A_FIFO,
        },
        e => Error::named(op, WHAT, &name, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh path under the temp dir, named by the unit tests' rule.
    fn unique(tag: &str) -> PathBuf {
        std::env::temp_dir().join(crate::testing::unique(tag))
    }

    #[test]
    fn mode_is_applied_exactly_whatever_the_umask() {
        for mode in [0o600, 0o640, 0o666] {
            let f = Options::new().mode(mode).create(unique("mode")).unwrap();
            let st = nix::sys::stat::stat(f.path()).unwrap();
            assert_eq!(st.st_mode & 0o7777, mode);
            assert!(is_fifo(st.st_mode));
        }
    }

    #[test]
    fn guard_removes_the_fifo() {
        let f = create(unique("guard")).unwrap();
        let path = f.path().to_owned();
        assert!(path.exists());
        drop(f);
        assert!(!path.exists());
    }

    #[test]
    fn path_errors_are_typed() {
        let f = create(unique("dup")).unwrap();
        assert!(matches!(create(f.path()), Err(Error::AlreadyExists { .. })));
        let missing = unique("missing");
        assert!(matches!(
            Receiver::<u8>::open(&missing),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            Sender::<u8>::open_timeout(&missing, Duration::ZERO),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(remove(&missing), Err(Error::NotFound { .. })));
        // Refused before any system call, but inside a directory of this test's own anyway.
        let dir = crate::testing::TempDir::new("paths");
        let long = dir.join("x".repeat(300));
        assert!(matches!(create(&long), Err(Error::InvalidName { .. })));
        assert!(matches!(
            create(unique("nodir").join("f")),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(create(""), Err(Error::InvalidName { .. })));
        assert!(matches!(
            create(dir.join("nul\0byte")),
            Err(Error::InvalidName { .. })
        ));
        let too_long = dir.join("d/".repeat(3000));
        assert!(matches!(
            Receiver::<u8>::open(&too_long),
            Err(Error::InvalidName { .. })
        ));
    }

    #[test]
    fn a_regular_file_is_not_a_fifo_and_is_left_alone() {
        let path = unique("file");
        std::fs::write(&path, b"data").unwrap();
        for err in [
            Receiver::<u8>::open(&path).unwrap_err(),
            Sender::<u8>::open_timeout(&path, Duration::from_millis(50)).unwrap_err(),
            remove(&path).unwrap_err(),
        ] {
            assert!(
                matches!(&err, Error::InvalidName { reason, .. } if *reason == NOT_A_FIFO),
                "{err}"
            );
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sender_open_times_out_without_a_reader() {
        let f = create(unique("noreader")).unwrap();
        let err = Sender::<u8>::open_timeout(f.path(), Duration::from_millis(30)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
    }

    #[test]
    fn without_a_placeholder_writer_the_receiver_polls_and_is_not_disconnected_early() {
        // The fallback when the receiver may not open its FIFO for writing.
        let f = create(unique("no-placeholder")).unwrap();
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(f.path(), flags, Mode::empty()).unwrap();
        let mut rx = Receiver::<u32>::from_fifo_fd(fd, None);
        assert!(!rx.has_placeholder());
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        assert!(rx
            .recv_timeout(Duration::from_millis(20))
            .unwrap_err()
            .is_timeout());
        let mut tx = Sender::<u32>::open(f.path()).unwrap();
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().unwrap(), 1);
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn receiver_is_not_disconnected_before_a_first_writer() {
        let f = create(unique("early")).unwrap();
        let mut rx = Receiver::<u32>::open(f.path()).unwrap();
        assert!(rx.has_placeholder());
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        assert!(rx
            .recv_timeout(Duration::from_millis(20))
            .unwrap_err()
            .is_timeout());
        let err = Receiver::<u32>::open_timeout(f.path(), Duration::from_millis(20)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let mut tx = Sender::<u32>::open(f.path()).unwrap();
        // The sender's handshake is on its way: a second reader's wait ends at once.
        let rx2 = Receiver::<u32>::open_timeout(f.path(), Duration::from_secs(10)).unwrap();
        drop(rx2);
        tx.send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().unwrap(), 1);
        // The first bytes closed the placeholder: the writer's leaving is the end.
        assert!(!rx.has_placeholder());
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn big_frames_allow_one_writer_small_frames_many() {
        let f = create(unique("busy")).unwrap();
        let _rx = Receiver::<[u8; 5000]>::open(f.path()).unwrap();
        let _tx = Sender::<[u8; 5000]>::open(f.path()).unwrap();
        let err = Sender::<[u8; 5000]>::open(f.path()).unwrap_err();
        assert!(matches!(err, Error::Busy { .. }), "{err}");

        let g = create(unique("many")).unwrap();
        let mut rx = Receiver::<u64>::open(g.path()).unwrap();
        let mut a = Sender::<u64>::open(g.path()).unwrap();
        let mut b = Sender::<u64>::open(g.path()).unwrap();
        a.send(1).unwrap();
        b.send(2).unwrap();
        assert_eq!(rx.recv().unwrap(), 1);
        assert_eq!(rx.recv().unwrap(), 2);
    }
}
