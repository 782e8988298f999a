//! The answering end of shared-memory request/response: the registry clients announce
//! themselves in, the connections the server creates for them, and the serving loop that
//! spins over every request ring, then parks on one doorbell for all of them (see the
//! module docs of `shm/rpc.rs`).

use std::convert::Infallible;
use std::fmt;
use std::time::{Duration, Instant};

use super::{conn_names, conn_slots, Announce, HANDSHAKE, MAX_NAME, TAG};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::rpc::Reply;
use crate::shm::channel::{Announced, Receiver, Sender};
use crate::shm::options::Options;
use crate::shm::watch::LONGEST_SLEEP;
use crate::sync::bell::Bell;
use crate::sync::fence;
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{Backoff, WaitStrategy};

/// The most connections that may be awaiting their client (announced, not yet opened by
/// it) at once; further announcements are ignored until some complete or expire.
pub const MAX_HANDSHAKES: usize = 64;

/// How often a spinning server probes its clients' liveness.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// One client's connection: its requests in, its answers out.
struct Conn<Req: Message, Resp: Message> {
    rx: Receiver<Req>,
    tx: Sender<Resp>,
    /// Until the client has opened both channels: when the server gives up on it.
    handshake: Option<Instant>,
}

/// A request/response server over shared memory: receives `Req`, answers `Resp`, for any
/// number of clients, from the thread that calls `serve` (see the [module
/// docs](super)).
///
/// Dropping it closes every connection (the clients' pending and later calls return
/// [`Error::Disconnected`]) and removes its registry.
pub struct Server<Req: Message, Resp: Message> {
    name: String,
    registry: Receiver<Announce>,
    bell: Bell,
    conns: Vec<Conn<Req, Resp>>,
    /// The options each connection's channels are created with.
    conn_opts: Options,
    wait: WaitStrategy,
    handshake: Duration,
}

impl<Req: Message, Resp: Message> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("clients", &self.clients())
            .field("handshaking", &(self.conns.len() - self.clients()))
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    /// Creates the server `name`: its registry, a channel under `/dev/shm` (see
    /// [`super::Receiver::create`]; a registry that crashed processes left is reclaimed).
    ///
    /// # Errors
    ///
    /// As [`Server::bind_with`].
    pub fn bind(name: &str) -> Result<Self> {
        Self::bind_with(name, Options::new())
    }

    /// As [`Server::bind`] with `opts`: the wait strategy of the serving loop, the mode
    /// and backing of the registry and of every connection, and with
    /// [`Options::open_timeout`] how long an announced client has to open its
    /// connection (10 s without it).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name that is not a segment name or is longer than 160
    /// bytes (its connections' names must fit); [`Error::AlreadyExists`] if a live
    /// server (or anything else) has that name; [`Error::Io`] if the doorbell socket
    /// cannot be bound; as [`super::Receiver::create`] otherwise.
    pub fn bind_with(name: &str, opts: Options) -> Result<Self> {
        if name.len() > MAX_NAME {
            return Err(Error::InvalidName {
                name: name.to_owned(),
                reason: "a server's name may have at most 160 bytes, so that its \
                         connections' names fit",
            });
        }
        let bell = Bell::new()?;
        let mut registry =
            Receiver::<Announce>::create(name, opts.clone().capacity(64).linger(Duration::ZERO))?;
        registry.ring_on(bell.token());
        let handshake = opts.open_timeout.unwrap_or(HANDSHAKE);
        let wait = opts.wait;
        let mut conn_opts = opts.linger(Duration::ZERO);
        conn_opts.open_timeout = None;
        Ok(Server {
            name: name.to_owned(),
            registry,
            bell,
            conns: Vec::new(),
            conn_opts,
            wait,
            handshake,
        })
    }

    /// The name clients connect to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connections whose client has opened both channels.
    pub fn clients(&self) -> usize {
        self.conns.iter().filter(|c| c.handshake.is_none()).count()
    }

    /// Answers requests from every client with `handler`, forever.
    ///
    /// # Errors
    ///
    /// Returns only with [`Error::Shutdown`] once shutdown is requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)), or [`Error::Corrupt`] if the
    /// registry was overwritten; an error of one client only drops that client.
    pub fn serve(&mut self, mut handler: impl FnMut(Req) -> Resp) -> Result<Infallible> {
        let mut handler = |req| Reply::Answer(handler(req));
        loop {
            self.run(&mut handler, None)?;
        }
    }

    /// Answers requests with `handler` until `clients` connections have ended (a
    /// connection counts once its client opened it; one whose client never did, given up
    /// after the handshake timeout, does not). Connections still open when this returns
    /// stay for the next call.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    pub fn serve_clients(
        &mut self,
        clients: usize,
        mut handler: impl FnMut(Req) -> Resp,
    ) -> Result<()> {
        let mut handler = |req| Reply::Answer(handler(req));
        self.run(&mut handler, Some(clients))
    }

    /// The serving loop: spins over the registry's and every request ring's head, answers
    /// what it finds, probes the clients' liveness every [`CHECK_EVERY`] while it spins
    /// and after each park, and parks when the wait strategy says so.
    fn run(
        &mut self,
        handler: &mut dyn FnMut(Req) -> Reply<Resp>,
        mut clients: Option<usize>,
    ) -> Result<()> {
        let mut backoff = Backoff::new(self.wait);
        let mut last_probe = Instant::now();
        let mut turns: u32 = 0;
        loop {
            if clients == Some(0) {
                return Ok(());
            }
            let mut worked = false;
            if self.registry.message_at_head() {
                self.accept()?;
                worked = true;
            }
            let mut i = 0;
            while i < self.conns.len() {
                if self.conns[i].rx.message_at_head() {
                    worked = true;
                    if !Self::answer(&mut self.conns[i], handler)? {
                        self.end(i, &mut clients);
                        continue;
                    }
                }
                i += 1;
            }
            // Every 1,024 turns, busy or not, a look at the clock: a server kept busy by
            // some clients still notices the death of another, and shutdown.
            turns = turns.wrapping_add(1);
            if turns % 1024 == 0 {
                let now = Instant::now();
                if now.duration_since(last_probe) >= CHECK_EVERY {
                    self.probe(&mut clients, now)?;
                    last_probe = now;
                }
            }
            if worked {
                backoff = Backoff::new(self.wait);
                continue;
            }
            if backoff.snooze() == Step::Park {
                let now = Instant::now();
                if now.duration_since(last_probe) >= CHECK_EVERY {
                    self.probe(&mut clients, now)?;
                    last_probe = now;
                }
                if clients == Some(0) {
                    // The last client to count ended in a probe of this turn: no park.
                    return Ok(());
                }
                if self.park() {
                    self.probe(&mut clients, Instant::now())?;
                    last_probe = Instant::now();
                }
            }
        }
    }

    /// Answers the request at the head of `c`; false once the connection is finished
    /// (the client left, sent bytes that are no `Req`, has no room for its answer, or was
    /// refused with [`Reply::Close`]).
    #[inline]
    fn answer(
        c: &mut Conn<Req, Resp>,
        handler: &mut dyn FnMut(Req) -> Reply<Resp>,
    ) -> Result<bool> {
        let req = match c.rx.recv_copy(&Wait::Now) {
            Ok(req) => req,
            // A slot given up by a sender that died: nothing to answer.
            Err(Error::Empty) => return Ok(true),
            Err(Error::Shutdown) => return Err(Error::Shutdown),
            // Garbage, a corrupt ring, or the client gone: drop it, serve the others.
            Err(_) => return Ok(false),
        };
        // By reference: the answer is copied once, into its slot.
        let reply = handler(req);
        let (resp, close) = match &reply {
            Reply::Answer(resp) => (resp, false),
            Reply::Close(resp) => (resp, true),
        };
        // Never waits: a client with no room for its answer has more calls in flight
        // than the protocol allows.
        Ok(c.tx.offer(resp).is_ok() && !close)
    }

    /// Drops connection `i` (both ends: being their last participant, the server unlinks
    /// them once the client has left too), counting it if its client had opened it (also
    /// one that did and ended before a probe saw its handshake complete).
    fn end(&mut self, i: usize, clients: &mut Option<usize>) {
        let c = self.conns.swap_remove(i);
        if c.handshake.is_none() || c.rx.sender_joined() {
            if let Some(n) = clients.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Reads every announcement in the registry and creates each client's connection.
    fn accept(&mut self) -> Result<()> {
        loop {
            let announce = match self.registry.recv_copy(&Wait::Now) {
                Ok(a) => a,
                Err(Error::Empty | Error::Disconnected | Error::InvalidMessage(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            let [tag, pid, n, _] = announce;
            let handshaking = self.conns.len() - self.clients();
            if tag != TAG || pid == 0 || pid > u64::from(u32::MAX) || handshaking >= MAX_HANDSHAKES
            {
                continue;
            }
            // A name taken (by a live segment: another announcement of the same numbers)
            // or no room in /dev/shm: that client times out, the others are served.
            if let Ok(conn) = self.open_conn(pid, n) {
                self.conns.push(conn);
            }
        }
    }

    /// Creates connection `n` of process `pid`.
    fn open_conn(&self, pid: u64, n: u64) -> Result<Conn<Req, Resp>> {
        let (q, r) = conn_names(&self.name, pid, n);
        let slots = |size| self.conn_opts.clone().capacity(conn_slots(size));
        let tx = Sender::<Resp>::create(&r, slots(size_of::<Resp>()))?;
        let mut rx = Receiver::<Req>::create(&q, slots(size_of::<Req>()))?;
        rx.ring_on(self.bell.token());
        Ok(Conn {
            rx,
            tx,
            handshake: Some(Instant::now() + self.handshake),
        })
    }

    /// Probes the registry and every connection: a connection whose client died, or whose
    /// handshake expired, is dropped.
    fn probe(&mut self, clients: &mut Option<usize>, now: Instant) -> Result<()> {
        // Gives up announcement slots claimed by clients that died meanwhile.
        self.registry.probe()?;
        let mut i = 0;
        while i < self.conns.len() {
            let c = &mut self.conns[i];
            if let Some(at) = c.handshake {
                if c.rx.sender_joined() && c.tx.receiver_joined() {
                    c.handshake = None;
                } else if now >= at {
                    self.end(i, clients);
                    continue;
                }
            }
            match c.rx.probe() {
                Ok(true) => i += 1,
                Err(Error::Shutdown) => return Err(Error::Shutdown),
                // The client is gone, or its ring is corrupt.
                _ => self.end(i, clients),
            }
        }
        Ok(())
    }

    /// Parks on the doorbell until a client publishes a request, announces itself, joins,
    /// leaves or dies, shutdown is requested, or a handshake's deadline passes. True if
    /// the caller must probe liveness before the next park.
    fn park(&mut self) -> bool {
        let mut fresh = false;
        let mut watched = true;
        for announced in core::iter::once(self.registry.announce_park())
            .chain(self.conns.iter_mut().map(|c| c.rx.announce_park()))
            .collect::<Vec<_>>()
        {
            match announced {
                Announced::Fresh => fresh = true,
                Announced::Watched => {}
                Announced::Unwatched => watched = false,
            }
        }
        // One barrier for every ring: then a sender that published before it is seen
        // below, and one that publishes after it sees `rx_parked`.
        let fenced = fence::heavy();
        let ready =
            self.registry.message_at_head() || self.conns.iter().any(|c| c.rx.message_at_head());
        if !fresh && !ready {
            let mut limit = match (watched, fenced) {
                (true, true) => LONGEST_SLEEP,
                (_, true) => PARK_SLICE,
                _ => PARK_SLICE.min(fence::UNFENCED_SLICE),
            };
            let now = Instant::now();
            for at in self.conns.iter().filter_map(|c| c.handshake) {
                limit = limit.min(at.saturating_duration_since(now));
            }
            self.bell.wait(limit);
        }
        let mut probe = fresh | self.registry.end_park();
        for c in &mut self.conns {
            probe |= c.rx.end_park();
        }
        probe
    }
}

impl<Req: Message, Resp: Message> crate::rpc::Serve<Req, Resp> for Server<Req, Resp> {
    fn serve_replies(
        &mut self,
        clients: Option<usize>,
        handler: &mut dyn FnMut(Req) -> Reply<Resp>,
    ) -> Result<()> {
        loop {
            self.run(handler, clients)?;
            if clients.is_some() {
                return Ok(());
            }
        }
    }
}
