//! The async shared-memory rows of `cargo bench --bench rpc`: a generated service's call
//! over `ipc::shm::rpc`, its async client (`SmallAsyncClient` over
//! `shm::rpc::AsyncClient`, awaited on a current-thread tokio runtime) beside its sync
//! client (`SmallClient` over `shm::rpc::Client`), both connected to one generated
//! server in a child on CPU 1 (the callers on CPU 0), measured in alternating blocks of
//! `n` calls as the sync rows are (`rpc/shm.rs`): the times are medians over the blocks,
//! the ratio the median of the per-block ratios.
//!
//! The sync client spins while it waits (`WaitStrategy::Spin`, as in the sync rows); the
//! async one looks for its answer for 50 µs to 1 ms, yielding to the runtime between
//! looks, before it would park on its doorbell (an answer comes well within that).

use std::time::{Duration, Instant};

use ipc::shm::rpc::{AsyncClient, Client, Server};
use ipc::shm::Options;
use ipc::sync::WaitStrategy;

use super::common;
use super::{Echo, LargeAsyncClient, LargeClient, LargeServer};
use super::{SmallAsyncClient, SmallClient, SmallServer};

/// Blocks of each client (the first, a warm-up, is not counted).
const BLOCKS: usize = 21;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn row(size: &str, sync: &[f64], asynchronous: &[f64]) {
    let ratios: Vec<f64> = asynchronous.iter().zip(sync).map(|(a, s)| a / s).collect();
    println!(
        "shm    {size:>6}  {:>12}  {:>12}  {:>6.2}",
        common::fmt_ns(median(sync)),
        common::fmt_ns(median(asynchronous)),
        median(&ratios),
    );
}

/// Measures and prints the row of one service: `$server` serves two clients in a child;
/// this process calls through `$sync` and `$async`, `$n`-byte arguments echoed.
macro_rules! measure {
    ($calls:expr, $size:expr, $n:literal, $server:ident, $sync:ident, $async:ident) => {{
        let calls: u64 = $calls;
        let name = common::unique(concat!("async-", stringify!($n)));
        let child = common::spawn(|| {
            common::pin(&[1]);
            let mut server = Server::bind(&name).unwrap();
            $server::new(Echo).serve_clients(&mut server, 2).unwrap();
        });
        common::pin(&[0]);
        let opts = Options::new()
            .open_timeout(Duration::from_secs(10))
            .wait(WaitStrategy::Spin);
        let mut sync = $sync::new(Client::connect_with(&name, opts.clone()).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut asynchronous = rt.block_on(async {
            let client = Client::connect_with(&name, opts).unwrap();
            $async::new(AsyncClient::from_sync(client).unwrap())
        });
        let (mut sync_ns, mut async_ns) = (Vec::new(), Vec::new());
        let mut data = [0u8; $n];
        for block in 0..BLOCKS {
            let start = Instant::now();
            for i in 0..calls {
                data[..8].copy_from_slice(&i.to_ne_bytes());
                let back = sync.echo(data).unwrap();
                assert_eq!(back[..8], i.to_ne_bytes());
            }
            let s = start.elapsed().as_nanos() as f64 / calls as f64;
            let a = rt.block_on(async {
                let start = Instant::now();
                for i in 0..calls {
                    data[..8].copy_from_slice(&i.to_ne_bytes());
                    let back = asynchronous.echo(data).await.unwrap();
                    assert_eq!(back[..8], i.to_ne_bytes());
                }
                start.elapsed().as_nanos() as f64 / calls as f64
            });
            if block > 0 {
                sync_ns.push(s);
                async_ns.push(a);
            }
        }
        drop((sync, asynchronous));
        common::reap(child);
        row($size, &sync_ns, &async_ns);
    }};
}

/// Measures and prints the async rows.
pub fn rows(n: u64) {
    println!(
        "shared memory, async: medians of {} blocks of {n} calls; ratio = async client / sync \
         client, the same generated server",
        BLOCKS - 1
    );
    println!(
        "{:<6} {:>6}  {:>12}  {:>12}  {:>6}",
        "", "size", "sync call", "async call", "ratio"
    );
    measure!(n, "8 B", 8, SmallServer, SmallClient, SmallAsyncClient);
    measure!(n, "4 KiB", 4096, LargeServer, LargeClient, LargeAsyncClient);
}
