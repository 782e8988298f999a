//! `ipc send ENDPOINT JSON`: one message, written as JSON and encoded by the schema the
//! channel carries. Every field is checked before anything is sent: a field missing,
//! unknown or out of its type's range, an enum variant that does not exist, a string too
//! long for its `FixedStr`. The error names the field.

use std::process::ExitCode;

use ipc::schema::Value;

use crate::{trust, Failure};

/// Sends `json` to `endpoint`, trusting a channel whose permission bits are within `mode`
/// (`--mode`).
pub(crate) fn run(
    endpoint: &str,
    json: &str,
    priority: u32,
    mode: u32,
) -> Result<ExitCode, Failure> {
    let (scheme, name) = endpoint
        .split_once(':')
        .ok_or_else(|| format!("`{endpoint}` is not an endpoint: write shm:NAME or mq:/NAME"))?;
    let refused = |e: &dyn std::fmt::Display| format!("{endpoint}: {e}; nothing was sent");
    // Waiting for room (or for the receiver) ends with Ctrl-C, not with a kill.
    ipc::signal::shutdown_on(&[ipc::signal::Signal::SIGINT, ipc::signal::Signal::SIGTERM])
        .map_err(|e| e.to_string())?;
    match scheme {
        "shm" => {}
        "mq" => {
            let opts = ipc::mq::Options::new().mode(mode);
            let mut tx = ipc::mq::AnySender::open_with(name, opts)
                .map_err(|e| trust::open_failed(endpoint, &e, mode))?;
            let tree = tx.schema().clone();
            let bytes = Value::from_json(&tree, json)
                .and_then(|v| v.to_bytes(&tree))
                .map_err(|e| refused(&e))?;
            tx.send(&bytes, priority)
                .map_err(|e| format!("{endpoint}: {e}"))?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {
            return Err(format!(
                "`{endpoint}`: `ipc send` sends to shared-memory channels (shm:NAME) and POSIX \
                 queues (mq:/NAME)"
            ))
        }
    }
    let found = ipc::shm::list()
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("no channel `{endpoint}` on this machine (see `ipc list`)"))?;
    if found.pattern != ipc::shm::Pattern::Channel {
        return Err(format!(
            "`{endpoint}` is not an MPSC channel: a topic has one publisher (its program), \
             and a shared value is written by its holders; `ipc send` sends to channels"
        ));
    }
    // Checked against the schema the listing read, before this process joins the
    // channel: a refused message leaves the channel as it was (joining and leaving as
    // its only sender would end its receiver's wait with `Disconnected`).
    // `max_len`: a channel of slices' most elements (`None`: fixed-size messages).
    let encode =
        |tree: &ipc::schema::SchemaTree, max_len: Option<u64>| -> Result<Vec<u8>, Failure> {
            let Some(max_len) = max_len else {
                return Value::from_json(tree, json)
                    .and_then(|v| v.to_bytes(tree))
                    .map_err(|e| refused(&e));
            };
            // A slice: a JSON array of elements, each encoded by the element's schema.
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(json)
                .map_err(|e| refused(&format!("a channel of slices takes a JSON array: {e}")))?;
            if items.len() as u64 > max_len {
                return Err(refused(&format!(
                    "max_len is {max_len}, too low for this: a slice of {} elements was given, \
                 and this channel takes at most {max_len}; send at most {max_len} elements \
                 at a time (its creator sets the maximum: Options::max_len)",
                    items.len()
                )));
            }
            let mut bytes = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let value = Value::from_json(tree, item.get())
                    .and_then(|v| v.to_bytes(tree))
                    .map_err(|e| refused(&format!("element [{i}]: {e}")))?;
                bytes.extend_from_slice(&value);
            }
            Ok(bytes)
        };
    let checked = match &found.tree {
        Some(tree) => Some(encode(tree, (found.max_len > 0).then_some(found.max_len))?),
        None => None,
    };
    let opts = ipc::shm::Options::new().mode(mode);
    let mut tx = ipc::shm::AnySender::open_with(name, opts)
        .map_err(|e| trust::open_failed(endpoint, &e, mode))?;
    let bytes = match checked {
        Some(bytes) => bytes,
        None => encode(&tx.schema().clone(), tx.max_len().map(|n| n as u64))?,
    };
    tx.send(&bytes).map_err(|e| format!("{endpoint}: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
