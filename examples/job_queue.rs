//! Several worker processes take prioritised jobs from a POSIX message queue; the queue
//! hands out the highest priority first.
//!
//! The parent fills `/ipc-jobs-<pid>` with jobs of mixed priorities, then starts three
//! workers (this program re-run with `worker`). To make the order of taking visible, a
//! worker takes a job only while holding a token (a one-message queue used as a lock) and
//! reports it on a results queue before giving the token back, so the parent sees the
//! jobs in exactly the order the kernel handed them out. A job of priority 0 with id
//! `STOP` tells a worker to exit. All queues are unlinked when the parent ends, even on
//! error.
//!
//! Run: `cargo run --example job_queue`

use std::process::{Child, Command};
use std::time::Duration;

use ipc::mq::{self, Options, Receiver, Sender};

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

/// The queues of one run, unlinked on drop.
struct Queues {
    jobs: String,
    token: String,
    results: String,
}

fn names(pid: u32) -> (String, String, String) {
    (
        format!("/ipc-jobs-{pid}"),
        format!("/ipc-jobs-{pid}-token"),
        format!("/ipc-jobs-{pid}-results"),
    )
}

impl Queues {
    fn for_pid(pid: u32) -> Self {
        let (jobs, token, results) = names(pid);
        Queues {
            jobs,
            token,
            results,
        }
    }
}

impl Drop for Queues {
    fn drop(&mut self) {
        for name in [&self.jobs, &self.token, &self.results] {
            let _ = mq::unlink(name);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("worker") => worker(&args[2], args[3].parse().unwrap_or(0)),
        _ => parent(),
    };
    if let Err(e) = result {
        eprintln!("job_queue: {e}");
        std::process::exit(1);
    }
}

fn parent() -> ipc::Result<()> {
    let pid = std::process::id();
    let queues = Queues::for_pid(pid);
    // The default system limit (fs.mqueue.msg_max) is often 10 messages per queue.
    let jobs_tx = Sender::<Job>::create(&queues.jobs, Options::new().capacity(10))?;
    let mut token = Sender::<u8>::create(&queues.token, Options::new().capacity(1))?;
    let mut results = Receiver::<Report>::create(&queues.results, Options::new().capacity(10))?;

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

    let mut children = Vec::new();
    let spawned = (1..=WORKERS).try_for_each(|n| {
        let child = Command::new(std::env::current_exe().map_err(io("current_exe"))?)
            .args(["worker", &pid.to_string(), &n.to_string()])
            .spawn()
            .map_err(io("spawn"))?;
        children.push(child);
        Ok::<_, ipc::Error>(())
    });
    let run = spawned.and_then(|()| {
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
        Ok(taken)
    });
    if run.is_err() {
        // Workers may wait for a token or a job that never comes: stop them.
        for c in &mut children {
            let _ = c.kill();
        }
    }
    let statuses = reap(children);
    let taken = run?;
    statuses?;
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

fn reap(children: Vec<Child>) -> ipc::Result<()> {
    let mut result = Ok(());
    for mut c in children {
        match c.wait() {
            Ok(s) if s.success() => {}
            Ok(s) => result = Err(ipc::Error::Corrupt(format!("a worker failed: {s}"))),
            Err(e) => result = Err(io("wait")(e)),
        }
    }
    result
}

fn worker(parent: &str, n: u32) -> ipc::Result<()> {
    // Only the parent unlinks: a worker keeps the names, not a `Queues`.
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
