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
use crate::error::{BatchError, Error, Result, SendError};
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

    /// Sends the longest prefix of `msgs` it can: waits as `wait` says for room for the
    /// first message, then sends as many more as there is room for without waiting (all
    /// of them, waiting as needed, for [`Wait::Forever`]), and returns how many went (at
    /// least one; zero only for an empty `msgs`). Ends override
    /// it to move the prefix with as few system calls or atomic publishes as they can (one
    /// `writev` on a stream, one claim and one publish on shared memory); the provided
    /// version sends one message at a time, which is what the queues (one message per
    /// system call by design) do too.
    ///
    /// An error met after the first message ends the prefix without being returned: the
    /// messages not sent are still the caller's, and the next call meets it again.
    ///
    /// # Errors
    ///
    /// As [`Tx::send_wait`], for the first message.
    fn send_many_wait(&mut self, msgs: &[T], wait: Wait) -> Result<usize> {
        send_each(msgs, wait, |m, w| self.send_wait(m, w))
    }

    /// Sends every message of `msgs`, in order, waiting for room as long as it takes.
    ///
    /// # Errors
    ///
    /// [`BatchError`]: how many messages went before the error, and the error, as
    /// [`Tx::send_wait`] says; the rest, `&msgs[e.sent()..]`, were not sent.
    fn send_all(&mut self, msgs: &[T]) -> Result<(), BatchError> {
        send_all_until(self, msgs, None)
    }

    /// As [`Tx::send_all`], waiting at most `timeout` in all.
    ///
    /// # Errors
    ///
    /// [`BatchError`] with [`Error::Timeout`] if not all went in time, as
    /// [`Tx::send_all`] otherwise.
    fn send_all_timeout(&mut self, msgs: &[T], timeout: Duration) -> Result<(), BatchError> {
        send_all_until(
            self,
            msgs,
            deadline::deadline_after(timeout).map(|d| (d, timeout)),
        )
    }

    /// Sends as many messages of `msgs` as there is room for now, without waiting, and
    /// returns how many went.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if not even the first fits, as [`Tx::send_wait`] otherwise.
    fn try_send_many(&mut self, msgs: &[T]) -> Result<usize> {
        self.send_many_wait(msgs, Wait::Now)
    }

    /// Writes out what this end holds back: the messages a buffered stream sender has
    /// accepted (see `buffered` on the stream senders) and the tail of a record a bounded
    /// send began. Ends that hold nothing back return at once.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the receiver is gone; the transport's own errors.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Sends `msgs[0]` waiting as `wait` says, then the next ones while each goes without
/// waiting (or all, waiting, for [`Wait::Forever`]); stops at the first error after the
/// first message (the next call meets it).
pub(crate) fn send_each<T>(
    msgs: &[T],
    wait: Wait,
    mut one: impl FnMut(&T, Wait) -> Result<()>,
) -> Result<usize> {
    let Some((first, rest)) = msgs.split_first() else {
        return Ok(0);
    };
    one(first, wait)?;
    let mut sent = 1;
    let rest_wait = match wait {
        Wait::Forever => Wait::Forever,
        _ => Wait::Now,
    };
    for m in rest {
        if one(m, rest_wait).is_err() {
            break;
        }
        sent += 1;
    }
    Ok(sent)
}

fn send_all_until<T: Message, E: Tx<T> + ?Sized>(
    tx: &mut E,
    msgs: &[T],
    deadline: Option<(std::time::Instant, Duration)>,
) -> Result<(), BatchError> {
    let mut sent = 0;
    while sent < msgs.len() {
        let wait = match deadline {
            None => Wait::Forever,
            Some((at, _)) => Wait::For(at.saturating_duration_since(std::time::Instant::now())),
        };
        match tx.send_many_wait(&msgs[sent..], wait) {
            Ok(n) => sent += n,
            Err(Error::Timeout(_)) if deadline.is_some() => {
                let asked = deadline.map_or(Duration::ZERO, |(_, d)| d);
                return Err(BatchError::new(sent, Error::Timeout(asked)));
            }
            Err(error) => return Err(BatchError::new(sent, error)),
        }
    }
    Ok(())
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

    /// Receives into `out` what is there: waits as `wait` says for the first message, then
    /// takes every message already there, up to `out.len()`, without waiting again, and
    /// returns how many it wrote to the front of `out` (at least one; zero only for an
    /// empty `out`). Ends override it to take them with as few system calls or atomic
    /// operations as they can (one `read` on a stream, one scan and one release on shared
    /// memory); the queues loop, one message per system call by design. The provided
    /// version receives one message per call.
    ///
    /// An error met after the first message ends the batch and is not lost: the messages
    /// before it are returned, and the next receive returns the error.
    ///
    /// # Errors
    ///
    /// As [`Rx::recv_wait`], for the first message.
    fn recv_many_wait(&mut self, out: &mut [T], wait: Wait) -> Result<usize> {
        match out.first_mut() {
            Some(first) => self.recv_into_wait(first, wait).map(|()| 1),
            None => Ok(0),
        }
    }

    /// Waits for a message, then receives into `out` every message already there, up to
    /// `out.len()`, and returns how many (see [`Rx::recv_many_wait`]).
    ///
    /// # Errors
    ///
    /// As [`Rx::recv`].
    fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        self.recv_many_wait(out, Wait::Forever)
    }

    /// Receives into `out` the messages there now, up to `out.len()`, without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if there is none, as [`Rx::recv`] otherwise.
    fn try_recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        self.recv_many_wait(out, Wait::Now)
    }

    /// As [`Rx::recv_many`], waiting at most `timeout` for the first message.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came in time, as [`Rx::recv`] otherwise.
    fn recv_many_timeout(&mut self, out: &mut [T], timeout: Duration) -> Result<usize> {
        self.recv_many_wait(out, Wait::For(timeout))
    }
}

/// An error a batched receive met after its first message, held by an end that takes
/// one message per system call until its next receive returns it (see
/// [`Rx::recv_many_wait`]). A mutex, so that the receives of those ends that take
/// `&self` (a queue's `recv_with_priority`, say) return it too; the contract's receives
/// take `&mut self` and reach it without locking.
#[derive(Debug, Default)]
pub(crate) struct Held(std::sync::Mutex<Option<Error>>);

impl Held {
    /// Returns the held error, if any, and forgets it.
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Result<()> {
        self.0
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .map_or(Ok(()), Err)
    }

    /// [`Held::take`] through a shared reference.
    #[inline]
    pub(crate) fn take_shared(&self) -> Result<()> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.take().map_or(Ok(()), Err)
    }

    /// Holds what [`recv_each`] reported, and passes the count on.
    pub(crate) fn keep(&mut self, batch: (usize, Option<Error>)) -> usize {
        *self.0.get_mut().unwrap_or_else(|p| p.into_inner()) = batch.1;
        batch.0
    }
}

/// Receives `out[0]` waiting as `wait` says, then the next ones while each is there
/// without waiting, for ends that take one message per system call. Returns how many,
/// and the error that ended the batch after the first message (other than
/// [`Error::Empty`]), which the end must hold and return from its next receive: the
/// message it concerns was consumed, so meeting it again is not possible.
pub(crate) fn recv_each<T>(
    out: &mut [T],
    wait: Wait,
    mut one: impl FnMut(&mut T, Wait) -> Result<()>,
) -> Result<(usize, Option<Error>)> {
    let Some((first, rest)) = out.split_first_mut() else {
        return Ok((0, None));
    };
    one(first, wait)?;
    let mut got = 1;
    for m in rest {
        match one(m, Wait::Now) {
            Ok(()) => got += 1,
            Err(Error::Empty) => break,
            Err(e) => return Ok((got, Some(e))),
        }
    }
    Ok((got, None))
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

    #[inline]
    fn send_many_wait(&mut self, msgs: &[T], wait: Wait) -> Result<usize> {
        (**self).send_many_wait(msgs, wait)
    }

    #[inline]
    fn flush(&mut self) -> Result<()> {
        (**self).flush()
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

    #[inline]
    fn recv_many_wait(&mut self, out: &mut [T], wait: Wait) -> Result<usize> {
        (**self).recv_many_wait(out, wait)
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

            /// Sends every message of `msgs`, in order, waiting for room as long as it
            /// takes, with as few system calls or atomic publishes as this end can
            /// ([`Tx::send_all`]).
            ///
            /// [`Tx::send_all`]: $crate::Tx::send_all
            ///
            /// # Errors
            ///
            /// [`BatchError`]($crate::BatchError): how many went before the error, and
            /// the error; `&msgs[e.sent()..]` were not sent.
            #[inline]
            pub fn send_all(&mut self, msgs: &[$t]) -> $crate::Result<(), $crate::BatchError> {
                $crate::Tx::send_all(self, msgs)
            }

            /// As `send_all`, waiting at most `timeout` in all ([`Tx::send_all_timeout`]).
            ///
            /// [`Tx::send_all_timeout`]: $crate::Tx::send_all_timeout
            ///
            /// # Errors
            ///
            /// As `send_all`; [`Error::Timeout`]($crate::Error::Timeout) if not all went
            /// in time.
            #[inline]
            pub fn send_all_timeout(
                &mut self,
                msgs: &[$t],
                timeout: ::std::time::Duration,
            ) -> $crate::Result<(), $crate::BatchError> {
                $crate::Tx::send_all_timeout(self, msgs, timeout)
            }

            /// Sends as many messages of `msgs` as there is room for now, and returns how
            /// many went ([`Tx::try_send_many`]).
            ///
            /// [`Tx::try_send_many`]: $crate::Tx::try_send_many
            ///
            /// # Errors
            ///
            /// [`Error::Full`]($crate::Error::Full) if not even the first fits; otherwise
            /// as `send`.
            #[inline]
            pub fn try_send_many(&mut self, msgs: &[$t]) -> $crate::Result<usize> {
                $crate::Tx::try_send_many(self, msgs)
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

            /// Waits for a message, then receives into `out` every message already
            /// there, up to `out.len()`, and returns how many ([`Rx::recv_many`]).
            ///
            /// [`Rx::recv_many`]: $crate::Rx::recv_many
            ///
            /// # Errors
            ///
            /// As `recv`. An error met after the first message is returned by the next
            /// receive, with the messages before it delivered now.
            #[inline]
            pub fn recv_many(&mut self, out: &mut [$t]) -> $crate::Result<usize> {
                $crate::Rx::recv_many(self, out)
            }

            /// Receives into `out` the messages there now, up to `out.len()`
            /// ([`Rx::try_recv_many`]).
            ///
            /// [`Rx::try_recv_many`]: $crate::Rx::try_recv_many
            ///
            /// # Errors
            ///
            /// [`Error::Empty`]($crate::Error::Empty) if there is none; otherwise as
            /// `recv_many`.
            #[inline]
            pub fn try_recv_many(&mut self, out: &mut [$t]) -> $crate::Result<usize> {
                $crate::Rx::try_recv_many(self, out)
            }

            /// As `recv_many`, waiting at most `timeout` for the first message
            /// ([`Rx::recv_many_timeout`]).
            ///
            /// [`Rx::recv_many_timeout`]: $crate::Rx::recv_many_timeout
            ///
            /// # Errors
            ///
            /// [`Error::Timeout`]($crate::Error::Timeout) if none came in time; otherwise
            /// as `recv_many`.
            #[inline]
            pub fn recv_many_timeout(
                &mut self,
                out: &mut [$t],
                timeout: ::std::time::Duration,
            ) -> $crate::Result<usize> {
                $crate::Rx::recv_many_timeout(self, out, timeout)
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
