//! Signals across real processes. This binary has its own `main` (`harness = false`):
//! signal masks and dispositions are process-wide state, and `Signals` requires the
//! signals to be blocked in every thread, which only holds when no test harness thread
//! runs beside the test. Each case runs in `main`'s thread, children are this binary
//! re-run with `IPC_TEST_ROLE`, and every child's exit status is asserted.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipc::signal::{self, Signal, Signals};
use ipc::Error;

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
        case();
        println!("ok");
        ran += 1;
    }
    println!("\ntest result: ok. {ran} passed");
    ExitCode::SUCCESS
}

fn spawn(role: &str, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(ROLE, role)
        .env(NAME, name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the child prints `ready`.
fn wait_ready(child: &mut Child) {
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
}

fn ready() {
    println!("ready");
}

fn child_role(role: &str) {
    match role {
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
            let rx = ipc::mq::Receiver::<u64>::open(&name).unwrap();
            let sysv = ipc::sysv::Receiver::<u64>::create(
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
            let rx2 = ipc::mq::Receiver::<u64>::open(&name).unwrap();
            let mq_waiter = std::thread::spawn(move || rx2.recv().unwrap_err());
            // Stream transports too: their writers stay open, so only shutdown ends them.
            let (_pipe_tx, mut pipe_rx) = ipc::pipe::channel::<u64>().unwrap();
            let pipe_waiter = std::thread::spawn(move || pipe_rx.recv().unwrap_err());
            let (_sock_a, mut sock_b) = ipc::socket::Stream::<u64>::pair().unwrap();
            let sock_waiter = std::thread::spawn(move || sock_b.recv().unwrap_err());
            // Shared memory: a receiver parked on its futex wakes within a park slice.
            let shm_name = format!("test-shutdown-{}", std::process::id());
            let _shm_tx =
                ipc::shm::Sender::<u64>::create(&shm_name, ipc::shm::Options::new()).unwrap();
            let mut shm_rx = ipc::shm::Receiver::<u64>::open(&shm_name).unwrap();
            let shm_waiter = std::thread::spawn(move || shm_rx.recv().map(|s| *s).unwrap_err());
            // And listeners waiting for a client.
            let dir =
                std::env::temp_dir().join(format!("ipc-test-shutdown-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
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
            let _ = std::fs::remove_dir_all(&dir);
            assert!(signal::shutdown_requested());
            assert!(matches!(
                rx.recv_timeout(Duration::from_secs(5)),
                Err(Error::Shutdown)
            ));
        }
        r => panic!("unknown role {r}"),
    }
}

fn a_signal_from_another_process_arrives_as_an_event() {
    let mut child = spawn("await-usr1", "");
    wait_ready(&mut child);
    signal::send(child.id(), Signal::SIGUSR1).unwrap();
    assert!(child.wait().unwrap().success());
}

fn sigterm_makes_blocking_receives_in_every_thread_return_shutdown() {
    let name = format!("/ipc-test-signal-{}", std::process::id());
    let _q = ipc::mq::Receiver::<u64>::create(&name, ipc::mq::Options::new()).unwrap();
    struct Unlink<'a>(&'a str);
    impl Drop for Unlink<'_> {
        fn drop(&mut self) {
            let _ = ipc::mq::unlink(self.0);
        }
    }
    let _guard = Unlink(&name);
    let mut child = spawn("shutdown", &name);
    wait_ready(&mut child);
    // Let the child's threads enter their blocking receives (either way they must end).
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    signal::send(child.id(), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let took = start.elapsed();
    eprint!("(child stopped {took:?} after SIGTERM) ");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(2), "{took:?}");
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
