//! Kill-cycle soak of every sending transport: cycles of real processes — one receiver and
//! two senders — exchanging messages, one of them SIGKILLed at a random moment (inside a
//! `send`, inside a shared-memory `loan`, inside a `recv`), the survivors then held to the
//! contract:
//!
//! - a sender that was not killed has every message of its stream arrive exactly once, in
//!   order (the receiver checks each sender's sequence as it reads);
//! - a killed sender's messages arrive in order and whole, the last one whole or not at
//!   all (each message carries a body derived from its sequence number);
//! - a killed receiver gives its senders `Disconnected`, except on message queues, which
//!   outlive their processes by design: there the senders go on, and a new receiver of the
//!   same queue reads on from where the dead one stopped, each sender's messages in order
//!   without a gap up to a last one sent once the new receiver was there;
//! - every cycle reuses the names of the last (a new channel of the same name works after
//!   a crash), and after the last cycle nothing of the run is left in /dev/shm,
//!   /dev/mqueue, the System V tables or the file system.
//!
//! The children run with the automatic sweep restricted to the run's own names
//! (`IPC_RECLAIM`), as a process outside this workspace's tests would run unrestricted.
//! `IPC_SOAK_CYCLES` sets the cycles per transport (default 3; the README's reliability
//! section runs 1,000), `IPC_SOAK_SEED` the random choices (each test prints its seed).
//! The other patterns (topic, `Shared<T>`, request/response) are in `tests/soak_patterns.rs`.

mod common;

use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Proc, Rng, TempDir};
use ipc::{Error, Message};

const ROLE: &str = "IPC_SOAK_ROLE";
/// Messages each sender streams per cycle.
const STREAM: u64 = 3000;
/// How long a cycle may take before the test calls it a hang (a guard, never a measure).
const HANG: Duration = Duration::from_secs(60);
/// The descriptor a pipe's end is handed to a child as.
const PIPE_FD: i32 = 3;

/// One message: who sent it, its place in the sender's stream, and a body derived from
/// both, so that a torn or mixed message is seen.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Rec {
    from: u32,
    check: u32,
    seq: u64,
    body: [u64; 6],
}

impl Rec {
    fn new(from: u32, seq: u64) -> Rec {
        let mut body = [0; 6];
        for (i, b) in body.iter_mut().enumerate() {
            *b = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (u64::from(from) << 40) ^ i as u64;
        }
        Rec {
            from,
            check: (seq as u32) ^ from.wrapping_mul(2_654_435_761),
            seq,
            body,
        }
    }
}

/// Cycles per transport.
fn cycles() -> usize {
    std::env::var("IPC_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

// ---------------------------------------------------------------------------------------
// The transports.

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Pipe,
    Fifo,
    Shm,
    Unix,
    Seqpacket,
    Tcp,
    Mq,
    Sysv,
}

impl Kind {
    fn parse(s: &str) -> Kind {
        [
            Kind::Pipe,
            Kind::Fifo,
            Kind::Shm,
            Kind::Unix,
            Kind::Seqpacket,
            Kind::Tcp,
            Kind::Mq,
            Kind::Sysv,
        ]
        .into_iter()
        .find(|k| format!("{k:?}") == s)
        .unwrap_or_else(|| panic!("unknown transport {s}"))
    }

    /// A queue outlives its processes: its senders go on when the receiver dies.
    fn is_queue(self) -> bool {
        matches!(self, Kind::Mq | Kind::Sysv)
    }
}

/// The names one transport's cycles share.
struct Names {
    kind: Kind,
    /// The prefix of every name (the children's sweep scope).
    base: String,
    dir: TempDir,
    endpoint: String,
    sysv_key: i32,
}

impl Drop for Names {
    fn drop(&mut self) {
        self.remove_all();
    }
}

impl Names {
    fn new(kind: Kind) -> Names {
        let base = common::unique(&format!("soak-{kind:?}").to_lowercase());
        let dir = TempDir::new("soak");
        let sysv_key = common::sysv_key();
        let path = dir.join(format!("{base}-end"));
        let path = path.to_str().unwrap();
        let endpoint = match kind {
            Kind::Pipe => "pipe:".to_owned(),
            Kind::Fifo => format!("fifo:{path}"),
            Kind::Shm => format!("shm:{base}?capacity=64"),
            Kind::Unix => format!("unix:{path}"),
            Kind::Seqpacket => format!("unix-seqpacket:{path}"),
            Kind::Tcp => {
                let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                format!("tcp:127.0.0.1:{}", probe.local_addr().unwrap().port())
            }
            Kind::Mq => format!("mq:/{base}?capacity=10"),
            Kind::Sysv => format!("sysv:{sysv_key}"),
        };
        Names {
            kind,
            base,
            dir,
            endpoint,
            sysv_key,
        }
    }

    /// Removes what a failed run may have left of these names: the segment, the queue
    /// and its header, the System V queue of the key (never anyone else's: the names are
    /// this run's own).
    fn remove_all(&self) {
        let _ = std::fs::remove_file(format!("/dev/shm/ipc.{}", self.base));
        if self.kind == Kind::Mq {
            let _ = ipc::mq::unlink(&format!("/{}", self.base));
        }
        // SAFETY: msgget(2) with flags 0 only looks the key up.
        let id = unsafe { libc::msgget(self.sysv_key, 0) };
        if id >= 0 {
            let _ = ipc::sysv::remove(id);
        }
    }

    /// What of this run is left: files under /dev/shm and /dev/mqueue named with the base,
    /// listener registries naming a path in the directory, the System V queue of the key,
    /// and anything in the directory.
    fn leftovers(&self) -> Vec<String> {
        let mut left = Vec::new();
        let dir = self.dir.path().to_str().unwrap();
        for place in ["/dev/shm", "/dev/mqueue"] {
            for e in std::fs::read_dir(place).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let registry_of_ours = name.starts_with("ipc-sock.")
                    && std::fs::read(e.path())
                        .map(|b| String::from_utf8_lossy(&b).contains(dir))
                        .unwrap_or(false);
                if name.contains(&self.base) || registry_of_ours {
                    left.push(format!("{place}/{name}"));
                }
            }
        }
        // SAFETY: msgget(2) with flags 0 only looks the key up.
        if unsafe { libc::msgget(self.sysv_key, 0) } >= 0 {
            left.push(format!("System V queue of key {}", self.sysv_key));
        }
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            left.push(e.path().display().to_string());
        }
        left
    }
}

// ---------------------------------------------------------------------------------------
// The children.

/// The child entry point: plays the role `IPC_SOAK_ROLE` names, if any.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["send", kind, endpoint, id] => sender(Kind::parse(kind), endpoint, id.parse().unwrap()),
        ["recv", kind, endpoint, fresh, cycle] => receiver(
            Kind::parse(kind),
            endpoint,
            fresh == "fresh",
            cycle.parse().unwrap(),
        ),
        _ => panic!("unknown role {role}"),
    }
}

/// Waits for a line on stdin (the driver's go).
fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
}

/// Streams `STREAM` messages, once the driver says go; prints how it ended.
fn sender(kind: Kind, endpoint: &str, id: u32) {
    let mut tx: Box<dyn FnMut(Rec) -> ipc::Result<()>> = match kind {
        Kind::Pipe => {
            // SAFETY: the driver handed this process the pipe's write end as PIPE_FD; nothing
            // else in the process owns that descriptor.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(PIPE_FD) };
            let mut tx = ipc::pipe::Sender::<Rec>::from_fd(fd);
            Box::new(move |m| tx.send(m).map_err(Error::from))
        }
        Kind::Shm => {
            // Every other message through a loan, written a field at a time, so that kills
            // land inside loans too.
            let name = endpoint.strip_prefix("shm:").unwrap().split('?').next();
            let mut tx = match ipc::shm::Sender::<Rec>::open(name.unwrap()) {
                Ok(tx) => tx,
                Err(e) => return println!("end open {e:?}"),
            };
            Box::new(move |m| {
                if m.seq % 2 == 0 {
                    return tx.send(m).map_err(Error::from);
                }
                let mut slot = tx.loan()?;
                let at = slot.as_mut().expect("every bit pattern is a Rec");
                (at.from, at.check, at.seq) = (m.from, m.check, m.seq);
                for (i, b) in m.body.iter().enumerate() {
                    at.body[i] = std::hint::black_box(*b);
                }
                slot.send();
                Ok(())
            })
        }
        _ => match ipc::connect::<Rec>(endpoint) {
            Ok(mut tx) => Box::new(move |m| tx.send(m).map_err(Error::from)),
            Err(e) => return println!("end open {e:?}"),
        },
    };
    common::ready();
    wait_for_go();
    for seq in 0..STREAM {
        match tx(Rec::new(id, seq)) {
            Ok(()) => {}
            Err(Error::Disconnected) => return println!("end disconnected {seq}"),
            Err(e) => panic!("sender {id}: message {seq}: {e}"),
        }
    }
    println!("end sent {STREAM}");
    if kind.is_queue() {
        // The tail: one more message once the driver knows the receiver that reads it
        // (after a killed one, its successor), which must see it.
        println!("tail ready");
        wait_for_go();
        if let Err(e) = tx(Rec::new(id, STREAM)) {
            panic!("sender {id}: the tail: {e}");
        }
    }
}

/// What the driver says of a sender once it is done: `Some(n)` sent `n` messages, `None`
/// was killed.
type Expect = Vec<Option<u64>>;

/// Receives, checking each sender's sequence and every message's body, until the senders
/// the driver names (on stdin, once they ended) have all arrived; prints the counts.
/// `fresh`: the first receiver of the channel in this cycle (each sender's stream must
/// start at 0). A sender of cycle `c` is numbered `2c` or `2c + 1`: messages of an earlier
/// cycle's sender, killed before they were read, may wait in a shared-memory ring for the
/// next receiver (the channel's linger); they must be whole, and are counted apart.
fn receiver(kind: Kind, endpoint: &str, fresh: bool, cycle: u32) {
    let mut rx: Box<dyn ipc::Rx<Rec>> = match kind {
        Kind::Pipe => {
            // SAFETY: as in `sender`, for the read end.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(PIPE_FD) };
            Box::new(ipc::pipe::Receiver::<Rec>::from_fd(fd))
        }
        _ => ipc::bind::<Rec>(endpoint).unwrap(),
    };
    let (expect_tx, expect_rx) = mpsc::channel::<Expect>();
    common::ready();
    if kind == Kind::Shm {
        // Receive only once the senders are attached: a shared-memory receiver whose
        // senders all left (an earlier cycle's) would rightly say `Disconnected`. (A
        // socket's senders connect only once the receiver accepts them, in `recv`.)
        wait_for_go();
    }
    std::thread::spawn(move || {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).unwrap();
        let expect = line
            .split_whitespace()
            .map(|w| w.parse().ok())
            .collect::<Expect>();
        let _ = expect_tx.send(expect);
    });
    let start = Instant::now();
    let mut last: [Option<u64>; 2] = [None, None];
    let mut earlier = 0u64;
    let mut expect: Option<Expect> = None;
    let complete = |last: &[Option<u64>; 2], expect: &Expect| {
        expect.iter().enumerate().all(|(i, e)| match e {
            Some(n) => last[i].map(|l| l + 1) == Some(*n),
            None => true,
        })
    };
    loop {
        assert!(
            start.elapsed() < HANG,
            "receiver: no end after {HANG:?}: last {last:?}, expected {expect:?}"
        );
        if expect.is_none() {
            expect = expect_rx.try_recv().ok();
        }
        if let Some(e) = &expect {
            if complete(&last, e) {
                break;
            }
        }
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(m) => {
                assert_eq!(m, Rec::new(m.from, m.seq), "a torn or forged message");
                assert!(m.from / 2 <= cycle, "a message from nobody: {m:?}");
                if m.from / 2 < cycle {
                    earlier += 1;
                    continue;
                }
                let from = (m.from % 2) as usize;
                let want = match last[from] {
                    Some(l) => Some(l + 1),
                    None if fresh => Some(0),
                    None => None,
                };
                if let Some(want) = want {
                    assert_eq!(m.seq, want, "sender {from}: out of order or repeated");
                }
                last[from] = Some(m.seq);
            }
            Err(Error::Timeout(_)) => {}
            Err(Error::Disconnected) => {
                // Every sender is gone: nothing more comes.
                let e = expect.take().unwrap_or_else(|| expect_rx.recv().unwrap());
                assert!(complete(&last, &e), "disconnected early: {last:?}, {e:?}");
                break;
            }
            Err(e) => panic!("receiver: {e}"),
        }
    }
    drop(rx);
    println!("got {last:?}, {earlier} of an earlier cycle");
}

// ---------------------------------------------------------------------------------------
// The driver.

/// Spawns a child in `role`; its stdin is a pipe (the go, or the expectations), and `fd`,
/// if given, becomes its descriptor `PIPE_FD`.
fn spawn(names: &Names, role: &str, fd: Option<&OwnedFd>) -> Proc {
    let raw = fd.map(|f| f.as_raw_fd());
    let mut p = Proc::spawn_with(ROLE, role, |c: &mut Command| {
        c.env("IPC_RECLAIM", &names.base).stdin(Stdio::piped());
        if let Some(raw) = raw {
            use std::os::unix::process::CommandExt;
            // SAFETY: between fork and exec only dup2(2) and fcntl(2), which are
            // async-signal-safe; `raw` is a descriptor the parent keeps open until the child
            // has been spawned. (dup2 onto itself leaves close-on-exec set: hence fcntl.)
            unsafe {
                c.pre_exec(move || {
                    let ok = if raw == PIPE_FD {
                        libc::fcntl(raw, libc::F_SETFD, 0)
                    } else {
                        libc::dup2(raw, PIPE_FD)
                    };
                    if ok < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    });
    p.wait_ready();
    p
}

/// Writes a line to a child's stdin.
fn tell(p: &mut Proc, line: &str) {
    let stdin = p.child().stdin.as_mut().unwrap();
    let _ = writeln!(stdin, "{line}");
}

/// Waits for a child (at most `HANG`) and returns its output; fails if it did not exit
/// with success.
fn finish(mut p: Proc, what: &str) -> String {
    let status = common::wait_at_most(p.child(), HANG);
    let (_, out) = p.finish();
    match status {
        Some(s) if s.success() => out,
        other => panic!("{what} ended {other:?} (none: hung)\n{out}"),
    }
}

/// How a sender's output says it ended.
fn sender_end(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.split_once("end ").map(|(_, e)| e))
        .unwrap_or_else(|| panic!("the sender did not say how it ended:\n{out}"))
}

/// What one cycle did, for the totals.
#[derive(Default, Debug)]
struct Tally {
    cycles: usize,
    receivers_killed: usize,
    senders_killed: usize,
}

/// One cycle: a receiver and two senders, one of the three killed at a random moment.
fn cycle(names: &Names, rng: &mut Rng, tally: &mut Tally, kill: bool) {
    let k = names.kind;
    let kind = format!("{k:?}");
    let ep = &names.endpoint;
    let n = tally.cycles;
    let (pipe_r, pipe_w) = if k == Kind::Pipe {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let mut receiver = Some(spawn(
        names,
        &format!("recv {kind} {ep} fresh {n}"),
        pipe_r.as_ref(),
    ));
    drop(pipe_r);
    let mut senders: Vec<Option<Proc>> = (0..2)
        .map(|i| {
            Some(spawn(
                names,
                &format!("send {kind} {ep} {}", 2 * n + i),
                pipe_w.as_ref(),
            ))
        })
        .collect();
    drop(pipe_w);
    for s in senders.iter_mut().flatten() {
        tell(s, "go");
    }
    if k == Kind::Shm {
        tell(receiver.as_mut().unwrap(), "go");
    }
    let victim = if kill { rng.below(3) as usize } else { 3 };
    if kill {
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    }
    println!(
        "cycle {}: victim {victim} (0 the receiver, 3 none)",
        tally.cycles
    );
    if victim == 0 {
        tally.receivers_killed += 1;
        receiver.take().unwrap().kill();
        if k.is_queue() {
            // The queue keeps what was sent: a new receiver reads on.
            receiver = Some(spawn(names, &format!("recv {kind} {ep} again {n}"), None));
        }
    } else if victim <= 2 {
        tally.senders_killed += 1;
        senders[victim - 1].take().unwrap().kill();
    }
    let mut expect = Vec::new();
    for (i, s) in senders.into_iter().enumerate() {
        let Some(s) = s else {
            expect.push("?".to_owned());
            continue;
        };
        let mut s = s;
        let total = if k.is_queue() {
            s.wait_ready();
            tell(&mut s, "go");
            STREAM + 1
        } else {
            STREAM
        };
        let out = finish(s, &format!("sender {i}"));
        let end = sender_end(&out).to_owned();
        if receiver.is_some() {
            assert_eq!(
                end,
                format!("sent {STREAM}"),
                "sender {i} with a live receiver"
            );
        } else {
            // The receiver died: its senders learn it, unless they were done first.
            assert!(
                end.starts_with("disconnected") || end == format!("sent {STREAM}"),
                "sender {i} after the receiver died: {end}"
            );
        }
        expect.push(total.to_string());
    }
    if let Some(mut r) = receiver {
        tell(&mut r, &expect.join(" "));
        let out = finish(r, "receiver");
        assert!(out.contains("got"), "{out}");
    }
    tally.cycles += 1;
}

/// `cycles()` kill cycles of one transport, then one cycle without a kill on the same
/// names, then the check that nothing is left.
fn soak(kind: Kind) {
    let test = format!("soak {kind:?}");
    let mut rng = Rng::from_env("IPC_SOAK_SEED", &test);
    let names = Names::new(kind);
    // A FIFO is made by whoever sets the channel up (here the driver, never killed) and
    // removed by its guard: a killed receiver cannot leave it behind.
    let fifo = (kind == Kind::Fifo)
        .then(|| ipc::fifo::create(names.endpoint.strip_prefix("fifo:").unwrap()).unwrap());
    let start = Instant::now();
    let mut tally = Tally::default();
    for _ in 0..cycles() {
        cycle(&names, &mut rng, &mut tally, true);
    }
    cycle(&names, &mut rng, &mut tally, false);
    drop(fifo);
    let left = names.leftovers();
    println!(
        "{test}: {} cycles ({} receivers and {} senders killed) in {:.1?}; left: {left:?}",
        tally.cycles,
        tally.receivers_killed,
        tally.senders_killed,
        start.elapsed()
    );
    assert!(left.is_empty(), "{test}: left behind {left:?}");
}

#[test]
fn soak_pipe() {
    soak(Kind::Pipe);
}

#[test]
fn soak_fifo() {
    soak(Kind::Fifo);
}

#[test]
fn soak_shm_mpsc() {
    soak(Kind::Shm);
}

#[test]
fn soak_unix_stream() {
    soak(Kind::Unix);
}

#[test]
fn soak_unix_seqpacket() {
    soak(Kind::Seqpacket);
}

#[test]
fn soak_tcp() {
    soak(Kind::Tcp);
}

#[test]
fn soak_posix_mq() {
    if ipc::mq::list().is_err() {
        return println!("skipped: /dev/mqueue is not mounted");
    }
    soak(Kind::Mq);
}

#[test]
fn soak_sysv_mq() {
    soak(Kind::Sysv);
}
