//! An open POSIX queue descriptor and its calls: opening or creating it (with the schema
//! check of [`header`](super::header)), `mq_getattr`, and one send or receive that waits
//! as a [`Wait`] says, through `poll(2)` once shutdown is armed.

use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::mqueue::{mq_open, MQ_OFlag, MqAttr};
use nix::poll::PollFlags;
use nix::sys::stat::{fchmod, fstat, Mode};

use super::header::{read_header, write_header};
use super::limits::{check_name, create_error, removal, WHAT};
use super::options::Options;
use crate::deadline::Wait;
use crate::error::{Error, Result, SchemaId};
use crate::fd::wait_fd;
use crate::message::Message;
use crate::reclaim::record::{End, Joined};
use crate::schema::block::{difference, read_block};
use crate::shutdown::{check_shutdown, shutdown_armed};

#[derive(Clone, Copy, Debug)]
pub(super) enum How {
    Create,
    Open,
    OpenOrCreate,
}

/// An open queue descriptor (on Linux an `mqd_t` is a file descriptor; closing it is
/// `mq_close`).
#[derive(Debug)]
pub(super) struct Queue {
    pub(super) fd: OwnedFd,
    pub(super) name: String,
    pub(super) capacity: usize,
    /// This end's place in the record of who has the queue open (see `record.rs`).
    end: Option<End>,
}

impl Queue {
    pub(super) fn open<T: Message>(
        name: &str,
        access: MQ_OFlag,
        how: How,
        opts: Options,
    ) -> Result<Self> {
        let c = check_name(name)?;
        // What crashed processes of this user left (see `crate::reclaim`), but not the
        // queue being opened: an opener takes what is there, as it always did.
        crate::reclaim::sweep(Some(name.trim_start_matches('/')));
        let mut last = None;
        for _ in 0..16 {
            match Self::open_once::<T>(&c, name, access, how, opts) {
                // Reclaimed between our open and our join: open what the name denotes now.
                Err(e @ Error::NotFound { .. }) if matches!(how, How::OpenOrCreate) => {
                    last = Some(e)
                }
                r => return r,
            }
        }
        Err(last.expect("the loop ran"))
    }

    fn open_once<T: Message>(
        c: &CString,
        name: &str,
        access: MQ_OFlag,
        how: How,
        opts: Options,
    ) -> Result<Self> {
        let c = c.clone();
        let base = access | MQ_OFlag::O_CLOEXEC;
        let (fd, created) = match how {
            How::Create => (Self::create::<T>(&c, name, base, opts)?, true),
            How::Open => (Self::open_existing(&c, name, base, opts)?, false),
            How::OpenOrCreate => match Self::create::<T>(&c, name, base, opts) {
                Err(Error::AlreadyExists { .. }) => {
                    (Self::open_existing(&c, name, base, opts)?, false)
                }
                r => (r?, true),
            },
        };
        let mut q = Queue {
            fd,
            name: name.to_owned(),
            capacity: 0,
            end: None,
        };
        if opts.foreign {
            // Foreign-peer mode: no schema header, written or read (see `Options::foreign`).
        } else if created {
            // A queue without its header is of no use: remove it if the header fails.
            match write_header::<T>(name, opts.mode) {
                Ok(end) => q.end = end,
                Err(e) => {
                    let _ = nix::mqueue::mq_unlink(c.as_c_str());
                    return Err(e);
                }
            }
        } else {
            let (found, header, writable) = read_header(name, &q.fd, opts.mode)?;
            if found.fingerprint != T::FINGERPRINT || found.size != size_of::<T>() as u64 {
                // The header carries the creator's tree: name the first field that differs.
                let theirs = read_block(&header, found.fingerprint);
                return Err(Error::mismatch(
                    SchemaId::of::<T>(),
                    found,
                    difference::<T>(theirs.as_ref()),
                ));
            }
            q.end = match End::join(header, writable) {
                Joined::Yes(end) => end,
                Joined::Gone => {
                    return Err(Error::NotFound {
                        what: WHAT,
                        name: name.to_owned(),
                    })
                }
            };
        }
        let attr = q.attr()?;
        let msgsize = attr.msgsize() as u64;
        if msgsize != size_of::<T>() as u64 {
            if opts.foreign {
                return Err(Error::Unsupported {
                    what: format!(
                        "message queue `{name}` of {msgsize}-byte messages for `{}` of {} \
                         bytes",
                        T::SCHEMA.name,
                        size_of::<T>()
                    ),
                    reason: "each message is exactly one value: the foreign program must \
                             create the queue with mq_msgsize = sizeof the type (the C \
                             header's NAME_SIZE)",
                });
            }
            return Err(Error::schema_mismatch::<T>(SchemaId {
                name: format!("<a type of the queue's {msgsize}-byte messages>"),
                fingerprint: 0,
                size: msgsize,
                align: 0,
            }));
        }
        q.capacity = attr.maxmsg() as usize;
        Ok(q)
    }

    /// Opens the existing queue `name` whatever its type, as its schema header gives it:
    /// the queue, and the tree the header carries (which must be there, and be the type of
    /// the queue's messages).
    pub(super) fn open_any(
        name: &str,
        access: MQ_OFlag,
        opts: Options,
    ) -> Result<(Self, crate::schema::SchemaTree)> {
        let c = check_name(name)?;
        crate::reclaim::sweep(Some(name.trim_start_matches('/')));
        let fd = Self::open_existing(&c, name, access | MQ_OFlag::O_CLOEXEC, opts)?;
        let mut q = Queue {
            fd,
            name: name.to_owned(),
            capacity: 0,
            end: None,
        };
        let (found, header, writable) = read_header(name, &q.fd, opts.mode)?;
        let tree = read_block(&header, found.fingerprint)
            .filter(|t| t.size() as u64 == found.size)
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "the schema header of message queue `{name}` names `{}` but carries no \
                     schema tree that describes it (written by an older build, or damaged): \
                     its messages cannot be decoded without the program's own type",
                    found.name
                ))
            })?;
        let attr = q.attr()?;
        if attr.msgsize() as u64 != found.size {
            return Err(Error::Corrupt(format!(
                "message queue `{name}` holds {}-byte messages, its schema header names `{}` \
                 of {} bytes",
                attr.msgsize(),
                found.name,
                found.size
            )));
        }
        q.capacity = attr.maxmsg() as usize;
        q.end = match End::join(header, writable) {
            Joined::Yes(end) => end,
            Joined::Gone => {
                return Err(Error::NotFound {
                    what: WHAT,
                    name: name.to_owned(),
                })
            }
        };
        Ok((q, tree))
    }

    /// Opens an existing queue and applies the owner and mode policy of `opts` to it
    /// before anything of it is read.
    fn open_existing(c: &CString, name: &str, flags: MQ_OFlag, opts: Options) -> Result<OwnedFd> {
        let mqd = mq_open(c.as_c_str(), flags, Mode::empty(), None)
            .map_err(|e| Error::named("mq_open", WHAT, name, e))?;
        // SAFETY: on Linux an `mqd_t` is a file descriptor we now own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(mqd.into_raw_fd()) };
        let st = fstat(&fd).map_err(|e| Error::sys("fstat", e))?;
        crate::trust::check_stat(WHAT, name, &st, opts.mode, &removal(name))?;
        Ok(fd)
    }

    fn create<T: Message>(
        c: &CString,
        name: &str,
        flags: MQ_OFlag,
        opts: Options,
    ) -> Result<OwnedFd> {
        let capacity = opts.capacity_or_default();
        let msgsize = size_of::<T>();
        if msgsize == 0 {
            return Err(Error::Unsupported {
                what: format!("a queue of `{}`, a zero-sized type", T::SCHEMA),
                reason: "a POSIX queue message has at least one byte",
            });
        }
        if capacity == 0 {
            return Err(Error::Unsupported {
                what: "a queue of capacity 0".into(),
                reason: "a POSIX queue holds at least one message; ask for capacity 1 or more",
            });
        }
        let attr = MqAttr::new(
            0,
            capacity.try_into().unwrap_or(libc::c_long::MAX),
            msgsize as libc::c_long,
            0,
        );
        let mode = Mode::from_bits_truncate(opts.mode);
        let mqd = mq_open(
            c.as_c_str(),
            flags | MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL,
            mode,
            Some(&attr),
        )
        .map_err(|e| create_error(name, capacity as u64, msgsize as u64, e))?;
        // SAFETY: on Linux an `mqd_t` is a file descriptor we now own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(mqd.into_raw_fd()) };
        // The umask applied to mq_open's mode; set the asked-for mode exactly.
        if let Err(e) = fchmod(fd.as_fd(), mode) {
            let _ = nix::mqueue::mq_unlink(c.as_c_str());
            return Err(Error::sys("fchmod", e));
        }
        Ok(fd)
    }

    pub(super) fn attr(&self) -> Result<MqAttr> {
        let mut attr = MaybeUninit::<libc::mq_attr>::uninit();
        // SAFETY: `fd` is an open queue descriptor; `attr` is a writable `mq_attr`.
        let r = unsafe { libc::mq_getattr(self.fd.as_raw_fd(), attr.as_mut_ptr()) };
        Errno::result(r).map_err(|e| Error::sys("mq_getattr", e))?;
        // SAFETY: mq_getattr succeeded, so it filled `attr`.
        let a = unsafe { attr.assume_init() };
        Ok(MqAttr::new(
            a.mq_flags,
            a.mq_maxmsg,
            a.mq_msgsize,
            a.mq_curmsgs,
        ))
    }

    /// One send of `bytes`; `Wait` decides what happens while the queue is full.
    #[inline(always)]
    pub(super) fn send(&self, bytes: &[u8], prio: u32, wait: Wait) -> Result<()> {
        let fd = self.fd.as_raw_fd();
        let sys = |abs: Option<&libc::timespec>| {
            // SAFETY: `fd` is an open queue descriptor, `bytes` is valid for its length,
            // and `abs` (if any) points to a valid timespec for the duration of the call.
            let r = unsafe {
                match abs {
                    None => libc::mq_send(fd, bytes.as_ptr().cast(), bytes.len(), prio),
                    Some(t) => libc::mq_timedsend(fd, bytes.as_ptr().cast(), bytes.len(), prio, t),
                }
            };
            Errno::result(r).map(drop)
        };
        self.drive(wait, PollFlags::POLLOUT, || Error::Full, sys)
            .map_err(|e| self.op_error("mq_send", bytes.len(), e))
    }

    /// One receive into `buf`; returns the length written (at most `buf.len()`) and the
    /// priority.
    #[inline(always)]
    pub(super) fn receive(&self, buf: &mut [MaybeUninit<u8>], wait: Wait) -> Result<(usize, u32)> {
        let fd = self.fd.as_raw_fd();
        let len = buf.len();
        let buf = buf.as_mut_ptr();
        let mut prio = 0u32;
        let n = self
            .drive(
                wait,
                PollFlags::POLLIN,
                || Error::Empty,
                |abs| {
                    // SAFETY: `fd` is an open queue descriptor; `buf` is `len` writable bytes
                    // (a borrowed slice); `prio` and `abs` are valid for the call.
                    let r = unsafe {
                        match abs {
                            None => libc::mq_receive(fd, buf.cast(), len, &mut prio),
                            Some(t) => libc::mq_timedreceive(fd, buf.cast(), len, &mut prio, t),
                        }
                    };
                    Errno::result(r).map(|n| n as usize)
                },
            )
            .map_err(|e| self.op_error("mq_receive", len, e))?;
        Ok((n, prio))
    }

    /// Runs `op` (called with `None` for a plain blocking call, `Some(abs)` for a timed
    /// one) according to `wait`, turning `EAGAIN`/`ETIMEDOUT` into `empty` or
    /// [`Error::Timeout`] and honouring shutdown.
    #[inline(always)]
    fn drive<R>(
        &self,
        wait: Wait,
        ready: PollFlags,
        empty: fn() -> Error,
        mut op: impl FnMut(Option<&libc::timespec>) -> nix::Result<R>,
    ) -> Result<R, OpError> {
        const NOW: libc::timespec = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let armed = shutdown_armed();
        match wait {
            Wait::Now => match op(Some(&NOW)) {
                Err(Errno::ETIMEDOUT | Errno::EAGAIN) => Err(OpError::Typed(empty())),
                r => r.map_err(OpError::Sys),
            },
            // A signal interrupts the call (EINTR): go on waiting unless it asked for
            // shutdown (a handler installed while we were already waiting).
            Wait::Forever if !armed => loop {
                match op(None) {
                    Err(Errno::EINTR) => check_shutdown().map_err(OpError::Typed)?,
                    r => return r.map_err(OpError::Sys),
                }
            },
            Wait::Until(at, d) if !armed => {
                let abs = realtime_deadline(at.saturating_duration_since(Instant::now()));
                loop {
                    match op(Some(&abs)) {
                        Err(Errno::EINTR) => check_shutdown().map_err(OpError::Typed)?,
                        Err(Errno::ETIMEDOUT) => return Err(OpError::Typed(Error::Timeout(d))),
                        r => return r.map_err(OpError::Sys),
                    }
                }
            }
            // Shutdown is armed: try without waiting, then poll the queue and the
            // shutdown eventfd together.
            Wait::Forever | Wait::Until(..) => {
                let (until, d) = match wait {
                    Wait::Until(at, d) => (Some(at), d),
                    _ => (None, Duration::MAX),
                };
                loop {
                    check_shutdown().map_err(OpError::Typed)?;
                    match op(Some(&NOW)) {
                        Err(Errno::ETIMEDOUT | Errno::EAGAIN | Errno::EINTR) => {}
                        r => return r.map_err(OpError::Sys),
                    }
                    if !wait_fd(self.fd.as_fd(), ready, until).map_err(OpError::Typed)? {
                        return Err(OpError::Typed(Error::Timeout(d)));
                    }
                }
            }
        }
    }

    fn op_error(&self, op: &'static str, len: usize, e: OpError) -> Error {
        match e {
            OpError::Typed(e) => e,
            OpError::Sys(Errno::EMSGSIZE) => Error::Corrupt(format!(
                "{op} on queue `{}`: {len} bytes do not fit its message size",
                self.name
            )),
            OpError::Sys(e) => Error::sys(op, e),
        }
    }
}

enum OpError {
    Typed(Error),
    Sys(Errno),
}

/// `mq_timed*` take an absolute `CLOCK_REALTIME` time.
fn realtime_deadline(d: Duration) -> libc::timespec {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = now
        .checked_add(d)
        .unwrap_or(Duration::from_secs(i64::MAX as u64 / 2));
    libc::timespec {
        tv_sec: at.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: at.subsec_nanos() as libc::c_long,
    }
}
