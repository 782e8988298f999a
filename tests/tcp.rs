//! TCP on loopback across real processes: the test binary re-runs itself with
//! `IPC_TCP_ROLE` and `IPC_TCP_ADDR`, and every child's exit status is asserted.

use std::env;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

mod common;

use ipc::tcp::{Client, Listener, Server, Stream};
use ipc::Error;

const ROLE: &str = "IPC_TCP_ROLE";
const ADDR: &str = "IPC_TCP_ADDR";

/// Runs test `test` of this binary in a child process in role `role`, with `addr`.
fn spawn(test: &str, role: &str, addr: SocketAddr) -> common::Kid {
    let addr = addr.to_string();
    common::rerun(test, [(ROLE, role.as_ref()), (ADDR, addr.as_ref())])
}

fn role() -> Option<(String, SocketAddr)> {
    let role = env::var(ROLE).ok()?;
    Some((role, env::var(ADDR).unwrap().parse().unwrap()))
}

#[test]
fn tcp_round_trip_in_order_then_disconnect() {
    if let Some((_, addr)) = role() {
        let mut s = Stream::<[u64; 4]>::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
        for i in 0..5000u64 {
            s.send([i, i * 2, i * 3, !i]).unwrap();
        }
        assert_eq!(s.recv().unwrap(), [5000, 0, 0, 0]);
        return;
    }
    let listener = Listener::<[u64; 4]>::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = spawn("tcp_round_trip_in_order_then_disconnect", "client", addr);
    let mut s = listener.accept().unwrap();
    assert!(s.peer_addr().ip().is_loopback());
    for i in 0..5000u64 {
        assert_eq!(
            s.recv_timeout(Duration::from_secs(20)).unwrap(),
            [i, i * 2, i * 3, !i]
        );
    }
    s.send([5000, 0, 0, 0]).unwrap();
    let err = s.recv_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    common::assert_exit_success(child);
}

#[test]
fn tcp_schema_mismatch_is_refused_on_both_sides() {
    if let Some((_, addr)) = role() {
        let err = Stream::<i32>::connect(addr).unwrap_err();
        assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
        return;
    }
    let listener = Listener::<f32>::bind("127.0.0.1:0").unwrap();
    let child = spawn(
        "tcp_schema_mismatch_is_refused_on_both_sides",
        "client",
        listener.local_addr().unwrap(),
    );
    let err = listener.accept().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("i32"), "{err}");
    common::assert_exit_success(child);
}

#[test]
fn a_peer_of_the_other_byte_order_is_refused() {
    if let Some((_, addr)) = role() {
        // A peer that announces the same type in the other byte order (flag bit 0 of the
        // handshake's flags field, at byte 10 of the frame).
        let mut raw = TcpStream::connect(addr).unwrap();
        let mut hello = ipc::codec::hello::<u64>();
        hello[10] ^= 1;
        raw.write_all(&hello).unwrap();
        let mut rest = Vec::new();
        let _ = raw.read_to_end(&mut rest);
        return;
    }
    let listener = Listener::<u64>::bind("127.0.0.1:0").unwrap();
    let child = spawn(
        "a_peer_of_the_other_byte_order_is_refused",
        "raw",
        listener.local_addr().unwrap(),
    );
    let err = listener.accept().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("endian"), "{err}");
    println!("other byte order: {err}");
    common::assert_exit_success(child);
}

#[test]
fn tcp_rpc_over_loopback() {
    if let Some((_, addr)) = role() {
        let mut c = Client::<[u32; 2], [u64; 2]>::connect(addr).unwrap();
        for i in 0..500u32 {
            assert_eq!(
                c.call([i, 3]).unwrap(),
                [u64::from(i) * 3, u64::from(i) + 3]
            );
        }
        let t = Duration::from_secs(10);
        assert_eq!(c.call_timeout([2, 2], t).unwrap(), [4, 4]);
        return;
    }
    let mut server = Server::<[u32; 2], [u64; 2]>::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let children: Vec<common::Kid> = (0..2)
        .map(|_| spawn("tcp_rpc_over_loopback", "client", addr))
        .collect();
    let mut calls = 0;
    server
        .serve_clients(2, |[a, b]| {
            calls += 1;
            [u64::from(a) * u64::from(b), u64::from(a) + u64::from(b)]
        })
        .unwrap();
    assert_eq!(calls, 2 * 501);
    for c in children {
        common::assert_exit_success(c);
    }
}

#[test]
fn tcp_connect_to_nobody_is_not_found() {
    // Bind then drop, so the port is very likely free.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Stream::<u8>::connect(addr).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

/// `send_ref` / `recv_into` round-trip in place, and a frame that is not a valid `T`
/// leaves `*out` unchanged. One process: the far end's handshake is written raw first,
/// so neither `from_std` waits for the other.
#[test]
fn send_ref_and_recv_into_work_in_place() {
    use std::net::TcpListener;
    type Word = ipc::FixedStr<4>;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let near = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (far, _) = listener.accept().unwrap();
    let mut raw = far.try_clone().unwrap();
    ipc::codec::write_hello::<Word, _>(&mut raw).unwrap();
    let mut a = Stream::<Word>::from_std(near).unwrap();
    let mut b = Stream::<Word>::from_std(far).unwrap();

    let ok = Word::try_from("ok").unwrap();
    let mut out = Word::default();
    a.send_ref(&ok).unwrap();
    b.recv_into(&mut out).unwrap();
    assert_eq!(out, ok);
    let yes = Word::try_from("yes").unwrap();
    b.send_ref(&yes).unwrap();
    a.recv_into(&mut out).unwrap();
    assert_eq!(out, yes);

    let mut bad = ipc::codec::message_header::<Word>().to_vec();
    bad.extend_from_slice(b"\xffk\0\0");
    raw.write_all(&bad).unwrap();
    let err = a.recv_into(&mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(out, yes, "a refused message must leave *out unchanged");
}

/// A listener whose accept queue is full drops new SYNs: the client process's connect
/// gives up with `Timeout` after its timeout (10 s for `connect`) instead of waiting in
/// `connect(2)` for the kernel's SYN retries (about two minutes).
#[test]
fn connect_gives_up_when_the_listeners_backlog_stays_full() {
    if let Some((_, addr)) = role() {
        let err = Stream::<u64>::connect_timeout(&addr, Duration::from_millis(300)).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        let err = Client::<u64, u64>::connect(addr).unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(err.to_string().contains("try again"), "{err}");
        return;
    }
    // A backlog of 0 (a second `listen` changes std's 128): one connection fills it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    nix::sys::socket::listen(&listener, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let _place = TcpStream::connect(addr).unwrap();
    let mut child = spawn(
        "connect_gives_up_when_the_listeners_backlog_stays_full",
        "client",
        addr,
    );
    let status = common::wait_at_most(&mut child, Duration::from_secs(40))
        .expect("connect to a full backlog still blocked after 40 s");
    assert!(status.success(), "{status}");
}

/// One client floods a TCP rpc server and never reads the answers; another client,
/// connected meanwhile, is answered at once while the first is still connected (the
/// server would drop it only after its 600 s handshake timeout).
#[test]
fn rpc_a_client_that_never_reads_does_not_stall_the_others() {
    type Big = [u8; 4096];
    const TEST: &str = "rpc_a_client_that_never_reads_does_not_stall_the_others";
    if let Some((role, addr)) = role() {
        if role == "greedy" {
            // A client's handshake, then requests, written raw: nothing reads the answers.
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&ipc::codec::rpc_hello::<Big, Big>()).unwrap();
            let mut request = Vec::new();
            ipc::codec::write_message(&mut request, &[1u8; 4096]).unwrap();
            // Until the server stops reading us: it has no room left for our answers.
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            loop {
                match s.write_all(&request) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            let marker = env::var("IPC_TCP_MARKER").unwrap();
            std::fs::write(marker, b"").unwrap();
            let mut buf = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut buf);
        } else {
            let mut c = Client::<Big, Big>::connect(addr).unwrap();
            for i in 0..50u8 {
                assert_eq!(c.call([i; 4096]).unwrap(), [i; 4096]);
            }
        }
        return;
    }
    // The greedy client creates this file once its socket is full.
    let dir = common::TempDir::new("tcp-flooded");
    let marker = dir.join("flooded");
    let mut server = Server::<Big, Big>::bind("127.0.0.1:0").unwrap();
    server.set_handshake_timeout(Duration::from_secs(600));
    let addr = server.local_addr().unwrap();
    let (done, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(server.serve_clients(2, |req| req)));
    let addr_s = addr.to_string();
    let mut greedy = common::rerun(
        TEST,
        [
            (ROLE, "greedy".as_ref()),
            (ADDR, addr_s.as_ref()),
            ("IPC_TCP_MARKER", marker.as_os_str()),
        ],
    );
    let start = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the greedy client never filled its socket"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut polite = spawn(TEST, "polite", addr);
    let status = common::wait_at_most(&mut polite, Duration::from_secs(30));
    let _ = greedy.kill();
    let _ = greedy.wait();
    let status = status.expect("the polite client was not answered within 30 s");
    assert!(status.success(), "polite client: {status}");
    // The greedy client is gone now: the server drops it and has served both.
    served
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not notice the greedy client left")
        .unwrap();
}
