//! Ends of any type (`AnySubscriber`, `AnyReceiver`, `AnySender`): opened by name without
//! the message type, they move bytes checked by the schema the segment carries, in
//! another process than the typed peer; a schema that does not match its header, or
//! bytes that are no value of the schema, are typed errors.

use std::os::unix::fs::FileExt;
use std::time::Duration;

use ipc::schema::Value;
use ipc::shm::{AnyReceiver, AnySender, AnySubscriber, Options, Publisher, Receiver, Sender};
use ipc::Error;

mod common;
use common::ShmName as Name;

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Light {
    Red = 1,
    Amber = 2,
    Green = 3,
}

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Order {
    id: u64,
    price: u32,
    light: Light,
    urgent: bool,
    _pad: [u8; 2],
}

fn order(i: u64) -> Order {
    Order {
        id: i,
        price: i as u32 * 3,
        light: [Light::Red, Light::Amber, Light::Green][i as usize % 3],
        urgent: i % 2 == 0,
        _pad: [0; 2],
    }
}

/// Runs `f` in a forked child; the child exits 0 if `f` returns, 1 if it panics.
fn in_child(f: impl FnOnce()) -> nix::unistd::Pid {
    // SAFETY: the test binary's other threads may hold locks; the child only runs `f`,
    // which uses this crate's calls and the allocator, and exits without unwinding.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            std::process::exit(if ok { 0 } else { 1 });
        }
        nix::unistd::ForkResult::Parent { child } => child,
    }
}

fn exited_ok(pid: nix::unistd::Pid) -> bool {
    matches!(
        nix::sys::wait::waitpid(pid, None).unwrap(),
        nix::sys::wait::WaitStatus::Exited(_, 0)
    )
}

#[test]
fn an_any_subscriber_in_another_process_decodes_what_a_typed_publisher_sends() {
    let name = Name::new("any-topic");
    let mut publisher = Publisher::<Order>::create(&name.0, Options::new().capacity(16)).unwrap();
    let topic = name.0.clone();
    let child = in_child(move || {
        let mut sub = AnySubscriber::open(&topic).unwrap();
        assert_eq!(sub.schema().name(), "Order");
        assert_eq!(sub.max_len(), None);
        for i in 0..500u64 {
            let sample = sub.recv().unwrap();
            assert_eq!(sample.len(), 1);
            let want = Value::from_bytes(sample.schema(), ipc::as_bytes(&order(i))).unwrap();
            assert_eq!(sample.decode().unwrap(), want, "sample {i}");
        }
        assert!(matches!(sub.recv(), Err(Error::Disconnected)));
    });
    // Publish once the subscriber has joined (under `Block` it then sees every sample).
    while publisher.subscribers() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    for i in 0..500 {
        publisher.send(order(i)).unwrap();
    }
    drop(publisher);
    assert!(exited_ok(child));
}

#[test]
fn an_any_sender_sends_checked_bytes_and_refuses_what_is_no_value_of_the_schema() {
    let name = Name::new("any-send");
    let mut rx = Receiver::<Order>::create(&name.0, Options::new().capacity(8)).unwrap();
    let chan = name.0.clone();
    let child = in_child(move || {
        let mut tx = AnySender::open(&chan).unwrap();
        tx.send(ipc::as_bytes(&order(7))).unwrap();
        let mut bad = ipc::as_bytes(&order(8)).to_vec();
        bad[12] = 9; // no `Light` has discriminant 9
        let e = tx.send(&bad).unwrap_err();
        assert!(matches!(e, Error::InvalidValue(_)), "{e:?}");
        assert!(e.to_string().contains("light"), "{e}");
        let e = tx.send(&bad[..10]).unwrap_err();
        assert!(matches!(e, Error::InvalidValue(_)), "{e:?}");
        tx.send(ipc::as_bytes(&order(9))).unwrap();
    });
    assert!(exited_ok(child));
    assert_eq!(rx.recv().unwrap().get(), order(7));
    assert_eq!(rx.recv().unwrap().get(), order(9));
    assert!(matches!(rx.recv(), Err(Error::Disconnected)));
}

#[test]
fn an_any_receiver_takes_slices_and_is_refused_while_the_channel_has_a_receiver() {
    let name = Name::new("any-slices");
    let opts = Options::new().capacity(8).max_len(16);
    let rx = Receiver::<[Light]>::create(&name.0, opts).unwrap();
    let mut tx = Sender::<[Light]>::open(&name.0).unwrap();
    let e = AnyReceiver::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e:?}");
    tx.send_slice(&[Light::Green, Light::Red]).unwrap();
    tx.send_slice(&[]).unwrap();
    drop(rx);
    let chan = name.0.clone();
    let child = in_child(move || {
        let mut any = AnyReceiver::open(&chan).unwrap();
        assert_eq!(any.max_len(), Some(16));
        let first = any.recv().unwrap();
        assert!(first.is_slice());
        assert_eq!(first.bytes(), [3, 1]);
        assert_eq!(first.decode().unwrap().to_json(), r#"["Green","Red"]"#);
        assert!(any.recv().unwrap().is_empty());
        // The sender's maximum holds for bytes too.
        let mut tx = AnySender::open(&chan).unwrap();
        let e = tx.send(&[1; 17]).unwrap_err();
        assert!(matches!(e, Error::LimitExceeded { .. }), "{e:?}");
        tx.send(&[2, 2, 2]).unwrap();
        assert_eq!(any.recv().unwrap().bytes(), [2, 2, 2]);
    });
    assert!(exited_ok(child));
}

#[test]
fn an_any_receiver_in_another_process_takes_a_packed_batch_message_by_message() {
    // `send_all` of 16-byte messages packs them (back to back, published by the first);
    // a receiver that knows only the schema reads them one at a time, then one sent alone.
    let name = Name::new("any-packed");
    let mut tx = Sender::<Order>::create(&name.0, Options::new().capacity(64)).unwrap();
    tx.send_all(&(0..40).map(order).collect::<Vec<_>>())
        .unwrap();
    tx.send(order(40)).unwrap();
    let chan = name.0.clone();
    let child = in_child(move || {
        let mut any = AnyReceiver::open(&chan).unwrap();
        for i in 0..41 {
            let sample = any.recv().unwrap();
            assert_eq!(sample.bytes(), ipc::as_bytes(&order(i)), "message {i}");
        }
        assert!(matches!(any.try_recv(), Err(Error::Empty)));
    });
    assert!(exited_ok(child));
}

#[test]
fn a_schema_that_is_not_the_one_its_header_names_is_refused_as_corrupt() {
    let name = Name::new("any-forged");
    let _publisher = Publisher::<Order>::create(&name.0, Options::new()).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.path())
        .unwrap();
    let bytes = std::fs::read(name.path()).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"price")
        .expect("the schema names the field");
    // Renamed: the schema still decodes, but its fingerprint is not the header's.
    file.write_at(b"prize", at as u64).unwrap();
    let e = AnySubscriber::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
    // Its length byte made to run past the end: it no longer decodes.
    file.write_at(&[0xff], (at - 1) as u64).unwrap();
    let e = AnySubscriber::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
}
