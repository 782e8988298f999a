//! A parent produces sensor readings, a child consumes them over an anonymous pipe.
//!
//! The read end of a typed pipe becomes the child's standard input; a `Done` message ends
//! the stream, and the child prints a summary and exits 0.
//!
//! ```text
//! cargo run --example pipe_producer_consumer
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::process::{Command, Stdio};

use ipc::pipe::{self, Receiver};
use ipc::{FixedStr, Message};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Kind {
    Reading = 1,
    Done = 2,
}

#[derive(Clone, Copy, Debug, Message)]
#[repr(C)]
struct Reading {
    seq: u64,
    celsius: f64,
    sensor: FixedStr<14>,
    kind: Kind,
    _pad: [u8; 1],
}

const SENSORS: [&str; 3] = ["boiler", "attic", "cellar"];
const COUNT: u64 = 3_000;

fn main() -> Result<(), Box<dyn Error>> {
    if std::env::args().nth(1).as_deref() == Some("consumer") {
        return consumer();
    }
    let (mut tx, rx) = pipe::channel::<Reading>()?;
    let mut child = Command::new(std::env::current_exe()?)
        .arg("consumer")
        .stdin(Stdio::from(rx))
        .spawn()?;
    for seq in 0..COUNT {
        let sensor = SENSORS[(seq % 3) as usize];
        let celsius = 20.0 + (seq % 17) as f64 * 0.5 + (seq % 3) as f64 * 10.0;
        tx.send(Reading {
            seq,
            celsius,
            sensor: FixedStr::try_from(sensor)?,
            kind: Kind::Reading,
            _pad: [0],
        })?;
    }
    tx.send(Reading {
        seq: COUNT,
        celsius: 0.0,
        sensor: FixedStr::new(),
        kind: Kind::Done,
        _pad: [0],
    })?;
    println!("producer: sent {COUNT} readings and DONE");
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("consumer failed: {status}").into());
    }
    Ok(())
}

fn consumer() -> Result<(), Box<dyn Error>> {
    let mut rx = Receiver::<Reading>::stdin()?;
    let mut stats: BTreeMap<String, (u64, f64, f64, f64)> = BTreeMap::new();
    let mut next = 0;
    loop {
        let r = rx.recv()?;
        if r.seq != next {
            return Err(format!("reading {} arrived where {next} was due", r.seq).into());
        }
        next += 1;
        if r.kind == Kind::Done {
            break;
        }
        let s = stats
            .entry(r.sensor.as_str().to_owned())
            .or_insert((0, f64::MAX, f64::MIN, 0.0));
        s.0 += 1;
        s.1 = s.1.min(r.celsius);
        s.2 = s.2.max(r.celsius);
        s.3 += r.celsius;
    }
    println!("consumer: {} readings, then DONE", next - 1);
    println!("  sensor    count    min    max   mean");
    for (sensor, (n, min, max, sum)) in &stats {
        println!(
            "  {sensor:<8} {n:>6} {min:>6.1} {max:>6.1} {:>6.2}",
            sum / *n as f64
        );
    }
    Ok(())
}
