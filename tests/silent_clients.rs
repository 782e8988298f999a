//! Request/response servers (Unix and TCP), and the receivers that bound endpoints make
//! (`endpoint::Incoming`: Unix, seqpacket, TCP), beside peers that connect and do not
//! speak, speak slowly, or speak garbage: handshakes proceed as their bytes arrive, each
//! with a deadline of its own, and never hold up the peers that speak.
//!
//! A server runs on a thread of the test; the clients that misbehave are raw sockets
//! (`UnixStream`, `TcpStream`) that write exactly the bytes each test chooses. A
//! receiver's senders are child processes, this binary re-run (see `child`).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

mod common;

use ipc::{codec, socket, tcp, Error};

type Req = [u32; 2];
type Resp = u64;

fn answer([a, b]: Req) -> Resp {
    u64::from(a) * 1000 + u64::from(b)
}

/// How long a test waits for something that should come at once before it calls it a
/// hang: a guard against hanging, never a measure.
const HANG: Duration = Duration::from_secs(30);

/// How long a good client's call may take: far below the servers' handshake timeout
/// where a test says that no handshake deadline was waited for.
const CALL: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, Debug)]
enum Kind {
    Unix,
    Tcp,
}

/// Where a server of one test listens.
enum Addr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// A server, handed back by its thread once `serve_clients` returned: it keeps its
/// connections open while the test looks at them, and its `Debug` says how many of each
/// kind it holds.
type Served = Box<dyn fmt::Debug + Send>;

/// A server on a thread of the test; its thread hands the server back with the result of
/// `serve_clients`.
struct Running {
    addr: Addr,
    /// The server thread's id.
    tid: i32,
    done: mpsc::Receiver<(Served, ipc::Result<()>)>,
    /// The socket file's directory, removed on drop even if the test fails.
    _dir: Option<common::TempDir>,
}

impl Running {
    /// Starts a server of `kind` with `handshake` as its handshake timeout, answering
    /// until `clients` clients have ended.
    fn start(kind: Kind, handshake: Duration, clients: usize) -> Running {
        enough_descriptors();
        let (tx, done) = mpsc::channel();
        let (tid_tx, tid) = mpsc::channel();
        let serving = move || {
            tid_tx.send(common::gettid()).unwrap();
        };
        match kind {
            Kind::Unix => {
                let dir = common::TempDir::new("silent");
                let path = dir.join("rpc.sock");
                // A queue long enough for every test's connections, so that connecting
                // never waits for the server to accept.
                let opts = socket::Options::new()
                    .handshake_timeout(handshake)
                    .backlog(512);
                let mut server = socket::Server::<Req, Resp>::bind_with(&path, opts).unwrap();
                thread::spawn(move || {
                    serving();
                    let r = server.serve_clients(clients, answer);
                    let _ = tx.send((Box::new(server) as Served, r));
                });
                Running {
                    addr: Addr::Unix(path),
                    tid: tid.recv().unwrap(),
                    done,
                    _dir: Some(dir),
                }
            }
            Kind::Tcp => {
                let mut server = tcp::Server::<Req, Resp>::bind("127.0.0.1:0").unwrap();
                server.set_handshake_timeout(handshake);
                let addr = server.local_addr().unwrap();
                thread::spawn(move || {
                    serving();
                    let r = server.serve_clients(clients, answer);
                    let _ = tx.send((Box::new(server) as Served, r));
                });
                Running {
                    addr: Addr::Tcp(addr),
                    tid: tid.recv().unwrap(),
                    done,
                    _dir: None,
                }
            }
        }
    }

    /// A raw connection to the server, which sends nothing by itself. (A TCP connect
    /// waits while the listener's queue is full, so it is bounded; the Unix listener's
    /// queue has room for all.)
    fn raw(&self) -> Raw {
        let raw = match &self.addr {
            Addr::Unix(p) => Raw::Unix(UnixStream::connect(p).unwrap()),
            Addr::Tcp(a) => {
                Raw::Tcp(TcpStream::connect_timeout(a, HANG).expect("the server does not accept"))
            }
        };
        raw.set_read_timeout(Some(HANG));
        raw
    }

    /// Connects a good client and makes one call, answered within [`CALL`]; then the
    /// client leaves.
    fn good_call(&self, req: Req) {
        let resp = match &self.addr {
            Addr::Unix(p) => {
                let opts = socket::Options::new().handshake_timeout(CALL);
                let mut c = socket::Client::<Req, Resp>::connect_with(p, &opts)
                    .expect("the good client's handshake");
                c.call_timeout(req, CALL)
            }
            Addr::Tcp(a) => {
                let mut c =
                    tcp::Client::<Req, Resp>::connect(a).expect("the good client's handshake");
                c.call_timeout(req, CALL)
            }
        };
        assert_eq!(resp.expect("the good client's call"), answer(req));
    }

    /// Waits (up to [`HANG`]) until the server thread has been seen asleep twenty times
    /// in a row, 10 ms apart: waiting in its poll, not spinning.
    fn until_asleep(&self) {
        let path = format!("/proc/self/task/{}/stat", self.tid);
        let start = std::time::Instant::now();
        let mut asleep = 0;
        while asleep < 20 {
            assert!(start.elapsed() < HANG, "the server never slept");
            asleep = if common::state_in(&path) == 'S' {
                asleep + 1
            } else {
                0
            };
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for `serve_clients` to return; gives the server back.
    fn finish(self) -> Served {
        let (server, r) = self
            .done
            .recv_timeout(HANG)
            .expect("serve_clients did not return after its clients ended");
        r.unwrap();
        server
    }
}

/// Raises this process's soft limit of open descriptors (a test holds both ends of a few
/// hundred connections; some systems start tests at 1,024).
fn enough_descriptors() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let want = hard.min(4096);
    if soft < want {
        setrlimit(Resource::RLIMIT_NOFILE, want, hard).unwrap();
    }
}

enum Raw {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Raw {
    fn set_read_timeout(&self, t: Option<Duration>) {
        match self {
            Raw::Unix(s) => s.set_read_timeout(t).unwrap(),
            Raw::Tcp(s) => s.set_read_timeout(t).unwrap(),
        }
    }

    fn set_nonblocking(&self, on: bool) {
        match self {
            Raw::Unix(s) => s.set_nonblocking(on).unwrap(),
            Raw::Tcp(s) => s.set_nonblocking(on).unwrap(),
        }
    }

    /// Reads `n` bytes (the read timeout guards against a hang).
    fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.read_exact(&mut buf).unwrap();
        buf
    }

    /// True if the connection is open and has nothing more to read now.
    fn open_and_quiet(&mut self) -> bool {
        self.set_nonblocking(true);
        let r = self.read(&mut [0; 1]);
        self.set_nonblocking(false);
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads until the server closes the connection: what it sent before. A reset (a
    /// close with bytes of ours unread) ends it too; what was sent may then be lost.
    fn read_to_close(&mut self) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0; 256];
        loop {
            match self.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
                Err(e) => panic!("the server did not close the connection: {e}"),
            }
        }
    }
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Raw::Unix(s) => s.read(buf),
            Raw::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Raw {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Raw::Unix(s) => s.write(buf),
            Raw::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a server of these tests answers `reqs` with: its handshake, then the answers.
fn answers(reqs: &[Req]) -> Vec<u8> {
    let mut wire = codec::rpc_hello::<Resp, Req>();
    for &r in reqs {
        codec::write_message(&mut wire, &answer(r)).unwrap();
    }
    wire
}

/// A good client's first call is answered while 200 clients that connected before it say
/// nothing and one says its hello a byte every 100 ms. The handshake timeout is 60 s and
/// the call's 10 s: a server that waited for any of those handshakes would fail the call.
/// Afterwards all 200 are still connected, have had the server's hello and nothing else,
/// and the server still counts them as handshakes under way; the slow client, whole at
/// last, is answered too.
fn a_good_client_is_answered_beside_200_silent_ones(kind: Kind) {
    let server = Running::start(kind, Duration::from_secs(60), 2);
    let mut silent: Vec<Raw> = (0..200).map(|_| server.raw()).collect();
    let mut slow = server.raw();
    let dripping = thread::spawn(move || {
        let mut wire = codec::rpc_hello::<Req, Resp>();
        let hello_len = wire.len();
        codec::write_message(&mut wire, &[3u32, 4]).unwrap();
        for b in &wire[..hello_len] {
            slow.write_all(std::slice::from_ref(b)).unwrap();
            thread::sleep(Duration::from_millis(100));
        }
        slow.write_all(&wire[hello_len..]).unwrap();
        let expected = answers(&[[3, 4]]);
        assert_eq!(
            slow.read_n(expected.len()),
            expected,
            "the slow client's answer"
        );
    });
    server.good_call([1, 2]);
    dripping.join().unwrap();
    let server = server.finish();
    let hello = codec::rpc_hello::<Resp, Req>();
    for (i, s) in silent.iter_mut().enumerate() {
        assert_eq!(s.read_n(hello.len()), hello, "silent client {i}");
        assert!(
            s.open_and_quiet(),
            "silent client {i} was closed or sent more"
        );
    }
    let state = format!("{server:?}");
    assert!(
        state.contains("clients: 0, handshaking: 200"),
        "the silent clients are handshakes under way: {state}"
    );
}

#[test]
fn unix_a_good_client_is_answered_beside_200_silent_ones() {
    a_good_client_is_answered_beside_200_silent_ones(Kind::Unix);
}

#[test]
fn tcp_a_good_client_is_answered_beside_200_silent_ones() {
    a_good_client_is_answered_beside_200_silent_ones(Kind::Tcp);
}

/// A silent client is closed once its own handshake deadline passes: it reads the
/// server's hello, then the end of the stream. It was never a client: the server, asked
/// to serve one, goes on to answer the good client that comes next.
fn a_silent_client_is_closed_at_its_deadline(kind: Kind) {
    let server = Running::start(kind, Duration::from_millis(300), 1);
    let mut silent = server.raw();
    assert_eq!(silent.read_to_close(), codec::rpc_hello::<Resp, Req>());
    server.good_call([5, 6]);
    server.finish();
}

#[test]
fn unix_a_silent_client_is_closed_at_its_deadline() {
    a_silent_client_is_closed_at_its_deadline(Kind::Unix);
}

#[test]
fn tcp_a_silent_client_is_closed_at_its_deadline() {
    a_silent_client_is_closed_at_its_deadline(Kind::Tcp);
}

/// Clients whose hello is garbage, or announces another request type, are closed at once
/// (the handshake timeout is 60 s), and a good client is served after them; they do not
/// count as clients that ended.
fn a_bad_hello_closes_only_that_client(kind: Kind) {
    let server = Running::start(kind, Duration::from_secs(60), 1);
    let mut garbage = server.raw();
    garbage.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut other = server.raw();
    other.write_all(&codec::rpc_hello::<u16, Resp>()).unwrap();
    let mut waiting = server.raw();
    // The server's hello reached it: it is accepted and pending, not refused.
    assert_eq!(
        waiting.read_n(codec::rpc_hello::<Resp, Req>().len()),
        codec::rpc_hello::<Resp, Req>()
    );
    // Closed (a reset may lose the server's hello: the garbage was not all read).
    garbage.read_to_close();
    assert_eq!(other.read_to_close(), codec::rpc_hello::<Resp, Req>());
    server.good_call([7, 8]);
    let server = server.finish();
    assert!(waiting.open_and_quiet(), "a pending client was closed");
    assert!(format!("{server:?}").contains("clients: 0, handshaking: 1"));
}

#[test]
fn unix_a_bad_hello_closes_only_that_client() {
    a_bad_hello_closes_only_that_client(Kind::Unix);
}

#[test]
fn tcp_a_bad_hello_closes_only_that_client() {
    a_bad_hello_closes_only_that_client(Kind::Tcp);
}

/// Requests written in one go with the hello are all answered, in order: the server's
/// handshake reads no byte past the hello, and its receiver starts with the rest.
fn requests_right_behind_the_hello_are_answered(kind: Kind) {
    let server = Running::start(kind, Duration::from_secs(60), 1);
    let reqs = [[1, 1], [2, 2], [3, 3]];
    let mut wire = codec::rpc_hello::<Req, Resp>();
    for r in &reqs {
        codec::write_message(&mut wire, r).unwrap();
    }
    let mut raw = server.raw();
    raw.write_all(&wire).unwrap();
    let expected = answers(&reqs);
    assert_eq!(raw.read_n(expected.len()), expected);
    drop(raw);
    server.finish();
}

#[test]
fn unix_requests_right_behind_the_hello_are_answered() {
    requests_right_behind_the_hello_are_answered(Kind::Unix);
}

#[test]
fn tcp_requests_right_behind_the_hello_are_answered() {
    requests_right_behind_the_hello_are_answered(Kind::Tcp);
}

/// A client that sends part of a request and then waits leaves the server asleep in its
/// poll: the bytes it holds are not a request to answer, and a server that took them for
/// one would spin. The rest, when it comes, is answered.
fn part_of_a_request_leaves_the_server_asleep(kind: Kind) {
    let server = Running::start(kind, Duration::from_secs(60), 1);
    let mut wire = codec::rpc_hello::<Req, Resp>();
    codec::write_message(&mut wire, &[1u32, 1]).unwrap();
    let first = wire.len();
    codec::write_message(&mut wire, &[2u32, 2]).unwrap();
    let mut raw = server.raw();
    // A whole request, answered: the connection is served.
    raw.write_all(&wire[..first]).unwrap();
    let expected = answers(&[[1, 1], [2, 2]]);
    let answered = answers(&[[1, 1]]).len();
    assert_eq!(raw.read_n(answered), expected[..answered]);
    // Three bytes of the next one.
    raw.write_all(&wire[first..first + 3]).unwrap();
    server.until_asleep();
    raw.write_all(&wire[first + 3..]).unwrap();
    assert_eq!(raw.read_n(expected.len() - answered), expected[answered..]);
    drop(raw);
    server.finish();
}

#[test]
fn unix_part_of_a_request_leaves_the_server_asleep() {
    part_of_a_request_leaves_the_server_asleep(Kind::Unix);
}

#[test]
fn tcp_part_of_a_request_leaves_the_server_asleep() {
    part_of_a_request_leaves_the_server_asleep(Kind::Tcp);
}

/// A client of another response type is refused at connect by both ends: by itself (the
/// server's greeting answers `u64`) and by the server (the client's says it takes `u32`),
/// so it never was a client, and the server, asked to serve one, answers the good client
/// that comes next.
#[test]
fn unix_a_client_expecting_another_response_is_refused_by_both_ends() {
    let server = Running::start(Kind::Unix, Duration::from_secs(60), 1);
    let Addr::Unix(path) = &server.addr else {
        unreachable!()
    };
    let err = socket::Client::<Req, u32>::connect(path).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    server.good_call([9, 9]);
    server.finish();
}

// ---------------------------------------------------------------------------------------
// The receiver a bound endpoint makes (`endpoint::Incoming`), with senders in other
// processes: this test binary re-run as a child, its role in `ROLE`.

/// The role a child plays: `silent`, `silent_until_closed` or `good`.
const ROLE: &str = "IPC_SILENT_ROLE";
/// The endpoint a child connects to.
const ENDPOINT: &str = "IPC_SILENT_ENDPOINT";

/// The transports whose bound endpoint listens.
#[derive(Clone, Copy, Debug)]
enum Bound {
    Unix,
    SeqPacket,
    Tcp,
}

/// A receiver of `u64` from every sender that connects, as `ipc::bind` makes one but
/// with `handshake` as its handshake timeout; the endpoint for the senders; the socket
/// file's directory (removed on drop even if the test fails).
fn bind_incoming(
    bound: Bound,
    handshake: Duration,
) -> (Box<dyn ipc::Rx<u64>>, String, Option<common::TempDir>) {
    use ipc::endpoint::Incoming;
    let opts = || socket::Options::new().handshake_timeout(handshake);
    match bound {
        Bound::Unix | Bound::SeqPacket => {
            let dir = common::TempDir::new("silent-incoming");
            let path = dir.join("in.sock");
            let (rx, scheme): (Box<dyn ipc::Rx<u64>>, _) = match bound {
                Bound::Unix => (
                    Box::new(
                        Incoming::new(socket::Listener::<u64>::bind_with(&path, opts()).unwrap())
                            .unwrap(),
                    ),
                    "unix",
                ),
                _ => (
                    Box::new(
                        Incoming::new(
                            socket::SeqPacketListener::<u64>::bind_with(&path, opts()).unwrap(),
                        )
                        .unwrap(),
                    ),
                    "unix-seqpacket",
                ),
            };
            (rx, format!("{scheme}:{}", path.display()), Some(dir))
        }
        Bound::Tcp => {
            let mut listener = tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
            listener.set_handshake_timeout(handshake);
            let port = listener.local_addr().unwrap().port();
            (
                Box::new(Incoming::new(listener).unwrap()),
                format!("tcp:127.0.0.1:{port}"),
                None,
            )
        }
    }
}

/// A child playing `role` against `endpoint`; its stdin is a pipe that the test closes
/// when the child is to finish.
fn sender(role: &str, endpoint: &str) -> common::Proc {
    common::Proc::spawn_with(ROLE, role, |cmd| {
        cmd.env(ENDPOINT, endpoint)
            .stdin(std::process::Stdio::piped());
    })
}

/// A raw connection to the endpoint, which sends nothing by itself.
enum RawPeer {
    Stream(Raw),
    SeqPacket(std::os::fd::OwnedFd),
}

impl RawPeer {
    fn connect(endpoint: &ipc::Endpoint) -> RawPeer {
        use ipc::Endpoint;
        let peer = match endpoint {
            Endpoint::Unix { path } => {
                RawPeer::Stream(Raw::Unix(UnixStream::connect(path).unwrap()))
            }
            Endpoint::Tcp { host, port } => RawPeer::Stream(Raw::Tcp(
                TcpStream::connect((host.as_str(), *port)).unwrap(),
            )),
            Endpoint::UnixSeqpacket { path } => {
                use nix::sys::socket::{
                    connect, socket, AddressFamily, SockFlag, SockType, UnixAddr,
                };
                use std::os::fd::AsRawFd;
                let fd = socket(
                    AddressFamily::Unix,
                    SockType::SeqPacket,
                    SockFlag::SOCK_CLOEXEC,
                    None,
                )
                .unwrap();
                connect(fd.as_raw_fd(), &UnixAddr::new(path.as_str()).unwrap()).unwrap();
                RawPeer::SeqPacket(fd)
            }
            other => panic!("no listening endpoint: {other}"),
        };
        if let RawPeer::Stream(s) = &peer {
            s.set_read_timeout(Some(HANG));
        }
        peer
    }

    /// What the receiver sent: with `until_closed`, all of it until it closes the
    /// connection; without, what is there now, asserting that the connection is open.
    fn received(&mut self, until_closed: bool) -> Vec<u8> {
        match self {
            RawPeer::Stream(s) if until_closed => s.read_to_close(),
            RawPeer::Stream(s) => {
                s.set_nonblocking(true);
                let mut got = Vec::new();
                let mut buf = [0; 256];
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => panic!("the receiver closed the connection"),
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return got,
                        Err(e) => panic!("read: {e}"),
                    }
                }
            }
            RawPeer::SeqPacket(fd) => {
                use nix::sys::socket::{recv, MsgFlags};
                use std::os::fd::AsRawFd;
                let flags = if until_closed {
                    MsgFlags::empty()
                } else {
                    MsgFlags::MSG_DONTWAIT
                };
                let mut got = Vec::new();
                let mut buf = [0; 4096];
                loop {
                    match recv(fd.as_raw_fd(), &mut buf, flags) {
                        Ok(0) if until_closed => return got,
                        Ok(0) => panic!("the receiver closed the connection"),
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(nix::errno::Errno::EAGAIN) if !until_closed => return got,
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            }
        }
    }
}

#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let endpoint = std::env::var(ENDPOINT).unwrap();
    let wait_for_the_test = || {
        let mut rest = Vec::new();
        io::stdin().read_to_end(&mut rest).unwrap();
    };
    match role.as_str() {
        // Connects and says nothing; once the test closes our stdin, checks that the
        // receiver greeted us and is still waiting for our handshake.
        "silent" => {
            let mut peer = RawPeer::connect(&endpoint.parse().unwrap());
            common::ready();
            wait_for_the_test();
            assert_eq!(
                peer.received(false),
                codec::hello::<u64>(),
                "the receiver's handshake, and nothing else"
            );
        }
        // Connects and says nothing until the receiver closes the connection.
        "silent_until_closed" => {
            let mut peer = RawPeer::connect(&endpoint.parse().unwrap());
            common::ready();
            assert_eq!(peer.received(true), codec::hello::<u64>());
        }
        // Sends 1, 2, 3 through the endpoint.
        "good" => {
            let mut tx = ipc::connect::<u64>(&endpoint).expect("the good sender's connect");
            for n in 1..=3 {
                tx.send(n).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// A sender that connects and says nothing holds up neither the receiver nor the sender
/// that connects after it. The handshake timeout is 60 s, and every wait of the test far
/// shorter (the good sender's connect waits at most 10 s for the receiver's handshake): a
/// receiver that waited for the silent handshake would fail them. `try_recv` gives what
/// is there without waiting; the good sender's messages arrive; and afterwards the silent
/// sender has had the receiver's handshake and is still connected, its own under way.
fn a_good_sender_is_received_beside_a_silent_one(bound: Bound) {
    let (mut rx, endpoint, _dir) = bind_incoming(bound, Duration::from_secs(60));
    let mut silent = sender("silent", &endpoint);
    silent.wait_ready();
    let good = sender("good", &endpoint);
    let mut got = Vec::new();
    match rx.try_recv() {
        Ok(n) => got.push(n),
        Err(Error::Empty) => {}
        Err(e) => panic!("try_recv: {e:?}"),
    }
    while got.len() < 3 {
        got.push(rx.recv_timeout(HANG).expect("the good sender's message"));
    }
    assert_eq!(got, [1, 2, 3]);
    good.assert_success();
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    silent.assert_success();
}

#[test]
fn unix_incoming_a_good_sender_is_received_beside_a_silent_one() {
    a_good_sender_is_received_beside_a_silent_one(Bound::Unix);
}

#[test]
fn seqpacket_incoming_a_good_sender_is_received_beside_a_silent_one() {
    a_good_sender_is_received_beside_a_silent_one(Bound::SeqPacket);
}

#[test]
fn tcp_incoming_a_good_sender_is_received_beside_a_silent_one() {
    a_good_sender_is_received_beside_a_silent_one(Bound::Tcp);
}

/// A silent sender is closed once its own handshake deadline passes while the receiver
/// waits for messages: it reads the receiver's handshake, then the end of the stream.
/// The receiver goes on to receive a good sender.
fn a_silent_sender_is_closed_at_its_deadline(bound: Bound) {
    let (mut rx, endpoint, _dir) = bind_incoming(bound, Duration::from_millis(300));
    let mut silent = sender("silent_until_closed", &endpoint);
    silent.wait_ready();
    let start = std::time::Instant::now();
    while silent.child().try_wait().unwrap().is_none() {
        assert!(start.elapsed() < HANG, "the silent sender was never closed");
        match rx.recv_timeout(Duration::from_millis(50)) {
            Err(Error::Timeout(_)) => {}
            other => panic!("nothing was sent: {other:?}"),
        }
    }
    silent.assert_success();
    let good = sender("good", &endpoint);
    for n in 1..=3 {
        assert_eq!(rx.recv_timeout(HANG).unwrap(), n);
    }
    good.assert_success();
}

#[test]
fn unix_incoming_a_silent_sender_is_closed_at_its_deadline() {
    a_silent_sender_is_closed_at_its_deadline(Bound::Unix);
}

#[test]
fn seqpacket_incoming_a_silent_sender_is_closed_at_its_deadline() {
    a_silent_sender_is_closed_at_its_deadline(Bound::SeqPacket);
}

#[test]
fn tcp_incoming_a_silent_sender_is_closed_at_its_deadline() {
    a_silent_sender_is_closed_at_its_deadline(Bound::Tcp);
}

/// A connection whose sender is gone before its handshake — closed, or reset (TCP with a
/// zero linger), before the receiver accepts it or after it was greeted — is dropped
/// quietly: the receiver never says `Disconnected` (another sender may always come) nor
/// an I/O error, and goes on to receive the good sender behind it.
fn a_sender_gone_in_its_handshake_is_dropped_quietly(bound: Bound) {
    let (mut rx, endpoint, _dir) = bind_incoming(bound, Duration::from_secs(60));
    for greeted in [false, true, false, true] {
        let peer = RawPeer::connect(&endpoint.parse().unwrap());
        if greeted {
            // The receiver accepts the connection and greets it; its handshake is under
            // way when the sender goes.
            match rx.try_recv() {
                Err(Error::Empty) => {}
                other => panic!("nothing was sent: {other:?}"),
            }
        }
        if let RawPeer::Stream(Raw::Tcp(s)) = &peer {
            // A zero linger: the close is a reset, not an orderly end.
            nix::sys::socket::setsockopt(
                s,
                nix::sys::socket::sockopt::Linger,
                &libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                },
            )
            .unwrap();
        }
        drop(peer);
    }
    let good = sender("good", &endpoint);
    let mut got = Vec::new();
    while got.len() < 3 {
        match rx.recv_timeout(HANG) {
            Ok(n) => got.push(n),
            Err(e) => panic!("a sender that left in its handshake: {e:?}"),
        }
    }
    assert_eq!(got, [1, 2, 3]);
    good.assert_success();
}

#[test]
fn unix_incoming_a_sender_gone_in_its_handshake_is_dropped_quietly() {
    a_sender_gone_in_its_handshake_is_dropped_quietly(Bound::Unix);
}

#[test]
fn seqpacket_incoming_a_sender_gone_in_its_handshake_is_dropped_quietly() {
    a_sender_gone_in_its_handshake_is_dropped_quietly(Bound::SeqPacket);
}

#[test]
fn tcp_incoming_a_sender_gone_in_its_handshake_is_dropped_quietly() {
    a_sender_gone_in_its_handshake_is_dropped_quietly(Bound::Tcp);
}
