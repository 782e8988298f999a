//! The async twins of the descriptor transports under cancellation: a peer in another
//! process (this test binary re-run as a child) sends numbered messages with the async
//! sender, pausing now and then, while the parent receives each one under a random short
//! `tokio::time::timeout` (most of them zero: the future is polled once, then dropped,
//! often in the middle of a frame). Every message must arrive once, in order, intact,
//! and then the stream must end.
//!
//! `IPC_ASYNC_MESSAGES` sets how many messages each transport carries (default 10,000:
//! each is a receive that may have been cancelled before it; run it long with, say,
//! `IPC_ASYNC_MESSAGES=1000000 cargo test --test async_cancel`).

use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use ipc::aio::{Async, AsyncRecv, AsyncSend};
use ipc::{fifo, mq, pipe, socket, tcp, Error, Message};

mod common;
use common::{Kid, MqName, TempDir};

const ROLE: &str = "IPC_ASYNC_ROLE";
const WHERE: &str = "IPC_ASYNC_WHERE";

/// Bigger than `PIPE_BUF`: a pipe or socket delivers its frames in parts, so a zero
/// timeout often drops a receive whose frame is half read.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Big {
    seq: u64,
    fill: [u64; 700],
}

/// Small enough for a POSIX queue's default message size.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Small {
    seq: u64,
    check: u64,
}

/// A numbered message whose other bytes say its number (so a torn one is seen).
trait Numbered: Message {
    fn make(seq: u64) -> Self;
    fn seq(&self) -> u64;
    fn intact(&self) -> bool;
}

impl Numbered for Big {
    fn make(seq: u64) -> Self {
        let mut fill = [0; 700];
        for (i, f) in fill.iter_mut().enumerate() {
            *f = seq ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        Big { seq, fill }
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn intact(&self) -> bool {
        *self == Self::make(self.seq)
    }
}

impl Numbered for Small {
    fn make(seq: u64) -> Self {
        Small {
            seq,
            check: !seq.rotate_left(17),
        }
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn intact(&self) -> bool {
        *self == Self::make(self.seq)
    }
}

fn messages() -> u64 {
    std::env::var("IPC_ASYNC_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// xorshift64*: the timeouts need no quality, only variety.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Sends `messages()` numbered messages with the async sender, napping 1 ms every 16
/// (so that the receiver's timeouts expire), then drops the sender.
async fn send_all<E>(mut tx: Async<E>)
where
    E: AsyncSend,
    E::Sent: Numbered,
{
    for seq in 0..messages() {
        if seq % 16 == 15 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tx.send_ref(&E::Sent::make(seq)).await.expect("send");
    }
    tx.flush().await.expect("flush");
}

/// Receives until the stream ends, each receive under a random timeout: 0 (polled once)
/// three times in four, else up to 2 ms; then, if `ends` (a stream: a queue has no end),
/// expects the end. Returns (messages, receives that timed out).
async fn receive_all<E>(rx: &mut Async<E>, ends: bool) -> (u64, u64)
where
    E: AsyncRecv,
    E::Item: Numbered,
{
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut next, mut cancelled) = (0u64, 0u64);
    while next < messages() {
        let r = rng.next();
        let limit = if r % 4 == 0 {
            Duration::from_micros(r % 2000)
        } else {
            Duration::ZERO
        };
        match tokio::time::timeout(limit, rx.recv()).await {
            Err(_) => cancelled += 1,
            Ok(Ok(m)) => {
                assert!(m.intact(), "message {} torn", m.seq());
                assert_eq!(m.seq(), next, "lost or duplicated");
                next += 1;
            }
            Ok(Err(e)) => panic!("after {next} messages: {e}"),
        }
    }
    if ends {
        match rx.recv().await {
            Err(Error::Disconnected) => {}
            Err(e) => panic!("after the last message: {e}"),
            Ok(m) => panic!("a message after the last: {}", m.seq()),
        }
    }
    (next, cancelled)
}

fn child(role: &str, at: &str) -> Kid {
    Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(WHERE, at),
    )
}

/// The entry point of child processes; does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let at = std::env::var(WHERE).unwrap();
    let rt = runtime();
    rt.block_on(async {
        match role.as_str() {
            "pipe" => {
                let fd = std::io::stdin().as_fd().try_clone_to_owned().unwrap();
                let tx = pipe::Sender::<Big>::from_fd(fd);
                send_all(pipe::AsyncSender::from_sync(tx).unwrap()).await;
            }
            "fifo" => {
                let tx = fifo::Sender::<Big>::open(&at).unwrap();
                send_all(pipe::AsyncSender::from_sync(tx).unwrap()).await;
            }
            "unix" => {
                let tx = socket::Stream::<Big>::connect(&at).unwrap();
                send_all(socket::AsyncStream::from_sync(tx).unwrap()).await;
            }
            "unix-split" => {
                let (tx, _rx) = socket::Stream::<Big>::connect(&at).unwrap().split();
                send_all(socket::AsyncSender::from_sync(tx).unwrap()).await;
            }
            "tcp" => {
                let tx = tcp::Stream::<Big>::connect(&at).unwrap();
                send_all(tcp::AsyncStream::from_sync(tx).unwrap()).await;
            }
            "mq" => {
                let tx = mq::Sender::<Small>::open(&at).unwrap();
                send_all(mq::AsyncSender::from_sync(tx).unwrap()).await;
            }
            other => panic!("unknown role {other}"),
        }
    });
    std::process::exit(0);
}

fn report(what: &str, (got, cancelled): (u64, u64)) {
    eprintln!("{what}: {got} messages, {cancelled} receives cancelled, none lost or duplicated");
}

#[test]
fn pipe_receives_survive_cancellation() {
    let (tx, rx) = pipe::channel::<Big>().unwrap();
    let kid = Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, "pipe")
            .env(WHERE, "-")
            .stdin(std::process::Stdio::from(std::os::fd::OwnedFd::from(tx))),
    );
    let got = runtime().block_on(async {
        let mut rx = pipe::AsyncReceiver::from_sync(rx).unwrap();
        receive_all(&mut rx, true).await
    });
    kid.assert_success("pipe sender");
    report("pipe", got);
}

#[test]
fn fifo_receives_survive_cancellation() {
    let dir = TempDir::new("async-fifo");
    let path = dir.join("f");
    let _fifo = fifo::create(&path).unwrap();
    let rx = fifo::Receiver::<Big>::open(&path).unwrap();
    let kid = child("fifo", path.to_str().unwrap());
    let got = runtime().block_on(async {
        let mut rx = pipe::AsyncReceiver::from_sync(rx).unwrap();
        receive_all(&mut rx, true).await
    });
    kid.assert_success("fifo sender");
    report("fifo", got);
}

#[test]
fn unix_stream_receives_survive_cancellation() {
    for role in ["unix", "unix-split"] {
        let dir = TempDir::new("async-unix");
        let path = dir.join("s");
        let listener = socket::Listener::<Big>::bind(&path).unwrap();
        let kid = child(role, path.to_str().unwrap());
        let stream = listener.accept().unwrap();
        let got = runtime().block_on(async {
            if role == "unix" {
                let mut rx = socket::AsyncStream::from_sync(stream).unwrap();
                receive_all(&mut rx, true).await
            } else {
                let (_tx, rx) = stream.split();
                let mut rx = socket::AsyncReceiver::from_sync(rx).unwrap();
                receive_all(&mut rx, true).await
            }
        });
        kid.assert_success(role);
        report(role, got);
    }
}

#[test]
fn tcp_receives_survive_cancellation() {
    let listener = tcp::Listener::<Big>::bind("127.0.0.1:0").unwrap();
    let at = listener.local_addr().unwrap().to_string();
    let kid = child("tcp", &at);
    let stream = listener.accept().unwrap();
    let got = runtime().block_on(async {
        let mut rx = tcp::AsyncStream::from_sync(stream).unwrap();
        receive_all(&mut rx, true).await
    });
    kid.assert_success("tcp sender");
    report("tcp", got);
}

#[test]
fn mq_receives_survive_cancellation() {
    let name = MqName::new("async-mq");
    let rx = mq::Receiver::<Small>::create(&name.0, mq::Options::new().capacity(8)).unwrap();
    let kid = child("mq", &name.0);
    let got = runtime().block_on(async {
        let mut rx = mq::AsyncReceiver::from_sync(rx).unwrap();
        receive_all(&mut rx, false).await
    });
    kid.assert_success("mq sender");
    report("mq", got);
}
