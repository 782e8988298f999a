//! What either end does when its fast path fails: a sender that finds the ring full or
//! its mode changing ([`Sender::claim_slow`]), a receiver that finds no message at its
//! head ([`Receiver::wait_for_message`]). Both spin, yield, then park on the segment's
//! futexes as the channel's [`WaitStrategy`](crate::sync::WaitStrategy) says, probe
//! their peers' liveness and the shutdown flag, and give up at their deadline.
//!
//! Each park pairs with a wake on the other end's fast path: the receiver's `park` with
//! the sender's `publish` (`sender.rs`), a sender's `park_for_room` with the receiver's
//! `release_to` (`receiver.rs`). Either side stores, then looks at the other's word,
//! with a barrier between, so that one of the two sees the other.
//!
//! A park has no timeout but the caller's deadline and a minute: the peers it waits for
//! are watched for their death ([`Watch`](crate::shm::watch::Watch),
//! [`crate::sync::deaths`]), and a peer that joins or leaves wakes it, so nothing but a
//! message, room, a change of peers, a death, a shutdown request or the minute
//! ([`LONGEST_SLEEP`](crate::shm::watch::LONGEST_SLEEP)) ends it, and an idle end makes
//! no system call in between. Where deaths cannot be
//! watched, a park sleeps at most `PARK_SLICE` and the end probes in between, as a
//! spinning end does every `CHECK_EVERY`.

use std::time::{Duration, Instant};

use super::receiver::{release, Receiver};
use super::sender::Sender;
use super::{Chan, RECEIVER, SENDERS};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::shm::ring::{Peek, RingError, Settle};
use crate::shm::watch::{at_most_longest, Look};
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;
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
    pub(in crate::shm) fn slice(self, now: Instant) -> Result<Duration> {
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

/// How long a park without a death notice may sleep: `slice`, or a short slice if the
/// heavy fence before it failed, so that a wake-up a peer could not see costs no more than
/// that (see [`crate::sync::fence`]).
fn slice_of(slice: Duration, fenced: bool) -> Duration {
    if fenced {
        slice
    } else {
        slice.min(fence::UNFENCED_SLICE)
    }
}

impl<T: ?Sized + Payload> Sender<T> {
    pub(super) fn receiver_gone(&self) -> bool {
        let h = self.chan.header();
        if h.rx_closed().load(Ordering::Relaxed) != 0 {
            return true;
        }
        h.counters.receivers_joined.load(Ordering::Relaxed) != 0 && !self.chan.seg.alive(RECEIVER)
    }

    /// [`receiver_gone`](Self::receiver_gone) for a send that does not wait: the
    /// liveness probe (a system call) only if the receiver joined, left or died since
    /// this sender last probed it ([`Watch::unchanged`](crate::shm::watch::Watch::unchanged)),
    /// so that a loop of `try_send`s on a full ring costs loads, not system calls.
    fn receiver_gone_now(&mut self) -> bool {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        if h.rx_closed().load(Ordering::Relaxed) != 0 {
            return true;
        }
        let wake = Wake::Bump(&h.space.epoch);
        if chan
            .watch
            .unchanged(&chan.seg, RECEIVER..RECEIVER + 1, wake)
        {
            return false;
        }
        chan.watch.probed();
        self.receiver_gone()
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
        // A death notice woke the last park: probe at once.
        let mut probe = false;
        loop {
            let settled = match why {
                RingError::Busy(mode) => self.chan.ring.settle(self.chan.me, mode, &self.chan),
                _ => Settle::Wait,
            };
            if settled == Settle::Revoked {
                let c = &self.chan.header().counters;
                c.bias_revoked.fetch_add(1, Ordering::Relaxed);
                self.revoked_bias();
            }
            if settled == Settle::Wait {
                if let Wait::Now = *until {
                    return Err(if self.receiver_gone_now() {
                        Error::Disconnected
                    } else {
                        Error::Empty
                    });
                }
                let step = backoff.snooze();
                if step == Step::Park || backoff.should_check() {
                    let now = Instant::now();
                    let slice = until.slice(now)?;
                    if due(&mut last_check, now) || core::mem::take(&mut probe) {
                        last_check = Some(now);
                        crate::shutdown::check_shutdown()?;
                        self.chan.seg.intact()?;
                        self.chan.watch.probed();
                        if self.receiver_gone() {
                            return Err(Error::Disconnected);
                        }
                    }
                    if step == Step::Park {
                        match why {
                            RingError::Full => probe = self.park_for_room(slice, until.left()),
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

    /// Sleeps on the space event until the receiver frees a slot, joins or leaves, or
    /// `left` passes (None: no limit), while the receiver is watched for its death;
    /// without a watch (see [`crate::sync::deaths`]), in slices of at most `slice`. True
    /// if the caller must probe liveness before it sleeps again: the peers were read
    /// again, it slept without a limit, or a death notice (or a shutdown request) came.
    fn park_for_room(&mut self, slice: Duration, left: Option<Duration>) -> bool {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        let ev = &h.space;
        let look = chan
            .watch
            .look(&chan.seg, RECEIVER..RECEIVER + 1, Wake::Bump(&ev.epoch));
        if matches!(look, Look::Fresh) {
            return true;
        }
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        // The receiver frees slots with a full barrier of its own; ours also orders a
        // receiver of an earlier build of this segment format, whose side was only a
        // compiler barrier (and tells whether a sleep without a limit is safe).
        let fenced = fence::heavy();
        // Re-check after announcing ourselves: the receiver bumps the epoch after freeing.
        let mut slept = false;
        if !chan.ring.has_room() {
            if matches!(look, Look::Watched) && fenced {
                // A notice that came before our load of the epoch left no trace in it.
                if !chan.watch.stale(&chan.seg) {
                    futex::wait(&ev.epoch, epoch, at_most_longest(left));
                    slept = true;
                }
            } else {
                futex::wait(&ev.epoch, epoch, Some(slice_of(slice, fenced)));
            }
        }
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
        // After a sleep without a limit, probe before the next: unless room came, what
        // woke us may have been the receiver leaving.
        chan.watch.fired() | slept | chan.seg.shrunk()
    }
}

impl<T: ?Sized + Payload> Receiver<T> {
    pub(super) fn senders_gone(&self) -> bool {
        self.chan
            .header()
            .counters
            .senders_joined
            .load(Ordering::SeqCst)
            != 0
            && !self.chan.seg.any_alive(SENDERS)
    }

    /// True if no sender joined, left or died since this receiver last probed their
    /// liveness ([`Watch::unchanged`](crate::shm::watch::Watch::unchanged)): a receive
    /// that does not wait and finds nothing then says `Empty` without the probe's
    /// system calls. The death notice wakes what this receiver parks on: its doorbell
    /// while it has one (async, or one of many), else its semaphore.
    fn peers_unchanged(&mut self) -> bool {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        let wake = if h.rx_bell.load(Ordering::Relaxed) != 0 {
            Wake::Ring(&h.rx_bell.0)
        } else {
            Wake::Post(&h.rx_sem)
        };
        chan.watch.unchanged(&chan.seg, SENDERS, wake)
    }

    /// Publishes the slot at `pos` (the head) as cancelled if its claimer died; true if it
    /// did (the next peek then reads and frees it).
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the ring's `tail` is further ahead than any sender can claim
    /// (overwritten): every position up to it would look claimed by nobody alive.
    pub(super) fn skip_dead(&mut self, pos: u64) -> Result<bool> {
        if self.packed.contains(pos) {
            // A message of the packed batch this receiver is in, published with its head
            // (its own `seq` is an earlier lap's, and no claim names it).
            return Ok(false);
        }
        if self.chan.ring.tail_beyond_reach(pos) {
            return Err(Error::Corrupt(
                "the shared ring's tail is further ahead of the receiver than the ring \
                 holds: another process overwrote the channel's memory"
                    .into(),
            ));
        }
        let seg = &self.chan.seg;
        if self.chan.ring.skip_abandoned(pos, |i| seg.alive(i)) {
            self.chan
                .header()
                .counters
                .lost
                .fetch_add(1, Ordering::Relaxed);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Skips cancelled slots and waits (spinning, then parking, as the channel's
    /// [`WaitStrategy`](crate::sync::WaitStrategy) says) until a message is at the head;
    /// returns its position, now behind `head`.
    #[inline(never)]
    pub(super) fn wait_for_message(&mut self, until: &Wait) -> Result<u64> {
        self.find_message(until, true)
    }

    /// As [`wait_for_message`](Self::wait_for_message), leaving the message found at the
    /// head (not consumed): the async receiver's look before it lends a sample.
    #[cfg(feature = "tokio")]
    pub(super) fn wait_for_message_at_head(&mut self, until: &Wait) -> Result<u64> {
        self.find_message(until, false)
    }

    /// Skips cancelled slots, waits as `until` says for a message at the head, and
    /// returns its position; moves `head` past it if `take`.
    #[inline(always)]
    fn find_message(&mut self, until: &Wait, take: bool) -> Result<u64> {
        let mut backoff = Backoff::new(self.chan.opts.wait);
        // Set when the first wait begins: no clock read on the fast path.
        let mut last_check: Option<Instant> = None;
        // A death notice woke the last park: probe at once.
        let mut probe = false;
        let pos = loop {
            let peek = self.peek_head().map_err(|_| Chan::corrupt())?;
            match peek {
                Peek::Ready { pos, cancelled } => {
                    if cancelled {
                        self.head = pos.wrapping_add(1);
                        release(&self.chan, &mut self.read, pos);
                        continue;
                    }
                    if take {
                        self.head = pos.wrapping_add(1);
                    }
                    break pos;
                }
                // Out of messages: senders see all the room there is (and before any park).
                // (`peek_head` reports a packed head as the message at its position.)
                Peek::Pending(_) | Peek::Empty | Peek::Packed(_) => self.release_all(),
            }
            // Liveness probes are system calls: at most one per CHECK_EVERY while
            // spinning, and one after each look at the peers a park watches and after each
            // death notice (a park without notices lasts at most PARK_SLICE, so a dead
            // peer is then noticed within about PARK_SLICE + CHECK_EVERY).
            let (due, park) = match *until {
                Wait::Now => {
                    // One load: a shutdown request ends a poll at once, as a wait.
                    crate::shutdown::check_shutdown()?;
                    (!self.peers_unchanged(), false)
                }
                _ => {
                    let step = backoff.snooze();
                    let park = step == Step::Park;
                    let due = (park || backoff.should_check()) && {
                        let now = Instant::now();
                        until.slice(now)?;
                        due(&mut last_check, now)
                    };
                    (due || core::mem::take(&mut probe), park)
                }
            };
            if due {
                last_check = Some(Instant::now());
                crate::shutdown::check_shutdown()?;
                self.chan.seg.intact()?;
                self.chan.watch.probed();
                if self.chan.ring.claimed(self.head) {
                    if self.skip_dead(self.head)? {
                        // Its claimer died (a sender killed holding a loan): probe again
                        // at once, so that a receiver whose last sender that was ends
                        // with `Disconnected` now rather than park on a death already
                        // noticed, which no other notice would end.
                        probe = true;
                        continue;
                    }
                } else if self.senders_gone() {
                    // Re-check after the liveness probe: a message published just before
                    // its sender left must still be delivered.
                    match self.peek_head() {
                        Ok(Peek::Empty) => return Err(Error::Disconnected),
                        _ => continue,
                    }
                }
            }
            if let Wait::Now = *until {
                return Err(Error::Empty);
            }
            if park {
                let slice = until.slice(Instant::now())?;
                probe = self.park(slice, until.left());
            }
        };
        Ok(pos)
    }

    /// Parks until a sender posts (it published, joined or left) or `left` passes (None:
    /// no limit), while the live senders are watched for their death; without a watch
    /// (see [`crate::sync::deaths`]), in slices of at most `slice`. True if the caller
    /// must probe liveness before it parks again: the senders were read again, it slept
    /// without a limit, or a death notice (or a shutdown request) came.
    fn park(&mut self, slice: Duration, left: Option<Duration>) -> bool {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        let look = chan.watch.look(&chan.seg, SENDERS, Wake::Post(&h.rx_sem));
        if matches!(look, Look::Fresh) {
            return true;
        }
        // SeqCst store, then a full barrier on every CPU (`membarrier`, for senders that
        // skip theirs), then SeqCst re-check of the slot; the sender publishes, then loads
        // this flag: one of the two sees the other.
        h.rx_parked.store(1, Ordering::SeqCst);
        let fenced = fence::heavy();
        let mut slept = false;
        if !(self.packed.contains(self.head) || chan.ring.published(self.head)) {
            if matches!(look, Look::Watched) && fenced {
                if !chan.watch.stale(&chan.seg) {
                    h.rx_sem.wait_posted(at_most_longest(left));
                    slept = true;
                }
            } else {
                let _ = h.rx_sem.wait_timeout(slice_of(slice, fenced));
            }
        }
        h.rx_parked.store(0, Ordering::Relaxed);
        // After a sleep without a limit, probe before the next: unless a message came,
        // what woke us may have been the last sender leaving.
        chan.watch.fired() | slept | chan.seg.shrunk()
    }
}
