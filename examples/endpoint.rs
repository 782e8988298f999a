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
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), blocking calls
//! return `Error::Shutdown`, the parent kills and reaps its children first and then drops
//! the bound end, which removes what binding made (the FIFO, the queue, the socket file).

use std::process::{Child, Command, ExitCode, Stdio};

use ipc::signal::{self, Signal};
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
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Err(e) = signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        eprintln!("endpoint: {e}");
        return ExitCode::FAILURE;
    }
    let result = match args[..] {
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
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("endpoint: {e}");
            ExitCode::FAILURE
        }
        Err(_) if args.is_empty() => {
            eprintln!("endpoint: interrupted; the peers are stopped and the endpoints removed");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("endpoint: interrupted");
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
            let out = tx.stdout().take().expect("piped");
            let rx = spawn(&me, "--recv", endpoint, Stdio::from(out), Stdio::inherit())?;
            tx.wait(endpoint)?;
            rx.wait(endpoint)?;
        } else {
            // The receiver binds here; the sender connects from another process. The
            // sender is declared after the bound end: on an early return it is killed and
            // reaped before the end is dropped and removes what binding made, so that it
            // cannot make it again (`connect` opens or creates).
            let mut rx = ipc::bind::<Reading>(endpoint)?;
            let tx = spawn(&me, "--send", endpoint, Stdio::null(), Stdio::inherit())?;
            receive(&mut rx)?;
            tx.wait(endpoint)?;
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
) -> ipc::Result<Peer> {
    Command::new(me)
        .args([role, endpoint])
        .stdin(stdin)
        .stdout(stdout)
        .spawn()
        .map(|c| Peer(Some(c)))
        .map_err(|e| ipc::Error::Io {
            op: "spawn",
            source: e,
        })
}

/// A peer process: killed and reaped on drop unless waited for.
struct Peer(Option<Child>);

impl Peer {
    fn stdout(&mut self) -> &mut Option<std::process::ChildStdout> {
        &mut self.0.as_mut().expect("not waited for yet").stdout
    }

    fn wait(mut self, endpoint: &str) -> ipc::Result<()> {
        let status = self
            .0
            .take()
            .expect("not waited for yet")
            .wait()
            .map_err(|e| ipc::Error::Io {
                op: "wait",
                source: e,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(ipc::Error::Corrupt(format!(
                "the peer on {endpoint} failed: {status}"
            )))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
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
