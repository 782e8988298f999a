//! Byte-stream transports against the raw syscalls they are built on, two processes.
//!
//! For each transport and message size, the same bytes travel twice: through the typed
//! channel (`ipc::pipe`, `ipc::fifo`: handshake, 8-byte frame header, validation) and
//! through plain `write(2)`/`read(2)` of the message bytes on the same kind of descriptor.
//! The peer is this benchmark re-executed as a child process (`IPC_BENCH_ROLE`).
//!
//! - latency: ping-pong over two one-way channels; one-way latency is half the round trip
//!   (median and 99th percentile of `ROUNDS` round trips after a warm-up);
//! - throughput: one side streams messages, the other receives them all and answers once;
//! - an "in place" row runs the typed channel through `send_ref`/`recv_ref` (the message
//!   is read where it lies in the receive buffer; its first byte is copied out), which
//!   spare a large message the copy into `send` and out of `recv`;
//! - each figure is the best of `BEST_OF` runs, typed and raw alternating.
//!
//! Both processes are pinned to one CPU: the stable setting on a shared VM (a wake-up
//! across cores costs 20-30 µs there and varies run to run). `IPC_BENCH_PIN=split` puts
//! them on two CPUs, `IPC_BENCH_PIN=0` lets them float.
//!
//! ```text
//! cargo bench --bench stream
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipc::{fifo, pipe, Message};

const ROLE: &str = "IPC_BENCH_ROLE";
const REQ: &str = "IPC_BENCH_REQ";
const RESP: &str = "IPC_BENCH_RESP";
const WARMUP: usize = 2_000;
const ROUNDS: usize = 20_000;

/// Messages streamed for the throughput figure (about 4 MB and 400 MB).
fn stream_count(size: usize) -> usize {
    if size <= 64 {
        500_000
    } else {
        100_000
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Transport {
    Pipe,
    Fifo,
}

#[derive(Clone, Copy, PartialEq)]
enum Imp {
    Typed,
    InPlace,
    Raw,
}

/// A typed pipe sender and receiver of `N`-byte messages.
type PipeEnds<const N: usize> = (pipe::Sender<[u8; N]>, pipe::Receiver<[u8; N]>);

/// Both directions of one side of a link.
enum Link<const N: usize> {
    Typed(Box<dyn TypedTx<N>>, Box<dyn TypedRx<N>>),
    /// The typed channel used in place: `send_ref` and `recv_ref`.
    InPlace(Box<PipeEnds<N>>),
    Raw(File, File),
}

// Both sides of the comparison take the message by reference and receive into the
// caller's buffer, as `write_all`/`read_exact` do: the harness adds no copies of its own
// (a 4 KiB copy costs ~100 ns, and by-value hops through `dyn` calls added four per
// round trip to the typed side only). The typed API's own copies remain: `send` takes
// the message by value and `recv` returns it by value (the "inplace" rows avoid them
// with `send_ref`/`recv_ref`).
trait TypedTx<const N: usize> {
    fn send(&mut self, m: &[u8; N]);
}
trait TypedRx<const N: usize> {
    fn recv_into(&mut self, m: &mut [u8; N]);
}

impl<const N: usize> TypedTx<N> for pipe::Sender<[u8; N]>
where
    [u8; N]: Message,
{
    fn send(&mut self, m: &[u8; N]) {
        pipe::Sender::send(self, *m).expect("send");
    }
}
impl<const N: usize> TypedRx<N> for pipe::Receiver<[u8; N]>
where
    [u8; N]: Message,
{
    fn recv_into(&mut self, m: &mut [u8; N]) {
        // One copy out of the `Result` into the caller's buffer (`*m = recv().expect()`
        // makes two: into a temporary, then into `*m`).
        match &pipe::Receiver::recv(self) {
            Ok(v) => *m = *v,
            Err(e) => panic!("recv: {e}"),
        }
    }
}

impl<const N: usize> Link<N>
where
    [u8; N]: Message,
{
    fn send(&mut self, m: &[u8; N]) {
        match self {
            Link::Typed(tx, _) => tx.send(m),
            Link::InPlace(ends) => ends.0.send_ref(m).expect("send_ref"),
            Link::Raw(w, _) => w.write_all(m).expect("write"),
        }
    }

    fn recv(&mut self, m: &mut [u8; N]) {
        match self {
            Link::Typed(_, rx) => rx.recv_into(m),
            Link::InPlace(ends) => m[0] = ends.1.recv_ref().expect("recv_ref")[0],
            Link::Raw(_, r) => r.read_exact(m).expect("read"),
        }
    }

    fn from_fds(imp: Imp, tx: OwnedFd, rx: OwnedFd) -> Self {
        match imp {
            Imp::Typed => Link::Typed(
                Box::new(pipe::Sender::<[u8; N]>::from_fd(tx)),
                Box::new(pipe::Receiver::<[u8; N]>::from_fd(rx)),
            ),
            Imp::InPlace => Link::InPlace(Box::new((
                pipe::Sender::<[u8; N]>::from_fd(tx),
                pipe::Receiver::<[u8; N]>::from_fd(rx),
            ))),
            Imp::Raw => Link::Raw(File::from(tx), File::from(rx)),
        }
    }

    /// Opens a FIFO pair; the writer side of `tx_path` rendezvous with its reader.
    fn open_fifos(imp: Imp, tx_path: &Path, rx_path: &Path, tx_first: bool) -> Self {
        match imp {
            Imp::Typed | Imp::InPlace => {
                let (tx, rx) = if tx_first {
                    let tx = fifo::Sender::<[u8; N]>::open(tx_path).expect("open fifo");
                    (
                        tx,
                        fifo::Receiver::<[u8; N]>::open(rx_path).expect("open fifo"),
                    )
                } else {
                    let rx = fifo::Receiver::<[u8; N]>::open(rx_path).expect("open fifo");
                    (
                        fifo::Sender::<[u8; N]>::open(tx_path).expect("open fifo"),
                        rx,
                    )
                };
                if imp == Imp::InPlace {
                    Link::InPlace(Box::new((tx, rx)))
                } else {
                    Link::Typed(Box::new(tx), Box::new(rx))
                }
            }
            Imp::Raw => {
                let open_w = || OpenOptions::new().write(true).open(tx_path).expect("open");
                let open_r = || File::open(rx_path).expect("open");
                if tx_first {
                    let w = open_w();
                    Link::Raw(w, open_r())
                } else {
                    let r = open_r();
                    Link::Raw(open_w(), r)
                }
            }
        }
    }
}

/// The child: echo `WARMUP + ROUNDS` messages, then take a stream and answer once.
fn child<const N: usize>(mut link: Link<N>)
where
    [u8; N]: Message,
{
    let mut m = [0; N];
    for _ in 0..WARMUP + ROUNDS {
        link.recv(&mut m);
        link.send(&m);
    }
    for _ in 0..stream_count(N) {
        link.recv(&mut m);
    }
    link.send(&m);
}

struct Row {
    transport: &'static str,
    size: usize,
    median: Duration,
    p99: Duration,
    msgs_per_s: f64,
}

fn parent<const N: usize>(transport: Transport, imp: Imp) -> Row
where
    [u8; N]: Message,
{
    let role = format!(
        "{}:{}:{N}",
        if transport == Transport::Pipe {
            "pipe"
        } else {
            "fifo"
        },
        match imp {
            Imp::Typed => "typed",
            Imp::InPlace => "inplace",
            Imp::Raw => "raw",
        }
    );
    let exe = std::env::current_exe().expect("current_exe");
    let (mut link, child, _fifos): (Link<N>, Child, Option<Fifos>) = match transport {
        Transport::Pipe => {
            let (req_tx, req_rx) = pipe::channel::<[u8; N]>().expect("pipe");
            let (resp_tx, resp_rx) = pipe::channel::<[u8; N]>().expect("pipe");
            let child = Command::new(exe)
                .env(ROLE, &role)
                .stdin(Stdio::from(req_rx))
                .stdout(Stdio::from(resp_tx))
                .spawn()
                .expect("spawn");
            let link = Link::from_fds(imp, req_tx.into(), resp_rx.into());
            (link, child, None)
        }
        Transport::Fifo => {
            let fifos = Fifos::new(&role);
            let child = Command::new(exe)
                .env(ROLE, &role)
                .env(REQ, fifos.req.path())
                .env(RESP, fifos.resp.path())
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn");
            let link = Link::open_fifos(imp, fifos.req.path(), fifos.resp.path(), true);
            (link, child, Some(fifos))
        }
    };

    let mut msg = [0u8; N];
    let mut back = [0u8; N];
    let mut rtts = Vec::with_capacity(ROUNDS);
    for i in 0..WARMUP + ROUNDS {
        msg[0] = i as u8;
        let t = Instant::now();
        link.send(&msg);
        link.recv(&mut back);
        let rtt = t.elapsed();
        assert_eq!(back[0], i as u8);
        if i >= WARMUP {
            rtts.push(rtt);
        }
    }
    rtts.sort();
    let count = stream_count(N);
    let t = Instant::now();
    for i in 0..count {
        msg[0] = i as u8;
        link.send(&msg);
    }
    link.recv(&mut back);
    let elapsed = t.elapsed();
    assert_eq!(back[0], (count - 1) as u8);
    drop(link);
    let status = wait(child);
    assert!(status.success(), "bench child {role} failed: {status}");
    Row {
        transport: if transport == Transport::Pipe {
            "pipe"
        } else {
            "fifo"
        },
        size: N,
        median: rtts[rtts.len() / 2] / 2,
        p99: rtts[rtts.len() * 99 / 100] / 2,
        msgs_per_s: count as f64 / elapsed.as_secs_f64(),
    }
}

/// Runs of each implementation kept: the lowest latencies, the highest throughput.
const BEST_OF: usize = 3;

fn best_of<const K: usize>(run: impl Fn() -> [Row; K]) -> [Row; K] {
    let mut best = run();
    for _ in 1..BEST_OF {
        for (b, r) in best.iter_mut().zip(run()) {
            b.median = b.median.min(r.median);
            b.p99 = b.p99.min(r.p99);
            b.msgs_per_s = b.msgs_per_s.max(r.msgs_per_s);
        }
    }
    best
}

fn wait(mut child: Child) -> std::process::ExitStatus {
    child.wait().expect("wait")
}

/// Two FIFOs in the temp dir, removed on drop.
struct Fifos {
    req: fifo::Fifo,
    resp: fifo::Fifo,
}

impl Fifos {
    fn new(role: &str) -> Self {
        let base = std::env::temp_dir().join(format!(
            "ipc-bench-{}-{}",
            std::process::id(),
            role.replace(':', "-")
        ));
        let path = |s: &str| PathBuf::from(format!("{}-{s}", base.display()));
        Fifos {
            req: fifo::create(path("req")).expect("mkfifo"),
            resp: fifo::create(path("resp")).expect("mkfifo"),
        }
    }
}

fn run_child(role: &str) {
    if std::env::var("IPC_BENCH_PIN").as_deref() == Ok("split") {
        pin_to_cpu(1);
    }
    let mut parts = role.split(':');
    let (transport, imp, size) = (parts.next(), parts.next(), parts.next());
    let imp = match imp {
        Some("typed") => Imp::Typed,
        Some("inplace") => Imp::InPlace,
        _ => Imp::Raw,
    };
    match size {
        Some("8") => child_of::<8>(transport, imp),
        Some("4096") => child_of::<4096>(transport, imp),
        Some("16") => child_of::<16>(transport, imp),
        Some("4104") => child_of::<4104>(transport, imp),
        other => panic!("unknown size {other:?}"),
    }
}

fn child_of<const N: usize>(transport: Option<&str>, imp: Imp)
where
    [u8; N]: Message,
{
    let link = match transport {
        Some("pipe") => {
            let rx = std::io::stdin();
            let tx = std::io::stdout();
            let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().expect("dup");
            use std::os::fd::AsFd;
            Link::<N>::from_fds(imp, dup(tx.as_fd()), dup(rx.as_fd()))
        }
        Some("fifo") => {
            let req = PathBuf::from(std::env::var_os(REQ).expect("IPC_BENCH_REQ"));
            let resp = PathBuf::from(std::env::var_os(RESP).expect("IPC_BENCH_RESP"));
            Link::<N>::open_fifos(imp, &resp, &req, false)
        }
        other => panic!("unknown transport {other:?}"),
    };
    child(link);
}

/// Pins this process (and so the children it spawns) to one CPU, unless
/// `IPC_BENCH_PIN=0`: the ping-pong then measures the transport, not whether the
/// scheduler happened to place the two processes on one core or two (on a busy 2-core
/// machine that alone moves the median between ~2 and ~30 µs).
fn pin_to_one_cpu() -> Option<usize> {
    if std::env::var("IPC_BENCH_PIN").as_deref() == Ok("0") {
        return None;
    }
    pin_to_cpu(0)
}

/// Pins this process to the `nth` CPU it may run on (`IPC_BENCH_PIN=split` puts the
/// child on the second, the parent on the first).
fn pin_to_cpu(nth: usize) -> Option<usize> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    // The child inherits the parent's one-CPU mask, so count from the process's own
    // mask only for the first CPU; the second is simply the next one.
    let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let first = (0..CpuSet::count()).find(|&c| allowed.is_set(c).unwrap_or(false))?;
    let cpu = first + nth;
    let mut one = CpuSet::new();
    one.set(cpu).ok()?;
    sched_setaffinity(Pid::from_raw(0), &one).ok()?;
    Some(cpu)
}

fn fmt_dur(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        run_child(&role);
        return;
    }
    // `cargo bench` passes `--bench`; a name filter selects transports ("pipe", "fifo").
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let pinned = pin_to_one_cpu();
    let started = Instant::now();
    println!(
        "{:<6} {:>6} {:<7} {:>12} {:>12} {:>14} {:>10} {:>11} {:>11}",
        "stream",
        "size",
        "impl",
        "lat median",
        "lat p99",
        "msgs/s",
        "MB/s",
        "lat ratio",
        "thr ratio"
    );
    for (name, transport) in [("pipe", Transport::Pipe), ("fifo", Transport::Fifo)] {
        if !wanted(name) {
            continue;
        }
        // Best of `BEST_OF` runs, typed and raw alternating, so both see the same machine.
        let rows = [
            best_of(|| {
                [
                    parent::<8>(transport, Imp::Typed),
                    parent::<8>(transport, Imp::InPlace),
                    parent::<8>(transport, Imp::Raw),
                ]
            }),
            best_of(|| {
                [
                    parent::<4096>(transport, Imp::Typed),
                    parent::<4096>(transport, Imp::InPlace),
                    parent::<4096>(transport, Imp::Raw),
                ]
            }),
        ];
        for [typed, in_place, raw] in &rows {
            for (row, label, base) in [
                (typed, "typed", Some(raw)),
                (in_place, "inplace", Some(raw)),
                (raw, "raw", None),
            ] {
                let ratios = match base {
                    Some(raw) => (
                        format!(
                            "{:.2}x",
                            row.median.as_secs_f64() / raw.median.as_secs_f64()
                        ),
                        // Time per message, as the latency column: raw rate / typed rate.
                        format!("{:.2}x", raw.msgs_per_s / row.msgs_per_s),
                    ),
                    None => ("-".into(), "-".into()),
                };
                println!(
                    "{:<6} {:>6} {:<7} {:>12} {:>12} {:>14.0} {:>10.1} {:>11} {:>11}",
                    row.transport,
                    row.size,
                    label,
                    fmt_dur(row.median),
                    fmt_dur(row.p99),
                    row.msgs_per_s,
                    row.msgs_per_s * row.size as f64 / 1e6,
                    ratios.0,
                    ratios.1
                );
            }
        }
    }
    match pinned {
        Some(cpu) if std::env::var("IPC_BENCH_PIN").as_deref() == Ok("split") => {
            println!("\nparent pinned to CPU {cpu}, child to CPU {}", cpu + 1)
        }
        Some(cpu) => println!(
            "\nboth processes pinned to CPU {cpu} (IPC_BENCH_PIN=0 to let them float, \
             IPC_BENCH_PIN=split for one CPU each)"
        ),
        None => println!("\nprocesses not pinned"),
    }
    println!(
        "lat: one-way latency (half a round trip); ratios are time per message, typed / raw, \
         for latency and throughput alike (above 1.00: slower than raw); inplace: the typed channel through \
         send_ref/recv_ref (zero copy), against raw. Best of {BEST_OF} alternating runs. Took {:.1} s.",
        started.elapsed().as_secs_f64()
    );
}
