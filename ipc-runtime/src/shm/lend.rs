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

/// The in-place writing methods of a slice loan type that has `fn ptr(&self) -> *mut E`
/// (the first of at least `len` elements of its own memory, as for [`in_place_writes`]),
/// a `written: bool` and a `len: usize` field.
macro_rules! in_place_slice_writes {
    ($what:literal) => {
        /// The elements lent: what [`send`](Self::send) publishes.
        pub fn len(&self) -> usize {
            self.len
        }

        /// True if the loan holds no element (an empty sample is still a sample).
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// Shortens the sample to its first `len` elements (for a length known only once
        /// it is written); a larger `len` does nothing.
        pub fn truncate(&mut self, len: usize) {
            self.len = self.len.min(len);
        }

        #[doc = concat!("Copies `src` into the ", $what, ".")]
        ///
        /// # Panics
        ///
        /// If `src.len()` is not [`len`](Self::len), as `<[E]>::copy_from_slice`.
        pub fn copy_from_slice(&mut self, src: &[E]) {
            assert_eq!(src.len(), self.len, "copy_from_slice: lengths differ");
            // SAFETY: the loan's own memory holds `len` elements from `ptr()`, aligned for
            // `E`, and `src` (the caller's memory) does not overlap it.
            unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr(), src.len()) };
            self.written = true;
        }

        #[doc = concat!("The ", $what, "'s elements as uninitialised memory, to fill in place;")]
        /// call [`assume_init`](Self::assume_init) when done.
        pub fn as_uninit_mut(&mut self) -> &mut [core::mem::MaybeUninit<E>] {
            // SAFETY: the loan's own memory, `len` elements; `MaybeUninit<E>` has the
            // layout of `E` and no validity requirement.
            unsafe { core::slice::from_raw_parts_mut(self.ptr().cast(), self.len) }
        }

        #[doc = concat!("The ", $what, "'s elements as `&mut [E]`, for element types whose every")]
        /// bit pattern is valid (`E::SCHEMA.accepts_any_bits()`: bytes, numbers, structs
        /// of them); `None` for other types (use
        /// [`copy_from_slice`](Self::copy_from_slice) or
        /// [`as_uninit_mut`](Self::as_uninit_mut)). They start with the bytes of an
        /// earlier sample, or zeros; whatever you leave there is sent.
        pub fn as_mut(&mut self) -> Option<&mut [E]> {
            if !const { E::SCHEMA.accepts_any_bits() } {
                return None;
            }
            self.written = true;
            // SAFETY: the loan's own memory, `len` elements, always initialised bytes
            // (zero-filled at creation, then earlier samples), and every bit pattern is
            // an `E`.
            Some(unsafe { core::slice::from_raw_parts_mut(self.ptr(), self.len) })
        }

        /// Declares the elements fully written through
        /// [`as_uninit_mut`](Self::as_uninit_mut).
        ///
        /// # Safety
        ///
        /// Every byte of the first [`len`](Self::len) elements must have been written
        /// with a valid value (receivers validate element types with invalid bit
        /// patterns anyway).
        pub unsafe fn assume_init(&mut self) {
            self.written = true;
        }
    };
}

pub(crate) use in_place_slice_writes;
