//! What the `ipc` command's tests share: a child process (the test binary re-run as its
//! test named `child`) that makes objects for a test and is killed to leave them behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process playing a role, killed on drop; `start` waits until it says
/// `child-ready`.
pub struct Kid(Child);

impl Kid {
    /// This test binary re-run as its test `child`, with `role_var` set to `role` and the
    /// automatic sweep restricted to `reclaim` (the names of the test that starts it;
    /// `off` turns it off); returns once the child has said `child-ready`.
    pub fn start(role_var: &str, role: &str, reclaim: &str) -> Kid {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads", "1"])
            .env(role_var, role)
            .env("IPC_RECLAIM", reclaim)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let ready = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("child-ready"));
        assert!(ready, "the child of role {role} did not start");
        Kid(child)
    }

    #[allow(dead_code)] // not every test binary asks
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        self.kill();
    }
}
