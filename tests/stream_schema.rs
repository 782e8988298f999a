//! The byte streams carry each writer's whole schema in its handshake: a peer built from
//! another definition of a type is refused with `SchemaMismatch` naming the first field
//! that differs, on a pipe, a FIFO, a Unix stream and seqpacket socket, TCP and the
//! request/response client, between real processes (this test binary re-run as `child`).
//! A schema too large for the handshake is left out, and its peers still talk.

use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::Duration;

use ipc::schema::SchemaTree;
use ipc::socket::{SeqPacket, SeqPacketListener};
use ipc::{codec, fifo, pipe, socket, tcp, Error};

mod common;
use common::{ready, Proc, TempDir};

const ROLE: &str = "STREAM_SCHEMA_ROLE";

/// The longest a test waits for a message.
const PATIENCE: Duration = Duration::from_secs(60);

mod v1 {
    #[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub qty: u32,
        pub price: u32,
    }
}

mod v2 {
    #[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Order {
        pub id: u64,
        pub qty: u64,
    }
}

/// A type whose schema tree is too long for a handshake (it doubles at each level: 128
/// leaves with long field names), and another like it.
mod deep {
    #[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Leaf {
        pub a_field_with_a_name_long_enough_to_count: u64,
    }

    macro_rules! level {
        ($name:ident, $below:ty) => {
            #[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
            #[repr(C)]
            pub struct $name {
                pub left: $below,
                pub right: $below,
            }
        };
    }
    level!(D1, Leaf);
    level!(D2, D1);
    level!(D3, D2);
    level!(D4, D3);
    level!(D5, D4);
    level!(D6, D5);
    level!(Deep, D6);

    #[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    pub struct Deep2 {
        pub left: D6,
        pub right: D6,
    }
}
use deep::{Deep, Deep2};

/// Which definition of `Order` a process uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ver {
    V1,
    V2,
}

impl Ver {
    fn parse(s: &str) -> Ver {
        match s {
            "1" => Ver::V1,
            "2" => Ver::V2,
            _ => panic!("unknown version {s}"),
        }
    }

    fn arg(self) -> &'static str {
        match self {
            Ver::V1 => "1",
            Ver::V2 => "2",
        }
    }

    fn other(self) -> Ver {
        match self {
            Ver::V1 => Ver::V2,
            Ver::V2 => Ver::V1,
        }
    }

    /// The type of `qty` in this definition.
    fn qty(self) -> &'static str {
        match self {
            Ver::V1 => "u32",
            Ver::V2 => "u64",
        }
    }
}

/// The difference a process of definition `here` is told about a peer of `there`.
fn expected(here: Ver, there: Ver) -> String {
    format!(
        "`Order.qty`: {} at offset 8 here, {} at offset 8 there",
        here.qty(),
        there.qty()
    )
}

/// Checks that `e` is a mismatch naming the first field that differs between this side's
/// definition `here` and the peer's `there`.
fn assert_names_field<T: std::fmt::Debug>(r: ipc::Result<T>, here: Ver, there: Ver) {
    let e = r.expect_err("the peer's schema differs");
    let text = e.to_string();
    match e {
        Error::SchemaMismatch {
            difference: Some(d),
            ..
        } => {
            assert_eq!(&*d, expected(here, there), "{text}");
            assert!(text.contains("first difference"), "{text}");
        }
        e => panic!("{e:?}, want a schema mismatch naming a field"),
    }
}

/// Checks that `e` is a mismatch without a difference (the peer sent no tree).
fn assert_unnamed<T: std::fmt::Debug>(r: ipc::Result<T>) {
    match r.expect_err("the peer's schema differs") {
        Error::SchemaMismatch {
            difference: None, ..
        } => {}
        e => panic!("{e:?}, want a schema mismatch without a difference"),
    }
}

const V1: v1::Order = v1::Order {
    id: 1,
    qty: 2,
    price: 3,
};
const V2: v2::Order = v2::Order { id: 1, qty: 2 };

/// A duplicate of this process's descriptor 0 (the pipe end the parent handed over).
fn fd0() -> OwnedFd {
    std::io::stdin().as_fd().try_clone_to_owned().unwrap()
}

/// The child entry point: does nothing unless `STREAM_SCHEMA_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["write", via, addr, ver] => write(via, addr, Ver::parse(ver)),
        ["connect", via, addr, ver] => connect(via, addr, Ver::parse(ver)),
        ["serve", addr, ver] => serve(addr, Ver::parse(ver)),
        ["write-deep", addr] => {
            let mut tx = fifo::Sender::<Deep>::open(addr).unwrap();
            ready();
            tx.send(deep_message()).unwrap();
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Writes one message of definition `ver` on a pipe (descriptor 0) or a FIFO.
fn write(via: &str, addr: &str, ver: Ver) {
    let fd = match via {
        "pipe" => fd0(),
        "fifo" => std::fs::File::options()
            .write(true)
            .open(addr)
            .unwrap()
            .into(),
        _ => panic!("not a one-way transport: {via}"),
    };
    match ver {
        Ver::V1 => pipe::Sender::<v1::Order>::from_fd(fd).send(V1).unwrap(),
        Ver::V2 => pipe::Sender::<v2::Order>::from_fd(fd).send(V2).unwrap(),
    }
}

/// Connects with definition `ver` and checks that the handshake is refused naming the
/// field that differs from the listener's (the other definition).
fn connect(via: &str, addr: &str, ver: Ver) {
    let other = ver.other();
    match (via, ver) {
        ("unix", Ver::V1) => {
            assert_names_field(socket::Stream::<v1::Order>::connect(addr), ver, other)
        }
        ("unix", Ver::V2) => {
            assert_names_field(socket::Stream::<v2::Order>::connect(addr), ver, other)
        }
        ("seqpacket", Ver::V1) => {
            assert_names_field(SeqPacket::<v1::Order>::connect(addr), ver, other)
        }
        ("seqpacket", Ver::V2) => {
            assert_names_field(SeqPacket::<v2::Order>::connect(addr), ver, other)
        }
        ("tcp", Ver::V1) => assert_names_field(tcp::Stream::<v1::Order>::connect(addr), ver, other),
        ("tcp", Ver::V2) => assert_names_field(tcp::Stream::<v2::Order>::connect(addr), ver, other),
        _ => panic!("not a duplex transport: {via}"),
    }
}

/// Serves requests of `v2::Order` with responses of definition `ver` at `addr`, until
/// killed.
fn serve(addr: &str, ver: Ver) {
    match ver {
        Ver::V1 => {
            let mut server = socket::Server::<v2::Order, v1::Order>::bind(addr).unwrap();
            ready();
            let Err(e) = server.serve(|_| V1);
            panic!("serve: {e}");
        }
        Ver::V2 => {
            let mut server = socket::Server::<v2::Order, v2::Order>::bind(addr).unwrap();
            ready();
            let Err(e) = server.serve(|r| r);
            panic!("serve: {e}");
        }
    }
}

/// Spawns the child playing `role`; `stdin` is the pipe end it uses.
fn spawn(role: &str, stdin: Option<OwnedFd>) -> Proc {
    Proc::spawn_with(ROLE, role, |cmd: &mut Command| {
        if let Some(fd) = stdin {
            cmd.stdin(Stdio::from(fd));
        }
    })
}

/// Both ways round: (this side's definition, the peer's).
const PAIRS: [(Ver, Ver); 2] = [(Ver::V2, Ver::V1), (Ver::V1, Ver::V2)];

#[test]
fn a_pipe_reader_is_told_which_field_differs() {
    for (ours, theirs) in PAIRS {
        let (tx, rx) = pipe::channel::<u8>().unwrap();
        let kid = spawn(&format!("write pipe - {}", theirs.arg()), Some(tx.into()));
        let fd: OwnedFd = rx.into();
        match ours {
            Ver::V1 => assert_names_field(
                pipe::Receiver::<v1::Order>::from_fd(fd).recv(),
                ours,
                theirs,
            ),
            Ver::V2 => assert_names_field(
                pipe::Receiver::<v2::Order>::from_fd(fd).recv(),
                ours,
                theirs,
            ),
        }
        kid.assert_success();
    }
}

/// A write end of the FIFO at `path` that writes nothing: the reader sees no end of
/// stream between one writer's exit and the next one's open.
fn hold_open(path: &std::path::Path) -> std::fs::File {
    std::fs::File::options().write(true).open(path).unwrap()
}

#[test]
fn a_fifo_reader_is_told_which_field_differs_and_reads_on() {
    for (ours, theirs) in PAIRS {
        let dir = TempDir::new("sch-fifo");
        let path = dir.join("fifo");
        let _fifo = fifo::create(&path).unwrap();
        let addr = path.to_str().unwrap();
        match ours {
            Ver::V1 => {
                let mut rx = fifo::Receiver::<v1::Order>::open(&path).unwrap();
                let _open = hold_open(&path);
                let kid = spawn(&format!("write fifo {addr} {}", theirs.arg()), None);
                assert_names_field(rx.recv_timeout(PATIENCE), ours, theirs);
                kid.assert_success();
                // A writer of this side's definition is then read as ever.
                let kid = spawn(&format!("write fifo {addr} {}", ours.arg()), None);
                assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), V1);
                kid.assert_success();
            }
            Ver::V2 => {
                let mut rx = fifo::Receiver::<v2::Order>::open(&path).unwrap();
                let _open = hold_open(&path);
                let kid = spawn(&format!("write fifo {addr} {}", theirs.arg()), None);
                assert_names_field(rx.recv_timeout(PATIENCE), ours, theirs);
                kid.assert_success();
                let kid = spawn(&format!("write fifo {addr} {}", ours.arg()), None);
                assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), V2);
                kid.assert_success();
            }
        }
    }
}

#[test]
fn both_ends_of_a_unix_stream_are_told_which_field_differs() {
    for (ours, theirs) in PAIRS {
        let dir = TempDir::new("sch-unix");
        let path = dir.join("sock");
        let role = format!("connect unix {} {}", path.to_str().unwrap(), theirs.arg());
        match ours {
            Ver::V1 => {
                let l = socket::Listener::<v1::Order>::bind(&path).unwrap();
                let kid = spawn(&role, None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
            Ver::V2 => {
                let l = socket::Listener::<v2::Order>::bind(&path).unwrap();
                let kid = spawn(&role, None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
        }
    }
}

#[test]
fn both_ends_of_a_seqpacket_socket_are_told_which_field_differs() {
    for (ours, theirs) in PAIRS {
        let dir = TempDir::new("sch-seq");
        let path = dir.join("sock");
        let role = format!(
            "connect seqpacket {} {}",
            path.to_str().unwrap(),
            theirs.arg()
        );
        match ours {
            Ver::V1 => {
                let l = SeqPacketListener::<v1::Order>::bind(&path).unwrap();
                let kid = spawn(&role, None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
            Ver::V2 => {
                let l = SeqPacketListener::<v2::Order>::bind(&path).unwrap();
                let kid = spawn(&role, None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
        }
    }
}

#[test]
fn both_ends_of_a_tcp_stream_are_told_which_field_differs() {
    for (ours, theirs) in PAIRS {
        match ours {
            Ver::V1 => {
                let l = tcp::Listener::<v1::Order>::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let kid = spawn(&format!("connect tcp {addr} {}", theirs.arg()), None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
            Ver::V2 => {
                let l = tcp::Listener::<v2::Order>::bind("127.0.0.1:0").unwrap();
                let addr = l.local_addr().unwrap();
                let kid = spawn(&format!("connect tcp {addr} {}", theirs.arg()), None);
                assert_names_field(l.accept(), ours, theirs);
                kid.assert_success();
            }
        }
    }
}

/// A client is told which field differs, and of which type: the server's handshake
/// announces both the responses it answers and the requests it takes, so a client whose
/// responses or requests differ is refused at connect.
#[test]
fn a_request_response_client_is_told_which_field_of_which_type_differs() {
    let dir = TempDir::new("sch-rpc");
    let path = dir.join("sock");
    let mut server = spawn(&format!("serve {} 2", path.to_str().unwrap()), None);
    server.wait_ready();
    let which = |r: ipc::Result<()>, which: &str| {
        let d = match r.expect_err("the server's schema differs") {
            Error::SchemaMismatch {
                difference: Some(d),
                ..
            } => d,
            e => panic!("{e:?}, want a schema mismatch naming a field"),
        };
        assert_eq!(*d, format!("{which}: {}", expected(Ver::V1, Ver::V2)));
    };
    which(
        socket::Client::<v2::Order, v1::Order>::connect(&path).map(drop),
        "the response type, which the server answers",
    );
    which(
        socket::Client::<v1::Order, v2::Order>::connect(&path).map(drop),
        "the request type, which the server takes",
    );

    // And a client of the server's definitions is served.
    let mut client = socket::Client::<v2::Order, v2::Order>::connect(&path).unwrap();
    assert_eq!(client.call(V2).unwrap(), V2);
}

fn deep_message() -> Deep {
    let leaf = deep::Leaf {
        a_field_with_a_name_long_enough_to_count: 7,
    };
    let d1 = deep::D1 {
        left: leaf,
        right: leaf,
    };
    let d2 = deep::D2 {
        left: d1,
        right: d1,
    };
    let d3 = deep::D3 {
        left: d2,
        right: d2,
    };
    let d4 = deep::D4 {
        left: d3,
        right: d3,
    };
    let d5 = deep::D5 {
        left: d4,
        right: d4,
    };
    let d6 = deep::D6 {
        left: d5,
        right: d5,
    };
    Deep {
        left: d6,
        right: d6,
    }
}

/// A schema whose tree does not fit one atomic write is left out of the handshake: a
/// reader of another schema is told by fingerprints alone, one of the same schema reads
/// the writer's messages.
#[test]
fn a_schema_too_large_for_the_handshake_is_left_out_and_peers_still_talk() {
    assert!(SchemaTree::of::<Deep>().unwrap().encode().len() > codec::ATOMIC_WRITE);
    assert!(
        codec::hello::<Deep>().len() < 100,
        "the handshake holds no tree"
    );

    let dir = TempDir::new("sch-deep");
    let path = dir.join("fifo");
    let _fifo = fifo::create(&path).unwrap();
    let role = format!("write-deep {}", path.to_str().unwrap());

    let mut rx = fifo::Receiver::<Deep>::open(&path).unwrap();
    let kid = spawn(&role, None);
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), deep_message());
    kid.assert_success();
    drop(rx);

    let mut rx = fifo::Receiver::<Deep2>::open(&path).unwrap();
    let kid = spawn(&role, None);
    assert_unnamed(rx.recv_timeout(PATIENCE));
    kid.assert_success();
}
