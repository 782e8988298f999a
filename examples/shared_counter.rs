//! Two processes increment one counter in shared memory 1000 times each, under the
//! segment's process-shared lock: the result is always 2000.
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the workers
//! stop, the parent kills and reaps them, and the segment goes with the last of them to
//! let go of it.
//!
//! ```text
//! cargo run --example shared_counter
//! ```

use std::process::{Child, Command, ExitCode};

use ipc::shm::{Options, Shared};
use ipc::signal::{self, Signal};

const ROUNDS: u64 = 1000;

type AnyError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let worker_of = match &args[..] {
        [_, role, name] if role == "worker" => Some(name.as_str()),
        _ => None,
    };
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => match worker_of {
            Some(name) => worker(name),
            None => parent(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("shared_counter: {e}");
            ExitCode::FAILURE
        }
        // Interrupted: the workers end quietly, the parent says so once.
        Err(_) if worker_of.is_some() => ExitCode::FAILURE,
        Err(_) => {
            eprintln!("shared_counter: interrupted; the workers are stopped");
            ExitCode::FAILURE
        }
    }
}

fn worker(name: &str) -> Result<(), AnyError> {
    let counter = Shared::<u64>::open(name)?;
    for _ in 0..ROUNDS {
        if signal::shutdown_requested() {
            return Err(ipc::Error::Shutdown.into());
        }
        let mut n = counter.lock().map_err(ipc::Error::from)?;
        // Read, yield the CPU, write: without the lock the two workers would lose
        // updates here.
        let v = *n;
        std::thread::yield_now();
        *n = v + 1;
    }
    Ok(())
}

/// The workers: killed and reaped on drop, unless waited for.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

fn parent() -> Result<(), AnyError> {
    let name = format!("shared-counter-{}", std::process::id());
    let counter = Shared::<u64>::create(&name, 0, Options::new())?;
    let me = std::env::current_exe()?;
    // Declared after the segment: on an early return the workers are stopped first, and
    // the parent, the last one attached, removes the segment.
    let mut workers = Workers(Vec::new());
    for _ in 0..2 {
        workers
            .0
            .push(Command::new(&me).args(["worker", &name]).spawn()?);
    }
    while let Some(mut w) = workers.0.pop() {
        let status = w.wait()?;
        if !status.success() {
            return Err(format!("worker failed: {status}").into());
        }
    }
    let total = *counter.lock().map_err(ipc::Error::from)?;
    println!("{total}");
    if total != 2 * ROUNDS {
        return Err(format!("expected {}, got {total}", 2 * ROUNDS).into());
    }
    Ok(())
}
