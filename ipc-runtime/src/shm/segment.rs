//! The mapping constructor: creating, opening, mapping and removing a segment, and the
//! liveness of its participants.
//!
//! # Liveness without PID guessing
//!
//! Every participant holds an open-file-description lock (`fcntl(2)` `F_OFD_SETLK`) on its
//! own byte `LOCK_BASE + i` of the segment's file, through its own open of the file. The
//! kernel drops the lock when the last descriptor of that open file description closes,
//! which happens when the process exits, however it exits (SIGKILL included). A peer is
//! therefore dead exactly when its byte can be locked (`F_OFD_GETLK` reports no
//! conflict); no PID is ever read, so a recycled or zombie PID cannot fool it. Lock bytes
//! lie far beyond the data (`LOCK_BASE` = 2^40) and never overlap the mapping.
//!
//! # Creation and removal
//!
//! The creator makes its file unnamed (`O_TMPFILE`), takes its lock byte, applies the mode
//! with `fchmod(2)` and writes the header's immutable part, the magic first; only then does
//! it give the file its name, with `linkat(2)`, which fails if the name is taken
//! (`create_named`, in `create.rs`). So every file this crate names proves itself this
//! crate's, and is held by its creator until that has published it: a creator that dies at
//! any point of `create` leaves nothing, or a file that a reclaimer removes at once. Named,
//! the creator reserves every page with `posix_fallocate(3)` (a full `/dev/shm` fails
//! `create` with [`Error::LimitExceeded`] instead of raising SIGBUS later), maps, writes
//! the rest of the header and publishes it last.
//!
//! A leaving participant that can lock the whole lock range is the last one and unlinks
//! the name (after checking the name still denotes its file), unless it is a sender of a
//! channel that still holds unread messages: then it keeps the segment for its linger and
//! writes until when in the header ([`Segment::leave`]). A segment nobody is attached to
//! is reclaimed — by [`remove_stale`], or by a `create` of the same name — only once it
//! owes no receiver a message, or its linger is over (`examine`, in `reclaim.rs`).
//!
//! # Residual risk: truncation
//!
//! The mapping length comes from `fstat(2)` at open, checked against what the header needs.
//! A POSIX segment cannot be sealed, so a peer with write access that *later* shrinks the
//! file with `ftruncate(2)` makes this process's next access to the cut pages raise SIGBUS.
//! Only a process of the same user (mode 0600 by default) can do that. The
//! [`Backing::Memfd`](super::Backing::Memfd) backing is sealed with `F_SEAL_SHRINK` and is
//! immune, and so is [`Backing::SysV`](super::Backing::SysV) (a System V segment's size is
//! fixed at `shmget(2)`). System V pages are not reserved at creation (there is no
//! `fallocate` for them): memory pressure shows as the kernel's usual out-of-memory
//! handling, not as SIGBUS.

use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::mman::shm_unlink;
use nix::sys::stat::{fstat, Mode};

use super::layout::{self, Header, Layout, SegmentKind, Shape, MAGIC};
use super::options::Options;
use super::ring::MAX_PARTICIPANTS;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::schema::SchemaTree;

mod appear;
mod create;
mod list;
mod reclaim;
mod sysv;

use appear::open_when_present;
pub use list::{list, Attached, Listed, Participant, Pattern, Role};
pub(crate) use reclaim::sweep_one;
pub use reclaim::{remove_stale, remove_stale_with_prefix, stale_with_prefix};
use sysv::{sysv_open, SYSV_MAGIC, SYSV_REGISTRY};

/// Every segment name this crate creates under `/dev/shm` starts with this.
pub(crate) const PREFIX: &str = "ipc.";
/// Where the `shm_open(3)` names live, as files.
const SHM_DIR: &str = "/dev/shm";
const LOCK_BASE: i64 = 1 << 40;
/// How long a file named like a segment that has no header and that nobody holds may go
/// unchanged before an opener reports it: no creator of this build names such a file (see
/// `create_named`, in `create.rs`), but another program, or another build of this crate,
/// may still be writing it.
const UNPROVEN_GRACE_SECS: i64 = 10;
const WHAT: &str = "shared-memory segment";

/// A mapped segment and this process's participation in it.
#[derive(Debug)]
pub(crate) struct Segment {
    map: Mapping,
    fd: OwnedFd,
    /// The `shm_open` name (`/ipc.<name>`) to unlink when the last participant leaves.
    shm_name: Option<String>,
    /// The user's name, for error messages.
    name: String,
    len: u64,
    /// This process holds a lock byte (it created the segment or joined it): only such a
    /// participant removes the name when it leaves.
    joined: bool,
}

/// What a participant that leaves last does with the segment's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Remove it, with whatever the segment holds.
    No,
    /// Keep it for a receiver until this deadline ([`layout::Lifecycle::linger_until`]).
    Until(u64),
}

/// What became of the segment when a participant left ([`Segment::leave`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Left {
    /// Others are attached (or, for a memfd, may still join through a descriptor): the
    /// segment lives on.
    Attached,
    /// This participant was the last and kept the segment (see [`Keep::Until`]).
    Kept,
    /// This participant was the last and removed the segment's name: nobody can join it
    /// any more, and its memory goes with the last mapping.
    Removed,
}

/// Checks a user-given name and returns the `shm_open` name for it.
pub(crate) fn shm_name(name: &str) -> Result<String> {
    let bad = |reason| Error::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("a segment name must not be empty"));
    }
    if name.len() > 200 {
        return Err(bad("a segment name may have at most 200 bytes"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(bad(
            "a segment name may contain only ASCII letters, digits, '.', '_' and '-'",
        ));
    }
    Ok(format!("/{PREFIX}{name}"))
}

fn lock_range(kind: libc::c_int, range: Range<usize>) -> libc::flock {
    libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: LOCK_BASE + range.start as i64,
        l_len: (range.end - range.start) as i64,
        l_pid: 0,
    }
}

/// Tries to take the OFD write lock on `range` through `fd`; false if another open file
/// description holds any of it.
fn try_lock(fd: impl AsFd, range: Range<usize>) -> Result<bool> {
    let fl = lock_range(libc::F_WRLCK, range);
    match fcntl(fd, FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN | Errno::EACCES) => Ok(false),
        Err(e) => Err(Error::sys("fcntl(F_OFD_SETLK)", e)),
    }
}

// Liveness probes this thread made (`F_OFD_GETLK` calls), for the tests that check
// which paths make none.
#[cfg(test)]
thread_local! {
    pub(crate) static PROBES: core::cell::Cell<u64> = const { core::cell::Cell::new(0) };
}

/// Counts a liveness probe (tests only).
#[inline]
fn probing() {
    #[cfg(test)]
    PROBES.with(|p| p.set(p.get() + 1));
}

/// True if another open file description holds a lock on some byte of `range`.
fn is_locked(fd: impl AsFd, range: Range<usize>) -> bool {
    probing();
    let mut fl = lock_range(libc::F_WRLCK, range);
    match fcntl(fd, FcntlArg::F_OFD_GETLK(&mut fl)) {
        Ok(_) => fl.l_type != libc::F_UNLCK as libc::c_short,
        // Cannot tell: say alive, so nothing is removed or skipped on a guess.
        Err(_) => true,
    }
}

/// The index of a byte of `range` on which another open file description holds a lock
/// (one of them, if several do), and how many bytes that lock covers; `None` if none does
/// (or the question fails).
fn locked_at(fd: impl AsFd, range: Range<usize>) -> Option<(usize, usize)> {
    probing();
    let mut fl = lock_range(libc::F_WRLCK, range.clone());
    match fcntl(fd, FcntlArg::F_OFD_GETLK(&mut fl)) {
        Ok(_) if fl.l_type != libc::F_UNLCK as libc::c_short => {
            let first = range.start as i64;
            let end = range.end as i64;
            let start = (fl.l_start - LOCK_BASE).clamp(first, end - 1);
            let len = if fl.l_len <= 0 { end - start } else { fl.l_len };
            Some((start as usize, len.max(1) as usize))
        }
        _ => None,
    }
}

/// Appends the participants of `range` other than this open file description that hold
/// their lock byte to `live`, in order; false if a lock covers several.
fn live_in(fd: &OwnedFd, range: Range<usize>, live: &mut Vec<usize>) -> bool {
    if range.is_empty() {
        return true;
    }
    match locked_at(fd, range.clone()) {
        None => true,
        Some((_, len)) if len > 1 => false,
        Some((i, _)) => {
            let before = live_in(fd, range.start..i, live);
            live.push(i);
            before && live_in(fd, i + 1..range.end, live)
        }
    }
}

/// How many participants of `range` other than this open file description hold their
/// lock byte: one `F_OFD_GETLK` per participant found, and one per gap between them.
fn count_locked(fd: &OwnedFd, range: Range<usize>) -> u32 {
    if range.is_empty() {
        return 0;
    }
    match locked_at(fd, range.clone()) {
        None => 0,
        // A lock over several bytes is a leaving participant or a reclaimer holding the
        // whole range for a moment: one holder.
        Some((_, len)) if len > 1 => 1,
        Some((i, _)) => 1 + count_locked(fd, range.start..i) + count_locked(fd, i + 1..range.end),
    }
}

fn map(fd: &OwnedFd, len: u64) -> Result<Mapping> {
    map_through(fd, fd, len)
}

/// [`map`] of the file `fd` holds, mapped through `via`, another open of the same file
/// (the system names a mapping after the open it was made through); `fd` is the one
/// that stays open as long as the mapping, which the protection against shrinking needs.
fn map_through(via: &OwnedFd, fd: &OwnedFd, len: u64) -> Result<Mapping> {
    let raw = MmapOptions::new()
        .len(len as usize)
        .map_raw(via.as_raw_fd())
        .map_err(|e| match e.raw_os_error() {
            Some(n) => crate::error::map_error("mmap", len, Errno::from_raw(n)),
            None => Error::Io {
                op: "mmap",
                source: e,
            },
        })?;
    // Before anything reads it: a file shrunk under the mapping from now on costs a typed
    // error, not the process (see `sigbus.rs`).
    let protection = super::sigbus::protect(raw.as_mut_ptr(), raw.len(), fd.as_raw_fd());
    Ok(Mapping::Mmap(protection, raw))
}

/// The memory of a segment: an `mmap(2)` of the file, or a System V segment attached with
/// `shmat(2)`.
#[derive(Debug)]
enum Mapping {
    /// A mapping of the file, protected against its shrinking (the protection drops, and
    /// deregisters, before the mapping is unmapped).
    Mmap(super::sigbus::Protection, MmapRaw),
    SysV(NonNull<u8>),
}

// SAFETY: a mapping is plain shared memory, usable from any thread; `shmdt` on drop may
// run on any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above; the mapping itself is never mutated through `&Mapping`.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn as_ptr(&self) -> *mut u8 {
        match self {
            Mapping::Mmap(_, m) => m.as_mut_ptr(),
            Mapping::SysV(p) => p.as_ptr(),
        }
    }

    /// True once the file was shrunk under the mapping (a fault was repaired).
    fn shrunk(&self) -> bool {
        matches!(self, Mapping::Mmap(p, _) if p.hit())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if let Mapping::SysV(p) = self {
            // SAFETY: `p` is the address `shmat` returned for this mapping, detached once.
            unsafe { libc::shmdt(p.as_ptr().cast()) };
        }
    }
}

impl Segment {
    /// Opens and maps an existing named segment (not yet joined). Waits until `until`
    /// for it to appear if it does not exist yet (`Wait::Now`: not at all), and for a
    /// creator that has not finished initialising it.
    ///
    /// A file whose creator died while creating it is, to an `open` that may wait, a name
    /// not yet created: it waits (as long as `until` allows) for a `create` to reclaim the
    /// name and make it anew; one that may not wait says at once what happened.
    pub(crate) fn open(name: &str, opts: &Options, until: &Wait) -> Result<Segment> {
        let shm = shm_name(name)?;
        crate::reclaim::sweep(Some(name));
        let waits = matches!(until, Wait::Until(..) | Wait::Forever);
        loop {
            let fd = open_when_present(&shm, name, until)?;
            let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
            let init = opts.init_wait(until);
            match Self::attach_found(fd, Some(shm.clone()), name, opts, &init)? {
                Some(seg) => return Ok(seg),
                None if !waits || until.is_over() => return Err(dead_creator(name)),
                None => appear::wait_replaced(&shm, &st, until)?,
            }
        }
    }

    /// Maps a segment received as a descriptor (memfd backing). The descriptor must be
    /// this process's own open file description (see `share_fd`).
    pub(crate) fn from_fd(fd: OwnedFd, opts: &Options) -> Result<Segment> {
        let seals =
            fcntl(&fd, FcntlArg::F_GET_SEALS).map_err(|e| Error::sys("fcntl(F_GET_SEALS)", e))?;
        if seals & libc::F_SEAL_SHRINK == 0 {
            return Err(Error::Corrupt(
                "the descriptor is not a memfd sealed against shrinking (F_SEAL_SHRINK); \
                 refusing it, since shrinking it under the mapping would raise SIGBUS"
                    .into(),
            ));
        }
        Self::attach(fd, None, "<memfd>", opts, &opts.init_wait(&Wait::Now))
    }

    /// Maps the segment file open as `fd`, once its creator has published it (waiting as
    /// `wait` allows).
    fn attach(
        fd: OwnedFd,
        shm_name: Option<String>,
        name: &str,
        opts: &Options,
        wait: &Wait,
    ) -> Result<Segment> {
        Self::attach_found(fd, shm_name, name, opts, wait)?.ok_or_else(|| dead_creator(name))
    }

    /// [`Segment::attach`], or `None` for a file whose creator died while creating it.
    fn attach_found(
        fd: OwnedFd,
        shm_name: Option<String>,
        name: &str,
        opts: &Options,
        wait: &Wait,
    ) -> Result<Option<Segment>> {
        let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
        crate::trust::check_stat(WHAT, name, &st, opts.mode, &removal(name))?;
        let header = size_of::<Header>() as u64;
        loop {
            let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
            let mut len = st.st_size.max(0) as u64;
            let mapped = if len == SYSV_REGISTRY {
                let (m, l) = sysv_open(&fd, opts, name)?;
                len = l;
                Some(m).filter(|_| len >= header)
            } else if len >= header {
                Some(map(&fd, len)?)
            } else {
                None
            };
            // Whether the file carries the magic (`remove_stale` removes only such files).
            let mut has_magic = false;
            if let Some(map) = mapped {
                // SAFETY: the mapping is `len >= size_of::<Header>()` bytes, page-aligned.
                let meta = unsafe { layout::read_meta(map.as_ptr()) };
                has_magic = meta.magic == MAGIC;
                if meta.magic != 0 && meta.magic != MAGIC {
                    return Err(Error::Corrupt(format!(
                        "`{name}` is not an ipc segment (bad magic {:#018x})",
                        meta.magic
                    )));
                }
                // SAFETY: as above; the mapping lives in `map` for this scope.
                let ready = layout::is_ready(unsafe { layout::header(map.as_ptr()) });
                if ready {
                    return Ok(Some(Segment {
                        map,
                        fd,
                        shm_name,
                        name: name.to_owned(),
                        len,
                        joined: false,
                    }));
                }
            }
            // Not ready. A creator names its file only once the file has the magic and
            // the creator's lock byte, which it holds until it has published the segment
            // (`create_named`): with the magic and nobody's lock, its creator died.
            let locked = is_locked(&fd, 0..MAX_PARTICIPANTS);
            if has_magic && !locked {
                return Ok(None);
            }
            // Without the magic nothing proves the file a segment (another program may be
            // writing it): it is reported once it has not changed for a while.
            let unproven = || {
                Error::Corrupt(format!(
                    "`/dev/shm/{PREFIX}{name}` has no segment header and nobody holds it: \
                     nothing proves it a segment of this crate, so neither `create` nor \
                     remove_stale() removes it; if no program uses it, remove it with \
                     `rm /dev/shm/{PREFIX}{name}`"
                ))
            };
            if !locked && age_secs(&st) >= UNPROVEN_GRACE_SECS {
                return Err(unproven());
            }
            if wait.is_over() {
                if !locked {
                    return Err(unproven());
                }
                return Err(Error::Corrupt(format!(
                    "segment `{name}` was not initialised within {:?}: its creator is alive \
                     and still creating it (raise Options::open_timeout to wait longer)",
                    opts.init_timeout()
                )));
            }
            crate::shutdown::check_shutdown()?;
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Joins as a participant: takes the first free lock byte in `range`.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] if every byte of the range is held by a live participant;
    /// [`Error::NotFound`] if the name was removed, or now names another segment, since
    /// this segment was opened; [`Error::LimitExceeded`] if the process is out of
    /// descriptors for its doorbell socket ([`crate::sync::bell::ready`]).
    pub(crate) fn join(&mut self, range: Range<usize>, reason: &'static str) -> Result<usize> {
        // Channel and topic ends join: they may ring an async peer's doorbell later.
        crate::sync::bell::ready()?;
        let wait = Wait::timeout(Duration::from_millis(100));
        loop {
            for i in range.clone() {
                if try_lock(&self.fd, i..i + 1)? {
                    self.joined = true;
                    self.check_still_named()?;
                    return Ok(i);
                }
            }
            // A lock over several places is not a participant's: a reclaimer (another
            // process's sweep) or a leaving last participant holds the whole range for
            // the moment it decides. Wait for it rather than report the segment full.
            match locked_at(&self.fd, range.clone()) {
                Some((_, len)) if len > 1 && !wait.is_over() => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                _ => break,
            }
        }
        Err(Error::Busy {
            what: WHAT,
            name: self.name.clone(),
            reason,
        })
    }

    /// After joining: fails if the name was unlinked (by a last participant leaving) between
    /// our open and our lock, so nobody joins a segment that no one else can find.
    fn check_still_named(&self) -> Result<()> {
        let Some(shm) = &self.shm_name else {
            return Ok(());
        };
        let path = format!("/dev/shm{shm}");
        let mine = fstat(&self.fd).map_err(|e| Error::sys("fstat", e))?;
        match nix::sys::stat::stat(path.as_str()) {
            Ok(st) if st.st_ino == mine.st_ino && st.st_dev == mine.st_dev => Ok(()),
            _ => Err(Error::NotFound {
                what: WHAT,
                name: self.name.clone(),
            }),
        }
    }

    /// Releases participant `me`'s lock byte (this end's): from now on its peers find it
    /// gone. [`Segment::leave`] still decides who is the last to leave.
    pub(crate) fn release(&self, me: usize) {
        if self.joined {
            let _ = fcntl(
                &self.fd,
                FcntlArg::F_OFD_SETLK(&lock_range(libc::F_UNLCK, me..me + 1)),
            );
        }
    }

    /// True if participant `i` holds its lock byte (is alive).
    pub(crate) fn alive(&self, i: usize) -> bool {
        is_locked(&self.fd, i..i + 1)
    }

    /// True if some participant in `range` is alive.
    pub(crate) fn any_alive(&self, range: Range<usize>) -> bool {
        is_locked(&self.fd, range)
    }

    /// The participants in `range` other than this one that are alive, in order: one
    /// system call per participant found and one per gap. None if some lock covers several
    /// participants (one is leaving, or a reclaimer holds them all for a moment): who is
    /// alive is then unknown.
    pub(crate) fn live_in(&self, range: Range<usize>) -> Option<Vec<usize>> {
        let mut live = Vec::new();
        live_in(&self.fd, range, &mut live).then_some(live)
    }

    /// How many participants in `range` other than this one are alive (a system call per
    /// participant found, and one per gap).
    pub(crate) fn count_alive(&self, range: Range<usize>) -> u32 {
        count_locked(&self.fd, range)
    }

    /// The base of the mapping (page-aligned).
    pub(crate) fn base(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    /// [`Error::Corrupt`] once the segment's file was shrunk under this process's mapping
    /// (see `sigbus.rs`): what this end maps is no longer shared with its peers. Ends look
    /// where they wait and probe their peers.
    pub(crate) fn intact(&self) -> Result<()> {
        if !self.shrunk() {
            return Ok(());
        }
        Err(Error::Corrupt(format!(
            "the shared memory of `{}` was shrunk under this process (another process \
             truncated its file): this end no longer shares it with its peers, and what it \
             held is lost; drop the end, remove the channel and create it again",
            self.name
        )))
    }

    /// Reads the header and checks it against `P` and `kind` ([`layout::Meta::check`]),
    /// naming the first field that differs from the peer's schema on a mismatch.
    pub(crate) fn check<P: ?Sized + Payload>(&self, kind: SegmentKind) -> Result<(Layout, Shape)> {
        // SAFETY: every segment is mapped with at least a header's bytes.
        let meta = unsafe { layout::read_meta(self.base()) };
        // SAFETY: the mapping is `self.len()` bytes long (`fstat`).
        let theirs = unsafe { layout::read_schema(self.base(), &meta, self.len()) };
        meta.check::<P>(kind, self.len(), theirs.as_deref())
    }

    /// As [`Segment::check`], for a segment whose type this process does not know: the
    /// shape comes from the header, vouched for by the schema the segment carries.
    pub(crate) fn check_any(&self, kind: SegmentKind) -> Result<(Layout, Shape, SchemaTree)> {
        // SAFETY: as in `check`.
        let meta = unsafe { layout::read_meta(self.base()) };
        // SAFETY: as in `check`.
        let theirs = unsafe { layout::read_schema(self.base(), &meta, self.len()) };
        meta.check_any(kind, self.len(), theirs.as_deref())
    }

    /// Writes `schema`, the encoded tree the header of a segment this process just created
    /// made room for, after that header (creator only, before READY).
    pub(crate) fn write_schema(&self, schema: &[u8]) {
        // SAFETY: every segment is mapped with at least a header's bytes.
        let meta = unsafe { layout::read_meta(self.base()) };
        assert!(
            u64::from(meta.schema_len) == schema.len() as u64
                && (size_of::<Header>() + schema.len()) as u64 <= self.len(),
            "the schema fits the room its header made"
        );
        // SAFETY: the mapping is `self.len()` bytes long, which cover the header and the
        // schema after it (asserted above); nobody reads them before READY is published.
        unsafe { layout::write_schema(self.base(), schema) };
    }

    /// True once the segment's file was shrunk under this process's mapping.
    pub(crate) fn shrunk(&self) -> bool {
        self.map.shrunk()
            || self
                .header()
                .state
                .state
                .load(core::sync::atomic::Ordering::Relaxed)
                == super::sigbus::SHRUNK
    }

    /// The mapped length (from `fstat`, never from the header).
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The header's atomics.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: every segment is mapped with at least `size_of::<Header>()` bytes
        // (create sizes it so; attach checks it), page-aligned, for as long as `self`.
        unsafe { layout::header(self.base()) }
    }

    /// A new open file description of the same file (not close-on-exec cleared: the
    /// caller decides), for handing to a child process or over a Unix socket. It holds no
    /// lock, so the receiving process can join through it.
    /// The same segment opened again (its own open file description, so that it can hold
    /// a lock byte of its own), not yet joined: for another participant in this process.
    pub(crate) fn duplicate(&self, opts: &Options) -> Result<Segment> {
        let fd = self.share_fd()?;
        Self::attach(fd, self.shm_name.clone(), &self.name, opts, &Wait::Now)
    }

    pub(crate) fn share_fd(&self) -> Result<OwnedFd> {
        let path = format!("/proc/self/fd/{}", self.fd.as_raw_fd());
        let fd = nix::fcntl::open(
            path.as_str(),
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys("open(/proc/self/fd)", e))?;
        Ok(fd)
    }
}

impl Segment {
    /// Leaves the segment (once: dropping it afterwards only unmaps and closes). If this
    /// participant was the last, `last` is asked, while this process holds every lock
    /// byte (so nobody joins meanwhile, and what the header says is final), whether to
    /// keep the segment for a receiver; if it says no, or the segment cannot outlive its
    /// processes (a System V segment goes with its last detach), the name is removed.
    /// A memfd has no name, and a participant that never joined removes nothing: both
    /// return [`Left::Attached`] without asking.
    pub(crate) fn leave(&mut self, last: impl FnOnce(&Header) -> Keep) -> Left {
        if !self.joined {
            return Left::Attached;
        }
        let Some(shm) = self.shm_name.take() else {
            return Left::Attached;
        };
        // Leave first: release our own lock bytes, so that of two participants dropping
        // at the same moment, the second to release always finds the range free (if each
        // tried while still holding its own byte, both could fail and the name would be
        // left behind).
        let _ = fcntl(
            &self.fd,
            FcntlArg::F_OFD_SETLK(&lock_range(libc::F_UNLCK, 0..MAX_PARTICIPANTS)),
        );
        // The last one out (nobody else holds any lock byte) removes the name or keeps
        // it; holding the whole range while it decides keeps a concurrent opener from
        // joining.
        if !matches!(try_lock(&self.fd, 0..MAX_PARTICIPANTS), Ok(true)) {
            return Left::Attached;
        }
        let keep = last(self.header());
        if let (Keep::Until(until), Mapping::Mmap(..)) = (keep, &self.map) {
            self.header()
                .state
                .linger_until
                .store(until.max(1), core::sync::atomic::Ordering::SeqCst);
            return Left::Kept;
        }
        if self.check_still_named().is_ok() {
            let _ = shm_unlink(shm.as_str());
        }
        Left::Removed
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // A participant that did not leave explicitly (a receiver, a shared value, a
        // segment half made) removes the name if it is the last.
        self.leave(|_| Keep::No);
    }
}

/// Whole seconds since the file `st` describes last changed (0 if the clock is before
/// 1970).
fn age_secs(st: &libc::stat) -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|now| now.as_secs() as i64 - st.st_ctime.max(st.st_mtime))
        .unwrap_or(0)
}

/// How to remove the segment `name`, for errors.
fn removal(name: &str) -> String {
    format!(
        "`ipc::shm::remove_stale()` once nobody uses it, or `rm /dev/shm/{PREFIX}{name}` as \
         its owner or root"
    )
}

/// The error of an open that finds `name`'s file left by a creator that died while
/// creating it.
fn dead_creator(name: &str) -> Error {
    Error::Corrupt(format!(
        "segment `{name}` was never initialised and nobody is attached: its creator died \
         while creating it; the next `create` or `open_or_create` of the name reclaims it, \
         and so does ipc::shm::remove_stale() (an open with Options::open_timeout waits \
         for that)"
    ))
}
