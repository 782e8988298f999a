//! A request/response client's answers on a Unix socket, each to its own call: when the
//! server answers one call badly (an answer that is no `Resp` is one error and the calls
//! after it are answered; garbage where an answer should be makes every later call fail
//! at once with `Corrupt` saying to connect again, never wait for an answer already read
//! or take another call's), and when a call times out with its request only partly
//! written (the next call writes the rest first, then skips the late answer). The server
//! is a real process (this test binary re-run as `child`).

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use std::time::Instant;

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
    if let ["big-server", path] = args[..] {
        // Answers a request with its byte 1, after a second if its byte 0 is 1 (saying
        // so first, so that the test knows it is busy).
        let path = path.to_owned();
        return on_a_big_stack(move || {
            let mut server = socket::Server::<Big, u64>::bind(&path).unwrap();
            ready();
            let _ = server.serve(|req: Big| {
                if req[0] == 1 {
                    ready();
                    std::thread::sleep(Duration::from_secs(1));
                }
                u64::from(req[1])
            });
        });
    }
    if let ["busy", path] = args[..] {
        let path = path.to_owned();
        return on_a_big_stack(move || {
            let mut c = socket::Client::<Big, u64>::connect(&path).unwrap();
            let _ = c.call(*big(1, 0));
        });
    }
    let ["server", path, first] = args[..] else {
        panic!("unknown role {role}");
    };
    // Answers each request `n` with `Resp { n, ok: true }`, except the first: a `bool`
    // of 2 (`invalid`), or sixteen bytes that are no record (`garbage`).
    let listener = UnixListener::bind(path).unwrap();
    ready();
    let (mut s, _) = listener.accept().unwrap();
    // The client's handshake: two records (what it sends, what it takes).
    for _ in 0..2 {
        let mut header = [0u8; 8];
        s.read_exact(&mut header).unwrap();
        let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
        s.read_exact(&mut vec![0; len]).unwrap();
    }
    s.write_all(&codec::rpc_hello::<Resp, u64>()).unwrap();
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

/// A request larger than the socket holds: a call that times out while the server is
/// busy leaves part of it unwritten.
const BIG: usize = 512 * 1024;

/// Runs `f` on a thread with room for a few `Big` values on its stack (they are passed
/// by value), and waits for it.
fn on_a_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}
type Big = [u8; BIG];

/// A request whose byte 0 is `busy` (1: the server takes a second) and byte 1 `tag`.
fn big(busy: u8, tag: u8) -> Box<Big> {
    let mut b: Box<Big> = vec![0; BIG].into_boxed_slice().try_into().unwrap();
    b[0] = busy;
    b[1] = tag;
    b
}

/// A server process answering `Big` requests at `path`.
fn big_server(path: &std::path::Path) -> Proc {
    let mut server = Proc::spawn(ROLE, &format!("big-server {}", path.display()));
    server.wait_ready();
    server
}

/// Keeps `server` (at `path`) busy for a second with another client's call; returns that
/// client once the server's handler has begun its second. (A client connects before:
/// a busy server greets no one.)
fn keep_busy(server: &mut Proc, path: &std::path::Path) -> Proc {
    let busy = Proc::spawn(ROLE, &format!("busy {}", path.display()));
    server.wait_ready();
    busy
}

#[test]
fn a_call_after_one_that_timed_out_halfway_through_its_request_is_answered() {
    on_a_big_stack(after_a_call_that_timed_out_halfway);
}

fn after_a_call_that_timed_out_halfway() {
    let dir = TempDir::new("rpc-partial");
    let path = dir.join("big.sock");
    let mut server = big_server(&path);
    let mut c = socket::Client::<Big, u64>::connect(&path).unwrap();
    let _busy = keep_busy(&mut server, &path);
    let first = c.call_timeout(*big(0, 1), Duration::from_millis(100));
    assert!(matches!(first, Err(Error::Timeout(_))), "{first:?}");
    // Once the server is free: the rest of the first request goes, its answer is skipped,
    // and this call gets its own.
    let t = Instant::now();
    let second = c.call_timeout(*big(0, 2), HANG);
    assert_eq!(second.unwrap(), 2, "after {:?}", t.elapsed());
}

#[test]
fn an_async_call_after_one_that_timed_out_halfway_through_its_request_is_answered() {
    on_a_big_stack(after_an_async_call_that_timed_out_halfway);
}

fn after_an_async_call_that_timed_out_halfway() {
    let dir = TempDir::new("rpc-partial-async");
    let path = dir.join("big.sock");
    let mut server = big_server(&path);
    let sync = socket::Client::<Big, u64>::connect(&path).unwrap();
    let _busy = keep_busy(&mut server, &path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = socket::AsyncClient::from_sync(sync).unwrap();
        let first = c.call_timeout(*big(0, 1), Duration::from_millis(100)).await;
        assert!(matches!(first, Err(Error::Timeout(_))), "{first:?}");
        let second = tokio::time::timeout(HANG, c.call(*big(0, 2))).await;
        assert!(matches!(second, Ok(Ok(2))), "{second:?}");
    });
}
