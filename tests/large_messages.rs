//! Messages of 64 MiB through every transport's in-place calls, on threads with a 256 KiB
//! stack, between real processes: no path puts a `T` on the stack unless the caller asked
//! for one by value. Transports whose kernel limits forbid such a message say so with a
//! typed error, on the same small stack.
//!
//! Each test re-runs this binary as a child (`IPC_LARGE_ROLE` names its part).

use std::process::{Command, Stdio};

use ipc::{fifo, mq, pipe, shm, socket, sysv, tcp, Error};

/// 64 MiB.
type Huge = [u8; 64 << 20];

const ROLE: &str = "IPC_LARGE_ROLE";
const WHERE: &str = "IPC_LARGE_WHERE";
const STACK: usize = 256 << 10;

/// Runs `f` on a thread with a 256 KiB stack and returns what it returns.
fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// A 64 MiB message on the heap, every byte `fill`.
fn huge(fill: u8) -> Box<Huge> {
    vec![fill; size_of::<Huge>()]
        .into_boxed_slice()
        .try_into()
        .unwrap()
}

/// Whether every byte of `msg` is `fill` (checked every 4 KiB and at both ends).
fn is_all(msg: &Huge, fill: u8) -> bool {
    msg.iter().step_by(4096).all(|&b| b == fill) && msg[msg.len() - 1] == fill
}

mod common;
use common::{unique, Kid};

/// This binary re-run as a child playing `role` with `place`, its stdin given.
fn child(test: &str, role: &str, place: &str, stdin: Stdio) -> Kid {
    Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(WHERE, place)
            .stdin(stdin),
    )
}

fn assert_success(c: Kid) {
    c.assert_success("child");
}

/// In a child: sends two messages (filled 1 and 2) with `send_ref` on a small stack, or
/// receives them, as the role says; then exits.
fn play_role_if_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let place = std::env::var(WHERE).unwrap();
    on_small_stack(move || match role.as_str() {
        "pipe_receiver" => receive_two(&mut pipe::Receiver::<Huge>::stdin().unwrap()),
        "fifo_sender" => send_two(&mut fifo::Sender::<Huge>::open(&place).unwrap()),
        "unix_sender" => send_two(&mut socket::Stream::<Huge>::connect(&place).unwrap()),
        "tcp_sender" => send_two(&mut tcp::Stream::<Huge>::connect(place.as_str()).unwrap()),
        "seqpacket_sender" => {
            let mut s = socket::SeqPacket::<Huge>::connect(&place).unwrap();
            let err = s.send_ref(&huge(1)).unwrap_err();
            assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
        }
        "shm_receiver" => {
            let mut rx = shm::Receiver::<Huge>::open(&place).unwrap();
            for fill in [1, 2] {
                assert!(is_all(&rx.recv().unwrap(), fill));
            }
        }
        other => panic!("unknown role {other}"),
    });
    std::process::exit(0);
}

/// The in-place send of the stream transports.
trait SendRef {
    fn send_ref(&mut self, msg: &Huge) -> ipc::Result<()>;
}

/// The in-place receives of the stream transports.
trait RecvInPlace {
    fn recv_into(&mut self, out: &mut Huge) -> ipc::Result<()>;
    fn recv_ref(&mut self) -> ipc::Result<&Huge>;
}

macro_rules! in_place {
    (send: $($s:ty),*; recv: $($r:ty),*) => {
        $(impl SendRef for $s {
            fn send_ref(&mut self, msg: &Huge) -> ipc::Result<()> {
                <$s>::send_ref(self, msg)
            }
        })*
        $(impl RecvInPlace for $r {
            fn recv_into(&mut self, out: &mut Huge) -> ipc::Result<()> {
                <$r>::recv_into(self, out)
            }
            fn recv_ref(&mut self) -> ipc::Result<&Huge> {
                <$r>::recv_ref(self)
            }
        })*
    };
}
// `fifo::Sender` and `fifo::Receiver` are the pipe types.
in_place!(
    send: pipe::Sender<Huge>, socket::Stream<Huge>, tcp::Stream<Huge>;
    recv: pipe::Receiver<Huge>, socket::Stream<Huge>, tcp::Stream<Huge>
);

/// Sends two messages, filled 1 and 2, in place.
fn send_two(tx: &mut impl SendRef) {
    for fill in [1, 2] {
        tx.send_ref(&huge(fill)).unwrap();
    }
}

/// Receives the two messages `send_two` sends: one into a buffer, one lent in place.
fn receive_two(rx: &mut impl RecvInPlace) {
    let mut out = huge(0);
    rx.recv_into(&mut out).unwrap();
    assert!(is_all(&out, 1));
    assert!(is_all(rx.recv_ref().unwrap(), 2));
}

#[test]
fn pipe() {
    play_role_if_child();
    let (tx, rx) = pipe::channel::<Huge>().unwrap();
    let receiver = child("pipe", "pipe_receiver", "", Stdio::from(rx));
    on_small_stack(move || send_two(&mut { tx }));
    assert_success(receiver);
}

#[test]
fn fifo() {
    play_role_if_child();
    let dir = common::TempDir::new("large");
    let path = dir.join("fifo");
    let guard = fifo::create(&path).unwrap();
    let mut rx = fifo::Receiver::<Huge>::open(guard.path()).unwrap();
    let sender = child("fifo", "fifo_sender", path.to_str().unwrap(), Stdio::null());
    on_small_stack(move || receive_two(&mut rx));
    assert_success(sender);
}

#[test]
fn unix_stream() {
    play_role_if_child();
    let dir = common::TempDir::new("large");
    let path = dir.join("unix");
    let listener = socket::Listener::<Huge>::bind(&path).unwrap();
    let sender = child(
        "unix_stream",
        "unix_sender",
        path.to_str().unwrap(),
        Stdio::null(),
    );
    on_small_stack(move || receive_two(&mut listener.accept().unwrap()));
    assert_success(sender);
}

#[test]
fn tcp() {
    play_role_if_child();
    let listener = tcp::Listener::<Huge>::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sender = child("tcp", "tcp_sender", &addr, Stdio::null());
    on_small_stack(move || receive_two(&mut listener.accept().unwrap()));
    assert_success(sender);
}

#[test]
fn seqpacket_refuses_it_with_a_typed_error() {
    play_role_if_child();
    let dir = common::TempDir::new("large");
    let path = dir.join("seqpacket");
    let listener = socket::SeqPacketListener::<Huge>::bind(&path).unwrap();
    let sender = child(
        "seqpacket_refuses_it_with_a_typed_error",
        "seqpacket_sender",
        path.to_str().unwrap(),
        Stdio::null(),
    );
    on_small_stack(move || {
        let mut s = listener.accept().unwrap();
        let mut out = huge(0);
        // The sender was refused and left: nothing arrives.
        assert!(s.recv_into(&mut out).unwrap_err().is_disconnected());
    });
    assert_success(sender);
}

#[test]
fn shared_memory_with_a_loan() {
    play_role_if_child();
    let name = unique("shm");
    let mut tx = shm::Sender::<Huge>::create(&name, shm::Options::new().capacity(2)).unwrap();
    let receiver = child(
        "shared_memory_with_a_loan",
        "shm_receiver",
        &name,
        Stdio::null(),
    );
    on_small_stack(move || {
        for fill in [1, 2] {
            let mut slot = tx.loan().unwrap();
            slot.as_mut().unwrap().fill(fill);
            slot.send();
        }
        tx
    });
    assert_success(receiver);
}

#[test]
fn message_queues_refuse_it_with_a_typed_error() {
    play_role_if_child();
    on_small_stack(|| {
        let name = format!("/{}", unique("mq"));
        let err = mq::Receiver::<Huge>::create(&name, mq::Options::new()).unwrap_err();
        let _ = mq::unlink(&name);
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
        let err =
            sysv::Receiver::<Huge>::create(sysv::Key::Private, sysv::Options::new()).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    });
}
