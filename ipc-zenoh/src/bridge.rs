//! Bridges between a machine's shared-memory channels and Zenoh, for a message type
//! known only from the schema a channel carries: what the `ipc bridge` command runs.
//!
//! - [`Outbound`] carries a local topic (subscribed to: it takes nothing from anyone)
//!   or an MPSC channel (received from: it is the channel's one receiver) onto a Zenoh
//!   key, each sample tagged with the channel schema's fingerprint as
//!   [`Publisher`](crate::Publisher) tags them, so typed [`Subscriber`](crate::Subscriber)s
//!   of other hosts check it, and answering with the schema in full.
//! - [`Inbound`] carries the samples of a Zenoh key into a local MPSC channel (as one of
//!   its senders), after checking each one's fingerprint against the channel's schema and
//!   its bytes against the schema's values.
//!
//! The bytes are forwarded as they are: no decoding, no re-encoding.
//!
//! # Back-pressure and loss
//!
//! By default nothing is dropped while both hosts are connected: the outbound bridge
//! publishes with [`Overflow::Block`](crate::Overflow::Block), so a slow remote
//! subscriber holds it back, and it holds back the local topic's publisher as any slow
//! subscriber does (under the topic's own `Overflow::Block`; under `DropOldest` the
//! bridge lags and says how much: [`Event::Dropped`]). The inbound bridge waits for room
//! in the local channel, which holds back Zenoh's reception, and with it the remote
//! publisher. [`Inbound::drop_when_full`] makes it drop instead ([`Event::Dropped`]).
//!
//! What is published while the other host is unreachable is lost; the bridge goes on,
//! Zenoh reconnects, and the loss is counted on the receiving side from the sequence
//! numbers ([`Event::Missed`] on an inbound bridge, [`Error::Lagged`] on a typed
//! subscriber). An outbound bridge of a topic numbers its samples by their positions in
//! the topic, under an id derived from the topic (its name and publisher): a bridge that
//! is killed and restarted continues the same numbering, so the samples it did not carry
//! meanwhile show as exactly that gap on the other side.

use std::time::Duration;

use ipc::schema::SchemaTree;
use ipc::shm::{AnyReceiver, AnySubscriber, Pattern};
use ipc::{Error, Result, SchemaId};
use zenoh::handlers::{FifoChannel, FifoChannelHandler};
use zenoh::Wait as _;

use crate::schema::Strangers;
use crate::wire::{id_of, new_source, Sequences, Tag};
use crate::{schema, zenoh_error, Options};

/// What one step of a bridge did.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A sample was carried.
    Forwarded,
    /// Nothing came within the step's time.
    Idle,
    /// This many samples were dropped here: skipped by a local topic that overtook the
    /// outbound bridge, or (inbound, [`Inbound::drop_when_full`]) refused by a full
    /// local channel.
    Dropped(u64),
    /// The inbound bridge found a gap of this many samples in a remote source's sequence
    /// numbers: published, and never received here (the other host, or the link, went
    /// away meanwhile, or Zenoh dropped them under congestion).
    Missed(u64),
    /// A sample was refused, not forwarded: another schema
    /// ([`Error::SchemaMismatch`] naming both), bytes that are no value of the schema, or
    /// a sample without a tag.
    Refused(Error),
}

/// What a bridge has counted since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples carried.
    pub forwarded: u64,
    /// Samples dropped by this bridge (see [`Event::Dropped`]).
    pub dropped: u64,
    /// Samples missed, as gaps in the sources' numbering (inbound only).
    pub missed: u64,
    /// Samples of another schema, refused.
    pub mismatched: u64,
    /// Samples whose bytes were no value of the schema, or without a tag, refused.
    pub invalid: u64,
}

/// The local end an outbound bridge reads.
enum Source {
    Topic(AnySubscriber),
    Channel(AnyReceiver),
}

/// Carries a local shared-memory topic or channel onto a Zenoh key.
pub struct Outbound {
    source: Source,
    publisher: zenoh::pubsub::Publisher<'static>,
    _schema: zenoh::query::Queryable<()>,
    fingerprint: u64,
    slice: bool,
    id: u64,
    seq: u64,
    counts: Counts,
}

impl core::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Outbound")
            .field("key", &self.publisher.key_expr().as_str())
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// Opens the local topic or channel `name` (`ipc::shm`) and declares a publisher of
    /// its samples on `key`, with `opts` (overflow, express).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no such topic or channel; [`Error::Unsupported`]
    /// for a segment that is neither (a shared value); [`Error::Busy`] for a channel that
    /// has its receiver; as [`AnySubscriber::open`], [`AnyReceiver::open`] and
    /// [`Publisher::declare_with`](crate::Publisher::declare_with) otherwise.
    pub fn open(session: &zenoh::Session, name: &str, key: &str, opts: &Options) -> Result<Self> {
        let found = ipc::shm::list()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::NotFound {
                what: "shared-memory topic or channel",
                name: name.to_owned(),
            })?;
        let (source, tree, slice, id) = match found.pattern {
            Pattern::Topic => {
                let sub = AnySubscriber::open(name)?;
                let publisher = found
                    .participants
                    .iter()
                    .find(|p| p.role == ipc::shm::Role::Publisher)
                    .and_then(|p| p.pid);
                let tree = sub.schema().clone();
                let slice = sub.max_len().is_some();
                // The same id for every bridge of this topic, so a restarted one
                // continues the numbering (positions in the topic).
                let id = id_of((name, publisher, tree.fingerprint(), key));
                (Source::Topic(sub), tree, slice, id)
            }
            Pattern::Channel => {
                let rx = AnyReceiver::open(name)?;
                let tree = rx.schema().clone();
                let slice = rx.max_len().is_some();
                (Source::Channel(rx), tree, slice, new_source(key))
            }
            _ => {
                return Err(Error::Unsupported {
                    what: format!("bridging `{name}`"),
                    reason: "it is neither a topic nor a channel (a shared value has no stream \
                             of messages to carry)",
                })
            }
        };
        let key_expr = crate::key_expr(key)?;
        let schema = schema::serve(session, key, &tree)?;
        let publisher = session
            .declare_publisher(key_expr)
            .congestion_control(opts.congestion())
            .express(opts.express)
            .wait()
            .map_err(zenoh_error("declare_publisher"))?;
        Ok(Outbound {
            source,
            publisher,
            _schema: schema,
            fingerprint: tree.fingerprint(),
            slice,
            id,
            seq: 0,
            counts: Counts::default(),
        })
    }

    /// Carries at most one sample, waiting at most `timeout` for it.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the local publisher (every sender) is gone and
    /// everything it sent is carried; [`Error::Shutdown`] on a shutdown request;
    /// [`Error::Corrupt`] for a damaged segment; [`Error::Io`] with Zenoh's error.
    pub fn step(&mut self, timeout: Duration) -> Result<Event> {
        let (bytes, seq) = match &mut self.source {
            Source::Topic(sub) => {
                let position = sub.position();
                match sub.recv_timeout(timeout) {
                    Ok(sample) => (sample.bytes(), position),
                    Err(Error::Lagged(n)) => {
                        self.counts.dropped += n;
                        return Ok(Event::Dropped(n));
                    }
                    Err(Error::Timeout(_)) => return Ok(Event::Idle),
                    Err(e) => return Err(e),
                }
            }
            Source::Channel(rx) => match rx.recv_timeout(timeout) {
                Ok(sample) => {
                    self.seq += 1;
                    (sample.bytes(), self.seq - 1)
                }
                Err(Error::Timeout(_)) => return Ok(Event::Idle),
                Err(e) => return Err(e),
            },
        };
        let tag = Tag {
            fingerprint: self.fingerprint,
            slice: self.slice,
            source: self.id,
            seq,
        };
        self.publisher
            .put(bytes)
            .attachment(tag.encode())
            .wait()
            .map_err(zenoh_error("put"))?;
        self.counts.forwarded += 1;
        Ok(Event::Forwarded)
    }

    /// What this bridge has counted.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

/// Carries the samples of a Zenoh key into a local shared-memory channel.
pub struct Inbound {
    sub: zenoh::pubsub::Subscriber<FifoChannelHandler<zenoh::sample::Sample>>,
    tx: ipc::shm::AnySender,
    session: zenoh::Session,
    tree: SchemaTree,
    slice: bool,
    drop_when_full: bool,
    next: Sequences,
    /// A sample received after a gap, carried by the step after the one reporting it.
    held: Option<zenoh::sample::Sample>,
    strangers: Strangers,
    counts: Counts,
}

impl core::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inbound")
            .field("key", &self.sub.key_expr().as_str())
            .field("schema", &self.tree.name())
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Inbound {
    /// Opens the local channel `name` (`ipc::shm`, made by its receiver) as a sender and
    /// subscribes to `key` with `opts` (queue capacity).
    ///
    /// # Errors
    ///
    /// As [`ipc::shm::AnySender::open`] and
    /// [`Subscriber::declare_with`](crate::Subscriber::declare_with).
    pub fn open(session: &zenoh::Session, key: &str, name: &str, opts: &Options) -> Result<Self> {
        let tx = ipc::shm::AnySender::open(name)?;
        let key_expr = crate::key_expr(key)?;
        let sub = session
            .declare_subscriber(key_expr)
            .with(FifoChannel::new(opts.capacity))
            .wait()
            .map_err(zenoh_error("declare_subscriber"))?;
        Ok(Inbound {
            tree: tx.schema().clone(),
            slice: tx.max_len().is_some(),
            tx,
            sub,
            session: session.clone(),
            drop_when_full: false,
            next: Sequences::default(),
            held: None,
            strangers: Strangers::default(),
            counts: Counts::default(),
        })
    }

    /// Drop a sample that finds the local channel full ([`Event::Dropped`]) instead of
    /// waiting for room.
    pub fn drop_when_full(mut self, drop: bool) -> Self {
        self.drop_when_full = drop;
        self
    }

    /// The schema of the local channel, which every sample must have.
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// Carries at most one sample, waiting at most `timeout` for it. A gap before a
    /// sample is reported first ([`Event::Missed`]), and the sample is carried by the
    /// next step.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] once the local channel's receiver is gone, or the session
    /// closed; [`Error::Shutdown`] on a shutdown request while waiting for room;
    /// [`Error::Corrupt`] for a damaged segment.
    pub fn step(&mut self, timeout: Duration) -> Result<Event> {
        if let Some(zs) = self.held.take() {
            return self.forward(&zs);
        }
        let zs = match self.sub.recv_timeout(timeout) {
            Ok(Some(zs)) => zs,
            Ok(None) => return Ok(Event::Idle),
            Err(_) => return Err(Error::Disconnected),
        };
        let Some(tag) = zs.attachment().and_then(|a| Tag::decode(&a.to_bytes())) else {
            self.counts.invalid += 1;
            return Ok(Event::Refused(Error::Corrupt(format!(
                "a sample on `{}` carries no typed-ipc tag: it was not published by a typed \
                 publisher or a bridge",
                zs.key_expr()
            ))));
        };
        if tag.fingerprint != self.tree.fingerprint() || tag.slice != self.slice {
            self.counts.mismatched += 1;
            let mut expected = SchemaId {
                name: self.tree.name().to_owned(),
                fingerprint: self.tree.fingerprint(),
                size: self.tree.size() as u64,
                align: self.tree.align() as u64,
            };
            if self.slice {
                expected.name = format!("[{}]", expected.name);
            }
            return Ok(Event::Refused(self.strangers.mismatch(
                &self.session,
                zs.key_expr().as_str(),
                Some(&self.tree),
                expected,
                tag.fingerprint,
                tag.slice,
            )));
        }
        let gap = self.next.gap(tag.source, tag.seq);
        if gap > 0 {
            self.counts.missed += gap;
            self.held = Some(zs);
            return Ok(Event::Missed(gap));
        }
        self.forward(&zs)
    }

    /// Sends a checked sample's bytes into the local channel.
    fn forward(&mut self, zs: &zenoh::sample::Sample) -> Result<Event> {
        let bytes = zs.payload().to_bytes();
        let sent = if self.drop_when_full {
            self.tx.try_send(&bytes)
        } else {
            self.tx.send(&bytes)
        };
        match sent {
            Ok(()) => {
                self.counts.forwarded += 1;
                Ok(Event::Forwarded)
            }
            Err(Error::Full) => {
                self.counts.dropped += 1;
                Ok(Event::Dropped(1))
            }
            Err(e @ (Error::InvalidValue(_) | Error::LimitExceeded { .. })) => {
                self.counts.invalid += 1;
                Ok(Event::Refused(e))
            }
            Err(e) => Err(e),
        }
    }

    /// What this bridge has counted.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}
