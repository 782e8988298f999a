//! Ends for tools: [`AnySender`] and [`AnyReceiver`] move the bytes of a queue's messages
//! whatever their type, checked by the schema tree its schema header carries.

use std::mem::MaybeUninit;
use std::time::Duration;

use nix::mqueue::MQ_OFlag;

use super::limits::{priority_error, PRIO_MAX};
use super::options::Options;
use super::queue::Queue;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::schema::{AnySample, SchemaTree, Value, ValueError, ValueProblem};

/// A sender to a POSIX queue of any type: sends messages given as bytes, each checked by
/// the schema its header carries before it is sent. It is what `ipc send` uses; a program
/// that knows its type uses [`Sender`](super::Sender).
///
/// ```no_run
/// use ipc::schema::Value;
///
/// let mut tx = ipc::mq::AnySender::open("/jobs")?;
/// let job = Value::from_json(tx.schema(), r#"{"id": 7, "priority": 1, "work_ms": 5}"#)?;
/// tx.send(&job.to_bytes(tx.schema())?, 1)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AnySender {
    q: Queue,
    tree: SchemaTree,
}

impl AnySender {
    /// Opens the existing queue `name`, whatever it carries, for sending; the owner and
    /// mode policy is [`Sender::open`](super::Sender::open)'s.
    ///
    /// # Errors
    ///
    /// As [`Sender::open`](super::Sender::open); [`Error::Corrupt`] if its schema header
    /// carries no schema tree (a queue made by an older build).
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`AnySender::open`], trusting what `options`' mode allows.
    ///
    /// # Errors
    ///
    /// As [`AnySender::open`].
    pub fn open_with(name: &str, options: Options) -> Result<Self> {
        let (q, tree) = Queue::open_any(name, MQ_OFlag::O_WRONLY, options)?;
        Ok(AnySender { q, tree })
    }

    /// The schema of the queue's messages.
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// Sends `bytes` (one message, exactly the schema's size) with priority `prio`,
    /// waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if the bytes are not a message of the schema (nothing is
    /// sent); [`Error::LimitExceeded`] for a priority above [`PRIO_MAX`]; as
    /// [`Sender::send`](super::Sender::send) otherwise.
    pub fn send(&mut self, bytes: &[u8], prio: u32) -> Result<()> {
        self.send_wait(bytes, prio, Wait::Forever)
    }

    /// Sends `bytes` if the queue has room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if it has none; as [`AnySender::send`] otherwise.
    pub fn try_send(&mut self, bytes: &[u8], prio: u32) -> Result<()> {
        self.send_wait(bytes, prio, Wait::Now)
    }

    /// Sends `bytes`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`AnySender::send`] otherwise.
    pub fn send_timeout(&mut self, bytes: &[u8], prio: u32, timeout: Duration) -> Result<()> {
        self.send_wait(bytes, prio, Wait::timeout(timeout))
    }

    fn send_wait(&mut self, bytes: &[u8], prio: u32, wait: Wait) -> Result<()> {
        if prio > PRIO_MAX {
            return Err(priority_error(prio));
        }
        if bytes.len() != self.tree.size() {
            let length = ValueProblem::Length {
                expected: self.tree.size(),
                found: bytes.len(),
            };
            return Err(ValueError::new(self.tree.name().to_owned(), length).into());
        }
        Value::from_bytes(&self.tree, bytes)?;
        self.q.send(bytes, prio, wait)
    }
}

/// A receiver from a POSIX queue of any type: takes each message out of the queue as its
/// bytes, to be decoded with the schema its header carries. It is what
/// `ipc tail --take` uses.
///
/// ```no_run
/// let mut rx = ipc::mq::AnyReceiver::open("/jobs")?;
/// while let Ok(message) = rx.recv() {
///     println!("{}", message.decode()?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AnyReceiver {
    q: Queue,
    tree: SchemaTree,
    /// One message: the queue's message size is the schema's (checked at open), so the
    /// kernel refuses a longer one.
    buf: Box<[MaybeUninit<u8>]>,
    /// The priority of the last message received.
    prio: u32,
}

impl AnyReceiver {
    /// Opens the existing queue `name`, whatever it carries, for receiving; the owner and
    /// mode policy is [`Receiver::open`](super::Receiver::open)'s.
    ///
    /// # Errors
    ///
    /// As [`AnySender::open`].
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`AnyReceiver::open`], trusting what `options`' mode allows.
    ///
    /// # Errors
    ///
    /// As [`AnySender::open`].
    pub fn open_with(name: &str, options: Options) -> Result<Self> {
        let (q, tree) = Queue::open_any(name, MQ_OFlag::O_RDONLY, options)?;
        let buf = Box::new_uninit_slice(tree.size().max(1));
        Ok(AnyReceiver {
            q,
            tree,
            buf,
            prio: 0,
        })
    }

    /// The schema of the queue's messages.
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// The priority of the message last received.
    pub fn priority(&self) -> u32 {
        self.prio
    }

    /// Takes the oldest message of the highest priority, waiting for one: its bytes, not
    /// checked here ([`AnySample::decode`] checks every value).
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] for a message shorter than the schema's size (a raw writer's;
    /// it is consumed); as [`Receiver::recv`](super::Receiver::recv) otherwise.
    pub fn recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_wait(Wait::Forever)
    }

    /// Takes a message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; as [`AnyReceiver::recv`] otherwise.
    pub fn try_recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_wait(Wait::Now)
    }

    /// Takes a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`AnyReceiver::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<AnySample<'_>> {
        self.recv_wait(Wait::timeout(timeout))
    }

    fn recv_wait(&mut self, wait: Wait) -> Result<AnySample<'_>> {
        let (n, prio) = self.q.receive(&mut self.buf, wait)?;
        self.prio = prio;
        let size = self.tree.size();
        if n != size {
            return Err(Error::Corrupt(format!(
                "a {n}-byte message in a queue of {size}-byte `{}`: a raw writer's; it is \
                 consumed",
                self.tree.name()
            )));
        }
        // SAFETY: `receive` wrote `n` bytes at the start of `buf`.
        let bytes = unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), n) };
        Ok(AnySample::new(bytes, &self.tree, false))
    }
}
