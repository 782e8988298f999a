//! Asymmetric fences: a cheap side that runs on every message and a heavy side
//! (`membarrier(2)`) that runs only when a waiter is about to sleep.
//!
//! The shared-memory channels wake a parked peer with a store-then-load handshake: a
//! sender publishes a message, then loads the receiver's "parked" flag; a receiver sets the
//! flag, then re-loads the slot. One side must see the other, which needs a full
//! (store-load) barrier on *both* sides: a `SeqCst` read-modify-write on every message,
//! about a third of an 8-byte message's cost. With `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`
//! the sleeping side makes every CPU that runs a registered process execute a full barrier,
//! so the per-message side needs only a compiler barrier (the technique of folly's
//! `asymmetricHeavyBarrier` and liburcu).
//!
//! Pairing rule: the fast side may skip its hardware barrier only if its process is
//! registered ([`registered`]), and the waiting side must call [`heavy`] (and see it
//! succeed) between its store and its re-check. A process that cannot register (an old
//! kernel, a seccomp filter) keeps the `SeqCst` operations; a waiter whose [`heavy`] fails
//! sleeps in short slices, so a missed wake-up costs at most one slice.
//!
//! Who registers. A registered process is a target of every other process's [`heavy`]:
//! each one interrupts the CPUs that run it. On a 2-vCPU VM (2026-12-07) a `membarrier`
//! took its caller 15 µs while a registered process was busy on the other CPU, and 1-2
//! µs while none was, and it took several microseconds from the process it interrupted.
//! A shared-memory channel's senders register, since they publish every message and a
//! parked receiver's barrier must reach them. Its receiver does not: its side of the
//! handshake is the release of a batch of read slots (one per `capacity / 8` messages,
//! and one when it finds the ring empty), which pays a `SeqCst` swap instead. So the
//! barriers that senders cross when the ring's bias changes hands or when they park for
//! room neither interrupt a process that only receives nor wait for it; with two sender
//! processes taking turns on one CPU this keeps them at 1.01x the lone sender's rate, a
//! registered receiver at 0.96x (ten alternated runs of the shm bench's senders table).
//! A process with a sender of any channel is registered all the same.
//!
//! Under loom nothing registers: the model checks the `SeqCst` protocol.

use std::sync::OnceLock;
use std::time::Duration;

/// How long a waiter sleeps at a time when [`heavy`] failed, so that a wake-up a fast
/// side could not see costs no more than this.
pub(crate) const UNFENCED_SLICE: Duration = Duration::from_millis(1);

/// True if this process is registered for expedited global membarriers: then another
/// process's [`heavy`] orders this process's memory accesses too, and its per-message
/// side may use [`light`] instead of a `SeqCst` operation. Registers on the first call.
pub(crate) fn registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        if cfg!(ipc_loom) {
            return false;
        }
        let supported = membarrier(libc::MEMBARRIER_CMD_QUERY);
        supported > 0
            && supported & libc::MEMBARRIER_CMD_GLOBAL_EXPEDITED as libc::c_long != 0
            && membarrier(libc::MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0
    })
}

/// The per-message side: keeps the compiler from moving the following load before the
/// preceding store. The processor may still do so; [`heavy`] on the other side covers it.
#[inline(always)]
pub(crate) fn light() {
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// The waiting side: a full barrier on every CPU that runs a registered process. Returns
/// false if the call failed (the caller then sleeps in [`UNFENCED_SLICE`]s).
pub(crate) fn heavy() -> bool {
    !cfg!(ipc_loom) && membarrier(libc::MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0
}

fn membarrier(cmd: libc::c_int) -> libc::c_long {
    // SAFETY: membarrier takes two integers (command, flags) and, without
    // MEMBARRIER_CMD_FLAG_CPU, no third argument; it touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0u32, 0i32) }
}

#[cfg(all(test, not(ipc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn registration_is_stable_and_a_registered_process_can_fence() {
        let first = registered();
        assert_eq!(registered(), first, "decided once");
        if first {
            assert!(heavy());
        }
    }
}
