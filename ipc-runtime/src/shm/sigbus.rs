//! Surviving a segment file shrunk under a live mapping.
//!
//! A process with write access to a named segment's file can `ftruncate` it while peers
//! have it mapped; their next access past the new end raises `SIGBUS`, which kills a
//! process by default. Memfd segments are sealed against shrinking and System V segments
//! cannot shrink, but a file under `/dev/shm` can be neither sealed nor locked against it.
//! So every mapping of a segment file is registered here, and the first registration
//! installs a `SIGBUS` handler (once per process, keeping the handler it replaces). When
//! a fault lies in a registered mapping, the handler gives the file its length back
//! (`ftruncate`, through the descriptor registered with the mapping): the vanished pages
//! come back as zeros, shared by every process again, so the peers' futex wake-ups still
//! reach their sleepers; it writes [`SHRUNK`] over the header's state word, marks the
//! mapping *hit*, and returns: the access that faulted runs again and reads zeros. Where
//! the file cannot be lengthened, it maps private zero pages over the rest of the mapping
//! instead (`mmap(MAP_FIXED | MAP_ANONYMOUS)`), which only this process sees.
//!
//! Every end of the segment, in any process, looks at the state word (and this process
//! at the mark) where it waits and probes its peers, and from then on returns
//! [`Error::Corrupt`](crate::Error::Corrupt): what the segment held is gone. Until an end
//! looks (at the latest when it waits), what it reads from those pages is zeros, which
//! for the ring are empty slots and for a payload a value of the type (a peer with write
//! access can always make honest peers read wrong values of valid types; it can no
//! longer kill them).
//!
//! A fault outside every registered mapping is not ours: the handler passes it to the
//! handler it replaced, or, if that was the default, restores the default and returns, so
//! that the access faults again and the process dies as it would have without this
//! module.
//!
//! The registry is a fixed array of slots read by the handler without a lock (atomics
//! only: the handler may interrupt a registration on its own thread). A mapping is
//! deregistered before it is unmapped. Beyond [`SLOTS`] mappings at once, a new mapping is
//! not protected (and a shrunk file kills the process, as before).

use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where a segment header's state word lies
/// ([`offsets::STATE`](super::layout::offsets::STATE)).
const STATE_OFFSET: usize = super::layout::offsets::STATE;

/// What the handler writes in the state word of a segment whose file it lengthened
/// again: anything but `READY`, which ends read as "corrupt" at their next look.
pub(crate) const SHRUNK: u32 = 0x5348_524b;

/// Mappings protected at once.
pub(crate) const SLOTS: usize = 1024;

struct Slot {
    /// The mapping's first byte; 0 while the slot is free.
    base: AtomicUsize,
    len: AtomicUsize,
    /// The file's descriptor (open read-write while the mapping lives).
    fd: AtomicI32,
    /// A fault in it was repaired with zero pages.
    hit: AtomicBool,
    /// The slot is taken (set before `base`, cleared after it).
    taken: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the array, not shared
const FREE: Slot = Slot {
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    fd: AtomicI32::new(-1),
    hit: AtomicBool::new(false),
    taken: AtomicBool::new(false),
};

static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];

/// Whether the handler is installed (decided once per process).
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The page size and the handler this module replaced, as the signal handler reads them:
/// set before the handler is installed, never changed after.
static HANDLER_DATA: OnceLock<(usize, libc::sigaction)> = OnceLock::new();

/// The protection of one mapping; dropping it deregisters the mapping (drop it before
/// unmapping).
#[derive(Debug)]
pub(crate) struct Protection {
    slot: Option<usize>,
}

impl Protection {
    /// True once a fault in the mapping was repaired: its file was shrunk under it.
    pub(crate) fn hit(&self) -> bool {
        self.slot
            .is_some_and(|i| REGISTRY[i].hit.load(Ordering::Acquire))
    }
}

impl Drop for Protection {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let s = &REGISTRY[i];
            s.base.store(0, Ordering::Release);
            s.len.store(0, Ordering::Release);
            s.fd.store(-1, Ordering::Release);
            s.hit.store(false, Ordering::Release);
            s.taken.store(false, Ordering::Release);
        }
    }
}

/// Registers the mapping of `len` bytes at `base` of the file open as `fd` (installing
/// the handler on the first call). Not protected (the returned value never reports a hit)
/// if every slot is taken or the handler could not be installed.
///
/// `fd` must stay open, and the mapping mapped, until the protection is dropped.
pub(crate) fn protect(base: *mut u8, len: usize, fd: i32) -> Protection {
    if cfg!(ipc_loom) || base.is_null() || len == 0 || !*INSTALLED.get_or_init(install) {
        return Protection { slot: None };
    }
    for (i, s) in REGISTRY.iter().enumerate() {
        if s.taken
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            s.hit.store(false, Ordering::Release);
            s.len.store(len, Ordering::Release);
            s.fd.store(fd, Ordering::Release);
            // Last: the handler matches a slot only once its base is set.
            s.base.store(base as usize, Ordering::Release);
            return Protection { slot: Some(i) };
        }
    }
    Protection { slot: None }
}

/// Installs the handler; false if it could not be.
fn install() -> bool {
    // SAFETY: sysconf reads a constant of the system.
    let Some(page) = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
        .ok()
        .filter(|p| p.is_power_of_two())
    else {
        return false;
    };
    // SAFETY: an all-zero `sigaction` is a valid value (no handler, empty mask, no flags);
    // the calls fill it in.
    let mut previous: libc::sigaction = unsafe { core::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `previous`.
    if unsafe { libc::sigaction(libc::SIGBUS, core::ptr::null(), &mut previous) } != 0 {
        return false;
    }
    // What the handler reads, complete before it can run.
    HANDLER_DATA.get_or_init(|| (page, previous));
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
    action.sa_sigaction = on_sigbus as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid, writable signal set.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is a valid action whose handler has the SA_SIGINFO signature.
    unsafe { libc::sigaction(libc::SIGBUS, &action, core::ptr::null_mut()) == 0 }
}

extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // Only atomics, `mmap`, `sigaction` and a call of the previous handler below: nothing
    // that takes a lock or allocates.
    let Some((page, previous)) = HANDLER_DATA.get() else {
        return pass_on(sig, info, ctx, None);
    };
    let page = *page;
    // SAFETY: the kernel hands a SA_SIGINFO handler a valid siginfo; for SIGBUS the
    // faulting address is set.
    let addr = unsafe { (*info).si_addr() } as usize;
    for s in &REGISTRY {
        let base = s.base.load(Ordering::Acquire);
        let len = s.len.load(Ordering::Acquire);
        if base == 0 || addr < base || addr - base >= len {
            continue;
        }
        // First choice: give the file its length back. Its pages are then shared again
        // (zeros where it was cut), so every peer's futex wake-ups still reach their
        // sleepers, and the header's state word, overwritten here, tells every peer at
        // its next look that the segment's contents are gone.
        let fd = s.fd.load(Ordering::Acquire);
        // SAFETY: `fd` is the open descriptor of the mapped file (registered with the
        // mapping, closed only after it is deregistered); ftruncate touches no memory.
        if fd >= 0 && unsafe { libc::ftruncate(fd, len as libc::off_t) } == 0 {
            if len >= STATE_OFFSET + 4 {
                // SAFETY: the state word lies inside the mapping, 4-aligned (the mapping
                // is page-aligned and the offset a multiple of 4), and the file covers it
                // again; it is only ever accessed atomically.
                let state = unsafe { &*((base + STATE_OFFSET) as *const AtomicU32) };
                state.store(SHRUNK, Ordering::Release);
            }
            s.hit.store(true, Ordering::Release);
            return;
        }
        // Else: private zero pages over the rest of the mapping, from the faulting page.
        let from = addr & !(page - 1);
        let end = base + len;
        // SAFETY: `from..end` lies inside a mapping this process registered and has not
        // unmapped (it deregisters before unmapping); replacing those pages with private
        // zero pages changes what this process reads there, never memory outside the
        // mapping.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                end - from,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            s.hit.store(true, Ordering::Release);
            return;
        }
        break;
    }
    pass_on(sig, info, ctx, Some(previous));
}

/// A fault that is not ours: to the handler this module replaced, or, where that was the
/// default (or unknown), the default, which the faulting access then meets again.
fn pass_on(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
    previous: Option<&libc::sigaction>,
) {
    let handler = previous.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // SAFETY: an all-zero action with SIG_DFL restores the default disposition.
        let mut dfl: libc::sigaction = unsafe { core::mem::zeroed() };
        dfl.sa_sigaction = libc::SIG_DFL;
        // SAFETY: `dfl` is a valid action; sigaction is async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, core::ptr::null_mut()) };
        return;
    }
    let flags = previous.map_or(0, |p| p.sa_flags);
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the replaced handler was installed with SA_SIGINFO: this is its type,
        // and it receives the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { core::mem::transmute(handler) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a handler installed without SA_SIGINFO takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { core::mem::transmute(handler) };
        f(sig);
    }
}
