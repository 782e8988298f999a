//! `ipc clean`: removes what crashed processes left behind: shared-memory segments nobody
//! alive is attached to, queues their crashed ends abandoned empty, and the socket files
//! of listeners that died.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::list::{rows, Row};
use crate::Failure;

pub(crate) fn run(dry_run: bool, as_json: bool, prefix: &str) -> Result<ExitCode, Failure> {
    if dry_run {
        // What `clean` would do: remove what nobody alive is attached to, except a channel
        // that keeps unread messages for a receiver within its senders' linger.
        let (kept, stale): (Vec<Row>, Vec<Row>) = rows(prefix)?
            .into_iter()
            .filter(|r| r.state == "STALE")
            .partition(|r| r.linger_left.is_some());
        let stale: Vec<String> = stale.into_iter().map(|r| r.endpoint).collect();
        if as_json {
            let kept: Vec<Value> = kept
                .iter()
                .map(|r| {
                    json!({
                        "endpoint": r.endpoint,
                        "unread": r.fill,
                        "linger_left_secs": r.linger_left.map(|d| d.as_secs_f64()),
                    })
                })
                .collect();
            out!(
                "{}",
                json!({ "dry_run": true, "stale": stale, "kept": kept })
            );
            return Ok(ExitCode::SUCCESS);
        }
        if stale.is_empty() {
            out!("nothing stale");
        }
        for s in &stale {
            out!("would remove {s}");
        }
        for r in &kept {
            out!(
                "would keep {} ({} unread messages wait for a receiver: its linger ends in {:.0} s)",
                r.endpoint,
                r.fill.unwrap_or(0),
                r.linger_left.map_or(0.0, |d| d.as_secs_f64()).ceil()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let removed = ipc::shm::remove_stale_with_prefix(prefix).map_err(|e| e.to_string())?;
    let mut endpoints: Vec<String> = removed.iter().map(|n| format!("shm:{n}")).collect();
    // Queues: where the mqueue filesystem is not mounted there are none to list.
    if let Ok(queues) = ipc::mq::remove_stale_with_prefix(prefix) {
        endpoints.extend(queues.iter().map(|n| format!("mq:{n}")));
    }
    // A System V queue has no name: a prefix matches its creator's IPC_RECLAIM.
    let ids = ipc::sysv::remove_stale_with_prefix(prefix).map_err(|e| e.to_string())?;
    endpoints.extend(ids.iter().map(|id| format!("sysv-id:{id}")));
    let sockets = ipc::socket::remove_stale_with_prefix(prefix).map_err(|e| e.to_string())?;
    endpoints.extend(sockets.iter().map(|p| format!("unix:{}", p.display())));
    if as_json {
        out!("{}", json!({ "dry_run": false, "removed": endpoints }));
    } else if endpoints.is_empty() {
        out!("nothing stale");
    } else {
        for e in &endpoints {
            out!("removed {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
