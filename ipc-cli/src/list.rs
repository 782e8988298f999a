//! `ipc list`: every channel of every transport this user may see, as one table or JSON.

use std::process::ExitCode;

use ipc::shm::{Attached, Pattern, Role};
use ipc::SchemaId;
use serde_json::{json, Value};

use crate::{table, Failure};

/// One object on the machine, whatever its transport.
pub(crate) struct Row {
    /// `channel`, `topic`, `shared`, `sysv-segment`, `shm-unknown`, `mq`, `sysv-mq`,
    /// `unix` or `unix-seqpacket`.
    pub(crate) kind: &'static str,
    /// How a program names it (`shm:orders`, `mq:/jobs`, `sysv:0x2a`).
    pub(crate) endpoint: String,
    pub(crate) schema: Option<SchemaId>,
    /// Slices: the most elements a message holds (0: fixed-size messages).
    pub(crate) max_len: u64,
    pub(crate) capacity: Option<u64>,
    /// Messages waiting to be read (a topic: samples published since it was made).
    pub(crate) fill: Option<u64>,
    pub(crate) participants: Vec<(&'static str, Option<u32>, bool)>,
    pub(crate) owner: u32,
    pub(crate) mode: u32,
    /// `live`, `STALE` (nobody alive attached), `creating` (not yet published, its
    /// creator alive), `cut-short` (a segment file shorter than its header, which
    /// `ipc clean` leaves alone), or `-` (a queue: it has no participants to be stale
    /// without).
    pub(crate) state: &'static str,
    /// What else is known, for `--json`.
    pub(crate) extra: Value,
}

pub(crate) fn run(as_json: bool, prefix: &str) -> Result<ExitCode, Failure> {
    let rows = rows(prefix)?;
    if as_json {
        let all: Vec<Value> = rows.iter().map(Row::to_json).collect();
        out!("{}", Value::Array(all));
    } else if rows.is_empty() {
        out!("no channels");
    } else {
        let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
        table::print(
            &[
                "KIND",
                "ENDPOINT",
                "SCHEMA",
                "CAP",
                "FILL",
                "PARTICIPANTS",
                "OWNER",
                "MODE",
                "STATE",
            ],
            &cells,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything listed whose name starts with `prefix`: shared memory first, then POSIX
/// queues, then System V queues (which have no name: listed only without a prefix), then
/// the Unix sockets of this crate's listeners (by their file names).
pub(crate) fn rows(prefix: &str) -> Result<Vec<Row>, Failure> {
    let mut rows: Vec<Row> = ipc::shm::list()
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|seg| seg.name.starts_with(prefix))
        .map(shm_row)
        .collect();
    // A machine without the mqueue filesystem mounted has no queues to show.
    if let Ok(queues) = ipc::mq::list() {
        rows.extend(
            queues
                .into_iter()
                .filter(|q| q.name[1..].starts_with(prefix))
                .map(mq_row),
        );
    }
    if prefix.is_empty() {
        if let Ok(queues) = ipc::sysv::list() {
            rows.extend(queues.into_iter().map(sysv_row));
        }
    }
    if let Ok(sockets) = ipc::socket::list() {
        rows.extend(
            sockets
                .into_iter()
                .filter(|s| {
                    s.path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .map(socket_row),
        );
    }
    Ok(rows)
}

fn socket_row(s: ipc::socket::Listed) -> Row {
    let schema = s.tree.as_ref().map(|t| ipc::SchemaId {
        name: t.name().to_owned(),
        fingerprint: t.fingerprint(),
        size: t.size() as u64,
        align: t.align() as u64,
    });
    let scheme = if s.stream { "unix" } else { "unix-seqpacket" };
    Row {
        kind: scheme,
        endpoint: format!("{scheme}:{}", s.path.display()),
        schema,
        max_len: 0,
        capacity: None,
        fill: None,
        participants: vec![("listener", Some(s.pid), s.alive)],
        owner: s.owner,
        mode: std::fs::metadata(&s.path).map_or(0, |m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o777
        }),
        state: if s.alive { "live" } else { "STALE" },
        extra: json!({}),
    }
}

fn shm_row(seg: ipc::shm::Listed) -> Row {
    let kind = match seg.pattern {
        Pattern::Channel => "channel",
        Pattern::Topic => "topic",
        Pattern::Shared => "shared",
        Pattern::SystemV => "sysv-segment",
        _ => "shm-unknown",
    };
    // A segment not yet published that nobody holds is one whose creator died inside
    // `create` (a creator holds its lock byte until it has published the segment):
    // `remove_stale` removes it like any dead segment.
    // A file cut short below the header is nobody's to remove but its owner's by hand:
    // not STALE, which `ipc clean` removes.
    let state = if !seg.is_whole() {
        "cut-short"
    } else if seg.is_abandoned() {
        "STALE"
    } else if !seg.ready {
        "creating"
    } else {
        "live"
    };
    let fill = match seg.pattern {
        Pattern::Channel => Some(seg.unread),
        Pattern::Topic => Some(seg.published),
        _ => None,
    };
    let attached = match seg.attached {
        Attached::Channel { receivers, senders } => {
            json!({ "receivers": receivers, "senders": senders })
        }
        Attached::Topic {
            publishers,
            subscribers,
        } => json!({ "publishers": publishers, "subscribers": subscribers }),
        Attached::Processes(n) => json!({ "processes": n }),
        _ => Value::Null,
    };
    Row {
        kind,
        endpoint: format!("shm:{}", seg.name),
        max_len: seg.max_len,
        capacity: (seg.capacity > 0).then_some(seg.capacity),
        fill,
        participants: seg
            .participants
            .iter()
            .map(|p| (role_name(p.role), p.pid, p.alive))
            .collect(),
        owner: seg.owner,
        mode: seg.mode,
        state,
        extra: json!({
            "bytes": seg.bytes,
            "max_subscribers": seg.max_subscribers,
            "attached": attached,
        }),
        schema: seg.schema,
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Receiver => "receiver",
        Role::Sender => "sender",
        Role::Publisher => "publisher",
        Role::Subscriber => "subscriber",
        _ => "holder",
    }
}

fn mq_row(q: ipc::mq::Listed) -> Row {
    let attr = mq_attr(&q.name);
    Row {
        kind: "mq",
        endpoint: format!("mq:{}", q.name),
        max_len: 0,
        capacity: attr.map(|(max, _)| max),
        // The kernel's count where the queue can be opened (a queue without this crate's
        // header included), else its bytes over its schema's message size.
        fill: attr.map(|(_, now)| now).or_else(|| q.messages()),
        participants: Vec::new(),
        owner: q.owner,
        mode: q.mode,
        state: if q.stale { "STALE" } else { "-" },
        extra: json!({ "queued_bytes": q.queued_bytes }),
        schema: q.schema,
    }
}

/// The most messages queue `name` holds and the messages in it now (`mq_maxmsg`,
/// `mq_curmsgs`), if this user may open it.
fn mq_attr(name: &str) -> Option<(u64, u64)> {
    use nix::mqueue::{mq_close, mq_getattr, mq_open, MQ_OFlag};
    let q = mq_open(
        name,
        MQ_OFlag::O_RDONLY | MQ_OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .ok()?;
    let attr = mq_getattr(&q).ok();
    let _ = mq_close(q);
    let attr = attr?;
    Some((
        u64::try_from(attr.maxmsg()).ok()?,
        u64::try_from(attr.curmsgs()).ok()?,
    ))
}

fn sysv_row(q: ipc::sysv::Listed) -> Row {
    let schema = q.tree.as_ref().map(|t| ipc::SchemaId {
        name: t.name().to_owned(),
        fingerprint: t.fingerprint(),
        size: t.size() as u64,
        align: t.align() as u64,
    });
    Row {
        kind: "sysv-mq",
        endpoint: if q.key == 0 {
            format!("sysv-id:{}", q.id)
        } else {
            format!("sysv:{:#x}", q.key)
        },
        schema,
        max_len: 0,
        capacity: None,
        fill: Some(q.messages),
        participants: Vec::new(),
        owner: q.owner,
        mode: q.mode,
        state: if q.stale { "STALE" } else { "-" },
        extra: json!({
            "id": q.id,
            "bytes": q.bytes,
            "last_sender": q.last_sender,
            "last_receiver": q.last_receiver,
        }),
    }
}

impl Row {
    fn schema_text(&self) -> String {
        match &self.schema {
            Some(s) if self.max_len > 0 => format!("{} (max {})", s.name, self.max_len),
            Some(s) => s.name.clone(),
            None => "?".into(),
        }
    }

    fn cells(&self) -> Vec<String> {
        let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
        let who: Vec<String> = self
            .participants
            .iter()
            .map(|(role, pid, alive)| {
                let pid = pid.map_or("?".into(), |p| p.to_string());
                if *alive {
                    format!("{role}:{pid}")
                } else {
                    format!("{role}:{pid}(dead)")
                }
            })
            .collect();
        vec![
            self.kind.into(),
            self.endpoint.clone(),
            self.schema_text(),
            opt(self.capacity),
            opt(self.fill),
            if who.is_empty() {
                "-".into()
            } else {
                who.join(" ")
            },
            self.owner.to_string(),
            format!("{:03o}", self.mode),
            self.state.into(),
        ]
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "kind": self.kind,
            "endpoint": self.endpoint,
            "schema": self.schema.as_ref().map(|s| json!({
                "name": s.name,
                "fingerprint": format!("{:#018x}", s.fingerprint),
                "size": s.size,
                "align": s.align,
            })),
            "max_len": self.max_len,
            "capacity": self.capacity,
            "fill": self.fill,
            "participants": self.participants.iter().map(|(role, pid, alive)| json!({
                "role": role, "pid": pid, "alive": alive,
            })).collect::<Vec<_>>(),
            "owner": self.owner,
            "mode": format!("{:03o}", self.mode),
            "state": self.state,
            "details": self.extra,
        })
    }
}
