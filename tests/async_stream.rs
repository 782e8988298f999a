//! The async ends as `futures_core::Stream` and `futures_sink::Sink`: a sink of messages
//! into a pipe, a stream out of it that ends when the writer is gone, and the same for a
//! Unix stream socket; driven by hand with `poll_fn`, as `StreamExt` and `SinkExt` would.
//! And an async stream's `close(timeout)`, towards a reader in another process (this
//! binary re-run as a child).

use std::future::poll_fn;
use std::pin::Pin;

use std::io::Read;
use std::time::Duration;

use futures_core::Stream;
use futures_sink::Sink;
use ipc::{pipe, socket, Error};

mod common;
use common::Proc;

/// Sends `msgs` through `sink` (ready, start_send, ..., then close).
async fn feed<S: Sink<u64, Error = ipc::Error> + Unpin>(sink: &mut S, msgs: &[u64]) {
    for &m in msgs {
        poll_fn(|cx| Pin::new(&mut *sink).poll_ready(cx))
            .await
            .unwrap();
        Pin::new(&mut *sink).start_send(m).unwrap();
    }
    poll_fn(|cx| Pin::new(&mut *sink).poll_close(cx))
        .await
        .unwrap();
}

/// Everything `stream` yields until it ends.
async fn collect<S: Stream<Item = ipc::Result<u64>> + Unpin>(stream: &mut S) -> Vec<u64> {
    let mut got = Vec::new();
    while let Some(m) = poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await {
        got.push(m.unwrap());
    }
    got
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_pipe_is_a_sink_and_a_stream_that_ends() {
    runtime().block_on(async {
        let (tx, rx) = pipe::channel::<u64>().unwrap();
        let mut tx = pipe::AsyncSender::from_sync(tx).unwrap();
        let mut rx = pipe::AsyncReceiver::from_sync(rx).unwrap();
        let msgs: Vec<u64> = (0..1000).collect();
        let reading = tokio::spawn(async move { collect(&mut rx).await });
        feed(&mut tx, &msgs).await;
        drop(tx);
        assert_eq!(reading.await.unwrap(), msgs);
    });
}

#[test]
fn a_unix_stream_is_a_sink_and_a_stream_that_ends() {
    runtime().block_on(async {
        let (a, b) = socket::Stream::<u64>::pair().unwrap();
        let mut a = socket::AsyncStream::from_sync(a).unwrap();
        let mut b = socket::AsyncStream::from_sync(b).unwrap();
        let msgs: Vec<u64> = (0..1000).map(|i| i * 3).collect();
        let reading = tokio::spawn(async move { collect(&mut b).await });
        feed(&mut a, &msgs).await;
        drop(a);
        assert_eq!(reading.await.unwrap(), msgs);
    });
}

/// An async end polled outside any runtime (its own dropped) says so with an `Io` error
/// when it would have to wait, rather than panicking in the reactor's registration.
#[test]
fn an_async_end_polled_outside_a_runtime_is_an_error_not_a_panic() {
    let (mut tx, rx) = ipc::pipe::channel::<u64>().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rx = rt.block_on(async { ipc::pipe::AsyncReceiver::from_sync(rx).unwrap() });
    // Messages that stream: the end takes them without waiting through the reactor.
    for i in 0..40 {
        tx.send(i).unwrap();
    }
    rt.block_on(async {
        for i in 0..40 {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
    });
    drop(rt);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    match rx.poll_recv(&mut cx) {
        std::task::Poll::Ready(Err(ipc::Error::Io { .. })) => {}
        other => panic!("{other:?}"),
    }
}

/// The role of a child: `reader PATH` or `late-reader PATH`.
const ROLE: &str = "IPC_ASYNC_STREAM_ROLE";

/// What a message says: its number in the sequence, and bytes enough that a few hundred
/// fill a socket's buffer.
type Numbered = [u64; 512];

fn numbered(i: u64) -> Numbered {
    let mut m = [i; 512];
    m[511] = !i;
    m
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let (what, path) = role.split_once(' ').unwrap();
    let mut rx = socket::Stream::<Numbered>::connect(path).unwrap();
    common::ready();
    if what == "late-reader" {
        // Reads nothing until the test closes our stdin.
        let mut rest = Vec::new();
        std::io::stdin().read_to_end(&mut rest).unwrap();
    }
    // Every message whole and in order, then the end of the stream (or, after a close
    // that ran out of time, a message cut short).
    let mut n = 0u64;
    let end = loop {
        match rx.recv() {
            Ok(m) => {
                assert_eq!(m, numbered(n), "message {n}");
                n += 1;
            }
            Err(e) => break e,
        }
    };
    let end = match end {
        Error::Disconnected => "Disconnected".to_owned(),
        Error::Corrupt(_) => "Corrupt".to_owned(),
        other => format!("{other:?}"),
    };
    println!("received {n} then {end}");
}

/// A listener in a fresh directory, a child playing `role` connected to it, and the
/// accepted end's sending half.
fn accept_child(role: &str) -> (socket::Sender<Numbered>, Proc, common::TempDir) {
    let dir = common::TempDir::new("async-close");
    let path = dir.join("s.sock");
    let listener = socket::Listener::<Numbered>::bind(&path).unwrap();
    let mut kid = Proc::spawn_with(ROLE, &format!("{role} {}", path.display()), |cmd| {
        cmd.stdin(std::process::Stdio::piped());
    });
    let conn = listener.accept().unwrap();
    kid.wait_ready();
    (conn.split().0, kid, dir)
}

/// What the child printed after `received `.
fn received(out: &str) -> String {
    let at = out.find("received ").expect("the child's count");
    out[at + "received ".len()..]
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

/// `close` writes what a buffered end holds while the reader (another process) takes
/// it, then shuts the socket down: the reader gets every message, then the end.
#[test]
fn async_close_writes_everything_held_then_ends_the_stream() {
    let (tx, kid, _dir) = accept_child("reader");
    runtime().block_on(async move {
        let mut tx = socket::AsyncSender::from_sync(tx.buffered(4 << 20)).unwrap();
        // All of them fit in the buffer: none is written before the close.
        for i in 0..600 {
            tx.try_send(numbered(i)).unwrap();
        }
        assert!(tx.get_ref().pending() > 0, "the buffer holds messages");
        tx.close(Duration::from_secs(30)).await.unwrap();
    });
    let (status, out) = kid.finish();
    assert!(status.success(), "{out}");
    assert_eq!(received(&out), "600 then Disconnected", "{out}");
}

/// `close` towards a reader that takes nothing returns once its time is out, with
/// `Timeout`, without blocking the thread meanwhile (another task runs); what it held
/// is discarded, and the reader, once it reads, gets whole messages in order, then the
/// end (or a message cut short).
#[test]
fn async_close_gives_up_on_a_reader_that_takes_nothing() {
    let (tx, mut kid, _dir) = accept_child("late-reader");
    runtime().block_on(async move {
        let mut tx = socket::AsyncSender::from_sync(tx.buffered(32 << 20)).unwrap();
        // More than the socket takes: the buffer keeps what the reader has not taken.
        for i in 0..4000 {
            tx.try_send(numbered(i)).unwrap();
        }
        assert!(tx.get_ref().pending() > 0, "the buffer holds messages");
        // A task on the same single thread: it runs only if close does not block it.
        let beside = tokio::spawn(async { 7 });
        let closed = tx.close(Duration::from_millis(200)).await;
        assert!(matches!(closed, Err(Error::Timeout(_))), "{closed:?}");
        assert!(beside.is_finished(), "close blocked the runtime's thread");
    });
    drop(kid.child().stdin.take());
    let (status, out) = kid.finish();
    assert!(status.success(), "{out}");
    let (n, end) = received(&out)
        .split_once(" then ")
        .map(|(n, e)| (n.parse::<u64>().unwrap(), e.to_owned()))
        .unwrap();
    assert!(n < 4000, "the reader got everything: {out}");
    assert!(end == "Disconnected" || end == "Corrupt", "{out}");
}
