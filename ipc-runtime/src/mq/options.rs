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

    pub(super) fn capacity_or_default(&self) -> usize {
        self.capacity
            .unwrap_or_else(|| read_proc("msg_default").unwrap_or(10) as usize)
    }
}
