//! Two unrelated processes talk over a named pipe.
//!
//! The parent creates a FIFO in a fresh temporary directory and starts a reader and a
//! writer that share no file descriptor: each opens the FIFO by its path. The writer
//! sends quotes and closes; the reader sees `Disconnected` at the end of the stream and
//! prints a summary. The FIFO and the directory are removed at the end, also on an error,
//! a panic or an interruption: every process arms `shutdown_on(SIGINT, SIGTERM)`, so that
//! Ctrl-C makes blocking calls return `Error::Shutdown` and the guards do their work.
//!
//! ```text
//! cargo run --example fifo
//! ```

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use ipc::fifo::{self, Receiver, Sender};
use ipc::signal::{self, Signal};
use ipc::{FixedStr, Message};

#[derive(Clone, Copy, Debug, Message)]
#[repr(C)]
struct Quote {
    symbol: FixedStr<8>,
    price_cents: u64,
    seq: u32,
    _pad: [u8; 4],
}

const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "NVDA", "TSLA"];
const COUNT: u32 = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let role = (args.get(1).map(String::as_str), args.get(2));
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => match role {
            (Some("reader"), Some(path)) => reader(Path::new(path)),
            (Some("writer"), Some(path)) => writer(Path::new(path)),
            _ => parent(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("fifo: {e}");
            ExitCode::FAILURE
        }
        // Interrupted: the children end quietly, the parent says so once.
        Err(_) if role.0.is_some() => ExitCode::FAILURE,
        Err(_) => {
            eprintln!("fifo: interrupted; the FIFO and its directory are removed");
            ExitCode::FAILURE
        }
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A child process, killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Kid {
    fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        self.0.take().expect("not waited for yet").wait()
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn parent() -> Result<(), Box<dyn Error>> {
    let dir =
        TempDir(std::env::temp_dir().join(format!("ipc-fifo-example-{}", std::process::id())));
    std::fs::create_dir(&dir.0)?;
    let path = dir.0.join("quotes");
    let guard = fifo::create(&path)?; // mode 0600, removed when `guard` drops
    println!("parent: created FIFO {}", guard.path().display());

    // Declared after the FIFO: on an early return the children are killed and reaped
    // before the FIFO and the directory are removed.
    let spawn = |role: &str| -> std::io::Result<Kid> {
        Command::new(std::env::current_exe()?)
            .arg(role)
            .arg(&path)
            .stdin(Stdio::null())
            .spawn()
            .map(|c| Kid(Some(c)))
    };
    let reader = spawn("reader")?;
    let writer = spawn("writer")?;
    let (w, r) = (writer.wait()?, reader.wait()?);
    if !w.success() || !r.success() {
        return Err(format!("writer: {w}, reader: {r}").into());
    }
    drop(guard);
    println!("parent: FIFO removed: {}", !path.exists());
    Ok(())
}

fn writer(path: &Path) -> Result<(), Box<dyn Error>> {
    // Waits (at most 10 s) until the reader has the FIFO open.
    let mut tx = Sender::<Quote>::open_timeout(path, Duration::from_secs(10))?;
    for seq in 0..COUNT {
        let symbol = SYMBOLS[seq as usize % SYMBOLS.len()];
        tx.send(Quote {
            symbol: FixedStr::try_from(symbol)?,
            price_cents: 10_000 + u64::from(seq % 500) * 7,
            seq,
            _pad: [0; 4],
        })?;
    }
    println!("writer (pid {}): sent {COUNT} quotes", std::process::id());
    Ok(())
}

fn reader(path: &Path) -> Result<(), Box<dyn Error>> {
    let mut rx = Receiver::<Quote>::open(path)?; // returns at once; recv waits for the writer
    let (mut n, mut max) = (0u32, 0u64);
    for quote in rx.iter() {
        let quote = quote?;
        if quote.seq != n {
            return Err(format!("quote {} arrived where {n} was due", quote.seq).into());
        }
        n += 1;
        max = max.max(quote.price_cents);
    }
    println!(
        "reader (pid {}): {n} quotes in order, highest {}.{:02}, then the writer closed",
        std::process::id(),
        max / 100,
        max % 100
    );
    Ok(())
}
