//! Batched-stream tests of one transport: pipes and FIFOs only, and POSIX queues (one
//! message per system call, an error met mid-batch held for the next receive).

use super::*;

// ---------------------------------------------------------------------------------------
// Pipes and FIFOs only.

/// A buffered pipe sender whose reader reads nothing: `close` counts every message as
/// unread, those still held (20,000 do not fit in the pipe) and those in the pipe.
#[test]
fn closing_a_buffered_pipe_sender_counts_held_and_queued_messages_as_unread() {
    close_unread::<Seq>();
    close_unread::<Seq32>();
}

fn close_unread<T: Numbered>() {
    for count in [1000, 20_000] {
        let mut run = Run::<T>::start(Via::Pipe, "close_unread", count);
        // Nothing is read until the sender is gone.
        run.wait_success("closing sender");
        // What the pipe holds: the first messages, in order, then the end.
        let mut buf = vec![T::new(0); 1024];
        let mut next = 0;
        loop {
            match run.rx.try_recv_many(&mut buf) {
                Ok(n) => expect_next(&buf[..n], &mut next),
                Err(Error::Disconnected) => break,
                Err(e) => panic!("after message {next}: {e}"),
            }
        }
        if count == 1000 {
            assert_eq!(next, 1000, "1000 messages fit in the pipe");
        } else {
            assert!(next < count, "{next} of {count} in a 64 KiB pipe");
        }
        println!("{}: {count} sent, {next} in the pipe", T::NAME);
    }
}

/// Three children write one FIFO at once, two through `send_all` and one through a
/// buffered sender: every record is written whole by one atomic `write`, so each
/// writer's messages arrive whole and in order among the others', and `recv_many` reads
/// on across the other writers' handshakes.
#[test]
fn several_writers_batching_into_one_fifo_never_interleave_records() {
    several_writers::<Seq>();
    several_writers::<Seq32>();
}

fn several_writers<T: Numbered>() {
    const PER: u64 = 1_000_000;
    let dir = common::TempDir::new("batch");
    let fifo = fifo::create(dir.join("fifo")).unwrap();
    let mut rx = fifo::Receiver::<T>::open(fifo.path()).unwrap();
    // Holding a write end keeps the FIFO from ending between one writer and the next.
    let keep_open = fifo::Sender::<T>::open(fifo.path()).unwrap();
    let writers: Vec<Kid> = ["send_all", "buffered", "send_all"]
        .iter()
        .enumerate()
        .map(|(w, role)| {
            let mut cmd = child_command::<T>(role, Via::Fifo, PER);
            cmd.env(AT, fifo.path())
                .env(FIRST, ((w as u64) << 40).to_string());
            Kid::spawn(&mut cmd)
        })
        .collect();
    let mut next = [0u64; 3];
    let mut buf = vec![T::new(0); 8192];
    let mut got = 0;
    let mut round = 0;
    while got < 3 * PER {
        let len = LENGTHS[round % LENGTHS.len()];
        round += 1;
        let n = rx.recv_many(&mut buf[..len]).unwrap();
        for m in &buf[..n] {
            let w = (m.seq() >> 40) as usize;
            assert!(w < 3, "a message of no writer: {m:?}");
            let want = T::new((w as u64) << 40 | next[w]);
            assert_eq!(*m, want, "writer {w}, message {}", next[w]);
            next[w] += 1;
        }
        got += n as u64;
    }
    for (w, kid) in writers.into_iter().enumerate() {
        kid.assert_success(&format!("writer {w}"));
    }
    drop(keep_open);
    assert!(rx.recv_many(&mut buf).unwrap_err().is_disconnected());
    assert_eq!(next, [PER; 3]);
}

/// A pipe carrying 100 good messages, an invalid one (a `bool` of 2) and 100 more, all
/// there before the first receive: `recv_many` returns the first 100, the next receive
/// `InvalidMessage`, and the 100 after it then arrive.
#[test]
fn an_invalid_message_mid_batch_on_a_pipe_is_returned_by_the_next_receive() {
    let (tx, mut rx) = pipe::channel::<Flagged>().unwrap();
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, "pipe_invalid")
        .stdin(Stdio::from(tx));
    let kid = Kid::spawn(&mut cmd);
    drop(cmd);
    kid.assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 1000];
    assert_eq!(
        rx.recv_many(&mut buf).unwrap(),
        100,
        "up to the invalid one"
    );
    assert!(buf[..100].iter().copied().eq((0..100).map(Flagged::new)));
    match rx.recv_many(&mut buf) {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 100, "the rest");
    assert!(buf[..100].iter().copied().eq((101..201).map(Flagged::new)));
    assert!(rx.recv_many(&mut buf).unwrap_err().is_disconnected());
}

// ---------------------------------------------------------------------------------------
// POSIX queues: one message per system call, an error met mid-batch held for the next.

/// A queue holding 4 good messages, an invalid one and 5 more: `recv_many` returns the
/// first 4 and holds the error, which the next receive returns; then the 5 arrive.
#[test]
fn an_invalid_message_mid_batch_on_a_queue_is_returned_by_the_next_receive() {
    let name = common::MqName::new("batch");
    let mut rx = mq::Receiver::<Flagged>::create(&name.0, mq::Options::new().capacity(10)).unwrap();
    Kid::spawn(
        Command::new(env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, "mq_invalid")
            .env(AT, &name.0)
            .stdin(Stdio::null()),
    )
    .assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 16];
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 4, "up to the invalid one");
    assert!(buf[..4].iter().copied().eq((0..4).map(Flagged::new)));
    match rx.recv_many(&mut buf) {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 5, "the rest");
    assert!(buf[..5].iter().copied().eq((5..10).map(Flagged::new)));
    assert!(matches!(rx.try_recv_many(&mut buf), Err(Error::Empty)));
}

/// The error `recv_many` holds is returned by the next receive of any kind: here
/// `recv_with_priority`, the queue's own.
#[test]
fn an_error_held_by_recv_many_on_a_queue_is_returned_by_recv_with_priority() {
    let name = common::MqName::new("batch");
    let mut rx = mq::Receiver::<Flagged>::create(&name.0, mq::Options::new().capacity(10)).unwrap();
    Kid::spawn(
        Command::new(env::current_exe().unwrap())
            .args(["child", "--exact", "--nocapture", "--test-threads=1"])
            .env(ROLE, "mq_invalid")
            .env(AT, &name.0)
            .stdin(Stdio::null()),
    )
    .assert_success("writer of an invalid message");
    let mut buf = vec![Flagged::default(); 16];
    assert_eq!(rx.recv_many(&mut buf).unwrap(), 4, "up to the invalid one");
    match rx.recv_with_priority() {
        Err(Error::InvalidMessage(m)) => assert_eq!(m.field(), "ok", "{m}"),
        other => panic!("{other:?}, want InvalidMessage"),
    }
    assert_eq!(rx.recv_with_priority().unwrap(), (Flagged::new(5), 0));
}
