//! The receiving end: [`Receiver`]'s `recv` family, the look at the head on the path
//! that streams (inline), the hand-back of read slots to the senders in batches
//! (`release`, `release_to`), which wakes senders parked for room; and [`Sample`], the
//! message handed out: in place for a type whose every bit pattern is valid, else a copy
//! in the receiver's private `Scratch` buffer, validated there (`Receiver::sample`). (A
//! sample hands its slot back through the receiver's state, so they share this file.)
//!
//! When no message is at the head the receiver goes on in `wait.rs`
//! ([`Receiver::wait_for_message`]). The sending end's counterpart is `sender.rs`.

use std::os::fd::OwnedFd;
use std::time::Duration;

use super::{constructors, Chan, Role, Stats};
use crate::contract::{self, Rx};
use crate::deadline::Wait;
#[cfg(doc)] // for the links in the docs of `recv` and of the constructors
use crate::error::Error;
use crate::error::Result;
use crate::message::Message;
use crate::payload::Payload;
use crate::shm::options::Options;
use crate::shm::ring::{PackedRun, Peek, RingError, RunEnd};
use crate::shm::scratch::Scratch;
use crate::shm::segment::Segment;
use crate::sync::atomic::Ordering;
use crate::sync::futex;

/// The receiving end of a shared-memory channel.
///
/// [`Receiver::recv`] returns a [`Sample`], a guard that derefs to the message. For types
/// whose every bit pattern is valid (`T::SCHEMA.accepts_any_bits()`), the guard points
/// into shared memory (zero copy) and frees the slot on drop; other types are copied into
/// a private buffer, validated there and the slot freed at once: this copy-then-validate
/// is what guarantees that a sender cannot change a validated `&T` into an invalid one
/// under you. (A read-only mapping would not help: the peer that could change the bytes
/// is the sender, who must be able to write them.)
///
/// A receiver of slices (`Receiver<[E]>`) gets samples that deref to `&[E]`, each exactly
/// as long as it was sent.
pub struct Receiver<T: ?Sized + Payload> {
    pub(super) chan: Chan,
    /// The next position to read.
    pub(super) head: u64,
    /// The packed batch this receiver is in, or last was (see `ring.rs`): its positions
    /// are messages in the packed array, their `seq`s not looked at.
    pub(super) packed: PackedRun,
    pub(super) read: Read,
    scratch: Scratch<T::Element>,
}

/// What the receiver has read and not yet handed back to the senders.
#[derive(Debug)]
pub(super) struct Read {
    /// A slot a `Sample` still refers to (freed when the sample drops, or at the next
    /// receive if the sample was leaked).
    pub(super) pending: Option<u64>,
    /// The value this receiver last stored in the ring's `released` word: slots between it
    /// and `head` are read but wait for the next batch (see `ring.rs`).
    pub(super) released: u64,
}

// SAFETY: the handle owns its mapping and descriptor; nothing in it is tied to the
// thread that created it.
unsafe impl<T: ?Sized + Payload> Send for Receiver<T> {}

impl<T: ?Sized + Payload> core::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("schema", &T::schema_id().name)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// Marks position `pos` read; every `batch` positions, hands the slots back to the senders.
#[inline]
pub(super) fn release(chan: &Chan, read: &mut Read, pos: u64) {
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
    // `released`, then the waiters count, with the release's full barrier between:
    // pairs with `Sender::park_for_room` (count up, then re-check of `released`).
    chan.ring.release(next);
    read.released = next;
    let h = chan.header();
    if h.space.waiters.load(Ordering::SeqCst) != 0 {
        h.space.epoch.fetch_add(1, Ordering::SeqCst);
        h.counters.tx_wakes.fetch_add(1, Ordering::Relaxed);
        futex::wake(&h.space.epoch, u32::MAX);
    }
}

impl<T: ?Sized + Payload> Receiver<T> {
    constructors!(Role::Receiver, Self::from_chan);

    /// The receiving end over `chan`, joined as its receiver.
    pub(super) fn from_chan(chan: Chan) -> Result<Self> {
        // Resume where a former receiver stopped, and hand back what it read but had not
        // released yet (if it died between two batches).
        let head = chan.ring.head();
        let packed = chan.ring.packed_run_of(head);
        chan.ring.release(head);
        // Room to copy and validate a message whose element type has invalid bit
        // patterns: one message, or a slice of the maximum length; none for the others,
        // read in place.
        let scratch = match () {
            () if T::Element::SCHEMA.accepts_any_bits() => 0,
            () if T::IS_SLICE => chan.ring.region().max_len,
            () => 1,
        };
        let scratch = Scratch::new(scratch)?;
        Ok(Receiver {
            chan,
            head,
            packed,
            read: Read {
                pending: None,
                released: head,
            },
            scratch,
        })
    }

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
    /// Made to be polled: finding nothing costs a few loads and no system call while
    /// the senders are the ones this end last looked at (their deaths are watched, as a
    /// parked receiver's are), and `Disconnected` comes at the first look after the last
    /// one leaves or dies.
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

    /// Hands back every slot read so far (none may be held by a `Sample`).
    pub(super) fn release_all(&mut self) {
        if self.read.released != self.head {
            release_to(&self.chan, &mut self.read, self.head);
        }
    }

    #[inline]
    pub(super) fn recv_until(&mut self, until: &Wait) -> Result<Sample<'_, T>> {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        // The streaming case, inline: a message is waiting at the head.
        let pos = match self.peek_head() {
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

    /// Looks at the head: inside the packed batch this receiver is in, a message without
    /// asking the ring; else
    /// [`Ring::peek_knowing`](crate::shm::ring::Ring::peek_knowing), and a packed head it
    /// meets starts a batch here (reported as the message at its first position).
    #[inline(always)]
    pub(super) fn peek_head(&mut self) -> core::result::Result<Peek, RingError> {
        if self.packed.contains(self.head) {
            return Ok(Peek::Ready {
                pos: self.head,
                cancelled: false,
            });
        }
        match self.chan.ring.peek_knowing(self.head, self.packed.tail) {
            Ok(Peek::Packed(run)) => {
                self.packed = run;
                Ok(Peek::Ready {
                    pos: run.start,
                    cancelled: false,
                })
            }
            other => other,
        }
    }

    #[inline]
    pub(super) fn sample(&mut self, pos: u64) -> Result<Sample<'_, T>> {
        let region = self.chan.ring.region();
        let index = self.chan.ring.index(pos);
        let src = if self.packed.contains(pos) {
            // Never a slice: slices have no packed array.
            region.packed().at(pos).cast()
        } else {
            region.elements::<T>(index)
        };
        let len = if T::IS_SLICE {
            // One read: a sender that writes the word again cannot change what is checked
            // after the check.
            let len = region.slice_len(index).load(Ordering::Relaxed);
            if len > region.max_len {
                let max = region.max_len;
                release(&self.chan, &mut self.read, pos);
                return Err(crate::error::Error::Corrupt(format!(
                    "a message claims {len} elements, above the channel's maximum of {max}: \
                     its sender does not follow the protocol, or another process wrote over \
                     the channel; the message is skipped"
                )));
            }
            len as usize
        } else {
            1
        };
        if const { T::Element::SCHEMA.accepts_any_bits() } {
            self.read.pending = Some(pos);
            // SAFETY: the slot is published and ours until we release it (on the sample's
            // drop, or at the next receive); its `len` elements (at most the maximum,
            // checked above, or the one message) are inside the mapping and aligned for
            // the element; every bit pattern is a valid element, so even a peer that
            // (against the protocol) rewrites the bytes cannot make the reference point at
            // an invalid value.
            let value = unsafe { &*T::raw(src, len) };
            return Ok(Sample {
                value,
                release: Some((&self.chan, &mut self.read)),
            });
        }
        // Copy, free the slot, then validate the private copy: the sender can no longer
        // change what we validated.
        let size = size_of::<T::Element>();
        let dst = self.scratch.as_ptr().cast::<u8>();
        // SAFETY: `src` is `len * size` readable bytes of the published slot, `dst` a
        // private allocation of at least as many (`len` is at most the maximum, or 1);
        // they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.cast::<u8>(), dst, len * size) };
        release(&self.chan, &mut self.read, pos);
        // SAFETY: `dst` holds `len * size` initialised bytes (copied just above).
        let bytes = unsafe { core::slice::from_raw_parts(dst, len * size) };
        crate::message::check_elements::<T::Element>(bytes)?;
        // SAFETY: `validate` accepted every element, so by the `Message` contract they
        // are valid; the buffer is aligned for the element and borrowed for as long as
        // `self` is.
        let value = unsafe { &*T::raw(self.scratch.as_ptr(), len) };
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

impl<T: Message> Receiver<T> {
    /// Waits for a message, then copies into `out` every message already there, up to
    /// `out.len()`, and returns how many ([`Rx::recv_many`]): one scan and one release
    /// for the whole batch (see [`Rx::recv_many_wait`] on this type).
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv). An invalid message met after the first ends the batch
    /// before it; the next receive reports it.
    pub fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        Rx::recv_many(self, out)
    }

    /// Copies into `out` the messages there now, up to `out.len()`, without waiting
    /// ([`Rx::try_recv_many`]).
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if there is none; otherwise as [`recv_many`](Self::recv_many).
    pub fn try_recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        Rx::try_recv_many(self, out)
    }

    /// As [`recv_many`](Self::recv_many), waiting at most `timeout` for the first message
    /// ([`Rx::recv_many_timeout`]).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; otherwise as [`recv_many`](Self::recv_many).
    pub fn recv_many_timeout(&mut self, out: &mut [T], timeout: Duration) -> Result<usize> {
        Rx::recv_many_timeout(self, out, timeout)
    }

    /// The messages as they arrive, each copied out of its slot, until every sender is
    /// gone ([`Rx::iter`]; [`recv`](Self::recv) lends them in place instead).
    pub fn iter(&mut self) -> crate::Messages<'_, Self, T> {
        Rx::iter(self)
    }

    /// The messages there now, each copied out, without waiting ([`Rx::try_iter`]).
    pub fn try_iter(&mut self) -> crate::Messages<'_, Self, T> {
        Rx::try_iter(self)
    }

    /// Receives into `out` (not empty) the message at the head, waiting as `until` says,
    /// then every message already published behind it, up to `out.len()`: one scan, one
    /// record of progress, at most one release (see [`Rx::recv_many_wait`] on this type).
    fn recv_many_until(&mut self, out: &mut [T], until: &Wait) -> Result<usize> {
        let Some((first, rest)) = out.split_first_mut() else {
            return Ok(0);
        };
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        let pos = match self.peek_head() {
            Ok(Peek::Ready {
                pos,
                cancelled: false,
            }) => {
                self.head = pos.wrapping_add(1);
                pos
            }
            _ => self.wait_for_message(until)?,
        };
        let src = self
            .chan
            .ring
            .region()
            .message_at(pos, self.packed.contains(pos));
        if let Err(e) = take(src, &mut self.scratch, first) {
            // Consumed, as `recv` consumes a message it refuses.
            release(&self.chan, &mut self.read, pos);
            return Err(e);
        }
        let mut got = 0;
        let mut ran_out = false;
        while got < rest.len() {
            let out = &mut rest[got..];
            let Receiver {
                chan,
                scratch,
                packed,
                ..
            } = self;
            let region = chan.ring.region();
            let (payloads, packed_array) = (region.payloads(), region.packed());
            let run = chan.ring.receive_run(
                self.head,
                out.len() as u64,
                packed,
                // `k + n <= out.len()`: a run takes at most as many as asked for.
                |k, at, n, in_packed| {
                    let out = &mut out[k as usize..(k + n) as usize];
                    if !in_packed {
                        return u64::from(take(payloads.at(at), scratch, &mut out[0]).is_ok());
                    }
                    if const { T::SCHEMA.accepts_any_bits() } {
                        // SAFETY: the channel's messages are `T`s, any bits of which are
                        // a `T`, in its packed array; the `n` positions from `at` are a
                        // published batch's, not yet released; `out` is the caller's.
                        unsafe { region.read_packed(at, out.as_mut_ptr(), out.len()) };
                        return n;
                    }
                    let mut took = 0;
                    for slot in out {
                        let src = packed_array.at(at.wrapping_add(took));
                        if take(src, scratch, slot).is_err() {
                            break;
                        }
                        took += 1;
                    }
                    took
                },
            );
            self.head = self.head.wrapping_add(run.len);
            got += run.len as usize;
            match run.end {
                // Given back by its sender: it carries nothing, skip it.
                RunEnd::Cancelled => self.head = self.head.wrapping_add(1),
                // The next run starts there, and enters it.
                RunEnd::Packed => {}
                RunEnd::Empty => {
                    ran_out = true;
                    break;
                }
                // Full; or a message refused or a `seq` found corrupt, not consumed: the
                // next receive meets it first and reports it, as it reports any.
                RunEnd::Limit | RunEnd::Refused | RunEnd::Corrupt => break,
            }
        }
        Ok(self.finish_batch(1 + got, ran_out))
    }

    /// How many messages are published from the head on, up to `max` and to a release
    /// batch of the ring (`capacity / 8`): one scan of their `seq` words (an acquire load
    /// each, whose misses overlap), nothing read, consumed or released. They stay in
    /// their slots, which no sender may reuse before [`take_counted`](Self::take_counted)
    /// moves the head past them, so a count dropped unused (the async end dropped, or
    /// turned back into this one) loses nothing. Stops before a slot given back empty or
    /// a corrupt `seq` (the full receive skips or reports those).
    ///
    /// Why a batch at most: past one, in a full ring, the scan reaches the slot a sender
    /// is about to write and takes its line from it (at the default 64 slots, counting
    /// the whole ring ran at 0.64–1.06× the sync receiver, counting a batch at
    /// 0.79–1.02×).
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn count_ready(&mut self, max: usize) -> usize {
        if let Some(pos) = self.read.pending.take() {
            release(&self.chan, &mut self.read, pos);
        }
        let max = (max as u64).min(self.chan.ring.batch());
        self.chan
            .ring
            .receive_run(self.head, max, &mut self.packed, |_, _, n, _| n)
            .len as usize
    }

    /// Receives the message at the head, which [`count_ready`](Self::count_ready)
    /// counted as published (its `seq` is not looked at again: no sender may touch the
    /// slot before the head moves past it), copied out and validated, and hands its slot
    /// back as a receive does. `None` if its bytes are not a `T`: nothing is consumed,
    /// and the full receive reports it.
    #[cfg(feature = "tokio")]
    #[inline(always)]
    pub(crate) fn take_counted(&mut self) -> Option<T> {
        // `count_ready` released the slot a sample held; nothing lends one since.
        debug_assert!(self.read.pending.is_none());
        let pos = self.head;
        let mut out = core::mem::MaybeUninit::<T>::uninit();
        let src = self
            .chan
            .ring
            .region()
            .message_at(pos, self.packed.contains(pos));
        take(src, &mut self.scratch, out.as_mut_ptr()).ok()?;
        self.head = pos.wrapping_add(1);
        release(&self.chan, &mut self.read, pos);
        // SAFETY: `take` succeeded, so it wrote a valid `T` into `out`.
        Some(unsafe { out.assume_init() })
    }

    /// Ends a batch of `got` messages: records the receiver's progress once, and releases
    /// the slots read to the senders (waking those parked for room) if a ring batch of
    /// them is due or the receiver ran out of messages, as one receive at a time does.
    #[inline]
    fn finish_batch(&mut self, got: usize, ran_out: bool) -> usize {
        let next = self.head;
        self.chan.ring.set_head(next);
        let unreleased = next.wrapping_sub(self.read.released);
        if unreleased != 0 && (ran_out || unreleased >= self.chan.ring.batch()) {
            release_to(&self.chan, &mut self.read, next);
        }
        got
    }
}

impl<E: Message> Receiver<[E]> {
    /// The most elements a message of this channel holds (its creator's
    /// [`Options::max_len`]).
    pub fn max_len(&self) -> usize {
        self.chan.ring.region().max_len as usize
    }
}

/// Copies the published message whose payload is at `src` (a slot this receiver holds:
/// published, not yet released) into `*out`: straight from the slot for a type whose
/// every bit pattern is valid, else through the private `scratch` buffer, validated
/// there first (a sender cannot change what was validated), so that `*out` never holds
/// bytes that are not a `T`. `out` is valid for the write of a `T` (it may hold none yet:
/// a `&mut T`, or a slot of an uninitialised buffer).
///
/// # Errors
///
/// [`Error::InvalidMessage`] if the bytes are not a `T` (`*out` is unchanged).
#[inline(always)]
fn take<T: Message>(src: *mut u8, scratch: &mut Scratch<T>, out: *mut T) -> Result<()> {
    if const { T::SCHEMA.accepts_any_bits() } {
        // SAFETY: `src` is the payload of a slot the receiver holds, `size_of::<T>()`
        // bytes inside the mapping, aligned for `T`, and every bit pattern is a valid
        // `T`; `out` is the caller's, valid for the write, so they cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(src.cast::<T>(), out, 1) };
        return Ok(());
    }
    let dst = scratch.as_ptr().cast::<u8>();
    // SAFETY: `src` is `size_of::<T>()` readable bytes of the held slot, `dst` a private
    // allocation of the same size; they do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, size_of::<T>()) };
    // SAFETY: `dst` holds `size_of::<T>()` initialised bytes (copied just above).
    let bytes = unsafe { core::slice::from_raw_parts(dst, size_of::<T>()) };
    T::validate(bytes)?;
    // SAFETY: `T::validate` accepted the bytes, so by the `Message` contract they are a
    // valid `T`; the scratch buffer is aligned for `T`, private, and not `*out`, which
    // is valid for the write.
    unsafe { core::ptr::copy_nonoverlapping(scratch.as_ptr(), out, 1) };
    Ok(())
}

/// Shared memory lends each message in place ([`Receiver::recv`] returns a [`Sample`]);
/// through the contract it is copied out.
impl<T: Message> Rx<T> for Receiver<T> {
    /// Copies the next message out of its slot (the inherent [`Receiver::recv`] lends it
    /// in place instead).
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once every sender that joined has closed or died and no
    /// message is left; [`Error::Empty`] or [`Error::Timeout`] if none came in time;
    /// [`Error::InvalidMessage`] if a sender wrote bytes that are not a `T` (the message
    /// is consumed, the next receive goes on); [`Error::Shutdown`]; [`Error::Corrupt`] if
    /// the ring's memory was overwritten.
    #[inline]
    fn recv_wait(&mut self, wait: contract::Wait) -> Result<T> {
        let sample = match wait {
            contract::Wait::Forever => self.recv_until(&Wait::Forever),
            bounded => self.recv_until(&bounded.into()),
        };
        Ok(*sample?)
    }

    /// Copies the message straight from its slot into `*out` (no `T` on the stack).
    #[inline]
    fn recv_into_wait(&mut self, out: &mut T, wait: contract::Wait) -> Result<()> {
        let sample = match wait {
            contract::Wait::Forever => self.recv_until(&Wait::Forever),
            bounded => self.recv_until(&bounded.into()),
        }?;
        // SAFETY: `sample` derefs to a valid `T` (in its slot, or in the receiver's
        // validated copy), borrowed from `self`; `out` is the caller's, so the two cannot
        // overlap.
        unsafe { core::ptr::copy_nonoverlapping(&*sample, out, 1) };
        Ok(())
    }

    /// Waits as `wait` says for a message, then copies into `out` every message already
    /// published behind it, up to `out.len()`, and returns how many.
    ///
    /// A batch costs what one message does, plus a load of a `seq` and a copy per message:
    /// **one scan** of the slots' `seq` words (an acquire load each, a plain load on x86),
    /// copying each message as it goes, then **one release**: one store of the receiver's
    /// progress, and, when a ring batch of slots is due or the ring ran dry, one store of
    /// `released` and one look at (and at most one wake of) the senders parked for room.
    /// A batch a sender packed (see [`Sender`](super::Sender)'s `send_many_wait`)
    /// costs no `seq` per message: its first position says how many follow, and they are
    /// copied out together, one copy (two where the packed array wraps) for a type whose
    /// every bit pattern is valid. Each message is validated ([`Message::validate`], in a
    /// private copy) unless every bit pattern is a `T`.
    /// [`recv_many`](Rx::recv_many) and [`try_recv_many`](Rx::try_recv_many) are built
    /// on it.
    ///
    /// An invalid message or a corrupt slot met after the first message ends the batch
    /// before it, unconsumed: the next receive reports it, exactly as it would have
    /// without the batch. A slot given back without a message is skipped.
    ///
    /// # Errors
    ///
    /// As [`Rx::recv_wait`], for the first message.
    fn recv_many_wait(&mut self, out: &mut [T], wait: contract::Wait) -> Result<usize> {
        match wait {
            contract::Wait::Forever => self.recv_many_until(out, &Wait::Forever),
            bounded => self.recv_many_until(out, &bounded.into()),
        }
    }
}

impl<T: ?Sized + Payload> Drop for Receiver<T> {
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

/// A received message: derefs to `&T`; frees its slot when dropped.
///
/// See [`Receiver`] for where the `T` lives and why it cannot change under you.
pub struct Sample<'a, T: ?Sized + Payload> {
    value: &'a T,
    /// Where to free the slot on drop (zero-copy samples only).
    release: Option<(&'a Chan, &'a mut Read)>,
}

impl<T: ?Sized + Payload> core::ops::Deref for Sample<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T: ?Sized + Payload + core::fmt::Debug> core::fmt::Debug for Sample<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Sample").field(&self.value).finish()
    }
}

impl<T: Message> Sample<'_, T> {
    /// A copy of the message.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<T: ?Sized + Payload> Drop for Sample<'_, T> {
    fn drop(&mut self) {
        if let Some((chan, read)) = self.release.take() {
            if let Some(pos) = read.pending.take() {
                release(chan, read, pos);
            }
        }
    }
}
