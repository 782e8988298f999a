//! Randomised hostile peers. Each trial starts honest processes (this binary re-run as
//! `child`), then the test itself plays the hostile peer at a random moment:
//!
//! - on a live shared-memory segment (an MPSC channel, a topic or a `Shared<T>`; the
//!   channel's receiver and the topic's subscriber sync or async), it
//!   scribbles random bytes (over the header, the indices, the slot states, the payloads),
//!   truncates the file (to nothing, a page, or a random length), or unlinks it;
//! - on a stream (a pipe) to a receiver of slices, it sends a valid handshake and a good
//!   slice, then a record header claiming a length from 0 to `u32::MAX` (the header's
//!   field; also an all-ones 8-byte header, `u64::MAX`), a few random bytes, and closes.
//!
//! The honest ends must end with a typed error or go on: every one exits normally (no
//! panic, no SIGBUS or other death) within the hang guard, every call returning within its
//! own bounded wait; the stream receiver never grows by what a length claimed (its peak
//! resident memory stays under 64 MiB), and the last of them out removes the segment.
//! `IPC_HOSTILE_TRIALS` sets the trials (default 40; the README's reliability section runs
//! 10,000), `IPC_HOSTILE_SEED` the random choices.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Proc, Rng, ShmName};
use ipc::shm::{
    AsyncReceiver, AsyncSubscriber, LockError, Options, Publisher, Receiver, Sender, Shared,
    Subscriber,
};
use ipc::{codec, Error};

const ROLE: &str = "IPC_HOSTILE_ROLE";
/// Operations an honest end tries per trial (each a bounded wait): enough that most
/// damage lands while the ends still work.
const OPS: u64 = 20_000;
/// The bounded wait of each operation.
const STEP: Duration = Duration::from_millis(200);
/// How long a trial may take before the test calls it a hang (a guard, never a measure).
const HANG: Duration = Duration::from_secs(60);
/// The most a stream receiver may hold resident, whatever lengths it was sent.
const MAX_RSS_KIB: i64 = 64 << 10;

fn trials() -> usize {
    std::env::var("IPC_HOSTILE_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

// ---------------------------------------------------------------------------------------
// The honest ends.

/// How an honest end's last call failed: the variant's name (`Debug` ends with
/// `(Error::Variant)`).
fn variant(e: &Error) -> String {
    let d = format!("{e:?}");
    let after = d.rsplit_once("Error::").map_or("?", |(_, v)| v);
    after
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or("?")
        .to_owned()
}

/// Once the test says go (a line on stdin), runs `step` up to `OPS` times or until it
/// fails; prints how the end ended.
fn run(mut step: impl FnMut(u64) -> Result<(), Error>) {
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line).unwrap();
    for i in 0..OPS {
        if let Err(e) = step(i) {
            return println!("end {}", variant(&e));
        }
    }
    println!("end none");
}

/// The child entry point: plays the role `IPC_HOSTILE_ROLE` names, if any.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let opts = Options::new().capacity(16);
    match args[..] {
        ["receiver", name] => {
            let mut rx = Receiver::<[u64; 4]>::create(name, opts).unwrap();
            common::ready();
            run(|_| rx.recv_timeout(STEP).map(|_| ()));
        }
        ["sender", name] => {
            let mut tx = Sender::<[u64; 4]>::open(name).unwrap();
            common::ready();
            run(|i| tx.send_timeout([i; 4], STEP).map_err(|e| e.into_error()));
        }
        ["publisher", name] => {
            let mut tx = Publisher::<[u64; 4]>::create(name, opts).unwrap();
            common::ready();
            run(|i| tx.send_timeout([i; 4], STEP).map_err(|e| e.into_error()));
        }
        ["subscriber", name] => {
            let mut rx = Subscriber::<[u64; 4]>::open(name).unwrap();
            common::ready();
            run(|_| rx.recv_timeout(STEP).map(|_| ()));
        }
        // The async twins: their receives take what they counted at the head without
        // looking at its `seq` again, which a scribbler may rewrite meanwhile.
        ["async-receiver", name] => {
            let rx = Receiver::<[u64; 4]>::create(name, opts).unwrap();
            let rt = runtime();
            let mut rx = rt.block_on(async { AsyncReceiver::from_sync(rx) }).unwrap();
            common::ready();
            run(|_| rt.block_on(within(STEP, rx.recv())).map(|_| ()));
        }
        ["async-subscriber", name] => {
            let rx = Subscriber::<[u64; 4]>::open(name).unwrap();
            let rt = runtime();
            let mut rx = rt
                .block_on(async { AsyncSubscriber::from_sync(rx) })
                .unwrap();
            common::ready();
            run(|_| rt.block_on(within(STEP, rx.recv())).map(|_| ()));
        }
        ["shared", name, how] => {
            let v = if how == "create" {
                Shared::<[u64; 4]>::create(name, [0; 4], opts).unwrap()
            } else {
                Shared::<[u64; 4]>::open(name).unwrap()
            };
            common::ready();
            run(|_| {
                let mut g = match v.lock() {
                    Ok(g) => g,
                    Err(LockError::OwnerDied(g)) => g,
                    Err(LockError::Invalid(repair, _)) => repair.set([0; 4]),
                    Err(LockError::Failed(e)) => return Err(e),
                };
                g[0] = g[0].wrapping_add(1);
                g.mark_consistent();
                // Hold it a moment, so that the ends work longer than the window the
                // damage falls in.
                let held = Instant::now();
                while held.elapsed() < Duration::from_micros(1) {
                    std::hint::spin_loop();
                }
                Ok(())
            });
        }
        ["stream"] => {
            let mut rx = ipc::pipe::Receiver::<[u32]>::stdin().unwrap();
            common::ready();
            let (mut slices, mut errors) = (0u64, 0u64);
            let end = loop {
                match rx.recv_slice() {
                    Ok(_) => slices += 1,
                    Err(Error::Disconnected) => break "Disconnected".to_owned(),
                    Err(Error::Io { op, source }) => panic!("an untyped error: {op}: {source}"),
                    Err(_) => errors += 1,
                }
            };
            // SAFETY: getrusage(2) fills the struct it is given.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: as above; RUSAGE_SELF and a valid pointer.
            assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
            assert!(
                usage.ru_maxrss < MAX_RSS_KIB,
                "a claimed length made the receiver grow to {} KiB",
                usage.ru_maxrss
            );
            println!("end {end} after {slices} slices and {errors} errors");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// A current-thread tokio runtime for an async end.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `recv` bounded by `limit`, as the sync ends' `recv_timeout`.
async fn within<T>(
    limit: Duration,
    recv: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(limit, recv)
        .await
        .unwrap_or(Err(Error::Timeout(limit)))
}

// ---------------------------------------------------------------------------------------
// The hostile peer.

fn spawn(role: &str) -> Proc {
    let mut p = Proc::spawn_with(ROLE, role, |c| {
        c.stdin(Stdio::piped());
    });
    p.wait_ready();
    p
}

/// Tells an honest end to begin.
fn go(p: &mut Proc) {
    let _ = writeln!(p.child().stdin.as_mut().unwrap(), "go");
}

/// Waits for an honest end (at most `HANG`); it must have exited normally, saying how it
/// ended. Returns that.
fn honest_end(mut p: Proc, trial: &str) -> String {
    let status = common::wait_at_most(p.child(), HANG);
    let (_, out) = p.finish();
    match status {
        Some(s) if s.success() => out
            .lines()
            .find_map(|l| l.split_once("end ").map(|(_, e)| e.to_owned()))
            .unwrap_or_else(|| panic!("{trial}: no end reported:\n{out}")),
        other => panic!("{trial}: an honest end died or hung ({other:?}; none: hung)\n{out}"),
    }
}

/// Damages the live segment file at `path` one of three ways; says which.
fn damage(path: &str, rng: &mut Rng) -> String {
    use std::os::unix::fs::FileExt;
    let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    else {
        return "none (gone already)".to_owned();
    };
    let len = f.metadata().unwrap().len();
    match rng.below(4) {
        0 | 1 => {
            // Random bytes: half the writes in the first page (header, indices, claims),
            // the rest anywhere (slot states, payloads).
            let writes = 1 + rng.below(32);
            for _ in 0..writes {
                let span = if rng.below(2) == 0 {
                    len.min(4096)
                } else {
                    len
                };
                let n = 1 + rng.below(16);
                let at = rng.below(span.saturating_sub(n).max(1));
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                let _ = f.write_at(&bytes, at);
            }
            format!("scribble x{writes}")
        }
        2 => {
            let to = match rng.below(3) {
                0 => 0,
                1 => 4096,
                _ => rng.below(len.max(1)),
            };
            f.set_len(to).unwrap();
            format!("truncate to {to}")
        }
        _ => {
            let _ = std::fs::remove_file(path);
            "unlink".to_owned()
        }
    }
}

/// One shared-memory trial: two honest ends of a channel, a topic or a shared value,
/// damaged at a random moment. Returns what was done and how the ends ended.
fn shm_trial(n: usize, rng: &mut Rng) -> (String, Vec<String>) {
    let name = ShmName::new("hostile");
    let (what, a, b) = match rng.below(5) {
        0 => ("channel", "receiver {}", "sender {}"),
        1 => ("topic", "publisher {}", "subscriber {}"),
        2 => ("channel, async receiver", "async-receiver {}", "sender {}"),
        3 => (
            "topic, async subscriber",
            "publisher {}",
            "async-subscriber {}",
        ),
        _ => ("shared", "shared {} create", "shared {} open"),
    };
    let mut first = spawn(&a.replace("{}", &name.0));
    let mut second = spawn(&b.replace("{}", &name.0));
    go(&mut first);
    go(&mut second);
    std::thread::sleep(Duration::from_micros(rng.below(2000)));
    let done = damage(&name.path(), rng);
    let trial = format!("trial {n}: {what}, {done}");
    let ends = [honest_end(first, &trial), honest_end(second, &trial)];
    // The last of them removed the segment, damaged or not.
    let left = std::path::Path::new(&name.path()).exists();
    assert!(!left, "{trial}: the segment was left behind by {ends:?}");
    (trial, ends.into())
}

/// The bytes of a record header claiming `len` bytes, chosen among the edges.
fn hostile_header(rng: &mut Rng) -> (Vec<u8>, String) {
    let tag = codec::payload_tag::<[u32]>();
    if rng.below(8) == 0 {
        return (vec![0xff; codec::HEADER_LEN], "u64::MAX".to_owned());
    }
    let len: u32 = match rng.below(6) {
        0 => rng.below(9) as u32,
        1 => 4088 + rng.below(16) as u32,
        2 => u32::MAX - rng.below(8) as u32,
        3 => 1 << rng.below(32),
        _ => rng.next() as u32,
    };
    let tag = if rng.below(4) == 0 {
        rng.next() as u32
    } else {
        tag
    };
    let mut h = tag.to_le_bytes().to_vec();
    h.extend_from_slice(&len.to_le_bytes());
    (h, format!("tag {tag:#x} length {len}"))
}

/// One stream trial: a receiver of slices on a pipe, sent a hostile length.
fn stream_trial(n: usize, rng: &mut Rng) -> (String, Vec<String>) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut receiver = Proc::spawn_with(ROLE, "stream", |c| {
        c.stdin(Stdio::from(r));
    });
    receiver.wait_ready();
    let (header, said) = hostile_header(rng);
    let mut bytes = codec::hello::<[u32]>();
    codec::write_slice(&mut bytes, &[1u32, 2, 3]).unwrap();
    bytes.extend_from_slice(&header);
    bytes.extend((0..rng.below(64)).map(|_| rng.next() as u8));
    if rng.below(2) == 0 {
        codec::write_slice(&mut bytes, &[4u32]).unwrap();
    }
    // The receiver may stop reading (it is allowed to end): a failed write is fine.
    let _ = std::fs::File::from(w).write_all(&bytes);
    let trial = format!("trial {n}: stream, {said}");
    let end = honest_end(receiver, &trial);
    let end = end.split(' ').next().unwrap_or("?").to_owned();
    (trial, vec![end])
}

#[test]
fn honest_peers_survive_hostile_ones() {
    let mut rng = Rng::from_env("IPC_HOSTILE_SEED", "honest_peers_survive_hostile_ones");
    let start = Instant::now();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    // How the honest ends ended: the error that stopped them, or `none` (went on).
    let mut endings = std::collections::BTreeMap::<String, usize>::new();
    let n = trials();
    for i in 0..n {
        let (outcome, ends) = if rng.below(4) == 0 {
            stream_trial(i, &mut rng)
        } else {
            shm_trial(i, &mut rng)
        };
        // Tally by kind of trial and damage (the words before the first number).
        let key: Vec<&str> = outcome
            .split(": ")
            .nth(1)
            .unwrap_or("?")
            .split(' ')
            .take_while(|w| !w.contains(|c: char| c.is_ascii_digit()) || w.contains("MAX"))
            .collect();
        let key = key.join(" ");
        *tally.entry(key).or_default() += 1;
        for end in ends {
            *endings.entry(end).or_default() += 1;
        }
    }
    let left = common::remove_stale();
    println!(
        "{n} hostile trials in {:.1?}, none fatal: {tally:?}; the honest ends: {endings:?}; \
         stale left: {left:?}",
        start.elapsed()
    );
}
