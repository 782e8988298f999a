//! A camera publishing frames of varying size, 64 KiB to 4 MiB, on a shared-memory topic
//! of byte slices, written in place (`loan_slice`): nothing is copied, whatever the size
//! or the number of subscribers. Two subscriber processes read every frame in place: a
//! display that checks each frame whole, and a recorder slower than the camera, which
//! under `Overflow::DropOldest` skips frames and says how many. The camera never waits.
//!
//! Each frame is its sequence number, a checksum, then the pixels; a subscriber checks
//! that the length, the sequence and the checksum agree.
//!
//! Every process arms `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the waits
//! return `Error::Shutdown`, the camera kills and reaps its subscribers, and the topic
//! goes with the last of them to let go of it.
//!
//! ```text
//! cargo run --release --example camera
//! ```

use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Overflow, Publisher, Subscriber};
use ipc::signal::{self, Signal};
use ipc::Error;

/// Frames the camera publishes.
const FRAMES: u64 = 140;
/// The largest frame: 4 MiB.
const MAX_FRAME: usize = 4 << 20;
/// Bytes before the pixels: the sequence number and the checksum.
const HEADER: usize = 16;

type AnyError = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => match (args.get(1).map(String::as_str), args.get(2)) {
            (Some(role), Some(topic)) => subscriber(role, topic),
            _ => camera(),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if signal::shutdown_requested() => {
            if args.len() < 2 {
                eprintln!("camera: interrupted; the subscribers are stopped");
            }
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("camera: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The size of frame `seq`: 64 KiB, 128 KiB, ... 4 MiB, then again.
fn frame_len(seq: u64) -> usize {
    (64 << 10) << (seq % 7)
}

/// The pixels of frame `seq`, as 8-byte words (any bytes would do: these are cheap to
/// make and to check).
fn pixel(seq: u64, i: usize) -> u64 {
    seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64
}

/// A checksum of the pixels.
fn checksum(pixels: &[u8]) -> u64 {
    pixels.chunks_exact(8).fold(0u64, |h, w| {
        (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().unwrap())).wrapping_mul(31)
    })
}

fn camera() -> Result<(), AnyError> {
    let topic = format!("camera-example-{}", std::process::id());
    let opts = Options::new()
        .max_len(MAX_FRAME)
        .capacity(4)
        .max_subscribers(2)
        .overflow(Overflow::DropOldest);
    let mut tx = Publisher::<[u8]>::create(&topic, opts)?;
    // Dropped after the children are killed and reaped: a subscriber killed while the
    // camera is gone leaves the topic to no one, and this removes it.
    let _cleanup = RemoveStale(&topic);
    let kids = [
        Kid::spawn("display", &topic)?,
        Kid::spawn("recorder", &topic)?,
    ];
    while tx.subscribers() < kids.len() {
        if signal::shutdown_requested() {
            return Err(Error::Shutdown.into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let (mut bytes, mut lending, mut sending) = (0usize, Vec::new(), Vec::new());
    let start = Instant::now();
    for seq in 0..FRAMES {
        let len = frame_len(seq);
        let lent = Instant::now();
        let mut frame = tx.loan_slice(len)?; // a chunk of the topic, `len` bytes
        lending.push(lent.elapsed());
        // The sensor writes the frame where every subscriber will read it.
        let buf = frame.as_mut().expect("every bit pattern is a u8");
        let (head, pixels) = buf.split_at_mut(HEADER);
        for (i, w) in pixels.chunks_exact_mut(8).enumerate() {
            w.copy_from_slice(&pixel(seq, i).to_le_bytes());
        }
        head[..8].copy_from_slice(&seq.to_le_bytes());
        head[8..].copy_from_slice(&checksum(pixels).to_le_bytes());
        let sent = Instant::now();
        frame.send();
        sending.push(sent.elapsed());
        bytes += len;
        // A camera's pace: a frame every 4 ms.
        std::thread::sleep(Duration::from_millis(4));
        if signal::shutdown_requested() {
            return Err(Error::Shutdown.into());
        }
    }
    println!(
        "camera:   {FRAMES} frames, {:.0} MiB in {:.2?}; median loan {:.2?}, median send \
         {:.2?}, the same from 64 KiB to 4 MiB: nothing is copied (a send that wakes a \
         subscriber asleep between frames costs a system call more)",
        bytes as f64 / f64::from(1 << 20),
        start.elapsed(),
        median(&mut lending),
        median(&mut sending),
    );
    drop(tx); // the subscribers read what is left, then hear that the camera is gone
    for kid in kids {
        if !kid.wait()?.success() {
            return Err("a subscriber failed".into());
        }
    }
    Ok(())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn subscriber(role: &str, topic: &str) -> Result<(), AnyError> {
    let mut rx = Subscriber::<[u8]>::open(topic)?;
    let (mut seen, mut bytes, mut first, mut last) = (0u64, 0usize, None, 0u64);
    loop {
        let missed = rx.missed();
        match rx.recv() {
            Ok(frame) => {
                // Read in place: `frame` is a `&[u8]` into the topic's memory.
                if frame.len() < HEADER {
                    return Err(format!("{role}: a frame of {} bytes", frame.len()).into());
                }
                let (head, pixels) = frame.split_at(HEADER);
                let seq = u64::from_le_bytes(head[..8].try_into()?);
                let sum = u64::from_le_bytes(head[8..].try_into()?);
                if frame.len() != frame_len(seq) || checksum(pixels) != sum {
                    return Err(format!("{role}: frame {seq} is damaged").into());
                }
                first.get_or_insert(seq - missed);
                last = seq;
                seen += 1;
                bytes += frame.len();
                if role == "recorder" {
                    // Slower than the camera: it is lapped, and skips frames.
                    drop(frame);
                    std::thread::sleep(Duration::from_millis(15));
                }
            }
            Err(Error::Lagged(_)) => {} // counted in rx.missed()
            Err(Error::Disconnected) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let first = first.ok_or("no frame arrived")?;
    let missed = rx.missed();
    println!(
        "{role:<9} {seen} frames intact ({:.0} MiB read in place), {missed} skipped: \
         {} of frames {first}..={last}",
        bytes as f64 / f64::from(1 << 20),
        seen + missed,
    );
    if seen + missed != last + 1 - first {
        return Err(format!("{role}: a frame was lost without a word").into());
    }
    Ok(())
}

/// A child process, killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Kid {
    fn spawn(role: &str, topic: &str) -> std::io::Result<Kid> {
        let exe = std::env::current_exe()?;
        Command::new(exe)
            .args([role, topic])
            .spawn()
            .map(|c| Kid(Some(c)))
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

/// Removes the topic if nobody is attached to it any more.
struct RemoveStale<'a>(&'a str);

impl Drop for RemoveStale<'_> {
    fn drop(&mut self) {
        let _ = ipc::shm::remove_stale_with_prefix(self.0);
    }
}
