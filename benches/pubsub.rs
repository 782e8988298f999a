//! Publish-subscribe on shared memory between processes, beside the project's own MPSC
//! channel and the bare mechanism, measured in the same run:
//!
//! - one-way latency (ping-pong round trip / 2), 8 B and 4 KiB, one subscriber, every end
//!   spinning: a topic each way against a channel each way and a bare atomic ping-pong,
//!   in alternating blocks of round trips within the same two processes (each ratio
//!   compares blocks run a millisecond apart on the same vCPUs); 4 KiB through loans,
//!   writing and reading the first 8 bytes only;
//! - publisher throughput, 8 B, with 1, 2 and 4 subscriber processes, under `Block`
//!   (every subscriber reads every sample) and under `DropOldest` (the publisher never
//!   waits; what the subscribers saw and missed in the last round is printed), with a
//!   ring of 1024 and of 4096 samples: subscribers that share a CPU take turns on it, and
//!   a longer ring lets each read more per turn; three rounds, ratios within a round;
//! - the cost of a `loan_slice` (lend, write 8 bytes, `send`) for 4 KiB ... 4 MiB samples.
//!
//! `cargo bench --bench pubsub` (about 10-20 s); `IPC_BENCH_SCALE=0.1` for a quick look.
//! The publisher runs on CPU 0 and the subscribers on CPU 1 when two are online.

use std::sync::atomic::Ordering;
use std::time::Instant;

use ipc::shm::{Options, Overflow, Publisher, Receiver, Sender, Subscriber};
use ipc::sync::WaitStrategy;
use ipc::Message;

mod common;
use common::*;

/// Blocks of round trips in the alternating latency runs (the first one warms up).
const BLOCKS: usize = 21;

/// A 4 KiB sample.
#[derive(Message, Clone, Copy)]
#[repr(C)]
struct Page {
    seq: u64,
    rest: [u8; 4088],
}

/// Best block (ns one-way) of each contender, the median per-block ratio of each to the
/// first, and the median per-block ratio of the last to the one before it.
struct Row {
    best: Vec<f64>,
    ratio: Vec<f64>,
    last_vs_previous: f64,
}

fn summarise(blocks: &[Vec<f64>]) -> Row {
    let n = blocks[0].len();
    let best = (0..n)
        .map(|c| blocks.iter().map(|b| b[c]).fold(f64::MAX, f64::min))
        .collect();
    let ratio = (0..n)
        .map(|c| {
            let mut r: Vec<f64> = blocks.iter().map(|b| b[c] / b[0]).collect();
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    let mut r: Vec<f64> = blocks.iter().map(|b| b[n - 1] / b[n - 2]).collect();
    r.sort_by(f64::total_cmp);
    Row {
        best,
        ratio,
        last_vs_previous: r[r.len() / 2],
    }
}

/// 8 B one-way latency: bare atomic ping-pong, channel each way, topic each way.
fn latency_8b(n: u64) -> Row {
    let spin = || Options::new().capacity(64).wait(WaitStrategy::Spin);
    let names = [
        unique("c-ping"),
        unique("c-pong"),
        unique("t-ping"),
        unique("t-pong"),
    ];
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        pin(&[1]);
        let mut crx = Receiver::<u64>::open_or_create(&names[0], spin()).unwrap();
        let mut ctx = Sender::<u64>::open_or_create(&names[1], spin()).unwrap();
        let mut trx = Subscriber::<u64>::open_or_create(&names[2], spin()).unwrap();
        let mut ttx = Publisher::<u64>::open_or_create(&names[3], spin()).unwrap();
        page.u64_at(4).store(1, Ordering::Release);
        let (ping, pong) = (page.u64_at(0), page.u64_at(2));
        let mut i = 0;
        for _ in 0..BLOCKS {
            for _ in 0..n {
                i += 1;
                while ping.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.store(i, Ordering::Release);
            }
            for _ in 0..n {
                let v = *crx.recv().unwrap();
                ctx.send(v).unwrap();
            }
            for _ in 0..n {
                let v = *trx.recv().unwrap();
                ttx.send(v).unwrap();
            }
        }
    });
    pin(&[0]);
    let mut ctx = Sender::<u64>::open_or_create(&names[0], spin()).unwrap();
    let mut crx = Receiver::<u64>::open_or_create(&names[1], spin()).unwrap();
    let mut ttx = Publisher::<u64>::open_or_create(&names[2], spin()).unwrap();
    let mut trx = Subscriber::<u64>::open_or_create(&names[3], spin()).unwrap();
    while page.u64_at(4).load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    let (ping, pong) = (page.u64_at(0), page.u64_at(2));
    let mut blocks = Vec::new();
    let mut i = 0;
    for block in 0..BLOCKS {
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
            ctx.send(j).unwrap();
            assert_eq!(*crx.recv().unwrap(), j);
        }
        let chan = per_trip(start, n);
        let start = Instant::now();
        for j in 0..n {
            ttx.send(j).unwrap();
            assert_eq!(*trx.recv().unwrap(), j);
        }
        let topic = per_trip(start, n);
        if block > 0 {
            blocks.push(vec![bare, chan, topic]);
        }
    }
    drop((ctx, crx, ttx, trx));
    reap(child);
    pin(&[0, 1]);
    summarise(&blocks)
}

/// 4 KiB one-way latency through loans: channel each way, topic each way.
fn latency_4k(n: u64) -> Row {
    let spin = || Options::new().capacity(16).wait(WaitStrategy::Spin);
    let names = [
        unique("c4-ping"),
        unique("c4-pong"),
        unique("t4-ping"),
        unique("t4-pong"),
    ];
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        pin(&[1]);
        let mut crx = Receiver::<Page>::open_or_create(&names[0], spin()).unwrap();
        let mut ctx = Sender::<Page>::open_or_create(&names[1], spin()).unwrap();
        let mut trx = Subscriber::<Page>::open_or_create(&names[2], spin()).unwrap();
        let mut ttx = Publisher::<Page>::open_or_create(&names[3], spin()).unwrap();
        page.u64_at(0).store(1, Ordering::Release);
        for _ in 0..BLOCKS {
            for _ in 0..n {
                let v = crx.recv().unwrap().seq;
                let mut l = ctx.loan().unwrap();
                l.as_mut().unwrap().seq = v;
                l.send();
            }
            for _ in 0..n {
                let v = trx.recv().unwrap().seq;
                let mut l = ttx.loan().unwrap();
                l.as_mut().unwrap().seq = v;
                l.send();
            }
        }
    });
    pin(&[0]);
    let mut ctx = Sender::<Page>::open_or_create(&names[0], spin()).unwrap();
    let mut crx = Receiver::<Page>::open_or_create(&names[1], spin()).unwrap();
    let mut ttx = Publisher::<Page>::open_or_create(&names[2], spin()).unwrap();
    let mut trx = Subscriber::<Page>::open_or_create(&names[3], spin()).unwrap();
    while page.u64_at(0).load(Ordering::Acquire) == 0 {
        std::hint::spin_loop();
    }
    let mut blocks = Vec::new();
    for block in 0..BLOCKS {
        let start = Instant::now();
        for j in 0..n {
            let mut l = ctx.loan().unwrap();
            l.as_mut().unwrap().seq = j;
            l.send();
            assert_eq!(crx.recv().unwrap().seq, j);
        }
        let chan = per_trip(start, n);
        let start = Instant::now();
        for j in 0..n {
            let mut l = ttx.loan().unwrap();
            l.as_mut().unwrap().seq = j;
            l.send();
            assert_eq!(trx.recv().unwrap().seq, j);
        }
        let topic = per_trip(start, n);
        if block > 0 {
            blocks.push(vec![chan, topic]);
        }
    }
    drop((ctx, crx, ttx, trx));
    reap(child);
    pin(&[0, 1]);
    summarise(&blocks)
}

/// What a throughput run measured.
struct Rate {
    /// Samples published per second.
    published: f64,
    /// Samples each subscriber read, and missed, summed over the subscribers.
    seen: u64,
    missed: u64,
}

/// The publisher (this process, CPU 0) streams `n` 8-byte samples to `subs` subscriber
/// processes (CPU 1), each of which checks the order; the rate is counted from the
/// first sample to the end of the publisher's loop (`DropOldest`), or to the last
/// subscriber's last sample (`Block`).
fn throughput(subs: usize, capacity: usize, n: u64, overflow: Overflow) -> Rate {
    let name = unique(&format!("thr{subs}"));
    let opts = Options::new()
        .capacity(capacity)
        .max_subscribers(subs)
        .overflow(overflow);
    let page = SharedPage::new(4096);
    let kids: Vec<_> = (0..subs)
        .map(|k| {
            let (name, opts, page) = (&name, &opts, &page);
            spawn(move || {
                pin(&[1]);
                let mut rx = Subscriber::<u64>::open_or_create(name, opts.clone()).unwrap();
                page.u64_at(1).fetch_add(1, Ordering::AcqRel);
                let (mut seen, mut last) = (0u64, None::<u64>);
                loop {
                    match rx.recv() {
                        Ok(v) => {
                            assert!(last.is_none_or(|l| *v > l));
                            last = Some(*v);
                            seen += 1;
                            if *v == n - 1 {
                                break;
                            }
                        }
                        Err(ipc::Error::Lagged(_)) => {}
                        Err(ipc::Error::Disconnected) => break,
                        Err(e) => panic!("{e:?}"),
                    }
                }
                page.u64_at(8 + 2 * k).store(seen, Ordering::Release);
                page.u64_at(9 + 2 * k).store(rx.missed(), Ordering::Release);
                page.u64_at(2).fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    pin(&[0]);
    let mut tx = Publisher::<u64>::open_or_create(&name, opts.clone()).unwrap();
    while page.u64_at(1).load(Ordering::Acquire) < subs as u64 {
        std::thread::yield_now();
    }
    let start = Instant::now();
    for i in 0..n {
        tx.send(i).unwrap();
    }
    let mut secs = start.elapsed().as_secs_f64();
    if overflow == Overflow::Block {
        while page.u64_at(2).load(Ordering::Acquire) < subs as u64 {
            std::hint::spin_loop();
        }
        secs = start.elapsed().as_secs_f64();
    }
    drop(tx);
    for kid in kids {
        reap(kid);
    }
    pin(&[0, 1]);
    let sum = |off: usize| {
        (0..subs)
            .map(|k| page.u64_at(off + 2 * k).load(Ordering::Acquire))
            .sum()
    };
    Rate {
        published: n as f64 / secs,
        seen: sum(8),
        missed: sum(9),
    }
}

/// Nanoseconds per `loan_slice` (lend `bytes` bytes, write the first 8, `send`), one
/// subscriber process reading every sample (`Block`), which checks its length.
fn loan_cost(bytes: usize, n: u64) -> f64 {
    let name = unique(&format!("loan{bytes}"));
    let len = bytes / 8;
    let opts = Options::new().capacity(8).max_subscribers(1).max_len(len);
    let page = SharedPage::new(4096);
    let child = spawn(|| {
        pin(&[1]);
        let mut rx = Subscriber::<[u64]>::open_or_create(&name, opts.clone()).unwrap();
        page.u64_at(0).store(1, Ordering::Release);
        for i in 0..n {
            let sample = rx.recv().unwrap();
            assert_eq!((sample[0], sample.len()), (i, len));
        }
    });
    pin(&[0]);
    let mut tx = Publisher::<[u64]>::open_or_create(&name, opts.clone()).unwrap();
    while page.u64_at(0).load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
    let start = Instant::now();
    for i in 0..n {
        let mut l = tx.loan_slice(len).unwrap();
        l.as_mut().unwrap()[0] = i;
        l.send();
    }
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    drop(tx);
    reap(child);
    pin(&[0, 1]);
    ns
}

fn main() {
    let scale: f64 = std::env::var("IPC_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let k = |n: u64| ((n as f64 * scale) as u64).max(10);
    let _ = ipc::shm::remove_stale();
    // `cargo bench --bench pubsub -- loan` runs only the sections whose name contains
    // "loan" (the sections: latency, throughput, loan).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |section: &str| filter.as_deref().is_none_or(|f| section.contains(f));
    println!("ipc::shm publish-subscribe: processes (fork), one run; ratios in the same run\n");
    if wants("latency") {
        latency_table(&k);
    }
    if wants("throughput") {
        throughput_table(k(2_000_000));
    }
    if wants("loan") {
        loan_table(&k);
    }
}

fn latency_table(k: &dyn Fn(u64) -> u64) {
    let l8 = latency_8b(k(5_000));
    println!(
        "one-way latency, 8 B, one subscriber, spinning ({} alternating blocks; best block, \
         median per-block ratio)",
        BLOCKS - 1
    );
    for (c, label) in ["bare atomic ping-pong", "MPSC channel", "topic"]
        .iter()
        .enumerate()
    {
        println!(
            "  {label:<24} {:>10} {:>8.2}x bare",
            fmt_ns(l8.best[c]),
            l8.ratio[c]
        );
    }
    println!(
        "  topic / channel: {:.2}x (median per-block ratio; best blocks {:.2}x)\n",
        l8.last_vs_previous,
        l8.best[2] / l8.best[1]
    );

    let l4 = latency_4k(k(2_000));
    println!("one-way latency, 4 KiB through loans (8 bytes written and read), one subscriber");
    println!("  {:<24} {:>10}", "MPSC channel", fmt_ns(l4.best[0]));
    println!(
        "  {:<24} {:>10} {:>8.2}x channel\n",
        "topic",
        fmt_ns(l4.best[1]),
        l4.last_vs_previous
    );
}

/// Rounds of the throughput table: each measures every subscriber count once, and the
/// ratios to one subscriber are taken within a round, then their median printed.
const ROUNDS: usize = 3;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn throughput_table(n: u64) {
    println!(
        "publisher throughput, 8 B, {n} samples, publisher on CPU 0, subscribers on CPU 1; \
         median of {ROUNDS} rounds, ratios within a round"
    );
    println!(
        "  {:<8} {:<12} {:>12} {:>10} {:>16} {:>14}",
        "ring", "subscribers", "Block", "÷ 1 sub", "DropOldest", "seen / missed"
    );
    for capacity in [1024, 4096] {
        let counts = [1usize, 2, 4];
        let mut block = vec![Vec::new(); counts.len()];
        let mut ratio = vec![Vec::new(); counts.len()];
        let mut drop = vec![Vec::new(); counts.len()];
        let mut drop_seen = vec![(0, 0); counts.len()];
        for _ in 0..ROUNDS {
            let mut one = 0.0;
            for (i, &subs) in counts.iter().enumerate() {
                let b = throughput(subs, capacity, n, Overflow::Block);
                assert_eq!(
                    b.seen,
                    n * subs as u64,
                    "Block loses nothing (missed {})",
                    b.missed
                );
                let d = throughput(subs, capacity, n, Overflow::DropOldest);
                assert_eq!(d.seen + d.missed, n * subs as u64, "seen + missed");
                if subs == 1 {
                    one = b.published;
                }
                block[i].push(b.published);
                ratio[i].push(b.published / one);
                drop[i].push(d.published);
                drop_seen[i] = (d.seen, d.missed);
            }
        }
        for (i, subs) in counts.iter().enumerate() {
            println!(
                "  {capacity:<8} {subs:<12} {:>12} {:>9.2}x {:>16} {:>7} / {}",
                fmt_rate(median(block[i].clone())),
                median(ratio[i].clone()),
                fmt_rate(median(drop[i].clone())),
                drop_seen[i].0,
                drop_seen[i].1
            );
        }
    }
    println!();
}

fn loan_table(k: &dyn Fn(u64) -> u64) {
    println!("loan_slice cost (lend, write 8 bytes, send), one subscriber reading");
    let small = loan_cost(4 << 10, k(200_000));
    for (label, ns) in [
        ("4 KiB", small),
        ("64 KiB", loan_cost(64 << 10, k(100_000))),
        ("1 MiB", loan_cost(1 << 20, k(20_000))),
        ("4 MiB", loan_cost(4 << 20, k(10_000))),
    ] {
        println!("  {label:<8} {:>10} {:>8.2}x 4 KiB", fmt_ns(ns), ns / small);
    }
}
