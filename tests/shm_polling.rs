//! Ends that poll instead of waiting (`try_recv`, `try_recv_many`, `try_send`) hear of
//! their peer's death: an empty or full look makes no system call while the peers stay
//! as they were (their deaths are watched), so a death must still reach the next look.
//! The peer is a real process (this test binary re-run as `child`), killed with SIGKILL
//! after the polling end has looked many times.

use std::time::{Duration, Instant};

use ipc::shm::{Options, Publisher, Receiver, Sender, Subscriber};
use ipc::Error;

mod common;
use common::{ready, Proc, ShmName as Name};

const ROLE: &str = "SHM_POLLING_ROLE";

/// The child entry point: does nothing unless `SHM_POLLING_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    // Each role joins the channel or topic `name`, says ready and idles until killed.
    let idle = || -> ! {
        ready();
        std::thread::sleep(Duration::from_secs(3600));
        unreachable!("killed by the test");
    };
    match args[..] {
        ["sender", name] => {
            let _tx = Sender::<u64>::open(name).unwrap();
            idle()
        }
        ["receiver", name] => {
            let _rx = Receiver::<u64>::open(name).unwrap();
            idle()
        }
        ["publisher", name] => {
            let _tx = Publisher::<u64>::open(name).unwrap();
            idle()
        }
        ["subscriber", name] => {
            let _rx = Subscriber::<u64>::open(name).unwrap();
            idle()
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Spawns the peer (`role` on `name`), has `look` find nothing (`idle`) a thousand times
/// while the peer lives, kills it, and calls `look` until it says something else: that
/// answer, which must come well within a minute of the kill (a hang guard; no timing is
/// asserted).
fn killed_while_polled<T: std::fmt::Debug>(
    role: &str,
    name: &Name,
    idle: Error,
    mut look: impl FnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    let same = |r: &Result<T, Error>| matches!(r, Err(e) if std::mem::discriminant(e) == std::mem::discriminant(&idle));
    let mut peer = Proc::spawn(ROLE, &format!("{role} {}", name.0));
    peer.wait_ready();
    for _ in 0..1000 {
        let r = look();
        assert!(same(&r), "{r:?} while the peer lives");
    }
    peer.kill();
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let r = look();
        if !same(&r) {
            return r;
        }
        assert!(
            Instant::now() < give_up,
            "the peer's death never reached the polling end"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn a_polling_receiver_hears_of_its_last_sender_dying() {
    let name = Name::new("poll-rx");
    let mut rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let r = killed_while_polled("sender", &name, Error::Empty, || rx.try_recv().map(|m| *m));
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    // And says so at every look after.
    let mut out = [0u64; 8];
    assert!(matches!(
        rx.try_recv_many(&mut out),
        Err(Error::Disconnected)
    ));
    assert!(matches!(rx.try_recv(), Err(Error::Disconnected)));
}

#[test]
fn a_sender_polling_a_full_ring_hears_of_its_receiver_dying() {
    let name = Name::new("poll-tx");
    // No linger: what is unread goes with the segment.
    let opts = Options::new().capacity(2).linger(Duration::ZERO);
    let mut tx = Sender::<u64>::create(&name.0, opts).unwrap();
    let mut filled = false;
    let r = killed_while_polled("receiver", &name, Error::Full, || {
        // The first look fills the ring (the receiver is there), then every look finds
        // it full.
        if !std::mem::replace(&mut filled, true) {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
        }
        tx.try_send(3).map_err(|e| e.into_error())
    });
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    assert!(matches!(
        tx.try_send(3).unwrap_err().error(),
        Error::Disconnected
    ));
}

#[test]
fn a_polling_subscriber_hears_of_its_publisher_dying() {
    let name = Name::new("poll-sub");
    let mut rx = Subscriber::<u64>::open_or_create(&name.0, Options::new()).unwrap();
    let r = killed_while_polled("publisher", &name, Error::Empty, || {
        rx.try_recv().map(|m| *m)
    });
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    assert!(matches!(rx.try_recv(), Err(Error::Disconnected)));
}

#[test]
fn a_publisher_polling_a_full_topic_goes_on_once_its_subscriber_dies() {
    let name = Name::new("poll-pub");
    let mut tx = Publisher::<u64>::create(&name.0, Options::new().capacity(2)).unwrap();
    let mut filled = false;
    // The dead subscriber no longer holds the topic back.
    killed_while_polled("subscriber", &name, Error::Full, || {
        // As above: the first look fills the topic the subscriber now holds back.
        if !std::mem::replace(&mut filled, true) {
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
        }
        tx.try_send(3).map_err(|e| e.into_error())
    })
    .unwrap();
}
