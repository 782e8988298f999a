//! A connection a request/response server has accepted and whose handshake is under way.
//!
//! The server's hello is written at accept, without waiting (a fresh socket has room for
//! it); the client's is read as its bytes arrive, without waiting either: the serving
//! loop polls a pending connection beside the connections it serves and reads whatever
//! has come when `poll(2)` says so. Each pending connection has a deadline of its own
//! (accept time + handshake timeout), after which the loop drops it. So a client that
//! connects and says nothing, or says its hello a byte at a time, costs the others
//! nothing but a descriptor in the poll set.
//!
//! The client's hello is read without a byte past its end (see [`Hello`]): requests the
//! client sent right behind it stay in the socket, and the connection's receiving half
//! reads them first once the handshake is whole.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use super::conn::{self, End, Hello, Receiver, Sender};
use super::sys::Wait;
use crate::deadline::deadline_after;
use crate::error::{Error, Result};
use crate::message::Message;

/// An accepted connection whose peer's handshake (announcing `In`) is not yet whole; ours
/// (announcing `Out`) is sent.
pub(crate) struct Pending<Out, In> {
    tx: Sender<Out>,
    hello: Hello<In>,
    /// When the connection is dropped if its handshake is still not whole; `None` for a
    /// timeout the clock cannot represent (never).
    deadline: Option<Instant>,
}

impl<Out: Message, In: Message> Pending<Out, In> {
    /// Sends our handshake on the accepted `fd` without waiting; the peer then has
    /// `timeout` from now to send its own.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if the socket has no room for our whole handshake (a fresh socket
    /// always has): the peer is dropped rather than waited for. As [`conn::start`]
    /// otherwise.
    pub(crate) fn start(fd: OwnedFd, timeout: Duration) -> Result<Self> {
        Self::greeted(conn::start::<Out>(fd, Wait::Now)?, Hello::new(), timeout)
    }

    /// As [`Pending::start`], for a request/response server: sends both records of its
    /// handshake (it answers `Out` and takes `In`), and expects both of the client's, so
    /// that a client of another request or response type is refused here.
    ///
    /// # Errors
    ///
    /// As [`Pending::start`].
    pub(crate) fn start_rpc(fd: OwnedFd, timeout: Duration) -> Result<Self> {
        let tx = conn::start_rpc::<Out, In>(fd, Wait::Now)?;
        Self::greeted(tx, Hello::rpc::<Out>(End::Server), timeout)
    }

    /// The pending handshake whose greeting `tx` sent, awaiting the peer's `hello`.
    fn greeted(mut tx: Sender<Out>, hello: Hello<In>, timeout: Duration) -> Result<Self> {
        if tx.pending() > 0 {
            // Only part of it went out. Keeping the tail would need a write to wait for
            // room (dropping the sender waits for it), so this client goes.
            tx.abandon();
            return Err(Error::Full);
        }
        Ok(Pending {
            tx,
            hello,
            deadline: deadline_after(timeout),
        })
    }

    /// When this connection is dropped if its handshake is not whole by then.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// True once the deadline has passed at `now`.
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|at| now >= at)
    }

    /// Reads what has arrived of the peer's handshake, without waiting: true once it is
    /// whole and checked, false while more is awaited.
    ///
    /// # Errors
    ///
    /// As [`Hello::read`]: the peer left ([`Error::Disconnected`]), sent what is not a
    /// handshake ([`Error::Corrupt`]) or announced another type
    /// ([`Error::SchemaMismatch`]; from a request/response client, another request type
    /// or another response type). The connection is then to be dropped.
    pub(crate) fn advance(&mut self) -> Result<bool> {
        match self.hello.read(self.tx.as_fd(), Wait::Now) {
            Ok(()) => Ok(true),
            Err(Error::Empty) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The connection's two halves, once [`Pending::advance`] said the handshake is
    /// whole; the receiving half takes at most `max_fds` descriptors per message.
    ///
    /// # Errors
    ///
    /// As [`Hello::into_halves`].
    pub(crate) fn into_halves(self, max_fds: usize) -> Result<(Sender<Out>, Receiver<In>)> {
        self.hello.into_halves(self.tx, max_fds)
    }
}

impl<Out, In> AsFd for Pending<Out, In> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tx.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use super::*;
    use crate::codec;

    /// A connected pair: the server's end as a pending handshake, the client's raw.
    fn pair<Out: Message, In: Message>(timeout: Duration) -> (Pending<Out, In>, UnixStream) {
        let (server, client) = UnixStream::pair().unwrap();
        (
            Pending::start(OwnedFd::from(server), timeout).unwrap(),
            client,
        )
    }

    #[test]
    fn a_hello_read_a_byte_at_a_time_keeps_what_follows_it() {
        let (mut p, mut client) = pair::<u64, u32>(Duration::from_secs(60));
        // Our hello went out at once.
        let ours = codec::hello::<u64>();
        let mut got = vec![0; ours.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, ours);
        let mut wire = codec::hello::<u32>();
        let hello_len = wire.len();
        codec::write_message(&mut wire, &7u32).unwrap();
        codec::write_message(&mut wire, &8u32).unwrap();
        assert!(!p.advance().unwrap(), "nothing has arrived");
        for &b in &wire[..hello_len - 1] {
            client.write_all(&[b]).unwrap();
            assert!(!p.advance().unwrap(), "the hello is not whole yet");
        }
        // The last byte of the hello and two requests behind it, in one write.
        client.write_all(&wire[hello_len - 1..]).unwrap();
        assert!(p.advance().unwrap(), "the hello is whole");
        let (_tx, mut rx) = p.into_halves(0).unwrap();
        let wait = Wait::timeout(Duration::from_secs(10));
        assert_eq!(rx.recv_inner(wait).unwrap(), 7);
        assert_eq!(rx.recv_inner(wait).unwrap(), 8);
    }

    #[test]
    fn garbage_is_refused_once_a_header_is_in() {
        let (mut p, mut client) = pair::<u64, u32>(Duration::from_secs(60));
        client.write_all(b"GET / HT").unwrap();
        let err = p.advance().unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    }

    #[test]
    fn another_schema_is_refused() {
        let (mut p, mut client) = pair::<u64, u32>(Duration::from_secs(60));
        client.write_all(&codec::hello::<u16>()).unwrap();
        let err = p.advance().unwrap_err();
        // The client's hello carries its schema tree: the error says how the two differ.
        assert!(
            matches!(&err, Error::SchemaMismatch { difference: Some(d), .. }
                if d.contains("u32") && d.contains("u16")),
            "{err:?}"
        );
    }

    /// A request/response server's end (answering `u64`, taking `u32`), and the
    /// client's raw end, whose greeting has been read off.
    fn rpc_pair() -> (Pending<u64, u32>, UnixStream) {
        let (server, mut client) = UnixStream::pair().unwrap();
        let p = Pending::start_rpc(OwnedFd::from(server), Duration::from_secs(60)).unwrap();
        let ours = codec::rpc_hello::<u64, u32>();
        let mut got = vec![0; ours.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(
            got, ours,
            "both records of the server's greeting went out at once"
        );
        (p, client)
    }

    #[test]
    fn a_request_response_client_is_checked_on_both_types() {
        // Another request type, or another response type: each is named.
        for (wire, which) in [
            (
                codec::rpc_hello::<u16, u64>(),
                "the request type, which the client sends",
            ),
            (
                codec::rpc_hello::<u32, u16>(),
                "the response type, which the client takes",
            ),
        ] {
            let (mut p, mut client) = rpc_pair();
            client.write_all(&wire).unwrap();
            let err = p.advance().unwrap_err();
            assert!(
                matches!(&err, Error::SchemaMismatch { difference: Some(d), .. }
                    if d.starts_with(which) && d.contains("u16")),
                "{err:?}"
            );
        }
        // A plain stream end's handshake, a request behind it.
        let (mut p, mut client) = rpc_pair();
        let mut wire = codec::hello::<u32>();
        codec::write_message(&mut wire, &7u32).unwrap();
        client.write_all(&wire).unwrap();
        let err = p.advance().unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("type it takes")),
            "{err:?}"
        );
        // The right client, a byte at a time, its requests behind its handshake.
        let (mut p, mut client) = rpc_pair();
        let mut wire = codec::rpc_hello::<u32, u64>();
        let hello_len = wire.len();
        codec::write_message(&mut wire, &7u32).unwrap();
        for &b in &wire[..hello_len - 1] {
            client.write_all(&[b]).unwrap();
            assert!(!p.advance().unwrap(), "the handshake is not whole yet");
        }
        client.write_all(&wire[hello_len - 1..]).unwrap();
        assert!(p.advance().unwrap(), "the handshake is whole");
        let (_tx, mut rx) = p.into_halves(0).unwrap();
        let wait = Wait::timeout(Duration::from_secs(10));
        assert_eq!(rx.recv_inner(wait).unwrap(), 7);
    }

    #[test]
    fn a_peer_that_leaves_midway_is_disconnected() {
        let (mut p, mut client) = pair::<u64, u32>(Duration::from_secs(60));
        client.write_all(&codec::hello::<u32>()[..5]).unwrap();
        assert!(!p.advance().unwrap());
        drop(client);
        let err = p.advance().unwrap_err();
        assert!(matches!(err, Error::Disconnected), "{err:?}");
    }

    #[test]
    fn the_deadline_is_the_accept_time_plus_the_timeout() {
        let before = Instant::now();
        let (p, _client) = pair::<u64, u32>(Duration::from_secs(30));
        let at = p.deadline().unwrap();
        assert!(at >= before + Duration::from_secs(30));
        assert!(!p.expired(at - Duration::from_nanos(1)));
        assert!(p.expired(at));
        let (never, _client) = pair::<u64, u32>(Duration::MAX);
        assert_eq!(never.deadline(), None);
        assert!(!never.expired(at + Duration::from_secs(1 << 40)));
    }
}
