//! One conformance suite, written once and run against every transport with real
//! processes: the clauses every `Sender`/`Receiver` pair honours.
//!
//! 1. order is preserved, nothing is lost, nothing is duplicated;
//! 2. a peer with another schema is refused with `SchemaMismatch` (by whichever side
//!    checks first: the opener of a queue or segment, the reader of a stream);
//! 3. `try_recv` on an empty channel is `Empty`, `recv_timeout` is `Timeout`, and neither
//!    loses the message that comes after;
//! 4. a sender that exits, or is killed, gives the receiver `Disconnected` after the last
//!    message (not for message queues: a queue outlives its processes by design, so there
//!    the clause is that nothing more arrives);
//! 5. bytes that are not a valid message (an invalid `bool`) are an error, never a `T`.
//!
//! The suite is written against the public contract, `ipc::Tx` and `ipc::Rx`, and reaches
//! every transport by its endpoint string: the parent receives on `ipc::bind(endpoint)`,
//! the child sends on `ipc::connect(endpoint)`, both `Box<dyn …>`. A transport joins the
//! suite with one line in `transports()`: its endpoint and a raw writer of bad bytes.
//!
//! Clause 4 follows what `bind` makes: a queue, and a listener that takes every sender
//! that connects, outlive their senders (nothing more arrives after the last message);
//! every other end reports `Disconnected`.
//!
//! The binary has its own `main` (no libtest harness) because every case re-runs it as
//! a child process with a role in its environment.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipc::endpoint::Endpoint;
use ipc::{Error, Message, Result, Rx, Tx};

mod common;

/// The message every case sends.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Msg {
    seq: u64,
    check: u32,
    flag: bool,
    _pad: [u8; 3],
}

impl Msg {
    fn new(seq: u64) -> Msg {
        Msg {
            seq,
            check: (seq as u32).wrapping_mul(2_654_435_761),
            flag: seq % 2 == 0,
            _pad: [0; 3],
        }
    }
}

/// Same size as `Msg`, another schema.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Other {
    seq: u64,
    check: u32,
    other: u32,
}

const STREAM: u64 = 10_000;
/// Exit code of a child whose own open or send was refused for its schema.
const CHILD_SAW_MISMATCH: i32 = 42;

/// What the parent listens with: the receiver, the endpoint for the child, and the
/// descriptor the child inherits as its stdout (for the pipe).
type Listening = (Box<dyn Rx<Msg>>, String, Option<OwnedFd>);

/// One clause of the suite.
type Case = (&'static str, fn(&Transport) -> Result<()>);

/// One transport under test.
#[derive(Clone, Copy)]
struct Transport {
    name: &'static str,
    /// The endpoint, with `{dir}` (a private directory), `{name}` (a unique name), `{port}`
    /// (a free TCP port) and `{key}` (an unused System V key) filled in for each case.
    endpoint: &'static str,
    /// Child: writes `Msg` bytes with an invalid `bool` to the endpoint as a raw peer would.
    write_invalid: fn(&Endpoint) -> Result<()>,
}

fn main() -> ExitCode {
    if let Ok(role) = std::env::var("CONFORMANCE_ROLE") {
        return child(&role);
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let cases: [Case; 5] = [
        ("order_no_loss_no_duplicates", order_no_loss_no_duplicates),
        ("other_schema_is_refused", other_schema_is_refused),
        (
            "empty_and_timeout_lose_nothing",
            empty_and_timeout_lose_nothing,
        ),
        ("killed_sender_disconnects", killed_sender_disconnects),
        ("invalid_bits_are_an_error", invalid_bits_are_an_error),
    ];
    let (mut passed, mut failed) = (0, 0);
    for t in transports() {
        for (case, run) in &cases {
            let name = format!("{}::{case}", t.name);
            if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
                continue;
            }
            let start = Instant::now();
            match run(&t) {
                Ok(()) => {
                    passed += 1;
                    println!("test {name} ... ok ({:.0?})", start.elapsed());
                }
                Err(e) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {e}");
                }
            }
        }
    }
    println!("\n{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------
// The clauses, written once.

fn order_no_loss_no_duplicates(t: &Transport) -> Result<()> {
    let scratch = Scratch::new(t.name, "order");
    let (mut rx, addr, stdout) = listen(t, &scratch)?;
    let mut child = spawn(t, "stream", &addr, stdout)?;
    for want in 0..STREAM {
        let got = rx.recv()?;
        check(
            got == Msg::new(want),
            format!("message {want} arrived as {got:?}"),
        )?;
    }
    expect_exit(&mut child, 0)?;
    after_last(&addr, rx.as_mut())
}

fn other_schema_is_refused(t: &Transport) -> Result<()> {
    let scratch = Scratch::new(t.name, "schema");
    let (mut rx, addr, stdout) = listen(t, &scratch)?;
    let mut child = spawn(t, "other", &addr, stdout)?;
    // Whichever side checks first refuses: the reader of a stream, or the child opening
    // a queue or segment (it then exits with CHILD_SAW_MISMATCH).
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(|e| io("wait", e))? {
            if status.code() == Some(CHILD_SAW_MISMATCH) {
                return Ok(());
            }
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Err(Error::SchemaMismatch {
                expected, found, ..
            }) => {
                let _ = child.wait();
                // Datagram transports carry only the fingerprint, not the peer's name.
                return check(
                    expected.name == "Msg" && found.fingerprint == Other::FINGERPRINT,
                    format!("the error names both schemas: {expected} / {found}"),
                );
            }
            Err(Error::Timeout(_)) => {}
            other => {
                let _ = child.kill();
                return fail(format!("a peer of another schema gave {other:?}"));
            }
        }
    }
    let _ = child.kill();
    fail("neither side refused the other schema")
}

fn empty_and_timeout_lose_nothing(t: &Transport) -> Result<()> {
    let scratch = Scratch::new(t.name, "timeout");
    let (mut rx, addr, stdout) = listen(t, &scratch)?;
    let mut child = spawn(t, "gated", &addr, stdout)?;
    // The child sends message 0, then waits for our go (a line on its stdin) to send 1.
    check(
        rx.recv_timeout(Duration::from_secs(10))? == Msg::new(0),
        "first message",
    )?;
    match rx.try_recv() {
        Err(Error::Empty) => {}
        other => return fail(format!("try_recv on an empty channel gave {other:?}")),
    }
    match rx.recv_timeout(Duration::from_millis(50)) {
        Err(Error::Timeout(_)) => {}
        other => return fail(format!("recv_timeout on an empty channel gave {other:?}")),
    }
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"go\n")
        .map_err(|e| io("write", e))?;
    check(
        rx.recv_timeout(Duration::from_secs(10))? == Msg::new(1),
        "the message after the timeout",
    )?;
    expect_exit(&mut child, 0)?;
    after_last(&addr, rx.as_mut())
}

fn killed_sender_disconnects(t: &Transport) -> Result<()> {
    let scratch = Scratch::new(t.name, "kill");
    let (mut rx, addr, stdout) = listen(t, &scratch)?;
    let mut child = spawn(t, "gated", &addr, stdout)?;
    check(
        rx.recv_timeout(Duration::from_secs(10))? == Msg::new(0),
        "first message",
    )?;
    child.kill().map_err(|e| io("kill", e))?;
    let _ = child.wait();
    after_last(&addr, rx.as_mut())
}

fn invalid_bits_are_an_error(t: &Transport) -> Result<()> {
    let scratch = Scratch::new(t.name, "invalid");
    let (mut rx, addr, stdout) = listen(t, &scratch)?;
    let mut child = spawn(t, "invalid", &addr, stdout)?;
    let got = rx.recv_timeout(Duration::from_secs(10));
    expect_exit(&mut child, 0)?;
    match got {
        Err(Error::InvalidMessage(e)) => {
            check(e.field() == "flag", format!("names the field: {e}"))
        }
        other => fail(format!("an invalid bool gave {other:?}")),
    }
}

/// After the last message: `Disconnected`, or nothing more for an end that outlives its
/// senders.
fn after_last(endpoint: &str, rx: &mut dyn Rx<Msg>) -> Result<()> {
    let disconnects = !outlives_senders(&endpoint.parse()?);
    let got = rx.recv_timeout(if disconnects {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(50)
    });
    match got {
        Err(Error::Disconnected) if disconnects => Ok(()),
        Err(Error::Timeout(_)) if !disconnects => Ok(()),
        other => fail(format!("after the last message: {other:?}")),
    }
}

// ---------------------------------------------------------------------------------------
// The child side.

fn child(role: &str) -> ExitCode {
    let name = std::env::var("CONFORMANCE_TRANSPORT").expect("transport");
    let addr = std::env::var("CONFORMANCE_ADDR").expect("address");
    let t = transports()
        .into_iter()
        .find(|t| t.name == name)
        .expect("known transport");
    let run = || -> Result<()> {
        match role {
            "stream" => {
                let mut tx = ipc::connect::<Msg>(&addr)?;
                (0..STREAM).try_for_each(|i| Ok(tx.send(Msg::new(i))?))
            }
            "other" => {
                let mut tx = ipc::connect::<Other>(&addr)?;
                Ok(tx.send(Other {
                    seq: 0,
                    check: 0,
                    other: 0,
                })?)
            }
            "gated" => {
                let mut tx = ipc::connect::<Msg>(&addr)?;
                tx.send(Msg::new(0))?;
                let mut line = String::new();
                let _ = std::io::stdin().read_line(&mut line);
                Ok(tx.send(Msg::new(1))?)
            }
            "invalid" => (t.write_invalid)(&addr.parse()?),
            other => panic!("unknown role {other}"),
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Error::SchemaMismatch { .. }) => ExitCode::from(CHILD_SAW_MISMATCH as u8),
        Err(e) => {
            eprintln!("conformance child ({name}, {role}): {e}");
            ExitCode::FAILURE
        }
    }
}

fn spawn(t: &Transport, role: &str, addr: &str, stdout: Option<OwnedFd>) -> Result<Child> {
    let mut cmd = Command::new(std::env::current_exe().map_err(|e| io("current_exe", e))?);
    cmd.env("CONFORMANCE_ROLE", role)
        .env("CONFORMANCE_TRANSPORT", t.name)
        .env("CONFORMANCE_ADDR", addr)
        .stdin(Stdio::piped());
    if let Some(fd) = stdout {
        cmd.stdout(Stdio::from(fd));
    }
    cmd.spawn().map_err(|e| io("spawn", e))
}

fn expect_exit(child: &mut Child, code: i32) -> Result<()> {
    let status = child.wait().map_err(|e| io("wait", e))?;
    check(
        status.code() == Some(code),
        format!("child exited {status}, expected {code}"),
    )
}

// ---------------------------------------------------------------------------------------
// The transports.

fn transports() -> Vec<Transport> {
    let t = |name, endpoint, write_invalid| Transport {
        name,
        endpoint,
        write_invalid,
    };
    vec![
        t("pipe", "pipe:", |_| raw_stream(std::io::stdout().lock())),
        t("fifo", "fifo:{dir}/fifo", raw_fifo),
        t("unix", "unix:{dir}/sock", raw_unix),
        t("seqpacket", "unix-seqpacket:{dir}/sock", raw_seqpacket),
        t("tcp", "tcp:127.0.0.1:{port}", raw_tcp),
        t("shm", "shm:{name}?capacity=64", raw_shm),
        t("mq", "mq:/{name}?capacity=10", raw_mq),
        t("sysv", "sysv:{key}", raw_sysv),
    ]
}

/// The parent's receiving end: `ipc::bind(endpoint)`, except for `pipe:` (which binds
/// this process's stdin): there a pipe whose write end becomes the child's stdout.
fn listen(t: &Transport, scratch: &Scratch) -> Result<Listening> {
    let endpoint = scratch.fill(t.endpoint);
    if endpoint.parse::<Endpoint>()? == Endpoint::Pipe {
        let (tx, rx) = ipc::pipe::channel::<Msg>()?;
        return Ok((Box::new(rx), endpoint, Some(OwnedFd::from(tx))));
    }
    Ok((ipc::bind::<Msg>(&endpoint)?, endpoint, None))
}

/// Whether what `bind` makes of `endpoint` outlives its senders: a queue, or a listener
/// that waits for the next sender.
fn outlives_senders(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Mq { .. }
            | Endpoint::Sysv { .. }
            | Endpoint::Unix { .. }
            | Endpoint::UnixSeqpacket { .. }
            | Endpoint::Tcp { .. }
    )
}

/// `Msg` bytes whose `flag` is 7: not a bool.
fn invalid_msg_bytes() -> Vec<u8> {
    let mut bytes = ipc::as_bytes(&Msg::new(1)).to_vec();
    bytes[12] = 7;
    bytes
}

/// A writer into a shared-memory slot of bytes that are not a `Msg`, the way a buggy or
/// hostile peer would put them there.
fn raw_shm(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Shm { name, .. } = endpoint else {
        unreachable!("an shm endpoint")
    };
    let mut tx = ipc::shm::Sender::<Msg>::open(name)?;
    let mut slot = tx.loan()?;
    let bytes = invalid_msg_bytes();
    let out = slot.as_uninit_mut().as_mut_ptr().cast::<u8>();
    // SAFETY: the slot is `size_of::<Msg>()` bytes of this loan's memory, and `bytes` is
    // exactly that long; the two do not overlap.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
    // SAFETY: every byte was written; that they are not a valid `Msg` is the point (the
    // receiver validates them).
    unsafe { slot.assume_init() };
    slot.send();
    Ok(())
}

/// A raw writer of the stream format: a correct handshake, then a frame whose payload has
/// an invalid bool.
fn raw_stream(mut w: impl Write) -> Result<()> {
    let mut bytes = ipc::codec::hello::<Msg>();
    bytes.extend_from_slice(&ipc::codec::message_header::<Msg>());
    bytes.extend_from_slice(&invalid_msg_bytes());
    w.write_all(&bytes).map_err(|e| io("write", e))?;
    w.flush().map_err(|e| io("flush", e))
}

/// A raw socket client: reads the server's handshake first (a socket closed with unread
/// data resets the connection, and the kernel may then drop what it sent), then writes
/// as [`raw_stream`].
fn raw_socket(mut s: impl Read + Write) -> Result<()> {
    let mut greeting = vec![0; ipc::codec::hello::<Msg>().len()];
    s.read_exact(&mut greeting).map_err(|e| io("read", e))?;
    raw_stream(s)
}

fn raw_fifo(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Fifo { path } = endpoint else {
        unreachable!("a FIFO endpoint")
    };
    let fifo = std::fs::OpenOptions::new().write(true).open(path);
    raw_stream(fifo.map_err(|e| io("open", e))?)
}

fn raw_unix(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Unix { path } = endpoint else {
        unreachable!("a Unix endpoint")
    };
    raw_socket(std::os::unix::net::UnixStream::connect(path).map_err(|e| io("connect", e))?)
}

fn raw_tcp(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Tcp { host, port } = endpoint else {
        unreachable!("a TCP endpoint")
    };
    let stream = std::net::TcpStream::connect((host.as_str(), *port));
    raw_socket(stream.map_err(|e| io("connect", e))?)
}

fn raw_mq(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Mq { name, .. } = endpoint else {
        unreachable!("an mq endpoint")
    };
    let q = nix::mqueue::mq_open(
        name.as_str(),
        nix::mqueue::MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .map_err(|e| Error::io("mq_open", e.into()))?;
    nix::mqueue::mq_send(&q, &invalid_msg_bytes(), 0).map_err(|e| Error::io("mq_send", e.into()))
}

/// A raw seqpacket client: the handshake datagram, then one datagram of the fingerprint
/// and the invalid bytes.
fn raw_seqpacket(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::UnixSeqpacket { path: addr } = endpoint else {
        unreachable!("a seqpacket endpoint")
    };
    use nix::sys::socket::{
        connect, recv, send, socket, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::io("socket", e.into()))?;
    let to = UnixAddr::new(addr.as_str()).map_err(|e| Error::io("sockaddr", e.into()))?;
    connect(fd.as_raw_fd(), &to).map_err(|e| Error::io("connect", e.into()))?;
    // Read the server's handshake first: see raw_socket.
    let mut greeting = [0u8; 2048];
    recv(fd.as_raw_fd(), &mut greeting, MsgFlags::empty())
        .map_err(|e| Error::io("recv", e.into()))?;
    let mut datagram = Msg::FINGERPRINT.to_le_bytes().to_vec();
    datagram.extend_from_slice(&invalid_msg_bytes());
    for d in [ipc::codec::hello::<Msg>(), datagram] {
        send(fd.as_raw_fd(), &d, MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| Error::io("send", e.into()))?;
    }
    Ok(())
}

/// A raw `msgsnd` of type 1: the fingerprint, then the invalid bytes.
fn raw_sysv(endpoint: &Endpoint) -> Result<()> {
    let Endpoint::Sysv { key } = endpoint else {
        unreachable!("a System V endpoint")
    };
    #[repr(C)]
    struct Buf {
        mtype: libc::c_long,
        text: [u8; 8 + size_of::<Msg>()],
    }
    let mut buf = Buf {
        mtype: 1,
        text: [0; 8 + size_of::<Msg>()],
    };
    buf.text[..8].copy_from_slice(&Msg::FINGERPRINT.to_le_bytes());
    buf.text[8..].copy_from_slice(&invalid_msg_bytes());
    // SAFETY: msgget(2) takes any key and flags, and only looks the queue up.
    let id = unsafe { libc::msgget(*key, 0) };
    if id < 0 {
        return Err(Error::io("msgget", std::io::Error::last_os_error()));
    }
    // SAFETY: `buf` is a live `#[repr(C)]` struct that starts with the `c_long` message
    // type msgsnd(2) requires, followed by exactly `text.len()` bytes of message text.
    let rc = unsafe { libc::msgsnd(id, (&raw const buf).cast(), buf.text.len(), 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::io("msgsnd", std::io::Error::last_os_error()))
    }
}

/// A private directory and a unique name per case (see `common::unique`); the directory
/// is removed on drop.
struct Scratch {
    dir: common::TempDir,
    unique: String,
}

impl Scratch {
    fn new(transport: &str, case: &str) -> Scratch {
        let unique = common::unique(&format!("conf-{transport}-{case}"));
        let dir = common::TempDir::new(&format!("conf-{transport}-{case}"));
        Scratch { dir, unique }
    }
    /// `template` with this case's directory, name, free TCP port and System V key.
    fn fill(&self, template: &str) -> String {
        let mut endpoint = template
            .replace("{dir}", self.dir.path().to_str().expect("a UTF-8 temp dir"))
            .replace("{name}", &self.unique);
        if endpoint.contains("{port}") {
            // A port the kernel just handed out and we let go: free unless another
            // process takes it in the instant before the parent binds it.
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            let port = probe.local_addr().expect("its address").port();
            endpoint = endpoint.replace("{port}", &port.to_string());
        }
        if endpoint.contains("{key}") {
            endpoint = endpoint.replace("{key}", &self.sysv_key().to_string());
        }
        endpoint
    }

    /// A System V key no queue has: derived from the unique name, moved on while taken.
    fn sysv_key(&self) -> i32 {
        let mut key = self.unique.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        loop {
            let k = (key & 0x3fff_ffff) as i32 | 0x4000_0000;
            // SAFETY: msgget(2) with flags 0 only looks the key up.
            if unsafe { libc::msgget(k, 0) } < 0 {
                return k;
            }
            key = key.wrapping_add(1);
        }
    }
}

fn check(ok: bool, what: impl Into<String>) -> Result<()> {
    if ok {
        Ok(())
    } else {
        fail(what)
    }
}

fn fail(what: impl Into<String>) -> Result<()> {
    Err(Error::Corrupt(format!("conformance: {}", what.into())))
}

fn io(op: &'static str, source: std::io::Error) -> Error {
    Error::Io { op, source }
}
