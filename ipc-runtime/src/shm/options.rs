//! [`Options`]: capacity, permissions, waiting strategy and backing of a segment.

use std::time::Duration;

use super::layout::{Layout, Shape};
use super::topic::Overflow;
use crate::deadline::Wait;
use crate::message::Message;
use crate::payload::Payload;
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
/// use std::time::Duration;
/// use ipc::shm::Options;
/// use ipc::sync::WaitStrategy;
/// let opts = Options::new().capacity(1024).mode(0o600).wait(WaitStrategy::Spin);
/// assert_eq!(opts.get_capacity(), 1024);
/// assert_eq!(opts.get_linger(), Duration::from_secs(60));
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// Slots asked for with [`Options::capacity`]; `None`: the default, which depends on
    /// the message's size (see [`Options::capacity_for`]).
    pub(crate) capacity: Option<u64>,
    pub(crate) mode: u32,
    pub(crate) wait: WaitStrategy,
    pub(crate) backing: Backing,
    /// Set by [`Options::open_timeout`]: `open` then also waits for the segment to appear.
    pub(crate) open_timeout: Option<Duration>,
    pub(crate) linger: Duration,
    /// Topics: samples a late subscriber receives first.
    pub(crate) history: u64,
    /// Topics: subscriber lines.
    pub(crate) max_subscribers: u64,
    /// Topics: what the publisher does when a subscriber is a ring behind.
    pub(crate) overflow: Overflow,
    /// Slices: the most elements a message holds; `None`: [`DEFAULT_SLICE_BYTES`] worth.
    pub(crate) max_len: Option<u64>,
}

/// The bytes of elements a slice channel or topic holds per message unless
/// [`Options::max_len`] says otherwise: 4 KiB.
pub const DEFAULT_SLICE_BYTES: usize = 4096;

/// The subscribers a topic takes unless [`Options::max_subscribers`] says otherwise.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 8;

/// How long `open` waits for a creator to finish initialising a segment, unless
/// [`Options::open_timeout`] says otherwise.
const INIT_TIMEOUT: Duration = Duration::from_secs(2);

/// The slots of a channel whose capacity is not set: at most this many ...
pub const DEFAULT_CAPACITY: usize = 64;

/// ... and no more than fit in this many bytes of ring (at least 2 slots): 16 MiB.
pub const DEFAULT_RING_BYTES: usize = 16 << 20;

/// How long a sender that leaves with unread messages keeps its channel for a receiver,
/// unless [`Options::linger`] says otherwise.
pub const DEFAULT_LINGER: Duration = Duration::from_secs(60);

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    /// 64 slots, or fewer for large messages, so that a ring reserves at most 16 MiB
    /// ([`DEFAULT_CAPACITY`], [`DEFAULT_RING_BYTES`]; see [`Options::capacity_for`]), mode
    /// 0600, [`WaitStrategy::SpinThenPark`], POSIX backing, a linger of 60 s
    /// ([`DEFAULT_LINGER`]); `open` does not wait for a segment that does not exist, and
    /// waits at most 2 s for one that is still being initialised.
    pub fn new() -> Self {
        Options {
            capacity: None,
            mode: 0o600,
            wait: WaitStrategy::SpinThenPark,
            backing: Backing::Posix,
            open_timeout: None,
            linger: DEFAULT_LINGER,
            history: 0,
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS as u64,
            overflow: Overflow::Block,
            max_len: None,
        }
    }

    /// Slices (`Sender<[E]>`, `Publisher<[E]>`; creator only): the most elements one
    /// message holds, at least 1 (default: as many as fit in [`DEFAULT_SLICE_BYTES`]).
    /// Every slot or chunk reserves room for this many; a longer slice is refused on send
    /// with [`Error::LimitExceeded`](crate::Error::LimitExceeded). Openers take the
    /// creator's maximum (`max_len()` on the ends says what it is).
    pub fn max_len(mut self, elements: usize) -> Self {
        self.max_len = Some(elements.max(1) as u64);
        self
    }

    /// The shape of a message of `P` created with these options.
    pub(crate) fn shape_for<P: ?Sized + Payload>(&self) -> Shape {
        let size = size_of::<P::Element>().max(1);
        let default = (DEFAULT_SLICE_BYTES / size).max(1) as u64;
        Shape::of::<P>(self.max_len.unwrap_or(default))
    }

    /// Topics ([`Publisher`](super::Publisher), creator only): how many of the latest
    /// samples a subscriber that joins receives first (default 0: only what is published
    /// after it joined). At most seven eighths of the capacity are kept; a larger value
    /// gives that many.
    pub fn history(mut self, samples: usize) -> Self {
        self.history = samples as u64;
        self
    }

    /// Topics (creator only): the most subscribers attached at once, 1 to 63 (default
    /// [`DEFAULT_MAX_SUBSCRIBERS`]). Each costs a cache line and one spare chunk of the
    /// message's size, kept for a sample it may still be reading.
    pub fn max_subscribers(mut self, n: usize) -> Self {
        self.max_subscribers = n.clamp(1, super::topic::MAX_SUBSCRIBERS) as u64;
        self
    }

    /// Topics (creator only): what the publisher does when the slowest subscriber is a
    /// whole ring behind (default [`Overflow::Block`]).
    pub fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// Number of slots of a channel (creator only), rounded up to a power of two, at least
    /// 2; the capacity is also the most messages that can be in flight. (The receiver
    /// returns read slots in batches of `capacity / 8`; see "Limits" in [`crate::shm`].)
    pub fn capacity(mut self, slots: usize) -> Self {
        self.capacity = Some(
            (slots.max(2) as u64)
                .checked_next_power_of_two()
                .unwrap_or(1 << 63),
        );
        self
    }

    /// The capacity set with [`Options::capacity`], or [`DEFAULT_CAPACITY`]; the slots a
    /// channel of a given type gets are [`Options::capacity_for`].
    pub fn get_capacity(&self) -> usize {
        self.capacity.map_or(DEFAULT_CAPACITY, |c| c as usize)
    }

    /// The slots a channel of `T` created with these options has: the capacity set with
    /// [`Options::capacity`]; if none was set, [`DEFAULT_CAPACITY`] or, for a large `T`,
    /// the largest power of two (at least 2) whose slots fit in [`DEFAULT_RING_BYTES`].
    ///
    /// ```
    /// use ipc::shm::Options;
    /// assert_eq!(Options::new().capacity_for::<u64>(), 64);
    /// assert_eq!(Options::new().capacity_for::<[u8; 1 << 20]>(), 8);   // 1 MiB messages
    /// assert_eq!(Options::new().capacity(64).capacity_for::<[u8; 1 << 20]>(), 64);
    /// ```
    pub fn capacity_for<T: Message>(&self) -> usize {
        self.slots_for::<T>() as usize
    }

    pub(crate) fn slots_for<T: Message>(&self) -> u64 {
        self.slots(&Shape::of::<T>(0))
    }

    /// The slots of a channel or topic of messages of `shape`.
    pub(crate) fn slots(&self, shape: &Shape) -> u64 {
        if let Some(c) = self.capacity {
            return c;
        }
        let stride = Layout::channel(shape, 2).map_or(u64::MAX, |l| l.stride);
        let fit = (DEFAULT_RING_BYTES as u64 / stride.max(1)).max(2);
        // The largest power of two not above `fit`.
        (1u64 << (63 - fit.leading_zeros())).min(DEFAULT_CAPACITY as u64)
    }

    /// The bytes a channel of `T` created with these options reserves in `/dev/shm` (or
    /// the backing's memory): its header and its ring of [`Options::capacity_for`] slots,
    /// rounded up to pages, all allocated when the channel is created (a full `/dev/shm`
    /// is then an error from `create`, never a `SIGBUS` later).
    ///
    /// A slot is an 8-byte sequence word and the message, padded to the message's
    /// alignment (at least 8); slots of at most 64 bytes are rounded up to a power of two
    /// and share cache lines, larger ones are padded to whole cache lines. Where that
    /// makes a slot at least a quarter header and padding (fixed-size messages of 1-48,
    /// 57-96, 121-144 and 185-192 bytes), the ring also has a packed array, one message
    /// per slot without a header, into which a batch ([`Sender::send_all`](super::Sender::send_all)) is copied
    /// back to back: half the cache lines per message for 8- and 64-byte ones. Before the ring
    /// comes the header (the schema, the ring's indices and the wait words, each on cache
    /// lines of its own): 5,824 bytes, then the message type's whole schema, encoded (a
    /// few dozen bytes to a few KiB: `ipc::schema::SchemaTree::encode`), up to a cache
    /// line. Creation allocates every page, about 0.2 ms per MiB,
    /// and touches every slot once (0.56-0.59 ms per MiB in all for 4 KiB slots here).
    ///
    /// ```
    /// use ipc::shm::Options;
    /// // 8-byte messages take 16-byte slots and 8 bytes of the packed array: the header
    /// // and 64 of them, two pages.
    /// assert_eq!(Options::new().footprint::<u64>()?, 8192);
    /// // 1 MiB messages, 8 slots by default: a little over 8 MiB.
    /// let big = Options::new().footprint::<[u8; 1 << 20]>()?;
    /// assert!(big > 8 << 20 && big < 9 << 20);
    /// # Ok::<(), ipc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`](crate::Error::LimitExceeded) if such a ring could not be
    /// addressed at all (as `create` would say).
    pub fn footprint<T: Message>(&self) -> crate::Result<usize> {
        let shape = Shape::of::<T>(0).with_schema(&super::layout::encoded_schema::<T>()?);
        Ok(Layout::channel(&shape, self.slots(&shape))?.total_size as usize)
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

    /// How long `open` (and `open_with`, and [`Shared::open_with`](super::Shared::open_with))
    /// waits for the segment to appear and be initialised by its creator: an opener may
    /// start before the creator. It waits on an `inotify(7)` watch of `/dev/shm` (or, if
    /// no watch can be made, looks every 1 to 50 ms), never spinning; a shutdown request
    /// (see [`shutdown_on`](crate::signal::shutdown_on)) ends the wait with
    /// [`Error::Shutdown`](crate::Error::Shutdown). `Duration::MAX` waits for ever.
    ///
    /// Without this option `open` fails at once with
    /// [`Error::NotFound`](crate::Error::NotFound) if the segment does not exist, and
    /// waits at most 2 s for one whose creator has not finished initialising it. With it,
    /// a segment that does not appear in time is [`Error::Timeout`](crate::Error::Timeout),
    /// and a file left by a creator that died while creating it counts as not there yet:
    /// the open waits for a `create` to reclaim the name and make it anew (without it,
    /// such a file is [`Error::Corrupt`](crate::Error::Corrupt) at once, saying so).
    pub fn open_timeout(mut self, timeout: Duration) -> Self {
        self.open_timeout = Some(timeout);
        self
    }

    /// How long a [`Sender`](super::Sender) that leaves a channel with messages no
    /// receiver has read keeps the channel for a receiver (default 60 s,
    /// [`DEFAULT_LINGER`]; `Duration::MAX`: for ever; zero: the messages are discarded
    /// with the channel). The convention is ZeroMQ's `ZMQ_LINGER`.
    ///
    /// A sender that leaves (is dropped, or its process exits) while other participants
    /// are attached leaves the channel to them. The last one to leave removes the
    /// channel, unless it is a sender and messages are unread: then the channel stays, and
    /// a receiver that opens it within the linger reads them, then gets
    /// [`Error::Disconnected`](crate::Error::Disconnected). Until the linger is over, the
    /// channel is not reclaimed ([`remove_stale`](super::remove_stale) and `create` of
    /// the same name leave it alone); after it, it is reclaimed as any abandoned segment.
    /// Senders killed before they could leave get the longest linger of the channel's
    /// senders, from when a reclaimer first finds the channel abandoned.
    /// [`Sender::close`](super::Sender::close) waits for a receiver for a time of its own
    /// instead, and reports what was not read.
    ///
    /// A channel on [`Backing::SysV`] cannot outlive its processes (the kernel frees its
    /// memory at the last detach), and one on [`Backing::Memfd`] lives while a descriptor
    /// of it is open: the linger does not apply to them.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// The linger this builder gives a sender.
    pub fn get_linger(&self) -> Duration {
        self.linger
    }

    /// How long `open` waits for the segment to appear: not at all unless
    /// [`open_timeout`](Self::open_timeout) was set.
    pub(crate) fn appear_wait(&self) -> Wait {
        self.open_timeout.map_or(Wait::Now, Wait::timeout)
    }

    /// How long `open` waits for a creator to finish initialising: until the deadline of
    /// `appear` if it has one (an open with an explicit timeout has one deadline for
    /// both), else for the open timeout or 2 s.
    pub(crate) fn init_wait(&self, appear: &Wait) -> Wait {
        match appear {
            Wait::Now => Wait::timeout(self.init_timeout()),
            w => *w,
        }
    }

    /// The open timeout, or the default wait for initialisation (for error messages).
    pub(crate) fn init_timeout(&self) -> Duration {
        self.open_timeout.unwrap_or(INIT_TIMEOUT)
    }
}
