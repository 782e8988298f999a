//! Typed anonymous pipes between real processes.
//!
//! Each test re-runs this test binary as a child (`current_exe`, only that test, with
//! `IPC_PIPE_TEST_ROLE` naming the child's part) and hands it one end of a pipe as its
//! descriptor 0: libtest writes its own progress lines to the child's stdout, so stdout
//! cannot carry a typed stream here (the `shell_pipeline` example does that).

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use ipc::pipe::{self, Receiver, Sender};
use ipc::Error;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

const ROLE: &str = "IPC_PIPE_TEST_ROLE";
const COUNT: u64 = 100_000;

mod common;
use common::Kid;

/// A command running `test` of this binary as a child playing `role` (spawned as a
/// [`Kid`], its output captured).
fn child(test: &str, role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role);
    cmd
}

/// In a child, plays the role named in the environment and exits; in the parent, returns.
fn play_role_if_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let result = match role.as_str() {
        "check_in_order" => check_in_order(),
        "send_u64" => send_u64(),
        "send_then_hang" => send_then_hang(),
        "sigpipe_default" => sigpipe_default(),
        "half_frame" => half_frame(),
        "fd_limit" => fd_limit(),
        "send_pages" => send_pages(),
        other => Err(format!("unknown role {other}")),
    };
    match result {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("child role {role} failed: {e}");
            std::process::exit(1)
        }
    }
}

/// The write end handed to a child as its descriptor 0.
fn sender_on_fd0<T: ipc::Message>() -> Result<Sender<T>, String> {
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    Ok(Sender::from_fd(fd))
}

fn record(i: u64) -> [u64; 2] {
    [i, i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555]
}

fn check_in_order() -> Result<(), String> {
    let mut rx = Receiver::<[u64; 2]>::stdin().map_err(|e| e.to_string())?;
    for i in 0..COUNT {
        let got = rx.recv().map_err(|e| format!("message {i}: {e}"))?;
        if got != record(i) {
            return Err(format!("message {i}: got {got:?}, want {:?}", record(i)));
        }
    }
    match rx.recv() {
        Err(Error::Disconnected) => Ok(()),
        other => Err(format!(
            "after {COUNT} messages: {other:?}, want Disconnected"
        )),
    }
}

fn send_u64() -> Result<(), String> {
    let mut tx = sender_on_fd0::<u64>()?;
    for i in 0..3 {
        tx.send(i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn send_then_hang() -> Result<(), String> {
    let mut tx = sender_on_fd0::<u32>()?;
    for i in 0..10 {
        tx.send(i).map_err(|e| e.to_string())?;
    }
    // Wait to be killed; give up after a minute so a broken parent leaves no orphan.
    std::thread::sleep(Duration::from_secs(60));
    Err("was not killed".into())
}

fn sigpipe_default() -> Result<(), String> {
    use nix::sys::signal::{SigHandler, SigSet, Signal};
    // SAFETY: SIG_DFL installs no handler code; the test thread is the only one using
    // signals in this child.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigDfl) }
        .map_err(|e| e.to_string())?;
    let mut tx = sender_on_fd0::<u64>()?;
    for attempt in 0..3 {
        let err = match attempt {
            0 => tx.send(1),
            1 => tx.try_send(2),
            _ => tx.send_timeout(3, Duration::from_secs(1)),
        }
        .expect_err("the reader is gone; the send cannot succeed");
        if !err.is_disconnected() {
            return Err(format!("attempt {attempt}: {err}, want Disconnected"));
        }
    }
    let mask = SigSet::thread_get_mask().map_err(|e| e.to_string())?;
    if mask.contains(Signal::SIGPIPE) {
        return Err("SIGPIPE was left blocked".into());
    }
    Ok(())
}

const MAGIC: u64 = 0x0123_4567_89ab_cdef;
const CTL: &str = "IPC_PIPE_TEST_CTL";

/// Writes the handshake and all but the last 3 bytes of one frame, waits for the parent's
/// go-ahead on a control FIFO, then writes the rest.
fn half_frame() -> Result<(), String> {
    let ctl = std::env::var_os(CTL).ok_or("no control FIFO")?;
    let mut go = ipc::fifo::Receiver::<u8>::open(&ctl).map_err(|e| e.to_string())?;
    let fd = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| e.to_string())?;
    let mut raw = std::fs::File::from(fd);
    let mut wire = ipc::codec::hello::<u64>();
    ipc::codec::write_message(&mut wire, &MAGIC).map_err(|e| e.to_string())?;
    let (first, rest) = wire.split_at(wire.len() - 3);
    raw.write_all(first).map_err(|e| e.to_string())?;
    go.recv()
        .map_err(|e| format!("waiting for the go-ahead: {e}"))?;
    raw.write_all(rest).map_err(|e| e.to_string())?;
    Ok(())
}

/// Lowers this child's descriptor limit and makes pipes until it runs out.
fn fd_limit() -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    setrlimit(Resource::RLIMIT_NOFILE, 32, hard).map_err(|e| e.to_string())?;
    let mut pipes = Vec::new();
    loop {
        match pipe::channel::<u8>() {
            Ok(p) if pipes.len() < 64 => pipes.push(p),
            Ok(_) => return Err("64 pipes under a limit of 32 descriptors".into()),
            Err(Error::LimitExceeded { value: 32, .. }) => return Ok(()),
            Err(e) => return Err(format!("want LimitExceeded naming 32, got {e}")),
        }
    }
}

const PAGES: u64 = 5_000;

/// Page `i`: 4 KiB whose first word is `i`, except every seventh, whose first four bytes
/// are the handshake tag (which must not confuse the reader).
fn page(i: u64) -> [u64; 512] {
    let first = if i % 7 == 3 {
        u64::from(u32::from_le_bytes(*b"ipcH")) | i << 32
    } else {
        i
    };
    std::array::from_fn(|k| if k == 0 { first } else { i ^ k as u64 })
}

fn send_pages() -> Result<(), String> {
    let mut tx = sender_on_fd0::<[u64; 512]>()?;
    for i in 0..PAGES {
        tx.send_ref(&page(i))
            .map_err(|e| format!("page {i}: {e}"))?;
    }
    Ok(())
}

#[test]
fn hundred_thousand_messages_arrive_complete_and_in_order() {
    play_role_if_child();
    let (mut tx, rx) = pipe::channel::<[u64; 2]>().unwrap();
    // The read end becomes the child's stdin; the parent keeps no copy of it.
    let reader = Kid::spawn(
        child(
            "hundred_thousand_messages_arrive_complete_and_in_order",
            "check_in_order",
        )
        .stdin(Stdio::from(rx)),
    );
    for i in 0..COUNT {
        tx.send(record(i)).unwrap();
    }
    drop(tx);
    reader.assert_success("reader of 100,000 messages");
}

#[test]
fn receiver_of_another_schema_gets_schema_mismatch() {
    play_role_if_child();
    let (tx, rx) = pipe::channel::<u64>().unwrap();
    let writer = Kid::spawn(
        child(
            "receiver_of_another_schema_gets_schema_mismatch",
            "send_u64",
        )
        .stdin(Stdio::from(tx)),
    );
    // Same size as u64, another schema.
    let mut rx = Receiver::<[u32; 2]>::from_fd(rx.into());
    let err = rx.recv().unwrap_err();
    match &err {
        Error::SchemaMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected.name, "[u32; 2]");
            assert_eq!(found.name, "u64");
        }
        other => panic!("want SchemaMismatch, got {other}"),
    }
    println!("refused with: {err}");
    writer.assert_success("writer of u64");
}

#[test]
fn killed_writer_gives_the_reader_disconnected() {
    play_role_if_child();
    let (tx, mut rx) = pipe::channel::<u32>().unwrap();
    let mut writer = Kid::spawn(
        child(
            "killed_writer_gives_the_reader_disconnected",
            "send_then_hang",
        )
        .stdin(Stdio::from(tx)),
    );
    for i in 0..10 {
        assert_eq!(rx.recv().unwrap(), i);
    }
    writer.kill().unwrap();
    let status = writer.wait().unwrap();
    assert_eq!(status.signal(), Some(libc_sigkill()), "{status}");
    assert!(rx.recv().unwrap_err().is_disconnected());
    assert!(rx.try_recv().unwrap_err().is_disconnected());
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}

#[test]
fn broken_pipe_is_disconnected_not_death_with_sigpipe_default() {
    play_role_if_child();
    let (tx, rx) = pipe::channel::<u64>().unwrap();
    drop(rx); // no reader at all
    let mut writer = child(
        "broken_pipe_is_disconnected_not_death_with_sigpipe_default",
        "sigpipe_default",
    );
    let (status, output) = Kid::spawn(writer.stdin(Stdio::from(tx))).finish();
    assert_eq!(
        status.signal(),
        None,
        "killed by a signal: {status}\n{output}"
    );
    assert!(
        status.success(),
        "writer with SIGPIPE at SIG_DFL: {status}\n{output}"
    );
}

#[test]
fn try_recv_and_recv_timeout_lose_no_part_of_a_frame() {
    play_role_if_child();
    let dir = common::TempDir::new("pipe");
    let ctl = ipc::fifo::create(dir.join("ctl")).unwrap();
    let (tx, mut rx) = pipe::channel::<u64>().unwrap();
    let writer = Kid::spawn(
        child(
            "try_recv_and_recv_timeout_lose_no_part_of_a_frame",
            "half_frame",
        )
        .env(CTL, ctl.path())
        .stdin(Stdio::from(tx)),
    );
    let mut go =
        ipc::fifo::Sender::<u8>::open_timeout(ctl.path(), Duration::from_secs(20)).unwrap();
    // Wait until the first part (one atomic write) has arrived.
    let mut fds = [PollFd::new(rx.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(20_000u16)).unwrap(), 1);
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    let err = rx.recv_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    go.send(1).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), MAGIC);
    writer.assert_success("half-frame writer");
    assert!(rx.recv().unwrap_err().is_disconnected());
}

#[test]
fn running_out_of_descriptors_is_limit_exceeded() {
    play_role_if_child();
    Kid::spawn(&mut child(
        "running_out_of_descriptors_is_limit_exceeded",
        "fd_limit",
    ))
    .assert_success("child under RLIMIT_NOFILE = 32");
}

/// `send_ref` / `recv_into` round-trip in place (on the halves, on a FIFO and on a
/// duplex), and a frame that is not a valid `T` leaves `*out` unchanged.
#[test]
fn send_ref_and_recv_into_work_in_place() {
    use ipc::FixedStr;
    type Word = FixedStr<4>;
    let ok = Word::try_from("ok").unwrap();
    let (mut tx, mut rx) = pipe::channel::<Word>().unwrap();
    let mut out = Word::default();
    tx.send_ref(&ok).unwrap();
    rx.recv_into(&mut out).unwrap();
    assert_eq!(out, ok);

    // A frame of `Word` whose payload is not UTF-8, written past the typed sender.
    let mut raw = std::fs::File::from(tx.as_fd().try_clone_to_owned().unwrap());
    let mut bad = ipc::codec::message_header::<Word>().to_vec();
    bad.extend_from_slice(b"\xffk\0\0");
    raw.write_all(&bad).unwrap();
    let err = rx.recv_into(&mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(out, ok, "a refused message must leave *out unchanged");

    let next = Word::try_from("yes").unwrap();
    tx.send_ref(&next).unwrap();
    rx.recv_into(&mut out).unwrap();
    assert_eq!(out, next);
    drop((tx, raw));
    assert!(rx.recv_into(&mut out).unwrap_err().is_disconnected());
    assert_eq!(out, next);

    let (mut a, mut b) = pipe::duplex::<u64, [u8; 4096]>().unwrap();
    let page = [7u8; 4096];
    b.send_ref(&page).unwrap();
    let mut got = [0u8; 4096];
    a.recv_into(&mut got).unwrap();
    assert_eq!(got, page);
    a.send_ref(&42).unwrap();
    let mut n = 0;
    b.recv_into(&mut n).unwrap();
    assert_eq!(n, 42);
}

#[test]
fn pages_from_another_process_are_lent_in_place_bare_or_framed() {
    play_role_if_child();
    let (tx, mut rx) = pipe::channel::<[u64; 512]>().unwrap();
    let writer = Kid::spawn(
        child(
            "pages_from_another_process_are_lent_in_place_bare_or_framed",
            "send_pages",
        )
        .stdin(Stdio::from(tx)),
    );
    for i in 0..PAGES {
        let got = rx.recv_ref().unwrap();
        assert_eq!(got.as_ptr() as usize % 8, 0, "page {i} is aligned");
        assert!(*got == page(i), "page {i} arrived intact");
    }
    assert!(rx.recv_ref().unwrap_err().is_disconnected());
    writer.assert_success("writer of pages");
}
