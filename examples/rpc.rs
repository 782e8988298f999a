//! Request/response between two processes: first over a Unix domain socket, then over TCP
//! on loopback. The server is this process; the client is this program run again as a
//! child (`IPC_RPC_ROLE` says which transport, `IPC_RPC_AT` where to connect).
//!
//! Both arm `shutdown_on(SIGINT, SIGTERM)`: interrupted (Ctrl-C), the server's `serve`
//! and the client's `call` return `Error::Shutdown`, the server kills and reaps the
//! client, and the socket file and its directory are removed on the way out.
//!
//! `cargo run --example rpc`

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::time::Instant;

use ipc::signal::{self, Signal};
use ipc::Message;

/// An arithmetic operation.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Op {
    Add = 1,
    Mul = 2,
    Div = 3,
}

/// What the client asks.
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Request {
    a: i64,
    b: i64,
    op: Op,
    _pad: [u8; 7],
}

/// What the server answers: the value, or `ok == false` (division by zero).
#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Response {
    value: i64,
    ok: bool,
    _pad: [u8; 7],
}

const CALLS: u32 = 10_000;

fn answer(req: Request) -> Response {
    let value = match req.op {
        Op::Add => req.a.checked_add(req.b),
        Op::Mul => req.a.checked_mul(req.b),
        Op::Div => req.a.checked_div(req.b),
    };
    Response {
        value: value.unwrap_or(0),
        ok: value.is_some(),
        _pad: [0; 7],
    }
}

fn request(a: i64, op: Op, b: i64) -> Request {
    Request {
        a,
        b,
        op,
        _pad: [0; 7],
    }
}

/// The client's part, over any transport: a few calls printed, then many timed.
fn client(
    transport: &str,
    mut call: impl FnMut(Request) -> ipc::Result<Response>,
) -> ipc::Result<()> {
    for (a, op, b) in [
        (40, Op::Add, 2),
        (6, Op::Mul, 7),
        (84, Op::Div, 2),
        (1, Op::Div, 0),
    ] {
        let resp = call(request(a, op, b))?;
        let shown = if resp.ok {
            resp.value.to_string()
        } else {
            "refused (division by zero)".into()
        };
        println!(
            "  [{transport} client {}] {a} {op:?} {b} = {shown}",
            std::process::id()
        );
    }
    let start = Instant::now();
    for i in 0..CALLS {
        let resp = call(request(i64::from(i), Op::Mul, 3))?;
        assert_eq!(resp.value, i64::from(i) * 3);
    }
    let per = start.elapsed() / CALLS;
    println!("  [{transport} client] {CALLS} calls, round trip {per:?} each");
    Ok(())
}

/// The client process: killed and reaped on drop unless waited for.
struct ClientProcess(Option<Child>);

impl ClientProcess {
    fn spawn(role: &str, at: &str) -> ipc::Result<ClientProcess> {
        Command::new(env::current_exe().map_err(io("current_exe"))?)
            .env("IPC_RPC_ROLE", role)
            .env("IPC_RPC_AT", at)
            .spawn()
            .map(|c| ClientProcess(Some(c)))
            .map_err(io("spawn the client"))
    }

    fn wait(mut self) -> ipc::Result<()> {
        let mut child = self.0.take().expect("not waited for yet");
        let status = child.wait().map_err(io("wait for the client"))?;
        if status.success() {
            Ok(())
        } else {
            Err(ipc::Error::Corrupt(format!("the client failed: {status}")))
        }
    }
}

impl Drop for ClientProcess {
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

fn main() -> ExitCode {
    let role = (env::var("IPC_RPC_ROLE"), env::var("IPC_RPC_AT"));
    let is_client = matches!(role, (Ok(_), Ok(_)));
    let result =
        signal::shutdown_on(&[Signal::SIGINT, Signal::SIGTERM]).and_then(|()| match role {
            (Ok(role), Ok(at)) => run_client(&role, &at),
            _ => server(),
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if !signal::shutdown_requested() => {
            eprintln!("rpc: {e}");
            ExitCode::FAILURE
        }
        // Interrupted: the client ends quietly, the server says so once.
        Err(_) if is_client => ExitCode::FAILURE,
        Err(_) => {
            eprintln!("rpc: interrupted; the client is stopped and the socket removed");
            ExitCode::FAILURE
        }
    }
}

fn run_client(role: &str, at: &str) -> ipc::Result<()> {
    match role {
        "unix" => {
            let mut c = ipc::socket::Client::<Request, Response>::connect(at)?;
            println!("  [unix client] connected to server {}", c.peer_cred()?);
            client("unix", |r| c.call(r))
        }
        _ => {
            let mut c = ipc::tcp::Client::<Request, Response>::connect(at)?;
            client("tcp", |r| c.call(r))
        }
    }
}

fn server() -> ipc::Result<()> {
    let dir = Dir(env::temp_dir().join(format!("ipc-rpc-{}", std::process::id())));
    std::fs::create_dir(&dir.0).map_err(io("create a private directory"))?;
    let path = dir.0.join("calc.sock");
    println!(
        "server {}: Unix socket {}",
        std::process::id(),
        path.display()
    );
    {
        let mut server = ipc::socket::Server::<Request, Response>::bind_with(
            &path,
            ipc::socket::Options::new().only_same_uid(),
        )?;
        // Declared after the server: on an early return the client is stopped first.
        let child = ClientProcess::spawn("unix", path.to_str().expect("a UTF-8 path"))?;
        let mut served = 0u32;
        server.serve_clients(1, |req| {
            served += 1;
            answer(req)
        })?;
        child.wait()?;
        println!("server: answered {served} requests over the Unix socket");
    }
    assert!(!Path::new(&path).exists(), "the socket file is removed");
    println!("server: socket file removed");

    let mut server = ipc::tcp::Server::<Request, Response>::bind("127.0.0.1:0")?;
    let addr = server.local_addr()?;
    println!("server: TCP on {addr}");
    let child = ClientProcess::spawn("tcp", &addr.to_string())?;
    let mut served = 0u32;
    server.serve_clients(1, |req| {
        served += 1;
        answer(req)
    })?;
    child.wait()?;
    println!("server: answered {served} requests over TCP");
    Ok(())
}

fn io(op: &'static str) -> impl Fn(std::io::Error) -> ipc::Error {
    move |source| ipc::Error::Io { op, source }
}
