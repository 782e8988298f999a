//! The calling side of a request/response connection ([`Caller`]), which the Unix and TCP
//! clients, sync and async, share: one call in flight at a time, and the answers owed to
//! calls that timed out or were dropped skipped first, so that answers never shift.

use std::os::fd::{AsFd, BorrowedFd};

use super::super::conn::{Receiver, Sender};
use super::super::sys::Wait;
use crate::codec::Framed;
use crate::error::{Error, Result};
use crate::message::Message;
use crate::rpc::Frame;

/// The calling side of a connection: sends `Req`, receives `Resp`.
pub(crate) struct Caller<Req, Resp> {
    tx: Sender<Req>,
    rx: Receiver<Resp>,
    owed: Owed,
}

/// The answers a [`Caller`] has yet to read.
#[derive(Default)]
struct Owed {
    /// Requests sent whose responses were not read (a call that timed out).
    count: u64,
    /// Set when an answer was garbage (`Corrupt`): whether it was an answer or came
    /// before one cannot be told, so later answers might not match their calls.
    lost_sync: bool,
}

impl Owed {
    /// Counts the answer owed first as read if `resp` consumed it: a `Resp`, or a record
    /// that is no `Resp` (invalid bits, another schema's). Garbage (`Corrupt`) may have
    /// been the answer or have come before it: from then on calls fail
    /// ([`Owed::check_sync`]).
    fn answered<T>(&mut self, resp: &Result<T>) {
        match resp {
            Ok(_) | Err(Error::InvalidMessage(_) | Error::SchemaMismatch { .. }) => {
                self.count -= 1;
            }
            Err(Error::Corrupt(_)) => self.lost_sync = true,
            Err(_) => {}
        }
    }

    /// `Corrupt` once an answer was garbage: answers might no longer match their calls.
    fn check_sync(&self) -> Result<()> {
        if self.lost_sync {
            return Err(Error::Corrupt(
                "an earlier answer on this connection was garbage, so answers might no \
                 longer match their calls; connect again"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// True if `r` read an answer, good or not a `Resp`: one owed to a call that timed out is
/// skipped either way.
fn skippable<T>(r: &Result<T>) -> bool {
    matches!(
        r,
        Ok(_) | Err(Error::InvalidMessage(_) | Error::SchemaMismatch { .. })
    )
}

impl<Req: Message, Resp: Message> Caller<Req, Resp> {
    pub(crate) fn new(tx: Sender<Req>, rx: Receiver<Resp>) -> Self {
        Caller {
            tx,
            rx,
            owed: Owed::default(),
        }
    }

    pub(crate) fn call(&mut self, req: Req, wait: Wait) -> Result<Resp> {
        self.owed.check_sync()?;
        self.skip_owed(wait)?;
        self.tx.send_frame(req, &[], wait)?;
        self.owed.count += 1;
        self.recv(wait)
    }

    /// Responses to calls that timed out come first: skips them, so answers never shift
    /// by one.
    fn skip_owed(&mut self, wait: Wait) -> Result<()> {
        while self.owed.count > 0 {
            let r = self.recv(wait);
            if !skippable(&r) {
                return r.map(drop);
            }
        }
        Ok(())
    }

    /// Receives the answer owed first, once the request it answers is all written: a call
    /// that timed out (or was dropped) may have left the tail of its request in the
    /// sender, which the server waits for before it answers.
    fn recv(&mut self, wait: Wait) -> Result<Resp> {
        self.owed.check_sync()?;
        self.tx.flush_wait(wait)?;
        let resp = self.rx.recv_inner(wait);
        self.owed.answered(&resp);
        resp
    }

    /// [`Call::call_in_place`](crate::rpc::Call::call_in_place): the request is built
    /// on the stack and sent from there; the answer is read in the receive buffer,
    /// validated there (the buffer is this process's), and lent to `read`.
    pub(crate) fn call_in_place(
        &mut self,
        write: &mut dyn FnMut(&mut Req),
        read: &mut dyn FnMut(&Resp) -> Result<()>,
        wait: Wait,
    ) -> Result<()>
    where
        Req: Frame,
        Resp: Frame,
    {
        self.owed.check_sync()?;
        self.skip_owed(wait)?;
        let mut req = Req::new(0, 0, 0);
        write(&mut req);
        self.tx.send_frame(req, &[], wait)?;
        self.owed.count += 1;
        self.owed.check_sync()?;
        self.tx.flush_wait(wait)?;
        let resp = Framed::recv_ref_wait_framed(&mut self.rx, wait);
        self.owed.answered(&resp);
        read(resp?)
    }

    /// For the async twin: reads a response owed to a call whose future was dropped,
    /// without waiting; `Ok(false)` when none is owed.
    #[cfg(feature = "tokio")]
    pub(crate) fn skip_owed_now(&mut self) -> Result<bool> {
        if self.owed.count == 0 {
            return Ok(false);
        }
        let r = self.recv(Wait::Now);
        if skippable(&r) {
            Ok(true)
        } else {
            r.map(|_| true)
        }
    }

    /// For the async twin: sends a call's request without waiting (for room; the tail
    /// of a frame begun stays pending, see [`Caller::flush_now`]); from then on its
    /// response is owed.
    #[cfg(feature = "tokio")]
    pub(crate) fn send_call_now(&mut self, req: &Req) -> Result<()> {
        crate::contract::Tx::send_wait(&mut self.tx, req, crate::contract::Wait::Now)?;
        self.owed.count += 1;
        Ok(())
    }

    /// For the async twin: writes the tail of a frame, without waiting.
    #[cfg(feature = "tokio")]
    pub(crate) fn flush_now(&mut self) -> Result<()> {
        self.tx.flush_now()
    }

    /// For the async twin: receives the response of the call sent last, without
    /// waiting.
    #[cfg(feature = "tokio")]
    pub(crate) fn recv_call_now(&mut self) -> Result<Resp> {
        self.recv(Wait::Now)
    }

    /// How many answers calls that timed out or were dropped still owe.
    pub(crate) fn owed(&self) -> u64 {
        self.owed.count
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }

    /// For the shared async client: the halves, and how many answers are owed to calls
    /// that timed out (to be skipped first).
    #[cfg(feature = "tokio")]
    pub(crate) fn into_parts(self) -> (Sender<Req>, Receiver<Resp>, u64) {
        (self.tx, self.rx, self.owed.count)
    }
}
