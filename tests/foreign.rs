//! Foreign peers for real: a C program (`tests/c/peer.c`), compiled with the system `cc`
//! against a header generated from the Rust type (`ipc::schema::c_header`), moves
//! messages with the raw calls alone (`mq_send`/`mq_receive`, `msgsnd`/`msgrcv`,
//! `write`/`read` on a FIFO and on a pipe inherited as stdin or stdout) to and from ends
//! of this crate in foreign-peer mode: `IPC_FOREIGN_N` messages each way (2,000 unless
//! told otherwise), all intact and in order. A C writer's invalid enum value and short
//! record get the Rust side a typed error, and the next record still arrives; a receiver
//! not in foreign mode says that the writer is foreign. Skipped, saying so, where no `cc`
//! exists. The program is built in a temporary directory that is removed.
//!
//! And a Python sender (`tests/python/sender.py`: `struct.pack` and the PyPI packages
//! `posix_ipc` and `sysv_ipc`) reaches foreign-mode receivers of both queue kinds 1000 of
//! 1000; skipped, saying so, where `python3 -c 'import posix_ipc, sysv_ipc'` fails.
//!
//! `IPC_FOREIGN_N=100000 cargo test --test foreign` for the full run.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipc::schema::{c_header, SchemaTree};
use ipc::{fifo, mq, pipe, sysv, Error, Rx, Tx};

mod common;
use common::{sysv_key, Kid, MqName, TempDir};

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Kind {
    Temp = 1,
    Humidity = 2,
}

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Reading {
    seq: u32,
    kind: Kind,
    _pad: [u8; 3],
    value: f32,
}

/// Reading `i`, as the C peer makes it (`make` in peer.c).
fn reading(i: u32) -> Reading {
    Reading {
        seq: i,
        kind: if i % 2 == 1 {
            Kind::Humidity
        } else {
            Kind::Temp
        },
        _pad: [0; 3],
        value: i as f32 * 0.5,
    }
}

/// Messages each way: `IPC_FOREIGN_N`, or 2,000.
fn n() -> u32 {
    std::env::var("IPC_FOREIGN_N").map_or(2000, |v| {
        v.parse().expect("IPC_FOREIGN_N: a number of messages")
    })
}

/// The C peer, built in a directory of its own (removed on drop).
struct Peer {
    dir: TempDir,
    bin: PathBuf,
}

impl Peer {
    /// Writes the header for `Reading`, compiles `tests/c/peer.c` against it; `None`
    /// (saying so) where there is no C compiler.
    fn build(tag: &str) -> Option<Peer> {
        let cc = Command::new("cc")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !cc {
            eprintln!("skipped: no C compiler (`cc`) on this machine");
            return None;
        }
        let dir = TempDir::new(tag);
        let tree = SchemaTree::of::<Reading>().unwrap();
        std::fs::write(dir.join("reading.h"), c_header("reading.h", &[&tree])).unwrap();
        let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/peer.c");
        let bin = dir.join("peer");
        let out = Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I"])
            .arg(dir.path())
            .arg(source)
            .arg("-o")
            .arg(&bin)
            .arg("-lrt")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "peer.c does not compile:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(Peer { dir, bin })
    }

    fn command(&self, mode: &str, place: &str, n: u32) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args([mode, place, &n.to_string()]);
        cmd
    }

    /// Runs the peer in the background.
    fn spawn(&self, mode: &str, place: &str, n: u32) -> Kid {
        Kid::spawn(&mut self.command(mode, place, n))
    }
}

/// Receives `n` readings and checks each.
fn receive_all(rx: &mut impl Rx<Reading>, n: u32) {
    for i in 0..n {
        assert_eq!(rx.recv().unwrap(), reading(i), "message {i}");
    }
}

fn send_all(tx: &mut impl Tx<Reading>, n: u32) {
    for i in 0..n {
        tx.send(reading(i)).unwrap();
    }
}

fn assert_invalid(r: ipc::Result<Reading>) {
    match r {
        Err(Error::InvalidMessage(_)) => {}
        other => panic!("expected InvalidMessage, got {other:?}"),
    }
}

/// Opens the POSIX queue `name` that the C peer creates, once it is there.
fn open_when_there(name: &str, peer: &mut Kid) -> mq::Receiver<Reading> {
    loop {
        match mq::Receiver::<Reading>::open_with(name, mq::Options::new().foreign()) {
            Ok(rx) => return rx,
            Err(Error::NotFound { .. }) => {
                if let Some(status) = peer.try_wait().unwrap() {
                    panic!("the C peer ended ({status}) before creating {name}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("open {name}: {e}"),
        }
    }
}

#[test]
fn posix_queue() {
    let Some(peer) = Peer::build("foreign-mq") else {
        return;
    };
    let n = n();
    // C → Rust: the C program creates the queue, with no schema header.
    let name = MqName::new("foreign-c2r");
    let mut c = peer.spawn("mq-send", &name.0, n);
    let mut rx = open_when_there(&name.0, &mut c);
    receive_all(&mut rx, n);
    c.assert_success("C mq-send");
    drop(rx);
    // Rust → C: created here in foreign mode, opened there with mq_open.
    let name = MqName::new("foreign-r2c");
    let mut tx = mq::Sender::<Reading>::create(&name.0, mq::Options::new().foreign()).unwrap();
    let c = peer.spawn("mq-recv", &name.0, n);
    send_all(&mut tx, n);
    c.assert_success("C mq-recv");
}

#[test]
fn posix_queue_bad_records() {
    let Some(peer) = Peer::build("foreign-mq-bad") else {
        return;
    };
    let name = MqName::new("foreign-bad");
    let mut c = peer.spawn("mq-bad", &name.0, 0);
    let mut rx = open_when_there(&name.0, &mut c);
    c.assert_success("C mq-bad");
    assert_eq!(rx.recv().unwrap(), reading(0));
    assert_invalid(rx.recv()); // kind 7
    assert_invalid(rx.recv()); // 5 bytes
    assert_eq!(rx.recv().unwrap(), reading(2));
    // Not in foreign mode, the queue is refused: it has no schema header.
    let e = mq::Receiver::<Reading>::open(&name.0).unwrap_err();
    assert!(e.to_string().contains("foreign"), "{e}");
}

#[test]
fn system_v_queue() {
    let Some(peer) = Peer::build("foreign-sysv") else {
        return;
    };
    let n = n();
    let key = sysv_key();
    let opts = sysv::Options::new().foreign();
    let mut rx = sysv::Receiver::<Reading>::create(sysv::Key::Value(key), opts).unwrap();
    let mut tx = sysv::Sender::<Reading>::from_id_with(rx.id(), opts).unwrap();
    let removed = Removed(rx.id());
    // C → Rust, then Rust → C, on the one queue.
    let c = peer.spawn("sysv-send", &key.to_string(), n);
    receive_all(&mut rx, n);
    c.assert_success("C sysv-send");
    let c = peer.spawn("sysv-recv", &key.to_string(), n);
    send_all(&mut tx, n);
    c.assert_success("C sysv-recv");
    // Bad records: the bad ones are typed errors, the next arrives.
    peer.spawn("sysv-bad", &key.to_string(), 0)
        .assert_success("C sysv-bad");
    assert_eq!(rx.recv().unwrap(), reading(0));
    assert_invalid(rx.recv());
    assert_invalid(rx.recv());
    assert_eq!(rx.recv().unwrap(), reading(2));
    drop(removed);
}

#[test]
fn system_v_queue_not_in_foreign_mode_names_the_foreign_writer() {
    let Some(peer) = Peer::build("foreign-sysv-typed") else {
        return;
    };
    let key = sysv_key();
    let mut rx =
        sysv::Receiver::<Reading>::create(sysv::Key::Value(key), sysv::Options::new()).unwrap();
    let _removed = Removed(rx.id());
    peer.spawn("sysv-send", &key.to_string(), 1)
        .assert_success("C sysv-send");
    let e = rx.recv().unwrap_err();
    let text = e.to_string();
    assert!(text.contains("not an `ipc` message"), "{text}");
    assert!(text.contains("Options::foreign"), "{text}");
}

/// Removes a System V queue on drop, also when the test fails.
struct Removed(i32);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = sysv::remove(self.0);
    }
}

#[test]
fn fifo() {
    let Some(peer) = Peer::build("foreign-fifo") else {
        return;
    };
    let n = n();
    let guard = fifo::create(peer.dir.join("readings")).unwrap();
    let path = guard.path().to_str().unwrap().to_owned();
    let foreign = fifo::Options::new().foreign();
    // C → Rust.
    let mut rx = fifo::Receiver::<Reading>::open_with(&path, &foreign).unwrap();
    let c = peer.spawn("fd-send", &path, n);
    receive_all(&mut rx, n);
    assert!(rx.recv().unwrap_err().is_disconnected());
    c.assert_success("C fd-send");
    drop(rx);
    // Rust → C: the open waits for the C reader.
    let c = peer.spawn("fd-recv", &path, n);
    let mut tx = fifo::Sender::<Reading>::open_with(&path, &foreign).unwrap();
    send_all(&mut tx, n);
    drop(tx);
    c.assert_success("C fd-recv");
}

#[test]
fn fifo_bad_records_and_a_receiver_not_in_foreign_mode() {
    let Some(peer) = Peer::build("foreign-fifo-bad") else {
        return;
    };
    let guard = fifo::create(peer.dir.join("readings")).unwrap();
    let path = guard.path().to_str().unwrap().to_owned();
    let mut rx =
        fifo::Receiver::<Reading>::open_with(&path, &fifo::Options::new().foreign()).unwrap();
    let c = peer.spawn("fd-bad", &path, 0);
    assert_eq!(rx.recv().unwrap(), reading(0));
    assert_invalid(rx.recv()); // kind 7
    assert_eq!(rx.recv().unwrap(), reading(2));
    assert_invalid(rx.recv()); // 5 bytes, then the end
    assert!(rx.recv().unwrap_err().is_disconnected());
    c.assert_success("C fd-bad");
    drop(rx);
    // A receiver of this crate's wire format says what the writer must be.
    let mut typed = fifo::Receiver::<Reading>::open(&path).unwrap();
    let c = peer.spawn("fd-send", &path, 3);
    let text = typed.recv().unwrap_err().to_string();
    assert!(text.contains("not an `ipc` stream"), "{text}");
    assert!(text.contains("foreign"), "{text}");
    c.assert_success("C fd-send");
}

#[test]
fn pipe_as_stdin_and_stdout() {
    let Some(peer) = Peer::build("foreign-pipe") else {
        return;
    };
    let n = n();
    // C → Rust: the C program writes its stdout, which is a pipe to this process.
    let mut cmd = peer.command("fd-send", "-", n);
    cmd.stdout(Stdio::piped());
    let mut c = Kid::spawn_keeping_stdout(&mut cmd);
    let out: OwnedFd = c.stdout.take().unwrap().into();
    let mut rx = pipe::Receiver::<Reading>::from_fd(out).foreign();
    receive_all(&mut rx, n);
    assert!(rx.recv().unwrap_err().is_disconnected());
    c.assert_success("C fd-send -");
    // Rust → C: the read end of a pipe becomes the C program's stdin.
    let (tx, rx) = pipe::channel::<Reading>().unwrap();
    let mut tx = tx.foreign();
    let mut cmd = peer.command("fd-recv", "-", n);
    cmd.stdin(Stdio::from(rx));
    let c = Kid::spawn(&mut cmd);
    drop(cmd); // this process's copy of the read end
    send_all(&mut tx, n);
    drop(tx);
    c.assert_success("C fd-recv -");
}

/// Whether `python3` can import `posix_ipc` and `sysv_ipc` (`pip install posix_ipc
/// sysv_ipc`); says so where it cannot.
fn python() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import posix_ipc, sysv_ipc"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "skipped: `python3 -c 'import posix_ipc, sysv_ipc'` fails \
             (pip install posix_ipc sysv_ipc to run this test)"
        );
    }
    ok
}

/// A Python sender using only `struct.pack` and the `posix_ipc`/`sysv_ipc` packages
/// reaches foreign-mode receivers of both queue kinds, 1000 of 1000.
#[test]
fn python_sender_reaches_both_queue_kinds() {
    if !python() {
        return;
    }
    const COUNT: u32 = 1000;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/sender.py");
    let name = MqName::new("foreign-py");
    let mut rx = mq::Receiver::<Reading>::create(&name.0, mq::Options::new().foreign()).unwrap();
    let py = Kid::spawn(Command::new("python3").args([script, "mq", &name.0, "1000"]));
    receive_all(&mut rx, COUNT);
    py.assert_success("python mq sender");

    let key = sysv_key();
    let opts = sysv::Options::new().foreign();
    let mut rx = sysv::Receiver::<Reading>::create(sysv::Key::Value(key), opts).unwrap();
    let _removed = Removed(rx.id());
    let py = Kid::spawn(Command::new("python3").args([script, "sysv", &key.to_string(), "1000"]));
    receive_all(&mut rx, COUNT);
    py.assert_success("python sysv sender");
}
