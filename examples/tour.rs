//! A tour of every transport: the same typed message crosses between this process and a
//! child process (this program, re-run) over each mechanism, and a table reports one-way
//! latency and throughput per transport and message size.
//!
//! ```text
//! cargo run --release --example tour
//! ```
//!
//! Latency is half the round trip of a ping-pong; throughput is a one-way stream that the
//! child checks for order and loss. On a shared 2-core machine the absolute figures are
//! noise; compare rows with each other (and see `cargo bench` for ratios to raw syscalls).
//!
//! Ctrl-C (SIGINT) or SIGTERM stops the tour cleanly: `shutdown_on` makes every blocking
//! call return `Error::Shutdown`, the child is killed and reaped, and guards remove the
//! queues, segments and directories of the transport under way. The figures are therefore
//! those of a program that arms `shutdown_on`, whose waits on pipes, FIFOs and sockets
//! also watch the shutdown eventfd (see `ipc::signal`); `cargo bench` measures the
//! transports without it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipc::signal::{self, Signal};
use ipc::{Error, Message, Result};

/// The message: a sequence number and `N` bytes of payload.
#[derive(Clone, Copy, Message)]
#[repr(C)]
struct Payload<const N: usize> {
    seq: u64,
    data: [u8; N],
}

impl<const N: usize> Payload<N> {
    fn new(seq: u64) -> Self {
        Payload {
            seq,
            data: [seq as u8; N],
        }
    }
}

/// What the tour needs of a two-way link, whatever the transport.
trait Link<T> {
    fn send(&mut self, msg: T) -> Result<()>;
    fn recv(&mut self) -> Result<T>;
}

const ROUNDS: u64 = 2_000;
const TRANSPORTS: &[&str] = &[
    "shm",
    "pipe",
    "fifo",
    "unix",
    "seqpacket",
    "tcp",
    "mq",
    "sysv",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let is_child = args.first().map(String::as_str) == Some("child");
    let result = signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]).and_then(|()| {
        if is_child {
            let size: usize = args[2].parse().expect("a message size");
            match size {
                8 => child::<0>(&args[1], &args[3..]),
                64 => child::<56>(&args[1], &args[3..]),
                _ => child::<4088>(&args[1], &args[3..]),
            }
        } else {
            tour(&args)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The parent says so; its child ends quietly.
        Err(_) if signal::shutdown_requested() && is_child => ExitCode::FAILURE,
        Err(_) if signal::shutdown_requested() => {
            eprintln!("tour: interrupted; everything it made is removed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("tour: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tour(only: &[String]) -> Result<()> {
    println!(
        "{:<10} {:>7} {:>14} {:>14} {:>10}",
        "transport", "size", "latency", "msgs/s", "MB/s"
    );
    for &transport in TRANSPORTS {
        if !only.is_empty() && !only.iter().any(|t| t == transport) {
            continue;
        }
        for size in [8, 64, 4096] {
            let (latency, rate) = match size {
                8 => parent::<0>(transport)?,
                64 => parent::<56>(transport)?,
                _ => parent::<4088>(transport)?,
            };
            println!(
                "{:<10} {:>5} B {:>11.2} µs {:>14.0} {:>10.1}",
                transport,
                size,
                latency.as_secs_f64() * 1e6,
                rate,
                rate * size as f64 / 1e6
            );
        }
    }
    Ok(())
}

/// `Err(Error::Shutdown)` once SIGINT or SIGTERM has arrived: for loops that may never
/// block (a stream into a channel with room), which would not see it otherwise.
fn interrupted() -> Result<()> {
    if signal::shutdown_requested() {
        Err(Error::Shutdown)
    } else {
        Ok(())
    }
}

/// How many messages the throughput run streams: about 40 MB or 200,000 messages.
fn stream_count(size: usize) -> u64 {
    (40_000_000 / size as u64).min(200_000)
}

/// Runs the ping-pong and the stream against a child; returns (one-way latency, msgs/s).
fn measure<const N: usize>(link: &mut impl Link<Payload<N>>) -> Result<(Duration, f64)> {
    // Warm up, then ping-pong.
    for i in 0..100 {
        link.send(Payload::new(i))?;
        link.recv()?;
    }
    let start = Instant::now();
    for i in 0..ROUNDS {
        link.send(Payload::new(i))?;
        let echo = link.recv()?;
        assert_eq!(echo.seq, i, "the echo answers the ping");
    }
    let latency = start.elapsed() / (2 * ROUNDS as u32);

    let count = stream_count(size_of::<Payload<N>>());
    let start = Instant::now();
    for i in 0..count {
        if i % 4096 == 0 {
            interrupted()?;
        }
        link.send(Payload::new(i))?;
    }
    let ack = link.recv()?;
    let elapsed = start.elapsed();
    assert_eq!(ack.seq, count, "the child received every message, in order");
    Ok((latency, count as f64 / elapsed.as_secs_f64()))
}

/// The child's side: echo the ping-pong, then count the stream and acknowledge it.
fn serve<const N: usize>(link: &mut impl Link<Payload<N>>) -> Result<()> {
    for _ in 0..100 + ROUNDS {
        let ping = link.recv()?;
        link.send(ping)?;
    }
    let count = stream_count(size_of::<Payload<N>>());
    for i in 0..count {
        let msg = link.recv()?;
        if msg.seq != i || msg.data[..].iter().any(|&b| b != i as u8) {
            eprintln!("tour child: message {i} arrived as {} or damaged", msg.seq);
            std::process::exit(3);
        }
    }
    link.send(Payload::new(count))
}

/// Spawns this program as the child for `transport`, with endpoint arguments.
fn spawn(transport: &str, size: usize, endpoint: &[String], stdio: Option<(Stdio, Stdio)>) -> Peer {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg("child")
        .arg(transport)
        .arg(size.to_string())
        .args(endpoint);
    if let Some((stdin, stdout)) = stdio {
        cmd.stdin(stdin).stdout(stdout);
    }
    Peer(Some(cmd.spawn().expect("spawn the tour child")))
}

/// The child process: `finish` waits for it and checks its exit status; dropped early
/// (the tour failed or was interrupted), it is killed and reaped.
struct Peer(Option<Child>);

impl Peer {
    fn finish(mut self, transport: &str) -> Result<()> {
        let mut child = self.0.take().expect("not finished yet");
        let status = child.wait().map_err(|source| Error::Io {
            op: "wait for the tour child",
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "the {transport} child failed: {status}"
            )))
        }
    }
}

/// Measures over `link` against `child`. When all went well the link is closed and the
/// child waited for; otherwise the child is killed and reaped first, then the link is
/// dropped, so that this process is the last user of what it made and removes it.
fn run<const N: usize>(
    child: Peer,
    mut link: impl Link<Payload<N>>,
    transport: &str,
) -> Result<(Duration, f64)> {
    match measure(&mut link) {
        Ok(figures) => {
            drop(link);
            child.finish(transport)?;
            Ok(figures)
        }
        Err(e) => {
            drop(child);
            drop(link);
            Err(e)
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

/// A unique name for this run.
fn unique(what: &str) -> String {
    format!("ipc-tour-{}-{what}", std::process::id())
}

/// A private directory for FIFOs and socket files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(unique("dir"));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unlinks a POSIX queue this process created, on drop: also when the tour fails or is
/// interrupted.
struct MqUnlink(String);

impl Drop for MqUnlink {
    fn drop(&mut self) {
        let _ = ipc::mq::unlink(&self.0);
    }
}

/// One row of the table. Whatever is made here is declared before the child, so that an
/// early return drops (kills and reaps) the child first and removes it afterwards.
fn parent<const N: usize>(transport: &str) -> Result<(Duration, f64)> {
    let size = size_of::<Payload<N>>();
    match transport {
        "shm" => {
            let (ping, pong) = (
                unique(&format!("ping{size}")),
                unique(&format!("pong{size}")),
            );
            // Measurement traffic: nothing to keep for a late reader if the run is
            // interrupted (the default keeps a departed sender's unread messages for 60 s).
            let opts = || {
                ipc::shm::Options::new()
                    .capacity(256)
                    .linger(Duration::ZERO)
            };
            let tx = ipc::shm::Sender::<Payload<N>>::create(&ping, opts())?;
            let rx = ipc::shm::Receiver::<Payload<N>>::create(&pong, opts())?;
            let child = spawn(transport, size, &[ping, pong], None);
            run(child, ShmLink { tx, rx }, transport)
        }
        "pipe" => {
            let (mine, theirs) = ipc::pipe::duplex::<Payload<N>, Payload<N>>()?;
            let (tx, rx) = theirs.into_parts();
            let child = spawn(transport, size, &[], Some((rx.into(), tx.into())));
            run(child, mine, transport)
        }
        "fifo" => {
            let dir = TempDir::new();
            let (down, up) = (
                ipc::fifo::create(dir.join("down"))?,
                ipc::fifo::create(dir.join("up"))?,
            );
            let endpoint = [path_arg(down.path()), path_arg(up.path())];
            let child = spawn(transport, size, &endpoint, None);
            let open = Duration::from_secs(10);
            let tx = ipc::fifo::Sender::<Payload<N>>::open_timeout(down.path(), open)?;
            let rx = ipc::fifo::Receiver::<Payload<N>>::open_timeout(up.path(), open)?;
            run(child, FifoLink { tx, rx }, transport)
        }
        "unix" => {
            let dir = TempDir::new();
            let listener = ipc::socket::Listener::<Payload<N>>::bind(dir.join("sock"))?;
            let child = spawn(transport, size, &[path_arg(listener.path())], None);
            let stream = listener.accept()?;
            run(child, stream, transport)
        }
        "seqpacket" => {
            let dir = TempDir::new();
            let listener = ipc::socket::SeqPacketListener::<Payload<N>>::bind(dir.join("sock"))?;
            let child = spawn(transport, size, &[path_arg(listener.path())], None);
            let conn = listener.accept()?;
            run(child, conn, transport)
        }
        "tcp" => {
            let listener = ipc::tcp::Listener::<Payload<N>>::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?.to_string();
            let child = spawn(transport, size, &[addr], None);
            let stream = listener.accept()?;
            run(child, stream, transport)
        }
        "mq" => {
            let (down, up) = (
                format!("/{}", unique(&format!("down{size}"))),
                format!("/{}", unique(&format!("up{size}"))),
            );
            let opts = || ipc::mq::Options::new().capacity(10);
            let tx = ipc::mq::Sender::<Payload<N>>::create(&down, opts())?;
            let _unlink_down = MqUnlink(down.clone());
            let rx = ipc::mq::Receiver::<Payload<N>>::create(&up, opts())?;
            let _unlink_up = MqUnlink(up.clone());
            let child = spawn(transport, size, &[down, up], None);
            run(child, MqLink { tx, rx }, transport)
        }
        "sysv" => {
            // One queue, two message types: 1 flows to the child, 2 back.
            let opts = ipc::sysv::Options::new();
            let rx = ipc::sysv::Receiver::<Payload<N>>::create(ipc::sysv::Key::Private, opts)?;
            let _remove = SysvRemove(rx.id());
            let tx = ipc::sysv::Sender::<Payload<N>>::from_id(rx.id())?.with_type(1)?;
            let child = spawn(transport, size, &[rx.id().to_string()], None);
            run(child, SysvLink { tx, rx, mtype: 2 }, transport)
        }
        other => panic!("unknown transport {other}"),
    }
}

fn child<const N: usize>(transport: &str, endpoint: &[String]) -> Result<()> {
    match transport {
        "shm" => {
            let rx = ipc::shm::Receiver::<Payload<N>>::open(&endpoint[0])?;
            let no_linger = ipc::shm::Options::new().linger(Duration::ZERO);
            let tx = ipc::shm::Sender::<Payload<N>>::open_with(&endpoint[1], no_linger)?;
            serve(&mut ShmLink { tx, rx })
        }
        "pipe" => {
            let tx = ipc::pipe::Sender::<Payload<N>>::stdout()?;
            let rx = ipc::pipe::Receiver::<Payload<N>>::stdin()?;
            serve(&mut ipc::pipe::Duplex::from_parts(tx, rx))
        }
        "fifo" => {
            let open = Duration::from_secs(10);
            let rx = ipc::fifo::Receiver::<Payload<N>>::open_timeout(&endpoint[0], open)?;
            let tx = ipc::fifo::Sender::<Payload<N>>::open_timeout(&endpoint[1], open)?;
            serve(&mut FifoLink { tx, rx })
        }
        "unix" => serve(&mut ipc::socket::Stream::<Payload<N>>::connect(
            &endpoint[0],
        )?),
        "seqpacket" => serve(&mut ipc::socket::SeqPacket::<Payload<N>>::connect(
            &endpoint[0],
        )?),
        "tcp" => serve(&mut ipc::tcp::Stream::<Payload<N>>::connect(
            endpoint[0].as_str(),
        )?),
        "mq" => {
            let rx = ipc::mq::Receiver::<Payload<N>>::open(&endpoint[0])?;
            let tx = ipc::mq::Sender::<Payload<N>>::open(&endpoint[1])?;
            serve(&mut MqLink { tx, rx })
        }
        "sysv" => {
            let id: i32 = endpoint[0].parse().expect("a queue id");
            let rx = ipc::sysv::Receiver::<Payload<N>>::from_id(id)?;
            let tx = ipc::sysv::Sender::<Payload<N>>::from_id(id)?.with_type(2)?;
            serve(&mut SysvLink { tx, rx, mtype: 1 })
        }
        other => panic!("unknown transport {other}"),
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_owned()
}

/// Removes a System V queue on drop, also when the tour fails.
struct SysvRemove(i32);

impl Drop for SysvRemove {
    fn drop(&mut self) {
        if let Ok(q) = ipc::sysv::Receiver::<u64>::from_id(self.0) {
            let _ = q.remove();
        }
    }
}

struct ShmLink<T: Message> {
    tx: ipc::shm::Sender<T>,
    rx: ipc::shm::Receiver<T>,
}

impl<T: Message> Link<T> for ShmLink<T> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(self.tx.send(msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        Ok(*self.rx.recv()?)
    }
}

struct FifoLink<T> {
    tx: ipc::fifo::Sender<T>,
    rx: ipc::fifo::Receiver<T>,
}

impl<T: Message> Link<T> for FifoLink<T> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(self.tx.send(msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        self.rx.recv()
    }
}

struct MqLink<T> {
    tx: ipc::mq::Sender<T>,
    rx: ipc::mq::Receiver<T>,
}

impl<T: Message> Link<T> for MqLink<T> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(self.tx.send(msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        self.rx.recv()
    }
}

struct SysvLink<T> {
    tx: ipc::sysv::Sender<T>,
    rx: ipc::sysv::Receiver<T>,
    mtype: i64,
}

impl<T: Message> Link<T> for SysvLink<T> {
    fn send(&mut self, msg: T) -> Result<()> {
        Ok(self.tx.send(msg)?)
    }
    fn recv(&mut self) -> Result<T> {
        Ok(self.rx.recv_type(self.mtype)?.0)
    }
}

/// Transports whose one handle both sends and receives `T`.
macro_rules! duplex_link {
    ($($ty:ty),*) => {$(
        impl<T: Message> Link<T> for $ty {
            fn send(&mut self, msg: T) -> Result<()> {
                Ok(<$ty>::send(self, msg)?)
            }
            fn recv(&mut self) -> Result<T> {
                <$ty>::recv(self)
            }
        }
    )*};
}
duplex_link!(
    ipc::pipe::Duplex<T, T>,
    ipc::socket::Stream<T>,
    ipc::socket::SeqPacket<T>,
    ipc::tcp::Stream<T>
);
