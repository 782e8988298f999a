//! Which ends [`Async`](super::Async) takes, and how each one sends and receives without
//! waiting: its own `try_*` calls.

use std::convert::Infallible;
use std::time::Duration;

use super::{AsyncClose, AsyncRecv, AsyncSend, End};
use crate::contract::{Rx, Tx, Wait};
use crate::error::Result;
use crate::message::Message;

/// Only this crate's ends are made async: each is known to answer `Wait::Now` without
/// blocking the thread.
pub trait Sealed {}

/// A receiving end whose `try_recv` never blocks the thread.
macro_rules! receiving {
    ($($end:ty),*) => {$(
        impl<T: Message> Sealed for $end {}
        impl<T: Message> End for $end {
            type Sent = Infallible;
        }
        impl<T: Message> AsyncRecv for $end {
            type Item = T;
            #[inline]
            fn recv_now(&mut self) -> Result<T> {
                Rx::recv_wait(self, Wait::Now)
            }
            #[inline]
            fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
                Rx::recv_into_wait(self, out, Wait::Now)
            }
        }
    )*};
}

/// A sending end whose `try_send` never blocks the thread (and, for a duplex one, the
/// receiving side too).
macro_rules! sending {
    ($($end:ty),*) => {$(
        impl<T: Message> Sealed for $end {}
        impl<T: Message> End for $end {
            type Sent = T;
        }
    )*};
}

/// A duplex stream of this crate: both halves, the sending one with a frame tail.
macro_rules! duplex {
    ($($end:ty),*) => {$(
        sending!($end);
        impl<T: Message> AsyncRecv for $end {
            type Item = T;
            #[inline]
            fn recv_now(&mut self) -> Result<T> {
                Rx::recv_wait(self, Wait::Now)
            }
            #[inline]
            fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
                Rx::recv_into_wait(self, out, Wait::Now)
            }
        }
        impl<T: Message> AsyncSend for $end {
            #[inline]
            fn send_now(&mut self, msg: &T) -> Result<()> {
                Tx::send_wait(self, msg, Wait::Now)
            }
            fn flush_now(&mut self) -> Result<()> {
                self.flush_now()
            }
        }
    )*};
}

receiving!(crate::socket::Receiver<T>, crate::mq::Receiver<T>);

impl<T: Message> Sealed for crate::pipe::Receiver<T> {}
impl<T: Message> End for crate::pipe::Receiver<T> {
    type Sent = Infallible;
    /// A pipe's descriptor is made non-blocking: a non-waiting receive is then one
    /// `read`, with no `poll` before it.
    fn set_async(&mut self, on: bool) -> Result<()> {
        crate::pipe::Receiver::set_async(self, on)
    }
}
impl<T: Message> AsyncRecv for crate::pipe::Receiver<T> {
    type Item = T;
    #[inline]
    fn recv_now(&mut self) -> Result<T> {
        Rx::recv_wait(self, Wait::Now)
    }
    #[inline]
    fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
        Rx::recv_into_wait(self, out, Wait::Now)
    }
}
sending!(
    crate::pipe::Sender<T>,
    crate::socket::Sender<T>,
    crate::mq::Sender<T>
);
duplex!(crate::socket::Stream<T>, crate::tcp::Stream<T>);

/// Ends over a stream socket, whose sending side closes with `shutdown(2)`.
macro_rules! closing {
    ($($end:ty),*) => {$(
        impl<T: Message> AsyncClose for $end {
            fn close_within(self, timeout: Duration) -> Result<()> {
                <$end>::close(self, timeout)
            }
        }
    )*};
}

closing!(
    crate::socket::Sender<T>,
    crate::socket::Stream<T>,
    crate::tcp::Stream<T>
);

impl<T: Message> AsyncSend for crate::pipe::Sender<T> {
    #[inline]
    fn send_now(&mut self, msg: &T) -> Result<()> {
        Tx::send_wait(self, msg, Wait::Now)
    }

    /// A record longer than `PIPE_BUF` needs room for all of it, which no readiness event
    /// announces (a pipe wakes its writers when a read empties a full one): nap.
    fn nap(&self, _msg: &T) -> Option<Duration> {
        (crate::codec::record_len::<T>() > crate::pipe::PIPE_BUF)
            .then_some(Duration::from_micros(200))
    }
}

impl<T: Message> AsyncSend for crate::socket::Sender<T> {
    #[inline]
    fn send_now(&mut self, msg: &T) -> Result<()> {
        Tx::send_wait(self, msg, Wait::Now)
    }

    fn flush_now(&mut self) -> Result<()> {
        self.flush_now()
    }
}

impl<T: Message> AsyncSend for crate::mq::Sender<T> {
    #[inline]
    fn send_now(&mut self, msg: &T) -> Result<()> {
        Tx::send_wait(self, msg, Wait::Now)
    }
}

impl<T: Message> Sealed for crate::socket::SeqPacket<T> {}
impl<T: Message> End for crate::socket::SeqPacket<T> {
    type Sent = T;
}
impl<T: Message> AsyncRecv for crate::socket::SeqPacket<T> {
    type Item = T;
    #[inline]
    fn recv_now(&mut self) -> Result<T> {
        Rx::recv_wait(self, Wait::Now)
    }
    #[inline]
    fn recv_into_now(&mut self, out: &mut T) -> Result<()> {
        Rx::recv_into_wait(self, out, Wait::Now)
    }
}
impl<T: Message> AsyncSend for crate::socket::SeqPacket<T> {
    #[inline]
    fn send_now(&mut self, msg: &T) -> Result<()> {
        Tx::send_wait(self, msg, Wait::Now)
    }
}

/// A request/response client: its calling side, operated without waiting.
macro_rules! client {
    ($($end:ty),*) => {$(
        impl<Req: Message, Resp: Message> Sealed for $end {}
        impl<Req: Message, Resp: Message> End for $end {
            type Sent = Req;
        }
        impl<Req: Message, Resp: Message> super::CallEnd for $end {
            type Request = Req;
            type Response = Resp;
            fn skip_owed_now(&mut self) -> Result<bool> {
                self.caller().skip_owed_now()
            }
            fn send_call_now(&mut self, req: &Req) -> Result<()> {
                self.caller().send_call_now(req)
            }
            fn flush_call_now(&mut self) -> Result<()> {
                self.caller().flush_now()
            }
            fn recv_call_now(&mut self) -> Result<Resp> {
                self.caller().recv_call_now()
            }
            fn into_halves(self) -> (crate::socket::Sender<Req>, crate::socket::Receiver<Resp>, u64) {
                self.into_caller().into_parts()
            }
        }
    )*};
}

client!(crate::socket::Client<Req, Resp>, crate::tcp::Client<Req, Resp>);
