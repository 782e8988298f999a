//! 1 MiB frames from one process to another: written in place into a shared-memory ring
//! with loans (zero copy), against the same frames through a pipe (two copies).
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the waits
//! return `Error::Shutdown`, the parent kills and reaps its child, and the ring goes with
//! the last of them to let go of it.
//!
//! ```text
//! cargo run --release --example zero_copy
//! ```

use std::io::{Read, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Receiver, Sender};
use ipc::signal::{self, Signal};

const FRAME: usize = 1 << 20;
const FRAMES: u64 = 256;

type Frame = [u8; FRAME];
type AnyError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let role = args.get(1).map(String::as_str);
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => match role {
            Some("shm-receiver") => shm_receiver(&args[2]),
            Some("pipe-receiver") => pipe_receiver(),
            _ => parent(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("zero_copy: {e}");
            ExitCode::FAILURE
        }
        // Interrupted: the receivers end quietly, the parent says so once.
        Err(_) if role.is_some() => ExitCode::FAILURE,
        Err(_) => {
            eprintln!("zero_copy: interrupted; the receiver is stopped");
            ExitCode::FAILURE
        }
    }
}

/// `Err(Error::Shutdown)` once SIGINT or SIGTERM has arrived, for a loop whose calls may
/// never block.
fn interrupted() -> ipc::Result<()> {
    if signal::shutdown_requested() {
        Err(ipc::Error::Shutdown)
    } else {
        Ok(())
    }
}

/// A child process, killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Kid {
    fn spawn(cmd: &mut Command) -> std::io::Result<Kid> {
        cmd.spawn().map(|c| Kid(Some(c)))
    }

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

fn parent() -> Result<(), AnyError> {
    let me = std::env::current_exe()?;

    // Shared memory: the receiver creates the ring, the sender fills frames in place.
    let name = format!("zero-copy-{}", std::process::id());
    // No linger: frames for a receiver this process stops are not kept for another (the
    // default keeps a departed sender's unread messages for 60 s).
    let opts = Options::new().capacity(8).linger(Duration::ZERO);
    let mut tx = Sender::<Frame>::open_or_create(&name, opts)?;
    // Declared after the ring's end: on an early return the child is stopped first, and
    // this process, the last one attached, removes the ring, unread frames and all.
    let child = Kid::spawn(Command::new(&me).args(["shm-receiver", &name]))?;
    let start = Instant::now();
    for i in 0..FRAMES {
        let mut loan = tx.loan_timeout(Duration::from_secs(30))?;
        let frame = loan.as_mut().expect("[u8; N] accepts any bits");
        frame.fill(i as u8);
        loan.send();
    }
    drop(tx);
    let status = child.wait()?;
    let shm = start.elapsed();
    if !status.success() {
        return Err(format!("shm receiver: {status}").into());
    }

    // A pipe: the same frames, built in a buffer, written and read back.
    let mut child = Kid::spawn(Command::new(&me).arg("pipe-receiver").stdin(Stdio::piped()))?;
    let mut pipe = child
        .0
        .as_mut()
        .and_then(|c| c.stdin.take())
        .expect("piped");
    let mut buf = vec![0u8; FRAME];
    let start = Instant::now();
    for i in 0..FRAMES {
        interrupted()?;
        buf.fill(i as u8);
        pipe.write_all(&buf)?;
    }
    drop(pipe);
    let status = child.wait()?;
    let piped = start.elapsed();
    if !status.success() {
        return Err(format!("pipe receiver: {status}").into());
    }

    let per = |d: Duration| d / FRAMES as u32;
    let gib = |d: Duration| (FRAMES as f64 * FRAME as f64) / d.as_secs_f64() / (1u64 << 30) as f64;
    println!("{FRAMES} frames of 1 MiB, including process start-up:");
    println!(
        "  shared memory + loans: {:>10.2?} per frame  {:>6.2} GiB/s",
        per(shm),
        gib(shm)
    );
    println!(
        "  pipe:                  {:>10.2?} per frame  {:>6.2} GiB/s",
        per(piped),
        gib(piped)
    );
    println!(
        "  pipe / shm:            {:>10.1}x",
        piped.as_secs_f64() / shm.as_secs_f64()
    );
    Ok(())
}

fn shm_receiver(name: &str) -> Result<(), AnyError> {
    let mut rx = Receiver::<Frame>::open_or_create(name, Options::new().capacity(8))?;
    for i in 0..FRAMES {
        let frame = rx.recv_timeout(Duration::from_secs(30))?;
        // Read in place: the frame is never copied.
        if frame[0] != i as u8 || frame[FRAME - 1] != i as u8 {
            return Err(format!("frame {i} is wrong").into());
        }
    }
    Ok(())
}

fn pipe_receiver() -> Result<(), AnyError> {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; FRAME];
    for i in 0..FRAMES {
        interrupted()?;
        stdin.read_exact(&mut buf)?;
        if buf[0] != i as u8 || buf[FRAME - 1] != i as u8 {
            return Err(format!("frame {i} is wrong").into());
        }
    }
    Ok(())
}
