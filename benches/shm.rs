//! Shared-memory channels between two processes, beside the raw mechanisms they are built
//! on, measured in the same run:
//!
//! - one-way latency (ping-pong round trip / 2) of 8-byte messages: the channel in spin
//!   mode against a bare atomic ping-pong in shared memory, in park mode against a bare
//!   futex ping-pong, and a bare pipe;
//! - throughput for 8 B ... 1 MiB messages (copying `send` and zero-copy `loan`) against
//!   a bare SPSC ring in shared memory (packed slots, each side caching the other's
//!   index: as fast as a ring without liveness, parking or types gets) and a bare pipe;
//! - the futex system calls both processes make while streaming 1,000,000 messages;
//! - 8 B throughput through `Box<dyn Tx>` / `Box<dyn Rx>` (the contract's trait objects)
//!   against the typed ends, in the alternating rounds;
//! - batched throughput at 8 B, 16 B, 64 B and 4 KiB: the typed ends one message per call
//!   (`send_ref` / `recv_into`) and in batches of 256 messages, at most 64 KiB
//!   (`send_all` / `recv_many`), beside a
//!   bare SPSC ring in shared memory that moves batches (one `head` / `tail` store per
//!   batch) and a 64 KiB `BufWriter` over a `UnixStream` read with a `BufReader` and
//!   `read_exact`; every message is stamped and checked in every row.
//!
//! - the senders table: 8-byte copying sends from 1, 2, 4 and 16 sender processes, and one
//!   beside a second that holds the channel open without sending; rate, CPU time of every
//!   process per message, and the bias's grants and revokes; beside the two designs the
//!   channel's claim was chosen against, hand-written: a ring whose every claim is one
//!   `fetch_add` (as Aeron's log claims) and one SPSC lane per sender;
//! - the footprint table: what a channel reserves for 8 B ... 4 MiB messages at the
//!   default and larger capacities, beside its messages' bytes, and the median time of
//!   `create`;
//! - the idle table: wake-ups per second of 100 receivers blocked in `recv` and a sender
//!   blocked on a full ring while their peer process is alive and silent, how soon they
//!   hear of its SIGKILL, and how soon the first message after an idle spell arrives,
//!   beside a bare futex and a pipe that waited as long.
//!
//! `cargo bench --bench shm` (about 15-25 s, the batched rounds, and the senders table's
//! 30-70 s, most of it the hand-written `fetch_add` ring with sixteen senders;
//! `IPC_BENCH_SCALE=0.1` for a quick look); `cargo bench --bench shm -- batch` runs only the batched table,
//! `-- senders` only the senders table (with `IPC_BENCH_STALLS=1` it also times the
//! channel receiver's waits of more than 50 µs, which costs it a few percent of its
//! rate), `-- footprint` only the footprint table, `-- idle` only the idle table
//! (`IPC_BENCH_IDLE_SECS`, default 2, sets the idle spell).
//! Processes are made with `fork(2)` before any handle is opened (a forked child must not
//! inherit handles, see `ipc::shm`); every child exits through `_exit` and its status is
//! checked.
//!
//! The latency rows are measured in alternating rounds against their baselines (best
//! round of each, and the median of the per-round ratios), because on the project's shared
//! 2-core VM the cost of moving a cache line between the two vCPUs changes from minute to
//! minute (a bare atomic ping-pong measured 13 ns, 17 ns, 50 ns and 197 ns one-way on the
//! same day). The spin row goes further: the same two processes alternate 41 blocks of
//! 5,000 round trips, bare and channel, so each ratio compares two blocks run on the same
//! vCPUs a millisecond apart. The bare ping-pong's two words are 128 bytes apart, so the
//! adjacent-line prefetcher does not couple them: it moves one cache line each way.
//!
//! Figures, 2026-12-04 (seven
//! runs; see the README for the table):
//!
//! | measure | result |
//! |---|---|
//! | spin one-way latency, 8 B | median per-block ratio 0.78-1.18x (1.38x and 1.42x in runs whose vCPUs shared a core) |
//! | park one-way latency, 8 B | median per-round ratio 0.41-0.47x the bare futex ping-pong |
//! | 8 B throughput, table row | 106-144 M/s: 40-58x the pipe (2.2-3.1 M/s), 0.68-0.82x the bare SPSC ring |
//! | 8 B throughput, alternating rounds | medians 46.2-51.2x the pipe, 0.70-0.90x the bare SPSC ring |
//! | loan cost per message | 8 B 7-12 ns, 4 KiB 23-83 ns, 64 KiB 7-32 ns (154 once), 1 MiB 12-26 ns |
//! | futex calls, 1,000,000 streamed 8 B messages | 0 (sender + receiver) |
//!
//! The senders table, 2026-12-07 (nine runs on an AMD EPYC VM, two of them in its slow
//! phases, each the median of seven rounds; the receiver on CPU 0, every sender on CPU
//! 1; the senders start together once all have opened the channel, and those done sleep
//! until the receiver has every message), rate in all ÷ the same round's lone sender
//! (90-109 M/s, 37-41 M/s in the slow phases), medians and ranges: one sender beside an
//! idle open one 0.98x (0.91-1.08x), two senders 0.98x (0.89-1.16x), four 1.01x
//! (0.92-1.22x), sixteen 1.01x (0.92-1.05x); sixteen ÷ two median 1.01 over sixteen runs
//! (0.95-1.13); CPU time per message ÷ one sender's 1.01x with two (0.86-1.13x). The
//! hand-written designs beside it, each ÷ its own lone sender: the `fetch_add` ring
//! 0.35-0.70x with two, 0.03-0.09x with sixteen; lanes 1.04-1.36x with sixteen (sixteen ÷
//! two median 1.04), giving up the order across senders.
//!
//! The batched table, 2026-12-07 (six runs on an AMD EPYC VM, each the median of five
//! alternating rounds; the receiver on CPU 0, the sender on CPU 1; batches of 256 into
//! 1,024 slots). Small messages go in packed batches (back to back in the channel's
//! packed array, published by their first position): 8 B batched 875-1,332 M/s,
//! 8.3-10.4x per message, 0.91-1.22x the bare ring moving batches, 5.6-7.2x the
//! `BufWriter`, 3.1-5.2x the seq ring (the bare ring with a `seq` before each message, as
//! the channel's slots are); 16 B 0.79-0.87x the bare ring; 64 B 5.1-5.5x per message,
//! 0.93-1.01x the bare ring; 4 KiB (batches of 16, in the slots) 1.40-1.64x per message,
//! 0.92-0.97x the bare ring, 0.97-1.06x the seq ring. On another VM the same day the
//! 4 KiB batches ran 0.86-0.93x per message (the per-message row's one buffer stays in
//! L1, a batch's sixteen do not).
//! Unpinned, the two processes share a CPU in some rounds.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::time::Instant;

use ipc::shm::{Options, Receiver, Sender};
use ipc::sync::WaitStrategy;
use ipc::{Rx, Tx};

mod common;
use common::*;

// ---------------------------------------------------------------- latency

fn lat_futex(n: u64) -> f64 {
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        let (a, b) = (page.u32_at(0), page.u32_at(1));
        for i in 1..=n as u32 {
            loop {
                let v = a.load(Ordering::Acquire);
                if v == i {
                    break;
                }
                futex_wait(a, v);
            }
            b.store(i, Ordering::Release);
            futex_wake(b);
        }
    });
    let (a, b) = (page.u32_at(0), page.u32_at(1));
    let start = Instant::now();
    for i in 1..=n as u32 {
        a.store(i, Ordering::Release);
        futex_wake(a);
        loop {
            let v = b.load(Ordering::Acquire);
            if v == i {
                break;
            }
            futex_wait(b, v);
        }
    }
    let t = per_trip(start, n);
    reap(child);
    t
}

fn lat_pipe(n: u64) -> f64 {
    let (mut r1, mut w1) = pipe();
    let (mut r2, mut w2) = pipe();
    let child = spawn(|| {
        let mut b = [0u8; 8];
        for _ in 0..n {
            r1.read_exact(&mut b).unwrap();
            w2.write_all(&b).unwrap();
        }
    });
    let mut b = [0u8; 8];
    let start = Instant::now();
    for i in 0..n {
        w1.write_all(&i.to_ne_bytes()).unwrap();
        r2.read_exact(&mut b).unwrap();
    }
    let t = per_trip(start, n);
    reap(child);
    let _ = (r1.as_raw_fd(), w2.as_raw_fd());
    t
}

/// The echoing process's ends of a ping-pong over channels `a` (in) and `b` (out).
fn echo_ends(a: &str, b: &str, opts: &Options) -> (Receiver<u64>, Sender<u64>) {
    (
        Receiver::open_or_create(a, opts.clone()).unwrap(),
        Sender::open_or_create(b, opts.clone()).unwrap(),
    )
}

/// The pinging process's ends: out on `a`, in on `b`.
fn ping_ends(a: &str, b: &str, opts: &Options) -> (Sender<u64>, Receiver<u64>) {
    (
        Sender::open_or_create(a, opts.clone()).unwrap(),
        Receiver::open_or_create(b, opts.clone()).unwrap(),
    )
}

/// Sends back each of `n` messages.
fn echo(rx: &mut Receiver<u64>, tx: &mut Sender<u64>, n: u64) {
    for _ in 0..n {
        let v = *rx.recv().unwrap();
        tx.send(v).unwrap();
    }
}

/// One-way latency and the futex calls per round trip made by this (the pinging) process.
fn lat_channel(n: u64, wait: WaitStrategy) -> (f64, f64) {
    let (a, b) = (unique("ping"), unique("pong"));
    let opts = Options::new().capacity(64).wait(wait);
    // Fork first, then open: a forked child must not inherit the parent's handles (it
    // would keep the parent's liveness lock alive; see the `ipc::shm` docs).
    let child = spawn(|| {
        let (mut rx, mut tx) = echo_ends(&a, &b, &opts);
        echo(&mut rx, &mut tx, n);
        // Wait for the parent to finish before leaving, so the segments stay named.
        assert!(rx.recv().unwrap_err().is_disconnected());
    });
    let (mut tx, mut rx) = ping_ends(&a, &b, &opts);
    // Warm up (and wait for the child to join).
    tx.send(u64::MAX).unwrap();
    assert_eq!(*rx.recv().unwrap(), u64::MAX);
    let calls = ipc::sync::futex_syscalls();
    let start = Instant::now();
    for i in 1..n {
        tx.send(i).unwrap();
        assert_eq!(*rx.recv().unwrap(), i);
    }
    let t = per_trip(start, n - 1);
    let calls = (ipc::sync::futex_syscalls() - calls) as f64 / (n - 1) as f64;
    drop(tx);
    drop(rx);
    reap(child);
    (t, calls)
}

/// Blocks of the paired spin measurement, and round trips per block.
const SPIN_BLOCKS: usize = 41;

/// One-way spin latency of the channel and of the bare atomic ping-pong, measured by the
/// same two processes in alternating blocks of `n` round trips each: both sides of every
/// ratio run on the same pair of vCPUs within a millisecond of each other, which is what
/// makes the ratio steady on a VM whose cache-line cost drifts. Reports the best block of
/// each side and the median of the per-block ratios.
fn lat_spin_paired(n: u64) -> Versus {
    let (a, b) = (unique("ping"), unique("pong"));
    let opts = Options::new().capacity(64).wait(WaitStrategy::Spin);
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        let (mut rx, mut tx) = echo_ends(&a, &b, &opts);
        let (ping, pong) = (page.u64_at(0), page.u64_at(2));
        let mut i = 0;
        // One more block than timed: the first warms both paths up.
        for _ in 0..=SPIN_BLOCKS {
            for _ in 0..n {
                i += 1;
                while ping.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.store(i, Ordering::Release);
            }
            echo(&mut rx, &mut tx, n);
        }
        assert!(rx.recv().unwrap_err().is_disconnected());
    });
    let (mut tx, mut rx) = ping_ends(&a, &b, &opts);
    let (ping, pong) = (page.u64_at(0), page.u64_at(2));
    let mut rounds = Vec::with_capacity(SPIN_BLOCKS);
    let mut i = 0;
    for block in 0..=SPIN_BLOCKS {
        let start = Instant::now();
        for _ in 0..n {
            i += 1;
            ping.store(i, Ordering::Release);
            while pong.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
        }
        let bare = per_trip(start, n);
        let start = Instant::now();
        for j in 0..n {
            tx.send(j).unwrap();
            assert_eq!(*rx.recv().unwrap(), j);
        }
        let chan = per_trip(start, n);
        if block > 0 {
            rounds.push((bare, chan, 0.0));
        }
    }
    drop(tx);
    drop(rx);
    reap(child);
    Versus::of(&rounds)
}

// ---------------------------------------------------------------- throughput

/// Messages per second and the futex calls of (this process, the child).
struct Rate {
    per_sec: f64,
    futex: (u64, u64),
    /// Whether the sender held the bias (claimed with plain stores, see `ring/mode.rs`).
    biased: bool,
}

/// Times the messages after a warm-up (the first `warm` messages: the receiver joins, the
/// pages are faulted in), up to the receiver's "done" flag (line 1 of its result page).
struct Clock {
    n: u64,
    warm: u64,
    start: Option<Instant>,
}

impl Clock {
    fn new(n: u64, warm: u64) -> Clock {
        Clock {
            n,
            warm: warm.min(n / 10),
            start: None,
        }
    }
    #[inline]
    fn tick(&mut self, i: u64) {
        if i == self.warm {
            self.start = Some(Instant::now());
        }
    }
    /// [`Clock::tick`] for a batch of `len` messages from `i` on.
    #[inline]
    fn tick_batch(&mut self, i: u64, len: u64) {
        if (i..i + len).contains(&self.warm) {
            self.start = Some(Instant::now());
        }
    }
    fn stop(&self, done: &SharedPage) -> f64 {
        while done.u64_at(1).load(Ordering::Acquire) == 0 {
            std::hint::spin_loop();
        }
        let t = self.start.expect("ticked").elapsed();
        (self.n - self.warm) as f64 / t.as_secs_f64()
    }
}

fn thr_pipe(size: usize, n: u64) -> Rate {
    let (mut r, mut w) = pipe();
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        let mut buf = vec![0u8; size];
        for _ in 0..n {
            r.read_exact(&mut buf).unwrap();
        }
        page.u64_at(1).store(1, Ordering::Release);
    });
    drop(r);
    let buf = vec![1u8; size];
    let mut clock = Clock::new(n, 16);
    for i in 0..n {
        clock.tick(i);
        w.write_all(&buf).unwrap();
    }
    let per_sec = clock.stop(&page);
    drop(w);
    reap(child);
    Rate {
        per_sec,
        futex: (0, 0),
        biased: false,
    }
}

/// A bare single-producer single-consumer ring in shared memory, written as well as a
/// ring without liveness, parking or typing can be: `size`-byte slots packed back to back
/// (eight 8-byte messages to a cache line), `head` and `tail` on lines of their own, and
/// each side keeps a copy of the other's index, re-read only when its copy says the ring
/// is full (sender) or empty (receiver).
fn thr_spsc(size: usize, n: u64, cap: usize) -> Rate {
    let stride = size.div_ceil(8) * 8;
    let page = SharedPage::new(128 + cap * stride);
    let done = SharedPage::new(4096);
    let data = 128usize;
    let child = spawn(|| {
        let (head, tail) = (page.u64_at(0), page.u64_at(1));
        let (mut h, mut seen_tail) = (0u64, 0u64);
        let mut sink = 0u8;
        while h < n {
            while seen_tail == h {
                seen_tail = tail.load(Ordering::Acquire);
                std::hint::spin_loop();
            }
            let slot = data + (h as usize % cap) * stride;
            // SAFETY: published slot inside the mapping.
            sink ^= unsafe { *page.ptr.add(slot) };
            h += 1;
            head.store(h, Ordering::Release);
        }
        std::hint::black_box(sink);
        done.u64_at(1).store(1, Ordering::Release);
    });
    let (head, tail) = (page.u64_at(0), page.u64_at(1));
    let msg = vec![7u8; size];
    let mut seen_head = 0u64;
    let mut clock = Clock::new(n, cap as u64);
    for t in 0..n {
        clock.tick(t);
        while t - seen_head >= cap as u64 {
            seen_head = head.load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        let slot = data + (t as usize % cap) * stride;
        // SAFETY: a free slot inside the mapping; the consumer reads it only after the
        // Release store of `tail` below.
        unsafe { std::ptr::copy_nonoverlapping(msg.as_ptr(), page.ptr.add(slot), size) };
        tail.store(t + 1, Ordering::Release);
    }
    let per_sec = clock.stop(&done);
    reap(child);
    Rate {
        per_sec,
        futex: (0, 0),
        biased: false,
    }
}

fn thr_channel<const N: usize>(n: u64, loan: bool, cap: usize) -> Rate {
    let name = unique(&format!("thr{N}"));
    let opts = Options::new().capacity(cap);
    let result = SharedPage::new(4096);
    let child = spawn(|| {
        let before = ipc::sync::futex_syscalls();
        let mut rx = Receiver::<[u8; N]>::open_or_create(&name, opts.clone()).unwrap();
        let mut sink = 0u8;
        for _ in 0..n {
            let s = rx.recv().unwrap();
            sink ^= s[0] ^ s[N - 1];
        }
        std::hint::black_box(sink);
        result
            .u64_at(0)
            .store(ipc::sync::futex_syscalls() - before, Ordering::SeqCst);
        result.u64_at(1).store(1, Ordering::Release);
    });
    let mut tx = Sender::<[u8; N]>::open_or_create(&name, opts.clone()).unwrap();
    let before = ipc::sync::futex_syscalls();
    // Two laps of the ring before the clock starts: by then the receiver process is
    // running and has taken at least one lap, so its start-up is not timed.
    let mut clock = Clock::new(n, 2 * cap as u64);
    if loan {
        for i in 0..n {
            clock.tick(i);
            let mut l = tx.loan().unwrap();
            let m = l.as_mut().unwrap();
            m[0] = i as u8;
            m[N - 1] = i as u8;
            l.send();
        }
    } else {
        // As the bare ring copies one message again and again (a `black_box` here would
        // cost a store per message that the ring does not pay).
        let msg = Box::new([7u8; N]);
        for i in 0..n {
            clock.tick(i);
            tx.send(*msg).unwrap();
        }
    }
    let per_sec = clock.stop(&result);
    let mine = ipc::sync::futex_syscalls() - before;
    reap(child);
    Rate {
        per_sec,
        futex: (mine, result.u64_at(0).load(Ordering::SeqCst)),
        biased: tx.stats().bias_taken > 0,
    }
}

/// [`thr_channel`]'s copying send, through the contract as trait objects: the sender a
/// `Box<dyn Tx>`, the receiver a `Box<dyn Rx>` (which copies each message out of its
/// sample). What choosing a transport at run time costs per message.
fn thr_dyn<const N: usize>(n: u64, cap: usize) -> f64 {
    let name = unique(&format!("dyn{N}"));
    let opts = Options::new().capacity(cap);
    let result = SharedPage::new(4096);
    let child = spawn(|| {
        let mut rx: Box<dyn Rx<[u8; N]>> =
            Box::new(Receiver::<[u8; N]>::open_or_create(&name, opts.clone()).unwrap());
        let mut sink = 0u8;
        for _ in 0..n {
            let m = rx.recv().unwrap();
            sink ^= m[0] ^ m[N - 1];
        }
        std::hint::black_box(sink);
        result.u64_at(1).store(1, Ordering::Release);
    });
    let mut tx: Box<dyn Tx<[u8; N]>> =
        Box::new(Sender::<[u8; N]>::open_or_create(&name, opts.clone()).unwrap());
    let mut clock = Clock::new(n, 2 * cap as u64);
    let msg = Box::new([7u8; N]);
    for i in 0..n {
        clock.tick(i);
        tx.send(*msg).unwrap();
    }
    let per_sec = clock.stop(&result);
    reap(child);
    per_sec
}

// ---------------------------------------------------------------- report

/// Alternating rounds of the latency rows (see `main`).
const LATENCY_ROUNDS: usize = 7;

/// A channel's latency against its baseline over [`LATENCY_ROUNDS`] alternating rounds.
struct Versus {
    /// The baseline's best round (ns one-way).
    base: f64,
    /// The channel's best round (ns one-way).
    chan: f64,
    /// The futex calls per round trip in the channel's best round.
    chan_calls: f64,
    /// The median of the rounds' channel / baseline ratios.
    median_ratio: f64,
}

impl Versus {
    /// Sums up rounds of (baseline ns, channel ns, channel futex calls per round trip).
    fn of(rounds: &[(f64, f64, f64)]) -> Versus {
        let mut v = Versus {
            base: f64::MAX,
            chan: f64::MAX,
            chan_calls: 0.0,
            median_ratio: 0.0,
        };
        let mut ratios = Vec::with_capacity(rounds.len());
        for &(b, c, calls) in rounds {
            ratios.push(c / b);
            v.base = v.base.min(b);
            if c < v.chan {
                (v.chan, v.chan_calls) = (c, calls);
            }
        }
        ratios.sort_by(f64::total_cmp);
        v.median_ratio = ratios[ratios.len() / 2];
        v
    }
}

fn versus(base: impl Fn() -> f64, chan: impl Fn() -> (f64, f64)) -> Versus {
    let rounds: Vec<_> = (0..LATENCY_ROUNDS)
        .map(|_| {
            let b = base();
            let (c, calls) = chan();
            (b, c, calls)
        })
        .collect();
    Versus::of(&rounds)
}

fn main() {
    // `cargo bench` passes `--bench`; `IPC_BENCH_SCALE` (default 1.0) scales the counts.
    let scale: f64 = std::env::var("IPC_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let k = |n: u64| ((n as f64 * scale) as u64).max(10);
    let _ = ipc::shm::remove_stale();
    // `cargo bench --bench shm -- batch` runs only the sections whose name contains
    // "batch" (the sections: latency, throughput, batch, senders, footprint, idle).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |section: &str| filter.as_deref().is_none_or(|f| section.contains(f));
    if wants("latency") || wants("throughput") {
        latency_and_throughput(&k);
    }
    if wants("batch") {
        batched_throughput(&k);
    }
    if wants("senders") {
        senders_table(&k);
    }
    if wants("footprint") {
        footprint_table();
    }
    if wants("idle") {
        idle_table();
    }
}

/// The latency rows, the per-message throughput table and the rounds that follow it.
fn latency_and_throughput(k: &dyn Fn(u64) -> u64) {
    println!(
        "ipc::shm benchmark: two processes (fork), one run; ratios against the raw mechanism\n"
    );
    println!("one-way latency, 8-byte message (round trip / 2)");
    println!("(latency: the best round; ratio: the median of the per-round ratios)");
    println!("{:<40} {:>12} {:>10}", "", "latency", "ratio");
    // The spinning and parking rows alternate with their baselines: on a shared VM a
    // round can be slowed by other load (or by where the host runs the two vCPUs), and
    // alternating puts both sides of a ratio under the same conditions. The spinning row
    // alternates within one pair of processes, block by block.
    let spin = lat_spin_paired(k(5_000));
    let park = versus(
        || lat_futex(k(10_000)),
        || lat_channel(k(10_000), WaitStrategy::Park),
    );
    let (atomic, futex) = (spin.base, park.base);
    let (stp, _) = lat_channel(k(100_000), WaitStrategy::SpinThenPark);
    let pipe = lat_pipe(k(50_000));
    println!(
        "{:<40} {:>12} {:>10}",
        "bare atomic ping-pong (shm)",
        fmt_ns(atomic),
        "1.00"
    );
    // The ratio column is the median of the per-round ratios: each round's two sides ran
    // under the same conditions, while the best rounds of each side may not have.
    println!(
        "{:<40} {:>12} {:>9.2}x   (time, channel / bare atomic; best block vs best block {:.2}x)",
        "shm channel, spin",
        fmt_ns(spin.chan),
        spin.median_ratio,
        spin.chan / atomic
    );
    println!(
        "{:<40} {:>12} {:>10}",
        "bare futex ping-pong",
        fmt_ns(futex),
        "1.00"
    );
    println!(
        "{:<40} {:>12} {:>9.2}x   (time, channel / bare futex; best round vs best round {:.2}x; {:.2} futex calls per round trip here)",
        "shm channel, park",
        fmt_ns(park.chan),
        park.median_ratio,
        park.chan / futex,
        park.chan_calls
    );
    println!(
        "{:<40} {:>12} {:>9.2}x   (vs atomic)",
        "shm channel, spin-then-park (default)",
        fmt_ns(stp),
        stp / atomic
    );
    println!(
        "{:<40} {:>12} {:>9.2}x   (vs atomic)",
        "bare pipe ping-pong",
        fmt_ns(pipe),
        pipe / atomic
    );

    println!("\nthroughput, one sender process -> one receiver process (messages per second)");
    println!(
        "{:<8} {:>12} {:>12} {:>12} {:>12} {:>9} {:>9} {:>11}",
        "size",
        "pipe",
        "spsc ring",
        "shm send",
        "shm loan",
        "send/pipe",
        "send/spsc",
        "loan ns/msg"
    );
    let mut futex_line = String::new();
    macro_rules! row {
        ($size:expr, $n:expr, $cap:expr) => {{
            let n = k($n);
            let p = thr_pipe($size, n);
            let r = thr_spsc($size, n, $cap);
            let s = thr_channel::<$size>(n, false, $cap);
            // A loan costs about the same at every size: stream as many as for 8 B.
            let l = thr_channel::<$size>(k(1_000_000), true, $cap);
            println!(
                "{:<8} {:>12} {:>12} {:>12} {:>12} {:>8.1}x {:>8.2}x {:>11.0}",
                human($size),
                fmt_rate(p.per_sec),
                fmt_rate(r.per_sec),
                fmt_rate(s.per_sec),
                fmt_rate(l.per_sec),
                s.per_sec / p.per_sec,
                s.per_sec / r.per_sec,
                1e9 / l.per_sec
            );
            if $size == 8 {
                futex_line = format!(
                    "futex system calls while streaming {n} 8-byte messages (copying send): \
                     sender {} + receiver {} = {}\n\
                     the sender held the ring's bias (claims without a locked instruction): {}",
                    s.futex.0,
                    s.futex.1,
                    s.futex.0 + s.futex.1,
                    if s.biased {
                        "yes"
                    } else {
                        "no (membarrier unavailable)"
                    }
                );
            }
        }};
    }
    row!(8, 1_000_000, 1024);
    row!(64, 1_000_000, 1024);
    row!(4096, 200_000, 256);
    row!(65536, 20_000, 64);
    row!(1048576, 2_000, 16);
    println!("\n{futex_line}");
    alternating_8b_throughput(k(1_000_000));
}

/// Rounds of the 8 B throughput comparison: pipe, bare SPSC ring and channel side by side,
/// as the latency rows do: the table's rows run one after another, and on this VM the
/// machine can change speed between them (the pipe measured 1.6-3.1 M/s on one day).
const THROUGHPUT_ROUNDS: usize = 5;

fn alternating_8b_throughput(n: u64) {
    let mut to_pipe = Vec::new();
    let mut to_ring = Vec::new();
    let mut dyn_to_send = Vec::new();
    for _ in 0..THROUGHPUT_ROUNDS {
        let p = thr_pipe(8, n / 2);
        let r = thr_spsc(8, n, 1024);
        let s = thr_channel::<8>(n, false, 1024);
        let d = thr_dyn::<8>(n, 1024);
        to_pipe.push(s.per_sec / p.per_sec);
        to_ring.push(s.per_sec / r.per_sec);
        dyn_to_send.push(d / s.per_sec);
    }
    // Sorted, so the middle one is the median.
    to_pipe.sort_by(f64::total_cmp);
    to_ring.sort_by(f64::total_cmp);
    dyn_to_send.sort_by(f64::total_cmp);
    let list = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "\n8 B copying send in {THROUGHPUT_ROUNDS} alternating rounds (pipe, SPSC ring, channel):\n\
         send/pipe per round, sorted: {}   median {:.1}x   (rate, channel / pipe)\n\
         send/spsc per round, sorted: {}   median {:.2}x   (rate, channel / bare SPSC ring)\n\
         dyn/send per round, sorted:  {}   median {:.2}x   (rate, Box<dyn Tx> / Box<dyn Rx> against the typed ends)",
        list(&to_pipe),
        to_pipe[THROUGHPUT_ROUNDS / 2],
        list(&to_ring),
        to_ring[THROUGHPUT_ROUNDS / 2],
        list(&dyn_to_send),
        dyn_to_send[THROUGHPUT_ROUNDS / 2],
    );
}

#[path = "shm/batch.rs"]
mod batch;
use batch::batched_throughput;

#[path = "shm/senders.rs"]
mod senders;
use senders::senders_table;

#[path = "shm/footprint.rs"]
mod footprint;
use footprint::footprint_table;

#[path = "shm/idle.rs"]
mod idle;
use idle::idle_table;

fn human(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
