//! Foreign peers for real: a C program (`tests/c/peer.c`), compiled with the system `cc`
//! against a header generated from the Rust type (`ipc::schema::c_header`), moves
//! messages with the raw calls alone (`mq_send`/`mq_receive`, `msgsnd`/`msgrcv`,
//! `write`/`read` on a FIFO and on a pipe inherited as stdin or stdout, `send`/`recv` on a
//! Unix stream socket, as client and as listener, and on TCP) to and from ends
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
use ipc::{fifo, mq, pipe, socket, sysv, tcp, Error, Rx, Tx};

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

/// What `open` makes once the C peer has made the object it needs (`what`): retried
/// while it is not found, as long as the peer runs.
fn when_there<T>(what: &str, peer: &mut Kid, mut open: impl FnMut() -> ipc::Result<T>) -> T {
    loop {
        match open() {
            Ok(made) => return made,
            Err(Error::NotFound { .. }) => {
                if let Some(status) = peer.try_wait().unwrap() {
                    panic!("the C peer ended ({status}) before making {what}");
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// Opens the POSIX queue `name` that the C peer creates, once it is there.
fn open_when_there(name: &str, peer: &mut Kid) -> mq::Receiver<Reading> {
    when_there(name, peer, || {
        mq::Receiver::<Reading>::open_with(name, mq::Options::new().foreign())
    })
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

/// `ipc::bind("mq:/NAME?foreign")` on a queue the C program made receives from it, and
/// leaves it there when dropped: the queue is the C program's (a bind removes only a
/// queue it made).
#[test]
fn binding_a_queue_a_foreign_program_made_leaves_it_there() {
    let Some(peer) = Peer::build("foreign-mq-bind") else {
        return;
    };
    let n = n();
    let name = MqName::new("foreign-bind");
    let mut c = peer.spawn("mq-send", &name.0, n);
    // The C program has made the queue before this end binds.
    drop(open_when_there(&name.0, &mut c));
    let mut rx = ipc::bind::<Reading>(&format!("mq:{}?foreign", name.0)).unwrap();
    receive_all(&mut rx, n);
    c.assert_success("C mq-send");
    drop(rx);
    assert!(
        std::path::Path::new(&format!("/dev/mqueue{}", name.0)).exists(),
        "the bound end removed the C program's queue"
    );
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

/// Connects, in foreign-peer mode, to the C listener that `peer` binds at `path`, once it
/// listens.
fn connect_when_there(path: &str, peer: &mut Kid) -> socket::Stream<Reading> {
    let foreign = socket::Options::new().foreign();
    when_there(path, peer, || {
        socket::Stream::<Reading>::connect_with(path, &foreign)
    })
}

#[test]
fn unix_stream() {
    let Some(peer) = Peer::build("foreign-unix") else {
        return;
    };
    let n = n();
    let path = peer.dir.join("readings.sock");
    let place = path.to_str().unwrap().to_owned();
    // C clients of a listener of this crate: the first sends, the second receives.
    let listener =
        socket::Listener::<Reading>::bind_with(&path, socket::Options::new().foreign()).unwrap();
    let c = peer.spawn("unix-send", &place, n);
    let mut conn = listener.accept().unwrap();
    assert!(conn.is_foreign());
    receive_all(&mut conn, n);
    assert!(conn.recv().unwrap_err().is_disconnected());
    c.assert_success("C unix-send");
    let c = peer.spawn("unix-recv", &place, n);
    let mut conn = listener.accept().unwrap();
    send_all(&mut conn, n);
    drop(conn);
    c.assert_success("C unix-recv");
    drop(listener);
    // A C listener: this crate connects and sends (buffered, and in batches), then
    // receives (in batches) from the next one.
    let mut c = peer.spawn("unixl-recv", &place, n);
    let mut conn = connect_when_there(&place, &mut c).buffered(64 * 1024);
    let all: Vec<Reading> = (0..n).map(reading).collect();
    let (one_by_one, batched) = all.split_at(all.len() / 2);
    send_all(&mut conn, one_by_one.len() as u32);
    conn.send_all(batched).unwrap();
    drop(conn);
    c.assert_success("C unixl-recv");
    let mut c = peer.spawn("unixl-send", &place, n);
    let mut conn = connect_when_there(&place, &mut c);
    let mut got = Vec::with_capacity(n as usize);
    let mut buf = vec![reading(0); 1000];
    while got.len() < n as usize {
        let k = conn.recv_many(&mut buf).unwrap();
        got.extend_from_slice(&buf[..k]);
    }
    assert!(got == all, "the readings differ from what the C peer sent");
    assert!(conn.recv().unwrap_err().is_disconnected());
    c.assert_success("C unixl-send");
}

#[test]
fn unix_stream_bad_records_and_a_listener_not_in_foreign_mode() {
    let Some(peer) = Peer::build("foreign-unix-bad") else {
        return;
    };
    let path = peer.dir.join("readings.sock");
    let place = path.to_str().unwrap().to_owned();
    let listener =
        socket::Listener::<Reading>::bind_with(&path, socket::Options::new().foreign()).unwrap();
    let c = peer.spawn("unix-bad", &place, 0);
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv().unwrap(), reading(0));
    assert_invalid(conn.recv()); // kind 7
    assert_eq!(conn.recv().unwrap(), reading(2));
    assert_invalid(conn.recv()); // 5 bytes, then the end
    assert!(conn.recv().unwrap_err().is_disconnected());
    c.assert_success("C unix-bad");
    drop(listener);
    // A listener of this crate's wire format says what the client must be.
    let listener = socket::Listener::<Reading>::bind(&path).unwrap();
    let c = peer.spawn("unix-send", &place, 3);
    let text = listener.accept().unwrap_err().to_string();
    assert!(text.contains("not an `ipc` stream"), "{text}");
    assert!(text.contains("foreign"), "{text}");
    drop(listener);
    drop(c); // ended, or ending: its sends may fail once the connection is refused
}

#[test]
fn tcp() {
    let Some(peer) = Peer::build("foreign-tcp") else {
        return;
    };
    let n = n();
    let listener = tcp::Listener::<Reading>::bind("127.0.0.1:0")
        .unwrap()
        .foreign();
    let port = listener.local_addr().unwrap().port().to_string();
    let c = peer.spawn("tcp-send", &port, n);
    let mut conn = listener.accept().unwrap();
    assert!(conn.is_foreign());
    receive_all(&mut conn, n);
    assert!(conn.recv().unwrap_err().is_disconnected());
    c.assert_success("C tcp-send");
    let c = peer.spawn("tcp-recv", &port, n);
    let mut conn = listener.accept().unwrap();
    send_all(&mut conn, n);
    drop(conn);
    c.assert_success("C tcp-recv");
    // Bad records, then a listener of this crate's own wire, which names the writer.
    let c = peer.spawn("tcp-bad", &port, 0);
    let mut conn = listener.accept().unwrap();
    assert_eq!(conn.recv().unwrap(), reading(0));
    assert_invalid(conn.recv()); // kind 7
    assert_eq!(conn.recv().unwrap(), reading(2));
    assert_invalid(conn.recv()); // 5 bytes, then the end
    assert!(conn.recv().unwrap_err().is_disconnected());
    c.assert_success("C tcp-bad");
    let typed = tcp::Listener::<Reading>::bind("127.0.0.1:0").unwrap();
    let c = peer.spawn(
        "tcp-send",
        &typed.local_addr().unwrap().port().to_string(),
        3,
    );
    let text = typed.accept().unwrap_err().to_string();
    assert!(text.contains("not an `ipc` stream"), "{text}");
    drop(c);
}

#[test]
fn endpoint_strings_with_foreign_on_sockets() {
    let Some(peer) = Peer::build("foreign-endpoints") else {
        return;
    };
    // `unix:PATH?foreign`: a receiving end that takes C clients.
    let place = peer.dir.join("e.sock").to_str().unwrap().to_owned();
    let mut rx = ipc::bind::<Reading>(&format!("unix:{place}?foreign")).unwrap();
    let c = peer.spawn("unix-send", &place, 100);
    for i in 0..100 {
        assert_eq!(rx.recv().unwrap(), reading(i), "message {i}");
    }
    c.assert_success("C unix-send");
    // `tcp:HOST:PORT?foreign`: a sending end whose bytes a plain reader takes as they are.
    let raw = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = raw.local_addr().unwrap().port();
    let mut tx = ipc::connect::<Reading>(&format!("tcp:127.0.0.1:{port}?foreign")).unwrap();
    let (mut conn, _) = raw.accept().unwrap();
    tx.send(reading(5)).unwrap();
    let mut bytes = [0u8; size_of::<Reading>()];
    std::io::Read::read_exact(&mut conn, &mut bytes).unwrap();
    assert_eq!(bytes.as_slice(), ipc::as_bytes(&reading(5)));
}

#[test]
fn foreign_mode_is_refused_where_a_socket_has_none() {
    let dir = common::TempDir::new("foreign-unix-none");
    let foreign = socket::Options::new().foreign();
    let unsupported = |r: ipc::Result<()>, says: &str| match r {
        Err(Error::Unsupported { what, .. }) => assert!(what.contains(says), "{what}"),
        other => panic!("{says}: expected Unsupported, got {other:?}"),
    };
    // A stream of slices: refused when its connection is made (a bare slice has no
    // length on the wire).
    let path = dir.join("slices.sock");
    let listener = socket::Listener::<[u8]>::bind_with(&path, foreign.clone()).unwrap();
    let client = std::thread::spawn({
        let path = path.clone();
        move || std::os::unix::net::UnixStream::connect(path).unwrap()
    });
    unsupported(listener.accept().map(drop), "slices");
    drop(client.join().unwrap());
    // Seqpacket and request/response: refused at once, never ignored.
    let seq = dir.join("seq.sock");
    unsupported(
        socket::SeqPacketListener::<Reading>::bind_with(&seq, foreign.clone()).map(drop),
        "seqpacket",
    );
    unsupported(
        socket::SeqPacket::<Reading>::connect_with(&seq, &foreign).map(drop),
        "seqpacket",
    );
    let rpc = dir.join("rpc.sock");
    unsupported(
        socket::Server::<Reading, Reading>::bind_with(&rpc, foreign.clone()).map(drop),
        "server",
    );
    unsupported(
        socket::Client::<Reading, Reading>::connect_with(&rpc, &foreign).map(drop),
        "client",
    );
    assert!(!seq.exists() && !rpc.exists());
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
