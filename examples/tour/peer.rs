//! The child processes: this program re-run in a role (`child` for the typed ends, `hand`
//! for the hand-written streams), killed and reaped if the tour ends early.

use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

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
    let mut cmd = command(role, transport, size, endpoint);
    if let Some((stdin, stdout)) = stdio {
        cmd.stdin(stdin).stdout(stdout);
    }
    Peer::spawn(&mut cmd)
}

/// The command that runs this program as the `role` child.
pub fn command(role: &str, transport: &str, size: usize, endpoint: &[String]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.arg(role)
        .arg(transport)
        .arg(size.to_string())
        .args(endpoint);
    cmd
}

/// A child process: `finish` waits for it and checks its exit status; dropped early (the
/// tour failed or was interrupted), it is killed and reaped.
pub struct Peer(Option<Child>);

impl Peer {
    pub fn spawn(cmd: &mut Command) -> Peer {
        Peer(Some(cmd.spawn().expect("spawn the tour child")))
    }

    /// The child's standard input and output, if they were piped.
    pub fn take_stdio(&mut self) -> (Option<ChildStdin>, Option<ChildStdout>) {
        let child = self.0.as_mut().expect("not finished yet");
        (child.stdin.take(), child.stdout.take())
    }

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
