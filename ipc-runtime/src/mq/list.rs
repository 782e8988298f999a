//! Discovery: the POSIX message queues on the machine, read from `/dev/mqueue` (where the
//! `mqueue` filesystem is mounted) and from their schema headers, without opening a
//! queue.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

use super::header::parse_header;
use super::limits::header_path;
use crate::error::{Error, Result, SchemaId};
use crate::schema::block::read_block;
use crate::schema::SchemaTree;

/// Where the kernel shows its POSIX queues (`mq_overview(7)`).
const MQUEUE_DIR: &str = "/dev/mqueue";

/// A POSIX message queue found by [`list`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listed {
    /// Its name, with the leading `/` that `mq_open` takes.
    pub name: String,
    /// The message type its schema header names (`None`: a queue without one, made by
    /// another program, or by a creator that died before writing it).
    pub schema: Option<SchemaId>,
    /// The message type's whole schema, decoded from its schema header and checked
    /// against `schema`'s fingerprint; `None` where it is missing or does not decode.
    pub tree: Option<SchemaTree>,
    /// Bytes of messages in the queue now (`QSIZE` in `/dev/mqueue`).
    pub queued_bytes: u64,
    /// The uid that owns the queue.
    pub owner: u32,
    /// Its permission bits.
    pub mode: u32,
    /// True if it is this user's and crashed processes abandoned it, by the rule of the
    /// automatic sweep (see [`crate::mq`], "Crashes"): the next create or open of any
    /// channel by this user, or [`remove_stale_with_prefix`](super::remove_stale_with_prefix),
    /// removes it.
    pub stale: bool,
}

impl Listed {
    /// The messages in the queue now, if its schema says how long one is.
    pub fn messages(&self) -> Option<u64> {
        let size = self.schema.as_ref()?.size;
        (size > 0).then(|| self.queued_bytes / size)
    }
}

/// The POSIX message queues on this machine that this process can see, with the schema
/// their header names (this crate's queues) and how full they are, sorted by name.
///
/// Read from `/dev/mqueue`, which must be mounted (`mount -t mqueue none /dev/mqueue`):
/// each entry's size in bytes, owner and mode, and its schema header under `/dev/shm`
/// (at most 1 KiB of it read). No queue is opened.
///
/// ```no_run
/// for q in ipc::mq::list()? {
///     let schema = q.schema.as_ref().map_or("?".to_owned(), |s| s.name.clone());
///     println!("{} of {schema}: {:?} messages", q.name, q.messages());
/// }
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Unsupported`] if `/dev/mqueue` is not mounted; [`Error::Io`] if it cannot be
/// read.
pub fn list() -> Result<Vec<Listed>> {
    let dir = std::fs::read_dir(MQUEUE_DIR).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => not_mounted(),
        _ => Error::Io {
            op: "read_dir(/dev/mqueue)",
            source: e,
        },
    })?;
    if !is_mqueue_mount() {
        return Err(not_mounted());
    }
    let uid = nix::unistd::geteuid().as_raw();
    let mut found: Vec<Listed> = dir
        .flatten()
        .filter_map(|entry| {
            let name = format!("/{}", entry.file_name().to_str()?);
            let meta = entry.metadata().ok()?;
            let mut text = String::new();
            std::fs::File::open(entry.path())
                .ok()?
                .take(256)
                .read_to_string(&mut text)
                .ok()?;
            let (schema, tree) = read_schema(&name, meta.uid()).unzip();
            let stale = meta.uid() == uid && super::record::reclaim(&name[1..], uid, false);
            Some(Listed {
                schema,
                tree: tree.flatten(),
                queued_bytes: qsize(&text).unwrap_or(0),
                stale,
                owner: meta.uid(),
                mode: meta.mode() & 0o777,
                name,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn not_mounted() -> Error {
    Error::Unsupported {
        what: "listing POSIX message queues".into(),
        reason: "the mqueue filesystem is not mounted on /dev/mqueue; mount it with \
                 `mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue` (as root)",
    }
}

/// True if `/dev/mqueue` is the mqueue filesystem (not a plain directory).
pub(super) fn is_mqueue_mount() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(MQUEUE_DIR)))
}

/// The `QSIZE:` of a `/dev/mqueue` entry's text.
pub(super) fn qsize(text: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|f| f.strip_prefix("QSIZE:"))?
        .parse()
        .ok()
}

/// The schema header of queue `name`, if it has one that belongs to the queue's owner,
/// and the tree it carries, if it does.
fn read_schema(name: &str, owner: u32) -> Option<(SchemaId, Option<SchemaTree>)> {
    let path = header_path(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    if meta.uid() != owner || !meta.is_file() {
        return None;
    }
    // Never blocks (a FIFO put there in the meantime would, opened for reading).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)
        .ok()?;
    let mut text = String::new();
    (&file).take(1024).read_to_string(&mut text).ok()?;
    let id = parse_header(&text)?;
    let tree = read_block(&file, id.fingerprint);
    Some((id, tree))
}

#[cfg(test)]
mod tests {
    use super::qsize;

    #[test]
    fn qsize_is_read_from_the_kernels_line() {
        assert_eq!(
            qsize("QSIZE:129        NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"),
            Some(129)
        );
        assert_eq!(qsize("garbage"), None);
    }
}
