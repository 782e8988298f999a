//! The child process: this program re-run in the `child` role, killed and reaped if the
//! tour ends early.

use std::process::{Child, Command, Stdio};

use ipc::{Error, Result};

/// Spawns this program as the `role` child for `transport` and `size`, with endpoint
/// arguments and, if given, its standard input and output.
pub fn spawn(
    role: &str,
    transport: &str,
    size: usize,
    endpoint: &[String],
    stdio: Option<(Stdio, Stdio)>,
) -> Peer {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg(role)
        .arg(transport)
        .arg(size.to_string())
        .args(endpoint);
    if let Some((stdin, stdout)) = stdio {
        cmd.stdin(stdin).stdout(stdout);
    }
    Peer(Some(cmd.spawn().expect("spawn the tour child")))
}

/// A child process: `finish` waits for it and checks its exit status; dropped early (the
/// tour failed or was interrupted), it is killed and reaped.
pub struct Peer(Option<Child>);

impl Peer {
    pub fn finish(mut self, transport: &str) -> Result<()> {
        let mut child = self.0.take().expect("not finished yet");
        let status = child.wait().map_err(|source| Error::Io {
            op: "wait for the tour child",
            source,
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "the {transport} child failed: {status}"
            )))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
