//! [`Sender`] and [`Receiver`] over a shared-memory ring, with zero-copy [`Loan`]s and
//! [`Sample`]s.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::layout::{self, Header, Layout, SegmentKind};
use super::options::Options;
use super::ring::{
    Mode, Peek, Peers, Region, Ring, RingControl, RingError, Settle, SlotHeader, MAX_PARTICIPANTS,
};
use super::segment::Segment;
use crate::deadline::Wait;
use crate::error::{Error, Result, SendError};
use crate::message::Message;
use crate::sync::atomic::Ordering;
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{fence, futex, Backoff, WaitStrategy};

/// Participant index of the receiver.
const RECEIVER: usize = 0;
/// Participant indices of senders.
const SENDERS: core::ops::Range<usize> = 1..MAX_PARTICIPANTS;
/// How often a spinning waiter re-checks liveness.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// True if a liveness probe is due: `CHECK_EVERY` has passed since the last one (the first
/// call only starts the clock).
fn due(last: &mut Option<Instant>, now: Instant) -> bool {
    match last {
        None => {
            *last = Some(now);
            false
        }
        Some(t) => now.duration_since(*t) >= CHECK_EVERY,
    }
}

/// The ring's memory inside a mapped segment.
#[derive(Debug)]
struct ShmRegion {
    base: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the region points into a shared mapping owned by the `Chan` that owns this
// region; the memory is only accessed through atomics or under the ring protocol, from any
// thread.
unsafe impl Send for ShmRegion {}
// SAFETY: as above.
unsafe impl Sync for ShmRegion {}

impl ShmRegion {
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
    fn slot(&self, index: u64) -> &SlotHeader {
        debug_assert!(index < self.layout.capacity);
        let off =
            self.layout.body_offset + (index & (self.layout.capacity - 1)) * self.layout.stride;
        // SAFETY: the offset is inside the mapping and 8-aligned (see the impl's comment);
        // `SlotHeader` is atomics and integers, valid for any bits.
        unsafe { &*self.base.as_ptr().add(off as usize).cast::<SlotHeader>() }
    }
}

/// What both ends hold.
#[derive(Debug)]
struct Chan {
    ring: Ring<ShmRegion>,
    seg: Segment,
    me: usize,
    wait: WaitStrategy,
    /// This process is registered for `membarrier`: publishing and releasing skip their
    /// full barrier, which a parking peer supplies (see [`crate::sync::fence`]).
    fenced: bool,
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

    fn create<T: Message>(name: &str, opts: &Options, role: Role) -> Result<Chan> {
        let layout = Layout::channel::<T>(opts.capacity)?;
        let me = if role == Role::Receiver {
            RECEIVER
        } else {
            SENDERS.start
        };
        let seg = Segment::create(name, opts, layout.total_size, me)?;
        // SAFETY: the mapping holds `total_size >= size_of::<Header>()` bytes and nobody
        // reads the meta before READY is published below.
        unsafe { layout::write_meta(seg.base(), layout.meta::<T>()) };
        let chan = Self::assemble(seg, layout, me, opts);
        chan.ring.init();
        chan.joined(role);
        layout::set_ready(chan.header());
        Ok(chan)
    }

    fn attach<T: Message>(seg: Segment, opts: &Options, role: Role) -> Result<Chan> {
        // SAFETY: an attached segment is mapped with at least a header.
        let meta = unsafe { layout::read_meta(seg.base()) };
        let layout = meta.check::<T>(SegmentKind::Channel, seg.len())?;
        let me = match role {
            Role::Receiver => seg.join(
                RECEIVER..RECEIVER + 1,
                "a channel has one receiver, and it is open",
            )?,
            Role::Sender => seg.join(SENDERS, "all 63 sender places are taken by live senders")?,
        };
        let chan = Self::assemble(seg, layout, me, opts);
        // Forget what a dead former holder of this index left: its claim (which could only
        // delay a skip), its bias, its unfinished mode change.
        chan.ring.adopt(me, &chan);
        chan.joined(role);
        Ok(chan)
    }

    fn assemble(seg: Segment, layout: Layout, me: usize, opts: &Options) -> Chan {
        let region = ShmRegion {
            base: NonNull::new(seg.base()).expect("mmap never returns null"),
            layout,
        };
        Chan {
            ring: Ring::new(region),
            seg,
            me,
            wait: opts.wait,
            fenced: fence::registered(),
        }
    }

    /// The order of the load after a publish or release: `Relaxed` behind the fence's
    /// compiler barrier when this process is registered, `SeqCst` after a `SeqCst` swap.
    fn load_order(&self) -> Ordering {
        if self.fenced {
            Ordering::Relaxed
        } else {
            Ordering::SeqCst
        }
    }

    /// Biases the ring to this sender if it is the only live one and its process can be
    /// fenced (see `ring/mode.rs`): its claims then need no locked instruction. Gives the
    /// bias up if other senders are alive (they revoke it when they claim, but one whose
    /// heavy barrier fails cannot). Costs a system call, and a `membarrier` to take the
    /// bias.
    fn review_bias(&self) {
        match self.ring.mode() {
            Some(Mode::Shared)
                if self.fenced
                    && !self.seg.any_alive(SENDERS)
                    && self.ring.take_bias(self.me, self) =>
            {
                self.header()
                    .counters
                    .bias_taken
                    .fetch_add(1, Ordering::Relaxed);
            }
            Some(Mode::Biased(o)) if o == self.me && self.seg.any_alive(SENDERS) => {
                // Between our claims: nothing of ours is in flight.
                self.ring.leave(self.me);
            }
            _ => {}
        }
    }

    fn joined(&self, role: Role) {
        let c = &self.header().counters;
        match role {
            Role::Sender => {
                c.senders_joined.fetch_add(1, Ordering::SeqCst);
            }
            Role::Receiver => {
                self.header().rx_closed().store(0, Ordering::SeqCst);
                c.receivers_joined.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn open<T: Message>(name: &str, opts: &Options, role: Role) -> Result<Chan> {
        Self::attach::<T>(Segment::open(name, opts)?, opts, role)
    }

    fn open_or_create<T: Message>(name: &str, opts: &Options, role: Role) -> Result<Chan> {
        let mut last = None;
        for _ in 0..16 {
            match Self::create::<T>(name, opts, role) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            match Self::open::<T>(name, opts, role) {
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

/// Counters a channel keeps in its segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages skipped because their sender died between claiming a slot and publishing.
    pub lost: u64,
    /// `FUTEX_WAKE` calls senders made to wake the receiver.
    pub receiver_wakes: u64,
    /// `FUTEX_WAKE` calls the receiver made to wake senders waiting for room.
    pub sender_wakes: u64,
    /// Senders that ever joined.
    pub senders_joined: u32,
    /// Times a sender that found itself alone biased the ring to itself: its claims then
    /// take no locked instruction.
    pub bias_taken: u64,
    /// Times a second sender revoked a bias (from then on every sender claims by CAS,
    /// until one is alone again).
    pub bias_revoked: u64,
}

fn stats(h: &Header) -> Stats {
    let c = &h.counters;
    Stats {
        lost: c.lost.load(Ordering::Relaxed),
        receiver_wakes: c.rx_wakes.load(Ordering::Relaxed),
        sender_wakes: c.tx_wakes.load(Ordering::Relaxed),
        senders_joined: c.senders_joined.load(Ordering::Relaxed),
        bias_taken: c.bias_taken.load(Ordering::Relaxed),
        bias_revoked: c.bias_revoked.load(Ordering::Relaxed),
    }
}

impl Wait {
    /// Time left to park, capped at the liveness slice; Err when the time is up.
    fn slice(self, now: Instant) -> Result<Duration> {
        match self {
            Wait::Now => Err(Error::Empty),
            Wait::Forever => Ok(PARK_SLICE),
            Wait::Until(at, d) => {
                let left = at.saturating_duration_since(now);
                if left.is_zero() {
                    Err(Error::Timeout(d))
                } else {
                    Ok(left.min(PARK_SLICE))
                }
            }
        }
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
}

/// The sending end of a shared-memory channel (several may feed one [`Receiver`]).
///
/// Created by [`Sender::create`] (then a receiver opens it by name) or opened with
/// [`Sender::open`]. Sending copies the message into a slot (`send`) or lets you write it
/// in place ([`Sender::loan`]); either way the receiver sees it only once it is
/// completely written.
pub struct Sender<T: Message> {
    chan: Chan,
    /// Our copy of the ring's `released` word: re-read only when it says the ring is full.
    released: u64,
    /// The position from which we next look whether we are the only sender (and may bias
    /// the ring to us).
    bias_check: u64,
    _t: PhantomData<fn(T)>,
}

/// The receiving end of a shared-memory channel.
///
/// [`Receiver::recv`] returns a [`Sample`], a guard that derefs to the message. For types
/// whose every bit pattern is valid (`T::SCHEMA.accepts_any_bits()`), the guard points
/// into shared memory (zero copy) and frees the slot on drop; other types are copied into
/// a private buffer, validated there and the slot freed at once: this copy-then-validate
/// is what guarantees that a sender cannot change a validated `&T` into an invalid one
/// under you. (A read-only mapping would not help: the peer that could change the bytes
/// is the sender, who must be able to write them.)
pub struct Receiver<T: Message> {
    chan: Chan,
    /// The next position to read.
    head: u64,
    read: Read,
    scratch: Scratch<T>,
}

/// What the receiver has read and not yet handed back to the senders.
#[derive(Debug)]
struct Read {
    /// A slot a `Sample` still refers to (freed when the sample drops, or at the next
    /// receive if the sample was leaked).
    pending: Option<u64>,
    /// The value this receiver last stored in the ring's `released` word: slots between it
    /// and `head` are read but wait for the next batch (see `ring.rs`).
    released: u64,
}

// SAFETY: the handles own their mapping and descriptor; nothing in them is tied to the
// thread that created them.
unsafe impl<T: Message> Send for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Message> Send for Receiver<T> {}

impl<T: Message> core::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("schema", &T::SCHEMA.name)
            .field("participant", &self.chan.me)
            .finish_non_exhaustive()
    }
}

impl<T: Message> core::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("schema", &T::SCHEMA.name)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

macro_rules! constructors {
    ($role:expr, $wrap:expr) => {
        /// Creates the channel `name` (under `/dev/shm`, with this crate's prefix) and
        /// joins it.
        ///
        /// # Errors
        ///
        /// [`Error::AlreadyExists`] if the name is taken, [`Error::InvalidName`],
        /// [`Error::LimitExceeded`] if `/dev/shm` has no room for the ring,
        /// [`Error::Io`] for other system errors.
        pub fn create(name: &str, opts: Options) -> Result<Self> {
            Chan::create::<T>(name, &opts, $role).map($wrap)
        }

        /// Opens the existing channel `name` and joins it.
        ///
        /// # Errors
        ///
        /// [`Error::NotFound`]; [`Error::SchemaMismatch`] if it carries another type;
        /// [`Error::Corrupt`] if its header is garbage, truncated or of another format
        /// version; [`Error::Untrusted`] if it belongs to another user or its mode
        /// grants more than `opts` allows; [`Error::Busy`] if the role is taken.
        pub fn open(name: &str) -> Result<Self> {
            Self::open_with(name, Options::new())
        }

        /// [`open`](Self::open) with options (wait strategy, mode check, open timeout).
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open).
        pub fn open_with(name: &str, opts: Options) -> Result<Self> {
            Chan::open::<T>(name, &opts, $role).map($wrap)
        }

        /// Opens `name` if it exists, else creates it: for peers that start in any order.
        ///
        /// # Errors
        ///
        /// As [`create`](Self::create) and [`open`](Self::open).
        pub fn open_or_create(name: &str, opts: Options) -> Result<Self> {
            Chan::open_or_create::<T>(name, &opts, $role).map($wrap)
        }

        /// Joins a memfd-backed channel from a descriptor obtained with `share_fd` (by
        /// inheritance or over a Unix socket). The memfd must be sealed against shrinking.
        ///
        /// # Errors
        ///
        /// As [`open`](Self::open), and [`Error::Corrupt`] for an unsealed descriptor.
        pub fn from_fd(fd: OwnedFd, opts: Options) -> Result<Self> {
            Chan::attach::<T>(Segment::from_fd(fd, &opts)?, &opts, $role).map($wrap)
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

        /// The channel's counters.
        pub fn stats(&self) -> Stats {
            stats(self.chan.header())
        }
    };
}

impl<T: Message> Sender<T> {
    constructors!(Role::Sender, |chan| Sender {
        chan,
        released: 0,
        bias_check: 0,
        _t: PhantomData
    });

    /// Sends `msg`, waiting for room while the ring is full.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] (with the message) if the receiver has closed or died;
    /// [`Error::Corrupt`] if the ring's memory was overwritten.
    #[inline]
    pub fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(msg, &Wait::Forever)
    }

    /// Sends `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] (with the message) if the ring is full, or, for the few
    /// microseconds it takes, while another sender changes how senders claim slots (see
    /// [`Stats::bias_revoked`]); otherwise as [`send`](Self::send).
    pub fn try_send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(msg, &Wait::Now)
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] (with the message) if the ring stayed full; otherwise as
    /// [`send`](Self::send).
    pub fn send_timeout(&mut self, msg: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_until(msg, &Wait::timeout(timeout))
    }

    /// Claims, writes and publishes, the streaming case inline. `until` is a reference so
    /// that `send`'s `&Wait::Forever` is a constant in the binary: passed by value, the
    /// compiler wrote it to the stack on every message, one more store for a sender whose
    /// speed is how few stores it makes.
    #[inline(always)]
    fn send_until(&mut self, msg: T, until: &Wait) -> Result<(), SendError<T>> {
        let pos = match self.claim_now() {
            Some(pos) => pos,
            None => match self.claim_slow(until) {
                Ok(pos) => pos,
                Err(Error::Empty) => return Err(SendError::new(Error::Full, msg)),
                Err(e) => return Err(SendError::new(e, msg)),
            },
        };
        let p = self.chan.ring.region().payload(self.chan.ring.index(pos));
        // SAFETY: we hold the claim on `pos`, so nobody else writes or reads the slot until
        // we publish it; the payload is inside the mapping and aligned for `T` (see
        // `Layout::channel`).
        unsafe { p.cast::<T>().write(msg) };
        self.publish(pos, false);
        Ok(())
    }

    /// Claims a slot to write a message in place (zero copy); [`Loan::send`] publishes it.
    ///
    /// Waits for room like [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    #[inline]
    pub fn loan(&mut self) -> Result<Loan<'_, T>> {
        let pos = self.claim(&Wait::Forever)?;
        Ok(Loan {
            tx: self,
            pos,
            written: false,
        })
    }

    /// [`loan`](Self::loan), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`], or as [`send`](Self::send).
    pub fn loan_timeout(&mut self, timeout: Duration) -> Result<Loan<'_, T>> {
        let pos = self.claim(&Wait::timeout(timeout))?;
        Ok(Loan {
            tx: self,
            pos,
            written: false,
        })
    }

    /// [`loan`](Self::loan) if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`], or as [`send`](Self::send).
    pub fn try_loan(&mut self) -> Result<Loan<'_, T>> {
        let pos = self.claim(&Wait::Now).map_err(|e| match e {
            Error::Empty => Error::Full,
            e => e,
        })?;
        Ok(Loan {
            tx: self,
            pos,
            written: false,
        })
    }

    fn receiver_gone(&self) -> bool {
        let h = self.chan.header();
        if h.rx_closed().load(Ordering::Relaxed) != 0 {
            return true;
        }
        h.counters.receivers_joined.load(Ordering::Relaxed) != 0 && !self.chan.seg.alive(RECEIVER)
    }

    /// Claims a slot: the fast path (room now) inline, waiting and mode changes out of
    /// line.
    #[inline(always)]
    fn claim(&mut self, until: &Wait) -> Result<u64> {
        match self.claim_now() {
            Some(pos) => Ok(pos),
            None => self.claim_slow(until),
        }
    }

    /// Claims a slot if the receiver is there, the ring has room and nobody is changing
    /// how senders claim: the case that streams. `None` sends the caller to
    /// [`claim_slow`](Self::claim_slow), which finds out what stood in the way. (No
    /// `Result` here: the fast path then keeps the position in a register, where a
    /// `Result<u64, Error>` shared with the slow path would be written to memory on every
    /// message, and a store is what a streaming sender has least room for.)
    #[inline(always)]
    fn claim_now(&mut self) -> Option<u64> {
        if self.chan.header().rx_closed().load(Ordering::Relaxed) != 0 {
            return None;
        }
        let chan = &self.chan;
        let pos = chan
            .ring
            .try_claim(chan.me, &mut self.released, chan.fenced)
            .ok()?;
        if pos >= self.bias_check {
            self.look_for_bias(pos);
        }
        Some(pos)
    }

    /// How many ring positions apart (messages of all senders) a sender looks whether it is
    /// alone (a system call).
    const BIAS_CHECK_EVERY: u64 = 1 << 16;

    /// On the first claim and then every [`BIAS_CHECK_EVERY`](Self::BIAS_CHECK_EVERY)
    /// positions: biases the ring to us if we are the only sender, or gives the bias up if
    /// we are not.
    #[cold]
    #[inline(never)]
    fn look_for_bias(&mut self, pos: u64) {
        self.bias_check = pos.wrapping_add(Self::BIAS_CHECK_EVERY);
        self.chan.review_bias();
    }

    /// The fast path in [`claim`](Self::claim) failed: settles the mode if another sender
    /// holds the bias, waits for room until `until` if the ring is full, re-checking the
    /// receiver's liveness and the shutdown flag on the way.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self, until: &Wait) -> Result<u64> {
        if self.chan.header().rx_closed().load(Ordering::Relaxed) != 0 {
            return Err(Error::Disconnected);
        }
        let chan = &self.chan;
        let mut why = match chan
            .ring
            .try_claim(chan.me, &mut self.released, chan.fenced)
        {
            Ok(pos) => return Ok(pos),
            Err(RingError::Corrupt) => return Err(Chan::corrupt()),
            Err(e) => e,
        };
        let mut backoff = Backoff::new(self.chan.wait);
        // Set when the first wait begins: no clock read on the fast path.
        let mut last_check: Option<Instant> = None;
        loop {
            let settled = match why {
                RingError::Busy(mode) => self.chan.ring.settle(self.chan.me, mode, &self.chan),
                _ => Settle::Wait,
            };
            if settled == Settle::Revoked {
                let c = &self.chan.header().counters;
                c.bias_revoked.fetch_add(1, Ordering::Relaxed);
            }
            if settled == Settle::Wait {
                if let Wait::Now = *until {
                    return Err(if self.receiver_gone() {
                        Error::Disconnected
                    } else {
                        Error::Empty
                    });
                }
                let step = backoff.snooze();
                if step == Step::Park || backoff.should_check() {
                    let now = Instant::now();
                    let slice = until.slice(now)?;
                    if due(&mut last_check, now) {
                        last_check = Some(now);
                        crate::shutdown::check_shutdown()?;
                        if self.receiver_gone() {
                            return Err(Error::Disconnected);
                        }
                    }
                    if step == Step::Park {
                        match why {
                            RingError::Full => self.park_for_room(slice),
                            // Another sender is changing the mode (microseconds, unless
                            // its barrier failed): sleep a little rather than spin.
                            _ => std::thread::sleep(slice.min(fence::UNFENCED_SLICE)),
                        }
                    }
                }
            }
            let chan = &self.chan;
            match chan
                .ring
                .try_claim(chan.me, &mut self.released, chan.fenced)
            {
                Ok(pos) => return Ok(pos),
                Err(RingError::Corrupt) => return Err(Chan::corrupt()),
                Err(e) => why = e,
            }
        }
    }

    /// Sleeps on the space event until the receiver frees a slot or `slice` passes.
    fn park_for_room(&self, slice: Duration) {
        let ev = &self.chan.header().space;
        let epoch = ev.epoch.load(Ordering::SeqCst);
        ev.waiters.fetch_add(1, Ordering::SeqCst);
        // The receiver's side of the fence is only a compiler barrier: ours orders it.
        let slice = fenced_slice(slice);
        // Re-check after announcing ourselves: the receiver bumps the epoch after freeing.
        if !self.chan.ring.has_room() {
            futex::wait(&ev.epoch, epoch, Some(slice));
        }
        ev.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    #[inline(always)]
    fn publish(&self, pos: u64, cancelled: bool) {
        // The slot's `seq`, then the flag, with a barrier between (ours, or the parking
        // receiver's `membarrier`): pairs with `Receiver::park` so that either it sees our
        // message or we see its flag.
        let chan = &self.chan;
        chan.ring.publish(pos, cancelled, chan.fenced);
        let h = chan.header();
        if h.rx_parked.load(chan.load_order()) != 0 && h.rx_parked.swap(0, Ordering::SeqCst) != 0 {
            h.counters.rx_wakes.fetch_add(1, Ordering::Relaxed);
            h.rx_sem.post();
        }
    }
}

impl<T: Message> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.ring.leave(self.chan.me);
        // Wake a parked receiver so it notices promptly if we were the last sender.
        let h = self.chan.header();
        if h.rx_parked.swap(0, Ordering::SeqCst) != 0 {
            h.rx_sem.post();
        }
    }
}

/// A slot claimed by [`Sender::loan`]: write the message in place, then [`Loan::send`].
///
/// Dropping a loan without sending gives the slot back (the receiver skips it).
pub struct Loan<'a, T: Message> {
    tx: &'a mut Sender<T>,
    pos: u64,
    written: bool,
}

impl<T: Message> Loan<'_, T> {
    fn ptr(&self) -> *mut T {
        self.tx
            .chan
            .ring
            .region()
            .payload(self.tx.chan.ring.index(self.pos))
            .cast::<T>()
    }

    /// Writes the whole message into the slot.
    pub fn write(&mut self, msg: T) {
        // SAFETY: the slot is claimed by this loan (nobody else writes or reads it until it
        // is published), inside the mapping and aligned for `T`.
        unsafe { self.ptr().write(msg) };
        self.written = true;
    }

    /// The slot as uninitialised memory, to fill field by field without building the
    /// message on the stack first; call [`assume_init`](Self::assume_init) when done.
    pub fn as_uninit_mut(&mut self) -> &mut MaybeUninit<T> {
        // SAFETY: claimed slot (see `write`); `MaybeUninit<T>` has the layout of `T` and no
        // validity requirement, so any bytes already there are fine.
        unsafe { &mut *self.ptr().cast::<MaybeUninit<T>>() }
    }

    /// The slot as a `&mut T` to fill in place, for types whose every bit pattern is valid
    /// (`T::SCHEMA.accepts_any_bits()`); `None` for other types (use [`write`](Self::write)
    /// or [`as_uninit_mut`](Self::as_uninit_mut)). The slot starts with the bytes of an
    /// earlier message, or zeros; whatever you leave there is sent.
    pub fn as_mut(&mut self) -> Option<&mut T> {
        if !const { T::SCHEMA.accepts_any_bits() } {
            return None;
        }
        self.written = true;
        // SAFETY: claimed slot (see `write`); the mapping's bytes are always initialised
        // (zero-filled at creation, then whole messages), and every bit pattern is a `T`.
        Some(unsafe { &mut *self.ptr() })
    }

    /// Declares the slot fully written through [`as_uninit_mut`](Self::as_uninit_mut).
    ///
    /// # Safety
    ///
    /// Every byte of the `T` must have been written with a valid value. (The receiver
    /// validates types with invalid bit patterns anyway, so a mistake here surfaces as
    /// [`Error::InvalidMessage`] there, but a message of garbage is still a bug.)
    pub unsafe fn assume_init(&mut self) {
        self.written = true;
    }

    /// Publishes the message. If nothing was written, the slot is given back instead and
    /// nothing is sent.
    #[inline]
    pub fn send(mut self) {
        let written = self.written;
        self.tx.publish(self.pos, !written);
        self.written = true;
        self.pos = u64::MAX;
    }
}

impl<T: Message> Drop for Loan<'_, T> {
    fn drop(&mut self) {
        if self.pos != u64::MAX {
            self.tx.publish(self.pos, true);
        }
    }
}

/// A private, heap-allocated buffer for one `T` (copy-then-validate).
struct Scratch<T> {
    ptr: NonNull<T>,
}

impl<T> Scratch<T> {
    fn new() -> Self {
        let layout = std::alloc::Layout::new::<T>();
        if layout.size() == 0 {
            return Scratch {
                ptr: NonNull::dangling(),
            };
        }
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(p.cast::<T>()) else {
            std::alloc::handle_alloc_error(layout)
        };
        Scratch { ptr }
    }
}

impl<T> Drop for Scratch<T> {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::new::<T>();
        if layout.size() != 0 {
            // SAFETY: allocated in `new` with this layout.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

/// A received message: derefs to `&T`; frees its slot when dropped.
///
/// See [`Receiver`] for where the `T` lives and why it cannot change under you.
pub struct Sample<'a, T: Message> {
    value: &'a T,
    /// Where to free the slot on drop (zero-copy samples only).
    release: Option<(&'a Chan, &'a mut Read)>,
}

impl<T: Message> core::ops::Deref for Sample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: Message + core::fmt::Debug> core::fmt::Debug for Sample<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Sample").field(self.value).finish()
    }
}

impl<T: Message> Sample<'_, T> {
    /// A copy of the message.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<T: Message> Drop for Sample<'_, T> {
    fn drop(&mut self) {
        if let Some((chan, read)) = self.release.take() {
            if let Some(pos) = read.pending.take() {
                release(chan, read, pos);
            }
        }
    }
}

/// Runs the heavy side of the fence before a park (see [`crate::sync::fence`]) and returns
/// how long the park may sleep: `slice`, or a short slice if the fence failed, so that a
/// wake-up a peer could not see costs no more than that.
fn fenced_slice(slice: Duration) -> Duration {
    if fence::heavy() {
        slice
    } else {
        slice.min(fence::UNFENCED_SLICE)
    }
}

/// Marks position `pos` read; every `batch` positions, hands the slots back to the senders.
#[inline]
fn release(chan: &Chan, read: &mut Read, pos: u64) {
    let next = pos.wrapping_add(1);
    chan.ring.set_head(next);
    if next.wrapping_sub(read.released) >= chan.ring.batch() {
        release_to(chan, read, next);
    }
}

/// Hands the slots of every position below `next` back to the senders, and wakes those
/// waiting for room.
#[inline(never)]
fn release_to(chan: &Chan, read: &mut Read, next: u64) {
    // `released`, then the waiters count, with a barrier between (ours, or the parking
    // sender's `membarrier`): pairs with `Sender::park_for_room` (count up, then re-check
    // of `released`).
    chan.ring.release(next, chan.fenced);
    read.released = next;
    let h = chan.header();
    if h.space.waiters.load(chan.load_order()) != 0 {
        h.space.epoch.fetch_add(1, Ordering::SeqCst);
        h.counters.tx_wakes.fetch_add(1, Ordering::Relaxed);
        futex::wake(&h.space.epoch, u32::MAX);
    }
}

impl<T: Message> Receiver<T> {
    constructors!(Role::Receiver, |chan: Chan| {
        // Resume where a former receiver stopped, and hand back what it read but had not
        // released yet (if it died between two batches).
        let head = chan.ring.head();
        chan.ring.release(head, false);
        Receiver {
            chan,
            head,
            read: Read {
                pending: None,
                released: head,
            },
            scratch: Scratch::new(),
        }
    });

    /// Receives the next message, waiting for one.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once every sender that joined has closed or died and no
    /// message is left; [`Error::InvalidMessage`] if a sender wrote bytes that are not a
    /// `T` (the message is consumed, the next `recv` goes on); [`Error::Corrupt`] if the
    /// ring's memory was overwritten.
    #[inline]
    pub fn recv(&mut self) -> Result<Sample<'_, T>> {
        self.recv_until(&Wait::Forever)
    }

    /// Receives a message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<Sample<'_, T>> {
        self.recv_until(&Wait::Now)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; otherwise as [`recv`](Self::recv).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Sample<'_, T>> {
        self.recv_until(&Wait::timeout(timeout))
    }

    fn senders_gone(&self) -> bool {
        self.chan
            .header()
            .counters
            .senders_joined
            .load(Ordering::SeqCst)
            != 0
            && !self.chan.seg.any_alive(SENDERS)
    }

    /// Hands back every slot read so far (none may be held by a `Sample`).
    fn release_all(&mut self) {
        if self.read.released != self.head {
            release_to(&self.chan, &mut self.read, self.head);
        }
    }

    /// Publishes the slot at `pos` as cancelled if its claimer died; true if it did (the
    /// next peek then reads and frees it).
    fn skip_dead(&mut self, pos: u64) -> bool {
        let seg = &self.chan.seg;
        if self.chan.ring.skip_abandoned(pos, |i| seg.alive(i)) {
            self.chan
                .header()
                .counters
                .lost
                .fetch_add(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    #[inline]
    fn recv_until(&mut self, until: &Wait) -> Result<Sample<'_, T>> {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        // The streaming case, inline: a message is waiting at the head.
        let pos = match self.chan.ring.peek(self.head) {
            Ok(Peek::Ready {
                pos,
                cancelled: false,
            }) => {
                self.head = pos.wrapping_add(1);
                pos
            }
            _ => self.wait_for_message(until)?,
        };
        self.sample(pos)
    }

    /// Skips cancelled slots and waits (spinning, then parking, as the channel's
    /// [`WaitStrategy`](crate::sync::WaitStrategy) says) until a message is at the head;
    /// returns its position, now behind `head`.
    #[inline(never)]
    fn wait_for_message(&mut self, until: &Wait) -> Result<u64> {
        let mut backoff = Backoff::new(self.chan.wait);
        // Set when the first wait begins: no clock read on the fast path.
        let mut last_check: Option<Instant> = None;
        let pos = loop {
            let peek = self
                .chan
                .ring
                .peek(self.head)
                .map_err(|_| Chan::corrupt())?;
            match peek {
                Peek::Ready { pos, cancelled } => {
                    self.head = pos.wrapping_add(1);
                    if cancelled {
                        release(&self.chan, &mut self.read, pos);
                        continue;
                    }
                    break pos;
                }
                // Out of messages: senders see all the room there is (and before any park).
                Peek::Pending(_) | Peek::Empty => self.release_all(),
            }
            // Liveness probes are system calls: at most one per CHECK_EVERY, whether
            // spinning or parking (a park lasts at most PARK_SLICE, so a dead peer is
            // noticed within about PARK_SLICE + CHECK_EVERY).
            let (due, park) = match *until {
                Wait::Now => (true, false),
                _ => {
                    let step = backoff.snooze();
                    let park = step == Step::Park;
                    let due = (park || backoff.should_check()) && {
                        let now = Instant::now();
                        until.slice(now)?;
                        due(&mut last_check, now)
                    };
                    (due, park)
                }
            };
            if due {
                last_check = Some(Instant::now());
                crate::shutdown::check_shutdown()?;
                if self.chan.ring.claimed(self.head) {
                    if self.skip_dead(self.head) {
                        continue;
                    }
                } else if self.senders_gone() {
                    // Re-check after the liveness probe: a message published just before
                    // its sender left must still be delivered.
                    match self.chan.ring.peek(self.head) {
                        Ok(Peek::Empty) => return Err(Error::Disconnected),
                        _ => continue,
                    }
                }
            }
            if park || matches!(*until, Wait::Now) {
                let slice = until.slice(Instant::now())?;
                self.park(slice);
            }
        };
        Ok(pos)
    }

    fn park(&self, slice: Duration) {
        let h = self.chan.header();
        // SeqCst store, then a full barrier on every CPU (`membarrier`, for senders that
        // skip theirs), then SeqCst re-check of the slot; the sender publishes, then loads
        // this flag: one of the two sees the other.
        h.rx_parked.store(1, Ordering::SeqCst);
        let slice = fenced_slice(slice);
        if !self.chan.ring.published(self.head) {
            let _ = h.rx_sem.wait_timeout(slice);
        }
        h.rx_parked.store(0, Ordering::Relaxed);
    }

    #[inline]
    fn sample(&mut self, pos: u64) -> Result<Sample<'_, T>> {
        let src = self.chan.ring.region().payload(self.chan.ring.index(pos));
        if const { T::SCHEMA.accepts_any_bits() } {
            self.read.pending = Some(pos);
            // SAFETY: the slot is published and ours until we release it (on the sample's
            // drop, or at the next receive); the payload is inside the mapping and aligned
            // for `T`; every bit pattern is a valid `T`, so even a peer that (against the
            // protocol) rewrites the bytes cannot make the reference point at an invalid
            // value.
            let value = unsafe { &*src.cast::<T>() };
            return Ok(Sample {
                value,
                release: Some((&self.chan, &mut self.read)),
            });
        }
        // Copy, free the slot, then validate the private copy: the sender can no longer
        // change what we validated.
        let dst = self.scratch.ptr.as_ptr().cast::<u8>();
        // SAFETY: `src` is `size_of::<T>()` readable bytes of the published slot, `dst` a
        // private allocation of the same size; they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, size_of::<T>()) };
        release(&self.chan, &mut self.read, pos);
        // SAFETY: `dst` holds `size_of::<T>()` initialised bytes (copied just above).
        let bytes = unsafe { core::slice::from_raw_parts(dst, size_of::<T>()) };
        T::validate(bytes)?;
        // SAFETY: `T::validate` accepted the bytes, so by the `Message` contract they are a
        // valid `T`; the buffer is aligned for `T` and borrowed for as long as `self` is.
        let value = unsafe { &*self.scratch.ptr.as_ptr() };
        Ok(Sample {
            value,
            release: None,
        })
    }

    /// Messages waiting (a snapshot).
    pub fn len(&self) -> usize {
        self.chan.ring.len(self.head) as usize
    }

    /// True if no message is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Message> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        self.release_all();
        let h = self.chan.header();
        h.rx_closed().store(1, Ordering::SeqCst);
        // Wake senders waiting for room so they see the receiver is gone.
        h.space.epoch.fetch_add(1, Ordering::SeqCst);
        if h.space.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake(&h.space.epoch, u32::MAX);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_sender_takes_the_bias_alone_gives_it_up_in_company_and_takes_it_back() {
        let name = format!("unit-bias-{}", std::process::id());
        let opts = Options::new().capacity(64);
        let mut rx = Receiver::<u64>::create(&name, opts.clone()).unwrap();
        let mut a = Sender::<u64>::open(&name).unwrap();
        let mode = |tx: &Sender<u64>| tx.chan.ring.mode().unwrap();
        // Sends `n` messages from `tx`, reading each one back.
        let stream = |tx: &mut Sender<u64>, rx: &mut Receiver<u64>, n: u64| {
            for i in 0..n {
                tx.send(i).unwrap();
                assert_eq!(*rx.recv().unwrap(), i);
            }
        };
        stream(&mut a, &mut rx, 1);
        if !fence::registered() {
            // Without membarrier nobody takes the bias.
            assert_eq!(mode(&a), Mode::Shared);
            return;
        }
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        // A second sender that never claims does not revoke anything, but `a` sees it at
        // its next look and gives the bias up.
        let b = Sender::<u64>::open(&name).unwrap();
        stream(&mut a, &mut rx, Sender::<u64>::BIAS_CHECK_EVERY);
        assert_eq!(mode(&a), Mode::Shared);
        drop(b);
        stream(&mut a, &mut rx, Sender::<u64>::BIAS_CHECK_EVERY);
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        let stats = rx.stats();
        assert_eq!((stats.bias_taken, stats.bias_revoked), (2, 0));
        // Closing gives the bias back.
        let me = a.chan.me;
        drop(a);
        assert_ne!(rx.chan.ring.mode(), Some(Mode::Biased(me)));
    }
}
