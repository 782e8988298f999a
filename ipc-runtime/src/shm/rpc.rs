//! Request/response over shared memory: a [`Server`] that answers many clients and a
//! [`Client`] that calls it, typed by a request and a response message; the transport of
//! a generated service (`#[ipc::service]`, [`crate::rpc`]) between processes of one
//! machine, where a call costs two cache-line moves instead of two kernel wake-ups.
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::shm::rpc::{Client, Server};
//! // process A
//! let mut server = Server::<u64, u64>::bind("pricing")?;
//! server.serve_clients(1, |n| n + 1)?;
//! // process B
//! let mut client = Client::<u64, u64>::connect("pricing")?;
//! assert_eq!(client.call(41)?, 42);
//! # Ok(()) }
//! ```
//!
//! # Design
//!
//! Every connection is **a pair of channels of its own** ([`super::Sender`] and
//! [`super::Receiver`], `channel.rs`): requests from the client to the server, answers
//! back. Each is the ordinary MPSC ring with one sender, so a connection inherits what a
//! channel guarantees and was tested for: a message is validated as its type before a
//! `&T` exists, a peer that dies is noticed (its OFD lock, watched through a pidfd), the
//! last end to leave unlinks the segment, and what a crash leaves is swept by the
//! automatic reclaim. A duplex segment of its own would have had to prove all that again;
//! the price is two headers per connection (a ring of small messages takes 8 KiB).
//!
//! - **Finding the server**: the server creates a *registry*, a channel of announcements
//!   named as the server (`ipc.<name>` under `/dev/shm`). A client opens it as a sender,
//!   announces itself (its pid and a number unique in its process), and leaves it.
//! - **A connection, found by name**: for each announcement, the server creates
//!   `<name>.c<pid>-<n>.q` (requests, the server receives) and `<name>.c<pid>-<n>.r`
//!   (answers, the server sends); the client opens both, waiting for them to appear, the
//!   answers first (opening the requests, its last step, wakes a parked server). So
//!   the segments are the server's, under its name as a prefix
//!   ([`remove_stale_with_prefix`](super::remove_stale_with_prefix) with the server's name
//!   reaches them), and **the schema check is the channel's**: a client whose request or
//!   response type differs from the server's (another version of a service) is refused
//!   with [`Error::SchemaMismatch`], whose `difference` names the first field that
//!   differs (for a generated service, the method). The server creates them, so the
//!   client cannot choose the names or sizes of what the server maps.
//! - **A dead client**: its channels' liveness lock goes with it; the server, parked or
//!   not, notices (the death notice rings its doorbell, see below) and drops both ends,
//!   and being the last participant, unlinks both segments. A client that announces and
//!   never opens its channels is dropped after the handshake timeout (10 s, or the
//!   server's [`Options::open_timeout`]).
//! - **A dead server**: the client's answer channel has no live sender left, and the
//!   client's pending call returns [`Error::Disconnected`] (a parked client is woken by
//!   the death notice within a millisecond or two; a spinning one probes every 5 ms).
//!   Its registry stays until the automatic sweep (or a server of that name) reclaims
//!   it; a client that finds it meanwhile is refused with [`Error::Disconnected`].
//! - **Answers never shift**: a client has at most one request in flight (a call that
//!   timed out leaves its answer owed, and the next call skips it before sending: the
//!   rings keep order), and a generated service also checks the sequence number its
//!   answer echoes. A client with more requests in flight than its answer ring holds does
//!   not follow the protocol: the server drops it rather than wait.
//! - **In place**: a generated client writes its request straight into the request's
//!   slot ([`super::Sender::loan`]) and reads the answer in its slot (a
//!   [`super::Sample`]); the generated server reads the request in its slot and writes
//!   the answer into the answer ring's loan (see [`crate::rpc`], "Requests and answers in
//!   place"). The server claims the answer's slot before it runs the handler and
//!   publishes it after; a server killed meanwhile leaves the slot claimed, which the
//!   client skips as any receiver skips a slot whose sender died, and its call returns
//!   [`Error::Disconnected`].
//! - **Hostile clients**: a request whose bytes are no `Req` ([`Error::InvalidMessage`])
//!   or a corrupt ring drops that connection; a generated server refuses arguments that
//!   are no values of their types with [`Error::Refused`] and closes the connection. The
//!   client then gets [`Error::Disconnected`]; the others are served on. Announcements are
//!   checked (a tag, a non-zero pid) and at most [`MAX_HANDSHAKES`] connections may be
//!   awaiting their client at once; further announcements wait in the registry (see
//!   "Concurrency and limits").
//!
//! # Waiting
//!
//! As the channels: spin, yield, then park ([`Options::wait`],
//! [`WaitStrategy`](crate::sync::WaitStrategy)). The client waits on its answer ring as
//! any receiver does. The server waits on every request ring and its registry at once: it
//! spins over their heads (one load each), and to park it uses **one doorbell**, the async
//! receivers' (`sync/bell.rs`): its token is in the header of each ring it receives, it
//! stores `rx_parked` in each, crosses one full barrier (`membarrier`), looks at every
//! head again and sleeps in `poll(2)` on the doorbell (and the shutdown eventfd). A
//! sender that publishes and finds `rx_parked` set rings the doorbell (one `sendto` per
//! park, none per message), and the death notices of every connection's client ring it
//! too. Steady traffic makes no system call on either side. While [`MAX_HANDSHAKES`]
//! connections await their client, the server takes no announcement, so it leaves the
//! registry out of its spin and its park (an announcement neither rings nor ends the
//! park): what frees a place wakes it, a client of the table opening its request ring
//! (the last step of its connect, a join, which rings as any sender's join does) or a
//! handshake's deadline (the park's limit).
//!
//! # Concurrency and limits
//!
//! The server answers every client from the thread that calls `serve`, one request at a
//! time in each connection's order (a handler may take `&mut self`); a slow handler delays
//! every client. The limits are the server's memory and `/dev/shm` (two segments per
//! client, each 64 slots of the message, or fewer down to 2 so that a ring holds at most
//! 1 MiB of messages, rounded up to pages: 2 × 8 KiB for small messages, 2 × 272 KiB
//! for 4 KiB ones); there is no limit of clients, nor of clients connecting at once.
//! The server sets up at most [`MAX_HANDSHAKES`] connections at a time; the announcements
//! of the others wait in the registry, unread, until one of those clients has opened its
//! channels or its handshake expired. An announcement whose process is gone by the time
//! the server reads it (`kill(pid, 0)` says so) gets no connection. A client that finds the registry's 64 slots full
//! waits for room, and one that finds its 63 sender places taken (by clients announcing
//! at that instant) retries; each waits until its connect's timeout (10 s, or
//! [`Options::open_timeout`]), so a crowd takes its turns.

#[cfg(feature = "tokio")]
mod async_client;
#[cfg(feature = "tokio")]
mod async_server;
mod server;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::channel::{Receiver, Sender};
use super::options::Options;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::rpc::Frame;

#[cfg(feature = "tokio")]
pub use async_client::AsyncClient;
#[cfg(feature = "tokio")]
pub use async_server::AsyncServer;
pub use server::{Server, MAX_HANDSHAKES};

/// How long a client has, by default, to find its connection's channels, and the server
/// to see its client open them.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// Slots of a connection's ring of messages of `size` bytes: 64, or fewer (at least 2)
/// so that the ring holds at most 1 MiB of messages. A client has one call in flight;
/// the room beyond lets the receiver hand slots back in batches of `slots / 8` (a store
/// and a cache line moved per batch rather than per message, see `ring.rs`).
fn conn_slots(size: usize) -> usize {
    let mut slots = 64;
    while slots > 2 && slots * size > 1 << 20 {
        slots /= 2;
    }
    slots
}
/// The first word of an announcement: "ipc-rpc" and a format version.
const TAG: u64 = u64::from_le_bytes(*b"ipc-rpc1");
/// Bytes a server's name may have, so that its connections' names fit (200 bytes).
const MAX_NAME: usize = 160;

/// What a client writes in the registry: [`TAG`], its pid, its connection number, 0.
type Announce = [u64; 4];

/// The names of connection `n` of process `pid` to the server `name`: (requests,
/// answers).
fn conn_names(name: &str, pid: u64, n: u64) -> (String, String) {
    (
        format!("{name}.c{pid}-{n}.q"),
        format!("{name}.c{pid}-{n}.r"),
    )
}

/// A request/response client over shared memory: sends `Req`, receives `Resp` (see the
/// [module docs](self)).
pub struct Client<Req: Message, Resp: Message> {
    tx: Sender<Req>,
    rx: Receiver<Resp>,
    /// Requests sent whose answers were not read (a call that timed out).
    outstanding: u64,
}

impl<Req: Message, Resp: Message> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to the [`Server`] named `name`: announces itself in its registry, then
    /// opens the two channels the server creates for it, checking that the server takes
    /// `Req` and answers `Resp`.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if no server has that name; [`Error::Disconnected`] if the
    /// server of that name is dead (its registry not yet reclaimed);
    /// [`Error::SchemaMismatch`] if the server's request or response type differs (the
    /// `difference` names the first field, for a service the method, that differs);
    /// [`Error::Timeout`] if the server did not create the connection within 10 s; as
    /// [`super::Sender::open`] otherwise.
    pub fn connect(name: &str) -> Result<Self> {
        Self::connect_with(name, Options::new())
    }

    /// As [`Client::connect`] with `opts`: the wait strategy of the client's waits, the
    /// mode check, and with [`Options::open_timeout`] how long to wait for the server to
    /// appear and then for the connection (10 s without it, and no wait for the server).
    ///
    /// # Errors
    ///
    /// As [`Client::connect`].
    pub fn connect_with(name: &str, opts: Options) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let until = Instant::now() + opts.open_timeout.unwrap_or(HANDSHAKE);
        let left = || until.saturating_duration_since(Instant::now());
        let pid = u64::from(std::process::id());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // Announce, then leave the registry (its 63 sender places are for announcing).
        let mut registry = loop {
            match Sender::<Announce>::open_with(name, opts.clone().linger(Duration::ZERO)) {
                Ok(s) => break s,
                // Every sender place taken by clients announcing right now.
                Err(Error::Busy { .. }) if !left().is_zero() => {
                    crate::shutdown::check_shutdown()?;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        };
        // The registry of a server that was killed stays until it is reclaimed: refuse
        // at once, as a socket whose listener is gone refuses.
        if registry.receiver_left() {
            return Err(Error::Disconnected);
        }
        registry.send_wait_until(&[TAG, pid, n, 0], &Wait::timeout(left()))?;
        drop(registry);
        let (q, r) = conn_names(name, pid, n);
        // The answers first: joining the request ring, the last step, wakes a parked
        // server, which then finds both channels opened (see `Server::park_begin`).
        let rx = Receiver::<Resp>::open_with(&r, opts.clone().open_timeout(left()))?;
        let tx = Sender::<Req>::open_with(&q, opts.open_timeout(left()).linger(Duration::ZERO))?;
        Ok(Client {
            tx,
            rx,
            outstanding: 0,
        })
    }

    fn call_until(&mut self, req: &Req, wait: &Wait) -> Result<Resp> {
        self.skip_owed(wait)?;
        self.tx.send_wait_until(req, wait)?;
        self.outstanding += 1;
        self.recv(wait)
    }

    /// Answers to calls that timed out come first: skips them (a good answer or one that
    /// is no `Resp`), so answers never shift.
    fn skip_owed(&mut self, wait: &Wait) -> Result<()> {
        while self.outstanding > 0 {
            if let Err(e) = self.recv(wait) {
                if !matches!(e, Error::InvalidMessage(_)) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Receives the next answer; an answer that is no `Resp` is consumed too.
    #[inline]
    fn recv(&mut self, wait: &Wait) -> Result<Resp> {
        let resp = self.rx.recv_copy(wait);
        // Looked at where it lies: a response of kilobytes is not moved out of the
        // `Result` and back in.
        if matches!(resp, Ok(_) | Err(Error::InvalidMessage(_))) {
            self.outstanding -= 1;
        }
        resp
    }

    /// Sends `req` and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the server is gone or dropped this client (after a
    /// request that was no `Req`, or a refusal); [`Error::InvalidMessage`] for an answer
    /// that is no `Resp`; [`Error::Shutdown`]; [`Error::Corrupt`] if a ring was
    /// overwritten.
    #[inline]
    pub fn call(&mut self, req: Req) -> Result<Resp> {
        self.call_until(&req, &Wait::Forever)
    }

    /// As [`Client::call`], giving up after `timeout` in all. An answer that arrives
    /// after its call timed out is skipped by the next call, so answers never shift.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the answer did not arrive in time; as [`Client::call`]
    /// otherwise.
    pub fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        self.call_until(&req, &Wait::timeout(timeout))
    }
}

impl<Req: Message, Resp: Message> crate::rpc::Call<Req, Resp> for Client<Req, Resp> {
    #[inline]
    fn call(&mut self, req: Req) -> Result<Resp> {
        Client::call(self, req)
    }

    fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        Client::call_timeout(self, req, timeout)
    }

    /// The request is written in its slot of the request ring ([`super::Sender::loan`])
    /// and the answer read in its slot of the answer ring (a [`super::Sample`]: a frame's
    /// every bit pattern is valid, so it is lent in place; `read` copies out and
    /// validates what it takes). Owed answers are skipped first, as by [`Client::call`].
    #[inline]
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
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        self.skip_owed(&wait)?;
        let mut loan = self.tx.loan_until(&wait)?;
        match loan.as_mut() {
            Some(slot) => write(slot),
            // Not for a generated frame (bytes and integers): a request built aside.
            None => {
                let mut req = Req::new(0, 0, 0);
                write(&mut req);
                loan.write(req);
            }
        }
        loan.send();
        self.outstanding += 1;
        let answer = self.rx.recv_in_place(&wait);
        if matches!(answer, Ok(_) | Err(Error::InvalidMessage(_))) {
            self.outstanding -= 1;
        }
        read(&*answer?)
    }
}
