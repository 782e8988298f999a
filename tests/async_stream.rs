//! The async ends as `futures_core::Stream` and `futures_sink::Sink`: a sink of messages
//! into a pipe, a stream out of it that ends when the writer is gone, and the same for a
//! Unix stream socket; driven by hand with `poll_fn`, as `StreamExt` and `SinkExt` would.

use std::future::poll_fn;
use std::pin::Pin;

use futures_core::Stream;
use futures_sink::Sink;
use ipc::{pipe, socket};

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
