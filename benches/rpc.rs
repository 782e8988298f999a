//! Round trip of a generated service (`#[ipc::service]`) beside the hand-written
//! request/response it is built on, over the same transport, between two processes
//! (`fork`): a Unix stream socket (`ipc::socket::{Client, Server}`) and TCP on loopback
//! (`ipc::tcp::{Client, Server}`), an 8-byte and a 4 KiB argument echoed back.
//!
//! The hand-written side sends the `[u8; N]` itself as the request and answers it as the
//! response; the service's request adds an 8-byte header (call number, method id), and
//! its client checks the answer's number. Each figure is the median of several rounds,
//! both sides alternating so they see the same machine; ratios are generated /
//! hand-written. Both processes share CPU 0, as in `cargo bench --bench sockets`.
//!
//! Then shared memory (`ipc::shm::rpc`, rows from `rpc/shm.rs`): the generated
//! service beside the hand-written `shm::rpc::{Client, Server}`, a hand-written pair of
//! channels and a bare atomic ping-pong, the two sides on two CPUs, in alternating blocks
//! (medians of the per-block figures and ratios; see that file).
//!
//! Last, the generated async client over shared memory (`shm::rpc::AsyncClient`, on a
//! current-thread tokio runtime) beside the generated sync client, one server for both
//! (rows from `rpc/shm_async.rs`).
//!
//! `cargo bench --bench rpc` (`IPC_BENCH_CALLS` sets the calls per round or block, 5,000
//! by default).

use std::time::Instant;

use ipc::rpc::Call;

mod common;
#[path = "rpc/shm.rs"]
mod shm;
#[path = "rpc/shm_async.rs"]
mod shm_async;

const ROUNDS: usize = 7;

#[ipc::service]
pub trait Small {
    /// Its argument back.
    fn echo(&self, data: [u8; 8]) -> [u8; 8];
}

#[ipc::service]
pub trait Large {
    /// Its argument back.
    fn echo(&self, data: [u8; 4096]) -> [u8; 4096];
}

struct Echo;

impl Small for Echo {
    fn echo(&self, data: [u8; 8]) -> [u8; 8] {
        data
    }
}

impl Large for Echo {
    fn echo(&self, data: [u8; 4096]) -> [u8; 4096] {
        data
    }
}

fn calls() -> u64 {
    std::env::var("IPC_BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// A server of `Req`/`Resp` on `transport` in a child process that runs `serve` on it;
/// the parent's client. The socket file (if any) is removed when the guard drops.
macro_rules! pair {
    ($transport:expr, $dir:expr, $tag:expr, $req:ty, $resp:ty, $serve:expr) => {{
        let serve = $serve;
        if $transport == "unix" {
            let path = $dir.join($tag);
            let mut server = ipc::socket::Server::<$req, $resp>::bind(&path).unwrap();
            // The parent keeps its server (whose drop removes the socket file) until the
            // end; the child serves on the listener they share.
            let pid = common::spawn(|| serve(&mut server));
            let client = ipc::socket::Client::<$req, $resp>::connect(&path).unwrap();
            (
                pid,
                Box::new(client) as Box<dyn Call<$req, $resp>>,
                Box::new(server) as Box<dyn std::any::Any>,
            )
        } else {
            let mut server = ipc::tcp::Server::<$req, $resp>::bind("127.0.0.1:0").unwrap();
            let addr = server.local_addr().unwrap();
            let pid = common::spawn(|| serve(&mut server));
            let client = ipc::tcp::Client::<$req, $resp>::connect(addr).unwrap();
            (
                pid,
                Box::new(client) as Box<dyn Call<$req, $resp>>,
                Box::new(server) as Box<dyn std::any::Any>,
            )
        }
    }};
}

/// Nanoseconds per round trip of `n` calls of `call`.
fn time(n: u64, mut call: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        call(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// The median of `rounds` (the upper middle one of an even number).
fn median(mut rounds: Vec<f64>) -> f64 {
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn row(transport: &str, size: &str, hand: f64, generated: f64) {
    println!(
        "{transport:<6} {size:>6}  {:>12}  {:>12}  {:>6.2}",
        common::fmt_ns(hand),
        common::fmt_ns(generated),
        generated / hand
    );
}

fn main() {
    common::pin(&[0]);
    let n = calls();
    let dir = std::env::temp_dir().join(common::unique("rpc"));
    std::fs::create_dir_all(&dir).unwrap();
    println!("round trip per call, median of {ROUNDS} rounds of {n} calls; ratio = generated / hand-written");
    println!(
        "{:<6} {:>6}  {:>12}  {:>12}  {:>6}",
        "", "size", "hand-written", "generated", "ratio"
    );
    for transport in ["unix", "tcp"] {
        // 8 bytes.
        let (hand_pid, mut hand, _hand_server) = pair!(
            transport,
            dir,
            "hand8",
            [u8; 8],
            [u8; 8],
            |s: &mut dyn ipc::rpc::Serve<[u8; 8], [u8; 8]>| {
                s.serve_replies(Some(1), &mut ipc::rpc::Reply::Answer)
                    .unwrap()
            }
        );
        let (gen_pid, raw, _gen_server) = pair!(
            transport,
            dir,
            "gen8",
            SmallRequest,
            SmallResponse,
            |s: &mut dyn ipc::rpc::Serve<SmallRequest, SmallResponse>| {
                SmallServer::new(Echo).serve_clients(s, 1).unwrap()
            }
        );
        let mut client = SmallClient::new(raw);
        let (mut hands, mut gens) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            hands.push(time(n, |i| {
                let r = hand.call((i).to_ne_bytes()).unwrap();
                assert_eq!(r, i.to_ne_bytes());
            }));
            gens.push(time(n, |i| {
                let r = client.echo(i.to_ne_bytes()).unwrap();
                assert_eq!(r, i.to_ne_bytes());
            }));
        }
        row(transport, "8 B", median(hands), median(gens));
        drop((hand, client));
        common::reap(hand_pid);
        common::reap(gen_pid);

        // 4 KiB.
        let (hand_pid, mut hand, _hand_server) = pair!(
            transport,
            dir,
            "hand4k",
            [u8; 4096],
            [u8; 4096],
            |s: &mut dyn ipc::rpc::Serve<[u8; 4096], [u8; 4096]>| {
                s.serve_replies(Some(1), &mut ipc::rpc::Reply::Answer)
                    .unwrap()
            }
        );
        let (gen_pid, raw, _gen_server) = pair!(
            transport,
            dir,
            "gen4k",
            LargeRequest,
            LargeResponse,
            |s: &mut dyn ipc::rpc::Serve<LargeRequest, LargeResponse>| {
                LargeServer::new(Echo).serve_clients(s, 1).unwrap()
            }
        );
        let mut client = LargeClient::new(raw);
        let (mut hands, mut gens) = (Vec::new(), Vec::new());
        let mut payload = [0u8; 4096];
        for _ in 0..ROUNDS {
            hands.push(time(n, |i| {
                payload[..8].copy_from_slice(&i.to_ne_bytes());
                let r = hand.call(payload).unwrap();
                assert_eq!(r[..8], i.to_ne_bytes());
            }));
            gens.push(time(n, |i| {
                payload[..8].copy_from_slice(&i.to_ne_bytes());
                let r = client.echo(payload).unwrap();
                assert_eq!(r[..8], i.to_ne_bytes());
            }));
        }
        row(transport, "4 KiB", median(hands), median(gens));
        drop((hand, client));
        common::reap(hand_pid);
        common::reap(gen_pid);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "shared memory: medians of {} blocks of {n} calls; ratio = generated / hand-written; \
         bare = atomic ping-pong (2 one-way hops), channels = a hand-written Sender/Receiver \
         pair each way",
        shm::BLOCKS - 1
    );
    shm::rows(n);
    shm_async::rows(n);
}
