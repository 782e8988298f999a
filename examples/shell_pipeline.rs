//! `cat logs | grep error | sort`, with typed messages instead of text.
//!
//! Three processes (this program, re-run with a role argument per stage) are chained by
//! typed pipes through their standard input and output: `cat` emits `LogLine`s, `grep`
//! keeps the errors, `sort` orders them by source and time and prints them. The parent
//! wires the stages, waits for all three and exits 0 if they all did.
//!
//! ```text
//! cargo run --example shell_pipeline
//! ```

use std::error::Error;
use std::process::{Child, Command, Stdio};

use ipc::pipe::{self, Receiver, Sender};
use ipc::{FixedStr, Message};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Message)]
#[repr(u8)]
enum Level {
    Info = 1,
    Warn = 2,
    Error = 3,
}

#[derive(Clone, Copy, Debug, Message)]
#[repr(C)]
struct LogLine {
    seq: u32,
    level: Level,
    _pad: [u8; 3],
    time: FixedStr<24>,
    source: FixedStr<16>,
    text: FixedStr<80>,
}

const LOGS: &str = "\
2026-11-23T10:00:01 INFO  web   started on :8080
2026-11-23T10:00:03 ERROR db    connection refused (attempt 1)
2026-11-23T10:00:04 WARN  web   slow request: GET /orders took 812 ms
2026-11-23T10:00:05 ERROR disk  /var is 97% full
2026-11-23T10:00:07 INFO  db    connected
2026-11-23T10:00:09 ERROR web   500 on POST /orders: upstream timeout
2026-11-23T10:00:11 INFO  cron  nightly job scheduled
2026-11-23T10:00:12 ERROR db    deadlock detected, transaction retried
2026-11-23T10:00:15 WARN  disk  /var is 95% full
2026-11-23T10:00:17 ERROR cron  job `report` exited with status 2";

fn main() -> Result<(), Box<dyn Error>> {
    match std::env::args().nth(1).as_deref() {
        Some("cat") => cat(),
        Some("grep") => grep(Level::Error),
        Some("sort") => sort(),
        _ => run_pipeline(),
    }
}

/// The parent: `cat | grep | sort`, each stage a process, each `|` a typed pipe.
fn run_pipeline() -> Result<(), Box<dyn Error>> {
    let (cat_out, grep_in) = pipe::channel::<LogLine>()?;
    let (grep_out, sort_in) = pipe::channel::<LogLine>()?;
    let stage = |role: &str, stdin: Stdio, stdout: Stdio| -> std::io::Result<Child> {
        Command::new(std::env::current_exe()?)
            .arg(role)
            .stdin(stdin)
            .stdout(stdout)
            .spawn()
    };
    // Each end moves into its stage; the parent keeps none, so EOF flows down the chain.
    let children = [
        ("cat", stage("cat", Stdio::null(), Stdio::from(cat_out))?),
        (
            "grep",
            stage("grep", Stdio::from(grep_in), Stdio::from(grep_out))?,
        ),
        (
            "sort",
            stage("sort", Stdio::from(sort_in), Stdio::inherit())?,
        ),
    ];
    for (name, mut child) in children {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("stage {name} failed: {status}").into());
        }
    }
    Ok(())
}

/// Stage 1: parses the log text and emits typed lines on stdout.
fn cat() -> Result<(), Box<dyn Error>> {
    let mut out = Sender::<LogLine>::stdout()?;
    for (seq, line) in LOGS.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (Some(time), Some(level), Some(source)) = (words.next(), words.next(), words.next())
        else {
            return Err(format!("malformed log line: {line}").into());
        };
        let level = match level {
            "INFO" => Level::Info,
            "WARN" => Level::Warn,
            "ERROR" => Level::Error,
            other => return Err(format!("unknown level {other}").into()),
        };
        let text = words.collect::<Vec<_>>().join(" ");
        out.send(LogLine {
            seq: seq as u32,
            level,
            _pad: [0; 3],
            time: FixedStr::try_from(time)?,
            source: FixedStr::try_from(source)?,
            text: FixedStr::truncating(&text),
        })?;
    }
    eprintln!("cat:  sent {} lines", LOGS.lines().count());
    Ok(())
}

/// Stage 2: keeps the lines at `level` or above.
fn grep(level: Level) -> Result<(), Box<dyn Error>> {
    let mut input = Receiver::<LogLine>::stdin()?;
    let mut out = Sender::<LogLine>::stdout()?;
    let (mut seen, mut kept) = (0, 0);
    for line in input.iter() {
        let line = line?;
        seen += 1;
        if line.level >= level {
            kept += 1;
            out.send(line)?;
        }
    }
    eprintln!("grep: kept {kept} of {seen} lines at {level:?} or above");
    Ok(())
}

/// Stage 3: sorts by source, then time, and prints.
fn sort() -> Result<(), Box<dyn Error>> {
    let mut input = Receiver::<LogLine>::stdin()?;
    let mut lines = input.iter().collect::<Result<Vec<_>, _>>()?;
    lines.sort_by(|a, b| {
        (a.source.as_str(), a.time.as_str()).cmp(&(b.source.as_str(), b.time.as_str()))
    });
    eprintln!("sort: {} lines", lines.len());
    for l in &lines {
        println!(
            "{:<5} {} {:?} #{:<2} {}",
            l.source.as_str(),
            l.time.as_str(),
            l.level,
            l.seq,
            l.text.as_str()
        );
    }
    Ok(())
}
