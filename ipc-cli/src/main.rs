//! `ipc`: the operator's view of the channels that programs built on `typed-ipc` make on
//! this machine.
//!
//! ```text
//! ipc list [--json]            every channel, topic, shared value and queue, who is attached
//! ipc show ENDPOINT [--json|--c] one channel's schema as a declaration (Rust or C), and its state
//! ipc tail ENDPOINT            its messages as they arrive, decoded (`--format json|line`, `-n`)
//! ipc send ENDPOINT JSON       a message written as JSON, encoded by the channel's schema
//!                              (both: `--mode` to trust a channel made wider, or another user's)
//! ipc clean [--dry-run]        remove what crashed processes left behind, never a live one
//! ipc doctor [--json]          the kernel limits and features the transports depend on
//! ipc bridge ENDPOINT --to KEY | --from KEY   a local channel onto Zenoh, or back (feature `zenoh`)
//! ```
//!
//! Exit codes: 0 success; 1 the command failed (one line on stderr says why and what to
//! do), or `doctor` found a check that fails; 2 a usage error.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` for the command's output: when its reader has gone (`ipc list | head`),
/// the command ends quietly with success, as a broken pipe is no failure of its own;
/// any other write error ends it with 1.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::output_failed(e)
        }
    }};
}

/// Ends the command after a failed write of its output (see `out!`).
fn output_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("ipc: writing the output failed: {e}");
    std::process::exit(1)
}

#[cfg(feature = "zenoh")]
mod bridge;
mod clean;
mod doctor;
mod list;
mod send;
mod show;
mod table;
mod tail;
mod trust;

/// List, inspect and clean the IPC channels of programs built on typed-ipc.
#[derive(Parser)]
#[command(name = "ipc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every shared-memory channel, topic and shared value, POSIX queue, System V queue and
    /// Unix socket of this crate's listeners that this user may see: kind, endpoint,
    /// schema, capacity, fill, participants (pid, role, alive or dead), owner and mode;
    /// STALE where nobody alive is attached (`ipc clean` removes it), cut-short for a
    /// segment file shorter than its header (left for its owner to remove by hand).
    List {
        /// One JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
        /// Only the objects whose name starts with this (`orders` matches `shm:orders-eu`
        /// and `mq:/orders`).
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// One channel: its schema as a Rust declaration with offsets, sizes and alignments
    /// (read from the schema a shared-memory segment carries), capacity, fill, and who
    /// is attached.
    Show {
        /// The channel: `shm:NAME` (channel, topic or shared value) or `mq:/NAME`.
        endpoint: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// The schema as a C11 header instead (with `_Static_assert`s of its layout),
        /// for a peer written in C.
        #[arg(long, conflicts_with = "json")]
        c: bool,
    },
    /// Prints the messages of a channel as they arrive, decoded from the schema it
    /// carries: a topic is subscribed to (nothing is taken from anyone); an MPSC channel
    /// only with --take, since receiving takes each message out of it. Ends when the
    /// senders are gone, after -n messages, or on Ctrl-C.
    Tail {
        /// The channel: `shm:NAME` (a topic, or a channel with --take).
        endpoint: String,
        /// How each message is printed: one line of JSON, or as Rust's `Debug` would.
        #[arg(long, value_enum, default_value = "json")]
        format: tail::Format,
        /// Stop after this many messages.
        #[arg(short = 'n', long = "count")]
        count: Option<u64>,
        /// Receive from a channel (or queue), taking the messages out of it.
        #[arg(long)]
        take: bool,
        /// The permission bits to trust, in octal (default 0600): a channel whose mode
        /// grants more is refused, and so is another user's unless these grant group or
        /// other access. Give a channel's mode (`ipc list` shows it) to open one made
        /// wider, or another user's.
        #[arg(long, value_parser = trust::parse)]
        mode: Option<u32>,
    },
    /// Sends one message, written as JSON and encoded by the channel's schema (every
    /// field checked: ranges, enum variants, string lengths); nothing is sent if any is
    /// wrong, and the channel is not joined. To a shared-memory channel it sends as a
    /// sender that joins and leaves: a receiver with no other sender reads the message,
    /// then hears that its last sender left (`Disconnected`).
    Send {
        /// The channel: `shm:NAME` (an MPSC channel) or `mq:/NAME` (a POSIX queue).
        endpoint: String,
        /// The message, e.g. '{"id": 7, "side": "Buy", "qty": 100}'; a slice channel
        /// takes an array of them.
        json: String,
        /// A POSIX queue's message priority (higher is received first).
        #[arg(long, default_value_t = 0)]
        priority: u32,
        /// The permission bits to trust, in octal (default 0600), as for `ipc tail`.
        #[arg(long, value_parser = trust::parse)]
        mode: Option<u32>,
    },
    /// Removes what crashed processes left behind: the shared-memory segments whose every
    /// participant is dead (a channel that holds unread messages is kept for its senders'
    /// linger), and the queues whose ends crashed and left them empty (a queue left
    /// cleanly, or holding messages, outlives its processes by design and stays).
    Clean {
        /// Say what would be removed, by the rules the removal applies, and remove
        /// nothing.
        #[arg(long)]
        dry_run: bool,
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
        /// Only the segments and POSIX queues whose name starts with this: what a program
        /// that names its channels `myapp-...` left (`--prefix myapp-`; a queue's leading
        /// `/` may be given); a socket whose file name or path starts with it
        /// (`--prefix /run/myapp/`); a System V queue, which has no name, if its creator
        /// ran with `IPC_RECLAIM` starting with it.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// The kernel limits and features the transports depend on, each with its value and,
    /// where it falls short, the command that raises it. Exits 1 if a check fails.
    Doctor {
        /// One JSON array of objects instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Carries a local topic or channel onto a Zenoh key (--to), or a Zenoh key's samples
    /// into a local channel (--from), for the type the channel's schema describes: bytes
    /// as they are, the fingerprint checked at both ends. Nothing is dropped while the
    /// hosts are connected (a slow side holds the other back; --drop-when-full drops
    /// instead); what is published while the other host is away is lost, counted by the
    /// receiving side, and said. Runs until the local side ends, or Ctrl-C.
    #[cfg(feature = "zenoh")]
    Bridge {
        /// The local side: `shm:NAME`. With --to, a topic (subscribed to: nothing is taken
        /// from anyone) or a channel (received from: the bridge is its one receiver); with
        /// --from, a channel, which the bridge joins as a sender (a topic has one
        /// publisher, its program's).
        endpoint: String,
        /// Publish the local samples on this Zenoh key.
        #[arg(long, conflicts_with = "from", required_unless_present = "from")]
        to: Option<String>,
        /// Send the samples of this Zenoh key into the local channel.
        #[arg(long)]
        from: Option<String>,
        /// Zenoh endpoints to listen on (`tcp/10.0.0.1:7447`); repeatable.
        #[arg(long)]
        listen: Vec<String>,
        /// Zenoh endpoints to connect to; repeatable. Multicast scouting and gossip are
        /// off: the bridge reaches only these and those who connect to it.
        #[arg(long)]
        connect: Vec<String>,
        /// --from: drop a sample that finds the local channel full, and say so, instead
        /// of waiting for room.
        #[arg(long)]
        drop_when_full: bool,
    },
}

/// A failure of a command: one line for the user.
pub(crate) type Failure = String;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::List { json, prefix } => list::run(json, &prefix),
        Command::Show { endpoint, json, c } => show::run(&endpoint, json, c),
        Command::Tail {
            endpoint,
            format,
            count,
            take,
            mode,
        } => tail::run(&tail::Tail {
            endpoint: &endpoint,
            format,
            count,
            take,
            mode: mode.unwrap_or(trust::DEFAULT),
        }),
        Command::Send {
            endpoint,
            json,
            priority,
            mode,
        } => send::run(&endpoint, &json, priority, mode.unwrap_or(trust::DEFAULT)),
        Command::Clean {
            dry_run,
            json,
            prefix,
        } => clean::run(dry_run, json, &prefix),
        Command::Doctor { json } => doctor::run(json),
        #[cfg(feature = "zenoh")]
        Command::Bridge {
            endpoint,
            to,
            from,
            listen,
            connect,
            drop_when_full,
        } => bridge::run(&bridge::Bridge {
            endpoint: &endpoint,
            to: to.as_deref(),
            from: from.as_deref(),
            listen: &listen,
            connect: &connect,
            drop_when_full,
        }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("ipc: {message}");
            ExitCode::FAILURE
        }
    }
}
