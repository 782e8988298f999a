//! A request/response client whose server answers one call badly: an answer that is no
//! `Resp` is one error and the calls after it are answered, each with its own answer;
//! garbage where an answer should be makes every later call fail at once with `Corrupt`
//! saying to connect again, never wait for an answer already read or take another
//! call's. The server is a real process (this test binary re-run as `child`) writing
//! raw bytes on a Unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use ipc::{codec, socket, Error};

mod common;
use common::{ready, Proc, TempDir};

const ROLE: &str = "RPC_ANSWERS_ROLE";

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
struct Resp {
    n: u64,
    ok: bool,
    _pad: [u8; 7],
}

/// How long a call may take before the test calls it a hang: a guard, never a measure.
const HANG: Duration = Duration::from_secs(30);

/// The child entry point: does nothing unless `RPC_ANSWERS_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    let ["server", path, first] = args[..] else {
        panic!("unknown role {role}");
    };
    // Answers each request `n` with `Resp { n, ok: true }`, except the first: a `bool`
    // of 2 (`invalid`), or sixteen bytes that are no record (`garbage`).
    let listener = UnixListener::bind(path).unwrap();
    ready();
    let (mut s, _) = listener.accept().unwrap();
    let mut header = [0u8; 8];
    s.read_exact(&mut header).unwrap();
    let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
    s.read_exact(&mut vec![0; len]).unwrap();
    s.write_all(&codec::hello::<Resp>()).unwrap();
    let record = codec::message_header::<u64>().len() + 8;
    let mut answered = 0;
    let mut req = vec![0u8; record];
    while s.read_exact(&mut req).is_ok() {
        let n = u64::from_le_bytes(req[record - 8..].try_into().unwrap());
        let mut wire = codec::message_header::<Resp>().to_vec();
        let ok_at = wire.len() + 8;
        wire.extend(n.to_le_bytes());
        wire.extend([1, 0, 0, 0, 0, 0, 0, 0]);
        if answered == 0 {
            match first {
                "invalid" => wire[ok_at] = 2,
                "garbage" => wire = vec![0xee; 16],
                _ => panic!("unknown first answer {first}"),
            }
        }
        s.write_all(&wire).unwrap();
        answered += 1;
    }
}

/// A client of a server (a child process) whose first answer is `first`.
fn client(dir: &TempDir, first: &str) -> (socket::Client<u64, Resp>, Proc) {
    let path = dir.join("rpc.sock");
    let mut server = Proc::spawn(ROLE, &format!("server {} {first}", path.display()));
    server.wait_ready();
    let client = socket::Client::connect(Path::new(&path)).unwrap();
    (client, server)
}

#[test]
fn an_invalid_answer_is_one_error_and_the_next_calls_are_answered() {
    let dir = TempDir::new("rpc-invalid");
    let (mut c, _server) = client(&dir, "invalid");
    let err = c.call_timeout(1, HANG).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    for n in 2..=4 {
        let answer = c.call_timeout(n, HANG).unwrap();
        assert_eq!((answer.n, answer.ok), (n, true));
    }
}

#[test]
fn garbage_for_an_answer_fails_every_later_call_with_corrupt() {
    let dir = TempDir::new("rpc-garbage");
    let (mut c, _server) = client(&dir, "garbage");
    let err = c.call_timeout(1, HANG).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    // Whether the garbage was the answer or came before it cannot be told: the next
    // calls neither wait for an answer nor take the previous call's.
    for n in 2..=3 {
        let err = c.call_timeout(n, HANG).unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt(m) if m.contains("connect again")),
            "{err}"
        );
    }
}
