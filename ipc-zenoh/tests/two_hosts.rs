//! Typed publish/subscribe across two hosts (two network namespaces joined by a veth
//! pair, see `hosts/mod.rs`), in real processes: a publisher on host A, two subscribers
//! and one subscriber of another schema on host B.
//!
//! `IPC_ZENOH_SAMPLES` sets the count (20,000 by default; the README shows the run with
//! 1,000,000).

mod hosts;

use std::time::Duration;

use hosts::{free_port, Hosts, Kid};
use ipc::Message;
use ipc_zenoh::{Publisher, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Kind {
    Even = 2,
    Odd = 3,
}

/// What the publisher sends: a number, its check, and an enum the subscribers validate.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Tick {
    n: u64,
    check: u64,
    kind: Kind,
    _pad: [u8; 7],
}

/// Another version of `Tick`: its subscriber must receive none of `Tick`'s samples as
/// its own type.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(name = "Tick")]
struct TickV2 {
    n: u64,
    check: u32,
    kind: Kind,
    _pad: [u8; 3],
}

const ROLE: &str = "IPC_ZENOH_ROLE";

fn samples() -> u64 {
    std::env::var("IPC_ZENOH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000)
}

fn tick(n: u64) -> Tick {
    Tick {
        n,
        check: n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        kind: if n % 2 == 0 { Kind::Even } else { Kind::Odd },
        _pad: [0; 7],
    }
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a child"))
}

/// The publisher (host A): listens, waits for the three subscribers to say they are
/// ready, publishes every sample.
fn publisher() {
    let (key, n) = (var("KEY"), samples());
    let listen = var("LISTEN");
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[&listen], &[]).unwrap()).unwrap();
    let ready = session
        .declare_subscriber(format!("{key}/ready"))
        .with(zenoh::handlers::FifoChannel::new(64))
        .wait_ok();
    // Declared first: each subscriber says `done` once, and Zenoh carries it only to
    // subscriptions its session already knows.
    let done = session
        .declare_subscriber(format!("{key}/done"))
        .with(zenoh::handlers::FifoChannel::new(64))
        .wait_ok();
    // The subscriber of another schema asks for one more sample while its mismatches do
    // not name this publisher's type yet (see `stranger`).
    let again = session
        .declare_subscriber(format!("{key}/again"))
        .with(zenoh::handlers::FifoChannel::new(64))
        .wait_ok();
    // Declared before the subscribers are ready: its schema's queryable is then known
    // on their side before the first sample (a lookup that races it gets no answer, and
    // the mismatch names the type only at a later lookup).
    let mut tx = Publisher::<Tick>::declare(&session, &key).unwrap();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 3 {
        let s = ready
            .recv_timeout(Duration::from_secs(60))
            .unwrap()
            .expect("three subscribers ready within 60 s");
        seen.insert(s.payload().to_bytes().into_owned());
    }
    for i in 0..n {
        tx.send(tick(i)).unwrap();
    }
    // Every subscriber says when it has everything; the session must live until then.
    let mut finished = std::collections::HashSet::new();
    let (mut extra, start) = (n, std::time::Instant::now());
    while finished.len() < 3 {
        while let Ok(Some(_)) = again.try_recv() {
            tx.send(tick(extra)).unwrap();
            extra += 1;
        }
        if let Some(s) = done.recv_timeout(Duration::from_millis(50)).unwrap() {
            finished.insert(s.payload().to_bytes().into_owned());
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the subscribers did not finish within 300 s"
        );
    }
    println!("published {n}");
}

/// Says `who` is ready (every 100 ms: the first may go before the link is up) until
/// `first` returns true.
fn announce(session: &zenoh::Session, key: &str, who: &str, mut first: impl FnMut() -> bool) {
    use zenoh::Wait;
    loop {
        session.put(format!("{key}/ready"), who).wait().unwrap();
        if first() {
            return;
        }
    }
}

/// A subscriber of `Tick` (host B): every sample, in order, valid.
fn subscriber() {
    use zenoh::Wait;
    let (key, n, who) = (var("KEY"), samples(), var("WHO"));
    let connect = var("CONNECT");
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&connect]).unwrap()).unwrap();
    let mut rx = Subscriber::<Tick>::declare(&session, &key).unwrap();
    let mut first = None;
    announce(&session, &key, &who, || {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(s) => {
                first = Some(s.get());
                true
            }
            Err(ipc::Error::Timeout(_)) => false,
            Err(e) => panic!("{e}"),
        }
    });
    let first = first.expect("a first sample");
    assert_eq!(first, tick(0), "the first sample is the first published");
    for i in 1..n {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(s) => assert_eq!(*s, tick(i), "sample {i} in order and intact"),
            Err(e) => panic!("sample {i}: {e}"),
        }
    }
    assert_eq!(rx.missed(), 0);
    assert_eq!((rx.mismatched(), rx.invalid()), (0, 0));
    session
        .put(format!("{key}/done"), who.as_str())
        .wait()
        .unwrap();
    println!("received {n} in order");
}

/// A subscriber of `TickV2` (host B): receives every sample as a mismatch, none as its
/// type.
fn stranger() {
    use zenoh::Wait;
    let (key, n) = (var("KEY"), samples());
    let connect = var("CONNECT");
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&connect]).unwrap()).unwrap();
    let mut rx = Subscriber::<TickV2>::declare(&session, &key).unwrap();
    let mut message = None;
    let mut check = |r: ipc::Result<ipc_zenoh::Sample<'_, TickV2>>| match r {
        Ok(s) => panic!("a sample of Tick received as TickV2: {s:?}"),
        Err(ipc::Error::Timeout(_)) => false,
        Err(e @ ipc::Error::SchemaMismatch { .. }) => {
            // The last one: what the subscriber knows of the publisher's schema in the end.
            message = Some(e.to_string());
            true
        }
        Err(e) => panic!("{e}"),
    };
    announce(&session, &key, "stranger", || {
        check(rx.recv_timeout(Duration::from_millis(100)))
    });
    while rx.mismatched() < n {
        assert!(
            check(rx.recv_timeout(Duration::from_secs(30))),
            "every sample arrives as a mismatch ({} of {n})",
            rx.mismatched()
        );
    }
    // The publisher's schema is routed to this session some time after its queryable is
    // declared, and samples may come first: their mismatches then name an unknown type,
    // and a later mismatch asks again. Until one names it, ask for one more sample.
    let start = std::time::Instant::now();
    while !message
        .as_ref()
        .is_some_and(|m| m.contains("`Tick` (24 bytes"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no mismatch named the publisher's type: {message:?}"
        );
        session
            .put(format!("{key}/again"), "stranger")
            .wait()
            .unwrap();
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(s) => panic!("a sample of Tick received as TickV2: {s:?}"),
            Err(ipc::Error::Timeout(_)) => {}
            Err(e @ ipc::Error::SchemaMismatch { .. }) => message = Some(e.to_string()),
            Err(e) => panic!("{e}"),
        }
    }
    let message = message.unwrap();
    // Both named: the schema name is the same ("Tick"), the layouts and the first field
    // that differs are not.
    assert!(message.contains("`Tick` (16 bytes"), "{message}");
    assert!(message.contains("`Tick` (24 bytes"), "{message}");
    assert!(message.contains("`Tick.check`"), "{message}");
    assert_eq!(rx.received(), 0);
    session
        .put(format!("{key}/done"), "stranger")
        .wait()
        .unwrap();
    println!("mismatched {n}: {message}");
}

trait WaitOk<T> {
    fn wait_ok(self) -> T;
}

impl<B: zenoh::Wait<To = zenoh::Result<T>>, T> WaitOk<T> for B {
    fn wait_ok(self) -> T {
        self.wait().unwrap()
    }
}

#[test]
fn pubsub_across_two_hosts() {
    match std::env::var(ROLE).as_deref() {
        Ok("publisher") => return publisher(),
        Ok("subscriber") => return subscriber(),
        Ok("stranger") => return stranger(),
        _ => {}
    }
    let hosts = Hosts::new();
    let port = if hosts.separate() { 7447 } else { free_port() };
    let key = format!("ipc-test/{}/ticks", std::process::id());
    let exe = std::env::current_exe().unwrap();
    let spawn = |host: &hosts::Host, role: &str, who: &str| {
        let mut c = host.command(&exe);
        c.args([
            "pubsub_across_two_hosts",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env("WHO", who)
        .env("KEY", &key)
        .env("IPC_ZENOH_SAMPLES", samples().to_string())
        .env("LISTEN", hosts.a.endpoint(port))
        .env("CONNECT", hosts.a.endpoint(port))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        Kid(c.spawn().unwrap())
    };
    let publisher = spawn(&hosts.a, "publisher", "");
    let subs = [
        spawn(&hosts.b, "subscriber", "one"),
        spawn(&hosts.b, "subscriber", "two"),
        spawn(&hosts.b, "stranger", "stranger"),
    ];
    // Bounded: a minute to start, and time for the count at well under 10,000 a second.
    let secs = 120 + samples() / 10_000;
    for (kid, what) in subs
        .into_iter()
        .zip(["subscriber one", "subscriber two", "stranger"])
    {
        let out = kid.wait_for(secs, what);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what}: {}\n{text}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "{what}: {}",
            text.lines()
                .find(|l| l.contains("received") || l.contains("mismatched"))
                .unwrap_or("?")
        );
    }
    let out = publisher.wait_for(secs, "publisher");
    assert!(
        out.status.success(),
        "publisher: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
