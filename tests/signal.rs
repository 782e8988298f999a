//! Signals across real processes. This binary has its own `main` (`harness = false`):
//! signal masks and dispositions are process-wide state, and `Signals` requires the
//! signals to be blocked in every thread, which only holds when no test harness thread
//! runs beside the test. Each case runs in `main`'s thread, children are this binary
//! re-run with `IPC_TEST_ROLE`, and every child's exit status is asserted.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ipc::signal::{self, Signal, Signals};
use ipc::{codec, Error};

const ROLE: &str = "IPC_TEST_ROLE";
const NAME: &str = "IPC_TEST_NAME";

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(ROLE) {
        child_role(&role);
        return ExitCode::SUCCESS;
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let cases: &[(&str, fn())] = &[
        (
            "a_signal_from_another_process_arrives_as_an_event",
            a_signal_from_another_process_arrives_as_an_event,
        ),
        (
            "sigterm_makes_blocking_receives_in_every_thread_return_shutdown",
            sigterm_makes_blocking_receives_in_every_thread_return_shutdown,
        ),
        (
            "sigterm_ends_every_blocking_call_of_every_transport",
            sigterm_ends_every_blocking_call_of_every_transport,
        ),
        (
            "streams_stay_whole_with_a_shutdown_armed",
            streams_stay_whole_with_a_shutdown_armed,
        ),
        (
            "pending_signals_are_polled_iterated_and_timed_out",
            pending_signals_are_polled_iterated_and_timed_out,
        ),
        (
            "sigkill_and_sigstop_are_refused_with_a_clear_error",
            sigkill_and_sigstop_are_refused_with_a_clear_error,
        ),
    ];
    if std::env::args().any(|a| a == "--list") {
        for (name, _) in cases {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let mut ran = 0;
    for (name, case) in cases {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        print!("test {name} ... ");
        // Before a case's own notes on stderr.
        std::io::Write::flush(&mut std::io::stdout()).unwrap();
        case();
        println!("ok");
        ran += 1;
    }
    println!("\ntest result: ok. {ran} passed");
    ExitCode::SUCCESS
}

mod common;
use common::{ready, Proc};

/// This binary re-run as a child playing `role` on `name`; it says when it is ready (see
/// [`Proc::wait_ready`]), its stderr is shown only if the case fails.
fn spawn(role: &str, name: &str) -> Proc {
    Proc::spawn_with(ROLE, role, |cmd| {
        cmd.env(NAME, name);
    })
}

fn child_role(role: &str) {
    match role {
        // Both ends of a pipe with a shutdown armed: waits that a shutdown can end (reads
        // and writes with RWF_NOWAIT, poll only when empty or full) must move every byte.
        "armed-write-small" => {
            signal::shutdown_on(&[Signal::SIGTERM]).unwrap();
            let mut tx = ipc::pipe::Sender::<u64>::stdout().unwrap();
            for i in 0..ARMED_SMALL {
                tx.send(i).unwrap();
            }
        }
        "armed-read-small" => {
            signal::shutdown_on(&[Signal::SIGTERM]).unwrap();
            let mut rx = ipc::pipe::Receiver::<u64>::stdin().unwrap();
            for i in 0..ARMED_SMALL {
                assert_eq!(rx.recv().unwrap(), i);
            }
            assert!(matches!(rx.recv(), Err(Error::Disconnected)));
        }
        "armed-write-large" => {
            signal::shutdown_on(&[Signal::SIGTERM]).unwrap();
            let mut tx = ipc::pipe::Sender::<Large>::stdout().unwrap();
            let mut msg = Box::new([0u64; LARGE_WORDS]);
            for i in 0..ARMED_LARGE {
                msg.fill(i);
                tx.send_ref(&msg).unwrap();
            }
        }
        "armed-read-large" => {
            signal::shutdown_on(&[Signal::SIGTERM]).unwrap();
            let mut rx = ipc::pipe::Receiver::<Large>::stdin().unwrap();
            let mut msg = Box::new([0u64; LARGE_WORDS]);
            for i in 0..ARMED_LARGE {
                rx.recv_into(&mut msg).unwrap();
                assert!(msg.iter().all(|&w| w == i), "message {i} arrived torn");
            }
            assert!(matches!(rx.recv_into(&mut msg), Err(Error::Disconnected)));
        }
        "await-usr1" => {
            let signals = Signals::new(&[Signal::SIGUSR1]).unwrap();
            ready();
            let ev = signals.recv_timeout(Duration::from_secs(20)).unwrap();
            assert_eq!(ev.signal, Signal::SIGUSR1);
            assert_eq!(ev.pid, std::os::unix::process::parent_id());
            assert_eq!(ev.code, 0, "SI_USER: sent by kill");
        }
        "shutdown" => {
            let name = std::env::var(NAME).unwrap();
            signal::shutdown_on(&[Signal::SIGTERM, Signal::SIGINT]).unwrap();
            assert!(!signal::shutdown_requested());
            let mut rx = ipc::mq::Receiver::<u64>::open(&name).unwrap();
            let mut sysv = ipc::sysv::Receiver::<u64>::create(
                ipc::sysv::Key::Private,
                ipc::sysv::Options::new(),
            )
            .unwrap();
            let id = sysv.id();
            let waiter = std::thread::spawn(move || {
                let e = sysv.recv().unwrap_err();
                sysv.remove().unwrap();
                e
            });
            let mut rx2 = ipc::mq::Receiver::<u64>::open(&name).unwrap();
            let mq_waiter = std::thread::spawn(move || rx2.recv().unwrap_err());
            // Stream transports too: their writers stay open, so only shutdown ends them.
            let (_pipe_tx, mut pipe_rx) = ipc::pipe::channel::<u64>().unwrap();
            let pipe_waiter = std::thread::spawn(move || pipe_rx.recv().unwrap_err());
            let (_sock_a, mut sock_b) = ipc::socket::Stream::<u64>::pair().unwrap();
            let sock_waiter = std::thread::spawn(move || sock_b.recv().unwrap_err());
            // Shared memory: a receiver parked on its futex wakes within a park slice.
            let shm_name = common::unique("shutdown");
            let _shm_tx =
                ipc::shm::Sender::<u64>::create(&shm_name, ipc::shm::Options::new()).unwrap();
            let mut shm_rx = ipc::shm::Receiver::<u64>::open(&shm_name).unwrap();
            let shm_waiter = std::thread::spawn(move || shm_rx.recv().map(|s| *s).unwrap_err());
            // And listeners waiting for a client.
            let dir = common::TempDir::new("shutdown");
            let listener = ipc::socket::Listener::<u64>::bind(dir.join("sock")).unwrap();
            let accept_waiter = std::thread::spawn(move || listener.accept().unwrap_err());
            let tcp = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
            let tcp_waiter = std::thread::spawn(move || tcp.accept().unwrap_err());
            ready();
            let e = rx.recv().unwrap_err();
            assert!(matches!(e, Error::Shutdown), "{e}");
            assert!(
                matches!(waiter.join().unwrap(), Error::Shutdown),
                "sysv {id}"
            );
            assert!(matches!(mq_waiter.join().unwrap(), Error::Shutdown));
            let e = pipe_waiter.join().unwrap();
            assert!(matches!(e, Error::Shutdown), "pipe: {e}");
            let e = sock_waiter.join().unwrap();
            assert!(matches!(e, Error::Shutdown), "unix socket: {e}");
            let e = shm_waiter.join().unwrap();
            assert!(matches!(e, Error::Shutdown), "shm: {e}");
            let e = accept_waiter.join().unwrap();
            assert!(matches!(e, Error::Shutdown), "unix accept: {e}");
            let e = tcp_waiter.join().unwrap();
            assert!(matches!(e, Error::Shutdown), "tcp accept: {e}");
            drop(dir);
            assert!(signal::shutdown_requested());
            assert!(matches!(
                rx.recv_timeout(Duration::from_secs(5)),
                Err(Error::Shutdown)
            ));
        }
        "stalls" => stalls_child(),
        r => panic!("unknown role {r}"),
    }
}

/// The names of everything the `stalls` child of process `pid` creates, so the parent can
/// remove them whatever became of the child.
struct StallNames {
    dir: std::path::PathBuf,
    mq: String,
    shm: [String; 2],
}

impl StallNames {
    fn of(pid: u32) -> StallNames {
        let prefix = common::prefix_of(pid);
        StallNames {
            dir: std::env::temp_dir().join(format!("{prefix}-stalls")),
            mq: format!("/{prefix}-stalls"),
            shm: [
                format!("{prefix}-stalls-ring"),
                format!("{prefix}-stalls-shared"),
            ],
        }
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = ipc::mq::unlink(&self.mq);
        for s in &self.shm {
            let _ = std::fs::remove_file(format!("/dev/shm/ipc.{s}"));
        }
    }
}

type Outcome = (&'static str, Result<(), Error>, Instant);

/// Runs `call` on its own thread and reports how it ended on `done`.
fn blocked(
    done: &std::sync::mpsc::Sender<Outcome>,
    name: &'static str,
    call: impl FnOnce() -> Result<(), Error> + Send + 'static,
) {
    let done = done.clone();
    std::thread::spawn(move || {
        let r = call();
        let _ = done.send((name, r, Instant::now()));
    });
}

/// A TCP listener with a backlog of 0 that never accepts (std's has 128; a second
/// `listen` changes it): after one connection the kernel drops further SYNs, so a connect
/// waits.
fn tcp_listener_with_full_backlog() -> (std::net::TcpListener, std::net::SocketAddr) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(0).unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

/// Two connected TCP streams.
/// Calls `try_send` until it fails, and again after a pause, until a pass after a pause
/// sends nothing: then the channel is full and stays so while nobody reads.
fn fill_until_full(mut try_send: impl FnMut() -> bool) {
    loop {
        let mut sent = 0;
        while try_send() {
            sent += 1;
        }
        if sent == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tcp_pair<T: ipc::Message>() -> (ipc::tcp::Stream<T>, ipc::tcp::Stream<T>) {
    let l = ipc::tcp::Listener::<T>::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let connecting = std::thread::spawn(move || ipc::tcp::Stream::<T>::connect(addr).unwrap());
    let a = l.accept().unwrap();
    (a, connecting.join().unwrap())
}

/// The `stalls` child: arms shutdown, blocks one thread in each blocking call of each
/// transport, and after SIGTERM checks that every one returned `Shutdown`.
fn stalls_child() {
    use ipc::{fifo, pipe, shm, socket, tcp};
    use std::sync::mpsc;

    signal::shutdown_on(&[Signal::SIGTERM]).unwrap();
    let names = StallNames::of(std::process::id());
    std::fs::create_dir_all(&names.dir).unwrap();
    let dir = names.dir.clone();
    let (done, results) = mpsc::channel::<Outcome>();
    // What the blocked calls wait on, kept alive until the end.
    let mut keep: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let big = || socket::Options::new().handshake_timeout(Duration::from_secs(600));

    // Pipes: a receive with no message, a send into a full pipe (a small frame and one
    // larger than PIPE_BUF).
    let (pipe_tx, mut pipe_rx) = pipe::channel::<u64>().unwrap();
    keep.push(Box::new(pipe_tx));
    blocked(&done, "pipe recv", move || pipe_rx.recv().map(drop));
    // (3000 bytes: two never share a page of the pipe, so once `try_send` finds no free
    // page the pipe is full for any writer.)
    let (mut small_tx, small_rx) = pipe::channel::<[u8; 3000]>().unwrap();
    while small_tx.try_send([1; 3000]).is_ok() {}
    keep.push(Box::new(small_rx));
    blocked(&done, "pipe send (full)", move || {
        small_tx.send([2; 3000]).map_err(Error::from)
    });
    let (mut big_tx, big_rx) = pipe::channel::<[u8; 100_000]>().unwrap();
    while big_tx.try_send([1; 100_000]).is_ok() {}
    keep.push(Box::new(big_rx));
    blocked(&done, "pipe send_ref of a large frame (full)", move || {
        big_tx.send_ref(&[2; 100_000])
    });

    // FIFOs: opening with no reader, opening with no writer, a receive, a full FIFO.
    let lonely = fifo::create(dir.join("lonely")).unwrap();
    let p = lonely.path().to_owned();
    blocked(&done, "fifo Sender::open (no reader)", move || {
        fifo::Sender::<u64>::open(&p).map(drop)
    });
    let p = lonely.path().to_owned();
    blocked(&done, "fifo Sender::open_timeout (no reader)", move || {
        fifo::Sender::<u64>::open_timeout(&p, Duration::from_secs(600)).map(drop)
    });
    keep.push(Box::new(lonely));
    let unheard = fifo::create(dir.join("unheard")).unwrap();
    let p = unheard.path().to_owned();
    blocked(
        &done,
        "fifo Receiver::open_timeout (no writer)",
        move || fifo::Receiver::<u64>::open_timeout(&p, Duration::from_secs(600)).map(drop),
    );
    keep.push(Box::new(unheard));
    let quiet = fifo::create(dir.join("quiet")).unwrap();
    let mut quiet_rx = fifo::Receiver::<u64>::open(quiet.path()).unwrap();
    blocked(&done, "fifo recv", move || quiet_rx.recv().map(drop));
    keep.push(Box::new(quiet));
    let full = fifo::create(dir.join("full")).unwrap();
    let full_rx = fifo::Receiver::<[u8; 3000]>::open(full.path()).unwrap();
    let mut full_tx = fifo::Sender::<[u8; 3000]>::open(full.path()).unwrap();
    while full_tx.try_send([1; 3000]).is_ok() {}
    keep.push(Box::new((full, full_rx)));
    blocked(&done, "fifo send (full)", move || {
        full_tx.send([2; 3000]).map_err(Error::from)
    });

    // Unix stream sockets.
    let listener = socket::Listener::<u64>::bind(dir.join("accept")).unwrap();
    let listener = std::sync::Arc::new(listener);
    let l = listener.clone();
    blocked(&done, "unix Listener::accept", move || l.accept().map(drop));
    let l = listener.clone();
    blocked(&done, "unix Listener::accept_timeout", move || {
        l.accept_timeout(Duration::from_secs(600)).map(drop)
    });
    keep.push(Box::new(listener));
    let (a, mut b) = socket::Stream::<u64>::pair().unwrap();
    keep.push(Box::new(a));
    blocked(&done, "unix Stream::recv", move || b.recv().map(drop));
    let (mut a, b) = socket::Stream::<[u8; 1000]>::pair().unwrap();
    while a.try_send([1; 1000]).is_ok() {}
    keep.push(Box::new(b));
    blocked(&done, "unix Stream::send (full)", move || {
        a.send([2; 1000]).map_err(Error::from)
    });
    let mute = socket::Listener::<u64>::bind(dir.join("mute")).unwrap();
    let p = mute.path().to_owned();
    blocked(
        &done,
        "unix Stream::connect_with (no handshake)",
        move || socket::Stream::<u64>::connect_with(&p, &big()).map(drop),
    );
    keep.push(Box::new(mute));
    let packed = socket::Listener::<u64>::bind_with(dir.join("packed"), big().backlog(0)).unwrap();
    let filler = std::os::unix::net::UnixStream::connect(packed.path()).unwrap();
    keep.push(Box::new((packed, filler)));
    let p = dir.join("packed");
    blocked(
        &done,
        "unix Stream::connect_with (backlog full)",
        move || socket::Stream::<u64>::connect_with(&p, &big()).map(drop),
    );
    let p = dir.join("packed");
    blocked(
        &done,
        "unix Client::connect_with (backlog full)",
        move || socket::Client::<u64, u64>::connect_with(&p, &big()).map(drop),
    );
    // A server that greets its client as a request/response server does, then says
    // nothing.
    let p = dir.join("silent");
    let silent = std::os::unix::net::UnixListener::bind(&p).unwrap();
    blocked(&done, "unix Client::call (no answer)", move || {
        let mut c = socket::Client::<u64, u64>::connect(&p)?;
        c.call(1).map(drop)
    });
    let (mut greeted, _) = silent.accept().unwrap();
    greeted.write_all(&codec::rpc_hello::<u64, u64>()).unwrap();
    keep.push(Box::new((greeted, silent)));
    let mut server = socket::Server::<u64, u64>::bind(dir.join("server")).unwrap();
    blocked(&done, "unix Server::serve", move || {
        server.serve(|n| n).map(drop)
    });
    let mut server = socket::Server::<u64, u64>::bind(dir.join("server2")).unwrap();
    blocked(&done, "unix Server::serve_clients", move || {
        server.serve_clients(1, |n| n)
    });

    // Unix seqpacket sockets.
    let seq =
        socket::SeqPacketListener::<u64>::bind_with(dir.join("seq"), big().backlog(0)).unwrap();
    let seq = std::sync::Arc::new(seq);
    let l = seq.clone();
    blocked(&done, "seqpacket accept", move || l.accept().map(drop));
    keep.push(Box::new(seq));
    let seq2 = socket::SeqPacketListener::<u64>::bind(dir.join("seq2")).unwrap();
    let pair = || {
        let p = seq2.path().to_owned();
        let connecting = std::thread::spawn(move || socket::SeqPacket::<u64>::connect(&p));
        (seq2.accept().unwrap(), connecting.join().unwrap().unwrap())
    };
    let (seq_a, mut seq_b) = pair();
    keep.push(Box::new(seq_a));
    blocked(&done, "seqpacket recv", move || seq_b.recv().map(drop));
    let (mut seq_a, seq_b) = pair();
    keep.push(Box::new(seq_b));
    while seq_a.try_send(1).is_ok() {}
    blocked(&done, "seqpacket send (full)", move || {
        seq_a.send(2).map_err(Error::from)
    });
    keep.push(Box::new(seq2));
    let seq_full =
        socket::SeqPacketListener::<u64>::bind_with(dir.join("seqfull"), big().backlog(0)).unwrap();
    let p = seq_full.path().to_owned();
    blocked(&done, "seqpacket connect (no handshake)", move || {
        socket::SeqPacket::<u64>::connect(&p).map(drop)
    });
    // Let the first take the one place in the backlog.
    std::thread::sleep(Duration::from_millis(100));
    let p = seq_full.path().to_owned();
    blocked(&done, "seqpacket connect (backlog full)", move || {
        socket::SeqPacket::<u64>::connect(&p).map(drop)
    });
    keep.push(Box::new(seq_full));

    // TCP.
    let tl = tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
    let addr = tl.local_addr().unwrap();
    let tl = std::sync::Arc::new(tl);
    let l = tl.clone();
    blocked(&done, "tcp Listener::accept", move || l.accept().map(drop));
    keep.push(Box::new((tl, addr)));
    let (mut ta, tb) = tcp_pair::<[u8; 1000]>();
    // TCP keeps moving bytes to the peer's receive queue (and may grow its buffers) after
    // a send said Full: fill until a pass after a pause sends nothing more.
    fill_until_full(|| ta.try_send([1; 1000]).is_ok());
    keep.push(Box::new(tb));
    blocked(&done, "tcp Stream::send (full)", move || {
        ta.send([2; 1000]).map_err(Error::from)
    });
    let (ta, mut tb) = tcp_pair::<u64>();
    keep.push(Box::new(ta));
    blocked(&done, "tcp Stream::recv", move || tb.recv().map(drop));
    let (packed, packed_addr) = tcp_listener_with_full_backlog();
    let fillers: Vec<_> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&packed_addr, Duration::from_millis(300)).ok()
        })
        .collect();
    keep.push(Box::new((packed, fillers)));
    blocked(&done, "tcp Client::connect (backlog full)", move || {
        tcp::Client::<u64, u64>::connect(packed_addr).map(drop)
    });
    blocked(
        &done,
        "tcp Stream::connect_timeout (backlog full)",
        move || {
            tcp::Stream::<u64>::connect_timeout(&packed_addr, Duration::from_secs(600)).map(drop)
        },
    );
    let mut tserver = tcp::Server::<u64, u64>::bind("127.0.0.1:0").unwrap();
    let taddr = tserver.local_addr().unwrap();
    blocked(&done, "tcp Server::serve", move || {
        tserver.serve(|n| n).map(drop)
    });
    let tsilent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let saddr = tsilent.local_addr().unwrap();
    blocked(&done, "tcp Client::call (no answer)", move || {
        let mut c = tcp::Client::<u64, u64>::connect(saddr)?;
        c.call(1).map(drop)
    });
    let (mut tgreeted, _) = tsilent.accept().unwrap();
    tgreeted.write_all(&codec::rpc_hello::<u64, u64>()).unwrap();
    keep.push(Box::new((tgreeted, tsilent, taddr)));

    // POSIX and System V queues.
    let mq_rx =
        ipc::mq::Receiver::<u64>::create(&names.mq, ipc::mq::Options::new().capacity(2)).unwrap();
    let mut mq_tx = ipc::mq::Sender::<u64>::open(&names.mq).unwrap();
    while mq_tx.try_send(1).is_ok() {}
    blocked(&done, "mq send (full)", move || {
        mq_tx.send(2).map_err(Error::from)
    });
    let mq_rx2 = ipc::mq::Receiver::<u64>::open(&names.mq).unwrap();
    keep.push(Box::new(mq_rx2));
    let sysv_rx = ipc::sysv::Receiver::<[u8; 1000]>::create(
        ipc::sysv::Key::Private,
        ipc::sysv::Options::new(),
    )
    .unwrap();
    let sysv_id = sysv_rx.id();
    let mut sysv_tx = ipc::sysv::Sender::<[u8; 1000]>::from_id(sysv_id).unwrap();
    while sysv_tx.try_send([1; 1000]).is_ok() {}
    blocked(&done, "sysv send (full)", move || {
        sysv_tx.send([2; 1000]).map_err(Error::from)
    });
    let mut sysv_empty =
        ipc::sysv::Receiver::<u64>::create(ipc::sysv::Key::Private, ipc::sysv::Options::new())
            .unwrap();
    let empty_id = sysv_empty.id();
    blocked(&done, "sysv recv", move || sysv_empty.recv().map(drop));

    // Shared memory: a ring, the shared value's lock, its semaphore.
    let mut ring_tx =
        shm::Sender::<u64>::create(&names.shm[0], shm::Options::new().capacity(2)).unwrap();
    let ring_rx = shm::Receiver::<u64>::open(&names.shm[0]).unwrap();
    while ring_tx.try_send(1).is_ok() {}
    blocked(&done, "shm send (full)", move || {
        ring_tx.send(2).map_err(Error::from)
    });
    keep.push(Box::new(ring_rx));
    let shared = shm::Shared::<u64>::create(&names.shm[1], 0, shm::Options::new()).unwrap();
    let other = std::sync::Arc::new(shm::Shared::<u64>::open(&names.shm[1]).unwrap());
    let guard = shared.lock().unwrap();
    let o = other.clone();
    blocked(&done, "shm Shared::lock (held)", move || {
        o.lock().map(drop).map_err(Error::from)
    });
    let o = other.clone();
    blocked(&done, "Semaphore::wait", move || o.semaphore().wait());
    let o = other.clone();
    blocked(&done, "Semaphore::wait_timeout", move || {
        o.semaphore().wait_timeout(Duration::from_secs(600))
    });
    drop(done);

    ready();
    // The instant the shutdown request arrived, seen from here.
    while !signal::shutdown_requested() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let asked = Instant::now();
    let mut ok = true;
    let mut slowest = Duration::ZERO;
    let mut seen = Vec::new();
    let give_up = asked + Duration::from_secs(10);
    loop {
        match results.recv_timeout(give_up.saturating_duration_since(Instant::now())) {
            Ok((name, r, at)) => {
                seen.push(name);
                slowest = slowest.max(at.saturating_duration_since(asked));
                if !matches!(r, Err(Error::Shutdown)) {
                    eprintln!("{name}: {r:?}, expected Err(Shutdown)");
                    ok = false;
                }
            }
            // Every call returned (each thread dropped its sender).
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("some calls still blocked 10 s after SIGTERM; returned: {seen:?}");
                ok = false;
                break;
            }
        }
    }
    eprint!(
        "({} calls, slowest returned {slowest:?} after the request) ",
        seen.len()
    );
    drop(guard);
    let _ = sysv_rx.remove();
    let _ = ipc::sysv::remove(empty_id);
    drop(mq_rx);
    names.remove();
    drop(keep);
    std::process::exit(if ok { 0 } else { 1 });
}

/// Messages each side streams in `streams_stay_whole_with_a_shutdown_armed`.
const ARMED_SMALL: u64 = 200_000;
const ARMED_LARGE: u64 = 300;
/// 100,000 bytes: a record the pipe takes in many partial writes.
const LARGE_WORDS: usize = 12_500;
type Large = [u64; LARGE_WORDS];

fn streams_stay_whole_with_a_shutdown_armed() {
    for size in ["small", "large"] {
        let (tx, rx) = ipc::pipe::channel::<u64>().unwrap();
        let writer = Proc::spawn_with(ROLE, &format!("armed-write-{size}"), |cmd| {
            cmd.stdout(std::process::Stdio::from(tx));
        });
        let reader = Proc::spawn_with(ROLE, &format!("armed-read-{size}"), |cmd| {
            cmd.stdin(std::process::Stdio::from(rx));
        });
        writer.assert_success();
        reader.assert_success();
    }
}

fn a_signal_from_another_process_arrives_as_an_event() {
    let mut child = spawn("await-usr1", "");
    child.wait_ready();
    signal::send(child.id(), Signal::SIGUSR1).unwrap();
    child.assert_success();
}

fn sigterm_makes_blocking_receives_in_every_thread_return_shutdown() {
    let name = common::MqName::new("signal");
    let _q = ipc::mq::Receiver::<u64>::create(&name.0, ipc::mq::Options::new()).unwrap();
    let mut child = spawn("shutdown", &name.0);
    child.wait_ready();
    // Let the child's threads enter their blocking receives (either way they must end).
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    signal::send(child.id(), Signal::SIGTERM).unwrap();
    let (status, output) = child.finish();
    let took = start.elapsed();
    eprint!("(child stopped {took:?} after SIGTERM) ");
    assert!(status.success(), "{status}\n{output}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

fn sigterm_ends_every_blocking_call_of_every_transport() {
    let mut child = spawn("stalls", "");
    let names = StallNames::of(child.id());
    child.wait_ready();
    // Let the child's threads enter their blocking calls (either way they must end).
    std::thread::sleep(Duration::from_millis(200));
    signal::send(child.id(), Signal::SIGTERM).unwrap();
    // A watchdog: a call that ignores the request must fail the test, not hang it.
    let status = common::wait_at_most(child.child(), Duration::from_secs(60));
    names.remove();
    let status = status.expect("the child still ran 60 s after SIGTERM");
    assert!(
        status.success(),
        "{status}: some call did not return Shutdown:\n{}",
        child.output()
    );
}

fn pending_signals_are_polled_iterated_and_timed_out() {
    // Only this thread exists, so blocking here blocks the signal process-wide.
    let mut signals = Signals::new(&[Signal::SIGUSR2]).unwrap();
    assert!(signals.contains(Signal::SIGUSR2));
    assert!(matches!(signals.try_recv(), Err(Error::Empty)));
    let e = signals.recv_timeout(Duration::from_millis(10)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    signal::send(std::process::id(), Signal::SIGUSR2).unwrap();
    let ev = signals.next().unwrap().unwrap();
    assert_eq!(ev.signal, Signal::SIGUSR2);
    assert_eq!(ev.pid, std::process::id());
    assert!(matches!(signals.try_recv(), Err(Error::Empty)));
}

fn sigkill_and_sigstop_are_refused_with_a_clear_error() {
    for s in [Signal::SIGKILL, Signal::SIGSTOP] {
        let e = Signals::new(&[s]).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("cannot be caught"), "{e}");
        let e = signal::shutdown_on(&[Signal::SIGTERM, s]).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    }
    let e = signal::send(0, Signal::SIGTERM).unwrap_err();
    assert!(matches!(e, Error::InvalidName { .. }), "{e}");
}
