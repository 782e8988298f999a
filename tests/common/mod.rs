//! Helpers shared by the cross-process test binaries (each includes this with `mod common;`
//! and uses what it needs).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// A unique shared-memory channel name; its segment is removed on drop even if the test
/// fails.
pub struct ShmName(pub String);

impl ShmName {
    pub fn new(tag: &str) -> ShmName {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        ShmName(format!("test-{}-{n}-{tag}", std::process::id()))
    }

    /// Where the segment lives.
    pub fn path(&self) -> String {
        format!("/dev/shm/ipc.{}", self.0)
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// This test binary re-run as a child that runs only the test named `child`, with
/// `role_var` set to `role`; killed and reaped on drop.
pub struct Proc(Option<Child>);

impl Proc {
    pub fn spawn(role_var: &str, role: &str) -> Proc {
        Proc::spawn_with(role_var, role, |_| {})
    }

    pub fn spawn_with(role_var: &str, role: &str, f: impl FnOnce(&mut Command)) -> Proc {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(role_var, role)
            .stdout(Stdio::piped());
        f(&mut cmd);
        Proc(Some(cmd.spawn().unwrap()))
    }

    /// Waits for the child to print `ready` (see [`ready`]).
    pub fn wait_ready(&mut self) {
        let out = self.0.as_mut().unwrap().stdout.as_mut().unwrap();
        let mut r = BufReader::new(out);
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                r.read_line(&mut line).unwrap() > 0,
                "child exited before ready"
            );
            if line.trim_end().ends_with("ready") {
                return;
            }
        }
    }

    /// Sends `signal` to the child (SIGSTOP, SIGCONT, ...).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.0.as_ref().unwrap().id() as i32);
        nix::sys::signal::kill(pid, signal).unwrap();
    }

    /// SIGKILLs the child and reaps it; returns when the kill was sent.
    pub fn kill(&mut self) -> Instant {
        let c = self.0.as_mut().unwrap();
        c.kill().unwrap();
        let at = Instant::now();
        c.wait().unwrap();
        at
    }

    pub fn assert_success(mut self) {
        let status = self.0.take().unwrap().wait().unwrap();
        assert!(status.success(), "child failed: {status}");
    }

    /// Waits for the child without judging its exit status (a child meant to die).
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.0.take().unwrap().wait().unwrap()
    }

    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// In a child: tells the parent it is ready.
pub fn ready() {
    println!("ready");
}

/// Re-runs the test named `test` of this binary in a child process, with `vars` set in its
/// environment (the test sees them and plays its child part); stdin is piped, so a child
/// can wait for the parent by reading it to EOF.
pub fn rerun<'a>(test: &str, vars: impl IntoIterator<Item = (&'a str, &'a OsStr)>) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .envs(vars)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` (closing its stdin first) and asserts that it exited with success.
pub fn assert_exit_success(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
}

/// In a child process (as root): gives this process a mount namespace of its own with a
/// fresh tmpfs of `size` (`"64k"`, `"1m"`) on /dev/shm, so that it can fill or scan
/// /dev/shm without touching the real one. Everything in it vanishes with the process.
pub fn private_dev_shm(size: &str) {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    mount(
        Some("tmpfs"),
        "/dev/shm",
        Some("tmpfs"),
        MsFlags::empty(),
        Some(format!("size={size},mode=1777").as_str()),
    )
    .unwrap();
}

/// Waits at most `limit` for `child` to exit; kills it and returns `None` if it did not
/// (a watchdog, so that a hang fails the test instead of stalling it).
pub fn wait_at_most(
    child: &mut Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
