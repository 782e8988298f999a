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
use crate::rpc::{Frame, Handler, Reply};
use crate::shm::channel::{Announced, Receiver, Sender};
use crate::shm::options::Options;
use crate::shm::watch::LONGEST_SLEEP;
use crate::sync::bell::Bell;
use crate::sync::fence;
use crate::sync::wait::{Step, PARK_SLICE};
use crate::sync::{Backoff, WaitStrategy};

/// The most connections that may be awaiting their client (announced, not yet opened by
/// it) at once; further announcements wait in the registry, unread, until one of these
/// completes or expires (see "Concurrency and limits" in the [module docs](super)).
pub const MAX_HANDSHAKES: usize = 64;

/// How often a spinning server probes its clients' liveness.
const CHECK_EVERY: Duration = Duration::from_millis(5);

/// One client's connection: its requests in, its answers out.
pub(super) struct Conn<Req: Message, Resp: Message> {
    pub(super) rx: Receiver<Req>,
    tx: Sender<Resp>,
    /// Until the client has opened both channels: when the server gives up on it.
    handshake: Option<Instant>,
}

/// What is at the head of a connection's request ring.
pub(super) enum Next<Req> {
    /// A request to answer.
    Request(Req),
    /// Nothing to answer (a slot given up by a sender that died).
    Nothing,
    /// The connection is finished: garbage, a corrupt ring, or the client gone.
    Finished,
}

impl<Req: Message, Resp: Message> Conn<Req, Resp> {
    /// The request at the head, copied out of its slot.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] only; any other error finishes this connection alone.
    #[inline]
    pub(super) fn next_request(&mut self) -> Result<Next<Req>> {
        match self.rx.recv_copy(&Wait::Now) {
            Ok(req) => Ok(Next::Request(req)),
            Err(Error::Empty) => Ok(Next::Nothing),
            Err(Error::Shutdown) => Err(Error::Shutdown),
            Err(_) => Ok(Next::Finished),
        }
    }

    /// Sends `reply`'s answer, copied into its slot; false once the connection is
    /// finished (no room for the answer, the client gone, or [`Reply::Close`]).
    #[inline]
    pub(super) fn send_reply(&mut self, reply: &Reply<Resp>) -> bool {
        let (resp, close) = match reply {
            Reply::Answer(resp) => (resp, false),
            Reply::Close(resp) => (resp, true),
        };
        // Never waits: a client with no room for its answer has more calls in flight
        // than the protocol allows.
        self.tx.offer(resp).is_ok() && !close
    }
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
    pub(super) bell: Bell,
    pub(super) conns: Vec<Conn<Req, Resp>>,
    /// The options each connection's channels are created with.
    conn_opts: Options,
    wait: WaitStrategy,
    handshake: Duration,
    /// When the clients' liveness was last probed.
    last_probe: Instant,
    /// The last [`Server::park_begin`] found the senders read again: probe after it.
    fresh: bool,
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
            last_probe: Instant::now(),
            fresh: false,
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
            self.run(&mut Handler::Value(&mut handler), None)?;
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
        self.run(&mut Handler::Value(&mut handler), Some(clients))
    }

    /// The serving loop: spins over the registry's and every request ring's head, answers
    /// what it finds, probes the clients' liveness every [`CHECK_EVERY`] while it spins
    /// and after each park, and parks when the wait strategy says so.
    fn run(
        &mut self,
        handler: &mut Handler<'_, Req, Resp>,
        mut clients: Option<usize>,
    ) -> Result<()> {
        let mut backoff = Backoff::new(self.wait);
        let mut turns: u32 = 0;
        loop {
            if clients == Some(0) {
                return Ok(());
            }
            let mut worked = self.accept_announced()?;
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
                self.probe_due(&mut clients)?;
            }
            if worked {
                backoff = Backoff::new(self.wait);
                continue;
            }
            if backoff.snooze() == Step::Park {
                self.probe_due(&mut clients)?;
                if clients == Some(0) {
                    // The last client to count ended in a probe of this turn: no park.
                    return Ok(());
                }
                if let Some(limit) = self.park_begin() {
                    self.bell.wait(limit);
                }
                if self.park_end() {
                    self.probe(&mut clients, Instant::now())?;
                }
            }
        }
    }

    /// Reads the announcements in the registry, if any, creating each client's
    /// connection; true if there were some. While [`MAX_HANDSHAKES`] connections await
    /// their client, the registry is not read: its announcements wait (false, so that the
    /// loop may park).
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the registry was overwritten; [`Error::Shutdown`].
    #[inline]
    pub(super) fn accept_announced(&mut self) -> Result<bool> {
        if !self.registry.message_at_head() || self.awaiting() >= MAX_HANDSHAKES {
            return Ok(false);
        }
        self.accept()?;
        Ok(true)
    }

    /// The connections that await their client, once those whose client has opened both
    /// channels are marked as its (loads only, no system call).
    fn awaiting(&mut self) -> usize {
        let mut waiting = 0;
        for c in &mut self.conns {
            if c.handshake.is_some() {
                if c.rx.sender_joined() && c.tx.receiver_joined() {
                    c.handshake = None;
                } else {
                    waiting += 1;
                }
            }
        }
        waiting
    }

    /// Probes liveness if [`CHECK_EVERY`] has passed since the last probe.
    ///
    /// # Errors
    ///
    /// As [`Server::probe`].
    pub(super) fn probe_due(&mut self, clients: &mut Option<usize>) -> Result<()> {
        let now = Instant::now();
        if now.duration_since(self.last_probe) >= CHECK_EVERY {
            self.probe(clients, now)?;
        }
        Ok(())
    }

    /// Answers the request at the head of `c`; false once the connection is finished
    /// (the client left, sent bytes that are no `Req`, has no room for its answer, or was
    /// refused with [`Reply::Close`]).
    #[inline]
    fn answer(c: &mut Conn<Req, Resp>, handler: &mut Handler<'_, Req, Resp>) -> Result<bool> {
        let (handler, blank) = match handler {
            Handler::Value(handler) => {
                return Ok(match c.next_request()? {
                    Next::Request(req) => c.send_reply(&handler(req)),
                    Next::Nothing => true,
                    Next::Finished => false,
                })
            }
            Handler::InPlace(handler, blank) => (handler, *blank),
        };
        let req = match c.rx.recv_in_place(&Wait::Now) {
            Ok(req) => req,
            // A slot given up by a sender that died: nothing to answer.
            Err(Error::Empty) => return Ok(true),
            Err(Error::Shutdown) => return Err(Error::Shutdown),
            // Garbage, a corrupt ring, or the client gone: drop it, serve the others.
            Err(_) => return Ok(false),
        };
        // Never waits: a client with no room for its answer has more calls in flight
        // than the protocol allows.
        let Ok(mut loan) = c.tx.loan_until(&Wait::Now) else {
            return Ok(false);
        };
        let reply = match loan.as_mut() {
            Some(slot) => handler(&req, slot),
            // Not for a generated frame (bytes and integers): an answer built aside.
            None => {
                let mut resp = blank();
                let reply = handler(&req, &mut resp);
                loan.write(resp);
                reply
            }
        };
        // The answer first: the request's slot goes back after it, off the path of the
        // round trip (the client's next request has room regardless: it has read every
        // answer, and the ring holds eight times the slots handed back at a time).
        loan.send();
        drop(req);
        Ok(matches!(reply, Reply::Answer(())))
    }

    /// Drops connection `i` (both ends: being their last participant, the server unlinks
    /// them once the client has left too), counting it if its client had opened it (also
    /// one that did and ended before a probe saw its handshake complete).
    pub(super) fn end(&mut self, i: usize, clients: &mut Option<usize>) {
        let c = self.conns.swap_remove(i);
        if c.handshake.is_none() || c.rx.sender_joined() {
            if let Some(n) = clients.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Reads the announcements in the registry and creates each client's connection,
    /// until none is left or [`MAX_HANDSHAKES`] connections await their client (the rest
    /// stay in the registry).
    fn accept(&mut self) -> Result<()> {
        let mut waiting = self.awaiting();
        while waiting < MAX_HANDSHAKES {
            let announce = match self.registry.recv_copy(&Wait::Now) {
                Ok(a) => a,
                Err(Error::Empty | Error::Disconnected | Error::InvalidMessage(_)) => return Ok(()),
                Err(e) => return Err(e),
            };
            let [tag, pid, n, _] = announce;
            if tag != TAG || pid == 0 || pid > i32::MAX as u64 || !process_lives(pid as i32) {
                // Not an announcement, or one of a client that died since (it would hold
                // a place in the table until its handshake expired).
                continue;
            }
            // A name taken (by a live segment: another announcement of the same numbers)
            // or no room in /dev/shm: that client times out, the others are served.
            if let Ok(conn) = self.open_conn(pid, n) {
                self.conns.push(conn);
                waiting += 1;
            }
        }
        Ok(())
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
    pub(super) fn probe(&mut self, clients: &mut Option<usize>, now: Instant) -> Result<()> {
        self.last_probe = now;
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

    /// The first half of a park on the doorbell: announces it in every ring, crosses one
    /// barrier for all, and looks at every head again. `Some(limit)`: sleep until the
    /// doorbell rings (a client publishes a request, announces itself, joins, leaves or
    /// dies, or shutdown is requested) or `limit` passes (a handshake's deadline, or a
    /// slice where deaths cannot be watched); `None`: do not sleep. Then call
    /// [`Server::park_end`] either way.
    ///
    /// While [`MAX_HANDSHAKES`] connections await their client, the registry is left out:
    /// announcements neither ring nor end the park, since none can be taken. A place
    /// frees when one of those clients opens its request ring, the last step of its
    /// connect (a sender's join, which wakes a parked server as any join does), or at a
    /// handshake's deadline (which limits the park); the next turn reads the registry
    /// again.
    pub(super) fn park_begin(&mut self) -> Option<Duration> {
        let mut fresh = false;
        let mut watched = true;
        let registry = self.awaiting() < MAX_HANDSHAKES;
        let announce_registry = registry.then(|| self.registry.announce_park());
        for announced in announce_registry
            .into_iter()
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
        let ready = (registry && self.registry.message_at_head())
            || self.conns.iter().any(|c| c.rx.message_at_head());
        self.fresh = fresh;
        if fresh || ready {
            return None;
        }
        let mut limit = match (watched, fenced) {
            (true, true) => LONGEST_SLEEP,
            (_, true) => PARK_SLICE,
            _ => PARK_SLICE.min(fence::UNFENCED_SLICE),
        };
        let now = Instant::now();
        for at in self.conns.iter().filter_map(|c| c.handshake) {
            limit = limit.min(at.saturating_duration_since(now));
        }
        Some(limit)
    }

    /// The second half of a park: withdraws the announcements. True if the caller must
    /// probe liveness before the next park.
    pub(super) fn park_end(&mut self) -> bool {
        let mut probe = std::mem::take(&mut self.fresh) | self.registry.end_park();
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
            self.run(&mut Handler::Value(handler), clients)?;
            if clients.is_some() {
                return Ok(());
            }
        }
    }

    /// Each request is read in its slot of the connection's request ring, and the
    /// answer written in its slot of the answer ring ([`super::Sender::loan`]): a
    /// frame's every bit pattern is valid, so both are lent in place.
    fn serve_in_place(
        &mut self,
        clients: Option<usize>,
        handler: &mut dyn FnMut(&Req, &mut Resp) -> Reply<()>,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        let blank = || Resp::new(0, 0, 0);
        loop {
            self.run(&mut Handler::InPlace(handler, blank), clients)?;
            if clients.is_some() {
                return Ok(());
            }
        }
    }
}

/// True unless process `pid` is gone (`kill(pid, 0)` says `ESRCH`); a process of another
/// user, which the signal may not reach, lives.
fn process_lives(pid: i32) -> bool {
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}
