//! The atomics the ring protocol uses: `core`'s in normal builds, loom's under `--cfg loom`
//! so the protocol can be model-checked over a heap buffer.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
