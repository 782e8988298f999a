//! A shutdown request ends every async wait: a child process arms
//! `signal::shutdown_on(SIGTERM)`, awaits the `Stream`s of a pipe, a Unix stream, a POSIX
//! queue, a shared-memory channel and a TCP stream (each has delivered one message and
//! waits for the next; none of their peers leaves) and a send blocked on a full pipe; the
//! parent sends SIGTERM, and every stream ends after its one message, the send returns
//! `Error::Shutdown`, the child exits 0. In a child, because a shutdown request is for the
//! whole process.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use ipc::{mq, pipe, shm, signal, socket, tcp, Error};
use nix::sys::signal::Signal;

mod common;
use common::{wait_at_most, MqName, Proc, ShmName};

const ROLE: &str = "IPC_ASYNC_SHUTDOWN";

/// How many messages `stream` yields before it ends; an error item fails the test.
async fn count<S: Stream<Item = ipc::Result<u64>> + Unpin>(mut stream: S) -> usize {
    let mut n = 0;
    while let Some(m) = poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await {
        m.unwrap();
        n += 1;
    }
    n
}

#[test]
fn shutdown_ends_every_async_stream_and_wait() {
    let mut child = Proc::spawn(ROLE, "wait");
    child.wait_ready();
    child.signal(Signal::SIGTERM);
    // A watchdog only: a wait that shutdown did not end would hang the child.
    let status = wait_at_most(child.child(), Duration::from_secs(60));
    let (_, output) = child.finish();
    assert!(
        status.is_some_and(|s| s.success()),
        "child: {status:?}\n{output}"
    );
    assert!(output.contains("every wait ended"), "{output}");
}

#[test]
fn child() {
    if std::env::var(ROLE).is_err() {
        return;
    }
    signal::shutdown_on(&[signal::Signal::SIGTERM]).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Each stream gets one message; its peer stays, so only shutdown ends it.
        let (mut ptx, prx) = pipe::channel::<u64>().unwrap();
        ptx.send(1).unwrap();
        let (mut ua, ub) = socket::Stream::<u64>::pair().unwrap();
        ua.send(2).unwrap();
        let queue = MqName::new("async-shutdown");
        let mrx = mq::Receiver::<u64>::create(&queue.0, mq::Options::new()).unwrap();
        let mut mtx = mq::Sender::<u64>::open(&queue.0).unwrap();
        mtx.send(3).unwrap();
        let channel = ShmName::new("async-shutdown");
        let srx = shm::Receiver::<u64>::create(&channel.0, shm::Options::new()).unwrap();
        let mut stx = shm::Sender::<u64>::open(&channel.0).unwrap();
        stx.send(4).unwrap();
        let listener = tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting = std::thread::spawn(move || tcp::Stream::<u64>::connect(addr).unwrap());
        let trx = listener.accept().unwrap();
        let mut ttx = connecting.join().unwrap();
        ttx.send(5).unwrap();

        let streams = vec![
            tokio::spawn(count(pipe::AsyncReceiver::from_sync(prx).unwrap())),
            tokio::spawn(count(socket::AsyncStream::from_sync(ub).unwrap())),
            tokio::spawn(count(mq::AsyncReceiver::from_sync(mrx).unwrap())),
            tokio::spawn(count(shm::AsyncReceiver::from_sync(srx).unwrap())),
            tokio::spawn(count(tcp::AsyncStream::from_sync(trx).unwrap())),
        ];
        // A send that waits for room in a pipe nobody reads.
        let (full_tx, _unread) = pipe::channel::<u64>().unwrap();
        let mut full_tx = pipe::AsyncSender::from_sync(full_tx).unwrap();
        while full_tx.try_send(0).is_ok() {}
        let blocked =
            tokio::spawn(async move { full_tx.send(0).await.map_err(|e| e.into_error()) });

        common::ready();
        for (i, s) in streams.into_iter().enumerate() {
            assert_eq!(s.await.unwrap(), 1, "stream {i}");
        }
        assert!(matches!(blocked.await.unwrap(), Err(Error::Shutdown)));
        // The peers were there all along.
        drop((ptx, ua, mtx, stx, ttx));
    });
    println!("every wait ended");
}
