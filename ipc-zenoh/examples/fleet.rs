//! A fleet of sensors beyond one machine: a sensor on host A publishes readings over
//! Zenoh; on host B a dashboard subscribes to them, and a bridge carries the same
//! readings into a local shared-memory channel, where a logger that knows nothing of
//! Zenoh receives them with `ipc::shm::Receiver`.
//!
//! The two hosts are two network namespaces joined by a veth pair when this runs as root
//! (made here and removed at the end), this machine's loopback otherwise. Every process
//! is this program run again in a role; each ends on its own, and the example exits 0
//! once all have.
//!
//! ```text
//! host A: sensor ──zenoh──▶ host B: dashboard        (ipc_zenoh::Subscriber<Reading>)
//!                    └────▶ host B: bridge ──shm──▶ logger (ipc::shm::Receiver<Reading>)
//! ```
//!
//! `cargo run -p typed-ipc-zenoh --example fleet`

#[path = "../tests/hosts/mod.rs"]
mod hosts;

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use hosts::{free_port, Hosts, Kid};
use ipc::{FixedStr, Message};
use ipc_zenoh::bridge::{Event, Inbound};
use ipc_zenoh::zenoh::Wait;

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Status {
    Ok = 1,
    Warm = 2,
}

/// One reading of one sensor.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
#[ipc(size = 40, align = 8)]
struct Reading {
    at_ms: u64,
    sensor: FixedStr<16>,
    celsius: f32,
    humidity: f32,
    seq: u32,
    status: Status,
    _pad: [u8; 3],
}

const READINGS: u32 = 200;
const ROLE: &str = "FLEET_ROLE";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is set for a role"))
}

fn reading(seq: u32) -> Reading {
    let celsius = 20.0 + (seq % 50) as f32 * 0.25;
    Reading {
        at_ms: u64::from(seq) * 10,
        sensor: ipc::fixed_str!("greenhouse-3"),
        celsius,
        humidity: 0.55,
        seq,
        status: if celsius < 30.0 {
            Status::Ok
        } else {
            Status::Warm
        },
        _pad: [0; 3],
    }
}

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Result {
    match std::env::var(ROLE).as_deref() {
        Ok("sensor") => return sensor(),
        Ok("dashboard") => return dashboard(),
        Ok("bridge") => return bridge(),
        Ok("logger") => return logger(),
        _ => {}
    }
    let hosts = Hosts::new();
    let port = if hosts.separate() { 7447 } else { free_port() };
    let pid = std::process::id();
    let channel = format!("fleet-{pid}-readings");
    let key = format!("fleet/{pid}/greenhouse-3");
    let exe = std::env::current_exe()?;
    let spawn = |host: &hosts::Host, role: &str| -> Result<Kid> {
        let mut c = host.command(&exe);
        c.env(ROLE, role)
            .env("KEY", &key)
            .env("CHANNEL", &channel)
            .env("LISTEN", hosts.a.endpoint(port))
            .env("CONNECT", hosts.a.endpoint(port))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        Ok(Kid(c.spawn()?))
    };
    // The logger makes the channel the bridge sends into; the bridge needs it to exist.
    let logger = spawn(&hosts.b, "logger")?;
    let start = Instant::now();
    while !std::path::Path::new(&format!("/dev/shm/ipc.{channel}")).exists() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("the logger did not make its channel within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let sensor = spawn(&hosts.a, "sensor")?;
    let dashboard = spawn(&hosts.b, "dashboard")?;
    let bridge = spawn(&hosts.b, "bridge")?;
    let mut ok = true;
    let mut check = |kid: Kid, what: &str| {
        let status = kid.wait_for(120, what).status;
        if !status.success() {
            eprintln!("fleet: {what} failed: {status}");
            ok = false;
        }
    };
    check(logger, "logger");
    // The logger has every reading: the bridge has nothing more to carry.
    ipc::signal::send(bridge.0.id(), ipc::signal::Signal::SIGTERM)?;
    check(bridge, "bridge");
    check(dashboard, "dashboard");
    check(sensor, "sensor");
    drop(hosts);
    if !ok {
        return Err("a role failed".into());
    }
    println!("fleet: {READINGS} readings reached the dashboard over Zenoh and the logger through the bridge");
    Ok(())
}

/// Host A: publishes the readings once the dashboard and the bridge are listening.
fn sensor() -> Result {
    let (key, listen) = (var("KEY"), var("LISTEN"));
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[&listen], &[])?)?;
    let ready = session.declare_subscriber(format!("{key}/ready")).wait()?;
    let done = session.declare_subscriber(format!("{key}/done")).wait()?;
    let mut tx = ipc_zenoh::Publisher::<Reading>::declare(&session, &key)?;
    let mut seen = HashSet::new();
    while seen.len() < 2 {
        let s = ready
            .recv_timeout(Duration::from_secs(60))?
            .ok_or("the dashboard and the bridge did not come within 60 s")?;
        seen.insert(s.payload().to_bytes().into_owned());
    }
    for seq in 0..READINGS {
        tx.send(reading(seq))?;
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("sensor (host A): published {READINGS} readings on {key}");
    // The session lives until the dashboard and the logger have everything.
    let mut finished = HashSet::new();
    while finished.len() < 2 {
        let s = done
            .recv_timeout(Duration::from_secs(60))?
            .ok_or("the dashboard and the logger did not finish within 60 s")?;
        finished.insert(s.payload().to_bytes().into_owned());
    }
    Ok(())
}

/// Says `who` is listening, every 100 ms until `first()` (the first reading is there).
fn announce(
    session: &zenoh::Session,
    key: &str,
    who: &str,
    mut first: impl FnMut() -> Result<bool>,
) -> Result {
    loop {
        session.put(format!("{key}/ready"), who).wait()?;
        if first()? {
            return Ok(());
        }
    }
}

/// Host B: the typed Zenoh subscriber.
fn dashboard() -> Result {
    let (key, connect) = (var("KEY"), var("CONNECT"));
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&connect])?)?;
    let mut rx = ipc_zenoh::Subscriber::<Reading>::declare(&session, &key)?;
    let mut got = Vec::new();
    announce(&session, &key, "dashboard", || {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(r) => {
                got.push(r.get());
                Ok(true)
            }
            Err(ipc::Error::Timeout(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    })?;
    while got.len() < READINGS as usize {
        got.push(rx.recv_timeout(Duration::from_secs(30))?.get());
    }
    let warm = got.iter().filter(|r| r.status == Status::Warm).count();
    let max = got.iter().map(|r| r.celsius).fold(f32::MIN, f32::max);
    assert!(got.iter().enumerate().all(|(i, r)| *r == reading(i as u32)));
    println!(
        "dashboard (host B, Zenoh): {} readings of {}, max {max:.2} °C, {warm} warm, {} missed",
        got.len(),
        got[0].sensor,
        rx.missed()
    );
    session.put(format!("{key}/done"), "dashboard").wait()?;
    Ok(())
}

/// Host B: the bridge from the key into the local channel, until asked to stop.
fn bridge() -> Result {
    let (key, connect, channel) = (var("KEY"), var("CONNECT"), var("CHANNEL"));
    ipc::signal::shutdown_on(&[ipc::signal::Signal::SIGTERM])?;
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&connect])?)?;
    let mut inbound = Inbound::open(&session, &key, &channel, &ipc_zenoh::Options::new())?;
    announce(&session, &key, "bridge", || {
        Ok(matches!(
            inbound.step(Duration::from_millis(100))?,
            Event::Forwarded
        ))
    })?;
    // Until the example asks it to stop (SIGTERM), as `ipc bridge` runs until Ctrl-C.
    loop {
        match inbound.step(Duration::from_millis(100)) {
            Ok(Event::Idle) if ipc::signal::shutdown_requested() => break,
            Ok(Event::Refused(e)) => eprintln!("bridge: refused a sample: {e}"),
            Ok(_) => {}
            Err(ipc::Error::Disconnected | ipc::Error::Shutdown) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let c = inbound.counts();
    println!(
        "bridge (host B): carried {} readings into shm:{channel}, {} dropped, {} missed, {} refused",
        c.forwarded,
        c.dropped,
        c.missed,
        c.mismatched + c.invalid
    );
    Ok(())
}

/// Host B: a plain shared-memory receiver of the channel the bridge sends into.
fn logger() -> Result {
    let (channel, key) = (var("CHANNEL"), var("KEY"));
    let mut rx =
        ipc::shm::Receiver::<Reading>::create(&channel, ipc::shm::Options::new().capacity(64))?;
    for seq in 0..READINGS {
        let r = rx.recv_timeout(Duration::from_secs(60))?;
        assert_eq!(*r, reading(seq), "in order and intact");
    }
    println!("logger (host B, shared memory): {READINGS} readings in order");
    // Tell the sensor, which waits for it before it leaves.
    let connect = var("CONNECT");
    let session = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&connect])?)?;
    let mut said = false;
    let start = Instant::now();
    while !said && start.elapsed() < Duration::from_secs(10) {
        // The put goes only once this session has learnt of the sensor's subscription.
        let p = session.declare_publisher(format!("{key}/done")).wait()?;
        if p.matching_status().wait()?.matching() {
            p.put("logger").wait()?;
            said = true;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}
