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
//! What only one transport has stays on its own types: shared memory's zero-copy
//! [`Loan`](crate::shm::Loan) and [`Sample`](crate::shm::Sample), queue priorities and
//! message types, peer credentials and descriptor passing. Every transport's ends
//! implement the traits:
//!
//! | transport | [`Tx`] | [`Rx`] |
//! |---|---|---|
//! | [`pipe`], [`fifo`](crate::fifo) | `Sender` | `Receiver` |
//! | [`shm`] | `Sender` (copies in) | `Receiver` (copies out) |
//! | [`mq`], [`sysv`] | `Sender` (default priority or type) | `Receiver` |
//! | [`socket`] | `Stream`, `Sender`, `SeqPacket` | `Stream`, `Receiver`, `SeqPacket` |
//! | [`tcp`] | `Stream` | `Stream` |
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
use crate::{mq, pipe, shm, socket, sysv, tcp};

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

    /// The messages as they arrive, each a `Result`, ending at [`Error::Disconnected`].
    fn iter(&mut self) -> Messages<'_, Self, T>
    where
        Self: Sized,
    {
        Messages {
            rx: self,
            _t: PhantomData,
        }
    }
}

/// The messages of a receiving end ([`Rx::iter`]): each `recv` until the senders are gone.
pub struct Messages<'a, R, T> {
    rx: &'a mut R,
    _t: PhantomData<fn() -> T>,
}

impl<R: Rx<T>, T: Message> Iterator for Messages<'_, R, T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        match self.rx.recv() {
            Err(Error::Disconnected) => None,
            other => Some(other),
        }
    }
}

impl<T: Message, E: Tx<T> + ?Sized> Tx<T> for Box<E> {
    fn send_wait(&mut self, msg: &T, wait: Wait) -> Result<()> {
        (**self).send_wait(msg, wait)
    }
}

impl<T: Message, E: Rx<T> + ?Sized> Rx<T> for Box<E> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        (**self).recv_wait(wait)
    }

    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        (**self).recv_into_wait(out, wait)
    }
}

/// `Tx` for an end whose own methods are `send_ref`, `try_send` and `send_timeout`.
macro_rules! tx_by_ref {
    ($($end:ty),*) => {$(
        impl<T: Message> Tx<T> for $end {
            fn send_wait(&mut self, msg: &T, wait: Wait) -> Result<()> {
                match wait {
                    Wait::Now => <$end>::try_send(self, *msg).map_err(SendError::into_error),
                    Wait::For(d) => {
                        <$end>::send_timeout(self, *msg, d).map_err(SendError::into_error)
                    }
                    Wait::Forever => <$end>::send_ref(self, msg),
                }
            }
        }
    )*};
}

/// `Tx` for an end whose own methods are `send`, `try_send` and `send_timeout`.
macro_rules! tx_by_value {
    ($($end:ty),*) => {$(
        impl<T: Message> Tx<T> for $end {
            fn send_wait(&mut self, msg: &T, wait: Wait) -> Result<()> {
                match wait {
                    Wait::Now => <$end>::try_send(self, *msg),
                    Wait::For(d) => <$end>::send_timeout(self, *msg, d),
                    Wait::Forever => <$end>::send(self, *msg),
                }
                .map_err(SendError::into_error)
            }
        }
    )*};
}

/// `Rx` for an end whose own methods are `recv`, `try_recv`, `recv_timeout` (returning
/// `T`) and `recv_into`.
macro_rules! rx_in_place {
    ($($end:ty),*) => {$(
        impl<T: Message> Rx<T> for $end {
            fn recv_wait(&mut self, wait: Wait) -> Result<T> {
                match wait {
                    Wait::Now => <$end>::try_recv(self),
                    Wait::For(d) => <$end>::recv_timeout(self, d),
                    Wait::Forever => <$end>::recv(self),
                }
            }

            fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
                match wait {
                    Wait::Forever => <$end>::recv_into(self, out).map(drop),
                    _ => {
                        *out = Rx::recv_wait(self, wait)?;
                        Ok(())
                    }
                }
            }
        }
    )*};
}

tx_by_ref!(
    pipe::Sender<T>,
    socket::Sender<T>,
    socket::Stream<T>,
    socket::SeqPacket<T>,
    tcp::Stream<T>
);
tx_by_value!(shm::Sender<T>, mq::Sender<T>, sysv::Sender<T>);
rx_in_place!(
    pipe::Receiver<T>,
    socket::Receiver<T>,
    socket::Stream<T>,
    socket::SeqPacket<T>,
    tcp::Stream<T>,
    mq::Receiver<T>,
    sysv::Receiver<T>
);

/// Shared memory lends each message in place ([`shm::Sample`]); through the contract it
/// is copied out.
impl<T: Message> Rx<T> for shm::Receiver<T> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        Ok(*sample(self, wait)?)
    }

    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        *out = *sample(self, wait)?;
        Ok(())
    }
}

/// The next message of a shared-memory channel, waiting as `wait` says.
fn sample<T: Message>(rx: &mut shm::Receiver<T>, wait: Wait) -> Result<shm::Sample<'_, T>> {
    match wait {
        Wait::Now => rx.try_recv(),
        Wait::For(d) => rx.recv_timeout(d),
        Wait::Forever => shm::Receiver::recv(rx),
    }
}
