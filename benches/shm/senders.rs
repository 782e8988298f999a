//! The senders table of the shm bench: 8-byte copying sends from 1, 2, 4 and 16 sender
//! processes into one receiver, and one streaming sender beside another that holds the
//! channel open and never sends; the rate in all, the CPU time every process spent per
//! message, and how often the ring's bias changed hands. Beside it, in the same rounds
//! and placed the same way, the two designs a many-sender ring could have instead,
//! written by hand: every claim one `fetch_add` ([`thr_fetch_add`]), and one lane per
//! sender ([`thr_lanes`]).

use std::sync::atomic::AtomicU64;
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
    /// The receiver's waits of more than [`STALL`] (with `IPC_BENCH_STALLS` set, else
    /// zero): how many, and their time in all.
    pub(crate) stalls: Stalls,
}

/// The shortest wait of the receiver that [`Stalls`] counts: a few times the ring's
/// worth of messages (1,024 take the receiver 8-30 µs).
const STALL: Duration = Duration::from_micros(50);

/// The receiver's long waits in one run of the senders table.
#[derive(Clone, Copy, Default)]
pub(crate) struct Stalls {
    pub(crate) count: u64,
    pub(crate) total: Duration,
    /// The timed part of the run (every message but the warm-up).
    pub(crate) of: Duration,
}

/// True if `IPC_BENCH_STALLS` asks the senders table to log the receiver's long waits.
/// Off by default: the log reads the clock every 16 messages, which costs the receiver
/// a few percent of its rate.
fn log_stalls() -> bool {
    std::env::var_os("IPC_BENCH_STALLS").is_some()
}

/// Receives `total` messages of `active` senders, checking each sender's order; returns
/// the rate after the first `warm` messages and, if `LOG`, the waits longer than
/// [`STALL`] among them, timed every 16 messages.
fn receive_all<const LOG: bool>(
    rx: &mut Receiver<u64>,
    active: u64,
    total: u64,
    warm: u64,
) -> (f64, Stalls) {
    let mut start = Instant::now();
    let mut next = vec![0u64; active as usize];
    let mut stalls = Stalls::default();
    let mut last = start;
    for got in 0..total {
        if got == warm {
            start = Instant::now();
            last = start;
        }
        let v = *rx.recv().unwrap();
        let (id, i) = ((v >> 40) as usize, v & ((1 << 40) - 1));
        assert_eq!(i, next[id], "sender {id} out of order");
        next[id] += 1;
        if LOG && got > warm && got % 16 == 0 {
            let now = Instant::now();
            let wait = now - last;
            if wait > STALL {
                stalls.count += 1;
                stalls.total += wait;
            }
            last = now;
        }
    }
    stalls.of = start.elapsed();
    let per_sec = (total - warm) as f64 / stalls.of.as_secs_f64();
    (per_sec, stalls)
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

/// Where the processes of one run of the senders table meet: senders report that they are
/// ready and sleep until the receiver starts them all at once; those done (and the idle
/// ones) sleep until it has every message; each reports its CPU time.
struct Meeting(SharedPage);

impl Meeting {
    /// Line 0: set (and woken) when the receiver has everything; line 1: senders ready;
    /// lines 2..: each sender's CPU nanoseconds; line 63: set (and woken) to start.
    const GO: usize = 63;

    fn new() -> Self {
        Meeting(SharedPage::new(4096))
    }

    /// A sender: counts itself ready and sleeps until the start.
    fn ready(&self) {
        let page = &self.0;
        page.u64_at(1).fetch_add(1, Ordering::AcqRel);
        while page.u32_at(Self::GO).load(Ordering::Acquire) == 0 {
            futex_wait(page.u32_at(Self::GO), 0);
        }
    }

    /// A sender done: reports its CPU time, then sleeps until the receiver has every
    /// message (an idle sender that polled would take the streaming ones' CPU every time
    /// it looked, and one done that closed and exited would spend it on its exit).
    fn done(&self, id: u64, cpu_ns: u64) {
        let page = &self.0;
        page.u64_at(2 + id as usize)
            .store(cpu_ns, Ordering::Release);
        while page.u32_at(0).load(Ordering::Acquire) == 0 {
            futex_wait(page.u32_at(0), 0);
        }
    }

    /// The receiver: waits until all `senders` are ready.
    fn all_ready(&self, senders: u64) {
        while self.0.u64_at(1).load(Ordering::Acquire) < senders {
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// The receiver: starts the `senders`, all ready.
    fn start(&self, senders: u64) {
        let page = &self.0;
        page.u32_at(Self::GO).store(1, Ordering::Release);
        for _ in 0..senders {
            futex_wake(page.u32_at(Self::GO));
        }
    }

    /// The receiver, with every message: lets the `senders` go, reaps them, and returns
    /// the CPU time they reported in all.
    fn finish(&self, senders: u64, kids: Vec<Pid>) -> u64 {
        let page = &self.0;
        page.u32_at(0).store(1, Ordering::Release);
        for _ in 0..senders {
            futex_wake(page.u32_at(0));
        }
        for kid in kids {
            reap(kid);
        }
        (0..senders)
            .map(|id| page.u64_at(2 + id as usize).load(Ordering::Acquire))
            .sum()
    }
}

/// Messages the receiver takes before it starts the clock: the senders' first turns.
fn warm_up(total: u64) -> u64 {
    (2 * 1024).min(total / 10)
}

/// Forks the `active + idle` senders of a hand-written design, each pinned to CPU 1: the
/// first `active` run `send(id)` from the start; every one then sleeps until the receiver
/// has everything. The caller, the receiver, then calls [`receive_from`].
fn hand_written_senders(meet: &Meeting, active: u64, idle: u64, send: impl Fn(u64)) -> Vec<Pid> {
    (0..active + idle)
        .map(|id| {
            let send = &send;
            spawn(move || {
                pin(&[1]);
                meet.ready();
                if id < active {
                    send(id);
                }
                meet.done(id, 0);
            })
        })
        .collect()
}

/// The receiver of a hand-written design, pinned to CPU 0: starts the `senders` once all
/// are ready.
fn receive_from(meet: &Meeting, senders: u64) {
    pin(&[0]);
    meet.all_ready(senders);
    meet.start(senders);
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
    let meet = Meeting::new();
    let kids: Vec<_> = (0..active + idle)
        .map(|id| {
            let (name, opts, meet) = (&name, &opts, &meet);
            spawn(move || {
                pin(&[1]);
                let mut tx = Sender::<u64>::open_or_create(name, opts.clone()).unwrap();
                meet.ready();
                let start = cpu_now();
                if id < active {
                    for i in 0..n {
                        tx.send(id << 40 | i).unwrap();
                    }
                }
                meet.done(id, cpu_now() - start);
                drop(tx);
            })
        })
        .collect();
    pin(&[0]);
    let mut rx = Receiver::<u64>::open_or_create(&name, opts.clone()).unwrap();
    meet.all_ready(active + idle);
    let start_cpu = cpu_now();
    meet.start(active + idle);
    let total = active * n;
    let warm = warm_up(total);
    let (per_sec, stalls) = if log_stalls() {
        receive_all::<true>(&mut rx, active, total, warm)
    } else {
        receive_all::<false>(&mut rx, active, total, warm)
    };
    let mine = cpu_now() - start_cpu;
    let theirs = meet.finish(active + idle, kids);
    pin(&[0, 1]);
    let stats = rx.stats();
    Senders {
        per_sec,
        cpu_ns: (mine + theirs) as f64 / total as f64,
        taken: stats.bias_taken,
        revoked: stats.bias_revoked,
        stalls,
    }
}

/// Slots of the hand-written rings of [`thr_fetch_add`] and of each lane of
/// [`thr_lanes`]: the channel's capacity in the senders table.
const LANE_SLOTS: usize = 1024;

/// Spins, then yields every 256 spins, until `ready()`: how the hand-written senders
/// wait for room.
#[inline(always)]
fn spin_until(mut ready: impl FnMut() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        spins = spins.wrapping_add(1);
        if spins % 256 == 0 {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The hand-written alternative with a claim that cannot fail, as Aeron's log claims:
/// every sender takes the next position with one `fetch_add` of the shared `tail`, waits
/// until that position's slot is free (its `seq` says the receiver released the lap
/// before), writes the message and publishes it (`seq = position + 1`); the receiver reads
/// the slots in position order and frees each (`seq = position + capacity`). Slots of
/// 16 bytes, a `seq` and the message, as the channel's. No bias to revoke and no CAS to
/// retry, but a claim is taken whether or not the ring has room: a sender that claimed a
/// position a lap ahead and was then stopped by the scheduler holds the receiver when it
/// gets there. No liveness, parking or types. Placed and started as [`thr_senders`];
/// returns messages per second.
fn thr_fetch_add(active: u64, idle: u64, n: u64) -> f64 {
    let senders = active + idle;
    let ring = SharedPage::new(128 + LANE_SLOTS * 16);
    let tail = ring.u64_at(0);
    // Slot `pos`: its `seq`, then its message.
    let word = |pos: u64, which: usize| {
        let at = 128 + (pos as usize % LANE_SLOTS) * 16 + which * 8;
        // SAFETY: the slot is one of `LANE_SLOTS`, so the word lies inside the mapping,
        // 8-aligned; it is only ever accessed as an atomic.
        unsafe { &*ring.ptr.add(at).cast::<AtomicU64>() }
    };
    for pos in 0..LANE_SLOTS as u64 {
        word(pos, 0).store(pos, Ordering::Relaxed);
    }
    let meet = Meeting::new();
    let kids = hand_written_senders(&meet, active, idle, |id| {
        for i in 0..n {
            let pos = tail.fetch_add(1, Ordering::AcqRel);
            spin_until(|| word(pos, 0).load(Ordering::Acquire) == pos);
            word(pos, 1).store(id << 40 | i, Ordering::Relaxed);
            word(pos, 0).store(pos + 1, Ordering::Release);
        }
    });
    receive_from(&meet, senders);
    let total = active * n;
    let warm = warm_up(total);
    let mut start = Instant::now();
    let mut next = vec![0u64; active as usize];
    for pos in 0..total {
        if pos == warm {
            start = Instant::now();
        }
        while word(pos, 0).load(Ordering::Acquire) != pos + 1 {
            std::hint::spin_loop();
        }
        let v = word(pos, 1).load(Ordering::Relaxed);
        word(pos, 0).store(pos + LANE_SLOTS as u64, Ordering::Release);
        let (id, i) = ((v >> 40) as usize, v & ((1 << 40) - 1));
        assert_eq!(i, next[id], "sender {id} out of order");
        next[id] += 1;
    }
    let per_sec = (total - warm) as f64 / start.elapsed().as_secs_f64();
    meet.finish(senders, kids);
    pin(&[0, 1]);
    per_sec
}

/// The hand-written alternative to one ring shared by `active` senders: one SPSC ring
/// (lane) per sender in a shared mapping, which the receiver visits in turn, taking
/// everything published in a lane and storing its `head` once. Each lane is 8-byte slots
/// and a `tail` and a `head` on lines of their own, each side keeping a copy of the
/// other's index; a sender that finds its lane full spins, then yields. What it gives up:
/// the order across senders (each sender's messages stay in order), and memory (a lane
/// per sender). What it gains: a sender stopped by the scheduler holds up only its own
/// lane, where in the shared ring the receiver waits at the slot it claimed. No liveness,
/// parking or types. Placed and started as [`thr_senders`]; returns messages per second.
fn thr_lanes(active: u64, idle: u64, n: u64) -> f64 {
    const LANE_BYTES: usize = 128 + LANE_SLOTS * 8;
    let senders = active + idle;
    let lanes = SharedPage::new(senders as usize * LANE_BYTES);
    // Lane `id`: line 0 its `tail`, line 1 its `head`, then its slots.
    let index = |id: u64, line: usize| lanes.u64_at(id as usize * LANE_BYTES / 64 + line);
    let word = |id: u64, pos: u64| {
        let at = id as usize * LANE_BYTES + 128 + (pos as usize % LANE_SLOTS) * 8;
        // SAFETY: `id` is one of the `senders` lanes and the slot one of its
        // `LANE_SLOTS`, so the word lies inside the mapping, 8-aligned; it is only ever
        // accessed as an atomic.
        unsafe { &*lanes.ptr.add(at).cast::<AtomicU64>() }
    };
    let meet = Meeting::new();
    let kids = hand_written_senders(&meet, active, idle, |id| {
        let (tail, head) = (index(id, 0), index(id, 1));
        let mut seen_head = 0;
        for i in 0..n {
            if i - seen_head >= LANE_SLOTS as u64 {
                spin_until(|| {
                    seen_head = head.load(Ordering::Acquire);
                    i - seen_head < LANE_SLOTS as u64
                });
            }
            word(id, i).store(id << 40 | i, Ordering::Relaxed);
            tail.store(i + 1, Ordering::Release);
        }
    });
    receive_from(&meet, senders);
    let total = active * n;
    let warm = warm_up(total);
    let mut start = Instant::now();
    let mut heads = vec![0u64; active as usize];
    // Timed from the first visit that takes the count past `warm`.
    let (mut got, mut from) = (0, 0);
    while got < total {
        for id in 0..active {
            let h = heads[id as usize];
            let t = index(id, 0).load(Ordering::Acquire);
            for pos in h..t {
                let v = word(id, pos).load(Ordering::Relaxed);
                assert_eq!(v, id << 40 | pos, "lane {id}: message {pos} came as {v:#x}");
            }
            if t > h {
                index(id, 1).store(t, Ordering::Release);
                heads[id as usize] = t;
                got += t - h;
                if from == 0 && got >= warm {
                    (start, from) = (Instant::now(), got);
                }
            }
        }
    }
    let per_sec = (total - from) as f64 / start.elapsed().as_secs_f64();
    meet.finish(senders, kids);
    pin(&[0, 1]);
    per_sec
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
    // The hand-written candidates' rates: [fetch_add ring, lanes] per configuration.
    let mut hand: Vec<Vec<[f64; 2]>> = configs.iter().map(|_| Vec::new()).collect();
    for _ in 0..SENDERS_ROUNDS {
        for (c, &(active, idle, _)) in configs.iter().enumerate() {
            let n = (total / active).max(10);
            rounds[c].push(thr_senders(active, idle, n));
            hand[c].push([thr_fetch_add(active, idle, n), thr_lanes(active, idle, n)]);
        }
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // The median over the rounds of `figure` (of configuration and round), and of the
    // rounds' own ratios of configuration `c`'s figure to `base`'s.
    let med = |c: usize, figure: &dyn Fn(usize, usize) -> f64| {
        median((0..SENDERS_ROUNDS).map(|r| figure(c, r)).collect())
    };
    let ratio = |c: usize, base: usize, figure: &dyn Fn(usize, usize) -> f64| {
        median(
            (0..SENDERS_ROUNDS)
                .map(|r| figure(c, r) / figure(base, r))
                .collect(),
        )
    };
    let rate = |c: usize, r: usize| rounds[c][r].per_sec;
    let cpu = |c: usize, r: usize| rounds[c][r].cpu_ns;
    let fetch_add = |c: usize, r: usize| hand[c][r][0];
    let lanes = |c: usize, r: usize| hand[c][r][1];
    println!(
        "\n8 B copying send, N sender processes -> one receiver ({total} messages in all; \
         median of {SENDERS_ROUNDS} rounds, ratios: median of the rounds' own, against that \
         round's one sender)\n\
         fetch_add: hand-written ring of 16-byte slots, every claim one fetch_add of the \
         tail, taken before there is room; lanes: hand-written, one SPSC ring per sender, \
         the receiver visiting each in turn (no order across senders); {LANE_SLOTS} slots \
         a ring or lane, no liveness, parking or types"
    );
    println!(
        "{:<18} {:>11} {:>6} {:>8} {:>6} {:>13} {:>11} {:>6} {:>11} {:>6}",
        "senders",
        "channel",
        "ratio",
        "CPU/msg",
        "ratio",
        "bias tak/rev",
        "fetch_add",
        "ratio",
        "lanes",
        "ratio"
    );
    for (c, &(_, _, label)) in configs.iter().enumerate() {
        let runs = &rounds[c];
        let taken: u64 = runs.iter().map(|s| s.taken).sum();
        let revoked: u64 = runs.iter().map(|s| s.revoked).sum();
        println!(
            "{:<18} {:>11} {:>5.2}x {:>5.1} ns {:>5.2}x {:>13} {:>11} {:>5.2}x {:>11} {:>5.2}x",
            label,
            fmt_rate(med(c, &rate)),
            ratio(c, 0, &rate),
            med(c, &cpu),
            ratio(c, 0, &cpu),
            format!("{taken}/{revoked}"),
            fmt_rate(med(c, &fetch_add)),
            ratio(c, 0, &fetch_add),
            fmt_rate(med(c, &lanes)),
            ratio(c, 0, &lanes),
        );
    }
    let (two, sixteen) = (2, 4);
    println!(
        "16 senders / 2 senders (median of the rounds' own): channel {:.3}, fetch_add {:.3}, \
         lanes {:.3}",
        ratio(sixteen, two, &rate),
        ratio(sixteen, two, &fetch_add),
        ratio(sixteen, two, &lanes)
    );
    if log_stalls() {
        let count = |c: usize, r: usize| rounds[c][r].stalls.count as f64;
        let ms = |c: usize, r: usize| rounds[c][r].stalls.total.as_secs_f64() * 1e3;
        let share = |c: usize, r: usize| {
            let stalls = &rounds[c][r].stalls;
            stalls.total.as_secs_f64() / stalls.of.as_secs_f64() * 100.0
        };
        println!(
            "channel receiver's waits over {} us (timed every 16 messages; median of the rounds)",
            STALL.as_micros()
        );
        println!(
            "{:<18} {:>6} {:>9} {:>8}",
            "senders", "waits", "in all", "of run"
        );
        for (c, &(_, _, label)) in configs.iter().enumerate() {
            println!(
                "{:<18} {:>6} {:>6.2} ms {:>7.2}%",
                label,
                med(c, &count),
                med(c, &ms),
                med(c, &share)
            );
        }
    }
}
