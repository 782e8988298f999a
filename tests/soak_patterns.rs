//! Kill-cycle soak of the patterns beside the plain channels (those are `tests/soak.rs`):
//! a shared-memory topic (a publisher and two subscribers), a `Shared<T>` (three processes
//! incrementing it under its lock) and a request/response server (a server and two
//! clients, on a Unix socket and on TCP). Each cycle starts real processes, lets them
//! work, SIGKILLs one at a random moment (inside a loan of the publisher, while holding
//! the `Shared<T>` lock, inside a call) and holds the survivors to the contract:
//!
//! - topic: a killed publisher's subscribers read what it published, in order and whole,
//!   then get `Disconnected`; a killed subscriber holds nobody up (the publisher, under
//!   `Overflow::Block`, finishes; the other subscriber reads every sample once, in order);
//! - `Shared<T>`: the others go on; whoever takes the lock after a holder died gets
//!   `OwnerDied`, repairs the value and marks it consistent; no increment of a survivor is
//!   lost;
//! - request/response: a killed client costs the other nothing (every call answered); a
//!   killed server gives its clients `Disconnected`.
//!
//! Every cycle reuses the names of the last (what a killed process left is reclaimed by
//! the next create or bind), and after the last cycle nothing is left in /dev/shm or the
//! file system. Each test runs as a driver child with the automatic sweep restricted to its
//! names (`IPC_RECLAIM`). `IPC_SOAK_CYCLES` sets the cycles (default 3), `IPC_SOAK_SEED`
//! the random choices.

mod common;

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Proc, Rng};
use ipc::shm::{LockError, Options, Publisher, Shared, Subscriber};
use ipc::{Error, Message};

const ROLE: &str = "IPC_SOAK_PATTERNS_ROLE";
/// Samples or calls per participant and cycle.
const WORK: u64 = 2000;
/// Increments per incrementer and cycle, each holding the lock about 20 µs: the three
/// together work about as long as the window a kill falls in.
const INCREMENTS: u64 = 300;
/// How long a cycle may take before the test calls it a hang (a guard, never a measure).
const HANG: Duration = Duration::from_secs(60);

/// A topic's sample: a sequence number and a body derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Sample {
    seq: u64,
    body: [u64; 4],
}

impl Sample {
    fn new(seq: u64) -> Sample {
        Sample {
            seq,
            body: [seq ^ 0x5a5a, seq.wrapping_mul(3), !seq, seq.rotate_left(17)],
        }
    }
}

/// The shared value: its two halves are equal whenever nobody holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Pair {
    a: u64,
    b: u64,
}

fn cycles() -> usize {
    std::env::var("IPC_SOAK_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// The prefix of every name of a driver (its sweep scope), from the environment.
fn base() -> String {
    std::env::var("IPC_RECLAIM").expect("a driver's children run scoped")
}

// ---------------------------------------------------------------------------------------
// The children.

/// The child entry point: plays the role `IPC_SOAK_PATTERNS_ROLE` names, if any.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["drive", pattern] => drive(pattern),
        ["publish"] => publisher(),
        ["subscribe"] => subscriber(),
        ["increment"] => incrementer(),
        ["serve", via, at] => server(via, at),
        ["call", via, at, id] => client(via, at, id.parse().unwrap()),
        _ => panic!("unknown role {role}"),
    }
}

fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
}

fn publisher() {
    let opts = Options::new().capacity(16);
    let mut tx = Publisher::<Sample>::create(&format!("{}-topic", base()), opts).unwrap();
    common::ready();
    wait_for_go();
    for seq in 0..WORK {
        if seq % 2 == 0 {
            tx.send(Sample::new(seq)).unwrap();
        } else {
            // Through a loan, a field at a time: kills land inside loans too.
            let mut slot = tx.loan().unwrap();
            let at = slot.as_mut().expect("every bit pattern is a Sample");
            at.seq = seq;
            for (i, b) in Sample::new(seq).body.iter().enumerate() {
                at.body[i] = std::hint::black_box(*b);
            }
            slot.send();
        }
    }
    println!("end published {WORK}");
}

fn subscriber() {
    let mut rx = Subscriber::<Sample>::open(&format!("{}-topic", base())).unwrap();
    common::ready();
    let mut next = 0;
    loop {
        match rx.recv() {
            Ok(s) => {
                assert_eq!(*s, Sample::new(next), "a sample out of order or torn");
                next += 1;
            }
            Err(Error::Disconnected) => break,
            Err(e) => panic!("subscriber: {e}"),
        }
    }
    println!("end received {next}");
}

fn incrementer() {
    let shared = Shared::<Pair>::open(&format!("{}-shared", base())).unwrap();
    common::ready();
    wait_for_go();
    let mut repaired = 0;
    for _ in 0..INCREMENTS {
        let mut g = match shared.lock() {
            Ok(g) => g,
            Err(LockError::OwnerDied(mut g)) => {
                // The holder died between its two increments, or after both.
                g.b = g.a;
                g.mark_consistent();
                repaired += 1;
                g
            }
            Err(e) => panic!("lock: {e:?}"),
        };
        assert_eq!(g.a, g.b, "a value left half-written by a live holder");
        g.a += 1;
        // Hold the lock a while, half-written: most kills then land on a holder.
        let held = Instant::now();
        while held.elapsed() < Duration::from_micros(20) {
            std::hint::spin_loop();
        }
        g.b += 1;
    }
    println!("end incremented {INCREMENTS} repaired {repaired}");
}

/// A request/response server on a Unix socket (`via` "unix", `at` its path) or TCP
/// (`tcp`, an address); serves two clients, then exits.
fn server(via: &str, at: &str) {
    let answer = |x: u64| x * 2 + 1;
    if via == "tcp" {
        let mut server = ipc::tcp::Server::<u64, u64>::bind(at).unwrap();
        common::ready();
        server.serve_clients(2, answer).unwrap();
    } else {
        let mut server = ipc::socket::Server::<u64, u64>::bind(at).unwrap();
        common::ready();
        server.serve_clients(2, answer).unwrap();
    }
    println!("end served");
}

fn client(via: &str, at: &str, id: u64) {
    let connected: ipc::Result<Box<dyn ipc::rpc::Call<u64, u64>>> = if via == "tcp" {
        ipc::tcp::Client::<u64, u64>::connect(at).map(|c| Box::new(c) as _)
    } else {
        ipc::socket::Client::<u64, u64>::connect(at).map(|c| Box::new(c) as _)
    };
    let mut c = match connected {
        Ok(c) => c,
        Err(e) => return println!("end connect {e:?}"),
    };
    common::ready();
    wait_for_go();
    for i in 0..WORK {
        let x = id * 1_000_000 + i;
        match c.call(x) {
            Ok(y) => assert_eq!(y, x * 2 + 1, "a wrong answer"),
            Err(Error::Disconnected) => return println!("end disconnected {i}"),
            Err(e) => panic!("client {id}: call {i}: {e}"),
        }
    }
    println!("end called {WORK}");
}

// ---------------------------------------------------------------------------------------
// The driver (a child of the test, its sweep scoped to its names).

fn spawn(role: &str) -> Proc {
    let mut p = Proc::spawn_with(ROLE, role, |c: &mut Command| {
        c.stdin(Stdio::piped());
    });
    p.wait_ready();
    p
}

fn tell(p: &mut Proc, line: &str) {
    let _ = writeln!(p.child().stdin.as_mut().unwrap(), "{line}");
}

/// Waits for a child (at most `HANG`); returns the line its run ended with (`end ...`).
fn end_of(mut p: Proc, what: &str) -> String {
    let status = common::wait_at_most(p.child(), HANG);
    let (_, out) = p.finish();
    match status {
        Some(s) if s.success() => out
            .lines()
            .find_map(|l| l.split_once("end ").map(|(_, e)| e.to_owned()))
            .unwrap_or_else(|| panic!("{what} did not say how it ended:\n{out}")),
        other => panic!("{what} ended {other:?} (none: hung)\n{out}"),
    }
}

/// Sleeps a random moment, then SIGKILLs the participant `victim` of `ps`.
fn kill_one(ps: &mut [Option<Proc>], rng: &mut Rng) -> usize {
    let victim = rng.below(ps.len() as u64) as usize;
    std::thread::sleep(Duration::from_micros(rng.below(20_000)));
    ps[victim].take().unwrap().kill();
    victim
}

fn drive(pattern: &str) {
    let mut rng = Rng::from_env("IPC_SOAK_SEED", pattern);
    let dir = common::TempDir::new("soakp");
    // A port the kernel just handed out and let go, reused by every cycle's server.
    let tcp = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let start = Instant::now();
    let n = cycles();
    let mut killed = vec![0usize; 3];
    let mut repaired = 0u64;
    for cycle in 0..=n {
        let kill = cycle < n;
        let victim = match pattern {
            "topic" => topic_cycle(&mut rng, kill),
            "shared" => {
                let (v, r) = shared_cycle(&mut rng, kill);
                repaired += r;
                v
            }
            "rpc" => rpc_cycle(&dir, None, &mut rng, kill),
            "rpc-tcp" => rpc_cycle(&dir, Some(&tcp), &mut rng, kill),
            other => panic!("unknown pattern {other}"),
        };
        if let Some(v) = victim {
            killed[v] += 1;
        }
    }
    let base = base();
    let mut left: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| {
            f.contains(&base)
                || (f.starts_with("ipc-sock.")
                    && std::fs::read(format!("/dev/shm/{f}"))
                        .map(|b| String::from_utf8_lossy(&b).contains(&base))
                        .unwrap_or(false))
        })
        .collect();
    left.extend(
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path().display().to_string()),
    );
    println!(
        "soak {pattern}: {} cycles, killed per participant {killed:?}, {repaired} lock \
         repairs, in {:.1?}; left: {left:?}",
        n + 1,
        start.elapsed()
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A publisher and two subscribers; participant 0 is the publisher.
fn topic_cycle(rng: &mut Rng, kill: bool) -> Option<usize> {
    let publisher = spawn("publish");
    let subs = [spawn("subscribe"), spawn("subscribe")];
    let mut ps: Vec<Option<Proc>> = vec![Some(publisher)];
    ps.extend(subs.into_iter().map(Some));
    tell(ps[0].as_mut().unwrap(), "go");
    let victim = kill.then(|| kill_one(&mut ps, rng));
    let mut ends = ps
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.map(|p| end_of(p, &format!("participant {i}"))));
    let published = ends.next().unwrap();
    for (i, end) in ends.enumerate() {
        let Some(end) = end else { continue };
        if published.is_some() {
            assert_eq!(end, format!("received {WORK}"), "subscriber {i}");
        } else {
            // The publisher died: what it published, then Disconnected.
            assert!(end.starts_with("received"), "subscriber {i}: {end}");
        }
    }
    if let Some(end) = published {
        assert_eq!(end, format!("published {WORK}"), "the publisher");
    }
    victim
}

/// Three incrementers of a value the driver creates; returns the victim and the repairs.
fn shared_cycle(rng: &mut Rng, kill: bool) -> (Option<usize>, u64) {
    let name = format!("{}-shared", base());
    let shared = Shared::<Pair>::create(&name, Pair { a: 0, b: 0 }, Options::new()).unwrap();
    let mut ps: Vec<Option<Proc>> = (0..3).map(|_| Some(spawn("increment"))).collect();
    for p in ps.iter_mut().flatten() {
        tell(p, "go");
    }
    let victim = kill.then(|| kill_one(&mut ps, rng));
    let mut repaired = 0;
    for (i, p) in ps.into_iter().enumerate() {
        let Some(p) = p else { continue };
        let end = end_of(p, &format!("incrementer {i}"));
        let (done, r) = end
            .strip_prefix("incremented ")
            .and_then(|e| e.split_once(" repaired "))
            .unwrap_or_else(|| panic!("incrementer {i}: {end}"));
        assert_eq!(done, INCREMENTS.to_string(), "incrementer {i}");
        repaired += r.parse::<u64>().unwrap();
    }
    let value = match shared.lock() {
        Ok(g) => *g,
        Err(LockError::OwnerDied(mut g)) => {
            // The victim died holding the lock after the others had finished.
            g.b = g.a;
            g.mark_consistent();
            repaired += 1;
            *g
        }
        Err(e) => panic!("lock: {e:?}"),
    };
    let survivors = if kill { 2 } else { 3 };
    assert_eq!(value.a, value.b, "the value is consistent");
    assert!(
        (survivors * INCREMENTS..=3 * INCREMENTS).contains(&value.a),
        "no survivor's increment lost: {value:?}"
    );
    (victim, repaired)
}

/// A server and two clients, on a Unix socket of `dir` or on TCP at `tcp` (the same
/// address every cycle); participant 0 is the server.
fn rpc_cycle(dir: &common::TempDir, tcp: Option<&str>, rng: &mut Rng, kill: bool) -> Option<usize> {
    let path = dir.join(format!("{}-rpc", base()));
    let (via, at) = match tcp {
        Some(addr) => ("tcp", addr),
        None => ("unix", path.to_str().unwrap()),
    };
    let server = spawn(&format!("serve {via} {at}"));
    let mut ps: Vec<Option<Proc>> = vec![Some(server)];
    for id in 1..=2 {
        ps.push(Some(spawn(&format!("call {via} {at} {id}"))));
    }
    for p in ps[1..].iter_mut().flatten() {
        tell(p, "go");
    }
    let victim = kill.then(|| kill_one(&mut ps, rng));
    let mut ends = ps
        .into_iter()
        .enumerate()
        .map(|(i, p)| p.map(|p| end_of(p, &format!("participant {i}"))));
    let served = ends.next().unwrap();
    for (i, end) in ends.enumerate() {
        let Some(end) = end else { continue };
        if served.is_some() {
            assert_eq!(end, format!("called {WORK}"), "client {i}");
        } else {
            let ok = end.starts_with("disconnected") || end == format!("called {WORK}");
            assert!(ok, "client {i} after the server died: {end}");
        }
    }
    if let Some(end) = served {
        assert_eq!(end, "served");
    }
    victim
}

/// Runs the driver of `pattern` as a child, its sweep scoped to a name of its own.
fn soak(pattern: &str) {
    let base = common::unique(&format!("soakp-{pattern}"));
    let mut driver = Proc::spawn_with(ROLE, &format!("drive {pattern}"), |c| {
        c.env("IPC_RECLAIM", &base);
    });
    let status = common::wait_at_most(driver.child(), HANG * (cycles() as u32 + 1));
    let (_, out) = driver.finish();
    // What a failed driver may have left of its names (a passing one leaves nothing).
    for what in ["topic", "shared"] {
        let _ = std::fs::remove_file(format!("/dev/shm/ipc.{base}-{what}"));
    }
    println!("{out}");
    assert!(
        status.is_some_and(|s| s.success()),
        "the {pattern} driver: {status:?}\n{out}"
    );
}

#[test]
fn soak_topic() {
    soak("topic");
}

#[test]
fn soak_shared_value() {
    soak("shared");
}

#[test]
fn soak_request_response() {
    soak("rpc");
}

#[test]
fn soak_request_response_over_tcp() {
    soak("rpc-tcp");
}
