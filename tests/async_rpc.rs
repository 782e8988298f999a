//! Async request/response (`socket::AsyncClient`, `tcp::AsyncClient`): many clients on
//! one runtime call a server in another process (this test binary re-run as a child),
//! every answer is the one to its own request, also after calls dropped midway.
//!
//! `IPC_ASYNC_RPC_CLIENTS` (default 50) clients make `IPC_ASYNC_RPC_CALLS` (default 200)
//! calls each; run it long with `IPC_ASYNC_RPC_CLIENTS=200 IPC_ASYNC_RPC_CALLS=1000`.

use std::process::Command;
use std::time::Duration;

use ipc::{socket, tcp, Message};

mod common;
use common::{Proc, TempDir};

const ROLE: &str = "IPC_ASYNC_RPC_ROLE";
const AT: &str = "IPC_ASYNC_RPC_AT";

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Req {
    client: u64,
    n: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Resp {
    client: u64,
    square: u64,
}

fn answer(r: Req) -> Resp {
    Resp {
        client: r.client,
        square: r.n.wrapping_mul(r.n),
    }
}

fn env_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn clients() -> u64 {
    env_count("IPC_ASYNC_RPC_CLIENTS", 50)
}

fn calls() -> u64 {
    env_count("IPC_ASYNC_RPC_CALLS", 200)
}

/// The child: serves `clients()` connections and exits.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let at = std::env::var(AT).unwrap();
    let n = clients() as usize;
    match role.as_str() {
        "unix" => {
            let mut server = socket::Server::<Req, Resp>::bind(&at).unwrap();
            common::ready();
            server.serve_clients(n, answer).unwrap();
        }
        "tcp" => {
            let mut server = tcp::Server::<Req, Resp>::bind("127.0.0.1:0").unwrap();
            std::fs::write(&at, server.local_addr().unwrap().to_string()).unwrap();
            common::ready();
            server.serve_clients(n, answer).unwrap();
        }
        other => panic!("unknown role {other}"),
    }
}

fn server(role: &str, at: &str) -> Proc {
    let mut p = Proc::spawn_with(ROLE, role, |cmd: &mut Command| {
        cmd.env(AT, at);
    });
    p.wait_ready();
    p
}

/// One client's calls; every seventh is dropped after its first poll (its response is
/// then owed and skipped by the next call). Returns the calls answered.
async fn calls_of<E>(client: u64, mut c: ipc::aio::Async<E>) -> u64
where
    E: ipc::aio::CallEnd<Request = Req, Response = Resp>,
{
    let mut answered = 0;
    for n in 0..calls() {
        let req = Req { client, n };
        if n % 7 == 3 {
            let _ = tokio::time::timeout(Duration::ZERO, c.call(req)).await;
            continue;
        }
        assert_eq!(c.call(req).await.unwrap(), answer(req));
        answered += 1;
    }
    answered
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn expected() -> u64 {
    clients() * (calls() - (0..calls()).filter(|n| n % 7 == 3).count() as u64)
}

#[test]
fn many_async_unix_clients_get_their_own_answers() {
    let dir = TempDir::new("async-rpc");
    let path = dir.join("rpc.sock");
    let server = server("unix", path.to_str().unwrap());
    let total = runtime().block_on(async {
        let tasks: Vec<_> = (0..clients())
            .map(|i| {
                let path = path.clone();
                tokio::spawn(async move {
                    let c = tokio::task::spawn_blocking(move || {
                        socket::Client::<Req, Resp>::connect(&path)
                    })
                    .await
                    .unwrap()
                    .unwrap();
                    calls_of(i, socket::AsyncClient::from_sync(c).unwrap()).await
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, expected());
    server.assert_success();
}

#[test]
fn many_async_tcp_clients_get_their_own_answers() {
    let dir = TempDir::new("async-rpc-tcp");
    let file = dir.join("addr");
    let server = server("tcp", file.to_str().unwrap());
    let addr = std::fs::read_to_string(&file).unwrap();
    let total = runtime().block_on(async {
        let tasks: Vec<_> = (0..clients())
            .map(|i| {
                let addr = addr.clone();
                tokio::spawn(async move {
                    let c = tokio::task::spawn_blocking(move || {
                        tcp::Client::<Req, Resp>::connect(addr.as_str())
                    })
                    .await
                    .unwrap()
                    .unwrap();
                    calls_of(i, tcp::AsyncClient::from_sync(c).unwrap()).await
                })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, expected());
    server.assert_success();
}
