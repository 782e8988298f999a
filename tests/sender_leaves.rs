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
use common::ShmName as Name;

const ROLE: &str = "LEAVE_ROLE";
/// Messages each producer sends.
const N: u64 = 10;
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
    /// libtest's `test child ... `); returns the rest of that line.
    fn expect(&mut self, prefix: &str) -> String {
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line).unwrap() == 0 {
                self.fail(&format!("exited before printing `{prefix}`"));
            }
            let line = line.trim_end().to_owned();
            self.lines.push(line.clone());
            let text = line.strip_prefix("test child ... ").unwrap_or(&line);
            if let Some(rest) = text.strip_prefix(prefix) {
                return rest.trim().to_owned();
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
        ["shm-remove-stale-in-private-shm"] => remove_stale_keeps_what_is_owed(),
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
        _ => panic!("unknown role {role}"),
    }
    std::process::exit(0);
}

// ------------------------------------------------------------------ shared memory

#[test]
fn shm_a_late_consumer_receives_what_a_departed_producer_sent_then_disconnected() {
    let name = Name::new("late");
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    // The producer is gone; its channel stayed for a receiver.
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    // The consumer, the last to leave, removed it.
    assert!(!exists(&name));
    // The same with a consumer that would have created the channel if it did not exist.
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    Kid::spawn(&format!("shm-consume-open-or-create {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn shm_a_producer_killed_with_unread_messages_leaves_them_to_a_late_consumer() {
    let name = Name::new("killed");
    let status = {
        let mut kid = Kid::spawn(&format!("shm-produce-then-die {}", name.0));
        common::wait_at_most(&mut kid.child, HANG).unwrap()
    };
    assert!(!status.success());
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn shm_close_reports_exactly_how_many_no_consumer_came_to_read() {
    let name = Name::new("close-alone");
    let mut kid = Kid::spawn(&format!("shm-produce-close {} 50", name.0));
    assert_eq!(kid.expect("closed"), format!("unread {N} discarded true"));
    kid.finish();
    // Discarded means removed: a consumer started afterwards finds nothing.
    assert!(!exists(&name));
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn shm_close_waits_for_a_consumer_that_comes_and_reads_everything() {
    let name = Name::new("close-waits");
    let mut producer = Kid::spawn(&format!("shm-produce-close {} 60000", name.0));
    producer.wait_ready();
    let consumer = Kid::spawn(&format!("shm-consume {}", name.0));
    assert_eq!(producer.expect("closed"), "all-read");
    producer.finish();
    consumer.finish();
    assert!(!exists(&name));
}

#[test]
fn shm_a_consumer_that_opens_first_with_an_open_timeout_waits_for_the_channel() {
    let name = Name::new("appear");
    let mut consumer = Kid::spawn(&format!("shm-consume-when-created {}", name.0));
    consumer.wait_ready();
    // The producer waits for its receiver before sending (nothing would be lost if it did
    // not: this is for a producer that wants one there first).
    let mut producer = Kid::spawn(&format!("shm-produce-on-arrival {}", name.0));
    assert_eq!(producer.expect("closed"), "all-read");
    producer.finish();
    consumer.finish();
    assert!(!exists(&name));
}

#[test]
fn shm_a_killed_waiting_consumer_leaves_nothing_behind_or_what_it_left_is_reclaimed() {
    // Waiting for the channel to appear creates nothing.
    let name = Name::new("wait-killed");
    let mut kid = Kid::spawn(&format!("shm-wait-for-ever {}", name.0));
    kid.wait_ready();
    kid.kill();
    assert!(!exists(&name));

    // A consumer that created the channel (open_or_create) and was killed waiting in it
    // leaves it behind, owing nobody anything: the next run reclaims it.
    let name = Name::new("ooc-killed");
    let mut kid = Kid::spawn(&format!("shm-open-or-create-and-wait {}", name.0));
    kid.wait_ready();
    kid.kill();
    assert!(exists(&name));
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn shm_a_lingering_channel_is_not_reclaimed_before_its_linger_is_over_and_is_after() {
    let name = Name::new("linger");
    let linger = Duration::from_millis(300);
    Kid::spawn(&format!("shm-produce {} {}", name.0, linger.as_millis())).finish();
    // The producer's linger began before this instant.
    let left = std::time::Instant::now();
    // Within the linger, a `create` of the name does not reclaim it (a machine so slow
    // that the linger is over already proves nothing here, and goes on).
    match Sender::<u64>::create(&name.0, Options::new()) {
        Err(Error::AlreadyExists { .. }) => {}
        Ok(tx) if left.elapsed() >= linger => drop(tx),
        other => panic!("{other:?}"),
    }
    // Once it is over, `create` does.
    std::thread::sleep(linger.saturating_sub(left.elapsed()) + Duration::from_millis(10));
    let tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    assert_eq!(tx.unread(), 0);
}

#[test]
fn shm_a_system_v_channel_cannot_linger_and_close_counts_what_goes_with_it() {
    use ipc::shm::Backing;
    let name = Name::new("sysv");
    let opts = Options::new().capacity(16).backing(Backing::SysV);
    let mut tx = Sender::<u64>::create(&name.0, opts.clone()).unwrap();
    tx.send(1).unwrap();
    // Its memory goes with its last process: dropping the only sender removes it all.
    drop(tx);
    assert!(!exists(&name));
    let mut tx = Sender::<u64>::create(&name.0, opts).unwrap();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    let u = tx.close(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, true));
    assert!(!exists(&name));
}

#[test]
fn shm_a_zero_linger_discards_at_once() {
    let name = Name::new("no-linger");
    Kid::spawn(&format!("shm-produce {} 0", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn shm_remove_stale_keeps_a_channel_owed_to_a_receiver() {
    // In a child with its own /dev/shm, so that remove_stale sees only this test's.
    Kid::spawn("shm-remove-stale-in-private-shm").finish();
}

/// `remove_stale` leaves a channel whose producer left with unread messages, and one
/// whose producer was killed with unread messages (whose linger it starts); a receiver
/// then reads both. An abandoned channel that owes nothing goes, and so does one whose
/// linger is over.
fn remove_stale_keeps_what_is_owed() {
    common::private_dev_shm("4m");
    let left = Name::new("left");
    let killed = Name::new("killed");
    let empty = Name::new("empty");
    let short = Name::new("short");
    let linger = Duration::from_millis(200);
    Kid::spawn(&format!("shm-produce {} {}", short.0, linger.as_millis())).finish();
    // Its linger began before this instant.
    let short_left = std::time::Instant::now();
    Kid::spawn(&format!("shm-produce {} 60000", left.0)).finish();
    let mut kid = Kid::spawn(&format!("shm-produce-then-die {}", killed.0));
    common::wait_at_most(&mut kid.child, HANG).unwrap();
    let mut kid = Kid::spawn(&format!("shm-open-or-create-and-wait {}", empty.0));
    kid.wait_ready();
    kid.kill();
    for _ in 0..2 {
        let removed = common::remove_stale();
        assert!(
            !removed.contains(&left.0) && !removed.contains(&killed.0),
            "{removed:?}"
        );
    }
    assert!(!exists(&empty));
    std::thread::sleep(linger.saturating_sub(short_left.elapsed()) + Duration::from_millis(10));
    // (On a machine so slow that its linger was over already, the loop above removed it.)
    common::remove_stale();
    assert!(!exists(&short));
    for name in [&left, &killed] {
        Kid::spawn(&format!("shm-consume {}", name.0)).finish();
        assert!(!exists(name));
    }
}

#[test]
fn shm_open_without_a_timeout_does_not_wait_and_with_one_times_out() {
    let name = Name::new("absent");
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::NotFound { .. })
    ));
    let opts = Options::new().open_timeout(Duration::from_millis(30));
    let e = Sender::<u64>::open_with(&name.0, opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(!exists(&name));
}

#[test]
fn shm_wait_for_receiver_times_out_then_reports_a_receiver_that_left() {
    let name = Name::new("wait-rx");
    let tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let e = tx.wait_for_receiver(Duration::from_millis(30)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let rx = Receiver::<u64>::open(&name.0).unwrap();
    tx.wait_for_receiver(Duration::ZERO).unwrap();
    let stats = tx.stats();
    assert_eq!((stats.receivers_attached, stats.senders_attached), (1, 1));
    let other = Sender::<u64>::open(&name.0).unwrap();
    assert_eq!(rx.stats().senders_attached, 2);
    drop(other);
    drop(rx);
    assert!(tx.wait_for_receiver(HANG).unwrap_err().is_disconnected());
    assert_eq!(tx.stats().receivers_attached, 0);
}

#[test]
fn shm_flush_and_unread_count_what_the_receiver_has_not_read() {
    let name = Name::new("flush");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut rx = Receiver::<u64>::open(&name.0).unwrap();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    // A dropped loan is not a message.
    drop(tx.loan().unwrap());
    assert_eq!(tx.unread(), N);
    let u = tx.flush(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, false));
    for _ in 0..2 {
        rx.recv().unwrap();
    }
    // A sample still held counts until it is dropped.
    let held = rx.recv().unwrap();
    assert_eq!(tx.unread(), N - 2);
    drop(held);
    assert_eq!(tx.unread(), N - 3);
    while let Ok(s) = rx.try_recv() {
        drop(s);
    }
    tx.flush(Duration::ZERO).unwrap();
    // A receiver is attached: closing with messages unread leaves them to it.
    tx.send(7).unwrap();
    let u = tx.close(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (1, false));
    assert_eq!(*rx.recv().unwrap(), 7);
    assert!(rx.recv().unwrap_err().is_disconnected());
}

#[test]
fn shm_a_receiver_that_closes_gives_up_what_it_did_not_read_and_the_sender_learns_it() {
    let name = Name::new("rx-closes");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut consumer = Kid::spawn(&format!("shm-open-and-close {}", name.0));
    consumer.wait_ready();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    consumer.finish();
    // From its next send on, the sender knows; close says what was lost.
    assert!(tx.send(N).unwrap_err().is_disconnected());
    assert_eq!(tx.unread(), N);
    let u = tx.close(Duration::from_secs(60)).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, true));
    assert!(!exists(&name));
}

#[test]
fn shm_a_receiver_killed_before_reading_leaves_the_messages_to_its_successor() {
    let name = Name::new("rx-killed");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut consumer = Kid::spawn(&format!("shm-hold {}", name.0));
    consumer.wait_ready();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    consumer.kill();
    // The sender leaves too: the channel is kept for a receiver, which reads them all.
    drop(tx);
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn shm_opening_a_kept_channel_with_another_type_does_not_remove_it() {
    let name = Name::new("kept-schema");
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    let e = Receiver::<u32>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
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

// ------------------------------------------------------------------ sockets

#[test]
fn unix_stream_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let dir = TempDir::new("unix");
    let path = dir.join("s").display().to_string();
    // Nobody listening: the producer cannot connect, and sends nothing.
    let e = ipc::socket::Stream::<u64>::connect(&path).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let mut consumer = Kid::spawn(&format!("unix-consume-later {path}"));
    consumer.wait_ready();
    Kid::spawn(&format!("unix-produce {path}")).finish();
    consumer.finish();
}

#[test]
fn unix_stream_a_consumer_that_closes_unread_is_the_senders_next_disconnected() {
    let dir = TempDir::new("unix-closes");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("unix-accept-and-close {path}"));
    consumer.wait_ready();
    let mut conn = ipc::socket::Stream::<u64>::connect(&path).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    // The consumer closes without reading: what was in its socket is gone, and the
    // sender learns it at its next send.
    consumer.finish();
    let e = conn.send(N).unwrap_err();
    assert!(e.is_disconnected(), "{e:?}");
}

#[test]
fn unix_sockets_a_producer_cannot_send_before_a_consumer_has_accepted() {
    let dir = TempDir::new("unix-unaccepted");
    let path = dir.join("s").display().to_string();
    let mut listener = Kid::spawn(&format!("unix-bind-only {path}"));
    listener.wait_ready();
    // Bound, never accepting: the handshake goes unanswered.
    let opts = ipc::socket::Options::new().handshake_timeout(Duration::from_millis(50));
    let e = ipc::socket::Stream::<u64>::connect_with(&path, &opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
    // The same for seqpacket sockets, and nobody listening is `NotFound`.
    let path = dir.join("p").display().to_string();
    let e = ipc::socket::SeqPacket::<u64>::connect(&path).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let mut listener = Kid::spawn(&format!("seqpacket-bind-only {path}"));
    listener.wait_ready();
    let e = ipc::socket::SeqPacket::<u64>::connect_with(&path, &opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
}

/// Sends until a send fails (at most `bound` times), and returns that error: a peer that
/// closed is noticed by a later send, once its reset has come back.
fn send_until_refused(mut send: impl FnMut(u64) -> ipc::Result<()>, bound: u64) -> Error {
    for i in 0..bound {
        if let Err(e) = send(i) {
            return e;
        }
    }
    panic!("{bound} sends to a closed peer all succeeded");
}

#[test]
fn seqpacket_a_consumer_that_closes_unread_is_the_senders_next_disconnected() {
    let dir = TempDir::new("seqpacket-closes");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("seqpacket-accept-and-close {path}"));
    consumer.wait_ready();
    let mut conn = ipc::socket::SeqPacket::<u64>::connect(&path).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    consumer.finish();
    let e = conn
        .send(N)
        .map_err(ipc::SendError::into_error)
        .unwrap_err();
    assert!(e.is_disconnected(), "{e}");
}

#[test]
fn tcp_a_producer_cannot_send_before_a_consumer_has_accepted() {
    let mut listener = Kid::spawn("tcp-bind-only");
    let port: u16 = listener.expect("port").parse().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let e = ipc::tcp::Stream::<u64>::connect_timeout(&addr, Duration::from_millis(50)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
    // Nobody listening any more: refused.
    let e = ipc::tcp::Stream::<u64>::connect(addr).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[test]
fn tcp_a_consumer_that_closes_unread_is_a_later_send_disconnected() {
    let mut consumer = Kid::spawn("tcp-accept-and-close");
    let port: u16 = consumer.expect("port").parse().unwrap();
    let mut conn = ipc::tcp::Stream::<u64>::connect(("127.0.0.1", port)).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    consumer.finish();
    // Its kernel answered the unread data with a reset; the first send may still go out
    // before the reset has arrived, a later one fails.
    let e = send_until_refused(|i| conn.send(i).map_err(ipc::SendError::into_error), 10_000);
    assert!(e.is_disconnected(), "{e}");
}

#[test]
fn seqpacket_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let dir = TempDir::new("seqpacket");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("seqpacket-consume-later {path}"));
    consumer.wait_ready();
    Kid::spawn(&format!("seqpacket-produce {path}")).finish();
    consumer.finish();
}

#[test]
fn tcp_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let mut consumer = Kid::spawn("tcp-consume-later");
    let port = consumer.expect("port");
    Kid::spawn(&format!("tcp-produce {port}")).finish();
    consumer.finish();
}
