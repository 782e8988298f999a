//! Throughput of the byte-stream transports beside what a user writes by hand instead.
//!
//! For each stream transport (pipe, FIFO, Unix stream socket, TCP on loopback) and message
//! size (8 B, 64 B, 4 KiB), a child process (`fork`) streams numbered messages one way and
//! the parent receives them all, checking every sequence number:
//!
//! - **per message**: typed `send` / `recv`, one system call each way per message;
//! - **batched**: typed `send_all` of 64 KiB of messages / `recv_many` into as many;
//! - **buffered**: a typed sender made `buffered(64 KiB)`, `send` per message and one
//!   `flush` at the end / `recv_many` into 64 KiB of messages;
//! - **by hand**: `std::io::BufWriter::with_capacity(64 KiB)` over the same kind of
//!   descriptor, `write_all` of each message's bytes, and `BufReader::with_capacity(64
//!   KiB)` + `read_exact` on the other side: what a user writes in ten lines when
//!   throughput is all that matters (no handshake, no framing, no validation).
//!
//! Each figure is the median of `ROUNDS` runs, the four ways interleaved so that all see
//! the same machine; the two processes are pinned to two CPUs. Ratios are typed / by hand
//! in messages per second: above 1 is faster than the hand-written code.
//!
//! ```text
//! cargo bench --bench batch            # every row
//! cargo bench --bench batch -- pipe    # rows whose transport contains "pipe"
//! ```

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use ipc::{Message, Rx, Tx};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

const ROUNDS: usize = 3;
/// Messages per batch on the typed side: 64 KiB of them, what the hand-written side's
/// `BufWriter` holds (8192 of 8 bytes, 1024 of 64, 16 of 4 KiB).
const fn batch(size: usize) -> usize {
    BUFFER / size
}
const BUFFER: usize = 64 * 1024;

/// A numbered message of `8 + N` bytes.
#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Payload<const N: usize> {
    seq: u64,
    data: [u8; N],
}

impl<const N: usize> Payload<N> {
    fn new(seq: u64) -> Self {
        Payload {
            seq,
            data: [seq as u8; N],
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Transport {
    Pipe,
    Fifo,
    Unix,
    Tcp,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Way {
    PerMessage,
    Batched,
    Buffered,
    ByHand,
}

const WAYS: [Way; 4] = [Way::PerMessage, Way::Batched, Way::Buffered, Way::ByHand];

/// How many messages one run streams: fewer one per system call, where each costs more.
fn count(size: usize, way: Way, quick: bool) -> u64 {
    let n = match (size, way) {
        (s, Way::PerMessage) if s <= 64 => 200_000,
        (_, Way::PerMessage) => 50_000,
        (8, _) => 4_000_000,
        (64, _) => 2_000_000,
        _ => 100_000,
    };
    if quick {
        n / 50
    } else {
        n
    }
}

fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    // The CPUs online, not those this process may use (`available_parallelism`): a
    // child inherits its parent's pinning to one CPU.
    let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .unwrap_or(1);
    if online > cpu as libc::c_long && set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &set);
    }
}

fn reap(pid: Pid) {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, 0) => {}
        other => panic!("benchmark child failed: {other:?}"),
    }
}

/// The two ends of one stream of `transport`, as descriptors: (write end, read end).
/// A FIFO is made in the temp dir and removed when the returned guard drops.
fn stream(transport: Transport) -> (OwnedFd, OwnedFd, Option<ipc::fifo::Fifo>) {
    match transport {
        Transport::Pipe => {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
            (w, r, None)
        }
        Transport::Fifo => {
            let path = std::env::temp_dir().join(format!("ipc-bench-batch-{}", std::process::id()));
            let fifo = ipc::fifo::create(&path).expect("mkfifo");
            // Read end first, non-blocking (a FIFO's open waits for the other side), then
            // back to blocking, as a reader opened by `open` would be.
            let r = File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&path)
                .expect("open fifo");
            let w = File::options().write(true).open(&path).expect("open fifo");
            set_blocking(&r);
            (w.into(), r.into(), Some(fifo))
        }
        Transport::Unix => {
            let (a, b) = UnixStream::pair().expect("socketpair");
            (a.into(), b.into(), None)
        }
        Transport::Tcp => {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
            let (b, _) = l.accept().expect("accept");
            a.set_nodelay(true).expect("nodelay");
            b.set_nodelay(true).expect("nodelay");
            (a.into(), b.into(), None)
        }
    }
}

use std::os::unix::fs::OpenOptionsExt;

fn set_blocking(f: &File) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fl = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL).expect("F_GETFL"));
    fcntl(f, FcntlArg::F_SETFL(fl - OFlag::O_NONBLOCK)).expect("F_SETFL");
}

/// The child's part: waits for the go byte, then streams `n` messages the `way` says.
fn send<const N: usize>(transport: Transport, way: Way, fd: OwnedFd, go: OwnedFd, n: u64)
where
    Payload<N>: Message,
{
    let go = File::from(go);
    let buffered = way == Way::Buffered;
    match (way, transport) {
        (Way::ByHand, _) => send_by_hand::<N>(fd, go, n),
        (_, Transport::Pipe | Transport::Fifo) => {
            let tx = ipc::pipe::Sender::from_fd(fd);
            let tx = if buffered { tx.buffered(BUFFER) } else { tx };
            send_typed::<N>(tx, way, go, n);
        }
        (_, Transport::Unix) => {
            let tx = ipc::socket::Stream::from_fd(fd).expect("handshake");
            let tx = if buffered { tx.buffered(BUFFER) } else { tx };
            send_typed::<N>(tx, way, go, n);
        }
        (_, Transport::Tcp) => {
            let tx = ipc::tcp::Stream::from_std(TcpStream::from(fd)).expect("handshake");
            let tx = if buffered { tx.buffered(BUFFER) } else { tx };
            send_typed::<N>(tx, way, go, n);
        }
    }
}

fn wait_go(go: &mut File) {
    let mut b = [0u8; 1];
    go.read_exact(&mut b).expect("go");
}

fn send_typed<const N: usize>(mut tx: impl Tx<Payload<N>>, way: Way, mut go: File, n: u64)
where
    Payload<N>: Message,
{
    wait_go(&mut go);
    match way {
        Way::Batched => {
            let len = batch(size_of::<Payload<N>>());
            let mut batch: Vec<_> = std::iter::repeat_n(Payload::<N>::new(0), len).collect();
            let mut seq = 0;
            while seq < n {
                let k = (n - seq).min(len as u64) as usize;
                for (i, m) in batch[..k].iter_mut().enumerate() {
                    *m = Payload::new(seq + i as u64);
                }
                tx.send_all(&batch[..k]).expect("send_all");
                seq += k as u64;
            }
        }
        _ => {
            for seq in 0..n {
                tx.send(Payload::new(seq)).expect("send");
            }
        }
    }
    tx.flush().expect("flush");
}

fn send_by_hand<const N: usize>(fd: OwnedFd, mut go: File, n: u64) {
    let mut w = BufWriter::with_capacity(BUFFER, File::from(fd));
    wait_go(&mut go);
    let mut m = [0u8; 4096 + 8];
    let m = &mut m[..8 + N];
    for seq in 0..n {
        m[..8].copy_from_slice(&seq.to_le_bytes());
        m[8..].fill(seq as u8);
        w.write_all(m).expect("write");
    }
    w.flush().expect("flush");
}

/// The parent's part: receives the `n` messages, checking each, and returns how long
/// that took from the go byte.
fn receive<const N: usize>(
    transport: Transport,
    way: Way,
    fd: OwnedFd,
    go: OwnedFd,
    n: u64,
) -> Duration
where
    Payload<N>: Message,
{
    let go = File::from(go);
    match (way, transport) {
        (Way::ByHand, _) => receive_by_hand::<N>(fd, go, n),
        (_, Transport::Pipe | Transport::Fifo) => {
            receive_typed::<N>(ipc::pipe::Receiver::from_fd(fd), way, go, n)
        }
        (_, Transport::Unix) => {
            let rx = ipc::socket::Stream::from_fd(fd).expect("handshake");
            receive_typed::<N>(rx, way, go, n)
        }
        (_, Transport::Tcp) => {
            let rx = ipc::tcp::Stream::from_std(TcpStream::from(fd)).expect("handshake");
            receive_typed::<N>(rx, way, go, n)
        }
    }
}

fn check(seq: u64, expected: u64) {
    assert_eq!(seq, expected, "lost or reordered");
}

fn receive_typed<const N: usize>(
    mut rx: impl Rx<Payload<N>>,
    way: Way,
    mut go: File,
    n: u64,
) -> Duration
where
    Payload<N>: Message,
{
    let len = batch(size_of::<Payload<N>>());
    let mut buf: Vec<_> = std::iter::repeat_n(Payload::<N>::new(0), len).collect();
    let start = Instant::now();
    go.write_all(&[1]).expect("go");
    if way == Way::PerMessage {
        for seq in 0..n {
            check(rx.recv().expect("recv").seq, seq);
        }
    } else {
        let mut seq = 0;
        while seq < n {
            let k = rx.recv_many(&mut buf).expect("recv_many");
            for m in &buf[..k] {
                check(m.seq, seq);
                seq += 1;
            }
        }
    }
    start.elapsed()
}

fn receive_by_hand<const N: usize>(fd: OwnedFd, mut go: File, n: u64) -> Duration {
    let mut r = BufReader::with_capacity(BUFFER, File::from(fd));
    let mut m = [0u8; 4096 + 8];
    let m = &mut m[..8 + N];
    let start = Instant::now();
    go.write_all(&[1]).expect("go");
    for seq in 0..n {
        r.read_exact(m).expect("read");
        check(u64::from_le_bytes(m[..8].try_into().expect("8 bytes")), seq);
    }
    start.elapsed()
}

/// One run: a fresh stream, a child that sends, the parent that receives.
fn run<const N: usize>(transport: Transport, way: Way, n: u64) -> Duration
where
    Payload<N>: Message,
{
    let (w, r, _fifo) = stream(transport);
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe2");
    // SAFETY: this benchmark is single-threaded when it forks, so the child gets a
    // consistent copy of the process (no lock held by another thread), and the child
    // leaves with `_exit` without returning into the parent's code.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            pin(1);
            drop((r, go_w));
            let ok = std::panic::catch_unwind(AssertUnwindSafe(|| {
                send::<N>(transport, way, w, go_r, n);
            }))
            .is_ok();
            // SAFETY: `_exit` ends the child at once; nothing of it is used after.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => {
            drop((w, go_r));
            let t = receive::<N>(transport, way, r, go_w, n);
            reap(child);
            t
        }
    }
}

struct Row {
    transport: Transport,
    size: usize,
    /// Messages per second, one median per way (in `WAYS` order).
    rate: [f64; 4],
}

fn measure<const N: usize>(transport: Transport, quick: bool) -> Row
where
    Payload<N>: Message,
{
    let size = 8 + N;
    let mut runs: [Vec<f64>; 4] = Default::default();
    for _ in 0..ROUNDS {
        for (i, way) in WAYS.into_iter().enumerate() {
            let n = count(size, way, quick);
            let t = run::<N>(transport, way, n);
            runs[i].push(n as f64 / t.as_secs_f64());
        }
    }
    let rate = runs.map(|mut r| {
        r.sort_by(f64::total_cmp);
        r[r.len() / 2]
    });
    Row {
        transport,
        size,
        rate,
    }
}

/// A message with fields whose bit patterns are checked: an enum and a bool.
#[derive(Clone, Copy, Message)]
#[repr(u8)]
enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Order {
    id: u64,
    price: u32,
    qty: u16,
    side: Side,
    urgent: bool,
}

/// The same bytes with nothing to check: every bit pattern is one.
#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Plain {
    id: u64,
    price: u32,
    qty: u16,
    side: u8,
    urgent: u8,
}

/// Nanoseconds per message to decode `n` records of `T` from memory with `read_many`
/// (header check, validation, one copy into the caller's slice): median of `ROUNDS`.
fn decode_ns<T: Message>(make: impl Fn(u64) -> T, n: u64) -> f64 {
    let mut wire = Vec::new();
    ipc::codec::write_hello::<T, _>(&mut wire).expect("hello");
    for i in 0..n {
        ipc::codec::write_message(&mut wire, &make(i)).expect("write");
    }
    let mut runs: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let mut reader = ipc::codec::FrameReader::<T>::new();
            let mut src = &wire[..];
            let mut buf = vec![make(0); 256];
            let start = Instant::now();
            let mut got = 0;
            while got < n {
                got += reader.read_many(&mut src, &mut buf).expect("decode") as u64;
                std::hint::black_box(&buf);
            }
            start.elapsed().as_secs_f64() * 1e9 / n as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |t: Transport| {
        let name = format!("{t:?}").to_lowercase();
        filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()))
    };
    pin(0);
    let mut rows = Vec::new();
    for t in [
        Transport::Pipe,
        Transport::Fifo,
        Transport::Unix,
        Transport::Tcp,
    ] {
        if wanted(t) {
            rows.push(measure::<0>(t, quick));
            rows.push(measure::<56>(t, quick));
            rows.push(measure::<4088>(t, quick));
        }
    }
    println!(
        "\none-way throughput, M msg/s (median of {ROUNDS}); ratios are typed / by hand, above 1 is faster\n"
    );
    println!(
        "{:<6} {:>6} {:>12} {:>9} {:>9} {:>9}   {:>9} {:>9}",
        "stream", "size", "per message", "batched", "buffered", "by hand", "batch/h", "buffer/h"
    );
    for r in &rows {
        let m = |x: f64| x / 1e6;
        println!(
            "{:<6} {:>5}B {:>12.2} {:>9.2} {:>9.2} {:>9.2}   {:>8.2}x {:>8.2}x",
            format!("{:?}", r.transport).to_lowercase(),
            r.size,
            m(r.rate[0]),
            m(r.rate[1]),
            m(r.rate[2]),
            m(r.rate[3]),
            r.rate[1] / r.rate[3],
            r.rate[2] / r.rate[3],
        );
    }
    let n = if quick { 100_000 } else { 4_000_000 };
    let order = decode_ns(
        |i| Order {
            id: i,
            price: i as u32,
            qty: 1,
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            urgent: i % 3 == 0,
        },
        n,
    );
    let plain = decode_ns(
        |i| Plain {
            id: i,
            price: i as u32,
            qty: 1,
            side: (i % 2) as u8,
            urgent: (i % 3 == 0) as u8,
        },
        n,
    );
    println!(
        "\nvalidation, decoding 16-byte records from memory with read_many: {order:.2} ns/msg for \
         a struct with an enum and a bool, {plain:.2} ns/msg for the same bytes with nothing \
         to check: {:.2} ns/msg of validation",
        order - plain
    );
    if quick {
        println!("[quick run: pass --bench for real figures]");
    }
}
