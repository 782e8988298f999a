//! `ipc clean`: removes what crashed processes left behind: shared-memory segments nobody
//! alive is attached to, queues their crashed ends abandoned empty, and the socket files
//! of listeners that died.

use std::process::ExitCode;

use serde_json::json;

use crate::list::rows;
use crate::Failure;

pub(crate) fn run(dry_run: bool, as_json: bool, prefix: &str) -> Result<ExitCode, Failure> {
    if dry_run {
        // What `remove_stale` would consider: segments with nobody alive attached.
        let stale: Vec<String> = rows(prefix)?
            .into_iter()
            .filter(|r| r.state == "STALE")
            .map(|r| {
                let unread = r.kind == "channel" && r.fill.is_some_and(|n| n > 0);
                if unread && !as_json {
                    format!(
                        "{} (holds unread messages: kept until its linger ends)",
                        r.endpoint
                    )
                } else {
                    r.endpoint
                }
            })
            .collect();
        if as_json {
            println!("{}", json!({ "dry_run": true, "stale": stale }));
        } else if stale.is_empty() {
            println!("nothing stale");
        } else {
            for s in &stale {
                println!("would remove {s}");
            }
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
        println!("{}", json!({ "dry_run": false, "removed": endpoints }));
    } else if endpoints.is_empty() {
        println!("nothing stale");
    } else {
        for e in &endpoints {
            println!("removed {e}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
