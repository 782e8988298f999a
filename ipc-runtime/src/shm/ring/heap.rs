//! A ring in heap memory with `u64` payloads, for the unit tests (`tests`) and
//! the loom models (`loom_tests`): the same [`Ring`] protocol over a [`Region`] that is
//! boxed slices instead of a shared mapping: the slot headers, the slots' payloads (which
//! hold a packed batch's length in its head), and a packed array.

use super::*;

#[cfg(ipc_loom)]
use loom::cell::UnsafeCell;
#[cfg(not(ipc_loom))]
use std::cell::UnsafeCell;

pub(crate) struct HeapRegion {
    control: RingControl,
    slots: Box<[SlotHeader]>,
    payload: Box<[UnsafeCell<u64>]>,
    /// Each slot's length word of a packed batch (in a mapping, the slot's payload).
    runs: Box<[AtomicU64]>,
    packed: Box<[UnsafeCell<u64>]>,
}

// SAFETY: the payload cells are accessed only under the ring protocol, which gives one
// writer (the claimer) or one reader (the receiver) per slot at a time, ordered by the
// Release/Acquire on `seq`; loom checks exactly that.
unsafe impl Sync for HeapRegion {}

impl HeapRegion {
    pub(crate) fn new(capacity: u64) -> Self {
        HeapRegion {
            control: RingControl::new(),
            slots: (0..capacity).map(|_| SlotHeader::new()).collect(),
            payload: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            runs: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            packed: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    /// The cell of slot `index`'s payload, or of its entry in the packed array.
    fn cell(&self, index: u64, packed: bool) -> &UnsafeCell<u64> {
        if packed {
            &self.packed[index as usize]
        } else {
            &self.payload[index as usize]
        }
    }

    /// Writes `v` as the message of slot `index` (`packed`: of its packed entry).
    ///
    /// # Safety
    ///
    /// The caller holds the claim of a position whose slot is `index`.
    pub(crate) unsafe fn write(&self, index: u64, v: u64, packed: bool) {
        let cell = self.cell(index, packed);
        #[cfg(ipc_loom)]
        // SAFETY: the caller owns the slot (claimed, not yet published).
        cell.with_mut(|p| unsafe { *p = v });
        #[cfg(not(ipc_loom))]
        // SAFETY: the caller owns the slot (claimed, not yet published).
        unsafe {
            *cell.get() = v
        };
    }

    /// Reads the message of slot `index` (`packed`: of its packed entry).
    ///
    /// # Safety
    ///
    /// The caller is the receiver and the slot `index` is published and not released.
    pub(crate) unsafe fn read(&self, index: u64, packed: bool) -> u64 {
        let cell = self.cell(index, packed);
        #[cfg(ipc_loom)]
        // SAFETY: the receiver owns the published slot until it releases it.
        return cell.with(|p| unsafe { *p });
        #[cfg(not(ipc_loom))]
        // SAFETY: the receiver owns the published slot until it releases it.
        unsafe {
            *cell.get()
        }
    }
}

impl Ring<HeapRegion> {
    /// One attempt to send `v` as participant `me`: claim, write, publish.
    pub(crate) fn send_once(
        &self,
        me: usize,
        cache: &mut u64,
        v: u64,
        fenced: bool,
    ) -> Result<(), RingError> {
        let pos = self.try_claim(me, cache, fenced)?;
        // SAFETY: `pos` was just claimed by us.
        unsafe { self.region().write(self.index(pos), v, false) };
        self.publish(pos, false, fenced);
        Ok(())
    }

    /// One attempt to send a prefix of `vs` (not empty) as participant `me` with one
    /// batched claim and publish; returns how many went.
    pub(crate) fn send_many_once(
        &self,
        me: usize,
        cache: &mut u64,
        vs: &[u64],
        fenced: bool,
    ) -> Result<usize, RingError> {
        let (pos, n) = self.try_claim_many(me, cache, fenced, vs.len() as u64)?;
        self.publish_many(pos, n, fenced, |i, at| {
            // SAFETY: `pos..pos + n` were just claimed by us, and `at` is one of them.
            unsafe { self.region().write(self.index(at), vs[i as usize], false) }
        });
        Ok(n as usize)
    }

    /// As [`send_many_once`](Self::send_many_once), published as one packed batch.
    pub(crate) fn send_packed_once(
        &self,
        me: usize,
        cache: &mut u64,
        vs: &[u64],
        fenced: bool,
    ) -> Result<usize, RingError> {
        let (pos, n) = self.try_claim_many(me, cache, fenced, vs.len() as u64)?;
        self.publish_packed(pos, n, fenced, || {
            for (i, &v) in vs[..n as usize].iter().enumerate() {
                let at = pos + i as u64;
                // SAFETY: `pos..pos + n` were just claimed by us, and `at` is one of them.
                unsafe { self.region().write(self.index(at), v, true) }
            }
        });
        Ok(n as usize)
    }
}

// SAFETY: all references point into fields of `self`; `capacity` is the constant
// length of `slots`, a power of two by construction in the tests.
unsafe impl Region for HeapRegion {
    fn control(&self) -> &RingControl {
        &self.control
    }
    fn capacity(&self) -> u64 {
        self.slots.len() as u64
    }
    fn slot(&self, index: u64) -> &SlotHeader {
        &self.slots[index as usize]
    }
    fn run_len(&self, index: u64) -> Option<&AtomicU64> {
        Some(&self.runs[index as usize])
    }
    #[inline]
    fn slots(&self) -> Slots<'_> {
        let first = core::ptr::NonNull::from(&self.slots[0]).cast::<u8>();
        // SAFETY: the headers are a boxed slice of `capacity` (a power of two) elements,
        // `size_of::<SlotHeader>()` apart, owned by `self`.
        unsafe { Slots::new(first, size_of::<SlotHeader>(), self.capacity()) }
    }
}
