//! One end of a two-way pipe channel, [`Duplex`]: a [`Sender`] and a [`Receiver`] of two
//! pipes joined, with the send and receive families forwarded to them.

use std::fmt;
use std::time::Duration;

use super::receiver::Receiver;
use super::sender::Sender;
use crate::error::{Result, SendError};
use crate::message::Message;

/// One end of a [`duplex`](super::duplex) channel: sends `S`, receives `R`.
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

    /// [`Sender::send`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send`].
    #[inline]
    pub fn send(&mut self, msg: S) -> Result<(), SendError<S>> {
        self.tx.send(msg)
    }

    /// [`Sender::try_send`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::try_send`].
    #[inline]
    pub fn try_send(&mut self, msg: S) -> Result<(), SendError<S>> {
        self.tx.try_send(msg)
    }

    /// [`Sender::send_timeout`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_timeout`].
    #[inline]
    pub fn send_timeout(&mut self, msg: S, timeout: Duration) -> Result<(), SendError<S>> {
        self.tx.send_timeout(msg, timeout)
    }

    /// [`Sender::send_ref`] on the sending half.
    ///
    /// # Errors
    ///
    /// As [`Sender::send_ref`].
    #[inline]
    pub fn send_ref(&mut self, msg: &S) -> Result<()> {
        self.tx.send_ref(msg)
    }

    /// [`Receiver::recv_into`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv_into`]; after an error `*out` is unchanged.
    #[inline]
    pub fn recv_into(&mut self, out: &mut R) -> Result<()> {
        self.rx.recv_into(out)
    }

    /// [`Receiver::recv`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    #[inline]
    pub fn recv(&mut self) -> Result<R> {
        self.rx.recv()
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

    /// [`Receiver::try_recv`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::try_recv`].
    #[inline]
    pub fn try_recv(&mut self) -> Result<R> {
        self.rx.try_recv()
    }

    /// [`Receiver::recv_timeout`] on the receiving half.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv_timeout`].
    #[inline]
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<R> {
        self.rx.recv_timeout(timeout)
    }
}

impl<S: Message, R: Message> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("tx", &self.tx)
            .field("rx", &self.rx)
            .finish()
    }
}
