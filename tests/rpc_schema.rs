//! A request/response client and a server that disagree on either type refuse each other
//! at `connect`, over Unix sockets and TCP, with sync and async servers: the client's
//! `connect` returns `SchemaMismatch` saying whether the request or the response type
//! differs, and the server closes that connection without counting it as a client, so a
//! good client after it is served. The server is a real process (this test binary re-run
//! as `child`).

use std::process::Command;

use ipc::{socket, tcp, Error, Message};

mod common;
use common::{Proc, TempDir};

const ROLE: &str = "IPC_RPC_SCHEMA_ROLE";
const AT: &str = "IPC_RPC_SCHEMA_AT";

/// The server's request.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Ask {
    n: u64,
}

/// The server's response.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Answer {
    n: u64,
    twice: u64,
}

/// Another version of the request and of the response.
mod other {
    #[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
    #[repr(C)]
    pub struct Ask {
        pub n: u32,
        pub _pad: [u8; 4],
    }

    #[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
    #[repr(C)]
    pub struct Answer {
        pub n: u64,
        pub twice: u32,
        pub _pad: [u8; 4],
    }
}

fn answer(a: Ask) -> Answer {
    Answer {
        n: a.n,
        twice: a.n * 2,
    }
}

/// The child: a server of `Ask` and `Answer` that serves one client and exits.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let at = std::env::var(AT).unwrap();
    match role.as_str() {
        "unix" => {
            let mut server = socket::Server::<Ask, Answer>::bind(&at).unwrap();
            common::ready();
            server.serve_clients(1, answer).unwrap();
        }
        "tcp" => {
            let mut server = tcp::Server::<Ask, Answer>::bind("127.0.0.1:0").unwrap();
            std::fs::write(&at, server.local_addr().unwrap().to_string()).unwrap();
            common::ready();
            server.serve_clients(1, answer).unwrap();
        }
        "async-unix" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let sync = socket::Server::<Ask, Answer>::bind(&at).unwrap();
                let mut server = socket::AsyncServer::from_sync(sync).unwrap();
                common::ready();
                server
                    .serve_clients(1, |a| async move { answer(a) })
                    .await
                    .unwrap();
            });
        }
        "plain-unix" => {
            // A plain stream listener, whose type a request/response client would take.
            let listener = socket::Listener::<Answer>::bind(&at).unwrap();
            common::ready();
            match listener.accept() {
                Err(Error::Corrupt(m)) => assert!(m.contains("request/response end"), "{m}"),
                other => panic!("a request/response client was accepted: {other:?}"),
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A server of `role` in a child process, ready, and where to reach it.
fn server(role: &str, dir: &TempDir) -> (Proc, String) {
    let at = dir.join(if role == "tcp" { "addr" } else { "rpc.sock" });
    let at = at.to_str().unwrap().to_owned();
    let mut p = Proc::spawn_with(ROLE, role, |cmd: &mut Command| {
        cmd.env(AT, &at);
    });
    p.wait_ready();
    if role == "tcp" {
        let addr = std::fs::read_to_string(&at).unwrap();
        return (p, addr);
    }
    (p, at)
}

/// Asserts that `refused` is a schema mismatch whose `difference` names `which` type
/// ("request" or "response") and says how the types differ.
fn assert_refused<T: std::fmt::Debug>(refused: ipc::Result<T>, which: &str, field: &str) {
    match refused {
        Err(e @ Error::SchemaMismatch { .. }) => {
            let Error::SchemaMismatch {
                difference: Some(d),
                ..
            } = &e
            else {
                panic!("no difference in {e:?}");
            };
            assert!(d.contains(which), "`{which}` not named: {e}");
            assert!(d.contains(field), "`{field}` not named: {e}");
            assert!(e.to_string().contains("same definition"), "{e}");
            println!("another {which} type: {e}");
        }
        other => panic!("a client of another {which} type was not refused: {other:?}"),
    }
}

/// The two bad clients are refused at connect, then a good one is answered; the server
/// ends after it, having counted only the good one.
fn a_client_of_either_other_type_is_refused(role: &str) {
    let dir = TempDir::new("rpc-schema");
    let (server, at) = server(role, &dir);
    if role == "tcp" {
        assert_refused(
            tcp::Client::<other::Ask, Answer>::connect(&at),
            "request",
            "Ask",
        );
        assert_refused(
            tcp::Client::<Ask, other::Answer>::connect(&at),
            "response",
            "twice",
        );
        let mut good = tcp::Client::<Ask, Answer>::connect(&at).unwrap();
        assert_eq!(good.call(Ask { n: 21 }).unwrap(), answer(Ask { n: 21 }));
    } else {
        assert_refused(
            socket::Client::<other::Ask, Answer>::connect(&at),
            "request",
            "Ask",
        );
        assert_refused(
            socket::Client::<Ask, other::Answer>::connect(&at),
            "response",
            "twice",
        );
        let mut good = socket::Client::<Ask, Answer>::connect(&at).unwrap();
        assert_eq!(good.call(Ask { n: 21 }).unwrap(), answer(Ask { n: 21 }));
    }
    server.assert_success();
}

#[test]
fn unix_a_client_of_either_other_type_is_refused_at_connect() {
    a_client_of_either_other_type_is_refused("unix");
}

#[test]
fn tcp_a_client_of_either_other_type_is_refused_at_connect() {
    a_client_of_either_other_type_is_refused("tcp");
}

#[test]
fn async_server_a_client_of_either_other_type_is_refused_at_connect() {
    a_client_of_either_other_type_is_refused("async-unix");
}

/// A request/response client that reaches a plain stream listener, and a plain stream end
/// that reaches a request/response server, are refused at once (`Corrupt`, saying what the
/// peer is), by both sides: not after a handshake timeout spent waiting for a second
/// record that a plain end never sends.
#[test]
fn a_plain_stream_end_and_a_request_response_end_refuse_each_other() {
    let dir = TempDir::new("rpc-plain");
    let (listener, at) = server("plain-unix", &dir);
    match socket::Client::<Ask, Answer>::connect(&at) {
        Err(Error::Corrupt(m)) => assert!(m.contains("no request/response end"), "{m}"),
        other => panic!("a plain listener was taken for a server: {other:?}"),
    }
    listener.assert_success();

    let dir = TempDir::new("rpc-plain");
    let (server, at) = server("unix", &dir);
    match socket::Stream::<Answer>::connect(&at) {
        Err(Error::Corrupt(m)) => assert!(m.contains("is a request/response end"), "{m}"),
        other => panic!("a server was taken for a plain stream end: {other:?}"),
    }
    // The server did not count the plain end: it serves a good client, its one, and ends.
    let mut good = socket::Client::<Ask, Answer>::connect(&at).unwrap();
    assert_eq!(good.call(Ask { n: 2 }).unwrap(), answer(Ask { n: 2 }));
    drop(good);
    server.assert_success();
}
