//! [`Querier`] and [`Queryable`]: typed request/response over Zenoh's queries.
//!
//! A query carries the request's bytes as its payload; its attachment carries both
//! fingerprints (request and response) and both schemas in full. A queryable whose types
//! differ answers with an error reply carrying its own two schemas, and each side reports
//! [`Error::SchemaMismatch`] naming both types and the first field that differs. The
//! answer's attachment is the tag of a published sample (see `wire.rs`).

use core::marker::PhantomData;
use std::time::{Duration, Instant};

use ipc::schema::SchemaTree;
use ipc::{Error, Message, Result, SchemaId};
use zenoh::handlers::{FifoChannel, FifoChannelHandler};
use zenoh::Wait as _;

use crate::options::Options;
use crate::wire::{new_source, Tag};
use crate::zenoh_error;

const QUERY_MAGIC: [u8; 4] = *b"ipq\x01";
const REFUSAL_MAGIC: [u8; 4] = *b"ipe\x01";

/// Two schemas written one after the other: the first's length (u32 LE), then each.
fn encode_pair(magic: [u8; 4], head: &[u8], first: &SchemaTree, second: &SchemaTree) -> Vec<u8> {
    let (a, b) = (first.encode(), second.encode());
    let mut out = Vec::with_capacity(4 + head.len() + 4 + a.len() + b.len());
    out.extend_from_slice(&magic);
    out.extend_from_slice(head);
    out.extend_from_slice(&(a.len() as u32).to_le_bytes());
    out.extend_from_slice(&a);
    out.extend_from_slice(&b);
    out
}

/// Reads what [`encode_pair`] wrote after `head_len` bytes of head; `None` for anything
/// else.
fn decode_pair(magic: [u8; 4], head_len: usize, b: &[u8]) -> Option<(SchemaTree, SchemaTree)> {
    let rest = b.strip_prefix(&magic)?.get(head_len..)?;
    let (len, rest) = rest.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    let (a, b) = rest.split_at_checked(len)?;
    Some((SchemaTree::decode(a).ok()?, SchemaTree::decode(b).ok()?))
}

/// The identity of a schema received from another host.
fn id_of_tree(tree: &SchemaTree) -> SchemaId {
    SchemaId {
        name: tree.name().to_owned(),
        fingerprint: tree.fingerprint(),
        size: tree.size() as u64,
        align: tree.align() as u64,
    }
}

/// The mismatch between our `(Req, Resp)` and theirs, on the first of the two that
/// differs.
fn pair_mismatch<Req: Message, Resp: Message>(theirs: Option<(SchemaTree, SchemaTree)>) -> Error {
    let Some((req, resp)) = theirs else {
        return Error::Corrupt(
            "the other side of a query is not a typed-ipc querier or queryable".into(),
        );
    };
    let (expected, ours, theirs) = if req.fingerprint() != Req::FINGERPRINT {
        (SchemaId::of::<Req>(), SchemaTree::of::<Req>().ok(), req)
    } else {
        (SchemaId::of::<Resp>(), SchemaTree::of::<Resp>().ok(), resp)
    };
    Error::SchemaMismatch {
        expected: Box::new(expected),
        found: Box::new(id_of_tree(&theirs)),
        difference: ours
            .and_then(|o| o.first_difference(&theirs))
            .map(|d| d.to_string().into_boxed_str()),
    }
}

/// Our two schemas, or the error that says why they cannot be written out.
fn trees<Req: Message, Resp: Message>() -> Result<(SchemaTree, SchemaTree)> {
    let tree = |r: core::result::Result<SchemaTree, _>, name: &str| {
        r.map_err(|_| Error::Unsupported {
            what: format!("the schema of {name}"),
            reason: "it is too deep or too large to be written out for other hosts",
        })
    };
    Ok((
        tree(SchemaTree::of::<Req>(), Req::SCHEMA.name)?,
        tree(SchemaTree::of::<Resp>(), Resp::SCHEMA.name)?,
    ))
}

/// Asks the queryables of a key with a `Req` and takes the first valid `Resp` answered.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// # let session: zenoh::Session = unimplemented!();
/// let mut calc = ipc_zenoh::Querier::<[u32; 2], u64>::declare(&session, "demo/sum")?;
/// let sum = calc.call(&[2, 3])?;
/// # Ok(()) }
/// ```
pub struct Querier<Req: Message, Resp: Message> {
    querier: zenoh::query::Querier<'static>,
    key: String,
    timeout: Duration,
    /// The attachment of every query: both fingerprints, then both schemas.
    tag: Vec<u8>,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req: Message, Resp: Message> core::fmt::Debug for Querier<Req, Resp> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Querier")
            .field("key", &self.key)
            .field("request", &Req::SCHEMA.name)
            .field("response", &Resp::SCHEMA.name)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Querier<Req, Resp> {
    /// Declares a querier of `key` whose calls wait 10 s for an answer.
    ///
    /// # Errors
    ///
    /// As [`Querier::declare_with`].
    pub fn declare(session: &zenoh::Session, key: &str) -> Result<Self> {
        Self::declare_with(session, key, Options::new())
    }

    /// Declares a querier of `key` with `opts` (timeout, express).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `key` is no key expression; [`Error::Io`] with Zenoh's
    /// error if the session refuses the declaration.
    pub fn declare_with(session: &zenoh::Session, key: &str, opts: Options) -> Result<Self> {
        let key_expr = crate::key_expr(key)?;
        let (req, resp) = trees::<Req, Resp>()?;
        let mut head = [0u8; 16];
        head[..8].copy_from_slice(&Req::FINGERPRINT.to_le_bytes());
        head[8..].copy_from_slice(&Resp::FINGERPRINT.to_le_bytes());
        let querier = session
            .declare_querier(key_expr)
            .timeout(opts.timeout)
            .wait()
            .map_err(zenoh_error("declare_querier"))?;
        Ok(Querier {
            querier,
            key: key.to_owned(),
            timeout: opts.timeout,
            tag: encode_pair(QUERY_MAGIC, &head, &req, &resp),
            _types: PhantomData,
        })
    }

    /// Sends `req` and returns the first valid answer, waiting at most the querier's
    /// timeout.
    ///
    /// # Errors
    ///
    /// As [`Querier::call_timeout`].
    pub fn call(&mut self, req: &Req) -> Result<Resp> {
        self.call_timeout(req, self.timeout)
    }

    /// Sends `req` and returns the first valid answer, waiting at most `timeout` (and at
    /// most the querier's own timeout, after which Zenoh ends the query).
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`] if the queryables that answered use other types (naming
    /// both); [`Error::InvalidMessage`] if an answer's bytes are no valid `Resp`;
    /// [`Error::Timeout`] if none answered in time; [`Error::NotFound`] if Zenoh knows of
    /// no queryable of the key; [`Error::Io`] with Zenoh's error.
    pub fn call_timeout(&mut self, req: &Req, timeout: Duration) -> Result<Resp> {
        let start = Instant::now();
        let replies = self
            .querier
            .get()
            .payload(ipc::as_bytes(req))
            .attachment(self.tag.clone())
            .wait()
            .map_err(zenoh_error("get"))?;
        let mut refusal = None;
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            let reply = match replies.recv_timeout(left) {
                Ok(Some(reply)) => reply,
                Ok(None) => return Err(refusal.unwrap_or(Error::Timeout(timeout))),
                // Zenoh ended the query: every queryable answered, or its timeout passed.
                Err(_) => {
                    return Err(refusal.unwrap_or_else(|| {
                        if start.elapsed() >= self.timeout.min(timeout) {
                            Error::Timeout(timeout)
                        } else {
                            Error::NotFound {
                                what: "queryable of key",
                                name: self.key.clone(),
                            }
                        }
                    }))
                }
            };
            match reply.result() {
                Ok(sample) => {
                    let tag = sample.attachment().and_then(|a| Tag::decode(&a.to_bytes()));
                    match tag {
                        Some(t) if t.fingerprint == Resp::FINGERPRINT && !t.slice => {
                            match ipc::from_bytes::<Resp>(&sample.payload().to_bytes()) {
                                Ok(resp) => return Ok(resp),
                                Err(e) => refusal = Some(e.into()),
                            }
                        }
                        _ => refusal = Some(pair_mismatch::<Req, Resp>(None)),
                    }
                }
                Err(err) => {
                    let theirs = decode_pair(REFUSAL_MAGIC, 0, &err.payload().to_bytes());
                    refusal = Some(pair_mismatch::<Req, Resp>(theirs));
                }
            }
        }
    }
}

/// Answers the queries of a key: each request a checked `Req`, each answer a `Resp`.
///
/// ```no_run
/// # fn main() -> ipc::Result<()> {
/// # let session: zenoh::Session = unimplemented!();
/// let mut calc = ipc_zenoh::Queryable::<[u32; 2], u64>::declare(&session, "demo/sum")?;
/// loop {
///     let request = calc.recv()?;
///     let sum = request[0] as u64 + request[1] as u64;
///     request.reply(&sum)?;
/// }
/// # }
/// ```
pub struct Queryable<Req: Message, Resp: Message> {
    queryable: zenoh::query::Queryable<FifoChannelHandler<zenoh::query::Query>>,
    key: String,
    /// Our two schemas, written out for a querier of other types.
    refusal: Vec<u8>,
    source: u64,
    answered: u64,
    mismatched: u64,
    invalid: u64,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req: Message, Resp: Message> core::fmt::Debug for Queryable<Req, Resp> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Queryable")
            .field("key", &self.key)
            .field("request", &Req::SCHEMA.name)
            .field("response", &Resp::SCHEMA.name)
            .field("mismatched", &self.mismatched)
            .field("invalid", &self.invalid)
            .finish_non_exhaustive()
    }
}

impl<Req: Message, Resp: Message> Queryable<Req, Resp> {
    /// Declares a queryable of `key` (a key expression: wildcards allowed).
    ///
    /// # Errors
    ///
    /// As [`Queryable::declare_with`].
    pub fn declare(session: &zenoh::Session, key: &str) -> Result<Self> {
        Self::declare_with(session, key, Options::new())
    }

    /// Declares a queryable of `key` with `opts` (queue capacity).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `key` is no key expression; [`Error::Io`] with Zenoh's
    /// error if the session refuses the declaration.
    pub fn declare_with(session: &zenoh::Session, key: &str, opts: Options) -> Result<Self> {
        let key_expr = crate::key_expr(key)?;
        let (req, resp) = trees::<Req, Resp>()?;
        let queryable = session
            .declare_queryable(key_expr)
            .with(FifoChannel::new(opts.capacity))
            .wait()
            .map_err(zenoh_error("declare_queryable"))?;
        Ok(Queryable {
            source: new_source(key),
            queryable,
            key: key.to_owned(),
            refusal: encode_pair(REFUSAL_MAGIC, &[], &req, &resp),
            answered: 0,
            mismatched: 0,
            invalid: 0,
            _types: PhantomData,
        })
    }

    /// Receives the next request, waiting for one.
    ///
    /// # Errors
    ///
    /// [`Error::SchemaMismatch`] for a query of other types (answered with an error that
    /// names ours, and skipped), [`Error::InvalidMessage`] for bytes that are no valid
    /// `Req`, [`Error::Corrupt`] for a query without the typed-ipc tag (both answered
    /// with an error and skipped); [`Error::Disconnected`] once the session is closed.
    pub fn recv(&mut self) -> Result<Request<Req, Resp>> {
        self.recv_until(None)
    }

    /// Receives a request, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`Queryable::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Request<Req, Resp>> {
        self.recv_until(Some(timeout))
    }

    /// Queries of other types received (answered with an error, never handed over).
    pub fn mismatched(&self) -> u64 {
        self.mismatched
    }

    /// Queries whose request was no valid `Req`, or carried no tag.
    pub fn invalid(&self) -> u64 {
        self.invalid
    }

    fn recv_until(&mut self, timeout: Option<Duration>) -> Result<Request<Req, Resp>> {
        let query = match timeout {
            Some(d) => self
                .queryable
                .recv_timeout(d)
                .map_err(|_| Error::Disconnected)?
                .ok_or(Error::Timeout(d))?,
            None => self.queryable.recv().map_err(|_| Error::Disconnected)?,
        };
        let attachment = query.attachment().map(|a| a.to_bytes().into_owned());
        let fingerprints = attachment.as_deref().and_then(|a| {
            let head = a.strip_prefix(&QUERY_MAGIC)?.get(..16)?;
            Some((
                u64::from_le_bytes(head[..8].try_into().ok()?),
                u64::from_le_bytes(head[8..].try_into().ok()?),
            ))
        });
        let refuse = |query: &zenoh::query::Query, why: Vec<u8>| {
            // A querier gone meanwhile: nothing to tell.
            let _ = query.reply_err(why).wait();
        };
        match fingerprints {
            None => {
                self.invalid += 1;
                refuse(&query, self.refusal.clone());
                Err(Error::Corrupt(format!(
                    "a query of `{}` carries no typed-ipc tag: it was not sent by an \
                     ipc_zenoh::Querier",
                    query.key_expr()
                )))
            }
            Some((req, resp)) if req != Req::FINGERPRINT || resp != Resp::FINGERPRINT => {
                self.mismatched += 1;
                refuse(&query, self.refusal.clone());
                let theirs = attachment
                    .as_deref()
                    .and_then(|a| decode_pair(QUERY_MAGIC, 16, a));
                Err(pair_mismatch::<Req, Resp>(theirs))
            }
            Some(_) => {
                let bytes = query.payload().map(|p| p.to_bytes().into_owned());
                match ipc::from_bytes::<Req>(bytes.as_deref().unwrap_or(&[])) {
                    Ok(value) => {
                        let tag = Tag {
                            fingerprint: Resp::FINGERPRINT,
                            slice: false,
                            source: self.source,
                            seq: self.answered,
                        };
                        self.answered += 1;
                        Ok(Request {
                            query,
                            value,
                            tag,
                            _resp: PhantomData,
                        })
                    }
                    Err(e) => {
                        self.invalid += 1;
                        refuse(&query, self.refusal.clone());
                        Err(e.into())
                    }
                }
            }
        }
    }
}

/// A request received by a [`Queryable`]: derefs to the `Req` (a checked copy); answer it
/// with [`Request::reply`]. Dropping it unanswered ends the query for the querier with no
/// answer from this queryable.
pub struct Request<Req: Message, Resp: Message> {
    query: zenoh::query::Query,
    value: Req,
    tag: Tag,
    _resp: PhantomData<fn(Resp)>,
}

impl<Req: Message + core::fmt::Debug, Resp: Message> core::fmt::Debug for Request<Req, Resp> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Request").field(&self.value).finish()
    }
}

impl<Req: Message, Resp: Message> core::ops::Deref for Request<Req, Resp> {
    type Target = Req;
    fn deref(&self) -> &Req {
        &self.value
    }
}

impl<Req: Message, Resp: Message> Request<Req, Resp> {
    /// Answers with `resp`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] with Zenoh's error (a closed session).
    pub fn reply(self, resp: &Resp) -> Result<()> {
        self.query
            .reply(self.query.key_expr().clone(), ipc::as_bytes(resp))
            .attachment(self.tag.encode())
            .wait()
            .map_err(zenoh_error("reply"))
    }
}
