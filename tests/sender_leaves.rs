//! A sender that leaves before its messages are read, on every transport, with real
//! processes: what the README's table "When a sender leaves before its messages are read"
//! says, checked. In each case a producer process sends messages that every `send`
//! accepts and exits before a consumer reads them; then either a consumer started
//! afterwards receives all of them, or the producer learned how many were never read.
//!
//! The children are this test binary re-run on the test `child`, with `LEAVE_ROLE` naming
//! what to do. Their output is captured, and printed only when a test fails.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ipc::shm::{Options, Receiver, Sender};
use ipc::Error;

mod common;

#[path = "sender_leaves/shm.rs"]
mod shm;
#[path = "sender_leaves/sockets.rs"]
mod sockets;
use common::ShmName as Name;

const ROLE: &str = "LEAVE_ROLE";
/// Messages each producer sends.
const N: u64 = 10;
/// Messages of a sender that holds more than a pipe takes (64 KiB: 8-byte messages in
/// batch records of 4 KiB).
const MANY: u64 = 100_000;
/// The descriptor a pipe producer writes to (libtest writes its own lines to stdout).
const PIPE_FD: i32 = 3;
/// A watchdog: a child that has not finished after this long has hung.
const HANG: Duration = Duration::from_secs(60);

/// This binary re-run as a child playing `role`, its output captured.
struct Kid {
    child: Child,
    out: BufReader<ChildStdout>,
    /// Lines the child printed so far.
    lines: Vec<String>,
}

impl Kid {
    fn spawn(role: &str) -> Kid {
        Kid::spawn_with(role, |_| {})
    }

    fn spawn_with(role: &str, setup: impl FnOnce(&mut Command)) -> Kid {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        setup(&mut cmd);
        let mut child = cmd.spawn().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Kid {
            child,
            out,
            lines: Vec::new(),
        }
    }

    /// Reads the child's output until it prints `prefix` (at the start of a line, or after
    /// libtest's `test child ... `); returns the rest of that line. A child that prints
    /// nothing more for [`HANG`] has hung, and is killed.
    fn expect(&mut self, prefix: &str) -> String {
        loop {
            let Some(line) = self.next_line() else {
                self.fail(&format!("exited before printing `{prefix}`"));
            };
            let line = line.trim_end().to_owned();
            self.lines.push(line.clone());
            let text = line.strip_prefix("test child ... ").unwrap_or(&line);
            if let Some(rest) = text.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// The next line the child prints (`None` at the end of its output), waiting at most
    /// [`HANG`] for each part of it.
    fn next_line(&mut self) -> Option<String> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut line = Vec::new();
        loop {
            let buffered = self.out.buffer();
            if let Some(i) = buffered.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&buffered[..=i]);
                self.out.consume(i + 1);
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            line.extend_from_slice(buffered);
            let n = buffered.len();
            self.out.consume(n);
            let ms = u16::try_from(HANG.as_millis()).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.out.get_ref().as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::from(ms)).unwrap() == 0 {
                self.fail("hung (printed nothing more), and was killed");
            }
            if self.out.fill_buf().unwrap().is_empty() {
                return (!line.is_empty()).then(|| String::from_utf8_lossy(&line).into_owned());
            }
        }
    }

    fn wait_ready(&mut self) {
        self.expect("ready");
    }

    /// Closes the child's stdin: the go-ahead a child waiting for it reads as EOF.
    fn go(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Waits for the child (at most [`HANG`]) and asserts that it succeeded.
    fn finish(mut self) {
        self.go();
        match common::wait_at_most(&mut self.child, HANG) {
            Some(status) if status.success() => {}
            Some(status) => self.fail(&format!("failed: {status}")),
            None => self.fail("hung, and was killed"),
        }
    }

    /// SIGKILLs the child and reaps it.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Panics with everything the child printed.
    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = self.out.read_to_string(&mut rest);
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        panic!(
            "child {what}\n--- its stdout:\n{}\n{rest}--- its stderr:\n{err}",
            self.lines.join("\n")
        );
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private directory for this test's FIFOs and sockets, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ipc-leave-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir).unwrap();
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

fn exists(name: &Name) -> bool {
    Path::new(&name.path()).exists()
}

/// Makes `fd` the child's descriptor [`PIPE_FD`].
fn give_fd(cmd: &mut Command, fd: OwnedFd) {
    let raw = fd.as_raw_fd();
    // SAFETY: between fork and exec only `dup2` and `fcntl`, which are async-signal-safe;
    // they make `PIPE_FD` a copy of `raw` (open until the spawn is done: the closure owns
    // `fd`) without close-on-exec (`dup2` onto itself would keep the flag: cleared then).
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &fd;
            let rc = if raw == PIPE_FD {
                libc::fcntl(PIPE_FD, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, PIPE_FD)
            };
            if rc == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Reads stdin to its end: a child's wait for the parent's go-ahead.
fn wait_for_go() {
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

/// What `close` reported, as the parent reads it.
fn report(r: Result<(), ipc::Unread>) {
    match r {
        Ok(()) => println!("closed all-read"),
        Err(u) => println!("closed unread {} discarded {}", u.count, u.discarded),
    }
}

/// A message that fills a socket in a few sends.
type Big = [u8; 64 << 10];

/// Sends `Big` messages with `send_timeout` to a peer that does not read, until one times
/// out; asserts that the last message accepted went only in part (its tail waits in
/// `tx`), and prints and returns how many went whole.
fn fill_unread(tx: &mut ipc::socket::Sender<Big>) -> u64 {
    let msg: Box<Big> = vec![7; size_of::<Big>()]
        .into_boxed_slice()
        .try_into()
        .unwrap();
    let mut sent = 0u64;
    loop {
        match tx.send_timeout(*msg, Duration::from_millis(200)) {
            Ok(()) => sent += 1,
            Err(e) => {
                assert!(e.error().is_timeout(), "{}", e.error());
                break;
            }
        }
        assert!(sent < 100_000, "the peer's socket never filled");
    }
    assert!(tx.pending() > 0, "the last message accepted went whole");
    println!("whole {}", sent - 1);
    sent - 1
}

/// Receives `Big` messages from `recv` until the stream ends inside one (the sender gave
/// up on its last message); prints `got {n} then corrupt`, `n` the messages received
/// whole, then expects the end of the stream.
fn drain_cut(mut recv: impl FnMut(&mut Big) -> ipc::Result<()>) {
    let mut msg: Box<Big> = vec![0; size_of::<Big>()]
        .into_boxed_slice()
        .try_into()
        .unwrap();
    let mut n = 0;
    let e = loop {
        match recv(&mut msg) {
            Ok(()) => {
                assert!(msg.iter().all(|&b| b == 7), "message {n} arrived garbled");
                n += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    let end = recv(&mut msg).unwrap_err();
    assert!(end.is_disconnected(), "{end}");
    println!("got {n} then corrupt");
}

/// Receives `N` messages `0..N` in order from `recv`, then expects the end that `end`
/// recognises.
fn drain(mut recv: impl FnMut() -> ipc::Result<u64>, end: impl Fn(&Error) -> bool) {
    for i in 0..N {
        assert_eq!(recv().unwrap(), i);
    }
    let e = recv().unwrap_err();
    assert!(end(&e), "{e}");
    println!("received {N}");
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let ms = |s: &str| Duration::from_millis(s.parse().unwrap());
    match args[..] {
        // ---- shared memory
        ["shm-produce", name, linger] => {
            let opts = Options::new().capacity(16).linger(ms(linger));
            let mut tx = Sender::<u64>::create(name, opts).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["shm-produce-then-die", name] => {
            let mut tx = Sender::<u64>::create(name, Options::new().capacity(16)).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        ["shm-produce-close", name, timeout] => {
            let mut tx = Sender::<u64>::create(name, Options::new().capacity(16)).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("ready");
            report(tx.close(ms(timeout)));
        }
        ["shm-produce-on-arrival", name] => {
            let mut tx = Sender::<u64>::create(name, Options::new().capacity(16)).unwrap();
            assert_eq!(tx.stats().receivers_attached, 0);
            println!("ready");
            tx.wait_for_receiver(HANG).unwrap();
            assert_eq!(tx.stats().receivers_attached, 1);
            for i in 0..N {
                tx.send(i).unwrap();
            }
            report(tx.close(HANG));
        }
        ["shm-consume", name] => {
            let mut rx = Receiver::<u64>::open(name).unwrap();
            drain(|| rx.recv_timeout(HANG).map(|s| *s), Error::is_disconnected);
        }
        ["shm-consume-open-or-create", name] => {
            let mut rx = Receiver::<u64>::open_or_create(name, Options::new()).unwrap();
            drain(|| rx.recv_timeout(HANG).map(|s| *s), Error::is_disconnected);
        }
        ["shm-consume-when-created", name] => {
            println!("ready");
            let opts = Options::new().open_timeout(HANG);
            let mut rx = Receiver::<u64>::open_with(name, opts).unwrap();
            drain(|| rx.recv_timeout(HANG).map(|s| *s), Error::is_disconnected);
        }
        ["shm-wait-for-ever", name] => {
            println!("ready");
            let opts = Options::new().open_timeout(Duration::MAX);
            let r = Receiver::<u64>::open_with(name, opts);
            panic!("open returned: {r:?}");
        }
        ["shm-open-or-create-and-wait", name] => {
            let mut rx = Receiver::<u64>::open_or_create(name, Options::new()).unwrap();
            println!("ready");
            let r = rx.recv().map(|s| *s);
            panic!("recv returned: {r:?}");
        }
        ["shm-hold", name] => {
            // Attached, never reading, until killed.
            let _rx = Receiver::<u64>::open(name).unwrap();
            println!("ready");
            std::thread::sleep(HANG);
        }
        ["shm-open-and-close", name] => {
            let rx = Receiver::<u64>::open(name).unwrap();
            println!("ready");
            wait_for_go();
            drop(rx);
        }
        ["shm-remove-stale-in-private-shm"] => shm::remove_stale_keeps_what_is_owed(),
        // ---- pipes: the producer writes to PIPE_FD, the consumer reads its stdin
        ["pipe-produce"] => {
            // SAFETY: the parent made PIPE_FD a pipe's write end for us to own.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(PIPE_FD) };
            let mut tx = ipc::pipe::Sender::<u64>::from_fd(fd);
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["pipe-produce-close"] => {
            // SAFETY: as above.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(PIPE_FD) };
            let mut tx = ipc::pipe::Sender::<u64>::from_fd(fd);
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("ready");
            report(tx.close(HANG));
        }
        ["pipe-consume"] => {
            let mut rx = ipc::pipe::Receiver::<u64>::stdin().unwrap();
            drain(|| rx.recv(), Error::is_disconnected);
        }
        ["pipe-hold"] => {
            // Holds the read end (its stdin) without reading, until killed.
            println!("ready");
            std::thread::sleep(HANG);
        }
        // ---- FIFOs
        ["fifo-produce", path] => {
            let mut tx = ipc::fifo::Sender::<u64>::open(path).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["fifo-produce-close", path] => {
            let mut tx = ipc::fifo::Sender::<u64>::open(path).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("ready");
            report(tx.close(HANG));
        }
        ["fifo-buffered-then-drop", path] => {
            // A buffered sender that holds more than the FIFO takes, its reader not
            // reading: dropping it must not wait for ever.
            let tx = ipc::fifo::Sender::<u64>::open(path).unwrap();
            let mut tx = tx.buffered(1 << 20);
            for i in 0..MANY {
                tx.send(i).unwrap();
            }
            drop(tx);
            println!("dropped");
        }
        ["fifo-consume-some", path] => {
            // Reads, once told to, what the FIFO holds: messages 0.. in order, then the end.
            let mut rx = ipc::fifo::Receiver::<u64>::open(path).unwrap();
            println!("ready");
            wait_for_go();
            let mut n = 0;
            let e = loop {
                match rx.recv() {
                    Ok(v) => {
                        assert_eq!(v, n);
                        n += 1;
                    }
                    Err(e) => break e,
                }
            };
            assert!(e.is_disconnected(), "{e}");
            assert!(n > 0 && n < MANY, "{n} of {MANY}");
            println!("got {n}");
        }
        ["fifo-consume-later", path] => {
            let mut rx = ipc::fifo::Receiver::<u64>::open(path).unwrap();
            println!("ready");
            wait_for_go();
            drain(|| rx.recv(), Error::is_disconnected);
        }
        ["fifo-hold", path] => {
            let _rx = ipc::fifo::Receiver::<u64>::open(path).unwrap();
            println!("ready");
            std::thread::sleep(HANG);
        }
        // ---- message queues
        ["mq-produce", name] => {
            let opts = ipc::mq::Options::new().capacity(N as usize);
            let mut tx = ipc::mq::Sender::<u64>::create(name, opts).unwrap();
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["mq-consume", name] => {
            let mut rx = ipc::mq::Receiver::<u64>::open(name).unwrap();
            drain(|| rx.try_recv(), |e| matches!(e, Error::Empty));
        }
        ["sysv-produce"] => {
            let opts = ipc::sysv::Options::new();
            let mut tx = ipc::sysv::Sender::<u64>::create(ipc::sysv::Key::Private, opts).unwrap();
            println!("id {}", tx.id());
            for i in 0..N {
                tx.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["sysv-consume", id] => {
            let mut rx = ipc::sysv::Receiver::<u64>::from_id(id.parse().unwrap()).unwrap();
            drain(|| rx.try_recv(), |e| matches!(e, Error::Empty));
            rx.remove().unwrap();
        }
        // ---- sockets: the consumer accepts, then reads only once the producer is gone
        ["unix-consume-later", path] => {
            let listener = ipc::socket::Listener::<u64>::bind(path).unwrap();
            println!("ready");
            let mut conn = listener.accept().unwrap();
            wait_for_go();
            drain(|| conn.recv(), Error::is_disconnected);
        }
        ["unix-produce", path] => {
            let mut conn = ipc::socket::Stream::<u64>::connect(path).unwrap();
            for i in 0..N {
                conn.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["unix-accept-and-close", path] => {
            let listener = ipc::socket::Listener::<u64>::bind(path).unwrap();
            println!("ready");
            let conn = listener.accept().unwrap();
            wait_for_go();
            drop(conn);
        }
        ["unix-bind-only", path] => {
            let _listener = ipc::socket::Listener::<u64>::bind(path).unwrap();
            println!("ready");
            wait_for_go();
        }
        ["seqpacket-bind-only", path] => {
            let _listener = ipc::socket::SeqPacketListener::<u64>::bind(path).unwrap();
            println!("ready");
            wait_for_go();
        }
        ["seqpacket-accept-and-close", path] => {
            let listener = ipc::socket::SeqPacketListener::<u64>::bind(path).unwrap();
            println!("ready");
            let conn = listener.accept().unwrap();
            wait_for_go();
            drop(conn);
        }
        ["tcp-bind-only"] => {
            let listener = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
            println!("port {}", listener.local_addr().unwrap().port());
            wait_for_go();
        }
        ["tcp-accept-and-close"] => {
            let listener = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
            println!("port {}", listener.local_addr().unwrap().port());
            let conn = listener.accept().unwrap();
            wait_for_go();
            drop(conn);
        }
        ["seqpacket-consume-later", path] => {
            let listener = ipc::socket::SeqPacketListener::<u64>::bind(path).unwrap();
            println!("ready");
            let mut conn = listener.accept().unwrap();
            wait_for_go();
            drain(|| conn.recv(), Error::is_disconnected);
        }
        ["seqpacket-produce", path] => {
            let mut conn = ipc::socket::SeqPacket::<u64>::connect(path).unwrap();
            for i in 0..N {
                conn.send(i).unwrap();
            }
            println!("sent {N}");
        }
        ["tcp-consume-later"] => {
            let listener = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
            println!("port {}", listener.local_addr().unwrap().port());
            let mut conn = listener.accept().unwrap();
            wait_for_go();
            drain(|| conn.recv(), Error::is_disconnected);
        }
        ["tcp-produce", port] => {
            let mut conn =
                ipc::tcp::Stream::<u64>::connect(("127.0.0.1", port.parse().unwrap())).unwrap();
            for i in 0..N {
                conn.send(i).unwrap();
            }
            println!("sent {N}");
        }
        // ---- stream sockets: a consumer that does not read, a producer that gives up
        ["unix-accept-and-hold", path] => {
            let listener = ipc::socket::Listener::<Big>::bind(path).unwrap();
            println!("ready");
            let mut conn = listener.accept().unwrap();
            wait_for_go();
            drain_cut(|m| conn.recv_into(m));
        }
        ["tcp-accept-and-hold"] => {
            let listener = ipc::tcp::Listener::<Big>::bind("127.0.0.1:0").unwrap();
            println!("port {}", listener.local_addr().unwrap().port());
            let mut conn = listener.accept().unwrap();
            wait_for_go();
            drain_cut(|m| conn.recv_into(m));
        }
        ["unix-partial-then-drop", path] => {
            let conn = ipc::socket::Stream::<Big>::connect(path).unwrap();
            let (mut tx, rx) = conn.split();
            fill_unread(&mut tx);
            drop((tx, rx));
            println!("dropped");
        }
        ["unix-partial-then-close", path] => {
            let conn = ipc::socket::Stream::<Big>::connect(path).unwrap();
            let (mut tx, rx) = conn.split();
            fill_unread(&mut tx);
            let e = tx.close(Duration::from_millis(100)).unwrap_err();
            assert!(e.is_timeout(), "{e}");
            println!("closed");
            // The receiving half stays until the parent has seen the consumer's end.
            wait_for_go();
            drop(rx);
        }
        ["unix-produce-then-close", path] => {
            let conn = ipc::socket::Stream::<u64>::connect(path).unwrap();
            let (tx, rx) = conn.split();
            let mut tx = tx.buffered(4096);
            for i in 0..N {
                tx.send(i).unwrap();
            }
            assert!(tx.pending() > 0, "the buffered sender holds the messages");
            tx.close(HANG).unwrap();
            println!("closed");
            wait_for_go();
            drop(rx);
        }
        ["tcp-partial-then-drop", port] => {
            let addr = ("127.0.0.1", port.parse().unwrap());
            let (mut tx, rx) = ipc::tcp::Stream::<Big>::connect(addr).unwrap().split();
            fill_unread(&mut tx);
            drop((tx, rx));
            println!("dropped");
        }
        _ => panic!("unknown role {role}"),
    }
    std::process::exit(0);
}

// ------------------------------------------------------------------ pipes and FIFOs

#[test]
fn pipe_messages_wait_in_the_pipe_while_its_read_end_is_held() {
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    Kid::spawn_with("pipe-produce", |cmd| give_fd(cmd, tx)).finish();
    // The producer has exited; this process held the read end. A consumer started now
    // gets it, and everything in it.
    Kid::spawn_with("pipe-consume", |cmd| {
        cmd.stdin(Stdio::from(rx));
    })
    .finish();
}

#[test]
fn pipe_close_reports_the_messages_a_reader_left_unread() {
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut reader = Kid::spawn_with("pipe-hold", |cmd| {
        cmd.stdin(Stdio::from(rx));
    });
    reader.wait_ready();
    let mut producer = Kid::spawn_with("pipe-produce-close", |cmd| give_fd(cmd, tx));
    producer.wait_ready();
    // The reader goes without reading: the producer's close learns it, and how many.
    reader.kill();
    assert_eq!(
        producer.expect("closed"),
        format!("unread {N} discarded true")
    );
    producer.finish();

    // A reader that reads them all: close says so.
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut producer = Kid::spawn_with("pipe-produce-close", |cmd| give_fd(cmd, tx));
    producer.wait_ready();
    let consumer = Kid::spawn_with("pipe-consume", |cmd| {
        cmd.stdin(Stdio::from(rx));
    });
    assert_eq!(producer.expect("closed"), "all-read");
    producer.finish();
    consumer.finish();
}

#[test]
fn fifo_messages_wait_for_a_reader_that_has_it_open_and_a_sender_needs_one() {
    let dir = TempDir::new("fifo");
    let fifo = ipc::fifo::create(dir.join("f")).unwrap();
    let path = fifo.path().display().to_string();
    // Without a reader, a sender cannot even open it: nothing is accepted.
    let e = ipc::fifo::Sender::<u64>::open_timeout(&path, Duration::from_millis(20)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let mut consumer = Kid::spawn(&format!("fifo-consume-later {path}"));
    consumer.wait_ready();
    Kid::spawn(&format!("fifo-produce {path}")).finish();
    // The producer is gone; the consumer, which had the FIFO open, reads now.
    consumer.finish();
}

/// A buffered FIFO sender that holds more than the FIFO takes, and whose reader does not
/// read, is dropped: drop gives up in a bounded time (the watchdog would kill a hang), and
/// the reader, reading later, gets the messages that went, in order and whole, then the
/// end.
#[test]
fn fifo_a_buffered_producer_whose_reader_does_not_read_leaves() {
    let dir = TempDir::new("fifo-unread");
    let fifo = ipc::fifo::create(dir.join("f")).unwrap();
    let path = fifo.path().display().to_string();
    let mut consumer = Kid::spawn(&format!("fifo-consume-some {path}"));
    consumer.wait_ready();
    let mut producer = Kid::spawn(&format!("fifo-buffered-then-drop {path}"));
    producer.expect("dropped");
    producer.finish();
    consumer.go();
    consumer.expect("got");
    consumer.finish();
}

#[test]
fn fifo_close_reports_the_messages_a_reader_left_unread() {
    let dir = TempDir::new("fifo-close");
    let fifo = ipc::fifo::create(dir.join("f")).unwrap();
    let path = fifo.path().display().to_string();
    let mut reader = Kid::spawn(&format!("fifo-hold {path}"));
    reader.wait_ready();
    let mut producer = Kid::spawn(&format!("fifo-produce-close {path}"));
    producer.wait_ready();
    reader.kill();
    assert_eq!(
        producer.expect("closed"),
        format!("unread {N} discarded true")
    );
    producer.finish();
}

// ------------------------------------------------------------------ message queues

/// A POSIX queue name unique to this test, unlinked on drop.
struct MqName(String);

impl Drop for MqName {
    fn drop(&mut self) {
        let _ = ipc::mq::unlink(&self.0);
    }
}

#[test]
fn mq_the_queue_keeps_messages_for_a_consumer_started_afterwards() {
    let name = MqName(format!("/ipc-test-leave-{}", std::process::id()));
    Kid::spawn(&format!("mq-produce {}", name.0)).finish();
    Kid::spawn(&format!("mq-consume {}", name.0)).finish();
}

#[test]
fn sysv_the_queue_keeps_messages_for_a_consumer_started_afterwards() {
    let mut producer = Kid::spawn("sysv-produce");
    let id = producer.expect("id");
    producer.finish();
    // The consumer removes the queue when it is done; if it fails, remove it here.
    struct Remove(i32);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = ipc::sysv::remove(self.0);
        }
    }
    let _guard = Remove(id.parse().unwrap());
    Kid::spawn(&format!("sysv-consume {id}")).finish();
}
