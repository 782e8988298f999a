//! The automatic sweep: what crashed processes of this user left behind (shared-memory
//! segments, POSIX queues, System V queues, the socket files of Unix listeners) is removed
//! the next time a process of the same user creates or opens one of them.
//!
//! Each kind proves its objects abandoned its own way (see `shm/segment/reclaim.rs`,
//! `mq/record.rs`, `sysv/registry.rs`, `socket/registry.rs`, on the record of
//! `record.rs`); this module decides whether and when to look:
//!
//! - **Scope**, from the environment variable `IPC_RECLAIM`, read once per process: unset
//!   or empty, every object of this user (`geteuid`); `off`, none; anything else, only the
//!   objects whose name starts with it (a socket's file name; a System V queue has no
//!   name: it matches if the scope of the process that created it starts with it).
//! - **Cost**: a process sweeps at its first create or open, then again only once 100
//!   times the duration of its last sweep has passed (so the sweep takes at most 1 % of
//!   the time of a process that does nothing but create channels), and one sweep at a
//!   time per process. Errors are ignored: the sweep never makes a create or open fail.

pub(crate) mod record;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// The environment variable that restricts or turns off the automatic sweep.
pub(crate) const VAR: &str = "IPC_RECLAIM";

/// What the automatic sweep of this process may remove.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Nothing: `IPC_RECLAIM=off`.
    Off,
    /// This user's objects whose names start with this (empty: all of them).
    Prefix(String),
}

impl Scope {
    fn parse(value: Option<&str>) -> Scope {
        match value.map(str::trim) {
            Some("off") => Scope::Off,
            Some(p) => Scope::Prefix(p.to_owned()),
            None => Scope::Prefix(String::new()),
        }
    }

    /// True if an object named `name` is in scope.
    pub(crate) fn covers(&self, name: &str) -> bool {
        matches!(self, Scope::Prefix(p) if name.starts_with(p.as_str()))
    }

    /// The prefix a process restricted to this scope records for its System V queues
    /// (empty when unrestricted or off).
    pub(crate) fn tag(&self) -> &str {
        match self {
            Scope::Prefix(p) => p,
            Scope::Off => "",
        }
    }
}

/// This process's scope, read from [`VAR`] at the first call.
pub(crate) fn scope() -> &'static Scope {
    static SCOPE: OnceLock<Scope> = OnceLock::new();
    SCOPE.get_or_init(|| Scope::parse(std::env::var(VAR).ok().as_deref()))
}

/// How many times its own duration a process waits between two sweeps.
const SPACING: u32 = 100;

/// Sweeps this user's abandoned objects in scope, unless a sweep ran too recently (see
/// the module docs) or runs now in another thread. `except` is a name to leave alone (a
/// segment's, or a POSIX queue's without its `/`: the one being opened, for an opener
/// takes what is there, as it always did).
pub(crate) fn sweep(except: Option<&str>) {
    let scope = scope();
    if *scope == Scope::Off {
        return;
    }
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    static NEXT_NS: AtomicU64 = AtomicU64::new(0);
    static RUNNING: AtomicBool = AtomicBool::new(false);
    let epoch = *EPOCH.get_or_init(Instant::now);
    let now = |at: Instant| at.duration_since(epoch).as_nanos() as u64;
    let start = Instant::now();
    if now(start) < NEXT_NS.load(Ordering::Relaxed) || RUNNING.swap(true, Ordering::Acquire) {
        return;
    }
    let uid = nix::unistd::geteuid().as_raw();
    // One pass over `/dev/shm`, where every kind keeps its files: segments (`ipc.NAME`),
    // POSIX queue headers (`ipc-mq.NAME`), System V queue registries (`ipc-msg.ID`), Unix
    // socket registries (`ipc-sock.DEV-INO`).
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for entry in dir.flatten() {
            let file_name = entry.file_name();
            let Some(fname) = file_name.to_str() else {
                continue;
            };
            if let Some(name) = fname.strip_prefix("ipc.") {
                crate::shm::sweep_one(name, scope, uid, except);
            } else if let Some(name) = fname.strip_prefix("ipc-mq.") {
                crate::mq::sweep_one(name, scope, uid, except);
            } else if let Some(id) = fname.strip_prefix("ipc-msg.") {
                crate::sysv::sweep_one(id, scope, uid);
            } else if fname.starts_with("ipc-sock.") {
                crate::socket::sweep_one(fname, scope, uid);
            }
        }
    }
    let took = start.elapsed();
    NEXT_NS.store(now(start + took * SPACING), Ordering::Relaxed);
    RUNNING.store(false, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn the_scope_is_read_from_the_variable() {
        assert_eq!(Scope::parse(None), Scope::Prefix(String::new()));
        assert_eq!(Scope::parse(Some("")), Scope::Prefix(String::new()));
        assert_eq!(Scope::parse(Some("off")), Scope::Off);
        let p = Scope::parse(Some("myapp-"));
        assert!(p.covers("myapp-orders") && !p.covers("other"));
        assert!(Scope::parse(None).covers("anything"));
        assert!(!Scope::Off.covers("anything"));
    }
}
