//! [`Options`]: capacity, permissions, waiting strategy and backing of a segment.

use std::time::Duration;

use crate::sync::WaitStrategy;

/// Which kernel object holds a segment's memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backing {
    /// A named POSIX shared-memory object (`shm_open(3)`, a file under `/dev/shm`):
    /// unrelated processes find it by name.
    #[default]
    Posix,
    /// An anonymous `memfd_create(2)` file, sealed against shrinking and growing: no name,
    /// nothing left behind after a crash. Other processes get it by inheriting or being
    /// sent the descriptor (see `share_fd` and `from_fd` on the channel ends and
    /// [`Shared`](super::Shared)).
    Memfd,
    /// A System V segment (`shmget(2)`, `shmat(2)`), the classic API, named through a small
    /// registry file under `/dev/shm` that holds its id and the participants' liveness
    /// locks. The segment is marked `IPC_RMID` as soon as its creator has attached, so the
    /// kernel frees it when the last process detaches, crash or not. Openers need not
    /// choose this backing: `open` recognises the registry. Sizes are limited by
    /// `kernel.shmmax`/`kernel.shmall`.
    SysV,
}

/// How a segment is created or opened (a builder; every setter takes and returns `self`).
///
/// ```
/// use ipc::shm::Options;
/// use ipc::sync::WaitStrategy;
/// let opts = Options::new().capacity(1024).mode(0o600).wait(WaitStrategy::Spin);
/// assert_eq!(opts.get_capacity(), 1024);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    pub(crate) capacity: u64,
    pub(crate) mode: u32,
    pub(crate) wait: WaitStrategy,
    pub(crate) backing: Backing,
    pub(crate) open_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    /// 64 slots, mode 0600, [`WaitStrategy::SpinThenPark`], POSIX backing, and a 2 s limit
    /// on waiting for a segment that is still being created.
    pub fn new() -> Self {
        Options {
            capacity: 64,
            mode: 0o600,
            wait: WaitStrategy::SpinThenPark,
            backing: Backing::Posix,
            open_timeout: Duration::from_secs(2),
        }
    }

    /// Number of slots of a channel (creator only), rounded up to a power of two, at least
    /// 2; the capacity is also the most messages that can be in flight. (The receiver
    /// returns read slots in batches of `capacity / 8`; see "Limits" in [`crate::shm`].)
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = (slots.max(2) as u64)
            .checked_next_power_of_two()
            .unwrap_or(1 << 63);
        self
    }

    /// The capacity this builder will create.
    pub fn get_capacity(&self) -> usize {
        self.capacity as usize
    }

    /// Permission bits of a created segment (default `0o600`), applied with `fchmod(2)` so
    /// the umask cannot change them. An opener refuses a segment whose mode grants more
    /// than these bits, and one owned by another user unless these bits grant group or
    /// other access, with [`Error::Untrusted`](crate::Error::Untrusted) naming its owner
    /// and mode.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// How blocked operations wait.
    pub fn wait(mut self, strategy: WaitStrategy) -> Self {
        self.wait = strategy;
        self
    }

    /// Which kernel object holds the memory.
    pub fn backing(mut self, backing: Backing) -> Self {
        self.backing = backing;
        self
    }

    /// How long `open` waits for a segment whose creator has not finished initialising it
    /// (default 2 s).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = timeout;
        self
    }
}
