//! A worker process computes results into shared memory and signals that they are ready on
//! the segment's semaphore; the master waits for the signal and reads them.
//!
//! ```text
//! cargo run --example master_worker
//! ```

use std::process::Command;
use std::time::Duration;

use ipc::shm::{Options, Shared};

/// The results: the first 16 squares and their sum (plain integers: no derive needed).
type Results = [u64; 17];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = &args[..] {
        if role == "worker" {
            let shared = Shared::<Results>::open(name)?;
            {
                let mut r = shared.lock().map_err(ipc::Error::from)?;
                for i in 0..16 {
                    r[i] = (i as u64 + 1).pow(2);
                }
                r[16] = r[..16].iter().sum();
            }
            println!("worker {}: results written, signalling", std::process::id());
            shared.semaphore().post();
            return Ok(());
        }
    }

    let name = format!("master-worker-{}", std::process::id());
    let shared = Shared::<Results>::create(&name, [0; 17], Options::new())?;
    let mut worker = Command::new(std::env::current_exe()?)
        .args(["worker", &name])
        .spawn()?;
    println!("master: waiting for the worker");
    shared.semaphore().wait_timeout(Duration::from_secs(30))?;
    let r = *shared.lock().map_err(ipc::Error::from)?;
    println!("master: squares {:?}", &r[..16]);
    println!("master: sum {}", r[16]);
    let status = worker.wait()?;
    if !status.success() || r[16] != 1496 {
        return Err(format!("worker {status}, sum {}", r[16]).into());
    }
    Ok(())
}
