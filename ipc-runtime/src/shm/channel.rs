//! A shared-memory channel: [`Sender`]s and one [`Receiver`] over the ring of
//! `ring.rs`, with zero-copy [`Loan`]s and [`Sample`]s.
//!
//! This file holds what both ends share: `Chan` (the ring over the mapped segment, this
//! participant's index, the wait strategy) and how it is created, opened and joined; the
//! `ShmRegion` that lays the ring over the mapping; the [`Stats`] counters; and the
//! constructors both ends offer. Each end has a file of its own, with the guard it lends,
//! and the waiting of both ends has one:
//!
//! - `sender`: [`Sender`], whose `send` claims, writes and publishes on the path that
//!   streams, and who biases the ring to itself while it is the only sender; and
//!   [`Loan`], a slot the sender has claimed and writes in place;
//! - `receiver`: [`Receiver`], reading at its head and handing read slots back to the
//!   senders in batches; and [`Sample`], a received message, in place or as a validated
//!   private copy;
//! - `wait`: what either end does when its fast path fails: spinning, parking on the
//!   segment's futexes (each park beside the handshake that makes its wake-up certain),
//!   probing the peers' liveness and the shutdown flag;
//! - `leave`: how a sender leaves: waiting for a receiver to come and read what it sent
//!   (`wait_for_receiver`, `flush`, `close`), and keeping the channel for its linger when
//!   it leaves last with messages unread (`Chan`'s `Drop`, below).

use core::ptr::NonNull;
use std::time::Duration;

use super::layout::{self, Header, Layout, SegmentKind, Shape};
use super::options::Options;
use super::ring::{Peers, Region, Ring, RingControl, SlotHeader, Slots, MAX_PARTICIPANTS};
use super::segment::Segment;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::sync::atomic::Ordering;
use crate::sync::{fence, futex};

mod any;
mod leave;
mod many;
mod receiver;
mod sender;
mod wait;
#[cfg(feature = "tokio")]
mod wait_async;

pub use any::{AnyReceiver, AnySender};
pub(crate) use many::Announced;
pub use receiver::{Receiver, Sample};
pub use sender::{Loan, Sender};

/// After the caller took the receiver's `rx_parked` flag (a swap to 0) and posted
/// `rx_sem`: rings the receiver's doorbell too if it is async (its token is in `rx_bell`,
/// stored before it first parks; the swap orders this load after that store). If the ring
/// is lost ([`bell::ring`](crate::sync::bell::ring)), the flag is set again, so that the
/// next publish rings again rather than leave the receiver asleep for its whole sleep (a
/// receiver that woke meanwhile only gets one wake-up too many).
#[inline]
fn ring_rx_bell(h: &Header) {
    let token = h.rx_bell.load(Ordering::SeqCst);
    if token != 0 && !crate::sync::bell::ring(token) {
        h.rx_parked.store(1, Ordering::SeqCst);
    }
}

/// Participant index of the receiver.
const RECEIVER: usize = 0;
/// Participant indices of senders.
const SENDERS: core::ops::Range<usize> = 1..MAX_PARTICIPANTS;

/// The ring's memory inside a mapped segment.
#[derive(Debug)]
struct ShmRegion {
    base: NonNull<u8>,
    layout: Layout,
    /// Slices: the most elements a message holds (0 for a fixed-size message).
    max_len: u64,
    /// Slices: the bytes before the first element (the length word, padded).
    len_prefix: usize,
    /// `size_of` the message (of a slice's element): the packed array's stride.
    msg_size: usize,
}

// SAFETY: the region points into a shared mapping owned by the `Chan` that owns this
// region; the memory is only accessed through atomics or under the ring protocol, from any
// thread.
unsafe impl Send for ShmRegion {}
// SAFETY: as above.
unsafe impl Sync for ShmRegion {}

/// The payloads of a region's slots as a first address, a stride and a mask, read once:
/// the batch loops address payloads through it (see [`Slots`] for why).
#[derive(Clone, Copy)]
struct Payloads<'a> {
    first: NonNull<u8>,
    stride: usize,
    mask: u64,
    _region: core::marker::PhantomData<&'a ShmRegion>,
}

impl Payloads<'_> {
    /// The payload of position `pos`'s slot (masked: any `pos` is in bounds), as
    /// [`ShmRegion::payload`] gives it.
    #[inline(always)]
    fn at(self, pos: u64) -> *mut u8 {
        let index = (pos & self.mask) as usize;
        // SAFETY: `index < capacity`; `first` is slot 0's payload, and slot `index`'s lies
        // `index * stride` bytes further, inside the mapping (see `ShmRegion::payload`).
        unsafe { self.first.as_ptr().add(index * self.stride) }
    }
}

impl ShmRegion {
    #[inline]
    fn payloads(&self) -> Payloads<'_> {
        Payloads {
            first: NonNull::new(self.payload(0)).expect("inside a mapping"),
            stride: self.layout.stride as usize,
            mask: self.layout.capacity - 1,
            _region: core::marker::PhantomData,
        }
    }

    /// The entries of the packed array (see `ring.rs`), addressed as [`Payloads`]: entry
    /// `i` is `i * size_of::<T>()` bytes from the first. A region without one gives its
    /// slots' payloads instead, which nobody reads as packed: the ring reports no packed
    /// position there (a `seq` that says so is corrupt).
    #[inline]
    fn packed(&self) -> Payloads<'_> {
        if self.layout.packed_offset == 0 {
            return self.payloads();
        }
        // SAFETY: the packed array lies inside the mapping (the layout was validated
        // against the mapping length), `capacity` messages from `packed_offset`.
        let first = unsafe { self.base.add(self.layout.packed_offset as usize) };
        Payloads {
            first,
            stride: self.msg_size,
            mask: self.layout.capacity - 1,
            _region: core::marker::PhantomData,
        }
    }

    /// The packed entries of `n` positions from `pos` on as at most two runs of
    /// consecutive entries, one each side of the array's end: `(first entry, count)`.
    #[inline(always)]
    fn packed_runs(&self, pos: u64, n: usize) -> [(*mut u8, usize); 2] {
        let packed = self.packed();
        let index = (pos & packed.mask) as usize;
        let first = n.min(self.layout.capacity as usize - index);
        [
            (packed.at(pos), first),
            (packed.at(pos.wrapping_add(first as u64)), n - first),
        ]
    }

    /// Copies `msgs` into the packed entries of positions `pos..pos + msgs.len()`: two
    /// copies at most.
    ///
    /// # Safety
    ///
    /// The region has a packed array of `T` (`T` is the channel's message type), the
    /// caller holds the claim of those positions (at most a capacity of them), and
    /// `msgs` is not in the mapping.
    #[inline(always)]
    unsafe fn write_packed<T>(&self, pos: u64, msgs: &[T]) {
        let mut done = 0;
        for (at, count) in self.packed_runs(pos, msgs.len()) {
            // SAFETY: `count` consecutive entries from `at` lie inside the packed array
            // (`packed_runs` stops at its end), which is aligned for `T` and `T`-strided;
            // the caller holds them, and `msgs[done..done + count]` cannot overlap them.
            unsafe {
                core::ptr::copy_nonoverlapping(msgs.as_ptr().add(done), at.cast::<T>(), count)
            };
            done += count;
        }
    }

    /// Copies the messages of the packed entries of positions `pos..pos + n` to `out`:
    /// two copies at most.
    ///
    /// # Safety
    ///
    /// The region has a packed array of `T`, every bit pattern of which is a valid `T`;
    /// those positions are published and not yet released (at most a capacity of them);
    /// `out` is valid for the write of `n` `T`s and not in the mapping.
    #[inline(always)]
    unsafe fn read_packed<T>(&self, pos: u64, out: *mut T, n: usize) {
        let mut done = 0;
        for (at, count) in self.packed_runs(pos, n) {
            // SAFETY: as in `write_packed`, for entries the receiver holds and an `out`
            // the caller vouches for.
            unsafe { core::ptr::copy_nonoverlapping(at.cast::<T>(), out.add(done), count) };
            done += count;
        }
    }

    /// Where position `pos`'s message lies: in the packed array, or in its slot.
    #[inline(always)]
    fn message_at(&self, pos: u64, packed: bool) -> *mut u8 {
        if packed {
            self.packed().at(pos)
        } else {
            self.payloads().at(pos)
        }
    }

    /// Slices: the length word of slot `index`'s message (8-aligned: a slice payload is
    /// aligned to its `len_prefix`, at least 8).
    #[inline]
    fn slice_len(&self, index: u64) -> &core::sync::atomic::AtomicU64 {
        // SAFETY: a slice payload starts with `len_prefix >= 8` bytes of its own, 8-aligned,
        // inside the mapping; the word is only ever accessed atomically.
        unsafe { &*self.payload(index).cast() }
    }

    /// Where the elements of a message of `P` in slot `index` start: the payload itself
    /// for a message, after the length word for a slice.
    #[inline(always)]
    fn elements<P: ?Sized + Payload>(&self, index: u64) -> *mut P::Element {
        self.bytes(index, P::IS_SLICE).cast()
    }

    /// Where the bytes of a message in slot `index` start: the payload itself for a
    /// message, after the length word for a slice.
    #[inline(always)]
    fn bytes(&self, index: u64, slice: bool) -> *mut u8 {
        let at = self.payload(index);
        if slice {
            // SAFETY: a slice payload holds `len_prefix` bytes, then `max_len` elements.
            unsafe { at.add(self.len_prefix) }
        } else {
            at
        }
    }

    fn payload(&self, index: u64) -> *mut u8 {
        // SAFETY: `index < capacity` (masked by the ring); the layout was validated against
        // the mapping length, so `body + index * stride + payload_offset + size_of::<T>()`
        // lies inside the mapping.
        unsafe {
            self.base.as_ptr().add(
                (self.layout.body_offset + index * self.layout.stride + self.layout.payload_offset)
                    as usize,
            )
        }
    }
}

// SAFETY: `base` is a mapping of at least `layout.total_size` bytes that lives as long as
// the `Chan` owning this region (the region is dropped before the segment); the header sits
// at offset 0 and slot `i < capacity` at `body_offset + i * stride`, all inside the
// mapping, 8-aligned (the body offset is a multiple of 64, the stride of 8); `capacity`
// was validated to be a power of two >= 2.
unsafe impl Region for ShmRegion {
    fn control(&self) -> &RingControl {
        // SAFETY: see the impl's comment: the header lies at offset 0 of a live mapping.
        unsafe { &layout::header(self.base.as_ptr()).ring }
    }
    fn capacity(&self) -> u64 {
        self.layout.capacity
    }
    fn run_len(&self, index: u64) -> Option<&crate::sync::atomic::AtomicU64> {
        if self.layout.packed_offset == 0 {
            return None;
        }
        // SAFETY: a channel with a packed array has at least 8 bytes of payload (or
        // padding) in every slot from `payload_offset`, 8-aligned (see
        // `Layout::channel`), inside the mapping; the word is only accessed atomically.
        Some(unsafe { &*self.payload(index & (self.layout.capacity - 1)).cast() })
    }
    fn slot(&self, index: u64) -> &SlotHeader {
        debug_assert!(index < self.layout.capacity);
        let off =
            self.layout.body_offset + (index & (self.layout.capacity - 1)) * self.layout.stride;
        // SAFETY: the offset is inside the mapping and 8-aligned (see the impl's comment);
        // `SlotHeader` is atomics and integers, valid for any bits.
        unsafe { &*self.base.as_ptr().add(off as usize).cast::<SlotHeader>() }
    }
    #[inline]
    fn slots(&self) -> Slots<'_> {
        // SAFETY: in bounds of the mapping (see the impl's comment).
        let first = unsafe { self.base.add(self.layout.body_offset as usize) };
        // SAFETY: slot `i < capacity` is `body_offset + i * stride` bytes into the mapping,
        // which lives as long as `self` (see the impl's comment), as `slot` computes it.
        unsafe { Slots::new(first, self.layout.stride as usize, self.layout.capacity) }
    }
}

/// What both ends hold.
#[derive(Debug)]
struct Chan {
    ring: Ring<ShmRegion>,
    seg: Segment,
    me: usize,
    /// A sender whose process is registered for `membarrier`: publishing skips its full
    /// barrier, which a parking receiver supplies, and the ring's bias may be taken (see
    /// [`crate::sync::fence`]). Always false for the receiver, which does not register.
    fenced: bool,
    /// A sender's linger ([`Options::linger`]); `None` for the receiver.
    linger: Option<Duration>,
    /// This end has left, as far as its peers can tell ([`Chan::depart`]).
    departed: bool,
    /// The peers a park watches for their death (`wait.rs`); its notice refers to the
    /// segment's header and is dropped first thing in `Drop`.
    watch: super::watch::Watch,
    /// The options this end was opened with (its wait strategy; a clone joins with the
    /// same).
    opts: Options,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Sender,
    Receiver,
}

impl Chan {
    fn header(&self) -> &Header {
        self.seg.header()
    }

    fn create<P: ?Sized + Payload>(name: &str, opts: &Options, role: Role) -> Result<Chan> {
        let schema = layout::encoded_schema::<P>()?;
        let shape = opts.shape_for::<P>().with_schema(&schema);
        let layout = Layout::channel(&shape, opts.slots(&shape))?;
        let me = if role == Role::Receiver {
            RECEIVER
        } else {
            SENDERS.start
        };
        crate::sync::bell::ready()?;
        let seg = Segment::create(name, opts, layout.meta::<P>(&shape), me)?;
        seg.write_schema(&schema);
        let chan = Self::assemble(seg, layout, &shape, me, opts, role);
        chan.ring.init();
        chan.joined(role);
        layout::set_ready(chan.header());
        Ok(chan)
    }

    fn attach<P: ?Sized + Payload>(seg: Segment, opts: &Options, role: Role) -> Result<Chan> {
        let (layout, shape) = seg.check::<P>(SegmentKind::Channel)?;
        Self::join(seg, layout, &shape, opts, role)
    }

    /// Joins the channel `seg` maps in `role`, its layout and shape checked.
    fn join(
        mut seg: Segment,
        layout: Layout,
        shape: &Shape,
        opts: &Options,
        role: Role,
    ) -> Result<Chan> {
        let me = match role {
            Role::Receiver => seg.join(
                RECEIVER..RECEIVER + 1,
                "a channel has one receiver, and it is open",
            )?,
            Role::Sender => seg.join(SENDERS, "all 63 sender places are taken by live senders")?,
        };
        let chan = Self::assemble(seg, layout, shape, me, opts, role);
        // Forget what a dead former holder of this index left: its claim (which could only
        // delay a skip), its bias, its unfinished mode change.
        chan.ring.adopt(me, &chan);
        chan.joined(role);
        Ok(chan)
    }

    fn assemble(
        seg: Segment,
        layout: Layout,
        shape: &Shape,
        me: usize,
        opts: &Options,
        role: Role,
    ) -> Chan {
        let region = ShmRegion {
            base: NonNull::new(seg.base()).expect("mmap never returns null"),
            layout,
            max_len: shape.max_len.unwrap_or(0),
            len_prefix: shape.len_prefix() as usize,
            msg_size: shape.size as usize,
        };
        Chan {
            ring: Ring::new(region),
            seg,
            me,
            // Only senders register: a registered process is stopped by every other
            // process's heavy barrier, and the receiver's one barrier a batch is cheaper
            // than the senders' bias changes and parks interrupting it.
            fenced: role == Role::Sender && fence::registered(),
            linger: (role == Role::Sender).then_some(opts.linger),
            departed: false,
            watch: super::watch::Watch::default(),
            opts: opts.clone(),
        }
    }

    /// The order of the load after a publish: `Relaxed` behind the fence's compiler
    /// barrier when this process is registered, `SeqCst` after a `SeqCst` swap.
    fn load_order(&self) -> Ordering {
        if self.fenced {
            Ordering::Relaxed
        } else {
            Ordering::SeqCst
        }
    }

    fn joined(&self, role: Role) {
        let h = self.header();
        let c = &h.counters;
        // Who we are, for our peers' death notices (we hold our lock byte: the entry is
        // ours), then the count that tells parked peers to look again.
        h.peers.pid[self.me].store(std::process::id(), Ordering::SeqCst);
        h.peers.ns[self.me].store(crate::sync::deaths::pid_namespace(), Ordering::SeqCst);
        c.members.fetch_add(1, Ordering::SeqCst);
        // Someone is attached: the channel is no longer kept for a receiver by a deadline
        // (the last to leave decides again).
        h.state.linger_until.store(0, Ordering::SeqCst);
        match role {
            Role::Sender => {
                let linger = self.linger.unwrap_or_default().as_nanos();
                h.state
                    .linger_ns
                    .fetch_max(u64::try_from(linger).unwrap_or(u64::MAX), Ordering::SeqCst);
                c.senders_joined.fetch_add(1, Ordering::SeqCst);
                // A parked receiver watches the senders it knew when it parked: it wakes
                // to watch this one too.
                self.wake_parked_receiver();
            }
            Role::Receiver => {
                h.rx_closed().store(0, Ordering::SeqCst);
                c.receivers_joined.fetch_add(1, Ordering::SeqCst);
                // Wake senders waiting for a receiver (`Sender::wait_for_receiver`), who
                // wait on the event senders wait for room on.
                h.space.epoch.fetch_add(1, Ordering::SeqCst);
                if h.space.waiters.load(Ordering::SeqCst) != 0 {
                    futex::wake(&h.space.epoch, u32::MAX);
                }
            }
        }
    }

    /// Wakes the receiver if it is parked (a sender joined or left: it looks at its
    /// senders again). A full barrier (the swap) after the caller's stores, which pairs
    /// with the parking receiver's store of the flag and re-read of `members`.
    fn wake_parked_receiver(&self) {
        let h = self.header();
        if h.rx_parked.swap(0, Ordering::SeqCst) != 0 {
            h.rx_sem.post();
            ring_rx_bell(h);
        }
    }

    /// Opens `name` and joins it, waiting for it to appear until `until`.
    fn open<P: ?Sized + Payload>(
        name: &str,
        opts: &Options,
        role: Role,
        until: &Wait,
    ) -> Result<Chan> {
        let mut last = None;
        for _ in 0..16 {
            match Self::attach::<P>(Segment::open(name, opts, until)?, opts, role) {
                // The name was removed or given to another segment between our open and
                // our join (its last participant left, or a reclaimer removed it): open
                // what the name denotes now.
                Err(e @ Error::NotFound { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("the loop ran"))
    }

    /// Another participant of the same segment, in this process, with this end's options.
    fn duplicate<P: ?Sized + Payload>(&self, role: Role) -> Result<Chan> {
        Self::attach::<P>(self.seg.duplicate(&self.opts)?, &self.opts, role)
    }

    fn open_or_create<P: ?Sized + Payload>(name: &str, opts: &Options, role: Role) -> Result<Chan> {
        let mut last = None;
        for _ in 0..16 {
            match Self::create::<P>(name, opts, role) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            // Not waiting for it to appear: if it went, create it again.
            match Self::open::<P>(name, opts, role, &Wait::Now) {
                // Removed between our create and open attempts: try again.
                Err(e @ Error::NotFound { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(Error::Busy {
            what: "shared-memory segment",
            name: name.to_owned(),
            reason: "it keeps being created and removed by other processes",
        }))
    }

    fn corrupt() -> Error {
        Error::Corrupt(
            "a slot sequence number in the shared ring fits no state: another process \
             overwrote the channel's memory"
                .into(),
        )
    }
}

impl Header {
    /// Set by the receiver when it closes cleanly; cleared when one joins.
    fn rx_closed(&self) -> &core::sync::atomic::AtomicU32 {
        &self.counters.rx_closed
    }
}

/// Counters a channel keeps in its segment, and who is attached to it now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Receivers attached now, this end included if it is the receiver: 0 or 1 (a
    /// receiver that was killed counts no more).
    pub receivers_attached: u32,
    /// Senders attached now, this end included if it is a sender.
    pub senders_attached: u32,
    /// Messages skipped because their sender died between claiming a slot and publishing.
    pub lost: u64,
    /// `FUTEX_WAKE` calls senders made to wake the receiver.
    pub receiver_wakes: u64,
    /// `FUTEX_WAKE` calls the receiver made to wake senders waiting for room.
    pub sender_wakes: u64,
    /// Senders that ever joined.
    pub senders_joined: u32,
    /// Times a sender that found no other sender claiming biased the ring to itself: its
    /// claims then take no locked instruction.
    pub bias_taken: u64,
    /// Times a second sender revoked a bias (from then on every sender claims by CAS,
    /// until one is alone again).
    pub bias_revoked: u64,
}

impl Chan {
    /// The counters, and who is attached (a system call per participant found: see
    /// [`Segment::count_alive`]).
    fn stats(&self) -> Stats {
        let mine = |range: core::ops::Range<usize>| u32::from(range.contains(&self.me));
        Stats {
            receivers_attached: self.seg.count_alive(RECEIVER..RECEIVER + 1)
                + mine(RECEIVER..RECEIVER + 1),
            senders_attached: self.seg.count_alive(SENDERS) + mine(SENDERS),
            ..counters(self.header())
        }
    }
}

fn counters(h: &Header) -> Stats {
    let c = &h.counters;
    Stats {
        receivers_attached: 0,
        senders_attached: 0,
        lost: c.lost.load(Ordering::Relaxed),
        receiver_wakes: c.rx_wakes.load(Ordering::Relaxed),
        sender_wakes: c.tx_wakes.load(Ordering::Relaxed),
        senders_joined: c.senders_joined.load(Ordering::Relaxed),
        bias_taken: c.bias_taken.load(Ordering::Relaxed),
        bias_revoked: c.bias_revoked.load(Ordering::Relaxed),
    }
}

impl Peers for Chan {
    fn alive(&self, i: usize) -> bool {
        self.seg.alive(i)
    }

    fn heavy(&self) -> bool {
        // If it fails, the move is undone and `claim_slow` backs off before it tries again.
        fence::heavy()
    }

    fn claims(&self, i: usize) -> bool {
        i != RECEIVER
    }
}

/// The constructors and accessors both ends offer, `$role` being which end and `$wrap`
/// what makes the end from its [`Chan`].
macro_rules! constructors {
    ($role:expr, $wrap:expr) => {
        /// Creates the channel `name` (under `/dev/shm`, with this crate's prefix) and
        /// joins it. A segment of that name that this user's processes abandoned (nobody
        /// is attached) is reclaimed first, unless it is a channel that still holds
        /// messages for a receiver within its linger (see [`Options::linger`]).
        ///
        /// # Errors
        ///
        /// [`Error::AlreadyExists`] if the name is taken (by a live segment, or a channel
        /// kept for a receiver), [`Error::InvalidName`],
        /// [`Error::LimitExceeded`] if `/dev/shm` has no room for the ring or this process
        /// is out of descriptors, [`Error::Io`] for other system errors.
        pub fn create(name: &str, opts: Options) -> Result<Self> {
            Chan::create::<T>(name, &opts, $role).and_then($wrap)
        }

        /// Opens the existing channel `name` and joins it.
        ///
        /// # Errors
        ///
        /// [`Error::NotFound`]; [`Error::SchemaMismatch`] if it carries another type;
        /// [`Error::Corrupt`] if its header is garbage, truncated or of another format
        /// version; [`Error::Untrusted`] if it belongs to another user or its mode
        /// grants more than `opts` allows; [`Error::Busy`] if the role is taken;
        /// [`Error::LimitExceeded`] if this process is out of descriptors.
        pub fn open(name: &str) -> Result<Self> {
            Self::open_with(name, Options::new())
        }

        /// [`open`](Self::open) with options (wait strategy, mode check, open timeout).
        /// With [`Options::open_timeout`] it waits for the channel to be created, so it
        /// may start before the end that creates it.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open); with an open timeout, [`Error::Timeout`] instead of
        /// [`Error::NotFound`] if the channel did not appear in time, and
        /// [`Error::Shutdown`] if shutdown was requested meanwhile (see
        /// [`shutdown_on`](crate::signal::shutdown_on)).
        pub fn open_with(name: &str, opts: Options) -> Result<Self> {
            Chan::open::<T>(name, &opts, $role, &opts.appear_wait()).and_then($wrap)
        }

        /// Opens `name` if it exists, else creates it: for peers that start in any order.
        ///
        /// # Errors
        ///
        /// As [`create`](Self::create) and [`open`](Self::open).
        pub fn open_or_create(name: &str, opts: Options) -> Result<Self> {
            Chan::open_or_create::<T>(name, &opts, $role).and_then($wrap)
        }

        /// Joins a memfd-backed channel from a descriptor obtained with `share_fd` (by
        /// inheritance or over a Unix socket). The memfd must be sealed against shrinking.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open), and [`Error::Corrupt`] for an unsealed descriptor.
        pub fn from_fd(fd: OwnedFd, opts: Options) -> Result<Self> {
            Chan::attach::<T>(Segment::from_fd(fd, &opts)?, &opts, $role).and_then($wrap)
        }

        /// A new descriptor of the segment (its own open file description, close-on-exec)
        /// to hand to another process, which joins with `from_fd`.
        ///
        /// # Errors
        ///
        /// [`Error::Io`] if `/proc/self/fd` cannot be opened.
        pub fn share_fd(&self) -> Result<OwnedFd> {
            self.chan.seg.share_fd()
        }

        /// The channel's counters, and how many receivers and senders are attached now.
        pub fn stats(&self) -> Stats {
            self.chan.stats()
        }
    };
}

// Imported by path, so that `sender` and `receiver` (declared above) can `use` it.
use constructors;
