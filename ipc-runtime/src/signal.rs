//! Signals: sending them ([`send`]), receiving them as typed events over `signalfd(2)`
//! ([`Signals`]), and graceful shutdown ([`shutdown_on`]).
//!
//! ```no_run
//! # fn main() -> ipc::Result<()> {
//! use ipc::signal::{self, Signal, Signals};
//! // In main, before spawning threads:
//! let notifications = Signals::new(&[Signal::SIGUSR1])?;
//! signal::shutdown_on(&[Signal::SIGTERM, Signal::SIGINT])?;
//! while !signal::shutdown_requested() {
//!     // ... a unit of work ...
//!     if let Ok(ev) = notifications.try_recv() {
//!         println!("{} from pid {}", ev.signal, ev.pid);
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Mechanism
//!
//! * [`send`] is `kill(2)`.
//! * [`Signals`] blocks a set of signals with `pthread_sigmask(3)` in the calling thread and
//!   reads them from a `signalfd(2)`, so a signal becomes an [`Event`] read like a message:
//!   [`Signals::recv`], [`Signals::try_recv`], [`Signals::recv_timeout`], or iteration. No
//!   handler runs.
//! * [`shutdown_on`] installs a handler (`sigaction(2)`) that only stores to an atomic flag
//!   and `write(2)`s to an `eventfd(2)` — both async-signal-safe (`signal-safety(7)`).
//!   From then on every call of this crate that can block (receives, sends into a full
//!   channel, accepts, connects, `fifo::Sender::open`, rpc servers' `serve`,
//!   `shm::Shared::lock`, `sync::Semaphore::wait`) returns [`Error::Shutdown`] once one of
//!   those signals has arrived, instead of waiting forever: within one `poll` wake-up for
//!   calls that wait on a descriptor and for shared-memory channels' parked ends (the
//!   death notices' thread polls the shutdown eventfd and wakes them), within 20 ms for
//!   the others.
//!
//! # Contract and limits
//!
//! * A signal set taken by [`Signals`] must be blocked in **every** thread of the process,
//!   or the kernel may deliver it to a thread that does not block it, where its default
//!   action runs (for `SIGTERM`, `SIGUSR1`: the process dies). The mask is inherited by
//!   threads spawned later, so create the [`Signals`] in `main` **before spawning
//!   threads**. Child processes started with `std::process::Command` get an empty mask.
//! * Dropping a [`Signals`] closes its descriptor but leaves the signals blocked: one that
//!   arrives later stays pending rather than killing the process.
//! * `SIGKILL` and `SIGSTOP` cannot be caught, blocked or handled; asking for them is
//!   refused with [`Error::Unsupported`].
//! * Standard signals do not queue: two `SIGUSR1` sent before the first is read may arrive
//!   as one event.
//! * Do not take the same signal both with [`Signals`] and with [`shutdown_on`]: a blocked
//!   signal never reaches the shutdown handler.
//!
//! # Shutdown for transports
//!
//! Once [`shutdown_on`] has been called, a transport that waits must not sit in a blocking
//! syscall that only the signalled thread would leave with `EINTR`. Inside this crate,
//! waiting goes through `fd::wait_fd` / `fd::wait_ready` / `fd::wait_any` (`poll(2)` on the
//! transport's descriptors and the shutdown eventfd, which becomes readable and stays
//! readable once shutdown is requested): receives and sends of pipes and FIFOs poll before
//! each `read`/`write` (a send writes at most the page `POLLOUT` promises, so it never
//! blocks in `write`), sockets use `MSG_DONTWAIT` and poll on `EAGAIN`, connects are
//! non-blocking, and an rpc server polls its listener, its clients and the eventfd in one
//! call. Without a descriptor to poll (System V queues, futexes of shared memory, a FIFO
//! with no reader yet, a Unix listener whose backlog is full), a wait sleeps at most 20 ms
//! at a time and calls `check_shutdown` between attempts. Before [`shutdown_on`] (or
//! [`request_shutdown`]) nothing of this costs anything: a blocking pipe `send` or `recv`
//! stays one plain syscall. [`shutdown_fd`] exposes the eventfd for a program's own `poll`
//! loops.

use core::fmt;
use core::str::FromStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

pub use crate::shutdown::{request_shutdown, shutdown_fd, shutdown_requested};

use crate::error::{Error, Result};
use crate::fd::wait_fd;
use crate::shutdown;

macro_rules! signals {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// A standard Linux signal (`signal(7)`), named as `kill -l` names it.
        ///
        /// Its number is [`as_raw`](Signal::as_raw); [`TryFrom<i32>`](Signal::try_from)
        /// goes the other way. It prints as its name (`SIGTERM`), and parses from its name
        /// with or without the `SIG` prefix, in any case (`"SIGTERM"`, `"TERM"`, `"term"`).
        ///
        /// Every signal can be [`send`]t; all but `SIGKILL` and `SIGSTOP` can be received
        /// with [`Signals`] or handled with [`shutdown_on`]. The real-time signals
        /// (`SIGRTMIN` to `SIGRTMAX`) and the obsolete `SIGSTKFLT` are not named here.
        ///
        /// ```
        /// use ipc::signal::Signal;
        ///
        /// assert_eq!(Signal::SIGTERM.as_raw(), 15);
        /// assert_eq!(Signal::try_from(15)?, Signal::SIGTERM);
        /// assert_eq!(Signal::SIGTERM.to_string(), "SIGTERM");
        /// assert_eq!("term".parse::<Signal>()?, Signal::SIGTERM);
        /// assert!("SIGTERMINATE".parse::<Signal>().is_err());
        /// # Ok::<(), ipc::Error>(())
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(i32)]
        #[non_exhaustive]
        pub enum Signal {
            $($(#[doc = $doc])+ $name = libc::$name,)+
        }

        impl Signal {
            /// Every named signal.
            const ALL: &'static [Signal] = &[$(Signal::$name),+];

            /// The name, `SIG` prefix included: `"SIGTERM"`.
            ///
            /// ```
            /// assert_eq!(ipc::signal::Signal::SIGUSR1.name(), "SIGUSR1");
            /// ```
            pub const fn name(self) -> &'static str {
                match self {
                    $(Signal::$name => stringify!($name),)+
                }
            }

            /// The same signal as the `nix` crate names it, for this crate's system calls.
            fn to_nix(self) -> nix::sys::signal::Signal {
                match self {
                    $(Signal::$name => nix::sys::signal::Signal::$name,)+
                }
            }
        }
    };
}

signals! {
    /// Hangup of the controlling terminal, or death of its controlling process; daemons
    /// take it as "reload the configuration".
    SIGHUP,
    /// Interrupt from the keyboard (Ctrl-C).
    SIGINT,
    /// Quit from the keyboard (Ctrl-\\); its default action dumps core.
    SIGQUIT,
    /// Illegal instruction.
    SIGILL,
    /// Trace or breakpoint trap.
    SIGTRAP,
    /// Abort, as `abort(3)` raises it.
    SIGABRT,
    /// Bus error: an access to memory that does not exist, such as a page of a mapping
    /// past the end of its truncated file.
    SIGBUS,
    /// Arithmetic error, such as an integer division by zero.
    SIGFPE,
    /// Kill: cannot be caught, blocked or handled.
    SIGKILL,
    /// User-defined signal 1.
    SIGUSR1,
    /// Invalid memory reference.
    SIGSEGV,
    /// User-defined signal 2.
    SIGUSR2,
    /// Write to a pipe or socket with no reader (this crate's writes never raise it; they
    /// return [`Error::Disconnected`]).
    SIGPIPE,
    /// Timer signal from `alarm(2)`.
    SIGALRM,
    /// Termination request: the polite way to ask a process to stop.
    SIGTERM,
    /// A child process stopped or exited.
    SIGCHLD,
    /// Continue, if stopped.
    SIGCONT,
    /// Stop: cannot be caught, blocked or handled.
    SIGSTOP,
    /// Stop typed at the terminal (Ctrl-Z).
    SIGTSTP,
    /// Terminal input for a background process.
    SIGTTIN,
    /// Terminal output for a background process.
    SIGTTOU,
    /// Urgent condition on a socket.
    SIGURG,
    /// CPU time limit exceeded (`setrlimit(2)`).
    SIGXCPU,
    /// File size limit exceeded (`setrlimit(2)`).
    SIGXFSZ,
    /// Virtual alarm clock (`setitimer(2)`).
    SIGVTALRM,
    /// Profiling timer expired.
    SIGPROF,
    /// The terminal's window changed size.
    SIGWINCH,
    /// I/O is possible on a descriptor (also named `SIGPOLL`).
    SIGIO,
    /// Power failure.
    SIGPWR,
    /// Bad system call.
    SIGSYS,
}

impl Signal {
    /// The signal's number on this system: `Signal::SIGTERM.as_raw()` is 15.
    pub const fn as_raw(self) -> i32 {
        self as i32
    }
}

impl TryFrom<i32> for Signal {
    type Error = Error;

    /// The signal numbered `raw` on this system.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] if `raw` is not the number of a signal named by [`Signal`].
    fn try_from(raw: i32) -> Result<Self> {
        Signal::ALL
            .iter()
            .copied()
            .find(|s| s.as_raw() == raw)
            .ok_or_else(|| Error::Unsupported {
                what: format!("signal number {raw}"),
                reason: "ipc::signal::Signal names the standard signals (`kill -l` lists \
                         them), not the real-time ones",
            })
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Signal {
    type Err = Error;

    /// Parses a signal's name, with or without its `SIG` prefix, in any case.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] if `name` names no signal of [`Signal`].
    fn from_str(name: &str) -> Result<Self> {
        let bare = |n: &'static str| &n[3..];
        let wanted = match name.get(..3) {
            Some(prefix) if prefix.eq_ignore_ascii_case("SIG") => &name[3..],
            _ => name,
        };
        Signal::ALL
            .iter()
            .copied()
            .find(|s| bare(s.name()).eq_ignore_ascii_case(wanted))
            .ok_or_else(|| Error::InvalidName {
                name: name.to_owned(),
                reason: "not the name of a signal, such as SIGTERM, SIGINT, SIGHUP or \
                         SIGUSR1 (`kill -l` lists them)",
            })
    }
}

/// Sends `signal` to process `pid` (`kill(2)`).
///
/// # Errors
///
/// [`Error::InvalidName`] for pid 0 or a pid above `i32::MAX` (those address process
/// groups, which this function does not), [`Error::NotFound`] if no such process exists,
/// [`Error::PermissionDenied`] if the caller may not signal it.
pub fn send(pid: u32, signal: Signal) -> Result<()> {
    let raw = match i32::try_from(pid) {
        Ok(p) if p > 0 => p,
        _ => {
            return Err(Error::InvalidName {
                name: pid.to_string(),
                reason: "a process id must be between 1 and 2147483647 (groups are not addressed)",
            })
        }
    };
    nix::sys::signal::kill(Pid::from_raw(raw), signal.to_nix())
        .map_err(|e| Error::named("kill", "process", &pid.to_string(), e))
        .map_err(|e| match e {
            // `kill` reports a missing process as ESRCH, not ENOENT.
            Error::Io { source, .. } if source.raw_os_error() == Some(Errno::ESRCH as i32) => {
                Error::NotFound {
                    what: "process",
                    name: pid.to_string(),
                }
            }
            e => e,
        })
}

/// One received signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The signal.
    pub signal: Signal,
    /// The pid of the sender (0 if the kernel sent it).
    pub pid: u32,
    /// The real uid of the sender.
    pub uid: u32,
    /// `si_code`: how it was sent (`SI_USER` = 0 for `kill`, `SI_QUEUE` = -1, ...).
    pub code: i32,
    /// The integer sent with `sigqueue(3)`, 0 otherwise.
    pub value: i32,
}

/// A receiver for a set of signals, over `signalfd(2)`.
///
/// See the [module docs](self) for the contract: the signals must be blocked in every
/// thread, so create it before spawning threads.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
    set: SigSet,
}

impl Signals {
    /// Blocks `signals` in the calling thread and opens a descriptor that receives them.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for `SIGKILL` or `SIGSTOP` (they cannot be caught) or an
    /// empty set, [`Error::Io`] if `pthread_sigmask` or `signalfd` fails.
    pub fn new(signals: &[Signal]) -> Result<Self> {
        if signals.is_empty() {
            return Err(Error::Unsupported {
                what: "an empty signal set".into(),
                reason: "name at least one signal to receive",
            });
        }
        let set = catchable_set(signals)?;
        set.thread_block()
            .map_err(|e| Error::sys("pthread_sigmask", e))?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .map_err(|e| Error::sys("signalfd", e))?;
        Ok(Signals { fd, set })
    }

    /// True if `signal` is in this receiver's set.
    pub fn contains(&self, signal: Signal) -> bool {
        self.set.contains(signal.to_nix())
    }

    /// Takes a pending signal without waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is pending, [`Error::Io`] if reading fails.
    pub fn try_recv(&self) -> Result<Event> {
        match self.fd.read_signal() {
            Ok(Some(info)) => {
                // The set holds only `Signal`s, so the kernel reports only those.
                let signal = Signal::try_from(info.ssi_signo as i32)?;
                Ok(Event {
                    signal,
                    pid: info.ssi_pid,
                    uid: info.ssi_uid,
                    code: info.ssi_code,
                    value: info.ssi_int,
                })
            }
            Ok(None) => Err(Error::Empty),
            Err(e) => Err(Error::sys("signalfd read", e)),
        }
    }

    /// Waits for a signal of the set.
    ///
    /// # Errors
    ///
    /// [`Error::Shutdown`] if shutdown was requested (see [`shutdown_on`]) while waiting,
    /// [`Error::Io`] if polling or reading fails.
    pub fn recv(&self) -> Result<Event> {
        self.wait(None, Duration::MAX)
    }

    /// Waits at most `timeout` for a signal of the set.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none arrived in time; otherwise as [`Signals::recv`].
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event> {
        self.wait(crate::deadline::deadline_after(timeout), timeout)
    }

    fn wait(&self, deadline: Option<Instant>, timeout: Duration) -> Result<Event> {
        loop {
            match self.try_recv() {
                Err(Error::Empty) => {}
                other => return other,
            }
            if !wait_fd(self.fd.as_fd(), PollFlags::POLLIN, deadline)? {
                return Err(Error::Timeout(timeout));
            }
        }
    }
}

/// Blocks for each next signal; iteration ends when shutdown is requested
/// ([`Error::Shutdown`]), and yields any other error as an item.
impl Iterator for Signals {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        match self.recv() {
            Err(Error::Shutdown) => None,
            r => Some(r),
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

crate::fd::as_raw_fd_from_as_fd!([] Signals);

fn catchable_set(signals: &[Signal]) -> Result<SigSet> {
    let mut set = SigSet::empty();
    for &s in signals {
        if matches!(s, Signal::SIGKILL | Signal::SIGSTOP) {
            return Err(Error::Unsupported {
                what: format!("catching {s}"),
                reason: "SIGKILL and SIGSTOP cannot be caught, blocked or handled; \
                         use SIGTERM or SIGINT to ask a process to stop",
            });
        }
        set.add(s.to_nix());
    }
    Ok(set)
}

extern "C" fn on_shutdown_signal(_signal: libc::c_int) {
    shutdown::raise_shutdown_flag();
}

/// Installs a handler for `signals` (typically `SIGTERM` and `SIGINT`) that requests a
/// graceful shutdown: [`shutdown_requested`] becomes true, [`shutdown_fd`] becomes
/// readable, and every blocking receive of this crate returns [`Error::Shutdown`].
///
/// The handler is async-signal-safe (an atomic store and a `write(2)` to an eventfd). It
/// is installed without `SA_RESTART`, and the signals are unblocked in the calling thread.
///
/// It replaces whatever the process had for those signals, an inherited "ignore"
/// included: a job a non-interactive shell starts in the background (`cmd &` in a script)
/// starts with `SIGINT` and `SIGQUIT` ignored, `nohup` ignores `SIGHUP`, and after this
/// call they request a shutdown. A signal that comes before the call meets the
/// disposition the process started with: the default action ends the process, an ignored
/// signal is lost. Call it first thing in `main`.
///
/// # Errors
///
/// [`Error::Unsupported`] for `SIGKILL`/`SIGSTOP`, [`Error::Io`] if `eventfd` or
/// `sigaction` fails.
pub fn shutdown_on(signals: &[Signal]) -> Result<()> {
    let set = catchable_set(signals)?;
    shutdown::shutdown_eventfd()?;
    let action = SigAction::new(
        SigHandler::Handler(on_shutdown_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for &s in signals {
        // SAFETY: the handler performs only async-signal-safe operations (atomics,
        // `write(2)`, errno save/restore), touches no lock and allocates nothing.
        unsafe { nix::sys::signal::sigaction(s.to_nix(), &action) }
            .map_err(|e| Error::sys("sigaction", e))?;
    }
    set.thread_unblock()
        .map_err(|e| Error::sys("pthread_sigmask", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigkill_and_sigstop_are_refused() {
        for s in [Signal::SIGKILL, Signal::SIGSTOP] {
            let e = Signals::new(&[Signal::SIGUSR2, s]).unwrap_err();
            assert!(matches!(e, Error::Unsupported { .. }), "{e}");
            assert!(e.to_string().contains("SIGTERM"), "{e}");
            assert!(matches!(
                shutdown_on(&[s]).unwrap_err(),
                Error::Unsupported { .. }
            ));
        }
    }

    #[test]
    fn every_signal_is_the_one_the_system_numbers_and_names_so() {
        use nix::sys::signal::Signal as Nix;
        assert_eq!(Signal::ALL.len(), 30);
        for &s in Signal::ALL {
            assert_eq!(s.to_nix() as i32, s.as_raw(), "{s}");
            assert_eq!(s.to_nix().as_str(), s.name());
        }
        // Every number the system gives a name, except the obsolete SIGSTKFLT, is a Signal,
        // and no other number is.
        for raw in -1..=128 {
            match (Nix::try_from(raw), Signal::try_from(raw)) {
                (Ok(n), Ok(s)) => assert_eq!(n.as_str(), s.name()),
                (Ok(n), Err(e)) => {
                    assert_eq!(n.as_str(), "SIGSTKFLT");
                    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
                }
                (Err(_), Ok(s)) => panic!("{raw} is not a signal here, but became {s}"),
                (Err(_), Err(e)) => assert!(e.to_string().contains(&raw.to_string()), "{e}"),
            }
        }
    }

    #[test]
    fn signals_print_and_parse_as_their_names() {
        for &s in Signal::ALL {
            let name = s.to_string();
            assert_eq!(name, format!("{s:?}"));
            assert_eq!(name.parse::<Signal>().unwrap(), s);
            assert_eq!(name[3..].parse::<Signal>().unwrap(), s);
            assert_eq!(name.to_lowercase().parse::<Signal>().unwrap(), s);
            assert_eq!(name[3..].to_lowercase().parse::<Signal>().unwrap(), s);
        }
        assert_eq!(format!("{:>8}|", Signal::SIGINT), "  SIGINT|");
        for bad in [
            "",
            "SIG",
            "SIGSIGTERM",
            "SIGTERM ",
            "15",
            "SIGRTMIN",
            "SIGSTKFLT",
            "TERMINATE",
        ] {
            let e = bad.parse::<Signal>().unwrap_err();
            assert!(
                matches!(e, Error::InvalidName { ref name, .. } if name == bad),
                "{e}"
            );
        }
    }

    #[test]
    fn send_refuses_group_pids_and_names_missing_processes() {
        assert!(matches!(
            send(0, Signal::SIGTERM),
            Err(Error::InvalidName { .. })
        ));
        // pid_max is at most 2^22, so this pid never exists.
        let e = send(i32::MAX as u32, Signal::SIGUSR1).unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }
}
