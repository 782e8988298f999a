//! `ipc::shm` publish-subscribe ([`Publisher`] / [`Subscriber`]) beside iceoryx2's
//! publish-subscribe, between processes made with `fork(2)`, in one run:
//!
//! - one-way latency (ping-pong round trip / 2) of an 8-byte sample (`u64`): process A
//!   publishes on topic "ping", process B subscribes to it and publishes each sample back
//!   on "pong". Both sides busy-poll (ours: `WaitStrategy::Spin`; iceoryx2: `receive()` in a
//!   loop until it returns a sample) and publish through loans (ours: `loan()`, `write`,
//!   `send`; iceoryx2: `loan_uninit()`, `write_payload`, `send`). The two processes are
//!   pinned to CPUs 0 and 1 when two are online;
//! - the same with a 4 KiB sample: both sides loan a sample and write only its first 8
//!   bytes (a sequence number), and the receiver reads only those 8 bytes;
//! - publisher throughput of 8-byte samples to 1, 2 and 4 subscriber processes, every
//!   subscriber receiving every sample and checking that each is the next number: ours
//!   under `Overflow::Block` (capacity 256), iceoryx2 with safe overflow off, a subscriber
//!   buffer of 256 and `BackpressureStrategy::RetryUntilDelivered`, so neither drops. The
//!   subscribers poll and yield the CPU when they find nothing (ours: `try_recv`;
//!   iceoryx2: `receive`); each publisher waits for room in its own way. The publisher is
//!   pinned to CPU 0, the subscribers to CPU 1, when two are online. The rate is samples
//!   per second delivered to all subscribers (from the first send to the last
//!   subscriber's last receive).
//!
//! The VM's speed drifts from minute to minute, so the two systems alternate: the latency
//! rows alternate blocks of round trips inside one pair of processes (each block of ours
//! followed by one of iceoryx2's), the throughput rows alternate rounds (which system goes
//! first changes every round). Each figure is the median of the blocks or rounds, and each
//! ratio the median of the per-block or per-round ratios.
//!
//! `cargo bench --manifest-path benches/vs-iceoryx2/Cargo.toml --bench pubsub`;
//! `VS_ICEORYX2_SCALE=0.1` scales the counts for a quick look.
//!
//! Every name is unique to the run (it holds the process id): our topics are removed when
//! their last end drops; iceoryx2's files carry a prefix of the run's own (its config's
//! `global.prefix`), and whatever of them is left under `/dev/shm` and `/tmp/iceoryx2` at
//! the end is removed and counted.

use std::fmt::Debug;
use std::fs::File;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use iceoryx2::config::Config;
use iceoryx2::node::{Node, NodeBuilder};
use iceoryx2::port::backpressure_strategy::BackpressureStrategy;
use iceoryx2::prelude::{
    set_log_level, FileName, LogLevel, PortFactory as _, SemanticString as _, ServiceName,
    SignalHandlingMode, ZeroCopySend,
};
use iceoryx2::service::ipc::Service as Iox;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;
use ipc::shm::{Options, Overflow, Publisher, Subscriber};
use ipc::sync::WaitStrategy;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

/// The iceoryx2 release measured (`Cargo.toml` pins it exactly).
const ICEORYX2: &str = "0.10.0";

type IoxPublisher<T> = iceoryx2::port::publisher::Publisher<Iox, T, ()>;
type IoxSubscriber<T> = iceoryx2::port::subscriber::Subscriber<Iox, T, ()>;
type IoxService<T> = PortFactory<Iox, T, ()>;

// ---------------------------------------------------------------- processes

fn spawn(f: impl FnOnce()) -> Pid {
    // SAFETY: whenever the benchmark forks, its only other thread, if any, is `ipc::shm`'s
    // death notices' thread (started at a first park), asleep in `poll` and holding no
    // lock; iceoryx2 starts no thread. So the child may run arbitrary code. The child
    // never returns into the parent's stack frames: it leaves with `_exit`, running no
    // destructors of objects it inherited.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            // SAFETY: `_exit` ends the process at once; nothing inherited is dropped twice.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => child,
    }
}

fn reap(pid: Pid) {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, 0) => {}
        other => panic!("child failed: {other:?}"),
    }
}

fn online_cpus() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .map_or(1, |n| n.max(1) as usize)
}

/// Runs this process on `cpu` only, if that CPU is online.
fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if online_cpus() > cpu && set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &set);
    }
}

/// A pipe to say "ready" and "done" across processes, one byte at a time.
struct Signal {
    r: File,
    w: File,
}

impl Signal {
    fn new() -> Signal {
        let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
        Signal {
            r: r.into(),
            w: w.into(),
        }
    }
    fn post(&self) {
        (&self.w).write_all(&[1]).expect("signal");
    }
    /// Waits for `n` posts.
    fn wait(&self, n: usize) {
        let mut buf = vec![0u8; n];
        (&self.r).read_exact(&mut buf).expect("signal");
    }
}

// ---------------------------------------------------------------- names

/// What names this run's topics and services: unique to the run.
#[derive(Clone)]
struct Names {
    run: String,
    /// iceoryx2's prefix for every file it makes for this run.
    iox_prefix: String,
}

impl Names {
    fn new() -> Names {
        let pid = std::process::id();
        Names {
            run: format!("vs-iox-{pid}"),
            iox_prefix: format!("vsiox{pid}_"),
        }
    }
    fn ours(&self, tag: &str) -> String {
        format!("{}-{tag}", self.run)
    }
    fn iox(&self, tag: &str) -> ServiceName {
        ServiceName::new(&format!("{}/{tag}", self.run)).expect("service name")
    }
    fn node(&self) -> Node<Iox> {
        let mut config = Config::default();
        config.global.prefix = FileName::new(self.iox_prefix.as_bytes()).expect("prefix");
        NodeBuilder::new()
            .config(&config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<Iox>()
            .expect("iceoryx2 node")
    }
}

// ---------------------------------------------------------------- payloads

/// A 4 KiB sample for our topics: a sequence number, then bytes nobody writes.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
struct Page {
    seq: u64,
    rest: [u8; 4088],
}

/// The same 4 KiB for iceoryx2: the bytes behind the sequence number may stay
/// uninitialised, so a loan written in its first 8 bytes only is a whole sample.
#[derive(Debug, ZeroCopySend)]
#[repr(C)]
struct IoxPage {
    seq: u64,
    rest: [MaybeUninit<u8>; 4088],
}

const _: () = assert!(size_of::<Page>() == 4096 && size_of::<IoxPage>() == 4096);

/// A sample size under test: how each system loans, writes and reads it.
trait Payload {
    type Ours: ipc::Message;
    type Iox: Debug + ZeroCopySend + 'static;
    /// Publishes `seq` through a loan.
    fn send_ours(tx: &mut Publisher<Self::Ours>, seq: u64);
    fn seq_ours(v: &Self::Ours) -> u64;
    fn send_iox(tx: &IoxPublisher<Self::Iox>, seq: u64);
    fn seq_iox(v: &Self::Iox) -> u64;
}

/// 8 bytes, written whole.
struct Word;

impl Payload for Word {
    type Ours = u64;
    type Iox = u64;
    #[inline]
    fn send_ours(tx: &mut Publisher<u64>, seq: u64) {
        let mut loan = tx.loan().expect("loan");
        loan.write(seq);
        loan.send();
    }
    #[inline]
    fn seq_ours(v: &u64) -> u64 {
        *v
    }
    #[inline]
    fn send_iox(tx: &IoxPublisher<u64>, seq: u64) {
        let loan = tx.loan_uninit().expect("loan");
        loan.write_payload(seq).send().expect("send");
    }
    #[inline]
    fn seq_iox(v: &u64) -> u64 {
        *v
    }
}

/// 4 KiB, of which the first 8 bytes are written and read.
struct Page4K;

impl Payload for Page4K {
    type Ours = Page;
    type Iox = IoxPage;
    #[inline]
    fn send_ours(tx: &mut Publisher<Page>, seq: u64) {
        let mut loan = tx.loan().expect("loan");
        loan.as_mut().expect("every bit pattern is a Page").seq = seq;
        loan.send();
    }
    #[inline]
    fn seq_ours(v: &Page) -> u64 {
        v.seq
    }
    #[inline]
    fn send_iox(tx: &IoxPublisher<IoxPage>, seq: u64) {
        let mut loan = tx.loan_uninit().expect("loan");
        let page = loan.payload_mut().as_mut_ptr();
        // SAFETY: `page` points to the loaned chunk, valid and aligned for an `IoxPage`;
        // the write goes through a raw pointer to the field, making no reference to
        // uninitialised memory.
        unsafe { std::ptr::addr_of_mut!((*page).seq).write(seq) };
        // SAFETY: `seq` is written, and `rest` is `MaybeUninit`: the page is initialised.
        unsafe { loan.assume_init() }.send().expect("send");
    }
    #[inline]
    fn seq_iox(v: &IoxPage) -> u64 {
        v.seq
    }
}

// ---------------------------------------------------------------- latency

/// One side's ends of a ping-pong: out on `tx`, in on `rx`.
struct OursPair<P: Payload> {
    tx: Publisher<P::Ours>,
    rx: Subscriber<P::Ours>,
}

impl<P: Payload> OursPair<P> {
    fn new(names: &Names, out: &str, inn: &str, tag: &str) -> Self {
        let opts = Options::new().wait(WaitStrategy::Spin);
        let out = names.ours(&format!("{out}-{tag}"));
        let inn = names.ours(&format!("{inn}-{tag}"));
        OursPair {
            tx: Publisher::open_or_create(&out, opts.clone()).expect("publisher"),
            rx: Subscriber::open_or_create(&inn, opts).expect("subscriber"),
        }
    }
    #[inline]
    fn send(&mut self, seq: u64) {
        P::send_ours(&mut self.tx, seq);
    }
    #[inline]
    fn recv(&mut self) -> u64 {
        P::seq_ours(&self.rx.recv().expect("recv"))
    }
}

struct IoxPair<P: Payload> {
    // Ports first: they drop before the services and the node.
    tx: IoxPublisher<P::Iox>,
    rx: IoxSubscriber<P::Iox>,
    _out: IoxService<P::Iox>,
    _inn: IoxService<P::Iox>,
    _node: Node<Iox>,
}

impl<P: Payload> IoxPair<P> {
    fn new(names: &Names, out: &str, inn: &str, tag: &str) -> Self {
        let node = names.node();
        let service = |dir: &str| {
            node.service_builder(&names.iox(&format!("{dir}-{tag}")))
                .publish_subscribe::<P::Iox>()
                .open_or_create()
                .expect("iceoryx2 service")
        };
        let (out, inn) = (service(out), service(inn));
        IoxPair {
            tx: out
                .publisher_builder()
                .create()
                .expect("iceoryx2 publisher"),
            rx: inn
                .subscriber_builder()
                .create()
                .expect("iceoryx2 subscriber"),
            _out: out,
            _inn: inn,
            _node: node,
        }
    }
    #[inline]
    fn send(&mut self, seq: u64) {
        P::send_iox(&self.tx, seq);
    }
    #[inline]
    fn recv(&mut self) -> u64 {
        loop {
            if let Some(s) = self.rx.receive().expect("receive") {
                return P::seq_iox(&s);
            }
            std::hint::spin_loop();
        }
    }
}

/// Our median beside iceoryx2's (one-way latency in ns, or samples per second), and the
/// median of the per-block or per-round ratios (ours / iceoryx2).
struct Versus {
    ours: f64,
    iox: f64,
    ratio: f64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Blocks of the paired latency measurement (one more, untimed, warms both paths up).
const BLOCKS: usize = 21;

/// `blocks` pairs of blocks of `n` round trips, ours then iceoryx2's, between this process
/// (pinned to CPU 0) and one child (CPU 1).
fn latency<P: Payload>(names: &Names, tag: &str, n: u64, blocks: usize) -> Versus {
    let (child_ready, parent_ready) = (Signal::new(), Signal::new());
    let child = spawn(|| {
        pin(1);
        let mut ours = OursPair::<P>::new(names, "pong", "ping", tag);
        let mut iox = IoxPair::<P>::new(names, "pong", "ping", tag);
        child_ready.post();
        parent_ready.wait(1);
        for _ in 0..=blocks {
            for _ in 0..n {
                let v = ours.recv();
                ours.send(v);
            }
            for _ in 0..n {
                let v = iox.recv();
                iox.send(v);
            }
        }
        // Stay until the parent has received the last pong.
        parent_ready.wait(1);
    });
    pin(0);
    let mut ours = OursPair::<P>::new(names, "ping", "pong", tag);
    let mut iox = IoxPair::<P>::new(names, "ping", "pong", tag);
    // Both processes' subscribers exist now: every publisher connects at its first send.
    parent_ready.post();
    child_ready.wait(1);
    let (mut t_ours, mut t_iox, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let mut seq = 0u64;
    for block in 0..=blocks {
        let start = Instant::now();
        for _ in 0..n {
            seq += 1;
            ours.send(seq);
            assert_eq!(ours.recv(), seq);
        }
        let a = per_trip(start, n);
        let start = Instant::now();
        for _ in 0..n {
            seq += 1;
            iox.send(seq);
            assert_eq!(iox.recv(), seq);
        }
        let b = per_trip(start, n);
        if block > 0 {
            t_ours.push(a);
            t_iox.push(b);
            ratios.push(a / b);
        }
    }
    parent_ready.post();
    reap(child);
    drop((ours, iox));
    Versus {
        ours: median(&mut t_ours),
        iox: median(&mut t_iox),
        ratio: median(&mut ratios),
    }
}

/// Nanoseconds per one-way trip.
fn per_trip(start: Instant, round_trips: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / (2 * round_trips) as f64
}

// ---------------------------------------------------------------- throughput

/// Samples in flight per subscriber: our topic's capacity, iceoryx2's subscriber buffer.
const DEPTH: usize = 256;

/// Samples per second that `subs` subscriber processes all received, from the first send
/// to the last subscriber's last receive: ours.
fn thr_ours(names: &Names, subs: usize, n: u64) -> f64 {
    let name = names.ours(&format!("thr{subs}"));
    let (ready, done) = (Signal::new(), Signal::new());
    let kids: Vec<Pid> = (0..subs)
        .map(|_| {
            spawn(|| {
                pin(1);
                let opts = Options::new().open_timeout(Duration::from_secs(10));
                let mut rx = Subscriber::<u64>::open_with(&name, opts).expect("subscriber");
                ready.post();
                let mut want = 0;
                while want < n {
                    match rx.try_recv() {
                        Ok(v) => {
                            assert_eq!(*v, want);
                            want += 1;
                        }
                        Err(ipc::Error::Empty) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
                done.post();
            })
        })
        .collect();
    pin(0);
    let opts = Options::new()
        .capacity(DEPTH)
        .max_subscribers(8)
        .overflow(Overflow::Block);
    let mut tx = Publisher::<u64>::create(&name, opts).expect("publisher");
    ready.wait(subs);
    let start = Instant::now();
    for i in 0..n {
        Word::send_ours(&mut tx, i);
    }
    done.wait(subs);
    let rate = n as f64 / start.elapsed().as_secs_f64();
    kids.into_iter().for_each(reap);
    rate
}

/// As [`thr_ours`], for iceoryx2.
fn thr_iox(names: &Names, subs: usize, n: u64) -> f64 {
    let service_name = names.iox(&format!("thr{subs}"));
    let service = |node: &Node<Iox>| {
        node.service_builder(&service_name)
            .publish_subscribe::<u64>()
            .enable_safe_overflow(false)
            .subscriber_max_buffer_size(DEPTH)
            .max_subscribers(8)
            .history_size(0)
    };
    let (created, ready, done) = (Signal::new(), Signal::new(), Signal::new());
    let kids: Vec<Pid> = (0..subs)
        .map(|_| {
            spawn(|| {
                pin(1);
                let node = names.node();
                created.wait(1);
                let service = service(&node).open().expect("iceoryx2 service");
                let rx = service
                    .subscriber_builder()
                    .buffer_size(DEPTH)
                    .create()
                    .expect("iceoryx2 subscriber");
                ready.post();
                let mut want = 0;
                while want < n {
                    match rx.receive().expect("receive") {
                        Some(v) => {
                            assert_eq!(*v, want);
                            want += 1;
                        }
                        None => std::thread::yield_now(),
                    }
                }
                done.post();
            })
        })
        .collect();
    pin(0);
    let node = names.node();
    let service = service(&node).create().expect("iceoryx2 service");
    let tx = service
        .publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .expect("iceoryx2 publisher");
    for _ in 0..subs {
        created.post();
    }
    ready.wait(subs);
    assert_eq!(service.dynamic_config().number_of_subscribers(), subs);
    let start = Instant::now();
    for i in 0..n {
        Word::send_iox(&tx, i);
    }
    done.wait(subs);
    let rate = n as f64 / start.elapsed().as_secs_f64();
    kids.into_iter().for_each(reap);
    rate
}

/// Throughput rounds; each runs both systems at every subscriber count.
const ROUNDS: usize = 5;

/// The subscriber counts of the throughput rows.
const SUBS: [usize; 3] = [1, 2, 4];

/// Per subscriber count: the medians of each system's rate and of the per-round ratios;
/// and the medians of each system's per-round ratio of 4 subscribers' rate to 1's.
struct Throughput {
    rows: Vec<(usize, Versus)>,
    scaling: (f64, f64),
}

fn throughput(names: &Names, n: u64) -> Throughput {
    let mut runs: Vec<Vec<(f64, f64)>> = vec![Vec::new(); SUBS.len()];
    for round in 0..ROUNDS {
        for (i, &subs) in SUBS.iter().enumerate() {
            // Which system goes first alternates from round to round.
            let (a, b) = if round % 2 == 0 {
                let a = thr_ours(names, subs, n);
                (a, thr_iox(names, subs, n))
            } else {
                let b = thr_iox(names, subs, n);
                (thr_ours(names, subs, n), b)
            };
            runs[i].push((a, b));
        }
    }
    let rows = SUBS
        .iter()
        .zip(&runs)
        .map(|(&subs, r)| {
            let mut ours: Vec<f64> = r.iter().map(|x| x.0).collect();
            let mut iox: Vec<f64> = r.iter().map(|x| x.1).collect();
            let mut ratios: Vec<f64> = r.iter().map(|x| x.0 / x.1).collect();
            let row = Versus {
                ours: median(&mut ours),
                iox: median(&mut iox),
                ratio: median(&mut ratios),
            };
            (subs, row)
        })
        .collect();
    let (one, four) = (&runs[0], &runs[SUBS.len() - 1]);
    let mut ours: Vec<f64> = one.iter().zip(four).map(|(o, f)| f.0 / o.0).collect();
    let mut iox: Vec<f64> = one.iter().zip(four).map(|(o, f)| f.1 / o.1).collect();
    Throughput {
        rows,
        scaling: (median(&mut ours), median(&mut iox)),
    }
}

// ---------------------------------------------------------------- clean-up

/// Removes the files under `dir` (recursively) whose names start with `prefix`; how many.
fn remove_with_prefix(dir: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let mine = entry.file_name().to_string_lossy().starts_with(prefix);
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                removed += remove_with_prefix(&path, prefix);
                if mine && std::fs::remove_dir(&path).is_ok() {
                    removed += 1;
                }
            }
            Ok(_) if mine && std::fs::remove_file(&path).is_ok() => removed += 1,
            _ => {}
        }
    }
    removed
}

// ---------------------------------------------------------------- report

fn fmt_ns(ns: f64) -> String {
    if ns >= 1000.0 {
        format!("{:.2} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn fmt_rate(r: f64) -> String {
    format!("{:.2} M/s", r / 1e6)
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().to_owned())
}

fn main() {
    let scale: f64 = std::env::var("VS_ICEORYX2_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let k = |n: u64| ((n as f64 * scale) as u64).max(10);
    set_log_level(LogLevel::Warn);
    let names = Names::new();
    let began = Instant::now();
    let cpus = online_cpus();

    println!("ipc::shm publish-subscribe beside iceoryx2 {ICEORYX2} publish-subscribe");
    println!(
        "{}, Linux {}, {cpus} CPU{} online; processes made with fork(2)\n",
        today(),
        kernel(),
        if cpus == 1 { "" } else { "s" }
    );

    let n = k(1_000_000);
    // iceoryx2's files of this run are removed even if a measurement fails.
    let measured = std::panic::catch_unwind(|| {
        (
            latency::<Word>(&names, "w", k(5_000), BLOCKS),
            latency::<Page4K>(&names, "p", k(2_000), BLOCKS),
            throughput(&names, n),
        )
    });
    let left = remove_with_prefix(Path::new("/dev/shm"), &names.iox_prefix)
        + remove_with_prefix(Path::new("/tmp/iceoryx2"), &names.iox_prefix);
    let (lat8, lat4k, thr) = measured.unwrap_or_else(|e| std::panic::resume_unwind(e));

    let w = 48;
    println!(
        "{:<w$} {:>12} {:>12} {:>15}",
        "", "ours", "iceoryx2", "ours/iceoryx2"
    );
    println!(
        "{:<w$} {:>12} {:>12} {:>14.2}x",
        "one-way latency, 8 B (u64)",
        fmt_ns(lat8.ours),
        fmt_ns(lat8.iox),
        lat8.ratio
    );
    println!(
        "{:<w$} {:>12} {:>12} {:>14.2}x",
        "one-way latency, 4 KiB loan (8 B written/read)",
        fmt_ns(lat4k.ours),
        fmt_ns(lat4k.iox),
        lat4k.ratio
    );
    for (subs, t) in &thr.rows {
        println!(
            "{:<w$} {:>12} {:>12} {:>14.2}x",
            format!(
                "throughput, 8 B, {subs} subscriber{}",
                if *subs == 1 { "" } else { "s" }
            ),
            fmt_rate(t.ours),
            fmt_rate(t.iox),
            t.ratio
        );
    }
    println!(
        "{:<w$} {:>11.2}x {:>11.2}x",
        "throughput, 4 subscribers / 1", thr.scaling.0, thr.scaling.1
    );
    println!(
        "\nlatency: ping-pong round trip / 2, both sides busy-polling and publishing through \
         loans; medians of {BLOCKS} blocks of {} (8 B) and {} (4 KiB) round trips per \
         system, the two systems' blocks alternating in one pair of processes (CPUs 0 and \
         1); ratio: the median of the per-block ratios (time, ours / iceoryx2: below 1 is \
         faster)",
        k(5_000),
        k(2_000)
    );
    println!(
        "throughput: {n} samples per round, each delivered to every subscriber, none \
         dropped (ours: Overflow::Block, capacity {DEPTH}; iceoryx2: safe overflow off, \
         subscriber buffer {DEPTH}, RetryUntilDelivered); subscribers poll and yield; \
         publisher on CPU 0, subscribers on CPU 1; medians of {ROUNDS} rounds, each running \
         both systems at every count (which goes first alternates); ratios: the medians of \
         the per-round ratios (rate, ours / iceoryx2: above 1 is faster; 4 subscribers / 1: \
         each system's own)"
    );
    println!(
        "iceoryx2 files of this run left at the end and removed: {left}; took {:.1} s",
        began.elapsed().as_secs_f64()
    );
}
