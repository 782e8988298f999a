//! `ipc send` and `ipc tail` open a channel made wider than 0600, or another user's, only
//! when `--mode` trusts it (as an opener's `Options::mode` does in the library), and a
//! refusal says which `--mode` would open it. Every name starts with this process's
//! prefix; every channel is removed when its ends drop, even when a test fails.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Publisher, Receiver};

/// The uid (and group) of the other user.
const NOBODY: u32 = 65534;

fn name(tag: &str) -> String {
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    format!("{base}-{}-trust-{tag}", std::process::id())
}

/// The `ipc` binary, run as `uid` (this process's if `None`), its sweep off.
fn ipc(uid: Option<u32>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ipc"));
    c.env("IPC_RECLAIM", "off");
    if let Some(uid) = uid {
        c.uid(uid).gid(uid);
    }
    c
}

fn run(uid: Option<u32>, args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = ipc(uid).args(args).output().unwrap();
    (
        status.code().unwrap_or(-1),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// A refusal that names the `--mode` that opens the channel, and not the library's
/// advice to programs.
fn assert_refused_with(out: (i32, String, String), mode: &str) {
    let (code, _, err) = out;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not trusted"), "{err}");
    assert!(err.contains(&format!("add --mode {mode}")), "{err}");
    assert!(!err.contains("Options::mode"), "{err}");
}

/// `ipc send`, then `ipc tail`, as `uid`, of a channel and a topic made with `mode`:
/// refused without `--mode`, working with the one the refusal names.
fn send_and_tail_need_mode(uid: Option<u32>, mode: u32, tag: &str) {
    let text = format!("{mode:04o}");
    let chan = name(&format!("{tag}-chan"));
    let endpoint = format!("shm:{chan}");
    let mut rx = Receiver::<u64>::create(&chan, Options::new().mode(mode)).unwrap();
    assert_refused_with(run(uid, &["send", &endpoint, "7"]), &text);
    assert!(matches!(rx.try_recv(), Err(ipc::Error::Empty)));
    let (code, _, err) = run(uid, &["send", "--mode", &text, &endpoint, "7"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(*rx.try_recv().unwrap(), 7);

    let topic = name(&format!("{tag}-topic"));
    let endpoint = format!("shm:{topic}");
    let mut publisher = Publisher::<u64>::create(&topic, Options::new().mode(mode)).unwrap();
    assert_refused_with(run(uid, &["tail", &endpoint, "-n", "1"]), &text);
    let mut tail = Killed(
        ipc(uid)
            .args(["tail", "--mode", &text, &endpoint, "-n", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let tail = &mut tail.0;
    // A guard against a test that would hang, not a measure of time.
    let deadline = Instant::now() + Duration::from_secs(60);
    while publisher.subscribers() < 1 {
        if let Some(status) = tail.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut tail.stderr.take().unwrap(), &mut err).unwrap();
            panic!("the tail ended with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "the tail never subscribed");
        std::thread::sleep(Duration::from_millis(5));
    }
    publisher.send(42).unwrap();
    let lines: Vec<String> = BufReader::new(tail.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(tail.wait().unwrap().success());
    assert_eq!(lines, ["42"]);
}

/// A child killed on drop (a tail left waiting by a failed test).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// This user's channel made 0640: more than the 0600 an opener trusts by default.
#[test]
fn a_channel_made_wider_is_opened_with_the_mode_the_refusal_names() {
    send_and_tail_need_mode(None, 0o640, "wider");
}

/// Another user's channel, made 0666 so that anyone may use it: opened by uid `nobody`
/// (needs root to run a process as another uid; without it, the test says so and passes
/// without checking).
#[test]
fn another_users_channel_is_opened_with_the_mode_the_refusal_names() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: running a process as another uid needs root");
        return;
    }
    send_and_tail_need_mode(Some(NOBODY), 0o666, "other");
}
