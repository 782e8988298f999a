//! How long a blocking call may wait: one type for every transport, so `try_*`, `*_timeout`
//! and the blocking calls mean the same everywhere.

use std::time::{Duration, Instant};

use crate::error::Error;

/// How long a call may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all (`try_send`, `try_recv`).
    Now,
    /// Until the instant; the duration is the timeout the caller asked for, for the error.
    Until(Instant, Duration),
    /// For ever (`send`, `recv`).
    Forever,
}

/// How long a writer keeps writing to a peer that is slow to take what it writes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Patience {
    /// As the wait says, in all.
    Within(Wait),
    /// Until the peer has taken nothing for this long: whatever it takes starts the wait
    /// again. For what a dropped end still holds: a peer that reads gets all of it, one
    /// that does not read keeps the process waiting no longer than this.
    Stall(Duration),
}

impl Patience {
    /// The wait for room before the first write.
    pub(crate) fn start(self) -> Wait {
        match self {
            Patience::Within(wait) => wait,
            Patience::Stall(stall) => Wait::timeout(stall),
        }
    }

    /// The wait for room once the peer has taken some: `wait` itself, or a new stall.
    pub(crate) fn taken(self, wait: Wait) -> Wait {
        match self {
            Patience::Within(_) => wait,
            Patience::Stall(stall) => Wait::timeout(stall),
        }
    }
}

/// How long a dropped sender keeps writing what it still holds to a peer that takes none
/// of it (pipes, FIFOs and sockets alike).
pub(crate) const DROP_STALL: Duration = Duration::from_secs(1);

/// The instant a wait of `timeout` from now ends, or `None` (wait for ever) if the clock
/// cannot represent it (`Duration::MAX`, say): every deadline of every transport is made
/// here, so none can overflow.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl Wait {
    /// A wait of at most `timeout` from now (for ever if the instant would overflow).
    pub(crate) fn timeout(timeout: Duration) -> Wait {
        match deadline_after(timeout) {
            Some(at) => Wait::Until(at, timeout),
            None => Wait::Forever,
        }
    }

    /// Time left before the deadline (`None` for ever, zero for `Now`).
    pub(crate) fn left(&self) -> Option<Duration> {
        match *self {
            Wait::Forever => None,
            Wait::Now => Some(Duration::ZERO),
            Wait::Until(at, _) => Some(at.saturating_duration_since(Instant::now())),
        }
    }

    /// True once the deadline has passed: never for `Forever`, at once for `Now`.
    pub(crate) fn is_over(&self) -> bool {
        self.left().is_some_and(|d| d.is_zero())
    }

    /// The error of a receive whose wait ran out: [`Error::Empty`] or [`Error::Timeout`].
    pub(crate) fn recv_expired(&self) -> Error {
        match *self {
            Wait::Until(_, d) => Error::Timeout(d),
            _ => Error::Empty,
        }
    }

    /// The error of a send whose wait ran out: [`Error::Full`] or [`Error::Timeout`].
    pub(crate) fn send_expired(&self) -> Error {
        match *self {
            Wait::Until(_, d) => Error::Timeout(d),
            _ => Error::Full,
        }
    }

    /// [`recv_expired`](Self::recv_expired) or [`send_expired`](Self::send_expired).
    pub(crate) fn expired(&self, sending: bool) -> Error {
        if sending {
            self.send_expired()
        } else {
            self.recv_expired()
        }
    }
}
