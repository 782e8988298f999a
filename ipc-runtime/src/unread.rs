//! [`Unread`]: what a sender learns when it closes with messages no receiver has read.

use core::fmt;

/// Messages a sender's `close` (or `flush`) found unread: how many, and whether a receiver
/// may still read them.
///
/// Returned by [`shm::Sender::close`](crate::shm::Sender::close) and
/// [`shm::Sender::flush`](crate::shm::Sender::flush), and by
/// [`pipe::Sender::close`](crate::pipe::Sender::close) (pipes and FIFOs). The README's
/// "When a sender leaves before its messages are read" compares every transport.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// let name = format!("doc-unread-{}", std::process::id());
/// let mut tx = ipc::shm::Sender::<u64>::create(&name, ipc::shm::Options::new())?;
/// tx.send(1)?;
/// tx.send(2)?;
/// // No receiver comes within 10 ms: the channel is removed with both messages.
/// let unread = tx.close(Duration::from_millis(10)).unwrap_err();
/// assert_eq!((unread.count, unread.discarded), (2, true));
/// println!("{unread}"); // 2 messages never read: no receiver was attached, ...
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unread {
    /// How many messages no receiver had read when the sender left (see each `close` for
    /// which messages it counts).
    pub count: u64,
    /// True if they were discarded: no receiver was attached, the channel was removed with
    /// them, and nobody will ever read them. False if they stay queued for a receiver that
    /// is attached (or, on shared memory, that joins while other senders keep the channel):
    /// they were not read *yet*.
    pub discarded: bool,
}

impl Unread {
    pub(crate) fn new(count: u64, discarded: bool) -> Unread {
        Unread { count, discarded }
    }
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (n, s) = (self.count, if self.count == 1 { "" } else { "s" });
        if self.discarded {
            write!(
                f,
                "{n} message{s} never read: no receiver was attached, so the sender \
                 discarded them when it closed"
            )
        } else {
            write!(
                f,
                "{n} message{s} not read yet when the sender closed: they stay queued for \
                 the receiver"
            )
        }
    }
}

impl std::error::Error for Unread {}
