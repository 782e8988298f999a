//! A segment's file shrunk under live peers (`ftruncate` by a hostile or careless process)
//! never costs them their life: real sender, receiver, publisher and subscriber processes
//! (this test binary re-run as `child`) stream while the test truncates the file to
//! nothing or to a page or two; none may die of SIGBUS or hang. Each ends with
//! `Error::Corrupt` (or `Disconnected`, its peer having gone first), or goes on streaming
//! over what the file holds once given its length back, as the library promises; across
//! the trials, ends do learn of it.

use std::time::Duration;

use ipc::shm::{Options, Publisher, Receiver, Sender, Subscriber};
use ipc::Error;

mod common;
use common::{ready, Proc, ShmName as Name};

const ROLE: &str = "SHM_TRUNCATE_ROLE";

/// How an end's last call failed, as the child prints it.
fn kind(e: &Error) -> &'static str {
    match e {
        Error::Corrupt(_) => "corrupt",
        Error::Disconnected => "disconnected",
        Error::Timeout(_) => "timeout",
        _ => "other",
    }
}

/// Runs `step` until it fails (at most 3 s), then prints how.
fn until_error(role: &str, mut step: impl FnMut(u64) -> Result<(), Error>) {
    let until = std::time::Instant::now() + Duration::from_secs(3);
    let mut i = 0u64;
    while std::time::Instant::now() < until {
        if let Err(e) = step(i) {
            println!("{role}-end {} {e}", kind(&e));
            return;
        }
        i += 1;
    }
    println!("{role}-end none");
}

/// The child entry point: does nothing unless `SHM_TRUNCATE_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let appear = Options::new().open_timeout(Duration::from_secs(10));
    match args[..] {
        ["receiver", name] => {
            let mut rx = Receiver::<[u64; 8]>::create(name, Options::new().capacity(64)).unwrap();
            ready();
            // Bounded: a receiver whose sender went on elsewhere is not hung.
            until_error("receiver", |_| {
                rx.recv_timeout(Duration::from_secs(1)).map(|_| ())
            });
        }
        ["sender", name] => {
            let mut tx = Sender::<[u64; 8]>::open_with(name, appear).unwrap();
            ready();
            until_error("sender", |i| tx.send([i; 8]).map_err(|e| e.into_error()));
        }
        ["publisher", name] => {
            let opts = Options::new().capacity(64).max_subscribers(2);
            let mut tx = Publisher::<[u64; 8]>::create(name, opts).unwrap();
            ready();
            until_error("publisher", |i| tx.send([i; 8]).map_err(|e| e.into_error()));
        }
        ["subscriber", name] => {
            let mut rx = Subscriber::<[u64; 8]>::open_with(name, appear).unwrap();
            ready();
            until_error("subscriber", |_| {
                rx.recv_timeout(Duration::from_secs(1)).map(|_| ())
            });
        }
        ["foreign-sigbus", name, path] => {
            // This process protects a segment of its own, then touches a page of another
            // mapping whose file was shrunk: that fault is not the library's to repair,
            // and must kill the process as it would have without it.
            let _rx = Receiver::<u64>::create(name, Options::new()).unwrap();
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .unwrap();
            f.set_len(8192).unwrap();
            // SAFETY: a private file of this test, mapped and shrunk on purpose.
            let m = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
            f.set_len(0).unwrap();
            ready();
            // SAFETY: reads a byte of the live mapping (past the file's end: SIGBUS).
            let byte = unsafe { core::ptr::read_volatile(m.as_ptr().add(4096)) };
            println!("read {byte}: not killed");
        }
        _ => panic!("unknown role {role}"),
    }
}

fn spawn(role: &str) -> Proc {
    let mut p = Proc::spawn(ROLE, role);
    p.wait_ready();
    p
}

/// Shrinks the segment file of `name` to `len` bytes.
fn truncate(name: &Name, len: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(name.path())
        .expect("the segment exists");
    f.set_len(len).unwrap();
}

/// Each child exits normally (no SIGBUS, no hang) after a typed error or having gone on;
/// how many learned of the shrinking (`Corrupt`).
fn assert_survived(kids: Vec<Proc>, trial: &str) -> usize {
    let mut told = 0;
    for kid in kids {
        let (status, out) = kid.finish();
        assert!(status.success(), "{trial}: a peer died: {status}\n{out}");
        let end = out
            .lines()
            .find(|l| l.contains("-end "))
            .unwrap_or_else(|| panic!("{trial}: no end reported:\n{out}"));
        assert!(
            end.contains(" corrupt ")
                || end.contains(" disconnected ")
                || end.contains(" timeout ")
                || end.ends_with(" none"),
            "{trial}: {end}"
        );
        told += usize::from(end.contains(" corrupt "));
    }
    told
}

#[test]
fn a_channel_shrunk_under_its_sender_and_receiver_never_kills_them() {
    let mut told = 0;
    for (trial, len) in [0u64, 4096, 0, 4096, 8192].into_iter().enumerate() {
        let name = Name::new("trunc-chan");
        let rx = spawn(&format!("receiver {}", name.0));
        let tx = spawn(&format!("sender {}", name.0));
        std::thread::sleep(Duration::from_millis(30));
        truncate(&name, len);
        told += assert_survived(vec![tx, rx], &format!("trial {trial}, {len} bytes"));
    }
    assert!(told > 0, "no end ever learned that its segment shrank");
}

#[test]
fn a_topic_shrunk_under_its_publisher_and_subscribers_never_kills_them() {
    let mut told = 0;
    for (trial, len) in [0u64, 4096, 0, 4096, 8192].into_iter().enumerate() {
        let name = Name::new("trunc-topic");
        let tx = spawn(&format!("publisher {}", name.0));
        let subs: Vec<Proc> = (0..2)
            .map(|_| spawn(&format!("subscriber {}", name.0)))
            .collect();
        std::thread::sleep(Duration::from_millis(30));
        truncate(&name, len);
        let mut all = subs;
        all.push(tx);
        told += assert_survived(all, &format!("trial {trial}, {len} bytes"));
    }
    assert!(told > 0, "no end ever learned that its segment shrank");
}

#[test]
fn a_fault_in_a_mapping_that_is_not_a_segment_still_kills() {
    let name = Name::new("trunc-foreign");
    let dir = common::TempDir::new("trunc-foreign");
    let path = dir.join("file");
    let kid = spawn(&format!("foreign-sigbus {} {}", name.0, path.display()));
    let (status, out) = kid.finish();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGBUS), "{status}\n{out}");
}
