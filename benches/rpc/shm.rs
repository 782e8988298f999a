//! The shared-memory rows of `cargo bench --bench rpc`: a call's round trip over
//! `ipc::shm::rpc`, generated client and server beside the hand-written
//! `shm::rpc::{Client, Server}` of the bare `[u8; N]`, beside a hand-written pair of
//! channels (`shm::Sender`/`Receiver`, one each way), and beside the raw mechanism, a bare
//! atomic ping-pong (one word each way, spinning: two one-way hops).
//!
//! The two sides run on two CPUs (a spinning pair on one CPU measures the scheduler).
//! The cost of moving a cache line between this VM's two vCPUs drifts from minute to
//! minute (see `benches/shm.rs`), so the four are measured in alternating blocks of
//! `n` calls by the same processes, and each ratio is the median of the per-block ratios;
//! the times printed are medians over the blocks too. The calling side spins
//! (`WaitStrategy::Spin`, as the bare ping-pong does); the servers and the channel echo
//! spin then park (an idle one parks while another block runs), and the bare echo sleeps
//! on a futex between its blocks (its clock starts once it is awake and spinning).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc::rpc::Reply;
use ipc::shm::rpc::{Client, Server};
use ipc::shm::{Options, Receiver, Sender};
use ipc::sync::WaitStrategy;

use super::common;
use super::{Echo, LargeClient, LargeServer, SmallClient, SmallServer};

/// Blocks of the alternating measurement (the first, a warm-up, is not counted).
pub const BLOCKS: usize = 41;

/// The per-block times of one size, in ns per round trip.
#[derive(Default)]
struct Blocks {
    bare: Vec<f64>,
    chan: Vec<f64>,
    hand: Vec<f64>,
    generated: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    median(&r)
}

/// Nanoseconds per round trip of `n` calls of `call`.
fn time(n: u64, mut call: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        call(i);
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Runs the alternating blocks for messages of `N` bytes; `generated` makes the parent's
/// generated client and the child's generated server of that size.
fn measure<const N: usize, C>(
    n: u64,
    tag: &str,
    serve_generated: impl FnOnce(&mut Server<C::Req, C::Resp>),
    mut call_generated: impl FnMut(&mut C, [u8; N]) -> [u8; N],
) -> Blocks
where
    C: Generated,
{
    let (hand_name, gen_name) = (
        common::unique(&format!("{tag}-hand")),
        common::unique(&format!("{tag}-gen")),
    );
    let (ping_name, pong_name) = (
        common::unique(&format!("{tag}-ping")),
        common::unique(&format!("{tag}-pong")),
    );
    let page = common::SharedPage::new(4096);
    let ends = Options::new().capacity(64);
    // The servers, each in a child on CPU 1; created after the fork (handles do not
    // survive one), so the clients wait for them to appear.
    let hand_pid = common::spawn(|| {
        common::pin(&[1]);
        let mut server = Server::<[u8; N], [u8; N]>::bind(&hand_name).unwrap();
        ipc::rpc::Serve::serve_replies(&mut server, Some(1), &mut Reply::Answer).unwrap();
    });
    let gen_pid = common::spawn(|| {
        common::pin(&[1]);
        let mut server = Server::<C::Req, C::Resp>::bind(&gen_name).unwrap();
        serve_generated(&mut server);
    });
    // The bare echo and the channel echo, one block of each at a time.
    let echo_pid = common::spawn(|| {
        common::pin(&[1]);
        let mut rx = Receiver::<[u8; N]>::open_or_create(&ping_name, ends.clone()).unwrap();
        let mut tx = Sender::<[u8; N]>::open_or_create(&pong_name, ends.clone()).unwrap();
        let (go, ping, pong) = (page.u32_at(0), page.u64_at(2), page.u64_at(4));
        let armed = page.u32_at(6);
        let mut i = 0;
        for block in 1..=BLOCKS as u32 {
            while go.load(Ordering::Acquire) < block {
                common::futex_wait(go, block - 1);
            }
            // Awake and spinning: the parent starts its clock only now, so the futex
            // wake-up is not timed.
            armed.store(block, Ordering::Release);
            for _ in 0..n {
                i += 1;
                while ping.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.store(i, Ordering::Release);
            }
            for _ in 0..n {
                let m = *rx.recv().unwrap();
                tx.send(m).unwrap();
            }
        }
        assert!(rx.recv().unwrap_err().is_disconnected());
    });
    common::pin(&[0]);
    let wait = Options::new()
        .open_timeout(Duration::from_secs(10))
        .wait(WaitStrategy::Spin);
    let mut hand = Client::<[u8; N], [u8; N]>::connect_with(&hand_name, wait.clone()).unwrap();
    let mut generated = C::new(Client::connect_with(&gen_name, wait).unwrap());
    let spin = ends.wait(WaitStrategy::Spin);
    let mut tx = Sender::<[u8; N]>::open_or_create(&ping_name, spin.clone()).unwrap();
    let mut rx = Receiver::<[u8; N]>::open_or_create(&pong_name, spin).unwrap();
    let (go, ping, pong) = (page.u32_at(0), page.u64_at(2), page.u64_at(4));
    let armed = page.u32_at(6);
    let mut blocks = Blocks::default();
    let mut payload = [0u8; N];
    let mut i = 0;
    for block in 1..=BLOCKS as u32 {
        let h = time(n, |k| {
            payload[..8].copy_from_slice(&k.to_ne_bytes());
            let r = hand.call(payload).unwrap();
            assert_eq!(r[..8], k.to_ne_bytes());
        });
        let g = time(n, |k| {
            payload[..8].copy_from_slice(&k.to_ne_bytes());
            let r = call_generated(&mut generated, payload);
            assert_eq!(r[..8], k.to_ne_bytes());
        });
        go.store(block, Ordering::Release);
        common::futex_wake(go);
        while armed.load(Ordering::Acquire) != block {
            std::hint::spin_loop();
        }
        let b = time(n, |_| {
            i += 1;
            ping.store(i, Ordering::Release);
            while pong.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
        });
        let c = time(n, |k| {
            payload[..8].copy_from_slice(&k.to_ne_bytes());
            tx.send(payload).unwrap();
            // Copied out, as a call returns its answer: every line of it crosses.
            let back: [u8; N] = *rx.recv().unwrap();
            assert_eq!(std::hint::black_box(back)[..8], k.to_ne_bytes());
        });
        if block > 1 {
            blocks.bare.push(b);
            blocks.chan.push(c);
            blocks.hand.push(h);
            blocks.generated.push(g);
        }
    }
    drop((hand, generated, tx, rx));
    for pid in [hand_pid, gen_pid, echo_pid] {
        common::reap(pid);
    }
    common::pin(&[0]);
    blocks
}

/// A generated client of one of the bench's services, over `shm::rpc`.
pub trait Generated {
    type Req: ipc::Message;
    type Resp: ipc::Message;
    fn new(client: Client<Self::Req, Self::Resp>) -> Self;
}

impl Generated for SmallClient<Client<super::SmallRequest, super::SmallResponse>> {
    type Req = super::SmallRequest;
    type Resp = super::SmallResponse;
    fn new(client: Client<Self::Req, Self::Resp>) -> Self {
        SmallClient::new(client)
    }
}

impl Generated for LargeClient<Client<super::LargeRequest, super::LargeResponse>> {
    type Req = super::LargeRequest;
    type Resp = super::LargeResponse;
    fn new(client: Client<Self::Req, Self::Resp>) -> Self {
        LargeClient::new(client)
    }
}

fn report(size: &str, b: &Blocks) {
    println!(
        "shm    {size:>6}  {:>12}  {:>12}  {:>6.2}   bare 2 hops {:>9}  channels {:>9}  \
         generated/bare {:>5.2}  hand/bare {:>5.2}  channels/bare {:>5.2}",
        common::fmt_ns(median(&b.hand)),
        common::fmt_ns(median(&b.generated)),
        median_ratio(&b.generated, &b.hand),
        common::fmt_ns(median(&b.bare)),
        common::fmt_ns(median(&b.chan)),
        median_ratio(&b.generated, &b.bare),
        median_ratio(&b.hand, &b.bare),
        median_ratio(&b.chan, &b.bare),
    );
}

/// Measures and prints the shared-memory rows.
pub fn rows(n: u64) {
    let small = measure::<8, SmallClient<Client<_, _>>>(
        n,
        "small",
        |s| SmallServer::new(Echo).serve_clients(s, 1).unwrap(),
        |c, data| c.echo(data).unwrap(),
    );
    report("8 B", &small);
    let large = measure::<4096, LargeClient<Client<_, _>>>(
        n,
        "large",
        |s| LargeServer::new(Echo).serve_clients(s, 1).unwrap(),
        |c, data| c.echo(data).unwrap(),
    );
    report("4 KiB", &large);
}
