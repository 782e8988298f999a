//! The batched-stream tests run on every stream transport (a pipe, a FIFO, a Unix
//! stream socket, TCP on loopback), each a module of four tests.

use super::*;

/// Receives `count` messages `0..count` with `recv_many` into slices of [`LENGTHS`] (at
/// most 1 MiB) and, every eleventh time, a plain `recv`.
fn receive_in_order<T: Numbered>(run: &mut Run<T>, count: u64) {
    let mut buf = vec![T::new(0); 8192.min((1 << 20) / size_of::<T>())];
    let mut next = 0;
    for round in 0.. {
        if next == count {
            break;
        }
        if round % 11 == 10 {
            match run.rx.recv() {
                Ok(m) => expect_next(&[m], &mut next),
                Err(e) => panic!("recv of message {next}: {e}"),
            }
        } else {
            let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
            match run.rx.recv_many(&mut buf[..len]) {
                Ok(n) => {
                    assert!((1..=len).contains(&n), "{n} messages into {len}");
                    expect_next(&buf[..n], &mut next);
                }
                Err(e) => panic!("recv_many from message {next}: {e}"),
            }
        }
    }
}

/// A child playing `role` with `count` messages of `T`, all received in order, then the
/// end.
fn in_order<T: Numbered>(via: Via, role: &str, count: u64) {
    let mut run = Run::<T>::start(via, role, count);
    receive_in_order(&mut run, count);
    run.finish(role);
}

/// [`MANY`] messages whose records divide a pipe page, and a tenth as many whose records
/// do not (see [`Seq32`]).
fn many_messages_through_send_all(via: Via) {
    in_order::<Seq32>(via, "send_all", MANY);
    in_order::<Seq>(via, "send_all", MANY / 10);
}

fn many_messages_through_a_buffered_sender(via: Via) {
    in_order::<Seq32>(via, "buffered", MANY);
    in_order::<Seq>(via, "buffered", MANY / 10);
}

/// 3000-byte messages, page-sized ones (bare, and as long records when they look
/// tagged) and 10,000-byte long records, through `send_all` and a buffered sender: each
/// arrives once, whole, in order.
fn large_messages_through_send_all_and_a_buffered_sender(via: Via) {
    fn both<T: Numbered>(via: Via, count: u64) {
        in_order::<T>(via, "send_all", count);
        in_order::<T>(via, "buffered", count);
    }
    // 1.7 GB in all: about 0.5 s per transport in release, 11 s in a debug build (which
    // spends it making and comparing the messages word by word), so a tenth there.
    let scale = if cfg!(debug_assertions) { 10 } else { 1 };
    both::<Wide>(via, 100_000 / scale);
    both::<Page>(via, 50_000 / scale);
    both::<Long>(via, 20_000 / scale);
}

/// Receives 4 MiB of an endless stream, SIGKILLs the sender, and reads the rest: whole
/// messages in order, then the end. On a stream socket, and for records longer than
/// `PIPE_BUF` (which a pipe cannot take in one atomic write), the stream may end inside
/// a record: then one `Corrupt` comes before the end.
fn killed_mid_batch<T: Numbered>(via: Via) {
    let torn_allowed = via.is_socket() || ipc::codec::record_len::<T>() > pipe::PIPE_BUF;
    let mut run = Run::<T>::start(via, "endless", 0);
    let mut buf = vec![T::new(0); 4096.min((1 << 20) / size_of::<T>())];
    let mut next = 0;
    let mut round = 0;
    while next < ((4 << 20) / size_of::<T>()) as u64 {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        let n = run.rx.recv_many(&mut buf[..len]).unwrap();
        expect_next(&buf[..n], &mut next);
        round += 1;
    }
    // Let the sender fill the pipe or socket and block inside a batch (and, for long
    // records, inside a record), then kill it.
    std::thread::sleep(Duration::from_millis(50));
    run.kid.kill().unwrap();
    let status = run.kid.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    let mut corrupt = None;
    loop {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        round += 1;
        match run.rx.recv_many(&mut buf[..len]) {
            Ok(n) => {
                assert!(corrupt.is_none(), "messages after {corrupt:?}");
                expect_next(&buf[..n], &mut next);
            }
            Err(Error::Disconnected) => break,
            Err(Error::Corrupt(why)) if torn_allowed && corrupt.is_none() => {
                corrupt = Some(why);
            }
            Err(e) => panic!("after message {next} (and {corrupt:?}): {e}"),
        }
    }
    assert!(run.rx.recv().unwrap_err().is_disconnected());
    println!(
        "{}: {next} messages, then {corrupt:?} and Disconnected",
        T::NAME
    );
}

fn a_sender_killed_mid_batch(via: Via) {
    killed_mid_batch::<Seq>(via);
    killed_mid_batch::<Seq32>(via);
    killed_mid_batch::<Page>(via);
    killed_mid_batch::<Long>(via);
}

/// A reader that sleeps 1 ms between receives of at most [`SLOW`] messages: the sender
/// meets full buffers, and retries what `try_send_many` and `send_all_timeout` did not
/// send; unbuffered, then buffered (16 KiB).
fn slow_reader<T: Numbered>(via: Via) {
    const SLOW: [usize; 4] = [1, 16, 256, 2048];
    const N: u64 = 250_000;
    for buffer in [None, Some(16 << 10)] {
        let mut run = Run::<T>::start_with(via, "trickle", N, |cmd| {
            if let Some(b) = buffer {
                cmd.env(BUFFER, b.to_string());
            }
        });
        let mut buf = vec![T::new(0); 2048.min((1 << 20) / size_of::<T>())];
        let mut next = 0;
        let mut round = 0;
        while next < N {
            std::thread::sleep(Duration::from_millis(1));
            let len = SLOW[round % SLOW.len()];
            round += 1;
            match run.rx.recv_many(&mut buf[..len]) {
                Ok(n) => expect_next(&buf[..n], &mut next),
                Err(e) => panic!("recv_many from message {next} (buffer {buffer:?}): {e}"),
            }
        }
        run.finish("sender against a slow reader");
    }
}

fn a_slow_reader_and_retried_partial_batches(via: Via) {
    slow_reader::<Seq>(via);
    slow_reader::<Seq32>(via);
}

/// Sends SIGUSR1 to every thread of the process `pid` and returns to how many. A signal
/// sent to the process would go to its main thread, which libtest keeps waiting for the
/// test thread that sends.
fn signal_threads(pid: i32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut signalled = 0;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: tgkill takes three integers and touches no memory of this process;
        // `pid` is a child not yet reaped, so neither it nor its threads' ids are reused.
        let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
        signalled += usize::from(rc == 0);
    }
    signalled
}

/// The sender's threads get SIGUSR1 (a handler without `SA_RESTART`) about every 100 µs
/// while it is blocked in `send_all` of 24 MiB of messages: its writes fail with `EINTR`
/// or write part of what they were given, and every message still arrives once, whole
/// and in order.
fn interrupted<T: Numbered>(via: Via) {
    let n_msgs = ((24 << 20) / size_of::<T>()) as u64;
    let mut run = Run::<T>::start(via, "interrupted", n_msgs);
    let mut buf = vec![T::new(0); 1024];
    // The child installs its handler before it connects, so once its first message is
    // here signals are safe; it sends the rest once it has handled one.
    let mut next = 0;
    let n = run.rx.recv_many(&mut buf).unwrap();
    expect_next(&buf[..n], &mut next);
    let stop = Arc::new(AtomicBool::new(false));
    let signaller = {
        let (stop, pid) = (stop.clone(), run.pid());
        std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                sent += signal_threads(pid);
                std::thread::sleep(Duration::from_micros(100));
            }
            sent
        })
    };
    let mut round = 0;
    while next < n_msgs {
        let len = LENGTHS[round % LENGTHS.len()].min(buf.len());
        round += 1;
        match run.rx.recv_many(&mut buf[..len]) {
            Ok(n) => expect_next(&buf[..n], &mut next),
            Err(e) => panic!("recv_many from message {next}: {e}"),
        }
        if round % 8 == 0 {
            // Let the sender fill the pipe or socket and block, for several signals.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let signals = signaller.join().unwrap();
    println!("{}: {signals} signals sent", T::NAME);
    run.finish("interrupted sender");
}

fn interrupted_sends_lose_and_tear_nothing(via: Via) {
    interrupted::<Seq>(via);
    interrupted::<Seq32>(via);
    interrupted::<Page>(via);
}

/// A sender that sends in bursts with pauses, and a receiver that loops on
/// `recv_many_timeout(1 ms)` and `try_recv_many` in turn, taking `Timeout` and `Empty`
/// as "again".
fn under_deadlines<T: Numbered>(via: Via) {
    const N: u64 = 300_000;
    let mut run = Run::<T>::start(via, "bursts", N);
    let mut buf = vec![T::new(0); 8192];
    let (mut next, mut timeouts, mut empty) = (0, 0u64, 0u64);
    let mut round = 0;
    while next < N {
        let len = LENGTHS[round % LENGTHS.len()];
        round += 1;
        let got = if round % 2 == 0 {
            run.rx
                .recv_many_timeout(&mut buf[..len], Duration::from_millis(1))
        } else {
            run.rx.try_recv_many(&mut buf[..len])
        };
        match got {
            Ok(n) => {
                assert!((1..=len).contains(&n), "{n} messages into {len}");
                expect_next(&buf[..n], &mut next);
            }
            Err(Error::Timeout(d)) => {
                assert_eq!(d, Duration::from_millis(1));
                timeouts += 1;
            }
            Err(Error::Empty) => {
                empty += 1;
                std::thread::yield_now();
            }
            Err(e) => panic!("from message {next}: {e}"),
        }
    }
    // The end, through the same calls.
    loop {
        match run.rx.recv_many_timeout(&mut buf, Duration::from_millis(1)) {
            Err(Error::Timeout(_)) => {}
            Err(Error::Disconnected) => break,
            Ok(n) => panic!("{n} messages after the last: {:?}", &buf[..n]),
            Err(e) => panic!("after the last message: {e}"),
        }
    }
    println!("{timeouts} timeouts, {empty} times empty");
    run.finish("sender of bursts");
}

fn receives_under_deadlines(via: Via) {
    under_deadlines::<Seq>(via);
    under_deadlines::<Seq32>(via);
}

/// A buffered sender that holds 1000 messages and is dropped without `flush`: all of them
/// arrive.
fn a_buffered_sender_dropped_with_messages_held(via: Via) {
    in_order::<Seq>(via, "drop_held", 1000);
    in_order::<Seq32>(via, "drop_held", 1000);
}

/// Makes a module of four tests, one per stream transport, each calling `$check` with
/// its transport.
macro_rules! on_every_stream {
    ($($(#[$attr:meta])* $name:ident => $check:ident;)*) => {$(
        $(#[$attr])*
        mod $name {
            use super::*;

            #[test]
            fn pipe() {
                $check(Via::Pipe);
            }

            #[test]
            fn fifo() {
                $check(Via::Fifo);
            }

            #[test]
            fn unix_stream() {
                $check(Via::Unix);
            }

            #[test]
            fn tcp() {
                $check(Via::Tcp);
            }
        }
    )*};
}

on_every_stream! {
    /// Ten million messages (one million in a debug build) through `send_all` in batches
    /// of 1 to 100,000 arrive once each, in order, through `recv_many` and `recv`.
    many_messages_through_send_all_arrive_once_in_order => many_messages_through_send_all;
    /// The same through a buffered sender (64 KiB), one `send` per message.
    many_messages_through_a_buffered_sender_arrive_once_in_order =>
        many_messages_through_a_buffered_sender;
    large_messages_through_send_all_and_a_buffered_sender_arrive_whole_in_order =>
        large_messages_through_send_all_and_a_buffered_sender;
    a_sender_killed_mid_batch_leaves_whole_messages_then_the_end => a_sender_killed_mid_batch;
    a_slow_reader_gets_every_message_of_retried_partial_batches =>
        a_slow_reader_and_retried_partial_batches;
    signals_interrupting_send_all_lose_and_tear_nothing =>
        interrupted_sends_lose_and_tear_nothing;
    batched_receives_under_deadlines_take_every_message_once => receives_under_deadlines;
    a_buffered_sender_dropped_with_messages_held_writes_them =>
        a_buffered_sender_dropped_with_messages_held;
}
