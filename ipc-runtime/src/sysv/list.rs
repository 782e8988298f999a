//! Discovery: the System V message queues on the machine, read from
//! `/proc/sysvipc/msg` without attaching to any.

use crate::error::{Error, Result};
use crate::schema::SchemaTree;

/// A System V message queue found by [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listed {
    /// Its key (`IPC_PRIVATE`, 0, for a queue without one).
    pub key: i32,
    /// Its id (what `msgget` returned; [`Receiver::from_id`](super::Receiver::from_id)
    /// takes it).
    pub id: i32,
    /// Messages in the queue now.
    pub messages: u64,
    /// Bytes of messages in the queue now (each of this crate's carries an 8-byte
    /// fingerprint before the message).
    pub bytes: u64,
    /// The process that sent last (0: none yet).
    pub last_sender: u32,
    /// The process that received last (0: none yet).
    pub last_receiver: u32,
    /// The uid that owns the queue.
    pub owner: u32,
    /// Its permission bits.
    pub mode: u32,
    /// The message type of the process that created it, from the registry this crate
    /// keeps beside its queues (`None` for a queue it did not make).
    pub tree: Option<SchemaTree>,
    /// True if it is this user's and crashed processes abandoned it, by the rule of the
    /// automatic sweep (see [`crate::sysv`]): the next create or open of any channel by
    /// this user, or [`remove_stale`](super::remove_stale), removes it.
    pub stale: bool,
}

/// The System V message queues of this machine's IPC namespace, sorted by id.
///
/// A queue this crate made has a registry beside it that names its creator's message type
/// ([`Listed::tree`]); every message also carries its own fingerprint, which
/// [`Receiver::recv`](super::Receiver::recv) checks as it comes.
///
/// ```no_run
/// for q in ipc::sysv::list()? {
///     println!("key {:#x} id {}: {} messages", q.key, q.id, q.messages);
/// }
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Io`] if `/proc/sysvipc/msg` cannot be read (no `/proc`).
pub fn list() -> Result<Vec<Listed>> {
    let text = std::fs::read_to_string("/proc/sysvipc/msg").map_err(|source| Error::Io {
        op: "read /proc/sysvipc/msg",
        source,
    })?;
    let mut found: Vec<Listed> = text.lines().skip(1).filter_map(parse_line).collect();
    let uid = nix::unistd::geteuid().as_raw();
    let all = crate::reclaim::Scope::Prefix(String::new());
    for q in &mut found {
        q.tree = super::registry::schema(q.id, q.owner);
        q.stale = q.owner == uid && super::registry::reclaim(q.id, &all, uid, false);
    }
    found.sort_by_key(|q| q.id);
    Ok(found)
}

/// One line of `/proc/sysvipc/msg`: key msqid perms cbytes qnum lspid lrpid uid ...
fn parse_line(line: &str) -> Option<Listed> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 8 {
        return None;
    }
    Some(Listed {
        key: f[0].parse().ok()?,
        id: f[1].parse().ok()?,
        mode: u32::from_str_radix(f[2], 8).ok()? & 0o777,
        bytes: f[3].parse().ok()?,
        messages: f[4].parse().ok()?,
        last_sender: f[5].parse().ok()?,
        last_receiver: f[6].parse().ok()?,
        owner: f[7].parse().ok()?,
        tree: None,
        stale: false,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_line;

    #[test]
    fn a_line_of_proc_sysvipc_msg_is_read_field_by_field() {
        let q = parse_line(
            "1090519041          3       600          24          2  4242     0  1000  1000  1000  1000 1765000000          0 1765000000",
        )
        .unwrap();
        assert_eq!((q.key, q.id, q.mode), (1_090_519_041, 3, 0o600));
        assert_eq!(
            (q.bytes, q.messages, q.last_sender, q.owner),
            (24, 2, 4242, 1000)
        );
        assert!(parse_line("garbage").is_none());
    }
}
