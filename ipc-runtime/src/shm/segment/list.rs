//! Discovery: what shared-memory channels, topics and shared values exist on the machine,
//! read from their headers with `pread(2)` (never mapped) and their lock bytes.

use std::ops::Range;
use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;
use nix::sys::mman::shm_open;
use nix::sys::stat::{fstat, Mode};

use super::super::layout::{self, Meta, SegmentKind, MAGIC, VERSION};
use super::super::ring::MAX_PARTICIPANTS;
use super::super::topic::TopicControl;
use super::reclaim::{owed, Owed};
use super::{count_locked, live_in, PREFIX, SYSV_MAGIC, SYSV_REGISTRY};
use crate::error::{Error, Result, SchemaId};
use crate::schema::SchemaTree;

/// What a listed segment holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pattern {
    /// A channel: [`Sender`](super::super::Sender)s and a
    /// [`Receiver`](super::super::Receiver).
    Channel,
    /// A publish-subscribe topic: a [`Publisher`](super::super::Publisher) and
    /// [`Subscriber`](super::super::Subscriber)s.
    Topic,
    /// A [`Shared`](super::super::Shared) value.
    Shared,
    /// A System V segment's registry file (its header lies in the System V segment,
    /// which listing does not attach).
    SystemV,
    /// A segment of a kind this build does not know (written by another version).
    Unknown(u32),
}

/// Who is attached to a listed segment, by role (participants whose process is alive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attached {
    /// A channel's receivers (0 or 1) and senders.
    Channel {
        /// Receivers (0 or 1).
        receivers: u32,
        /// Senders.
        senders: u32,
    },
    /// A topic's publishers (0 or 1) and subscribers.
    Topic {
        /// Publishers (0 or 1).
        publishers: u32,
        /// Subscribers.
        subscribers: u32,
    },
    /// Anyone else: processes holding a shared value, or the participants of a segment of
    /// unknown kind.
    Processes(u32),
}

/// A segment of this crate found under `/dev/shm` (see [`list`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listed {
    /// The name it was created with (without the `ipc.` prefix of its file).
    pub name: String,
    /// What it holds.
    pub pattern: Pattern,
    /// The message type it carries, as its header states it (`None` for a System V
    /// registry, or a header of another format version).
    pub schema: Option<SchemaId>,
    /// The message type's whole schema (a slice's element's), decoded from what the
    /// segment carries after its header and checked against `schema`'s fingerprint; `None`
    /// where it is missing or does not decode.
    pub tree: Option<SchemaTree>,
    /// Slots of a channel, entries of a topic (0 otherwise).
    pub capacity: u64,
    /// Subscriber lines of a topic (0 otherwise).
    pub max_subscribers: u32,
    /// The most elements a message holds, for a channel or topic of slices (whose schema
    /// is then named `[E]`); 0 for fixed-size messages.
    pub max_len: u64,
    /// Bytes the segment's file takes.
    pub bytes: u64,
    /// Whether its creator finished initialising it.
    pub ready: bool,
    /// Who is attached.
    pub attached: Attached,
    /// Every participant known: those attached now, and those that died attached (a
    /// participant that leaves cleanly is forgotten), in participant order.
    pub participants: Vec<Participant>,
    /// A channel's messages published and not yet read (0 otherwise).
    pub unread: u64,
    /// For a channel that holds unread messages for a receiver to come: how much longer
    /// [`remove_stale`](super::remove_stale) keeps it once nobody is attached (its
    /// senders' linger, see [`Options::linger`](super::super::Options::linger), counted
    /// from when it was first found abandoned, or from now if it has not been yet).
    /// `None` if it owes no receiver anything, or its linger is over.
    pub linger_left: Option<std::time::Duration>,
    /// A topic's samples published since it was created (0 otherwise).
    pub published: u64,
    /// The uid that owns the segment's file.
    pub owner: u32,
    /// The file's permission bits.
    pub mode: u32,
}

/// One participant of a listed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Participant {
    /// What it is to the segment.
    pub role: Role,
    /// Its process id as it recorded it when it joined (`None` if it did not: a shared
    /// value's holders, or a participant of a segment of another format).
    pub pid: Option<u32>,
    /// Whether it holds its place now (it is attached and its process alive). A
    /// participant that died attached stays listed, not alive, until another takes its
    /// place.
    pub alive: bool,
}

/// The role of a [`Participant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// A channel's receiver.
    Receiver,
    /// A channel's sender.
    Sender,
    /// A topic's publisher.
    Publisher,
    /// A topic's subscriber.
    Subscriber,
    /// A process holding a shared value (or a segment of unknown kind).
    Holder,
}

impl Listed {
    /// True if no live process is attached: a segment [`remove_stale`](super::remove_stale)
    /// removes, unless it keeps unread messages for a receiver ([`Listed::linger_left`]).
    pub fn is_abandoned(&self) -> bool {
        match self.attached {
            Attached::Channel { receivers, senders } => receivers + senders == 0,
            Attached::Topic {
                publishers,
                subscribers,
            } => publishers + subscribers == 0,
            Attached::Processes(n) => n == 0,
        }
    }

    /// False for a file cut short below a segment's header: it carries the segment magic
    /// but nothing proves the rest of it a segment, so
    /// [`remove_stale`](super::remove_stale) leaves it alone (remove it by hand if no
    /// program uses it).
    pub fn is_whole(&self) -> bool {
        self.pattern == Pattern::SystemV || self.bytes >= size_of::<layout::Header>() as u64
    }
}

/// The shared-memory segments of this crate on the machine that this process may read:
/// channels, topics and shared values, with their schema, size and who is attached.
///
/// Each file under `/dev/shm` named `ipc.*` is read with `pread(2)`, only its header,
/// and never mapped (a file another process shrinks meanwhile cannot raise SIGBUS here);
/// a file without the segment magic is not listed (another program's: this crate's
/// creators name a file only once it carries the magic). Who is attached is read from the
/// lock bytes every participant holds (a system call per participant found). Segments of
/// other users that this process cannot open are skipped.
///
/// ```no_run
/// for seg in ipc::shm::list()? {
///     let schema = seg.schema.as_ref().map_or("?".to_owned(), |s| s.name.clone());
///     println!("{:<24} {:?} of {schema}: {:?}", seg.name, seg.pattern, seg.attached);
/// }
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Io`] if `/dev/shm` cannot be read.
pub fn list() -> Result<Vec<Listed>> {
    let dir = std::fs::read_dir("/dev/shm").map_err(|e| Error::Io {
        op: "read_dir(/dev/shm)",
        source: e,
    })?;
    let mut found: Vec<Listed> = dir
        .flatten()
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let fname = file_name.to_str()?;
            let name = fname.strip_prefix(PREFIX)?;
            let fd = shm_open(
                format!("/{fname}").as_str(),
                // O_NONBLOCK: a FIFO named like a segment (anyone may make one in
                // /dev/shm) would block an open for reading until a writer came.
                OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ok()?;
            describe(name, &fd)
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Reads `buf.len()` bytes at `offset` of `fd` (false if the file is shorter or unreadable).
fn read_exact_at(fd: &OwnedFd, buf: &mut [u8], offset: u64) -> bool {
    nix::sys::uio::pread(fd, buf, offset as libc::off_t).is_ok_and(|n| n == buf.len())
}

/// The listing of the segment file open as `fd`, or None if it is not this crate's.
fn describe(name: &str, fd: &OwnedFd) -> Option<Listed> {
    let st = fstat(fd).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let bytes = st.st_size.max(0) as u64;
    let everyone = || Attached::Processes(count_locked(fd, 0..MAX_PARTICIPANTS));
    if bytes == SYSV_REGISTRY {
        let mut magic = [0u8; 8];
        return (read_exact_at(fd, &mut magic, 0) && &magic == SYSV_MAGIC).then(|| Listed {
            name: name.to_owned(),
            pattern: Pattern::SystemV,
            schema: None,
            tree: None,
            capacity: 0,
            max_subscribers: 0,
            max_len: 0,
            bytes,
            ready: true,
            attached: everyone(),
            participants: holders(fd, 0..MAX_PARTICIPANTS),
            unread: 0,
            linger_left: None,
            published: 0,
            owner: st.st_uid,
            mode: st.st_mode & 0o777,
        });
    }
    let mut raw = [0u8; size_of::<Meta>()];
    if !read_exact_at(fd, &mut raw, 0) {
        return None;
    }
    // SAFETY: `Meta` is plain integers (every bit pattern is a value) and `raw` holds
    // exactly its bytes; the read is unaligned-safe.
    let meta: Meta = unsafe { core::ptr::read_unaligned(raw.as_ptr().cast()) };
    if meta.magic != MAGIC {
        return None;
    }
    let mut state = [0u8; 4];
    let ready = read_exact_at(fd, &mut state, layout::offsets::STATE as u64)
        && u32::from_ne_bytes(state) == layout::READY;
    let ours = meta.version == VERSION;
    let pattern = match meta.kind {
        k if k == SegmentKind::Channel as u32 => Pattern::Channel,
        k if k == SegmentKind::Topic as u32 => Pattern::Topic,
        k if k == SegmentKind::Shared as u32 => Pattern::Shared,
        k => Pattern::Unknown(k),
    };
    let subscribers = meta.subscribers.min(MAX_PARTICIPANTS as u32 - 1);
    let attached = match (ours, pattern) {
        (true, Pattern::Channel) => Attached::Channel {
            receivers: count_locked(fd, 0..1),
            senders: count_locked(fd, 1..MAX_PARTICIPANTS),
        },
        (true, Pattern::Topic) => Attached::Topic {
            publishers: count_locked(fd, 0..1),
            subscribers: count_locked(fd, 1..1 + subscribers as usize),
        },
        _ => everyone(),
    };
    Some(Listed {
        name: name.to_owned(),
        pattern,
        schema: ours.then(|| meta.schema_id()),
        tree: if ours {
            read_tree(fd, &meta, bytes)
        } else {
            None
        },
        capacity: if ours { meta.capacity } else { 0 },
        max_subscribers: if ours && pattern == Pattern::Topic {
            subscribers
        } else {
            0
        },
        max_len: if ours { meta.max_len } else { 0 },
        bytes,
        ready,
        attached,
        participants: match (ours, pattern) {
            (true, Pattern::Channel) => participants(fd, 0..MAX_PARTICIPANTS, |i| {
                if i == 0 {
                    Role::Receiver
                } else {
                    Role::Sender
                }
            }),
            (true, Pattern::Topic) => participants(fd, 0..1 + subscribers as usize, |i| {
                if i == 0 {
                    Role::Publisher
                } else {
                    Role::Subscriber
                }
            }),
            _ => holders(fd, 0..MAX_PARTICIPANTS),
        },
        unread: match (ours, pattern) {
            (true, Pattern::Channel) => {
                let tail = read_u64(fd, layout::offsets::TAIL as u64);
                let head = read_u64(fd, layout::offsets::HEAD as u64);
                tail.saturating_sub(head).min(meta.capacity)
            }
            _ => 0,
        },
        linger_left: match (ours && ready, pattern) {
            (true, Pattern::Channel) => {
                let left = |until: u64| until.checked_sub(layout::now_ns());
                match owed(fd) {
                    Owed::Until(until) | Owed::FromNow(until) => left(until)
                        .filter(|&ns| ns > 0)
                        .map(std::time::Duration::from_nanos),
                    Owed::Nothing | Owed::Unreadable => None,
                }
            }
            _ => None,
        },
        published: match (ours, pattern) {
            (true, Pattern::Topic) => read_u64(
                fd,
                meta.body_offset + core::mem::offset_of!(TopicControl, tail) as u64,
            ),
            _ => 0,
        },
        owner: st.st_uid,
        mode: st.st_mode & 0o777,
    })
}

/// The schema tree a segment carries after its header, if it decodes and its fingerprint
/// is the one the header states (for a slice, the element's: the header's is the slice's).
fn read_tree(fd: &OwnedFd, meta: &Meta, file_len: u64) -> Option<SchemaTree> {
    let len = meta.schema_len as usize;
    let start = size_of::<layout::Header>() as u64;
    if len == 0 || len > layout::MAX_SCHEMA_BYTES || start + len as u64 > file_len {
        return None;
    }
    let mut bytes = vec![0u8; len];
    if !read_exact_at(fd, &mut bytes, start) {
        return None;
    }
    let tree = SchemaTree::decode(&bytes).ok()?;
    let fingerprint = if meta.max_len > 0 {
        crate::message::slice_fingerprint(tree.fingerprint())
    } else {
        tree.fingerprint()
    };
    (fingerprint == meta.fingerprint).then_some(tree)
}

/// The word at `offset` of `fd` (0 if it cannot be read).
fn read_u64(fd: &OwnedFd, offset: u64) -> u64 {
    let mut word = [0u8; 8];
    if read_exact_at(fd, &mut word, offset) {
        u64::from_ne_bytes(word)
    } else {
        0
    }
}

/// The participants in `range` that are alive or recorded a pid (which a clean leave
/// clears), with the roles `role` gives their indices.
fn participants(
    fd: &OwnedFd,
    range: Range<usize>,
    role: impl Fn(usize) -> Role,
) -> Vec<Participant> {
    let mut pids = [0u8; 4 * MAX_PARTICIPANTS];
    let known = read_exact_at(fd, &mut pids, layout::offsets::PEER_PIDS as u64);
    let mut live = Vec::new();
    live_in(fd, range.clone(), &mut live);
    range
        .filter_map(|i| {
            let pid = if known {
                u32::from_ne_bytes(pids[4 * i..4 * i + 4].try_into().expect("4 bytes"))
            } else {
                0
            };
            let alive = live.contains(&i);
            (alive || pid != 0).then_some(Participant {
                role: role(i),
                pid: (pid != 0).then_some(pid),
                alive,
            })
        })
        .collect()
}

/// The live holders of a segment whose participants record no pid.
fn holders(fd: &OwnedFd, range: Range<usize>) -> Vec<Participant> {
    let mut live = Vec::new();
    live_in(fd, range, &mut live);
    live.iter()
        .map(|_| Participant {
            role: Role::Holder,
            pid: None,
            alive: true,
        })
        .collect()
}
