//! [`Options`]: how a System V queue is created (its mode) and what its peers are (ends of
//! this crate, or foreign programs).

/// How a queue is created or opened.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub(super) mode: u32,
    pub(super) foreign: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// Mode 0600 (owner only).
    pub fn new() -> Self {
        Options {
            mode: 0o600,
            foreign: false,
        }
    }

    /// The permission bits of a created queue (the umask does not apply to System V IPC).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Foreign-peer mode, for a queue shared with a program not built on this crate (C's
    /// `msgsnd`/`msgrcv`, Python's `sysv_ipc`): each message is exactly what `msgsnd(2)`
    /// documents, a `long` type and then the bytes of a `T`, with no fingerprint before
    /// them; no registry is written at create or read at open. Every message received is
    /// still length-checked and validated
    /// ([`Message::validate`](crate::Message::validate)), so foreign bytes never become
    /// an invalid `T`.
    ///
    /// What is given up: the check at open that the queue was made for this type, and the
    /// fingerprint's check of every message. Keep the two sides in agreement with a C
    /// header generated from the type ([`schema::c_header`](crate::schema::c_header)),
    /// whose `_Static_assert`s fail the other side's build when its declaration differs.
    /// Both ends of one queue must agree on the mode: a receiver of this crate reports a
    /// foreign message as "not an `ipc` message". See
    /// [Foreign peers](crate::sysv#foreign-peers).
    pub fn foreign(mut self) -> Self {
        self.foreign = true;
        self
    }
}
