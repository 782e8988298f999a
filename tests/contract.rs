//! The contract traits between real processes: one generic receiving function and one
//! sending function that only know `ipc::Rx` / `ipc::Tx`, run unchanged over six
//! transports, the parent receiving and this test binary re-run as the sending child
//! (`IPC_CONTRACT_ROLE` names the transport, `IPC_CONTRACT_ADDR` where it is).

use std::process::{Command, Stdio};
use std::time::Duration;

use ipc::{mq, pipe, shm, socket, sysv, tcp, Error, Message, Rx, Tx};

mod common;
use common::{unique, Kid};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Order {
    id: u64,
    qty: u32,
    buy: bool,
    _pad: [u8; 3],
}

fn order(id: u64) -> Order {
    Order {
        id,
        qty: id as u32 * 10,
        buy: id % 2 == 0,
        _pad: [0; 3],
    }
}

const ROLE: &str = "IPC_CONTRACT_ROLE";
const ADDR: &str = "IPC_CONTRACT_ADDR";

/// Sends orders 1 to 8 through every sending call of the contract; knows nothing of the
/// transport.
fn send_orders(tx: &mut dyn Tx<Order>) -> ipc::Result<()> {
    tx.send(order(1))?;
    tx.send_ref(&order(2))?;
    for id in 3..=5 {
        // Room is there (or comes soon): a bounded wait, then a blocking one.
        match tx.try_send(order(id)) {
            Ok(()) => {}
            Err(e) if e.is_full() => tx.send(e.into_inner())?,
            Err(e) => return Err(e.into_error()),
        }
    }
    for id in 6..=8 {
        tx.send_timeout(order(id), Duration::from_secs(30))?;
    }
    Ok(())
}

/// Receives orders 1 to 8 through every receiving call of the contract, and then sees
/// nothing more; knows nothing of the transport.
fn receive_orders(rx: &mut impl Rx<Order>) {
    assert_eq!(rx.recv().unwrap(), order(1));
    let mut out = order(0);
    rx.recv_into(&mut out).unwrap();
    assert_eq!(out, order(2));
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap(), order(3));
    let mut got = Vec::new();
    while got.len() < 5 {
        match rx.try_recv() {
            Ok(o) => got.push(o.id),
            Err(Error::Empty) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, [4, 5, 6, 7, 8]);
    assert!(matches!(
        rx.recv_timeout(Duration::from_millis(20)),
        Err(Error::Timeout(_) | Error::Disconnected)
    ));
}

/// The same function through a trait object.
fn receive_boxed(mut rx: Box<dyn Rx<Order>>) {
    receive_orders(&mut rx);
}

/// In a child: opens the sending end the role names and sends the orders.
fn play_role_if_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let addr = std::env::var(ADDR).unwrap_or_default();
    if role == "pipe_receiver" {
        // The test harness writes to stdout: over a pipe, the child is the receiver.
        receive_orders(&mut pipe::Receiver::<Order>::stdin().unwrap());
        std::process::exit(0);
    }
    if role == "endpoint_sender" {
        // One of several senders to one bound endpoint: its id in `qty`, its sequence in `id`.
        let sender: u32 = std::env::var("IPC_CONTRACT_SENDER")
            .unwrap()
            .parse()
            .unwrap();
        let mut tx = ipc::connect::<Order>(&addr).unwrap();
        for id in 0..PER_SENDER {
            tx.send(Order {
                id,
                qty: sender,
                buy: true,
                _pad: [0; 3],
            })
            .unwrap();
        }
        std::process::exit(0);
    }
    let mut tx: Box<dyn Tx<Order>> = match role.as_str() {
        "shm" => Box::new(shm::Sender::<Order>::open(&addr).unwrap()),
        "mq" => Box::new(mq::Sender::<Order>::open(&addr).unwrap()),
        "sysv" => Box::new(sysv::Sender::<Order>::from_id(addr.parse().unwrap()).unwrap()),
        "unix" => Box::new(socket::Stream::<Order>::connect(&addr).unwrap()),
        "tcp" => Box::new(tcp::Stream::<Order>::connect(addr.as_str()).unwrap()),
        other => panic!("unknown role {other}"),
    };
    send_orders(&mut *tx).unwrap();
    // Streams: wait for the reader to close, so nothing is cut short.
    drop(tx);
    std::process::exit(0);
}

fn peer(role: &str, addr: &str, stdin: Stdio) -> Kid {
    Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "the_contract_runs_over_six_transports",
                "--exact",
                "--nocapture",
            ])
            .env(ROLE, role)
            .env(ADDR, addr)
            .stdin(stdin),
    )
}

fn sender(role: &str, addr: &str) -> Kid {
    peer(role, addr, Stdio::null())
}

fn succeeded(child: Kid) {
    child.assert_success("sender");
}

#[test]
fn the_contract_runs_over_six_transports() {
    play_role_if_child();

    // pipe: the child's stdin; here the parent sends and the child receives.
    let (mut tx, rx) = pipe::channel::<Order>().unwrap();
    let child = peer("pipe_receiver", "", Stdio::from(rx));
    send_orders(&mut tx).unwrap();
    drop(tx);
    succeeded(child);

    // shared memory.
    let name = unique("shm");
    let rx = shm::Receiver::<Order>::create(&name, shm::Options::new().capacity(16)).unwrap();
    let child = sender("shm", &name);
    receive_boxed(Box::new(rx));
    succeeded(child);

    // POSIX message queue.
    let name = format!("/{}", unique("mq"));
    let rx = mq::Receiver::<Order>::create(&name, mq::Options::new()).unwrap();
    let _unlink = OnDrop(|| drop(mq::unlink(&name)));
    let child = sender("mq", &name);
    receive_orders(&mut { rx });
    succeeded(child);

    // System V message queue.
    let rx = sysv::Receiver::<Order>::create(sysv::Key::Private, sysv::Options::new()).unwrap();
    let child = sender("sysv", &rx.id().to_string());
    let rx = RemoveOnDrop(rx);
    receive_boxed(Box::new(rx));
    succeeded(child);

    // Unix stream socket.
    let dir = common::TempDir::new("contract");
    let path = dir.join("unix");
    let listener = socket::Listener::<Order>::bind(&path).unwrap();
    let child = sender("unix", path.to_str().unwrap());
    receive_orders(&mut listener.accept().unwrap());
    succeeded(child);

    // TCP.
    let listener = tcp::Listener::<Order>::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let child = sender("tcp", &addr);
    receive_boxed(Box::new(listener.accept().unwrap()));
    succeeded(child);
}

/// Runs its closure when dropped: cleanup that happens even when the test fails.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// A System V receiver that removes its queue when dropped.
struct RemoveOnDrop(sysv::Receiver<Order>);

impl Rx<Order> for RemoveOnDrop {
    fn recv_wait(&mut self, wait: ipc::Wait) -> ipc::Result<Order> {
        self.0.recv_wait(wait)
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = self.0.remove();
    }
}

const PER_SENDER: u64 = 200;

#[test]
fn a_bound_endpoint_receives_from_every_sender_in_order() {
    play_role_if_child();
    let dir = common::TempDir::new("contract");
    let path = dir.join("fan-in");
    // (TCP's `Incoming` is the same code; a test could not tell its senders an ephemeral
    // port through the endpoint, and the `endpoint` example runs it on a free one.)
    for endpoint in [
        format!("unix:{}", path.display()),
        format!("unix-seqpacket:{}", path.display()),
    ] {
        let mut rx = ipc::bind::<Order>(&endpoint).unwrap();
        let senders: Vec<_> = (0..3)
            .map(|k| {
                Kid::spawn(
                    Command::new(std::env::current_exe().unwrap())
                        .args([
                            "a_bound_endpoint_receives_from_every_sender_in_order",
                            "--exact",
                        ])
                        .env(ROLE, "endpoint_sender")
                        .env(ADDR, &endpoint)
                        .env("IPC_CONTRACT_SENDER", k.to_string()),
                )
            })
            .collect();
        let mut next = [0u64; 3];
        for _ in 0..3 * PER_SENDER {
            let o = rx.recv_timeout(Duration::from_secs(30)).unwrap();
            let k = o.qty as usize;
            assert_eq!(o.id, next[k], "sender {k} out of order on {endpoint}");
            next[k] += 1;
        }
        assert_eq!(next, [PER_SENDER; 3]);
        for s in senders {
            succeeded(s);
        }
        // Every sender has left: a bound endpoint waits for others, it is never
        // disconnected.
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        drop(rx);
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_malformed_endpoint_is_a_typed_error_that_shows_the_grammar() {
    let err = ipc::bind::<Order>("shared:orders").err().unwrap();
    assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err}");
    assert!(err.to_string().contains("unix-seqpacket:PATH"), "{err}");
}
