//! Private buffers for copy-then-validate receives: a message whose type has invalid bit
//! patterns is copied out of shared memory into one of these and validated there, where
//! no other process can change it. A buffer holds one message, or a slice of the
//! segment's `max_len`: a size the segment's creator chose (or a peer wrote), so it is
//! allocated fallibly, and a size this process cannot have is a typed error, never an
//! abort. Pages are taken lazily by the system: a buffer costs what messages use of it.

use std::alloc::Layout;
use std::ptr::NonNull;

use crate::error::{Error, Result};

/// A private, heap-allocated buffer for `len` values of `T`, uninitialised.
pub(crate) struct Scratch<T> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: a `Scratch` owns its allocation, as a `Box<[MaybeUninit<T>]>` would.
unsafe impl<T: Send> Send for Scratch<T> {}
// SAFETY: as `Send`: shared access only reads through the pointer.
unsafe impl<T: Sync> Sync for Scratch<T> {}

impl<T> Scratch<T> {
    /// Room for `len` values of `T`.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if this process cannot allocate it.
    pub(crate) fn new(len: u64) -> Result<Self> {
        let layout = usize::try_from(len)
            .ok()
            .and_then(|n| Layout::array::<T>(n).ok())
            .ok_or_else(|| too_large(len.saturating_mul(size_of::<T>() as u64)))?;
        if layout.size() == 0 {
            return Ok(Scratch {
                ptr: NonNull::dangling(),
                len: len as usize,
            });
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        let ptr = NonNull::new(p.cast::<T>()).ok_or_else(|| too_large(layout.size() as u64))?;
        Ok(Scratch {
            ptr,
            len: len as usize,
        })
    }

    /// The first value's place, aligned for `T`; `len` of them are writable.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for Scratch<T> {
    fn drop(&mut self) {
        // The layout `new` computed from the same `len`, so it exists.
        if let Ok(layout) = Layout::array::<T>(self.len) {
            if layout.size() != 0 {
                // SAFETY: allocated in `new` with this layout.
                unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
            }
        }
    }
}

/// `len` zeroed bytes, allocated fallibly (the pages come zeroed from the system as they
/// are touched).
///
/// # Errors
///
/// [`Error::LimitExceeded`] if this process cannot allocate them.
pub(crate) fn zeroed_bytes(len: u64) -> Result<Box<[u8]>> {
    let n = usize::try_from(len).map_err(|_| too_large(len))?;
    if n == 0 {
        return Ok(Box::default());
    }
    let layout = Layout::array::<u8>(n).map_err(|_| too_large(len))?;
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return Err(too_large(len));
    }
    // SAFETY: `p` is a fresh allocation of `n` zeroed bytes with the layout of `[u8; n]`,
    // which the box owns and frees with that layout.
    Ok(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(p, n)) })
}

/// The error for a buffer of `bytes` this process cannot allocate.
fn too_large(bytes: u64) -> Error {
    Error::LimitExceeded {
        limit: "memory for one message of the segment's max_len",
        value: bytes,
        hint: format!(
            "validating a message needs a private copy of it, and one of the segment's \
             maximum length takes {bytes} bytes, more than this process can allocate; \
             create the segment with a smaller Options::max_len, or receive a type whose \
             every bit pattern is valid (read in place, no copy)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_no_process_can_have_is_limit_exceeded() {
        for len in [u64::MAX, 1 << 62, 1 << 48] {
            let e = Scratch::<u64>::new(len).err().expect("refused");
            assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
            let e = zeroed_bytes(len.saturating_mul(8)).unwrap_err();
            assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
        }
        assert_eq!(&*zeroed_bytes(3).unwrap(), &[0, 0, 0]);
        let s = Scratch::<u16>::new(4).unwrap();
        assert_eq!(s.as_ptr() as usize % align_of::<u16>(), 0);
    }
}
