//! `ipc bridge` across two hosts (two network namespaces joined by a veth pair, see
//! `ipc-zenoh/tests/hosts/mod.rs`): a shared-memory topic on host A is carried by the
//! bridge to a typed Zenoh subscriber on host B; the bridge is killed (SIGKILL) in the
//! middle of the stream and started again. The subscriber must receive every sample in
//! order but for the gaps it is told of (`Error::Lagged`), each of exactly the samples
//! that did not arrive: the loss is only what is said.

#[path = "../../ipc-zenoh/tests/hosts/mod.rs"]
mod hosts;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hosts::{free_port, Hosts, Kid};

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Tick {
    n: u64,
    check: u64,
}

fn tick(n: u64) -> Tick {
    Tick { n, check: !n }
}

const ROLE: &str = "IPC_BRIDGE_ROLE";
const TICKS: u64 = 20_000;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a child"))
}

/// Host A: the topic's publisher, a tick every 200 µs or so (about 4 s in all), once
/// the bridge has subscribed.
fn publisher() {
    let name = var("TOPIC");
    let mut tx =
        ipc::shm::Publisher::<Tick>::create(&name, ipc::shm::Options::new().capacity(256)).unwrap();
    let start = Instant::now();
    while tx.subscribers() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no bridge subscribed in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for n in 0..TICKS {
        tx.send(tick(n)).unwrap();
        std::thread::sleep(Duration::from_micros(200));
    }
    // Time for the bridge to carry the last ones before the topic ends.
    std::thread::sleep(Duration::from_secs(1));
    println!("published {TICKS}");
}

/// Host B: a typed subscriber of the key, listening; receives until the last tick.
fn subscriber() {
    let listen = var("LISTEN");
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[&listen], &[]).unwrap()).unwrap();
    let mut rx = ipc_zenoh::Subscriber::<Tick>::declare(&session, &var("KEY")).unwrap();
    let (mut received, mut said, mut first, mut expected) = (0u64, 0u64, None, 0u64);
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(t) => {
                if first.is_none() {
                    first = Some(t.n);
                    expected = t.n;
                }
                assert_eq!(*t, tick(expected), "in order, or after a gap said");
                received += 1;
                expected += 1;
                if t.n == TICKS - 1 {
                    break;
                }
            }
            Err(ipc::Error::Lagged(k)) => {
                said += k;
                expected += k;
            }
            Err(e) => panic!("after {received} ticks: {e}"),
        }
    }
    let first = first.unwrap();
    assert_eq!(
        received + said,
        TICKS - first,
        "received or said lost, every one"
    );
    assert_eq!(rx.missed(), said);
    println!("received {received} from {first}, {said} said lost");
}

fn bridge(hosts: &Hosts, topic: &str, key: &str, connect: &str) -> Kid {
    let mut c = hosts.a.command(env!("CARGO_BIN_EXE_ipc"));
    c.args([
        "bridge",
        &format!("shm:{topic}"),
        "--to",
        key,
        "--connect",
        connect,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    Kid(c.spawn().unwrap())
}

#[test]
fn a_killed_bridge_restarted_loses_only_what_is_said() {
    match std::env::var(ROLE).as_deref() {
        Ok("publisher") => return publisher(),
        Ok("subscriber") => return subscriber(),
        _ => {}
    }
    let hosts = Hosts::new();
    let port = if hosts.separate() { 7447 } else { free_port() };
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    let topic = format!("{base}-{}-bridge-ticks", std::process::id());
    let key = format!("ipc-test/{}/bridged", std::process::id());
    let exe = std::env::current_exe().unwrap();
    let spawn = |host: &hosts::Host, role: &str| {
        let mut c: Command = host.command(&exe);
        c.args([
            "a_killed_bridge_restarted_loses_only_what_is_said",
            "--exact",
            "--nocapture",
        ])
        .env(ROLE, role)
        .env("TOPIC", &topic)
        .env("KEY", &key)
        .env("LISTEN", hosts.b.endpoint(port))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        Kid(c.spawn().unwrap())
    };
    let subscriber = spawn(&hosts.b, "subscriber");
    let publisher = spawn(&hosts.a, "publisher");
    let start = Instant::now();
    while !std::path::Path::new(&format!("/dev/shm/ipc.{topic}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the topic did not appear"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let connect = hosts.b.endpoint(port);
    let mut first = bridge(&hosts, &topic, &key, &connect);
    std::thread::sleep(Duration::from_millis(1500));
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let second = bridge(&hosts, &topic, &key, &connect);

    let out = subscriber.wait_for(120, "subscriber");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "subscriber: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "{}",
        text.lines().find(|l| l.contains("received")).unwrap_or("?")
    );
    let out = publisher.wait_for(120, "publisher");
    assert!(
        out.status.success(),
        "publisher: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The topic ended: the second bridge carried what was left and ends, saying its
    // counts.
    let out = second.wait_for(60, "the second bridge");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bridge: {}\n{err}", out.status);
    assert!(err.contains("bridge ends: forwarded"), "{err}");
    println!("second bridge: {}", err.lines().last().unwrap_or(""));
}
