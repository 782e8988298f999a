//! [`Loan`]: a slot that [`Sender::loan`] has claimed, for the caller to write the
//! message in place; sending it publishes the slot through the sender, dropping it
//! gives the slot back. The receiving end's counterpart is `sample.rs`.

use core::mem::MaybeUninit;

use super::sender::Sender;
#[cfg(doc)] // for the links in the docs
use crate::error::Error;
use crate::message::Message;

/// A slot claimed by [`Sender::loan`]: write the message in place, then [`Loan::send`].
///
/// Dropping a loan without sending gives the slot back (the receiver skips it).
pub struct Loan<'a, T: Message> {
    pub(super) tx: &'a mut Sender<T>,
    pub(super) pos: u64,
    pub(super) written: bool,
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
