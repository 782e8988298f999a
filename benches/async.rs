//! The async twins (feature `tokio`) beside their sync selves and beside the raw tokio
//! primitive on the same kind of descriptor, two processes, in one run.
//!
//! - throughput, 8 B and 4 KiB messages: a forked child streams with the sync sender (or,
//!   for the raw rows, plain `write(2)` of the bytes), and this process receives them
//!   all with the sync receiver, the async one on a current-thread runtime, or what one
//!   writes by hand with the tokio primitive: `read_exact` through a 64 KiB
//!   `tokio::io::BufReader` (over `tokio::net::unix::pipe`, `UnixStream`, `TcpStream`),
//!   which reads as much at a time as this crate's receivers do; the
//!   queue and shared memory have no tokio primitive. Each run is timed from its first
//!   receive (the runtime and the ends are made before); the three kinds take turns in
//!   each of `ROUNDS` rounds, so that each meets the same moods of the machine, and a
//!   ratio is the median of the rounds' own ratios.
//! - shared-memory wake-up from idle: the child sends a timestamp every 2 ms, so the
//!   receiver is parked each time (sync: the futex; async: the doorbell); the median of
//!   the delays from send to receive, the waiters taking turns in each round. Beside them the raw tokio primitive the doorbell
//!   is built on: a datagram sent to a `tokio::net::UnixDatagram` being awaited, the
//!   floor of any wake-up of a tokio task by another process through `epoll`.
//!
//! The receiver runs on CPU 0, the sending child on CPU 1 (as the tour places them);
//! the `shm1` row is the shm channel with the sender on CPU 0 too (two busy processes
//! sharing a CPU, as on a loaded machine).
//!
//! ```text
//! cargo bench --bench async
//! cargo bench --bench async -- shm     # the rows whose transport contains "shm"
//! ```

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use ipc::{mq, pipe, shm, socket, tcp};
use tokio::io::AsyncReadExt;

mod common;
use common::{fmt_ns, fmt_rate, pin, reap, unique};

/// Rounds of each throughput row (and of the wake-up): a round lasts 50-150 ms, and the
/// VM's slow moments last longer; with five, a single row's median ratio fell to 0.5-0.75
/// in some runs.
const ROUNDS: usize = 11;

/// The sending child, on CPU 1 (this process, the receiver, runs on CPU 0): left to the
/// scheduler, the two share one CPU in some runs and not in others, and a stream's rate
/// moves threefold with it on a 2-CPU VM.
fn spawn(f: impl FnOnce()) -> common::Pid {
    spawn_on(1, f)
}

/// A child pinned to `cpu`.
fn spawn_on(cpu: usize, f: impl FnOnce()) -> common::Pid {
    common::spawn(move || {
        pin(&[cpu]);
        f()
    })
}

/// Messages per run: enough for about 50 ms or more of each transport (shared memory
/// moves small messages 10 to 100 times faster than the descriptors, so it sends more).
fn count(transport: &str, size: usize) -> usize {
    let scale: f64 = std::env::var("IPC_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let n = match (transport, size <= 64) {
        ("shm" | "topic", true) => 3_000_000.0,
        ("shm" | "topic", false) => 300_000.0,
        // Sharing a CPU, the stream runs ten times slower.
        ("shm1", true) => 300_000.0,
        (_, true) => 300_000.0,
        (_, false) => 60_000.0,
    };
    (n * scale) as usize
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Imp {
    Sync,
    Async,
    Raw,
}

/// Messages per second: `n` messages received by `receive` from a child that `send`s.
fn rate(n: usize, start: Instant) -> f64 {
    n as f64 / start.elapsed().as_secs_f64()
}

/// One throughput run of `N`-byte messages over `transport` received as `imp` says; None
/// if there is no such row (no tokio primitive for a queue or shared memory).
fn run<const N: usize>(transport: &str, imp: Imp) -> Option<f64> {
    let n = count(transport, N);
    let msg = [7u8; N];
    match (transport, imp) {
        ("pipe", Imp::Raw) => {
            let (r, w) = common::pipe();
            let child = spawn(move || {
                let mut w = w;
                for _ in 0..n {
                    w.write_all(&msg).unwrap();
                }
            });
            let r = runtime().block_on(async {
                let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(r)).unwrap();
                let mut rx = tokio::io::BufReader::with_capacity(64 * 1024, rx);
                let start = Instant::now();
                read_by_hand::<N>(&mut rx, n).await;
                rate(n, start)
            });
            reap(child);
            Some(r)
        }
        ("pipe", _) => {
            let (mut tx, rx) = pipe::channel::<[u8; N]>().unwrap();
            let child = spawn(move || {
                for _ in 0..n {
                    tx.send(msg).unwrap();
                }
            });
            Some(receive(rx, n, imp, child, pipe::AsyncReceiver::from_sync))
        }
        ("unix", Imp::Raw) => {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let child = spawn(move || {
                let mut a = a;
                for _ in 0..n {
                    a.write_all(&msg).unwrap();
                }
            });
            let r = runtime().block_on(async {
                b.set_nonblocking(true).unwrap();
                let rx = tokio::net::UnixStream::from_std(b).unwrap();
                let mut rx = tokio::io::BufReader::with_capacity(64 * 1024, rx);
                let start = Instant::now();
                read_by_hand::<N>(&mut rx, n).await;
                rate(n, start)
            });
            reap(child);
            Some(r)
        }
        ("unix", _) => {
            let (mut a, b) = socket::Stream::<[u8; N]>::pair().unwrap();
            let child = spawn(move || {
                for _ in 0..n {
                    a.send(msg).unwrap();
                }
            });
            Some(receive(b, n, imp, child, socket::AsyncStream::from_sync))
        }
        ("tcp", Imp::Raw) => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let at = l.local_addr().unwrap();
            let child = spawn(move || {
                let mut s = std::net::TcpStream::connect(at).unwrap();
                s.set_nodelay(true).unwrap();
                for _ in 0..n {
                    s.write_all(&msg).unwrap();
                }
            });
            let (b, _) = l.accept().unwrap();
            let r = runtime().block_on(async {
                b.set_nonblocking(true).unwrap();
                let rx = tokio::net::TcpStream::from_std(b).unwrap();
                let mut rx = tokio::io::BufReader::with_capacity(64 * 1024, rx);
                let start = Instant::now();
                read_by_hand::<N>(&mut rx, n).await;
                rate(n, start)
            });
            reap(child);
            Some(r)
        }
        ("tcp", _) => {
            let l = tcp::Listener::<[u8; N]>::bind("127.0.0.1:0").unwrap();
            let at = l.local_addr().unwrap();
            let child = spawn(move || {
                let mut s = tcp::Stream::<[u8; N]>::connect(at).unwrap();
                for _ in 0..n {
                    s.send(msg).unwrap();
                }
            });
            let b = l.accept().unwrap();
            Some(receive(b, n, imp, child, tcp::AsyncStream::from_sync))
        }
        ("mq", Imp::Raw) => None,
        ("mq", _) => {
            let name = format!("/{}", unique("async-mq"));
            let rx = mq::Receiver::<[u8; N]>::create(&name, mq::Options::new()).unwrap();
            let child = {
                let name = name.clone();
                spawn(move || {
                    let mut tx = mq::Sender::<[u8; N]>::open(&name).unwrap();
                    for _ in 0..n {
                        tx.send(msg).unwrap();
                    }
                })
            };
            let r = receive(rx, n, imp, child, mq::AsyncReceiver::from_sync);
            let _ = mq::unlink(&name);
            Some(r)
        }
        ("shm" | "shm1", Imp::Raw) => None,
        ("shm" | "shm1", _) => {
            let name = unique("async-shm");
            let rx = shm::Receiver::<[u8; N]>::create(&name, shm::Options::new()).unwrap();
            // `shm1`: the sender on the receiver's CPU, as two busy processes of a loaded
            // machine may be; what the receiver does while it waits decides the rate.
            let cpu = if transport == "shm1" { 0 } else { 1 };
            let child = {
                let name = name.clone();
                spawn_on(cpu, move || {
                    let mut tx = shm::Sender::<[u8; N]>::open(&name).unwrap();
                    for _ in 0..n {
                        tx.send(msg).unwrap();
                    }
                })
            };
            Some(receive(rx, n, imp, child, shm::AsyncReceiver::from_sync))
        }
        ("topic", Imp::Raw) => None,
        ("topic", _) => {
            // A topic's subscriber (`Overflow::Block`: every sample reaches it), joined
            // before the publisher starts.
            let name = unique("async-topic");
            let rx =
                shm::Subscriber::<[u8; N]>::open_or_create(&name, shm::Options::new()).unwrap();
            let child = {
                let name = name.clone();
                spawn(move || {
                    let mut tx =
                        shm::Publisher::<[u8; N]>::open_or_create(&name, shm::Options::new())
                            .unwrap();
                    for _ in 0..n {
                        tx.send(msg).unwrap();
                    }
                })
            };
            Some(receive(rx, n, imp, child, shm::AsyncSubscriber::from_sync))
        }
        _ => unreachable!(),
    }
}

/// The hand-written receiver: `n` messages of `N` bytes with `read_exact`.
async fn read_by_hand<const N: usize>(rx: &mut (impl tokio::io::AsyncRead + Unpin), n: usize) {
    let mut buf = [0u8; N];
    for _ in 0..n {
        rx.read_exact(&mut buf).await.unwrap();
    }
}

/// Receives `n` messages with `rx` (sync) or its async twin, reaps the child, returns the
/// rate.
fn receive<E, A, M>(
    mut rx: E,
    n: usize,
    imp: Imp,
    child: common::Pid,
    to_async: impl FnOnce(E) -> ipc::Result<A>,
) -> f64
where
    E: ipc::Rx<M>,
    M: ipc::Message,
    A: Recv<M>,
{
    let r = if imp == Imp::Sync {
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(rx.recv().unwrap());
        }
        rate(n, start)
    } else {
        // Timed from the first receive, as the sync end is: the runtime and the
        // conversion are made before.
        runtime().block_on(async {
            let mut rx = to_async(rx).unwrap();
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(rx.next().await.unwrap());
            }
            rate(n, start)
        })
    };
    reap(child);
    r
}

/// The async twins' `recv`, as one trait for the harness: it hands back their own
/// future, which the harness awaits as a user awaits `rx.recv()` (an `async fn` here
/// would wrap it in a future of its own, whose output is one more move of the message:
/// 4 KiB a receive that the sync row does not pay).
trait Recv<M> {
    fn next(&mut self) -> impl std::future::Future<Output = ipc::Result<M>>;
}

impl<E: ipc::aio::AsyncRecv<Item = M>, M: ipc::Message> Recv<M> for ipc::aio::Async<E> {
    fn next(&mut self) -> impl std::future::Future<Output = ipc::Result<M>> {
        self.recv()
    }
}

impl<E: ipc::aio::ShmEnd<Item = M>, M: ipc::Message> Recv<M> for ipc::aio::AsyncShm<E> {
    fn next(&mut self) -> impl std::future::Future<Output = ipc::Result<M>> {
        self.recv()
    }
}

/// `ROUNDS` rounds of each kind (sync, async, tokio raw), the kinds taking turns within
/// each round: each kind's rates, by round (empty for a kind with no row).
fn rounds<const N: usize>(transport: &str) -> [Vec<f64>; 3] {
    let mut rates: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, imp) in [Imp::Sync, Imp::Async, Imp::Raw].into_iter().enumerate() {
            if let Some(r) = run::<N>(transport, imp) {
                rates[i].push(r);
            }
        }
    }
    rates
}

/// The median of `v` (not empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median over rounds of the ratio `a / b` of the same round.
fn ratio(a: &[f64], b: &[f64]) -> f64 {
    median(a.iter().zip(b).map(|(a, b)| a / b).collect())
}

fn throughput<const N: usize>() {
    println!(
        "\nthroughput, {N}-byte messages (received per second, median of {ROUNDS} rounds; \
         ratios: median of the rounds' own)"
    );
    println!(
        "{:<6} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "", "sync", "async", "tokio raw", "async/sync", "async/raw"
    );
    // `cargo bench --bench async -- shm` runs the rows whose transport contains "shm".
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    for t in ["pipe", "unix", "tcp", "mq", "shm", "topic", "shm1"] {
        if !filter.is_empty() && !filter.iter().any(|f| t.contains(f.as_str())) {
            continue;
        }
        let [s, a, r] = rounds::<N>(t);
        let raw = (!r.is_empty()).then(|| (median(r.clone()), ratio(&a, &r)));
        println!(
            "{t:<6} {:>12} {:>12} {:>12} {:>11.2}x {:>12}",
            fmt_rate(median(s.clone())),
            fmt_rate(median(a.clone())),
            raw.map_or("—".into(), |(r, _)| fmt_rate(r)),
            ratio(&a, &s),
            raw.map_or("—".into(), |(_, x)| format!("{x:.2}x")),
        );
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC`, which both processes share.
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// How the wake-up benchmark's receiver waits.
#[derive(Clone, Copy, PartialEq)]
enum Waiter {
    /// The sync shared-memory receiver, parked on its futex.
    Sync,
    /// The async shared-memory receiver, parked on its doorbell.
    Async,
    /// The raw tokio primitive the doorbell is built on: `tokio::net::UnixDatagram::recv`
    /// on a datagram socket pair, the timestamp sent as the datagram.
    Tokio,
}

/// Wake-ups per round of each waiter.
const WAKES: usize = 100;

/// The median delay from send to receive of a message that finds the receiver parked,
/// over `WAKES` wake-ups.
fn wake_latency(waiter: Waiter) -> f64 {
    let pause = || std::thread::sleep(Duration::from_millis(2));
    let mut delays = Vec::with_capacity(WAKES);
    if waiter == Waiter::Tokio {
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let child = spawn(move || {
            for _ in 0..WAKES {
                pause();
                a.send(&now_ns().to_ne_bytes()).unwrap();
            }
        });
        runtime().block_on(async {
            b.set_nonblocking(true).unwrap();
            let rx = tokio::net::UnixDatagram::from_std(b).unwrap();
            let mut buf = [0u8; 8];
            for _ in 0..WAKES {
                rx.recv(&mut buf).await.unwrap();
                delays.push(now_ns().saturating_sub(u64::from_ne_bytes(buf)));
            }
        });
        reap(child);
    } else {
        let name = unique("async-wake");
        let mut rx = shm::Receiver::<u64>::create(&name, shm::Options::new()).unwrap();
        let child = spawn(move || {
            let mut tx = shm::Sender::<u64>::open(&name).unwrap();
            for _ in 0..WAKES {
                pause();
                tx.send(now_ns()).unwrap();
            }
        });
        if waiter == Waiter::Async {
            runtime().block_on(async {
                let mut rx = shm::AsyncReceiver::from_sync(rx).unwrap();
                for _ in 0..WAKES {
                    let sent = rx.recv().await.unwrap();
                    delays.push(now_ns().saturating_sub(sent));
                }
            });
        } else {
            for _ in 0..WAKES {
                let sent = *rx.recv().unwrap();
                delays.push(now_ns().saturating_sub(sent));
            }
        }
        reap(child);
    }
    delays.sort_unstable();
    delays[WAKES / 2] as f64
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    pin(&[0]);
    throughput::<8>();
    throughput::<4096>();
    // The three waiters take turns, round after round, as the throughput rows do.
    let mut delays: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        for (i, waiter) in [Waiter::Sync, Waiter::Async, Waiter::Tokio]
            .into_iter()
            .enumerate()
        {
            delays[i].push(wake_latency(waiter));
        }
    }
    let [s, a, t] = delays;
    println!(
        "\nshared-memory wake-up from idle (median delay from send to receive of {WAKES} \
         wake-ups, median of {ROUNDS} rounds; ratios: median of the rounds' own)"
    );
    println!(
        "sync park {}, async doorbell {}, tokio datagram {}: async/sync {:.2}x, async/tokio {:.2}x",
        fmt_ns(median(s.clone())),
        fmt_ns(median(a.clone())),
        fmt_ns(median(t.clone())),
        ratio(&a, &s),
        ratio(&a, &t)
    );
    let _ = std::io::stdout().flush();
}
