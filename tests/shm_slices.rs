//! Variable-size payloads on shared memory, between real processes: slices `[E]` on a
//! topic and on the MPSC channel, each received exactly as long as it was sent, a length
//! above the maximum refused by the sender and, written into the segment by a hostile
//! peer, by the receiver. This test binary re-run as `child` plays the other processes.

use std::os::unix::fs::FileExt;

use ipc::shm::{Options, Publisher, Subscriber};
use ipc::{Error, Message};

mod common;
use common::{ready, Proc, ShmName as Name};

const ROLE: &str = "SHM_SLICES_ROLE";

/// An element type with invalid bit patterns: received through a validated copy.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Light {
    Red = 1,
    Amber = 2,
    Green = 3,
}

/// The `n`th sample of the tests: `n % 301` elements, element `j` is `n + j`.
fn sample(n: u32) -> Vec<u32> {
    (0..n % 301).map(|j| n.wrapping_add(j)).collect()
}

fn lights(n: u32) -> Vec<Light> {
    const ALL: [Light; 3] = [Light::Red, Light::Amber, Light::Green];
    (0..n % 17).map(|j| ALL[((n + j) % 3) as usize]).collect()
}

/// The child entry point: does nothing unless `SHM_SLICES_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["topic-subscriber", name, n] => {
            let n: u32 = n.parse().unwrap();
            let mut rx = Subscriber::<[u32]>::open(name).unwrap();
            assert_eq!(rx.max_len(), 300);
            ready();
            for i in 0..n {
                let got = rx.recv().unwrap();
                assert_eq!(&*got, &sample(i)[..], "sample {i}");
            }
            assert!(matches!(rx.recv(), Err(Error::Disconnected)));
        }
        ["light-subscriber", name, n] => {
            let n: u32 = n.parse().unwrap();
            let mut rx = Subscriber::<[Light]>::open(name).unwrap();
            ready();
            for i in 0..n {
                assert_eq!(&*rx.recv().unwrap(), &lights(i)[..], "sample {i}");
            }
            assert!(matches!(rx.recv(), Err(Error::Disconnected)));
        }
        ["channel-sender", name, id, n] => {
            // Sends `n` slices tagged with its id: element 0 is the id, then `sample(i)`.
            let (id, n): (u32, u32) = (id.parse().unwrap(), n.parse().unwrap());
            let mut tx = ipc::shm::Sender::<[u32]>::open(name).unwrap();
            assert_eq!(tx.max_len(), 301);
            ready();
            for i in 0..n {
                let mut s = vec![id];
                s.extend(sample(i));
                if i % 3 == 0 {
                    let mut loan = tx.loan_slice(s.len()).unwrap();
                    loan.as_mut().unwrap().copy_from_slice(&s);
                    loan.send();
                } else {
                    tx.send_slice(&s).unwrap();
                }
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

fn spawn(role: &str) -> Proc {
    let mut p = Proc::spawn(ROLE, role);
    p.wait_ready();
    p
}

#[test]
fn every_subscriber_gets_each_slice_exactly_as_long_as_it_was_sent() {
    let name = Name::new("sl-topic");
    let opts = Options::new().capacity(64).max_len(300);
    let mut tx = Publisher::<[u32]>::create(&name.0, opts).unwrap();
    assert_eq!(tx.max_len(), 300);
    let n = 30_000u32;
    let subs: Vec<Proc> = (0..2)
        .map(|_| spawn(&format!("topic-subscriber {} {n}", name.0)))
        .collect();
    for i in 0..n {
        let s = sample(i);
        if i % 2 == 0 {
            tx.send_slice(&s).unwrap();
        } else {
            // In place: lent longer than needed, then cut to the length written.
            let mut loan = tx.loan_slice(300).unwrap();
            loan.as_mut().unwrap()[..s.len()].copy_from_slice(&s);
            loan.truncate(s.len());
            loan.send();
        }
    }
    drop(tx);
    for s in subs {
        s.assert_success();
    }
    assert!(!std::path::Path::new(&name.path()).exists(), "removed");
}

#[test]
fn elements_with_invalid_bit_patterns_are_validated_copies() {
    let name = Name::new("sl-lights");
    let opts = Options::new().capacity(16).max_len(16);
    let mut tx = Publisher::<[Light]>::create(&name.0, opts).unwrap();
    let n = 5_000u32;
    let sub = spawn(&format!("light-subscriber {} {n}", name.0));
    for i in 0..n {
        let l = lights(i);
        if i % 2 == 0 {
            tx.send_slice(&l).unwrap();
        } else {
            let mut loan = tx.loan_slice(l.len()).unwrap();
            assert!(loan.as_mut().is_none(), "no `&mut [Light]` over raw bytes");
            loan.copy_from_slice(&l);
            loan.send();
        }
    }
    drop(tx);
    sub.assert_success();
}

#[test]
fn a_slice_above_the_maximum_is_refused_on_send() {
    let name = Name::new("sl-max");
    let mut tx = Publisher::<[u8]>::create(&name.0, Options::new().max_len(10)).unwrap();
    let mut rx = Subscriber::<[u8]>::open(&name.0).unwrap();
    let e = tx.send_slice(&[7; 11]).unwrap_err();
    assert!(matches!(e, Error::LimitExceeded { value: 10, .. }), "{e:?}");
    assert!(e.to_string().contains("max_len is 10,"), "{e}");
    assert!(e.to_string().contains("11 elements"), "{e}");
    assert!(e.to_string().contains("send at most 10 elements"), "{e}");
    assert!(e.to_string().contains("max_len"), "{e}");
    assert!(matches!(
        tx.loan_slice(11),
        Err(Error::LimitExceeded { .. })
    ));
    // Nothing was published; what fits still goes through.
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    tx.send_slice(&[1; 10]).unwrap();
    tx.send_slice(&[]).unwrap();
    assert_eq!(&*rx.recv().unwrap(), &[1; 10]);
    assert!(rx.recv().unwrap().is_empty());
}

#[test]
fn a_length_above_the_maximum_written_by_a_hostile_peer_is_refused_on_receive() {
    let name = Name::new("sl-hostile");
    let opts = Options::new().capacity(8).max_len(64);
    let mut tx = Publisher::<[u64]>::create(&name.0, opts).unwrap();
    let mut rx = Subscriber::<[u64]>::open(&name.0).unwrap();
    const MARK: u64 = 0x5eed_f00d_dead_beef;
    tx.send_slice(&[MARK, 1, 2]).unwrap();
    tx.send_slice(&[3, 4]).unwrap();
    // Another process's view of the segment: find the first sample by its mark and
    // write a huge length over its length word, which lies just before it.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    let bytes = std::fs::read(name.path()).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == MARK.to_ne_bytes())
        .expect("the sample is in the segment");
    assert_eq!(bytes[at - 8..at], 3u64.to_ne_bytes(), "its length word");
    file.write_at(&u64::MAX.to_ne_bytes(), (at - 8) as u64)
        .unwrap();
    let e = rx.recv().unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("maximum of 64"), "{e}");
    // That sample is skipped; the next one arrives intact.
    assert_eq!(&*rx.recv().unwrap(), &[3, 4]);
}

#[test]
fn a_slice_topic_and_a_message_topic_never_meet() {
    let name = Name::new("sl-schema");
    let _tx = Publisher::<[u8]>::create(&name.0, Options::new()).unwrap();
    let e = Subscriber::<u8>::open(&name.0).unwrap_err();
    match &e {
        Error::SchemaMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected.name, "u8");
            assert_eq!(found.name, "[u8]");
        }
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        Subscriber::<[u16]>::open(&name.0),
        Err(Error::SchemaMismatch { .. })
    ));
    // The default maximum: 4 KiB of elements; the listing names the slice and its maximum.
    let rx = Subscriber::<[u8]>::open(&name.0).unwrap();
    assert_eq!(rx.max_len(), ipc::shm::DEFAULT_SLICE_BYTES);
    let listed = ipc::shm::list().unwrap();
    let l = listed.iter().find(|l| l.name == name.0).unwrap();
    assert_eq!(l.schema.as_ref().unwrap().name, "[u8]");
    assert_eq!(l.max_len, 4096);
    let name2 = Name::new("sl-schema2");
    let _t = Publisher::<u64>::create(&name2.0, Options::new()).unwrap();
    assert!(matches!(
        Subscriber::<[u64]>::open(&name2.0),
        Err(Error::SchemaMismatch { .. })
    ));
}

#[test]
fn a_channel_receiver_gets_each_senders_slices_exactly_and_in_order() {
    use ipc::shm::Receiver;
    let name = Name::new("sl-chan");
    let opts = Options::new().capacity(32).max_len(301);
    let mut rx = Receiver::<[u32]>::create(&name.0, opts).unwrap();
    assert_eq!(rx.max_len(), 301);
    let n = 20_000u32;
    let senders: Vec<Proc> = (1..=2)
        .map(|id| spawn(&format!("channel-sender {} {id} {n}", name.0)))
        .collect();
    let mut next = [0u32; 3];
    loop {
        let got = match rx.recv() {
            Ok(got) => got,
            Err(Error::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        };
        let id = got[0] as usize;
        let i = next[id];
        assert_eq!(&got[1..], &sample(i)[..], "sender {id}, message {i}");
        next[id] += 1;
    }
    assert_eq!(next[1..], [n, n], "every message of each sender");
    for s in senders {
        s.assert_success();
    }
}

#[test]
fn a_channel_refuses_slices_above_its_maximum_and_checks_what_it_reads() {
    use ipc::shm::{Receiver, Sender};
    let name = Name::new("sl-chan-max");
    let opts = Options::new().capacity(8).max_len(4);
    let mut rx = Receiver::<[Light]>::create(&name.0, opts).unwrap();
    let mut tx = Sender::<[Light]>::open(&name.0).unwrap();
    assert!(matches!(
        tx.send_slice(&[Light::Red; 5]),
        Err(Error::LimitExceeded { value: 4, .. })
    ));
    assert!(matches!(tx.loan_slice(5), Err(Error::LimitExceeded { .. })));
    tx.send_slice(&[Light::Green, Light::Amber]).unwrap();
    tx.send_slice(&[Light::Red]).unwrap();
    // A slot written by a hostile peer: find the first message by its bytes (3, 2) and
    // put an invalid light in it; then a huge length over the second one's length word.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    let bytes = std::fs::read(name.path()).unwrap();
    let first = bytes
        .windows(10)
        .position(|w| w == [2, 0, 0, 0, 0, 0, 0, 0, 3, 2])
        .expect("the first message, its length word before it");
    file.write_at(&[9], (first + 9) as u64).unwrap();
    let second = first
        + bytes[first + 8..]
            .windows(9)
            .position(|w| w == [1, 0, 0, 0, 0, 0, 0, 0, 1])
            .expect("the second message")
        + 8;
    file.write_at(&u64::MAX.to_ne_bytes(), second as u64)
        .unwrap();
    tx.send_slice(&[Light::Amber; 4]).unwrap();
    let e = rx.recv().unwrap_err();
    assert!(matches!(e, Error::InvalidMessage(_)), "{e:?}");
    let e = rx.recv().unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
    assert!(e.to_string().contains("maximum of 4"), "{e}");
    assert_eq!(&*rx.recv().unwrap(), &[Light::Amber; 4]);
    // A channel of `u8` is not a channel of `[u8]`.
    let other = Name::new("sl-chan-kind");
    let _r = Receiver::<[u8]>::create(&other.0, Options::new()).unwrap();
    assert!(matches!(
        Sender::<u8>::open(&other.0),
        Err(Error::SchemaMismatch { .. })
    ));
}
