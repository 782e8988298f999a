//! [`SharedClient`]: one request/response connection shared by many tasks, their calls
//! pipelined.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Poll};
use std::time::Duration;

use ::tokio::sync::oneshot;

use super::{Async, CallEnd};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::socket::{Receiver, Sender};

/// A request/response client that many tasks share (clone it), its calls pipelined on
/// one connection and answered in order.
///
/// A server of this crate answers each connection's requests in order, so answers need
/// no id to find their calls: they come in the order the requests went. A shared client
/// keeps that order in one queue. A call takes the sending half's lock, writes its
/// request and — in the same step as the request is accepted — puts a slot for its
/// answer at the back of the queue, then lets go of the lock and awaits the slot. One
/// task per connection (spawned when the client is made) reads the answers and hands
/// each to the slot at the front. So any number of calls are in flight at once, their
/// requests back to back on the wire, and none waits for another's answer before
/// sending.
///
/// A call whose future is dropped, or whose timeout expires, leaves its slot in the
/// queue: its answer is read and dropped when it comes, never handed to another call.
/// When the connection ends (the server leaves, or sends what is no answer) every
/// waiting call and every later one gets [`Error::Disconnected`]. When the last clone of
/// the client is dropped, the connection is shut down and the reading task ends.
///
/// ```no_run
/// use ipc::aio::SharedClient;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ipc::Result<()> {
/// let client = SharedClient::from_sync(ipc::socket::Client::<u32, u64>::connect("/tmp/double.sock")?)?;
/// let calls: Vec<_> = (0..8)
///     .map(|n| {
///         let client = client.clone();
///         tokio::spawn(async move { client.call(n).await })
///     })
///     .collect();
/// for (n, call) in calls.into_iter().enumerate() {
///     assert_eq!(call.await.unwrap()?, 2 * n as u64);
/// }
/// # Ok(())
/// # }
/// ```
pub struct SharedClient<Req: Message, Resp: Message> {
    shared: Arc<Shared<Req, Resp>>,
}

impl<Req: Message, Resp: Message> Clone for SharedClient<Req, Resp> {
    fn clone(&self) -> Self {
        SharedClient {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Req: Message, Resp: Message> fmt::Debug for SharedClient<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiting = lock(&self.shared.answers).slots.len();
        f.debug_struct("SharedClient")
            .field("waiting", &waiting)
            .finish_non_exhaustive()
    }
}

/// What the clones share.
struct Shared<Req: Message, Resp: Message> {
    /// The sending half, held by one call from its send until its slot is queued and
    /// its request written.
    tx: ::tokio::sync::Mutex<Async<Sender<Req>>>,
    /// The answers' slots, shared with the reading task.
    answers: Arc<Mutex<Answers<Resp>>>,
}

/// The slots of the calls whose answers have not come, in request order.
struct Answers<Resp> {
    slots: VecDeque<oneshot::Sender<Result<Resp>>>,
    /// The connection ended: no answer will come.
    closed: bool,
    /// It ended because a shutdown was requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)): calls say [`Error::Shutdown`].
    shutdown: bool,
}

/// Why a connection gives no more answers: a requested shutdown, or its end.
fn ended(shutdown: bool) -> Error {
    if shutdown {
        Error::Shutdown
    } else {
        Error::Disconnected
    }
}

impl<Resp> Answers<Resp> {
    /// Why no answer will come.
    fn ended(&self) -> Error {
        ended(self.shutdown)
    }

    /// Why no answer will come, if none will.
    fn closed_why(&self) -> Option<Error> {
        self.closed.then(|| self.ended())
    }

    /// No answer will come: every call waiting, and every later one, is told why.
    fn close(&mut self, shutdown: bool) {
        self.closed = true;
        self.shutdown |= shutdown;
        let shutdown = self.shutdown;
        for slot in self.slots.drain(..) {
            let _ = slot.send(Err(ended(shutdown)));
        }
    }
}

impl<Req: Message, Resp: Message> Drop for Shared<Req, Resp> {
    fn drop(&mut self) {
        // The last clone is gone: end the connection, and with it the reading task.
        let tx = self.tx.get_mut();
        let _ = nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&tx.get_ref().as_fd()),
            nix::sys::socket::Shutdown::Both,
        );
    }
}

fn lock<Resp>(answers: &Mutex<Answers<Resp>>) -> MutexGuard<'_, Answers<Resp>> {
    answers.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<Req: Message, Resp: Message> SharedClient<Req, Resp> {
    /// A shared client over the connection of `client` (a
    /// [`socket::Client`](crate::socket::Client) or [`tcp::Client`](crate::tcp::Client)),
    /// whose answers a task spawned on the current runtime reads. Answers still owed to
    /// calls of `client` that timed out are skipped first.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] outside a tokio runtime, or if the connection cannot be registered.
    pub fn from_sync<C: CallEnd<Request = Req, Response = Resp>>(client: C) -> Result<Self> {
        let (tx, rx, owed) = client.into_halves();
        let tx = Async::from_sync(tx)?;
        let rx = Async::from_sync(rx)?;
        let answers = Arc::new(Mutex::new(Answers {
            slots: VecDeque::new(),
            closed: false,
            shutdown: false,
        }));
        ::tokio::spawn(read_answers(rx, owed, Arc::clone(&answers)));
        Ok(SharedClient {
            shared: Arc::new(Shared {
                tx: ::tokio::sync::Mutex::new(tx),
                answers,
            }),
        })
    }

    /// Sends `req` and waits for its answer; other calls, from this clone or others, go
    /// on meanwhile. Cancel-safe: a call dropped after its request went leaves its
    /// answer to be read and dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the connection has ended; the server's answer's
    /// own error ([`Error::InvalidMessage`]) if its bytes are no `Resp`; a send error.
    pub async fn call(&self, req: Req) -> Result<Resp> {
        let (slot, answer) = oneshot::channel();
        let mut slot = Some(slot);
        {
            let mut tx = self.shared.tx.lock().await;
            if let Some(ended) = lock(&self.shared.answers).closed_why() {
                return Err(ended);
            }
            // The request accepted and its slot queued in one step, under the queue's
            // lock, so that the queue is in the order of the requests on the wire and
            // the reading task cannot meet the answer before its slot.
            poll_fn(|cx| {
                let mut answers = lock(&self.shared.answers);
                if answers.closed {
                    return Poll::Ready(Err(answers.ended()));
                }
                ready!(tx.poll_send_now(cx, &req))?;
                answers.slots.extend(slot.take());
                Poll::Ready(Ok(()))
            })
            .await?;
            poll_fn(|cx| tx.poll_flush_now(cx)).await?;
        }
        // No answer and no error: the reading task is gone (its runtime was dropped).
        answer
            .await
            .unwrap_or_else(|_| Err(lock(&self.shared.answers).ended()))
    }

    /// As [`call`](Self::call), giving up after `timeout` (its late answer is dropped).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if the answer did not arrive in time, as
    /// [`call`](Self::call) otherwise.
    pub async fn call_timeout(&self, req: Req, timeout: Duration) -> Result<Resp> {
        match ::tokio::time::timeout(timeout, self.call(req)).await {
            Ok(answer) => answer,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }
}

/// A generated service's async client may call through a clone per task.
impl<Req: Message, Resp: Message> crate::rpc::AsyncCall<Req, Resp> for SharedClient<Req, Resp> {
    async fn call(&mut self, req: Req) -> Result<Resp> {
        SharedClient::call(self, req).await
    }

    async fn call_timeout(&mut self, req: Req, timeout: Duration) -> Result<Resp> {
        SharedClient::call_timeout(self, req, timeout).await
    }
}

/// Whether an error ends the connection (rather than spoiling one answer): every error
/// but an answer whose bytes are no `Resp`, after which the stream is still in step.
fn ends_connection(e: &Error) -> bool {
    !matches!(e, Error::InvalidMessage(_))
}

/// The reading task: hands each answer to the slot at the front of the queue, after
/// skipping the `owed` answers of calls that timed out before the client was shared.
async fn read_answers<Resp: Message>(
    mut rx: Async<Receiver<Resp>>,
    mut owed: u64,
    answers: Arc<Mutex<Answers<Resp>>>,
) {
    // Dropped with this task, also when its runtime is (the task then never ends by
    // itself): the calls waiting, and later ones, are told that no answer will come.
    struct Closes<Resp>(Arc<Mutex<Answers<Resp>>>);
    impl<Resp> Drop for Closes<Resp> {
        fn drop(&mut self) {
            lock(&self.0).close(false);
        }
    }
    let _closes = Closes(Arc::clone(&answers));
    loop {
        let answer = rx.recv().await;
        let fatal = answer.as_ref().err().is_some_and(ends_connection);
        if owed > 0 && !fatal {
            owed -= 1;
            continue;
        }
        let mut answers = lock(&answers);
        if !fatal {
            if let Some(slot) = answers.slots.pop_front() {
                // A call that was dropped no longer listens: its answer goes nowhere.
                let _ = slot.send(answer);
                continue;
            }
            // An answer nobody asked for: the server does not follow the protocol.
        }
        answers.close(matches!(answer, Err(Error::Shutdown)));
        return;
    }
}
