//! Variable-size payloads on the stream transports, between real processes: slices `[E]`
//! on a pipe, a FIFO, a Unix stream socket and TCP, each received exactly as long as it
//! was sent; a slice above the maximum refused by the sender and, written raw by a hostile
//! writer, by the receiver, without allocating what it claims; slice and message ends
//! refusing each other. This test binary re-run as `child` plays the other processes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ipc::{codec, fifo, pipe, socket, tcp, Error, Message};

mod common;
use common::{ready, Proc, TempDir};

const ROLE: &str = "STREAM_SLICES_ROLE";

/// The longest slice of the delivery tests: 12,000 bytes of `u32`, so records above the
/// 4096 bytes of one atomic pipe write (sealed) are among them.
const MAX: usize = 3000;

/// The longest a test waits for a slice.
const PATIENCE: Duration = Duration::from_secs(60);

/// The global allocator of this binary, which remembers the largest single request: a
/// receiver process shows with it that a length it refused was never allocated.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to `System` unchanged; only a size is noted on the way.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: `ptr` and `layout` came from this allocator, which is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// The slice of `n` elements a writer `seed` sends: element `j` is unique to both.
fn slice(seed: u32, n: usize) -> Vec<u32> {
    (0..n as u32)
        .map(|j| (seed << 24) ^ j.wrapping_mul(0x9e37_79b9) ^ n as u32)
        .collect()
}

/// How the test reaches the other process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// An anonymous pipe, the child's descriptor 0.
    Pipe,
    /// A FIFO in a [`TempDir`], by path.
    Fifo,
    /// A Unix stream socket in a [`TempDir`], by path.
    Unix,
    /// TCP on the loopback, by address.
    Tcp,
}

impl Via {
    fn parse(s: &str) -> Via {
        match s {
            "pipe" => Via::Pipe,
            "fifo" => Via::Fifo,
            "unix" => Via::Unix,
            "tcp" => Via::Tcp,
            _ => panic!("unknown transport {s}"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Via::Pipe => "pipe",
            Via::Fifo => "fifo",
            Via::Unix => "unix",
            Via::Tcp => "tcp",
        }
    }
}

/// A sending end of slices on any transport.
enum SliceTx<E: Message> {
    Pipe(pipe::Sender<[E]>),
    Unix(socket::Stream<[E]>),
    Tcp(tcp::Stream<[E]>),
}

impl<E: Message> SliceTx<E> {
    /// In a child: the sending end the parent set up at `addr`.
    fn open(via: Via, addr: &str) -> ipc::Result<Self> {
        Ok(match via {
            Via::Pipe => SliceTx::Pipe(pipe::Sender::from_fd(fd0())),
            Via::Fifo => SliceTx::Pipe(fifo::Sender::open(addr)?),
            Via::Unix => SliceTx::Unix(socket::Stream::connect(addr)?),
            Via::Tcp => SliceTx::Tcp(tcp::Stream::connect(addr)?),
        })
    }

    fn set_max_len(&mut self, n: usize) {
        match self {
            SliceTx::Pipe(t) => t.set_max_len(n).unwrap(),
            SliceTx::Unix(s) => s.set_max_len(n),
            SliceTx::Tcp(s) => s.set_max_len(n),
        }
    }

    fn send_slice(&mut self, elements: &[E]) -> ipc::Result<()> {
        match self {
            SliceTx::Pipe(t) => t.send_slice(elements),
            SliceTx::Unix(s) => s.send_slice(elements),
            SliceTx::Tcp(s) => s.send_slice(elements),
        }
    }
}

/// A receiving end of slices on any transport.
enum SliceRx<E: Message> {
    Pipe(pipe::Receiver<[E]>),
    Unix(socket::Stream<[E]>),
    Tcp(tcp::Stream<[E]>),
}

impl<E: Message> SliceRx<E> {
    fn set_max_len(&mut self, n: usize) {
        match self {
            SliceRx::Pipe(r) => r.set_max_len(n),
            SliceRx::Unix(s) => s.set_max_len(n),
            SliceRx::Tcp(s) => s.set_max_len(n),
        }
    }

    /// The next slice, waiting at most [`PATIENCE`] (so that a child that failed makes
    /// the test fail, not hang).
    fn recv_slice(&mut self) -> ipc::Result<&[E]> {
        match self {
            SliceRx::Pipe(r) => r.recv_slice_timeout(PATIENCE),
            SliceRx::Unix(s) => s.recv_slice_timeout(PATIENCE),
            SliceRx::Tcp(s) => s.recv_slice_timeout(PATIENCE),
        }
    }
}

/// A duplicate of this process's descriptor 0 (the pipe end the parent handed over).
fn fd0() -> OwnedFd {
    std::io::stdin().as_fd().try_clone_to_owned().unwrap()
}

/// The child entry point: does nothing unless `STREAM_SLICES_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["send", via, addr, seed, max] => send_every_length(
            Via::parse(via),
            addr,
            seed.parse().unwrap(),
            max.parse().unwrap(),
        ),
        ["receive-hostile", via, addr, claimed] => {
            receive_from_hostile(Via::parse(via), addr, claimed.parse().unwrap())
        }
        ["mismatch", via, addr, kind] => mismatch(Via::parse(via), addr, kind == "slice"),
        _ => panic!("unknown role {role}"),
    }
}

/// Sends the slices of every length `0..=max` of writer `seed`, after checking that one
/// longer than `max` is refused and writes nothing.
fn send_every_length(via: Via, addr: &str, seed: u32, max: usize) {
    let mut tx = SliceTx::<u32>::open(via, addr).unwrap();
    tx.set_max_len(max);
    ready();
    let e = tx.send_slice(&slice(seed, max + 1)).unwrap_err();
    assert!(
        matches!(e, Error::LimitExceeded { limit: "max_len", value, .. } if value == max as u64),
        "{e:?}"
    );
    for n in 0..=max {
        tx.send_slice(&slice(seed, n)).unwrap();
    }
}

/// Receives from a hostile writer (see [`hostile_stream`]): the refused slice costs one
/// error and no allocation of its size, and the slices around it arrive intact.
fn receive_from_hostile(via: Via, addr: &str, claimed: usize) {
    let mut rx = match via {
        Via::Pipe => SliceRx::Pipe(pipe::Receiver::<[u32]>::stdin().unwrap()),
        Via::Fifo => SliceRx::Pipe(fifo::Receiver::open(addr).unwrap()),
        Via::Unix => SliceRx::Unix(socket::Stream::connect(addr).unwrap()),
        Via::Tcp => SliceRx::Tcp(tcp::Stream::connect(addr).unwrap()),
    };
    rx.set_max_len(MAX);
    ready();
    assert_eq!(rx.recv_slice().unwrap(), &[1, 2, 3]);
    let before = LARGEST.load(Ordering::Relaxed);
    let e = rx.recv_slice().unwrap_err();
    assert!(
        matches!(e, Error::LimitExceeded { limit: "max_len", value, .. } if value == MAX as u64),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&format!("{} elements", claimed / 4)),
        "{e}"
    );
    assert_eq!(rx.recv_slice().unwrap(), &slice(7, MAX)[..]);
    let e = rx.recv_slice().unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
    assert_eq!(rx.recv_slice().unwrap(), &[9]);
    assert!(matches!(rx.recv_slice(), Err(Error::Disconnected)));
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < claimed / 16,
        "an allocation of {largest} bytes (before the hostile record: {before}); it claimed {claimed}"
    );
}

/// Plays the other end of a mismatch test, a `[u8]` end (`slice`) or a `u8` one: sends
/// one on a one-way transport; on a socket, connects and checks that the handshake is
/// refused naming both.
fn mismatch(via: Via, addr: &str, slice: bool) {
    let (ours, theirs) = if slice {
        ("[u8]", "u8")
    } else {
        ("u8", "[u8]")
    };
    let e = match (via, slice) {
        (Via::Pipe | Via::Fifo, _) => {
            let fd = if via == Via::Pipe {
                fd0()
            } else {
                File::options().write(true).open(addr).unwrap().into()
            };
            if slice {
                pipe::Sender::<[u8]>::from_fd(fd).send_slice(&[1]).unwrap();
            } else {
                pipe::Sender::<u8>::from_fd(fd).send(1).unwrap();
            }
            return;
        }
        (Via::Unix, true) => socket::Stream::<[u8]>::connect(addr).map(drop),
        (Via::Unix, false) => socket::Stream::<u8>::connect(addr).map(drop),
        (Via::Tcp, true) => tcp::Stream::<[u8]>::connect(addr).map(drop),
        (Via::Tcp, false) => tcp::Stream::<u8>::connect(addr).map(drop),
    };
    assert_mismatch(e.unwrap_err(), ours, theirs);
}

/// What the parent sets up for a child that connects to it: where, and what keeps it.
struct Place {
    /// The child's `addr` argument.
    addr: String,
    /// The FIFO (for [`Via::Fifo`]), removed on drop even if the test fails.
    _fifo: Option<fifo::Fifo>,
    /// The directory of a FIFO or socket file, removed on drop even if the test fails.
    _dir: Option<TempDir>,
    path: Option<PathBuf>,
}

impl Place {
    fn new(via: Via, tag: &str) -> Place {
        match via {
            Via::Pipe | Via::Tcp => Place {
                addr: "-".into(),
                _fifo: None,
                _dir: None,
                path: None,
            },
            Via::Fifo | Via::Unix => {
                let dir = TempDir::new(tag);
                let path = dir.join(if via == Via::Fifo { "fifo" } else { "sock" });
                Place {
                    addr: path.to_str().unwrap().to_owned(),
                    _fifo: (via == Via::Fifo).then(|| fifo::create(&path).unwrap()),
                    _dir: Some(dir),
                    path: Some(path),
                }
            }
        }
    }

    fn path(&self) -> &PathBuf {
        self.path.as_ref().unwrap()
    }
}

/// Spawns the child playing `kind` (with arguments `rest`) on `via` at `addr`; `stdin`
/// is the pipe end it uses.
fn spawn(kind: &str, via: Via, addr: &str, rest: &str, stdin: Option<OwnedFd>) -> Proc {
    let role = format!("{kind} {} {addr} {rest}", via.name());
    Proc::spawn_with(ROLE, &role, |cmd: &mut Command| {
        if let Some(fd) = stdin {
            cmd.stdin(Stdio::from(fd));
        }
    })
}

/// Every length `0..=MAX` arrives exactly and in order from a sender process, which first
/// saw a slice above the maximum refused (nothing of it arrives).
fn every_length_arrives_exactly(via: Via) {
    let place = Place::new(via, "sl-every");
    let (mut rx, kid) = match via {
        Via::Pipe => {
            let (tx, rx) = pipe::channel::<[u32]>().unwrap();
            let kid = spawn("send", via, "-", &format!("1 {MAX}"), Some(tx.into()));
            (SliceRx::Pipe(rx), kid)
        }
        Via::Fifo => {
            let rx = fifo::Receiver::<[u32]>::open(place.path()).unwrap();
            let kid = spawn("send", via, &place.addr, &format!("1 {MAX}"), None);
            (SliceRx::Pipe(rx), kid)
        }
        Via::Unix => {
            let l = socket::Listener::<[u32]>::bind(place.path()).unwrap();
            let kid = spawn("send", via, &place.addr, &format!("1 {MAX}"), None);
            (SliceRx::Unix(l.accept().unwrap()), kid)
        }
        Via::Tcp => {
            let l = tcp::Listener::<[u32]>::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let kid = spawn("send", via, &addr, &format!("1 {MAX}"), None);
            (SliceRx::Tcp(l.accept().unwrap()), kid)
        }
    };
    rx.set_max_len(MAX);
    for n in 0..=MAX {
        let got = rx.recv_slice().unwrap_or_else(|e| panic!("slice {n}: {e}"));
        assert_eq!(got, &slice(1, n)[..], "slice {n}");
    }
    assert!(matches!(rx.recv_slice(), Err(Error::Disconnected)));
    kid.assert_success();
}

#[test]
fn every_length_arrives_exactly_on_a_pipe() {
    every_length_arrives_exactly(Via::Pipe);
}

#[test]
fn every_length_arrives_exactly_on_a_fifo() {
    every_length_arrives_exactly(Via::Fifo);
}

#[test]
fn every_length_arrives_exactly_on_a_unix_stream() {
    every_length_arrives_exactly(Via::Unix);
}

#[test]
fn every_length_arrives_exactly_on_tcp() {
    every_length_arrives_exactly(Via::Tcp);
}

/// The bytes a hostile writer sends, but for the payload of its refused record (`claimed`
/// bytes, which [`write_hostile`] streams): its handshake, a good slice, then the header
/// and opening seal of a slice of `claimed` bytes; and after that payload, the closing
/// seal, a slice of the maximum length, a record that is not a whole number of `u32`s,
/// and a last slice.
fn hostile_stream(claimed: usize) -> (Vec<u8>, Vec<u8>) {
    let tag = codec::payload_tag::<[u32]>().to_le_bytes();
    let mut head = codec::hello::<[u32]>();
    codec::write_slice(&mut head, &[1u32, 2, 3]).unwrap();
    head.extend_from_slice(&tag);
    head.extend_from_slice(&u32::try_from(claimed).unwrap().to_le_bytes());
    head.extend_from_slice(&[0x5a; codec::SEAL_LEN]);
    let mut tail = vec![0x5a; codec::SEAL_LEN];
    codec::write_slice(&mut tail, &slice(7, MAX)).unwrap();
    tail.extend_from_slice(&tag);
    tail.extend_from_slice(&6u32.to_le_bytes());
    tail.extend_from_slice(&[0xee; 6]);
    codec::write_slice(&mut tail, &[9u32]).unwrap();
    (head, tail)
}

/// Writes the hostile stream to `w` with plain `write(2)`s.
fn write_hostile(mut w: impl Write, claimed: usize) {
    let (head, tail) = hostile_stream(claimed);
    w.write_all(&head).unwrap();
    let junk = vec![0xa5u8; 1 << 20];
    let mut left = claimed;
    while left > 0 {
        let n = left.min(junk.len());
        w.write_all(&junk[..n]).unwrap();
        left -= n;
    }
    w.write_all(&tail).unwrap();
}

/// A raw writer claims a slice of 256 MiB (the receiver takes 3000 `u32`s) and streams
/// that many bytes: the receiving process reports it once, allocates nothing of its size,
/// and gets every slice around it intact.
fn a_hostile_length_is_refused_on_receive(via: Via) {
    let claimed = 256 << 20;
    let place = Place::new(via, "sl-hostile");
    let (kind, rest) = ("receive-hostile", claimed.to_string());
    match via {
        Via::Pipe => {
            let (tx, rx) = pipe::channel::<[u32]>().unwrap();
            let mut kid = spawn(kind, via, "-", &rest, Some(rx.into()));
            kid.wait_ready();
            write_hostile(File::from(OwnedFd::from(tx)), claimed);
            kid.assert_success();
        }
        Via::Fifo => {
            let mut kid = spawn(kind, via, &place.addr, &rest, None);
            kid.wait_ready();
            let w = File::options().write(true).open(place.path()).unwrap();
            write_hostile(w, claimed);
            kid.assert_success();
        }
        Via::Unix => {
            let l = UnixListener::bind(place.path()).unwrap();
            let kid = spawn(kind, via, &place.addr, &rest, None);
            let (mut s, _) = l.accept().unwrap();
            // Read the child's handshake, so that closing leaves nothing unread. (The
            // child is ready once it has ours, the start of the hostile stream.)
            let mut theirs = vec![0; codec::hello::<[u32]>().len()];
            s.read_exact(&mut theirs).unwrap();
            write_hostile(&s, claimed);
            s.shutdown(std::net::Shutdown::Write).unwrap();
            kid.assert_success();
        }
        Via::Tcp => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let kid = spawn(kind, via, &addr, &rest, None);
            let (mut s, _) = l.accept().unwrap();
            let mut theirs = vec![0; codec::hello::<[u32]>().len()];
            s.read_exact(&mut theirs).unwrap();
            write_hostile(&s, claimed);
            s.shutdown(std::net::Shutdown::Write).unwrap();
            kid.assert_success();
        }
    }
}

#[test]
fn a_hostile_length_is_refused_on_receive_on_a_pipe() {
    a_hostile_length_is_refused_on_receive(Via::Pipe);
}

#[test]
fn a_hostile_length_is_refused_on_receive_on_a_fifo() {
    a_hostile_length_is_refused_on_receive(Via::Fifo);
}

#[test]
fn a_hostile_length_is_refused_on_receive_on_a_unix_stream() {
    a_hostile_length_is_refused_on_receive(Via::Unix);
}

#[test]
fn a_hostile_length_is_refused_on_receive_on_tcp() {
    a_hostile_length_is_refused_on_receive(Via::Tcp);
}

/// Checks that `e` is a mismatch between this side's `expected` and the peer's `found`.
fn assert_mismatch(e: Error, expected: &str, found: &str) {
    match &e {
        Error::SchemaMismatch {
            expected: x,
            found: f,
            ..
        } => {
            assert_eq!((x.name.as_str(), f.name.as_str()), (expected, found), "{e}");
        }
        e => panic!("{e:?}, want a schema mismatch"),
    }
}

/// A `[u8]` end and a `u8` end refuse each other with `SchemaMismatch` naming both, each
/// way round: on a socket both sides at connect, on a pipe or FIFO the receiver at the
/// writer's handshake.
fn slice_and_message_ends_refuse_each_other(via: Via) {
    for (ours, theirs) in [("[u8]", "u8"), ("u8", "[u8]")] {
        let place = Place::new(via, "sl-mismatch");
        let kind = if theirs == "u8" { "u8" } else { "slice" };
        let (e, kid) = match via {
            Via::Pipe => {
                let (tx, rx) = pipe::channel::<u8>().unwrap();
                let kid = spawn("mismatch", via, "-", kind, Some(tx.into()));
                let e = if ours == "u8" {
                    pipe::Receiver::<u8>::from_fd(rx.into()).recv().map(drop)
                } else {
                    pipe::Receiver::<[u8]>::from_fd(rx.into())
                        .recv_slice()
                        .map(drop)
                };
                (e.unwrap_err(), kid)
            }
            Via::Fifo => {
                let (mut r8, mut rs);
                let kid;
                let e = if ours == "u8" {
                    r8 = fifo::Receiver::<u8>::open(place.path()).unwrap();
                    kid = spawn("mismatch", via, &place.addr, kind, None);
                    r8.recv_timeout(PATIENCE).map(drop)
                } else {
                    rs = fifo::Receiver::<[u8]>::open(place.path()).unwrap();
                    kid = spawn("mismatch", via, &place.addr, kind, None);
                    rs.recv_slice_timeout(PATIENCE).map(drop)
                };
                (e.unwrap_err(), kid)
            }
            Via::Unix => {
                let p = place.path();
                let (l8, ls);
                let kid;
                let e = if ours == "u8" {
                    l8 = socket::Listener::<u8>::bind(p).unwrap();
                    kid = spawn("mismatch", via, &place.addr, kind, None);
                    l8.accept().map(drop)
                } else {
                    ls = socket::Listener::<[u8]>::bind(p).unwrap();
                    kid = spawn("mismatch", via, &place.addr, kind, None);
                    ls.accept().map(drop)
                };
                (e.unwrap_err(), kid)
            }
            Via::Tcp => {
                let (l8, ls);
                let kid;
                let e = if ours == "u8" {
                    l8 = tcp::Listener::<u8>::bind("127.0.0.1:0").unwrap();
                    let addr = l8.local_addr().unwrap().to_string();
                    kid = spawn("mismatch", via, &addr, kind, None);
                    l8.accept().map(drop)
                } else {
                    ls = tcp::Listener::<[u8]>::bind("127.0.0.1:0").unwrap();
                    let addr = ls.local_addr().unwrap().to_string();
                    kid = spawn("mismatch", via, &addr, kind, None);
                    ls.accept().map(drop)
                };
                (e.unwrap_err(), kid)
            }
        };
        assert_mismatch(e, ours, theirs);
        kid.assert_success();
    }
}

#[test]
fn slice_and_message_ends_refuse_each_other_on_a_pipe() {
    slice_and_message_ends_refuse_each_other(Via::Pipe);
}

#[test]
fn slice_and_message_ends_refuse_each_other_on_a_fifo() {
    slice_and_message_ends_refuse_each_other(Via::Fifo);
}

#[test]
fn slice_and_message_ends_refuse_each_other_on_a_unix_stream() {
    slice_and_message_ends_refuse_each_other(Via::Unix);
}

#[test]
fn slice_and_message_ends_refuse_each_other_on_tcp() {
    slice_and_message_ends_refuse_each_other(Via::Tcp);
}

/// Senders of slices of the default maximum (one atomic record each) share a FIFO: every
/// slice of each arrives whole, in that sender's order.
#[test]
fn senders_of_default_slices_share_a_fifo() {
    let place = Place::new(Via::Fifo, "sl-shared");
    let mut rx = fifo::Receiver::<[u32]>::open(place.path()).unwrap();
    let max = ipc::codec::default_max_len::<u32>();
    let kids: Vec<Proc> = (1..=3)
        .map(|seed| {
            spawn(
                "send",
                Via::Fifo,
                &place.addr,
                &format!("{seed} {max}"),
                None,
            )
        })
        .collect();
    // The writer is in the top byte of every element; the empty slices, one from each,
    // are anyone's, and only counted.
    let (mut next, mut empty) = ([1usize; 3], 0);
    while next.iter().any(|&n| n <= max) || empty < 3 {
        let got = rx.recv_slice().unwrap();
        let Some(first) = got.first() else {
            empty += 1;
            continue;
        };
        let seed = first >> 24;
        let w = seed as usize - 1;
        assert_eq!(got, &slice(seed, next[w])[..], "writer {seed}");
        next[w] += 1;
    }
    assert!(matches!(rx.recv_slice(), Err(Error::Disconnected)));
    for k in kids {
        k.assert_success();
    }
}
