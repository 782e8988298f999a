//! The senders table of the shm bench: 8-byte copying sends from 1, 2, 4 and 16 sender
//! processes into one receiver, and one streaming sender beside another that holds the
//! channel open and never sends; the rate in all, the CPU time every process spent per
//! message, and how often the ring's bias changed hands.

use std::time::Duration;

use super::*;

/// One row of the senders table.
pub(crate) struct Senders {
    /// Messages per second received, from every sender together.
    pub(crate) per_sec: f64,
    /// CPU time of every process (senders and receiver) per message, in nanoseconds.
    pub(crate) cpu_ns: f64,
    /// Times a sender biased the ring to itself, and times another revoked it.
    pub(crate) taken: u64,
    pub(crate) revoked: u64,
}

/// CPU time this process has used so far, in nanoseconds.
fn cpu_now() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the call to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(r, 0, "process CPU clock");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// `active` sender processes stream `n` 8-byte messages each into one receiver (this
/// process), while `idle` more hold the channel open without sending until the last
/// message is in. Every message carries its sender and number; each sender's messages
/// must arrive in order. The senders start together, once every one has opened the
/// channel (process start and attach are not what this measures: staggered over the
/// run, they made a short run's rate a figure of how fast 16 processes start), and a
/// sender done sleeps until the receiver has every message (closing and exiting on the
/// senders' CPU while the others still send made sixteen senders 2-3% slower than two:
/// process exit is not what this measures either). CPU time is counted from the start
/// to each process's last message.
pub(crate) fn thr_senders(active: u64, idle: u64, n: u64) -> Senders {
    let name = unique(&format!("senders{active}-{idle}"));
    let opts = Options::new().capacity(1024);
    // Line 0: set (and woken) when the receiver has everything; line 1: senders ready;
    // lines 2..: each child's CPU nanoseconds; line 63: set (and woken) to start.
    let page = SharedPage::new(4096);
    const GO: usize = 63;
    let kids: Vec<_> = (0..active + idle)
        .map(|id| {
            let (name, opts, page) = (&name, &opts, &page);
            spawn(move || {
                pin(&[1]);
                let mut tx = Sender::<u64>::open_or_create(name, opts.clone()).unwrap();
                page.u64_at(1).fetch_add(1, Ordering::AcqRel);
                while page.u32_at(GO).load(Ordering::Acquire) == 0 {
                    futex_wait(page.u32_at(GO), 0);
                }
                let start = cpu_now();
                if id < active {
                    for i in 0..n {
                        tx.send(id << 40 | i).unwrap();
                    }
                }
                page.u64_at(2 + id as usize)
                    .store(cpu_now() - start, Ordering::Release);
                // Asleep on a futex until the receiver has every message: an idle sender
                // that polled would take the streaming ones' CPU every time it looked, and
                // one done that closed and exited would spend it on its exit.
                while page.u32_at(0).load(Ordering::Acquire) == 0 {
                    futex_wait(page.u32_at(0), 0);
                }
                drop(tx);
            })
        })
        .collect();
    pin(&[0]);
    let mut rx = Receiver::<u64>::open_or_create(&name, opts.clone()).unwrap();
    while page.u64_at(1).load(Ordering::Acquire) < active + idle {
        std::thread::sleep(Duration::from_micros(100));
    }
    let start_cpu = cpu_now();
    page.u32_at(GO).store(1, Ordering::Release);
    for _ in 0..active + idle {
        futex_wake(page.u32_at(GO));
    }
    let total = active * n;
    let warm = (2 * 1024).min(total / 10);
    let mut start = Instant::now();
    let mut next = vec![0u64; active as usize];
    for got in 0..total {
        if got == warm {
            start = Instant::now();
        }
        let v = *rx.recv().unwrap();
        let (id, i) = ((v >> 40) as usize, v & ((1 << 40) - 1));
        assert_eq!(i, next[id], "sender {id} out of order");
        next[id] += 1;
    }
    let per_sec = (total - warm) as f64 / start.elapsed().as_secs_f64();
    let mine = cpu_now() - start_cpu;
    page.u32_at(0).store(1, Ordering::Release);
    for _ in 0..active + idle {
        futex_wake(page.u32_at(0));
    }
    for kid in kids {
        reap(kid);
    }
    let theirs: u64 = (0..active + idle)
        .map(|id| page.u64_at(2 + id as usize).load(Ordering::Acquire))
        .sum();
    pin(&[0, 1]);
    let stats = rx.stats();
    Senders {
        per_sec,
        cpu_ns: (mine + theirs) as f64 / total as f64,
        taken: stats.bias_taken,
        revoked: stats.bias_revoked,
    }
}

/// Rounds of the senders table; each figure is the median of its rounds.
const SENDERS_ROUNDS: usize = 7;

/// The senders table: every configuration in each round, so that all of them see the
/// machine in the same state; rates are medians of the rounds, ratios medians of the
/// rounds' own ratios (against that round's lone sender).
pub(crate) fn senders_table(k: &dyn Fn(u64) -> u64) {
    let configs: [(u64, u64, &str); 5] = [
        (1, 0, "1 sender"),
        (1, 1, "1 sender + 1 idle"),
        (2, 0, "2 senders"),
        (4, 0, "4 senders"),
        (16, 0, "16 senders"),
    ];
    // 20 M messages: 0.1-0.2 s a run, so that a run is the steady state of its senders
    // taking turns on their CPU (a time slice is a few milliseconds), not its first slice.
    let total = k(20_000_000);
    let mut rounds: Vec<Vec<Senders>> = configs.iter().map(|_| Vec::new()).collect();
    for _ in 0..SENDERS_ROUNDS {
        for (c, &(active, idle, _)) in configs.iter().enumerate() {
            rounds[c].push(thr_senders(active, idle, (total / active).max(10)));
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "\n8 B copying send, N sender processes -> one receiver ({total} messages in all; \
         median of {SENDERS_ROUNDS} rounds, ratios: median of the rounds' own, against that \
         round's one sender)"
    );
    println!(
        "{:<20} {:>12} {:>8} {:>12} {:>8} {:>16}",
        "senders", "rate", "ratio", "CPU/msg", "ratio", "bias taken/revoked"
    );
    let one = &rounds[0];
    for (c, &(_, _, label)) in configs.iter().enumerate() {
        let runs = &rounds[c];
        let rate = median(runs.iter().map(|s| s.per_sec).collect());
        let cpu = median(runs.iter().map(|s| s.cpu_ns).collect());
        let rate_ratio = median(
            runs.iter()
                .zip(one)
                .map(|(s, o)| s.per_sec / o.per_sec)
                .collect(),
        );
        let cpu_ratio = median(
            runs.iter()
                .zip(one)
                .map(|(s, o)| s.cpu_ns / o.cpu_ns)
                .collect(),
        );
        let taken: u64 = runs.iter().map(|s| s.taken).sum();
        let revoked: u64 = runs.iter().map(|s| s.revoked).sum();
        println!(
            "{:<20} {:>12} {:>7.2}x {:>9.1} ns {:>7.2}x {:>16}",
            label,
            fmt_rate(rate),
            rate_ratio,
            cpu,
            cpu_ratio,
            format!("{taken}/{revoked}")
        );
    }
}
