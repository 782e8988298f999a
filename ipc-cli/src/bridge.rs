//! `ipc bridge`: carries a local shared-memory topic or channel onto a Zenoh key
//! (`--to`), or the samples of a Zenoh key into a local channel (`--from`), for a type
//! known only from the schema the channel carries. The bytes go as they are; each
//! sample's fingerprint is checked at both ends.
//!
//! It runs until the local side ends (the topic's publisher or the channel's senders
//! leave, or its receiver), or Ctrl-C / SIGTERM. The other host may go away and come
//! back meanwhile: Zenoh reconnects, and the samples lost in between are counted on the
//! receiving side. Each drop, gap and refusal is said on stderr as it happens, and the
//! counts when it ends.

use std::process::ExitCode;
use std::time::Duration;

use ipc::Error;
use ipc_zenoh::bridge::{Counts, Event, Inbound, Outbound};

use crate::Failure;

/// What `ipc bridge` was asked for.
pub(crate) struct Bridge<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) to: Option<&'a str>,
    pub(crate) from: Option<&'a str>,
    pub(crate) listen: &'a [String],
    pub(crate) connect: &'a [String],
    pub(crate) drop_when_full: bool,
}

/// How long one step waits before it looks for a request to stop.
const STEP: Duration = Duration::from_millis(100);

pub(crate) fn run(b: &Bridge<'_>) -> Result<ExitCode, Failure> {
    let name = b.endpoint.strip_prefix("shm:").ok_or_else(|| {
        format!(
            "`{}`: `ipc bridge` carries shared-memory topics and channels (shm:NAME)",
            b.endpoint
        )
    })?;
    ipc::signal::shutdown_on(&[ipc::signal::Signal::SIGINT, ipc::signal::Signal::SIGTERM])
        .map_err(|e| e.to_string())?;
    let listen: Vec<&str> = b.listen.iter().map(String::as_str).collect();
    let connect: Vec<&str> = b.connect.iter().map(String::as_str).collect();
    let config = ipc_zenoh::config::peer(&listen, &connect).map_err(|e| e.to_string())?;
    let session = ipc_zenoh::open(config).map_err(|e| format!("zenoh: {e}"))?;
    let opts = ipc_zenoh::Options::new();
    let at = |e: Error| format!("{}: {e}", b.endpoint);
    let (counts, ended) = match (b.to, b.from) {
        (Some(key), None) => {
            let mut out = Outbound::open(&session, name, key, &opts).map_err(at)?;
            eprintln!("ipc: bridging {} to zenoh key `{key}`", b.endpoint);
            let ended = pump(|| out.step(STEP));
            (out.counts(), ended)
        }
        (None, Some(key)) => {
            let mut inb = Inbound::open(&session, key, name, &opts)
                .map_err(at)?
                .drop_when_full(b.drop_when_full);
            eprintln!("ipc: bridging zenoh key `{key}` to {}", b.endpoint);
            let ended = pump(|| inb.step(STEP));
            (inb.counts(), ended)
        }
        _ => {
            return Err(
                "say where to: --to KEY (local to Zenoh) or --from KEY (Zenoh to local)".into(),
            )
        }
    };
    summary(&counts);
    match ended {
        Error::Disconnected | Error::Shutdown => Ok(ExitCode::SUCCESS),
        e => Err(at(e)),
    }
}

/// Steps until an error ends the bridge, saying on stderr what is dropped, missed or
/// refused; returns that error.
fn pump(mut step: impl FnMut() -> ipc::Result<Event>) -> Error {
    loop {
        match step() {
            Ok(Event::Forwarded) => {}
            Ok(Event::Idle) => {
                if ipc::signal::shutdown_requested() {
                    return Error::Shutdown;
                }
            }
            Ok(Event::Dropped(n)) => eprintln!("ipc: dropped {n} samples"),
            Ok(Event::Missed(n)) => {
                eprintln!("ipc: missed {n} samples (a gap in the sender's numbering)")
            }
            Ok(Event::Refused(e)) => eprintln!("ipc: refused a sample: {e}"),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

/// The counts, one line on stderr.
fn summary(c: &Counts) {
    eprintln!(
        "ipc: bridge ends: forwarded {}, dropped {}, missed {}, refused {} of another schema and {} invalid",
        c.forwarded, c.dropped, c.missed, c.mismatched, c.invalid
    );
}
