//! A shared-memory request/response server ([`ipc::shm::rpc`]) beside a crowd: more
//! clients announcing themselves at once than connections it sets up at a time
//! ([`MAX_HANDSHAKES`]). Every client is served; the announcements beyond the table wait
//! in the registry, and the server sleeps while they wait (no spin over a registry it
//! cannot take from).
//!
//! The server is a child process (this test binary re-run as `child`); the crowd is
//! child processes too, released together, or announcements the test writes into the
//! registry itself, whose connections it then opens by hand as a client does.

use std::io::Read;
use std::time::{Duration, Instant};

use ipc::shm::rpc::{Client, Server, MAX_HANDSHAKES};
use ipc::shm::{Options, Receiver, Sender};

mod common;
use common::{gettid, Kid, Proc, TempDir};

const ROLE: &str = "SHM_RPC_CROWD_ROLE";

/// How long a client waits for its connection: far more than a crowd of a hundred takes
/// on a slow machine; a client the server never answers fails only after it.
const PATIENCE: Duration = Duration::from_secs(60);

/// A hang guard only, never a measure.
const HANG: Duration = Duration::from_secs(180);

/// The name of a server for `dir`: the directory's own (unique) name, so that whatever a
/// killed server leaves is removed with the directory (see [`TempDir`]).
fn server_name(dir: &TempDir) -> String {
    let name = dir.path().file_name().unwrap();
    name.to_string_lossy().into_owned()
}

fn answer(n: u64) -> u64 {
    n * 3 + 1
}

/// Opens connection `n` of process `pid` to the server `name` as a client opens it
/// (answers, then requests), waiting for the server to make it.
fn open_conn(name: &str, pid: u64, n: u64) -> (Sender<u64>, Receiver<u64>) {
    let open = Options::new().open_timeout(PATIENCE);
    let at = |end| format!("{name}.c{pid}-{n}.{end}");
    let rx = Receiver::<u64>::open_with(&at("r"), open.clone())
        .unwrap_or_else(|e| panic!("connection {n} was never made: {e}"));
    let tx = Sender::<u64>::open_with(&at("q"), open.linger(Duration::ZERO))
        .unwrap_or_else(|e| panic!("connection {n} was never made: {e}"));
    (tx, rx)
}

/// Asserts that the server (a child) returns, successfully, from serving `what`.
fn assert_returns(mut server: Proc, what: &str) {
    let status = common::wait_at_most(server.child(), HANG);
    assert!(
        status.is_some_and(|s| s.success()),
        "the server of {what} did not return: {}",
        server.output()
    );
}

/// The child entry point: does nothing unless `SHM_RPC_CROWD_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["server", name, clients, handshake] => {
            // `handshake`: seconds an announced client has to open its connection.
            let secs = Duration::from_secs(handshake.parse().unwrap());
            let opts = Options::new().open_timeout(secs);
            let mut server = Server::<u64, u64>::bind_with(name, opts).unwrap();
            // The thread that serves (the harness runs this test on a thread of its own).
            println!("thread {} ready", gettid());
            server
                .serve_clients(clients.parse().unwrap(), answer)
                .unwrap();
        }
        ["client", name, i] => {
            // Released with the others: stdin closed by the parent.
            let mut go = Vec::new();
            std::io::stdin().read_to_end(&mut go).unwrap();
            let i: u64 = i.parse().unwrap();
            let opts = Options::new().open_timeout(PATIENCE);
            let mut client = Client::<u64, u64>::connect_with(name, opts)
                .unwrap_or_else(|e| panic!("client {i}: connect: {e}"));
            assert_eq!(client.call(i).unwrap(), answer(i), "client {i}");
        }
        _ => panic!("unknown role {role}"),
    }
}

#[test]
fn a_hundred_client_processes_connecting_at_once_are_all_served() {
    const CLIENTS: usize = 100;
    let dir = TempDir::new("crowd");
    let name = server_name(&dir);
    let mut server = Proc::spawn(ROLE, &format!("server {name} {CLIENTS} 10"));
    server.wait_ready();
    let mut clients: Vec<Kid> = (0..CLIENTS)
        .map(|i| {
            let role = format!("client {name} {i}");
            common::rerun("child", [(ROLE, role.as_ref())])
        })
        .collect();
    // Every client is started and waits on its stdin: release them together.
    for c in &mut clients {
        drop(c.stdin.take());
    }
    let mut failed = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        match common::wait_at_most(&mut c, HANG) {
            Some(status) if status.success() => {}
            status => failed.push(format!("client {i} ({status:?}):\n{}", c.output())),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {CLIENTS} clients not served:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert_returns(server, &format!("{CLIENTS} clients"));
}

#[test]
fn announcements_beyond_a_full_table_wait_while_the_server_sleeps_and_are_all_served() {
    // The announcements beyond the table, after it filled up.
    const MORE: usize = 36;
    const ALL: usize = MAX_HANDSHAKES + MORE;
    let dir = TempDir::new("table");
    let name = server_name(&dir);
    // No handshake expires while the test runs: the table stays full until the test
    // opens connections.
    let mut server = Proc::spawn(ROLE, &format!("server {name} {ALL} 3600"));
    server.wait_ready();
    let out = server.output();
    // The harness may have printed "test child ... " on that line first.
    let line = out.lines().find(|l| l.ends_with(" ready")).unwrap();
    let tid = line.split(' ').rev().nth(1).unwrap();
    let stat = format!("/proc/{}/task/{tid}/stat", server.id());

    // Announced as a client announces, under numbers the test's own clients never use.
    let tag = u64::from_le_bytes(*b"ipc-rpc1");
    let pid = u64::from(std::process::id());
    let numbers: Vec<u64> = (0..ALL as u64).map(|i| 1_000_000 + i).collect();
    let mut registry =
        Sender::<[u64; 4]>::open_with(&name, Options::new().linger(Duration::ZERO)).unwrap();
    for &n in &numbers {
        registry.send([tag, pid, n, 0]).unwrap();
    }
    drop(registry);

    // The table fills with connections nobody opens; the rest wait unread, and the
    // server sleeps rather than spin over them.
    let start = Instant::now();
    while common::state_in(&stat) != 'S' {
        assert!(start.elapsed() < HANG, "the server never slept");
        std::thread::sleep(Duration::from_millis(10));
    }

    // Opened as a client opens them (answers, then requests): each one opened frees a
    // place in the table for an announcement that waited.
    let conns: Vec<(Sender<u64>, Receiver<u64>)> =
        numbers.iter().map(|&n| open_conn(&name, pid, n)).collect();
    for (i, (mut tx, mut rx)) in conns.into_iter().enumerate() {
        tx.send(i as u64).unwrap();
        assert_eq!(*rx.recv_timeout(PATIENCE).unwrap(), answer(i as u64));
    }
    // Every connection ended: the server counted all of them.
    assert_returns(server, &format!("{ALL} connections"));
}

/// Announcements of a client process that died before the server read them take no place
/// in the table: a table's worth of them, then one of a live client, and the live one is
/// served (the handshake deadline is an hour: a dead client's connection would hold its
/// place all that time).
#[test]
fn announcements_of_dead_clients_take_no_place() {
    let dir = TempDir::new("dead");
    let name = server_name(&dir);
    let mut server = Proc::spawn(ROLE, &format!("server {name} 1 3600"));
    server.wait_ready();
    // A process that has exited and been reaped: its pid names nobody.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = u64::from(gone.id());
    gone.wait().unwrap();

    let tag = u64::from_le_bytes(*b"ipc-rpc1");
    let pid = u64::from(std::process::id());
    let mut registry =
        Sender::<[u64; 4]>::open_with(&name, Options::new().linger(Duration::ZERO)).unwrap();
    for n in 0..MAX_HANDSHAKES as u64 {
        registry.send([tag, dead, 2_000_000 + n, 0]).unwrap();
    }
    let n = 3_000_000;
    registry.send([tag, pid, n, 0]).unwrap();
    drop(registry);

    let (mut tx, mut rx) = open_conn(&name, pid, n);
    tx.send(5).unwrap();
    assert_eq!(*rx.recv_timeout(PATIENCE).unwrap(), answer(5));
    drop((tx, rx));
    assert_returns(server, "one live client");
}
