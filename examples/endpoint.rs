//! A program whose transport is a string: it sends or receives typed readings over
//! whatever endpoint the command line names.
//!
//! ```text
//! cargo run --example endpoint -- --recv unix:/tmp/demo.sock &   # a receiver
//! cargo run --example endpoint -- --send unix:/tmp/demo.sock     # a sender
//! cargo run --example endpoint -- --send pipe: | cargo run --example endpoint -- --recv pipe:
//! cargo run --example endpoint                                   # every transport, in turn
//! ```
//!
//! Run with no arguments, it goes through one endpoint of every transport in the grammar
//! (`ipc::Endpoint`): for each it starts itself twice, a sender and a receiver (for
//! `pipe:`, the sender's standard output feeding the receiver's standard input), and the
//! receiver checks every reading. The code that sends and receives never names a
//! transport: it only has `ipc::connect` / `ipc::bind` and the `Tx` / `Rx` traits.

use std::process::{Command, ExitCode, Stdio};

use ipc::{Message, Rx, Tx};

/// What travels.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Reading {
    seq: u64,
    celsius: f64,
}

const COUNT: u64 = 1_000;

fn reading(seq: u64) -> Reading {
    Reading {
        seq,
        celsius: 20.0 + seq as f64 / 100.0,
    }
}

fn send(endpoint: &str) -> ipc::Result<()> {
    let mut tx = ipc::connect::<Reading>(endpoint)?;
    for seq in 0..COUNT {
        tx.send(reading(seq))?;
    }
    Ok(())
}

/// Checks the readings as they come, over any receiving end (a `Box<dyn Rx>` from
/// `ipc::bind` here; a typed `Receiver` of any transport just as well).
fn receive(rx: &mut impl Rx<Reading>) -> ipc::Result<()> {
    let mut seq = 0;
    // A bound socket or queue waits for further senders, so stop at the count.
    for got in rx.iter().take(COUNT as usize) {
        let got = got?;
        if got != reading(seq) {
            return Err(ipc::Error::Corrupt(format!(
                "reading {seq} arrived as {got:?}"
            )));
        }
        seq += 1;
    }
    if seq != COUNT {
        return Err(ipc::Error::Corrupt(format!(
            "{seq} of {COUNT} readings arrived"
        )));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--send", endpoint] => send(endpoint),
        ["--recv", endpoint] => ipc::bind::<Reading>(endpoint).and_then(|mut rx| receive(&mut rx)),
        [] => every_transport(),
        _ => {
            eprintln!(
                "usage: endpoint [--send ENDPOINT | --recv ENDPOINT]\n  {}",
                ipc::endpoint::GRAMMAR
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("endpoint: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One endpoint of every transport, each between two processes.
fn every_transport() -> ipc::Result<()> {
    let pid = std::process::id();
    let tmp = std::env::temp_dir();
    let port = free_port()?;
    let endpoints = [
        "pipe:".to_string(),
        format!(
            "fifo:{}",
            tmp.join(format!("ipc-example-{pid}.fifo")).display()
        ),
        format!("shm:ipc-example-{pid}?capacity=64"),
        format!("mq:/ipc-example-{pid}?capacity=10"),
        format!("sysv:{}", 0x1C00_0000 | (pid & 0xFF_FFFF)),
        format!(
            "unix:{}",
            tmp.join(format!("ipc-example-{pid}.sock")).display()
        ),
        format!(
            "unix-seqpacket:{}",
            tmp.join(format!("ipc-example-{pid}.seq")).display()
        ),
        format!("tcp:127.0.0.1:{port}"),
    ];
    let me = std::env::current_exe().map_err(|e| ipc::Error::Io {
        op: "current_exe",
        source: e,
    })?;
    for endpoint in &endpoints {
        let start = std::time::Instant::now();
        if endpoint == "pipe:" {
            // A shell pipeline: the sender's stdout is the receiver's stdin.
            let mut tx = spawn(&me, "--send", endpoint, Stdio::null(), Stdio::piped())?;
            let out = tx.stdout.take().expect("piped");
            let rx = spawn(&me, "--recv", endpoint, Stdio::from(out), Stdio::inherit())?;
            wait(tx, endpoint)?;
            wait(rx, endpoint)?;
        } else {
            // The receiver binds here; the sender connects from another process.
            let mut rx = ipc::bind::<Reading>(endpoint)?;
            let tx = spawn(&me, "--send", endpoint, Stdio::null(), Stdio::inherit())?;
            receive(&mut rx)?;
            wait(tx, endpoint)?;
        }
        println!("{endpoint:<60} {COUNT} readings in {:.1?}", start.elapsed());
    }
    Ok(())
}

fn spawn(
    me: &std::path::Path,
    role: &str,
    endpoint: &str,
    stdin: Stdio,
    stdout: Stdio,
) -> ipc::Result<std::process::Child> {
    Command::new(me)
        .args([role, endpoint])
        .stdin(stdin)
        .stdout(stdout)
        .spawn()
        .map_err(|e| ipc::Error::Io {
            op: "spawn",
            source: e,
        })
}

fn wait(child: std::process::Child, endpoint: &str) -> ipc::Result<()> {
    let status = child
        .wait_with_output()
        .map_err(|e| ipc::Error::Io {
            op: "wait",
            source: e,
        })?
        .status;
    if status.success() {
        Ok(())
    } else {
        Err(ipc::Error::Corrupt(format!(
            "the peer on {endpoint} failed: {status}"
        )))
    }
}

/// A TCP port on loopback that nothing listens on now.
fn free_port() -> ipc::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| ipc::Error::Io {
            op: "bind",
            source: e,
        })
}
