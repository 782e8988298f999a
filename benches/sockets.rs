//! Typed sockets beside the raw syscalls they are built on, two real processes (`fork`):
//! a Unix stream socket pair (`write`/`read` of the payload bytes against
//! `ipc::socket::Stream`), a Unix `SOCK_SEQPACKET` pair (one datagram per message, against
//! `ipc::socket::SeqPacket`, whose datagrams carry the schema fingerprint in 8 more bytes)
//! and TCP on loopback (against `ipc::tcp::Stream`), 8-byte and 4 KiB messages, latency
//! (ping-pong round trip) and throughput (one-way stream, then one acknowledgement). The
//! "unix, foreign" rows run the typed stream in foreign-peer mode (`Options::foreign`:
//! bare messages, as a C peer's `send`) against the same raw socket pair.
//!
//! Each figure is the best of several rounds, raw and typed alternating, so both see the
//! same machine. Prints a table with typed / raw. The "in place" columns run the typed stream through `send_ref`/`recv_ref` (zero copy:
//! the received message is read where it lies), which
//! spare a large message the copy into `send` and out of `recv`, against the same raw
//! figure.
//!
//! `cargo bench --bench sockets`

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use ipc::Message;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

const ROUNDS: usize = 7;

/// Pins this process to `cpu` (when the machine has it): the benchmark pins itself to CPU
/// 0 and its forked children inherit that, so the two processes of a measurement share
/// one CPU, as `cargo bench --bench stream` places them (the stable setting on a shared
/// VM; the figures in the README were measured so).
fn pin(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > cpu && set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &set);
    }
}

/// Runs `f` in a child process; returns its pid.
fn in_child(f: impl FnOnce()) -> Pid {
    // SAFETY: this benchmark is single-threaded when it forks, so the child gets a
    // consistent copy of the process (no lock held by another thread), and the child
    // leaves with `_exit` without returning into the parent's code.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let ok = std::panic::catch_unwind(AssertUnwindSafe(f)).is_ok();
            // SAFETY: `_exit` ends the child at once; nothing of it is used after.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        ForkResult::Parent { child } => child,
    }
}

fn reap(pid: Pid) {
    match waitpid(pid, None).expect("waitpid") {
        WaitStatus::Exited(_, 0) => {}
        other => panic!("benchmark child failed: {other:?}"),
    }
}

/// The typed side of a connection. `tx` borrows the message, as the raw side's
/// `write_all(&buf)` does, so the harness adds no copy of a 4 KiB message of its own; the
/// typed API's own copies (`send` takes it by value, `recv` returns it) remain.
/// `tx_ref`/`rx_ref` are the in-place API (`send_ref`/`recv_ref`, or `recv_into` the
/// scratch value where there is no `recv_ref`; `rx_into` is `recv_into`, for the final
/// acknowledgement).
trait Typed<T> {
    fn tx(&mut self, m: &T);
    fn rx(&mut self) -> T;
    fn tx_ref(&mut self, m: &T);
    fn rx_into(&mut self, out: &mut T);
    fn rx_ref(&mut self, scratch: &mut T);
}

macro_rules! typed_impl {
    ($stream:ty, |$s:ident, $scratch:ident| $rx_ref:expr) => {
        impl<T: Message> Typed<T> for $stream {
            fn tx(&mut self, m: &T) {
                self.send(*m).expect("send");
            }
            fn rx(&mut self) -> T {
                self.recv().expect("recv")
            }
            fn tx_ref(&mut self, m: &T) {
                self.send_ref(m).expect("send_ref");
            }
            fn rx_into(&mut self, out: &mut T) {
                self.recv_into(out).expect("recv_into");
            }
            fn rx_ref(&mut self, $scratch: &mut T) {
                let $s = self;
                $rx_ref;
            }
        }
    };
}
typed_impl!(ipc::socket::Stream<T>, |s, _scratch| std::hint::black_box(
    s.recv_ref().expect("recv_ref")
));
typed_impl!(ipc::tcp::Stream<T>, |s, _scratch| std::hint::black_box(
    s.recv_ref().expect("recv_ref")
));
// A seqpacket has no `recv_ref` (a datagram is received into its own buffer): the
// in-place receive is `recv_into`.
typed_impl!(ipc::socket::SeqPacket<T>, |s, scratch| s
    .recv_into(std::hint::black_box(scratch))
    .expect("recv_into"));

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Latency,
    Throughput,
}

/// Raw: the peer echoes every message (latency) or reads them all and answers one byte.
fn raw_peer(mut s: impl Read + Write, size: usize, n: usize, mode: Mode) {
    let mut buf = vec![0u8; 64 * 1024];
    match mode {
        Mode::Latency => {
            for _ in 0..n {
                s.read_exact(&mut buf[..size]).unwrap();
                s.write_all(&buf[..size]).unwrap();
            }
        }
        Mode::Throughput => {
            let mut left = size * n;
            while left > 0 {
                let got = s.read(&mut buf[..left.min(64 * 1024)]).unwrap();
                assert!(got > 0);
                left -= got;
            }
            s.write_all(&[1]).unwrap();
        }
    }
}

fn raw_driver(mut s: impl Read + Write, size: usize, n: usize, mode: Mode) -> Duration {
    let mut buf = vec![7u8; size];
    let start = Instant::now();
    match mode {
        Mode::Latency => {
            for _ in 0..n {
                s.write_all(&buf).unwrap();
                s.read_exact(&mut buf).unwrap();
            }
        }
        Mode::Throughput => {
            for _ in 0..n {
                s.write_all(&buf).unwrap();
            }
            s.read_exact(&mut buf[..1]).unwrap();
        }
    }
    start.elapsed()
}

fn typed_peer<T: Message>(mut s: impl Typed<T>, msg: T, n: usize, mode: Mode, in_place: bool) {
    if in_place {
        // Messages are read where they lie; the reply is sent from one buffer in place.
        let m = msg;
        let mut scratch = msg;
        match mode {
            Mode::Latency => {
                for _ in 0..n {
                    s.rx_ref(&mut scratch);
                    s.tx_ref(&m);
                }
            }
            Mode::Throughput => {
                for _ in 0..n {
                    s.rx_ref(&mut scratch);
                }
                s.tx_ref(&m);
            }
        }
        return;
    }
    match mode {
        Mode::Latency => {
            for _ in 0..n {
                let m = s.rx();
                s.tx(&m);
            }
        }
        Mode::Throughput => {
            // Each message is received (by value, as the API returns it) and dropped, as
            // the raw peer drops its bytes; only the last is answered.
            for _ in 1..n {
                std::hint::black_box(s.rx());
            }
            let last = s.rx();
            s.tx(&last);
        }
    }
}

fn typed_driver<T: Message>(
    mut s: impl Typed<T>,
    msg: T,
    n: usize,
    mode: Mode,
    in_place: bool,
) -> Duration {
    let start = Instant::now();
    if in_place {
        let mut back = msg;
        match mode {
            Mode::Latency => {
                for _ in 0..n {
                    s.tx_ref(&msg);
                    s.rx_ref(&mut back);
                }
            }
            Mode::Throughput => {
                for _ in 0..n {
                    s.tx_ref(&msg);
                }
                s.rx_into(std::hint::black_box(&mut back));
            }
        }
        return start.elapsed();
    }
    match mode {
        Mode::Latency => {
            for _ in 0..n {
                s.tx(&msg);
                std::hint::black_box(s.rx());
            }
        }
        Mode::Throughput => {
            for _ in 0..n {
                s.tx(&msg);
            }
            std::hint::black_box(s.rx());
        }
    }
    start.elapsed()
}

fn unix_raw(size: usize, n: usize, mode: Mode) -> Duration {
    let (a, b) = UnixStream::pair().unwrap();
    let pid = in_child(|| {
        raw_peer(b, size, n, mode);
    });
    let t = raw_driver(a, size, n, mode);
    reap(pid);
    t
}

fn unix_typed<T: Message>(msg: T, n: usize, mode: Mode, in_place: bool) -> Duration {
    let (a, b) = ipc::socket::Stream::<T>::pair().unwrap();
    let pid = in_child(|| {
        typed_peer(b, msg, n, mode, in_place);
    });
    let t = typed_driver(a, msg, n, mode, in_place);
    reap(pid);
    t
}

/// The typed stream in foreign-peer mode (`Options::foreign`: bare messages, the wire of
/// a program not built on ipc), over a socket pair.
fn unix_foreign<T: Message>(msg: T, n: usize, mode: Mode, in_place: bool) -> Duration {
    let (a, b) = UnixStream::pair().unwrap();
    let foreign = ipc::socket::Options::new().foreign();
    let open = |s: UnixStream| ipc::socket::Stream::<T>::from_fd_with(s.into(), &foreign).unwrap();
    let pid = in_child(|| {
        typed_peer(open(b), msg, n, mode, in_place);
    });
    let t = typed_driver(open(a), msg, n, mode, in_place);
    reap(pid);
    t
}

/// A connected pair of `SOCK_SEQPACKET` Unix sockets.
fn seqpacket_pair() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}

/// Raw: each `write` sends one datagram and each `read` takes one (the raw peer's
/// streaming loop counts bytes, one message per `read`).
fn seqpacket_raw(size: usize, n: usize, mode: Mode) -> Duration {
    let (a, b) = seqpacket_pair();
    let pid = in_child(|| {
        raw_peer(std::fs::File::from(b), size, n, mode);
    });
    let t = raw_driver(std::fs::File::from(a), size, n, mode);
    reap(pid);
    t
}

fn seqpacket_typed<T: Message>(msg: T, n: usize, mode: Mode, in_place: bool) -> Duration {
    let (a, b) = seqpacket_pair();
    let pid = in_child(|| {
        let b = ipc::socket::SeqPacket::<T>::from_fd(b).unwrap();
        typed_peer(b, msg, n, mode, in_place);
    });
    let a = ipc::socket::SeqPacket::<T>::from_fd(a).unwrap();
    let t = typed_driver(a, msg, n, mode, in_place);
    reap(pid);
    t
}

fn tcp_raw(size: usize, n: usize, mode: Mode) -> Duration {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let pid = in_child(|| {
        let s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        raw_peer(s, size, n, mode);
    });
    let (s, _) = l.accept().unwrap();
    s.set_nodelay(true).unwrap();
    let t = raw_driver(s, size, n, mode);
    reap(pid);
    t
}

fn tcp_typed<T: Message>(msg: T, n: usize, mode: Mode, in_place: bool) -> Duration {
    let l = ipc::tcp::Listener::<T>::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let pid = in_child(|| {
        typed_peer(
            ipc::tcp::Stream::<T>::connect(addr).unwrap(),
            msg,
            n,
            mode,
            in_place,
        );
    });
    let s = l.accept().unwrap();
    let t = typed_driver(s, msg, n, mode, in_place);
    reap(pid);
    t
}

struct Row {
    transport: &'static str,
    size: usize,
    mode: Mode,
    n: usize,
    raw: Duration,
    typed: Duration,
    /// The typed stream through `send_ref`/`recv_ref`.
    in_place: Duration,
}

fn measure(
    transport: &'static str,
    size: usize,
    mode: Mode,
    n: usize,
    raw: impl Fn(usize) -> Duration,
    typed: impl Fn(bool) -> Duration,
) -> Row {
    let (mut best_raw, mut best_typed, mut best_in_place) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_raw = best_raw.min(raw(size));
        best_typed = best_typed.min(typed(false));
        best_in_place = best_in_place.min(typed(true));
    }
    Row {
        transport,
        size,
        mode,
        n,
        raw: best_raw,
        typed: best_typed,
        in_place: best_in_place,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this too: keep it short.
    let quick = !std::env::args().any(|a| a == "--bench");
    pin(0);
    let scale = if quick { 20 } else { 1 };
    let lat = 20_000 / scale;
    let thr_small = 200_000 / scale;
    let thr_big = 50_000 / scale;
    let big = [0x5au8; 4096];
    // `cargo bench --bench sockets -- tcp` runs the rows whose transport contains "tcp".
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |t: &str| filter.is_empty() || filter.iter().any(|f| t.contains(f.as_str()));
    let mut rows = Vec::new();
    for mode in [Mode::Latency, Mode::Throughput] {
        let (n8, n4k) = match mode {
            Mode::Latency => (lat, lat),
            Mode::Throughput => (thr_small, thr_big),
        };
        // The 8-byte and the 4 KiB row of one transport: its raw and typed functions.
        macro_rules! rows {
            ($name:literal, $raw:ident, $typed:ident) => {
                if wanted($name) {
                    rows.push(measure(
                        $name,
                        8,
                        mode,
                        n8,
                        |size| $raw(size, n8, mode),
                        |ip| $typed(0x1234_5678_9abc_def0u64, n8, mode, ip),
                    ));
                    rows.push(measure(
                        $name,
                        4096,
                        mode,
                        n4k,
                        |size| $raw(size, n4k, mode),
                        |ip| $typed(big, n4k, mode, ip),
                    ));
                }
            };
        }
        rows!("unix socket pair", unix_raw, unix_typed);
        rows!("unix, foreign", unix_raw, unix_foreign);
        rows!("unix seqpacket", seqpacket_raw, seqpacket_typed);
        rows!("tcp loopback", tcp_raw, tcp_typed);
    }
    println!(
        "\n{:<18} {:>6} {:<16} {:>12} {:>12} {:>7}   {:>12} {:>7}",
        "transport", "size", "measure", "raw", "typed", "ratio", "in place", "ratio"
    );
    let mut worst: f64 = 0.0;
    let mut worst_in_place: f64 = 0.0;
    for r in &rows {
        let per = |d: Duration| d.as_secs_f64() * 1e9 / r.n as f64;
        let (what, unit) = match r.mode {
            Mode::Latency => ("round trip", "ns/rt"),
            Mode::Throughput => ("one-way stream", "ns/msg"),
        };
        let ratio = per(r.typed) / per(r.raw);
        let ratio_in_place = per(r.in_place) / per(r.raw);
        worst = worst.max(ratio);
        worst_in_place = worst_in_place.max(ratio_in_place);
        println!(
            "{:<18} {:>5}B {:<16} {:>6.0} {unit} {:>6.0} {unit} {:>6.2}x   {:>6.0} {unit} {:>6.2}x",
            r.transport,
            r.size,
            what,
            per(r.raw),
            per(r.typed),
            ratio,
            per(r.in_place),
            ratio_in_place,
        );
    }
    println!(
        "\nin place: the typed stream through send_ref/recv_ref (zero copy); its ratio is against raw.\n\
         worst ratio (time, typed / raw): {worst:.2}x; in place: \
         {worst_in_place:.2}x{}",
        if quick {
            " [quick run: pass --bench for real figures]"
        } else {
            ""
        }
    );
}
