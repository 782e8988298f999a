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
