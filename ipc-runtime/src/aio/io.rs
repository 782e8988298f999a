//! [`Io`]: a descriptor end and its registration with tokio's reactor, which it holds only
//! while it may have to wait.
//!
//! # Why not registered all the time
//!
//! A descriptor in an `epoll` set has an entry on the wait queue of what it reads from (a
//! pipe, a socket, a message queue), and every write that wakes that queue runs the
//! entry's callback in the *writer's* system call: a lock taken, the `epoll` set's ready
//! list looked at. A pipe that has ever been polled wakes its readers on every write, so
//! a stream of small messages pays it once per message. Measured here, a sync reader of
//! 8-byte messages from a sync writer moved 1.66–2.51 M messages/s (median 2.0), and 1.11–1.71 M
//! (median 1.35) with the read end merely sitting in an idle `epoll` set: a quarter of
//! the writer's time. An async end that stays registered pays that for its whole life.
//!
//! So an end that streams leaves the `epoll` set, and rejoins it when it has to wait: after
//! [`UNWATCH_AFTER`] receives in a row that found their message without waiting, the
//! registration is dropped ([`Io::settle`]); the next receive or send that finds nothing to
//! do registers again before it waits ([`Io::watched`]). Joining reports the descriptor's
//! state at once (`epoll` looks at it when it is added), so nothing that arrived between
//! the last try and the registration is missed. A request/response end waits for every
//! answer and never leaves; a stream that runs dry now and then pays two `epoll_ctl` calls
//! per dry spell instead of a callback per message.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;

use crate::error::{Error, Result};

/// Receives in a row, each without a wait, after which a streaming end leaves the reactor's
/// `epoll` set (see the [module docs](self)). Low enough that a stream spends most of its
/// messages outside the set; high enough that an end which waits every few messages (a
/// client, a server answering requests) does not leave and rejoin each time.
const UNWATCH_AFTER: u32 = 16;

/// The end, and a duplicate of its descriptor that the reactor watches.
pub(super) struct Registered<E> {
    pub(super) end: E,
    pub(super) dup: OwnedFd,
}

impl<E> AsRawFd for Registered<E> {
    fn as_raw_fd(&self) -> RawFd {
        self.dup.as_raw_fd()
    }
}

/// A descriptor end, registered with the reactor while it may wait (see the
/// [module docs](self)).
pub(super) struct Io<E> {
    state: State<E>,
    /// Receives in a row that found their message without a wait.
    streak: u32,
    /// A wait for writability may be pending (a send or flush returned `Pending`): its
    /// waker is the registration's, so the end does not leave the reactor until that
    /// wait ends.
    writing: bool,
}

enum State<E> {
    Watched(AsyncFd<Registered<E>>),
    Unwatched(Registered<E>),
    /// Only while [`Io::watched`] registers (a registration that panics leaves it so).
    Moving,
}

impl<E> Io<E> {
    /// The end, registered at once (as the end is made async, so that a runtime without
    /// an I/O driver is reported here).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the reactor refuses the descriptor.
    pub(super) fn new(end: E, dup: OwnedFd) -> Result<Self> {
        let mut io = Io {
            state: State::Unwatched(Registered { end, dup }),
            streak: 0,
            writing: false,
        };
        io.watched()?;
        Ok(io)
    }

    fn registered(&self) -> &Registered<E> {
        match &self.state {
            State::Watched(fd) => fd.get_ref(),
            State::Unwatched(r) => r,
            State::Moving => unreachable!("a registration panicked"),
        }
    }

    /// The end.
    pub(super) fn end(&self) -> &E {
        &self.registered().end
    }

    /// The end, mutably.
    pub(super) fn end_mut(&mut self) -> &mut E {
        match &mut self.state {
            State::Watched(fd) => &mut fd.get_mut().end,
            State::Unwatched(r) => &mut r.end,
            State::Moving => unreachable!("a registration panicked"),
        }
    }

    /// The end back, out of the reactor.
    pub(super) fn into_end(self) -> E {
        match self.state {
            State::Watched(fd) => fd.into_inner().end,
            State::Unwatched(r) => r.end,
            State::Moving => unreachable!("a registration panicked"),
        }
    }

    /// True while the end is in the reactor's `epoll` set.
    pub(super) fn is_watched(&self) -> bool {
        matches!(self.state, State::Watched(_))
    }

    /// The registration, made now if the end left the reactor: for a wait.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the reactor refuses the descriptor (outside a runtime with an I/O
    /// driver, say); the end stays as it was.
    pub(super) fn watched(&mut self) -> Result<&mut AsyncFd<Registered<E>>> {
        if let State::Unwatched(_) = self.state {
            // Tokio's registration panics outside a runtime: say so instead.
            if ::tokio::runtime::Handle::try_current().is_err() {
                return Err(crate::codec::io_error(
                    "tokio AsyncFd",
                    std::io::Error::other(
                        "no tokio runtime: an async end waits only inside one (within \
                         Runtime::block_on or a task it runs)",
                    ),
                ));
            }
            let State::Unwatched(r) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("matched just above")
            };
            let interest = Interest::READABLE | Interest::WRITABLE;
            // SAFETY: `Registered::as_raw_fd` returns `dup`, a descriptor it owns and
            // never replaces or closes while it lives, so it stays open and refers to the
            // same open file description until the `AsyncFd` is dropped or `into_inner`
            // returns it.
            match unsafe { AsyncFd::register_with_interest(r, interest) } {
                Ok(fd) => self.state = State::Watched(fd),
                Err(e) => {
                    let (r, cause) = e.into_parts();
                    self.state = State::Unwatched(r);
                    return Err(crate::codec::io_error("epoll_ctl (tokio AsyncFd)", cause));
                }
            }
        }
        match &mut self.state {
            State::Watched(fd) => Ok(fd),
            _ => unreachable!("registered just above"),
        }
    }

    /// A receive found its message without a wait: after [`UNWATCH_AFTER`] in a row the
    /// end leaves the reactor, unless a send is waiting for writability through it.
    pub(super) fn settle(&mut self) {
        self.streak = self.streak.saturating_add(1);
        if self.streak >= UNWATCH_AFTER && !self.writing {
            if let State::Watched(_) = self.state {
                let State::Watched(fd) = std::mem::replace(&mut self.state, State::Moving) else {
                    unreachable!("matched just above")
                };
                self.state = State::Unwatched(fd.into_inner());
            }
        }
    }

    /// A receive found nothing and will wait: the streak ends.
    pub(super) fn waited(&mut self) {
        self.streak = 0;
    }

    /// Whether a wait for writability may be pending (see [`Io::settle`]).
    pub(super) fn set_writing(&mut self, writing: bool) {
        self.writing = writing;
    }
}

/// The error of the reactor, as this crate's.
pub(super) fn reactor(e: std::io::Error) -> Error {
    crate::codec::io_error("tokio reactor", e)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::pipe;
    use crate::socket;

    fn runtime() -> ::tokio::runtime::Runtime {
        ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_streaming_receiver_leaves_the_reactor_and_rejoins_it_to_wait() {
        runtime().block_on(async {
            let (mut tx, rx) = pipe::channel::<u64>().unwrap();
            let mut rx = pipe::AsyncReceiver::from_sync(rx).unwrap();
            assert!(rx.io.is_watched());
            let n = 4 * u64::from(super::UNWATCH_AFTER);
            for i in 0..n {
                tx.send(i).unwrap();
            }
            for i in 0..n {
                assert_eq!(rx.recv().await.unwrap(), i);
            }
            assert!(
                !rx.io.is_watched(),
                "a receiver that streams leaves the reactor"
            );
            // Nothing there: the receive registers again and is woken by the next send.
            let late = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                tx.send(n).unwrap();
                tx
            });
            let got = ::tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
            assert_eq!(got.expect("woken after rejoining the reactor").unwrap(), n);
            assert!(rx.io.is_watched());
            drop(late.join().unwrap());
            assert!(matches!(rx.recv().await, Err(crate::Error::Disconnected)));
        });
    }

    #[test]
    fn an_end_out_of_the_reactor_waits_for_room_through_it() {
        runtime().block_on(async {
            let (a, b) = socket::Stream::<[u8; 1024]>::pair().unwrap();
            let mut a = socket::AsyncStream::from_sync(a).unwrap();
            let mut b = socket::AsyncStream::from_sync(b).unwrap();
            let n = 4 * u64::from(super::UNWATCH_AFTER);
            for i in 0..n {
                b.send([i as u8; 1024]).await.unwrap();
            }
            for i in 0..n {
                assert_eq!(a.recv().await.unwrap(), [i as u8; 1024]);
            }
            assert!(!a.io.is_watched());
            // Fill the socket from `a` until a send must wait, then drain it from `b`
            // in another task: the waiting send completes.
            let mut sent = 0u64;
            while a.try_send([1; 1024]).is_ok() {
                sent += 1;
            }
            let drain = ::tokio::spawn(async move {
                ::tokio::time::sleep(Duration::from_millis(50)).await;
                for _ in 0..=sent {
                    b.recv().await.unwrap();
                }
                b
            });
            let done = ::tokio::time::timeout(Duration::from_secs(10), a.send([2; 1024])).await;
            done.expect("the send woke when the peer drained").unwrap();
            drop(drain.await.unwrap());
        });
    }
}
