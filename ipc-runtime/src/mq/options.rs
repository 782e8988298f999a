//! [`Options`]: how a POSIX queue is created (capacity, mode) or opened (the mode an
//! opener trusts).

use super::limits::read_proc;

/// How a queue is created or opened.
///
/// ```
/// let opts = ipc::mq::Options::new().capacity(64).mode(0o660);
/// # let _ = opts;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Options {
    capacity: Option<usize>,
    pub(super) mode: u32,
    pub(super) foreign: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Default options: capacity from `/proc/sys/fs/mqueue/msg_default` (10 if unreadable),
    /// mode 0600.
    pub fn new() -> Self {
        Options {
            capacity: None,
            mode: 0o600,
            foreign: false,
        }
    }

    /// The number of messages the queue holds (`mq_maxmsg`).
    pub fn capacity(mut self, messages: usize) -> Self {
        self.capacity = Some(messages);
        self
    }

    /// The permission bits of a created queue (default 0600); the umask does not apply.
    /// For an opener: the most a queue may grant, and whether another user's queue is
    /// accepted (only if these bits grant group or other access); see
    /// [Permissions](crate::mq#permissions).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Foreign-peer mode, for a queue shared with a program not built on this crate (C's
    /// `mq_send`/`mq_receive`, Python's `posix_ipc`): no schema header is written at
    /// create or read at open, so a queue another program made opens instead of being
    /// refused. The messages are what they always are, exactly the bytes of a `T`, and
    /// every one received is still length-checked and validated
    /// ([`Message::validate`](crate::Message::validate)), so foreign bytes never become
    /// an invalid `T`; the queue's message size must still be `size_of::<T>()`.
    ///
    /// What is given up: the check at open that the queue was made for this type. Keep
    /// the two sides in agreement with a C header generated from the type
    /// ([`schema::c_header`](crate::schema::c_header)), whose `_Static_assert`s fail the
    /// other side's build when its declaration differs. See
    /// [Foreign peers](crate::mq#foreign-peers).
    pub fn foreign(mut self) -> Self {
        self.foreign = true;
        self
    }

    pub(super) fn capacity_or_default(&self) -> usize {
        self.capacity
            .unwrap_or_else(|| read_proc("msg_default").unwrap_or(10) as usize)
    }
}
