//! The publisher's side of a topic: attaching to a board ([`Publishing::attach`]),
//! beginning and committing a position, evicting a lagging subscriber's chunk under
//! `DropOldest`, and finding who still reads a chunk outside the ring. What the board's
//! words mean, and the subscribers' side, are in the parent module.

use super::{light, Board, Overflow, TopicError, BUSY, POSITION_LIMIT};
use crate::sync::atomic::{fence, Ordering};

/// A subscriber (index, join number) that was reading position `pos` from a chunk when
/// the chunk left the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reader {
    sub: usize,
    join: u64,
    pos: u64,
}

impl Reader {
    /// True once it reads the chunk no more: it left (its line shows another join
    /// number, or none), or its cursor moved past `pos`.
    fn done(self, b: &impl Board) -> bool {
        let line = b.sub(self.sub);
        line.attached.load(Ordering::Acquire) != self.join
            || line.cursor.load(Ordering::Acquire) > self.pos
    }
}

/// A chunk outside the ring, and who may still read it: every subscriber that was
/// reading the chunk's position when the chunk left the ring (free once each is done).
#[derive(Clone, Debug)]
struct Spare {
    chunk: u64,
    readers: Vec<Reader>,
}

impl Spare {
    /// True if nobody reads the chunk, or ever will.
    fn is_free(&self, b: &impl Board) -> bool {
        self.readers.iter().all(|r| r.done(b))
    }
}

/// The publisher's private state.
#[derive(Debug)]
pub(crate) struct Publishing {
    /// The next position to publish.
    next: u64,
    /// No attached subscriber's cursor is below this (`u64::MAX`: nobody attached).
    min: u64,
    /// The count of joins and leaves `min` was read at.
    members: u64,
    /// The chunk each entry's next position goes into (this publisher's choice).
    chunk_of: Vec<u64>,
    /// The chunk map as this publisher stored it last.
    named: Vec<u64>,
    /// The chunks outside the ring.
    spares: Vec<Spare>,
    /// `DropOldest`: positions below this are evicted (or were replaced before this
    /// publisher attached); `kept[i]`: the subscribers (index, join number) that may be
    /// reading entry `i`'s old chunk, found when this publisher evicted it.
    evicted: u64,
    kept: Vec<Vec<(usize, u64)>>,
    /// A position begun and not committed (a loan dropped unsent): the next begin
    /// returns it again.
    pending: Option<(u64, u64)>,
    overflow: Overflow,
}

impl Publishing {
    /// The state of a publisher that attaches to `b` (fresh or written by a publisher
    /// before it): it goes on after the last position published (`tail`, or the one at
    /// `tail` if a killed publisher stored its entry and not `tail`), has evicted nothing
    /// in the ring, and takes the readers of the chunks outside the ring from the records
    /// in the subscriber lines (see "A publisher that attaches").
    pub(crate) fn attach(b: &impl Board, overflow: Overflow) -> Result<Self, TopicError> {
        let cap = b.capacity();
        let mut tail = b.control().tail.load(Ordering::Acquire);
        if tail >= POSITION_LIMIT {
            return Err(TopicError::Corrupt);
        }
        if b.entry(tail & (cap - 1)).seq.load(Ordering::Acquire) == tail + 1 {
            // A publisher killed in `commit` between its store to the entry and its store
            // to `tail`: the position is published (subscribers may be reading it), so it
            // is not written again. Its commit is finished here.
            tail += 1;
            b.control().tail.store(tail, Ordering::Release);
        }
        let mut in_ring = vec![false; b.chunks() as usize];
        let mut chunk_of = Vec::with_capacity(cap as usize);
        for i in 0..cap {
            // Under `Block` entry `i` always names chunk `i` (subscribers do not even read
            // the map); under `DropOldest` the map says.
            let c = match overflow {
                Overflow::Block => i,
                Overflow::DropOldest => b.names(i).load(Ordering::Relaxed),
            };
            if c >= b.chunks() || in_ring[c as usize] {
                return Err(TopicError::Corrupt);
            }
            in_ring[c as usize] = true;
            chunk_of.push(c);
        }
        // A chunk outside the ring is read by nobody, unless a publisher kept it for
        // subscribers that may still read it: each of them has it in its line's record.
        let mut readers = vec![Vec::new(); b.chunks() as usize];
        if overflow == Overflow::DropOldest {
            for k in 0..b.subscribers() {
                let line = b.sub(k);
                let chunk = line.kept_chunk.load(Ordering::Acquire);
                let reader = Reader {
                    sub: k,
                    join: line.kept_join.load(Ordering::Acquire),
                    pos: line.kept_pos.load(Ordering::Acquire),
                };
                // A join number is never 0: such a line has no record.
                if reader.join != 0
                    && chunk < b.chunks()
                    && !in_ring[chunk as usize]
                    && !reader.done(b)
                {
                    readers[chunk as usize].push(reader);
                }
            }
        }
        let spares = (0..b.chunks())
            .zip(readers)
            .filter(|&(c, _)| !in_ring[c as usize])
            .map(|(chunk, readers)| Spare { chunk, readers })
            .collect();
        Ok(Publishing {
            next: tail,
            min: 0,
            // Not the count now: the first replacement reads the cursors.
            members: b.control().members.load(Ordering::Acquire).wrapping_sub(1),
            named: chunk_of.clone(),
            chunk_of,
            spares,
            // Nothing in the ring: its positions are evicted as by any publisher (`BUSY`
            // stores, then a look at the cursors) before their chunks are written.
            evicted: tail.saturating_sub(cap),
            kept: vec![Vec::new(); cap as usize],
            pending: None,
            overflow,
        })
    }

    /// The next position to publish.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// [`Publishing::begin`] on the path that streams, inline: a position whose old one
    /// nobody reads (by the cached lower bound of the cursors, and no join since), or one
    /// of the first lap. None: take the full path.
    #[inline(always)]
    pub(crate) fn begin_fast(&mut self, b: &impl Board, fenced: bool) -> Option<u64> {
        if self.pending.is_some() {
            return None;
        }
        let cap = b.capacity();
        let pos = self.next;
        let i = (pos & (cap - 1)) as usize;
        if pos >= cap {
            let old = pos - cap;
            if self.overflow == Overflow::DropOldest && old < self.evicted {
                return None;
            }
            light(fenced);
            let members = b.control().members.load(Ordering::Acquire);
            if members != self.members || old >= self.min {
                return None;
            }
        }
        let chunk = self.chunk_of[i];
        self.pending = Some((pos, chunk));
        Some(chunk)
    }

    /// Begins publishing the next position: evicts what its entry held (or finds that it
    /// must wait) and picks the chunk to write. Returns the position and the chunk; the
    /// caller writes the chunk and calls [`Publishing::commit`]. The caller has tried
    /// [`Publishing::begin_fast`] first, which made the store-load barrier this relies on.
    /// Called again before a commit, it returns the same (a loan dropped unsent leaves its
    /// chunk for the next).
    ///
    /// `alive(k)` says whether subscriber `k` is alive; it is asked only when the
    /// publisher would wait for `k` (`Block`), so its cost is off the path that streams.
    ///
    /// # Errors
    ///
    /// `Full` (`Block` only): a live subscriber has not read the position to replace.
    /// `Corrupt`: the board fits no state.
    pub(crate) fn begin(
        &mut self,
        b: &impl Board,
        alive: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(u64, u64), TopicError> {
        if let Some(p) = self.pending {
            return Ok(p);
        }
        let cap = b.capacity();
        let pos = self.next;
        let i = (pos & (cap - 1)) as usize;
        let old_chunk = self.chunk_of[i];
        let chunk = if pos < cap {
            // First lap: nothing to evict.
            old_chunk
        } else if self.overflow == Overflow::DropOldest && pos - cap < self.evicted {
            // Evicted with a batch before (its entry is BUSY already).
            self.take_chunk(b, i, pos - cap)?
        } else {
            let old = pos - cap;
            // `begin_fast` found a join or `old` not below the cached bound, after its
            // store-load barrier (`tail == pos` since the last commit: a joiner that reads
            // it after its heavy barrier keeps off `old`, or that load sees its join).
            // Read the cursors again.
            self.members = b.control().members.load(Ordering::Acquire);
            // At most a lap ahead, even with no subscriber: the full path runs at least
            // once a lap, where the publisher looks at what it alone cannot see on the
            // path that streams (its mapping shrunk under it, see `sigbus.rs`).
            self.min = read_min(b).min(pos + 1);
            if old < self.min {
                old_chunk
            } else {
                match self.overflow {
                    Overflow::Block => {
                        if !(reap(b, old, alive) && {
                            self.min = read_min(b);
                            old < self.min
                        }) {
                            return Err(TopicError::Full);
                        }
                        old_chunk
                    }
                    Overflow::DropOldest => {
                        self.evict_batch(b, pos);
                        self.take_chunk(b, i, old)?
                    }
                }
            }
        };
        self.pending = Some((pos, chunk));
        Ok((pos, chunk))
    }

    /// `DropOldest`: evicts the old positions of the entries of `pos..pos + batch` (stores
    /// `BUSY` in each, a full fence, then reads the cursors) and notes whose old chunk must
    /// be kept for the subscribers that may be reading it. Under `DropOldest` every
    /// subscriber moves its cursor and then loads an entry with a full fence between
    /// ([`advance`](super::advance)), so a plain fence pairs with it: a lagging subscriber
    /// costs the publisher no system call.
    fn evict_batch(&mut self, b: &impl Board, pos: u64) {
        let cap = b.capacity();
        let to = pos + (cap / 8).max(1);
        for p in pos..to {
            b.entry(p & (cap - 1))
                .seq
                .store((p + 1) | BUSY, Ordering::Relaxed);
        }
        fence(Ordering::SeqCst);
        for p in pos..to {
            self.kept[(p & (cap - 1)) as usize].clear();
        }
        for k in 0..b.subscribers() {
            let line = b.sub(k);
            let join = line.attached.load(Ordering::Acquire);
            let cursor = line.cursor.load(Ordering::Acquire);
            if join != 0 && (pos - cap..to - cap).contains(&cursor) {
                self.kept[(cursor & (cap - 1)) as usize].push((k, join));
            }
        }
        self.evicted = to - cap;
    }

    /// The chunk to write entry `i`'s new position into, its old position `old` being
    /// evicted: its own, unless subscribers may be reading it (then a free spare, and the
    /// old chunk waits among the spares until each of them moves on). A free spare exists
    /// unless the board was written over: each subscriber reads one chunk, and those
    /// reading entry `i`'s read none of the spares.
    fn take_chunk(&mut self, b: &impl Board, i: usize, old: u64) -> Result<u64, TopicError> {
        let old_chunk = self.chunk_of[i];
        if self.kept[i].is_empty() {
            return Ok(old_chunk);
        }
        let kept_already = self.spares.iter().any(|s| {
            s.readers
                .iter()
                .any(|r| r.pos == old && self.kept[i].contains(&(r.sub, r.join)))
        });
        if kept_already {
            // The chunk `old` is read from is out of the ring already: the publisher
            // before this one kept it, moved the entry to `old_chunk` and stopped before
            // it published there (see "A publisher that attaches"). Nobody reads that.
            self.kept[i].clear();
            return Ok(old_chunk);
        }
        let free = self
            .spares
            .iter()
            .position(|s| s.is_free(b))
            .ok_or(TopicError::Corrupt)?;
        let spare = &mut self.spares[free];
        let chunk = spare.chunk;
        spare.chunk = old_chunk;
        // The freed spare's list, reused: no allocation once the lists have grown.
        spare.readers.clear();
        for &(sub, join) in &self.kept[i] {
            spare.readers.push(Reader {
                sub,
                join,
                pos: old,
            });
            // Recorded before the entry names another chunk (`commit`), for a publisher
            // that attaches after this one. Plain stores: that one attaches after this
            // one left or died, and sees what it stored.
            let line = b.sub(sub);
            line.kept_join.store(join, Ordering::Relaxed);
            line.kept_chunk.store(old_chunk, Ordering::Relaxed);
            line.kept_pos.store(old, Ordering::Relaxed);
        }
        self.kept[i].clear();
        self.chunk_of[i] = chunk;
        Ok(chunk)
    }

    /// Publishes the position [`Publishing::begin`] returned, its chunk written. Returns
    /// true if subscribers are parked (the caller wakes them).
    #[inline(always)]
    pub(crate) fn commit(&mut self, b: &impl Board, fenced: bool) -> bool {
        let Some((pos, chunk)) = self.pending.take() else {
            return false;
        };
        let cap = b.capacity();
        let i = pos & (cap - 1);
        if self.named[i as usize] != chunk {
            b.names(i).store(chunk, Ordering::Relaxed);
            self.named[i as usize] = chunk;
        }
        b.entry(i).seq.store(pos + 1, Ordering::Release);
        self.next = pos + 1;
        let c = b.control();
        c.tail.store(pos + 1, Ordering::Release);
        light(fenced);
        c.sleepers.waiters.load(Ordering::Relaxed) != 0
    }

    /// The position a `Block` publisher waits for every live subscriber to pass.
    pub(crate) fn waits_for(&self, b: &impl Board) -> u64 {
        self.next + 1 - b.capacity()
    }
}

/// True if every attached subscriber's cursor is at `wants` or beyond (a publisher about
/// to wait for room looks once more, `SeqCst`, after announcing what it waits for).
pub(crate) fn room_for(b: &impl Board, wants: u64) -> bool {
    read_min(b) >= wants
}

/// The lowest cursor of the attached subscribers (`u64::MAX` if none).
fn read_min(b: &impl Board) -> u64 {
    (0..b.subscribers())
        .filter_map(|k| {
            let line = b.sub(k);
            (line.attached.load(Ordering::Acquire) != 0)
                .then(|| line.cursor.load(Ordering::Acquire))
        })
        .min()
        .unwrap_or(u64::MAX)
}

/// Detaches the dead among the subscribers whose cursor is at or below `old`; true if it
/// detached one.
fn reap(b: &impl Board, old: u64, alive: &mut dyn FnMut(usize) -> bool) -> bool {
    let mut any = false;
    for k in 0..b.subscribers() {
        let line = b.sub(k);
        let join = line.attached.load(Ordering::Acquire);
        if join != 0 && line.cursor.load(Ordering::Acquire) <= old && !alive(k) {
            any |= line
                .attached
                .compare_exchange(join, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok();
        }
    }
    any
}
