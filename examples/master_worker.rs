//! A worker process computes results into shared memory and signals that they are ready on
//! the segment's semaphore; the master waits for the signal and reads them.
//!
//! Both arm `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the master's wait returns
//! `Error::Shutdown`, it kills and reaps the worker, and the segment goes with the last of
//! them to let go of it.
//!
//! ```text
//! cargo run --example master_worker
//! ```

use std::process::{Child, Command, ExitCode};
use std::time::Duration;

use ipc::shm::{Options, Shared};
use ipc::signal::{self, Signal};

/// What the worker computes: the first 16 squares and their sum.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
struct Results {
    squares: [u64; 16],
    sum: u64,
    done: bool,
    _pad: [u8; 7],
}

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
            None => master(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("master_worker: {e}");
            ExitCode::FAILURE
        }
        // Interrupted: the worker ends quietly, the master says so once.
        Err(_) if worker_of.is_some() => ExitCode::FAILURE,
        Err(_) => {
            eprintln!("master_worker: interrupted; the worker is stopped");
            ExitCode::FAILURE
        }
    }
}

fn worker(name: &str) -> Result<(), AnyError> {
    let shared = Shared::<Results>::open(name)?;
    {
        let mut r = shared.lock().map_err(ipc::Error::from)?;
        for (i, sq) in r.squares.iter_mut().enumerate() {
            *sq = (i as u64 + 1).pow(2);
        }
        r.sum = r.squares.iter().sum();
        r.done = true;
    }
    println!("worker {}: results written, signalling", std::process::id());
    shared.semaphore().post();
    Ok(())
}

/// The worker process: killed and reaped on drop unless waited for.
struct Worker(Option<Child>);

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn master() -> Result<(), AnyError> {
    let name = format!("master-worker-{}", std::process::id());
    let empty = Results {
        squares: [0; 16],
        sum: 0,
        done: false,
        _pad: [0; 7],
    };
    let shared = Shared::<Results>::create(&name, empty, Options::new())?;
    // Declared after the segment: on an early return the worker is stopped first, and the
    // master, the last one attached, removes the segment.
    let mut worker = Worker(Some(
        Command::new(std::env::current_exe()?)
            .args(["worker", &name])
            .spawn()?,
    ));
    println!("master: waiting for the worker");
    shared.semaphore().wait_timeout(Duration::from_secs(30))?;
    let r = *shared.lock().map_err(ipc::Error::from)?;
    println!("master: squares {:?}", r.squares);
    println!("master: sum {}", r.sum);
    let status = worker.0.take().expect("not waited for yet").wait()?;
    if !status.success() || !r.done || r.sum != 1496 {
        return Err(format!("worker {status}, results {r:?}").into());
    }
    Ok(())
}
