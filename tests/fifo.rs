//! Typed named pipes between unrelated processes.
//!
//! Each test re-runs this test binary as children (`current_exe`, only that test, with
//! `IPC_FIFO_TEST_ROLE` naming the part and `IPC_FIFO_TEST_PATH` the FIFO). The children
//! share no descriptor with each other: stdin and stdout are null or their own pipes, and
//! stderr is captured per child.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ipc::fifo::{self, Receiver, Sender};
use ipc::Error;

const ROLE: &str = "IPC_FIFO_TEST_ROLE";
const PATH: &str = "IPC_FIFO_TEST_PATH";
const COUNT: u64 = 10_000;
const WRITERS: u64 = 3;

mod common;

/// A fresh FIFO path under the temp dir, named by `common::unique`.
fn unique_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(common::unique(tag))
}

/// Spawns `test` of this binary as a child playing `role` on the FIFO at `path`.
fn spawn(test: &str, role: &str, path: &Path, stdout: Stdio) -> Child {
    Command::new(std::env::current_exe().expect("current_exe"))
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PATH, path)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// Waits for a child and asserts it exited 0, showing its stderr otherwise.
fn assert_exits_0(child: Child, what: &str) {
    let out = child.wait_with_output().expect("wait for child");
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In a child, plays the role named in the environment and exits; in the parent, returns.
fn play_role_if_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = PathBuf::from(std::env::var_os(PATH).expect("IPC_FIFO_TEST_PATH"));
    let result = match role.as_str() {
        "read_in_order" => read_in_order(&path),
        "write_in_order" => write_in_order(&path, 0),
        "early_reader" => early_reader(&path),
        "writer_1" => write_in_order(&path, 1),
        "writer_2" => write_in_order(&path, 2),
        "writer_3" => write_in_order(&path, 3),
        "panic_holding_guard" => panic_holding_guard(&path),
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

fn read_in_order(path: &Path) -> Result<(), String> {
    let mut rx = Receiver::<[u64; 2]>::open(path).map_err(|e| e.to_string())?;
    for i in 0..COUNT {
        let got = rx.recv().map_err(|e| format!("message {i}: {e}"))?;
        if got != [0, i] {
            return Err(format!("message {i}: got {got:?}"));
        }
    }
    match rx.recv() {
        Err(Error::Disconnected) => Ok(()),
        other => Err(format!(
            "after the last message: {other:?}, want Disconnected"
        )),
    }
}

fn write_in_order(path: &Path, writer: u64) -> Result<(), String> {
    let mut tx = Sender::<[u64; 2]>::open_timeout(path, Duration::from_secs(20))
        .map_err(|e| e.to_string())?;
    for i in 0..COUNT {
        tx.send([writer, i])
            .map_err(|e| format!("message {i}: {e}"))?;
    }
    Ok(())
}

fn early_reader(path: &Path) -> Result<(), String> {
    let mut rx = Receiver::<[u64; 2]>::open(path).map_err(|e| e.to_string())?;
    // No writer has opened the FIFO yet (the parent starts one only after "ready").
    match rx.try_recv() {
        Err(Error::Empty) => {}
        other => return Err(format!("try_recv before any writer: {other:?}, want Empty")),
    }
    match rx.recv_timeout(Duration::from_millis(50)) {
        Err(Error::Timeout(_)) => {}
        other => return Err(format!("recv_timeout before any writer: {other:?}")),
    }
    // libtest has written "test NAME ... " without a newline: start a line of our own.
    println!("\nready");
    let first = rx.recv().map_err(|e| format!("first message: {e}"))?;
    if first != [0, 0] {
        return Err(format!("first message {first:?}"));
    }
    let rest = rx.iter().count() as u64;
    if rest != COUNT - 1 {
        return Err(format!("{rest} more messages, want {}", COUNT - 1));
    }
    Ok(())
}

fn panic_holding_guard(path: &Path) -> Result<(), String> {
    let guard = fifo::create(path).map_err(|e| e.to_string())?;
    assert!(guard.path().exists());
    panic!("panicking on purpose while holding the FIFO guard");
}

#[test]
fn a_child_reads_a_fifo_written_by_an_unrelated_process() {
    play_role_if_child();
    let guard = fifo::create(unique_path("unrelated")).unwrap();
    let test = "a_child_reads_a_fifo_written_by_an_unrelated_process";
    let writer = spawn(test, "write_in_order", guard.path(), Stdio::null());
    let reader = spawn(test, "read_in_order", guard.path(), Stdio::null());
    assert_exits_0(writer, "writer");
    assert_exits_0(reader, "reader");
}

#[test]
fn a_reader_is_not_disconnected_before_its_writer_opens() {
    play_role_if_child();
    let guard = fifo::create(unique_path("early")).unwrap();
    let test = "a_reader_is_not_disconnected_before_its_writer_opens";
    let mut reader = spawn(test, "early_reader", guard.path(), Stdio::piped());
    let out = reader.stdout.take().unwrap();
    let ready = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "ready");
    assert!(ready, "the reader never became ready");
    let writer = spawn(test, "write_in_order", guard.path(), Stdio::null());
    assert_exits_0(writer, "writer");
    assert_exits_0(reader, "early reader");
}

#[test]
fn several_writers_share_a_fifo_without_interleaving() {
    play_role_if_child();
    let guard = fifo::create(unique_path("many")).unwrap();
    let mut rx = Receiver::<[u64; 2]>::open(guard.path()).unwrap();
    // Holding a write end ourselves keeps the FIFO from reporting end-of-stream between
    // one writer leaving and the next arriving.
    let keep_open = Sender::<[u64; 2]>::open(guard.path()).unwrap();
    let test = "several_writers_share_a_fifo_without_interleaving";
    let writers: Vec<Child> = (1..=WRITERS)
        .map(|w| spawn(test, &format!("writer_{w}"), guard.path(), Stdio::null()))
        .collect();
    let mut next = [0u64; WRITERS as usize];
    for _ in 0..WRITERS * COUNT {
        let [w, i] = rx.recv().unwrap();
        assert!((1..=WRITERS).contains(&w), "writer id {w}");
        let slot = &mut next[(w - 1) as usize];
        assert_eq!(i, *slot, "writer {w} out of order");
        *slot += 1;
    }
    for (n, child) in writers.into_iter().enumerate() {
        assert_exits_0(child, &format!("writer {}", n + 1));
    }
    drop(keep_open);
    assert!(rx.recv().unwrap_err().is_disconnected());
    assert_eq!(next, [COUNT; WRITERS as usize]);
}

#[test]
fn no_fifo_is_left_behind_when_a_test_panics() {
    play_role_if_child();
    let path = unique_path("panic");
    let child = spawn(
        "no_fifo_is_left_behind_when_a_test_panics",
        "panic_holding_guard",
        &path,
        Stdio::null(),
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child was meant to panic");
    assert!(
        stderr.contains("panicking on purpose while holding the FIFO guard"),
        "the child did not reach its panic: {stderr}"
    );
    assert!(!path.exists(), "{} was left behind", path.display());
}

#[test]
fn a_writer_of_another_schema_is_refused() {
    play_role_if_child();
    let guard = fifo::create(unique_path("schema")).unwrap();
    let mut rx = Receiver::<u64>::open(guard.path()).unwrap();
    let writer = spawn(
        "a_writer_of_another_schema_is_refused",
        "write_in_order",
        guard.path(),
        Stdio::null(),
    );
    let err = rx.recv().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    drop(rx); // the writer then sees Disconnected and exits 1
    let out = writer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("disconnected"), "{stderr}");
}
