//! Shared-memory channels across real processes: this test binary re-runs itself (the
//! `child` entry point below) with `SHM_TEST_ROLE` naming the role to play.

use std::process::Command;
use std::time::Duration;

use ipc::shm::{Backing, Options, Receiver, Sender};
use ipc::sync::WaitStrategy;
use ipc::Error;

const ROLE: &str = "SHM_TEST_ROLE";

mod common;
use common::{ready, send_invalid_side, Proc, ShmName as Name, Side};

#[path = "shm_channel/failures.rs"]
mod failures;
#[path = "shm_channel/packed.rs"]
mod packed;

/// This binary re-run as a child playing `role` with `args`.
fn spawn(role: &str, args: &[&str]) -> Proc {
    spawn_with(role, args, |_| {})
}

fn spawn_with(role: &str, args: &[&str], f: impl FnOnce(&mut Command)) -> Proc {
    Proc::spawn_with(ROLE, &format!("{role} {}", args.join(" ")), f)
}

/// The child entry point: does nothing unless `SHM_TEST_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["sender", name, id, n] => {
            let id: u64 = id.parse().unwrap();
            let mut tx = Sender::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                tx.send(id << 40 | i).unwrap();
            }
        }
        ["batch-sender", name, id, n] => {
            // Batches of 1 to 700 messages (some larger than the ring) with `send_all`.
            let id: u64 = id.parse().unwrap();
            let n: u64 = n.parse().unwrap();
            let mut tx = Sender::<u64>::open(name).unwrap();
            let mut batch = Vec::with_capacity(700);
            let (mut i, mut size) = (0, id + 1);
            while i < n {
                size = size * 31 % 701;
                batch.clear();
                batch.extend((i..(i + size.max(1)).min(n)).map(|i| id << 40 | i));
                tx.send_all(&batch).unwrap();
                i += batch.len() as u64;
            }
        }
        ["cloned-senders", name, n] => {
            // One opened sender and three clones of it, one thread each, as a user of a
            // crossbeam channel hands out senders.
            let first = Sender::<u64>::open(name).unwrap();
            let n: u64 = n.parse().unwrap();
            let clones: Vec<_> = (0..3).map(|_| first.try_clone().unwrap()).collect();
            let threads: Vec<_> = std::iter::once(first)
                .chain(clones)
                .zip(0u64..)
                .map(|(mut tx, id)| {
                    std::thread::spawn(move || {
                        for i in 0..n {
                            tx.send(id << 40 | i).unwrap();
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        }
        ["sender-then-die-holding-a-loan", name, n] => {
            let mut tx = Sender::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                tx.send(i).unwrap();
            }
            let mut loan = tx.loan().unwrap();
            loan.write(u64::MAX);
            ready();
            // Die between claiming the slot and publishing it.
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        ["sender-stopped-holding-a-loan", name] => {
            let mut tx = Sender::<u64>::open(name).unwrap();
            tx.send(0).unwrap();
            let mut loan = tx.loan().unwrap();
            loan.write(1);
            ready();
            // Stopped between claiming the slot and publishing it, as a debugger or a
            // SIGSTOP could stop any sender; the parent continues it.
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP).unwrap();
            loan.send();
            tx.send(2).unwrap();
        }
        ["sender-forever", name] => {
            let mut tx = Sender::<u64>::open(name).unwrap();
            ready();
            let mut i = 0;
            loop {
                let _ = tx.send_timeout(i, Duration::from_millis(10));
                i += 1;
            }
        }
        ["receiver-idle", name] => {
            let _rx = Receiver::<u64>::open(name).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(60));
        }
        ["racing-peer", base, rounds] => {
            for r in 0..rounds.parse::<u32>().unwrap() {
                jitter(r, 13);
                let mut rx =
                    Receiver::<u32>::open_or_create(&format!("{base}-a{r}"), Options::new())
                        .unwrap();
                let mut tx =
                    Sender::<u32>::open_or_create(&format!("{base}-b{r}"), Options::new()).unwrap();
                let got = *rx.recv().unwrap();
                tx.send(got).unwrap();
            }
        }
        ["batch-sender-forever", name, max] => {
            // Numbered messages in batches of 1 to `max` with `send_all`, until killed.
            let max: u64 = max.parse().unwrap();
            let mut tx = Sender::<u64>::open(name).unwrap();
            tx.send_all(&[0]).unwrap();
            ready();
            let (mut i, mut size) = (1, 1);
            loop {
                size = size * 31 % (max + 1);
                let batch: Vec<u64> = (i..i + size.max(1)).collect();
                tx.send_all(&batch).unwrap();
                i += batch.len() as u64;
            }
        }
        ["receiver-read-then-die", name, n] => {
            let mut rx = Receiver::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                assert_eq!(*rx.recv().unwrap(), i);
            }
            // Die with the slots read but (between two batches) not yet handed back.
            nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL).unwrap();
        }
        ["creator-idle", name] => {
            let _tx = Sender::<u64>::create(name, Options::new().capacity(4)).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(60));
        }
        ["memfd-receiver", fd, n] => {
            use std::os::fd::{FromRawFd, OwnedFd};
            let raw: i32 = fd.parse().unwrap();
            // SAFETY: the parent passed this descriptor number to us, open, for us to own.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let mut rx = Receiver::<[u64; 512]>::from_fd(fd, Options::new()).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                let s = rx.recv().unwrap();
                assert!(s.iter().all(|&v| v == i));
            }
            assert!(rx.recv().unwrap_err().is_disconnected());
        }
        ["sysv-sender", name, n] => {
            // Opening needs no backing option: the registry file says System V.
            let mut tx = Sender::<[u32; 16]>::open(name).unwrap();
            for i in 0..n.parse::<u32>().unwrap() {
                tx.send([i; 16]).unwrap();
            }
        }
        ["kill-cycles-in-private-shm", ..] => failures::kill_cycles(),
        ["live-segment-in-private-shm", ..] => failures::live_segment_survives(),
        ["remove-stale-in-private-shm", ..] => {
            common::private_dev_shm("1m");
            let mine = |n: &str| common::unique(n);
            let path = |n: &str| format!("/dev/shm/ipc.{n}");
            let real = mine("real");
            let segment = {
                let _rx = Receiver::<u64>::create(&real, Options::new()).unwrap();
                std::fs::read(path(&real)).unwrap()
            };
            // Files named like this process's segments that are not this crate's: 16 bytes
            // of text (the size of a System V segment's registry file), 9 bytes, and a copy
            // of a published segment whose magic was changed.
            let foreign = [mine("foreign16"), mine("foreign9"), mine("forged")];
            std::fs::write(path(&foreign[0]), b"0123456789abcdef").unwrap();
            std::fs::write(path(&foreign[1]), b"ipc notes").unwrap();
            let mut forged = segment.clone();
            forged[..8].copy_from_slice(b"NOT-IPC!");
            std::fs::write(path(&foreign[2]), forged).unwrap();
            // Published segments of this crate that no process holds: dead. One is this
            // process's; the others are another program's, one of them under a prefix that
            // only begins like this process's.
            let dead = mine("dead");
            let others = [
                "other-program-dead".to_owned(),
                format!("{}7-dead", common::prefix()),
            ];
            for name in std::iter::once(&dead).chain(&others) {
                std::fs::write(path(name), &segment).unwrap();
            }
            let removed = common::remove_stale();
            assert_eq!(removed, [dead]);
            for name in foreign.iter().chain(&others) {
                assert!(
                    std::path::Path::new(&path(name)).exists(),
                    "remove_stale_with_prefix removed {name}"
                );
            }
            // The empty prefix matches every name: the other programs' dead segments go,
            // the files that are not segments stay.
            let mut removed = ipc::shm::remove_stale_with_prefix("").unwrap();
            removed.sort();
            let mut others = others.to_vec();
            others.sort();
            assert_eq!(removed, others);
            for name in &foreign {
                assert!(
                    std::path::Path::new(&path(name)).exists(),
                    "{name} is not a segment"
                );
            }
        }
        ["open-forever", name] => {
            // No deadline at all must not overflow the clock.
            let opts = Options::new().open_timeout(Duration::MAX);
            let mut rx = Receiver::<u64>::open_with(name, opts).unwrap();
            assert_eq!(*rx.recv().unwrap(), 7);
        }
        _ => panic!("unknown role {role}"),
    }
    std::process::exit(0);
}

#[test]
fn four_sender_processes_deliver_exactly_one_million_messages_in_order() {
    four_senders_in_order("mpsc", 4096, 250_000);
}

#[test]
fn four_sender_processes_through_sixteen_slots_freed_two_at_a_time() {
    // 12,500 laps of a ring whose receiver hands slots back in batches of two.
    four_senders_in_order("mpsc-small", 16, 50_000);
}

#[test]
fn two_batching_sender_processes_deliver_two_million_messages_in_order_to_batched_receives() {
    let name = Name::new("batches");
    // 512 slots: batches of up to 700 messages go in several claims, and the receiver's
    // batches of up to 1,000 take at most a ring at a time.
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(512)).unwrap();
    let per = 1_000_000u64;
    let kids: Vec<_> = (0..2u64)
        .map(|id| {
            spawn(
                "batch-sender",
                &[&name.0, &id.to_string(), &per.to_string()],
            )
        })
        .collect();
    let mut next = [0u64; 2];
    let mut buf = vec![0u64; 1000];
    let (mut total, mut size) = (0u64, 1usize);
    loop {
        size = size * 37 % 1001;
        let out = &mut buf[..size.max(1)];
        match rx.recv_many_timeout(out, Duration::from_secs(30)) {
            Ok(got) => {
                assert!((1..=out.len()).contains(&got), "{got} of {}", out.len());
                for &v in &out[..got] {
                    let (id, i) = ((v >> 40) as usize, v & ((1 << 40) - 1));
                    assert_eq!(i, next[id], "sender {id} out of order or duplicated");
                    next[id] += 1;
                }
                total += got as u64;
            }
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(next, [per; 2], "nothing lost");
    assert_eq!(total, 2 * per);
    assert_eq!(rx.stats().lost, 0);
    for k in kids {
        k.assert_success();
    }
}

#[test]
fn batched_sends_take_the_room_there_is_and_say_full_or_timeout_when_there_is_none() {
    use ipc::Tx;
    let name = Name::new("batch-room");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    let msgs: Vec<u64> = (0..10).collect();
    assert_eq!(tx.try_send_many(&msgs).unwrap(), 4, "as many as fit");
    assert!(matches!(tx.try_send_many(&msgs[4..]), Err(Error::Full)));
    assert!(matches!(
        Tx::send_many_wait(&mut tx, &msgs[4..], ipc::Wait::Now),
        Err(Error::Full)
    ));
    assert!(matches!(
        Tx::send_many_wait(
            &mut tx,
            &msgs[4..],
            ipc::Wait::For(Duration::from_millis(20))
        ),
        Err(Error::Timeout(_))
    ));
    assert_eq!(tx.try_send_many(&[]).unwrap(), 0);
    // Two read (a ring of 4 frees slots one at a time): two more fit.
    let mut out = [0u64; 2];
    assert_eq!(rx.try_recv_many(&mut out).unwrap(), 2);
    assert_eq!(out, [0, 1]);
    assert_eq!(tx.try_send_many(&msgs[4..]).unwrap(), 2);
    let e = tx
        .send_all_timeout(&msgs[6..], Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(e.sent(), 0);
    assert!(matches!(e.error(), Error::Timeout(_)), "{e}");
    let mut out = [0u64; 8];
    assert_eq!(rx.recv_many(&mut out).unwrap(), 4);
    assert_eq!(out[..4], [2, 3, 4, 5]);
    assert!(matches!(rx.try_recv_many(&mut out), Err(Error::Empty)));
    assert_eq!(rx.try_recv_many(&mut []).unwrap(), 0);
    // The rest goes whole, and the receiver sees the end after it.
    tx.send_all(&msgs[6..]).unwrap();
    drop(tx);
    assert_eq!(rx.recv_many(&mut out).unwrap(), 4);
    assert_eq!(out[..4], [6, 7, 8, 9]);
    assert!(matches!(rx.recv_many(&mut out), Err(Error::Disconnected)));
}

#[test]
fn a_batched_send_waiting_for_ever_sends_everything_a_ring_at_a_time() {
    let name = Name::new("batch-forever");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = [0u64; 3];
        let mut got = Vec::new();
        while got.len() < 100 {
            let n = rx.recv_many(&mut out).unwrap();
            got.extend_from_slice(&out[..n]);
        }
        got
    });
    let msgs: Vec<u64> = (0..100).collect();
    let sent = ipc::Tx::send_many_wait(&mut tx, &msgs, ipc::Wait::Forever).unwrap();
    assert_eq!(sent, 100, "all of them, through a ring of 4");
    assert_eq!(reader.join().unwrap(), msgs);
}

#[test]
fn a_batched_receive_skips_the_slot_of_a_dropped_loan() {
    let name = Name::new("batch-skip");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(8)).unwrap();
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    tx.send(1).unwrap();
    drop(tx.loan().unwrap());
    tx.send_all(&[2, 3]).unwrap();
    let mut out = [0u64; 8];
    assert_eq!(
        rx.recv_many(&mut out).unwrap(),
        3,
        "the empty slot is skipped"
    );
    assert_eq!(out[..3], [1, 2, 3]);
}

#[test]
fn a_batch_ends_before_an_invalid_message_which_the_next_receive_reports() {
    let name = Name::new("batch-enum");
    let mut rx = Receiver::<Side>::create(&name.0, Options::new().capacity(8)).unwrap();
    let mut tx = Sender::<Side>::open(&name.0).unwrap();
    tx.send_all(&[Side::Buy, Side::Sell]).unwrap();
    send_invalid_side(&mut tx);
    tx.send_all(&[Side::Sell, Side::Buy]).unwrap();
    send_invalid_side(&mut tx);
    let mut out = [Side::Buy; 8];
    // The two before it, then the refusal (the message is consumed, as `recv` consumes
    // it), then the rest up to the next one, and that one.
    assert_eq!(rx.recv_many(&mut out).unwrap(), 2);
    assert_eq!(out[..2], [Side::Buy, Side::Sell]);
    match rx.recv_many(&mut out) {
        Err(Error::InvalidMessage(e)) => println!("refused: {e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(rx.try_recv_many(&mut out).unwrap(), 2);
    assert_eq!(out[..2], [Side::Sell, Side::Buy]);
    assert!(matches!(
        ipc::Rx::recv(&mut rx),
        Err(Error::InvalidMessage(_))
    ));
    assert!(matches!(rx.try_recv_many(&mut out), Err(Error::Empty)));
}

#[test]
fn a_sender_and_its_clones_in_another_process_deliver_everything_then_disconnect() {
    let name = Name::new("clones");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    let per = 20_000;
    let kid = spawn("cloned-senders", &[&name.0, &per.to_string()]);
    let mut next = [0u64; 4];
    // Ends at Disconnected: only once the opened sender and all three clones have left.
    let total = receive_in_order(&mut rx, &mut next);
    assert_eq!(total, 4 * per);
    assert_eq!(next, [per; 4]);
    kid.assert_success();
}

#[test]
fn the_default_capacity_keeps_a_ring_of_large_messages_within_16_mib() {
    type Frame = [u8; 1 << 20];
    let name = Name::new("footprint");
    let opts = Options::new();
    assert_eq!(opts.capacity_for::<Frame>(), 8);
    let mut rx = Receiver::<Frame>::create(&name.0, opts.clone()).unwrap();
    // What footprint() promised is what the segment reserves.
    let size = std::fs::metadata(name.path()).unwrap().len() as usize;
    assert_eq!(size, opts.footprint::<Frame>().unwrap());
    assert!(size <= ipc::shm::DEFAULT_RING_BYTES + (1 << 16), "{size}");
    // And it holds 8 messages in flight, not more.
    let mut tx = Sender::<Frame>::open(&name.0).unwrap();
    // On the heap: a test thread's stack is no place for a 1 MiB value.
    let frame: Box<Frame> = vec![7u8; 1 << 20].into_boxed_slice().try_into().unwrap();
    for _ in 0..8 {
        tx.send_ref(&frame).unwrap();
    }
    let full = ipc::Tx::send_wait(&mut tx, &frame, ipc::Wait::Now);
    assert!(matches!(full, Err(Error::Full)), "{full:?}");
    assert_eq!(rx.recv().unwrap()[1 << 19], 7);
}

#[test]
fn a_clone_takes_a_sender_place_of_its_own() {
    let name = Name::new("clone-places");
    let rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let first = Sender::<u64>::open(&name.0).unwrap();
    let mut senders: Vec<_> = (1..63).map(|_| first.try_clone().unwrap()).collect();
    assert_eq!(rx.stats().senders_attached, 63);
    match first.try_clone() {
        Err(Error::Busy { .. }) => {}
        other => panic!("a 64th sender: {other:?}"),
    }
    // A place freed by a leaving clone is taken again.
    senders.pop();
    senders.push(first.try_clone().unwrap());
    assert_eq!(rx.stats().senders_attached, 63);
}

fn four_senders_in_order(tag: &str, capacity: usize, per: u64) {
    let name = Name::new(tag);
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(capacity)).unwrap();
    let kids: Vec<_> = (0..4u64)
        .map(|id| spawn("sender", &[&name.0, &id.to_string(), &per.to_string()]))
        .collect();
    let mut next = [0u64; 4];
    let total = receive_in_order(&mut rx, &mut next);
    assert_eq!(total, 4 * per);
    assert_eq!(next, [per; 4]);
    assert_eq!(rx.stats().lost, 0);
    for k in kids {
        k.assert_success();
    }
}

/// Receives `id << 40 | i` messages until every sender is gone, checking that each sender's
/// `i` comes in order from `next[id]` (which it advances); returns how many arrived.
fn receive_in_order(rx: &mut Receiver<u64>, next: &mut [u64]) -> u64 {
    let mut total = 0;
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(s) => {
                let (id, i) = ((*s >> 40) as usize, *s & ((1 << 40) - 1));
                assert_eq!(i, next[id], "sender {id} out of order");
                next[id] += 1;
                total += 1;
            }
            Err(Error::Disconnected) => return total,
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn a_second_sender_process_revokes_a_streaming_senders_bias_and_order_holds() {
    use nix::sys::signal::Signal;
    let name = Name::new("bias");
    let per = 50_000u64;
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    let first = spawn("sender", &[&name.0, "0", &per.to_string()]);
    // The first sender is alone: it biases the ring to itself at its first claim.
    assert_eq!(*rx.recv_timeout(Duration::from_secs(10)).unwrap(), 0);
    let biased = rx.stats().bias_taken;
    let mut next = [1u64, 0];
    let mut drain = |rx: &mut Receiver<u64>| {
        while let Ok(s) = rx.try_recv() {
            let (id, i) = ((*s >> 40) as usize, *s & ((1 << 40) - 1));
            assert_eq!(i, next[id], "sender {id} out of order");
            next[id] += 1;
        }
    };
    // Stop it mid-stream, alive and holding the bias, and make room: the second sender
    // must revoke the bias of a live holder (a stopped one, which is still alive).
    first.signal(Signal::SIGSTOP);
    drain(&mut rx);
    let second = spawn("sender", &[&name.0, "1", &per.to_string()]);
    let start = std::time::Instant::now();
    while rx.stats().bias_revoked < biased && start.elapsed() < Duration::from_secs(10) {
        drain(&mut rx);
        std::thread::sleep(Duration::from_millis(1));
    }
    first.signal(Signal::SIGCONT);
    receive_in_order(&mut rx, &mut next);
    assert_eq!(next, [per; 2]);
    first.assert_success();
    second.assert_success();
    let stats = rx.stats();
    println!("{stats:?}");
    // Without `membarrier` (an old kernel, a seccomp filter) nobody takes the bias.
    assert!(biased <= 1);
    // The second sender revoked the stopped holder's bias. Then each takes it again
    // whenever the other has not claimed for a while (a sender looks every 4,096
    // positions), and the other revokes it when it claims: every revoke follows a take.
    assert!(stats.bias_revoked >= biased, "{stats:?}");
    assert!(stats.bias_revoked <= stats.bias_taken, "{stats:?}");
    assert_eq!(stats.lost, 0);
}

/// True once process `pid` is stopped by a signal.
fn stopped(pid: u32) -> bool {
    common::state_in(&format!("/proc/{pid}/stat")) == 'T'
}

#[test]
fn a_sender_stopped_holding_a_loan_holds_the_channel_up_and_loses_nothing() {
    let name = Name::new("stopped-loan");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut first = spawn("sender-stopped-holding-a-loan", &[&name.0]);
    first.wait_ready();
    while !stopped(first.id()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(*rx.recv().unwrap(), 0);
    // Messages are received in the order their slots were claimed: the stopped sender's
    // claimed slot comes next, so the receiver waits for it, and once the other sender
    // has filled the rest of the ring, that sender waits too.
    let mut second = spawn("sender", &[&name.0, "1", "20"]);
    assert!(rx
        .recv_timeout(Duration::from_millis(200))
        .is_err_and(|e| e.is_timeout()));
    assert!(
        second.child().try_wait().unwrap().is_none(),
        "twenty in four slots"
    );
    // A stopped process is alive: its slot is waited for, never skipped as a dead one's.
    assert_eq!(rx.stats().lost, 0);
    first.signal(nix::sys::signal::Signal::SIGCONT);
    // The loan arrives first (its slot was claimed first), then the other sender's
    // messages and the stopped sender's last one, each sender's in order.
    assert_eq!(*rx.recv_timeout(Duration::from_secs(30)).unwrap(), 1);
    let mut next = [2u64, 0];
    receive_in_order(&mut rx, &mut next);
    assert_eq!(next, [3, 20]);
    first.assert_success();
    second.assert_success();
}

#[test]
fn loans_are_zero_copy_and_a_dropped_loan_sends_nothing() {
    let name = Name::new("loan");
    let mut rx = Receiver::<[u64; 8]>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut tx = Sender::<[u64; 8]>::open(&name.0).unwrap();
    let mut loan = tx.loan().unwrap();
    loan.write([7; 8]);
    loan.send();
    drop(tx.loan().unwrap());
    tx.send([9; 8]).unwrap();
    {
        let s = rx.recv().unwrap();
        assert_eq!(*s, [7; 8]);
    }
    assert_eq!(*rx.recv().unwrap(), [9; 8]);
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    // A full ring: try_send and try_loan say Full and hand the message back.
    for _ in 0..4 {
        tx.try_send([1; 8]).unwrap();
    }
    let e = tx.try_send([2; 8]).unwrap_err();
    assert!(e.is_full());
    assert_eq!(e.into_inner(), [2; 8]);
    assert!(matches!(tx.try_loan(), Err(Error::Full)));
    assert!(tx
        .send_timeout([3; 8], Duration::from_millis(10))
        .unwrap_err()
        .is_full());
    assert_eq!(*rx.recv_timeout(Duration::from_millis(1)).unwrap(), [1; 8]);
}

#[test]
fn second_receiver_is_refused_and_closing_it_disconnects_senders() {
    let name = Name::new("roles");
    let rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::Busy { .. })
    ));
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    drop(rx);
    assert!(tx.send(1).unwrap_err().is_disconnected());
    assert!(matches!(
        Sender::<u64>::create(&name.0, Options::new()),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        Sender::<u64>::open(&common::unique("never-created")),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        Sender::<u64>::open("bad/name"),
        Err(Error::InvalidName { .. })
    ));
}

#[test]
fn segment_mode_is_applied_regardless_of_umask_and_checked_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let name = Name::new("mode");
    let _rx = Receiver::<u64>::create(&name.0, Options::new().mode(0o640)).unwrap();
    let mode = std::fs::metadata(name.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    // The default opener allows only 0600: a group-readable segment is refused.
    assert!(matches!(
        Sender::<u64>::open(&name.0),
        Err(Error::Untrusted { mode: 0o640, .. })
    ));
    assert!(Sender::<u64>::open_with(&name.0, Options::new().mode(0o640)).is_ok());
}

#[test]
fn memfd_channel_to_a_child_that_inherits_the_descriptor() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    const N: u64 = 200;
    let mut tx = Sender::<[u64; 512]>::create(
        "memfd-test",
        Options::new().capacity(8).backing(Backing::Memfd),
    )
    .unwrap();
    let fd = tx.share_fd().unwrap();
    let raw = fd.as_raw_fd();
    let kid = spawn_with(
        "memfd-receiver",
        &[&raw.to_string(), &N.to_string()],
        |cmd| {
            // SAFETY: between fork and exec only async-signal-safe calls: one fcntl that
            // clears close-on-exec on the descriptor we hand over.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::fcntl(raw, libc::F_SETFD, 0) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    drop(fd);
    for i in 0..N {
        let mut loan = tx.loan_timeout(Duration::from_secs(20)).unwrap();
        loan.write([i; 512]);
        loan.send();
    }
    drop(tx);
    kid.assert_success();
}

#[test]
fn open_or_create_lets_peers_start_in_any_order() {
    let name = Name::new("either");
    let mut tx = Sender::<u32>::open_or_create(&name.0, Options::new()).unwrap();
    let mut rx = Receiver::<u32>::open_or_create(&name.0, Options::new()).unwrap();
    tx.send(5).unwrap();
    assert_eq!(*rx.recv().unwrap(), 5);
    assert_eq!(rx.len(), 0);
}

/// Busy-waits 0 to 15 µs, a different amount each round, so the two racing processes meet
/// at every offset of each other's start-up.
fn jitter(round: u32, seed: u32) {
    let until = std::time::Instant::now()
        + Duration::from_nanos(
            u64::from(round.wrapping_mul(seed).wrapping_mul(2_654_435_761) >> 16) % 16_000,
        );
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Two processes call `open_or_create` on the same names at the same moment, round after
/// round (each round's reply sets them off together): whichever creates, the other must
/// open it, even in the instant after the creator named its file.
#[test]
fn open_or_create_from_two_processes_at_once_never_fails() {
    const ROUNDS: u32 = 1000;
    let base = Name::new("race");
    let names: Vec<Name> = (0..ROUNDS)
        .flat_map(|r| [format!("{}-a{r}", base.0), format!("{}-b{r}", base.0)])
        .map(Name)
        .collect();
    let kid = spawn("racing-peer", &[&base.0, &ROUNDS.to_string()]);
    for r in 0..ROUNDS {
        jitter(r, 7);
        let mut tx = Sender::<u32>::open_or_create(&names[2 * r as usize].0, Options::new())
            .unwrap_or_else(|e| panic!("round {r}: {e}"));
        let mut rx = Receiver::<u32>::open_or_create(&names[2 * r as usize + 1].0, Options::new())
            .unwrap_or_else(|e| panic!("round {r}: {e}"));
        tx.send(r).unwrap();
        // A peer that failed to open never replies: time out rather than wait forever.
        let got = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(*got.unwrap_or_else(|e| panic!("round {r}: {e}")), r);
    }
    kid.assert_success();
    for n in &names {
        assert!(
            !std::path::Path::new(&n.path()).exists(),
            "{} left behind",
            n.0
        );
    }
}

#[test]
fn sysv_channel_between_processes_is_freed_by_the_kernel_after_the_last_detach() {
    const N: u32 = 2000;
    let name = Name::new("sysv");
    let mut rx =
        Receiver::<[u32; 16]>::create(&name.0, Options::new().capacity(16).backing(Backing::SysV))
            .unwrap();
    let reg = std::fs::read(name.path()).unwrap();
    assert_eq!(&reg[..8], b"IPC-SYSV");
    let id = i64::from_le_bytes(reg[8..16].try_into().unwrap()) as i32;
    let kid = spawn("sysv-sender", &[&name.0, &N.to_string()]);
    for i in 0..N {
        assert_eq!(*rx.recv_timeout(Duration::from_secs(20)).unwrap(), [i; 16]);
    }
    assert!(rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_err()
        .is_disconnected());
    kid.assert_success();
    drop(rx);
    assert!(!std::path::Path::new(&name.path()).exists());
    // SAFETY: IPC_STAT into a zeroed struct we own; the id may no longer exist.
    let gone = unsafe {
        let mut ds: libc::shmid_ds = std::mem::zeroed();
        libc::shmctl(id, libc::IPC_STAT, &mut ds) != 0
    };
    assert!(gone, "the System V segment outlived its last participant");
}
