//! Every example, interrupted by SIGINT and by SIGTERM at a random moment, leaves nothing
//! behind: no segment or schema header in /dev/shm, no POSIX queue, no System V queue,
//! segment or semaphore set, nothing in /tmp, and no process of its own still running.
//!
//! The examples are the binaries cargo built beside this test (`cargo test` builds them;
//! with a target filter, build them first with `cargo build --examples`). Each run happens
//! in a child of this test (this binary re-run) with a mount and an IPC namespace of its
//! own: fresh tmpfs on /dev/shm and /tmp, a fresh mqueue filesystem, System V tables of its
//! own. What is there after the example ends, and was not there before it started, is the
//! example's, and nothing another program does on the machine can count. The child starts
//! the example in a process group of its own, waits a random moment, signals the whole
//! group (as Ctrl-C does), waits for the example and every process of its group to end,
//! and compares what is left with what was there before.
//!
//! Per example: one run that is not interrupted unless it lasts longer than two seconds
//! (it says how long the example runs: the random moments fall within that), then two
//! runs per signal (`IPC_EXAMPLE_MOMENTS=50` makes it fifty, for a thorough look).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

mod common;

const ROLE: &str = "IPC_EXAMPLE_RUN";
/// Where the child mounts the mqueue filesystem of its IPC namespace (inside its /tmp).
const MQUEUE: &str = ".ipc-test-mqueue";
/// The longest moment a signal waits for.
const LONGEST: Duration = Duration::from_secs(2);
/// Interrupted runs per signal and example, unless `IPC_EXAMPLE_MOMENTS` says otherwise.
const MOMENTS: usize = 2;

#[test]
fn c_interop() {
    interrupt("c_interop", &[]);
}

#[test]
fn async_gateway() {
    interrupt("async_gateway", &[]);
}

#[test]
fn camera() {
    interrupt("camera", &[]);
}

#[test]
fn endpoint() {
    interrupt("endpoint", &[]);
}

#[test]
fn fifo() {
    interrupt("fifo", &[]);
}

#[test]
fn job_queue() {
    interrupt("job_queue", &[]);
}

#[test]
fn master_worker() {
    interrupt("master_worker", &[]);
}

#[test]
fn pubsub() {
    interrupt("pubsub", &[]);
}

#[test]
fn pipe_producer_consumer() {
    interrupt("pipe_producer_consumer", &[]);
}

#[test]
fn pricing_service() {
    interrupt("pricing_service", &[]);
}

#[test]
fn rpc() {
    interrupt("rpc", &[]);
}

#[test]
fn shared_counter() {
    interrupt("shared_counter", &[]);
}

#[test]
fn shell_pipeline() {
    interrupt("shell_pipeline", &[]);
}

#[test]
fn signals() {
    interrupt("signals", &[]);
}

/// The tour takes a while per transport: it is interrupted within its first transport,
/// here and in one run per transport that names something (a segment, a FIFO, a queue, a
/// socket path).
#[test]
fn tour() {
    interrupt("tour", &[]);
}

#[test]
fn tour_fifo() {
    interrupt("tour", &["fifo"]);
}

#[test]
fn tour_mq() {
    interrupt("tour", &["mq"]);
}

#[test]
fn tour_sysv() {
    interrupt("tour", &["sysv"]);
}

/// A Unix socket's path, and the hand-written stream's own sockets and listeners.
#[test]
fn tour_unix() {
    interrupt("tour", &["unix"]);
}

/// The async table: its first rounds make pipes, then (a few seconds in) sockets, queues
/// and segments.
#[test]
fn tour_async() {
    interrupt("tour", &["async"]);
}

#[test]
fn zero_copy() {
    interrupt("zero_copy", &[]);
}

/// Runs `example` with `args` once to see how long it takes (interrupted after
/// [`LONGEST`]), then [`MOMENTS`] times per signal, each interrupted at a random moment
/// within that time.
fn interrupt(example: &str, args: &[&str]) {
    let binary = example_binary(example);
    let first = run(&binary, args, Signal::SIGINT, LONGEST);
    let window = match parse(&first, "ended after ms=") {
        Some(ms) => Duration::from_millis(ms.max(1)),
        None => LONGEST,
    };
    let moments = std::env::var("IPC_EXAMPLE_MOMENTS").map_or(MOMENTS, |n| {
        n.parse()
            .expect("IPC_EXAMPLE_MOMENTS: a number of runs per signal")
    });
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        for _ in 0..moments {
            let at = Duration::from_micros(random_below(window.as_micros() as u64));
            run(&binary, args, signal, at);
        }
    }
}

/// One run in a child with namespaces of its own; returns what the child reported.
fn run(binary: &Path, args: &[&str], signal: Signal, at: Duration) -> String {
    let spec = format!(
        "{}\n{}\n{}\n{}",
        binary.display(),
        signal as i32,
        at.as_micros(),
        args.join(" ")
    );
    let kid = common::Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE, spec)
            .stdin(Stdio::null()),
    );
    let (status, output) = kid.finish();
    assert!(
        status.success(),
        "{} {} with {signal} after {at:?}: {status}\n{output}",
        binary.display(),
        args.join(" ")
    );
    output
}

fn parse(output: &str, key: &str) -> Option<u64> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().parse().expect("a number"))
}

/// A number in `0..n` (0 if `n` is 0), different each call.
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    if n == 0 {
        return 0;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() % n
}

/// The example's binary beside this test's, built after its sources last changed.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<this test> -> target/<profile>/examples/<name>
    let binary = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples")
        .join(name);
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build the examples first: `cargo build --examples` \
                 (`cargo test` without a target filter builds them)",
                binary.display()
            )
        });
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("examples").join(format!("{name}.rs"))];
    // An example's own modules (`examples/tour/*.rs`), if it has any.
    let modules = root.join("examples").join(name);
    if modules.is_dir() {
        rust_files(&modules, &mut sources);
    }
    for dir in ["src", "ipc-runtime/src", "ipc-derive/src"] {
        rust_files(&root.join(dir), &mut sources);
    }
    for source in &sources {
        let changed = std::fs::metadata(source).unwrap().modified().unwrap();
        assert!(
            changed <= built,
            "{} is older than {}: build the examples first: `cargo build --examples` \
             (`cargo test` without a target filter builds them)",
            binary.display(),
            source.display()
        );
    }
    binary
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The child: one run of one example in namespaces of its own.

/// The child entry point: does nothing unless `IPC_EXAMPLE_RUN` is set.
#[test]
fn child() {
    let Ok(spec) = std::env::var(ROLE) else {
        return;
    };
    let mut lines = spec.lines();
    let binary = PathBuf::from(lines.next().unwrap());
    let signal = Signal::try_from(lines.next().unwrap().parse::<i32>().unwrap()).unwrap();
    let at = Duration::from_micros(lines.next().unwrap().parse().unwrap());
    let args: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    private_namespaces(binary.parent().expect("the example's directory"));
    // The example starts as one started from a terminal does, SIGINT and SIGTERM at their
    // default action. Run in the background of a non-interactive shell (`cmd &` in a CI
    // script) this test inherits SIGINT ignored, and so would the example: signalled
    // before it installs its handler, it would ignore the signal and run to its end.
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: a default action installs no handler.
        unsafe { nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigDfl) }.unwrap();
    }
    let before = snapshot();
    match one_run(&binary, &args, signal, at) {
        Ok(report) => {
            let left: Vec<_> = snapshot().difference(&before).cloned().collect();
            println!("{report}");
            assert!(left.is_empty(), "{report}; left behind: {left:#?}");
            std::process::exit(0);
        }
        Err(e) => panic!("{e}"),
    }
}

/// Runs the example in a process group of its own, signals the group at `at` unless it
/// ended before, and waits for every process of the group to end. Returns what happened,
/// or why the run failed.
fn one_run(binary: &Path, args: &[&str], signal: Signal, at: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    // Processes the example leaves behind become this process's children, so that they
    // can be seen and reaped here.
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "PR_SET_CHILD_SUBREAPER");
    let start = Instant::now();
    let mut example = Command::new(binary)
        .args(args)
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", binary.display()))?;
    let group = Pid::from_raw(example.id() as i32);
    let what = format!("{} {}", binary.display(), args.join(" "));
    // Until the moment, or the example's end.
    let ended = loop {
        if let Some(status) = example.try_wait().unwrap() {
            break Some((status, start.elapsed()));
        }
        if start.elapsed() >= at {
            break None;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let report = match ended {
        Some((status, took)) => {
            if !status.success() {
                return Err(format!("{what} failed uninterrupted: {status}"));
            }
            format!(
                "ended after ms={}\n{what}: ran to its end",
                took.as_millis()
            )
        }
        None => {
            // The group may be gone between the check and the signal: that is fine.
            let _ = killpg(group, signal);
            let status = common::wait_at_most(&mut example, Duration::from_secs(60))
                .ok_or_else(|| format!("{what} still ran 60 s after {signal}"))?;
            format!(
                "{what}: {signal} after {:?}, ended {:?} later: {status}",
                at,
                start.elapsed().saturating_sub(at)
            )
        }
    };
    // Every other process of the group must end too (children are killed and reaped by
    // the example, or end on their own).
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        // SAFETY: waitpid with WNOHANG on any child; the status is not needed.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
        if killpg(group, None).is_err() {
            return Ok(report);
        }
        if Instant::now() > give_up {
            let _ = killpg(group, Signal::SIGKILL);
            return Err(format!(
                "{report}; processes of its group still ran 20 s after it ended"
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Gives this process a mount and an IPC namespace of its own: fresh tmpfs on /dev/shm
/// and /tmp, and its POSIX queues visible under /tmp/.ipc-test-mqueue.
fn private_namespaces(examples: &Path) {
    use nix::mount::{mount, MsFlags};
    use nix::sched::{unshare, CloneFlags};
    use std::os::fd::AsRawFd;
    unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC).unwrap();
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    // A checkout under /tmp (a fresh clone, say) keeps its examples in sight: their
    // directory is held open here (in this namespace, so that it may be
    // the source of a bind mount) and bound back at its place in the fresh /tmp.
    let held = examples.starts_with("/tmp").then(|| {
        nix::fcntl::open(
            examples,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap()
    });
    for dir in ["/dev/shm", "/tmp"] {
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=1g,mode=1777"),
        )
        .unwrap();
    }
    if let Some(dir) = held {
        std::fs::create_dir_all(examples).unwrap();
        mount(
            Some(format!("/proc/self/fd/{}", dir.as_raw_fd()).as_str()),
            examples,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .unwrap();
    }
    let mq = Path::new("/tmp").join(MQUEUE);
    std::fs::create_dir(&mq).unwrap();
    mount(
        Some("mqueue"),
        &mq,
        Some("mqueue"),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap();
}

/// Everything in /dev/shm, /tmp, the POSIX queues and the System V tables.
fn snapshot() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for dir in ["/dev/shm", "/tmp"] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name();
            if dir == "/tmp" && name == MQUEUE {
                continue;
            }
            all.insert(format!("{dir}/{}", name.to_string_lossy()));
        }
    }
    for entry in std::fs::read_dir(Path::new("/tmp").join(MQUEUE)).unwrap() {
        let name = entry.unwrap().file_name();
        all.insert(format!("POSIX queue /{}", name.to_string_lossy()));
    }
    for table in ["msg", "shm", "sem"] {
        let text = std::fs::read_to_string(format!("/proc/sysvipc/{table}")).unwrap();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 2 {
                all.insert(format!(
                    "System V {table} key {} id {}",
                    fields[0], fields[1]
                ));
            }
        }
    }
    all
}
