//! A C program and a Rust program share one POSIX message queue, the Rust side typed.
//!
//! The Rust side writes a C header for its message type (`ipc::schema::write_c_header`),
//! builds a small C producer against it with the system `cc`, creates the queue in
//! foreign-peer mode (`mq::Options::foreign`: no schema header, each message exactly the
//! bytes of a `Reading`), runs the producer, and receives its readings as `Reading`s:
//! each one length-checked and validated, so a C mistake is an error, never an invalid
//! value. The header's `_Static_assert`s are what keep the two declarations in agreement:
//! change a field of `Reading` and the producer no longer compiles.
//!
//! Everything it makes (a directory in the temp dir, the queue) is removed at the end,
//! also on an error or an interruption (`shutdown_on(SIGINT, SIGTERM)` turns Ctrl-C into
//! `Error::Shutdown` in the blocking receive). Without a C compiler it says so and exits.
//!
//! ```text
//! cargo run --example c_interop
//! ```

use std::error::Error;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};

use ipc::mq;
use ipc::schema::{write_c_header, SchemaTree};
use ipc::signal::{self, Signal};

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Kind {
    Temperature = 1,
    Humidity = 2,
}

#[derive(ipc::Message, Clone, Copy, Debug)]
#[repr(C)]
struct Reading {
    sensor: u32,
    kind: Kind,
    _pad: [u8; 3],
    value: f32,
}

const COUNT: u32 = 1000;

/// The producer: nothing of typed-ipc but the generated header and the raw calls.
const PRODUCER: &str = r#"#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <stdio.h>
#include <stdlib.h>
#include "reading.h"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    mqd_t q = mq_open(argv[1], O_WRONLY);
    if (q == (mqd_t)-1) { perror("mq_open"); return 2; }
    unsigned n = (unsigned)strtoul(argv[2], NULL, 10);
    for (unsigned i = 0; i < n; i++) {
        Reading r = {0};
        r.sensor = i % 4;
        r.kind = (i % 2) ? Kind_Humidity : Kind_Temperature;
        r.value = (i % 2) ? 40.0f + (float)(i % 10) : 20.0f + (float)(i % 5) / 2;
        if (mq_send(q, (const char *)&r, sizeof r, 0) < 0) { perror("mq_send"); return 2; }
    }
    mq_close(q);
    return 0;
}
"#;

fn main() -> ExitCode {
    let result = match signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]) {
        Err(e) => Err(e.into()),
        Ok(()) => run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("c_interop: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("c_interop: interrupted; the queue and the build directory are removed");
            ExitCode::FAILURE
        }
    }
}

/// A directory removed with its contents on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A POSIX queue unlinked on drop.
struct Queue(String);

impl Drop for Queue {
    fn drop(&mut self) {
        let _ = mq::unlink(&self.0);
    }
}

/// A child process, killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let has_cc = Command::new("cc")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_cc {
        println!("c_interop: no C compiler (`cc`) here; nothing to show");
        return Ok(());
    }
    let pid = std::process::id();
    let dir = TempDir(std::env::temp_dir().join(format!("ipc-c-interop-{pid}")));
    std::fs::create_dir(&dir.0)?;

    // 1. The header, from the Rust type (a build.rs would do the same).
    let header = dir.0.join("reading.h");
    write_c_header(&header, &[&SchemaTree::of::<Reading>()?])?;
    println!("{}", std::fs::read_to_string(&header)?);

    // 2. The C producer, built against it.
    std::fs::write(dir.0.join("producer.c"), PRODUCER)?;
    let built = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"])
        .args(["producer.c", "-o", "producer", "-lrt"])
        .current_dir(&dir.0)
        .status()?;
    if !built.success() {
        return Err(format!("cc failed: {built}").into());
    }
    println!("built {}", dir.0.join("producer").display());

    // 3. The queue, in foreign-peer mode; then the producer, then the typed receiver.
    let queue = Queue(format!("/ipc-c-interop-{pid}"));
    let options = mq::Options::new().capacity(8).foreign();
    let mut rx = mq::Receiver::<Reading>::create(&queue.0, options)?;
    let mut producer = Kid(Some(
        Command::new(dir.0.join("producer"))
            .args([&queue.0, &COUNT.to_string()])
            .stdin(Stdio::null())
            .spawn()?,
    ));
    let (mut temperature, mut humidity, mut sensors) = (0.0f64, 0.0f64, [0u32; 4]);
    for _ in 0..COUNT {
        let r = rx.recv()?; // length-checked and validated
        sensors[r.sensor as usize % 4] += 1;
        match r.kind {
            Kind::Temperature => temperature += f64::from(r.value),
            Kind::Humidity => humidity += f64::from(r.value),
        }
    }
    let status = producer.0.take().expect("running").wait()?;
    if !status.success() {
        return Err(format!("the producer failed: {status}").into());
    }
    let half = f64::from(COUNT / 2);
    println!(
        "received {COUNT} readings from C: mean temperature {:.2}, mean humidity {:.2}, \
         per sensor {sensors:?}",
        temperature / half,
        humidity / half
    );
    Ok(())
}
