//! `aio::SharedClient`: one connection to a server in another process, shared by many
//! tasks whose calls are pipelined — every answer reaches its own call, calls that time
//! out or are dropped leave no answer behind for another, a server killed with calls in
//! flight ends every one of them with `Disconnected`, and so does the end of the runtime
//! that reads the answers; a requested shutdown ends them with `Shutdown`.

use std::time::Duration;

use ipc::aio::SharedClient;
use ipc::{socket, Error};

mod common;
use common::{Proc, TempDir};

const ROLE: &str = "IPC_ASYNC_SHARED_ROLE";
const PLACE: &str = "IPC_ASYNC_SHARED_PLACE";
/// A request with this bit set is answered after 20 ms.
const SLOW: u64 = 1 << 63;
/// A request with this bit set is answered after two seconds.
const HOLD: u64 = 1 << 62;

fn answer(req: u64) -> u64 {
    (req & !(SLOW | HOLD)).wrapping_mul(7) ^ 0x33
}

/// The server process.
#[test]
fn child() {
    if std::env::var(ROLE).is_err() {
        return;
    }
    let path = std::env::var(PLACE).unwrap();
    let mut server = socket::Server::<u64, u64>::bind(&path).unwrap();
    common::ready();
    let _ = server.serve(|req| {
        if req & SLOW != 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        if req & HOLD != 0 {
            std::thread::sleep(Duration::from_secs(2));
        }
        answer(req)
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn server(dir: &TempDir) -> (Proc, std::path::PathBuf) {
    let path = dir.join("s.sock");
    let p = path.clone();
    let mut server = Proc::spawn_with(ROLE, "serve", |cmd| {
        cmd.env(PLACE, &p);
    });
    server.wait_ready();
    (server, path)
}

#[test]
fn many_tasks_share_one_connection_and_each_gets_its_answer() {
    let dir = TempDir::new("async-shared");
    let (_server, path) = server(&dir);
    runtime().block_on(async {
        let client =
            SharedClient::from_sync(socket::Client::<u64, u64>::connect(&path).unwrap()).unwrap();
        let tasks: Vec<_> = (0..64u64)
            .map(|t| {
                let client = client.clone();
                tokio::spawn(async move {
                    for i in 0..500u64 {
                        let req = (t << 32) | i;
                        assert_eq!(client.call(req).await.unwrap(), answer(req));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // Calls that time out, and calls dropped before their answer: the answers of
        // both are dropped when they come, and the next calls get their own.
        for k in 0..5u64 {
            let late = client
                .call_timeout(SLOW | k, Duration::from_millis(1))
                .await;
            assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
            tokio::select! {
                biased;
                _ = client.call(SLOW | (100 + k)) => panic!("a slow answer came first"),
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
            assert_eq!(client.call(1000 + k).await.unwrap(), answer(1000 + k));
        }
    });
}

#[test]
fn a_killed_server_ends_every_call_in_flight() {
    let dir = TempDir::new("async-shared-kill");
    let (mut server, path) = server(&dir);
    runtime().block_on(async {
        let client =
            SharedClient::from_sync(socket::Client::<u64, u64>::connect(&path).unwrap()).unwrap();
        // Twenty slow calls: 400 ms of answers, so most are in flight at the kill.
        let calls: Vec<_> = (0..20u64)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move { (i, client.call(SLOW | i).await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(30)).await;
        server.kill();
        let mut ended = 0;
        for call in calls {
            let (i, got) = tokio::time::timeout(Duration::from_secs(30), call)
                .await
                .expect("a call outlived its server")
                .unwrap();
            match got {
                Ok(a) => assert_eq!(a, answer(i)),
                Err(Error::Disconnected) => ended += 1,
                Err(e) => panic!("call {i}: {e}"),
            }
        }
        assert!(ended > 0, "every slow call was answered before the kill");
        assert!(matches!(client.call(1).await, Err(Error::Disconnected)));
    });
}

/// The runtime whose task reads the answers goes while a call (on another runtime)
/// waits for one: the call ends with `Disconnected`, and so do later ones.
#[test]
fn a_call_whose_answers_reader_runtime_is_dropped_is_disconnected() {
    let dir = TempDir::new("async-shared-rt");
    let (_server, path) = server(&dir);
    let client = socket::Client::<u64, u64>::connect(&path).unwrap();
    let reader = runtime();
    let shared: SharedClient<u64, u64> =
        reader.block_on(async { SharedClient::from_sync(client).unwrap() });
    let caller = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    caller.block_on(async {
        let call = tokio::spawn({
            let s = shared.clone();
            async move { s.call(HOLD | 1).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        std::thread::spawn(move || drop(reader)).join().unwrap();
        let got = tokio::time::timeout(Duration::from_secs(30), call).await;
        assert!(matches!(got, Ok(Ok(Err(Error::Disconnected)))), "{got:?}");
        let later = tokio::time::timeout(Duration::from_secs(30), shared.call(2)).await;
        assert!(matches!(later, Ok(Err(Error::Disconnected))), "{later:?}");
    });
}

/// A shutdown requested while a call waits ends it with `Shutdown`, and later calls too
/// (in a child process: the request is the process's).
#[test]
fn a_requested_shutdown_ends_shared_calls_with_shutdown() {
    if let Ok(path) = std::env::var("IPC_ASYNC_SHARED_SHUTDOWN") {
        let client = socket::Client::<u64, u64>::connect(&path).unwrap();
        runtime().block_on(async {
            let shared = SharedClient::from_sync(client).unwrap();
            let call = tokio::spawn({
                let s = shared.clone();
                async move { s.call(HOLD | 1).await }
            });
            tokio::time::sleep(Duration::from_millis(100)).await;
            ipc::signal::request_shutdown().unwrap();
            let got = tokio::time::timeout(Duration::from_secs(30), call).await;
            assert!(matches!(got, Ok(Ok(Err(Error::Shutdown)))), "{got:?}");
            let later = tokio::time::timeout(Duration::from_secs(30), shared.call(2)).await;
            assert!(matches!(later, Ok(Err(Error::Shutdown))), "{later:?}");
        });
        return;
    }
    let dir = TempDir::new("async-shared-shutdown");
    let (_server, path) = server(&dir);
    common::assert_exit_success(common::rerun(
        "a_requested_shutdown_ends_shared_calls_with_shutdown",
        [("IPC_ASYNC_SHARED_SHUTDOWN", path.as_os_str())],
    ));
}
