//! The "rpc" rows: one call of a generated service (`#[ipc::service]`), round trip, over
//! shared memory (`ipc::shm::rpc`), a Unix socket and TCP, with an 8-byte and a 4 KiB
//! argument echoed back; and over shared memory again with the generated async client
//! (`shm::rpc::AsyncClient`, awaited on a current-thread tokio runtime: the `shm async`
//! row), the server the same. The tour serves; its child calls and reports the median of
//! [`ROUNDS`] rounds (each of a fixed number of calls, tens of milliseconds long, after a
//! warm-up round). The processes are placed as `cargo bench --bench rpc` places them, so
//! that the figures agree with its "generated" column: over shared memory on two CPUs
//! (the tour on CPU 0, the child on CPU 1), over sockets both on CPU 0.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ipc::rpc::Serve;
use ipc::{Error, Result};

use crate::guard::{self, TempDir};
use crate::peer;

/// Rounds per figure.
const ROUNDS: usize = 7;

/// The transports of the rpc rows, in the table's order.
pub const TRANSPORTS: [&str; 4] = ["shm", "shm async", "unix", "tcp"];

/// The argument sizes of the rpc rows.
pub const SIZES: [usize; 2] = [8, 4096];

#[ipc::service]
pub trait Small {
    /// Its argument back.
    fn echo(&self, data: [u8; 8]) -> [u8; 8];
}

#[ipc::service]
pub trait Large {
    /// Its argument back.
    fn echo(&self, data: [u8; 4096]) -> [u8; 4096];
}

struct Echo;

impl Small for Echo {
    fn echo(&self, data: [u8; 8]) -> [u8; 8] {
        data
    }
}

impl Large for Echo {
    fn echo(&self, data: [u8; 4096]) -> [u8; 4096] {
        data
    }
}

/// Calls per round: enough for tens of milliseconds on each transport (times
/// `IPC_TOUR_SCALE`).
fn calls(transport: &str) -> u64 {
    let n = if transport.starts_with("shm") {
        50_000.0
    } else {
        4_000.0
    };
    ((n * crate::scale()) as u64).max(100)
}

/// A server of `Req`/`Resp` over `transport`, and the address its client connects to.
type Bound<Req, Resp> = (Box<dyn Serve<Req, Resp>>, String);

fn bind<Req: ipc::Message, Resp: ipc::Message>(
    transport: &str,
    dir: &TempDir,
) -> Result<Bound<Req, Resp>> {
    Ok(match transport {
        "shm" | "shm async" => {
            let name = guard::unique("rpc");
            let server = ipc::shm::rpc::Server::bind(&name)?;
            (Box::new(server), name)
        }
        "unix" => {
            let path = dir.join("rpc.sock");
            let server = ipc::socket::Server::bind(&path)?;
            (Box::new(server), guard::path_arg(&path))
        }
        _ => {
            let server = ipc::tcp::Server::bind("127.0.0.1:0")?;
            let addr = server.local_addr()?.to_string();
            (Box::new(server), addr)
        }
    })
}

fn connect<Req: ipc::Message, Resp: ipc::Message>(
    transport: &str,
    at: &str,
) -> Result<Box<dyn ipc::rpc::Call<Req, Resp>>> {
    Ok(match transport {
        "shm" => Box::new(ipc::shm::rpc::Client::connect(at)?),
        "unix" => Box::new(ipc::socket::Client::connect(at)?),
        _ => Box::new(ipc::tcp::Client::connect(at)?),
    })
}

/// The tour's part: serves one child client of `transport` with `size`-byte arguments;
/// returns the round trip it measured.
pub fn parent(transport: &str, size: usize) -> Result<Duration> {
    let dir = TempDir::new();
    let child = |at: String| {
        peer::spawn(
            "rpc-child",
            transport,
            size,
            &[at],
            Some((Stdio::null(), Stdio::piped())),
        )
    };
    let mut kid = if size == 8 {
        let (mut server, at) = bind::<SmallRequest, SmallResponse>(transport, &dir)?;
        let kid = child(at);
        SmallServer::new(Echo).serve_clients(&mut *server, 1)?;
        kid
    } else {
        let (mut server, at) = bind::<LargeRequest, LargeResponse>(transport, &dir)?;
        let kid = child(at);
        LargeServer::new(Echo).serve_clients(&mut *server, 1)?;
        kid
    };
    let mut said = String::new();
    if let (_, Some(mut out)) = kid.take_stdio() {
        out.read_to_string(&mut said).map_err(|source| Error::Io {
            op: "read the rpc child's figure",
            source,
        })?;
    }
    kid.finish(transport)?;
    let ns: f64 = said
        .trim()
        .parse()
        .map_err(|_| Error::Corrupt(format!("the rpc child said {said:?}, not a figure")))?;
    Ok(Duration::from_secs_f64(ns / 1e9))
}

/// The child's part: calls the tour's server, prints the median round trip in ns.
pub fn child(transport: &str, size: usize, at: &str) -> Result<()> {
    if !transport.starts_with("shm") {
        // As the bench places a socket's two processes: on one CPU.
        crate::pin_to_cpu(0);
    }
    if transport == "shm async" {
        return child_async(size, at);
    }
    let n = calls(transport);
    let mut rounds = Vec::with_capacity(ROUNDS);
    if size == 8 {
        let mut c = SmallClient::new(connect::<SmallRequest, SmallResponse>(transport, at)?);
        for round in 0..=ROUNDS {
            let start = Instant::now();
            for i in 0..n {
                let back = c.echo(i.to_ne_bytes())?;
                check(back[..8] == i.to_ne_bytes())?;
            }
            // Round 0 warms up.
            if round > 0 {
                rounds.push(start.elapsed().as_nanos() as f64 / n as f64);
            }
        }
    } else {
        let mut c = LargeClient::new(connect::<LargeRequest, LargeResponse>(transport, at)?);
        let mut data = [0u8; 4096];
        for round in 0..=ROUNDS {
            let start = Instant::now();
            for i in 0..n {
                data[..8].copy_from_slice(&i.to_ne_bytes());
                let back = c.echo(data)?;
                check(back[..8] == i.to_ne_bytes())?;
            }
            if round > 0 {
                rounds.push(start.elapsed().as_nanos() as f64 / n as f64);
            }
        }
    }
    rounds.sort_by(f64::total_cmp);
    println!("{}", rounds[rounds.len() / 2]);
    Ok(())
}

/// [`child`] with the generated async client over shared memory, on a current-thread
/// runtime.
fn child_async(size: usize, at: &str) -> Result<()> {
    let n = calls("shm");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            op: "build a tokio runtime",
            source,
        })?;
    let mut rounds = Vec::with_capacity(ROUNDS);
    rt.block_on(async {
        if size == 8 {
            let mut c = SmallAsyncClient::new(async_client(at)?);
            for round in 0..=ROUNDS {
                let start = Instant::now();
                for i in 0..n {
                    let back = c.echo(i.to_ne_bytes()).await?;
                    check(back[..8] == i.to_ne_bytes())?;
                }
                if round > 0 {
                    rounds.push(start.elapsed().as_nanos() as f64 / n as f64);
                }
            }
        } else {
            let mut c = LargeAsyncClient::new(async_client(at)?);
            let mut data = [0u8; 4096];
            for round in 0..=ROUNDS {
                let start = Instant::now();
                for i in 0..n {
                    data[..8].copy_from_slice(&i.to_ne_bytes());
                    let back = c.echo(data).await?;
                    check(back[..8] == i.to_ne_bytes())?;
                }
                if round > 0 {
                    rounds.push(start.elapsed().as_nanos() as f64 / n as f64);
                }
            }
        }
        Ok::<(), Error>(())
    })?;
    rounds.sort_by(f64::total_cmp);
    println!("{}", rounds[rounds.len() / 2]);
    Ok(())
}

/// A shared-memory client of the server `at`, made async (inside a runtime).
fn async_client<Req: ipc::Message, Resp: ipc::Message>(
    at: &str,
) -> Result<ipc::shm::rpc::AsyncClient<Req, Resp>> {
    ipc::shm::rpc::AsyncClient::from_sync(ipc::shm::rpc::Client::connect(at)?)
}

fn check(ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Corrupt("an answer to another call".into()))
    }
}
