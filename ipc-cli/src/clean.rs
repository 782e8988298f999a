//! `ipc clean`: removes what crashed processes left behind: shared-memory segments nobody
//! alive is attached to, queues their crashed ends abandoned empty, and the socket files
//! of listeners that died.
//!
//! A dry run asks each transport's library what its removal would remove
//! (`stale_with_prefix`), by the very rules the removal applies
//! (`remove_stale_with_prefix`), so the two cannot disagree.

use std::process::ExitCode;

use serde_json::{json, Value};

use crate::Failure;

pub(crate) fn run(dry_run: bool, as_json: bool, prefix: &str) -> Result<ExitCode, Failure> {
    let endpoints = stale(prefix, !dry_run)?;
    if dry_run {
        // A channel that keeps unread messages for a receiver within its senders' linger:
        // nobody alive is attached, and clean keeps it.
        let kept: Vec<ipc::shm::Listed> = ipc::shm::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|seg| {
                seg.name.starts_with(prefix)
                    && seg.is_abandoned()
                    && seg.linger_left.is_some()
                    && !endpoints.contains(&format!("shm:{}", seg.name))
            })
            .collect();
        if as_json {
            let kept: Vec<Value> = kept
                .iter()
                .map(|seg| {
                    json!({
                        "endpoint": format!("shm:{}", seg.name),
                        "unread": seg.unread,
                        "linger_left_secs": seg.linger_left.map(|d| d.as_secs_f64()),
                    })
                })
                .collect();
            out!(
                "{}",
                json!({ "dry_run": true, "stale": endpoints, "kept": kept })
            );
            return Ok(ExitCode::SUCCESS);
        }
        if endpoints.is_empty() {
            out!("nothing stale");
        }
        for e in &endpoints {
            out!("would remove {e}");
        }
        for seg in &kept {
            out!(
                "would keep shm:{} ({} unread messages wait for a receiver: its linger ends in {:.0} s)",
                seg.name,
                seg.unread,
                seg.linger_left.map_or(0.0, |d| d.as_secs_f64()).ceil()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
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

/// The endpoints of what crashed processes left under `prefix`, each transport's by its
/// library's rules: removed if `remove`, else only found (what a removal would remove).
fn stale(prefix: &str, remove: bool) -> Result<Vec<String>, Failure> {
    let segments = if remove {
        ipc::shm::remove_stale_with_prefix(prefix)
    } else {
        ipc::shm::stale_with_prefix(prefix)
    };
    let mut endpoints: Vec<String> = segments
        .map_err(|e| e.to_string())?
        .iter()
        .map(|n| format!("shm:{n}"))
        .collect();
    // Queues: where the mqueue filesystem is not mounted there are none to find.
    let queues = if remove {
        ipc::mq::remove_stale_with_prefix(prefix)
    } else {
        ipc::mq::stale_with_prefix(prefix)
    };
    if let Ok(queues) = queues {
        endpoints.extend(queues.iter().map(|n| format!("mq:{n}")));
    }
    // A System V queue has no name: a prefix matches its creator's IPC_RECLAIM.
    let ids = if remove {
        ipc::sysv::remove_stale_with_prefix(prefix)
    } else {
        ipc::sysv::stale_with_prefix(prefix)
    };
    endpoints.extend(
        ids.map_err(|e| e.to_string())?
            .iter()
            .map(|id| format!("sysv-id:{id}")),
    );
    // A socket's prefix matches its file name or its whole path. Its kind is read before
    // the removal takes its registry: a seqpacket socket is named as `ipc list` names it.
    let seqpacket: Vec<std::path::PathBuf> = ipc::socket::list()
        .unwrap_or_default()
        .into_iter()
        .filter(|s| !s.stream)
        .map(|s| s.path)
        .collect();
    let sockets = if remove {
        ipc::socket::remove_stale_with_prefix(prefix)
    } else {
        ipc::socket::stale_with_prefix(prefix)
    };
    endpoints.extend(sockets.map_err(|e| e.to_string())?.iter().map(|p| {
        let scheme = if seqpacket.contains(p) {
            "unix-seqpacket"
        } else {
            "unix"
        };
        format!("{scheme}:{}", p.display())
    }));
    Ok(endpoints)
}
