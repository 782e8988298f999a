//! The atomics the ring protocol uses: `core`'s in normal builds, loom's under `--cfg ipc_loom`
//! so the protocol can be model-checked over a heap buffer.

#[cfg(ipc_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};

#[cfg(not(ipc_loom))]
pub(crate) use core::sync::atomic::{fence, AtomicU64, Ordering};

/// A pause in a short spin loop (a scheduling point under loom).
#[inline]
pub(crate) fn spin_loop() {
    #[cfg(ipc_loom)]
    loom::thread::yield_now();
    #[cfg(not(ipc_loom))]
    core::hint::spin_loop();
}

/// Gives the processor to another thread.
pub(crate) fn yield_now() {
    #[cfg(ipc_loom)]
    loom::thread::yield_now();
    #[cfg(not(ipc_loom))]
    std::thread::yield_now();
}
