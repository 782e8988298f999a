//! Two processes increment one counter in shared memory 1000 times each, under the
//! segment's process-shared lock: the result is always 2000.
//!
//! ```text
//! cargo run --example shared_counter
//! ```

use std::process::Command;

use ipc::shm::{Options, Shared};

const ROUNDS: u64 = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, name] = &args[..] {
        if role == "worker" {
            let counter = Shared::<u64>::open(name)?;
            for _ in 0..ROUNDS {
                let mut n = counter.lock().map_err(ipc::Error::from)?;
                // Read, yield the CPU, write: without the lock the two workers would lose
                // updates here.
                let v = *n;
                std::thread::yield_now();
                *n = v + 1;
            }
            return Ok(());
        }
    }

    let name = format!("shared-counter-{}", std::process::id());
    let counter = Shared::<u64>::create(&name, 0, Options::new())?;
    let me = std::env::current_exe()?;
    let workers = (0..2)
        .map(|_| Command::new(&me).args(["worker", &name]).spawn())
        .collect::<Result<Vec<_>, _>>()?;
    for mut w in workers {
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
