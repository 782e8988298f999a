//! What either end does when its fast path fails: a sender that finds the ring full or
//! its mode changing ([`Sender::claim_slow`]), a receiver that finds no message at its
//! head ([`Receiver::wait_for_message`]). Both spin, yield, then park on the segment's
//! futexes as the channel's [`WaitStrategy`](crate::sync::WaitStrategy) says, probe
//! their peers' liveness and the shutdown flag at most every `CHECK_EVERY`, and give up
//! at their deadline.
//!
//! Each park pairs with a wake on the other end's fast path: the receiver's `park` with
//! the sender's `publish` (`sender.rs`), a sender's `park_for_room` with the receiver's
//! `release_to` (`receiver.rs`). Either side stores, then looks at the other's word,
//! with a barrier between, so that one of the two sees the other.

use std::time::{Duration, Instant};

use super::receiver::{release, Receiver};
use super::sender::Sender;
use super::{Chan, RECEIVER, SENDERS};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shm::ring::{Peek, RingError, Settle};
use crate::sync::atomic::Ordering;
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{fence, futex, Backoff};

/// How often a spinning waiter re-checks liveness.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// True if a liveness probe is due: `CHECK_EVERY` has passed since the last one (the first
/// call only starts the clock).
fn due(last: &mut Option<Instant>, now: Instant) -> bool {
    match last {
        None => {
            *last = Some(now);
            false
        }
        Some(t) => now.duration_since(*t) >= CHECK_EVERY,
    }
}

impl Wait {
    /// Time left to park, capped at the liveness slice; Err when the time is up.
    fn slice(self, now: Instant) -> Result<Duration> {
        match self {
            Wait::Now => Err(Error::Empty),
            Wait::Forever => Ok(PARK_SLICE),
            Wait::Until(at, d) => {
                let left = at.saturating_duration_since(now);
                if left.is_zero() {
                    Err(Error::Timeout(d))
                } else {
                    Ok(left.min(PARK_SLICE))
                }
            }
        }
    }
}

/// Runs the heavy side of the fence before a park (see [`crate::sync::fence`]) and returns
/// how long the park may sleep: `slice`, or a short slice if the fence failed, so that a
/// wake-up a peer could not see costs no more than that.
fn fenced_slice(slice: Duration) -> Duration {
    if fence::heavy() {
        slice
    } else {
        slice.min(fence::UNFENCED_SLICE)
    }
}

impl<T: Message> Sender<T> {
    fn receiver_gone(&self) -> bool {
        let h = self.chan.header();
        if h.rx_closed().load(Ordering::Relaxed) != 0 {
            return true;
        }
        h.counters.receivers_joined.load(Ordering::Relaxed) != 0 && !self.chan.seg.alive(RECEIVER)
    }

    /// The fast path in [`claim`](Self::claim) (or `claim_many_now`) failed: settles the
    /// mode if another sender holds the bias, waits for room until `until` if the ring is
    /// full, re-checking the receiver's liveness and the shutdown flag on the way. Claims
    /// up to `max >= 1` consecutive slots, as many as are free once there is room for
    /// one: returns the first position and how many.
    #[cold]
    #[inline(never)]
    pub(super) fn claim_slow(&mut self, until: &Wait, max: u64) -> Result<(u64, u64)> {
        if self.chan.header().rx_closed().load(Ordering::Relaxed) != 0 {
            return Err(Error::Disconnected);
        }
        let chan = &self.chan;
        let mut why = match chan
            .ring
            .try_claim_many(chan.me, &mut self.released, chan.fenced, max)
        {
            Ok(claimed) => return Ok(claimed),
            Err(RingError::Corrupt) => return Err(Chan::corrupt()),
            Err(e) => e,
        };
        let mut backoff = Backoff::new(self.chan.opts.wait);
        // Set when the first wait begins: no clock read on the fast path.
        let mut last_check: Option<Instant> = None;
        loop {
            let settled = match why {
                RingError::Busy(mode) => self.chan.ring.settle(self.chan.me, mode, &self.chan),
                _ => Settle::Wait,
            };
            if settled == Settle::Revoked {
                let c = &self.chan.header().counters;
                c.bias_revoked.fetch_add(1, Ordering::Relaxed);
            }
            if settled == Settle::Wait {
                if let Wait::Now = *until {
                    return Err(if self.receiver_gone() {
                        Error::Disconnected
                    } else {
                        Error::Empty
                    });
                }
                let step = backoff.snooze();
                if step == Step::Park || backoff.should_check() {
                    let now = Instant::now();
                    let slice = until.slice(now)?;
                    if due(&mut last_check, now) {
                        last_check = Some(now);
                        crate::shutdown::check_shutdown()?;
                        if self.receiver_gone() {
                            return Err(Error::Disconnected);
                        }
                    }
                    if step == Step::Park {
                        match why {
                            RingError::Full => self.park_for_room(slice),
                            // Another sender is changing the mode (microseconds, unless
                            // its barrier failed): sleep a little rather than spin.
                            _ => std::thread::sleep(slice.min(fence::UNFENCED_SLICE)),
                        }
                    }
                }
            }
            let chan = &self.chan;
            match chan
                .ring
                .try_claim_many(chan.me, &mut self.released, chan.fenced, max)
            {
                Ok(claimed) => return Ok(claimed),
                Err(RingError::Corrupt) => return Err(Chan::corrupt()),
                Err(e) => why = e,
            }
        }
    }

    /// Sleeps on the space event until the receiver frees a slot or `slice` passes.
    fn park_for_room(&self, slice: Duration) {
        let ev = &self.chan.header().space;
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        // The receiver's side of the fence is only a compiler barrier: ours orders it.
        let slice = fenced_slice(slice);
        // Re-check after announcing ourselves: the receiver bumps the epoch after freeing.
        if !self.chan.ring.has_room() {
            futex::wait(&ev.epoch, epoch, Some(slice));
        }
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T: Message> Receiver<T> {
    fn senders_gone(&self) -> bool {
        self.chan
            .header()
            .counters
            .senders_joined
            .load(Ordering::SeqCst)
            != 0
            && !self.chan.seg.any_alive(SENDERS)
    }

    /// Publishes the slot at `pos` as cancelled if its claimer died; true if it did (the
    /// next peek then reads and frees it).
    fn skip_dead(&mut self, pos: u64) -> bool {
        let seg = &self.chan.seg;
        if self.chan.ring.skip_abandoned(pos, |i| seg.alive(i)) {
            self.chan
                .header()
                .counters
                .lost
                .fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Skips cancelled slots and waits (spinning, then parking, as the channel's
    /// [`WaitStrategy`](crate::sync::WaitStrategy) says) until a message is at the head;
    /// returns its position, now behind `head`.
    #[inline(never)]
    pub(super) fn wait_for_message(&mut self, until: &Wait) -> Result<u64> {
        let mut backoff = Backoff::new(self.chan.opts.wait);
        // Set when the first wait begins: no clock read on the fast path.
        let mut last_check: Option<Instant> = None;
        let pos = loop {
            let peek = self
                .chan
                .ring
                .peek(self.head)
                .map_err(|_| Chan::corrupt())?;
            match peek {
                Peek::Ready { pos, cancelled } => {
                    self.head = pos.wrapping_add(1);
                    if cancelled {
                        release(&self.chan, &mut self.read, pos);
                        continue;
                    }
                    break pos;
                }
                // Out of messages: senders see all the room there is (and before any park).
                Peek::Pending(_) | Peek::Empty => self.release_all(),
            }
            // Liveness probes are system calls: at most one per CHECK_EVERY, whether
            // spinning or parking (a park lasts at most PARK_SLICE, so a dead peer is
            // noticed within about PARK_SLICE + CHECK_EVERY).
            let (due, park) = match *until {
                Wait::Now => (true, false),
                _ => {
                    let step = backoff.snooze();
                    let park = step == Step::Park;
                    let due = (park || backoff.should_check()) && {
                        let now = Instant::now();
                        until.slice(now)?;
                        due(&mut last_check, now)
                    };
                    (due, park)
                }
            };
            if due {
                last_check = Some(Instant::now());
                crate::shutdown::check_shutdown()?;
                if self.chan.ring.claimed(self.head) {
                    if self.skip_dead(self.head) {
                        continue;
                    }
                } else if self.senders_gone() {
                    // Re-check after the liveness probe: a message published just before
                    // its sender left must still be delivered.
                    match self.chan.ring.peek(self.head) {
                        Ok(Peek::Empty) => return Err(Error::Disconnected),
                        _ => continue,
                    }
                }
            }
            if park || matches!(*until, Wait::Now) {
                let slice = until.slice(Instant::now())?;
                self.park(slice);
            }
        };
        Ok(pos)
    }

    fn park(&self, slice: Duration) {
        let h = self.chan.header();
        // SeqCst store, then a full barrier on every CPU (`membarrier`, for senders that
        // skip theirs), then SeqCst re-check of the slot; the sender publishes, then loads
        // this flag: one of the two sees the other.
        h.rx_parked.store(1, Ordering::SeqCst);
        let slice = fenced_slice(slice);
        if !self.chan.ring.published(self.head) {
            let _ = h.rx_sem.wait_timeout(slice);
        }
        h.rx_parked.store(0, Ordering::Relaxed);
    }
}
