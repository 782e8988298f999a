//! [`Payload`]: what one message of a channel or topic is — a fixed-size [`Message`], or a
//! slice `[E]` of messages whose length each send chooses.
//!
//! A slice travels as its length and its elements, back to back; the receiver gets
//! exactly the elements sent, each validated as `E`. Every slice channel has a maximum
//! length: on shared memory fixed when it is created (`Options::max_len`), on a stream
//! (pipe, FIFO, Unix or TCP socket) one for each end (`set_max_len`). A longer slice is
//! refused by the sender, and a length above the maximum read from a peer is an error
//! before anything is allocated or read.
//!
//! ```
//! use ipc::{Message, Payload};
//! assert!(!<u64 as Payload>::IS_SLICE);
//! assert!(<[u8] as Payload>::IS_SLICE);
//! // A slice of `u8` and a `u8` are different payloads: they never meet on one channel.
//! assert_ne!(<[u8] as Payload>::PAYLOAD_FINGERPRINT, <u8 as Message>::FINGERPRINT);
//! assert_eq!(<u8 as Payload>::PAYLOAD_FINGERPRINT, <u8 as Message>::FINGERPRINT);
//! ```

use crate::error::SchemaId;
use crate::message::{self, Message};

mod sealed {
    pub trait Sealed {}
    impl<T: crate::Message> Sealed for T {}
    impl<E: crate::Message> Sealed for [E] {}
}

/// What one message of a channel is: a [`Message`] `T`, or a slice `[E]` of messages.
///
/// Implemented for every `T: Message` and every `[E]` with `E: Message`; nothing else.
/// Ends generic over a payload (`ipc::shm::Publisher<[u8]>`, `ipc::shm::Sender<[Point]>`,
/// `ipc::pipe::Sender<[u8]>`, `ipc::socket::Stream<[u8]>`) offer `send_slice` (and on
/// shared memory `loan_slice`) for slices, and the `send`/`recv` of every other channel
/// for messages.
pub trait Payload: sealed::Sealed + 'static {
    /// The message type: `T` itself, or the element of a slice.
    type Element: Message;
    /// True for slices.
    const IS_SLICE: bool;
    /// The payload's fingerprint: the message's [`Message::FINGERPRINT`], or for a slice
    /// one derived from its element's (so a channel of `[u8]` is never taken for a
    /// channel of `u8`).
    const PAYLOAD_FINGERPRINT: u64 = if Self::IS_SLICE {
        message::slice_fingerprint(<Self::Element as Message>::FINGERPRINT)
    } else {
        <Self::Element as Message>::FINGERPRINT
    };

    /// A pointer to the payload whose bytes start at `start`: `start` itself for a
    /// message (`len` is ignored), the slice of `len` elements from `start` for a slice.
    /// Safe: it only builds the pointer.
    #[doc(hidden)]
    fn raw(start: *const Self::Element, len: usize) -> *const Self;

    /// The identity of the payload's schema, as errors name it (`[Point]` for a slice).
    fn schema_id() -> SchemaId {
        let mut id = SchemaId::of::<Self::Element>();
        if Self::IS_SLICE {
            id.name = format!("[{}]", id.name);
            id.fingerprint = Self::PAYLOAD_FINGERPRINT;
        }
        id
    }
}

impl<T: Message> Payload for T {
    type Element = T;
    const IS_SLICE: bool = false;
    #[inline(always)]
    fn raw(start: *const T, _len: usize) -> *const T {
        start
    }
}

impl<E: Message> Payload for [E] {
    type Element = E;
    const IS_SLICE: bool = true;
    #[inline(always)]
    fn raw(start: *const E, len: usize) -> *const [E] {
        core::ptr::slice_from_raw_parts(start, len)
    }
}
