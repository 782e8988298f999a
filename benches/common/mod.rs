//! What the benchmarks between processes share: forking a child, an anonymous shared
//! page for their own control words, bare futex calls, pinning, names and number formats.
#![allow(dead_code)]

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Instant;

pub use nix::sys::wait::{waitpid, WaitStatus};
pub use nix::unistd::{fork, ForkResult, Pid};

pub fn spawn(f: impl FnOnce()) -> Pid {
    // SAFETY: whenever the benchmark forks, its only other thread is the shm death
    // notices' thread, asleep in `poll` and holding no lock, so the child may run
    // arbitrary code; the child never returns into the parent's stack frames: it leaves
    // with `_exit`, running no destructors of objects it inherited.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            // SAFETY: `_exit` ends the process at once; nothing inherited is dropped twice.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => child,
    }
}

pub fn reap(pid: Pid) {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, 0) => {}
        other => panic!("child failed: {other:?}"),
    }
}

/// An anonymous shared mapping, inherited across fork.
pub struct SharedPage {
    pub ptr: *mut u8,
    pub len: usize,
}

impl SharedPage {
    pub fn new(len: usize) -> SharedPage {
        // SAFETY: a fresh anonymous shared mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        SharedPage {
            ptr: ptr.cast(),
            len,
        }
    }
    pub fn u64_at(&self, line: usize) -> &AtomicU64 {
        assert!((line + 1) * 64 <= self.len);
        // SAFETY: inside the mapping, 64-aligned, zero-initialised; atomics only.
        unsafe { &*self.ptr.add(line * 64).cast::<AtomicU64>() }
    }
    pub fn u32_at(&self, line: usize) -> &AtomicU32 {
        assert!((line + 1) * 64 <= self.len);
        // SAFETY: as above.
        unsafe { &*self.ptr.add(line * 64).cast::<AtomicU32>() }
    }
}

impl Drop for SharedPage {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

pub fn futex_wait(w: &AtomicU32, expected: u32) {
    // SAFETY: `w` is a live, aligned 32-bit word; shared (not private) futex op.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            w.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

pub fn futex_wake(w: &AtomicU32) {
    // SAFETY: as above; FUTEX_WAKE does not touch the memory.
    unsafe { libc::syscall(libc::SYS_futex, w.as_ptr(), libc::FUTEX_WAKE, 1) };
}

pub fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
    (r.into(), w.into())
}

pub fn unique(tag: &str) -> String {
    format!("bench-{}-{tag}", std::process::id())
}

/// Nanoseconds per one-way trip.
pub fn per_trip(start: Instant, round_trips: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / (2 * round_trips) as f64
}

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.1} k/s", r / 1e3)
    }
}

/// Runs this process on the given CPUs only (those that are online).
pub fn pin(cpus: &[usize]) {
    let mut set = nix::sched::CpuSet::new();
    let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .unwrap_or(1);
    for &cpu in cpus {
        if online > cpu as libc::c_long {
            let _ = set.set(cpu);
        }
    }
    let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &set);
}
