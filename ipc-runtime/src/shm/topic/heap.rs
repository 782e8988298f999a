//! A topic in heap memory with `u64` samples, for the unit tests (`tests`) and the loom
//! model (`loom_tests`): the same protocol over a [`Board`] of boxed slices.

use super::*;

#[cfg(ipc_loom)]
use loom::cell::UnsafeCell;
#[cfg(not(ipc_loom))]
use std::cell::UnsafeCell;

pub(crate) struct HeapBoard {
    control: TopicControl,
    subs: Box<[SubLine]>,
    entries: Box<[Entry]>,
    names: Box<[AtomicU64]>,
    chunks: Box<[UnsafeCell<u64>]>,
}

// SAFETY: the chunks are written only by the publisher between `begin` and `commit`, and
// read only by a subscriber that found them published and not replaced: the protocol
// under test (loom checks that no write and read of a chunk race).
unsafe impl Sync for HeapBoard {}

impl HeapBoard {
    pub(crate) fn new(capacity: u64, subscribers: usize) -> Self {
        let b = HeapBoard {
            control: TopicControl::default(),
            subs: (0..subscribers).map(|_| SubLine::default()).collect(),
            entries: (0..capacity).map(|_| Entry::default()).collect(),
            names: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
            chunks: (0..capacity + subscribers as u64)
                .map(|_| UnsafeCell::new(0))
                .collect(),
        };
        init(&b);
        b
    }

    /// Publishes `v` as the publisher `p`; `alive` as for [`Publishing::begin`].
    pub(crate) fn publish(
        &self,
        p: &mut Publishing,
        v: u64,
        alive: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), TopicError> {
        self.write(p, v, alive)?;
        p.commit(self, false);
        Ok(())
    }

    /// Begins the next position as the publisher `p` and writes `v` into its chunk, not
    /// committed (a loan written and not sent); returns the chunk.
    pub(crate) fn write(
        &self,
        p: &mut Publishing,
        v: u64,
        alive: &mut dyn FnMut(usize) -> bool,
    ) -> Result<u64, TopicError> {
        // As the shared-memory publisher does: the inline path first, then the full one.
        let chunk = match p.begin_fast(self, false) {
            Some(chunk) => chunk,
            None => p.begin(self, alive)?.1,
        };
        let cell = &self.chunks[chunk as usize];
        #[cfg(ipc_loom)]
        // SAFETY: `begin` gave us this chunk: nobody reads it until `commit`.
        cell.with_mut(|c| unsafe { *c = v });
        #[cfg(not(ipc_loom))]
        // SAFETY: as above.
        unsafe {
            *cell.get() = v
        };
        Ok(chunk)
    }

    /// What chunk `c` holds, read in place as a subscriber reads the chunk it holds (the
    /// tests also read chunks they hold on the thread that publishes).
    pub(crate) fn value(&self, c: u64) -> u64 {
        let cell = &self.chunks[c as usize];
        #[cfg(ipc_loom)]
        // SAFETY: only a publisher writes a chunk, between `begin` and `commit`, and not
        // one a subscriber holds: the protocol under test (loom fails a model in which a
        // write and this read race).
        let v = cell.with(|c| unsafe { *c });
        #[cfg(not(ipc_loom))]
        // SAFETY: as above.
        let v = unsafe { *cell.get() };
        v
    }

    /// One look by subscriber `me` at `cursor`: the sample there, read in place (and the
    /// cursor moved past it), `Ok(None)` if none is published yet, or the count skipped
    /// if it lagged.
    pub(crate) fn read(
        &self,
        me: usize,
        cursor: &mut u64,
        overflow: Overflow,
    ) -> Result<Option<u64>, Lag> {
        match peek(self, *cursor, overflow) {
            Peek::Ready(chunk) => {
                // Published at our cursor and kept for us until we move it.
                let v = self.value(chunk);
                advance(self, me, *cursor, *cursor + 1, false, overflow);
                *cursor += 1;
                Ok(Some(v))
            }
            Peek::Empty => Ok(None),
            Peek::Lagged => {
                let to = oldest(self, *cursor);
                let skipped = to - *cursor;
                advance(self, me, *cursor, to, false, overflow);
                *cursor = to;
                Err(Lag::Skipped(skipped))
            }
            Peek::Corrupt => Err(Lag::Corrupt),
        }
    }

    /// Joins subscriber `me` with `history`; returns its cursor.
    pub(crate) fn subscribe(&self, me: usize, history: u64) -> u64 {
        let at = start(self, history);
        join(self, me, me as u64 + 1, at);
        heavy();
        let from = after_join(self, at);
        // Never waited for: nobody parks in these tests.
        advance(self, me, at, from, false, Overflow::Block);
        from
    }
}

/// A look that found no sample: lagged by this many, or corrupt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lag {
    Skipped(u64),
    Corrupt,
}

// SAFETY: all references point into fields of `self`; the capacity is the constant length
// of `entries`, a power of two in the tests.
unsafe impl Board for HeapBoard {
    fn control(&self) -> &TopicControl {
        &self.control
    }
    fn capacity(&self) -> u64 {
        self.entries.len() as u64
    }
    fn subscribers(&self) -> usize {
        self.subs.len()
    }
    fn sub(&self, k: usize) -> &SubLine {
        &self.subs[k]
    }
    fn entry(&self, i: u64) -> &Entry {
        &self.entries[i as usize]
    }
    fn names(&self, i: u64) -> &AtomicU64 {
        &self.names[i as usize]
    }
}
