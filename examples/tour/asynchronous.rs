//! The tour's async table (`async`): per transport and size, the rate at which this
//! process receives a child's one-way stream with the sync receiver and with its async
//! twin on a current-thread tokio runtime, as `cargo bench --bench async` measures it —
//! the same message counts and senders, the rate from the first message received to the
//! last, the median of 5 rounds, sync and async alternating round by round.

use std::process::Stdio;
use std::time::Instant;

use ipc::{mq, pipe, shm, socket, tcp, Result, Rx};

use crate::guard::{path_arg, unique, MqUnlink, TempDir};
use crate::measure::{interrupted, Payload};
use crate::peer::{spawn, Peer};

/// The transports with an async receiver, in the table's order.
pub const TRANSPORTS: [&str; 6] = ["pipe", "unix", "tcp", "mq", "shm", "topic"];

/// Rounds of each receiver per row; the figure is their median.
const ROUNDS: usize = 5;

/// Messages per round: as `cargo bench --bench async` (shared memory moves small
/// messages 10 to 100 times faster than the descriptors, so it sends more), times
/// `IPC_TOUR_SCALE`.
fn count(transport: &str, size: usize) -> u64 {
    let n = match (transport, size <= 64) {
        ("shm" | "topic", true) => 3_000_000.0,
        ("shm" | "topic", false) => 300_000.0,
        (_, true) => 300_000.0,
        (_, false) => 60_000.0,
    };
    ((n * crate::scale()) as u64).max(1_000)
}

/// One row: the median rates, messages per second, and the median of the rounds' own
/// async / sync ratios.
pub struct Rates {
    pub sync: f64,
    pub asynchronous: f64,
    pub ratio: f64,
}

/// The row of `transport` at `size_of::<Payload<N>>()` bytes.
pub fn parent<const N: usize>(transport: &'static str) -> Result<Rates> {
    let (mut sync, mut asynchronous) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        sync.push(round::<N>(transport, false)?);
        asynchronous.push(round::<N>(transport, true)?);
    }
    let ratio = median(asynchronous.iter().zip(&sync).map(|(a, s)| a / s).collect());
    Ok(Rates {
        sync: median(sync),
        asynchronous: median(asynchronous),
        ratio,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One round: a child streams `count` messages, received here as `asynchronous` says.
fn round<const N: usize>(transport: &'static str, asynchronous: bool) -> Result<f64> {
    interrupted()?;
    let size = size_of::<Payload<N>>();
    let n = count(transport, size);
    let child = |endpoint: &[String], stdio| {
        let mut args = endpoint.to_vec();
        args.push(n.to_string());
        spawn("async-child", transport, size, &args, stdio)
    };
    match transport {
        "pipe" => {
            let (tx, rx) = pipe::channel::<Payload<N>>()?;
            let peer = child(&[], Some((Stdio::null(), tx.into())));
            receive(
                rx,
                n,
                asynchronous,
                peer,
                transport,
                pipe::AsyncReceiver::from_sync,
            )
        }
        "unix" => {
            let dir = TempDir::new();
            let listener = socket::Listener::<Payload<N>>::bind(dir.join("async-sock"))?;
            let peer = child(&[path_arg(listener.path())], None);
            let stream = listener.accept()?;
            receive(
                stream,
                n,
                asynchronous,
                peer,
                transport,
                socket::AsyncStream::from_sync,
            )
        }
        "tcp" => {
            let listener = tcp::Listener::<Payload<N>>::bind("127.0.0.1:0")?;
            let peer = child(&[listener.local_addr()?.to_string()], None);
            let stream = listener.accept()?;
            receive(
                stream,
                n,
                asynchronous,
                peer,
                transport,
                tcp::AsyncStream::from_sync,
            )
        }
        "mq" => {
            let name = format!("/{}", unique("async-mq"));
            let _unlink = MqUnlink(name.clone());
            let rx = mq::Receiver::<Payload<N>>::create(&name, mq::Options::new())?;
            let peer = child(&[name], None);
            receive(
                rx,
                n,
                asynchronous,
                peer,
                transport,
                mq::AsyncReceiver::from_sync,
            )
        }
        "topic" => {
            // A subscriber of a `Block` topic, joined before the publisher starts.
            let name = unique("async-topic");
            let rx = shm::Subscriber::<Payload<N>>::open_or_create(&name, shm::Options::new())?;
            let peer = child(&[name], None);
            receive(
                rx,
                n,
                asynchronous,
                peer,
                transport,
                shm::AsyncSubscriber::from_sync,
            )
        }
        _ => {
            let name = unique("async-shm");
            let rx = shm::Receiver::<Payload<N>>::create(&name, shm::Options::new())?;
            let peer = child(&[name], None);
            receive(
                rx,
                n,
                asynchronous,
                peer,
                transport,
                shm::AsyncReceiver::from_sync,
            )
        }
    }
}

/// Receives `n` messages, checking their order, with `rx` or its async twin; the rate
/// from the first message to the last.
fn receive<E, A, const N: usize>(
    mut rx: E,
    n: u64,
    asynchronous: bool,
    peer: Peer,
    transport: &str,
    to_async: impl FnOnce(E) -> Result<A>,
) -> Result<f64>
where
    E: Rx<Payload<N>>,
    A: AsyncRecv<Payload<N>>,
{
    let check = |m: Payload<N>, i: u64| {
        if m.seq == i {
            Ok(())
        } else {
            Err(ipc::Error::Corrupt(format!(
                "message {i} arrived as {}",
                m.seq
            )))
        }
    };
    let elapsed = if asynchronous {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ipc::Error::Io {
                op: "build a tokio runtime",
                source,
            })?;
        rt.block_on(async {
            let mut rx = to_async(rx)?;
            check(rx.next().await?, 0)?;
            let start = Instant::now();
            for i in 1..n {
                check(rx.next().await?, i)?;
            }
            Ok::<_, ipc::Error>(start.elapsed())
        })?
    } else {
        check(rx.recv()?, 0)?;
        let start = Instant::now();
        for i in 1..n {
            check(rx.recv()?, i)?;
        }
        start.elapsed()
    };
    peer.finish(transport)?;
    Ok((n - 1) as f64 / elapsed.as_secs_f64())
}

/// The async receivers' `recv`, as one trait for `receive`: it hands back their own
/// future, awaited as a user awaits `rx.recv()` (an `async fn` here would wrap it in
/// another future, whose output is one more move of each message).
pub trait AsyncRecv<M> {
    fn next(&mut self) -> impl std::future::Future<Output = Result<M>>;
}

impl<E: ipc::aio::AsyncRecv<Item = M>, M: ipc::Message> AsyncRecv<M> for ipc::aio::Async<E> {
    fn next(&mut self) -> impl std::future::Future<Output = Result<M>> {
        self.recv()
    }
}

impl<E: ipc::aio::ShmEnd<Item = M>, M: ipc::Message> AsyncRecv<M> for ipc::aio::AsyncShm<E> {
    fn next(&mut self) -> impl std::future::Future<Output = Result<M>> {
        self.recv()
    }
}

/// The child's part: `async-child TRANSPORT SIZE ENDPOINT... COUNT`, a sync sender streaming
/// COUNT messages.
pub fn child<const N: usize>(transport: &str, args: &[String]) -> Result<()> {
    let (endpoint, n) = args.split_at(args.len() - 1);
    let n: u64 = n[0].parse().expect("a message count");
    let send_all = |tx: &mut dyn ipc::Tx<Payload<N>>| -> Result<()> {
        for i in 0..n {
            tx.send(Payload::new(i)).map_err(|e| e.into_error())?;
        }
        ipc::Tx::flush(tx)
    };
    match transport {
        "pipe" => send_all(&mut pipe::Sender::<Payload<N>>::stdout()?),
        "unix" => send_all(&mut socket::Stream::<Payload<N>>::connect(&endpoint[0])?),
        "tcp" => send_all(&mut tcp::Stream::<Payload<N>>::connect(
            endpoint[0].as_str(),
        )?),
        "mq" => send_all(&mut mq::Sender::<Payload<N>>::open(&endpoint[0])?),
        "topic" => send_all(&mut shm::Publisher::<Payload<N>>::open_or_create(
            &endpoint[0],
            shm::Options::new(),
        )?),
        _ => send_all(&mut shm::Sender::<Payload<N>>::open(&endpoint[0])?),
    }
}
