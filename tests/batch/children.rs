//! The children of `tests/batch.rs`: what each role sends, and how.

use super::*;

/// Plays `role` with messages of `T`.
pub(super) fn play<T: Numbered>(role: &str) {
    let count: u64 = env::var(COUNT).map_or(0, |c| c.parse().unwrap());
    let first: u64 = env::var(FIRST).map_or(0, |c| c.parse().unwrap());
    match role {
        "send_all" => send_all_in_batches::<T>(first, count),
        "buffered" => send_buffered::<T>(first, count),
        "endless" => send_endless_batches::<T>(),
        "trickle" => send_against_a_slow_reader::<T>(count),
        "interrupted" => send_all_interrupted::<T>(count),
        "bursts" => send_bursts::<T>(count),
        "drop_held" => drop_with_messages_held::<T>(count),
        "close_unread" => close_with_nothing_read::<T>(count),
        other => panic!("unknown role {other}"),
    }
}

/// Batch sizes `send_all` is given, in turn.
const BATCHES: [usize; 10] = [1, 7, 256, 4096, 3, 65_536, 1000, 100_000, 2, 17_001];

/// Messages `first..first + count` through `send_all`, in batches of [`BATCHES`] (at
/// most 4 MiB of messages).
fn send_all_in_batches<T: Numbered>(first: u64, count: u64) {
    let mut tx = Out::<T>::open(Via::from_env());
    let most = (4 << 20) / size_of::<T>();
    let mut batch = Vec::new();
    let (mut sent, end) = (first, first + count);
    for size in BATCHES.iter().cycle() {
        if sent == end {
            break;
        }
        let last = (sent + (*size).min(most) as u64).min(end);
        batch.clear();
        batch.extend((sent..last).map(T::new));
        if let Err(e) = tx.tx().send_all(&batch) {
            panic!("batch from {sent}: {e}");
        }
        sent = last;
    }
}

/// Messages `first..first + count` through a buffered sender (64 KiB), one `send` each,
/// then `flush`.
fn send_buffered<T: Numbered>(first: u64, count: u64) {
    let mut tx = Out::<T>::open(Via::from_env()).buffered(64 * 1024);
    for i in first..first + count {
        if let Err(e) = tx.tx().send(T::new(i)) {
            panic!("message {i}: {e}");
        }
    }
    tx.tx().flush().unwrap();
}

/// Batches of 1 MiB of messages through `send_all`, numbered on, until killed.
fn send_endless_batches<T: Numbered>() {
    let big = ((1 << 20) / size_of::<T>()).max(1) as u64;
    let mut tx = Out::<T>::open(Via::from_env());
    let mut batch: Vec<T> = (0..big).map(T::new).collect();
    loop {
        tx.tx().send_all(&batch).unwrap();
        for m in &mut batch {
            *m = T::new(m.seq() + big);
        }
    }
}

/// `count` messages against a reader that sleeps between receives: `try_send_many` and
/// `send_all_timeout` (1 ms) in turn, each retried with what was not sent; through a
/// buffered sender if `BATCH_BUFFER` says so.
fn send_against_a_slow_reader<T: Numbered>(count: u64) {
    let mut tx = Out::<T>::open(Via::from_env());
    if let Ok(buffer) = env::var(BUFFER) {
        tx = tx.buffered(buffer.parse().unwrap());
    }
    let msgs: Vec<T> = (0..count).map(T::new).collect();
    let (mut sent, mut full, mut timeouts) = (0usize, 0u64, 0u64);
    for (round, size) in BATCHES.iter().cycle().enumerate() {
        if sent == msgs.len() {
            break;
        }
        let batch = &msgs[sent..(sent + size).min(msgs.len())];
        if round % 2 == 0 {
            match tx.tx().try_send_many(batch) {
                Ok(n) => {
                    assert!((1..=batch.len()).contains(&n), "{n} of {}", batch.len());
                    sent += n;
                }
                Err(Error::Full) => {
                    full += 1;
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => panic!("try_send_many from {sent}: {e}"),
            }
        } else {
            match tx.tx().send_all_timeout(batch, Duration::from_millis(1)) {
                Ok(()) => sent += batch.len(),
                Err(e) => {
                    assert!(matches!(e.error(), Error::Timeout(_)), "from {sent}: {e}");
                    let unsent = e.unsent(batch);
                    assert_eq!(e.sent() + unsent.len(), batch.len());
                    assert_eq!(unsent.first(), batch.get(e.sent()));
                    timeouts += 1;
                    sent += e.sent();
                }
            }
        }
    }
    // A bounded send may leave the tail of a record it began (a socket): write it.
    tx.tx().flush().unwrap();
    println!("sent {count}: {full} times Full, {timeouts} timeouts");
}

/// SIGUSR1s the handler below has seen.
static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// `count` messages through `send_all` in batches of 100,000, with a handler for
/// SIGUSR1 installed without `SA_RESTART`, so that the parent's signals make the
/// blocked writes fail with `EINTR` (or, on a socket, return having written part of
/// what they were given). The first message goes alone; the rest once the parent's
/// signals have begun.
fn send_all_interrupted<T: Numbered>(count: u64) {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_usr1),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler only adds to an atomic counter, which is async-signal-safe.
    unsafe { sigaction(Signal::SIGUSR1, &act) }.unwrap();
    let mut tx = Out::<T>::open(Via::from_env());
    let msgs: Vec<T> = (0..count).map(T::new).collect();
    tx.tx().send_all(&msgs[..1]).unwrap();
    while HANDLED.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_micros(100));
    }
    let before = HANDLED.load(Ordering::Relaxed);
    for (k, batch) in msgs[1..].chunks(100_000).enumerate() {
        if let Err(e) = tx.tx().send_all(batch) {
            panic!("batch {k}: {e}");
        }
    }
    let during = HANDLED.load(Ordering::Relaxed) - before;
    println!("sent {count}; {during} SIGUSR1 handled while sending");
}

/// `count` messages in bursts through `send_all`, with pauses between them.
fn send_bursts<T: Numbered>(count: u64) {
    const SIZES: [u64; 7] = [1, 50, 3000, 7, 20_000, 400, 4096];
    const PAUSES_US: [u64; 5] = [0, 1000, 3000, 0, 2000];
    let mut tx = Out::<T>::open(Via::from_env());
    let mut batch = Vec::new();
    let mut sent = 0;
    for (k, size) in SIZES.iter().cycle().enumerate() {
        if sent == count {
            break;
        }
        let end = (sent + size).min(count);
        batch.clear();
        batch.extend((sent..end).map(T::new));
        tx.tx().send_all(&batch).unwrap();
        sent = end;
        std::thread::sleep(Duration::from_micros(PAUSES_US[k % PAUSES_US.len()]));
    }
}

/// `count` messages into a buffer of 1 MiB, and a return without `flush`: dropping the
/// sender writes them.
fn drop_with_messages_held<T: Numbered>(count: u64) {
    let mut tx = Out::<T>::open(Via::from_env()).split().buffered(1 << 20);
    for i in 0..count {
        tx.tx().send(T::new(i)).unwrap();
    }
    // All held: every message's bytes (in batch records, or records of their own).
    assert!(
        tx.pending() >= count as usize * size_of::<T>(),
        "all held: {} bytes pending",
        tx.pending()
    );
}

/// `count` messages into a buffer of 1 MiB on a pipe whose reader reads nothing, then
/// `close` with a short timeout: every message is unread, held or in the pipe.
fn close_with_nothing_read<T: Numbered>(count: u64) {
    let Out::Pipe(tx) = Out::<T>::open(Via::from_env()) else {
        panic!("a pipe or FIFO only");
    };
    let mut tx = tx.buffered(1 << 20);
    for i in 0..count {
        tx.send(T::new(i)).unwrap();
    }
    match tx.close(Duration::from_millis(100)) {
        Ok(()) => panic!("close: all read, but the reader read nothing"),
        Err(unread) => {
            println!("unread {} discarded {}", unread.count, unread.discarded);
            assert_eq!(unread.count, count, "unread");
            // The reader has the pipe open: what the pipe takes may still be read; what
            // it does not take could not be written in time and is gone with the sender.
            let fits = count as usize * ipc::codec::record_len::<T>() <= 64 * 1024;
            assert_eq!(unread.discarded, !fits, "discarded");
        }
    }
}

/// On the pipe of descriptor 0: 100 valid `Flagged` messages, one whose `bool` is 2
/// (written raw, with the codec's record header), and 100 more valid ones.
pub(super) fn send_an_invalid_message_on_a_pipe() {
    let mut tx = pipe::Sender::<Flagged>::from_fd(stdin_fd());
    let good: Vec<Flagged> = (0..201).map(Flagged::new).collect();
    tx.send_all(&good[..100]).unwrap();
    let mut raw = std::fs::File::from(stdin_fd());
    raw.write_all(&invalid_record()).unwrap();
    tx.send_all(&good[101..]).unwrap();
}

/// The record of message 100 with 2 in its `bool`.
fn invalid_record() -> Vec<u8> {
    let mut rec = ipc::codec::message_header::<Flagged>().to_vec();
    rec.extend_from_slice(&invalid_flagged(100));
    rec
}

/// The bytes of `Flagged::new(seq)` with 2 in its `bool`.
fn invalid_flagged(seq: u64) -> Vec<u8> {
    let mut bytes = ipc::as_bytes(&Flagged::new(seq)).to_vec();
    bytes[std::mem::offset_of!(Flagged, ok)] = 2;
    bytes
}

/// On the POSIX queue `BATCH_AT`: 4 valid `Flagged` messages, one whose `bool` is 2
/// (sent raw with `mq_send`), and 5 more valid ones: 10, the capacity the parent gave it.
pub(super) fn send_an_invalid_message_on_a_queue() {
    use nix::mqueue::{mq_close, mq_open, mq_send, MQ_OFlag};
    let name = env::var(AT).expect(AT);
    let mut tx = mq::Sender::<Flagged>::open(&name).unwrap();
    let good: Vec<Flagged> = (0..10).map(Flagged::new).collect();
    tx.send_all(&good[..4]).unwrap();
    let q = mq_open(
        name.as_str(),
        MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .unwrap();
    mq_send(&q, &invalid_flagged(4), 0).unwrap();
    mq_close(q).unwrap();
    tx.send_all(&good[5..]).unwrap();
}
