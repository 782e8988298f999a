//! Making a segment: its file, named only once it proves itself this crate's and is held
//! by its creator ([`create_named`]), its pages reserved, and the three backings (a POSIX
//! name, a `memfd`, a System V segment named by a registry file). See the parent
//! module's "Creation and removal".

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag, SealFlag};
use nix::sys::mman::shm_unlink;
use nix::sys::stat::{fchmod, Mode};

use super::reclaim::reclaim;
use super::sysv::{sysv_create, SYSV_MAGIC, SYSV_REGISTRY};
use super::{map, map_through, shm_name, try_lock, Segment, PREFIX, SHM_DIR, WHAT};
use crate::error::{Error, Result};
use crate::shm::layout::{self, Header, Meta};
use crate::shm::options::{Backing, Options};

impl Segment {
    /// Creates a segment of `meta.total_size` bytes whose header's immutable part is
    /// `meta`, zero-filled but for that, with this process holding lock byte `me`. The
    /// caller writes the schema ([`Segment::write_schema`]) and the rest of the header and
    /// publishes it with [`layout::set_ready`].
    pub(crate) fn create(name: &str, opts: &Options, meta: Meta, me: usize) -> Result<Segment> {
        // What crashed processes of this user left (see `crate::reclaim`).
        crate::reclaim::sweep(None);
        match opts.backing {
            Backing::Posix => Self::create_posix(name, opts, meta, me),
            Backing::Memfd => Self::create_memfd(name, opts, meta, me),
            Backing::SysV => Self::create_sysv(name, opts, meta, me),
        }
    }

    /// The segment this process just made, mapped as `map` and held through `fd`.
    fn made(
        map: super::Mapping,
        fd: OwnedFd,
        shm_name: Option<String>,
        name: &str,
        len: u64,
    ) -> Segment {
        Segment {
            map,
            fd,
            shm_name,
            name: name.to_owned(),
            len,
            joined: true,
        }
    }

    fn create_sysv(name: &str, opts: &Options, meta: Meta, me: usize) -> Result<Segment> {
        let size = meta.total_size;
        // The registry file under /dev/shm gives the segment its name and carries the
        // participants' liveness locks; the memory is the System V segment it names, which
        // has its header's immutable part before the registry names it.
        let (shm, fd, guard, map) = create_named(name, opts, me, |fd| {
            let (id, map) = sysv_create(size, opts.mode)?;
            // SAFETY: the System V segment is attached writable in `map` with its `size`
            // bytes, which hold a header (`Layout` sized it); nobody else has it yet.
            unsafe { layout::write_meta(map.as_ptr(), meta) };
            let mut reg = [0u8; SYSV_REGISTRY as usize];
            reg[..8].copy_from_slice(SYSV_MAGIC);
            reg[8..].copy_from_slice(&i64::from(id).to_le_bytes());
            write_all_at(fd, &reg, SYSV_REGISTRY)?;
            Ok(map)
        })?;
        guard.disarm();
        Ok(Segment::made(map, fd, Some(shm), name, size))
    }

    fn create_posix(name: &str, opts: &Options, meta: Meta, me: usize) -> Result<Segment> {
        let size = meta.total_size;
        // Named with its header's immutable part, and so its magic, already in it; its
        // pages are reserved once it has its name, so that a creator that loses a race
        // for the name reserves nothing.
        let (shm, fd, guard, ()) = create_named(name, opts, me, |fd| write_stub(fd, meta))?;
        reserve(&fd, size)?;
        let map = map_through(&by_name(&shm, &fd)?, &fd, size)?;
        guard.disarm();
        Ok(Segment::made(map, fd, Some(shm), name, size))
    }

    fn create_memfd(name: &str, opts: &Options, meta: Meta, me: usize) -> Result<Segment> {
        let size = meta.total_size;
        shm_name(name)?;
        let cname = CString::new(format!("{PREFIX}{name}")).map_err(|_| Error::InvalidName {
            name: name.to_owned(),
            reason: "a segment name must not contain NUL",
        })?;
        let fd = nix::sys::memfd::memfd_create(
            cname.as_c_str(),
            nix::sys::memfd::MFdFlags::MFD_CLOEXEC | nix::sys::memfd::MFdFlags::MFD_ALLOW_SEALING,
        )
        .map_err(|e| Error::sys("memfd_create", e))?;
        if !try_lock(&fd, me..me + 1)? {
            return Err(Error::Corrupt("fresh memfd is already locked".into()));
        }
        fchmod(&fd, Mode::from_bits_truncate(opts.mode as libc::mode_t))
            .map_err(|e| Error::sys("fchmod", e))?;
        write_stub(&fd, meta)?;
        reserve(&fd, size)?;
        fcntl(
            &fd,
            FcntlArg::F_ADD_SEALS(
                SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
            ),
        )
        .map_err(|e| Error::sys("fcntl(F_ADD_SEALS)", e))?;
        let map = map(&fd, size)?;
        Ok(Segment::made(map, fd, None, name, size))
    }
}

/// Reserves the pages of `fd` up to `size`.
fn reserve(fd: &OwnedFd, size: u64) -> Result<()> {
    match nix::fcntl::posix_fallocate(fd, 0, size as libc::off_t) {
        Ok(()) => Ok(()),
        Err(Errno::ENOSPC) => Err(Error::dev_shm_full(size)),
        Err(Errno::EFBIG) => Err(Error::LimitExceeded {
            limit: "maximum file size",
            value: size,
            hint: "use a smaller capacity".into(),
        }),
        Err(Errno::EOPNOTSUPP | Errno::EINVAL) => {
            nix::unistd::ftruncate(fd, size as libc::off_t).map_err(|e| Error::sys("ftruncate", e))
        }
        Err(e) => Err(Error::sys("posix_fallocate", e)),
    }
}

/// Writes `bytes` at the start of the new segment file `fd` (a segment of `size` bytes,
/// for the error when `/dev/shm` is full).
fn write_all_at(fd: &OwnedFd, bytes: &[u8], size: u64) -> Result<()> {
    match nix::sys::uio::pwrite(fd, bytes, 0) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(_) => Err(Error::sys("pwrite", Errno::EIO)),
        Err(Errno::ENOSPC | Errno::EDQUOT) => Err(Error::dev_shm_full(size)),
        Err(e) => Err(Error::sys("pwrite", e)),
    }
}

/// Writes the header's immutable part `meta`, its magic first, into the new segment file
/// `fd` and makes the file a header long: from then on the file proves itself this crate's
/// segment (see `reclaim::identify`). Its pages are reserved afterwards ([`reserve`]).
fn write_stub(fd: &OwnedFd, meta: Meta) -> Result<()> {
    write_all_at(fd, &meta.to_bytes(), meta.total_size)?;
    nix::unistd::ftruncate(fd, size_of::<Header>() as libc::off_t)
        .map_err(|e| Error::sys("ftruncate", e))
}

/// The file `fd` (made unnamed, now named `shm`) opened again by its name, to map: the
/// system names a mapping, in `/proc/PID/maps` and the tools that read it, after the
/// open file it was made through, and the unnamed one's name is `/dev/shm/#INODE
/// (deleted)`. `fd` keeps the creator's lock (a lock belongs to its open file).
fn by_name(shm: &str, fd: &OwnedFd) -> Result<OwnedFd> {
    let named = nix::sys::mman::shm_open(
        shm,
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("shm_open", e))?;
    let (a, b) = (
        nix::sys::stat::fstat(fd).map_err(|e| Error::sys("fstat", e))?,
        nix::sys::stat::fstat(&named).map_err(|e| Error::sys("fstat", e))?,
    );
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        return Err(Error::Corrupt(format!(
            "the name `{shm}` was given to another file while its segment was being created"
        )));
    }
    Ok(named)
}

/// Unlinks the name of a segment this process created if the creation fails.
struct UnlinkOnError(Option<String>);

/// Makes the file of a new segment and gives it the name `name` (its `shm_open` name and
/// the guard are returned, and what `prove` returned), so that whoever finds the name
/// finds a file that proves itself this crate's and is held by its creator until that
/// dies:
///
/// 1. the file is made unnamed (`open(2)` with `O_TMPFILE` in `/dev/shm`);
/// 2. participant `me`'s lock byte is taken, and the mode set exactly (`fchmod`, so that
///    the umask cannot change it);
/// 3. `prove` writes what identifies the file (a segment's header, or a System V
///    registry; see `reclaim::identify`);
/// 4. only then is it linked under its name (`linkat(2)`), which fails if the name is
///    taken.
///
/// A creator that dies before the link leaves nothing behind; one that dies after it leaves
/// a file with its proof and nobody's lock, which a reclaimer removes at once (`examine`,
/// in `reclaim.rs`). The guard unlinks the name if the caller fails before disarming it.
///
/// A name that is taken fails with [`Error::AlreadyExists`] before the file is made,
/// unless it is a segment this user's processes abandoned: that is reclaimed first (see
/// `examine` in `reclaim.rs`), but not one that still owes a receiver messages within
/// its linger.
fn create_named<T>(
    name: &str,
    opts: &Options,
    me: usize,
    prove: impl FnOnce(&OwnedFd) -> Result<T>,
) -> Result<(String, OwnedFd, UnlinkOnError, T)> {
    let shm = shm_name(name)?;
    let path = format!("{SHM_DIR}{shm}");
    let uid = nix::unistd::geteuid().as_raw();
    let taken = || nix::sys::stat::lstat(path.as_str()).is_ok();
    let already = || Error::AlreadyExists {
        what: WHAT,
        name: name.to_owned(),
    };
    // A taken name costs no work (`open_or_create` tries `create` first).
    let mut reclaimed = false;
    if taken() {
        reclaimed = true;
        reclaim(&shm, Some(uid));
        if taken() {
            return Err(already());
        }
    }
    let mode = Mode::from_bits_truncate(opts.mode as libc::mode_t);
    let fd = nix::fcntl::open(
        SHM_DIR,
        OFlag::O_TMPFILE | OFlag::O_RDWR | OFlag::O_CLOEXEC,
        mode,
    )
    .map_err(|e| Error::named("open(/dev/shm, O_TMPFILE)", WHAT, name, e))?;
    if !try_lock(&fd, me..me + 1)? {
        return Err(Error::Corrupt(
            "a fresh unnamed segment file is already locked".into(),
        ));
    }
    fchmod(&fd, mode).map_err(|e| Error::sys("fchmod", e))?;
    let proved = prove(&fd)?;
    // The unnamed file is linked through its `/proc` entry (`AT_EMPTY_PATH` would need
    // CAP_DAC_READ_SEARCH); AT_SYMLINK_FOLLOW links the file the entry denotes.
    let proc_path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    loop {
        match nix::unistd::linkat(
            nix::fcntl::AT_FDCWD,
            proc_path.as_str(),
            nix::fcntl::AT_FDCWD,
            path.as_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
        ) {
            Ok(()) => break,
            // Another creator named its segment since we looked: reclaimed if abandoned
            // (at most once per `create`, as above).
            Err(Errno::EEXIST) if !reclaimed => {
                reclaimed = true;
                reclaim(&shm, Some(uid));
            }
            Err(Errno::EEXIST) => return Err(already()),
            Err(Errno::ENOENT) => return Err(Error::sys("linkat(/proc/self/fd)", Errno::ENOENT)),
            Err(e) => return Err(Error::named("linkat", WHAT, name, e)),
        }
    }
    let guard = UnlinkOnError(Some(shm.clone()));
    Ok((shm, fd, guard, proved))
}

impl UnlinkOnError {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for UnlinkOnError {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = shm_unlink(name.as_str());
        }
    }
}
