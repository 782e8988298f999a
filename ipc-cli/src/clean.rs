//! `ipc clean`: removes the shared-memory segments that crashed processes left behind.

use std::process::ExitCode;

use serde_json::json;

use crate::list::rows;
use crate::Failure;

pub(crate) fn run(dry_run: bool, as_json: bool, prefix: &str) -> Result<ExitCode, Failure> {
    if dry_run {
        // What `remove_stale` would consider: ready segments with nobody alive attached.
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
    let endpoints: Vec<String> = removed.iter().map(|n| format!("shm:{n}")).collect();
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
