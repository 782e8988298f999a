//! What the tour needs of a two-way link, whatever the transport: messages one at a time
//! and in batches. Every call goes through the contract every end implements,
//! `ipc::Tx` / `ipc::Rx`, so the tour measures what any code written against them gets.

use ipc::{Message, Result, Rx, Tx};

pub trait Link<T> {
    /// Sends one message, waiting for room.
    fn send(&mut self, msg: T) -> Result<()>;
    /// Receives one message, waiting for it.
    fn recv(&mut self) -> Result<T>;
    /// Sends every message of `msgs`, in order (`Tx::send_all`).
    fn send_all(&mut self, msgs: &[T]) -> Result<()>;
    /// Writes out what the sending end holds back (`Tx::flush`).
    fn flush(&mut self) -> Result<()>;
    /// Waits for a message, then takes every one already there, up to `out.len()`
    /// (`Rx::recv_many`); returns how many.
    fn recv_many(&mut self, out: &mut [T]) -> Result<usize>;
}

/// A link of two one-way channels: a sending end and a receiving end.
pub struct Pair<S, R> {
    pub tx: S,
    pub rx: R,
}

impl<T: Message, S: Tx<T>, R: Rx<T>> Link<T> for Pair<S, R> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(Tx::send(&mut self.tx, msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        Rx::recv(&mut self.rx)
    }
    fn send_all(&mut self, msgs: &[T]) -> Result<()> {
        Ok(self.tx.send_all(msgs)?)
    }
    fn flush(&mut self) -> Result<()> {
        Tx::flush(&mut self.tx)
    }
    fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        self.rx.recv_many(out)
    }
}

/// One System V queue both ways: messages of type 1 flow to the child, of type 2 back,
/// and each side receives only its type.
pub struct SysvLink<T> {
    pub tx: ipc::sysv::Sender<T>,
    pub rx: ipc::sysv::Receiver<T>,
    /// The type this side receives.
    pub mtype: i64,
}

impl<T: Message> Link<T> for SysvLink<T> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(Tx::send(&mut self.tx, msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        Ok(self.rx.recv_type(self.mtype)?.0)
    }
    fn send_all(&mut self, msgs: &[T]) -> Result<()> {
        Ok(self.tx.send_all(msgs)?)
    }
    fn flush(&mut self) -> Result<()> {
        Tx::flush(&mut self.tx)
    }
    /// `Rx::recv_many` takes messages of any type. Only the child receives in batches,
    /// during a stream, when the queue holds nothing but the parent's messages: the
    /// parent has taken every echo and acknowledgement before it starts a stream.
    fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
        self.rx.recv_many(out)
    }
}

/// Transports whose one handle both sends and receives `T`.
macro_rules! duplex_link {
    ($($ty:ty),*) => {$(
        impl<T: Message> Link<T> for $ty {
            fn send(&mut self, msg: T) -> Result<()> {
                Ok(Tx::send(self, msg)?)
            }
            fn recv(&mut self) -> Result<T> {
                Rx::recv(self)
            }
            fn send_all(&mut self, msgs: &[T]) -> Result<()> {
                Ok(Tx::send_all(self, msgs)?)
            }
            fn flush(&mut self) -> Result<()> {
                Tx::flush(self)
            }
            fn recv_many(&mut self, out: &mut [T]) -> Result<usize> {
                Rx::recv_many(self, out)
            }
        }
    )*};
}
duplex_link!(
    ipc::pipe::Duplex<T, T>,
    ipc::socket::Stream<T>,
    ipc::socket::SeqPacket<T>,
    ipc::tcp::Stream<T>
);
