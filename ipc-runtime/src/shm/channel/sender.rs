//! The sending end: [`Sender`]'s `send` and `loan` families, the claim on the path that
//! streams (inline), the publish that wakes a parked receiver, and the look every
//! 4,096 positions at whether another sender has claimed lately, or this one may bias the
//! ring to itself; and
//! [`Loan`], the slot a loan lends for writing in place, which publishes through the
//! sender. (A loan and its sender refer to each other, so they share this file.)
//!
//! A claim that finds no room, or another sender changing the mode, goes on in
//! `wait.rs` ([`Sender::claim_slow`]). The receiving end's counterpart is `receiver.rs`.

use core::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::time::Duration;

#[cfg(doc)] // for the links in the docs
use super::Receiver;
use super::{constructors, Chan, Role, Stats};
use crate::contract::{self, Tx};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::options::Options;
use crate::shm::ring::Mode;
use crate::shm::segment::Segment;
use crate::sync::atomic::Ordering;

/// The sending end of a shared-memory channel (several may feed one [`Receiver`]).
///
/// Created by [`Sender::create`] (then a receiver opens it by name) or opened with
/// [`Sender::open`]. Sending copies the message into a slot (`send`) or lets you write it
/// in place ([`Sender::loan`]); either way the receiver sees it only once it is
/// completely written.
///
/// A sender of slices (`Sender<[E]>`) sends messages of any length up to the channel's
/// [`Options::max_len`] with [`send_slice`](Sender::send_slice) or, in place,
/// [`loan_slice`](Sender::loan_slice); the receiver's samples deref to `&[E]`.
///
/// # Order across senders
///
/// The receiver gets messages in the order their slots were claimed, one order for all
/// senders. So a sender that stops between claiming a slot and publishing it holds the
/// others up: one that holds a [`Loan`] unsent, or whose process is stopped mid-send (a
/// `SIGSTOP`, a debugger). It is alive, so its slot is waited for, not skipped: the
/// receiver waits at that slot, and once the other senders have filled the rest of the
/// ring they wait too. When it goes on, everything arrives, nothing lost. A sender that
/// dies there is skipped (the receiver counts its slot in [`Stats::lost`](super::Stats)).
pub struct Sender<T: ?Sized + Payload> {
    pub(super) chan: Chan,
    /// Our copy of the ring's `released` word: re-read only when it says the ring is full.
    pub(super) released: u64,
    /// The position from which we next look whether we are the only sender (and may bias
    /// the ring to us).
    bias_check: u64,
    /// Claims of other senders after this position keep the ring shared at that look:
    /// where we looked last, or where we revoked a bias (0 at first: every claim counts).
    bias_since: u64,
    _t: PhantomData<fn(&T)>,
}

// SAFETY: the handles own their mapping and descriptor; nothing in them is tied to the
// thread that created them.
unsafe impl<T: ?Sized + Payload> Send for Sender<T> {}

impl<T: ?Sized + Payload> core::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("schema", &T::schema_id().name)
            .field("participant", &self.chan.me)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + Payload> Sender<T> {
    constructors!(Role::Sender, |chan| Ok(Self::from_chan(chan)));

    /// The sending end over `chan`, joined as a sender.
    pub(super) fn from_chan(chan: Chan) -> Self {
        Sender {
            chan,
            released: 0,
            bias_check: 0,
            bias_since: 0,
            _t: PhantomData,
        }
    }

    /// Another sender of the same channel, in this process: it takes a sender place of its
    /// own (as a second [`open`](Self::open) of the name would), with this sender's
    /// options, and the receiver sees `Disconnected` only after every sender, clones
    /// included, has left. Hand it to another thread (`Sender` is `Send`), as one clones
    /// a crossbeam or `std::sync::mpsc` sender.
    ///
    /// Not `Clone`, because joining can fail:
    ///
    /// ```
    /// # fn main() -> ipc::Result<()> {
    /// # let name = format!("doc-clone-{}", std::process::id());
    /// let mut rx = ipc::shm::Receiver::<u64>::create(&name, ipc::shm::Options::new())?;
    /// let mut tx = ipc::shm::Sender::<u64>::open(&name)?;
    /// let mut other = tx.try_clone()?;
    /// std::thread::spawn(move || other.send(2)).join().unwrap()?;
    /// tx.send(1)?;
    /// drop(tx);
    /// let first = *rx.recv()?;
    /// let mut got = [first, *rx.recv()?];
    /// got.sort();
    /// assert_eq!(got, [1, 2]);
    /// assert!(matches!(rx.recv(), Err(ipc::Error::Disconnected)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] if all 63 sender places are taken by live senders;
    /// [`Error::NotFound`] if the channel's name was removed (its receiver left);
    /// [`Error::LimitExceeded`] if this process is out of descriptors; [`Error::Io`].
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self::from_chan(self.chan.duplicate::<T>(Role::Sender)?))
    }

    /// Claims a slot: the fast path (room now) inline, waiting and mode changes out of
    /// line.
    #[inline(always)]
    pub(super) fn claim(&mut self, until: &Wait) -> Result<u64> {
        match self.claim_now() {
            Some(pos) => Ok(pos),
            None => self.claim_slow(until, 1).map(|(pos, _)| pos),
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
        chan.ring
            .try_claim(chan.me, &mut self.released, chan.fenced)
            .ok()
    }

    /// [`claim_now`](Self::claim_now) for up to `max >= 1` consecutive slots, in one
    /// advance of `tail`: the first position and how many. `None` when the receiver is
    /// gone, the mode is changing, or the room this sender knows of is less than `max`
    /// (then [`claim_slow`](Self::claim_slow) takes what there is).
    #[inline(always)]
    fn claim_many_now(&mut self, max: u64) -> Option<(u64, u64)> {
        if self.chan.header().rx_closed().load(Ordering::Relaxed) != 0 {
            return None;
        }
        let chan = &self.chan;
        chan.ring
            .try_claim_many(chan.me, &mut self.released, chan.fenced, max)
            .ok()
    }

    /// How many ring positions apart (messages of all senders) a sender looks whether
    /// another has claimed since its last look (a load of every claim word). Shorter
    /// looks take the bias back sooner after another sender goes quiet, at the price of
    /// more grants and revokes (a `membarrier` each) while two senders alternate: with
    /// 16 sender processes on two CPUs, 1 << 12 kept 0.53-0.82x one sender's rate in
    /// all where 1 << 16 kept 0.32-0.48x (the shm bench's senders table).
    const BIAS_CHECK_EVERY: u64 = 1 << 12;

    /// After the first publish and then every [`BIAS_CHECK_EVERY`](Self::BIAS_CHECK_EVERY)
    /// positions: biases the ring to us if we are the only sender, or gives the bias up if
    /// we are not.
    #[cold]
    #[inline(never)]
    fn look_for_bias(&mut self, pos: u64) {
        // Claims since the last look (all of them, on the first) keep the ring shared.
        let since = core::mem::replace(&mut self.bias_since, pos);
        self.bias_check = pos.wrapping_add(Self::BIAS_CHECK_EVERY);
        self.chan.review_bias(since);
    }

    /// How many positions after revoking a bias a sender looks again whether it is alone.
    ///
    /// Shared, every claim is a CAS, which on x86 waits for the previous message's slot
    /// stores to reach the cache: a lone sender claiming by CAS streamed 8-byte messages
    /// at a fifth of its biased rate here. Senders that take turns on one CPU revoke the
    /// bias at the start of each turn, then stream alone: looking again a full
    /// [`BIAS_CHECK_EVERY`](Self::BIAS_CHECK_EVERY) (two, for a look with no claim of
    /// others since the one before) after the revoke kept every turn shared for its first
    /// 4-8 K messages, and 512 positions still cost sixteen such senders 2-3% of their
    /// rate (the shm bench's senders table, 30 alternated runs: sixteen ÷ one sender 0.98
    /// on average with 512, 1.00 with 64). A sender that really runs beside another sees
    /// its claims in the quick look and stays shared: 64 CAS claims take it a few
    /// microseconds, in which a sender that streams claims many times (with the senders
    /// free to run on either CPU, 64 and 512 gave the same rates and as many revokes).
    const BIAS_LOOK_AFTER_REVOKE: u64 = 1 << 6;

    /// After this sender revoked another's bias: it looks whether it is alone
    /// [`BIAS_LOOK_AFTER_REVOKE`](Self::BIAS_LOOK_AFTER_REVOKE) positions from now,
    /// counting only claims made after now.
    pub(super) fn revoked_bias(&mut self) {
        let tail = self.chan.ring.tail();
        self.bias_since = tail;
        self.bias_check = tail.wrapping_add(Self::BIAS_LOOK_AFTER_REVOKE);
    }

    #[inline(always)]
    pub(super) fn publish(&mut self, pos: u64, cancelled: bool) {
        let chan = &self.chan;
        chan.ring.publish(pos, cancelled, chan.fenced);
        self.wake_receiver();
        self.after_publish(pos);
    }

    /// After this sender published up to `last`: every
    /// [`BIAS_CHECK_EVERY`](Self::BIAS_CHECK_EVERY) positions (and
    /// [`BIAS_LOOK_AFTER_REVOKE`](Self::BIAS_LOOK_AFTER_REVOKE) after a revoke), looks
    /// whether to take or give up the bias. Not between a claim and its publish: taking
    /// the bias is a `membarrier`, a system call, and a sender that the scheduler stops
    /// at its return would hold every later position, of every sender, unpublished.
    #[inline(always)]
    fn after_publish(&mut self, last: u64) {
        if last >= self.bias_check {
            self.look_for_bias(last);
        }
    }

    /// After a publish: wakes the receiver if it is parked. The slot's `seq`, then the
    /// flag, with a barrier between (the publish's, or the parking receiver's
    /// `membarrier`): pairs with `Receiver::park` so that either it sees our message or we
    /// see its flag.
    #[inline(always)]
    fn wake_receiver(&self) {
        let chan = &self.chan;
        let h = chan.header();
        if h.rx_parked.load(chan.load_order()) != 0 && h.rx_parked.swap(0, Ordering::SeqCst) != 0 {
            h.counters.rx_wakes.fetch_add(1, Ordering::Relaxed);
            h.rx_sem.post();
            super::ring_rx_bell(h);
        }
    }
}

impl<T: Message> Sender<T> {
    /// Claims, writes and publishes, the streaming case inline. `until` is a reference so
    /// that `send`'s `&Wait::Forever` is a constant in the binary: passed by value, the
    /// compiler wrote it to the stack on every message, one more store for a sender whose
    /// speed is how few stores it makes.
    #[inline(always)]
    pub(super) fn send_until(&mut self, msg: &T, until: &Wait) -> Result<()> {
        let pos = match self.claim_now() {
            Some(pos) => pos,
            None => match self.claim_slow(until, 1) {
                Ok((pos, _)) => pos,
                Err(Error::Empty) => return Err(Error::Full),
                Err(e) => return Err(e),
            },
        };
        let p = self.chan.ring.region().payload(self.chan.ring.index(pos));
        // SAFETY: we hold the claim on `pos`, so nobody else writes or reads the slot until
        // we publish it; the payload is inside the mapping, aligned for `T` (see
        // `Layout::channel`), and cannot overlap `*msg`, which is the caller's. Copied
        // from where it lies (not through a `T` on the stack, which for a large `T` in an
        // unoptimised build overflows it).
        unsafe { core::ptr::copy_nonoverlapping(msg, p.cast::<T>(), 1) };
        self.publish(pos, false);
        Ok(())
    }

    /// [`Tx::send_many_wait`] (see there): the prefix of `msgs` (not empty) that there is
    /// room for, or, waiting for ever, all of them, one prefix after another.
    #[inline]
    fn send_many_until(&mut self, msgs: &[T], until: &Wait) -> Result<usize> {
        let mut sent = self.send_prefix(msgs, until)?;
        if let Wait::Forever = *until {
            while sent < msgs.len() {
                match self.send_prefix(&msgs[sent..], until) {
                    Ok(n) => sent += n,
                    // Not lost: the next call meets it again (the receiver stays gone,
                    // shutdown stays requested, the ring stays corrupt).
                    Err(_) => break,
                }
            }
        }
        Ok(sent)
    }

    /// Sends the longest prefix of `msgs` (not empty) that there is room for, waiting as
    /// `until` says for room for the first: one claim of `k` slots, `k` copies, one
    /// publish.
    #[inline]
    fn send_prefix(&mut self, msgs: &[T], until: &Wait) -> Result<usize> {
        let max = msgs.len() as u64;
        let (pos, n) = match self.claim_many_now(max) {
            Some(claimed) => claimed,
            None => match self.claim_slow(until, max) {
                Ok(claimed) => claimed,
                Err(Error::Empty) => return Err(Error::Full),
                Err(e) => return Err(e),
            },
        };
        let chan = &self.chan;
        if n >= 2 && chan.ring.packs() {
            // Into the packed array, back to back: half the cache lines for small
            // messages (see `ring.rs`).
            let region = chan.ring.region();
            chan.ring.publish_packed(pos, n, chan.fenced, || {
                // SAFETY: the channel's messages are `T`s and it has a packed array; we
                // hold the claim on the `n <= msgs.len()` positions (at most a capacity),
                // and `msgs` is the caller's.
                unsafe { region.write_packed(pos, &msgs[..n as usize]) };
            });
        } else {
            let payloads = chan.ring.region().payloads();
            chan.ring.publish_many(pos, n, chan.fenced, move |i, at| {
                // `n <= msgs.len()`: the ring claims at most what it is asked for.
                let msg = &msgs[i as usize];
                // SAFETY: we hold the claim on the positions `pos..pos + n`, and `at` is
                // one of them, so nobody else writes or reads its slot until the ring
                // publishes it; the payload is inside the mapping and aligned for `T` (see
                // `Layout::channel`), and cannot overlap `msgs`, which is the caller's.
                unsafe { core::ptr::copy_nonoverlapping(msg, payloads.at(at).cast::<T>(), 1) };
            });
        }
        self.wake_receiver();
        self.after_publish(pos.wrapping_add(n - 1));
        Ok(n as usize)
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
            len: 1,
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
            len: 1,
        })
    }

    /// [`loan`](Self::loan), waiting for room as `until` says (the request/response
    /// client's, whose deadline covers the whole call).
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is no room and `until` says not to wait,
    /// [`Error::Timeout`], or as [`send`](Self::send).
    #[inline]
    pub(crate) fn loan_until(&mut self, until: &Wait) -> Result<Loan<'_, T>> {
        let pos = self.claim(until).map_err(|e| match e {
            Error::Empty => Error::Full,
            e => e,
        })?;
        Ok(Loan {
            tx: self,
            pos,
            written: false,
            len: 1,
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
            len: 1,
        })
    }
}

impl<E: Message> Sender<[E]> {
    /// The most elements a message of this channel holds (its creator's
    /// [`Options::max_len`]).
    pub fn max_len(&self) -> usize {
        self.chan.ring.region().max_len as usize
    }

    /// Sends a copy of `elements`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] if `elements` is longer than [`max_len`](Self::max_len)
    /// (nothing is sent or waited for); otherwise as [`Tx::send_wait`] on a channel of
    /// messages.
    #[inline]
    pub fn send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Forever)
    }

    /// [`send_slice`](Self::send_slice) if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is none; otherwise as [`send_slice`](Self::send_slice).
    pub fn try_send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Now)
    }

    /// [`send_slice`](Self::send_slice), waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was none in time; otherwise as
    /// [`send_slice`](Self::send_slice).
    pub fn send_slice_timeout(&mut self, elements: &[E], timeout: Duration) -> Result<()> {
        self.send_slice_until(elements, &Wait::timeout(timeout))
    }

    /// Claims a slot to write a slice of `len` elements in place (zero copy);
    /// [`Loan::send`] publishes it. The elements start with whatever an earlier message
    /// left there (or zeros). Waits for room like [`send_slice`](Self::send_slice).
    ///
    /// # Errors
    ///
    /// As [`send_slice`](Self::send_slice).
    #[inline]
    pub fn loan_slice(&mut self, len: usize) -> Result<Loan<'_, [E]>> {
        self.check_len(len)?;
        let pos = self.claim(&Wait::Forever)?;
        Ok(Loan {
            tx: self,
            pos,
            written: false,
            len,
        })
    }

    fn check_len(&self, len: usize) -> Result<()> {
        let max = self.chan.ring.region().max_len;
        if len as u64 > max {
            return Err(Error::too_long(len, max));
        }
        Ok(())
    }

    fn send_slice_until(&mut self, elements: &[E], until: &Wait) -> Result<()> {
        self.check_len(elements.len())?;
        let pos = self.claim(until).map_err(|e| match e {
            Error::Empty => Error::Full,
            e => e,
        })?;
        let region = self.chan.ring.region();
        let index = self.chan.ring.index(pos);
        // SAFETY: we hold the claim on `pos`, so nobody else writes or reads the slot until
        // we publish it; it holds `max_len >= elements.len()` elements from `elements()`,
        // aligned for `E`, inside the mapping, which `elements` (the caller's) does not
        // overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                elements.as_ptr(),
                region.elements::<[E]>(index),
                elements.len(),
            );
        }
        region
            .slice_len(index)
            .store(elements.len() as u64, Ordering::Relaxed);
        self.publish(pos, false);
        Ok(())
    }
}

impl<T: Message> Tx<T> for Sender<T> {
    /// Claims a slot, copies `*msg` into it and publishes it (use
    /// [`loan`](Sender::loan) to write a message in place instead).
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the receiver has closed or died; [`Error::Full`] if
    /// there is no room now ([`Wait::Now`](contract::Wait::Now)), or, for the few
    /// microseconds it takes, while another sender changes how senders claim slots (see
    /// [`Stats::bias_revoked`](super::Stats::bias_revoked)); [`Error::Timeout`] if the
    /// ring stayed full; [`Error::Shutdown`]; [`Error::Corrupt`] if the ring's memory was
    /// overwritten.
    #[inline(always)]
    fn send_wait(&mut self, msg: &T, wait: contract::Wait) -> Result<()> {
        match wait {
            contract::Wait::Forever => self.send_until(msg, &Wait::Forever),
            bounded => self.send_until(msg, &bounded.into()),
        }
    }

    /// Sends the longest prefix of `msgs` there is room for, waiting as `wait` says for
    /// room for the first (with [`Wait::Forever`](contract::Wait::Forever): all of
    /// `msgs`, a prefix each time there is room), and returns how many went.
    ///
    /// A batch of `k` costs what one message does, plus the copies: **one claim** of `k`
    /// consecutive positions (as many as are free, up to `msgs.len()`: one plain store of
    /// the ring's `tail` while this sender holds the bias, else one CAS), and **one
    /// publish** (one barrier, and one look at whether the receiver is parked).
    ///
    /// Small messages (where a slot is at least a quarter header and padding, see
    /// [`Options::footprint`](super::Options::footprint)) are copied back to back into
    /// the channel's packed array, with one copy (two where the array wraps), and only
    /// the first position is published, carrying the batch's length: the receiver reads
    /// them as densely as they were written, and a sender that dies before that publish
    /// loses the whole batch (its positions counted in
    /// [`Stats::lost`](super::Stats::lost)). Other messages are copied into their slots,
    /// and the positions after the first are published before the first, so the receiver
    /// sees the batch whole, and a sender that dies mid-batch costs the receiver only the
    /// messages it had not published. [`send_all`](Tx::send_all) and
    /// [`try_send_many`](Tx::try_send_many) are built on it.
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`], for the first message ([`Error::Full`] if not even one slot
    /// is free with [`Wait::Now`](contract::Wait::Now)).
    #[inline]
    fn send_many_wait(&mut self, msgs: &[T], wait: contract::Wait) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        match wait {
            contract::Wait::Forever => self.send_many_until(msgs, &Wait::Forever),
            bounded => self.send_many_until(msgs, &bounded.into()),
        }
    }
}

contract::sending_end!(impl<T> Sender<T>, T);

// Dropping a sender leaves the ring and the segment in `Chan`'s `Drop` (`leave.rs`): it
// gives up the bias, wakes a parked receiver, and, if it is the last to leave with
// messages unread, keeps the channel for its linger.

impl Chan {
    /// Biases the ring to this sender if no other sender has claimed a position since
    /// `since` and its process can be fenced (see `ring/mode.rs`): its claims then need no
    /// locked instruction. Another sender that holds the channel open without sending
    /// does not stand in the way; one that sends revokes the bias when it claims. Gives
    /// the bias up if another sender asks for it (one whose heavy barrier failed cannot
    /// revoke). Costs a look at every claim word, and a `membarrier` to take the bias.
    fn review_bias(&self, since: u64) {
        match self.ring.mode() {
            Some(Mode::Shared)
                if self.fenced
                    && !self.ring.others_claimed_since(self.me, since)
                    && self.ring.take_bias(self.me, self) =>
            {
                self.header()
                    .counters
                    .bias_taken
                    .fetch_add(1, Ordering::Relaxed);
            }
            Some(Mode::Biased(o)) if o == self.me && self.ring.wanted(self.me) => {
                // Between our claims: nothing of ours is in flight.
                self.ring.leave(self.me);
            }
            _ => {}
        }
    }
}

/// A slot claimed by [`Sender::loan`] (or [`Sender::loan_slice`]): write the message in
/// place, then [`Loan::send`].
///
/// Dropping a loan without sending gives the slot back (the receiver skips it). Until it
/// is sent or dropped, the receiver gets nothing claimed after it, from any sender (see
/// [`Sender`]'s "Order across senders"): write it and send it without waiting for
/// anything else.
pub struct Loan<'a, T: ?Sized + Payload> {
    tx: &'a mut Sender<T>,
    pos: u64,
    written: bool,
    /// Slices: the elements lent (1 for a message).
    len: usize,
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

    crate::shm::lend::in_place_writes!("slot");

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

impl<E: Message> Loan<'_, [E]> {
    fn ptr(&self) -> *mut E {
        let index = self.tx.chan.ring.index(self.pos);
        self.tx.chan.ring.region().elements::<[E]>(index)
    }

    crate::shm::lend::in_place_slice_writes!("slot");

    /// Publishes the slice, [`len`](Self::len) elements. If nothing was written, the slot
    /// is given back instead and nothing is sent.
    #[inline]
    pub fn send(mut self) {
        let written = self.written;
        if written {
            let index = self.tx.chan.ring.index(self.pos);
            self.tx
                .chan
                .ring
                .region()
                .slice_len(index)
                .store(self.len as u64, Ordering::Relaxed);
        }
        self.tx.publish(self.pos, !written);
        self.written = true;
        self.pos = u64::MAX;
    }
}

impl<T: ?Sized + Payload> Drop for Loan<'_, T> {
    fn drop(&mut self) {
        if self.pos != u64::MAX {
            self.tx.publish(self.pos, true);
        }
    }
}

#[cfg(all(test, not(ipc_loom)))]
mod tests {
    use super::*;
    use crate::shm::channel::Receiver;
    use crate::sync::fence;

    #[test]
    fn a_sender_that_revoked_takes_the_bias_at_a_quick_look_unless_the_other_claims() {
        let name = crate::testing::unique("revoked");
        let opts = Options::new().capacity(64);
        let mut rx = Receiver::<u64>::create(&name, opts.clone()).unwrap();
        let mut a = Sender::<u64>::open(&name).unwrap();
        let mut b = Sender::<u64>::open(&name).unwrap();
        let mode = |tx: &Sender<u64>| tx.chan.ring.mode().unwrap();
        let mut next = 0;
        let mut stream = |tx: &mut Sender<u64>, rx: &mut Receiver<u64>, n: u64| {
            for _ in 0..n {
                tx.send(next).unwrap();
                assert_eq!(*rx.recv().unwrap(), next);
                next += 1;
            }
        };
        stream(&mut a, &mut rx, 1);
        if !fence::registered() {
            assert_eq!(mode(&a), Mode::Shared);
            return;
        }
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        let quick = Sender::<u64>::BIAS_LOOK_AFTER_REVOKE;
        // `b` revokes, and `a` claims again before `b`'s quick look: it stays shared.
        stream(&mut b, &mut rx, 1);
        assert_eq!(mode(&b), Mode::Shared);
        stream(&mut a, &mut rx, 1);
        stream(&mut b, &mut rx, quick + 1);
        assert_eq!(mode(&b), Mode::Shared);
        // Alone after its next revoke, `b` takes the bias at the quick look, long before
        // a full `BIAS_CHECK_EVERY`.
        stream(&mut a, &mut rx, 2 * Sender::<u64>::BIAS_CHECK_EVERY + 1);
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        stream(&mut b, &mut rx, quick + 1);
        assert_eq!(mode(&b), Mode::Biased(b.chan.me));
        let stats = rx.stats();
        assert_eq!((stats.bias_taken, stats.bias_revoked), (3, 2));
    }

    #[test]
    fn an_idle_second_sender_leaves_the_bias_alone_a_claiming_one_revokes_it() {
        let name = crate::testing::unique("bias");
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
        // A second sender that holds the channel open and never claims changes nothing,
        // however often `a` looks.
        let mut b = Sender::<u64>::open(&name).unwrap();
        stream(&mut a, &mut rx, 3 * Sender::<u64>::BIAS_CHECK_EVERY);
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        // Once it claims, it revokes the bias.
        stream(&mut b, &mut rx, 1);
        assert_eq!(mode(&a), Mode::Shared);
        // `a` takes the bias back at the first look that finds no claim of `b`'s since
        // the look before: within two looks.
        stream(&mut a, &mut rx, 2 * Sender::<u64>::BIAS_CHECK_EVERY + 1);
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        let stats = rx.stats();
        assert_eq!((stats.bias_taken, stats.bias_revoked), (2, 1));
        // A sender that could not revoke (its heavy barrier failed) asks for the bias in
        // its claim word; the holder gives it up at its next look.
        use crate::shm::ring::Region;
        let claims = &a.chan.ring.region().control().claims;
        claims[b.chan.me].store(crate::shm::ring::WANTS, Ordering::SeqCst);
        stream(&mut a, &mut rx, Sender::<u64>::BIAS_CHECK_EVERY);
        assert_eq!(mode(&a), Mode::Shared);
        stream(&mut b, &mut rx, 1);
        // Closing gives the bias back.
        stream(&mut a, &mut rx, 2 * Sender::<u64>::BIAS_CHECK_EVERY + 1);
        assert_eq!(mode(&a), Mode::Biased(a.chan.me));
        let me = a.chan.me;
        drop(a);
        assert_ne!(rx.chan.ring.mode(), Some(Mode::Biased(me)));
    }
}
