//! The async variants `#[ipc::service]` generates: `PricingAsyncClient` over
//! `socket::AsyncClient` and `tcp::AsyncClient`, and `PricingServer::serve_clients_async`
//! over `socket::AsyncServer` and `tcp::AsyncServer`. The server runs in this process;
//! three async clients of another process each make `IPC_ASYNC_SERVICE_CALLS` calls
//! (2,000 unless told otherwise) of every kind of method — a value, a `Result` whose
//! `Err` arrives typed, a unit — every answer checked; a call with a timeout that expires
//! leaves no late answer for the next call. And the three clients calling through clones
//! of one `aio::SharedClient`, their calls pipelined on one connection.

use std::time::Duration;

use ipc::rpc::AsyncCall;
use ipc::{fixed_str, socket, tcp, Error};

mod common;
use common::{Proc, TempDir};

mod pricing;
use pricing::{Book, Echo, PricingAsyncClient, PricingServer, Rejected};

const ROLE: &str = "IPC_ASYNC_SERVICE_ROLE";
const PLACE: &str = "IPC_ASYNC_SERVICE_PLACE";
const CLIENTS: usize = 3;

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

/// One client's calls, every answer checked.
async fn exercise<Tr: AsyncCall<pricing::PricingRequest, pricing::PricingResponse>>(
    client: &mut PricingAsyncClient<Tr>,
    me: u32,
    calls: u64,
) {
    for n in 0..calls {
        let echo = client.echo(me, n).await.unwrap();
        assert_eq!(
            echo,
            Echo {
                n,
                client: me,
                _pad: [0; 4]
            }
        );
    }
    let quote = client.quote(fixed_str!("ACME"), 7).await.unwrap();
    assert_eq!(quote.qty, 7);
    assert_eq!(client.cancel(0).await.unwrap(), Err(Rejected::Unknown));
    assert_eq!(client.cancel(9).await.unwrap(), Ok(()));
    assert_eq!(client.flag(true, 1, 41).await.unwrap(), Ok(42));
    // A call that times out: its late answer is skipped, never taken for the next one.
    let late = client.stall_timeout(200, Duration::from_millis(1)).await;
    assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
    let echo = client.echo(me, 7).await.unwrap();
    assert_eq!(
        echo,
        Echo {
            n: 7,
            client: me,
            _pad: [0; 4]
        }
    );
    client.reset().await.unwrap();
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let place = std::env::var(PLACE).unwrap();
    let calls = calls();
    runtime().block_on(async move {
        let mut tasks = Vec::new();
        let shared = (role == "shared").then(|| {
            let c = socket::Client::connect(&place).unwrap();
            ipc::aio::SharedClient::from_sync(c).unwrap()
        });
        for me in 0..CLIENTS as u32 {
            let (role, place, shared) = (role.clone(), place.clone(), shared.clone());
            tasks.push(tokio::spawn(async move {
                if let Some(shared) = shared {
                    // One connection, the calls of three clients pipelined on it.
                    let mut client = PricingAsyncClient::new(shared);
                    exercise(&mut client, me, calls).await;
                } else if role == "unix" {
                    let c = socket::Client::connect(&place).unwrap();
                    let mut client =
                        PricingAsyncClient::new(socket::AsyncClient::from_sync(c).unwrap());
                    exercise(&mut client, me, calls).await;
                } else {
                    let c = tcp::Client::connect(place.as_str()).unwrap();
                    let mut client =
                        PricingAsyncClient::new(tcp::AsyncClient::from_sync(c).unwrap());
                    exercise(&mut client, me, calls).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!("all calls answered");
}

fn clients(role: &str, place: &str) -> Proc {
    Proc::spawn_with(ROLE, role, |cmd| {
        cmd.env(PLACE, place);
    })
}

#[test]
fn async_service_over_unix() {
    let dir = TempDir::new("async-service");
    let path = dir.join("pricing.sock");
    let server = socket::Server::bind(&path).unwrap();
    let kids = clients("unix", path.to_str().unwrap());
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        PricingServer::new(Book::default())
            .serve_clients_async(&mut server, CLIENTS)
            .await
            .unwrap();
    });
    let (status, out) = kids.finish();
    assert!(
        status.success() && out.contains("all calls answered"),
        "{out}"
    );
}

#[test]
fn async_service_clients_sharing_one_connection() {
    let dir = TempDir::new("async-service-shared");
    let path = dir.join("pricing.sock");
    let server = socket::Server::bind(&path).unwrap();
    let kids = clients("shared", path.to_str().unwrap());
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        PricingServer::new(Book::default())
            .serve_clients_async(&mut server, 1)
            .await
            .unwrap();
    });
    let (status, out) = kids.finish();
    assert!(
        status.success() && out.contains("all calls answered"),
        "{out}"
    );
}

#[test]
fn async_service_over_tcp() {
    let server = tcp::Server::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let kids = clients("tcp", &addr);
    runtime().block_on(async {
        let mut server = tcp::AsyncServer::from_sync(server).unwrap();
        PricingServer::new(Book::default())
            .serve_clients_async(&mut server, CLIENTS)
            .await
            .unwrap();
    });
    let (status, out) = kids.finish();
    assert!(
        status.success() && out.contains("all calls answered"),
        "{out}"
    );
}
