//! Streams shared with strangers and with writers that die: what a reader gets when a
//! writer of another schema, a writer killed mid-message, or a peer that dies with a
//! message half sent shares its stream with good writers. Every writer is a real process
//! (this test binary re-run with `IPC_PEER_ROLE` naming its part).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipc::{codec, fifo, socket, Error};

const ROLE: &str = "IPC_PEER_ROLE";
const PATH: &str = "IPC_PEER_PATH";

/// 256 KiB: a record much longer than `PIPE_BUF`, so a writer can die midway through one.
type Big = [u8; 256 << 10];
/// The type of a stranger on the stream.
type Other = [u32; 3];
/// A page-sized message: it goes bare, one pipe page.
type Page = [u8; 4096];

mod common;

/// A fresh path under the temp dir, named by `common::unique`, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> TempPath {
        TempPath(std::env::temp_dir().join(common::unique(tag)))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// This binary re-run as a child playing `role` on `path`; its stdin and stdout are
/// pipes to this process, its stderr captured; killed and reaped on drop.
struct Peer(common::Kid);

impl Peer {
    fn spawn(test: &str, role: &str, path: &Path) -> Peer {
        Peer(common::Kid::spawn_keeping_stdout(
            Command::new(std::env::current_exe().unwrap())
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(ROLE, role)
                .env(PATH, path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        ))
    }

    /// Waits for the child to print `line`.
    fn wait_for(&mut self, line: &str) {
        let mut out = BufReader::new(self.0.stdout.as_mut().unwrap());
        let mut got = String::new();
        loop {
            got.clear();
            assert!(
                out.read_line(&mut got).unwrap() > 0,
                "child exited before {line:?}"
            );
            if got.trim_end().ends_with(line) {
                return;
            }
        }
    }

    /// Tells the child to go on (a line on its stdin).
    fn go(&mut self) {
        writeln!(self.0.stdin.as_mut().unwrap(), "go").unwrap();
    }

    fn assert_success(self) {
        self.0.assert_success("child");
    }

    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// Waits until process `pid` has a descriptor of `path` open (it shows in
/// `/proc/PID/fd`); panics after 10 s.
fn wait_until_open_by(pid: u32, path: &Path) {
    for _ in 0..10_000 {
        let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == path));
        if open {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("process {pid} did not open {} in 10 s", path.display());
}

/// In a child: waits for the parent's `go`.
fn wait_for_go() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim_end(), "go", "the parent went away");
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().unwrap();
}

fn big(fill: u8) -> Box<Big> {
    vec![fill; size_of::<Big>()]
        .into_boxed_slice()
        .try_into()
        .unwrap()
}

/// In a child: plays the role named in the environment and exits; in the parent: returns.
fn play_role_if_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = PathBuf::from(std::env::var_os(PATH).unwrap());
    match role.as_str() {
        "good_writer" => {
            let mut tx = fifo::Sender::<u64>::open(&path).unwrap();
            for i in 1..=100 {
                tx.send(i).unwrap();
            }
            say("sent");
            wait_for_go();
            for i in 101..=200 {
                tx.send(i).unwrap();
            }
        }
        "stranger" => {
            let mut tx = fifo::Sender::<Other>::open(&path).unwrap();
            for i in 0..5 {
                tx.send([0x6500_0000 + i; 3]).unwrap();
            }
        }
        "page_writer" => {
            // Page-sized messages, which go bare: it holds the FIFO alone (a lock).
            let mut tx = fifo::Sender::<Page>::open(&path).unwrap();
            for i in 1..=3 {
                tx.send([i; 4096]).unwrap();
            }
            say("sent");
            wait_for_go();
            for i in 4..=6 {
                tx.send([i; 4096]).unwrap();
            }
        }
        "raw_stranger" => {
            // A raw writer that ignores the lock: a handshake of another type, a record.
            let mut wire = codec::hello::<Other>();
            codec::write_message(&mut wire, &[7u32; 3]).unwrap();
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all(&wire).unwrap();
        }
        "big_writer_to_die" => {
            let mut tx = fifo::Sender::<Big>::open(&path).unwrap();
            let msg = big(1);
            say("open");
            // Blocks once the FIFO is full, part of the way into the record.
            tx.send_ref(&msg).unwrap();
            tx.send_ref(&msg).unwrap();
            unreachable!("the reader reads nothing before this writer is killed");
        }
        "big_successor" => {
            let mut tx = fifo::Sender::<Big>::open(&path).unwrap();
            for fill in [3, 4, 5] {
                tx.send_ref(&big(fill)).unwrap();
            }
        }
        "raw_unix_writer" => {
            // A raw peer of a typed Unix stream: its own handshake and 5 messages, a
            // handshake of another schema, then 10 more messages of the right one.
            let mut s = UnixStream::connect(&path).unwrap();
            read_hello(&mut s);
            let mut wire = codec::hello::<u64>();
            (1..=5u64).for_each(|i| codec::write_message(&mut wire, &i).unwrap());
            wire.extend_from_slice(&codec::hello::<Other>());
            (6..=15u64).for_each(|i| codec::write_message(&mut wire, &i).unwrap());
            s.write_all(&wire).unwrap();
            wait_for_go();
        }
        "raw_unix_dies_mid_message" => {
            // Sends one message and half of the next, and exits without reading what the
            // listener sent: the kernel resets the connection.
            let mut s = UnixStream::connect(&path).unwrap();
            let mut wire = codec::hello::<[u64; 4]>();
            codec::write_message(&mut wire, &[1u64; 4]).unwrap();
            let mut next = Vec::new();
            codec::write_message(&mut next, &[2u64; 4]).unwrap();
            wire.extend_from_slice(&next[..next.len() / 2]);
            s.write_all(&wire).unwrap();
            // Wait until the listener's handshake has arrived (and lies unread).
            let mut byte = [0u8; 1];
            nix::sys::socket::recv(
                std::os::fd::AsRawFd::as_raw_fd(&s),
                &mut byte,
                nix::sys::socket::MsgFlags::MSG_PEEK,
            )
            .unwrap();
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0);
}

/// Reads the listener's handshake off a raw connection.
fn read_hello(s: &mut UnixStream) {
    let mut header = [0u8; codec::HEADER_LEN];
    s.read_exact(&mut header).unwrap();
    let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
    let mut rest = vec![0; len];
    s.read_exact(&mut rest).unwrap();
}

#[test]
fn a_strangers_handshake_on_a_fifo_costs_one_error_and_no_good_message() {
    play_role_if_child();
    let path = TempPath::new("stranger");
    let _fifo = fifo::create(&path.0).unwrap();
    let mut rx = fifo::Receiver::<u64>::open(&path.0).unwrap();
    let test = "a_strangers_handshake_on_a_fifo_costs_one_error_and_no_good_message";
    let mut good = Peer::spawn(test, "good_writer", &path.0);
    good.wait_for("sent");
    for want in 1..=100 {
        assert_eq!(rx.recv().unwrap(), want);
    }
    // A writer of another type comes and goes while the good writer is quiet.
    Peer::spawn(test, "stranger", &path.0).assert_success();
    good.go();
    let err = rx.recv().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    for want in 101..=200 {
        assert_eq!(rx.recv().unwrap(), want);
    }
    good.assert_success();
    assert!(rx.recv().unwrap_err().is_disconnected());
}

/// A raw writer that ignores the lock of a FIFO sender of page-sized messages writes a
/// handshake of another (short) type and a record between that sender's pages: one
/// `SchemaMismatch`, and the pages after it still arrive (bare pages are still the
/// page-sized writer's: the stranger's records are all tagged).
#[test]
fn a_raw_strangers_handshake_between_bare_pages_costs_one_error_and_no_page() {
    play_role_if_child();
    let path = TempPath::new("pages");
    let _fifo = fifo::create(&path.0).unwrap();
    let mut rx = fifo::Receiver::<Page>::open(&path.0).unwrap();
    let test = "a_raw_strangers_handshake_between_bare_pages_costs_one_error_and_no_page";
    let mut good = Peer::spawn(test, "page_writer", &path.0);
    good.wait_for("sent");
    for want in 1..=3 {
        assert_eq!(rx.recv().unwrap()[0], want);
    }
    Peer::spawn(test, "raw_stranger", &path.0).assert_success();
    good.go();
    let err = rx.recv().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    for want in 4..=6 {
        assert_eq!(rx.recv().unwrap()[0], want);
    }
    good.assert_success();
    assert!(rx.recv().unwrap_err().is_disconnected());
}

#[test]
fn a_fifo_writer_killed_mid_message_is_one_corrupt_and_its_successor_arrives_intact() {
    play_role_if_child();
    let path = TempPath::new("torn");
    let _fifo = fifo::create(&path.0).unwrap();
    let mut rx = fifo::Receiver::<Big>::open(&path.0).unwrap();
    let test = "a_fifo_writer_killed_mid_message_is_one_corrupt_and_its_successor_arrives_intact";
    let mut dying = Peer::spawn(test, "big_writer_to_die", &path.0);
    dying.wait_for("open");
    // Wait until the FIFO is full: the writer is blocked inside its record.
    while queued(&rx) < 60 << 10 {
        std::thread::sleep(Duration::from_millis(5));
    }
    dying.kill();
    // The successor holds the FIFO open before the reader meets the torn record, so
    // that the end of the dying writer's bytes is not the end of the stream (its open
    // writes its handshake, which waits for room: it cannot say so itself).
    let successor = Peer::spawn(test, "big_successor", &path.0);
    wait_until_open_by(successor.0.id(), &path.0);
    let mut msg = big(0);
    let err = rx.recv_into(&mut msg).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    for fill in [3, 4, 5] {
        rx.recv_into(&mut msg).unwrap();
        assert!(
            msg.iter().all(|&b| b == fill),
            "message {fill} arrived garbled"
        );
    }
    successor.assert_success();
    assert!(rx.recv_into(&mut msg).unwrap_err().is_disconnected());
}

/// Bytes waiting in the FIFO `rx` reads.
fn queued(rx: &impl std::os::fd::AsFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int to `n`; the descriptor is open for the call.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&rx.as_fd()),
            libc::FIONREAD,
            &mut n,
        )
    };
    assert_eq!(rc, 0);
    n as usize
}

#[test]
fn a_unix_stream_reads_on_after_a_refused_handshake_midstream() {
    play_role_if_child();
    let path = TempPath::new("unix");
    let listener = socket::Listener::<u64>::bind(&path.0).unwrap();
    let mut peer = Peer::spawn(
        "a_unix_stream_reads_on_after_a_refused_handshake_midstream",
        "raw_unix_writer",
        &path.0,
    );
    let mut s = listener.accept().unwrap();
    for want in 1..=5 {
        assert_eq!(s.recv().unwrap(), want);
    }
    let err = s.recv().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    for want in 6..=15 {
        assert_eq!(s.recv().unwrap(), want);
    }
    peer.go();
    peer.assert_success();
    assert!(s.recv().unwrap_err().is_disconnected());
}

#[test]
fn a_unix_peer_that_dies_mid_message_is_corrupt_not_a_clean_close() {
    play_role_if_child();
    let path = TempPath::new("reset");
    let listener = socket::Listener::<[u64; 4]>::bind(&path.0).unwrap();
    let peer = Peer::spawn(
        "a_unix_peer_that_dies_mid_message_is_corrupt_not_a_clean_close",
        "raw_unix_dies_mid_message",
        &path.0,
    );
    let mut s = listener.accept().unwrap();
    peer.assert_success();
    assert_eq!(s.recv().unwrap(), [1; 4]);
    let err = s.recv().unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(s.recv().unwrap_err().is_disconnected());
}
