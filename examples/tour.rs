//! A tour of every transport: the same typed message crosses between this process and a
//! child process (this program, re-run) over each mechanism, and a table reports one-way
//! latency and throughput per transport and message size.
//!
//! ```text
//! cargo run --release --example tour                    # every transport
//! cargo run --release --example tour -- unix tcp        # some of them
//! cargo run --release --example tour -- --plot docs/    # and the charts, as SVG, in docs/
//! cargo run --release --example tour -- rpc              # only the rpc rows
//! ```
//!
//! Per transport and message size (8 B, 64 B, 4 KiB):
//!
//! * **latency**: one way, half the round trip of a ping-pong; the median of 7 rounds of
//!   1,000 round trips;
//! * **per message**: a one-way stream of `send` calls, which the child takes with `recv`;
//! * **batched**: the same stream sent with `send_all` in batches of 64 KiB of messages
//!   (what the hand-written stream's `BufWriter` holds) and taken with `recv_many` into a
//!   buffer as large;
//! * **hand-written**, for the byte streams (pipe, FIFO, Unix stream, TCP): what one writes
//!   without this crate, a `BufWriter` of 64 KiB over the same kind of descriptor writing
//!   the sequence number and the payload with `write_all`, and a `BufReader` with
//!   `read_exact` on the other side; and the ratio batched / hand-written.
//!
//! The tour runs on CPU 0 and its child on CPU 1 (when there are two), as
//! `cargo bench --bench batch` places its processes. The child checks every message of
//! every stream for order, loss and damage. Each stream
//! figure is the median of 5 rounds of about 100 ms (calibration rounds, growing until one
//! lasts 20 ms, set the message count of a round), the three streams of a row alternating round by round, so
//! that a change of the machine's speed meets them alike; the ratio is the median of the
//! per-round ratios. On a shared machine the absolute figures move from minute to minute;
//! compare rows with each other (and see `cargo bench` for ratios to raw syscalls).
//!
//! **async** (the table after the main one): per transport with an async twin (pipe,
//! Unix stream, TCP, POSIX queue, a shared-memory channel and a topic's subscriber) at
//! 8 B and 4 KiB, a child's one-way stream received with the sync receiver and with its
//! async twin on a current-thread tokio runtime, the median of 5 rounds each (the ratio:
//! the median of the rounds' own), as `cargo bench --bench async` measures it.
//!
//! **rpc** (the table after that): the round trip of a call of a generated service
//! (`#[ipc::service]`) over shared memory (`ipc::shm::rpc`), a Unix socket and TCP, at 8 B
//! and 4 KiB, placed and measured as `cargo bench --bench rpc` does (see `tour/rpc.rs`);
//! the `shm async` row is the generated async client over shared memory, on tokio.
//!
//! `--plot DIR` also draws the figures as SVG charts in `DIR` (`latency.svg`,
//! `throughput.svg` at 8 B, `throughput-64.svg`, `throughput-4096.svg`), each naming the
//! machine and the date it was measured on. Without it nothing is written.
//!
//! `IPC_TOUR_SCALE=0.1` runs every measurement a tenth as long (a quick check that each
//! transport works; the figures are rougher).
//!
//! Ctrl-C (SIGINT) or SIGTERM stops the tour cleanly: `shutdown_on` makes every blocking
//! call return `Error::Shutdown`, the children are killed and reaped, and guards remove the
//! queues, segments and directories of the transport under way. The figures are therefore
//! those of a program that arms `shutdown_on`, whose waits on pipes, FIFOs and sockets
//! also watch the shutdown eventfd (see `ipc::signal`); `cargo bench` measures the
//! transports without it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use ipc::signal::{self, Signal};
use ipc::Result;

#[path = "tour/asynchronous.rs"]
mod asynchronous;
#[path = "tour/guard.rs"]
mod guard;
#[path = "tour/hand.rs"]
mod hand;
#[path = "tour/link.rs"]
mod link;
#[path = "tour/machine.rs"]
mod machine;
#[path = "tour/measure.rs"]
mod measure;
#[path = "tour/peer.rs"]
mod peer;
#[path = "tour/plot.rs"]
mod plot;
#[path = "tour/rpc.rs"]
mod rpc;
#[path = "tour/transport.rs"]
mod transport;

use machine::Machine;
use measure::Figures;

/// Every transport, in the order of the table.
const TRANSPORTS: &[&str] = &[
    "shm",
    "topic",
    "pipe",
    "fifo",
    "unix",
    "seqpacket",
    "tcp",
    "mq",
    "sysv",
    "async",
    "rpc",
];

/// The message sizes measured, in bytes: a sequence number and `size - 8` bytes of
/// payload.
const SIZES: [usize; 3] = [8, 64, 4096];

/// Calls `$f::<N>($args)` with the payload length `N` of a message of `$size` bytes.
macro_rules! by_size {
    ($size:expr, $($f:ident)::+, $($arg:expr),*) => {
        match $size {
            8 => $($f)::+::<0>($($arg),*),
            64 => $($f)::+::<56>($($arg),*),
            _ => $($f)::+::<4088>($($arg),*),
        }
    };
}

/// One row of the table: a transport at one message size.
pub struct Row {
    pub transport: &'static str,
    pub size: usize,
    pub figures: Figures,
}

/// What the command line asks for.
struct Options {
    /// The transports to measure, in the table's order.
    transports: Vec<&'static str>,
    /// Where to write the charts, if anywhere.
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let is_child = matches!(
        args.first().map(String::as_str),
        Some("child" | "hand" | "async-child" | "rpc-child")
    );
    let options = if is_child {
        None
    } else {
        match parse(&args) {
            Ok(options) => Some(options),
            Err(usage) => {
                eprintln!("tour: {usage}");
                return ExitCode::from(2);
            }
        }
    };
    // The two processes of a measurement on two CPUs, as `cargo bench --bench batch`
    // places them: left to the scheduler, they share one CPU or not from run to run, and
    // a stream's rate moves threefold with it on a 2-CPU VM.
    pin_to_cpu(usize::from(is_child));
    let result =
        signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]).and_then(|()| match &options {
            Some(options) => tour(options),
            None => child(&args),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The parent says so; its children end quietly.
        Err(_) if signal::shutdown_requested() && is_child => ExitCode::FAILURE,
        Err(_) if signal::shutdown_requested() => {
            eprintln!("tour: interrupted; everything it made is removed");
            ExitCode::FAILURE
        }
        Err(e) if is_child => {
            eprintln!("tour child: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A child's part, as the parent asks for it: `child|hand TRANSPORT SIZE ENDPOINT...`.
fn child(args: &[String]) -> Result<()> {
    let size: usize = args[2].parse().expect("a message size");
    let (transport, endpoint) = (args[1].as_str(), &args[3..]);
    match args[0].as_str() {
        "child" => by_size!(size, transport::child, transport, endpoint),
        "async-child" => by_size!(size, asynchronous::child, transport, endpoint),
        "rpc-child" => rpc::child(transport, size, &endpoint[0]),
        _ => by_size!(size, hand::child, transport, endpoint),
    }
}

/// `[--plot DIR] [TRANSPORT...]`: no transport named means all of them.
fn parse(args: &[String]) -> std::result::Result<Options, String> {
    let mut options = Options {
        transports: Vec::new(),
        plot: None,
    };
    let mut named = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--plot" => match args.next() {
                Some(dir) => options.plot = Some(PathBuf::from(dir)),
                None => return Err("--plot needs a directory: --plot docs/".into()),
            },
            name if TRANSPORTS.contains(&name) => named.push(name.to_owned()),
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: tour [--plot DIR] [TRANSPORT...], \
                     transports: {}",
                    TRANSPORTS.join(" ")
                ))
            }
        }
    }
    options.transports = TRANSPORTS
        .iter()
        .copied()
        .filter(|t| named.is_empty() || named.iter().any(|n| n == t))
        .collect();
    Ok(options)
}

/// How long each measurement runs, as a fraction of its usual length: `IPC_TOUR_SCALE`
/// (default 1; CI runs the tour with 0.1, to see every transport work, and the figures
/// are rougher then).
fn scale() -> f64 {
    static SCALE: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *SCALE.get_or_init(|| {
        std::env::var("IPC_TOUR_SCALE")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|s| *s > 0.0 && *s <= 10.0)
            .unwrap_or(1.0)
    })
}

/// Pins this process to CPU `cpu`, when the machine has more CPUs than that (a failure
/// only leaves the placement to the scheduler).
fn pin_to_cpu(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    // The CPUs online, not those this process may use (`available_parallelism`): a
    // child inherits its parent's pinning to one CPU.
    let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN)
        .ok()
        .flatten()
        .unwrap_or(1);
    if online > cpu as libc::c_long && set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

fn tour(options: &Options) -> Result<()> {
    let machine = Machine::here();
    println!("{}", machine.describe());
    println!();
    print_header();
    let mut rows = Vec::new();
    for &transport in options
        .transports
        .iter()
        .filter(|&&t| t != "async" && t != "rpc")
    {
        for size in SIZES {
            let figures = by_size!(size, transport::parent, transport)?;
            let row = Row {
                transport,
                size,
                figures,
            };
            print_row(&row);
            rows.push(row);
        }
    }
    println!();
    println!("msg/s: messages per second, one way, in thousands (k) or millions (M).");
    println!("batched / hand: the median of the per-round ratios of the two rates.");
    if options.transports.contains(&"async") {
        async_table()?;
    }
    if options.transports.contains(&"rpc") {
        rpc_table()?;
    }
    if let Some(dir) = &options.plot {
        let mut command = "cargo run --release --example tour --".to_owned();
        if options.transports.len() < TRANSPORTS.len() {
            command = format!("{command} {}", options.transports.join(" "));
        }
        let command = format!("{command} --plot {}", dir.display());
        for path in plot::charts(dir, &rows, &machine, &command)? {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// The async receivers beside the sync ones (see `tour/asynchronous.rs`).
fn async_table() -> Result<()> {
    println!();
    println!(
        "{:<10} {:>6} {:>12} {:>12} {:>10}",
        "async", "size", "sync recv", "async recv", "async /"
    );
    println!(
        "{:<10} {:>6} {:>12} {:>12} {:>10}",
        "(tokio)", "", "msg/s", "msg/s", "sync"
    );
    for transport in asynchronous::TRANSPORTS {
        for size in [8, 4096] {
            let r = by_size!(size, asynchronous::parent, transport)?;
            println!(
                "{:<10} {:>6} {:>12} {:>12} {:>10}",
                transport,
                self::size(size),
                rate(r.sync),
                rate(r.asynchronous),
                ratio(r.ratio)
            );
        }
    }
    println!();
    println!(
        "async: a child's one-way stream received with the sync receiver and with its async \
         twin on a current-thread runtime, rates from the first message to the last, the \
         median of 5 rounds each; async / sync: the median of the rounds' own ratios."
    );
    Ok(())
}

/// A generated service's call over each request/response transport (see `tour/rpc.rs`).
fn rpc_table() -> Result<()> {
    println!();
    println!(
        "{:<10} {:>6} {:>12} {:>12}",
        "rpc", "size", "round trip", "calls/s"
    );
    for transport in rpc::TRANSPORTS {
        for size in rpc::SIZES {
            let trip = rpc::parent(transport, size)?;
            println!(
                "{:<10} {:>6} {:>12} {:>12}",
                transport,
                self::size(size),
                latency(trip),
                rate(1.0 / trip.as_secs_f64())
            );
        }
    }
    println!();
    println!(
        "rpc: a generated service's call (`#[ipc::service]`), round trip, the median of 7 \
         rounds; as `cargo bench --bench rpc` measures it. shm async: the generated async \
         client (`shm::rpc::AsyncClient`) on a current-thread tokio runtime."
    );
    Ok(())
}

fn print_header() {
    println!(
        "{:<10} {:>6} {:>10} {:>12} {:>12} {:>12} {:>10}",
        "transport", "size", "latency", "per message", "batched", "hand-written", "batched /"
    );
    println!(
        "{:<10} {:>6} {:>10} {:>12} {:>12} {:>12} {:>10}",
        "", "", "one-way", "msg/s", "msg/s", "msg/s", "hand"
    );
}

fn print_row(row: &Row) {
    let f = &row.figures;
    let (hand, ratio) = match &f.hand {
        Some(h) => (rate(h.rate), ratio(h.ratio)),
        None => ("-".to_owned(), "-".to_owned()),
    };
    println!(
        "{:<10} {:>6} {:>10} {:>12} {:>12} {:>12} {:>10}",
        row.transport,
        size(row.size),
        latency(f.latency),
        rate(f.per_message),
        rate(f.batched),
        hand,
        ratio
    );
}

/// `8 B`, `64 B`, `4 KiB`.
pub fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

fn latency(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

/// A ratio with two significant digits: `0.55×`, `0.012×`.
pub fn ratio(r: f64) -> String {
    let decimals = if r < 0.1 { 3 } else { 2 };
    format!("{r:.decimals$}×")
}

/// Messages per second with three significant digits: `15.7 M`, `736 k`.
pub fn rate(per_second: f64) -> String {
    let (value, unit) = if per_second >= 1e6 {
        (per_second / 1e6, "M")
    } else {
        (per_second / 1e3, "k")
    };
    let decimals = match value {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.decimals$} {unit}")
}
