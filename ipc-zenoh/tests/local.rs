//! The typed ends of `ipc_zenoh` between two sessions of this process on loopback: what
//! crosses, what is refused and how it is reported. (Across two hosts: `two_hosts.rs`.)

mod hosts;

use std::time::Duration;

use ipc::{FixedStr, Message, Rx};
use ipc_zenoh::zenoh::Wait;
use ipc_zenoh::{Options, Publisher, Querier, Queryable, Subscriber};

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Order {
    id: u64,
    symbol: FixedStr<8>,
    qty: u32,
    side: Side,
    _pad: [u8; 3],
}

#[derive(Clone, Copy, Debug, PartialEq, Message)]
#[repr(C)]
struct Point {
    x: f64,
    y: f64,
}

const WAIT: Duration = Duration::from_secs(10);

/// Two sessions joined on loopback, as two hosts would be.
fn sessions() -> (zenoh::Session, zenoh::Session) {
    let listen = format!("tcp/127.0.0.1:{}", hosts::free_port());
    let a = ipc_zenoh::open(ipc_zenoh::config::peer(&[&listen], &[]).unwrap()).unwrap();
    let b = ipc_zenoh::open(ipc_zenoh::config::peer(&[], &[&listen]).unwrap()).unwrap();
    (a, b)
}

fn key(tag: &str) -> String {
    format!("ipc-test/{}/{tag}", std::process::id())
}

fn order(id: u64) -> Order {
    Order {
        id,
        symbol: ipc::fixed_str!("ACME"),
        qty: 7,
        side: Side::Sell,
        _pad: [0; 3],
    }
}

/// The attachment a typed publisher of `Order` would put on sample `seq` of `source`
/// (the tag's layout is documented in the crate docs, "Wire format").
fn tag(fingerprint: u64, source: u64, seq: u64) -> Vec<u8> {
    let mut t = b"ipc\x01\x00".to_vec();
    t.extend_from_slice(&fingerprint.to_le_bytes());
    t.extend_from_slice(&source.to_le_bytes());
    t.extend_from_slice(&seq.to_le_bytes());
    t
}

/// A raw publisher of `key` that waits until `rx`'s subscription is known to it.
fn raw(session: &zenoh::Session, key: &str) -> zenoh::pubsub::Publisher<'static> {
    let p = session
        .declare_publisher(key.to_owned())
        .congestion_control(zenoh::qos::CongestionControl::Block)
        .wait()
        .unwrap();
    while !p.matching_status().wait().unwrap().matching() {
        std::thread::sleep(Duration::from_millis(5));
    }
    p
}

#[test]
fn messages_and_slices_cross_checked_and_in_order() {
    let (a, b) = sessions();
    let mut rx = Subscriber::<Order>::declare(&b, &key("orders")).unwrap();
    let mut points_rx = Subscriber::<[Point]>::declare(&b, &key("points")).unwrap();
    let mut tx = Publisher::<Order>::declare(&a, &key("orders")).unwrap();
    let mut points_tx = Publisher::<[Point]>::declare(&a, &key("points")).unwrap();
    tx.wait_for_subscribers(WAIT).unwrap();
    points_tx.wait_for_subscribers(WAIT).unwrap();
    for id in 0..100 {
        tx.send(order(id)).unwrap();
    }
    for id in 0..100 {
        let s = rx.recv_timeout(WAIT).unwrap();
        assert_eq!(*s, order(id));
        assert_eq!(s.key(), key("orders"));
    }
    // Through the contract trait too.
    tx.send_ref(&order(100)).unwrap();
    assert_eq!(Rx::recv_timeout(&mut rx, WAIT).unwrap(), order(100));
    assert_eq!((rx.received(), rx.missed(), rx.invalid()), (101, 0, 0));

    // Slices: empty, small, and one of 2 MB (many Zenoh fragments: copied once into the
    // subscriber's aligned buffer).
    let big: Vec<Point> = (0..131_072)
        .map(|i| Point {
            x: i as f64,
            y: -(i as f64),
        })
        .collect();
    for len in [0, 1, 3, big.len()] {
        points_tx.send_slice(&big[..len]).unwrap();
        assert_eq!(&*points_rx.recv_timeout(WAIT).unwrap(), &big[..len]);
    }
}

#[test]
fn bad_samples_are_refused_counted_and_skipped() {
    let (a, b) = sessions();
    let k = key("bad");
    let mut rx = Subscriber::<Order>::declare(&b, &k).unwrap();
    let p = raw(&a, &k);
    let good = ipc::as_bytes(&order(1)).to_vec();
    let mut bad_side = good.clone();
    bad_side[20] = 9; // no Side has 9
    let put = |bytes: &[u8], attachment: Option<Vec<u8>>| {
        let mut put = p.put(bytes.to_vec());
        if let Some(a) = attachment {
            put = put.attachment(a);
        }
        put.wait().unwrap();
    };
    let fp = Order::FINGERPRINT;
    put(&good, None); // untyped
    put(&bad_side, Some(tag(fp, 1, 0))); // an invalid enum
    put(&good[..10], Some(tag(fp, 1, 1))); // too short
    put(&good, Some(tag(fp ^ 1, 2, 0))); // another schema, another source
    put(&good, Some(tag(fp, 1, 2))); // good
    put(&good, Some(tag(fp, 1, 6))); // good, after a gap of 3
    assert!(matches!(rx.recv_timeout(WAIT), Err(ipc::Error::Corrupt(_))));
    match rx.recv_timeout(WAIT) {
        Err(ipc::Error::InvalidMessage(e)) => assert_eq!(e.field(), "side"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rx.recv_timeout(WAIT),
        Err(ipc::Error::InvalidMessage(_))
    ));
    match rx.recv_timeout(WAIT) {
        Err(ipc::Error::SchemaMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected.name, "Order");
            assert_eq!(found.fingerprint, fp ^ 1);
            // Nobody answers for that fingerprint: its type is said to be unknown.
            assert!(found.name.contains("unknown"), "{}", found.name);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(*rx.recv_timeout(WAIT).unwrap(), order(1));
    assert!(matches!(rx.recv_timeout(WAIT), Err(ipc::Error::Lagged(3))));
    assert_eq!(*rx.recv_timeout(WAIT).unwrap(), order(1));
    assert_eq!(
        (rx.received(), rx.missed(), rx.mismatched(), rx.invalid()),
        (2, 3, 1, 3)
    );
    assert!(matches!(rx.try_recv(), Err(ipc::Error::Empty)));
}

#[test]
fn a_schema_nobody_named_at_first_is_named_once_its_publisher_answers() {
    let (a, b) = sessions();
    let k = key("late-schema");
    let mut rx = Subscriber::<Order>::declare(&b, &k).unwrap();
    let p = raw(&a, &k);
    let point = ipc::as_bytes(&Point { x: 1.0, y: 2.0 }).to_vec();
    let mut seq = 0;
    // A sample of `Point`, tagged as a typed publisher of `Point` tags it: the name the
    // subscriber gives its type in the mismatch it reports.
    let mut found = || {
        p.put(point.clone())
            .attachment(tag(Point::FINGERPRINT, 9, seq))
            .wait()
            .unwrap();
        seq += 1;
        match rx.recv_timeout(WAIT) {
            Err(ipc::Error::SchemaMismatch { found, .. }) => found.name,
            other => panic!("{other:?}"),
        }
    };
    // Nobody serves `Point`'s schema yet.
    assert!(found().contains("unknown"));
    // Now a typed publisher of `Point` answers for it: a later mismatch asks again and
    // names it (the first lookup's answer is not kept for ever).
    let _points = Publisher::<Point>::declare(&a, &k).unwrap();
    let give_up = std::time::Instant::now() + WAIT;
    loop {
        let name = found();
        if name == "Point" {
            break;
        }
        assert!(name.contains("unknown"), "{name}");
        assert!(std::time::Instant::now() < give_up, "never named");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(rx.received(), 0);
}

#[test]
fn a_slice_subscriber_refuses_a_message_and_slices_too_long() {
    let (a, b) = sessions();
    let k = key("shapes");
    let mut rx = Subscriber::<[Point]>::declare_with(&b, &k, Options::new().max_len(2)).unwrap();
    let mut one = Publisher::<Point>::declare(&a, &k).unwrap();
    one.wait_for_subscribers(WAIT).unwrap();
    one.send(Point { x: 1.0, y: 2.0 }).unwrap();
    match rx.recv_timeout(WAIT) {
        Err(ipc::Error::SchemaMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected.name, "[Point]");
            assert_eq!(found.name, "Point");
        }
        other => panic!("{other:?}"),
    }
    let mut many = Publisher::<[Point]>::declare(&a, &k).unwrap();
    many.send_slice(&[Point { x: 0.0, y: 0.0 }; 3]).unwrap();
    assert!(matches!(
        rx.recv_timeout(WAIT),
        Err(ipc::Error::LimitExceeded { .. })
    ));
    many.send_slice(&[Point { x: 0.0, y: 0.0 }; 2]).unwrap();
    assert_eq!(rx.recv_timeout(WAIT).unwrap().len(), 2);
}

#[test]
fn queries_are_answered_typed_and_other_types_refused() {
    let (a, b) = sessions();
    let k = key("sum");
    let mut server = Queryable::<[u32; 2], u64>::declare(&a, &k).unwrap();
    let serve = std::thread::spawn(move || {
        let mut refused = Vec::new();
        for _ in 0..3 {
            match server.recv_timeout(WAIT) {
                Ok(req) => {
                    let sum = req[0] as u64 + req[1] as u64;
                    req.reply(&sum).unwrap();
                }
                Err(e) => refused.push(e.to_string()),
            }
        }
        (refused, server.mismatched())
    });
    let mut calc = Querier::<[u32; 2], u64>::declare(&b, &k).unwrap();
    // The queryable's declaration may not have reached this session yet.
    let mut sum = calc.call(&[2, 3]);
    while let Err(ipc::Error::NotFound { .. }) = sum {
        std::thread::sleep(Duration::from_millis(10));
        sum = calc.call(&[2, 3]);
    }
    assert_eq!(sum.unwrap(), 5);
    assert_eq!(calc.call(&[40, 2]).unwrap(), 42);
    let mut other = Querier::<[u32; 2], u32>::declare(&b, &k).unwrap();
    match other.call(&[1, 1]) {
        Err(ipc::Error::SchemaMismatch {
            expected, found, ..
        }) => {
            assert_eq!(expected.name, "u32");
            assert_eq!(found.name, "u64");
        }
        r => panic!("{r:?}"),
    }
    let (refused, mismatched) = serve.join().unwrap();
    assert_eq!(mismatched, 1);
    assert!(
        refused[0].contains("u32") && refused[0].contains("u64"),
        "{refused:?}"
    );
}

#[test]
fn a_bad_key_is_an_error() {
    let (a, _b) = sessions();
    let e = Publisher::<u64>::declare(&a, "a//b").unwrap_err();
    assert!(matches!(e, ipc::Error::InvalidName { .. }), "{e}");
    let e = Subscriber::<u64>::declare(&a, "a/**/").unwrap_err();
    assert!(matches!(e, ipc::Error::InvalidName { .. }), "{e}");
}
