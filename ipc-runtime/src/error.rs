//! Errors: one [`Error`] enum for every transport, in plain words, and [`SendError`],
//! which hands back the message a send could not deliver.

use core::fmt;
use std::io;
use std::time::Duration;

use nix::errno::Errno;

use crate::message::{InvalidMessage, Message, Schema};

/// The result type of this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in a channel, a segment or a queue.
///
/// Each variant says what happened and, where there is one, what to do about it. System
/// errors that have a meaning here are mapped to it (`EPIPE` → [`Error::Disconnected`],
/// `EEXIST` → [`Error::AlreadyExists`], ...); the rest keep the errno in [`Error::Io`].
///
/// `Debug` prints the `Display` sentence followed by the variant's name, so a
/// `fn main() -> Result<(), ipc::Error>` that fails ends with a line a person can read:
///
/// ```
/// use std::time::Duration;
///
/// let e = ipc::Error::Timeout(Duration::from_millis(5));
/// assert_eq!(e.to_string(), "timed out after 5ms; try again later, or allow more time");
/// assert_eq!(
///     format!("{e:?}"),
///     "timed out after 5ms; try again later, or allow more time (Error::Timeout)"
/// );
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The other side is gone: every sender, or the receiver, has closed its end or died.
    #[error("disconnected: the peer has closed its end of the channel or exited")]
    Disconnected,

    /// `try_recv`: no message is waiting right now.
    #[error("no message is waiting; try again later or use recv() to wait")]
    Empty,

    /// `try_send`: the channel has no room right now.
    #[error("the channel is full; try again later or use send() to wait")]
    Full,

    /// A subscriber of a topic that drops the oldest samples fell a ring behind its
    /// publisher: this many samples were skipped. The next receive returns the oldest
    /// sample still held.
    #[error(
        "lagged: {0} samples were dropped before this subscriber read them; \
         read faster, or give the topic more capacity"
    )]
    Lagged(u64),

    /// A `*_timeout` call (or a connect or handshake, bounded by the handshake timeout)
    /// waited its full time.
    #[error("timed out after {0:?}; try again later, or allow more time")]
    Timeout(Duration),

    /// The peer was built with another definition of the message type.
    #[error(
        "schema mismatch: this side uses {expected}, the peer uses {found}{}; \
         build both programs from the same definition of the message type",
        difference_suffix(.difference)
    )]
    SchemaMismatch {
        /// This side's schema (boxed, as `found`: they keep every `Result` small).
        expected: Box<SchemaId>,
        /// The peer's schema.
        found: Box<SchemaId>,
        /// The first field that differs, with both sides ("`Order.qty`: u32 at offset 32
        /// here, u64 at offset 32 there"), where the peer's whole schema is known (shared
        /// memory carries it, and so do the handshakes of the byte streams whose tree fits
        /// one: see [`crate::codec`]). Boxed: it keeps every `Result` of this crate small.
        difference: Option<Box<str>>,
    },

    /// The peer sent a message whose bytes are not a valid value of the type.
    #[error(transparent)]
    InvalidMessage(#[from] InvalidMessage),

    /// Bytes or JSON given to an end of any type ([`AnySender`](crate::shm::AnySender)) or
    /// to [`Value`](crate::schema::Value) are not a value of the channel's schema; the
    /// error names the field at fault and what is wrong there.
    #[error("{0}")]
    InvalidValue(Box<crate::schema::ValueError>),

    /// The byte stream does not follow the wire format (garbage, truncation, or a writer
    /// that is not this crate's).
    #[error("corrupt stream: {0}")]
    Corrupt(String),

    /// A named object does not exist.
    #[error("{what} `{name}` does not exist; create it first, or check the name")]
    NotFound {
        /// What kind of object (`"FIFO"`, `"queue"`, ...).
        what: &'static str,
        /// Its name or path.
        name: String,
    },

    /// A named object already exists.
    #[error("{what} `{name}` already exists; open it instead, or remove it first")]
    AlreadyExists {
        /// What kind of object.
        what: &'static str,
        /// Its name or path.
        name: String,
    },

    /// The caller may not access a named object.
    #[error("permission denied for {what} `{name}`; check its owner and mode")]
    PermissionDenied {
        /// What kind of object.
        what: &'static str,
        /// Its name or path.
        name: String,
    },

    /// A named object belongs to another user, or its mode grants more access than this
    /// side allows (each transport's `Options::mode`): someone else may have planted it, so
    /// it is neither used nor replaced. `hint` says how to accept it or remove it.
    #[error(
        "{what} `{name}` is not trusted: it is owned by uid {owner} with mode {mode:04o}; {hint}"
    )]
    Untrusted {
        /// What kind of object.
        what: &'static str,
        /// Its name or path.
        name: String,
        /// The uid that owns it.
        owner: u32,
        /// Its permission bits.
        mode: u32,
        /// Why it is refused and what to do.
        hint: String,
    },

    /// An endpoint string does not follow the grammar of [`Endpoint`](crate::Endpoint).
    #[error("invalid endpoint `{endpoint}`: {problem}; an endpoint is one of {grammar}")]
    InvalidEndpoint {
        /// The string given.
        endpoint: String,
        /// What is wrong with it.
        problem: String,
        /// The grammar of endpoints ([`endpoint::GRAMMAR`](crate::endpoint::GRAMMAR)).
        grammar: &'static str,
    },

    /// A name or path is not acceptable.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// Another process already holds something only one may hold.
    #[error("{what} `{name}` is in use: {reason}")]
    Busy {
        /// What kind of object.
        what: &'static str,
        /// Its name or path.
        name: String,
        /// Why only one may hold it.
        reason: &'static str,
    },

    /// A system limit stands in the way.
    #[error("{limit} is {value}, too low for this: {hint}")]
    LimitExceeded {
        /// The limit (a sysctl path, an rlimit, a constant).
        limit: &'static str,
        /// Its current value (for `max_len`, the most elements a slice may hold; the
        /// length that passed it is in `hint`).
        value: u64,
        /// How to raise it or avoid it.
        hint: String,
    },

    /// A process died while holding a shared lock (`ipc::shm::Shared`); the value it guarded
    /// may be half-updated. Lock again, check and repair it, then mark it consistent.
    #[error("the previous holder of the shared lock died while holding it; check and repair the value, then mark it consistent")]
    OwnerDied,

    /// The server of a service (`#[ipc::service]`) refused a call: the request named no
    /// method of the service, or its arguments were not valid values. Only a peer that
    /// does not follow the service's protocol sees it; the server closes its connection.
    #[error("the server refused a call of method #{method}: {reason}; the connection is closed")]
    Refused {
        /// The method id the request carried.
        method: u32,
        /// Why.
        reason: &'static str,
    },

    /// The process was asked to shut down while waiting (see `ipc::signal`).
    #[error("interrupted by a shutdown request")]
    Shutdown,

    /// The request cannot be honoured on this system (e.g. catching `SIGKILL`).
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// What was asked for.
        what: String,
        /// Why it cannot be done, and what to do instead.
        reason: &'static str,
    },

    /// Any other system error, with the call that failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The call that failed (`"write"`, `"mkfifo"`, ...).
        op: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// Wraps the failure of call `op` (`"write"`, `"connect"`, ...), for code that
    /// builds on this crate and reports its own I/O errors as [`Error`]s: a broken pipe or a
    /// reset, aborted or ended connection is [`Error::Disconnected`], running out of file
    /// descriptors (`EMFILE`, `ENFILE`) is [`Error::LimitExceeded`] naming the limit and how
    /// to raise it, and anything else is [`Error::Io`] with `op` and the error.
    ///
    /// ```
    /// use std::io;
    ///
    /// let reset = io::Error::from(io::ErrorKind::ConnectionReset);
    /// assert!(ipc::Error::io("read", reset).is_disconnected());
    ///
    /// let denied = io::Error::from_raw_os_error(13); // EACCES
    /// let e = ipc::Error::io("open", denied);
    /// assert!(matches!(e, ipc::Error::Io { op: "open", .. }));
    /// assert!(e.to_string().starts_with("open failed: "));
    ///
    /// let out_of_fds = io::Error::from_raw_os_error(24); // EMFILE
    /// let e = ipc::Error::io("socket", out_of_fds);
    /// assert!(matches!(e, ipc::Error::LimitExceeded { .. }), "{e}");
    /// ```
    pub fn io(op: &'static str, error: io::Error) -> Self {
        match error.raw_os_error() {
            Some(n @ (libc::EMFILE | libc::ENFILE)) => new_fd_error(op, Errno::from_raw(n)),
            _ => match error.kind() {
                io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof => Error::Disconnected,
                _ => Error::Io { op, source: error },
            },
        }
    }

    /// Wraps an errno from call `op`, mapping `EPIPE` and `ECONNRESET` to
    /// [`Error::Disconnected`], and `EMFILE` / `ENFILE` (out of file descriptors) to
    /// [`Error::LimitExceeded`] naming `RLIMIT_NOFILE` or `fs.file-max` and how to raise it.
    pub(crate) fn sys(op: &'static str, errno: Errno) -> Self {
        match errno {
            Errno::EPIPE | Errno::ECONNRESET => Error::Disconnected,
            Errno::EMFILE | Errno::ENFILE => new_fd_error(op, errno),
            e => Error::Io {
                op,
                source: io::Error::from_raw_os_error(e as i32),
            },
        }
    }

    /// Wraps an errno from call `op` on the named object `name` (a `what`), mapping
    /// `ENOENT`, `EEXIST`, `EACCES`/`EPERM` and `ENAMETOOLONG` to their variants, and the
    /// rest as [`Error::sys`] does.
    pub(crate) fn named(op: &'static str, what: &'static str, name: &str, errno: Errno) -> Self {
        let name = name.to_owned();
        match errno {
            Errno::ENOENT => Error::NotFound { what, name },
            Errno::EEXIST => Error::AlreadyExists { what, name },
            Errno::EACCES | Errno::EPERM => Error::PermissionDenied { what, name },
            Errno::ENAMETOOLONG => Error::InvalidName {
                name,
                reason: "the name is too long for the system",
            },
            e => Error::sys(op, e),
        }
    }

    /// `/dev/shm` (a tmpfs) has no room for `needed` more bytes (`ENOSPC`): the limit is
    /// its free space, reported with how to make room.
    // `fsblkcnt_t` and `c_ulong` are `u64` here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn dev_shm_full(needed: u64) -> Self {
        let free = nix::sys::statvfs::statvfs("/dev/shm")
            .map(|s| (s.blocks_available() as u64).saturating_mul(s.fragment_size() as u64))
            .unwrap_or(0);
        Error::LimitExceeded {
            limit: "free space in /dev/shm",
            value: free,
            hint: format!(
                "{needed} bytes are needed; `df -h /dev/shm` shows its size; free space there \
                 (ipc::shm::remove_stale() removes dead segments; remove files nobody uses) \
                 or enlarge it (`mount -o remount,size=SIZE /dev/shm` as root)"
            ),
        }
    }

    /// A schema mismatch between this side's `T` and the peer's `found`.
    pub fn schema_mismatch<T: Message>(found: SchemaId) -> Self {
        Self::mismatch(SchemaId::of::<T>(), found, None)
    }

    /// A schema mismatch between `expected` (this side's) and `found` (the peer's), with
    /// the first field that differs where it is known.
    pub(crate) fn mismatch(
        expected: SchemaId,
        found: SchemaId,
        difference: Option<Box<str>>,
    ) -> Self {
        Error::SchemaMismatch {
            expected: Box::new(expected),
            found: Box::new(found),
            difference,
        }
    }

    /// A slice of `len` elements offered to a channel that takes at most `max`: the limit
    /// `max_len` is `max`.
    pub(crate) fn too_long(len: usize, max: u64) -> Self {
        Error::LimitExceeded {
            limit: "max_len",
            value: max,
            hint: format!(
                "a slice of {len} elements was offered, and this channel takes at most {max}; \
                 send at most {max} elements at a time, or raise the maximum \
                 (Options::max_len when a shared-memory channel is created, set_max_len on \
                 the ends of a stream)"
            ),
        }
    }

    /// True for [`Error::Disconnected`].
    pub fn is_disconnected(&self) -> bool {
        matches!(self, Error::Disconnected)
    }

    /// True for [`Error::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// The variant's name, which `Debug` puts after the sentence.
    fn variant(&self) -> &'static str {
        match self {
            Error::Disconnected => "Disconnected",
            Error::Empty => "Empty",
            Error::Full => "Full",
            Error::Timeout(_) => "Timeout",
            Error::Lagged(_) => "Lagged",
            Error::SchemaMismatch { .. } => "SchemaMismatch",
            Error::InvalidMessage(_) => "InvalidMessage",
            Error::InvalidValue(_) => "InvalidValue",
            Error::Corrupt(_) => "Corrupt",
            Error::NotFound { .. } => "NotFound",
            Error::AlreadyExists { .. } => "AlreadyExists",
            Error::PermissionDenied { .. } => "PermissionDenied",
            Error::Untrusted { .. } => "Untrusted",
            Error::InvalidEndpoint { .. } => "InvalidEndpoint",
            Error::InvalidName { .. } => "InvalidName",
            Error::Busy { .. } => "Busy",
            Error::LimitExceeded { .. } => "LimitExceeded",
            Error::OwnerDied => "OwnerDied",
            Error::Refused { .. } => "Refused",
            Error::Shutdown => "Shutdown",
            Error::Unsupported { .. } => "Unsupported",
            Error::Io { .. } => "Io",
        }
    }
}

/// The `Display` sentence, then `(Error::Variant)`: what `main` prints when it returns
/// the error.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self} (Error::{})", self.variant())
    }
}

/// Maps the failure of a call that maps memory (`mmap`, `shmat`) of `len` bytes: `ENOMEM`
/// is a limit — the process's count of mappings (`vm.max_map_count`, a system-wide
/// setting that applies to each process) or its address space (`RLIMIT_AS`) — and becomes
/// [`Error::LimitExceeded`] naming both, with the values in force and how to raise them;
/// anything else goes through [`Error::sys`].
pub(crate) fn map_error(op: &'static str, len: u64, errno: Errno) -> Error {
    if errno != Errno::ENOMEM {
        return Error::sys(op, errno);
    }
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let mappings = std::fs::read_to_string("/proc/self/maps").map(|m| m.lines().count());
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit that getrlimit fills.
    let as_limit = (unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0)
        .then_some(lim.rlim_cur)
        .filter(|&l| l != libc::RLIM_INFINITY);
    let show = |v: Option<u64>| v.map_or("unlimited or unknown".to_owned(), |v| v.to_string());
    let call = if len > 0 {
        format!("{op} of {len} bytes")
    } else {
        op.to_owned()
    };
    Error::LimitExceeded {
        limit: "vm.max_map_count (memory mappings per process) or RLIMIT_AS (address space)",
        value: max_map_count.unwrap_or(0),
        hint: format!(
            "{call} failed (ENOMEM): this process has {} mappings of at most \
             vm.max_map_count = {}, and an address space limit of {}; close channels no \
             longer needed, raise `sysctl -w vm.max_map_count=N` as root, or `ulimit -v`",
            mappings.map_or("?".to_owned(), |n| n.to_string()),
            show(max_map_count),
            show(as_limit),
        ),
    }
}

/// Maps the failure of a call that makes a descriptor (`pipe2`, `open`, `socket`, ...):
/// `EMFILE` and `ENFILE` become [`Error::LimitExceeded`] naming the limit, its value and
/// what to do; anything else goes through [`Error::sys`].
pub(crate) fn new_fd_error(op: &'static str, errno: Errno) -> Error {
    match errno {
        Errno::EMFILE => {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid, writable rlimit that getrlimit fills.
            let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
            Error::LimitExceeded {
                limit: "RLIMIT_NOFILE (open files per process)",
                value: if rc == 0 { lim.rlim_cur } else { 0 },
                hint: "close descriptors that are no longer needed, or raise the limit \
                       (ulimit -n, setrlimit)"
                    .into(),
            }
        }
        Errno::ENFILE => Error::LimitExceeded {
            limit: "/proc/sys/fs/file-max (open files in the system)",
            value: std::fs::read_to_string("/proc/sys/fs/file-max")
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            hint: "the whole system is out of file descriptors; close some or raise it".into(),
        },
        e => Error::sys(op, e),
    }
}

fn difference_suffix(difference: &Option<Box<str>>) -> String {
    difference
        .as_ref()
        .map_or_else(String::new, |d| format!(" (first difference: {d})"))
}

/// The identity of a schema as it crosses the wire: name, fingerprint, size, alignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaId {
    /// The schema name.
    pub name: String,
    /// The fingerprint.
    pub fingerprint: u64,
    /// The size in bytes.
    pub size: u64,
    /// The alignment in bytes.
    pub align: u64,
}

impl SchemaId {
    /// This process's schema of `T`.
    pub fn of<T: Message>() -> Self {
        Self::from_schema(&T::SCHEMA)
    }

    /// The identity of `schema`.
    pub fn from_schema(schema: &Schema) -> Self {
        SchemaId {
            name: schema.to_string(),
            fingerprint: schema.fingerprint(),
            size: schema.size as u64,
            align: schema.align as u64,
        }
    }
}

impl fmt::Display for SchemaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` ({} bytes, align {}, fingerprint {:#018x})",
            self.name, self.size, self.align, self.fingerprint
        )
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        use io::ErrorKind as K;
        let kind = match &e {
            Error::Io { source, .. } => return io::Error::new(source.kind(), e),
            Error::Disconnected => K::BrokenPipe,
            Error::Empty | Error::Full => K::WouldBlock,
            Error::Timeout(_) => K::TimedOut,
            Error::Lagged(_) => K::Other,
            Error::SchemaMismatch { .. }
            | Error::InvalidMessage(_)
            | Error::Corrupt(_)
            | Error::Refused { .. } => K::InvalidData,
            Error::NotFound { .. } => K::NotFound,
            Error::AlreadyExists { .. } => K::AlreadyExists,
            Error::PermissionDenied { .. } | Error::Untrusted { .. } => K::PermissionDenied,
            Error::InvalidName { .. } | Error::InvalidEndpoint { .. } | Error::InvalidValue(_) => {
                K::InvalidInput
            }
            Error::Busy { .. } => K::ResourceBusy,
            Error::LimitExceeded { .. } => K::OutOfMemory,
            Error::Shutdown => K::Interrupted,
            Error::OwnerDied => K::Other,
            Error::Unsupported { .. } => K::Unsupported,
        };
        io::Error::new(kind, e)
    }
}

impl From<crate::schema::ValueError> for Error {
    fn from(e: crate::schema::ValueError) -> Self {
        Error::InvalidValue(Box::new(e))
    }
}

/// A send that failed, with the message it could not deliver.
///
/// `?` converts it into an [`Error`] (dropping the message); [`SendError::into_inner`]
/// takes the message back to retry or reroute it.
///
/// `Debug` reads as `Display` does, with the error's variant, and needs no `T: Debug`
/// (the message is left out):
///
/// ```
/// let e = ipc::SendError::new(ipc::Error::Full, [0u8; 64]);
/// assert_eq!(
///     format!("{e:?}"),
///     "send failed: the channel is full; try again later or use send() to wait (Error::Full)"
/// );
/// assert_eq!(e.to_string(), "send failed: the channel is full; try again later or use send() to wait");
/// ```
pub struct SendError<T> {
    error: Error,
    message: T,
}

impl<T> SendError<T> {
    /// Pairs an error with the undelivered message.
    pub fn new(error: Error, message: T) -> Self {
        SendError { error, message }
    }

    /// Why the send failed.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The undelivered message.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The error, dropping the message.
    pub fn into_error(self) -> Error {
        self.error
    }

    /// Both parts.
    pub fn into_parts(self) -> (Error, T) {
        (self.error, self.message)
    }

    /// True if the channel was full (`try_send`) or stayed full (`send_timeout`).
    pub fn is_full(&self) -> bool {
        matches!(self.error, Error::Full | Error::Timeout(_))
    }

    /// True if the receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        self.error.is_disconnected()
    }
}

/// `send failed: `, the error's sentence, then `(Error::Variant)`; the message is left out.
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {:?}", self.error)
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "send failed: {}", self.error)
    }
}

impl<T> std::error::Error for SendError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<SendError<T>> for Error {
    fn from(e: SendError<T>) -> Error {
        e.error
    }
}

impl<T> From<SendError<T>> for io::Error {
    fn from(e: SendError<T>) -> io::Error {
        e.error.into()
    }
}

/// A batched send ([`Tx::send_all`](crate::Tx::send_all)) that stopped part-way: how many
/// messages went, in order, before `error`. The rest of the batch was not sent and is
/// still the caller's: `&msgs[e.sent()..]`.
pub struct BatchError {
    sent: usize,
    /// Boxed, so that a `Result<(), BatchError>` stays two words.
    error: Box<Error>,
}

impl BatchError {
    /// Pairs an error with the number of messages sent before it.
    pub fn new(sent: usize, error: Error) -> Self {
        BatchError {
            sent,
            error: Box::new(error),
        }
    }

    /// How many messages of the batch went, from its front.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// The messages of `batch` that were not sent (`batch` is the slice given to the
    /// send).
    pub fn unsent<'a, T>(&self, batch: &'a [T]) -> &'a [T] {
        &batch[self.sent.min(batch.len())..]
    }

    /// Why the batch stopped.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The error, without the count.
    pub fn into_error(self) -> Error {
        *self.error
    }
}

impl fmt::Debug for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch stopped after {} sent: {:?}",
            self.sent, self.error
        )
    }
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "batch stopped after {} sent: {}", self.sent, self.error)
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<BatchError> for Error {
    fn from(e: BatchError) -> Error {
        *e.error
    }
}

impl From<BatchError> for io::Error {
    fn from(e: BatchError) -> io::Error {
        (*e.error).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits a test cannot lower (they are system-wide) still map to their errors:
    /// a full system file table, and a mapping refused for memory.
    #[test]
    fn system_wide_limits_map_to_limit_exceeded_naming_them() {
        let e = new_fd_error("open", Errno::ENFILE);
        assert!(
            matches!(&e, Error::LimitExceeded { limit, .. } if limit.starts_with("/proc/sys/fs/file-max")),
            "{e}"
        );
        let e = map_error("mmap", 4096, Errno::ENOMEM);
        match &e {
            Error::LimitExceeded { limit, hint, .. } => {
                assert!(limit.starts_with("vm.max_map_count"), "{e}");
                assert!(limit.contains("RLIMIT_AS"), "{e}");
                assert!(hint.contains("sysctl -w vm.max_map_count="), "{e}");
                assert!(hint.contains("mmap of 4096 bytes"), "{e}");
            }
            e => panic!("{e:?}"),
        }
        // Another failure of a mapping is not a limit.
        let e = map_error("shmat", 0, Errno::EINVAL);
        assert!(matches!(e, Error::Io { op: "shmat", .. }), "{e:?}");
    }
}
