//! Ends that do not wait (`try_recv`, `try_send`) and find nothing to do: they probe
//! their peers' liveness (system calls) only when a peer joined, left or died since their
//! last probe. The probes are counted per thread (`segment::PROBES`); a death is
//! `tests/shm_polling.rs`'s, with real processes.

use crate::error::Error;
use crate::shm::segment::PROBES;
use crate::shm::{Options, Publisher, Receiver, Sender, Subscriber};
use crate::sync::deaths;

fn probes() -> u64 {
    PROBES.with(core::cell::Cell::get)
}

/// Runs `look` a hundred times and returns how many probes they made.
fn probes_of(mut look: impl FnMut()) -> u64 {
    let before = probes();
    for _ in 0..100 {
        look();
    }
    probes() - before
}

/// Looks once (the first look probes), then a hundred times more with the peers as they
/// were: true if those made no probe. Where deaths cannot be watched every look probes,
/// and this says false for the caller to stop there.
fn quiet(mut look: impl FnMut()) -> bool {
    look();
    let probes = probes_of(look);
    if !deaths::supported() {
        assert_eq!(probes, 100);
        return false;
    }
    assert_eq!(probes, 0);
    true
}

#[test]
fn an_empty_try_recv_probes_only_after_the_senders_change() {
    let name = crate::testing::unique("poll-rx");
    let mut rx = Receiver::<u64>::create(&name, Options::new()).unwrap();
    let tx = Sender::<u64>::open(&name).unwrap();
    let empty = |rx: &mut Receiver<u64>| assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    if !quiet(|| empty(&mut rx)) {
        return;
    }
    // A sender joins: the next empty look probes once, then none again.
    let other = Sender::<u64>::open(&name).unwrap();
    assert!(probes_of(|| empty(&mut rx)) > 0);
    assert_eq!(probes_of(|| empty(&mut rx)), 0);
    // Both leave: the next look probes and finds them gone.
    drop((tx, other));
    assert!(matches!(rx.try_recv(), Err(Error::Disconnected)));
    let mut out = [0u64; 4];
    assert!(matches!(
        rx.try_recv_many(&mut out),
        Err(Error::Disconnected)
    ));
}

#[test]
fn a_try_send_on_a_full_ring_probes_only_after_the_receiver_changes() {
    let name = crate::testing::unique("poll-tx");
    let rx = Receiver::<u64>::create(&name, Options::new().capacity(2)).unwrap();
    let mut tx = Sender::<u64>::open(&name).unwrap();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut full = || assert!(matches!(tx.try_send(3).unwrap_err().error(), Error::Full));
    if !quiet(&mut full) {
        return;
    }
    drop(rx);
    assert!(matches!(
        tx.try_send(3).unwrap_err().error(),
        Error::Disconnected
    ));
}

#[test]
fn an_empty_topic_try_recv_probes_only_after_the_publisher_changes() {
    let name = crate::testing::unique("poll-sub");
    let mut sub = Subscriber::<u64>::open_or_create(&name, Options::new()).unwrap();
    let mut tx = Publisher::<u64>::open(&name).unwrap();
    let empty = |sub: &mut Subscriber<u64>| assert!(matches!(sub.try_recv(), Err(Error::Empty)));
    if !quiet(|| empty(&mut sub)) {
        return;
    }
    tx.try_send(7).unwrap();
    assert_eq!(*sub.try_recv().unwrap(), 7);
    drop(tx);
    assert!(matches!(sub.try_recv(), Err(Error::Disconnected)));
}

#[test]
fn a_try_send_on_a_full_topic_probes_only_after_the_subscribers_change() {
    let name = crate::testing::unique("poll-pub");
    let mut tx = Publisher::<u64>::create(&name, Options::new().capacity(2)).unwrap();
    let mut sub = Subscriber::<u64>::open(&name).unwrap();
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let mut full = || assert!(matches!(tx.try_send(3).unwrap_err().error(), Error::Full));
    if !quiet(&mut full) {
        return;
    }
    // The subscriber reads one: room again, and no probe to see it.
    let before = probes();
    assert_eq!(*sub.try_recv().unwrap(), 1);
    tx.try_send(3).unwrap();
    assert_eq!(probes(), before);
}
