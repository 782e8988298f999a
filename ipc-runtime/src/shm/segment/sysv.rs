//! The System V backing of a segment: its memory is a System V segment (`shmget(2)`),
//! named by a registry file under `/dev/shm` that carries the participants' lock bytes.

use std::os::fd::OwnedFd;
use std::ptr::NonNull;

use nix::errno::Errno;

use super::{removal, Mapping, WHAT};
use crate::error::{Error, Result};
use crate::shm::options::Options;

/// A System V segment's registry file under `/dev/shm`: this magic, then the shmid.
pub(super) const SYSV_MAGIC: &[u8; 8] = b"IPC-SYSV";
pub(super) const SYSV_REGISTRY: u64 = 16;

/// `/proc/sys/kernel/NAME`, or 0 if it cannot be read.
fn read_sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Creates a System V segment of `size` bytes, attaches it and marks it for removal
/// (`IPC_RMID`): the kernel frees it when the last process detaches, however it exits.
pub(super) fn sysv_create(size: u64, mode: u32) -> Result<(i32, Mapping)> {
    // SAFETY: plain system call; no memory is passed.
    let id = unsafe {
        libc::shmget(
            libc::IPC_PRIVATE,
            size as usize,
            libc::IPC_CREAT | libc::IPC_EXCL | mode as libc::c_int,
        )
    };
    if id < 0 {
        return Err(match Errno::last() {
            Errno::ENOSPC => Error::LimitExceeded {
                limit: "kernel.shmmni / kernel.shmall (System V segments, and their pages)",
                value: read_sysctl("shmmni"),
                hint: format!(
                    "shmget of {size} bytes failed (ENOSPC): every System V segment the \
                     system allows is taken (kernel.shmmni), or its pages would pass \
                     kernel.shmall ({}); remove unused ones (`ipcs -m`, `ipcrm -m ID`), \
                     raise them as root (`sysctl -w kernel.shmmni=N`), or use the POSIX \
                     backing",
                    read_sysctl("shmall")
                ),
            },
            Errno::EINVAL => Error::LimitExceeded {
                limit: "kernel.shmmax (bytes per System V segment)",
                value: read_sysctl("shmmax"),
                hint: format!(
                    "shmget of {size} bytes failed (EINVAL): a segment may not be that \
                     large; raise it as root (`sysctl -w kernel.shmmax=N`), or use a smaller \
                     capacity or the POSIX backing"
                ),
            },
            Errno::ENOMEM => Error::LimitExceeded {
                limit: "memory for a System V segment",
                value: size,
                hint: format!(
                    "shmget of {size} bytes failed (ENOMEM): use a smaller capacity, or \
                     free memory"
                ),
            },
            e => Error::sys("shmget", e),
        });
    }
    let map = sysv_attach_id(id);
    // Marked for removal at once: the segment lives exactly as long as someone is attached
    // (Linux lets later processes attach by id until then).
    // SAFETY: plain system call on the id we just created.
    unsafe { libc::shmctl(id, libc::IPC_RMID, core::ptr::null_mut()) };
    Ok((id, map?))
}

fn sysv_attach_id(id: i32) -> Result<Mapping> {
    // SAFETY: lets the kernel choose the address; no existing memory is affected.
    let p = unsafe { libc::shmat(id, core::ptr::null(), 0) };
    if p as isize == -1 {
        return Err(crate::error::map_error("shmat", 0, Errno::last()));
    }
    Ok(Mapping::SysV(
        NonNull::new(p.cast::<u8>()).expect("shmat never returns null"),
    ))
}

/// Attaches the System V segment a registry file names, after checking its owner, mode
/// and size (`IPC_STAT`, the System V `fstat`). Returns the mapping and its length.
pub(super) fn sysv_open(fd: &OwnedFd, opts: &Options, name: &str) -> Result<(Mapping, u64)> {
    let mut reg = [0u8; SYSV_REGISTRY as usize];
    let n = nix::sys::uio::pread(fd, &mut reg, 0).map_err(|e| Error::sys("pread", e))?;
    if n != reg.len() || &reg[..8] != SYSV_MAGIC {
        return Err(Error::Corrupt(format!(
            "`{name}` is not an ipc segment registry"
        )));
    }
    let id = i64::from_le_bytes(reg[8..].try_into().expect("8 bytes"));
    let id = i32::try_from(id).map_err(|_| Error::Corrupt(format!("bad shmid {id}")))?;
    // SAFETY: `shmid_ds` is plain integers; zeroed is a valid value to be overwritten.
    let mut ds: libc::shmid_ds = unsafe { core::mem::zeroed() };
    // SAFETY: IPC_STAT writes one `shmid_ds` into `ds`, which we own.
    if unsafe { libc::shmctl(id, libc::IPC_STAT, &mut ds) } != 0 {
        return Err(match Errno::last() {
            Errno::EINVAL | Errno::EIDRM => Error::NotFound {
                what: WHAT,
                name: name.to_owned(),
            },
            e => Error::named("shmctl(IPC_STAT)", WHAT, name, e),
        });
    }
    crate::trust::check(
        "System V segment",
        name,
        ds.shm_perm.uid,
        u32::from(ds.shm_perm.mode),
        opts.mode,
        &removal(name),
    )?;
    Ok((sysv_attach_id(id)?, ds.shm_segsz as u64))
}
