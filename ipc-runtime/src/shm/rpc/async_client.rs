//! [`AsyncClient`]: the async twin of the shared-memory request/response [`Client`]
//! (feature `tokio`). Its request goes into the request ring as the sync client's does;
//! its answer is awaited on the answer ring through the channel receiver's async twin,
//! [`AsyncReceiver`]: a few microseconds of looking, then a
//! park on its doorbell (see [`crate::shm`], "Async").

use std::fmt;
use std::future::Future;
use std::time::Duration;

use super::Client;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::shm::channel::Sender;
use crate::shm::AsyncReceiver;

/// How long a call naps between two looks for room in the request ring, in the case a
/// server of this crate never leaves it in (see [`AsyncClient::call`]).
const ROOM_NAP: Duration = Duration::from_millis(1);

/// The async twin of a shared-memory request/response [`Client`], on tokio (feature
/// `tokio`): `call(req).await`, the calling end of a generated service's async client
/// (`PricingAsyncClient`) over shared memory.
///
/// A call sends its request into the connection's request ring, as the sync client does
/// (no system call unless the server is parked, which one `sendto` to its doorbell
/// wakes), then awaits the answer on the answer ring with an
/// [`AsyncReceiver`]: it takes an answer that is there with no
/// system call, looks for a few microseconds (yielding to the runtime between looks), then
/// parks on its doorbell, which the server rings when it answers a parked client, and
/// which the server's death rings too. No thread per client; an idle one costs no CPU.
///
/// One call is in flight at a time (the protocol's, as for the sync client); run a client
/// per task for concurrent calls.
///
/// **Cancellation**: dropping a call's future after its request was sent (a `select!`
/// branch that lost, a `timeout`) leaves its answer owed; the next call skips it before
/// sending, so answers never shift. A future dropped before the request was sent sends
/// nothing.
///
/// ```no_run
/// use ipc::shm::rpc::{AsyncClient, Client};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ipc::Result<()> {
/// let mut client = AsyncClient::from_sync(Client::<u64, u64>::connect("pricing")?)?;
/// assert_eq!(client.call(41).await?, 42);
/// # Ok(())
/// # }
/// ```
pub struct AsyncClient<Req: Message, Resp: Message> {
    tx: Sender<Req>,
    rx: AsyncReceiver<Resp>,
    /// Requests sent whose answers were not read (a call that timed out or was dropped).
    outstanding: u64,
}

impl<Req: Message, Resp: Message> fmt::Debug for AsyncClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("outstanding", &self.outstanding)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> AsyncClient<Req, Resp> {
    /// The async twin of `client`: its answer ring's receiver gets a doorbell. Answers
    /// owed to the sync client's timed-out calls stay owed (the next call skips them).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the doorbell cannot be made or
    /// registered.
    pub fn from_sync(client: Client<Req, Resp>) -> Result<Self> {
        let Client {
            tx,
            rx,
            outstanding,
        } = client;
        Ok(AsyncClient {
            tx,
            rx: AsyncReceiver::from_sync(rx)?,
            outstanding,
        })
    }

    /// The sync client back, with the answers still owed.
    pub fn into_sync(self) -> Client<Req, Resp> {
        Client {
            tx: self.tx,
            rx: self.rx.into_sync(),
            outstanding: self.outstanding,
        }
    }

    /// Sends `req` and awaits its answer, without blocking the thread.
    ///
    /// The request never waits for room: with one call in flight and every earlier
    /// answer read, the server has taken every earlier request, and it hands the slots
    /// it read back at least every eighth of the ring, so one is free. (Should a server
    /// that does not follow the protocol leave the ring full, the call naps a
    /// millisecond at a time until there is room, the server leaves, or the call's
    /// future is dropped.)
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the server is gone or dropped this client (a parked
    /// call is woken by the server's death); [`Error::InvalidMessage`] for an answer that
    /// is no `Resp`; [`Error::Shutdown`] once shutdown is requested; [`Error::Corrupt`]
    /// if a ring was overwritten.
    pub async fn call(&mut self, req: Req) -> Result<Resp> {
        self.call_ref(&req).await
    }

    /// As [`call`](Self::call), the request by reference.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_ref(&mut self, req: &Req) -> Result<Resp> {
        // Answers to calls that timed out (or were dropped) come first: skip them.
        while self.outstanding > 0 {
            // An owed answer that is no `Resp` is skipped as well as a good one.
            if let Err(e) = self.recv().await {
                if !matches!(e, Error::InvalidMessage(_)) {
                    return Err(e);
                }
            }
        }
        self.send(req).await?;
        self.outstanding += 1;
        self.recv().await
    }

    /// As [`call`](Self::call), giving up after `timeout` in all. Its late answer is
    /// skipped by the next call, never returned for it.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the answer did not arrive in time, as [`call`](Self::call)
    /// otherwise.
    pub async fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        match ::tokio::time::timeout(timeout, self.call_ref(&req)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Sends `req` into the request ring (see [`call`](Self::call) on room).
    async fn send(&mut self, req: &Req) -> Result<()> {
        loop {
            match self.tx.offer(req) {
                Err(Error::Full) if self.tx.receiver_left() => return Err(Error::Disconnected),
                Err(Error::Full) => ::tokio::time::sleep(ROOM_NAP).await,
                other => return other,
            }
        }
    }

    /// Awaits the next answer; one that is no `Resp` is consumed too. The count of owed
    /// answers goes down in the poll that takes the answer, so a dropped future never
    /// takes one without counting it.
    async fn recv(&mut self) -> Result<Resp> {
        let answer = self.rx.recv().await;
        if matches!(answer, Ok(_) | Err(Error::InvalidMessage(_))) {
            self.outstanding -= 1;
        }
        answer
    }
}

/// What a generated service's async client calls through.
impl<Req: Message, Resp: Message> crate::rpc::AsyncCall<Req, Resp> for AsyncClient<Req, Resp> {
    fn call(&mut self, req: Req) -> impl Future<Output = Result<Resp>> + Send {
        AsyncClient::call(self, req)
    }

    fn call_timeout(
        &mut self,
        req: Req,
        timeout: Duration,
    ) -> impl Future<Output = Result<Resp>> + Send {
        AsyncClient::call_timeout(self, req, timeout)
    }
}
