//! What a program prints when its `main` returns an `ipc::Error` or an `ipc::SendError`:
//! the sentence of `Display` and the variant, not a dump of the enum.
//!
//! Each child below is the body of such a `main`; the parent re-runs this binary to play
//! it, as a separate process, and reads its standard error. A test function that returns
//! `Result` reports its error through the same `Termination` impl as `main`
//! (`Error: {err:?}` on standard error).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in a child: the directory it may use.
const CHILD_DIR: &str = "IPC_ERRORS_CHILD_DIR";

/// A fresh, empty directory of this run, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ipc-errors-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the test `child` of this binary in a child process with `dir` as its
/// [`CHILD_DIR`]; returns its standard error, after checking that it failed.
fn run_child(child: &str, dir: &Path) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([child, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "the child was to fail; its stderr:\n{stderr}"
    );
    stderr
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR).map(PathBuf::from)
}

/// Child: `main` opening a FIFO that does not exist.
#[test]
fn child_open_missing_fifo() -> Result<(), ipc::Error> {
    let Some(dir) = child_dir() else {
        return Ok(());
    };
    let _rx = ipc::fifo::Receiver::<u64>::open(dir.join("absent"))?;
    Ok(())
}

/// Child: `main` sending into a pipe whose receiver is gone.
#[test]
// The error is returned once, by a program that then ends: its size costs nothing.
#[allow(clippy::result_large_err)]
fn child_send_to_closed_pipe() -> Result<(), ipc::SendError<u64>> {
    if child_dir().is_none() {
        return Ok(());
    }
    let (mut tx, rx) = ipc::pipe::channel::<u64>().map_err(|e| ipc::SendError::new(e, 0))?;
    drop(rx);
    tx.send(7)?;
    Ok(())
}

#[test]
fn a_main_returning_an_error_prints_its_sentence() {
    let dir = TempDir::new("open");
    let path = dir.0.join("absent");
    let err = ipc::fifo::Receiver::<u64>::open(&path).unwrap_err();
    let sentence = err.to_string();
    assert!(
        sentence.contains("does not exist") && sentence.contains(path.to_str().unwrap()),
        "{sentence}"
    );

    let stderr = run_child("child_open_missing_fifo", &dir.0);
    let line = format!("Error: {sentence} (Error::NotFound)");
    assert!(
        stderr.lines().any(|l| l == line),
        "want the line {line:?} in:\n{stderr}"
    );
}

#[test]
fn a_main_returning_a_send_error_prints_its_sentence() {
    let dir = TempDir::new("send");
    let stderr = run_child("child_send_to_closed_pipe", &dir.0);
    let err = ipc::Error::Disconnected;
    let line = format!("Error: send failed: {err} (Error::Disconnected)");
    assert!(
        stderr.lines().any(|l| l == line),
        "want the line {line:?} in:\n{stderr}"
    );
}

#[test]
fn debug_is_the_variant_and_the_display_text() {
    use std::time::Duration;
    let errors = [
        ("Disconnected", ipc::Error::Disconnected),
        ("Timeout", ipc::Error::Timeout(Duration::from_millis(5))),
        ("Corrupt", ipc::Error::Corrupt("a bad tag".into())),
        (
            "Io",
            ipc::Error::Io {
                op: "write",
                source: std::io::Error::from_raw_os_error(5),
            },
        ),
    ];
    for (variant, err) in errors {
        assert_eq!(format!("{err:?}"), format!("{err} (Error::{variant})"));
    }
    let full = ipc::SendError::new(ipc::Error::Full, [0u8; 4096]);
    assert_eq!(
        format!("{full:?}"),
        format!("send failed: {} (Error::Full)", ipc::Error::Full)
    );
}
