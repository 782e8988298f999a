//! [`Publisher`]: typed samples onto a Zenoh key.

use core::marker::PhantomData;
use std::time::{Duration, Instant};

use ipc::schema::SchemaTree;
use ipc::{Error, Message, Payload, Result, SendError, Tx, Wait};
use zenoh::Wait as _;

use crate::options::Options;
use crate::wire::{new_source, Tag};
use crate::{schema, zenoh_error};

/// Publishes messages of type `T` (or slices `[E]`, as `Publisher<[E]>`) on one Zenoh
/// key. Each sample's payload is the message's bytes as they lie in memory; its
/// attachment carries the schema's fingerprint, this publisher's id and the sample's
/// sequence number (see the crate docs, "Wire format"). The publisher also answers, under
/// a hidden key of its own, with its whole schema, so that a subscriber of another
/// version of the type can say which field differs.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// # let session: zenoh::Session = unimplemented!();
/// let mut tx = ipc_zenoh::Publisher::<[u64; 4]>::declare(&session, "demo/prices")?;
/// tx.send([1, 2, 3, 4])?;
/// # Ok(()) }
/// ```
pub struct Publisher<P: ?Sized + Payload> {
    publisher: zenoh::pubsub::Publisher<'static>,
    _schema: zenoh::query::Queryable<()>,
    source: u64,
    seq: u64,
    key: String,
    _payload: PhantomData<fn(&P)>,
}

impl<P: ?Sized + Payload> core::fmt::Debug for Publisher<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Publisher")
            .field("key", &self.key)
            .field("schema", &P::schema_id().name)
            .field("published", &self.seq)
            .finish_non_exhaustive()
    }
}

impl<P: ?Sized + Payload> Publisher<P> {
    /// Declares a publisher of `P` on `key` with the default [`Options`] (it waits when
    /// the network cannot take a sample: [`Overflow::Block`](crate::Overflow::Block)).
    ///
    /// # Errors
    ///
    /// As [`Publisher::declare_with`].
    pub fn declare(session: &zenoh::Session, key: &str) -> Result<Self> {
        Self::declare_with(session, key, Options::new())
    }

    /// Declares a publisher of `P` on `key` with `opts` (overflow, express).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `key` is no key expression; [`Error::Unsupported`] for slices of a zero-sized
    /// type; [`Error::Io`] with Zenoh's error if the session refuses the declaration.
    pub fn declare_with(session: &zenoh::Session, key: &str, opts: Options) -> Result<Self> {
        if P::IS_SLICE && size_of::<P::Element>() == 0 {
            return Err(Error::Unsupported {
                what: format!("a publisher of [{}]", P::schema_id().name),
                reason: "a slice of a zero-sized type has no length in bytes to carry",
            });
        }
        let key_expr = crate::key_expr(key)?;
        let tree = SchemaTree::of::<P::Element>().map_err(|e| Error::Unsupported {
            what: format!("the schema of {}", P::schema_id().name),
            reason: leak_reason(e),
        })?;
        let schema = schema::serve(session, key, &tree)?;
        let publisher = session
            .declare_publisher(key_expr)
            .congestion_control(opts.congestion())
            .express(opts.express)
            .wait()
            .map_err(zenoh_error("declare_publisher"))?;
        let source = new_source(key);
        Ok(Publisher {
            publisher,
            _schema: schema,
            source,
            seq: 0,
            key: key.to_owned(),
            _payload: PhantomData,
        })
    }

    /// The key this publisher publishes on.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Samples published so far (the sequence number of the next one).
    pub fn published(&self) -> u64 {
        self.seq
    }

    /// True if Zenoh knows of at least one subscriber whose key matches this publisher's
    /// (of any schema: a subscriber of another type matches too, and reports the
    /// mismatch).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] with Zenoh's error if the session is closed.
    pub fn has_subscribers(&self) -> Result<bool> {
        self.publisher
            .matching_status()
            .wait()
            .map(|s| s.matching())
            .map_err(zenoh_error("matching_status"))
    }

    /// Waits until Zenoh knows of a subscriber of this key, at most `timeout`: samples
    /// published before any subscriber is known go nowhere.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none appeared in time; as [`Publisher::has_subscribers`].
    pub fn wait_for_subscribers(&self, timeout: Duration) -> Result<()> {
        let start = Instant::now();
        while !self.has_subscribers()? {
            if start.elapsed() >= timeout {
                return Err(Error::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Publishes `bytes` (already a valid payload of `P`) with the next tag.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let tag = Tag {
            fingerprint: <P::Element as Message>::FINGERPRINT,
            slice: P::IS_SLICE,
            source: self.source,
            seq: self.seq,
        };
        self.publisher
            .put(bytes)
            .attachment(tag.encode())
            .wait()
            .map_err(zenoh_error("put"))?;
        self.seq += 1;
        Ok(())
    }
}

impl<T: Message> Publisher<T> {
    /// Publishes `msg`. Under [`Overflow::Block`](crate::Overflow::Block) it waits while
    /// the network cannot take it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] with Zenoh's error (a closed session); the message is handed back.
    pub fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.send_ref(&msg).map_err(|e| SendError::new(e, msg))
    }

    /// Publishes `*msg` without moving a copy of it into the call.
    ///
    /// # Errors
    ///
    /// As [`Publisher::send`].
    pub fn send_ref(&mut self, msg: &T) -> Result<()> {
        self.put(ipc::as_bytes(msg))
    }
}

impl<E: Message> Publisher<[E]> {
    /// Publishes the elements of `elements` as one sample.
    ///
    /// # Errors
    ///
    /// As [`Publisher::send`].
    pub fn send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.put(slice_bytes(elements))
    }
}

/// The bytes of messages lying back to back.
pub(crate) fn slice_bytes<E: Message>(elements: &[E]) -> &[u8] {
    // Evaluating `E::SCHEMA` runs the derive's no-padding check for generic types.
    const { assert!(E::SCHEMA.size == size_of::<E>()) };
    // SAFETY: `E: Message` guarantees every byte of an `E` is initialised (no padding);
    // the elements of a slice lie `size_of::<E>()` apart with nothing between them, so
    // the `size_of_val(elements)` bytes from the first element's are all initialised and
    // borrowed for as long as `elements` is.
    unsafe { core::slice::from_raw_parts(elements.as_ptr().cast::<u8>(), size_of_val(elements)) }
}

/// Publishers take part in code written against [`ipc::Tx`]: a put never reports `Full`
/// (Zenoh waits or drops, as [`Overflow`](crate::Overflow) says), so `wait` changes
/// nothing.
impl<T: Message> Tx<T> for Publisher<T> {
    fn send_wait(&mut self, msg: &T, _wait: Wait) -> Result<()> {
        self.send_ref(msg)
    }
}

/// A `SchemaError` as the `'static` reason of [`Error::Unsupported`].
fn leak_reason(e: ipc::schema::SchemaError) -> &'static str {
    let _ = e;
    "its schema is too deep or too large to be written out for other hosts"
}
