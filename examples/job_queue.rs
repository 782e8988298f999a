//! Several worker processes take prioritised jobs from a POSIX message queue; the queue
//! hands out the highest priority first.
//!
//! The parent fills `/ipc-jobs-<pid>` with jobs of mixed priorities, then starts three
//! workers (this program re-run with `worker`). To make the order of taking visible, a
//! worker takes a job only while holding a token (a one-message queue used as a lock) and
//! reports it on a results queue before giving the token back, so the parent sees the
//! jobs in exactly the order the kernel handed them out. A job of priority 0 with id
//! `STOP` tells a worker to exit.
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), a blocking call
//! returns `Error::Shutdown` instead of waiting, and the parent kills and reaps the workers
//! and unlinks the queues it created on its way out, as it does on any error.
//!
//! Run: `cargo run --example job_queue`

use std::process::{Child, Command};
use std::time::Duration;

use ipc::mq::{self, Options, Receiver, Sender};
use ipc::signal::{self, Signal};

/// A job for a worker.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
struct Job {
    id: u32,
    priority: u32,
    work_ms: u32,
}

/// What a worker tells the parent when it takes a job.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
struct Report {
    job: u32,
    priority: u32,
    worker: u32,
}

const STOP: u32 = u32::MAX;
const WORKERS: u32 = 3;

fn names(pid: u32) -> (String, String, String) {
    (
        format!("/ipc-jobs-{pid}"),
        format!("/ipc-jobs-{pid}-token"),
        format!("/ipc-jobs-{pid}-results"),
    )
}

/// A queue this process created: unlinked (with its schema header) on drop, also on an
/// error or an interruption.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
    }
}

/// The workers: killed and reaped on drop, unless [`Workers::reap`] waited for them.
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let is_worker = args.get(1).map(String::as_str) == Some("worker");
    let result = signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]).and_then(|()| {
        if is_worker {
            worker(&args[2], args[3].parse().unwrap_or(0))
        } else {
            parent()
        }
    });
    match result {
        Ok(()) => {}
        // A worker ends quietly; the parent says so once.
        Err(_) if signal::shutdown_requested() && is_worker => std::process::exit(1),
        Err(_) if signal::shutdown_requested() => {
            eprintln!("job_queue: interrupted; the workers are stopped and the queues removed");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("job_queue: {e}");
            std::process::exit(1);
        }
    }
}

fn parent() -> ipc::Result<()> {
    let pid = std::process::id();
    let (jobs, token, results) = names(pid);
    // The default system limit (fs.mqueue.msg_max) is often 10 messages per queue.
    let jobs_tx = Sender::<Job>::create(&jobs, Options::new().capacity(10))?;
    let _unlink_jobs = Unlink(jobs);
    let mut token = Sender::<u8>::create(&token, Options::new().capacity(1))?;
    let _unlink_token = Unlink(token.name().to_owned());
    let mut results = Receiver::<Report>::create(&results, Options::new().capacity(10))?;
    let _unlink_results = Unlink(results.name().to_owned());

    let jobs: [(u32, u32); 10] = [
        (1, 2),
        (2, 9),
        (3, 5),
        (4, 1),
        (5, 9),
        (6, 7),
        (7, 3),
        (8, 5),
        (9, 8),
        (10, 4),
    ];
    println!("queued (id/priority):");
    for (id, priority) in jobs {
        print!(" {id}/{priority}");
        let job = Job {
            id,
            priority,
            work_ms: 5,
        };
        jobs_tx.send_with_priority(job, priority)?;
    }
    println!("\n");

    // Declared after the queues: on an early return the workers are killed and reaped
    // before the queues are unlinked, so none of them can use (or recreate) a name after.
    let mut workers = Workers(Vec::new());
    for n in 1..=WORKERS {
        let child = Command::new(std::env::current_exe().map_err(io("current_exe"))?)
            .args(["worker", &pid.to_string(), &n.to_string()])
            .spawn()
            .map_err(io("spawn"))?;
        workers.0.push(child);
    }
    token.send(0)?;
    let mut taken = Vec::new();
    for _ in 0..jobs.len() {
        let r = results.recv_timeout(Duration::from_secs(30))?;
        println!(
            "worker {} took job {:>2} (priority {})",
            r.worker, r.job, r.priority
        );
        taken.push(r.priority);
    }
    // One stop job per worker; priority 0 sorts after every real job.
    for _ in 0..WORKERS {
        let stop = Job {
            id: STOP,
            priority: 0,
            work_ms: 0,
        };
        jobs_tx.send_with_priority(stop, 0)?;
    }
    reap(&mut workers)?;
    let honoured = taken.windows(2).all(|w| w[0] >= w[1]);
    println!(
        "\n{} jobs by {WORKERS} workers; highest priority first: {}",
        taken.len(),
        if honoured { "yes" } else { "NO" }
    );
    if !honoured {
        std::process::exit(1);
    }
    Ok(())
}

/// Waits for every worker (they have their stop jobs) and checks that each succeeded.
fn reap(workers: &mut Workers) -> ipc::Result<()> {
    let mut result = Ok(());
    while let Some(mut c) = workers.0.pop() {
        match c.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => result = Err(ipc::Error::Corrupt(format!("a worker failed: {s}"))),
            Err(e) => result = Err(io("wait")(e)),
        }
    }
    result
}

fn worker(parent: &str, n: u32) -> ipc::Result<()> {
    // Only the parent, which created the queues, unlinks them.
    let (jobs, token, results) = names(parent.parse().unwrap_or(0));
    let jobs = Receiver::<Job>::open(&jobs)?;
    let mut token_rx = Receiver::<u8>::open(&token)?;
    let mut token_tx = Sender::<u8>::open(&token)?;
    let mut results = Sender::<Report>::open(&results)?;
    loop {
        let t = token_rx.recv()?;
        let (job, priority) = jobs.recv_with_priority()?;
        if job.id != STOP {
            results.send(Report {
                job: job.id,
                priority,
                worker: n,
            })?;
        }
        token_tx.send(t)?;
        if job.id == STOP {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(u64::from(job.work_ms)));
    }
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> ipc::Error {
    move |source| ipc::Error::Io { op, source }
}
