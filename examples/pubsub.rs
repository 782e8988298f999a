//! One publisher, three subscriber processes on a shared-memory topic that drops the
//! oldest samples rather than wait: a fast subscriber that sees every sample, a slow one
//! that falls behind and says how many it missed, and one that joins late and receives the
//! topic's history first.
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the waits
//! return `Error::Shutdown`, the parent kills and reaps its children, and the topic goes
//! with the last of them to let go of it.
//!
//! ```text
//! cargo run --release --example pubsub
//! ```

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Overflow, Publisher, Subscriber};
use ipc::signal::{self, Signal};
use ipc::{Error, Message};

/// One reading of a sensor.
#[derive(Message, Clone, Copy, Debug)]
#[repr(C)]
struct Reading {
    seq: u64,
    celsius: f64,
}

const SAMPLES: u64 = 20_000;
const HISTORY: usize = 8;

type AnyError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some(role), Some(topic)) => subscriber(role, topic),
            _ => publisher(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if signal::shutdown_requested() => {
            if args.len() < 2 {
                eprintln!("pubsub: interrupted; the subscribers are stopped");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("pubsub: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A child process, killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Kid {
    fn spawn(role: &str, topic: &str) -> std::io::Result<Kid> {
        let exe = std::env::current_exe()?;
        Command::new(exe)
            .args([role, topic])
            .spawn()
            .map(|c| Kid(Some(c)))
    }

    fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.take().expect("not waited for yet").wait()
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn publisher() -> Result<(), AnyError> {
    let topic = format!("pubsub-example-{}", std::process::id());
    let opts = Options::new()
        .capacity(256)
        .history(HISTORY)
        .max_subscribers(4)
        .overflow(Overflow::DropOldest);
    let mut tx = Publisher::<Reading>::create(&topic, opts)?;
    // Dropped after the children are killed and reaped: a subscriber killed while the
    // publisher is gone leaves the topic to no one, and this removes it.
    let _cleanup = RemoveStale(&topic);
    let mut kids = vec![Kid::spawn("fast", &topic)?, Kid::spawn("slow", &topic)?];
    wait_for(&tx, 2)?;
    let start = Instant::now();
    for seq in 0..SAMPLES {
        if seq == SAMPLES / 2 {
            kids.push(Kid::spawn("late", &topic)?);
            wait_for(&tx, 3)?;
        }
        let mut slot = tx.loan()?; // written in place, read in place by every subscriber
        slot.write(Reading {
            seq,
            celsius: 20.0 + (seq % 100) as f64 / 10.0,
        });
        slot.send();
        // A sensor's pace: 20,000 readings in about a second.
        if seq % 100 == 99 {
            std::thread::sleep(Duration::from_millis(5));
        }
        if signal::shutdown_requested() {
            return Err(Error::Shutdown.into());
        }
    }
    println!(
        "publisher: {SAMPLES} readings in {:.2?}, never waiting for a subscriber",
        start.elapsed()
    );
    drop(tx); // the subscribers read what is left, then hear that the publisher is gone
    for kid in kids {
        if !kid.wait()?.success() {
            return Err("a subscriber failed".into());
        }
    }
    Ok(())
}

/// Removes the topic if nobody is attached to it any more.
struct RemoveStale<'a>(&'a str);

impl Drop for RemoveStale<'_> {
    fn drop(&mut self) {
        let _ = ipc::shm::remove_stale_with_prefix(self.0);
    }
}

/// Waits until `n` subscribers are attached.
fn wait_for(tx: &Publisher<Reading>, n: usize) -> Result<(), AnyError> {
    while tx.subscribers() < n {
        if signal::shutdown_requested() {
            return Err(Error::Shutdown.into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn subscriber(role: &str, topic: &str) -> Result<(), AnyError> {
    let mut rx = Subscriber::<Reading>::open(topic)?;
    // `start`: the position this subscriber joined at (its first reading, less what it
    // missed before that one).
    let (mut seen, mut start, mut last) = (0u64, None, 0u64);
    let mut history = Vec::new();
    loop {
        // A copy: `Reading` is small. (`recv()` lends the sample in place otherwise.)
        match rx.recv().map(|sample| sample.get()) {
            Ok(r) => {
                start.get_or_insert(r.seq - rx.missed());
                last = r.seq;
                seen += 1;
                if role == "late" && history.len() < HISTORY {
                    history.push(r.seq);
                    if history.len() == HISTORY {
                        println!(
                            "late:      joined halfway; its first {HISTORY} readings were \
                             the history: {history:?}"
                        );
                    }
                }
                if role == "slow" {
                    // Much slower than the publisher: it laps this one.
                    std::thread::sleep(Duration::from_micros(500));
                }
            }
            Err(Error::Lagged(_)) => {} // counted in rx.missed()
            Err(Error::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let start = start.ok_or("no reading arrived")?;
    let missed = rx.missed();
    println!(
        "{role:<10} joined at {start}, last reading {last}: {seen} seen + {missed} missed = {}",
        seen + missed
    );
    if seen + missed != last + 1 - start {
        return Err(format!("{role}: a reading was lost without a word").into());
    }
    Ok(())
}
