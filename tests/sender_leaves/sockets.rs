//! Unix stream, seqpacket and TCP sockets: a producer cannot send before a consumer has
//! accepted; what a departed producer sent reaches its connected consumer; a consumer
//! that closes unread is the sender's next `Disconnected`; and a producer whose consumer
//! does not read leaves (drop, `close(timeout)`) without hanging.

use super::*;

#[test]
fn unix_stream_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let dir = TempDir::new("unix");
    let path = dir.join("s").display().to_string();
    // Nobody listening: the producer cannot connect, and sends nothing.
    let e = ipc::socket::Stream::<u64>::connect(&path).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let mut consumer = Kid::spawn(&format!("unix-consume-later {path}"));
    consumer.wait_ready();
    Kid::spawn(&format!("unix-produce {path}")).finish();
    consumer.finish();
}

#[test]
fn unix_stream_a_consumer_that_closes_unread_is_the_senders_next_disconnected() {
    let dir = TempDir::new("unix-closes");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("unix-accept-and-close {path}"));
    consumer.wait_ready();
    let mut conn = ipc::socket::Stream::<u64>::connect(&path).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    // The consumer closes without reading: what was in its socket is gone, and the
    // sender learns it at its next send.
    consumer.finish();
    let e = conn.send(N).unwrap_err();
    assert!(e.is_disconnected(), "{e:?}");
}

/// A producer whose consumer never reads, and whose last `send_timeout` left part of a
/// message unwritten: dropping it gives up in a bounded time (the watchdog would kill a
/// hang), and the consumer, reading later, gets every message that went whole, then the
/// cut one as `Corrupt`, never as a message, then the end.
#[test]
fn unix_stream_a_producer_whose_consumer_does_not_read_leaves_and_cuts_its_last_message() {
    let dir = common::TempDir::new("unix-unread");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("unix-accept-and-hold {path}"));
    consumer.wait_ready();
    let mut producer = Kid::spawn(&format!("unix-partial-then-drop {path}"));
    let whole = producer.expect("whole");
    producer.finish();
    consumer.go();
    assert_eq!(consumer.expect("got"), format!("{whole} then corrupt"));
    consumer.finish();
}

/// `close(timeout)` on a producer whose consumer does not read gives up after the
/// timeout and ends the stream there, although the producer keeps its receiving half: the
/// consumer gets every message that went whole, the cut one as `Corrupt`, then the end.
#[test]
fn unix_stream_close_gives_up_in_time_and_ends_the_stream_while_the_receiving_half_lives() {
    let dir = common::TempDir::new("unix-close-unread");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("unix-accept-and-hold {path}"));
    consumer.wait_ready();
    let mut producer = Kid::spawn(&format!("unix-partial-then-close {path}"));
    let whole = producer.expect("whole");
    producer.expect("closed");
    consumer.go();
    assert_eq!(consumer.expect("got"), format!("{whole} then corrupt"));
    consumer.finish();
    producer.finish();
}

/// `close(timeout)` writes what a buffered producer holds; its consumer, reading only
/// afterwards, gets every message, then the end, while the producer still lives with its
/// receiving half.
#[test]
fn unix_stream_close_writes_what_the_sender_holds_and_ends_the_stream() {
    let dir = common::TempDir::new("unix-close");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("unix-consume-later {path}"));
    consumer.wait_ready();
    let mut producer = Kid::spawn(&format!("unix-produce-then-close {path}"));
    producer.expect("closed");
    consumer.finish();
    producer.finish();
}

#[test]
fn unix_sockets_a_producer_cannot_send_before_a_consumer_has_accepted() {
    let dir = TempDir::new("unix-unaccepted");
    let path = dir.join("s").display().to_string();
    let mut listener = Kid::spawn(&format!("unix-bind-only {path}"));
    listener.wait_ready();
    // Bound, never accepting: the handshake goes unanswered.
    let opts = ipc::socket::Options::new().handshake_timeout(Duration::from_millis(50));
    let e = ipc::socket::Stream::<u64>::connect_with(&path, &opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
    // The same for seqpacket sockets, and nobody listening is `NotFound`.
    let path = dir.join("p").display().to_string();
    let e = ipc::socket::SeqPacket::<u64>::connect(&path).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    let mut listener = Kid::spawn(&format!("seqpacket-bind-only {path}"));
    listener.wait_ready();
    let e = ipc::socket::SeqPacket::<u64>::connect_with(&path, &opts).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
}

/// Sends until a send fails (at most `bound` times), and returns that error: a peer that
/// closed is noticed by a later send, once its reset has come back.
fn send_until_refused(mut send: impl FnMut(u64) -> ipc::Result<()>, bound: u64) -> Error {
    for i in 0..bound {
        if let Err(e) = send(i) {
            return e;
        }
    }
    panic!("{bound} sends to a closed peer all succeeded");
}

#[test]
fn seqpacket_a_consumer_that_closes_unread_is_the_senders_next_disconnected() {
    let dir = TempDir::new("seqpacket-closes");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("seqpacket-accept-and-close {path}"));
    consumer.wait_ready();
    let mut conn = ipc::socket::SeqPacket::<u64>::connect(&path).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    consumer.finish();
    let e = conn
        .send(N)
        .map_err(ipc::SendError::into_error)
        .unwrap_err();
    assert!(e.is_disconnected(), "{e}");
}

#[test]
fn tcp_a_producer_cannot_send_before_a_consumer_has_accepted() {
    let mut listener = Kid::spawn("tcp-bind-only");
    let port: u16 = listener.expect("port").parse().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let e = ipc::tcp::Stream::<u64>::connect_timeout(&addr, Duration::from_millis(50)).unwrap_err();
    assert!(e.is_timeout(), "{e}");
    listener.finish();
    // Nobody listening any more: refused.
    let e = ipc::tcp::Stream::<u64>::connect(addr).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[test]
fn tcp_a_consumer_that_closes_unread_is_a_later_send_disconnected() {
    let mut consumer = Kid::spawn("tcp-accept-and-close");
    let port: u16 = consumer.expect("port").parse().unwrap();
    let mut conn = ipc::tcp::Stream::<u64>::connect(("127.0.0.1", port)).unwrap();
    for i in 0..N {
        conn.send(i).unwrap();
    }
    consumer.finish();
    // Its kernel answered the unread data with a reset; the first send may still go out
    // before the reset has arrived, a later one fails.
    let e = send_until_refused(|i| conn.send(i).map_err(ipc::SendError::into_error), 10_000);
    assert!(e.is_disconnected(), "{e}");
}

#[test]
fn seqpacket_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let dir = TempDir::new("seqpacket");
    let path = dir.join("s").display().to_string();
    let mut consumer = Kid::spawn(&format!("seqpacket-consume-later {path}"));
    consumer.wait_ready();
    Kid::spawn(&format!("seqpacket-produce {path}")).finish();
    consumer.finish();
}

/// As `unix_stream_a_producer_whose_consumer_does_not_read_leaves_and_cuts_its_last_message`,
/// over TCP.
#[test]
fn tcp_a_producer_whose_consumer_does_not_read_leaves_and_cuts_its_last_message() {
    let mut consumer = Kid::spawn("tcp-accept-and-hold");
    let port = consumer.expect("port");
    let mut producer = Kid::spawn(&format!("tcp-partial-then-drop {port}"));
    let whole = producer.expect("whole");
    producer.finish();
    consumer.go();
    assert_eq!(consumer.expect("got"), format!("{whole} then corrupt"));
    consumer.finish();
}

#[test]
fn tcp_delivers_what_a_departed_producer_sent_to_its_connected_consumer() {
    let mut consumer = Kid::spawn("tcp-consume-later");
    let port = consumer.expect("port");
    Kid::spawn(&format!("tcp-produce {port}")).finish();
    consumer.finish();
}
