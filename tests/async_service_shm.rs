//! The async client `#[ipc::service]` generates (`PricingAsyncClient`) over shared memory
//! (`ipc::shm::rpc::AsyncClient`), and the async shared-memory server
//! (`ipc::shm::rpc::AsyncServer`). The clients are this test binary re-run
//! (`IPC_ASYNC_SHM_ROLE` says which part a child plays): three client processes, or
//! three tokio tasks in one process, each with a connection of its own;
//! `IPC_ASYNC_SERVICE_CALLS` sets the calls per client (2,000 unless told otherwise):
//!
//! - every answer reaches its own call, every kind of method (a value, a typed `Err`, a
//!   unit), served by the async server (three client processes);
//! - a server killed while it runs a handler (and holds the answer's slot) fails the
//!   pending call of every client with `Disconnected` (three client processes, the
//!   server a fourth);
//! - calls under timeouts that expire at every stage of a call (before the request went,
//!   while the server runs the handler) lose and duplicate nothing: the server sees each
//!   request at most once and in order, every call that returned got its own answer, and
//!   the calls after them too (three tasks of one client process, the server a thread
//!   of this one: its handler sleeps).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipc::rpc::AsyncCall;
use ipc::shm::rpc::{AsyncClient, AsyncServer, Client, Server};
use ipc::{fixed_str, Error, FixedStr};

mod common;
use common::{Proc, TempDir};

mod pricing;
use pricing::{
    Book, Echo, Pricing, PricingAsyncClient, PricingRequest, PricingResponse, PricingServer, Quote,
    Rejected,
};

const ROLE: &str = "IPC_ASYNC_SHM_ROLE";
const NAME: &str = "IPC_ASYNC_SHM_NAME";
const GO: &str = "IPC_ASYNC_SHM_GO";
const CLIENT: &str = "IPC_ASYNC_SHM_CLIENT";
const CLIENTS: u32 = 3;

fn calls() -> u64 {
    std::env::var("IPC_ASYNC_SERVICE_CALLS").map_or(2000, |v| {
        v.parse().expect("IPC_ASYNC_SERVICE_CALLS: a number")
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

type Shm = AsyncClient<PricingRequest, PricingResponse>;

/// A generated async client over a shared-memory connection to the server `name`.
fn connect(name: &str) -> PricingAsyncClient<Shm> {
    let client = Client::connect(name).unwrap();
    PricingAsyncClient::new(AsyncClient::from_sync(client).unwrap())
}

/// One client's calls, every answer checked.
async fn exercise<Tr: AsyncCall<PricingRequest, PricingResponse>>(
    client: &mut PricingAsyncClient<Tr>,
    me: u32,
    calls: u64,
) {
    for n in 0..calls {
        let echo = client.echo(me, n).await.unwrap();
        assert_eq!((echo.client, echo.n), (me, n), "an answer to another call");
    }
    assert_eq!(client.quote(fixed_str!("ACME"), 7).await.unwrap().qty, 7);
    assert_eq!(client.cancel(0).await.unwrap(), Err(Rejected::Unknown));
    assert_eq!(client.cancel(9).await.unwrap(), Ok(()));
    assert_eq!(client.flag(true, 1, 41).await.unwrap(), Ok(42));
    // A call that times out: its late answer is skipped, never taken for the next one.
    let late = client.stall_timeout(200, Duration::from_millis(1)).await;
    assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
    let echo = client.echo(me, 7).await.unwrap();
    assert_eq!((echo.client, echo.n), (me, 7));
    client.reset().await.unwrap();
}

/// Runs `f(me)` in `CLIENTS` tasks at once and waits for them all.
fn in_tasks<F, Fut>(f: F)
where
    F: Fn(u32) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    runtime().block_on(async {
        let tasks: Vec<_> = (0..CLIENTS).map(|me| tokio::spawn(f(me))).collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

/// The part a child plays.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let name = std::env::var(NAME).unwrap();
    let calls = calls();
    match role.as_str() {
        "calls" => {
            let me: u32 = std::env::var(CLIENT).unwrap().parse().unwrap();
            runtime().block_on(async { exercise(&mut connect(&name), me, calls).await });
            println!("all calls answered");
        }
        "server" => {
            // A server in a process of its own, to be killed: `Book` over the sync server.
            let mut server = Server::bind(&name).unwrap();
            println!("serving ready");
            let e = pricing::serve_pricing(Book::default(), &mut server).unwrap_err();
            panic!("the server stopped: {e}");
        }
        "stall" => {
            let go = std::env::var_os(GO).unwrap();
            runtime().block_on(async {
                let mut client = connect(&name);
                // Connected; the call waits for the file `GO` names, so that every
                // client has connected before the server stalls in a handler.
                common::ready();
                let guard = Instant::now();
                while !std::path::Path::new(&go).exists()
                    && guard.elapsed() < Duration::from_secs(60)
                {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                match client.stall(60_000).await {
                    Err(Error::Disconnected) => println!("disconnected at {} ns", unix_ns()),
                    other => panic!("a call to a killed server returned {other:?}"),
                }
            });
        }
        "timeouts" => in_tasks(|me| {
            let name = name.clone();
            async move {
                let mut client = connect(&name);
                let mut returned = Vec::new();
                for n in 0..calls {
                    // Every seventh call is slow (the server holds it 2 ms) and its
                    // timeout expires while the server runs it; the others race timeouts
                    // from 0 (the call is dropped at its first wait) to 40 µs.
                    let limit = if n % 7 == 0 {
                        Duration::from_millis(1)
                    } else {
                        Duration::from_micros(n * 13 % 41)
                    };
                    let answer = if n % 2 == 0 {
                        tokio::time::timeout(limit, client.echo(me, n))
                            .await
                            .unwrap_or(Err(Error::Timeout(limit)))
                    } else {
                        client.echo_timeout(me, n, limit).await
                    };
                    match answer {
                        Ok(echo) => {
                            assert_eq!((echo.client, echo.n), (me, n), "an answer to another call");
                            returned.push(n);
                        }
                        Err(Error::Timeout(_)) => {}
                        Err(e) => panic!("call {n}: {e}"),
                    }
                }
                // After all that, calls without a limit get their own answers.
                for n in calls..calls + 10 {
                    let echo = client.echo(me, n).await.unwrap();
                    assert_eq!((echo.client, echo.n), (me, n));
                    returned.push(n);
                }
                let list: Vec<String> = returned.iter().map(u64::to_string).collect();
                println!("returned {me}: {}", list.join(","));
            }
        }),
        other => panic!("unknown role {other}"),
    }
}

fn clients(role: &str, name: &str) -> Proc {
    Proc::spawn_with(ROLE, role, |cmd| {
        cmd.env(NAME, name);
    })
}

#[test]
fn async_clients_of_the_async_shm_server_each_get_their_own_answers() {
    // The server's name is its directory's, so that whatever it leaves is found by it.
    let dir = TempDir::new("async-shm-service");
    let name = pricing::shm_name(dir.path());
    let server = Server::bind(&name).unwrap();
    let kids: Vec<Proc> = (0..CLIENTS)
        .map(|me| {
            Proc::spawn_with(ROLE, "calls", |cmd| {
                cmd.env(NAME, &name).env(CLIENT, me.to_string());
            })
        })
        .collect();
    runtime().block_on(async {
        let mut server = AsyncServer::from_sync(server).unwrap();
        PricingServer::new(Book::default())
            .serve_clients_async(&mut server, CLIENTS as usize)
            .await
            .unwrap();
    });
    for kid in kids {
        let (status, out) = kid.finish();
        assert!(
            status.success() && out.contains("all calls answered"),
            "{out}"
        );
    }
}

#[test]
fn a_killed_server_fails_the_pending_call_of_every_async_client_with_disconnected() {
    let dir = TempDir::new("async-shm-kill");
    let name = pricing::shm_name(dir.path());
    let mut server = clients("server", &name);
    server.wait_ready();
    let go = dir.join("go");
    let mut stalled: Vec<Proc> = (0..CLIENTS)
        .map(|_| {
            Proc::spawn_with(ROLE, "stall", |cmd| {
                cmd.env(NAME, &name).env(GO, &go);
            })
        })
        .collect();
    for s in &mut stalled {
        s.wait_ready();
    }
    std::fs::write(&go, b"").unwrap();
    // The server says "stalling ready" once a call is in its handler (holding the slot
    // of its answer); the two others wait behind it in their rings.
    server.wait_ready();
    let killed = unix_ns();
    server.kill();
    for mut s in stalled {
        // A hang guard only: a call that waited for anything but the death would take a
        // minute.
        let status = common::wait_at_most(s.child(), Duration::from_secs(60))
            .expect("a pending call did not return");
        let (_, out) = s.finish();
        assert!(
            status.success() && out.contains("disconnected at "),
            "{out}"
        );
        // Printed, not checked (no timing assertions): the call returned this long after
        // the kill was sent (both clocks are this machine's).
        let at: u64 = out
            .split("disconnected at ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap();
        let took = Duration::from_nanos(at.saturating_sub(killed));
        println!("a pending call returned Disconnected {took:?} after the kill");
    }
}

/// Nanoseconds since the Unix epoch (comparable between processes of one machine).
fn unix_ns() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_nanos()).unwrap()
}

/// Records, per client, the `n` of every `echo` it runs; holds every seventh for 2 ms.
#[derive(Default)]
struct Recording {
    seen: Arc<Mutex<HashMap<u32, Vec<u64>>>>,
    book: Book,
}

impl Pricing for Recording {
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote {
        self.book.quote(symbol, qty)
    }
    fn cancel(&mut self, id: u64) -> Result<(), Rejected> {
        self.book.cancel(id)
    }
    fn reset(&mut self) {
        self.book.reset();
    }
    fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected> {
        self.book.flag(on, small, big)
    }
    fn echo(&self, client: u32, n: u64) -> Echo {
        self.seen.lock().unwrap().entry(client).or_default().push(n);
        if n % 7 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
        self.book.echo(client, n)
    }
    fn stall(&self, ms: u32) {
        self.book.stall(ms);
    }
}

#[test]
fn async_calls_under_timeouts_lose_and_duplicate_nothing() {
    let dir = TempDir::new("async-shm-timeouts");
    let name = pricing::shm_name(dir.path());
    let mut server = Server::bind(&name).unwrap();
    let service = Recording::default();
    let seen = Arc::clone(&service.seen);
    let kids = clients("timeouts", &name);
    // The sync server, in a thread: its handler sleeps.
    let served = std::thread::spawn(move || {
        PricingServer::new(service)
            .serve_clients(&mut server, CLIENTS as usize)
            .unwrap();
    });
    let (status, out) = kids.finish();
    assert!(status.success(), "{out}");
    served.join().unwrap();
    let seen = seen.lock().unwrap();
    for me in 0..CLIENTS {
        let prefix = format!("returned {me}: ");
        let line = out
            .lines()
            .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no list of client {me}: {out}"));
        let returned: Vec<u64> = line.split(',').map(|n| n.parse().unwrap()).collect();
        let ran = &seen[&me];
        // Each request reached the handler at most once, in the order of the calls.
        assert!(ran.windows(2).all(|w| w[0] < w[1]), "client {me}: {ran:?}");
        // Every call that returned an answer was run.
        let mut at = 0;
        for n in &returned {
            while at < ran.len() && ran[at] < *n {
                at += 1;
            }
            assert!(
                at < ran.len() && ran[at] == *n,
                "client {me}: call {n} returned but never ran"
            );
        }
        println!(
            "client {me}: {} calls returned, {} ran, {} dropped before their request went",
            returned.len(),
            ran.len(),
            calls() + 10 - ran.len() as u64
        );
    }
}
