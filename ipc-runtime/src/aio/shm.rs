//! [`AsyncReceiver`]: the async twin of a shared-memory channel's receiver (the design
//! is told in [`crate::shm`]'s "Async" section).

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use ::tokio::time::{sleep, Instant, Sleep};

use crate::contract::{Rx, Wait};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shm::Receiver;
use crate::sync::bell::Bell;

/// How many times one poll may find it must look again before it yields to the runtime
/// (the peers keep changing under it).
const LOOKS: u32 = 8;

/// The async twin of [`shm::Receiver`](crate::shm::Receiver), on tokio (feature `tokio`).
///
/// A receive takes the message at the head with no system call when there is one,
/// spins a few microseconds when there is not, then parks: it announces itself in the
/// segment as the sync receiver does and awaits its doorbell, a socket its senders ring
/// when they see it parked (see [`crate::shm`], "Async"). No thread is made per
/// receiver; an idle one costs nothing but a timer that fires once a minute.
///
/// ```
/// use ipc::shm;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let name = format!("doc-async-{}", std::process::id());
/// let rx = shm::Receiver::<u64>::create(&name, shm::Options::new())?;
/// let mut rx = shm::AsyncReceiver::from_sync(rx)?;
/// let mut tx = shm::Sender::<u64>::open(&name)?;
/// let task = tokio::spawn(async move { rx.recv().await });
/// tx.send(7)?;
/// assert_eq!(task.await??, 7);
/// # Ok(())
/// # }
/// ```
pub struct AsyncReceiver<T: Message> {
    /// `None` only inside `into_sync`.
    rx: Option<Receiver<T>>,
    bell: AsyncFd<Bell>,
    /// The limit of the current park (a minute, or a slice where deaths cannot be
    /// watched).
    nap: Pin<Box<Sleep>>,
    /// Inside a park: the last poll returned `Pending` on the doorbell and the nap.
    parked: bool,
    parks: u64,
}

impl<T: Message> AsyncReceiver<T> {
    /// The async twin of `rx`: binds its doorbell and publishes it in the segment.
    /// Nothing buffered or pending is lost.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the doorbell socket cannot be made
    /// or registered.
    ///
    /// # Panics
    ///
    /// In a runtime built without its I/O and time drivers (`enable_all`).
    pub fn from_sync(mut rx: Receiver<T>) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            let e = std::io::Error::other("not inside a tokio runtime");
            return Err(crate::codec::io_error("AsyncReceiver::from_sync", e));
        }
        let bell = Bell::new()?;
        let token = bell.token();
        // SAFETY: `Bell::as_raw_fd` returns the descriptor the bell owns, never replaced
        // or closed while the bell lives, so it stays valid and the same until the
        // `AsyncFd` is dropped.
        let bell = unsafe { AsyncFd::register_with_interest(bell, Interest::READABLE) }
            .map_err(|e| crate::codec::io_error("epoll_ctl (doorbell)", e.into()))?;
        rx.set_bell(token);
        Ok(AsyncReceiver {
            rx: Some(rx),
            bell,
            nap: Box::pin(sleep(Duration::ZERO)),
            parked: false,
            parks: 0,
        })
    }

    /// The sync receiver back: the doorbell is withdrawn from the segment, and its
    /// senders wake the receiver through the futex again.
    pub fn into_sync(mut self) -> Receiver<T> {
        let mut rx = self.rx.take().expect("receiver present");
        rx.set_bell(0);
        rx
    }

    /// The sync receiver, for its other methods ([`Receiver::stats`], ...). Its waiting
    /// calls block the thread: use the `try_*` ones.
    pub fn get_ref(&self) -> &Receiver<T> {
        self.rx.as_ref().expect("receiver present")
    }

    fn rx(&mut self) -> &mut Receiver<T> {
        self.rx.as_mut().expect("receiver present")
    }

    /// How many times this receiver has parked (waited for its doorbell). Each park
    /// costs a few system calls (a barrier, the sender's ring, the reads of the
    /// doorbell); a receive that finds a message, or finds one while spinning, makes
    /// none.
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// Polls for the next message: the building block of [`recv`](Self::recv) and of
    /// the `Stream`.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`].
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut looks = 0;
        loop {
            if self.parked {
                let rang = match self.bell.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        guard.get_inner().drain();
                        guard.clear_ready();
                        true
                    }
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(crate::codec::io_error("doorbell", e)))
                    }
                    Poll::Pending => false,
                };
                let napped = self.nap.as_mut().poll(cx).is_ready();
                let rx = self.rx.as_ref().expect("receiver present");
                if !rang && !napped && !rx.message_at_head() {
                    return Poll::Pending;
                }
                self.parked = false;
                self.rx().unpark_async();
            }
            match Rx::recv_wait(self.rx(), Wait::Now) {
                Err(Error::Empty) => {}
                other => return Poll::Ready(other),
            }
            if self.rx().spin_for_message() {
                continue;
            }
            match self.rx().park_async() {
                Some(limit) => {
                    self.parks += 1;
                    self.parked = true;
                    self.nap.as_mut().reset(Instant::now() + limit);
                }
                None => {
                    looks += 1;
                    if looks >= LOOKS {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    /// Receives the next message (copied out of its slot), waiting for it without
    /// blocking the thread or spinning a core. Cancel-safe: a message is taken only by
    /// the poll that returns it.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]: [`Error::Disconnected`] once every sender that joined has
    /// left and no message is left, ...
    pub async fn recv(&mut self) -> Result<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives a message if one is there now; never waits.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; otherwise as [`recv`](Self::recv).
    pub fn try_recv(&mut self) -> Result<T> {
        Rx::recv_wait(self.rx(), Wait::Now)
    }
}

impl<T: Message> Drop for AsyncReceiver<T> {
    fn drop(&mut self) {
        if let Some(rx) = &mut self.rx {
            rx.set_bell(0);
        }
    }
}

/// Messages until every sender is gone: [`Error::Disconnected`] ends the stream.
impl<T: Message> futures_core::Stream for AsyncReceiver<T> {
    type Item = Result<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match ready!(self.get_mut().poll_recv(cx)) {
            Err(Error::Disconnected) => Poll::Ready(None),
            other => Poll::Ready(Some(other)),
        }
    }
}

impl<T: Message> fmt::Debug for AsyncReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncReceiver")
            .field("rx", &self.rx)
            .field("parks", &self.parks)
            .finish_non_exhaustive()
    }
}
