//! The subscriber's side of an async wait (feature `tokio`): what
//! [`shm::AsyncSubscriber`](crate::shm::AsyncSubscriber) asks of the sync subscriber when
//! a `try_recv` found no sample. The same handshake as `SubEnd::park` — count itself
//! among the sleepers, a full barrier, look at the cursor again — except that the sleep
//! is the caller's: it awaits its doorbell (or a nap) instead of the futex, and stays
//! counted among the sleepers until [`Subscriber::unpark_async`].

use std::time::Duration;

use super::{SubEnd, Subscriber, PUBLISHER};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::topic::{self, Board, Peek};
use crate::shm::watch::{Look, LONGEST_SLEEP};
use crate::sync::atomic::Ordering;
use crate::sync::deaths::Wake;
use crate::sync::fence;
use crate::sync::wait::PARK_SLICE;

/// As the channel receiver's: a few microseconds of looking before a park.
const SPINS: u32 = 128;

impl SubEnd {
    fn bell(&self) -> &core::sync::atomic::AtomicU64 {
        &self.board.sub(self.me).bell
    }

    fn sample_at_cursor(&self) -> bool {
        topic::peek(&self.board, self.cursor, self.overflow) != Peek::Empty
    }
}

impl<T: Message> Subscriber<T> {
    /// The sample at the cursor, copied out, if one is published there now: the async
    /// subscriber's streaming step, inlined into its poll so that the sample goes straight
    /// to where the poll returns it. `None` if none is (or the subscriber lagged, or the
    /// topic is corrupt: the full receive reports those).
    #[inline(always)]
    pub(crate) fn take_ready(&mut self) -> Option<Result<T>> {
        let end = &mut self.end;
        end.move_past_held();
        match topic::peek(&end.board, end.cursor, end.overflow) {
            Peek::Ready(chunk) => Some(self.sample(chunk).map(|s| s.get())),
            _ => None,
        }
    }
}

impl<T: ?Sized + Payload> Subscriber<T> {
    /// `Ok` if a sample is at the cursor now, left there to be received;
    /// [`Error::Empty`] if none is; the errors of a non-waiting
    /// receive otherwise (`Lagged`, `Disconnected`, a corrupt topic).
    pub(crate) fn sample_now(&mut self) -> crate::error::Result<()> {
        self.end.next(&crate::deadline::Wait::Now).map(drop)
    }

    /// Publishes `token` as this subscriber's doorbell (0: none), and forgets the death
    /// notice, which was set up to wake the other kind of wait.
    pub(crate) fn set_bell(&mut self, token: u64) {
        self.end.watch.stop();
        self.end
            .bell()
            .store(token, core::sync::atomic::Ordering::SeqCst);
    }

    /// Out of samples: stores the cursor for the publisher now (as a receive that finds
    /// nothing does), so that a `Block` publisher does not wait for room it has.
    pub(crate) fn settle(&mut self) {
        self.end.store_cursor();
    }

    /// True if a sample (or news: lagged, corrupt) is at the cursor now.
    pub(crate) fn sample_at_cursor(&self) -> bool {
        self.end.sample_at_cursor()
    }

    /// Spins a little while nothing is at the cursor; true if something is now.
    pub(crate) fn spin_for_sample(&self) -> bool {
        for _ in 0..SPINS {
            if self.end.sample_at_cursor() {
                return true;
            }
            core::hint::spin_loop();
        }
        false
    }

    /// Announces a park after a receive found nothing. `Ok(None)`: receive again now.
    /// `Ok(Some(limit))`: the subscriber is counted among the sleepers; sleep until the
    /// doorbell rings or `limit` passes, then call [`Subscriber::unpark_async`].
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the publisher died and everything was read;
    /// [`Error::Shutdown`], and what the segment's check finds.
    pub(crate) fn park_async(&mut self) -> Result<Option<Duration>> {
        let end = &mut self.end;
        let look = end.watch.look(
            &end.seg,
            PUBLISHER..PUBLISHER + 1,
            Wake::Ring(&end.board.sub(end.me).bell),
        );
        if matches!(look, Look::Fresh) {
            // Probe before sleeping: a publisher that died leaves no other trace.
            crate::shutdown::check_shutdown()?;
            end.seg.intact()?;
            end.watch.probed();
            if end.publisher_gone() && !end.sample_at_cursor() {
                return Err(Error::Disconnected);
            }
            return Ok(None);
        }
        let ev = &end.board.control().sleepers;
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        let fenced = topic::heavy();
        let limit = if end.sample_at_cursor() || end.publisher_left() {
            None
        } else if matches!(look, Look::Watched) && fenced {
            (!end.watch.stale(&end.seg)).then_some(LONGEST_SLEEP)
        } else if fenced {
            Some(PARK_SLICE)
        } else {
            Some(PARK_SLICE.min(fence::UNFENCED_SLICE))
        };
        if limit.is_none() {
            ev.waiters.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(limit)
    }

    /// After the sleep [`Subscriber::park_async`] allowed: no longer a sleeper; takes
    /// what the death notice said.
    pub(crate) fn unpark_async(&mut self) {
        let end = &mut self.end;
        end.board
            .control()
            .sleepers
            .waiters
            .fetch_sub(1, Ordering::SeqCst);
        end.watch.fired();
    }
}
