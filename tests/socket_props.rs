//! Bad input: a raw writer sends arbitrary bytes into a typed receiver (Unix stream,
//! Unix seqpacket, TCP, and the byte streams: an anonymous pipe and a FIFO). The receiver
//! returns errors only: no panic, no hang beyond its timeout, and what it does return is a
//! valid message.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use ipc::socket::{Options, SeqPacket, Stream};
use ipc::{codec, Error, FixedStr};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use proptest::prelude::*;

mod common;

type Msg = FixedStr<12>;

const T: Duration = Duration::from_millis(20);

fn opts() -> Options {
    Options::new().handshake_timeout(T)
}

fn pair(ty: SockType) -> (OwnedFd, OwnedFd) {
    socketpair(AddressFamily::Unix, ty, None, SockFlag::SOCK_CLOEXEC).unwrap()
}

/// What a raw writer sends: garbage, or a valid handshake followed by garbage, or valid
/// frames with some bytes flipped.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    let garbage = prop::collection::vec(any::<u8>(), 0..600);
    prop_oneof![
        garbage.clone(),
        garbage.clone().prop_map(|g| {
            let mut w = codec::hello::<Msg>();
            w.extend(g);
            w
        }),
        (
            prop::collection::vec("[a-z€]{0,4}", 0..8),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)
        )
            .prop_map(|(words, flips)| {
                let mut w = Vec::new();
                codec::write_hello::<Msg, _>(&mut w).unwrap();
                for word in words {
                    codec::write_message(&mut w, &Msg::truncating(&word)).unwrap();
                }
                for (i, b) in flips {
                    let i = i.index(w.len());
                    w[i] ^= b;
                }
                w
            }),
    ]
}

/// Reads until the stream is empty (a timeout) or ended: every success must be a valid
/// message, every error one of bad input (an invalid message drops only itself, so reading
/// goes on after it). Bounded in time.
fn drain(mut next: impl FnMut() -> Result<Msg, Error>) -> Result<usize, TestCaseError> {
    let start = Instant::now();
    let (mut n, mut errors) = (0, 0);
    loop {
        match next() {
            Ok(m) => {
                prop_assert!(m.as_str().len() <= 12);
                n += 1;
            }
            Err(Error::Timeout(_) | Error::Disconnected) => break,
            Err(Error::Corrupt(_) | Error::InvalidMessage(_) | Error::SchemaMismatch { .. }) => {
                errors += 1
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
        prop_assert!(n + errors <= 1000, "more results than bytes could hold");
    }
    prop_assert!(start.elapsed() < Duration::from_secs(5), "hung");
    Ok(n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn unix_stream_receiver_survives_arbitrary_bytes(bytes in wire(), close in any::<bool>()) {
        let (raw, typed) = pair(SockType::Stream);
        let mut raw = std::fs::File::from(raw);
        raw.write_all(&bytes).unwrap();
        if close {
            drop(raw);
            match Stream::<Msg>::from_fd_with(typed, &opts()) {
                Ok(mut s) => { drain(|| s.recv_timeout(T))?; }
                Err(e) => prop_assert!(!matches!(e, Error::Timeout(_)), "{e}"),
            }
        } else {
            // The writer stays: the receiver must give up after its timeout.
            if let Ok(s) = Stream::<Msg>::from_fd_with(typed, &opts()).as_mut() {
                drain(|| s.recv_timeout(T))?;
                prop_assert!(s.try_recv().is_err());
            }
            drop(raw);
        }
    }

    #[test]
    fn seqpacket_receiver_survives_arbitrary_datagrams(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..6),
        fingerprint in any::<bool>(),
    ) {
        let (raw, typed) = pair(SockType::SeqPacket);
        let hello = codec::hello::<Msg>();
        nix::sys::socket::send(std::os::fd::AsRawFd::as_raw_fd(&raw), &hello, MsgFlags::empty()).unwrap();
        for mut d in datagrams {
            if fingerprint && d.len() >= 8 {
                d[..8].copy_from_slice(&<Msg as ipc::Message>::FINGERPRINT.to_le_bytes());
            }
            nix::sys::socket::send(std::os::fd::AsRawFd::as_raw_fd(&raw), &d, MsgFlags::empty()).unwrap();
        }
        let mut s = SeqPacket::<Msg>::from_fd(typed).unwrap();
        // Each bad datagram is one error; keep reading until the stream is empty.
        let start = Instant::now();
        loop {
            match s.recv_timeout(T) {
                Ok(m) => prop_assert!(m.as_str().len() <= 12),
                Err(Error::Timeout(_)) => break,
                Err(Error::Corrupt(_) | Error::SchemaMismatch { .. } | Error::InvalidMessage(_)) => {}
                Err(Error::Disconnected) => prop_assert!(false, "the writer is alive"),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
            prop_assert!(start.elapsed() < Duration::from_secs(5), "hung");
        }
        drop(raw);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pipe_receiver_survives_arbitrary_bytes(bytes in wire(), close in any::<bool>()) {
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut raw = std::fs::File::from(w);
        // At most a few hundred bytes: the pipe holds them all, no reader needed yet.
        raw.write_all(&bytes).unwrap();
        if close {
            drop(raw);
            let mut rx = ipc::pipe::Receiver::<Msg>::from_fd(r);
            drain(|| rx.recv_timeout(T))?;
        } else {
            let mut rx = ipc::pipe::Receiver::<Msg>::from_fd(r);
            drain(|| rx.recv_timeout(T))?;
            prop_assert!(rx.try_recv().is_err());
            drop(raw);
        }
    }

    #[test]
    fn fifo_receiver_survives_arbitrary_bytes(bytes in wire(), close in any::<bool>()) {
        let path = std::env::temp_dir().join(common::unique("props-fifo"));
        let guard = ipc::fifo::create(&path).unwrap();
        let mut rx = ipc::fifo::Receiver::<Msg>::open(guard.path()).unwrap();
        let mut raw = std::fs::OpenOptions::new().write(true).open(guard.path()).unwrap();
        raw.write_all(&bytes).unwrap();
        if close {
            drop(raw);
            drain(|| rx.recv_timeout(T))?;
        } else {
            drain(|| rx.recv_timeout(T))?;
            prop_assert!(rx.try_recv().is_err());
            drop(raw);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn tcp_receiver_survives_arbitrary_bytes(bytes in wire()) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut raw = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        raw.write_all(&bytes).unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        let (conn, _) = listener.accept().unwrap();
        match ipc::tcp::Stream::<Msg>::from_std(conn) {
            Ok(mut s) => { drain(|| s.recv_timeout(T))?; }
            Err(e) => prop_assert!(!matches!(e, Error::Timeout(_)), "{e}"),
        }
    }
}

#[test]
fn seqpacket_recv_into_refuses_short_and_wrong_datagrams_and_goes_on() {
    let (raw, typed) = pair(SockType::SeqPacket);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&raw);
    nix::sys::socket::send(fd, &codec::hello::<Msg>(), MsgFlags::empty()).unwrap();
    let mut s = SeqPacket::<Msg>::from_fd(typed).unwrap();
    let fp = <Msg as ipc::Message>::FINGERPRINT.to_le_bytes();
    let mut good = fp.to_vec();
    good.extend_from_slice(ipc::as_bytes(&Msg::truncating("ok")));
    let mut wrong_fp = good.clone();
    wrong_fp[0] ^= 1;
    for d in [
        &[1u8, 2, 3][..],
        &fp[..],
        &good[..good.len() - 1],
        &wrong_fp[..],
        &good[..],
    ] {
        nix::sys::socket::send(fd, d, MsgFlags::empty()).unwrap();
    }
    let mut out = Msg::truncating("before");
    for _ in 0..3 {
        let e = s.recv_into(&mut out).unwrap_err();
        assert!(matches!(e, Error::Corrupt(_)), "{e}");
    }
    let e = s.recv_into(&mut out).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    assert_eq!(out.as_str(), "before", "refused datagrams leave *out alone");
    s.recv_into(&mut out).unwrap();
    assert_eq!(out.as_str(), "ok");
}

#[test]
fn seqpacket_datagram_longer_than_any_frame_is_detected() {
    let (raw, typed) = pair(SockType::SeqPacket);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&raw);
    nix::sys::socket::send(fd, &codec::hello::<Msg>(), MsgFlags::empty()).unwrap();
    nix::sys::socket::send(fd, &[0xab; 5000], MsgFlags::empty()).unwrap();
    nix::sys::socket::send(fd, &[], MsgFlags::empty()).unwrap();
    let mut good = <Msg as ipc::Message>::FINGERPRINT.to_le_bytes().to_vec();
    good.extend_from_slice(ipc::as_bytes(&Msg::truncating("ok")));
    nix::sys::socket::send(fd, &good, MsgFlags::empty()).unwrap();
    let mut s = SeqPacket::<Msg>::from_fd(typed).unwrap();
    let err = s.recv_timeout(T).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert!(
        err.to_string().contains("5000 bytes"),
        "MSG_TRUNC gives the real size: {err}"
    );
    let err = s.recv_timeout(T).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "an empty datagram: {err}");
    assert_eq!(
        s.recv_timeout(T).unwrap().as_str(),
        "ok",
        "the next datagram is fine"
    );
    drop(raw);
    assert!(s.recv_timeout(T).unwrap_err().is_disconnected());
}
