//! What a waiter over many channels asks of their ends: the shared-memory request/response
//! server (`shm/rpc/server.rs`) answers every client's request channel and its registry
//! from one thread, and parks once for all of them.
//!
//! The park is the async receiver's (`wait_async.rs`) split in steps, so that one full
//! barrier serves every channel: each receiver publishes the server's doorbell token
//! ([`Receiver::ring_on`]), then at a park each looks at its senders
//! ([`Receiver::announce_park`]: the death notice rings the doorbell) and stores
//! `rx_parked`; the server crosses one barrier (`membarrier`), looks at every head again
//! ([`Receiver::message_at_head`]) and sleeps on the doorbell; a sender that publishes,
//! then finds `rx_parked` set, rings it. [`Receiver::end_park`] withdraws the
//! announcement. The server's answers go out with [`Sender::offer`] (or, written in place,
//! [`Sender::loan_until`]), which never waits; the client's requests with
//! [`Sender::send_wait_until`] or [`Sender::loan_until`], its answers are read in place
//! with [`Receiver::recv_in_place`].

use super::receiver::{Receiver, Sample};
use super::sender::Sender;
use super::{Chan, SENDERS};
use crate::deadline::Wait;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::ring::Peek;
use crate::shm::watch::Look;
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;

/// What [`Receiver::announce_park`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Announced {
    /// The senders were read again: probe liveness, do not sleep this time.
    Fresh,
    /// Parked, the senders watched for their death: the sleep may last.
    Watched,
    /// Parked, the senders not watched: sleep in slices.
    Unwatched,
}

impl<T: ?Sized + Payload> Receiver<T> {
    /// True if the slot at the head is published (or corrupt: the next receive says
    /// which), or the head lies in the packed batch this end is in: one load at most, no
    /// system call. (Also the async receiver's look.)
    #[inline]
    pub(crate) fn message_at_head(&self) -> bool {
        self.packed.contains(self.head) || self.chan.ring.published(self.head)
    }
}

impl<T: Message> Receiver<T> {
    /// Publishes `token` as the doorbell that a sender which finds this receiver parked
    /// rings (0: none), and forgets the death notice, set up to wake another kind of wait.
    pub(crate) fn ring_on(&mut self, token: u64) {
        self.chan.watch.stop();
        self.chan.header().rx_bell.store(token, Ordering::SeqCst);
    }

    /// True once a sender has joined this channel (the client of a connection).
    pub(crate) fn sender_joined(&self) -> bool {
        self.chan
            .header()
            .counters
            .senders_joined
            .load(Ordering::SeqCst)
            != 0
    }

    /// Receives the message at the head, copied out, waiting as `until` says.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]; [`Error::Empty`] or [`Error::Timeout`] if none came in time.
    #[inline]
    pub(crate) fn recv_copy(&mut self, until: &Wait) -> Result<T> {
        Ok(*self.recv_until(until)?)
    }

    /// Receives the message at the head in place (a [`Sample`] in its slot, for a type
    /// whose every bit pattern is valid), waiting as `until` says.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]; [`Error::Empty`] or [`Error::Timeout`] if none came in time.
    #[inline]
    pub(crate) fn recv_in_place(&mut self, until: &Wait) -> Result<Sample<'_, T>> {
        self.recv_until(until)
    }

    /// The first step of a park over many channels: looks at the senders (the death
    /// notice rings the doorbell of [`Receiver::ring_on`]), then, unless they were read
    /// again, announces the park (`rx_parked`). The caller then crosses one full barrier
    /// for all its channels, looks at each head once more, and sleeps on its doorbell.
    pub(crate) fn announce_park(&mut self) -> Announced {
        let chan = &mut self.chan;
        let h = chan.seg.header();
        let look = chan
            .watch
            .look(&chan.seg, SENDERS, Wake::Ring(&h.rx_bell.0));
        if matches!(look, Look::Fresh) {
            return Announced::Fresh;
        }
        h.rx_parked.store(1, Ordering::SeqCst);
        if matches!(look, Look::Watched) && !chan.watch.stale(&chan.seg) {
            Announced::Watched
        } else {
            Announced::Unwatched
        }
    }

    /// Withdraws the announcement of [`Receiver::announce_park`] and consumes the
    /// semaphore posts the wakes made (nobody waits on it). True if a death notice came:
    /// probe liveness.
    pub(crate) fn end_park(&mut self) -> bool {
        let h = self.chan.seg.header();
        h.rx_parked.store(0, Ordering::Relaxed);
        // A post per wake, so a few at most; bounded, as a hostile sender may have
        // written billions into the count (and posts left over cost nothing: nobody
        // waits on this semaphore while the end waits on its doorbell).
        for _ in 0..64 {
            if !h.rx_sem.try_wait() {
                break;
            }
        }
        self.chan.watch.fired() | self.chan.seg.shrunk()
    }

    /// Looks at the senders' liveness, the segment and the shutdown flag (system calls:
    /// a few `fcntl`), without receiving. `Ok(false)` when every sender that joined is
    /// gone and no message is left; a slot claimed by a sender that died is given up (the
    /// next receive skips it), as a waiting receive does.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] if shutdown was requested; [`Error::Corrupt`] if the segment
    /// was shrunk or its ring overwritten.
    pub(crate) fn probe(&mut self) -> Result<bool> {
        crate::shutdown::check_shutdown()?;
        self.chan.seg.intact()?;
        self.chan.watch.probed();
        if self.chan.ring.claimed(self.head) {
            self.skip_dead(self.head)?;
            return Ok(true);
        }
        if self.senders_gone() {
            // Re-check after the liveness probe: a message published just before its
            // sender left is still delivered.
            return match self.peek_head() {
                Ok(Peek::Empty) => Ok(false),
                Ok(_) => Ok(true),
                Err(_) => Err(Chan::corrupt()),
            };
        }
        Ok(true)
    }
}

impl<T: Message> Sender<T> {
    /// Sends `msg` if there is room now, never waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if the ring has no room; [`Error::Disconnected`] if the receiver
    /// left; [`Error::Corrupt`] if the ring was overwritten.
    #[inline]
    pub(crate) fn offer(&mut self, msg: &T) -> Result<()> {
        self.send_until(msg, &Wait::Now)
    }

    /// Sends `msg`, waiting for room as `until` says.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`]; [`Error::Full`] or [`Error::Timeout`] if no room came in time.
    #[inline]
    pub(crate) fn send_wait_until(&mut self, msg: &T, until: &Wait) -> Result<()> {
        self.send_until(msg, until)
    }

    /// True if the receiver closed, or joined and died (a few `fcntl`).
    pub(crate) fn receiver_left(&self) -> bool {
        self.receiver_gone()
    }

    /// True once a receiver has joined this channel (the client of a connection).
    pub(crate) fn receiver_joined(&self) -> bool {
        self.chan
            .header()
            .counters
            .receivers_joined
            .load(Ordering::SeqCst)
            != 0
    }
}
