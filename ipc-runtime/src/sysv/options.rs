//! [`Options`]: how a System V queue is created (its mode).

/// How a queue is created.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub(super) mode: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode 0600 (owner only).
    pub fn new() -> Self {
        Options { mode: 0o600 }
    }

    /// The permission bits of a created queue (the umask does not apply to System V IPC).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }
}
