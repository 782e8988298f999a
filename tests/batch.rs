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

/// Lengths of the slices `recv_many` is given, in turn.
const LENGTHS: [usize; 9] = [1, 3, 64, 4096, 7, 8192, 500, 2, 1000];

// ---------------------------------------------------------------------------------------
// The children (their roles: `batch/children.rs`) and the tests (`batch/every_stream.rs`,
// `batch/pipes_and_queues.rs`).

#[path = "batch/children.rs"]
mod children;
#[path = "batch/every_stream.rs"]
mod every_stream;
#[path = "batch/pipes_and_queues.rs"]
mod pipes_and_queues;

/// The entry point of the children; does nothing in a normal test run.
#[test]
fn child() {
    let Ok(role) = env::var(ROLE) else {
        return;
    };
    match role.as_str() {
        "pipe_invalid" => return children::send_an_invalid_message_on_a_pipe(),
        "mq_invalid" => return children::send_an_invalid_message_on_a_queue(),
        _ => {}
    }
    match env::var(TYPE).expect(TYPE).as_str() {
        Seq::NAME => children::play::<Seq>(&role),
        Seq32::NAME => children::play::<Seq32>(&role),
        Wide::NAME => children::play::<Wide>(&role),
        Page::NAME => children::play::<Page>(&role),
        Long::NAME => children::play::<Long>(&role),
        other => panic!("unknown type {other}"),
    }
}
