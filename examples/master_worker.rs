//! A worker process computes results into shared memory and signals that they are ready on
//! the segment's semaphore; the master waits for the signal and reads them.
//!
//! ```text
//! cargo run --example master_worker
//! ```

use std::process::Command;
use std::time::Duration;

use ipc::shm::{Options, Shared};

/// What the worker computes: the first 16 squares and their sum.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
struct Results {
    squares: [u64; 16],
    sum: u64,
    done: bool,
    _pad: [u8; 7],
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = &args[..] {
        if role == "worker" {
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
            return Ok(());
        }
    }

    let name = format!("master-worker-{}", std::process::id());
    let empty = Results {
        squares: [0; 16],
        sum: 0,
        done: false,
        _pad: [0; 7],
    };
    let shared = Shared::<Results>::create(&name, empty, Options::new())?;
    let mut worker = Command::new(std::env::current_exe()?)
        .args(["worker", &name])
        .spawn()?;
    println!("master: waiting for the worker");
    shared.semaphore().wait_timeout(Duration::from_secs(30))?;
    let r = *shared.lock().map_err(ipc::Error::from)?;
    println!("master: squares {:?}", r.squares);
    println!("master: sum {}", r.sum);
    let status = worker.wait()?;
    if !status.success() || !r.done || r.sum != 1496 {
        return Err(format!("worker {status}, results {r:?}").into());
    }
    Ok(())
}
