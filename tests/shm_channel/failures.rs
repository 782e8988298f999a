//! Shared-memory channels when things go wrong: a peer killed at any moment, a receiver
//! that replaces a killed one, the sweep of dead segments, another schema, and a segment
//! whose header, length or ring another process overwrote.

use super::*;

#[test]
fn sender_killed_while_holding_a_claimed_slot_costs_one_message_and_disconnects() {
    let name = Name::new("dead-claim");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    let mut dying = spawn("sender-then-die-holding-a-loan", &[&name.0, "10"]);
    dying.wait_ready();
    // A live sender keeps sending behind the abandoned slot.
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    for i in 100..105 {
        tx.send(i).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 15 {
        got.push(*rx.recv_timeout(Duration::from_secs(10)).unwrap());
    }
    assert_eq!(got[..10], (0..10).collect::<Vec<_>>()[..]);
    assert_eq!(got[10..], [100, 101, 102, 103, 104]);
    assert_eq!(rx.stats().lost, 1);
    drop(tx);
    assert!(rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_err()
        .is_disconnected());
    let _ = dying.wait();
}

#[test]
fn a_receiver_that_replaces_a_killed_one_resumes_without_duplicates_or_lost_room() {
    let name = Name::new("rx-resume");
    // Capacity 64: the receiver hands slots back in batches of 8.
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    for i in 0..64 {
        tx.send(i).unwrap();
    }
    assert!(tx.try_send(64).unwrap_err().is_full());
    // A receiver process reads five messages and is killed before its first batch.
    let status = spawn("receiver-read-then-die", &[&name.0, "5"]).wait();
    assert!(!status.success());
    assert!(tx.try_send(64).unwrap_err().is_disconnected());
    // Its successor starts after the five it read and hands their slots back at once.
    let mut rx = Receiver::<u64>::open(&name.0).unwrap();
    for i in 64..69 {
        tx.try_send(i).unwrap();
    }
    assert!(tx.try_send(69).unwrap_err().is_full());
    let got: Vec<u64> = (0..64).map(|_| *rx.try_recv().unwrap()).collect();
    assert_eq!(got, (5..69).collect::<Vec<_>>());
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
}

#[test]
fn sigkill_of_a_sender_mid_stream_gives_disconnected_promptly() {
    for wait in [
        WaitStrategy::SpinThenPark,
        WaitStrategy::Park,
        WaitStrategy::Spin,
    ] {
        let name = Name::new("kill-tx");
        let opts = Options::new().capacity(16).wait(wait);
        let mut rx = Receiver::<u64>::create(&name.0, opts).unwrap();
        let mut kid = spawn("sender-forever", &[&name.0]);
        kid.wait_ready();
        for _ in 0..100 {
            rx.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        // Stop reading for a moment so the sender is mid-stream, blocked on a full ring,
        // or between messages when it dies.
        let killed = kid.kill();
        let err = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        let took = killed.elapsed();
        println!("{wait:?}: receiver saw the SIGKILLed sender after {took:?}");
        assert!(err.is_disconnected(), "{err}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}

#[test]
fn sigkill_of_the_receiver_while_the_sender_is_blocked_gives_disconnected_promptly() {
    for wait in [WaitStrategy::SpinThenPark, WaitStrategy::Spin] {
        let name = Name::new("kill-rx");
        let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(4).wait(wait)).unwrap();
        let mut kid = spawn("receiver-idle", &[&name.0]);
        kid.wait_ready();
        while tx.try_send(1).is_ok() {}
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let at = kid.kill();
            (kid, at)
        });
        let err = tx.send(2).unwrap_err();
        let (_kid, killed) = killer.join().unwrap();
        let took = killed.elapsed();
        println!("{wait:?}: blocked sender saw the SIGKILLed receiver after {took:?}");
        assert!(err.is_disconnected(), "{err}");
        assert_eq!(err.into_inner(), 2);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}

#[test]
fn two_hundred_kill_cycles_leave_nothing_in_dev_shm() {
    // In a child with its own /dev/shm, so that the kill cycles' dead segments are
    // counted exactly.
    spawn("kill-cycles-in-private-shm", &[]).assert_success();
}

/// 200 creators killed: the segments of those that had a receiver go with it, the 50 that
/// had none are left for `remove_stale_with_prefix`, which removes them.
pub(super) fn kill_cycles() {
    common::private_dev_shm("16m");
    let mut names = Vec::new();
    for cycle in 0..200 {
        let name = Name::new("cycle");
        let mut kid = spawn("creator-idle", &[&name.0]);
        kid.wait_ready();
        if cycle % 4 == 0 {
            // Nobody else attached: the crash leaves the segment; it is removed below.
            kid.kill();
            assert!(std::path::Path::new(&name.path()).exists());
        } else {
            let mut rx = Receiver::<u64>::open(&name.0).unwrap();
            kid.kill();
            let e = rx.recv_timeout(Duration::from_secs(5)).unwrap_err();
            assert!(e.is_disconnected(), "{e}");
            drop(rx);
            assert!(!std::path::Path::new(&name.path()).exists());
        }
        names.push(name);
    }
    let removed = common::remove_stale();
    for name in &names {
        assert!(
            !std::path::Path::new(&name.path()).exists(),
            "{} left",
            name.0
        );
    }
    assert_eq!(removed.len(), 50);
}

#[test]
fn remove_stale_removes_only_what_it_can_prove_is_a_dead_segment() {
    // In a child with its own /dev/shm, where it can plant dead segments of other programs.
    spawn("remove-stale-in-private-shm", &[]).assert_success();
}

#[test]
fn an_open_timeout_of_duration_max_waits_without_overflow() {
    let name = Name::new("forever");
    let mut tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let kid = spawn("open-forever", &[&name.0]);
    tx.send(7).unwrap();
    kid.assert_success();
}

#[test]
fn remove_stale_never_touches_a_live_segment() {
    spawn("live-segment-in-private-shm", &[]).assert_success();
}

/// A creator alive and idle: `remove_stale_with_prefix` leaves its segment, which still
/// works.
pub(super) fn live_segment_survives() {
    common::private_dev_shm("1m");
    let name = Name::new("live");
    let mut kid = spawn("creator-idle", &[&name.0]);
    kid.wait_ready();
    let removed = common::remove_stale();
    assert!(!removed.contains(&name.0));
    assert!(std::path::Path::new(&name.path()).exists());
    let mut rx = Receiver::<u64>::open(&name.0).unwrap();
    assert!(rx
        .try_recv()
        .unwrap_err()
        .to_string()
        .contains("no message"));
}

#[test]
fn opener_with_another_schema_gets_schema_mismatch() {
    let name = Name::new("schema");
    let _rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    match Sender::<u32>::open(&name.0) {
        Err(Error::SchemaMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected.size, 4);
            assert_eq!(found.size, 8);
            assert_eq!(found.name, "u64");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Sender::<i64>::open(&name.0),
        Err(Error::SchemaMismatch { .. })
    ));
}

#[test]
fn garbage_header_is_a_corrupt_error() {
    use std::os::unix::fs::PermissionsExt;
    let name = Name::new("garbage");
    let write = |bytes: Vec<u8>| {
        std::fs::write(name.path(), bytes).unwrap();
        std::fs::set_permissions(name.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write(garbage);
    let e = Receiver::<u64>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    // A header that is all zeros (a creator that died before writing it) is refused too.
    write(vec![0u8; 64 * 1024]);
    let e = Receiver::<u64>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
}

#[test]
fn truncated_segment_is_a_corrupt_error_not_sigbus() {
    let name = Name::new("trunc");
    let _rx = Receiver::<[u64; 64]>::create(&name.0, Options::new().capacity(64)).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(name.path())
        .unwrap();
    f.set_len(8192).unwrap();
    let e = Sender::<[u64; 64]>::open(&name.0).unwrap_err();
    assert!(
        matches!(&e, Error::Corrupt(m) if m.contains("truncated")),
        "{e}"
    );
}

#[test]
fn memory_overwritten_under_the_ring_is_a_corrupt_error() {
    let name = Name::new("scribble");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    tx.send(1).unwrap();
    // Scribble over the slots (a hostile peer with write access).
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    let len = f.metadata().unwrap().len();
    // SAFETY: maps the test's own segment file; writes plain bytes.
    let mut m = unsafe { memmap2::MmapMut::map_mut(&f) }.unwrap();
    let body = (len as usize) - 4096;
    m[body..].fill(0xAB);
    m.flush().unwrap();
    let _ = body;
    let r = rx.try_recv().map(|s| *s);
    assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
}

#[test]
fn bad_enum_value_is_an_invalid_message_and_the_stream_goes_on() {
    let name = Name::new("enum");
    let mut rx = Receiver::<Side>::create(&name.0, Options::new().capacity(4)).unwrap();
    let mut tx = Sender::<Side>::open(&name.0).unwrap();
    tx.send(Side::Buy).unwrap();
    let mut loan = tx.loan().unwrap();
    // A buggy or hostile sender writes a byte that is no `Side`.
    loan.as_uninit_mut().write(Side::Sell);
    // SAFETY: the byte goes into the slot through a raw pointer and is never read as a
    // `Side` in this process; `assume_init`'s promise is broken on purpose to play a buggy
    // sender, which the receiver must refuse.
    unsafe {
        loan.as_uninit_mut().as_mut_ptr().cast::<u8>().write(3);
        loan.assume_init();
    }
    loan.send();
    tx.send(Side::Sell).unwrap();
    assert_eq!(*rx.recv().unwrap(), Side::Buy);
    let r = rx.recv().map(|s| *s);
    match r {
        Err(Error::InvalidMessage(e)) => println!("refused: {e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(*rx.recv().unwrap(), Side::Sell);
}
