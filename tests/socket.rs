//! Unix domain sockets across real processes: the test binary re-runs itself
//! (`current_exe()`) with `IPC_SOCK_ROLE` naming the child's part, and every child's exit
//! status is asserted.

use std::env;
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;

#[path = "socket/fds.rs"]
mod fds;

use ipc::socket::{Client, Listener, Options, SeqPacket, SeqPacketListener, Server, Stream};
use ipc::{Error, FixedStr};

const ROLE: &str = "IPC_SOCK_ROLE";
const PATH: &str = "IPC_SOCK_PATH";

/// A private directory for one test's socket files, removed (with its contents) on drop.
struct TempDir(common::TempDir);

impl TempDir {
    fn new() -> TempDir {
        let dir = common::TempDir::new("sock");
        // Readable by the nobody user of the uid test, whatever the umask.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn len(&self) -> usize {
        self.0.path().as_os_str().len()
    }
}

/// Runs test `test` of this binary in a child process in role `role`, with `path`.
fn spawn(test: &str, role: &str, path: &Path) -> common::Kid {
    common::rerun(test, [(ROLE, role.as_ref()), (PATH, path.as_os_str())])
}

fn role() -> Option<(String, PathBuf)> {
    let role = env::var(ROLE).ok()?;
    Some((role, PathBuf::from(env::var(PATH).unwrap())))
}

/// Waits (bounded) until `path` exists: the child has bound its listener.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{path:?} never appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn many_clients_each_get_their_messages_in_order() {
    const PER_CLIENT: u64 = 2000;
    if let Some((_, path)) = role() {
        let mut s = Stream::<[u64; 2]>::connect(&path).unwrap();
        let id = std::process::id() as u64;
        for seq in 0..PER_CLIENT {
            s.send([id, seq]).unwrap();
        }
        // The server's acknowledgement: how many it got from us.
        assert_eq!(s.recv().unwrap(), [id, PER_CLIENT]);
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("many.sock");
    let listener = Listener::<[u64; 2]>::bind(&path).unwrap();
    let children: Vec<common::Kid> = (0..4)
        .map(|_| {
            spawn(
                "many_clients_each_get_their_messages_in_order",
                "client",
                &path,
            )
        })
        .collect();
    let mut streams: Vec<Stream<[u64; 2]>> = (0..4).map(|_| listener.accept().unwrap()).collect();
    let mut pids: Vec<u64> = Vec::new();
    for s in &mut streams {
        let cred = s.peer_cred().unwrap();
        assert_eq!(cred.uid, nix::unistd::geteuid().as_raw());
        let mut next = 0;
        let mut id = None;
        while next < PER_CLIENT {
            let [from, seq] = s.recv_timeout(Duration::from_secs(20)).unwrap();
            assert_eq!(*id.get_or_insert(from), from, "one stream, one client");
            assert_eq!(seq, next, "in order, no loss, no duplication");
            next += 1;
        }
        assert_eq!(id, Some(cred.pid as u64), "SO_PEERCRED names the sender");
        pids.push(cred.pid as u64);
        s.send([cred.pid as u64, next]).unwrap();
    }
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 4, "four distinct client processes");
    for c in children {
        common::assert_exit_success(c);
    }
    drop(listener);
    assert!(!path.exists(), "the socket file is removed on drop");
}

#[test]
fn schema_mismatch_is_refused_on_both_sides() {
    if let Some((_, path)) = role() {
        let err = Stream::<u32>::connect(&path).unwrap_err();
        assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
        assert!(err.to_string().contains("u64"), "{err}");
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("schema.sock");
    let listener = Listener::<u64>::bind(&path).unwrap();
    let child = spawn("schema_mismatch_is_refused_on_both_sides", "client", &path);
    let err = listener.accept().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("u32"), "{err}");
    common::assert_exit_success(child);
}

#[test]
fn peer_death_is_disconnected_and_never_sigpipe() {
    if let Some((_, path)) = role() {
        let mut s = Stream::<u64>::connect(&path).unwrap();
        for i in 0..3 {
            s.send(i).unwrap();
        }
        // Die without closing anything by hand.
        std::process::exit(0);
    }
    let dir = TempDir::new();
    let path = dir.path("death.sock");
    let listener = Listener::<u64>::bind(&path).unwrap();
    let child = spawn(
        "peer_death_is_disconnected_and_never_sigpipe",
        "client",
        &path,
    );
    let mut s = listener.accept().unwrap();
    for i in 0..3 {
        assert_eq!(s.recv_timeout(Duration::from_secs(10)).unwrap(), i);
    }
    let err = s.recv_timeout(Duration::from_secs(10)).unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    common::assert_exit_success(child);
    // Writing to the dead peer: an error, not SIGPIPE killing this process.
    let mut failed = false;
    for i in 0..100 {
        if let Err(e) = s.send(i) {
            assert!(e.is_disconnected(), "{e}");
            assert_eq!(e.into_inner(), i, "the message is handed back");
            failed = true;
            break;
        }
    }
    assert!(failed, "sending to a dead peer must fail");
}

#[test]
fn stale_socket_file_is_reclaimed() {
    const TEST: &str = "stale_socket_file_is_reclaimed";
    if let Some((role, path)) = role() {
        if role == "crash" {
            let _listener = Listener::<u64>::bind(&path).unwrap();
            // Crash: exit without running destructors, leaving the socket file behind.
            std::process::exit(0);
        }
        Stream::<u64>::connect(path).unwrap().send(7).unwrap();
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    common::assert_exit_success(spawn(TEST, "crash", &path));
    let meta = fs::symlink_metadata(&path).expect("the crashed listener left its file");
    assert!(meta.file_type().is_socket());
    // Connecting to it says nobody is there.
    let err = Stream::<u64>::connect(&path).unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    println!("connect to a stale socket: {err}");

    let listener = Listener::<u64>::bind(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the default mode, whatever the umask");
    let child = spawn(TEST, "client", &path);
    let mut s = listener.accept().unwrap();
    assert_eq!(s.recv().unwrap(), 7);
    common::assert_exit_success(child);
}

#[test]
fn live_socket_is_not_stolen() {
    if let Some((_, path)) = role() {
        let _listener = Listener::<u64>::bind(&path).unwrap();
        // Hold it until the parent closes our stdin.
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).unwrap();
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("live.sock");
    let mut child = spawn("live_socket_is_not_stolen", "holder", &path);
    wait_for(&path);
    let err = Listener::<u64>::bind(&path).unwrap_err();
    assert!(matches!(err, Error::Busy { .. }), "{err}");
    println!("binding a live socket: {err}");
    assert!(path.exists(), "the live listener's file is still there");
    drop(child.stdin.take());
    common::assert_exit_success(child);
    assert!(!path.exists(), "removed by its owner on drop");
    // A path that is not a socket is never removed.
    fs::write(&path, b"data").unwrap();
    let err = Listener::<u64>::bind(&path).unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), b"data");
}

#[test]
fn listener_refuses_clients_of_other_uids() {
    if let Some((_, path)) = role() {
        nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).unwrap();
        nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).unwrap();
        let err = Stream::<u64>::connect(&path).unwrap_err();
        assert!(err.is_disconnected(), "{err}");
        return;
    }
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: setuid needs root");
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("uid.sock");
    // Mode 0666 lets the other uid reach the socket; the uid check must refuse it.
    let listener =
        Listener::<u64>::bind_with(&path, Options::new().mode(0o666).only_same_uid()).unwrap();
    let child = spawn("listener_refuses_clients_of_other_uids", "nobody", &path);
    let err = listener.accept().unwrap_err();
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err}");
    assert!(err.to_string().contains("uid 65534"), "{err}");
    println!("refused: {err}");
    common::assert_exit_success(child);
}

#[test]
fn too_long_path_says_the_limit() {
    let dir = TempDir::new();
    let long = dir.path(&"x".repeat(120));
    let err = Listener::<u64>::bind(&long).unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
    assert!(err.to_string().contains("108"), "{err}");
    let err = Stream::<u64>::connect(&long).unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
    // The longest path that fits works.
    let room = 107 - dir.len() - 1;
    let fits = dir.path(&"y".repeat(room));
    assert_eq!(fits.as_os_str().len(), 107);
    let l = Listener::<u64>::bind(&fits).unwrap();
    assert!(fits.exists());
    drop(l);
    assert!(!fits.exists());
    // A short name in a deep directory: the private bind directory beside it would not
    // fit in sun_path, so binding goes through /proc/self/fd; it still works.
    let deep = dir.path(&"d".repeat(100 - dir.len() - 1));
    fs::create_dir(&deep).unwrap();
    let short = deep.join("s");
    let l = Listener::<u64>::bind(&short).unwrap();
    assert!(short.exists());
    drop(l);
    assert!(!short.exists());
}

#[test]
fn rpc_answers_each_client() {
    if let Some((_, path)) = role() {
        let mut c = Client::<[u32; 2], u64>::connect(&path).unwrap();
        let me = std::process::id();
        for i in 0..200u32 {
            assert_eq!(
                c.call([me, i]).unwrap(),
                u64::from(me) * 1000 + u64::from(i)
            );
        }
        let t = Duration::from_secs(10);
        assert_eq!(
            c.call_timeout([me, 7], t).unwrap(),
            u64::from(me) * 1000 + 7
        );
        assert_eq!(
            c.peer_cred().unwrap().pid as u32,
            std::os::unix::process::parent_id()
        );
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("rpc.sock");
    let mut server = Server::<[u32; 2], u64>::bind(&path).unwrap();
    let children: Vec<common::Kid> = (0..3)
        .map(|_| spawn("rpc_answers_each_client", "client", &path))
        .collect();
    let mut answered = 0;
    server
        .serve_clients(3, |[who, i]| {
            answered += 1;
            u64::from(who) * 1000 + u64::from(i)
        })
        .unwrap();
    assert_eq!(answered, 3 * 201);
    for c in children {
        common::assert_exit_success(c);
    }
}

#[test]
fn rpc_with_other_types_is_refused_at_connect() {
    if let Some((_, path)) = role() {
        // Right request type, wrong response type.
        let err = Client::<[u32; 2], u32>::connect(&path).unwrap_err();
        assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("rpc2.sock");
    let mut server = Server::<[u32; 2], u64>::bind(&path).unwrap();
    // The server runs in this process (on a thread) while the clients, real processes,
    // come one after the other: the refused one first, then a good one. Both ends refuse
    // the first (the client the server's responses, the server the responses the client
    // takes), so only the good one counts as a client.
    let serving = std::thread::spawn(move || {
        server
            .serve_clients(1, |[who, i]| u64::from(who) * 1000 + u64::from(i))
            .unwrap();
    });
    common::assert_exit_success(spawn(
        "rpc_with_other_types_is_refused_at_connect",
        "client",
        &path,
    ));
    common::assert_exit_success(spawn("rpc_answers_each_client", "client", &path));
    serving.join().unwrap();
}

#[test]
fn seqpacket_round_trip_and_size_check() {
    if let Some((_, path)) = role() {
        let mut s = SeqPacket::<FixedStr<16>>::connect(&path).unwrap();
        for word in ["one", "two", "three"] {
            s.send(FixedStr::truncating(word)).unwrap();
        }
        assert_eq!(s.recv().unwrap().as_str(), "done");
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("seq.sock");
    let listener = SeqPacketListener::<FixedStr<16>>::bind(&path).unwrap();
    let child = spawn("seqpacket_round_trip_and_size_check", "client", &path);
    let mut s = listener.accept().unwrap();
    let t = Duration::from_secs(10);
    for word in ["one", "two", "three"] {
        assert_eq!(s.recv_timeout(t).unwrap().as_str(), word);
    }
    assert!(matches!(s.try_recv(), Err(Error::Empty)));
    s.send(FixedStr::truncating("done")).unwrap();
    assert!(s.recv_timeout(t).unwrap_err().is_disconnected());
    common::assert_exit_success(child);
}

/// A peer that shuts its side down for writing and stays alive will send nothing more:
/// the receiver gets `Disconnected` after its last message (not `Corrupt` for ever, as
/// for an empty datagram).
#[test]
fn seqpacket_peer_that_shuts_down_writing_is_disconnected() {
    if let Some((_, path)) = role() {
        let mut s = SeqPacket::<u64>::connect(&path).unwrap();
        s.send(42).unwrap();
        nix::sys::socket::shutdown(
            std::os::fd::AsRawFd::as_raw_fd(&s.as_fd()),
            nix::sys::socket::Shutdown::Write,
        )
        .unwrap();
        // Alive until the parent is done: it closes our stdin.
        std::io::stdin().read_to_end(&mut Vec::new()).unwrap();
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("seq-shut.sock");
    let listener = SeqPacketListener::<u64>::bind(&path).unwrap();
    let child = spawn(
        "seqpacket_peer_that_shuts_down_writing_is_disconnected",
        "client",
        &path,
    );
    let mut s = listener.accept().unwrap();
    let t = Duration::from_secs(10);
    assert_eq!(s.recv_timeout(t).unwrap(), 42);
    for _ in 0..2 {
        let err = s.recv_timeout(t).unwrap_err();
        assert!(err.is_disconnected(), "{err}");
    }
    common::assert_exit_success(child);
}

/// Connecting to a path where no listener of the end's type is says what is there: a
/// file that is no socket, or a listener of the other type (and which scheme reaches it).
#[test]
fn connecting_where_no_listener_of_that_type_is_says_what_is_there() {
    let dir = TempDir::new();
    let file = dir.path("file");
    fs::write(&file, b"hello").unwrap();
    let subdir = dir.path("dir");
    fs::create_dir(&subdir).unwrap();
    let fifo = dir.path("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let seq = dir.path("seq.sock");
    let _seq = SeqPacketListener::<u64>::bind(&seq).unwrap();
    let stream = dir.path("stream.sock");
    let _stream = Listener::<u64>::bind(&stream).unwrap();
    let not_found = |r: ipc::Result<()>, says: &str| match r {
        Err(e @ Error::NotFound { .. }) => {
            assert!(e.to_string().contains(says), "{e}: no `{says}`")
        }
        other => panic!("{other:?}: not NotFound saying `{says}`"),
    };
    not_found(Stream::<u64>::connect(&file).map(drop), "no socket");
    not_found(Stream::<u64>::connect(&subdir).map(drop), "a directory");
    not_found(Stream::<u64>::connect(&fifo).map(drop), "a FIFO");
    not_found(Stream::<u64>::connect(&seq).map(drop), "unix-seqpacket:");
    not_found(SeqPacket::<u64>::connect(&stream).map(drop), "`unix:`");
}

#[test]
fn seqpacket_refuses_other_schema() {
    if let Some((_, path)) = role() {
        let err = SeqPacket::<u16>::connect(&path).unwrap_err();
        assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("seq2.sock");
    let listener = SeqPacketListener::<u32>::bind(&path).unwrap();
    let child = spawn("seqpacket_refuses_other_schema", "client", &path);
    let err = listener.accept().unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    common::assert_exit_success(child);
}

#[test]
fn timeouts_keep_partial_frames_and_bounded_sends_never_split_one() {
    // A message larger than the socket buffer, so a bounded send writes only part of it.
    type Big = [u8; 1 << 20];
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            let (mut a, mut b) = Stream::<Big>::pair().unwrap();
            let t = Duration::from_millis(20);
            let err = b.recv_timeout(t).unwrap_err();
            assert!(err.is_timeout(), "{err}");
            assert!(matches!(b.try_recv(), Err(Error::Empty)));

            a.try_send([1; 1 << 20]).unwrap();
            let (mut tx, _rx) = a.split();
            assert!(tx.pending() > 0, "only part of the frame fitted");
            // The receiver reads what is there and keeps it; the sender finishes later.
            let mut drain = |tx: &mut ipc::socket::Sender<Big>| {
                for _ in 0..10_000 {
                    match b.try_recv() {
                        Ok(m) => return m,
                        Err(Error::Empty) => {}
                        Err(e) => panic!("{e}"),
                    }
                    match tx.flush_timeout(t) {
                        Ok(()) | Err(Error::Timeout(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                panic!("the message never arrived whole");
            };
            assert!(drain(&mut tx).iter().all(|&x| x == 1));
            assert_eq!(tx.pending(), 0);
            // A full socket: a bounded send that cannot write anything says so and hands
            // the message back; the stream stays in step.
            tx.send_timeout([2; 1 << 20], t).unwrap();
            let err = tx.send_timeout([3; 1 << 20], t).unwrap_err();
            assert!(err.is_full(), "{}", err.error());
            assert_eq!(err.into_inner()[0], 3);
            assert!(drain(&mut tx).iter().all(|&x| x == 2));
            tx.send_timeout([4; 1 << 20], t).unwrap();
            assert!(drain(&mut tx).iter().all(|&x| x == 4));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_raw_writer_of_garbage_gets_errors_not_a_crash() {
    if let Some((_, path)) = role() {
        let mut raw = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let mut bytes = ipc::codec::hello::<u64>();
        bytes.extend_from_slice(&ipc::codec::message_header::<u64>());
        bytes.extend_from_slice(&5u64.to_ne_bytes());
        // A message header with the wrong length is not a record.
        bytes.extend_from_slice(&ipc::codec::message_tag::<u64>().to_le_bytes());
        bytes.extend_from_slice(&3u32.to_le_bytes());
        bytes.extend_from_slice(b"not a frame at all");
        raw.write_all(&bytes).unwrap();
        // Wait for the parent to finish reading before closing.
        let mut buf = [0; 1];
        let _ = std::io::stdin().read(&mut buf);
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("garbage.sock");
    let listener = Listener::<u64>::bind(&path).unwrap();
    let mut child = spawn(
        "a_raw_writer_of_garbage_gets_errors_not_a_crash",
        "raw",
        &path,
    );
    let mut s = listener.accept().unwrap();
    let t = Duration::from_secs(10);
    assert_eq!(
        s.recv_timeout(t).unwrap(),
        5,
        "valid frames before the garbage arrive"
    );
    let err = s.recv_timeout(t).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    println!("garbage: {err}");
    let err = s.recv_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(
        err.is_timeout(),
        "then nothing more, while the writer lives: {err}"
    );
    drop(child.stdin.take());
    common::assert_exit_success(child);
    assert!(s.recv_timeout(t).unwrap_err().is_disconnected());
}

/// `send_ref` / `recv_into` round-trip in place on a stream, its halves and a seqpacket
/// socket, and a frame that is not a valid `T` leaves `*out` unchanged.
#[test]
fn send_ref_and_recv_into_work_in_place() {
    use ipc::socket::SeqPacket;
    use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    type Word = FixedStr<4>;
    let ok = Word::try_from("ok").unwrap();
    let bad_payload = b"\xffk\0\0";
    let mut out = Word::default();

    let (mut a, b) = Stream::<Word>::pair().unwrap();
    a.send_ref(&ok).unwrap();
    let (mut btx, mut brx) = b.split();
    brx.recv_into(&mut out).unwrap();
    assert_eq!(out, ok);
    let yes = Word::try_from("yes").unwrap();
    btx.send_ref(&yes).unwrap();
    a.recv_into(&mut out).unwrap();
    assert_eq!(out, yes);

    // A typed stream fed by a raw writer: one valid frame, then one that is not UTF-8.
    let (mine, mut raw) = UnixStream::pair().unwrap();
    let mut wire = ipc::codec::hello::<Word>();
    ipc::codec::write_message(&mut wire, &ok).unwrap();
    wire.extend_from_slice(&ipc::codec::message_header::<Word>());
    wire.extend_from_slice(bad_payload);
    raw.write_all(&wire).unwrap();
    let mut s = Stream::<Word>::from_fd(OwnedFd::from(mine)).unwrap();
    let mut out = Word::default();
    s.recv_into(&mut out).unwrap();
    assert_eq!(out, ok);
    let err = s.recv_into(&mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(out, ok, "a refused message must leave *out unchanged");

    // Seqpacket: a typed end and a raw one.
    let (mine, raw) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    let send_raw = |bytes: &[u8]| {
        nix::sys::socket::send(raw.as_raw_fd(), bytes, MsgFlags::empty()).unwrap();
    };
    send_raw(&ipc::codec::hello::<Word>());
    let mut s = SeqPacket::<Word>::from_fd(mine).unwrap();
    let mut dgram = [0u8; 2048];
    let mut recv_raw = || {
        let n = nix::sys::socket::recv(raw.as_raw_fd(), &mut dgram, MsgFlags::empty()).unwrap();
        dgram[..n].to_vec()
    };
    assert!(recv_raw().starts_with(b"ipcH"), "the typed end's handshake");
    s.send_ref(&yes).unwrap();
    let mut want = <Word as ipc::Message>::FINGERPRINT.to_le_bytes().to_vec();
    want.extend_from_slice(ipc::as_bytes(&yes));
    assert_eq!(recv_raw(), want);
    let mut frame = <Word as ipc::Message>::FINGERPRINT.to_le_bytes().to_vec();
    frame.extend_from_slice(ipc::as_bytes(&ok));
    send_raw(&frame);
    s.recv_into(&mut out).unwrap();
    assert_eq!(out, ok);
    frame.truncate(8);
    frame.extend_from_slice(bad_payload);
    send_raw(&frame);
    let err = s.recv_into(&mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(out, ok, "a refused message must leave *out unchanged");
}

/// A listener whose backlog is full (another process holds it, accepting nobody): every
/// connect gives up with `Timeout` after the handshake timeout instead of waiting in
/// `connect(2)` until the listener accepts.
#[test]
fn connect_gives_up_when_the_listeners_backlog_stays_full() {
    if let Some((_, path)) = role() {
        // The listener: a backlog of 0 holds one pending connection, and nobody accepts.
        let _l = Listener::<u64>::bind_with(&path, Options::new().backlog(0)).unwrap();
        let _s = SeqPacketListener::<u64>::bind_with(
            path.with_extension("packet"),
            Options::new().backlog(0),
        )
        .unwrap();
        // Hold them until the parent closes our stdin.
        let mut buf = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut buf);
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("full.sock");
    let packet = path.with_extension("packet");
    let mut child = spawn(
        "connect_gives_up_when_the_listeners_backlog_stays_full",
        "listener",
        &path,
    );
    wait_for(&packet);
    // Take the one place in each backlog.
    let _stream_place = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let packet_place = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Unix,
        nix::sys::socket::SockType::SeqPacket,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    nix::sys::socket::connect(
        std::os::fd::AsRawFd::as_raw_fd(&packet_place),
        &nix::sys::socket::UnixAddr::new(&packet).unwrap(),
    )
    .unwrap();

    let (done, results) = std::sync::mpsc::channel();
    let (p, q) = (path.clone(), packet.clone());
    std::thread::spawn(move || {
        let opts = Options::new().handshake_timeout(Duration::from_millis(300));
        let _ = done.send((
            "Stream::connect_with",
            Stream::<u64>::connect_with(&p, &opts).map(drop),
        ));
        let _ = done.send((
            "Client::connect_with",
            Client::<u64, u64>::connect_with(&p, &opts).map(drop),
        ));
        let _ = done.send((
            "SeqPacket::connect_with",
            SeqPacket::<u64>::connect_with(&q, &opts).map(drop),
        ));
    });
    for _ in 0..3 {
        let (what, r) = results
            .recv_timeout(Duration::from_secs(20))
            .expect("a connect to a full backlog still blocked 20 s later");
        let err = r.unwrap_err();
        assert!(err.is_timeout(), "{what}: {err}");
        assert!(err.to_string().contains("try again"), "{what}: {err}");
    }
    drop(child.stdin.take());
    let status = common::wait_at_most(&mut child, Duration::from_secs(20)).expect("listener hung");
    assert!(status.success(), "{status}");
}

/// One client floods an rpc server with requests and never reads the answers; another
/// client, connected meanwhile, is answered at once, while the first is still connected
/// (the server would drop it only after its 600 s handshake timeout).
#[test]
fn rpc_a_client_that_never_reads_does_not_stall_the_others() {
    type Big = [u8; 1024];
    const TEST: &str = "rpc_a_client_that_never_reads_does_not_stall_the_others";
    if let Some((role, path)) = role() {
        if role == "greedy" {
            // A client's handshake, then requests, written raw: nothing reads the answers.
            let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
            s.write_all(&ipc::codec::rpc_hello::<Big, Big>()).unwrap();
            let mut request = Vec::new();
            ipc::codec::write_message(&mut request, &[1u8; 1024]).unwrap();
            // Until the server stops reading us: it has no room left for our answers.
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            loop {
                match s.write_all(&request) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            fs::write(path.with_extension("flooded"), b"").unwrap();
            let mut buf = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut buf);
        } else {
            let mut c = Client::<Big, Big>::connect(&path).unwrap();
            for i in 0..50u8 {
                assert_eq!(c.call([i; 1024]).unwrap(), [i; 1024]);
            }
        }
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("rpc.sock");
    let opts = Options::new().handshake_timeout(Duration::from_secs(600));
    let mut server = Server::<Big, Big>::bind_with(&path, opts).unwrap();
    let (done, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let served = server.serve_clients(2, |req| req);
        // Closed before the test can end: a listener still open when the process exits
        // would leave its registry behind.
        drop(server);
        done.send(served)
    });
    let mut greedy = spawn(TEST, "greedy", &path);
    wait_for(&path.with_extension("flooded"));
    let mut polite = spawn(TEST, "polite", &path);
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
