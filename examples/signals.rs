//! SIGTERM asks a busy process to shut down cleanly; SIGUSR1 is a notification.
//!
//! The parent starts a worker (this program re-run with `worker`) that crunches numbers in
//! small units of work. The worker takes SIGUSR1 as an event from a `Signals` receiver
//! (signalfd) and reports it; it takes SIGTERM (and SIGINT) through
//! `ipc::signal::shutdown_on`, which only sets a flag, and checks that flag between units.
//! The parent sends SIGUSR1, then SIGTERM, and prints how long the worker took to stop
//! (the goal: well within 100 ms) and how much work it finished. Ctrl-C reaches both (one
//! process group): the worker stops cleanly, and the parent says so.
//!
//! Run: `cargo run --example signals`

use std::io::{BufRead, BufReader, Lines};
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ipc::signal::{self, Signal, Signals};

fn main() {
    let result = match std::env::args().nth(1).as_deref() {
        Some("worker") => worker(),
        _ => parent(),
    };
    if let Err(e) = result {
        eprintln!("signals: {e}");
        std::process::exit(1);
    }
}

fn worker() -> ipc::Result<()> {
    // Before any thread exists: SIGUSR1 is blocked here and read from a signalfd.
    let notifications = Signals::new(&[Signal::SIGUSR1])?;
    signal::shutdown_on(&[Signal::SIGTERM, Signal::SIGINT])?;
    println!("ready");
    let mut units: u64 = 0;
    let mut acc: u64 = 0x9e37_79b9_7f4a_7c15;
    while !signal::shutdown_requested() {
        // One unit of work: well under a millisecond of arithmetic.
        for i in 0..20_000u64 {
            acc = (acc ^ i).wrapping_mul(0x0100_0000_01b3).rotate_left(7);
        }
        units += 1;
        match notifications.try_recv() {
            Ok(ev) => println!(
                "worker: {} from pid {} (a notification) after {units} units; carrying on",
                ev.signal, ev.pid
            ),
            Err(ipc::Error::Empty) => {}
            Err(e) => return Err(e),
        }
    }
    println!("worker: stopped cleanly after {units} units of work (checksum {acc:#x})");
    Ok(())
}

fn parent() -> ipc::Result<()> {
    // Ctrl-C stops the worker too: then this process only reports how it stopped.
    signal::shutdown_on(&[Signal::SIGINT])?;
    let mut child = Command::new(std::env::current_exe().map_err(io("current_exe"))?)
        .arg("worker")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io("spawn"))?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let result = (|| {
        expect_line(&mut lines, "ready")?;
        println!("parent: worker {pid} is busy");
        pause()?;
        signal::send(pid, Signal::SIGUSR1)?;
        println!("{}", expect_line(&mut lines, "worker: SIGUSR1")?);
        pause()?;
        signal::send(pid, Signal::SIGTERM)?;
        let sent = Instant::now();
        let status = child.wait().map_err(io("wait"))?;
        let took = sent.elapsed();
        println!("{}", expect_line(&mut lines, "worker: stopped")?);
        println!(
            "parent: worker exited ({status}) {:.2} ms after SIGTERM (goal: within 100 ms: {})",
            took.as_secs_f64() * 1e3,
            if took <= Duration::from_millis(100) {
                "met"
            } else {
                "MISSED"
            }
        );
        if !status.success() {
            return Err(ipc::Error::Corrupt(format!("the worker failed: {status}")));
        }
        Ok(())
    })();
    match result {
        Err(ipc::Error::Shutdown) => {
            // What the worker said as it stopped.
            lines
                .map_while(Result::ok)
                .for_each(|line| println!("{line}"));
            let status = child.wait().map_err(io("wait"))?;
            println!("parent: interrupted; the worker stopped too ({status})");
            Ok(())
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
        Ok(()) => Ok(()),
    }
}

/// Reads the next line and checks that it starts with `prefix`. `Shutdown` if the worker
/// stopped early because this program was interrupted (Ctrl-C reached both).
fn expect_line(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> ipc::Result<String> {
    match lines.next() {
        Some(Ok(line)) if line.starts_with(prefix) => Ok(line),
        Some(Ok(line)) if line.starts_with("worker: stopped") && signal::shutdown_requested() => {
            println!("{line}");
            Err(ipc::Error::Shutdown)
        }
        None if signal::shutdown_requested() => Err(ipc::Error::Shutdown),

        Some(Ok(line)) => Err(ipc::Error::Corrupt(format!(
            "expected `{prefix}...` from the worker, got `{line}`"
        ))),
        Some(Err(e)) => Err(io("read")(e)),
        None => Err(ipc::Error::Disconnected),
    }
}

/// Lets the worker work a tenth of a second; `Shutdown` if this program was interrupted.
fn pause() -> ipc::Result<()> {
    std::thread::sleep(Duration::from_millis(100));
    if signal::shutdown_requested() {
        return Err(ipc::Error::Shutdown);
    }
    Ok(())
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> ipc::Error {
    move |source| ipc::Error::Io { op, source }
}
