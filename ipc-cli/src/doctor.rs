//! `ipc doctor`: the kernel limits and features the transports depend on.

use std::process::ExitCode;

use nix::sys::resource::{getrlimit, Resource};
use serde_json::{json, Value};

use crate::{table, Failure};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    /// Works, with a cost or a limit worth knowing.
    Warn,
    /// A transport cannot work as it is.
    Fail,
}

struct Check {
    name: &'static str,
    value: String,
    status: Status,
    /// What it limits, and how to raise it.
    hint: String,
}

pub(crate) fn run(as_json: bool) -> Result<ExitCode, Failure> {
    let checks = checks();
    if as_json {
        let all: Vec<Value> = checks
            .iter()
            .map(|c| {
                json!({
                    "check": c.name,
                    "value": c.value,
                    "status": match c.status {
                        Status::Ok => "ok",
                        Status::Warn => "warn",
                        Status::Fail => "fail",
                    },
                    "hint": c.hint,
                })
            })
            .collect();
        out!("{}", Value::Array(all));
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                let status = match c.status {
                    Status::Ok => "ok",
                    Status::Warn => "WARN",
                    Status::Fail => "FAIL",
                };
                vec![
                    c.name.into(),
                    c.value.clone(),
                    status.into(),
                    c.hint.clone(),
                ]
            })
            .collect();
        table::print(&["CHECK", "VALUE", "STATUS", "WHAT IT MEANS"], &rows);
    }
    Ok(if checks.iter().any(|c| c.status == Status::Fail) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

/// A `/proc/sys` value, trimmed.
fn sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn limit(resource: Resource) -> String {
    let show = |v: u64| {
        if v == nix::sys::resource::RLIM_INFINITY {
            "unlimited".to_owned()
        } else {
            v.to_string()
        }
    };
    match getrlimit(resource) {
        Ok((soft, hard)) => format!("{} (hard {})", show(soft), show(hard)),
        Err(e) => format!("unknown ({e})"),
    }
}

fn checks() -> Vec<Check> {
    let mut out = Vec::new();
    out.push(match nix::sys::statvfs::statvfs("/dev/shm") {
        Ok(fs) => {
            let size = fs.blocks() * fs.fragment_size();
            let free = fs.blocks_available() * fs.fragment_size();
            Check {
                name: "/dev/shm",
                value: format!("{} free of {}", mib(free), mib(size)),
                // Not a page free: no channel can be created.
                status: if free < 4096 {
                    Status::Fail
                } else if free < 64 << 20 {
                    Status::Warn
                } else {
                    Status::Ok
                },
                hint: "shared-memory channels and the queues' schema headers live here; a \
                       channel reserves its whole ring at create. Raise it with `mount -o \
                       remount,size=2G /dev/shm` (root), or `docker run --shm-size=2g`"
                    .into(),
            }
        }
        Err(e) => Check {
            name: "/dev/shm",
            value: format!("unusable ({e})"),
            status: Status::Fail,
            hint: "no shared-memory channel or POSIX queue can be made: mount a tmpfs there \
                   (`mount -t tmpfs -o mode=1777 tmpfs /dev/shm`, root)"
                .into(),
        },
    });
    let support = ipc::sync::support();
    out.push(Check {
        name: "membarrier",
        value: if support.membarrier {
            "registered"
        } else {
            "unavailable"
        }
        .into(),
        status: if support.membarrier {
            Status::Ok
        } else {
            Status::Warn
        },
        hint: "lets shared-memory sends and receives skip a full barrier per message (needs \
               Linux 4.16 and no seccomp filter against membarrier(2))"
            .into(),
    });
    out.push(Check {
        name: "pidfd_open",
        value: if support.pidfd {
            "works"
        } else {
            "unavailable"
        }
        .into(),
        status: if support.pidfd {
            Status::Ok
        } else {
            Status::Warn
        },
        hint: "lets an idle shared-memory end sleep until woken and hear of a peer's death \
               at once; without it, it wakes 50 times a second (needs Linux 5.3)"
            .into(),
    });
    let mqueue = std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split(' ').nth(1) == Some("/dev/mqueue"))
    });
    out.push(Check {
        name: "/dev/mqueue",
        value: if mqueue { "mounted" } else { "not mounted" }.into(),
        status: if mqueue { Status::Ok } else { Status::Warn },
        hint: "POSIX queues work without it, but cannot be listed: `mkdir -p /dev/mqueue && \
               mount -t mqueue none /dev/mqueue` (root)"
            .into(),
    });
    for (name, path, hint) in [
        (
            "fs.mqueue.msg_max",
            "/proc/sys/fs/mqueue/msg_max",
            "the most messages a POSIX queue holds (mq::Options::capacity) for a user without \
             CAP_SYS_RESOURCE: `sysctl -w fs.mqueue.msg_max=N`",
        ),
        (
            "fs.mqueue.msgsize_max",
            "/proc/sys/fs/mqueue/msgsize_max",
            "the largest message type a POSIX queue carries: `sysctl -w \
             fs.mqueue.msgsize_max=BYTES`",
        ),
        (
            "fs.mqueue.queues_max",
            "/proc/sys/fs/mqueue/queues_max",
            "POSIX queues on the machine: `sysctl -w fs.mqueue.queues_max=N`",
        ),
        (
            "kernel.msgmax",
            "/proc/sys/kernel/msgmax",
            "the largest System V message: a type of this many bytes less 8 (its \
             fingerprint): `sysctl -w kernel.msgmax=BYTES`",
        ),
        (
            "kernel.msgmnb",
            "/proc/sys/kernel/msgmnb",
            "bytes a System V queue holds: `sysctl -w kernel.msgmnb=BYTES`",
        ),
        (
            "kernel.msgmni",
            "/proc/sys/kernel/msgmni",
            "System V queues on the machine: `sysctl -w kernel.msgmni=N`",
        ),
    ] {
        out.push(Check {
            name,
            value: sysctl(path).unwrap_or_else(|| "unknown".into()),
            status: Status::Ok,
            hint: hint.into(),
        });
    }
    out.push(Check {
        name: "RLIMIT_MSGQUEUE",
        value: limit(Resource::RLIMIT_MSGQUEUE),
        // At 0 no POSIX queue can be created.
        status: match getrlimit(Resource::RLIMIT_MSGQUEUE) {
            Ok((0, _)) => Status::Fail,
            _ => Status::Ok,
        },
        hint: "bytes of POSIX queues this user may create (capacity x message size, plus \
               overhead): `ulimit -q BYTES`, or `msgqueue` in /etc/security/limits.conf"
            .into(),
    });
    out.push(Check {
        name: "RLIMIT_NOFILE",
        value: limit(Resource::RLIMIT_NOFILE),
        status: Status::Ok,
        hint: "descriptors per process: each shared-memory end holds one, each watched peer \
               a pidfd: `ulimit -n N`, or `nofile` in /etc/security/limits.conf"
            .into(),
    });
    out
}
