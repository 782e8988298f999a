//! One end of a two-way pipe channel, [`Duplex`]: a [`Sender`] and a [`Receiver`] of two
//! pipes joined, with the send and receive families of the contract.

use std::fmt;

use super::receiver::Receiver;
use super::sender::Sender;
use crate::contract::{self, Rx, Tx, Wait};
use crate::error::Result;
use crate::message::Message;

/// One end of a [`duplex`](super::duplex()) channel: sends `S`, receives `R`.
///
/// It has two descriptors, so no `AsFd` of its own: each half has one
/// ([`Duplex::sender`], [`Duplex::receiver`]).
pub struct Duplex<S, R> {
    tx: Sender<S>,
    rx: Receiver<R>,
}

impl<S: Message, R: Message> Duplex<S, R> {
    /// Joins a sender and a receiver into one end.
    pub fn from_parts(tx: Sender<S>, rx: Receiver<R>) -> Self {
        Duplex { tx, rx }
    }

    /// Splits the end into its sender and receiver (to hand them to a child, say).
    pub fn into_parts(self) -> (Sender<S>, Receiver<R>) {
        (self.tx, self.rx)
    }

    /// The sending half.
    pub fn sender(&mut self) -> &mut Sender<S> {
        &mut self.tx
    }

    /// The receiving half.
    pub fn receiver(&mut self) -> &mut Receiver<R> {
        &mut self.rx
    }

    /// Makes the sending half buffered ([`Sender::buffered`]).
    #[must_use]
    pub fn buffered(mut self, capacity: usize) -> Self {
        self.tx = self.tx.buffered(capacity);
        self
    }

    /// Writes what a buffered sending half holds ([`Sender::flush`]).
    ///
    /// # Errors
    ///
    /// As [`Sender::flush`].
    pub fn flush(&mut self) -> Result<()> {
        self.tx.flush()
    }

    /// [`Receiver::recv_ref`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline]
    pub fn recv_ref(&mut self) -> Result<&R> {
        self.rx.recv_ref()
    }
}

impl<S: Message, R: Message> Tx<S> for Duplex<S, R> {
    /// [`Tx::send_wait`] on the sending half.
    #[inline]
    fn send_wait(&mut self, msg: &S, wait: Wait) -> Result<()> {
        self.tx.send_wait(msg, wait)
    }

    #[inline]
    fn send_many_wait(&mut self, msgs: &[S], wait: Wait) -> Result<usize> {
        self.tx.send_many_wait(msgs, wait)
    }

    #[inline]
    fn flush(&mut self) -> Result<()> {
        Tx::flush(&mut self.tx)
    }
}

impl<S: Message, R: Message> Rx<R> for Duplex<S, R> {
    /// [`Rx::recv_wait`] on the receiving half.
    #[inline]
    fn recv_wait(&mut self, wait: Wait) -> Result<R> {
        self.rx.recv_wait(wait)
    }

    #[inline]
    fn recv_into_wait(&mut self, out: &mut R, wait: Wait) -> Result<()> {
        self.rx.recv_into_wait(out, wait)
    }

    #[inline]
    fn recv_many_wait(&mut self, out: &mut [R], wait: Wait) -> Result<usize> {
        self.rx.recv_many_wait(out, wait)
    }
}

contract::sending_end!(impl<S, R> Duplex<S, R>, S);
contract::receiving_end!(impl<S, R> Duplex<S, R>, R);

impl<S: Message, R: Message> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}
