//! `#[ipc::service]` between processes, over a Unix socket, TCP and shared memory
//! (`ipc::shm::rpc`): the server and its clients are this test binary re-run
//! (`IPC_SERVICE_ROLE` says which part a child plays). Every answer reaches its own call;
//! a killed server fails pending calls with `Disconnected`; a killed client or one that
//! sends garbage is dropped and the others are served; a call that timed out never hands
//! its late answer to the next; a client of another version of the trait is refused at
//! connect, the method named. Over shared memory, a killed client's connection is also
//! gone from `/dev/shm`, a client that scribbles over its request ring is dropped, and a
//! killed server's registry refuses new clients.
//!
//! `IPC_SERVICE_CALLS` sets the calls per client (2,000 by default; the README's
//! "Services" says how to run it long).

use std::env;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ipc::rpc::Call;
use ipc::{fixed_str, Error};

mod common;
mod pricing;

use common::{Proc, TempDir};
use pricing::{connect, connect_raw, AnyCall, Book, Echo, PricingRequest, PricingResponse};

const ROLE: &str = "IPC_SERVICE_ROLE";
const AT: &str = "IPC_SERVICE_AT";
const CLIENT: &str = "IPC_SERVICE_CLIENT";
const GO: &str = "IPC_SERVICE_GO";

/// Calls per client: `IPC_SERVICE_CALLS`, or 2,000.
fn calls() -> u64 {
    env::var("IPC_SERVICE_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// Another version of the service: `quote` takes its quantity as a `u64`.
pub mod older {
    use super::pricing::{Echo, Quote, Rejected};
    use ipc::FixedStr;

    #[ipc::service]
    pub trait Pricing {
        fn quote(&self, symbol: FixedStr<16>, qty: u64) -> Quote;
        fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
        fn reset(&mut self);
        fn flag(&self, on: bool, small: u8, big: u64) -> Result<u64, Rejected>;
        fn echo(&self, client: u32, n: u64) -> Echo;
        fn stall(&self, ms: u32);
    }
}

/// The part a child plays.
#[test]
fn child() {
    let Ok(role) = env::var(ROLE) else { return };
    let at = env::var(AT).unwrap();
    match role.as_str() {
        "server" => {
            let (kind, dir) = at.split_once(':').unwrap();
            let (mut server, addr) = pricing::bind(kind, dir.as_ref());
            println!("at {addr} ready");
            let e = pricing::serve_pricing(Book::default(), &mut *server).unwrap_err();
            panic!("the server stopped: {e}");
        }
        "two" => {
            let (kind, dir) = at.split_once(':').unwrap();
            let (mut server, addr) = pricing::bind(kind, dir.as_ref());
            println!("at {addr} ready");
            pricing::PricingServer::new(Book::default())
                .serve_clients(&mut *server, 2)
                .unwrap();
        }
        "client" => {
            let me: u32 = env::var(CLIENT).unwrap().parse().unwrap();
            let mut c = connect(&at).unwrap();
            for n in 0..calls() {
                let echo = c.echo(me, n).unwrap();
                assert_eq!((echo.client, echo.n), (me, n), "an answer to another call");
            }
            assert_eq!(c.quote(fixed_str!("ACME"), 3).unwrap().qty, 3);
            assert_eq!(c.cancel(1).unwrap(), Err(pricing::Rejected::AlreadyFilled));
        }
        "stall" => {
            let mut c = connect(&at).unwrap();
            // Connected; the call waits for the file `GO` names, so that every client
            // has connected before the server stalls in a handler.
            common::ready();
            let go = env::var_os(GO).unwrap();
            let guard = Instant::now();
            while !std::path::Path::new(&go).exists() && guard.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(1));
            }
            match c.stall(60_000) {
                Err(Error::Disconnected) => println!("disconnected"),
                other => panic!("a call to a killed server returned {other:?}"),
            }
        }
        "loop" => {
            let mut c = connect(&at).unwrap();
            c.echo(0, 0).unwrap();
            common::ready();
            for n in 0.. {
                c.echo(0, n).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A server child of `kind` (`unix`, `tcp` or `shm`); its address.
fn server(kind: &str, dir: &TempDir) -> (Proc, String) {
    let at = format!("{kind}:{}", dir.path().display());
    let mut server = Proc::spawn_with(ROLE, "server", |c| {
        c.env(AT, &at);
    });
    server.wait_ready();
    let out = server.output();
    // The harness may have printed "test child ... " on that line first.
    let line = out.lines().find(|l| l.ends_with(" ready")).unwrap();
    let start = line.find("at ").unwrap() + "at ".len();
    let addr = line[start..line.len() - " ready".len()].to_owned();
    (server, addr)
}

fn client(role: &str, addr: &str, vars: &[(&str, &OsStr)]) -> Proc {
    Proc::spawn_with(ROLE, role, |c| {
        c.env(AT, addr).envs(vars.iter().copied());
    })
}

fn three_clients_each_get_their_own_answers(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    let clients: Vec<Proc> = (0..3u32)
        .map(|i| client("client", &addr, &[(CLIENT, i.to_string().as_ref())]))
        .collect();
    for c in clients {
        c.assert_success();
    }
    server.kill();
}

fn a_killed_server_fails_every_pending_call_with_disconnected(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    // Three clients, connected; the first call the server takes stalls in its handler,
    // and the others wait behind it (or are sent just after the kill: they fail alike).
    let go = dir.join("go");
    let mut stalled: Vec<Proc> = (0..3)
        .map(|_| client("stall", &addr, &[(GO, go.as_os_str())]))
        .collect();
    for s in &mut stalled {
        s.wait_ready();
    }
    std::fs::write(&go, b"").unwrap();
    // The server says "stalling ready" once a call is in its handler.
    server.wait_ready();
    let killed = server.kill();
    for mut s in stalled {
        let status = common::wait_at_most(s.child(), Duration::from_secs(30))
            .expect("a pending call did not return");
        assert!(status.success(), "{}", s.output());
    }
    // The bound is 100 ms; it is checked generously, so that a loaded machine never
    // fails the test: only a call that waits for something else would take 5 s.
    assert!(killed.elapsed() < Duration::from_secs(5));
    if kind == "shm" {
        // Its registry is still there (until reclaimed): a new client is refused at once.
        match connect(&addr) {
            Err(Error::Disconnected) => {}
            other => panic!("a client of a killed server got {:?}", other.map(|_| ())),
        }
    }
}

fn a_killed_client_leaves_the_others_served(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    let mut looping = client("loop", &addr, &[]);
    looping.wait_ready();
    let pid = looping.id();
    looping.kill();
    let mut c = connect(&addr).unwrap();
    for n in 0..100 {
        assert_eq!(c.echo(9, n).unwrap().n, n);
    }
    if kind == "shm" {
        // Its two segments, `ipc.<server>.c<pid>-<n>.{q,r}`: the server drops the
        // connection once it notices the death, and unlinks both as their last
        // participant. Polled with a generous hang guard, never timed.
        let name = pricing::shm_name(dir.path());
        let left = |pid: u32| -> Vec<String> {
            let mine = format!("ipc.{name}.c{pid}-");
            std::fs::read_dir("/dev/shm")
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(&mine))
                .collect()
        };
        let gone = |pid: u32| {
            let guard = Instant::now();
            while !left(pid).is_empty() && guard.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(5));
            }
            assert_eq!(
                left(pid),
                Vec::<String>::new(),
                "a killed client's rings stayed"
            );
        };
        gone(pid);
        // Again while another client keeps the server busy, calling back to back: the
        // server still probes the others.
        let mut busy = client("loop", &addr, &[]);
        busy.wait_ready();
        let mut victim = client("loop", &addr, &[]);
        victim.wait_ready();
        let victim_pid = victim.id();
        victim.kill();
        gone(victim_pid);
        assert!(
            busy.child().try_wait().unwrap().is_none(),
            "the busy client stopped"
        );
        busy.kill();
        assert_eq!(c.echo(9, 100).unwrap().n, 100);
    }
    assert!(
        server.child().try_wait().unwrap().is_none(),
        "the server died"
    );
    server.kill();
}

/// A transport that breaks the first byte of every request's body: `flag`'s `on`, a
/// `bool`, becomes 7.
struct Breaking(AnyCall);

impl Breaking {
    fn broken(req: PricingRequest) -> PricingRequest {
        let mut bytes = ipc::as_bytes(&req).to_vec();
        bytes[8] = 7;
        ipc::from_bytes(&bytes).unwrap()
    }
}

impl Call<PricingRequest, PricingResponse> for Breaking {
    fn call(&mut self, req: PricingRequest) -> ipc::Result<PricingResponse> {
        self.0.call(Self::broken(req))
    }

    fn call_timeout(&mut self, req: PricingRequest, t: Duration) -> ipc::Result<PricingResponse> {
        self.0.call_timeout(Self::broken(req), t)
    }
}

fn a_client_sending_garbage_is_dropped_and_the_others_served(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    let (_, at) = addr.split_once(':').unwrap();
    if kind == "shm" {
        shm_garbage(at);
    } else {
        // Bytes that are no handshake: the connection is closed.
        let mut raw: Box<dyn ReadWrite> = if kind == "unix" {
            Box::new(std::os::unix::net::UnixStream::connect(at).unwrap())
        } else {
            Box::new(std::net::TcpStream::connect(at).unwrap())
        };
        raw.write_all(&[0xA5; 256]).unwrap();
        let mut sink = Vec::new();
        // Whatever the server sent before closing (its greeting), then the end.
        let _ = raw.read_to_end(&mut sink);
    }
    // Well-framed requests whose arguments are no values: refused, typed, then closed.
    let mut broken = pricing::PricingClient::new(Breaking(connect_raw(&addr).unwrap()));
    match broken.flag(true, 1, 2) {
        Err(Error::Refused { method: 4, .. }) => {}
        other => panic!("a request with an invalid bool was answered {other:?}"),
    }
    match broken.echo(1, 1) {
        Err(Error::Disconnected) => {}
        other => panic!("a refused client was not dropped: {other:?}"),
    }
    let mut good = connect(&addr).unwrap();
    assert_eq!(good.flag(true, 1, 2).unwrap(), Ok(3));
    server.kill();
}

/// Garbage over shared memory: announcements that are none in the server's registry
/// (ignored), then a client that writes `0xA5` over the whole of its request channel's
/// segment, header and ring (its connection is dropped, typed errors on its side).
fn shm_garbage(name: &str) {
    use std::os::unix::fs::FileExt;
    let mut registry = ipc::shm::Sender::<[u64; 4]>::open(name).unwrap();
    for _ in 0..10 {
        registry.send([0xA5A5_A5A5_A5A5_A5A5; 4]).unwrap();
    }
    drop(registry);
    let mut scribbler = connect(&format!("shm:{name}")).unwrap();
    assert_eq!(scribbler.echo(5, 5).unwrap().n, 5);
    // This process's only connection so far.
    let mine = format!("ipc.{name}.c{}-", std::process::id());
    let q = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with(&mine) && n.ends_with(".q"))
        .expect("the connection's request segment");
    // What is scribbled is no segment the sweeps can prove this crate made: removed here,
    // also if the test fails.
    let _remove = RemoveOnDrop(format!("/dev/shm/{q}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/dev/shm/{q}"))
        .unwrap();
    let len = file.metadata().unwrap().len() as usize;
    file.write_all_at(&vec![0xA5; len], 0).unwrap();
    // A hang guard only: whatever the scribbled ring does, the call must not succeed.
    match scribbler.echo_timeout(5, 6, Duration::from_secs(30)) {
        Err(Error::Disconnected | Error::Corrupt(_) | Error::Timeout(_)) => {}
        other => panic!("a call over a scribbled ring returned {other:?}"),
    }
}

/// Removes a file on drop.
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn a_late_answer_never_reaches_the_next_call(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    let mut c = connect(&addr).unwrap();
    match c.stall_timeout(1_000, Duration::from_millis(20)) {
        Err(Error::Timeout(_)) => {}
        other => panic!("a 1 s call with a 20 ms timeout returned {other:?}"),
    }
    let started = Instant::now();
    assert_eq!(
        c.echo(7, 8).unwrap(),
        Echo {
            n: 8,
            client: 7,
            _pad: [0; 4]
        }
    );
    let _ = started;
    server.kill();
}

fn a_client_of_another_version_is_refused_naming_the_method(kind: &str) {
    let dir = TempDir::new("service");
    let (mut server, addr) = server(kind, &dir);
    let (_, at) = addr.split_once(':').unwrap();
    let refused = if kind == "unix" {
        ipc::socket::Client::<older::PricingRequest, older::PricingResponse>::connect(at)
            .map(|_| ())
    } else if kind == "shm" {
        ipc::shm::rpc::Client::<older::PricingRequest, older::PricingResponse>::connect(at)
            .map(|_| ())
    } else {
        ipc::tcp::Client::<older::PricingRequest, older::PricingResponse>::connect(at).map(|_| ())
    };
    match refused {
        Err(Error::SchemaMismatch {
            difference: Some(d),
            ..
        }) => assert!(d.contains("quote") && d.contains("qty"), "{d}"),
        other => panic!("a client of another version was not refused: {other:?}"),
    }
    server.kill();
}

/// Over shared memory, a client of no server gets `NotFound` at once, and a server's
/// name must leave room for its connections' names.
#[test]
fn shm_no_server_and_a_long_name_are_typed_errors() {
    let name = common::unique("nobody");
    match ipc::shm::rpc::Client::<PricingRequest, PricingResponse>::connect(&name) {
        Err(Error::NotFound { .. }) => {}
        other => panic!("a client of no server got {other:?}"),
    }
    let long = format!("{}-{}", common::unique("long"), "n".repeat(160));
    match ipc::shm::rpc::Server::<PricingRequest, PricingResponse>::bind(&long) {
        Err(Error::InvalidName { .. }) => {}
        other => panic!("a server named with {} bytes: {other:?}", long.len()),
    }
}

/// A server that serves two clients returns once both ended, one of them refused as
/// soon as it connected.
fn a_refused_client_counts_as_served(kind: &str) {
    let dir = TempDir::new("service");
    let at = format!("{kind}:{}", dir.path().display());
    let mut server = Proc::spawn_with(ROLE, "two", |c| {
        c.env(AT, &at);
    });
    server.wait_ready();
    let out = server.output();
    let line = out.lines().find(|l| l.ends_with(" ready")).unwrap();
    let start = line.find("at ").unwrap() + "at ".len();
    let addr = line[start..line.len() - " ready".len()].to_owned();
    let mut broken = pricing::PricingClient::new(Breaking(connect_raw(&addr).unwrap()));
    assert!(matches!(
        broken.flag(true, 1, 2),
        Err(Error::Refused { .. })
    ));
    drop(broken);
    let mut good = connect(&addr).unwrap();
    assert_eq!(good.echo(1, 2).unwrap().n, 2);
    drop(good);
    // A hang guard only.
    let status =
        common::wait_at_most(server.child(), Duration::from_secs(60)).unwrap_or_else(|| {
            panic!(
                "the server of two clients did not return: {}",
                server.output()
            )
        });
    assert!(status.success(), "{}", server.output());
}

macro_rules! per_transport {
    ($($test:ident),* $(,)?) => {
        mod unix {
            $(#[test] fn $test() { super::$test("unix") })*
        }
        mod tcp {
            $(#[test] fn $test() { super::$test("tcp") })*
        }
        mod shm {
            $(#[test] fn $test() { super::$test("shm") })*
        }
    };
}

per_transport!(
    three_clients_each_get_their_own_answers,
    a_killed_server_fails_every_pending_call_with_disconnected,
    a_killed_client_leaves_the_others_served,
    a_client_sending_garbage_is_dropped_and_the_others_served,
    a_late_answer_never_reaches_the_next_call,
    a_client_of_another_version_is_refused_naming_the_method,
    a_refused_client_counts_as_served,
);
