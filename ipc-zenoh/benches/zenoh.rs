//! Typed publish/subscribe over Zenoh beside Zenoh's own untyped `put` and subscriber of
//! the same bytes, in one run: throughput and one-way latency at 8 B, 4 KiB and 64 KiB,
//! between this process (session A) and a child process (session B) on loopback TCP.
//!
//! The messages are `[u64; N]` (the first word a sequence number the receiver checks, on
//! both sides). Typed, each sample also carries its 29-byte tag, and the subscriber checks
//! fingerprint, sequence and length before handing out a `&[u64; N]`; untyped, the
//! subscriber takes `payload().to_bytes()` and reads the sequence number from it. Both
//! publish with congestion control Block into a subscriber queue of 1,024.
//!
//! Throughput: a stream of `count` messages, timed from the first `put` to the child's
//! word that it has the last; latency: half a ping-pong round trip (express publishers),
//! the child sending back what it received from the received bytes, both ways (typed:
//! `send_ref(&sample)`; untyped: `put(&*payload.to_bytes())`).
//! Each figure is the median of 7 rounds, typed and untyped rounds alternating, and each
//! ratio the median of the per-round ratios.
//!
//! `cargo bench -p typed-ipc-zenoh --bench zenoh`

use std::time::{Duration, Instant};

use ipc_zenoh::zenoh::handlers::{FifoChannel, FifoChannelHandler};
use ipc_zenoh::zenoh::Wait;
use ipc_zenoh::{Options, Publisher, Subscriber};

const ROLE: &str = "IPC_ZENOH_BENCH_CHILD";
const ROUNDS: usize = 7;

type ZSub = zenoh::pubsub::Subscriber<FifoChannelHandler<zenoh::sample::Sample>>;

/// The sizes, with the stream length and ping-pong count of a round.
const SIZES: [(usize, u64, u64); 3] = [
    (8, 200_000, 2_000),
    (4096, 40_000, 1_000),
    (65536, 4_000, 300),
];

fn key(what: &str, typed: bool, size: usize) -> String {
    let pid = std::env::var("BENCH_PARENT").unwrap_or_else(|_| std::process::id().to_string());
    format!(
        "bench/{pid}/{what}/{}/{size}",
        if typed { "typed" } else { "raw" }
    )
}

/// The first word of a message: its sequence number.
fn seq_of(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes at least"))
}

/// One typed stream end of each size, monomorphised over `N` words.
macro_rules! per_size {
    ($size:expr, $n:ident => $body:expr) => {
        match $size {
            8 => {
                const $n: usize = 1;
                $body
            }
            4096 => {
                const $n: usize = 512;
                $body
            }
            65536 => {
                const $n: usize = 8192;
                $body
            }
            s => unreachable!("size {s}"),
        }
    };
}

fn session(listen: &[&str], connect: &[&str]) -> zenoh::Session {
    ipc_zenoh::open(ipc_zenoh::config::peer(listen, connect).unwrap()).unwrap()
}

fn fifo(session: &zenoh::Session, key: String) -> ZSub {
    session
        .declare_subscriber(key)
        .with(FifoChannel::new(1024))
        .wait()
        .unwrap()
}

fn raw_publisher(
    session: &zenoh::Session,
    key: String,
    express: bool,
) -> zenoh::pubsub::Publisher<'static> {
    session
        .declare_publisher(key)
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .express(express)
        .wait()
        .unwrap()
}

/// The child: receives the streams and answers the pings, as the control key says.
fn child() {
    let connect = std::env::var("CONNECT").unwrap();
    let s = session(&[], &[&connect]);
    let ack = raw_publisher(&s, key("ack", false, 0), true);
    let ctl = fifo(&s, key("ctl", false, 0));
    loop {
        let cmd = ctl.recv().unwrap();
        let cmd = cmd.payload().try_to_string().unwrap().into_owned();
        let words: Vec<&str> = cmd.split(' ').collect();
        if words[0] == "quit" {
            return;
        }
        let typed = words[1] == "typed";
        let size: usize = words[2].parse().unwrap();
        let count: u64 = words[3].parse().unwrap();
        // Declare, say ready, run the round, say done.
        match (words[0], typed) {
            ("tput", true) => per_size!(size, N => {
                let mut rx = Subscriber::<[u64; N]>::declare(&s, &key("data", true, size)).unwrap();
                ack.put("ready").wait().unwrap();
                for i in 0..count {
                    let m = rx.recv().unwrap();
                    assert_eq!(m[0], i);
                }
            }),
            ("tput", false) => {
                let rx = fifo(&s, key("data", false, size));
                ack.put("ready").wait().unwrap();
                for i in 0..count {
                    let m = rx.recv().unwrap();
                    assert_eq!(seq_of(&m.payload().to_bytes()), i);
                }
            }
            ("echo", true) => per_size!(size, N => {
                let mut rx = Subscriber::<[u64; N]>::declare(&s, &key("ping", true, size)).unwrap();
                let mut tx = Publisher::<[u64; N]>::declare_with(&s, &key("pong", true, size), Options::new().express(true)).unwrap();
                ack.put("ready").wait().unwrap();
                for _ in 0..count {
                    let m = rx.recv().unwrap();
                    tx.send_ref(&m).unwrap();
                }
            }),
            _ => {
                let rx = fifo(&s, key("ping", false, size));
                let tx = raw_publisher(&s, key("pong", false, size), true);
                ack.put("ready").wait().unwrap();
                for _ in 0..count {
                    let m = rx.recv().unwrap();
                    tx.put(&*m.payload().to_bytes()).wait().unwrap();
                }
            }
        }
        ack.put("done").wait().unwrap();
    }
}

struct Parent {
    s: zenoh::Session,
    ctl: zenoh::pubsub::Publisher<'static>,
    ack: ZSub,
}

impl Parent {
    /// Asks the child for a round and waits until it is ready for it.
    fn start(&self, what: &str, typed: bool, size: usize, count: u64) {
        let mode = if typed { "typed" } else { "raw" };
        self.ctl
            .put(format!("{what} {mode} {size} {count}"))
            .wait()
            .unwrap();
        self.expect("ready");
    }

    fn expect(&self, word: &str) {
        let a = self
            .ack
            .recv_timeout(Duration::from_secs(120))
            .unwrap()
            .expect("the child answers");
        assert_eq!(a.payload().try_to_string().unwrap(), word);
    }

    /// Messages per second of one stream round.
    fn stream(&self, typed: bool, size: usize, count: u64) -> f64 {
        self.start("tput", typed, size, count);
        let k = key("data", typed, size);
        let start;
        if typed {
            per_size!(size, N => {
                let mut tx = Publisher::<[u64; N]>::declare(&self.s, &k).unwrap();
                tx.wait_for_subscribers(Duration::from_secs(10)).unwrap();
                let mut m = [0u64; N];
                start = Instant::now();
                for i in 0..count {
                    m[0] = i;
                    tx.send_ref(&m).unwrap();
                }
            })
        } else {
            let tx = raw_publisher(&self.s, k, false);
            while !tx.matching_status().wait().unwrap().matching() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut m = vec![0u8; size];
            start = Instant::now();
            for i in 0..count {
                m[..8].copy_from_slice(&i.to_le_bytes());
                tx.put(&m[..]).wait().unwrap();
            }
        }
        self.expect("done");
        count as f64 / start.elapsed().as_secs_f64()
    }

    /// One-way latency of one ping-pong round, in nanoseconds.
    fn ping(&self, typed: bool, size: usize, count: u64) -> f64 {
        self.start("echo", typed, size, count);
        let (ping, pong) = (key("ping", typed, size), key("pong", typed, size));
        let start;
        if typed {
            per_size!(size, N => {
                let mut rx = Subscriber::<[u64; N]>::declare(&self.s, &pong).unwrap();
                let mut tx = Publisher::<[u64; N]>::declare_with(&self.s, &ping, Options::new().express(true)).unwrap();
                tx.wait_for_subscribers(Duration::from_secs(10)).unwrap();
                let mut m = [0u64; N];
                // The pong publisher must know of this subscriber: the first trip waits.
                tx.send_ref(&m).unwrap();
                rx.recv().unwrap();
                start = Instant::now();
                for i in 1..count {
                    m[0] = i;
                    tx.send_ref(&m).unwrap();
                    assert_eq!(rx.recv().unwrap()[0], i);
                }
            })
        } else {
            let rx = fifo(&self.s, pong);
            let tx = raw_publisher(&self.s, ping, true);
            while !tx.matching_status().wait().unwrap().matching() {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut m = vec![0u8; size];
            tx.put(&m[..]).wait().unwrap();
            rx.recv().unwrap();
            start = Instant::now();
            for i in 1..count {
                m[..8].copy_from_slice(&i.to_le_bytes());
                tx.put(&m[..]).wait().unwrap();
                assert_eq!(seq_of(&rx.recv().unwrap().payload().to_bytes()), i);
            }
        }
        self.expect("done");
        start.elapsed().as_nanos() as f64 / (count - 1) as f64 / 2.0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.1} k/s", r / 1e3)
    }
}

fn main() {
    if std::env::var_os(ROLE).is_some() {
        return child();
    }
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("tcp/127.0.0.1:{port}");
    let s = session(&[&listen], &[]);
    let ack = fifo(&s, key("ack", false, 0));
    let ctl = raw_publisher(&s, key("ctl", false, 0), true);
    let mut kid = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, "1")
        .env("CONNECT", &listen)
        .env("BENCH_PARENT", std::process::id().to_string())
        .spawn()
        .unwrap();
    while !ctl.matching_status().wait().unwrap().matching() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let p = Parent { s, ctl, ack };
    println!("typed ipc_zenoh beside untyped Zenoh (put / subscriber), loopback TCP, median of {ROUNDS} rounds");
    println!(
        "{:>6} | {:>11} {:>11} {:>6} | {:>10} {:>10} {:>6}",
        "size", "typed", "raw", "ratio", "typed lat", "raw lat", "ratio"
    );
    for (size, count, trips) in SIZES {
        let (mut t, mut r, mut ratio) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let (a, b) = (p.stream(true, size, count), p.stream(false, size, count));
            t.push(a);
            r.push(b);
            ratio.push(a / b);
        }
        let (mut tl, mut rl, mut lratio) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            let (a, b) = (p.ping(true, size, trips), p.ping(false, size, trips));
            tl.push(a);
            rl.push(b);
            lratio.push(a / b);
        }
        println!(
            "{:>6} | {:>11} {:>11} {:>5.2}x | {:>7.1} us {:>7.1} us {:>5.2}x",
            match size {
                8 => "8 B".to_owned(),
                s => format!("{} KiB", s / 1024),
            },
            rate(median(t)),
            rate(median(r)),
            median(ratio),
            median(tl) / 1e3,
            median(rl) / 1e3,
            median(lratio),
        );
    }
    p.ctl.put("quit").wait().unwrap();
    assert!(kid.wait().unwrap().success());
}
