//! How a sender leaves, and what it leaves behind: waiting for a receiver to come
//! ([`Sender::wait_for_receiver`]) and to read what was sent ([`Sender::flush`],
//! [`Sender::close`]), and keeping the channel for a receiver when the last participant
//! to leave is a sender and messages are unread (`Chan`'s `Drop`).
//!
//! None of this is on the paths that send and receive: it reads the ring's `head` (the
//! receiver's exact progress) and `tail`, and each slot's `seq`, only when a sender
//! leaves or asks.
//!
//! # Who removes a channel
//!
//! The last participant to leave, as
//! [`Segment::leave`](crate::shm::segment::Segment::leave) decides while holding every lock
//! byte. A receiver removes it (a receiver that leaves gives up what it has not read, as a
//! dropped crossbeam receiver does). A sender removes it unless messages are unread and its
//! linger is not zero: then it writes until when the channel is kept, and leaves it for a
//! receiver, who reads the messages, gets `Disconnected`, and removes it as the last to
//! leave. If no receiver comes, `remove_stale` or a `create` of the same name reclaims it
//! once the linger is over (see `segment::examine`).

use std::time::Duration;

use super::sender::Sender;
use super::{Chan, RECEIVER};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::shm::layout;
use crate::shm::segment::{Keep, Left};
use crate::sync::atomic::Ordering;
use crate::sync::futex;
use crate::sync::wait::PARK_SLICE;
use crate::unread::Unread;

impl Chan {
    /// Leaves, as far as the peers can tell, once: a sender gives up the bias if it holds
    /// it; the end's entry in the peers' table is cleared (while its lock byte is held:
    /// another participant may join at the same index once it is released); the lock byte
    /// is released, and from then on the end is gone for its peers, though it still maps
    /// the segment; then the count of joins and leaves is bumped and a sender wakes a
    /// parked receiver, so that it notices promptly if this was the last sender.
    ///
    /// The bump and the wake come after the release: a parking receiver stores its flag,
    /// then re-reads the count (`wait.rs`), and this side bumps the count, then swaps the
    /// flag, so either the receiver sees the new count, looks again and finds the lock
    /// released, or this side sees the flag and wakes it. Bumped or woken before the
    /// release, the receiver could look, still find this sender alive, and park for ever
    /// (a parked end sleeps without a timeout). (A receiver's leave is told by `rx_closed`
    /// before this, see `Receiver`'s `Drop`.)
    pub(super) fn depart(&mut self) {
        if self.departed {
            return;
        }
        self.departed = true;
        let sender = self.linger.is_some();
        if sender {
            self.ring.leave(self.me);
        }
        self.header().peers.pid[self.me].store(0, Ordering::SeqCst);
        self.seg.release(self.me);
        self.header()
            .counters
            .members
            .fetch_add(1, Ordering::SeqCst);
        if sender {
            self.wake_parked_receiver();
        }
    }

    /// Messages published and not cancelled at positions `from..to`, at most a capacity of
    /// them (a snapshot while others are attached; exact while this process holds every
    /// lock byte).
    fn messages_between(&self, from: u64, to: u64) -> u64 {
        self.ring.messages_between(from, to)
    }

    /// True if a receiver is attached now.
    fn receiver_attached(&self) -> bool {
        let h = self.header();
        h.counters.receivers_joined.load(Ordering::SeqCst) != 0
            && h.rx_closed().load(Ordering::SeqCst) == 0
            && self.seg.alive(RECEIVER)
    }

    /// Sleeps on the event that the receiver bumps when it frees slots and when one joins,
    /// for at most `slice`, unless `done` holds once this sender is counted as a waiter.
    fn park_on_space(&self, slice: Duration, done: impl Fn(&Chan) -> bool) {
        let ev = &self.header().space;
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        if !done(self) {
            futex::wait(&ev.epoch, epoch, Some(slice));
        }
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Waits until the receiver has read every position below `end`, a receiver closes
    /// the channel, shutdown is requested, or `until` passes, whichever comes first.
    /// Sleeps on the space event, which the receiver bumps per batch of slots it frees and
    /// when it runs out of messages, and looks again at least every [`PARK_SLICE`].
    fn wait_read(&self, end: u64, until: &Wait) {
        let done = |chan: &Chan| {
            chan.ring.head().wrapping_sub(end) as i64 >= 0
                || chan.header().rx_closed().load(Ordering::SeqCst) != 0
        };
        while !done(self) && !crate::shutdown::shutdown_requested() {
            let slice = match until.left() {
                Some(left) if left.is_zero() => return,
                Some(left) => left.min(PARK_SLICE),
                None => PARK_SLICE,
            };
            self.park_on_space(slice, done);
        }
    }
}

impl Drop for Chan {
    fn drop(&mut self) {
        // Before anything else, and long before the segment is unmapped: the death
        // notices' thread forgets the address of our futex word.
        self.watch.stop();
        self.depart();
        let Chan {
            ring, seg, linger, ..
        } = self;
        let linger = match *linger {
            Some(d) if !d.is_zero() => d,
            // The receiver, or a sender without linger: the last one out removes it all.
            _ => return,
        };
        seg.leave(|h| {
            let owed = h.rx_closed().load(Ordering::SeqCst) == 0
                && ring.messages_between(ring.head(), h.ring.tail.load(Ordering::SeqCst)) > 0;
            if owed {
                Keep::Until(layout::linger_deadline(linger))
            } else {
                Keep::No
            }
        });
        // (Dropping `seg` afterwards unmaps it; it has left.)
    }
}

impl<T: ?Sized + Payload> Sender<T> {
    /// Waits until a receiver is attached: at most `timeout` (`Duration::MAX`: for ever).
    /// A sender that creates a channel may send before any receiver has opened it (the
    /// messages wait in the ring); this is for a sender that wants one there first.
    ///
    /// It sleeps on a futex of the segment that a joining receiver wakes (looking again
    /// at least every 20 ms); [`Stats::receivers_attached`](super::Stats) says the same
    /// without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came in time; [`Error::Disconnected`] if a receiver came
    /// and closed the channel already; [`Error::Shutdown`] if shutdown was requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)).
    pub fn wait_for_receiver(&self, timeout: Duration) -> Result<()> {
        let until = Wait::timeout(timeout);
        let chan = &self.chan;
        loop {
            // A liveness probe (a system call) per wake-up or slice.
            if chan.receiver_attached() {
                return Ok(());
            }
            if chan.header().rx_closed().load(Ordering::SeqCst) != 0 {
                return Err(Error::Disconnected);
            }
            crate::shutdown::check_shutdown()?;
            let slice = match until.left() {
                Some(left) if left.is_zero() => return Err(Error::Timeout(timeout)),
                Some(left) => left.min(PARK_SLICE),
                None => PARK_SLICE,
            };
            let joined = chan
                .header()
                .counters
                .receivers_joined
                .load(Ordering::SeqCst);
            chan.park_on_space(slice, |c| {
                c.header().counters.receivers_joined.load(Ordering::SeqCst) != joined
            });
        }
    }

    /// Messages in the channel that no receiver has read: this sender's and every other
    /// sender's (a snapshot; a message a receiver holds as a [`Sample`](super::Sample)
    /// counts until the sample is dropped).
    pub fn unread(&self) -> u64 {
        let c = &self.chan;
        c.messages_between(c.ring.head(), c.header().ring.tail.load(Ordering::SeqCst))
    }

    /// Waits until a receiver has read every message sent through the channel before this
    /// call (this sender's, and any other sender's before them), for at most `timeout`
    /// (`Duration::MAX`: for ever). The sender stays open.
    ///
    /// It sleeps on a futex of the segment that the receiver wakes as it frees slots,
    /// looking again at least every 20 ms. It stops early, reporting what is unread, if a
    /// receiver closes the channel or shutdown is requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)).
    ///
    /// # Errors
    ///
    /// [`Unread`] with how many of those messages were still unread (`discarded` is false:
    /// they are still in the channel).
    pub fn flush(&mut self, timeout: Duration) -> Result<(), Unread> {
        let c = &self.chan;
        let end = c.header().ring.tail.load(Ordering::SeqCst);
        c.wait_read(end, &Wait::timeout(timeout));
        match c.messages_between(c.ring.head(), end) {
            0 => Ok(()),
            n => Err(Unread::new(n, false)),
        }
    }

    /// Closes this sender once a receiver has read every message sent through the channel
    /// before this call, waiting for one to come and read them for at most `timeout`
    /// (`Duration::MAX`: for ever; zero: not at all). Unlike dropping the sender, which
    /// keeps unread messages for a receiver for the linger ([`Options::linger`]) without
    /// waiting, `close` waits here, then tells what became of what was not read: the
    /// convention of ZeroMQ's `ZMQ_LINGER`, with the count.
    ///
    /// It waits as [`flush`](Self::flush) does, and stops early if a receiver closes the
    /// channel or shutdown is requested.
    ///
    /// # Errors
    ///
    /// [`Unread`] if messages were unread when it left:
    ///
    /// - `discarded: true` if nobody else was attached: the channel was removed with them,
    ///   and `count` is exactly how many messages it held that no receiver had read (this
    ///   sender's, and those of any sender that died before it); nobody will read them;
    /// - `discarded: false` if a receiver or other senders were still attached: `count` is
    ///   how many of the messages sent before this call were unread when it left; they
    ///   stay in the channel, for the receiver attached now (or one that joins while the
    ///   other senders keep the channel). A channel on [`Backing::Memfd`] has no name to
    ///   remove and lives while any process holds a descriptor of it, so its unread
    ///   messages are reported this way too.
    ///
    /// [`Options::linger`]: crate::shm::Options::linger
    /// [`Backing::Memfd`]: crate::shm::Backing::Memfd
    pub fn close(mut self, timeout: Duration) -> Result<(), Unread> {
        let end = self.chan.header().ring.tail.load(Ordering::SeqCst);
        self.chan.wait_read(end, &Wait::timeout(timeout));
        self.chan.depart();
        let Chan { ring, seg, .. } = &mut self.chan;
        let mut held = 0;
        let left = seg.leave(|h| {
            // Nobody else is attached: what the ring holds is final, and goes with it.
            held = ring.messages_between(ring.head(), h.ring.tail.load(Ordering::SeqCst));
            Keep::No
        });
        let (count, discarded) = match left {
            Left::Removed => (held, true),
            Left::Attached | Left::Kept => {
                let c = &self.chan;
                (c.messages_between(c.ring.head(), end), false)
            }
        };
        // Dropping `self` now only unmaps: it has left the ring and the segment.
        match count {
            0 => Ok(()),
            n => Err(Unread::new(n, discarded)),
        }
    }
}
