//! [`AsyncServer`]: the async twin of the shared-memory request/response [`Server`]
//! (feature `tokio`). The same serving loop as the sync server's, one task for every
//! client, except that its park awaits the server's one doorbell through the runtime's
//! reactor instead of sleeping in `poll(2)`.

use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::os::fd::{AsFd, OwnedFd};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use ::tokio::io::unix::AsyncFd;

use super::server::{Next, Server};
use crate::aio::ShutdownWatch;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::message::Message;
use crate::rpc::Reply;

/// How long the loop keeps looking at the rings after they were last found empty,
/// yielding to the runtime between looks, before it parks: as the async receiver's
/// shortest look, so that a client calling back to back is answered without a wake-up.
const LOOK: Duration = Duration::from_micros(50);

/// Turns of the loop between two looks at the clock for the liveness probe while it
/// is busy (the sync server's is 1,024 turns; an async turn also yields to the runtime).
const TURNS_PER_CLOCK: u32 = 64;

/// The async twin of a shared-memory request/response [`Server`], on tokio (feature
/// `tokio`): answers every client from one task, without blocking a thread.
///
/// # Design
///
/// The sync server's loop, in a future: each turn accepts the clients that announced
/// themselves and answers the request at the head of every connection's ring, one
/// handler call at a time in each connection's order (so a handler may take `&mut`
/// state without a lock), then yields to the runtime (tokio's cooperative budget) so
/// that the other tasks of its worker run. When no request has come for 50 µs it parks:
/// it announces the park in every ring, crosses one barrier, looks at every head again,
/// and awaits its one doorbell through the reactor (a client that publishes a request to
/// a parked server rings it, and so does a client's death), a handshake deadline, or
/// shutdown. No thread is made, and an idle server costs no CPU.
///
/// Unlike the socket servers' async twins, which give each connection a task, a request
/// here is answered by the loop itself: a handler that awaits (the `Future` the handler
/// returns) holds up every client of this server until it is done, exactly as a slow
/// handler holds up the sync server. For handlers that wait on something else, run
/// several servers (each with its own name), or hand the work to another task and
/// answer from the loop quickly.
///
/// Dropping the future of `serve` ends the park it was in (the rings no longer ask to be
/// woken); the connections stay, for the next `serve` or [`into_sync`](Self::into_sync),
/// but for one whose request a handler was awaiting: that one is dropped (its client's
/// call returns [`Error::Disconnected`]), since its answer would never come.
///
/// ```no_run
/// use ipc::shm::rpc::{AsyncServer, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ipc::Result<()> {
/// let mut server = AsyncServer::from_sync(Server::<u64, u64>::bind("pricing")?)?;
/// server.serve(|n| async move { n + 1 }).await?;
/// # Ok(())
/// # }
/// ```
pub struct AsyncServer<Req: Message, Resp: Message> {
    server: Server<Req, Resp>,
    /// A duplicate of the server's doorbell socket, registered with the reactor.
    bell: AsyncFd<OwnedFd>,
    shutdown: ShutdownWatch,
}

impl<Req: Message, Resp: Message> fmt::Debug for AsyncServer<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncServer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> AsyncServer<Req, Resp> {
    /// The async twin of `server`: registers its doorbell with the current runtime's
    /// reactor. Its connections stay as they are.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the doorbell cannot be registered.
    pub fn from_sync(server: Server<Req, Resp>) -> Result<Self> {
        if ::tokio::runtime::Handle::try_current().is_err() {
            let e = std::io::Error::other("not inside a tokio runtime");
            return Err(crate::codec::io_error("AsyncServer::from_sync", e));
        }
        let bell = crate::aio::watch_readable(server.bell.as_fd(), "epoll_ctl (doorbell)")?;
        Ok(AsyncServer {
            server,
            bell,
            shutdown: ShutdownWatch::default(),
        })
    }

    /// The sync server back, with its connections.
    pub fn into_sync(self) -> Server<Req, Resp> {
        self.server
    }

    /// The sync server, for its other methods ([`Server::name`], [`Server::clients`]).
    pub fn get_ref(&self) -> &Server<Req, Resp> {
        &self.server
    }

    /// Answers requests from every client with `handler`, forever.
    ///
    /// # Errors
    ///
    /// Returns only with [`Error::Shutdown`] once shutdown is requested, [`Error::Io`]
    /// from the reactor, or [`Error::Corrupt`] if the registry was overwritten; an error
    /// of one client only drops that client.
    pub async fn serve<F, Fut>(&mut self, mut handler: F) -> Result<Infallible>
    where
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = Resp>,
    {
        loop {
            self.run(None, &mut handler, Reply::Answer).await?;
        }
    }

    /// Answers requests with `handler` until `clients` connections have ended (counted
    /// as by [`Server::serve_clients`]). Connections still open then stay.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_clients<F, Fut>(&mut self, clients: usize, mut handler: F) -> Result<()>
    where
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = Resp>,
    {
        self.run(Some(clients), &mut handler, Reply::Answer).await
    }

    /// As [`serve_clients`](Self::serve_clients) (forever with `None`), the handler
    /// replying with a [`Reply`]: [`Reply::Close`] drops that client after its answer.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve).
    pub async fn serve_replies<F, Fut>(
        &mut self,
        clients: Option<usize>,
        mut handler: F,
    ) -> Result<()>
    where
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = Reply<Resp>>,
    {
        loop {
            self.run(clients, &mut handler, |reply| reply).await?;
            if clients.is_some() {
                return Ok(());
            }
        }
    }

    /// The serving loop (see the type's docs); `reply` turns what the handler's future
    /// gives into a [`Reply`].
    async fn run<F, Fut, T>(
        &mut self,
        mut clients: Option<usize>,
        handler: &mut F,
        reply: fn(T) -> Reply<Resp>,
    ) -> Result<()>
    where
        F: FnMut(Req) -> Fut,
        Fut: Future<Output = T>,
    {
        let mut idle_since: Option<Instant> = None;
        let mut turns: u32 = 0;
        loop {
            if clients == Some(0) {
                return Ok(());
            }
            let server = &mut self.server;
            let mut worked = server.accept_announced()?;
            let mut i = 0;
            while i < server.conns.len() {
                if !server.conns[i].rx.message_at_head() {
                    i += 1;
                    continue;
                }
                worked = true;
                let alive = match server.conns[i].next_request()? {
                    Next::Request(req) => {
                        // Drops the connection if this future is dropped before the
                        // answer went: its client gets `Disconnected`, not a wait for an
                        // answer that will never come.
                        let answering = Answering {
                            server: &mut *server,
                            conn: i,
                            answered: false,
                        };
                        let answer = reply(handler(req).await);
                        answering.send(&answer)
                    }
                    Next::Nothing => true,
                    Next::Finished => false,
                };
                if alive {
                    i += 1;
                } else {
                    server.end(i, &mut clients);
                }
            }
            turns = turns.wrapping_add(1);
            if turns % TURNS_PER_CLOCK == 0 {
                server.probe_due(&mut clients)?;
            }
            if worked {
                idle_since = None;
                // Yields once the task has used its budget: the other tasks of this
                // worker run while clients keep the server busy.
                ::tokio::task::consume_budget().await;
                continue;
            }
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() < LOOK {
                ::tokio::task::yield_now().await;
                continue;
            }
            idle_since = None;
            server.probe_due(&mut clients)?;
            if clients == Some(0) {
                // The last client to count ended in this probe: no park.
                return Ok(());
            }
            let limit = server.park_begin();
            // Ends the park however this future goes on: woken, or dropped while parked.
            let parked = Parked(&mut self.server);
            if let Some(limit) = limit {
                let (bell, shutdown) = (&self.bell, &mut self.shutdown);
                wait_for_ring(bell, shutdown, limit).await?;
                parked.0.bell.drain();
            }
            if parked.end() {
                self.server.probe(&mut clients, Instant::now())?;
            }
        }
    }
}

/// Awaits the doorbell's ring, `limit`, or shutdown ([`Error::Shutdown`]).
async fn wait_for_ring(
    bell: &AsyncFd<OwnedFd>,
    shutdown: &mut ShutdownWatch,
    limit: Duration,
) -> Result<()> {
    let mut nap = pin!(::tokio::time::sleep(limit));
    poll_fn(|cx| {
        match bell.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                // The rings queued are read by the caller (`Bell::drain`), after this.
                guard.clear_ready();
                return Poll::Ready(Ok(()));
            }
            Poll::Ready(Err(e)) => {
                return Poll::Ready(Err(crate::codec::io_error("tokio reactor", e)))
            }
            Poll::Pending => {}
        }
        if nap.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        shutdown.check(cx)?;
        Poll::Pending
    })
    .await
}

/// A request taken from connection `conn` and not yet answered: if the future is dropped
/// meanwhile (its handler was awaiting), the connection is dropped with it.
struct Answering<'a, Req: Message, Resp: Message> {
    server: &'a mut Server<Req, Resp>,
    conn: usize,
    answered: bool,
}

impl<Req: Message, Resp: Message> Answering<'_, Req, Resp> {
    /// Sends the answer; false once the connection is finished (see
    /// `Conn::send_reply`).
    fn send(mut self, answer: &Reply<Resp>) -> bool {
        self.answered = true;
        self.server.conns[self.conn].send_reply(answer)
    }
}

impl<Req: Message, Resp: Message> Drop for Answering<'_, Req, Resp> {
    fn drop(&mut self) {
        if !self.answered {
            // Dropping its ends closes it: the client's pending call returns
            // `Disconnected`, and being the last participant the server unlinks both
            // rings once the client has left.
            self.server.conns.swap_remove(self.conn);
        }
    }
}

/// A park of the server in progress: ended ([`Server::park_end`]) by
/// [`Parked::end`] or, if the future is dropped while parked, on drop.
struct Parked<'a, Req: Message, Resp: Message>(&'a mut Server<Req, Resp>);

impl<Req: Message, Resp: Message> Parked<'_, Req, Resp> {
    /// Ends the park; true if the caller must probe liveness.
    fn end(self) -> bool {
        let mut this = std::mem::ManuallyDrop::new(self);
        this.0.park_end()
    }
}

impl<Req: Message, Resp: Message> Drop for Parked<'_, Req, Resp> {
    fn drop(&mut self) {
        self.0.park_end();
    }
}

/// What a generated service's server serves through (`serve_async`).
impl<Req: Message, Resp: Message> crate::rpc::AsyncServe<Req, Resp> for AsyncServer<Req, Resp> {
    fn serve_with<H>(
        &mut self,
        clients: Option<usize>,
        handler: H,
    ) -> impl Future<Output = Result<()>> + Send
    where
        H: Fn(Req) -> Reply<Resp> + Send + Sync + 'static,
    {
        self.serve_replies(clients, move |req| std::future::ready(handler(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A serve future dropped while its handler awaits drops that request's connection:
    /// the client's call returns `Disconnected` instead of waiting for ever.
    #[test]
    fn a_serve_future_dropped_inside_a_handler_disconnects_that_client() {
        let name = crate::testing::unique("async-rpc-dropped");
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = Server::<u64, u64>::bind(&name).unwrap();
            let mut server = AsyncServer::from_sync(server).unwrap();
            let client = std::thread::spawn({
                let name = name.clone();
                move || {
                    let mut client = super::super::Client::<u64, u64>::connect(&name).unwrap();
                    client.call(1)
                }
            });
            let serving = server.serve(|_| std::future::pending::<u64>());
            let stopped = ::tokio::time::timeout(Duration::from_millis(200), serving).await;
            assert!(stopped.is_err(), "the handler never returns");
            match client.join().unwrap() {
                Err(crate::Error::Disconnected) => {}
                other => panic!("the call of a dropped request returned {other:?}"),
            }
            assert_eq!(server.get_ref().clients(), 0);
        });
    }

    /// The doorbell a parked async server awaits is rung by a client's request: a call
    /// from another thread is answered, and the server returns once its one client left.
    #[test]
    fn a_parked_async_server_answers_a_call() {
        let name = crate::testing::unique("async-rpc-server");
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = Server::<u64, u64>::bind(&name).unwrap();
            let mut server = AsyncServer::from_sync(server).unwrap();
            let client = std::thread::spawn({
                let name = name.clone();
                move || {
                    let mut client = super::super::Client::<u64, u64>::connect(&name).unwrap();
                    // Long enough for the server to park between the calls.
                    let first = client.call(1).unwrap();
                    std::thread::sleep(Duration::from_millis(50));
                    (first, client.call(41).unwrap())
                }
            });
            server
                .serve_clients(1, |n| async move { n + 1 })
                .await
                .unwrap();
            assert_eq!(client.join().unwrap(), (2, 42));
        });
    }
}
