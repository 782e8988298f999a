//! Death notices: a waiter parked on a futex in shared memory hears at once that a peer
//! process died, without waking up to look.
//!
//! # Why a thread
//!
//! A shared-memory end parks on a futex, which its peer's `FUTEX_WAKE` ends; the peer's
//! death must end it too, or a receiver whose last sender was killed sleeps for ever. The
//! kernel tells of a process's death through a pidfd (`pidfd_open(2)`, readable once the
//! process has exited), which `poll(2)` waits on, and no single system call waits on a
//! futex and a descriptor at once. Parking in slices of 20 ms and looking in between
//! costs 50 wake-ups a second per idle end: more than a core for a process
//! with a thousand idle channels. So one thread per process, started at the first park
//! that asks for it, sleeps in `poll` on the pidfds of every peer that a parked waiter of
//! this process watches (and on the shutdown eventfd), and when one becomes readable it
//! posts the futexes of the waiters that watch it. An idle process therefore makes no
//! system call at all: its waiters sleep on their futexes without a timeout, the thread
//! in `poll`, and a death is seen within the time the kernel takes to run that thread.
//!
//! The alternatives: robust futex lists (the kernel wakes a futex when its owner
//! *thread* exits) belong to the C library, which registers one list per thread for
//! robust mutexes, and report the exit of a thread, not of a process; `set_tid_address`
//! is the C library's too (`pthread_join`); a descriptor per channel that the peer
//! signals (an eventfd it must be handed, a FIFO next to the segment) would move every
//! wake-up off the futex, which is the fastest wake there is. The asynchronous ends will
//! need such a descriptor for messages, but can take their death notices from here.
//!
//! # Who is watched
//!
//! A waiter names its peers as they recorded themselves when they joined (pid and pid
//! namespace). A pid is only meaningful in the namespace it was read in: a peer of
//! another pid namespace (a container sharing `/dev/shm`) cannot be watched, nor can any
//! peer if `pidfd_open` is missing (Linux before 5.3), seccomp forbids it, this process
//! is out of descriptors, or the thread cannot start; [`Notice::new`] or
//! [`Notice::watch`] then says so and the caller parks in slices as before. A thread (or
//! its eventfd) that could not be made is tried again at a park a second later or more,
//! so that a process that ran out of descriptors or threads for a moment does not park in
//! slices for the rest of its life. A pid whose process has died by the time it is opened
//! is reported at once.
//!
//! A waiter registers once ([`Notice::new`], for as long as its end lives) and changes
//! the peers it watches when they change: a park itself costs nothing here.
//!
//! A pidfd names a process, not a pid, so a pid reused after its process died is never
//! confused with it. Pidfds are kept open while some waiter watches them and, up to
//! [`CACHED`] of them, after.
//!
//! # Safety
//!
//! A notice holds the address of a futex word in a shared mapping. Dropping the notice
//! removes it under the lock the thread holds while it posts, so the thread never touches
//! the word afterwards; [`Notice::new`] is `unsafe` because its caller must keep the
//! mapping until then (the shared-memory ends drop their notice first thing in `Drop`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};

use super::futex;
use super::Semaphore;

/// A peer process as it recorded itself: its pid, read in its pid namespace, and that
/// namespace's identity ([`pid_namespace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub(crate) pid: u32,
    pub(crate) ns: u64,
}

/// What the thread does to wake a waiter whose peer died.
#[derive(Clone, Copy)]
pub(crate) enum Wake<'a> {
    /// Posts the semaphore (a receiver parked for a message).
    Post(&'a Semaphore),
    /// Bumps the event count and wakes every waiter on it (senders parked for room).
    Bump(&'a AtomicU32),
    /// Rings the doorbell whose token the word holds, if any (an async receiver; see
    /// `sync::bell`). Only async receivers (feature `tokio`) ask for it.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Ring(&'a core::sync::atomic::AtomicU64),
}

/// [`Wake`] without its lifetime, as the registry keeps it (see "Safety" above).
#[derive(Clone, Copy)]
enum RawWake {
    Post(*const Semaphore),
    Bump(*const AtomicU32),
    Ring(*const core::sync::atomic::AtomicU64),
}

// SAFETY: the pointers are only dereferenced by the thread while the waiter that gave them
// is inside `watch`, which keeps the memory borrowed; access is under the registry lock.
unsafe impl Send for RawWake {}

impl RawWake {
    fn of(w: Wake<'_>) -> RawWake {
        match w {
            Wake::Post(s) => RawWake::Post(s),
            Wake::Bump(w) => RawWake::Bump(w),
            Wake::Ring(w) => RawWake::Ring(w),
        }
    }

    /// # Safety
    ///
    /// The waiter that registered this wake is still inside [`watch`](Notice::watch) (the
    /// caller holds the registry lock and found its entry there).
    unsafe fn wake(self) {
        match self {
            // SAFETY: valid while the entry is registered (the caller's contract).
            RawWake::Post(s) => unsafe { (*s).post() },
            RawWake::Bump(w) => {
                // SAFETY: as above.
                let w = unsafe { &*w };
                w.fetch_add(1, Ordering::SeqCst);
                futex::wake(w, u32::MAX);
            }
            RawWake::Ring(w) => {
                // SAFETY: as above.
                let token = unsafe { &*w }.load(core::sync::atomic::Ordering::SeqCst);
                if token != 0 {
                    // The ringing socket was made when the waiter registered: lost only
                    // if the kernel has no memory for a datagram; the waiter then hears
                    // of the death at the end of its sleep, when it looks at its notice.
                    super::bell::ring(token);
                }
            }
        }
    }
}

/// How many pidfds nobody watches stay open, for the next waiter that watches them.
const CACHED: usize = 64;

/// A waiter inside [`watch`](Notice::watch).
struct Waiter {
    pids: Vec<u32>,
    wake: RawWake,
    fired: Arc<AtomicBool>,
}

/// A process some waiter watches, or watched (kept open for the next, up to [`CACHED`]).
struct Watched {
    fd: OwnedFd,
    /// Its pidfd became readable: the process is gone. Never in the thread's poll set
    /// again, so any thread may close it.
    dead: bool,
}

struct Registry {
    pids: HashMap<u32, Watched>,
    waiters: HashMap<u64, Waiter>,
    next_id: u64,
    /// Wakes the thread to rebuild its poll set.
    ctl: EventFd,
    /// The shutdown eventfd became readable: every waiter was woken, and every new one is
    /// told at once (the descriptor stays readable, so it is not polled again).
    shutdown_seen: bool,
}

/// The registry of this process, and the pid it was made in: a child forked (without
/// `exec`) from a process that used it inherits the memory but not the thread, and makes
/// its own. Set once per process, never freed (the thread uses it for ever).
struct Instance {
    pid: u32,
    reg: &'static Mutex<Registry>,
}

static CURRENT: AtomicPtr<Instance> = AtomicPtr::new(core::ptr::null_mut());

/// How long after the registry or its thread could not be made (out of descriptors or
/// threads) a process tries again: meanwhile its waiters park in slices, as where
/// nothing can be watched; a failure is not kept for the life of the process.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The pid of the process whose last try failed, and when (see [`monotonic_ns`]).
static FAILED_PID: AtomicU32 = AtomicU32::new(0);
static FAILED_AT: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds of the monotonic clock since a point of this process's first call.
fn monotonic_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn lock(m: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    // The thread and the waiters hold the lock only for map updates and posts, which do
    // not panic; a poisoned lock still holds consistent maps.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The pid of the process whose thread is making its registry (a forked child may inherit
/// its parent's value: it differs from the child's pid, so the child makes its own).
static MAKER: AtomicU32 = AtomicU32::new(0);

/// This process's registry, with its thread started at the first call; None if either
/// could not be made (tried again [`RETRY_AFTER`] later).
fn registry() -> Option<&'static Mutex<Registry>> {
    if cfg!(ipc_loom) {
        return None;
    }
    let me = std::process::id();
    loop {
        // SAFETY: a non-null pointer in `CURRENT` comes from `Box::leak` below and is
        // never freed.
        if let Some(inst) = unsafe { CURRENT.load(Ordering::Acquire).as_ref() } {
            if inst.pid == me {
                return Some(inst.reg);
            }
        }
        if FAILED_PID.load(Ordering::Acquire) == me
            && monotonic_ns().saturating_sub(FAILED_AT.load(Ordering::Relaxed))
                < RETRY_AFTER.as_nanos() as u64
        {
            return None;
        }
        // The first use in this process, or in a forked child: the parent's registry has
        // no thread here, and its lock may have been held by a thread that did not come
        // along. One thread of the process makes it; the others wait for it.
        let maker = MAKER.load(Ordering::Acquire);
        if maker == me {
            std::thread::yield_now();
            continue;
        }
        if MAKER
            .compare_exchange(maker, me, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        let Some(reg) = make() else {
            // Said before `MAKER` is given up: a thread that waited for this try sees it.
            FAILED_AT.store(monotonic_ns(), Ordering::Relaxed);
            FAILED_PID.store(me, Ordering::Release);
            MAKER.store(0, Ordering::Release);
            return None;
        };
        let inst = Box::leak(Box::new(Instance { pid: me, reg }));
        // Opaque to the optimiser: older LLVMs (Rust 1.83's among them) turn a global
        // that only ever holds null or one allocation into an atomic boolean, which is
        // invalid IR and aborts a release build (llvm/llvm-project#137152).
        CURRENT.store(core::hint::black_box(inst), Ordering::Release);
        return Some(reg);
    }
}

/// A registry and its thread, or None if either could not be made (nothing is kept).
fn make() -> Option<&'static Mutex<Registry>> {
    let ctl =
        EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).ok()?;
    let raw = Box::into_raw(Box::new(Mutex::new(Registry {
        pids: HashMap::new(),
        waiters: HashMap::new(),
        next_id: 0,
        ctl,
        shutdown_seen: false,
    })));
    // SAFETY: `raw` comes from `Box::into_raw` just above; it is freed only below, when
    // the thread did not start.
    let reg: &'static Mutex<Registry> = unsafe { &*raw };
    match std::thread::Builder::new()
        .name("ipc-deaths".into())
        .spawn(move || run(reg))
    {
        Ok(_) => Some(reg),
        Err(_) => {
            // SAFETY: the thread did not start, and its closure, the only other holder of
            // `reg`, was dropped with the error: nothing refers to the registry, which is
            // freed once (its eventfd closed with it).
            drop(unsafe { Box::from_raw(raw) });
            None
        }
    }
}

/// This process's pid namespace: the inode of `/proc/self/ns/pid` (0 if it cannot be
/// read, which matches no peer: nothing is then watched).
pub(crate) fn pid_namespace() -> u64 {
    static NS: OnceLock<u64> = OnceLock::new();
    *NS.get_or_init(|| {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
    })
}

/// True if pidfds can be had here and the watching thread runs.
pub(crate) fn supported() -> bool {
    registry().is_some() && matches!(pidfd_open(std::process::id()), Ok(Some(_)))
}

/// Opens a pidfd for `pid`: Ok(None) if no such process exists (it died), Err if pidfds
/// cannot be had.
fn pidfd_open(pid: u32) -> Result<Option<OwnedFd>, ()> {
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    if UNSUPPORTED.load(Ordering::Relaxed) || pid == 0 || pid > i32::MAX as u32 {
        return Err(());
    }
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it
    // touches no memory of ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0u32) };
    if fd >= 0 {
        // SAFETY: a descriptor the call just created, owned by nobody else (pidfds are
        // close-on-exec).
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }));
    }
    match nix::errno::Errno::last() {
        nix::errno::Errno::ESRCH => Ok(None),
        nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM => {
            UNSUPPORTED.store(true, Ordering::Relaxed);
            Err(())
        }
        _ => Err(()),
    }
}

/// A waiter's standing request to hear of its peers' deaths: while it lives, the thread
/// wakes the waiter (as its [`Wake`] says) when one of the peers it currently watches
/// ([`Notice::watch`]) dies, or shutdown is requested. A wake may come while the waiter is
/// not parked (a post then ends its next park at once, which looks and parks again).
#[derive(Debug)]
pub(crate) struct Notice {
    reg: &'static Mutex<Registry>,
    id: u64,
    fired: Arc<AtomicBool>,
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

impl Notice {
    /// Registers a waiter with no peers yet; None if this process cannot watch any (no
    /// thread, see the module docs).
    ///
    /// # Safety
    ///
    /// The memory `wake` refers to must stay valid until the notice is dropped: the thread
    /// may write to it (post or bump) at any moment until then.
    pub(crate) unsafe fn new(wake: Wake<'_>) -> Option<Notice> {
        // The thread rings a doorbell through this process's ringing socket: made now, so
        // that a death is never told through a ring lost for want of a descriptor (the
        // waiter would sleep on until its longest sleep). Without one, no notice: the
        // waiter parks in slices and probes, and asks again at its next look.
        if matches!(wake, Wake::Ring(_)) && !super::bell::can_ring() {
            return None;
        }
        let reg = registry()?;
        let fired = Arc::new(AtomicBool::new(false));
        let mut r = lock(reg);
        let id = r.next_id;
        r.next_id += 1;
        r.waiters.insert(
            id,
            Waiter {
                pids: Vec::new(),
                wake: RawWake::of(wake),
                fired: Arc::clone(&fired),
            },
        );
        Some(Notice { reg, id, fired })
    }

    /// Watches `peers` from now on, instead of those watched so far. False if they cannot
    /// be watched (another pid namespace, no `pidfd_open`, no descriptors left): then
    /// none is, and the caller must not count on a notice. A peer that is gone already
    /// sets [`Notice::fired`] (without a wake).
    pub(crate) fn watch(&self, peers: &[Peer]) -> bool {
        let ns = pid_namespace();
        let mut r = lock(self.reg);
        let mut new = Vec::with_capacity(peers.len());
        let mut opened = false;
        let mut ok = ns != 0 && peers.iter().all(|p| p.ns == ns);
        for p in peers.iter().filter(|_| ok) {
            if new.contains(&p.pid) {
                continue;
            }
            if r.pids.get(&p.pid).is_none_or(|w| w.dead) {
                // A dead entry's pidfd is out of the thread's poll set: closed here. (Its
                // other watchers were told of the death, and look again before they
                // sleep; until then they watch whatever process has the pid now.)
                r.pids.remove(&p.pid);
                match pidfd_open(p.pid) {
                    Ok(Some(fd)) => {
                        r.pids.insert(p.pid, Watched { fd, dead: false });
                        opened = true;
                    }
                    Ok(None) => {
                        // Gone already: the waiter must not sleep on it.
                        self.fired.store(true, Ordering::SeqCst);
                        continue;
                    }
                    Err(()) => {
                        ok = false;
                        break;
                    }
                }
            }
            new.push(p.pid);
        }
        if !ok {
            new.clear();
        }
        let Some(w) = r.waiters.get_mut(&self.id) else {
            return false;
        };
        // The thread polls what waiters watch: tell it when that grows or a pidfd is new
        // (or when the cache wants trimming).
        let grew = opened || new.iter().any(|p| !w.pids.contains(p));
        w.pids = new;
        if (grew || r.pids.len() > 2 * CACHED) && r.ctl.write(1).is_err() {
            if let Some(w) = r.waiters.get_mut(&self.id) {
                w.pids.clear();
            }
            ok = false;
        }
        if r.shutdown_seen || crate::shutdown::shutdown_requested() {
            self.fired.store(true, Ordering::SeqCst);
        }
        ok
    }

    /// True once a watched peer died or shutdown was requested since the last call.
    pub(crate) fn fired(&self) -> bool {
        self.fired.swap(false, Ordering::SeqCst)
    }

    /// [`Notice::fired`] without clearing it: a waiter looks before it sleeps, since a
    /// notice that came before it loaded its futex word may have left no trace there.
    pub(crate) fn pending(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Notice {
    fn drop(&mut self) {
        // Under the lock the thread posts under: after this, it no longer has the address.
        lock(self.reg).waiters.remove(&self.id);
    }
}

/// The thread: polls the watched pidfds, the control eventfd and the shutdown eventfd.
fn run(reg: &'static Mutex<Registry>) {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    let mut owners: Vec<Option<u32>> = Vec::new();
    loop {
        {
            let mut r = lock(reg);
            // What waiters watch now; between polls nothing of ours is in the kernel's
            // hands, so the rest may be closed: the dead, and the live beyond CACHED.
            let watched: std::collections::HashSet<u32> = r
                .waiters
                .values()
                .flat_map(|w| w.pids.iter().copied())
                .collect();
            r.pids.retain(|p, w| watched.contains(p) || !w.dead);
            let idle: Vec<u32> = r
                .pids
                .keys()
                .filter(|p| !watched.contains(p))
                .copied()
                .collect();
            for p in idle.iter().skip(CACHED) {
                r.pids.remove(p);
            }
            fds.clear();
            owners.clear();
            let pollin = |fd: RawFd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            fds.push(pollin(r.ctl.as_raw_fd()));
            owners.push(None);
            if !r.shutdown_seen {
                if let Some(fd) = crate::shutdown::shutdown_fd() {
                    fds.push(pollin(fd.as_raw_fd()));
                    owners.push(None);
                }
            }
            for (&pid, w) in &r.pids {
                if watched.contains(&pid) && !w.dead {
                    fds.push(pollin(w.fd.as_raw_fd()));
                    owners.push(Some(pid));
                }
            }
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds. Its descriptors stay open
        // until the lock is taken again below: only this thread closes a pidfd that may be
        // in the set (`Notice::watch` closes dead ones, which are never in it), and the
        // control and shutdown eventfds live as long as the process.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n <= 0 {
            continue; // EINTR (or nothing): poll again.
        }
        let mut r = lock(reg);
        for (i, f) in fds.iter().enumerate() {
            if f.revents == 0 {
                continue;
            }
            match owners[i] {
                None if f.fd == r.ctl.as_raw_fd() => {
                    let _ = r.ctl.read();
                }
                None => {
                    // Shutdown: wake everybody; it stays requested.
                    r.shutdown_seen = true;
                    for w in r.waiters.values() {
                        w.fired.store(true, Ordering::SeqCst);
                        // SAFETY: the waiter is registered, and we hold the lock.
                        unsafe { w.wake.wake() };
                    }
                }
                Some(pid) => {
                    if let Some(w) = r.pids.get_mut(&pid) {
                        w.dead = true;
                    }
                    for w in r.waiters.values().filter(|w| w.pids.contains(&pid)) {
                        w.fired.store(true, Ordering::SeqCst);
                        // SAFETY: as above.
                        unsafe { w.wake.wake() };
                    }
                }
            }
        }
    }
}

/// Tells the thread to look again at the shutdown eventfd (just created), if it runs.
pub(crate) fn shutdown_armed() {
    // SAFETY: as in `registry`.
    if let Some(inst) = unsafe { CURRENT.load(Ordering::Acquire).as_ref() } {
        if inst.pid == std::process::id() {
            let _ = lock(inst.reg).ctl.write(1);
        }
    }
}

#[cfg(all(test, not(ipc_loom)))]
mod tests {
    use super::*;

    fn me() -> Peer {
        Peer {
            pid: std::process::id(),
            ns: pid_namespace(),
        }
    }

    fn sleeper() -> (std::process::Child, Peer) {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let peer = Peer {
            pid: child.id(),
            ns: pid_namespace(),
        };
        (child, peer)
    }

    #[test]
    fn a_peer_that_dies_posts_the_waiter_and_a_live_one_does_not() {
        let (mut child, peer) = sleeper();
        let sem = Semaphore::new(0);
        // SAFETY: `sem` outlives the notice (dropped at the end of this block first).
        let Some(notice) = (unsafe { Notice::new(Wake::Post(&sem)) }) else {
            eprintln!("no death notices here: nothing to test");
            let _ = child.kill();
            let _ = child.wait();
            return;
        };
        if !notice.watch(&[me()]) {
            eprintln!("pidfds are not available here: nothing to test");
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        // A live peer: nothing posts.
        assert!(sem.wait_timeout(Duration::from_millis(50)).is_err());
        assert!(!notice.fired());
        // The peer is killed: the thread posts.
        assert!(notice.watch(&[me(), peer]));
        child.kill().unwrap();
        sem.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(notice.fired());
        let _ = child.wait();
        // A peer that is gone before it is watched is reported at once (without a post).
        assert!(notice.watch(&[peer]));
        assert!(notice.pending() && notice.fired());
        assert!(!notice.fired());
        drop(notice);
    }

    #[test]
    fn a_peer_of_another_namespace_is_not_watched() {
        let sem = Semaphore::new(0);
        let other = Peer {
            pid: std::process::id(),
            ns: pid_namespace() ^ 1,
        };
        // SAFETY: `sem` outlives the notice.
        if let Some(notice) = unsafe { Notice::new(Wake::Post(&sem)) } {
            assert!(!notice.watch(&[other]));
        }
    }

    #[test]
    fn a_bump_wakes_every_waiter_on_the_word() {
        let (mut child, peer) = sleeper();
        let epoch = AtomicU32::new(0);
        // SAFETY: `epoch` outlives the notice.
        let notice = unsafe { Notice::new(Wake::Bump(&epoch)) };
        if let Some(n) = notice.filter(|n| n.watch(&[peer])) {
            child.kill().unwrap();
            while !n.pending() {
                futex::wait(&epoch, 0, Some(Duration::from_secs(10)));
            }
            assert!(epoch.load(Ordering::SeqCst) >= 1);
        } else {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    #[test]
    fn two_waiters_on_one_peer_both_hear_and_watch_on() {
        let (mut first, a) = sleeper();
        let (mut second, b) = sleeper();
        let (s1, s2) = (Semaphore::new(0), Semaphore::new(0));
        // SAFETY: the semaphores outlive the notices (declared before them).
        let n1 = unsafe { Notice::new(Wake::Post(&s1)) };
        // SAFETY: as above.
        let n2 = unsafe { Notice::new(Wake::Post(&s2)) };
        let (Some(n1), Some(n2)) = (n1, n2) else {
            for c in [&mut first, &mut second] {
                let _ = c.kill();
                let _ = c.wait();
            }
            return;
        };
        if !(n1.watch(&[a]) && n2.watch(&[a, b])) {
            for c in [&mut first, &mut second] {
                let _ = c.kill();
                let _ = c.wait();
            }
            return;
        }
        first.kill().unwrap();
        s1.wait_timeout(Duration::from_secs(10)).unwrap();
        s2.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(n1.fired() && n2.fired());
        let _ = first.wait();
        // The second waiter looks again and watches the survivor; its death is heard too.
        assert!(n2.watch(&[b]));
        assert!(!n2.fired());
        second.kill().unwrap();
        s2.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(n2.fired());
        assert!(
            !n1.fired(),
            "the first waiter no longer watches anybody alive"
        );
        let _ = second.wait();
    }
}
