//! Publish-subscribe on shared memory between real processes: this test binary re-run as
//! `child` plays subscribers and publishers (one each per process), SIGKILLed where a
//! test says so.

use std::time::Duration;

use ipc::shm::{Options, Overflow, Publisher, Subscriber};
use ipc::Error;

mod common;
use common::{ready, Proc, ShmName as Name};

const ROLE: &str = "SHM_PUBSUB_ROLE";

/// The child entry point: does nothing unless `SHM_PUBSUB_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["all-in-order", name, n] => {
            // Receives `n` samples, each the next number, then the end.
            let n: u64 = n.parse().unwrap();
            let mut rx = Subscriber::<u64>::open(name).unwrap();
            ready();
            for i in 0..n {
                assert_eq!(*rx.recv().unwrap(), i, "sample {i}");
            }
            assert!(matches!(rx.recv(), Err(Error::Disconnected)));
            assert_eq!(rx.missed(), 0);
        }
        ["every-sample", name, n] => {
            // As "all-in-order", failing on the first sample that is not the next one.
            let n: u64 = n.parse().unwrap();
            let mut rx = Subscriber::<u64>::open(name).unwrap();
            ready();
            receive_each(&mut rx, n, |_| {});
        }
        ["acking", name, acks, n] => {
            // Receives `n` samples, each the next number, acknowledging each one on the
            // channel `acks` before the publisher sends the next.
            let n: u64 = n.parse().unwrap();
            let mut rx = Subscriber::<u64>::open(name).unwrap();
            let mut ack = ipc::shm::Sender::<u64>::open(acks).unwrap();
            ready();
            receive_each(&mut rx, n, |i| ack.send(i).unwrap());
            assert_eq!(rx.missed(), 0);
        }
        ["before-the-publisher", name, n] => {
            // Subscribes before any publisher exists, busy-polling, so that it looks at
            // the publisher's flags as often as it can while one attaches.
            let n: u64 = n.parse().unwrap();
            let opts = Options::new().wait(ipc::sync::WaitStrategy::Spin);
            let mut rx = Subscriber::<u64>::open_or_create(name, opts).unwrap();
            ready();
            for i in 0..n {
                let got = rx.recv().map(|v| *v);
                assert_eq!(got.unwrap(), i, "sample {i}");
            }
            assert!(matches!(rx.recv(), Err(Error::Disconnected)));
        }
        ["scribbler", path, seed, writes] => {
            // A hostile peer: random 8-byte words at random offsets of the live segment
            // (header, cursors, entries, chunk map, samples), a little at a time.
            use std::os::unix::fs::FileExt;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap();
            let len = file.metadata().unwrap().len();
            let mut x: u64 = seed.parse().unwrap();
            let mut next = || {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                x.wrapping_mul(0x2545_f491_4f6c_dd1d)
            };
            ready();
            for _ in 0..writes.parse::<u32>().unwrap() {
                let at = (next() % (len - 8)) & !7;
                let word = match next() % 4 {
                    0 => 0,
                    1 => u64::MAX,
                    2 => next() % 1024,
                    _ => next(),
                };
                file.write_at(&word.to_le_bytes(), at).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        ["tolerant", name] => {
            // An honest subscriber beside the scribbler: every call returns, with a sample
            // or a typed error, for two seconds.
            let mut rx = Subscriber::<[u64; 4]>::open(name).unwrap();
            ready();
            let until = std::time::Instant::now() + Duration::from_secs(2);
            let (mut ok, mut errors) = (0u64, 0u64);
            while std::time::Instant::now() < until {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Ok(_) => ok += 1,
                    Err(_) => errors += 1,
                }
            }
            println!("tolerant ok {ok} errors {errors}");
        }
        ["history", name] => {
            let mut rx = Subscriber::<u64>::open(name).unwrap();
            let mut got = Vec::new();
            while let Ok(v) = rx.try_recv() {
                got.push(*v);
            }
            println!("history {got:?}");
        }
        ["slow", name] => {
            // Reads slowly until the end; says what it saw and what it missed.
            let mut rx = Subscriber::<u64>::open(name).unwrap();
            ready();
            let (mut seen, mut missed, mut last) = (0u64, 0u64, None::<u64>);
            loop {
                match rx.recv() {
                    Ok(v) => {
                        assert!(last.is_none_or(|l| *v > l), "{} after {last:?}", *v);
                        last = Some(*v);
                        seen += 1;
                        if seen % 64 == 0 {
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    Err(Error::Lagged(n)) => missed += n,
                    Err(Error::Disconnected) => break,
                    Err(e) => panic!("{e:?}"),
                }
            }
            assert_eq!(rx.missed(), missed);
            println!("seen {seen} missed {missed} last {last:?}");
        }
        ["stuck", name] => {
            // Subscribes, then never reads.
            let _rx = Subscriber::<u64>::open(name).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["publish-then-hang", name, n] => {
            let n: u64 = n.parse().unwrap();
            let mut tx = Publisher::<u64>::open(name).unwrap();
            for i in 0..n {
                tx.send(i).unwrap();
            }
            ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        _ => panic!("unknown role {role}"),
    }
}

fn spawn(role: &str) -> Proc {
    let mut p = Proc::spawn(ROLE, role);
    p.wait_ready();
    p
}

/// Receives `n` samples, each the next number, calling `after(i)` once sample `i` is
/// checked; fails on the first sample that is not the next one, naming what came.
fn receive_each(rx: &mut Subscriber<u64>, n: u64, mut after: impl FnMut(u64)) {
    for i in 0..n {
        match rx.recv().map(|v| *v) {
            Ok(v) => assert_eq!(v, i, "sample {i}"),
            Err(e) => panic!("sample {i}: {e:?} (missed {})", rx.missed()),
        }
        after(i);
    }
}

/// Waits for the child to exit successfully; what it printed.
fn output(kid: Proc) -> String {
    let (status, out) = kid.finish();
    assert!(status.success(), "child failed: {status}\n{out}");
    out
}

/// What follows `tag` on the child's line that has it (the harness may print first).
fn line_of(out: &str, tag: &str) -> String {
    out.lines()
        .find_map(|l| l.split_once(tag).map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no `{tag}` in the child's output:\n{out}"))
        .trim()
        .to_owned()
}

#[test]
fn three_subscribers_each_get_every_sample_in_order() {
    let name = Name::new("ps-three");
    let n = 1_000_000u64;
    let mut tx = Publisher::<u64>::create(&name.0, Options::new().capacity(256)).unwrap();
    let subs: Vec<Proc> = (0..3)
        .map(|_| spawn(&format!("all-in-order {} {n}", name.0)))
        .collect();
    assert_eq!(tx.subscribers(), 3);
    for i in 0..n {
        tx.send(i).unwrap();
    }
    drop(tx);
    for s in subs {
        s.assert_success();
    }
    assert!(!std::path::Path::new(&name.path()).exists(), "removed");
}

#[test]
fn a_late_subscriber_gets_exactly_the_last_k_first() {
    let name = Name::new("ps-history");
    let opts = Options::new().capacity(64).history(5);
    let mut tx = Publisher::<u64>::create(&name.0, opts).unwrap();
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    let kid = Proc::spawn(ROLE, &format!("history {}", name.0));
    let out = output(kid);
    assert_eq!(line_of(&out, "history "), "[95, 96, 97, 98, 99]");
}

#[test]
fn drop_oldest_counts_exactly_what_a_slow_subscriber_skipped() {
    let name = Name::new("ps-drop");
    let opts = Options::new().capacity(64).overflow(Overflow::DropOldest);
    let mut tx = Publisher::<u64>::create(&name.0, opts).unwrap();
    let kid = spawn(&format!("slow {}", name.0));
    let n = 200_000u64;
    for i in 0..n {
        // Never waits, whatever the subscriber does.
        tx.try_send(i).unwrap();
    }
    drop(tx);
    let out = output(kid);
    let fields: Vec<String> = line_of(&out, "seen ")
        .split(' ')
        .map(str::to_owned)
        .collect();
    let seen: u64 = fields[0].parse().unwrap();
    let missed: u64 = fields[2].parse().unwrap();
    assert_eq!(seen + missed, n, "{out}");
    assert!(missed > 0, "the subscriber was slow: {out}");
    assert_eq!(
        fields[4],
        format!("Some({})", n - 1),
        "the last sample arrives"
    );
}

/// A subscriber of a `DropOldest` topic that keeps up (it waits in `recv` for each sample
/// before the publisher sends the next) gets every sample from the first on, in every
/// lap, and is never told it lagged.
#[test]
fn drop_oldest_loses_nothing_for_a_subscriber_that_keeps_up() {
    let name = Name::new("ps-keepup");
    let acks = Name::new("ps-keepup-acks");
    let opts = Options::new().capacity(8).overflow(Overflow::DropOldest);
    let mut tx = Publisher::<u64>::create(&name.0, opts).unwrap();
    let mut ack = ipc::shm::Receiver::<u64>::create(&acks.0, Options::new()).unwrap();
    let n = 40u64;
    let kid = spawn(&format!("acking {} {} {n}", name.0, acks.0));
    for i in 0..n {
        tx.send(i).unwrap();
        assert_eq!(*ack.recv_timeout(Duration::from_secs(30)).unwrap(), i);
    }
    drop(tx);
    kid.assert_success();
}

#[test]
fn a_drop_oldest_sample_two_subscribers_hold_keeps_its_bytes() {
    let name = Name::new("ps-twoheld");
    let opts = Options::new().capacity(8).overflow(Overflow::DropOldest);
    let mut tx = Publisher::<u64>::create(&name.0, opts).unwrap();
    let mut first = Subscriber::<u64>::open(&name.0).unwrap();
    let mut second = Subscriber::<u64>::open(&name.0).unwrap();
    tx.send(0).unwrap();
    let held = first.recv().unwrap();
    let mut other = second.recv().unwrap();
    for i in 1..8 {
        tx.send(i).unwrap();
    }
    // Each sample from now on replaces the one the second subscriber holds, which then
    // takes the next: chunks leave the ring for it and come back, never the first one's.
    for i in 8..48 {
        tx.send(i).unwrap();
        assert_eq!(*held, 0, "after sample {i}");
        assert_eq!(*other, i - 8);
        drop(other);
        other = second.recv().unwrap();
    }
}

#[test]
fn a_killed_subscriber_stops_holding_a_blocked_publisher_back() {
    let name = Name::new("ps-killsub");
    let mut tx = Publisher::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut stuck = spawn(&format!("stuck {}", name.0));
    for i in 0..16 {
        tx.send(i).unwrap();
    }
    assert!(matches!(tx.try_send(16).unwrap_err().error(), Error::Full));
    assert!(matches!(
        tx.send_timeout(16, Duration::from_millis(50))
            .unwrap_err()
            .error(),
        Error::Timeout(_)
    ));
    stuck.kill();
    // The dead subscriber no longer counts: the publisher goes on.
    tx.send_timeout(16, Duration::from_secs(10)).unwrap();
    for i in 17..100 {
        tx.try_send(i).unwrap();
    }
}

#[test]
fn subscribers_of_a_killed_publisher_drain_then_hear_it() {
    let name = Name::new("ps-killpub");
    let mut rx = Subscriber::<u64>::open_or_create(&name.0, Options::new().capacity(64)).unwrap();
    let mut publisher = spawn(&format!("publish-then-hang {} 10", name.0));
    publisher.kill();
    for i in 0..10 {
        assert_eq!(*rx.recv_timeout(Duration::from_secs(10)).unwrap(), i);
    }
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(10)),
        Err(Error::Disconnected)
    ));
}

#[test]
fn a_drop_oldest_publisher_restarted_after_sigkill_never_writes_a_held_sample() {
    let name = Name::new("ps-restart");
    let opts = Options::new().capacity(8).overflow(Overflow::DropOldest);
    let mut rx = Subscriber::<u64>::open_or_create(&name.0, opts.clone()).unwrap();
    let mut first = spawn(&format!("publish-then-hang {} 8", name.0));
    let held = rx.recv().unwrap();
    assert_eq!(*held, 0);
    first.kill();
    // The subscriber keeps the topic: the restarted publisher opens it, and its first
    // sample replaces position 0, which the subscriber still holds.
    let mut tx = Publisher::<u64>::open_or_create(&name.0, opts).unwrap();
    assert_eq!(tx.published(), 8);
    tx.send(8).unwrap();
    assert_eq!(*held, 0, "the held sample keeps its bytes");
    drop(held);
    for i in 1..9 {
        assert_eq!(*rx.recv().unwrap(), i);
    }
    assert_eq!(rx.missed(), 0);
}

#[test]
fn a_restarted_drop_oldest_publisher_s_unsent_loan_is_never_received() {
    let name = Name::new("ps-reloan");
    let opts = Options::new().capacity(8).overflow(Overflow::DropOldest);
    let mut rx = Subscriber::<u64>::open_or_create(&name.0, opts.clone()).unwrap();
    spawn(&format!("publish-then-hang {} 8", name.0)).kill();
    let mut tx = Publisher::<u64>::open_or_create(&name.0, opts).unwrap();
    let mut loan = tx.loan().unwrap();
    loan.write(7777);
    // The loan replaces position 0, unread: that one is gone, and the loan's bytes are
    // no sample until it is sent.
    let first = rx.try_recv().map(|v| *v);
    assert!(matches!(first, Err(Error::Lagged(1))), "{first:?}");
    for i in 1..8 {
        assert_eq!(*rx.try_recv().unwrap(), i);
    }
    assert!(matches!(rx.try_recv().map(|v| *v), Err(Error::Empty)));
    loan.send();
    assert_eq!(*rx.try_recv().unwrap(), 7777);
}

#[test]
fn a_subscriber_waiting_for_a_publisher_is_not_told_it_left_while_it_attaches() {
    // The publisher attaching while the subscriber polls: 100 times, every sample arrives
    // and `Disconnected` comes only after the publisher leaves.
    for _ in 0..100 {
        let name = Name::new("ps-before");
        let kid = spawn(&format!("before-the-publisher {} 10", name.0));
        let mut tx = Publisher::<u64>::open_with(
            &name.0,
            Options::new().open_timeout(Duration::from_secs(10)),
        )
        .unwrap();
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        drop(tx);
        kid.assert_success();
    }
}

#[test]
fn a_peer_that_scribbles_on_a_live_topic_causes_typed_errors_only() {
    // Under each overflow policy: a publisher and two subscriber processes run for two
    // seconds while a third process writes random words over the segment. Every call of
    // the honest ones returns (bounded waits), with a sample or a typed error; none
    // panics or hangs, and nothing is left behind.
    // A seed of this run's (the scribbler's command line shows it in a failure's output).
    let base = u64::from(std::process::id()) << 8;
    for (overflow, seed) in [
        (Overflow::Block, base | 1),
        (Overflow::DropOldest, base | 2),
    ] {
        let name = Name::new("ps-hostile");
        let opts = Options::new()
            .capacity(64)
            .max_subscribers(3)
            .overflow(overflow);
        let mut tx = Publisher::<[u64; 4]>::create(&name.0, opts).unwrap();
        let subs: Vec<Proc> = (0..2)
            .map(|_| spawn(&format!("tolerant {}", name.0)))
            .collect();
        let scribbler = spawn(&format!("scribbler {} {seed} 2000", name.path()));
        let until = std::time::Instant::now() + Duration::from_secs(2);
        let (mut ok, mut errors, mut i) = (0u64, 0u64, 0u64);
        while std::time::Instant::now() < until {
            match tx.send_timeout([i; 4], Duration::from_millis(20)) {
                Ok(()) => ok += 1,
                Err(_) => errors += 1,
            }
            i += 1;
        }
        assert!(ok + errors > 0);
        drop(tx);
        for kid in subs {
            output(kid);
        }
        output(scribbler);
    }
}

#[test]
fn list_names_every_segment_with_its_pattern_schema_and_who_is_attached() {
    use ipc::shm::{Attached, Pattern, Role};
    let (topic, chan) = (Name::new("ps-list-topic"), Name::new("ps-list-chan"));
    let opts = Options::new().capacity(128).max_subscribers(5);
    let tx = Publisher::<u64>::create(&topic.0, opts).unwrap();
    let mut sub = spawn(&format!("stuck {}", topic.0));
    let rx = ipc::shm::Receiver::<[u32; 2]>::create(&chan.0, Options::new().capacity(16)).unwrap();
    let _s1 = ipc::shm::Sender::<[u32; 2]>::open(&chan.0).unwrap();
    let _s2 = ipc::shm::Sender::<[u32; 2]>::open(&chan.0).unwrap();
    let all = ipc::shm::list().unwrap();
    let find = |name: &str| all.iter().find(|l| l.name == name).cloned();

    let t = find(&topic.0).expect("the topic is listed");
    assert_eq!(t.pattern, Pattern::Topic);
    let schema = t.schema.as_ref().unwrap();
    assert_eq!(schema.fingerprint, ipc::SchemaId::of::<u64>().fingerprint);
    assert_eq!((t.capacity, t.max_subscribers), (128, 5));
    assert_eq!(
        t.attached,
        Attached::Topic {
            publishers: 1,
            subscribers: 1
        }
    );
    assert!(t.ready && !t.is_abandoned());

    let c = find(&chan.0).expect("the channel is listed");
    assert_eq!(c.pattern, Pattern::Channel);
    assert_eq!(c.schema.unwrap().name, ipc::SchemaId::of::<[u32; 2]>().name);
    assert_eq!(c.capacity, 16);
    assert_eq!(
        c.attached,
        Attached::Channel {
            receivers: 1,
            senders: 2
        }
    );

    assert_eq!(c.participants.len(), 3);
    assert!(c
        .participants
        .iter()
        .all(|p| p.alive && p.pid == Some(std::process::id())));
    assert_eq!(c.owner, nix::unistd::geteuid().as_raw());
    assert_eq!(c.mode, 0o600);

    // Killed, the subscriber no longer counts, and shows as dead with its pid; dropped,
    // the topic is gone from the list.
    let pid = sub.id();
    sub.kill();
    let t = ipc::shm::list()
        .unwrap()
        .into_iter()
        .find(|l| l.name == topic.0)
        .unwrap();
    assert_eq!(
        t.attached,
        Attached::Topic {
            publishers: 1,
            subscribers: 0
        }
    );
    let roles: Vec<_> = t
        .participants
        .iter()
        .map(|p| (p.role, p.pid, p.alive))
        .collect();
    assert_eq!(
        roles,
        [
            (Role::Publisher, Some(std::process::id()), true),
            (Role::Subscriber, Some(pid), false)
        ]
    );
    drop(tx);
    drop(rx);
    assert!(!ipc::shm::list().unwrap().iter().any(|l| l.name == topic.0));
}

/// A count of joins written over with `u64::MAX` by a peer that does not follow the
/// protocol: the next subscriber still joins with a join number (never 0, the value
/// that means "not attached"), is counted by the publisher and receives.
#[test]
fn a_join_count_at_its_maximum_still_gives_the_next_subscriber_a_join_number() {
    use std::os::unix::fs::FileExt;
    let name = Name::new("ps-joins");
    let mut tx = Publisher::<u64>::create(&name.0, Options::new().capacity(8)).unwrap();
    drop(Subscriber::<u64>::open(&name.0).unwrap());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    // The header's `body_offset` word (byte 128) says where the topic's control lines
    // start; `state` is the sixth line, `joins` its second word.
    let mut word = [0u8; 8];
    file.read_exact_at(&mut word, 128).unwrap();
    let joins_at = u64::from_ne_bytes(word) + 5 * 64 + 8;
    file.read_exact_at(&mut word, joins_at).unwrap();
    assert_eq!(
        u64::from_ne_bytes(word),
        1,
        "the count of joins is at {joins_at}"
    );
    file.write_all_at(&u64::MAX.to_ne_bytes(), joins_at)
        .unwrap();
    let mut rx = Subscriber::<u64>::open(&name.0).unwrap();
    assert_eq!(tx.subscribers(), 1, "attached");
    tx.send(7).unwrap();
    assert_eq!(*rx.recv().unwrap(), 7);
}

#[test]
fn a_topic_has_one_publisher_and_its_type_is_checked() {
    let name = Name::new("ps-one");
    let _tx = Publisher::<u64>::create(&name.0, Options::new()).unwrap();
    assert!(matches!(
        Publisher::<u64>::open(&name.0),
        Err(Error::Busy { .. })
    ));
    assert!(matches!(
        Subscriber::<u32>::open(&name.0),
        Err(Error::SchemaMismatch { .. })
    ));
    // A channel is not a topic, nor the other way round.
    assert!(matches!(
        ipc::shm::Receiver::<u64>::open(&name.0),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn a_subscriber_past_the_maximum_is_refused() {
    let name = Name::new("ps-max");
    let _tx = Publisher::<u64>::create(&name.0, Options::new().max_subscribers(2)).unwrap();
    let _a = Subscriber::<u64>::open(&name.0).unwrap();
    let _b = Subscriber::<u64>::open(&name.0).unwrap();
    let e = Subscriber::<u64>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e}");
    // It says what sets the maximum.
    assert!(e.to_string().contains("Options::max_subscribers"), "{e}");
}

/// Many short rounds of `Block` with a small ring and three subscriber processes sharing
/// the machine's CPUs with the publisher (it waits for descheduled ones, probes their
/// liveness, and must never give up on a live one): every sample reaches every
/// subscriber, in order. Run long with `PUBSUB_STRESS_ROUNDS=500 cargo test --release
/// --test shm_pubsub -- --ignored block_stress`.
#[test]
#[ignore]
fn block_stress() {
    let rounds: usize = std::env::var("PUBSUB_STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for round in 0..rounds {
        let name = Name::new("ps-stress");
        let n = 200_000u64;
        let opts = Options::new().capacity(16).max_subscribers(3);
        let mut tx = Publisher::<u64>::create(&name.0, opts).unwrap();
        let subs: Vec<Proc> = (0..3)
            .map(|_| spawn(&format!("every-sample {} {n}", name.0)))
            .collect();
        for i in 0..n {
            tx.send(i).unwrap();
        }
        drop(tx);
        for s in subs {
            let (status, out) = s.finish();
            assert!(status.success(), "round {round}: {out}");
        }
    }
}

/// A FIFO named like a segment (anyone may make one in `/dev/shm`) is no segment:
/// listing passes it by at once, where opening it for reading would wait for a writer
/// for ever.
#[test]
fn listing_passes_by_a_fifo_named_like_a_segment() {
    struct Removed(Vec<String>);
    impl Drop for Removed {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let seg = common::unique("fifo-seg");
    let paths = vec![format!("/dev/shm/ipc.{seg}")];
    let _removed = Removed(paths.clone());
    for p in &paths {
        nix::unistd::mkfifo(p.as_str(), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(ipc::shm::list().unwrap()).unwrap());
    let shm = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("listing waited on a FIFO");
    assert!(!shm.iter().any(|l| l.name == seg));
}
