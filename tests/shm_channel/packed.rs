//! Packed batches (`send_all` of small messages: the messages back to back, published by
//! their first position) when a peer dies: a sender killed while it writes one, and a
//! receiver killed inside one.

use super::*;

/// Receives into `buf` (at most `len` of it) and checks that the messages continue the
/// numbering at `next`; returns how many came.
fn recv_numbered(rx: &mut Receiver<u64>, buf: &mut [u64], next: &mut u64) -> Result<usize, Error> {
    let n = rx.recv_many_timeout(buf, Duration::from_secs(30))?;
    for &v in &buf[..n] {
        assert_eq!(v, *next, "a message lost, repeated or torn");
        *next += 1;
    }
    Ok(n)
}

#[test]
fn a_sender_killed_while_it_writes_batches_leaves_whole_messages_then_disconnected() {
    // Killed while the receiver keeps reading, the sender is most likely inside a batch:
    // claimed, writing, not yet published. Every message before it arrives, in order,
    // none of the unfinished batch does, and the receiver then hears the end.
    let mut skipped = Vec::new();
    for round in 0..6 {
        let name = Name::new(&format!("packed-kill{round}"));
        // Batches of up to 60,000 (a copy of up to 480 KB each) into 65,536 slots: the
        // sender spends much of its time with a batch claimed and not yet published.
        let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(1 << 16)).unwrap();
        let mut kid = spawn("batch-sender-forever", &[&name.0, "60000"]);
        kid.wait_ready();
        let mut buf = vec![0; 4096];
        let mut next = 0;
        let mut len = 1;
        while next < 200_000 {
            len = len * 7 % 4097;
            recv_numbered(&mut rx, &mut buf[..len.max(1)], &mut next).unwrap();
        }
        // Killed from another thread while this one keeps the ring drained, so that the
        // sender is streaming (writing batches), not waiting for room, when it dies.
        let pid = nix::unistd::Pid::from_raw(kid.id() as i32);
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
        });
        loop {
            match recv_numbered(&mut rx, &mut buf, &mut next) {
                Ok(_) => {}
                Err(Error::Disconnected) => break,
                Err(e) => panic!("after message {next}: {e}"),
            }
        }
        killer.join().unwrap();
        let _ = kid.wait();
        skipped.push(rx.stats().lost);
    }
    println!("positions of unfinished batches skipped, per round: {skipped:?}");
}

#[test]
fn a_receiver_that_replaces_a_killed_one_inside_a_packed_batch_resumes_there() {
    let name = Name::new("rx-resume-packed");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    // One packed batch fills the ring.
    tx.send_all(&(0..64).collect::<Vec<_>>()).unwrap();
    assert!(tx.try_send(64).unwrap_err().is_full());
    // A receiver process reads five of it and is killed before its first release.
    let status = spawn("receiver-read-then-die", &[&name.0, "5"]).wait();
    assert!(!status.success());
    assert_eq!(tx.unread(), 59, "the rest of the batch, unread");
    // Its successor resumes after the five, inside the batch, and hands their slots back
    // (one of them the batch's first, whose header the batch is no longer read from).
    let mut rx = Receiver::<u64>::open(&name.0).unwrap();
    tx.send_all(&(64..69).collect::<Vec<_>>()).unwrap();
    assert!(tx.try_send(69).unwrap_err().is_full());
    let mut got = vec![0; 64];
    let mut next = 5;
    let mut have = 0;
    while have < 64 {
        have += recv_numbered(&mut rx, &mut got[have..], &mut next).unwrap();
    }
    assert_eq!(next, 69);
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    assert_eq!(rx.stats().lost, 0);
}
