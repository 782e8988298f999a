//! [`connect`] and [`bind`]: the ends of a channel named by an [`Endpoint`].

use crate::contract::{Rx, Tx, Wait};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::{fifo, mq, pipe, shm, socket, sysv, tcp};

use super::incoming::Incoming;
use super::Endpoint;

/// Opens the sending end of the channel `endpoint` names (see [`Endpoint`] for the
/// grammar): `connect::<Order>("shm:orders")`.
///
/// | endpoint | the end |
/// |---|---|
/// | `pipe:` | [`pipe::Sender::stdout`] |
/// | `fifo:PATH` | [`fifo::Sender::open`] (waits for a reader) |
/// | `shm:NAME` | [`shm::Sender::open_or_create`] |
/// | `mq:/NAME` | [`mq::Sender::open_or_create`] |
/// | `sysv:KEY` | [`sysv::Sender::open_or_create`] |
/// | `unix:PATH`, `unix-seqpacket:PATH`, `tcp:HOST:PORT` | a connected stream or seqpacket socket |
///
/// Shared memory and the queues are opened or created, so either side may start first.
///
/// # Errors
///
/// [`Error::InvalidEndpoint`] for a string that does not parse, and the errors of the
/// transport's own constructor (a peer of another schema is [`Error::SchemaMismatch`]).
pub fn connect<T: Message>(endpoint: &str) -> Result<Box<dyn Tx<T>>> {
    endpoint.parse::<Endpoint>()?.connect()
}

/// Opens the receiving end of the channel `endpoint` names (see [`Endpoint`] for the
/// grammar): `bind::<Order>("unix:/run/app.sock")`.
///
/// | endpoint | the end |
/// |---|---|
/// | `pipe:` | [`pipe::Receiver::stdin`] |
/// | `fifo:PATH` | the FIFO, made if it is not there (and then removed when the end is dropped) |
/// | `shm:NAME` | [`shm::Receiver::open_or_create`] |
/// | `mq:/NAME` | [`mq::Receiver::open_or_create`]; the queue is removed when the end is dropped |
/// | `sysv:KEY` | [`sysv::Receiver::open_or_create`]; the queue is removed when the end is dropped |
/// | `unix:PATH`, `unix-seqpacket:PATH`, `tcp:HOST:PORT` | a listener that receives from every sender that connects ([`Incoming`]) |
///
/// # Errors
///
/// [`Error::InvalidEndpoint`] for a string that does not parse, and the errors of the
/// transport's own constructor.
pub fn bind<T: Message>(endpoint: &str) -> Result<Box<dyn Rx<T>>> {
    endpoint.parse::<Endpoint>()?.bind()
}

impl Endpoint {
    /// Opens the sending end of this channel: see [`connect`].
    ///
    /// # Errors
    ///
    /// As [`connect`].
    pub fn connect<T: Message>(&self) -> Result<Box<dyn Tx<T>>> {
        Ok(match self {
            Endpoint::Foreign(inner) => inner.connect_foreign()?,
            Endpoint::Pipe => Box::new(pipe::Sender::<T>::stdout()?),
            Endpoint::Fifo { path } => Box::new(fifo::Sender::<T>::open(path)?),
            Endpoint::Shm { name, capacity } => Box::new(shm::Sender::<T>::open_or_create(
                name,
                shm_options(*capacity),
            )?),
            Endpoint::Mq { name, capacity } => Box::new(mq::Sender::<T>::open_or_create(
                name,
                mq_options(*capacity),
            )?),
            Endpoint::Sysv { key } => Box::new(sysv::Sender::<T>::open_or_create(
                sysv::Key::Value(*key),
                sysv::Options::new(),
            )?),
            Endpoint::Unix { path } => Box::new(socket::Stream::<T>::connect(path)?),
            Endpoint::UnixSeqpacket { path } => Box::new(socket::SeqPacket::<T>::connect(path)?),
            Endpoint::Tcp { host, port } => {
                Box::new(tcp::Stream::<T>::connect((host.as_str(), *port))?)
            }
        })
    }

    /// Opens the receiving end of this channel: see [`bind`].
    ///
    /// # Errors
    ///
    /// As [`bind`].
    pub fn bind<T: Message>(&self) -> Result<Box<dyn Rx<T>>> {
        Ok(match self {
            Endpoint::Foreign(inner) => inner.bind_foreign()?,
            Endpoint::Pipe => Box::new(pipe::Receiver::<T>::stdin()?),
            Endpoint::Fifo { path } => {
                let made = make_fifo(path)?;
                Box::new(Owning(fifo::Receiver::<T>::open(path)?, made))
            }
            Endpoint::Shm { name, capacity } => Box::new(shm::Receiver::<T>::open_or_create(
                name,
                shm_options(*capacity),
            )?),
            Endpoint::Mq { name, capacity } => {
                let rx = mq::Receiver::<T>::open_or_create(name, mq_options(*capacity))?;
                Box::new(Owning(rx, Unlink(name.clone())))
            }
            Endpoint::Sysv { key } => {
                let rx = sysv::Receiver::<T>::open_or_create(
                    sysv::Key::Value(*key),
                    sysv::Options::new(),
                )?;
                Box::new(RemovedOnDrop(rx))
            }
            Endpoint::Unix { path } => Box::new(Incoming::new(socket::Listener::<T>::bind(path)?)?),
            Endpoint::UnixSeqpacket { path } => {
                Box::new(Incoming::new(socket::SeqPacketListener::<T>::bind(path)?)?)
            }
            Endpoint::Tcp { host, port } => Box::new(Incoming::new(tcp::Listener::<T>::bind((
                host.as_str(),
                *port,
            ))?)?),
        })
    }
}

impl Endpoint {
    /// The sending end of this channel in foreign-peer mode (`?foreign`).
    fn connect_foreign<T: Message>(&self) -> Result<Box<dyn Tx<T>>> {
        Ok(match self {
            Endpoint::Pipe => Box::new(pipe::Sender::<T>::stdout()?.foreign()),
            Endpoint::Fifo { path } => Box::new(fifo::Sender::<T>::open_with(
                path,
                &fifo::Options::new().foreign(),
            )?),
            Endpoint::Mq { name, capacity } => Box::new(mq::Sender::<T>::open_or_create(
                name,
                mq_options(*capacity).foreign(),
            )?),
            Endpoint::Sysv { key } => Box::new(sysv::Sender::<T>::open_or_create(
                sysv::Key::Value(*key),
                sysv::Options::new().foreign(),
            )?),
            Endpoint::Unix { path } => Box::new(socket::Stream::<T>::connect_with(
                path,
                &socket::Options::new().foreign(),
            )?),
            Endpoint::Tcp { host, port } => {
                Box::new(tcp::Stream::<T>::connect_foreign((host.as_str(), *port))?)
            }
            other => return Err(no_foreign(other)),
        })
    }

    /// The receiving end of this channel in foreign-peer mode (`?foreign`).
    fn bind_foreign<T: Message>(&self) -> Result<Box<dyn Rx<T>>> {
        Ok(match self {
            Endpoint::Pipe => Box::new(pipe::Receiver::<T>::stdin()?.foreign()),
            Endpoint::Fifo { path } => {
                let made = make_fifo(path)?;
                let rx = fifo::Receiver::<T>::open_with(path, &fifo::Options::new().foreign())?;
                Box::new(Owning(rx, made))
            }
            Endpoint::Mq { name, capacity } => {
                // A queue the foreign program made stays its own: removed on drop only
                // if this end made it.
                let opts = mq_options(*capacity).foreign();
                let (rx, made) = match mq::Receiver::<T>::create(name, opts) {
                    Ok(rx) => (rx, true),
                    Err(Error::AlreadyExists { .. }) => {
                        (mq::Receiver::<T>::open_with(name, opts)?, false)
                    }
                    Err(e) => return Err(e),
                };
                Box::new(Owning(rx, made.then(|| Unlink(name.clone()))))
            }
            Endpoint::Sysv { key } => {
                let rx = sysv::Receiver::<T>::open_or_create(
                    sysv::Key::Value(*key),
                    sysv::Options::new().foreign(),
                )?;
                Box::new(RemovedOnDrop(rx))
            }
            Endpoint::Unix { path } => Box::new(Incoming::new(socket::Listener::<T>::bind_with(
                path,
                socket::Options::new().foreign(),
            )?)?),
            Endpoint::Tcp { host, port } => Box::new(Incoming::new(
                tcp::Listener::<T>::bind((host.as_str(), *port))?.foreign(),
            )?),
            other => return Err(no_foreign(other)),
        })
    }
}

fn no_foreign(e: &Endpoint) -> Error {
    Error::Unsupported {
        what: format!("foreign-peer mode on `{e}`"),
        reason: "only pipe:, fifo:, mq:, sysv:, unix: and tcp: endpoints take `?foreign`",
    }
}

/// Makes the FIFO at `path` unless something is there: the guard removes it on drop.
fn make_fifo(path: &str) -> Result<Option<fifo::Fifo>> {
    match fifo::create(path) {
        Ok(guard) => Ok(Some(guard)),
        Err(Error::AlreadyExists { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn shm_options(capacity: Option<usize>) -> shm::Options {
    let opts = shm::Options::new();
    match capacity {
        Some(n) => opts.capacity(n),
        None => opts,
    }
}

fn mq_options(capacity: Option<usize>) -> mq::Options {
    let opts = mq::Options::new();
    match capacity {
        Some(n) => opts.capacity(n),
        None => opts,
    }
}

/// A receiving end with something it keeps, and drops with it: a FIFO it made, a queue
/// to unlink.
struct Owning<R, G>(R, G);

impl<T: Message, R: Rx<T>, G> Rx<T> for Owning<R, G> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        self.0.recv_wait(wait)
    }

    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        self.0.recv_into_wait(out, wait)
    }

    fn recv_many_wait(&mut self, out: &mut [T], wait: Wait) -> Result<usize> {
        self.0.recv_many_wait(out, wait)
    }
}

/// Unlinks a POSIX queue when dropped.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
    }
}

/// A System V receiver that removes its queue when dropped.
struct RemovedOnDrop<T: Message>(sysv::Receiver<T>);

impl<T: Message> Rx<T> for RemovedOnDrop<T> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        self.0.recv_wait(wait)
    }

    fn recv_into_wait(&mut self, out: &mut T, wait: Wait) -> Result<()> {
        self.0.recv_into_wait(out, wait)
    }

    fn recv_many_wait(&mut self, out: &mut [T], wait: Wait) -> Result<usize> {
        self.0.recv_many_wait(out, wait)
    }
}

impl<T: Message> Drop for RemovedOnDrop<T> {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}
