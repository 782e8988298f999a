//! Senders that join and leave while the receiver parks: every change of the senders a
//! parked receiver watches must wake it, or it would sleep through the last one leaving.
//! The senders are a real process (this test binary re-run as `child`). (Apart from
//! `tests/shm_idle.rs`, whose process must stay idle while it counts wake-ups.)

use std::time::Duration;

use ipc::shm::{Options, Receiver, Sender};
use ipc::sync::WaitStrategy;
use ipc::Error;

mod common;
use common::{Proc, ShmName as Name};

const ROLE: &str = "SHM_MEMBERSHIP_ROLE";

/// The child entry point: does nothing unless `SHM_MEMBERSHIP_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["come-and-go", name, n] => {
            // One sender stays; a second joins, sends one message and leaves, n times,
            // with pauses in which the receiver parks; then the first leaves too.
            let mut anchor = Sender::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                let mut tx = Sender::<u64>::open(name).unwrap();
                tx.send(i).unwrap();
                drop(tx);
                std::thread::sleep(Duration::from_micros(50 + i % 7 * 100));
            }
            anchor.send(u64::MAX).unwrap();
        }
        ["send-then-leave", name, rounds] => {
            // Round after round: a sender joins, sends one message, waits a little longer
            // each round (so that its leave meets the receiver at every stage of parking)
            // and leaves; the receiver answers each round on the channel `{name}-ack`
            // once it has seen the sender gone.
            let mut ack = Receiver::<u64>::open(&format!("{name}-ack")).unwrap();
            for round in 0..rounds.parse::<u64>().unwrap() {
                let mut tx = Sender::<u64>::open(&format!("{name}-{round}")).unwrap();
                tx.send(round).unwrap();
                std::thread::sleep(Duration::from_micros(round * 13 % 700));
                drop(tx);
                assert_eq!(*ack.recv_timeout(Duration::from_secs(30)).unwrap(), round);
            }
        }
        ["hold-a-loan", name] => {
            // The channel's only sender: one message, then a claimed slot held until the
            // test kills this process.
            let mut tx = Sender::<u64>::open(name).unwrap();
            tx.send(1).unwrap();
            let mut loan = tx.loan().unwrap();
            loan.write(2);
            common::ready();
            std::thread::sleep(Duration::from_secs(600));
            loan.send();
        }
        _ => panic!("unknown role {role}"),
    }
}

#[test]
fn senders_that_come_and_go_never_leave_a_parked_receiver_asleep() {
    let name = Name::new("come-and-go");
    let n = 300u64;
    let mut rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let peer = Proc::spawn(ROLE, &format!("come-and-go {} {n}", name.0));
    // Every join and leave changes the senders a parked receiver watches; a receiver that
    // slept through one of them would time out here instead of receiving.
    for i in 0..n {
        assert_eq!(*rx.recv_timeout(Duration::from_secs(30)).unwrap(), i);
    }
    assert_eq!(*rx.recv_timeout(Duration::from_secs(30)).unwrap(), u64::MAX);
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(30)),
        Err(Error::Disconnected)
    ));
    peer.assert_success();
}

#[test]
fn the_last_sender_leaving_at_any_stage_of_a_park_is_seen() {
    let name = Name::new("leave-stage");
    let rounds = 200u64;
    let names: Vec<Name> = (0..rounds)
        .map(|r| Name(format!("{}-{r}", name.0)))
        .collect();
    let ack_name = Name(format!("{}-ack", name.0));
    let mut ack = Sender::<u64>::create(&ack_name.0, Options::new()).unwrap();
    let receivers: Vec<_> = names
        .iter()
        .map(|n| Receiver::<u64>::create(&n.0, Options::new()).unwrap())
        .collect();
    let peer = Proc::spawn(ROLE, &format!("send-then-leave {} {rounds}", name.0));
    for (round, mut rx) in (0..rounds).zip(receivers) {
        assert_eq!(*rx.recv_timeout(Duration::from_secs(30)).unwrap(), round);
        // Its only sender leaves at some point of this wait: a receiver that slept
        // through it would time out.
        assert!(
            matches!(
                rx.recv_timeout(Duration::from_secs(30)),
                Err(Error::Disconnected)
            ),
            "round {round}"
        );
        ack.send(round).unwrap();
    }
    peer.assert_success();
}

/// The only sender killed while it holds a claimed slot (a loan, as a request/response
/// server holds its answer's slot while the handler runs): the parked receiver skips the
/// abandoned slot and, no sender being left, returns `Disconnected` rather than park
/// again on a death it has already seen.
#[test]
fn a_receiver_parked_on_a_slot_its_last_sender_died_holding_disconnects() {
    for wait in [WaitStrategy::Park, WaitStrategy::SpinThenPark] {
        let name = Name::new("dead-loan");
        let mut rx = Receiver::<u64>::create(&name.0, Options::new().wait(wait)).unwrap();
        let mut peer = Proc::spawn(ROLE, &format!("hold-a-loan {}", name.0));
        peer.wait_ready();
        assert_eq!(*rx.recv_timeout(Duration::from_secs(30)).unwrap(), 1);
        let (done, result) = std::sync::mpsc::channel();
        let waiting = std::thread::spawn(move || {
            let r = rx.recv().map(|m| *m);
            done.send(r).unwrap();
        });
        // Let the receive park (not needed for the outcome, only to test the park).
        std::thread::sleep(Duration::from_millis(100));
        peer.kill();
        // A hang guard only: a receiver that parked again sleeps for ever.
        match result.recv_timeout(Duration::from_secs(60)) {
            Ok(Err(Error::Disconnected)) => {}
            Ok(other) => panic!("{wait:?}: the receive returned {other:?}"),
            Err(_) => panic!("{wait:?}: the receive still waits after its last sender died"),
        }
        waiting.join().unwrap();
    }
}
