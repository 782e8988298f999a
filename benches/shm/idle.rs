//! The idle table of the shm bench: what idle ends cost (wake-ups per second of 100
//! receivers blocked in `recv` and a sender blocked on a full ring, whose peers are alive
//! and silent), how soon they hear of the peer's SIGKILL, and how soon the first message
//! after an idle spell arrives, beside a bare futex and a pipe that waited as long; and
//! what an end that polls pays for a look that finds nothing, beside a pipe's `EAGAIN`.

use std::time::Duration;

use super::*;

/// `CLOCK_MONOTONIC` in nanoseconds: the same clock in every process.
fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(r, 0);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Context switches of thread `tid` of this process so far.
fn switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The idle ends: 100 receivers and one sender blocked on a full ring, each in a thread
/// of this process, whose peers (a forked child) hold their ends open and do nothing.
/// Returns wake-ups per second per idle end over `secs`, and the median and slowest time
/// from the child's SIGKILL to an end's `Disconnected`.
fn idle_ends(secs: u64) -> (f64, Duration, Duration) {
    const CHANNELS: usize = 100;
    let prefix = unique("idle");
    let names: Vec<String> = (0..CHANNELS).map(|i| format!("{prefix}-{i}")).collect();
    let full = format!("{prefix}-full");
    let receivers: Vec<_> = names
        .iter()
        .map(|n| Receiver::<u64>::create(n, Options::new()).unwrap())
        .collect();
    // No linger: the messages it leaves unread when its receiver is killed go with it.
    let opts = Options::new().capacity(2).linger(Duration::ZERO);
    let mut tx = Sender::<u64>::create(&full, opts).unwrap();
    let ready = SharedPage::new(4096);
    let child = spawn(|| {
        let _senders: Vec<_> = names
            .iter()
            .map(|n| Sender::<u64>::open(n).unwrap())
            .collect();
        let _rx = Receiver::<u64>::open(&full).unwrap();
        ready.u64_at(0).store(1, Ordering::Release);
        std::thread::sleep(Duration::from_secs(3600));
    });
    while ready.u64_at(0).load(Ordering::Acquire) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (tids_tx, tids) = std::sync::mpsc::channel();
    let (ends_tx, ends) = std::sync::mpsc::channel::<Instant>();
    let mut threads = Vec::new();
    for mut rx in receivers {
        let (tids_tx, ends_tx) = (tids_tx.clone(), ends_tx.clone());
        threads.push(std::thread::spawn(move || {
            tids_tx.send(gettid()).unwrap();
            assert!(rx.recv().is_err());
            ends_tx.send(Instant::now()).unwrap();
        }));
    }
    threads.push(std::thread::spawn(move || {
        tids_tx.send(gettid()).unwrap();
        while tx.send(1).is_ok() {}
        ends_tx.send(Instant::now()).unwrap();
    }));
    let tids: Vec<i32> = tids.iter().take(CHANNELS + 1).collect();
    // They spin and yield for microseconds before they park: let them settle.
    std::thread::sleep(Duration::from_millis(300));
    let before: u64 = tids.iter().map(|&t| switches(t)).sum();
    std::thread::sleep(Duration::from_secs(secs));
    let after: u64 = tids.iter().map(|&t| switches(t)).sum();
    nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL).unwrap();
    let killed = Instant::now();
    let _ = waitpid(child, None);
    let mut heard: Vec<Duration> = (0..CHANNELS + 1)
        .map(|_| ends.recv().unwrap().saturating_duration_since(killed))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    heard.sort();
    let per_end = (after - before) as f64 / secs as f64 / (CHANNELS + 1) as f64;
    (per_end, heard[heard.len() / 2], heard[heard.len() - 1])
}

/// How long after `send` the first message after `idle` of silence is received, by a
/// receiver parked all that time: the shm channel, a bare futex in shared memory and a
/// pipe, each in `rounds` rounds; medians, in nanoseconds.
fn first_after_idle(idle: Duration, rounds: usize) -> (f64, f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut chan = Vec::new();
    let mut futex = Vec::new();
    let mut pipe_ns = Vec::new();
    for _ in 0..rounds {
        // The channel: the child sends one stamped message after `idle`.
        let name = unique("first");
        let mut rx = Receiver::<u64>::create(&name, Options::new()).unwrap();
        let child = spawn(|| {
            let mut tx = Sender::<u64>::open(&name).unwrap();
            std::thread::sleep(idle);
            tx.send(monotonic_ns()).unwrap();
            // Stay until the receiver has it (a sender leaving wakes it too).
            std::thread::sleep(Duration::from_millis(200));
        });
        let sent = *rx.recv().unwrap();
        chan.push(monotonic_ns().saturating_sub(sent) as f64);
        reap(child);

        // A bare futex: the stamp, then the word, then a wake.
        let page = SharedPage::new(4096);
        let child = spawn(|| {
            std::thread::sleep(idle);
            page.u64_at(1).store(monotonic_ns(), Ordering::Release);
            page.u32_at(0).store(1, Ordering::Release);
            futex_wake(page.u32_at(0));
        });
        while page.u32_at(0).load(Ordering::Acquire) == 0 {
            futex_wait(page.u32_at(0), 0);
        }
        futex.push(monotonic_ns().saturating_sub(page.u64_at(1).load(Ordering::Acquire)) as f64);
        reap(child);

        // A pipe: the stamp is the message.
        let (mut r, mut w) = pipe();
        let child = spawn(|| {
            std::thread::sleep(idle);
            w.write_all(&monotonic_ns().to_ne_bytes()).unwrap();
        });
        let mut buf = [0u8; 8];
        r.read_exact(&mut buf).unwrap();
        pipe_ns.push(monotonic_ns().saturating_sub(u64::from_ne_bytes(buf)) as f64);
        reap(child);
    }
    (median(chan), median(futex), median(pipe_ns))
}

/// What a look that finds nothing costs, in nanoseconds per call (the median of five
/// rounds of `n`): an empty channel's `try_recv`, an empty topic's `try_recv` and a full
/// ring's `try_send`, whose peers (a forked child) hold their ends open and do nothing;
/// beside a non-blocking `read` of an empty pipe (`EAGAIN`), the system call a poller of
/// a descriptor makes.
fn empty_looks(n: u32) -> [f64; 4] {
    use ipc::shm::{Publisher, Subscriber};
    let chan = unique("look");
    let topic = unique("look-topic");
    let full = unique("look-full");
    let mut rx = Receiver::<u64>::create(&chan, Options::new()).unwrap();
    let mut sub = Subscriber::<u64>::open_or_create(&topic, Options::new()).unwrap();
    let opts = Options::new().capacity(2).linger(Duration::ZERO);
    let mut tx = Sender::<u64>::create(&full, opts).unwrap();
    let flags = SharedPage::new(4096);
    let child = spawn(|| {
        let _tx = Sender::<u64>::open(&chan).unwrap();
        let _publisher = Publisher::<u64>::open(&topic).unwrap();
        let _rx = Receiver::<u64>::open(&full).unwrap();
        flags.u64_at(0).store(1, Ordering::Release);
        while flags.u64_at(1).load(Ordering::Acquire) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    while flags.u64_at(0).load(Ordering::Acquire) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let (r, _w) = pipe();
    // SAFETY: `r` is an open descriptor; O_NONBLOCK is a valid status flag for it.
    unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut buf = [0u8; 8];
    let mut rounds: [Vec<f64>; 4] = Default::default();
    for _ in 0..5 {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        };
        let looks = [
            time(&mut || assert!(matches!(rx.try_recv(), Err(ipc::Error::Empty)))),
            time(&mut || assert!(matches!(sub.try_recv(), Err(ipc::Error::Empty)))),
            time(&mut || assert!(tx.try_send(3).is_err())),
            time(&mut || {
                // SAFETY: `buf` is 8 writable bytes; `r` is open.
                let got = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                assert_eq!(got, -1);
            }),
        ];
        for (v, t) in rounds.iter_mut().zip(looks) {
            v.push(t);
        }
    }
    flags.u64_at(1).store(1, Ordering::Release);
    reap(child);
    rounds.map(|mut v| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    })
}

fn human(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.0} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

/// The idle table.
pub(crate) fn idle_table() {
    // `IPC_BENCH_IDLE_SECS` (default 2) sets how long the ends stay idle.
    let secs: u64 = std::env::var("IPC_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    println!("\nidle ends (100 receivers blocked in recv, 1 sender blocked on a full ring; peers alive and silent, {secs} s)");
    let (wakes, median, slowest) = idle_ends(secs);
    println!(
        "wake-ups per second per idle end: {wakes:.2}; after the peer's SIGKILL every end \
         returned Disconnected: median {}, slowest {}",
        human(median.as_nanos() as f64),
        human(slowest.as_nanos() as f64)
    );
    let [chan, topic, full, read] = empty_looks(200_000);
    println!(
        "a look that finds nothing, per call (median of 5 rounds; peers alive and silent): \
         channel try_recv {}, topic try_recv {}, full ring try_send {}; non-blocking read \
         of an empty pipe {}   (channel try_recv / read {:.2}x)",
        human(chan),
        human(topic),
        human(full),
        human(read),
        chan / read
    );
    let (chan, futex, pipe) = first_after_idle(Duration::from_secs(secs), 3);
    println!(
        "first message after {secs} s idle, send to receive (median of 3): shm channel {}, \
         bare futex {}, pipe {}   (channel / futex {:.2}x)",
        human(chan),
        human(futex),
        human(pipe),
        chan / futex
    );
}
