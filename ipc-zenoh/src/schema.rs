//! Schemas across the network: a publisher answers with its whole schema under
//! [`schema_key`](crate::wire::schema_key), so that a subscriber of another schema can
//! name both types, and the first field that differs, in the mismatch it reports.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ipc::schema::SchemaTree;
use ipc::{Error, Result, SchemaId};
use zenoh::Wait;

use crate::wire::schema_key;
use crate::zenoh_error;

/// How long a subscriber waits for a publisher to say which schema it uses.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);

/// How long after a lookup that got no answer a subscriber asks again (then twice as
/// long after each, up to [`RETRY_MAX`]): a publisher's answer may not be routed yet
/// when its first samples arrive.
const RETRY_FIRST: Duration = Duration::from_millis(50);

/// The longest a subscriber waits between two lookups of a schema nobody names.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Declares the queryable that answers with `tree` for the publishers of `key`.
pub(crate) fn serve(
    session: &zenoh::Session,
    key: &str,
    tree: &SchemaTree,
) -> Result<zenoh::query::Queryable<()>> {
    let bytes = tree.encode();
    session
        .declare_queryable(schema_key(key, tree.fingerprint()))
        .callback(move |query| {
            // A querier that is gone or a session that closes: nothing to do about it.
            let _ = query.reply(query.key_expr().clone(), bytes.clone()).wait();
        })
        .wait()
        .map_err(zenoh_error("declare_queryable"))
}

/// The schemas of other fingerprints met by one subscriber: their identity, and the
/// first field that differs from ours, asked of their publisher once each; or, while no
/// publisher has named one, when to ask again.
#[derive(Default)]
pub(crate) struct Strangers {
    known: HashMap<(u64, bool), Known>,
}

/// The identity of another schema, and its first difference from ours.
type Stranger = (SchemaId, Option<Box<str>>);

/// What one subscriber knows of another schema.
struct Known {
    stranger: Stranger,
    /// `None` once its publisher named it; else when to ask again, and the wait after.
    retry: Option<(Instant, Duration)>,
}

impl Strangers {
    /// The mismatch between `ours` (whose identity is `expected`) and the samples of
    /// `fingerprint` published on `key`: their schema is asked of the publisher the first
    /// time, and named as unknown if it does not answer — until a later mismatch asks
    /// again and gets the answer (50 ms after, then twice as long after each lookup that
    /// gets none, up to 10 s).
    pub(crate) fn mismatch(
        &mut self,
        session: &zenoh::Session,
        key: &str,
        ours: Option<&SchemaTree>,
        expected: SchemaId,
        fingerprint: u64,
        slice: bool,
    ) -> Error {
        let ask = || stranger(session, key, ours, fingerprint, slice);
        let retry = |wait: Duration, named: bool| {
            (!named).then(|| (Instant::now() + wait, (wait * 2).min(RETRY_MAX)))
        };
        let known = self.known.entry((fingerprint, slice)).or_insert_with(|| {
            let (stranger, named) = ask();
            Known {
                stranger,
                retry: retry(RETRY_FIRST, named),
            }
        });
        if let Some((at, wait)) = known.retry {
            if Instant::now() >= at {
                let (stranger, named) = ask();
                known.stranger = stranger;
                known.retry = retry(wait, named);
            }
        }
        let (found, difference) = &known.stranger;
        Error::SchemaMismatch {
            expected: Box::new(expected),
            found: Box::new(found.clone()),
            difference: difference.clone(),
        }
    }
}

/// Asks for the schema of `fingerprint` on `key`: its identity, and the first difference
/// from `ours`; and whether a publisher named it.
fn stranger(
    session: &zenoh::Session,
    key: &str,
    ours: Option<&SchemaTree>,
    fingerprint: u64,
    slice: bool,
) -> (Stranger, bool) {
    let theirs = lookup(session, key, fingerprint);
    let named = theirs.is_some();
    let difference = match (ours, &theirs) {
        (Some(ours), Some(theirs)) => ours
            .first_difference(theirs)
            .map(|d| d.to_string().into_boxed_str()),
        _ => None,
    };
    let wrap = |name: &str| {
        if slice {
            format!("[{name}]")
        } else {
            name.to_owned()
        }
    };
    let id = match theirs {
        Some(t) => SchemaId {
            name: wrap(t.name()),
            fingerprint,
            size: t.size() as u64,
            align: t.align() as u64,
        },
        None => SchemaId {
            name: wrap("an unknown type (its publisher did not say)"),
            fingerprint,
            size: 0,
            align: 0,
        },
    };
    ((id, difference), named)
}

/// Asks the publishers of `key` for the schema of `fingerprint`.
pub(crate) fn lookup(session: &zenoh::Session, key: &str, fingerprint: u64) -> Option<SchemaTree> {
    let replies = session
        .get(schema_key(key, fingerprint))
        .timeout(LOOKUP_TIMEOUT)
        .wait()
        .ok()?;
    while let Ok(reply) = replies.recv() {
        if let Ok(sample) = reply.result() {
            if let Ok(tree) = SchemaTree::decode(&sample.payload().to_bytes()) {
                if tree.fingerprint() == fingerprint {
                    return Some(tree);
                }
            }
        }
    }
    None
}
