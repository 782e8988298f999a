//! Typed services: the transports a `#[ipc::service]` client calls through ([`Call`]) and
//! its server answers through ([`Serve`]).
//!
//! `#[ipc::service]` on a trait generates a request and a response message, a client
//! with one method per trait method, and a server that dispatches to an implementation
//! of the trait (see the macro's documentation in the facade). The generated code knows
//! nothing of the transport: it calls any [`Call`] and serves any [`Serve`]. Both are
//! implemented by the request/response ends of shared memory ([`crate::shm::rpc`]), of
//! [`crate::socket`] (Unix stream sockets) and of [`crate::tcp`]; their async twins
//! (feature `tokio`) implement [`AsyncCall`] and [`AsyncServe`], which the generated
//! async client and `serve_async` use:
//!
//! | transport | client | server | a connection |
//! |---|---|---|---|
//! | shared memory | [`shm::rpc::Client`](crate::shm::rpc::Client) (async: [`shm::rpc::AsyncClient`](crate::shm::rpc::AsyncClient)) | [`shm::rpc::Server`](crate::shm::rpc::Server) (async: [`shm::rpc::AsyncServer`](crate::shm::rpc::AsyncServer)) | a pair of rings per client, found by name |
//! | Unix stream socket | [`socket::Client`](crate::socket::Client) | [`socket::Server`](crate::socket::Server) | a socket |
//! | TCP | [`tcp::Client`](crate::tcp::Client) | [`tcp::Server`](crate::tcp::Server) | a socket |
//!
//! # The server's concurrency
//!
//! Every server answers all its clients from the one thread that calls `serve`, each
//! request in its connection's order, one handler call at a time (so a handler may take
//! `&mut self` without a lock). A slow handler delays every client; run several servers
//! (each with its own name or listener) for parallel handlers. The socket servers wait in
//! `poll(2)` over the listener and every connection; their limits are the process's
//! descriptors (one per client) and the socket buffers: a client that does not read its
//! answers is set aside and dropped after the handshake timeout, without holding up the
//! others. The shared-memory server spins over every connection's request ring, then
//! parks on one doorbell for all of them; its limits are memory (two rings per client)
//! and the protocol's one call in flight per client: a client whose answers do not fit in
//! its ring is dropped (see [`crate::shm::rpc`]).
//!
//! # Requests and answers in place
//!
//! A generated client calls through [`Call::call_in_place`] and a generated server serves
//! through [`Serve::serve_in_place`]: the request is written, and the answer read, where
//! the transport keeps them. Over shared memory that is the slot of each in its ring, so
//! a call copies its arguments once (into the request's slot), the server copies them
//! once (out of it, to validate a private copy) and its result once (into the answer's
//! slot), and the client copies the result once (out of its slot): what a hand-written
//! request/response of the same payload costs. The Unix and TCP ends read what they
//! receive in their receive buffer (validated there: the buffer is the process's own)
//! and send frames built on the stack; a transport that overrides neither method gets
//! the defaults, which build the frames on the stack and go through `call` and
//! `serve_replies`. Every
//! byte of a frame written in place is written (header, value, zeros after it), so
//! nothing of an earlier message in a reused slot is sent; arguments and results are
//! copied out of the frame before they are validated, so a peer that writes the slot
//! meanwhile cannot make an invalid value.
//!
//! # Answers never shift
//!
//! Each request carries a sequence number that its answer echoes, besides the method id.
//! A call that timed out leaves its answer on the way; the next call on that client
//! skips it (the transports count the requests whose answers were not read), and the
//! generated client checks the number of the answer it gets, so an answer can never be
//! taken for another call's.

mod frame;

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use crate::error::Result;

pub use frame::Frame;
#[doc(hidden)]
pub use frame::{
    answer, args, call, call_async, fill, max, pad_after, refuse, result, round_up, value, ERR,
    INVALID_ARGS, OK, UNKNOWN_METHOD,
};

/// What a server sends back for one request: an answer, or an answer after which the
/// connection is closed (a refusal of a client that does not follow the protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<Resp> {
    /// Answer, and go on serving this client.
    Answer(Resp),
    /// Answer, then close this client's connection.
    Close(Resp),
}

/// The calling end of a request/response transport: sends a `Req`, returns its `Resp`.
///
/// Implemented by [`shm::rpc::Client`](crate::shm::rpc::Client),
/// [`socket::Client`](crate::socket::Client) and [`tcp::Client`](crate::tcp::Client); a
/// generated service client calls through it.
pub trait Call<Req, Resp> {
    /// Sends `req` and waits for its response.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`](crate::Error::Disconnected) if the server is gone; the
    /// transport's receive errors for a bad response.
    fn call(&mut self, req: Req) -> Result<Resp>;

    /// As [`Call::call`], giving up after `timeout`. The response of a call that timed
    /// out is never returned by a later call.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`](crate::Error::Timeout) if the response did not arrive in time,
    /// as [`Call::call`] otherwise.
    fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp>;

    /// A call whose request and answer stay where the transport keeps them: `write` fills
    /// the request in place (a shared-memory client lends it the request's slot in the
    /// ring) and `read` reads the answer in place (in its slot), so neither is copied
    /// through the stack. `timeout` bounds the whole call as [`Call::call_timeout`]'s
    /// does (`None`: [`Call::call`]).
    ///
    /// `write` is given a frame holding the bytes of an earlier frame (or zeros): it must
    /// write every byte it means to send. `read` is called once, with the answer, if
    /// one came; its error is the call's.
    ///
    /// The frames are those `#[ipc::service]` generates, and the generated client calls
    /// through this method. The default builds the request on the stack and goes
    /// through [`Call::call`] or [`Call::call_timeout`]; the clients of shared memory,
    /// Unix sockets and TCP override it.
    ///
    /// # Errors
    ///
    /// As [`Call::call_timeout`], and `read`'s.
    fn call_in_place(
        &mut self,
        write: &mut dyn FnMut(&mut Req),
        read: &mut dyn FnMut(&Resp) -> Result<()>,
        timeout: Option<Duration>,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        let mut req = Req::new(0, 0, 0);
        write(&mut req);
        let resp = match timeout {
            None => self.call(req)?,
            Some(t) => self.call_timeout(req, t)?,
        };
        read(&resp)
    }
}

/// The answering end of a request/response transport: runs a handler on every request
/// of every client.
///
/// Implemented by [`shm::rpc::Server`](crate::shm::rpc::Server),
/// [`socket::Server`](crate::socket::Server) and [`tcp::Server`](crate::tcp::Server); a
/// generated service server serves through it.
/// Object-safe: `&mut dyn Serve<Req, Resp>` picks the transport at run time.
pub trait Serve<Req, Resp> {
    /// Answers each request with what `handler` replies, until `clients` connections
    /// have ended (forever if `None`). A [`Reply::Close`] drops that client after its
    /// answer.
    ///
    /// # Errors
    ///
    /// A system error of the listener itself, or [`Error::Shutdown`](crate::Error::Shutdown)
    /// once shutdown is requested; an error of one client only drops that client.
    fn serve_replies(
        &mut self,
        clients: Option<usize>,
        handler: &mut dyn FnMut(Req) -> Reply<Resp>,
    ) -> Result<()>;

    /// As [`Serve::serve_replies`] without a client count: returns only with an error.
    ///
    /// # Errors
    ///
    /// As [`Serve::serve_replies`].
    fn serve_forever(&mut self, handler: &mut dyn FnMut(Req) -> Reply<Resp>) -> Result<Infallible> {
        loop {
            self.serve_replies(None, handler)?;
        }
    }

    /// As [`Serve::serve_replies`], the request read and the answer written where the
    /// transport keeps them: `handler` reads the request in place (in its slot, for the
    /// shared-memory server) and writes the whole answer into the frame it is lent (the
    /// answer's slot), which holds the bytes of an earlier frame: it must write every
    /// byte. [`Reply::Close`] drops that client after the answer.
    ///
    /// The frames are those `#[ipc::service]` generates, and the generated server serves
    /// through this method. The default lends a zeroed frame on the stack and goes
    /// through [`Serve::serve_replies`]; the servers of shared memory, Unix sockets and
    /// TCP override it.
    ///
    /// # Errors
    ///
    /// As [`Serve::serve_replies`].
    fn serve_in_place(
        &mut self,
        clients: Option<usize>,
        handler: &mut dyn FnMut(&Req, &mut Resp) -> Reply<()>,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        self.serve_replies(clients, &mut |req| {
            let mut resp = Resp::new(0, 0, 0);
            match handler(&req, &mut resp) {
                Reply::Answer(()) => Reply::Answer(resp),
                Reply::Close(()) => Reply::Close(resp),
            }
        })
    }
}

/// The calling end of an async request/response transport: [`Call`] for tokio, which a
/// generated service's async client (`PricingAsyncClient`) calls through.
///
/// Implemented (feature `tokio`) by
/// [`socket::AsyncClient`](crate::socket::AsyncClient),
/// [`tcp::AsyncClient`](crate::tcp::AsyncClient) and
/// [`shm::rpc::AsyncClient`](crate::shm::rpc::AsyncClient). The trait
/// itself needs no runtime.
pub trait AsyncCall<Req, Resp> {
    /// Sends `req` and waits for its response, without blocking the thread. Dropping
    /// the future after the request went leaves its response owed: the next call skips
    /// it.
    ///
    /// # Errors
    ///
    /// As [`Call::call`].
    fn call(&mut self, req: Req) -> impl Future<Output = Result<Resp>> + Send;

    /// As [`AsyncCall::call`], giving up after `timeout` (the late response is never
    /// returned by a later call).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`](crate::Error::Timeout) if the response did not arrive in time,
    /// as [`AsyncCall::call`] otherwise.
    fn call_timeout(
        &mut self,
        req: Req,
        timeout: Duration,
    ) -> impl Future<Output = Result<Resp>> + Send;
}

/// The answering end of an async request/response transport: [`Serve`] for tokio, which
/// a generated service's server serves through (`serve_async`).
///
/// Implemented (feature `tokio`) by [`socket::AsyncServer`](crate::socket::AsyncServer)
/// and [`tcp::AsyncServer`](crate::tcp::AsyncServer), which serve each client in a task
/// of its own, and by [`shm::rpc::AsyncServer`](crate::shm::rpc::AsyncServer), which
/// serves every client from one task (the sync shared-memory server's loop, parking on
/// its doorbell through the reactor).
pub trait AsyncServe<Req, Resp> {
    /// Answers each request with what `handler` replies, until `clients` connections
    /// have ended (forever if `None`). A [`Reply::Close`] drops that client after its
    /// answer.
    ///
    /// # Errors
    ///
    /// As [`Serve::serve_replies`].
    fn serve_with<H>(
        &mut self,
        clients: Option<usize>,
        handler: H,
    ) -> impl Future<Output = Result<()>> + Send
    where
        H: Fn(Req) -> Reply<Resp> + Send + Sync + 'static;
}

/// How a server's loop answers a request: what [`Serve::serve_replies`] or
/// [`Serve::serve_in_place`] was given.
pub(crate) enum Handler<'a, Req, Resp> {
    /// By value: the request copied out of where it arrived, the answer copied in.
    Value(&'a mut dyn FnMut(Req) -> Reply<Resp>),
    /// In place: the request read where it arrived, the answer written where it goes
    /// (or, where that cannot be lent, into the blank frame the function makes).
    InPlace(
        &'a mut dyn FnMut(&Req, &mut Resp) -> Reply<()>,
        fn() -> Resp,
    ),
}

impl<Req, Resp, T: Call<Req, Resp> + ?Sized> Call<Req, Resp> for &mut T {
    fn call(&mut self, req: Req) -> Result<Resp> {
        (**self).call(req)
    }

    fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        (**self).call_timeout(req, timeout)
    }

    fn call_in_place(
        &mut self,
        write: &mut dyn FnMut(&mut Req),
        read: &mut dyn FnMut(&Resp) -> Result<()>,
        timeout: Option<Duration>,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        (**self).call_in_place(write, read, timeout)
    }
}

impl<Req, Resp, T: Call<Req, Resp> + ?Sized> Call<Req, Resp> for Box<T> {
    fn call(&mut self, req: Req) -> Result<Resp> {
        (**self).call(req)
    }

    fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        (**self).call_timeout(req, timeout)
    }

    fn call_in_place(
        &mut self,
        write: &mut dyn FnMut(&mut Req),
        read: &mut dyn FnMut(&Resp) -> Result<()>,
        timeout: Option<Duration>,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        (**self).call_in_place(write, read, timeout)
    }
}
