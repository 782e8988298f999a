//! The receiver's side of an async wait (feature `tokio`): what
//! [`shm::AsyncReceiver`](crate::shm::AsyncReceiver) asks of the sync receiver when a
//! `try_recv` found no message. The same handshake as [`Receiver::park`]
//! (`wait.rs`) — announce `rx_parked`, a full barrier, look at the head again — except
//! that the sleep is the caller's: it awaits its doorbell (or a nap) instead of the futex.

use std::time::Duration;

use super::receiver::{release, Receiver};
use super::SENDERS;
use crate::error::Result;
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::ring::Peek;
use crate::shm::watch::{Look, LONGEST_SLEEP};
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;
use crate::sync::fence;
use crate::sync::wait::PARK_SLICE;

/// How many times an async receiver looks at the head in one poll before it yields to
/// the runtime (it parks only after looking for a while: see `aio/shm.rs`), as the sync
/// receiver spins before it yields.
const SPINS: u32 = 128;

impl<T: Message> Receiver<T> {
    /// The message at the head, copied out, if one is published there now: the async
    /// receiver's streaming step, inlined into its poll so that the message goes
    /// straight to where the poll returns it. `None` if nothing is (or the slot was given
    /// back empty, or its `seq` is corrupt: the full receive handles those).
    #[inline(always)]
    pub(crate) fn take_ready(&mut self) -> Option<Result<T>> {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        match self.peek_head() {
            Ok(Peek::Ready {
                pos,
                cancelled: false,
            }) => {
                self.head = pos.wrapping_add(1);
                Some(self.sample(pos).map(|sample| *sample))
            }
            _ => None,
        }
    }
}

impl<T: ?Sized + Payload> Receiver<T> {
    /// `Ok` if a message is at the head now, left there to be received (cancelled slots
    /// before it are skipped); [`Error::Empty`](crate::Error::Empty) if none is; the
    /// errors of a non-waiting receive otherwise (`Disconnected` once every sender is
    /// gone, a corrupt ring).
    pub(crate) fn message_now(&mut self) -> Result<()> {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        self.wait_for_message_at_head(&crate::deadline::Wait::Now)
            .map(drop)
    }

    /// Publishes `token` as this receiver's doorbell (0: none, the receiver is sync
    /// again), and forgets the death notice, which was set up to wake the other kind of
    /// wait.
    pub(crate) fn set_bell(&mut self, token: u64) {
        self.chan.watch.stop();
        self.chan.header().rx_bell.store(token, Ordering::SeqCst);
    }

    /// Out of messages: hands every slot read back to the senders now (as a receive that
    /// finds nothing does), so that none waits for room this receiver has freed.
    pub(crate) fn settle(&mut self) {
        self.release_all();
    }

    /// Spins a little while the head's slot is unpublished; true if it is published now
    /// (or corrupt: the next receive says so).
    pub(crate) fn spin_for_message(&self) -> bool {
        for _ in 0..SPINS {
            if self.message_at_head() {
                return true;
            }
            core::hint::spin_loop();
        }
        false
    }

    /// Announces a park after a receive found nothing. `None`: do not sleep, receive
    /// again now (a message came, the peers must be looked at and probed first, or one
    /// joined or left). `Some(limit)`: sleep until the doorbell rings or `limit` passes;
    /// then call [`Receiver::unpark_async`].
    pub(crate) fn park_async(&mut self) -> Option<Duration> {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        let look = chan
            .watch
            .look(&chan.seg, SENDERS, Wake::Ring(&h.rx_bell.0));
        if matches!(look, Look::Fresh) {
            return None;
        }
        // As `park`: SeqCst store, a barrier on every CPU, SeqCst re-check of the slot;
        // the sender publishes, then loads the flag: one of the two sees the other.
        h.rx_parked.store(1, Ordering::SeqCst);
        let fenced = fence::heavy();
        let limit = if self.packed.contains(self.head) || chan.ring.published(self.head) {
            None
        } else if matches!(look, Look::Watched) && fenced {
            (!chan.watch.stale(&chan.seg)).then_some(LONGEST_SLEEP)
        } else if fenced {
            Some(PARK_SLICE)
        } else {
            Some(PARK_SLICE.min(fence::UNFENCED_SLICE))
        };
        if limit.is_none() {
            h.rx_parked.store(0, Ordering::Relaxed);
        }
        limit
    }

    /// After the sleep [`Receiver::park_async`] allowed: withdraws the announcement,
    /// takes what the death notice said, and consumes the semaphore posts the wakes made
    /// (nobody waits on it while the receiver is async).
    pub(crate) fn unpark_async(&mut self) {
        let h = self.chan.seg.header();
        h.rx_parked.store(0, Ordering::Relaxed);
        // A post per wake, so a few at most; bounded, as a hostile sender may have written
        // billions into the count (posts left over cost nothing: nobody waits on this
        // semaphore while the receiver is async).
        for _ in 0..64 {
            if !h.rx_sem.try_wait() {
                break;
            }
        }
        self.chan.watch.fired();
    }
}
