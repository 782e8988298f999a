//! What a loan offers for writing a message in place, the same for a channel's slot
//! ([`Loan`](super::Loan)) and a topic's chunk ([`TopicLoan`](super::TopicLoan)).

/// The in-place writing methods of a loan type that has `fn ptr(&self) -> *mut T`
/// (its slot or chunk: inside the mapping, aligned for `T`, written or read by nobody else
/// until the loan is sent) and a `written: bool` field.
macro_rules! in_place_writes {
    ($what:literal) => {
        #[doc = concat!("Writes the whole message into the ", $what, ".")]
        pub fn write(&mut self, msg: T) {
            // SAFETY: the loan's own memory (see the macro's docs), aligned for `T`.
            unsafe { self.ptr().write(msg) };
            self.written = true;
        }

        #[doc = concat!("The ", $what, " as uninitialised memory, to fill field by field")]
        /// without building the message on the stack first; call
        /// [`assume_init`](Self::assume_init) when done.
        pub fn as_uninit_mut(&mut self) -> &mut core::mem::MaybeUninit<T> {
            // SAFETY: the loan's own memory; `MaybeUninit<T>` has the layout of `T` and no
            // validity requirement, so any bytes already there are fine.
            unsafe { &mut *self.ptr().cast::<core::mem::MaybeUninit<T>>() }
        }

        #[doc = concat!("The ", $what, " as a `&mut T` to fill in place, for types whose")]
        /// every bit pattern is valid (`T::SCHEMA.accepts_any_bits()`); `None` for other
        /// types (use [`write`](Self::write) or [`as_uninit_mut`](Self::as_uninit_mut)).
        /// It starts with the bytes of an earlier message, or zeros; whatever you leave
        /// there is sent.
        pub fn as_mut(&mut self) -> Option<&mut T> {
            if !const { T::SCHEMA.accepts_any_bits() } {
                return None;
            }
            self.written = true;
            // SAFETY: the loan's own memory; the mapping's bytes are always initialised
            // (zero-filled at creation, then whole messages), and every bit pattern is a
            // `T`.
            Some(unsafe { &mut *self.ptr() })
        }

        /// Declares the message fully written through
        /// [`as_uninit_mut`](Self::as_uninit_mut).
        ///
        /// # Safety
        ///
        /// Every byte of the `T` must have been written with a valid value. (Receivers
        /// validate types with invalid bit patterns anyway, so a mistake here surfaces as
        /// [`Error::InvalidMessage`](crate::Error::InvalidMessage) there, but a message of
        /// garbage is still a bug.)
        pub unsafe fn assume_init(&mut self) {
            self.written = true;
        }
    };
}

pub(crate) use in_place_writes;
