//! Message queues, typed against raw, between two real processes.
//!
//! For POSIX queues (`mq_send`/`mq_receive`) and System V queues (`msgsnd`/`msgrcv`), with
//! 8-byte and 4 KiB messages, this measures
//!
//! * latency: a ping-pong over two queues; the figure is half the round trip;
//! * throughput: one process sends a stream, the other receives it and acknowledges the end;
//!
//! once with the raw syscalls on byte buffers and once with `ipc::mq` / `ipc::sysv` on
//! `[u8; N]` (`ipc::mq` checks the schema at open and the length of every message;
//! `ipc::sysv` adds the 8-byte fingerprint to every message and checks it on receive).
//! The typed API is measured three times: by value (`send(msg)`, `recv() -> T`, which for
//! a large `T` costs a copy each way), in place (`send_ref(&msg)`, `recv_into(&mut msg)`,
//! the way the raw calls are used), and in place with foreign-peer ends
//! (`Options::foreign`: the wire of a program not built on ipc, no schema header, no
//! fingerprint; every message still checked), which must cost nothing over the raw call. Every round runs every case and variant once (the
//! variants' order rotating), so a burst of load from other processes spoils one run of a
//! case, not all of them. The table shows the best run of each (interference only ever
//! slows a run down, so the best run is the closest to the intrinsic cost) and the ratio to
//! raw of the best runs (time per message, typed / raw: above 1 the typed call is slower),
//! with the ratio of the medians beside it.
//!
//! Both processes are pinned to one CPU by default, as in the other benches
//! (`IPC_BENCH_PIN=0` lets them float): on a busy 2-core VM a wake-up across CPUs costs
//! 25–50 µs and varies wildly, which buried the queues' ~1 µs under noise (typed came out
//! "2× faster" than raw) and made the run take minutes; on one CPU a wake-up is about
//! 1 µs and steady.
//!
//! Figures (2-core VM, pinned, 2026-11-23): one-way latency 2.8-3.1 µs at 8 B
//! and 3.7-4.2 µs at 4 KiB for both kinds of queue. In place, the typed API is within 1.05
//! of raw everywhere; by value within 1.12 (POSIX 4 KiB throughput), the copies of a 4 KiB
//! value into `send` and out of `recv`. Where such copies land matters: see the note on
//! `rep movsb` in `ipc::sysv` (whose staging copy used to cost 1.28 in place) and
//! `mq::Receiver::recv_with` (by value was 1.21 while it was inlined).
//!
//! Foreign-peer ends (same VM, busier, 2026-11-24): medians 0.89-1.08 of raw, the same
//! spread as in place; the best-of ratios were too noisy that day to say more.
//!
//! Run: `cargo bench --bench queues` (about 35 s on the 2-core VM, pinned, when idle). The peer is
//! this binary re-run with `IPC_BENCH_CHILD` describing its part. `IPC_BENCH_ONLY=sysv`
//! (or `mq`, `4096`, `latency`, `inplace`, ... comma-separated, all must match) runs only
//! the rows and variants that match, e.g. to profile one of them.

use std::ffi::CString;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use ipc::{mq, sysv};

const CHILD: &str = "IPC_BENCH_CHILD";
/// Runs of every case and variant; many short runs rather than a few long ones, so that
/// the medians are steady too (an odd count, for a true median).
const ROUNDS: usize = 31;
/// The default `fs.mqueue.msg_max`; both variants use the same capacity.
const MQ_CAPACITY: usize = 10;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Transport {
    Mq,
    Sysv,
}

/// What runs over the queues: the raw syscalls, the typed API by value (`send(msg)`,
/// `recv() -> T`), the typed API in place (`send_ref(&msg)`, `recv_into(&mut msg)`), or
/// in place on foreign-peer ends (`Options::foreign`).
#[derive(Clone, Copy, PartialEq, Debug)]
enum Variant {
    Raw,
    Typed,
    InPlace,
    Foreign,
}

const VARIANTS: [Variant; 4] = [
    Variant::Raw,
    Variant::Typed,
    Variant::InPlace,
    Variant::Foreign,
];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Pattern {
    Latency,
    Throughput,
}

/// One end of a pair of queues (sends on one, receives on the other), with the loops a
/// user would write: in place on one buffer for the raw calls, by value for the typed API.
trait Chan {
    /// Parent, latency: `iters` round trips.
    fn round_trips(&mut self, iters: usize);
    /// Child, latency: echo `iters` messages.
    fn echo(&mut self, iters: usize);
    /// Parent, throughput: send `iters` messages, then wait for the acknowledgement.
    fn stream(&mut self, iters: usize);
    /// Child, throughput: receive `iters` messages, then acknowledge.
    fn sink(&mut self, iters: usize);
    /// Child: says it is ready; parent: waits for that.
    fn ready(&mut self, parent: bool);
}

macro_rules! loops {
    ($ty:ty, |$s:ident, $m:ident| send: $send:expr, recv: $recv:expr) => {
        // The typed receive overwrites the buffer by assignment.
        #[allow(unused_assignments)]
        impl<const N: usize> Chan for $ty {
            fn round_trips(&mut self, iters: usize) {
                let $s = self;
                let mut $m = [7u8; N];
                for _ in 0..iters {
                    $send;
                    $recv;
                }
                black_box(&$m);
            }
            fn echo(&mut self, iters: usize) {
                let $s = self;
                let mut $m = [0u8; N];
                for _ in 0..iters {
                    $recv;
                    $send;
                }
            }
            fn stream(&mut self, iters: usize) {
                let $s = self;
                let mut $m = [7u8; N];
                for _ in 0..iters {
                    $send;
                }
                $recv;
                black_box(&$m);
            }
            fn sink(&mut self, iters: usize) {
                let $s = self;
                let mut $m = [0u8; N];
                for _ in 0..iters {
                    $recv;
                    black_box(&$m);
                }
                $send;
            }
            fn ready(&mut self, parent: bool) {
                let $s = self;
                let mut $m = [0u8; N];
                if parent {
                    $recv;
                } else {
                    $send;
                }
                black_box(&mut $m);
            }
        }
    };
}

// ---------------------------------------------------------------- raw POSIX queues

struct RawMq {
    tx: libc::mqd_t,
    rx: libc::mqd_t,
}

fn raw_mq_open(name: &str, create: bool, size: usize) -> libc::mqd_t {
    let c = CString::new(name).unwrap();
    // SAFETY: `mq_attr` is plain integers (and private padding); all zeroes is valid.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = MQ_CAPACITY as _;
    attr.mq_msgsize = size as _;
    let flags = libc::O_RDWR
        | if create {
            libc::O_CREAT | libc::O_EXCL
        } else {
            0
        };
    // SAFETY: `c` is a valid C string and `attr` a valid mq_attr for the call.
    let q = unsafe { libc::mq_open(c.as_ptr(), flags, 0o600 as libc::mode_t, &attr) };
    assert!(
        q >= 0,
        "mq_open {name}: {}",
        std::io::Error::last_os_error()
    );
    q
}

impl Drop for RawMq {
    fn drop(&mut self) {
        // SAFETY: closing the descriptors this value owns.
        unsafe {
            libc::mq_close(self.tx);
            libc::mq_close(self.rx);
        }
    }
}

impl RawMq {
    fn send<const N: usize>(&self, m: &[u8; N]) {
        // SAFETY: `m` is N readable bytes; `tx` an open queue of N-byte messages.
        let r = unsafe { libc::mq_send(self.tx, m.as_ptr().cast(), N, 0) };
        assert_eq!(r, 0);
    }
    fn recv<const N: usize>(&self, m: &mut [u8; N]) {
        let mut prio = 0;
        // SAFETY: `m` is N writable bytes, the queue's message size.
        let r = unsafe { libc::mq_receive(self.rx, m.as_mut_ptr().cast(), N, &mut prio) };
        assert_eq!(r, N as isize);
    }
}

// ---------------------------------------------------------------- typed POSIX queues

struct RawMqN<const N: usize>(RawMq);
loops!(RawMqN<N>, |s, m| send: s.0.send(&m), recv: s.0.recv(&mut m));

struct TypedMq<const N: usize> {
    tx: mq::Sender<[u8; N]>,
    rx: mq::Receiver<[u8; N]>,
}

loops!(TypedMq<N>, |s, m| send: s.tx.send(m).unwrap(), recv: m = s.rx.recv().unwrap());

/// The typed API without value semantics: `send_ref` / `recv_into`.
struct InPlaceMq<const N: usize>(TypedMq<N>);
loops!(InPlaceMq<N>, |s, m| send: s.0.tx.send_ref(&m).unwrap(), recv: s.0.rx.recv_into(&mut m).unwrap());

// ---------------------------------------------------------------- raw System V queues

#[repr(C)]
struct MsgBuf<const N: usize> {
    mtype: libc::c_long,
    text: [u8; N],
}

struct RawSysv<const N: usize> {
    tx: i32,
    rx: i32,
    buf: std::cell::UnsafeCell<MsgBuf<N>>,
}

impl<const N: usize> RawSysv<N> {
    fn send(&self, m: &[u8; N]) {
        // A stack buffer, as a C program would use.
        let b = MsgBuf::<N> { mtype: 1, text: *m };
        // SAFETY: `b` is a c_long followed by N bytes.
        let r = unsafe { libc::msgsnd(self.tx, (&b as *const MsgBuf<N>).cast(), N, 0) };
        assert_eq!(r, 0);
    }
    fn recv(&self, m: &mut [u8; N]) {
        let b = self.buf.get();
        // SAFETY: `b` is a c_long followed by N writable bytes, used by one thread.
        let r = unsafe { libc::msgrcv(self.rx, b.cast(), N, 0, 0) };
        assert_eq!(r, N as isize);
        // SAFETY: msgrcv filled the text.
        m.copy_from_slice(unsafe { &(*b).text });
    }
}

loops!(RawSysv<N>, |s, m| send: s.send(&m), recv: s.recv(&mut m));

// ---------------------------------------------------------------- typed System V queues

struct TypedSysv<const N: usize> {
    tx: sysv::Sender<[u8; N]>,
    rx: sysv::Receiver<[u8; N]>,
}

loops!(TypedSysv<N>, |s, m| send: s.tx.send(m).unwrap(), recv: m = s.rx.recv().unwrap());

/// The typed API without value semantics: `send_ref` / `recv_into`.
struct InPlaceSysv<const N: usize>(TypedSysv<N>);
loops!(InPlaceSysv<N>, |s, m| send: s.0.tx.send_ref(&m).unwrap(), recv: s.0.rx.recv_into(&mut m).unwrap());

// ---------------------------------------------------------------- one case

/// The two queues of a case: `ping` parent → child, `pong` child → parent.
enum Queues {
    Mq { ping: String, pong: String },
    Sysv { ping: i32, pong: i32 },
}

impl Queues {
    fn create<const N: usize>(t: Transport, v: Variant, case: usize) -> Self {
        match t {
            Transport::Mq => {
                let base = format!("/ipc-bench-{}-{case}", std::process::id());
                let (ping, pong) = (format!("{base}-ping"), format!("{base}-pong"));
                for name in [&ping, &pong] {
                    if v != Variant::Raw {
                        let opts = mq::Options::new().capacity(MQ_CAPACITY);
                        let opts = if v == Variant::Foreign {
                            opts.foreign()
                        } else {
                            opts
                        };
                        mq::Sender::<[u8; N]>::create(name, opts).unwrap();
                    } else {
                        // SAFETY: closing the descriptor just opened.
                        unsafe { libc::mq_close(raw_mq_open(name, true, N)) };
                    }
                }
                Queues::Mq { ping, pong }
            }
            Transport::Sysv => {
                let new = || {
                    // SAFETY: msgget takes integers.
                    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
                    assert!(id >= 0);
                    id
                };
                Queues::Sysv {
                    ping: new(),
                    pong: new(),
                }
            }
        }
    }

    fn spec(&self) -> (String, String) {
        match self {
            Queues::Mq { ping, pong } => (ping.clone(), pong.clone()),
            Queues::Sysv { ping, pong } => (ping.to_string(), pong.to_string()),
        }
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        match self {
            Queues::Mq { ping, pong } => {
                let _ = mq::unlink(ping);
                let _ = mq::unlink(pong);
            }
            Queues::Sysv { ping, pong } => {
                for id in [*ping, *pong] {
                    // SAFETY: IPC_RMID ignores the buffer.
                    unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
                    // And its registry, which a raw removal leaves.
                    let _ = std::fs::remove_file(format!("/dev/shm/ipc-msg.{id}"));
                }
            }
        }
    }
}

/// Opens the channel of one side: the parent sends on `ping`, the child on `pong`.
fn open<const N: usize>(
    t: Transport,
    v: Variant,
    ping: &str,
    pong: &str,
    parent: bool,
) -> Box<dyn Chan> {
    let (tx, rx) = if parent { (ping, pong) } else { (pong, ping) };
    let foreign = v == Variant::Foreign;
    let mq_opts = if foreign {
        mq::Options::new().foreign()
    } else {
        mq::Options::new()
    };
    let sysv_opts = if foreign {
        sysv::Options::new().foreign()
    } else {
        sysv::Options::new()
    };
    let typed_mq = || TypedMq::<N> {
        tx: mq::Sender::open_with(tx, mq_opts).unwrap(),
        rx: mq::Receiver::open_with(rx, mq_opts).unwrap(),
    };
    let typed_sysv = || TypedSysv::<N> {
        tx: sysv::Sender::from_id_with(tx.parse().unwrap(), sysv_opts).unwrap(),
        rx: sysv::Receiver::from_id_with(rx.parse().unwrap(), sysv_opts).unwrap(),
    };
    match (t, v) {
        (Transport::Mq, Variant::Raw) => Box::new(RawMqN::<N>(RawMq {
            tx: raw_mq_open(tx, false, N),
            rx: raw_mq_open(rx, false, N),
        })),
        (Transport::Mq, Variant::Typed) => Box::new(typed_mq()),
        (Transport::Mq, Variant::InPlace | Variant::Foreign) => Box::new(InPlaceMq(typed_mq())),
        (Transport::Sysv, Variant::Raw) => Box::new(RawSysv::<N> {
            tx: tx.parse().unwrap(),
            rx: rx.parse().unwrap(),
            buf: std::cell::UnsafeCell::new(MsgBuf {
                mtype: 0,
                text: [0; N],
            }),
        }),
        (Transport::Sysv, Variant::Typed) => Box::new(typed_sysv()),
        (Transport::Sysv, Variant::InPlace | Variant::Foreign) => {
            Box::new(InPlaceSysv(typed_sysv()))
        }
    }
}

/// The child's part: echo every ping (latency) or take the stream and acknowledge it.
fn child_side(c: &mut dyn Chan, pattern: Pattern, iters: usize) {
    c.ready(false);
    match pattern {
        Pattern::Latency => c.echo(iters),
        Pattern::Throughput => c.sink(iters),
    }
}

/// Runs one measurement and returns the time per message.
fn run<const N: usize>(
    t: Transport,
    v: Variant,
    pattern: Pattern,
    iters: usize,
    case: usize,
) -> Duration {
    let queues = Queues::create::<N>(t, v, case);
    let (ping, pong) = queues.spec();
    let spec = format!("{t:?},{v:?},{N},{pattern:?},{iters},{ping},{pong}");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD, spec)
        .spawn()
        .unwrap();
    let mut c = open::<N>(t, v, &ping, &pong, true);
    c.ready(true);
    let start = Instant::now();
    match pattern {
        Pattern::Latency => c.round_trips(iters),
        Pattern::Throughput => c.stream(iters),
    }
    let elapsed = start.elapsed();
    assert!(child.wait().unwrap().success(), "bench child failed");
    let per = match pattern {
        Pattern::Latency => elapsed / (iters as u32 * 2),
        Pattern::Throughput => elapsed / iters as u32,
    };
    drop(c);
    drop(queues);
    per
}

fn child_main(spec: &str) {
    let f: Vec<&str> = spec.split(',').collect();
    let t = if f[0] == "Mq" {
        Transport::Mq
    } else {
        Transport::Sysv
    };
    let v = match f[1] {
        "Raw" => Variant::Raw,
        "Typed" => Variant::Typed,
        "Foreign" => Variant::Foreign,
        _ => Variant::InPlace,
    };
    let pattern = if f[3] == "Latency" {
        Pattern::Latency
    } else {
        Pattern::Throughput
    };
    let iters: usize = f[4].parse().unwrap();
    match f[2] {
        "8" => child_side(&mut *open::<8>(t, v, f[5], f[6], false), pattern, iters),
        "4096" => child_side(&mut *open::<4096>(t, v, f[5], f[6], false), pattern, iters),
        n => panic!("size {n}"),
    }
}

/// Pins this process (and so the children it spawns, which inherit the mask) to one CPU,
/// unless `IPC_BENCH_PIN=0`, as the other benches do: a ping-pong then measures the
/// queue, not whether the scheduler placed the two processes on one core or two (on a
/// busy 2-core VM a wake-up across CPUs costs 25–50 µs and varies wildly, one on the same
/// CPU about 1 µs).
fn pin_to_one_cpu() -> Option<usize> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    if std::env::var("IPC_BENCH_PIN").as_deref() == Ok("0") {
        return None;
    }
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let cpu = (0..CpuSet::count()).find(|&c| allowed.is_set(c).unwrap_or(false))?;
    let mut one = CpuSet::new();
    one.set(cpu).ok()?;
    sched_setaffinity(Pid::from_raw(0), &one).ok()?;
    Some(cpu)
}

fn best(v: &[Duration]) -> Duration {
    v.iter().copied().min().unwrap_or_default()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn fmt_time(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn fmt_rate(d: Duration) -> String {
    format!("{:.0} k msg/s", 1e-3 / d.as_secs_f64())
}

/// `a / b`, NaN when either was not measured (`IPC_BENCH_ONLY`).
fn ratio(a: Duration, b: Duration) -> f64 {
    if a.is_zero() || b.is_zero() {
        return f64::NAN;
    }
    a.as_secs_f64() / b.as_secs_f64()
}

/// One row of the table.
#[derive(Clone, Copy)]
struct Case {
    t: Transport,
    pattern: Pattern,
    size: usize,
    iters: usize,
}

impl Case {
    /// Whether every word of `IPC_BENCH_ONLY` (comma-separated) names this row or variant.
    fn selected(&self, v: Variant) -> bool {
        let only = std::env::var("IPC_BENCH_ONLY").unwrap_or_default();
        let words = [
            format!("{:?}", self.t).to_lowercase(),
            self.size.to_string(),
            format!("{:?}", self.pattern).to_lowercase(),
            format!("{v:?}").to_lowercase(),
        ];
        only.split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .all(|w| words.iter().any(|x| *x == w.to_lowercase()))
    }
}

fn run_case(c: Case, v: Variant, n: usize) -> Duration {
    match c.size {
        8 => run::<8>(c.t, v, c.pattern, c.iters, n),
        _ => run::<4096>(c.t, v, c.pattern, c.iters, n),
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child_main(&spec);
        return;
    }
    let pinned = pin_to_one_cpu();
    let started = Instant::now();
    let mut cases = Vec::new();
    for t in [Transport::Mq, Transport::Sysv] {
        for pattern in [Pattern::Latency, Pattern::Throughput] {
            for size in [8usize, 4096] {
                let iters = match (pattern, size) {
                    // About 20-30 ms per run when pinned.
                    (Pattern::Latency, _) => 10_000,
                    (Pattern::Throughput, 8) => 50_000,
                    (Pattern::Throughput, _) => 25_000,
                };
                let case = Case {
                    t,
                    pattern,
                    size,
                    iters,
                };
                if VARIANTS.iter().any(|&v| case.selected(v)) {
                    cases.push(case);
                }
            }
        }
    }
    // Every round runs every case and variant once, the variants' order rotating, so a
    // burst of load from other processes spoils one run of a case, not all of them.
    let mut runs = vec![[Vec::new(), Vec::new(), Vec::new(), Vec::new()]; cases.len()];
    let mut n = 0;
    for round in 0..ROUNDS {
        for (c, case) in cases.iter().enumerate() {
            for k in 0..VARIANTS.len() {
                let i = (round + k) % VARIANTS.len();
                if !case.selected(VARIANTS[i]) {
                    continue;
                }
                n += 1;
                runs[c][i].push(run_case(*case, VARIANTS[i], n));
            }
        }
    }
    let mut rows = Vec::new();
    let (mut worst_typed, mut worst_in_place): (f64, f64) = (0.0, 0.0);
    let (mut worst_typed_med, mut worst_in_place_med): (f64, f64) = (0.0, 0.0);
    let (mut worst_foreign, mut worst_foreign_med): (f64, f64) = (0.0, 0.0);
    for (case, runs) in cases.iter().zip(runs) {
        let [raw, typed, in_place, foreign] = runs.map(|r| (best(&r), median(r)));
        let r_typed = ratio(typed.0, raw.0);
        let r_in_place = ratio(in_place.0, raw.0);
        let r_foreign = ratio(foreign.0, raw.0);
        worst_foreign = worst_foreign.max(r_foreign);
        worst_foreign_med = worst_foreign_med.max(ratio(foreign.1, raw.1));
        worst_typed = worst_typed.max(r_typed);
        worst_in_place = worst_in_place.max(r_in_place);
        worst_typed_med = worst_typed_med.max(ratio(typed.1, raw.1));
        worst_in_place_med = worst_in_place_med.max(ratio(in_place.1, raw.1));
        let (name, raw_call) = match case.t {
            Transport::Mq => ("ipc::mq", "mq_send/mq_receive"),
            Transport::Sysv => ("ipc::sysv", "msgsnd/msgrcv"),
        };
        let f = if case.pattern == Pattern::Latency {
            fmt_time
        } else {
            fmt_rate
        };
        rows.push(format!(
            "{name:<9} {raw_call:<18} {:<5} {:<10} {:>13} {:>13} {r_typed:>6.3} {:>6.3} {:>13} {r_in_place:>6.3} {:>6.3} {:>13} {r_foreign:>6.3} {:>6.3}",
            if case.size == 8 { "8 B" } else { "4 KiB" },
            if case.pattern == Pattern::Latency {
                "latency"
            } else {
                "throughput"
            },
            f(raw.0),
            f(typed.0),
            ratio(typed.1, raw.1),
            f(in_place.0),
            ratio(in_place.1, raw.1),
            f(foreign.0),
            ratio(foreign.1, raw.1),
        ));
    }
    println!(
        "\n{:<9} {:<18} {:<5} {:<10} {:>13} {:>13} {:>6} {:>6} {:>13} {:>6} {:>6} {:>13} {:>6} {:>6}",
        "transport",
        "raw syscalls",
        "size",
        "metric",
        "raw",
        "typed",
        "ratio",
        "(med)",
        "in place",
        "ratio",
        "(med)",
        "foreign",
        "ratio",
        "(med)"
    );
    for r in rows {
        println!("{r}");
    }
    match pinned {
        Some(cpu) => {
            println!("\nboth processes pinned to CPU {cpu} (IPC_BENCH_PIN=0 to let them float)")
        }
        None => println!("\nprocesses not pinned"),
    }
    println!(
        "typed: send(msg) / recv() -> T; in place: send_ref(&msg) / recv_into(&mut msg); \
         foreign: in place on Options::foreign ends.\n\
         ratio = time per message / raw time per message, best of {ROUNDS} runs rotated between \
         the variants ((med): ratio of the medians); latency = half a round trip.\n\
         worst ratio (time, typed / raw): typed {worst_typed:.3}, in place {worst_in_place:.3}, \
         foreign {worst_foreign:.3} (medians: {worst_typed_med:.3}, {worst_in_place_med:.3}, \
         {worst_foreign_med:.3}); total {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
