//! A System V queue by its id: getting it (`msgget`) and checking that a `T` fits its
//! limits (`msgmax`, `msg_qbytes`, `msgmni`), `msgctl`, and one send or receive that waits
//! as a [`Wait`] says (polling with `IPC_NOWAIT`, since there is no descriptor).

use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::frame::{Frame, FOREIGN};
use super::key::Key;
use super::registry;
use crate::deadline::Wait;
use crate::error::{Error, Result, SchemaId};
use crate::message::Message;
use crate::reclaim::record::{End, Joined};
use crate::schema::block::{block_of, difference};
use crate::shutdown::{check_shutdown, shutdown_armed};

/// How long a polling wait yields between attempts before it starts to sleep.
const POLL_SPIN: Duration = Duration::from_micros(100);

const WHAT: &str = "System V message queue";

#[derive(Debug)]
pub(super) struct Queue {
    pub(super) id: libc::c_int,
    pub(super) label: String,
    /// This end's place in the record of the queue's registry (see `registry.rs`).
    pub(super) end: Option<End>,
    /// Foreign-peer mode: messages are the bare `T`, no registry (`Options::foreign`).
    pub(super) foreign: bool,
}

pub(super) fn check_type(mtype: i64) -> Result<()> {
    if mtype > 0 && libc::c_long::try_from(mtype).is_ok() {
        Ok(())
    } else {
        Err(Error::Unsupported {
            what: format!("sending message type {mtype}"),
            reason: "System V message types are positive (1 or more); 0 and negative \
                     values only select messages on receive",
        })
    }
}

/// The bytes of text one message of `T` takes: its frame, or the bare `T` of a foreign
/// peer.
pub(super) fn text_size<T: Message>(foreign: bool) -> usize {
    if foreign {
        Frame::<T, FOREIGN>::SIZE
    } else {
        Frame::<T>::SIZE
    }
}

/// Refuses a `T` whose frame exceeds `msgmax`, the largest message the kernel takes.
fn check_msgmax<T: Message>(foreign: bool) -> Result<()> {
    let size = text_size::<T>(foreign) as u64;
    let msgmax = read_proc("msgmax").unwrap_or(8192);
    if size > msgmax {
        return Err(Error::LimitExceeded {
            limit: "/proc/sys/kernel/msgmax",
            value: msgmax,
            hint: format!(
                "a {size}-byte message (`{}`, with the 8-byte fingerprint unless foreign) \
                 needs it raised: \
                 `sysctl -w kernel.msgmax={size}` as root, or send a smaller type",
                T::SCHEMA
            ),
        });
    }
    Ok(())
}

fn read_proc(file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/kernel/{file}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Queue {
    pub(super) fn get<T: Message>(key: Key, flags: libc::c_int, foreign: bool) -> Result<Queue> {
        let label = key.label();
        if key == Key::Value(libc::IPC_PRIVATE) {
            // The kernel would make a new private queue on every call, found by no one.
            return Err(Error::InvalidName {
                name: label,
                reason: "key 0 is IPC_PRIVATE to the kernel: every call would create a new \
                         queue that no other process can find by key; agree on a non-zero key \
                         (Key::from_path), or use Key::Private and pass the queue's id",
            });
        }
        check_msgmax::<T>(foreign)?;
        // What crashed processes of this user left (see `crate::reclaim`).
        crate::reclaim::sweep(None);
        let exclusive = key == Key::Private || flags & libc::IPC_EXCL != 0;
        // Whether this call creates the queue: an `open_or_create` tries to create first.
        let mut created = exclusive;
        // SAFETY: msgget takes plain integers.
        let mut id = unsafe { libc::msgget(key.raw(), flags) };
        if !exclusive && flags & libc::IPC_CREAT != 0 {
            // SAFETY: as above.
            id = unsafe { libc::msgget(key.raw(), flags | libc::IPC_EXCL) };
            created = id != -1;
            if id == -1 && Errno::last() == Errno::EEXIST {
                // SAFETY: as above.
                id = unsafe { libc::msgget(key.raw(), flags) };
            }
        }
        if id == -1 {
            return Err(match Errno::last() {
                Errno::ENOSPC => {
                    let value = read_proc("msgmni").unwrap_or(32000);
                    Error::LimitExceeded {
                        limit: "/proc/sys/kernel/msgmni",
                        value,
                        hint: format!(
                            "{value} System V queues exist system-wide; remove unused ones \
                             (`ipcs -q`, `ipcrm -q ID`) or raise it with \
                             `sysctl -w kernel.msgmni=N` as root"
                        ),
                    }
                }
                e => Error::named("msgget", WHAT, &label, e),
            });
        }
        let mut q = Queue {
            id,
            label,
            end: None,
            foreign,
        };
        if let Err(e) = q.check::<T>() {
            if created {
                // We created it just now: leave nothing behind.
                let _ = q.remove();
            }
            return Err(e);
        }
        if foreign {
            // A foreign peer's queue: no registry, written or read (`Options::foreign`).
        } else if created {
            q.end = registry::create(id, key.raw(), (flags & 0o777) as u32, &block_of::<T>());
        } else {
            q.check_schema::<T>()?;
            q.join_record()?;
        }
        Ok(q)
    }

    /// Takes this end's place in the record of the queue's registry, if it has one (see
    /// `registry.rs`).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the queue was reclaimed while this end opened it.
    pub(super) fn join_record(&mut self) -> Result<()> {
        // Without read permission (a write-only sender) the owner is unknown: no record.
        let Ok(ds) = self.stat() else { return Ok(()) };
        match registry::join(self.id, ds.msg_perm.uid) {
            Joined::Yes(end) => {
                self.end = end;
                Ok(())
            }
            Joined::Gone => Err(Error::NotFound {
                what: WHAT,
                name: self.label.clone(),
            }),
        }
    }

    /// Refuses a `T` other than the message type of the queue's creator, as its registry
    /// says (a queue without one, not made by this crate, is checked message by message
    /// only), naming the first field that differs.
    pub(super) fn check_schema<T: Message>(&self) -> Result<()> {
        let Ok(ds) = self.stat() else { return Ok(()) };
        match registry::schema(self.id, ds.msg_perm.uid) {
            Some(theirs) if theirs.fingerprint() != T::FINGERPRINT => Err(Error::mismatch(
                SchemaId::of::<T>(),
                SchemaId {
                    name: theirs.name().to_owned(),
                    fingerprint: theirs.fingerprint(),
                    size: theirs.size() as u64,
                    align: theirs.align() as u64,
                },
                difference::<T>(Some(&theirs)),
            )),
            _ => Ok(()),
        }
    }

    /// Refuses a `T` too large for the queue's limits.
    // `msglen_t` is `u64` here but not on every target.
    #[allow(clippy::unnecessary_cast)]
    pub(super) fn check<T: Message>(&self) -> Result<()> {
        check_msgmax::<T>(self.foreign)?;
        let size = text_size::<T>(self.foreign) as u64;
        match self.stat() {
            Ok(s) if (s.msg_qbytes as u64) < size => Err(Error::LimitExceeded {
                limit: "msg_qbytes (bytes a queue holds; default /proc/sys/kernel/msgmnb)",
                value: s.msg_qbytes as u64,
                hint: format!(
                    "a {size}-byte message never fits; raise `sysctl -w kernel.msgmnb={size}` \
                     as root before creating the queue"
                ),
            }),
            // Without read permission (a write-only sender), skip the check.
            Ok(_) | Err(Error::PermissionDenied { .. }) => Ok(()),
            Err(Error::Disconnected) => Err(Error::NotFound {
                what: WHAT,
                name: self.label.clone(),
            }),
            Err(e) => Err(e),
        }
    }

    pub(super) fn stat(&self) -> Result<libc::msqid_ds> {
        let mut ds = MaybeUninit::<libc::msqid_ds>::uninit();
        // SAFETY: `ds` is a writable `msqid_ds` for IPC_STAT to fill.
        let r = unsafe { libc::msgctl(self.id, libc::IPC_STAT, ds.as_mut_ptr()) };
        Errno::result(r).map_err(|e| self.error("msgctl(IPC_STAT)", e))?;
        // SAFETY: IPC_STAT succeeded and filled `ds`.
        Ok(unsafe { ds.assume_init() })
    }

    pub(super) fn remove(&self) -> Result<()> {
        // SAFETY: IPC_RMID ignores the buffer argument.
        let r = unsafe { libc::msgctl(self.id, libc::IPC_RMID, core::ptr::null_mut()) };
        if matches!(Errno::result(r), Ok(_) | Err(Errno::EINVAL | Errno::EIDRM)) {
            registry::remove_if_mine(self.id);
        }
        Errno::result(r).map(drop).map_err(|e| match e {
            Errno::EINVAL | Errno::EIDRM => Error::NotFound {
                what: WHAT,
                name: self.label.clone(),
            },
            e => self.error("msgctl(IPC_RMID)", e),
        })
    }

    fn error(&self, op: &'static str, e: Errno) -> Error {
        match e {
            // The id no longer names a queue: it was removed.
            Errno::EIDRM | Errno::EINVAL => Error::Disconnected,
            e => Error::named(op, WHAT, &self.label, e),
        }
    }

    /// Runs `op` (given extra msgflg bits) according to `wait`.
    ///
    /// A blocking call is one blocking `msgsnd`/`msgrcv`, unless a shutdown is armed
    /// ([`shutdown_on`](crate::signal::shutdown_on)): then, as for a deadline, it polls
    /// (see the body).
    #[inline(always)]
    pub(super) fn drive<R>(
        &self,
        wait: Wait,
        empty: fn() -> Error,
        mut op: impl FnMut(libc::c_int) -> nix::Result<R>,
    ) -> Result<R> {
        let would_block = |e| matches!(e, Errno::EAGAIN | Errno::ENOMSG);
        let deadline = match wait {
            Wait::Now => {
                return op(libc::IPC_NOWAIT).map_err(|e| {
                    if would_block(e) {
                        empty()
                    } else {
                        self.error("msgsnd/msgrcv", e)
                    }
                })
            }
            Wait::Forever if !shutdown_armed() => loop {
                match op(0) {
                    Err(Errno::EINTR) => check_shutdown()?,
                    r => return r.map_err(|e| self.error("msgsnd/msgrcv", e)),
                }
            },
            Wait::Forever => None,
            Wait::Until(at, d) => Some((at, d)),
        };
        // A queue has no descriptor to wait on, so a wait that must notice a deadline or a
        // shutdown request polls. First it yields for a moment (a peer answering within
        // microseconds is caught at once: a sleep, however short, costs the timer slack,
        // ~50 µs), then it sleeps, longer and longer.
        let spin_until = Instant::now() + POLL_SPIN;
        let mut pause = Duration::from_micros(10);
        loop {
            check_shutdown()?;
            match op(libc::IPC_NOWAIT) {
                Err(e) if would_block(e) || e == Errno::EINTR => {}
                r => return r.map_err(|e| self.error("msgsnd/msgrcv", e)),
            }
            let now = Instant::now();
            if now < spin_until {
                if let Some((at, d)) = deadline {
                    if now >= at {
                        return Err(Error::Timeout(d));
                    }
                }
                std::thread::yield_now();
                continue;
            }
            let mut sleep = pause;
            if let Some((at, d)) = deadline {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::Timeout(d));
                }
                sleep = sleep.min(left);
            }
            std::thread::sleep(sleep);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_must_be_positive() {
        assert!(check_type(1).is_ok());
        for t in [0, -1, i64::MIN] {
            let e = check_type(t).unwrap_err();
            assert!(e.to_string().contains("positive"), "{e}");
        }
    }
}
