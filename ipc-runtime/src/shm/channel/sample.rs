//! [`Sample`]: a received message. For a type whose every bit pattern is valid it points
//! into the slot (zero copy) and hands the slot back when dropped; any other type is
//! copied into the receiver's private `Scratch` buffer, the slot handed back at once, and
//! the copy validated there ([`Receiver::sample`], the copy-then-validate that
//! [`Receiver`]'s docs explain). The sending end's counterpart is `loan.rs`.

use core::ptr::NonNull;

use super::receiver::{release, Read, Receiver};
use super::Chan;
use crate::error::Result;
use crate::message::Message;

/// A received message: derefs to `&T`; frees its slot when dropped.
///
/// See [`Receiver`] for where the `T` lives and why it cannot change under you.
pub struct Sample<'a, T: Message> {
    value: &'a T,
    /// Where to free the slot on drop (zero-copy samples only).
    release: Option<(&'a Chan, &'a mut Read)>,
}

impl<T: Message> core::ops::Deref for Sample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Message + core::fmt::Debug> core::fmt::Debug for Sample<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Sample").field(self.value).finish()
    }
}

impl<T: Message> Sample<'_, T> {
    /// A copy of the message.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<T: Message> Drop for Sample<'_, T> {
    fn drop(&mut self) {
        if let Some((chan, read)) = self.release.take() {
            if let Some(pos) = read.pending.take() {
                release(chan, read, pos);
            }
        }
    }
}

/// A private, heap-allocated buffer for one `T` (copy-then-validate).
pub(super) struct Scratch<T> {
    ptr: NonNull<T>,
}

impl<T> Scratch<T> {
    pub(super) fn new() -> Self {
        let layout = std::alloc::Layout::new::<T>();
        if layout.size() == 0 {
            return Scratch {
                ptr: NonNull::dangling(),
            };
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(p.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        Scratch { ptr }
    }
}

impl<T> Drop for Scratch<T> {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::new::<T>();
        if layout.size() != 0 {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<T: Message> Receiver<T> {
    #[inline]
    pub(super) fn sample(&mut self, pos: u64) -> Result<Sample<'_, T>> {
        let src = self.chan.ring.region().payload(self.chan.ring.index(pos));
        if const { T::SCHEMA.accepts_any_bits() } {
            self.read.pending = Some(pos);
            // SAFETY: the slot is published and ours until we release it (on the sample's
            // drop, or at the next receive); the payload is inside the mapping and aligned
            // for `T`; every bit pattern is a valid `T`, so even a peer that (against the
            // protocol) rewrites the bytes cannot make the reference point at an invalid
            // value.
            let value = unsafe { &*src.cast::<T>() };
            return Ok(Sample {
                value,
                release: Some((&self.chan, &mut self.read)),
            });
        }
        // Copy, free the slot, then validate the private copy: the sender can no longer
        // change what we validated.
        let dst = self.scratch.ptr.as_ptr().cast::<u8>();
        // SAFETY: `src` is `size_of::<T>()` readable bytes of the published slot, `dst` a
        // private allocation of the same size; they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, size_of::<T>()) };
        release(&self.chan, &mut self.read, pos);
        // SAFETY: `dst` holds `size_of::<T>()` initialised bytes (copied just above).
        let bytes = unsafe { core::slice::from_raw_parts(dst, size_of::<T>()) };
        T::validate(bytes)?;
        // SAFETY: `T::validate` accepted the bytes, so by the `Message` contract they are a
        // valid `T`; the buffer is aligned for `T` and borrowed for as long as `self` is.
        let value = unsafe { &*self.scratch.ptr.as_ptr() };
        Ok(Sample {
            value,
            release: None,
        })
    }
}
