//! A typed service: `#[ipc::service]` on a trait gives a client and a server. The server
//! is this process; three clients are this program run again as children, each making
//! calls of every kind (a value, a `Result` whose error arrives typed, a unit result).
//!
//! The transport is one argument: `cargo run --example pricing_service -- shm` (shared
//! memory, `ipc::shm::rpc`: each client gets a pair of rings of its own), `-- unix` (a
//! Unix socket) or `-- tcp` (TCP on loopback); with none, the three in turn. In the code,
//! it is the one line in `bind` and in `connect` that names it.
//!
//! Interrupted (Ctrl-C), the server stops its clients and removes its socket directory
//! (or its shared-memory registry and connections).

use std::env;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::Instant;

use ipc::rpc::{Call, Serve};
use ipc::signal::{self, Signal};
use ipc::{fixed_str, FixedStr, Message};

/// A price.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
pub struct Quote {
    pub price: f64,
    pub qty: u32,
    pub _pad: [u8; 4],
}

/// Why an order cannot be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
pub enum Rejected {
    UnknownOrder = 1,
    AlreadyFilled = 2,
}

/// The protocol, as plain Rust.
#[ipc::service]
pub trait Pricing {
    /// The price of `qty` of `symbol`.
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote;
    /// Cancels order `id`.
    fn cancel(&mut self, id: u64) -> Result<(), Rejected>;
    /// Forgets every cancelled order.
    fn reset(&mut self);
}

/// The service's state: the orders cancelled.
#[derive(Default)]
struct Desk {
    cancelled: Vec<u64>,
}

impl Pricing for Desk {
    fn quote(&self, symbol: FixedStr<16>, qty: u32) -> Quote {
        let unit = 100.0 + symbol.as_str().len() as f64;
        Quote {
            price: unit * f64::from(qty),
            qty,
            _pad: [0; 4],
        }
    }

    fn cancel(&mut self, id: u64) -> Result<(), Rejected> {
        if id == 0 {
            return Err(Rejected::UnknownOrder);
        }
        if self.cancelled.contains(&id) {
            return Err(Rejected::AlreadyFilled);
        }
        self.cancelled.push(id);
        Ok(())
    }

    fn reset(&mut self) {
        self.cancelled.clear();
    }
}

const CLIENTS: u32 = 3;
const CALLS: u32 = 2_000;

/// The server's end of `transport`, and the address its clients connect to.
fn bind(
    transport: &str,
    dir: &std::path::Path,
) -> ipc::Result<(Box<dyn Serve<PricingRequest, PricingResponse>>, String)> {
    Ok(match transport {
        "shm" => {
            let name = format!("ipc-pricing-{}", std::process::id());
            let server = ipc::shm::rpc::Server::bind(&name)?;
            (Box::new(server), name)
        }
        "unix" => {
            let path = dir.join("pricing.sock");
            let server = ipc::socket::Server::bind(&path)?;
            (Box::new(server), path.display().to_string())
        }
        _ => {
            let server = ipc::tcp::Server::bind("127.0.0.1:0")?;
            let addr = server.local_addr()?.to_string();
            (Box::new(server), addr)
        }
    })
}

/// A client of `transport` at `at`.
fn connect(
    transport: &str,
    at: &str,
) -> ipc::Result<PricingClient<Box<dyn Call<PricingRequest, PricingResponse>>>> {
    let raw: Box<dyn Call<PricingRequest, PricingResponse>> = match transport {
        "shm" => Box::new(ipc::shm::rpc::Client::connect(at)?),
        "unix" => Box::new(ipc::socket::Client::connect(at)?),
        _ => Box::new(ipc::tcp::Client::connect(at)?),
    };
    Ok(PricingClient::new(raw))
}

fn client(transport: &str, at: &str, me: u32) -> ipc::Result<()> {
    let mut desk = connect(transport, at)?;
    let quote = desk.quote(fixed_str!("ACME"), 10)?;
    println!(
        "  [{transport} client {me}] quote(ACME, 10) = {:.2}",
        quote.price
    );
    let id = u64::from(me) + 1;
    println!(
        "  [{transport} client {me}] cancel({id}) = {:?}",
        desk.cancel(id)?
    );
    println!(
        "  [{transport} client {me}] cancel(0) = {:?}",
        desk.cancel(0)?
    );
    let start = Instant::now();
    for qty in 0..CALLS {
        let q = desk.quote(fixed_str!("XYZ"), qty)?;
        assert_eq!(q.qty, qty, "every answer is its own call's");
    }
    println!(
        "  [{transport} client {me}] {CALLS} quotes, round trip {:?} each",
        start.elapsed() / CALLS
    );
    Ok(())
}

fn server(transport: &str) -> ipc::Result<()> {
    let dir = Dir(env::temp_dir().join(format!("ipc-pricing-{}", std::process::id())));
    std::fs::create_dir(&dir.0).map_err(io("create a private directory"))?;
    let (mut transport_end, at) = bind(transport, &dir.0)?;
    println!("server {}: {transport} at {at}", std::process::id());
    let mut clients = Vec::new();
    for me in 0..CLIENTS {
        clients.push(Kid::spawn(transport, &at, me)?);
    }
    let mut server = PricingServer::new(Desk::default());
    server.serve_clients(&mut *transport_end, CLIENTS as usize)?;
    for c in clients {
        c.wait()?;
    }
    println!(
        "server: {CLIENTS} clients served over {transport}; orders cancelled: {:?}",
        server.service().cancelled
    );
    server.service_mut().reset();
    Ok(())
}

fn main() -> ExitCode {
    let child = (env::var("IPC_PRICING_AT"), env::var("IPC_PRICING_CLIENT"));
    let is_client = matches!(child, (Ok(_), Ok(_)));
    let transports: Vec<String> = match env::args().nth(1) {
        Some(t) if ["shm", "unix", "tcp"].contains(&t.as_str()) => vec![t],
        Some(other) => {
            eprintln!("pricing_service: unknown transport {other:?}; use shm, unix or tcp");
            return ExitCode::from(2);
        }
        None => vec!["shm".into(), "unix".into(), "tcp".into()],
    };
    let result =
        signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]).and_then(|()| match &child {
            (Ok(at), Ok(me)) => client(&transports[0], at, me.parse().unwrap_or(0)),
            _ => transports.iter().try_for_each(|t| server(t)),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("pricing_service: {e}");
            ExitCode::FAILURE
        }
        Err(_) if is_client => ExitCode::FAILURE,
        Err(_) => {
            eprintln!(
                "pricing_service: interrupted; the clients are stopped and the socket (or the \
                 shared memory) removed"
            );
            ExitCode::FAILURE
        }
    }
}

/// A client process: killed and reaped on drop unless waited for.
struct Kid(Option<Child>);

impl Kid {
    fn spawn(transport: &str, at: &str, me: u32) -> ipc::Result<Kid> {
        Command::new(env::current_exe().map_err(io("current_exe"))?)
            .arg(transport)
            .env("IPC_PRICING_AT", at)
            .env("IPC_PRICING_CLIENT", me.to_string())
            .spawn()
            .map(|c| Kid(Some(c)))
            .map_err(io("spawn a client"))
    }

    fn wait(mut self) -> ipc::Result<()> {
        let mut child = self.0.take().expect("not waited for yet");
        let status = child.wait().map_err(io("wait for a client"))?;
        if status.success() {
            Ok(())
        } else {
            Err(ipc::Error::Corrupt(format!("a client failed: {status}")))
        }
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Removes the directory holding the socket, even if the server fails.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> ipc::Error {
    move |source| ipc::Error::Io { op, source }
}
