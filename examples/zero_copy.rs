//! 1 MiB frames from one process to another: written in place into a shared-memory ring
//! with loans (zero copy), against the same frames through a pipe (two copies).
//!
//! ```text
//! cargo run --release --example zero_copy
//! ```

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Receiver, Sender};

const FRAME: usize = 1 << 20;
const FRAMES: u64 = 256;

type Frame = [u8; FRAME];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("shm-receiver") => return shm_receiver(&args[2]),
        Some("pipe-receiver") => return pipe_receiver(),
        _ => {}
    }
    let me = std::env::current_exe()?;

    // Shared memory: the receiver creates the ring, the sender fills frames in place.
    let name = format!("zero-copy-{}", std::process::id());
    let mut tx = Sender::<Frame>::open_or_create(&name, Options::new().capacity(8))?;
    let mut child = Command::new(&me).args(["shm-receiver", &name]).spawn()?;
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
    let mut child = Command::new(&me)
        .arg("pipe-receiver")
        .stdin(Stdio::piped())
        .spawn()?;
    let mut pipe = child.stdin.take().expect("piped");
    let mut buf = vec![0u8; FRAME];
    let start = Instant::now();
    for i in 0..FRAMES {
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

fn shm_receiver(name: &str) -> Result<(), Box<dyn std::error::Error>> {
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

fn pipe_receiver() -> Result<(), Box<dyn std::error::Error>> {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; FRAME];
    for i in 0..FRAMES {
        stdin.read_exact(&mut buf)?;
        if buf[0] != i as u8 || buf[FRAME - 1] != i as u8 {
            return Err(format!("frame {i} is wrong").into());
        }
    }
    Ok(())
}
