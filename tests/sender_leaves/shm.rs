//! Shared memory: what a sender that leaves (closes, is killed, lingers) leaves to a
//! consumer that comes later, and what `close` and the sweep report and keep.

use super::*;

#[test]
fn a_late_consumer_receives_what_a_departed_producer_sent_then_disconnected() {
    let name = Name::new("late");
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    // The producer is gone; its channel stayed for a receiver.
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    // The consumer, the last to leave, removed it.
    assert!(!exists(&name));
    // The same with a consumer that would have created the channel if it did not exist.
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    Kid::spawn(&format!("shm-consume-open-or-create {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn a_producer_killed_with_unread_messages_leaves_them_to_a_late_consumer() {
    let name = Name::new("killed");
    let status = {
        let mut kid = Kid::spawn(&format!("shm-produce-then-die {}", name.0));
        common::wait_at_most(&mut kid.child, HANG).unwrap()
    };
    assert!(!status.success());
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn close_reports_exactly_how_many_no_consumer_came_to_read() {
    let name = Name::new("close-alone");
    let mut kid = Kid::spawn(&format!("shm-produce-close {} 50", name.0));
    assert_eq!(kid.expect("closed"), format!("unread {N} discarded true"));
    kid.finish();
    // Discarded means removed: a consumer started afterwards finds nothing.
    assert!(!exists(&name));
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn close_waits_for_a_consumer_that_comes_and_reads_everything() {
    let name = Name::new("close-waits");
    let mut producer = Kid::spawn(&format!("shm-produce-close {} 60000", name.0));
    producer.wait_ready();
    let consumer = Kid::spawn(&format!("shm-consume {}", name.0));
    assert_eq!(producer.expect("closed"), "all-read");
    producer.finish();
    consumer.finish();
    assert!(!exists(&name));
}

#[test]
fn a_consumer_that_opens_first_with_an_open_timeout_waits_for_the_channel() {
    let name = Name::new("appear");
    let mut consumer = Kid::spawn(&format!("shm-consume-when-created {}", name.0));
    consumer.wait_ready();
    // The producer waits for its receiver before sending (nothing would be lost if it did
    // not: this is for a producer that wants one there first).
    let mut producer = Kid::spawn(&format!("shm-produce-on-arrival {}", name.0));
    assert_eq!(producer.expect("closed"), "all-read");
    producer.finish();
    consumer.finish();
    assert!(!exists(&name));
}

#[test]
fn a_killed_waiting_consumer_leaves_nothing_behind_or_what_it_left_is_reclaimed() {
    // Waiting for the channel to appear creates nothing.
    let name = Name::new("wait-killed");
    let mut kid = Kid::spawn(&format!("shm-wait-for-ever {}", name.0));
    kid.wait_ready();
    kid.kill();
    assert!(!exists(&name));

    // A consumer that created the channel (open_or_create) and was killed waiting in it
    // leaves it behind, owing nobody anything: the next run reclaims it.
    let name = Name::new("ooc-killed");
    let mut kid = Kid::spawn(&format!("shm-open-or-create-and-wait {}", name.0));
    kid.wait_ready();
    kid.kill();
    assert!(exists(&name));
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn a_lingering_channel_is_not_reclaimed_before_its_linger_is_over_and_is_after() {
    let name = Name::new("linger");
    let linger = Duration::from_millis(300);
    Kid::spawn(&format!("shm-produce {} {}", name.0, linger.as_millis())).finish();
    // The producer's linger began before this instant.
    let left = std::time::Instant::now();
    // Within the linger, a `create` of the name does not reclaim it (a machine so slow
    // that the linger is over already proves nothing here, and goes on).
    match Sender::<u64>::create(&name.0, Options::new()) {
        Err(Error::AlreadyExists { .. }) => {}
        Ok(tx) if left.elapsed() >= linger => drop(tx),
        other => panic!("{other:?}"),
    }
    // Once it is over, `create` does.
    std::thread::sleep(linger.saturating_sub(left.elapsed()) + Duration::from_millis(10));
    let tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    assert_eq!(tx.unread(), 0);
}

#[test]
fn a_system_v_channel_cannot_linger_and_close_counts_what_goes_with_it() {
    use ipc::shm::Backing;
    let name = Name::new("sysv");
    let opts = Options::new().capacity(16).backing(Backing::SysV);
    let mut tx = Sender::<u64>::create(&name.0, opts.clone()).unwrap();
    tx.send(1).unwrap();
    // Its memory goes with its last process: dropping the only sender removes it all.
    drop(tx);
    assert!(!exists(&name));
    let mut tx = Sender::<u64>::create(&name.0, opts).unwrap();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    let u = tx.close(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, true));
    assert!(!exists(&name));
}

#[test]
fn a_zero_linger_discards_at_once() {
    let name = Name::new("no-linger");
    Kid::spawn(&format!("shm-produce {} 0", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn remove_stale_keeps_a_channel_owed_to_a_receiver() {
    // In a child with its own /dev/shm, so that remove_stale sees only this test's.
    Kid::spawn("shm-remove-stale-in-private-shm").finish();
}

/// `remove_stale` leaves a channel whose producer left with unread messages, and one
/// whose producer was killed with unread messages (whose linger it starts); a receiver
/// then reads both. An abandoned channel that owes nothing goes, and so does one whose
/// linger is over.
pub(super) fn remove_stale_keeps_what_is_owed() {
    common::private_dev_shm("4m");
    let left = Name::new("left");
    let killed = Name::new("killed");
    let empty = Name::new("empty");
    let short = Name::new("short");
    let linger = Duration::from_millis(200);
    Kid::spawn(&format!("shm-produce {} {}", short.0, linger.as_millis())).finish();
    // Its linger began before this instant.
    let short_left = std::time::Instant::now();
    Kid::spawn(&format!("shm-produce {} 60000", left.0)).finish();
    let mut kid = Kid::spawn(&format!("shm-produce-then-die {}", killed.0));
    common::wait_at_most(&mut kid.child, HANG).unwrap();
    let mut kid = Kid::spawn(&format!("shm-open-or-create-and-wait {}", empty.0));
    kid.wait_ready();
    kid.kill();
    for _ in 0..2 {
        let removed = common::remove_stale();
        assert!(
            !removed.contains(&left.0) && !removed.contains(&killed.0),
            "{removed:?}"
        );
    }
    assert!(!exists(&empty));
    std::thread::sleep(linger.saturating_sub(short_left.elapsed()) + Duration::from_millis(10));
    // (On a machine so slow that its linger was over already, the loop above removed it.)
    common::remove_stale();
    assert!(!exists(&short));
    for name in [&left, &killed] {
        Kid::spawn(&format!("shm-consume {}", name.0)).finish();
        assert!(!exists(name));
    }
}

#[test]
fn open_without_a_timeout_does_not_wait_and_with_one_times_out() {
    let name = Name::new("absent");
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::NotFound { .. })
    ));
    let opts = Options::new().open_timeout(Duration::from_millis(30));
    let e = Sender::<u64>::open_with(&name.0, opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert!(!exists(&name));
}

#[test]
fn wait_for_receiver_times_out_then_reports_a_receiver_that_left() {
    let name = Name::new("wait-rx");
    let tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let e = tx.wait_for_receiver(Duration::from_millis(30)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    let rx = Receiver::<u64>::open(&name.0).unwrap();
    tx.wait_for_receiver(Duration::ZERO).unwrap();
    let stats = tx.stats();
    assert_eq!((stats.receivers_attached, stats.senders_attached), (1, 1));
    let other = Sender::<u64>::open(&name.0).unwrap();
    assert_eq!(rx.stats().senders_attached, 2);
    drop(other);
    drop(rx);
    assert!(tx.wait_for_receiver(HANG).unwrap_err().is_disconnected());
    assert_eq!(tx.stats().receivers_attached, 0);
}

#[test]
fn flush_and_unread_count_what_the_receiver_has_not_read() {
    let name = Name::new("flush");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut rx = Receiver::<u64>::open(&name.0).unwrap();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    // A dropped loan is not a message.
    drop(tx.loan().unwrap());
    assert_eq!(tx.unread(), N);
    let u = tx.flush(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, false));
    for _ in 0..2 {
        rx.recv().unwrap();
    }
    // A sample still held counts until it is dropped.
    let held = rx.recv().unwrap();
    assert_eq!(tx.unread(), N - 2);
    drop(held);
    assert_eq!(tx.unread(), N - 3);
    while let Ok(s) = rx.try_recv() {
        drop(s);
    }
    tx.flush(Duration::ZERO).unwrap();
    // A receiver is attached: closing with messages unread leaves them to it.
    tx.send(7).unwrap();
    let u = tx.close(Duration::ZERO).unwrap_err();
    assert_eq!((u.count, u.discarded), (1, false));
    assert_eq!(*rx.recv().unwrap(), 7);
    assert!(rx.recv().unwrap_err().is_disconnected());
}

#[test]
fn a_receiver_that_closes_gives_up_what_it_did_not_read_and_the_sender_learns_it() {
    let name = Name::new("rx-closes");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut consumer = Kid::spawn(&format!("shm-open-and-close {}", name.0));
    consumer.wait_ready();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    consumer.finish();
    // From its next send on, the sender knows; close says what was lost.
    assert!(tx.send(N).unwrap_err().is_disconnected());
    assert_eq!(tx.unread(), N);
    let u = tx.close(Duration::from_secs(60)).unwrap_err();
    assert_eq!((u.count, u.discarded), (N, true));
    assert!(!exists(&name));
}

#[test]
fn a_receiver_killed_before_reading_leaves_the_messages_to_its_successor() {
    let name = Name::new("rx-killed");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut consumer = Kid::spawn(&format!("shm-hold {}", name.0));
    consumer.wait_ready();
    for i in 0..N {
        tx.send(i).unwrap();
    }
    consumer.kill();
    // The sender leaves too: the channel is kept for a receiver, which reads them all.
    drop(tx);
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
    assert!(!exists(&name));
}

#[test]
fn opening_a_kept_channel_with_another_type_does_not_remove_it() {
    let name = Name::new("kept-schema");
    Kid::spawn(&format!("shm-produce {} 60000", name.0)).finish();
    let e = Receiver::<u32>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    assert!(exists(&name));
    Kid::spawn(&format!("shm-consume {}", name.0)).finish();
}
