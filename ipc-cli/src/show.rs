//! `ipc show ENDPOINT`: one channel's schema, as a Rust declaration with offsets, sizes
//! and alignments (from the schema the segment carries), and what is known of it now.

use std::process::ExitCode;

use serde_json::json;

use crate::list::rows;
use crate::Failure;

/// `endpoint` as `ipc list` spells it, so that any spelling the endpoint grammar takes
/// finds the object: a System V key in hexadecimal, a socket's path absolute.
fn as_listed(endpoint: &str) -> String {
    let absolute = |path: &std::path::Path| {
        std::path::absolute(path)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    };
    match endpoint.parse::<ipc::Endpoint>() {
        Ok(ipc::Endpoint::Sysv { key }) => format!("sysv:{key:#x}"),
        Ok(ipc::Endpoint::Unix { path }) => format!("unix:{}", absolute(path.as_ref())),
        Ok(ipc::Endpoint::UnixSeqpacket { path }) => {
            format!("unix-seqpacket:{}", absolute(path.as_ref()))
        }
        _ => endpoint.to_owned(),
    }
}

pub(crate) fn run(endpoint: &str, as_json: bool, as_c: bool) -> Result<ExitCode, Failure> {
    let listed = as_listed(endpoint);
    let endpoint = listed.as_str();
    let (scheme, name) = endpoint
        .split_once(':')
        .ok_or_else(|| format!("`{endpoint}` is not an endpoint: write shm:NAME or mq:/NAME"))?;
    if !matches!(
        scheme,
        "shm" | "mq" | "sysv" | "sysv-id" | "unix" | "unix-seqpacket"
    ) {
        return Err(format!(
            "`{endpoint}`: `ipc show` reads shared-memory channels and topics (shm:NAME), \
             POSIX queues (mq:/NAME), System V queues (sysv:KEY, sysv-id:ID) and the Unix \
             sockets of this crate's listeners (unix:PATH)"
        ));
    }
    let row = rows("")?
        .into_iter()
        .find(|r| r.endpoint == endpoint)
        .ok_or_else(|| format!("no channel `{endpoint}` on this machine (see `ipc list`)"))?;
    let tree = if scheme == "shm" {
        ipc::shm::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| s.name == name)
            .and_then(|s| s.tree)
    } else if scheme == "mq" {
        ipc::mq::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|q| q.name == name)
            .and_then(|q| q.tree)
    } else if scheme.starts_with("unix") {
        ipc::socket::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|s| s.path.as_os_str() == name)
            .and_then(|s| s.tree)
    } else {
        let id: Option<i64> = row.extra["id"].as_i64();
        ipc::sysv::list()
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|q| Some(i64::from(q.id)) == id)
            .and_then(|q| q.tree)
    };
    if as_c {
        let tree = tree.ok_or_else(|| {
            format!("`{endpoint}` carries no schema this build can read: no C header to print")
        })?;
        let file = format!("{}.h", name.trim_start_matches('/'));
        print!("{}", ipc::schema::c_header(&file, &[&tree]));
        return Ok(ExitCode::SUCCESS);
    }
    let declaration = tree.as_ref().map(|t| t.declaration().to_string());
    if as_json {
        let mut v = row.to_json();
        v["declaration"] = json!(declaration);
        out!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    let schema = row.schema.as_ref().map_or_else(
        || "an unknown type".to_owned(),
        |s| {
            format!(
                "`{}` ({} bytes, align {}, fingerprint {:#018x})",
                s.name, s.size, s.align, s.fingerprint
            )
        },
    );
    out!("{endpoint}: {} of {schema}", row.kind);
    if row.max_len > 0 {
        out!("  slices of up to {} elements", row.max_len);
    }
    let mut facts = Vec::new();
    if let Some(c) = row.capacity {
        facts.push(format!("capacity {c}"));
    }
    if let Some(f) = row.fill {
        facts.push(if row.kind == "topic" {
            format!("{f} published")
        } else {
            format!("{f} waiting")
        });
    }
    facts.push(format!("owner {}, mode {:03o}", row.owner, row.mode));
    facts.push(row.state.to_owned());
    out!("  {}", facts.join(", "));
    for (role, pid, alive) in &row.participants {
        let pid = pid.map_or("?".into(), |p| p.to_string());
        let state = if *alive { "alive" } else { "dead" };
        out!("  {role} {pid} ({state})");
    }
    match declaration {
        Some(d) => out!("\n{}", d.trim_end()),
        None => out!("\n(the channel carries no schema this build can read)"),
    }
    Ok(ExitCode::SUCCESS)
}
