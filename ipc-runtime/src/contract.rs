//! The contract every transport keeps, as two traits: [`Tx`] for a sending end and [`Rx`]
//! for a receiving end.
//!
//! Each trait has one required method, which takes how long to wait ([`Wait`]), and the
//! whole family — `send` / `try_send` / `send_timeout` / `send_ref`, `recv` / `try_recv` /
//! `recv_timeout` / `recv_into` / `iter` — as provided methods with the meaning the
//! transports' own methods have (see the crate docs): a failed send hands the message
//! back, `try_*` never waits and says [`Error::Full`] or [`Error::Empty`], `*_timeout`
//! says [`Error::Timeout`], and a gone peer is [`Error::Disconnected`].
//!
//! Code written against the traits runs over any transport, chosen at compile time
//! (`impl Rx<Order>`) or at run time (`Box<dyn Rx<Order>>`; both traits are object safe).
//! Each end also has the family as inherent methods, which forward to the trait's one
//! implementation, so `tx.send(msg)` works without importing anything. What only one
//! transport has stays on its own types: shared memory's zero-copy
//! [`Loan`](crate::shm::Loan) and [`Sample`](crate::shm::Sample) (its inherent `recv`
//! lends a `Sample`; through [`Rx`] the message is copied out), queue priorities and
//! message types, peer credentials and descriptor passing. Every transport's ends
//! implement the traits:
//!
//! | transport | [`Tx`] | [`Rx`] |
//! |---|---|---|
//! | [`pipe`](crate::pipe), [`fifo`](crate::fifo) | `Sender`, `Duplex` | `Receiver`, `Duplex` |
//! | [`shm`](crate::shm) | `Sender` (copies in) | `Receiver` (copies out) |
//! | [`mq`](crate::mq), [`sysv`](crate::sysv) | `Sender` (priority 0, or the sender's type) | `Receiver` |
//! | [`socket`](crate::socket) | `Stream`, `Sender`, `SeqPacket` | `Stream`, `Receiver`, `SeqPacket` |
//! | [`tcp`](crate::tcp) | `Stream` | `Stream` |
//!
//! A new transport implements [`Tx::send_wait`] and [`Rx::recv_wait`] (and
//! [`Rx::recv_into_wait`] if it can receive in place) next to its ends, and gives the ends
//! the inherent family with the crate's `sending_end!` / `receiving_end!` macros.
//!
//! ```
//! use ipc::{pipe, Rx, Tx};
//!
//! /// Sums what arrives until the senders are gone: over any transport.
//! fn total(rx: &mut impl Rx<u64>) -> ipc::Result<u64> {
//!     let mut sum = 0;
//!     for n in rx.iter() {
//!         sum += n?;
//!     }
//!     Ok(sum)
//! }
//!
//! let (mut tx, mut rx) = pipe::channel::<u64>()?;
//! for n in 1..=4 {
//!     Tx::send(&mut tx, n)?;
//! }
//! drop(tx);
//! assert_eq!(total(&mut rx)?, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::time::Duration;

use crate::deadline;
use crate::error::{Error, Result, SendError};
use crate::message::Message;

/// How long a call of the contract may wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Not at all: the `try_*` calls ([`Error::Full`], [`Error::Empty`] if they would
    /// have to wait).
    Now,
    /// At most this long: the `*_timeout` calls ([`Error::Timeout`] when it runs out).
    For(Duration),
    /// As long as it takes: `send`, `recv`.
    Forever,
}

impl From<Wait> for deadline::Wait {
    /// The deadline of a call of the contract, fixed when the call starts.
    #[inline]
    fn from(wait: Wait) -> deadline::Wait {
        match wait {
            Wait::Now => deadline::Wait::Now,
            Wait::For(d) => deadline::Wait::timeout(d),
            Wait::Forever => deadline::Wait::Forever,
        }
    }
}

/// A sending end of any transport.
pub trait Tx<T: Message> {
    /// Sends `*msg`, waiting for room as `wait` says. The one method an end provides.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] for [`Wait::Now`] and [`Error::Timeout`] for [`Wait::For`] if
    /// there was no room in time, [`Error::Disconnected`] if the receiver is gone, and the
    /// transport's own errors.
    fn send_wait(&mut self, msg: &T, wait: Wait) -> Result<()>;

    /// Sends `msg`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`]; the message is handed back.
    fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_wait(&msg, Wait::Forever)
            .map_err(|e| SendError::new(e, msg))
    }

    /// Sends `msg` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is not, as [`Tx::send`] otherwise.
    fn try_send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_wait(&msg, Wait::Now)
            .map_err(|e| SendError::new(e, msg))
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was none in time, as [`Tx::send`] otherwise.
    fn send_timeout(&mut self, msg: T, timeout: Duration) -> Result<(), SendError<T>> {
        self.send_wait(&msg, Wait::For(timeout))
            .map_err(|e| SendError::new(e, msg))
    }

    /// Sends `*msg`, waiting while the channel is full, without moving a copy of a large
    /// message into the call.
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`].
    fn send_ref(&mut self, msg: &T) -> Result<()> {
        self.send_wait(msg, Wait::Forever)
    }
}

/// A receiving end of any transport.
pub trait Rx<T: Message> {
    /// Receives the next message, waiting for one as `wait` says. The one method an end
    /// provides.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] for [`Wait::Now`] and [`Error::Timeout`] for [`Wait::For`] if no
    /// message came in time, [`Error::Disconnected`] once every sender is gone and
    /// everything sent has been received, [`Error::SchemaMismatch`],
    /// [`Error::InvalidMessage`] and [`Error::Corrupt`] for a peer that is not a good
    /// sender of `T`, and the transport's own errors.
    fn recv_wait(&mut self, wait: Wait) -> Result<T>;

    /// Receives the next message into `*out`, waiting as `wait` says. Ends that can
    /// receive without a `T` on the stack (the byte streams, the queues) do so; the
    /// default copies what [`Rx::recv_wait`] returns.
    ///
    /// # Errors
    ///
    /// As [`Rx::recv_wait`]; after an error `*out` is unchanged.
    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        *out = self.recv_wait(wait)?;
        Ok(())
    }

    /// Receives the next message, waiting for it.
    ///
    /// # Errors
    ///
    /// As [`Rx::recv_wait`].
    fn recv(&mut self) -> Result<T> {
        self.recv_wait(Wait::Forever)
    }

    /// Receives a message if one is there now.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is, as [`Rx::recv`] otherwise.
    fn try_recv(&mut self) -> Result<T> {
        self.recv_wait(Wait::Now)
    }

    /// Receives a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came in time, as [`Rx::recv`] otherwise.
    fn recv_timeout(&mut self, timeout: Duration) -> Result<T> {
        self.recv_wait(Wait::For(timeout))
    }

    /// Receives the next message into `*out`, waiting for it.
    ///
    /// # Errors
    ///
    /// As [`Rx::recv`]; after an error `*out` is unchanged.
    fn recv_into(&mut self, out: &mut T) -> Result<()> {
        self.recv_into_wait(out, Wait::Forever)
    }

    /// The messages as they arrive, waiting for each: the iteration ends at
    /// [`Error::Disconnected`] (every sender gone, everything received). Any other error
    /// is yielded once and ends the iteration; calling `iter` again goes on past it (after
    /// a refused message, say).
    fn iter(&mut self) -> Messages<'_, Self, T>
    where
        Self: Sized,
    {
        Messages::new(self, Wait::Forever)
    }

    /// The messages there now, without waiting: the iteration ends at [`Error::Empty`] or
    /// [`Error::Disconnected`]; any other error is yielded once and ends it.
    fn try_iter(&mut self) -> Messages<'_, Self, T>
    where
        Self: Sized,
    {
        Messages::new(self, Wait::Now)
    }
}

/// The messages of a receiving end: [`Rx::iter`] and [`Rx::try_iter`].
pub struct Messages<'a, R, T> {
    rx: Option<&'a mut R>,
    wait: Wait,
    _t: PhantomData<fn() -> T>,
}

impl<'a, R: Rx<T>, T: Message> Messages<'a, R, T> {
    fn new(rx: &'a mut R, wait: Wait) -> Self {
        Messages {
            rx: Some(rx),
            wait,
            _t: PhantomData,
        }
    }
}

impl<R: Rx<T>, T: Message> Iterator for Messages<'_, R, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        let next = self.rx.as_mut()?.recv_wait(self.wait);
        match next {
            Ok(msg) => Some(Ok(msg)),
            Err(Error::Disconnected | Error::Empty) => {
                self.rx = None;
                None
            }
            Err(e) => {
                self.rx = None;
                Some(Err(e))
            }
        }
    }
}

impl<R: Rx<T>, T: Message> std::iter::FusedIterator for Messages<'_, R, T> {}

impl<T: Message, E: Tx<T> + ?Sized> Tx<T> for Box<E> {
    #[inline]
    fn send_wait(&mut self, msg: &T, wait: Wait) -> Result<()> {
        (**self).send_wait(msg, wait)
    }
}

impl<T: Message, E: Rx<T> + ?Sized> Rx<T> for Box<E> {
    #[inline]
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        (**self).recv_wait(wait)
    }

    #[inline]
    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        (**self).recv_into_wait(out, wait)
    }
}

/// The send family as inherent methods of a sending end, so it is there without importing
/// [`Tx`]: each forwards to the trait's one implementation. `$t` is the message type
/// parameter of `$end`.
macro_rules! sending_end {
    (impl<$($p:ident),+> $end:ty, $t:ident) => {
        impl<$($p: $crate::Message),+> $end {
            /// Sends `msg`, waiting while the channel is full ([`Tx::send`]; this end's
            /// errors are listed on its [`Tx::send_wait`]).
            ///
            /// [`Tx::send`]: $crate::Tx::send
            /// [`Tx::send_wait`]: $crate::Tx::send_wait
            ///
            /// # Errors
            ///
            /// As [`Tx::send_wait`]; the message is handed back in the
            /// [`SendError`]($crate::SendError).
            #[inline]
            pub fn send(&mut self, msg: $t) -> $crate::Result<(), $crate::SendError<$t>> {
                $crate::Tx::send(self, msg)
            }

            /// Sends `msg` if there is room now ([`Tx::try_send`]).
            ///
            /// [`Tx::try_send`]: $crate::Tx::try_send
            ///
            /// # Errors
            ///
            /// [`Error::Full`]($crate::Error::Full) if there is not; otherwise as `send`.
            #[inline]
            pub fn try_send(&mut self, msg: $t) -> $crate::Result<(), $crate::SendError<$t>> {
                $crate::Tx::try_send(self, msg)
            }

            /// Sends `msg`, waiting at most `timeout` for room ([`Tx::send_timeout`]).
            ///
            /// [`Tx::send_timeout`]: $crate::Tx::send_timeout
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`]($crate::Error::Timeout) if there was none in time;
            /// otherwise as `send`.
            #[inline]
            pub fn send_timeout(
                &mut self,
                msg: $t,
                timeout: ::std::time::Duration,
            ) -> $crate::Result<(), $crate::SendError<$t>> {
                $crate::Tx::send_timeout(self, msg, timeout)
            }

            /// Sends `*msg` in place, waiting while the channel is full: `send` without
            /// moving a copy of a large message into the call ([`Tx::send_ref`]).
            ///
            /// [`Tx::send_ref`]: $crate::Tx::send_ref
            ///
            /// # Errors
            ///
            /// As `send`; `*msg` stays the caller's either way.
            #[inline]
            pub fn send_ref(&mut self, msg: &$t) -> $crate::Result<()> {
                $crate::Tx::send_ref(self, msg)
            }
        }
    };
}
pub(crate) use sending_end;

/// The receive family as inherent methods of a receiving end, so it is there without
/// importing [`Rx`]: each forwards to the trait's one implementation. `$t` is the message
/// type parameter of `$end`.
macro_rules! receiving_end {
    (impl<$($p:ident),+> $end:ty, $t:ident) => {
        impl<$($p: $crate::Message),+> $end {
            /// Receives the next message, waiting for it ([`Rx::recv`]; this end's errors
            /// are listed on its [`Rx::recv_wait`]).
            ///
            /// [`Rx::recv`]: $crate::Rx::recv
            /// [`Rx::recv_wait`]: $crate::Rx::recv_wait
            ///
            /// # Errors
            ///
            /// [`Error::Disconnected`]($crate::Error::Disconnected) once every sender is
            /// gone and everything sent was received; as [`Rx::recv_wait`] otherwise.
            #[inline]
            pub fn recv(&mut self) -> $crate::Result<$t> {
                $crate::Rx::recv(self)
            }

            /// Receives a message if one is there now ([`Rx::try_recv`]).
            ///
            /// [`Rx::try_recv`]: $crate::Rx::try_recv
            ///
            /// # Errors
            ///
            /// [`Error::Empty`]($crate::Error::Empty) if none is; otherwise as `recv`.
            #[inline]
            pub fn try_recv(&mut self) -> $crate::Result<$t> {
                $crate::Rx::try_recv(self)
            }

            /// Receives a message, waiting at most `timeout` ([`Rx::recv_timeout`]).
            ///
            /// [`Rx::recv_timeout`]: $crate::Rx::recv_timeout
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`]($crate::Error::Timeout) if none came in time; otherwise
            /// as `recv`.
            #[inline]
            pub fn recv_timeout(&mut self, timeout: ::std::time::Duration) -> $crate::Result<$t> {
                $crate::Rx::recv_timeout(self, timeout)
            }

            /// Receives the next message into `*out`, waiting for it: `recv` without the
            /// by-value return ([`Rx::recv_into`]).
            ///
            /// [`Rx::recv_into`]: $crate::Rx::recv_into
            ///
            /// # Errors
            ///
            /// As `recv`; after an error `*out` is unchanged.
            #[inline]
            pub fn recv_into(&mut self, out: &mut $t) -> $crate::Result<()> {
                $crate::Rx::recv_into(self, out)
            }

            /// The messages as they arrive, until every sender is gone ([`Rx::iter`]).
            ///
            /// [`Rx::iter`]: $crate::Rx::iter
            pub fn iter(&mut self) -> $crate::Messages<'_, Self, $t> {
                $crate::Rx::iter(self)
            }

            /// The messages there now, without waiting ([`Rx::try_iter`]).
            ///
            /// [`Rx::try_iter`]: $crate::Rx::try_iter
            pub fn try_iter(&mut self) -> $crate::Messages<'_, Self, $t> {
                $crate::Rx::try_iter(self)
            }
        }

        impl<'a, $($p: $crate::Message),+> ::std::iter::IntoIterator for &'a mut $end {
            type Item = $crate::Result<$t>;
            type IntoIter = $crate::Messages<'a, $end, $t>;

            fn into_iter(self) -> Self::IntoIter {
                $crate::Rx::iter(self)
            }
        }
    };
}
pub(crate) use receiving_end;
