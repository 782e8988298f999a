//! [`Watch`]: the peers a parked end of a segment asks to hear of the death of, so that
//! it may sleep without a limit (see [`crate::sync::deaths`]). Used by the channel's ends
//! and the topic's.
//!
//! The protocol it relies on: every participant that joins or leaves a segment bumps the
//! header's `counters.members` (SeqCst), then wakes the ends parked on the other side; a
//! parking end announces itself, crosses a full barrier, and checks [`Watch::stale`]
//! before it sleeps: one of the two sees the other.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::shm::segment::Segment;
use crate::sync::atomic::Ordering;
use crate::sync::deaths::{Notice, Peer, Wake};

/// The longest a watched park sleeps. A park wakes for a message, room, a peer joining,
/// leaving or dying, or shutdown; one case leaves no wake-up to send: the segment's file
/// shrunk under the processes while this end slept (`sigbus.rs`), after which its peers'
/// wake-ups, and the death notices' thread's, reach pages this end no longer shares. So
/// even a watched park looks again once a minute (an idle end: one wake-up a minute).
pub(crate) const LONGEST_SLEEP: Duration = Duration::from_secs(60);

/// `left` (None: no deadline), at most [`LONGEST_SLEEP`].
pub(crate) fn at_most_longest(left: Option<Duration>) -> Option<Duration> {
    Some(left.map_or(LONGEST_SLEEP, |l| l.min(LONGEST_SLEEP)))
}

/// The peers whose death a parked end asks to hear of: the live participants of its
/// range, as of the header's count of joins and leaves, watched through a [`Notice`] that
/// the end registers at its first park and keeps while it lives. Looked up again (a few
/// `fcntl` calls, a `pidfd_open` per new peer) when that count changes or a notice came,
/// and a second after a look that could not watch them; between, a park costs nothing
/// here.
///
/// Every live peer is watched from the moment it is read until the next look, so a peer
/// that dies in between sends a notice; one that died before the look is not in it. So
/// after each look the end probes liveness once before it sleeps (a sender that died
/// holding a claim, the last sender gone), and then may sleep without a limit. The probe
/// is owed until it is made ([`Watch::probed`]), even if a message ends the receive that
/// looked: the next receive makes it before it sleeps.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// The count the peers were read at; None: read them again.
    members: Option<u32>,
    /// Registered at the first look, kept while the end lives.
    notice: Option<Notice>,
    /// The notice watches every live peer as of `members`.
    watching: bool,
    /// The peers were read again and liveness not probed since: no sleep without a limit.
    unprobed: bool,
    /// The last look found a peer alive, and the notice watches each one found (none
    /// was between its lock and its pid store).
    all_watched: bool,
    /// When the last look left the peers unwatched though it had a notice.
    unwatched_at: Option<Instant>,
}

/// How long after a look whose notice could not watch the peers (a `pidfd_open` out of
/// descriptors, say) the next look reads them again and tries: an end does not park in
/// slices for the rest of its life for a moment without descriptors. (Where they can
/// never be watched, a peer in another pid namespace, that is one extra look and probe a
/// second, beside the fifty slices.)
const WATCH_AGAIN: Duration = Duration::from_secs(1);

/// What [`Watch::look`] found.
pub(crate) enum Look {
    /// The peers were read again (or were, and no probe came after): probe liveness
    /// before sleeping.
    Fresh,
    /// As at the last look, which was probed after, and watched: sleep without a limit.
    Watched,
    /// They cannot be watched: sleep in slices.
    Unwatched,
}

impl Watch {
    /// Looks at the peers in `range` of `seg` if they changed, and has the notice watch
    /// them. `seg` is the segment of the `Chan` that holds this watch, and `wake` refers
    /// to its header.
    ///
    /// A notice that could not be registered (the process out of descriptors or threads
    /// when it first looked) is asked for again at each look, which the death notices
    /// answer at once while their last try is under a second old; once one is, the peers
    /// are read again for it to watch. Peers the notice could not watch are read and
    /// watched again a second after ([`WATCH_AGAIN`]).
    pub(crate) fn look(&mut self, seg: &Segment, range: Range<usize>, wake: Wake<'_>) -> Look {
        let h = seg.header();
        let now = h.counters.members.load(Ordering::SeqCst);
        if self.members == Some(now) && !self.try_again(wake) {
            return if self.unprobed {
                Look::Fresh
            } else if self.watching {
                Look::Watched
            } else {
                Look::Unwatched
            };
        }
        // Who is alive, then who they are. A participant between its lock and its pid
        // store has pid 0: it bumps the count right after, and wakes us.
        let Some(live) = seg.live_in(range) else {
            // Unknown for a moment (a lock over several participants): look again next time.
            self.members = None;
            return Look::Unwatched;
        };
        let peers: Vec<Peer> = live
            .iter()
            .filter_map(|&i| {
                let pid = h.peers.pid[i].load(Ordering::SeqCst);
                let ns = h.peers.ns[i].load(Ordering::SeqCst);
                (pid != 0).then_some(Peer { pid, ns })
            })
            .collect();
        if self.notice.is_none() {
            // SAFETY: `wake` refers to the header of `seg`, the segment of the `Chan` that
            // holds this watch; `Chan`'s `Drop` drops the notice (`stop`) before the
            // segment is unmapped.
            self.notice = unsafe { Notice::new(wake) };
        }
        self.watching = self.notice.as_ref().is_some_and(|n| n.watch(&peers));
        self.members = Some(now);
        self.unprobed = true;
        self.all_watched = !live.is_empty() && peers.len() == live.len();
        self.unwatched_at = (self.notice.is_some() && !self.watching).then(Instant::now);
        Look::Fresh
    }

    /// True if the peers, though as at the last look, must be read again: this watch had
    /// no notice and now has one, or its notice could not watch them and
    /// [`WATCH_AGAIN`] has passed (see [`Watch::look`]).
    fn try_again(&mut self, wake: Wake<'_>) -> bool {
        if self.notice.is_none() {
            // SAFETY: as in `look`, whose `wake` this is.
            self.notice = unsafe { Notice::new(wake) };
            return self.notice.is_some();
        }
        self.unwatched_at
            .is_some_and(|at| at.elapsed() >= WATCH_AGAIN)
    }

    /// True if what a liveness probe would find cannot have changed since this end's
    /// last probe, and that probe found a peer alive: the peers in `range` are as at the
    /// last look, which found one or more alive, was probed after and is watched, each of
    /// them; no notice came (one that did is taken here, so that the probe the caller now
    /// makes reads the peers again), and the segment was not shrunk. A receive or send
    /// that does not wait asks this before it probes: between changes, an empty look
    /// costs loads, not system calls. With no peer alive every look probes (the answer,
    /// `Disconnected`, must stay the same at every call), and so it does while a peer
    /// found is not watched (caught between its lock and its pid store: if it died there,
    /// no notice would come, where a park would probe again after its longest sleep).
    /// The first call looks at the peers (and registers the notice with `wake`, as a park
    /// would).
    pub(crate) fn unchanged(&mut self, seg: &Segment, range: Range<usize>, wake: Wake<'_>) -> bool {
        if !matches!(self.look(seg, range, wake), Look::Watched)
            || !self.all_watched
            || seg.shrunk()
        {
            return false;
        }
        if self.notice.as_ref().is_some_and(Notice::pending) {
            self.fired();
            return false;
        }
        true
    }

    /// True if a notice came since the last call (a watched peer died, or shutdown was
    /// requested): the peers are read again at the next look.
    pub(crate) fn fired(&mut self) -> bool {
        let fired = self.notice.as_ref().is_some_and(Notice::fired);
        if fired {
            self.members = None;
        }
        fired
    }

    /// True if the end must not sleep now: a notice came and was not yet taken by
    /// [`Watch::fired`], the segment was shrunk under this process, or a peer joined or
    /// left since the last look (checked after the
    /// end announced that it parks: a peer that joins or leaves bumps the count, then
    /// looks whether someone is parked, so one of the two sees the other).
    pub(crate) fn stale(&self, seg: &Segment) -> bool {
        let members = seg.header().counters.members.load(Ordering::SeqCst);
        self.members != Some(members)
            || self.notice.as_ref().is_some_and(Notice::pending)
            // What this end maps is no longer shared (`sigbus.rs`): nobody would wake it.
            || seg.shrunk()
    }

    /// The end has probed its peers' liveness since the last look.
    pub(crate) fn probed(&mut self) {
        self.unprobed = false;
    }

    /// Drops the notice: the thread forgets the address of the header's futex word.
    pub(crate) fn stop(&mut self) {
        self.notice = None;
        self.watching = false;
        self.members = None;
    }
}

#[cfg(all(test, not(ipc_loom)))]
mod tests;
