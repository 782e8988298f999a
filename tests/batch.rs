//! Batched sends and receives between real processes, on every stream transport (an
//! anonymous pipe, a FIFO, a Unix stream socket, TCP on loopback): ten million messages
//! through `send_all` and through a buffered sender, a sender SIGKILLed in the middle of a
//! batch, partial writes against a slow reader, `EINTR` from a signal handler, batched
//! receives under deadlines, a buffered sender that leaves with messages held, and
//! messages of 3000 bytes, a page and 10,000 bytes in batches; several writers batching
//! into one FIFO; and, for a pipe and a POSIX queue, an invalid message met in the middle
//! of a batch.
//!
//! The children are this test binary re-run on the test `child`, with `BATCH_ROLE` naming
//! what to do, `BATCH_VIA` the transport, `BATCH_AT` the FIFO, socket path or address and
//! `BATCH_COUNT` how many messages to send (and a few more variables for some roles). A pipe's write end is the child's stdin
//! (libtest writes its own lines to stdout). The children's output is captured, and shown
//! only if a test fails. No test asserts on timing.

use std::env;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ipc::{fifo, mq, pipe, socket, tcp, Error, Message, Rx, Tx};

mod common;
use common::Kid;

const ROLE: &str = "BATCH_ROLE";
const VIA: &str = "BATCH_VIA";
const AT: &str = "BATCH_AT";
const COUNT: &str = "BATCH_COUNT";
/// The type of the messages of the roles that send several (`Numbered::NAME`).
const TYPE: &str = "BATCH_TYPE";
/// The first sequence number a child sends (several writers of one FIFO number apart).
const FIRST: &str = "BATCH_FIRST";
/// The buffer of a buffered sender, in bytes, for the roles that take one.
const BUFFER: &str = "BATCH_BUFFER";

/// How many messages the long runs send. Ten million take about 4 s per run in a debug
/// build on two cores (0.2-0.4 s in release), so debug builds send as many.
const MANY: u64 = 10_000_000;

/// How long a test waits for a child to connect before it calls the run a failure.
const CONNECT: Duration = Duration::from_secs(30);

/// The message of most tests: a sequence number and a word computed from it, so that a
/// message put together from parts of two is caught even if its number looks right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Message)]
#[repr(C)]
struct Seq {
    seq: u64,
    check: u64,
}

impl Seq {
    fn new(seq: u64) -> Seq {
        Seq {
            seq,
            check: check(seq),
        }
    }
}

/// A word computed from a sequence number.
fn check(seq: u64) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a_5a5a_5a5a_5a5a
}

/// As [`Seq`], with one more word: its record (32 bytes) divides a pipe page, so a pipe
/// sender writes 64 KiB of them at a time (cut, if at all, between pages), where the
/// records of a `Seq` (24 bytes) go 170 to an atomic write of `PIPE_BUF` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Message)]
#[repr(C)]
struct Seq32 {
    seq: u64,
    check: u64,
    not: u64,
}

/// What the long runs send: message `seq` of a type is made from its number alone, so
/// that the receiver can tell exactly what it should get.
trait Numbered: Message + Copy + PartialEq + std::fmt::Debug + 'static {
    /// The type's name in `BATCH_TYPE`.
    const NAME: &'static str;

    fn new(seq: u64) -> Self;

    /// The number `new` was given.
    fn seq(&self) -> u64;
}

impl Numbered for Seq {
    const NAME: &'static str = "seq";

    fn new(seq: u64) -> Seq {
        Seq::new(seq)
    }

    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Numbered for Seq32 {
    const NAME: &'static str = "seq32";

    fn new(seq: u64) -> Seq32 {
        Seq32 {
            seq,
            check: check(seq),
            not: !seq,
        }
    }

    fn seq(&self) -> u64 {
        self.seq
    }
}

/// A larger message: `N` words, each computed from the sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Message)]
#[repr(C)]
struct Words<const N: usize> {
    words: [u64; N],
}

impl<const N: usize> Words<N> {
    fn new(seq: u64) -> Self {
        // Word 0's low half is what a reader looks at to tell a page-sized message sent
        // bare from a record: with its top bit set (every seventh message) the message
        // looks like a record tag and goes as a long record instead, so a stream of
        // pages mixes records of two lengths.
        let head = if seq % 7 == 3 { 0x8000_1234 } else { 0x1234 };
        Words {
            words: std::array::from_fn(|k| match k {
                0 => head,
                1 => seq,
                _ => check(seq) ^ k as u64,
            }),
        }
    }
}

/// 3000 bytes: a record longer than half of `PIPE_BUF`, which a pipe writes one per
/// `write` (atomically) instead of gathering several.
type Wide = Words<375>;
/// 4096 bytes: page-sized, sent bare or, when it looks like a record tag, as a long
/// record.
type Page = Words<512>;
/// 10,000 bytes: a long record, sealed, longer than `PIPE_BUF`.
type Long = Words<1250>;

impl Numbered for Wide {
    const NAME: &'static str = "wide";

    fn new(seq: u64) -> Self {
        Words::new(seq)
    }

    fn seq(&self) -> u64 {
        self.words[1]
    }
}

impl Numbered for Page {
    const NAME: &'static str = "page";

    fn new(seq: u64) -> Self {
        Words::new(seq)
    }

    fn seq(&self) -> u64 {
        self.words[1]
    }
}

impl Numbered for Long {
    const NAME: &'static str = "long";

    fn new(seq: u64) -> Self {
        Words::new(seq)
    }

    fn seq(&self) -> u64 {
        self.words[1]
    }
}

/// A message with a `bool`: a byte other than 0 or 1 there is not a valid `Flagged`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Message)]
#[repr(C)]
struct Flagged {
    seq: u64,
    ok: bool,
    _pad: [u8; 7],
}

impl Flagged {
    fn new(seq: u64) -> Flagged {
        Flagged {
            seq,
            ok: seq % 2 == 0,
            _pad: [0; 7],
        }
    }
}

/// Checks that `got` are the messages `*next`, `*next + 1`, ... and moves `*next` past
/// them.
fn expect_next<T: Numbered>(got: &[T], next: &mut u64) {
    for m in got {
        if *m != T::new(*next) {
            panic!("message {next}: got {m:?}", next = *next);
        }
        *next += 1;
    }
}

// ---------------------------------------------------------------------------------------
// The transports.

/// A stream transport a child sends over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Pipe,
    Fifo,
    Unix,
    Tcp,
}

impl Via {
    fn name(self) -> &'static str {
        match self {
            Via::Pipe => "pipe",
            Via::Fifo => "fifo",
            Via::Unix => "unix",
            Via::Tcp => "tcp",
        }
    }

    fn from_env() -> Via {
        match env::var(VIA).expect(VIA).as_str() {
            "pipe" => Via::Pipe,
            "fifo" => Via::Fifo,
            "unix" => Via::Unix,
            "tcp" => Via::Tcp,
            other => panic!("unknown transport {other}"),
        }
    }

    /// A stream socket, where a sender killed inside a `send` may leave the start of a
    /// record on the wire (a pipe's writes of whole records are atomic).
    fn is_socket(self) -> bool {
        matches!(self, Via::Unix | Via::Tcp)
    }
}

/// A child process sending messages of `T` to this one, and the receiving end.
struct Run<T: Numbered = Seq> {
    rx: Box<dyn Rx<T>>,
    kid: Kid,
    /// The FIFO or the socket file's directory, removed after the child is gone.
    _dir: Option<(common::TempDir, Option<fifo::Fifo>)>,
}

impl<T: Numbered> Run<T> {
    /// Starts a child playing `role` over `via` with `count` messages of `T`, and
    /// connects to it.
    fn start(via: Via, role: &str, count: u64) -> Run<T> {
        Run::start_with(via, role, count, |_| {})
    }

    /// As [`Run::start`], with more settings for the child made by `setup`.
    fn start_with(via: Via, role: &str, count: u64, setup: impl FnOnce(&mut Command)) -> Run<T> {
        let mut cmd = child_command::<T>(role, via, count);
        setup(&mut cmd);
        match via {
            Via::Pipe => {
                let (tx, rx) = pipe::channel::<T>().unwrap();
                cmd.stdin(Stdio::from(tx));
                let kid = Kid::spawn(&mut cmd);
                // The command holds the write end: drop it, so that only the child has one.
                drop(cmd);
                Run {
                    rx: Box::new(rx),
                    kid,
                    _dir: None,
                }
            }
            Via::Fifo => {
                let dir = common::TempDir::new("batch");
                let fifo = fifo::create(dir.join("fifo")).unwrap();
                let rx = fifo::Receiver::<T>::open(fifo.path()).unwrap();
                cmd.env(AT, fifo.path());
                Run {
                    rx: Box::new(rx),
                    kid: Kid::spawn(&mut cmd),
                    _dir: Some((dir, Some(fifo))),
                }
            }
            Via::Unix => {
                let dir = common::TempDir::new("batch");
                let path = dir.join("sock");
                let listener = socket::Listener::<T>::bind(&path).unwrap();
                cmd.env(AT, &path);
                let kid = Kid::spawn(&mut cmd);
                let rx = listener.accept_timeout(CONNECT).unwrap();
                Run {
                    rx: Box::new(rx),
                    kid,
                    _dir: Some((dir, None)),
                }
            }
            Via::Tcp => {
                let listener = tcp::Listener::<T>::bind("127.0.0.1:0").unwrap();
                cmd.env(AT, listener.local_addr().unwrap().to_string());
                let kid = Kid::spawn(&mut cmd);
                assert!(
                    readable(listener.as_fd(), CONNECT),
                    "the child did not connect"
                );
                let rx = listener.accept().unwrap();
                assert!(rx.peer_addr().ip().is_loopback());
                Run {
                    rx: Box::new(rx),
                    kid,
                    _dir: None,
                }
            }
        }
    }

    /// The child's process id.
    fn pid(&self) -> i32 {
        self.kid.id() as i32
    }

    /// Waits for the child to exit, and asserts that it succeeded.
    fn wait_success(&mut self, what: &str) {
        let status = self.kid.wait().unwrap();
        assert!(status.success(), "{what}: {status}\n{}", self.kid.output());
    }

    /// Asserts that the stream has ended (every message was taken) and that the child
    /// succeeded.
    fn finish(mut self, what: &str) {
        let mut buf = [T::new(0); 2];
        match self.rx.recv_many(&mut buf) {
            Err(Error::Disconnected) => {}
            Ok(n) => panic!("{n} messages after the last: {:?}", &buf[..n]),
            Err(e) => panic!("after the last message: {e}, want Disconnected"),
        }
        let Run { rx, kid, _dir } = self;
        drop(rx);
        kid.assert_success(what);
    }
}

/// This test binary re-run on the test `child`, to play `role` over `via` with `count`
/// messages of `T`; its stdin is null.
fn child_command<T: Numbered>(role: &str, via: Via, count: u64) -> Command {
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(VIA, via.name())
        .env(TYPE, T::NAME)
        .env(COUNT, count.to_string())
        .stdin(Stdio::null());
    cmd
}

/// Waits at most `limit` for `fd` to become readable.
fn readable(fd: BorrowedFd<'_>, limit: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let ms = u16::try_from(limit.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
}

/// In a child: the sending end over the transport the parent chose.
enum Out<T: Message> {
    Pipe(pipe::Sender<T>),
    Unix(socket::Stream<T>),
    Tcp(tcp::Stream<T>),
    /// The sending half of a split socket stream (which tells what it holds).
    Half(socket::Sender<T>),
}

impl<T: Message> Out<T> {
    fn open(via: Via) -> Out<T> {
        let at = || PathBuf::from(env::var_os(AT).expect(AT));
        match via {
            Via::Pipe => Out::Pipe(pipe::Sender::from_fd(stdin_fd())),
            Via::Fifo => Out::Pipe(pipe::Sender::open_timeout(at(), CONNECT).unwrap()),
            Via::Unix => Out::Unix(socket::Stream::connect(at()).unwrap()),
            Via::Tcp => {
                let addr: SocketAddr = env::var(AT).expect(AT).parse().unwrap();
                Out::Tcp(tcp::Stream::connect_timeout(&addr, CONNECT).unwrap())
            }
        }
    }

    /// Makes the sender buffered, holding up to `capacity` bytes.
    fn buffered(self, capacity: usize) -> Out<T> {
        match self {
            Out::Pipe(tx) => Out::Pipe(tx.buffered(capacity)),
            Out::Unix(tx) => Out::Unix(tx.buffered(capacity)),
            Out::Tcp(tx) => Out::Tcp(tx.buffered(capacity)),
            Out::Half(tx) => Out::Half(tx.buffered(capacity)),
        }
    }

    /// Keeps only the sending half of a socket stream (the receiving half is dropped;
    /// the socket stays open while the sending half lives).
    fn split(self) -> Out<T> {
        match self {
            Out::Unix(s) => Out::Half(s.split().0),
            Out::Tcp(s) => Out::Half(s.split().0),
            other => other,
        }
    }

    /// Bytes accepted and not yet written (a pipe sender or a socket's sending half).
    fn pending(&self) -> usize {
        match self {
            Out::Pipe(tx) => tx.pending(),
            Out::Half(tx) => tx.pending(),
            Out::Unix(_) | Out::Tcp(_) => panic!("split a stream to see what it holds"),
        }
    }

    fn tx(&mut self) -> &mut dyn Tx<T> {
        match self {
            Out::Pipe(tx) => tx,
            Out::Unix(tx) => tx,
            Out::Tcp(tx) => tx,
            Out::Half(tx) => tx,
        }
    }
}

/// In a child: a copy of descriptor 0, the write end of the parent's pipe.
fn stdin_fd() -> OwnedFd {
    std::io::stdin().as_fd().try_clone_to_owned().unwrap()
}

// ---------------------------------------------------------------------------------------
// The children.

/// The entry point of the children; does nothing in a normal test run.
#[test]
fn child() {
    let Ok(role) = env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "pipe_invalid" => return send_an_invalid_message_on_a_pipe(),
        "mq_invalid" => return send_an_invalid_message_on_a_queue(),
        _ => {}
    }
    match env::var(TYPE).expect(TYPE).as_str() {
        Seq::NAME => play::<Seq>(&role),
        Seq32::NAME => play::<Seq32>(&role),
        Wide::NAME => play::<Wide>(&role),
        Page::NAME => play::<Page>(&role),
        Long::NAME => play::<Long>(&role),
        other => panic!("unknown type {other}"),
    }
}

/// Plays `role` with messages of `T`.
fn play<T: Numbered>(role: &str) {
    let count: u64 = env::var(COUNT).map_or(0, |c| c.parse().unwrap());
    let first: u64 = env::var(FIRST).map_or(0, |c| c.parse().unwrap());
    match role {
        "send_all" => send_all_in_batches::<T>(first, count),
        "buffered" => send_buffered::<T>(first, count),
        "endless" => send_endless_batches::<T>(),
        "trickle" => send_against_a_slow_reader::<T>(count),
        "interrupted" => send_all_interrupted::<T>(count),
        "bursts" => send_bursts::<T>(count),
        "drop_held" => drop_with_messages_held::<T>(count),
        "close_unread" => close_with_nothing_read::<T>(count),
        other => panic!("unknown role {other}"),
    }
}

/// Batch sizes `send_all` is given, in turn.
const BATCHES: [usize; 10] = [1, 7, 256, 4096, 3, 65_536, 1000, 100_000, 2, 17_001];

/// Messages `first..first + count` through `send_all`, in batches of [`BATCHES`] (at
/// most 4 MiB of messages).
fn send_all_in_batches<T: Numbered>(first: u64, count: u64) {
    let mut tx = Out::<T>::open(Via::from_env());
    let most = (4 << 20) / size_of::<T>();
    let mut batch = Vec::new();
    let (mut sent, end) = (first, first + count);
    for size in BATCHES.iter().cycle() {
        if sent == end {
            break;
        }
        let last = (sent + (*size).min(most) as u64).min(end);
        batch.clear();
        batch.extend((sent..last).map(T::new));
        if let Err(e) = tx.tx().send_all(&batch) {
            panic!("batch from {sent}: {e}");
        }
        sent = last;
    }
}

/// Messages `first..first + count` through a buffered sender (64 KiB), one `send` each,
/// then `flush`.
fn send_buffered<T: Numbered>(first: u64, count: u64) {
    let mut tx = Out::<T>::open(Via::from_env()).buffered(64 * 1024);
    for i in first..first + count {
        if let Err(e) = tx.tx().send(T::new(i)) {
            panic!("message {i}: {e}");
        }
    }
    tx.tx().flush().unwrap();
}

/// Batches of 1 MiB of messages through `send_all`, numbered on, until killed.
fn send_endless_batches<T: Numbered>() {
    let big = ((1 << 20) / size_of::<T>()).max(1) as u64;
    let mut tx = Out::<T>::open(Via::from_env());
    let mut batch: Vec<T> = (0..big).map(T::new).collect();
    loop {
        tx.tx().send_all(&batch).unwrap();
        for m in &mut batch {
            *m = T::new(m.seq() + big);
        }
    }
}

/// `count` messages against a reader that sleeps between receives: `try_send_many` and
/// `send_all_timeout` (1 ms) in turn, each retried with what was not sent; through a
/// buffered sender if `BATCH_BUFFER` says so.
fn send_against_a_slow_reader<T: Numbered>(count: u64) {
    let mut tx = Out::<T>::open(Via::from_env());
    if let Ok(buffer) = env::var(BUFFER) {
        tx = tx.buffered(buffer.parse().unwrap());
    }
    let msgs: Vec<T> = (0..count).map(T::new).collect();
    let (mut sent, mut full, mut timeouts) = (0usize, 0u64, 0u64);
    for (round, size) in BATCHES.iter().cycle().enumerate() {
        if sent == msgs.len() {
            break;
        }
        let batch = &msgs[sent..(sent + size).min(msgs.len())];
        if round % 2 == 0 {
            match tx.tx().try_send_many(batch) {
                Ok(n) => {
                    assert!((1..=batch.len()).contains(&n), "{n} of {}", batch.len());
                    sent += n;
                }
                Err(Error::Full) => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => panic!("try_send_many from {sent}: {e}"),
            }
        } else {
            match tx.tx().send_all_timeout(batch, Duration::from_millis(1)) {
                Ok(()) => sent += batch.len(),
                Err(e) => {
                    assert!(matches!(e.error(), Error::Timeout(_)), "from {sent}: {e}");
                    let unsent = e.unsent(batch);
                    assert_eq!(e.sent() + unsent.len(), batch.len());
                    assert_eq!(unsent.first(), batch.get(e.sent()));
                    timeouts += 1;
                    sent += e.sent();
                }
            }
        }
    }
    // A bounded send may leave the tail of a record it began (a socket): write it.
    tx.tx().flush().unwrap();
    println!("sent {count}: {full} times Full, {timeouts} timeouts");
}

/// SIGUSR1s the handler below has seen.
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// `count` messages through `send_all` in batches of 100,000, with a handler for
/// SIGUSR1 installed without `SA_RESTART`, so that the parent's signals make the
/// blocked writes fail with `EINTR` (or, on a socket, return having written part of
/// what they were given). The first message goes alone; the rest once the parent's
/// signals have begun.
fn send_all_interrupted<T: Numbered>(count: u64) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_usr1),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only adds to an atomic counter, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &act) }.unwrap();
    let mut tx = Out::<T>::open(Via::from_env());
    let msgs: Vec<T> = (0..count).map(T::new).collect();
    tx.tx().send_all(&msgs[..1]).unwrap();
    while HANDLED.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_micros(100));
    }
    let before = HANDLED.load(Ordering::Relaxed);
    for (k, batch) in msgs[1..].chunks(100_000).enumerate() {
        if let Err(e) = tx.tx().send_all(batch) {
            panic!("batch {k}: {e}");
        }
    }
    let during = HANDLED.load(Ordering::Relaxed) - before;
    println!("sent {count}; {during} SIGUSR1 handled while sending");
}

/// `count` messages in bursts through `send_all`, with pauses between them.
fn send_bursts<T: Numbered>(count: u64) {
    const SIZES: [u64; 7] = [1, 50, 3000, 7, 20_000, 400, 4096];
    const PAUSES_US: [u64; 5] = [0, 1000, 3000, 0, 2000];
    let mut tx = Out::<T>::open(Via::from_env());
    let mut batch = Vec::new();
    let mut sent = 0;
    for (k, size) in SIZES.iter().cycle().enumerate() {
        if sent == count {
            break;
        }
        let end = (sent + size).min(count);
        batch.clear();
        batch.extend((sent..end).map(T::new));
        tx.tx().send_all(&batch).unwrap();
        sent = end;
        std::thread::sleep(Duration::from_micros(PAUSES_US[k % PAUSES_US.len()]));
    }
}

/// `count` messages into a buffer of 1 MiB, and a return without `flush`: dropping the
/// sender writes them.
fn drop_with_messages_held<T: Numbered>(count: u64) {
    let mut tx = Out::<T>::open(Via::from_env()).split().buffered(1 << 20);
    for i in 0..count {
        tx.tx().send(T::new(i)).unwrap();
    }
    // All held: every message's bytes (in batch records, or records of their own).
    assert!(
        tx.pending() >= count as usize * size_of::<T>(),
        "all held: {} bytes pending",
        tx.pending()
    );
}

/// `count` messages into a buffer of 1 MiB on a pipe whose reader reads nothing, then
/// `close` with a short timeout: every message is unread, held or in the pipe.
fn close_with_nothing_read<T: Numbered>(count: u64) {
    let Out::Pipe(tx) = Out::<T>::open(Via::from_env()) else {
        panic!("a pipe or FIFO only");
    };
    let mut tx = tx.buffered(1 << 20);
    for i in 0..count {
        tx.send(T::new(i)).unwrap();
    }
    match tx.close(Duration::from_millis(100)) {
        Ok(()) => panic!("close: all read, but the reader read nothing"),
        Err(unread) => {
            println!("unread {} discarded {}", unread.count, unread.discarded);
            assert_eq!(unread.count, count, "unread");
            // The reader has the pipe open: what the pipe takes may still be read; what
            // it does not take could not be written in time and is gone with the sender.
            let fits = count as usize * ipc::codec::record_len::<T>() <= 64 * 1024;
            assert_eq!(unread.discarded, !fits, "discarded");
        }
    }
}

/// On the pipe of descriptor 0: 100 valid `Flagged` messages, one whose `bool` is 2
/// (written raw, with the codec's record header), and 100 more valid ones.
fn send_an_invalid_message_on_a_pipe() {
    let mut tx = pipe::Sender::<Flagged>::from_fd(stdin_fd());
    let good: Vec<Flagged> = (0..201).map(Flagged::new).collect();
    tx.send_all(&good[..100]).unwrap();
    let mut raw = std::fs::File::from(stdin_fd());
    raw.write_all(&invalid_record()).unwrap();
    tx.send_all(&good[101..]).unwrap();
}

/// The record of message 100 with 2 in its `bool`.
fn invalid_record() -> Vec<u8> {
    let mut rec = ipc::codec::message_header::<Flagged>().to_vec();
    rec.extend_from_slice(&invalid_flagged(100));
    rec
}

/// The bytes of `Flagged::new(seq)` with 2 in its `bool`.
fn invalid_flagged(seq: u64) -> Vec<u8> {
    let mut bytes = ipc::as_bytes(&Flagged::new(seq)).to_vec();
    bytes[std::mem::offset_of!(Flagged, ok)] = 2;
    bytes
}

/// On the POSIX queue `BATCH_AT`: 4 valid `Flagged` messages, one whose `bool` is 2
/// (sent raw with `mq_send`), and 5 more valid ones: 10, the capacity the parent gave it.
fn send_an_invalid_message_on_a_queue() {
    use nix::mqueue::{mq_close, mq_open, mq_send, MQ_OFlag};
    let name = env::var(AT).expect(AT);
    let mut tx = mq::Sender::<Flagged>::open(&name).unwrap();
    let good: Vec<Flagged> = (0..10).map(Flagged::new).collect();
    tx.send_all(&good[..4]).unwrap();
    let q = mq_open(
        name.as_str(),
        MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .unwrap();
    mq_send(&q, &invalid_flagged(4), 0).unwrap();
    mq_close(q).unwrap();
    tx.send_all(&good[5..]).unwrap();
}

// ---------------------------------------------------------------------------------------
// The checks, one per case; each runs on every stream transport (see `on_every_stream`).

/// Lengths of the slices `recv_many` is given, in turn.
const LENGTHS: [usize; 9] = [1, 3, 64, 4096, 7, 8192, 500, 2, 1000];

/// Receives `count` messages `0..count` with `recv_many` into slices of [`LENGTHS`] (at
/// most 1 MiB) and, every eleventh time, a plain `recv`.
fn receive_in_order<T: Numbered>(run: &mut Run<T>, count: u64) {
    let mut buf = vec![T::new(0); 8192.min((1 << 20) / size_of::<T>())];
    let mut next = 0;
    for round in 0.. {
        if next == count {
            break;
        }
        if round % 11 == 10 {
            match run.rx.recv() {
                Ok(m) => expect_next(&[m], &mut next),
                Err(e) => panic!("recv of message {next}: {e}"),
            }
        } else {
            let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
            match run.rx.recv_many(&mut buf[..len]) {
                Ok(n) => {
                    assert!((1..=len).contains(&n), "{n} messages into {len}");
                    expect_next(&buf[..n], &mut next);
                }
                Err(e) => panic!("recv_many from message {next}: {e}"),
            }
        }
    }
}

/// A child playing `role` with `count` messages of `T`, all received in order, then the
/// end.
fn in_order<T: Numbered>(via: Via, role: &str, count: u64) {
    let mut run = Run::<T>::start(via, role, count);
    receive_in_order(&mut run, count);
    run.finish(role);
}

/// [`MANY`] messages whose records divide a pipe page, and a tenth as many whose records
/// do not (see [`Seq32`]).
fn many_messages_through_send_all(via: Via) {
    in_order::<Seq32>(via, "send_all", MANY);
    in_order::<Seq>(via, "send_all", MANY / 10);
}

fn many_messages_through_a_buffered_sender(via: Via) {
    in_order::<Seq32>(via, "buffered", MANY);
    in_order::<Seq>(via, "buffered", MANY / 10);
}

/// 3000-byte messages, page-sized ones (bare, and as long records when they look
/// tagged) and 10,000-byte long records, through `send_all` and a buffered sender: each
/// arrives once, whole, in order.
fn large_messages_through_send_all_and_a_buffered_sender(via: Via) {
    fn both<T: Numbered>(via: Via, count: u64) {
        in_order::<T>(via, "send_all", count);
        in_order::<T>(via, "buffered", count);
    }
    // 1.7 GB in all: about 0.5 s per transport in release, 11 s in a debug build (which
    // spends it making and comparing the messages word by word), so a tenth there.
    let scale = if cfg!(debug_assertions) { 10 } else { 1 };
    both::<Wide>(via, 100_000 / scale);
    both::<Page>(via, 50_000 / scale);
    both::<Long>(via, 20_000 / scale);
}

/// Receives 4 MiB of an endless stream, SIGKILLs the sender, and reads the rest: whole
/// messages in order, then the end. On a stream socket, and for records longer than
/// `PIPE_BUF` (which a pipe cannot take in one atomic write), the stream may end inside
/// a record: then one `Corrupt` comes before the end.
fn killed_mid_batch<T: Numbered>(via: Via) {
    let torn_allowed = via.is_socket() || ipc::codec::record_len::<T>() > pipe::PIPE_BUF;
    let mut run = Run::<T>::start(via, "endless", 0);
    let mut buf = vec![T::new(0); 4096.min((1 << 20) / size_of::<T>())];
    let mut next = 0;
    let mut round = 0;
    while next < ((4 << 20) / size_of::<T>()) as u64 {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        let n = run.rx.recv_many(&mut buf[..len]).unwrap();
        expect_next(&buf[..n], &mut next);
        round += 1;
    }
    // Let the sender fill the pipe or socket and block inside a batch (and, for long
    // records, inside a record), then kill it.
    std::thread::sleep(Duration::from_millis(50));
    run.kid.kill().unwrap();
    let status = run.kid.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    let mut corrupt = None;
    loop {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        round += 1;
        match run.rx.recv_many(&mut buf[..len]) {
            Ok(n) => {
                assert!(corrupt.is_none(), "messages after {corrupt:?}");
                expect_next(&buf[..n], &mut next);
            }
            Err(Error::Disconnected) => break,
            Err(Error::Corrupt(why)) if torn_allowed && corrupt.is_none() => {
                corrupt = Some(why);
            }
            Err(e) => panic!("after message {next} (and {corrupt:?}): {e}"),
        }
    }
    assert!(run.rx.recv().unwrap_err().is_disconnected());
    println!(
        "{}: {next} messages, then {corrupt:?} and Disconnected",
        T::NAME
    );
}

fn a_sender_killed_mid_batch(via: Via) {
    killed_mid_batch::<Seq>(via);
    killed_mid_batch::<Seq32>(via);
    killed_mid_batch::<Page>(via);
    killed_mid_batch::<Long>(via);
}

/// A reader that sleeps 1 ms between receives of at most [`SLOW`] messages: the sender
/// meets full buffers, and retries what `try_send_many` and `send_all_timeout` did not
/// send; unbuffered, then buffered (16 KiB).
fn slow_reader<T: Numbered>(via: Via) {
    const SLOW: [usize; 4] = [1, 16, 256, 2048];
    const N: u64 = 250_000;
    for buffer in [None, Some(16 << 10)] {
        let mut run = Run::<T>::start_with(via, "trickle", N, |cmd| {
            if let Some(b) = buffer {
                cmd.env(BUFFER, b.to_string());
            }
        });
        let mut buf = vec![T::new(0); 2048.min((1 << 20) / size_of::<T>())];
        let mut next = 0;
        let mut round = 0;
        while next < N {
            std::thread::sleep(Duration::from_millis(1));
            let len = SLOW[round % SLOW.len()];
            round += 1;
            match run.rx.recv_many(&mut buf[..len]) {
                Ok(n) => expect_next(&buf[..n], &mut next),
                Err(e) => panic!("recv_many from message {next} (buffer {buffer:?}): {e}"),
            }
        }
        run.finish("sender against a slow reader");
    }
}

fn a_slow_reader_and_retried_partial_batches(via: Via) {
    slow_reader::<Seq>(via);
    slow_reader::<Seq32>(via);
}

/// Sends SIGUSR1 to every thread of the process `pid` and returns to how many. A signal
/// sent to the process would go to its main thread, which libtest keeps waiting for the
/// test thread that sends.
fn signal_threads(pid: i32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut signalled = 0;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: tgkill takes three integers and touches no memory of this process;
        // `pid` is a child not yet reaped, so neither it nor its threads' ids are reused.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
        signalled += usize::from(rc == 0);
    }
    signalled
}

/// The sender's threads get SIGUSR1 (a handler without `SA_RESTART`) about every 100 µs
/// while it is blocked in `send_all` of 24 MiB of messages: its writes fail with `EINTR`
/// or write part of what they were given, and every message still arrives once, whole
/// and in order.
fn interrupted<T: Numbered>(via: Via) {
    let n_msgs = ((24 << 20) / size_of::<T>()) as u64;
    let mut run = Run::<T>::start(via, "interrupted", n_msgs);
    let mut buf = vec![T::new(0); 1024];
    // The child installs its handler before it connects, so once its first message is
    // here signals are safe; it sends the rest once it has handled one.
    let mut next = 0;
    let n = run.rx.recv_many(&mut buf).unwrap();
    expect_next(&buf[..n], &mut next);
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = {
        let (stop, pid) = (stop.clone(), run.pid());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                sent += signal_threads(pid);
                std::thread::sleep(Duration::from_micros(100));
            }
            sent
        })
    };
    let mut round = 0;
    while next < n_msgs {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        round += 1;
        match run.rx.recv_many(&mut buf[..len]) {
            Ok(n) => expect_next(&buf[..n], &mut next),
            Err(e) => panic!("recv_many from message {next}: {e}"),
        }
        if round % 8 == 0 {
            // Let the sender fill the pipe or socket and block, for several signals.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let signals = signaller.join().unwrap();
    println!("{}: {signals} signals sent", T::NAME);
    run.finish("interrupted sender");
}

fn interrupted_sends_lose_and_tear_nothing(via: Via) {
    interrupted::<Seq>(via);
    interrupted::<Seq32>(via);
    interrupted::<Page>(via);
}

/// A sender that sends in bursts with pauses, and a receiver that loops on
/// `recv_many_timeout(1 ms)` and `try_recv_many` in turn, taking `Timeout` and `Empty`
/// as "again".
fn under_deadlines<T: Numbered>(via: Via) {
    const N: u64 = 300_000;
    let mut run = Run::<T>::start(via, "bursts", N);
    let mut buf = vec![T::new(0); 8192];
    let (mut next, mut timeouts, mut empty) = (0, 0u64, 0u64);
    let mut round = 0;
    while next < N {
        let len = LENGTHS[round % LENGTHS.len()];
        round += 1;
        let got = if round % 2 == 0 {
            run.rx
                .recv_many_timeout(&mut buf[..len], Duration::from_millis(1))
        } else {
            run.rx.try_recv_many(&mut buf[..len])
        };
        match got {
            Ok(n) => {
                assert!((1..=len).contains(&n), "{n} messages into {len}");
                expect_next(&buf[..n], &mut next);
            }
            Err(Error::Timeout(d)) => {
                assert_eq!(d, Duration::from_millis(1));
                timeouts += 1;
            }
            Err(Error::Empty) => {
                empty += 1;
                std::thread::yield_now();
            }
            Err(e) => panic!("from message {next}: {e}"),
        }
    }
    // The end, through the same calls.
    loop {
        match run.rx.recv_many_timeout(&mut buf, Duration::from_millis(1)) {
            Err(Error::Timeout(_)) => {}
            Err(Error::Disconnected) => break,
            Ok(n) => panic!("{n} messages after the last: {:?}", &buf[..n]),
            Err(e) => panic!("after the last message: {e}"),
        }
    }
    println!("{timeouts} timeouts, {empty} times empty");
    run.finish("sender of bursts");
}

fn receives_under_deadlines(via: Via) {
    under_deadlines::<Seq>(via);
    under_deadlines::<Seq32>(via);
}

/// A buffered sender that holds 1000 messages and is dropped without `flush`: all of them
/// arrive.
fn a_buffered_sender_dropped_with_messages_held(via: Via) {
    in_order::<Seq>(via, "drop_held", 1000);
    in_order::<Seq32>(via, "drop_held", 1000);
}

/// Makes a module of four tests, one per stream transport, each calling `$check` with
/// its transport.
macro_rules! on_every_stream {
    ($($(#[$attr:meta])* $name:ident => $check:ident;)*) => {$(
        $(#[$attr])*
        mod $name {
            use super::*;

            #[test]
            fn pipe() {
                $check(Via::Pipe);
            }

            #[test]
            fn fifo() {
                $check(Via::Fifo);
            }

            #[test]
            fn unix_stream() {
                $check(Via::Unix);
            }

            #[test]
            fn tcp() {
                $check(Via::Tcp);
            }
        }
    )*};
}

on_every_stream! {
    /// Ten million messages (one million in a debug build) through `send_all` in batches
    /// of 1 to 100,000 arrive once each, in order, through `recv_many` and `recv`.
    many_messages_through_send_all_arrive_once_in_order => many_messages_through_send_all;
    /// The same through a buffered sender (64 KiB), one `send` per message.
    many_messages_through_a_buffered_sender_arrive_once_in_order =>
        many_messages_through_a_buffered_sender;
    large_messages_through_send_all_and_a_buffered_sender_arrive_whole_in_order =>
        large_messages_through_send_all_and_a_buffered_sender;
    a_sender_killed_mid_batch_leaves_whole_messages_then_the_end => a_sender_killed_mid_batch;
    a_slow_reader_gets_every_message_of_retried_partial_batches =>
        a_slow_reader_and_retried_partial_batches;
    signals_interrupting_send_all_lose_and_tear_nothing =>
        interrupted_sends_lose_and_tear_nothing;
    batched_receives_under_deadlines_take_every_message_once => receives_under_deadlines;
    a_buffered_sender_dropped_with_messages_held_writes_them =>
        a_buffered_sender_dropped_with_messages_held;
}

// ---------------------------------------------------------------------------------------
// Pipes and FIFOs only.

/// A buffered pipe sender whose reader reads nothing: `close` counts every message as
/// unread, those still held (20,000 do not fit in the pipe) and those in the pipe.
#[test]
fn closing_a_buffered_pipe_sender_counts_held_and_queued_messages_as_unread() {
    close_unread::<Seq>();
    close_unread::<Seq32>();
}

fn close_unread<T: Numbered>() {
    for count in [1000, 20_000] {
        let mut run = Run::<T>::start(Via::Pipe, "close_unread", count);
        // Nothing is read until the sender is gone.
        run.wait_success("closing sender");
        // What the pipe holds: the first messages, in order, then the end.
        let mut buf = vec![T::new(0); 1024];
        let mut next = 0;
        loop {
            match run.rx.try_recv_many(&mut buf) {
                Ok(n) => expect_next(&buf[..n], &mut next),
                Err(Error::Disconnected) => break,
                Err(e) => panic!("after message {next}: {e}"),
            }
        }
        if count == 1000 {
            assert_eq!(next, 1000, "1000 messages fit in the pipe");
        } else {
            assert!(next < count, "{next} of {count} in a 64 KiB pipe");
        }
        println!("{}: {count} sent, {next} in the pipe", T::NAME);
    }
}

/// Three children write one FIFO at once, two through `send_all` and one through a
/// buffered sender: every record is written whole by one atomic `write`, so each
/// writer's messages arrive whole and in order among the others', and `recv_many` reads
/// on across the other writers' handshakes.
#[test]
fn several_writers_batching_into_one_fifo_never_interleave_records() {
    several_writers::<Seq>();
    several_writers::<Seq32>();
}

fn several_writers<T: Numbered>() {
    const PER: u64 = 1_000_000;
    let dir = common::TempDir::new("batch");
    let fifo = fifo::create(dir.join("fifo")).unwrap();
    let mut rx = fifo::Receiver::<T>::open(fifo.path()).unwrap();
    // Holding a write end keeps the FIFO from ending between one writer and the next.
    let keep_open = fifo::Sender::<T>::open(fifo.path()).unwrap();
    let writers: Vec<Kid> = ["send_all", "buffered", "send_all"]
        .iter()
        .enumerate()
        .map(|(w, role)| {
            let mut cmd = child_command::<T>(role, Via::Fifo, PER);
            cmd.env(AT, fifo.path())
                .env(FIRST, ((w as u64) << 40).to_string());
            Kid::spawn(&mut cmd)
        })
        .collect();
    let mut next = [0u64; 3];
    let mut buf = vec![T::new(0); 8192];
    let mut got = 0;
    let mut round = 0;
    while got < 3 * PER {
        let len = LENGTHS[round % LENGTHS.len()];
        round += 1;
        let n = rx.recv_many(&mut buf[..len]).unwrap();
        for m in &buf[..n] {
            let w = (m.seq() >> 40) as usize;
            assert!(w < 3, "a message of no writer: {m:?}");
            let want = T::new((w as u64) << 40 | next[w]);
            assert_eq!(*m, want, "writer {w}, message {}", next[w]);
            next[w] += 1;
        }
        got += n as u64;
    }
    for (w, kid) in writers.into_iter().enumerate() {
        kid.assert_success(&format!("writer {w}"));
    }
    drop(keep_open);
    assert!(rx.recv_many(&mut buf).unwrap_err().is_disconnected());
    assert_eq!(next, [PER; 3]);
}

/// A pipe carrying 100 good messages, an invalid one (a `bool` of 2) and 100 more, all
/// there before the first receive: `recv_many` returns the first 100, the next receive
/// `InvalidMessage`, and the 100 after it then arrive.
#[test]
fn an_invalid_message_mid_batch_on_a_pipe_is_returned_by_the_next_receive() {
    let (tx, mut rx) = pipe::channel::<Flagged>().unwrap();
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "pipe_invalid")
        .stdin(Stdio::from(tx));
    let kid = Kid::spawn(&mut cmd);
    drop(cmd);
    kid.assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 1000];
    assert_eq!(
        rx.recv_many(&mut buf).unwrap(),
        100,
        "up to the invalid one"
    );
    assert!(buf[..100].iter().copied().eq((0..100).map(Flagged::new)));
    match rx.recv_many(&mut buf) {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 100, "the rest");
    assert!(buf[..100].iter().copied().eq((101..201).map(Flagged::new)));
    assert!(rx.recv_many(&mut buf).unwrap_err().is_disconnected());
}

// ---------------------------------------------------------------------------------------
// POSIX queues: one message per system call, an error met mid-batch held for the next.

/// A queue holding 4 good messages, an invalid one and 5 more: `recv_many` returns the
/// first 4 and holds the error, which the next receive returns; then the 5 arrive.
#[test]
fn an_invalid_message_mid_batch_on_a_queue_is_returned_by_the_next_receive() {
    let name = common::MqName::new("batch");
    let mut rx = mq::Receiver::<Flagged>::create(&name.0, mq::Options::new().capacity(10)).unwrap();
    Kid::spawn(
        Command::new(env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, "mq_invalid")
            .env(AT, &name.0)
            .stdin(Stdio::null()),
    )
    .assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 16];
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 4, "up to the invalid one");
    assert!(buf[..4].iter().copied().eq((0..4).map(Flagged::new)));
    match rx.recv_many(&mut buf) {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 5, "the rest");
    assert!(buf[..5].iter().copied().eq((5..10).map(Flagged::new)));
    assert!(matches!(rx.try_recv_many(&mut buf), Err(Error::Empty)));
}

/// The error `recv_many` holds is returned by the next receive of any kind: here
/// `recv_with_priority`, the queue's own.
#[test]
fn an_error_held_by_recv_many_on_a_queue_is_returned_by_recv_with_priority() {
    let name = common::MqName::new("batch");
    let mut rx = mq::Receiver::<Flagged>::create(&name.0, mq::Options::new().capacity(10)).unwrap();
    Kid::spawn(
        Command::new(env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, "mq_invalid")
            .env(AT, &name.0)
            .stdin(Stdio::null()),
    )
    .assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 16];
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 4, "up to the invalid one");
    match rx.recv_with_priority() {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_with_priority().unwrap(), (Flagged::new(5), 0));
}
