//! The async request/response servers (`socket::AsyncServer`, `tcp::AsyncServer`): 200
//! clients in another process, each making `IPC_ASYNC_SERVER_CALLS` calls (1,000 unless
//! told otherwise) at once, every answer its own call's; silent clients, a garbage
//! writer, a client that never reads its answers and a refused client hold up no one;
//! `serve_clients` counts clients that ended.

use std::io::Write;
use std::time::Duration;

use ipc::rpc::Reply;
use ipc::{socket, tcp, Error};

mod common;
use common::{Proc, TempDir};

const ROLE: &str = "IPC_ASYNC_SERVER_ROLE";
const PLACE: &str = "IPC_ASYNC_SERVER_PLACE";
const CLIENTS: u64 = 200;

/// Calls per client: `IPC_ASYNC_SERVER_CALLS`, or 1,000.
fn calls() -> u64 {
    std::env::var("IPC_ASYNC_SERVER_CALLS").map_or(1000, |v| {
        v.parse().expect("IPC_ASYNC_SERVER_CALLS: a number")
    })
}

/// The answer to `req`: a client can tell it is its own call's.
fn answer(req: u64) -> u64 {
    req.wrapping_mul(3) ^ 0x5a5a
}

/// A request no other call of any client makes.
fn request(client: u64, call: u64) -> u64 {
    (client << 32) | call
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A child process: CLIENTS async clients of the server at `place` ("unix" or "tcp"
/// role), every call checked.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let place = std::env::var(PLACE).unwrap();
    let calls = calls();
    runtime().block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let place = place.clone();
            let unix = role == "unix";
            tasks.push(tokio::spawn(async move {
                if unix {
                    let client = socket::Client::<u64, u64>::connect(&place).unwrap();
                    let mut client = socket::AsyncClient::from_sync(client).unwrap();
                    for i in 0..calls {
                        let req = request(c, i);
                        assert_eq!(client.call(req).await.unwrap(), answer(req));
                    }
                } else {
                    let client = tcp::Client::<u64, u64>::connect(place.as_str()).unwrap();
                    let mut client = tcp::AsyncClient::from_sync(client).unwrap();
                    for i in 0..calls {
                        let req = request(c, i);
                        assert_eq!(client.call(req).await.unwrap(), answer(req));
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!("{} calls answered", CLIENTS * calls);
}

fn spawn_clients(role: &str, place: &str) -> Proc {
    Proc::spawn_with(ROLE, role, |cmd| {
        cmd.env(PLACE, place);
    })
}

#[test]
fn unix_two_hundred_clients_of_another_process() {
    let dir = TempDir::new("async-server-unix");
    let path = dir.join("s.sock");
    let server = socket::Server::<u64, u64>::bind(&path).unwrap();
    let clients = spawn_clients("unix", path.to_str().unwrap());
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        server
            .serve_clients(CLIENTS as usize, |req| async move { answer(req) })
            .await
            .unwrap();
    });
    let (status, out) = clients.finish();
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("{} calls answered", CLIENTS * calls())),
        "{out}"
    );
}

#[test]
fn tcp_two_hundred_clients_of_another_process() {
    let server = tcp::Server::<u64, u64>::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap().to_string();
    let clients = spawn_clients("tcp", &addr);
    runtime().block_on(async {
        let mut server = tcp::AsyncServer::from_sync(server).unwrap();
        server
            .serve_clients(CLIENTS as usize, |req| async move { answer(req) })
            .await
            .unwrap();
    });
    let (status, out) = clients.finish();
    assert!(status.success(), "{out}");
    assert!(
        out.contains(&format!("{} calls answered", CLIENTS * calls())),
        "{out}"
    );
}

/// Connections that misbehave, each of its own kind, while a good client calls: none of
/// them delays it. The handshake timeout is an hour, so a server that waited for any of
/// them would fail the guard.
#[test]
fn misbehaving_clients_hold_up_no_one() {
    let dir = TempDir::new("async-server-bad");
    let path = dir.join("s.sock");
    let opts = socket::Options::new().handshake_timeout(Duration::from_secs(3600));
    let server = socket::Server::<u64, u64>::bind_with(&path, opts).unwrap();
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        let serving = tokio::spawn(async move {
            server
                .serve_replies(None, |req| async move {
                    if req == u64::MAX {
                        Reply::Close(0)
                    } else {
                        Reply::Answer(answer(req))
                    }
                })
                .await
        });
        // Silent, a byte of hello, garbage, a caller that never reads its answers.
        let mut bad = Vec::new();
        for _ in 0..50 {
            bad.push(std::os::unix::net::UnixStream::connect(&path).unwrap());
        }
        let mut one_byte = std::os::unix::net::UnixStream::connect(&path).unwrap();
        one_byte.write_all(b"I").unwrap();
        bad.push(one_byte);
        let mut garbage = std::os::unix::net::UnixStream::connect(&path).unwrap();
        garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        bad.push(garbage);
        // A client's handshake, then requests, written raw: nothing reads the answers.
        let mut deaf = std::os::unix::net::UnixStream::connect(&path).unwrap();
        deaf.write_all(&ipc::codec::rpc_hello::<u64, u64>())
            .unwrap();
        deaf.set_nonblocking(true).unwrap();
        for i in 0..100_000u64 {
            let mut request = Vec::new();
            ipc::codec::write_message(&mut request, &i).unwrap();
            if deaf.write_all(&request).is_err() {
                break; // its socket and the server's answers to it are full
            }
        }
        let guard = Duration::from_secs(60);
        let good = tokio::task::spawn_blocking({
            let path = path.clone();
            move || {
                let mut c = socket::Client::<u64, u64>::connect(&path).unwrap();
                let got: Vec<u64> = (0..100).map(|i| c.call(i).unwrap()).collect();
                // A refused call: answered, then the connection is closed.
                assert_eq!(c.call(u64::MAX).unwrap(), 0);
                assert!(matches!(c.call(1), Err(Error::Disconnected)));
                got
            }
        });
        let got = tokio::time::timeout(guard, good)
            .await
            .expect("the good client was held up")
            .unwrap();
        assert_eq!(got, (0..100).map(answer).collect::<Vec<_>>());
        serving.abort();
        drop((bad, deaf));
    });
}

/// A client of another request type is refused at its handshake, and `serve_clients`
/// counts only clients whose handshake the server found whole: it returns after the
/// three good ones, each answered.
#[test]
fn another_schema_is_refused_and_not_counted() {
    let dir = TempDir::new("async-server-schema");
    let path = dir.join("s.sock");
    let server = socket::Server::<u64, u64>::bind(&path).unwrap();
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        let p = path.clone();
        let clients = tokio::task::spawn_blocking(move || {
            // Its requests would be u32s: refused at connect, by its own check of the
            // server's handshake (the server closes it too, and does not count it).
            let err = socket::Client::<u32, u64>::connect(&p).unwrap_err();
            assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
            for k in 0..3u64 {
                let mut c = socket::Client::<u64, u64>::connect(&p).unwrap();
                assert_eq!(c.call(k).unwrap(), answer(k));
            }
        });
        server
            .serve_clients(3, |req| async move { answer(req) })
            .await
            .unwrap();
        clients.await.unwrap();
    });
}

/// A handler that panics ends its connection (the client sees `Disconnected`), and the
/// client counts as one that ended: `serve_clients(1)` returns once it has left.
#[test]
fn a_client_whose_call_made_the_handler_panic_counts_as_ended() {
    let dir = TempDir::new("async-server-panic");
    let path = dir.join("s.sock");
    let server = socket::Server::<u64, u64>::bind(&path).unwrap();
    runtime().block_on(async {
        let mut server = socket::AsyncServer::from_sync(server).unwrap();
        let p = path.clone();
        let client = tokio::task::spawn_blocking(move || {
            let mut c = socket::Client::<u64, u64>::connect(&p).unwrap();
            assert_eq!(c.call(1).unwrap(), answer(1));
            assert!(matches!(c.call(13), Err(Error::Disconnected)));
        });
        let served = tokio::time::timeout(
            Duration::from_secs(30),
            server.serve_clients(1, |req| async move {
                assert!(req != 13, "this test's handler panics on 13");
                answer(req)
            }),
        )
        .await;
        client.await.unwrap();
        assert!(
            matches!(served, Ok(Ok(()))),
            "serve_clients(1) after its only client ended: {served:?}"
        );
    });
}
