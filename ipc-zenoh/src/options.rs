//! [`Options`]: how a publisher treats congestion, how many samples a subscriber queues,
//! how long a query waits.

use std::time::Duration;

/// What a publisher does when the network or a subscriber cannot take a sample now
/// (Zenoh's congestion control, applied on every hop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Wait until the sample can go: nothing is lost while the peers are connected, and a
    /// slow subscriber slows the publisher (Zenoh's `CongestionControl::Block`).
    #[default]
    Block,
    /// Drop the sample rather than wait (Zenoh's `CongestionControl::Drop`); subscribers
    /// count what they miss ([`Subscriber::missed`](crate::Subscriber::missed)).
    Drop,
}

/// Settings of the ends of this crate; each end reads the ones that concern it.
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) overflow: Overflow,
    pub(crate) express: bool,
    pub(crate) capacity: usize,
    pub(crate) max_len: Option<usize>,
    pub(crate) timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    /// The defaults: [`Overflow::Block`], batching allowed, a subscriber queue of 1,024
    /// samples, slices of any length, queries that wait 10 s.
    pub fn new() -> Self {
        Options {
            overflow: Overflow::Block,
            express: false,
            capacity: 1024,
            max_len: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Publishers: what to do when a sample cannot go at once.
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Publishers and queriers: send each sample at once instead of letting Zenoh batch
    /// it with the next ones (lower latency, lower throughput for small messages).
    pub fn express(mut self, express: bool) -> Self {
        self.express = express;
        self
    }

    /// Subscribers and queryables: how many received samples (queries) wait to be taken.
    /// When the queue is full, Zenoh's reception waits, which under [`Overflow::Block`]
    /// holds the publisher back. At least 1.
    pub fn capacity(mut self, samples: usize) -> Self {
        self.capacity = samples.max(1);
        self
    }

    /// Subscribers of slices: the most elements a sample may hold; a longer one is an
    /// error ([`Error::LimitExceeded`](ipc::Error::LimitExceeded)) and skipped.
    pub fn max_len(mut self, elements: usize) -> Self {
        self.max_len = Some(elements);
        self
    }

    /// Queriers: how long a call waits for its answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub(crate) fn congestion(&self) -> zenoh::qos::CongestionControl {
        match self.overflow {
            Overflow::Block => zenoh::qos::CongestionControl::Block,
            Overflow::Drop => zenoh::qos::CongestionControl::Drop,
        }
    }
}
