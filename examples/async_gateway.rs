//! One tokio task receives from three transports at once — a shared-memory channel, a
//! Unix socket and a POSIX message queue — with `select!`, and forwards every event to an
//! upstream over TCP; SIGTERM or SIGINT ends it cleanly at any moment.
//!
//! The feeder is this program re-run as a child (`feeder`): it sends `EVENTS` events on
//! each of the three, then an end marker on the queue (a queue has no end of its own).
//! The upstream is a thread of this process behind a TCP listener on loopback, counting
//! what arrives. Interrupted, the gateway stops its loop, closes its ends, kills and
//! reaps the feeder, and removes the queue, the segment and the socket's directory.
//!
//! Needs the `tokio` feature (the repository's examples have it through the
//! dev-dependencies). `cargo run --example async_gateway`

use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc::{mq, shm, socket, tcp, Message};
use tokio::signal::unix::{signal, SignalKind};

/// Where an event came from, and its number there.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Event {
    seq: u64,
    source: u8,
    /// 1 on the queue's last message: the feeder is done.
    end: u8,
    _pad: [u8; 6],
}

const SHM: u8 = 1;
const UNIX: u8 = 2;
const QUEUE: u8 = 3;
const EVENTS: u64 = 2_000;

fn event(source: u8, seq: u64, end: bool) -> Event {
    Event {
        seq,
        source,
        end: u8::from(end),
        _pad: [0; 6],
    }
}

fn names() -> (String, String, PathBuf) {
    let pid = std::process::id();
    let parent = match std::env::args().nth(1).as_deref() {
        Some("feeder") => std::env::args().nth(2).expect("the gateway's pid"),
        _ => pid.to_string(),
    };
    (
        format!("gateway-{parent}"),
        format!("/gateway-{parent}"),
        std::env::temp_dir().join(format!("ipc-gateway-{parent}")),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().nth(1).as_deref() == Some("feeder") {
        return match feeder() {
            // The gateway stopped first (a signal): nothing more to feed.
            Err(ipc::Error::Disconnected) => Ok(()),
            other => Ok(other?),
        };
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(gateway());
    // What was left to the blocking pool (an accept that never returned) is not waited for.
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

/// The child: `EVENTS` events on each transport, interleaved, with a pause now and then.
fn feeder() -> ipc::Result<()> {
    let (shm_name, mq_name, dir) = names();
    let mut on_shm = shm::Sender::<Event>::open(&shm_name)?;
    let mut on_unix = socket::Stream::<Event>::connect(dir.join("events.sock"))?;
    let mut on_queue = mq::Sender::<Event>::open(&mq_name)?;
    for seq in 0..EVENTS {
        on_shm
            .send(event(SHM, seq, false))
            .map_err(ipc::SendError::into_error)?;
        on_unix
            .send(event(UNIX, seq, false))
            .map_err(ipc::SendError::into_error)?;
        on_queue
            .send(event(QUEUE, seq, false))
            .map_err(ipc::SendError::into_error)?;
        if seq % 100 == 99 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    on_queue
        .send(event(QUEUE, EVENTS, true))
        .map_err(ipc::SendError::into_error)?;
    Ok(())
}

async fn gateway() -> Result<(), Box<dyn std::error::Error>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (shm_name, mq_name, dir) = names();
    std::fs::create_dir(&dir)?;
    // Dropped last: removes the queue and the socket's directory.
    let _cleanup = Cleanup {
        mq: mq_name.clone(),
        dir: dir.clone(),
    };

    // The upstream: a thread that counts what the gateway forwards over TCP.
    let upstream = tcp::Listener::<Event>::bind("127.0.0.1:0")?;
    let at = upstream.local_addr()?;
    let counter = std::thread::spawn(move || -> ipc::Result<u64> {
        let mut conn = upstream.accept()?;
        let mut n = 0;
        loop {
            match conn.recv() {
                Ok(_) => n += 1,
                Err(ipc::Error::Disconnected) => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    });
    let mut out = tcp::AsyncStream::from_sync(tcp::Stream::<Event>::connect(at)?)?;

    // The three sources, then the feeder.
    let shm_rx = shm::Receiver::<Event>::create(&shm_name, shm::Options::new())?;
    let mut from_shm = shm::AsyncReceiver::from_sync(shm_rx)?;
    let mut from_queue =
        mq::AsyncReceiver::from_sync(mq::Receiver::<Event>::create(&mq_name, mq::Options::new())?)?;
    let listener = socket::Listener::<Event>::bind(dir.join("events.sock"))?;
    // Dropped before the ends above: killed (if still running) and reaped first, so
    // that the channel's segment goes with its receiver.
    let _feeder = Feeder(
        Command::new(std::env::current_exe()?)
            .args(["feeder", &std::process::id().to_string()])
            .spawn()?,
    );
    // Accepting is sync (short, bounded by the handshake): on the blocking pool, in
    // slices, so that a signal meanwhile is not kept waiting.
    let stop = Arc::new(AtomicBool::new(false));
    let accepting = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || loop {
            match listener.accept_timeout(Duration::from_millis(20)) {
                Err(ipc::Error::Timeout(_)) if !stop.load(Ordering::Relaxed) => {}
                other => return other,
            }
        })
    };
    let started = Instant::now();
    let accepted = tokio::select! {
        a = accepting => a?,
        _ = term.recv() => return stopped(&stop, "SIGTERM"),
        _ = int.recv() => return stopped(&stop, "SIGINT"),
    };
    let mut from_unix = socket::AsyncStream::from_sync(accepted?)?;

    let (mut shm_open, mut unix_open, mut queue_open) = (true, true, true);
    let mut forwarded = 0u64;
    while shm_open || unix_open || queue_open {
        let (source, got) = tokio::select! {
            _ = term.recv() => return stopped(&stop, "SIGTERM"),
            _ = int.recv() => return stopped(&stop, "SIGINT"),
            r = from_shm.recv(), if shm_open => (SHM, r),
            r = from_unix.recv(), if unix_open => (UNIX, r),
            r = from_queue.recv(), if queue_open => (QUEUE, r),
        };
        match got {
            Ok(ev) if ev.end == 1 => queue_open = false,
            Ok(ev) => {
                out.send(ev).await?;
                forwarded += 1;
            }
            // The feeder left: its channel and its socket end. (The queue ends with its
            // marker: a queue is never disconnected.)
            Err(ipc::Error::Disconnected) if source == SHM => shm_open = false,
            Err(ipc::Error::Disconnected) if source == UNIX => unix_open = false,
            Err(e) => return Err(e.into()),
        }
    }
    out.flush().await?;
    drop(out);
    let counted = counter.join().expect("the upstream thread")?;
    println!(
        "gateway: forwarded {forwarded} events from shared memory, a Unix socket and a \
         POSIX queue to TCP in {:.1} ms; upstream counted {counted}",
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(counted, 3 * EVENTS);
    Ok(())
}

/// The loop ends on a signal: the accept on the blocking pool stops at its next slice,
/// and `Cleanup` does the rest.
fn stopped(stop: &AtomicBool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    stop.store(true, Ordering::Relaxed);
    println!("gateway: {what}: stopping cleanly");
    Ok(())
}

/// The feeder, killed if it still runs and reaped, whichever way the gateway ends.
struct Feeder(Child);

impl Drop for Feeder {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// Removes the queue and the socket's directory, whichever way the gateway ends.
struct Cleanup {
    mq: String,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.mq);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
