//! The hand-written streams: what one writes to move the same messages over a byte stream
//! without this crate, measured beside the typed ends of the byte-stream transports.
//!
//! The sender wraps the same kind of descriptor (an anonymous pipe, a FIFO, a Unix stream
//! socket, a TCP socket) in a `BufWriter` of 64 KiB and writes each message as its raw
//! bytes, the sequence number and then the payload, each with `write_all`; the receiver
//! reads them through a `BufReader` of 64 KiB with `read_exact` and checks every one, as
//! the typed child does. No handshake, no record header, no validation of a type: only
//! the bytes. Each round starts with the round's message count (8 bytes) and ends with the
//! child writing that count back; the parent closing its ends is the end.
//!
//! The tour's waits must not outlast a signal or a child that never comes: the parent
//! opens FIFOs and accepts connections without blocking, retrying every millisecond, and
//! its loops check for a shutdown; blocking reads and writes then only ever wait for a
//! child that is there (or gone, which ends them with an error).

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ipc::{Error, Result};

use crate::guard::path_arg;
use crate::measure::{filled_with, interrupted};
use crate::peer::{command, spawn, Peer};

/// The capacity of the writer's and the reader's buffers.
const CAPACITY: usize = 64 * 1024;

/// A hand-written stream to a child, seen from the parent.
pub trait Round {
    /// Streams `count` messages to the child; returns the time from the first write to
    /// the child's acknowledgement.
    fn round(&mut self, count: u64) -> Result<Duration>;
}

/// The parent's ends: a buffered writer to the child, and the way back.
struct Hand<W: Write, R, const N: usize> {
    out: BufWriter<W>,
    back: R,
}

impl<W: Write, R: Read, const N: usize> Hand<W, R, N> {
    fn boxed(out: W, back: R) -> Box<dyn Round>
    where
        W: 'static,
        R: 'static,
    {
        Box::new(Hand::<W, R, N> {
            out: BufWriter::with_capacity(CAPACITY, out),
            back,
        })
    }
}

impl<W: Write, R: Read, const N: usize> Round for Hand<W, R, N> {
    fn round(&mut self, count: u64) -> Result<Duration> {
        let start = Instant::now();
        let out = &mut self.out;
        out.write_all(&count.to_ne_bytes())
            .map_err(failed("write"))?;
        // Each message written with one `write_all` of its bytes, as one writes a record.
        let mut buf = [0u8; 8 + 4096];
        let msg = &mut buf[..8 + N];
        for seq in 0..count {
            if seq % 4096 == 0 {
                interrupted()?;
            }
            msg[..8].copy_from_slice(&seq.to_ne_bytes());
            msg[8..].fill(seq as u8);
            out.write_all(msg).map_err(failed("write"))?;
        }
        out.flush().map_err(failed("write"))?;
        let mut ack = [0; 8];
        self.back
            .read_exact(&mut ack)
            .map_err(failed("read the acknowledgement"))?;
        let elapsed = start.elapsed();
        match u64::from_ne_bytes(ack) {
            n if n == count => Ok(elapsed),
            n => Err(Error::Corrupt(format!(
                "the child acknowledged {n} messages of {count}"
            ))),
        }
    }
}

/// The child's side: reads every round's messages, checks each, and acknowledges the
/// round, until the parent closes its end.
fn serve<const N: usize>(input: impl Read, mut ack: impl Write) -> Result<()> {
    let mut input = BufReader::with_capacity(CAPACITY, input);
    let mut word = [0; 8];
    while !input.fill_buf().map_err(failed("read"))?.is_empty() {
        input.read_exact(&mut word).map_err(failed("read"))?;
        let count = u64::from_ne_bytes(word);
        let mut buf = [0u8; 8 + 4096];
        let msg = &mut buf[..8 + N];
        for seq in 0..count {
            if seq % 4096 == 0 {
                interrupted()?;
            }
            input.read_exact(msg).map_err(failed("read"))?;
            let (word, data) = msg.split_at(8);
            let got = u64::from_ne_bytes(word.try_into().expect("8 bytes"));
            if got != seq || !filled_with(data, seq as u8) {
                return Err(Error::Corrupt(format!(
                    "message {seq} arrived as {got} or damaged"
                )));
            }
        }
        ack.write_all(&count.to_ne_bytes())
            .map_err(failed("write the acknowledgement"))?;
    }
    Ok(())
}

/// Two anonymous pipes, the child's standard input and output.
pub fn pipe<const N: usize>() -> Result<(Peer, Box<dyn Round>)> {
    let mut cmd = command("hand", "pipe", 8 + N, &[]);
    let mut peer = Peer::spawn(cmd.stdin(Stdio::piped()).stdout(Stdio::piped()));
    let (Some(down), Some(up)) = peer.take_stdio() else {
        unreachable!("both were piped");
    };
    Ok((peer, Hand::<_, _, N>::boxed(down, up)))
}

/// Two FIFOs, `down` to the child and `up` back.
pub fn fifo<const N: usize>(down: &Path, up: &Path) -> Result<(Peer, Box<dyn Round>)> {
    // The read end first and without waiting, so that the child's open of its write end
    // returns at once; the write end once the child has come to open its read end.
    let back =
        open_nonblocking(OpenOptions::new().read(true), up).map_err(failed("open a FIFO"))?;
    let peer = spawn("hand", "fifo", 8 + N, &[path_arg(down), path_arg(up)], None);
    let out = patiently("open a FIFO", || {
        open_nonblocking(OpenOptions::new().write(true), down)
    })?;
    blocking(&back)?;
    blocking(&out)?;
    Ok((peer, Hand::<_, _, N>::boxed(out, back)))
}

/// A Unix stream socket, bound at `path`.
pub fn unix<const N: usize>(path: &Path) -> Result<(Peer, Box<dyn Round>)> {
    let listener = UnixListener::bind(path).map_err(failed("bind"))?;
    listener.set_nonblocking(true).map_err(failed("fcntl"))?;
    let peer = spawn("hand", "unix", 8 + N, &[path_arg(path)], None);
    let (stream, _) = patiently("accept", || listener.accept())?;
    stream.set_nonblocking(false).map_err(failed("fcntl"))?;
    let out = stream.try_clone().map_err(failed("dup"))?;
    Ok((peer, Hand::<_, _, N>::boxed(out, stream)))
}

/// A TCP connection over loopback, without Nagle's delay (as the typed ends set it).
pub fn tcp<const N: usize>() -> Result<(Peer, Box<dyn Round>)> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(failed("bind"))?;
    let addr = listener.local_addr().map_err(failed("getsockname"))?;
    listener.set_nonblocking(true).map_err(failed("fcntl"))?;
    let peer = spawn("hand", "tcp", 8 + N, &[addr.to_string()], None);
    let (stream, _) = patiently("accept", || listener.accept())?;
    stream.set_nonblocking(false).map_err(failed("fcntl"))?;
    stream.set_nodelay(true).map_err(failed("setsockopt"))?;
    let out = stream.try_clone().map_err(failed("dup"))?;
    Ok((peer, Hand::<_, _, N>::boxed(out, stream)))
}

/// The child's side of the hand-written stream of `transport`.
pub fn child<const N: usize>(transport: &str, endpoint: &[String]) -> Result<()> {
    match transport {
        "pipe" => {
            let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned().map(File::from);
            let input = dup(io::stdin().as_fd()).map_err(failed("dup"))?;
            let output = dup(io::stdout().as_fd()).map_err(failed("dup"))?;
            serve::<N>(input, output)
        }
        "fifo" => {
            // The parent holds the read end of `up` already: this open returns at once.
            let ack = OpenOptions::new()
                .write(true)
                .open(&endpoint[1])
                .map_err(failed("open a FIFO"))?;
            let input = File::open(&endpoint[0]).map_err(failed("open a FIFO"))?;
            serve::<N>(input, ack)
        }
        "unix" => {
            let stream = UnixStream::connect(&endpoint[0]).map_err(failed("connect"))?;
            serve::<N>(stream.try_clone().map_err(failed("dup"))?, stream)
        }
        "tcp" => {
            let stream = TcpStream::connect(endpoint[0].as_str()).map_err(failed("connect"))?;
            stream.set_nodelay(true).map_err(failed("setsockopt"))?;
            serve::<N>(stream.try_clone().map_err(failed("dup"))?, stream)
        }
        other => panic!("no hand-written stream for {other}"),
    }
}

/// Retries `attempt` every millisecond while it would block (`EAGAIN`, or `ENXIO`: a FIFO
/// without a reader yet), for at most 10 s, and ends at a shutdown.
fn patiently<T>(op: &'static str, mut attempt: impl FnMut() -> io::Result<T>) -> Result<T> {
    const LIMIT: Duration = Duration::from_secs(10);
    let give_up = Instant::now() + LIMIT;
    loop {
        match attempt() {
            Ok(done) => return Ok(done),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(source) => return Err(Error::Io { op, source }),
        }
        interrupted()?;
        if Instant::now() > give_up {
            return Err(Error::Timeout(LIMIT));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn open_nonblocking(options: &mut OpenOptions, path: &Path) -> io::Result<File> {
    options.custom_flags(libc::O_NONBLOCK).open(path)
}

/// Makes reads and writes on `file` wait again.
fn blocking(file: &File) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    fcntl(file, FcntlArg::F_SETFL(OFlag::empty()))
        .map(drop)
        .map_err(|e| Error::Io {
            op: "fcntl(F_SETFL)",
            source: e.into(),
        })
}

fn failed(op: &'static str) -> impl Fn(io::Error) -> Error {
    move |source| Error::Io { op, source }
}
