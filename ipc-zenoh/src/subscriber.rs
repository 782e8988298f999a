//! [`Subscriber`]: typed samples from a Zenoh key, each checked before a `&T` exists.

use std::time::Duration;

use ipc::schema::SchemaTree;
use ipc::{Error, InvalidMessage, Message, Payload, Result, Rx, SchemaId, Wait};
use zenoh::handlers::{FifoChannel, FifoChannelHandler};
use zenoh::Wait as _;

use crate::options::Options;
use crate::schema::Strangers;
use crate::wire::{Sequences, Tag};
use crate::zenoh_error;

type ZSample = zenoh::sample::Sample;

/// Receives the messages of type `T` (slices `[E]`, as `Subscriber<[E]>`) published on
/// a key expression (`fleet/sensor`, or `fleet/*` for several publishers' keys).
///
/// Every sample is checked before it is handed over, as on every other transport:
///
/// - its tag says which schema it was published with: a sample of another schema is
///   never seen as a `T`; [`recv`](Self::recv) returns [`Error::SchemaMismatch`] naming
///   both types (and the first field that differs, which it asks of the publisher the
///   first time), counts it in [`mismatched`](Self::mismatched), and the next receive
///   goes on with the next sample;
/// - its length must be one `T` (a whole number of `E`, at most
///   [`Options::max_len`]), and its bytes a valid value (enum discriminants, `bool`,
///   `char`, `FixedStr` UTF-8): otherwise [`Error::InvalidMessage`] (or
///   [`Error::LimitExceeded`]), counted in [`invalid`](Self::invalid);
/// - a sample without the tag (published by untyped Zenoh code) is [`Error::Corrupt`],
///   counted in [`invalid`](Self::invalid) too;
/// - a gap in a publisher's sequence numbers (samples Zenoh dropped, or published while
///   this subscriber was unreachable) is [`Error::Lagged`]`(n)` once, counted in
///   [`missed`](Self::missed), and the sample after the gap is the next one received.
///
/// A sample is read in place, in Zenoh's buffer, when it arrived in one piece aligned for
/// `T`; otherwise it is copied once into an aligned buffer of the subscriber.
pub struct Subscriber<P: ?Sized + Payload> {
    sub: zenoh::pubsub::Subscriber<FifoChannelHandler<ZSample>>,
    session: zenoh::Session,
    key: String,
    tree: Option<SchemaTree>,
    max_len: Option<usize>,
    /// The sample handed out last (the one a [`Sample`] may point into).
    current: Option<ZSample>,
    /// A sample received after a gap, returned by the receive after `Lagged`.
    held: Option<ZSample>,
    /// Where a sample that is not aligned in Zenoh's buffer is copied.
    scratch: Vec<P::Element>,
    /// A sample that came in pieces, gathered by Zenoh into one buffer (when aligned).
    gathered: Option<Vec<u8>>,
    /// Each source's next expected sequence number.
    next: Sequences,
    strangers: Strangers,
    received: u64,
    missed: u64,
    mismatched: u64,
    invalid: u64,
}

impl<P: ?Sized + Payload> core::fmt::Debug for Subscriber<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Subscriber")
            .field("key", &self.key)
            .field("schema", &P::schema_id().name)
            .field("received", &self.received)
            .field("missed", &self.missed)
            .field("mismatched", &self.mismatched)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

impl<P: ?Sized + Payload> Subscriber<P> {
    /// Subscribes to `key` (a key expression: wildcards allowed) with the default
    /// [`Options`]: it receives what is published from now on.
    ///
    /// # Errors
    ///
    /// As [`Subscriber::declare_with`].
    pub fn declare(session: &zenoh::Session, key: &str) -> Result<Self> {
        Self::declare_with(session, key, Options::new())
    }

    /// Subscribes to `key` with `opts` (queue capacity, slices' maximum length).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `key` is no key expression; [`Error::Unsupported`] for
    /// slices of a zero-sized type; [`Error::Io`] with Zenoh's error if the session
    /// refuses the declaration.
    pub fn declare_with(session: &zenoh::Session, key: &str, opts: Options) -> Result<Self> {
        if P::IS_SLICE && size_of::<P::Element>() == 0 {
            return Err(Error::Unsupported {
                what: format!("a subscriber of [{}]", P::schema_id().name),
                reason: "a slice of a zero-sized type has no length in bytes to carry",
            });
        }
        let key_expr = crate::key_expr(key)?;
        let sub = session
            .declare_subscriber(key_expr)
            .with(FifoChannel::new(opts.capacity))
            .wait()
            .map_err(zenoh_error("declare_subscriber"))?;
        Ok(Subscriber {
            sub,
            session: session.clone(),
            key: key.to_owned(),
            tree: SchemaTree::of::<P::Element>().ok(),
            max_len: opts.max_len,
            current: None,
            held: None,
            scratch: Vec::new(),
            gathered: None,
            next: Sequences::default(),
            strangers: Strangers::default(),
            received: 0,
            missed: 0,
            mismatched: 0,
            invalid: 0,
        })
    }

    /// The key expression subscribed to.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Receives the next sample, waiting for one. A shutdown request
    /// (`ipc::signal::shutdown_on`) does not end this wait, which is Zenoh's: a program that
    /// must stop on one receives with [`recv_timeout`](Self::recv_timeout) in a loop and
    /// looks at `ipc::signal::shutdown_requested` between receives.
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`], [`Error::InvalidMessage`], [`Error::LimitExceeded`],
    /// [`Error::Corrupt`] for a sample that is not a valid `P` (skipped: the next receive
    /// goes on); [`Error::Lagged`] after a gap; [`Error::Disconnected`] once the session
    /// is closed.
    pub fn recv(&mut self) -> Result<Sample<'_, P>> {
        self.recv_until(Wait::Forever)
    }

    /// Receives a sample if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; as [`Subscriber::recv`] otherwise.
    pub fn try_recv(&mut self) -> Result<Sample<'_, P>> {
        self.recv_until(Wait::Now)
    }

    /// Receives a sample, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`Subscriber::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Sample<'_, P>> {
        self.recv_until(Wait::For(timeout))
    }

    /// Samples received as valid `P`s.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Samples missed: the gaps in the publishers' sequence numbers seen so far.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Samples of another schema, never handed over as `P`.
    pub fn mismatched(&self) -> u64 {
        self.mismatched
    }

    /// Samples of this schema whose bytes were not a valid `P`, and samples without a
    /// tag.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    /// Receives the next sample as `wait` says.
    fn recv_until(&mut self, wait: Wait) -> Result<Sample<'_, P>> {
        let zs = match self.held.take() {
            Some(zs) => zs,
            None => {
                let zs = self.next_raw(wait)?;
                let Some(tag) = zs.attachment().and_then(|a| Tag::decode(&a.to_bytes())) else {
                    self.invalid += 1;
                    return Err(Error::Corrupt(format!(
                        "a sample on `{}` carries no typed-ipc tag: it was not published by \
                         an ipc_zenoh::Publisher",
                        zs.key_expr()
                    )));
                };
                let fingerprint = <P::Element as Message>::FINGERPRINT;
                if tag.fingerprint != fingerprint || tag.slice != P::IS_SLICE {
                    self.mismatched += 1;
                    let mut expected = SchemaId::of::<P::Element>();
                    if P::IS_SLICE {
                        expected.name = format!("[{}]", expected.name);
                    }
                    return Err(self.strangers.mismatch(
                        &self.session,
                        zs.key_expr().as_str(),
                        self.tree.as_ref(),
                        expected,
                        tag.fingerprint,
                        tag.slice,
                    ));
                }
                let gap = self.next.gap(tag.source, tag.seq);
                if gap > 0 {
                    self.missed += gap;
                    self.held = Some(zs);
                    return Err(Error::Lagged(gap));
                }
                zs
            }
        };
        self.deliver(zs)
    }

    /// The next sample Zenoh delivered, waiting as `wait` says.
    fn next_raw(&mut self, wait: Wait) -> Result<ZSample> {
        let got = match wait {
            Wait::Now => self.sub.try_recv().map(|s| s.ok_or(Error::Empty)),
            Wait::For(d) => self.sub.recv_timeout(d).map(|s| s.ok_or(Error::Timeout(d))),
            Wait::Forever => self.sub.recv().map(Ok),
        };
        // The handler's only error: every sender is gone, the subscriber undeclared.
        got.map_err(|_| Error::Disconnected)?
    }

    /// Checks `zs` as a `P` and hands it over.
    fn deliver(&mut self, zs: ZSample) -> Result<Sample<'_, P>> {
        let size = size_of::<P::Element>();
        let zs = &*self.current.insert(zs);
        let bytes = zs.payload().to_bytes();
        let len = match check::<P>(&bytes, self.max_len) {
            Ok(len) => len,
            Err(e) => {
                self.invalid += 1;
                return Err(e);
            }
        };
        self.received += 1;
        let aligned = bytes.as_ptr() as usize % align_of::<P::Element>() == 0;
        let start: *const P::Element = match bytes {
            std::borrow::Cow::Borrowed(b) if aligned => b.as_ptr().cast(),
            // Zenoh gathered a sample that came in pieces into a buffer of its own: keep
            // that buffer rather than copy it again.
            std::borrow::Cow::Owned(v) if aligned => self.gathered.insert(v).as_ptr().cast(),
            _ => {
                self.scratch.clear();
                self.scratch.reserve(len);
                // SAFETY: `check` found `bytes` to be `len` valid elements (`len * size`
                // bytes, each a valid `P::Element` by its `validate`), and the scratch
                // has room for `len` elements; the two do not overlap (the scratch is
                // this subscriber's own allocation). After the copy its first `len`
                // elements are initialised, valid values.
                unsafe {
                    core::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        self.scratch.as_mut_ptr().cast::<u8>(),
                        len * size,
                    );
                    self.scratch.set_len(len);
                }
                self.scratch.as_ptr()
            }
        };
        // SAFETY: `start` points to `len` valid, aligned elements (checked above, or
        // copied into the aligned scratch), which live in `self.current`'s buffer, in
        // `self.gathered` or in `self.scratch`; all stay untouched while the returned
        // sample borrows `self` mutably.
        let value = unsafe { &*P::raw(start, len) };
        Ok(Sample {
            value,
            key: zs.key_expr().as_str(),
        })
    }
}

/// Checks that `bytes` are one valid `P` and returns its element count.
fn check<P: ?Sized + Payload>(bytes: &[u8], max_len: Option<usize>) -> Result<usize> {
    let size = size_of::<P::Element>();
    let name = <P::Element as Message>::SCHEMA.name;
    let len = if P::IS_SLICE {
        if bytes.len() % size != 0 {
            let whole = bytes.len() / size;
            return Err(InvalidMessage::length(name, (whole + 1) * size, bytes.len()).into());
        }
        let len = bytes.len() / size;
        if let Some(max) = max_len.filter(|&max| len > max) {
            return Err(Error::LimitExceeded {
                limit: "max_len",
                value: max as u64,
                hint: format!(
                    "a sample of {len} elements came, and this subscriber takes at most {max} \
                     (raise it with ipc_zenoh::Options::max_len); the sample was skipped"
                ),
            });
        }
        len
    } else {
        if bytes.len() != size {
            return Err(InvalidMessage::length(name, size, bytes.len()).into());
        }
        1
    };
    if !<P::Element as Message>::SCHEMA.accepts_any_bits() {
        for (i, element) in bytes.chunks_exact(size.max(1)).enumerate() {
            <P::Element as Message>::validate(element).map_err(|e| {
                if P::IS_SLICE {
                    e.in_element(name, i, i * size)
                } else {
                    e
                }
            })?;
        }
    }
    Ok(len)
}

/// Subscribers take part in code written against [`ipc::Rx`] (each sample copied out as
/// a `T`).
impl<T: Message> Rx<T> for Subscriber<T> {
    fn recv_wait(&mut self, wait: Wait) -> Result<T> {
        self.recv_until(wait).map(|s| *s.value)
    }
}

/// A received sample: derefs to `&T` (`&[E]` for slices), checked, in Zenoh's buffer or
/// in the subscriber's.
pub struct Sample<'a, P: ?Sized + Payload> {
    value: &'a P,
    key: &'a str,
}

impl<P: ?Sized + Payload> Sample<'_, P> {
    /// The key it was published on.
    pub fn key(&self) -> &str {
        self.key
    }
}

impl<T: Message> Sample<'_, T> {
    /// A copy of the message.
    pub fn get(&self) -> T {
        *self.value
    }
}

impl<P: ?Sized + Payload> core::ops::Deref for Sample<'_, P> {
    type Target = P;
    fn deref(&self) -> &P {
        self.value
    }
}

impl<P: ?Sized + Payload + core::fmt::Debug> core::fmt::Debug for Sample<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Sample").field(&self.value).finish()
    }
}
