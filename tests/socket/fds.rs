//! Descriptors over Unix stream sockets (`SCM_RIGHTS`): a memfd reaches an unrelated
//! process, descriptors stay with their message, and a receiver holds no more than its
//! `max_fds` for one message, whatever a raw peer sends (a message in pieces, descriptors
//! with each). Part of `tests/socket.rs`: its children re-run it as `fds::TEST`.

use super::*;

#[test]
fn a_memfd_passes_to_an_unrelated_process() {
    const TEXT: &[u8] = b"written by the sender into an anonymous memfd";
    if let Some((_, path)) = role() {
        let mut s = Stream::<u64>::connect(&path).unwrap();
        let (len, fds) = s.recv_with_fds().unwrap();
        assert_eq!(fds.len(), 1);
        let file = fs::File::from(fds.into_iter().next().unwrap());
        // The descriptor shares the sender's file offset: read and write at positions.
        let mut got = vec![0; len as usize];
        file.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(got, TEXT);
        // Answer through the same memory.
        file.write_all_at(b"+read", len).unwrap();
        s.send(len + 5).unwrap();
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("memfd.sock");
    let listener = Listener::<u64>::bind(&path).unwrap();
    let child = spawn(
        "fds::a_memfd_passes_to_an_unrelated_process",
        "reader",
        &path,
    );
    let mut s = listener.accept().unwrap();
    // Close-on-exec and nameless: the child cannot have it except through the socket.
    let memfd: OwnedFd =
        nix::sys::memfd::memfd_create("ipc-test", nix::sys::memfd::MFdFlags::MFD_CLOEXEC).unwrap();
    let mut file = fs::File::from(memfd);
    file.write_all(TEXT).unwrap();
    s.send_with_fds(TEXT.len() as u64, &[file.as_fd()]).unwrap();
    let total = s.recv_timeout(Duration::from_secs(10)).unwrap();
    common::assert_exit_success(child);
    let mut all = vec![0; total as usize];
    file.read_exact_at(&mut all, 0).unwrap();
    assert_eq!(&all[..TEXT.len()], TEXT);
    assert!(all.ends_with(b"+read"));
}

#[test]
fn too_many_fds_is_an_error_and_the_stream_goes_on() {
    if let Some((_, path)) = role() {
        let mut s = Stream::<u64>::connect(&path).unwrap();
        let files: Vec<fs::File> = (0..4)
            .map(|_| fs::File::open("/dev/null").unwrap())
            .collect();
        let fds: Vec<_> = files.iter().map(|f| f.as_fd()).collect();
        s.send(1).unwrap();
        s.send_with_fds(2, &fds).unwrap();
        s.send_with_fds(3, &fds[..1]).unwrap();
        s.send(4).unwrap();
        assert_eq!(s.recv().unwrap(), 0);
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("ctrunc.sock");
    let listener = Listener::<u64>::bind(&path).unwrap();
    let child = spawn(
        "fds::too_many_fds_is_an_error_and_the_stream_goes_on",
        "sender",
        &path,
    );
    let mut s = listener.accept().unwrap();
    s.set_max_fds(2);
    let t = Duration::from_secs(10);
    let (m, fds) = s.recv_with_fds_timeout(t).unwrap();
    assert_eq!((m, fds.len()), (1, 0));
    let err = s.recv_with_fds_timeout(t).unwrap_err();
    assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
    assert!(err.to_string().contains("closed the rest"), "{err}");
    println!("MSG_CTRUNC: {err}");
    let (m, fds) = s.recv_with_fds_timeout(t).unwrap();
    assert_eq!(
        (m, fds.len()),
        (3, 1),
        "descriptors go with their own message"
    );
    let (m, fds) = s.recv_with_fds_timeout(t).unwrap();
    assert_eq!((m, fds.len()), (4, 0));
    s.send(0).unwrap();
    common::assert_exit_success(child);
}

/// The descriptors this process has open.
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The record of `msg` on the wire (after a handshake).
fn record_of<T: ipc::Message>(msg: &T) -> Vec<u8> {
    let mut record = Vec::new();
    ipc::codec::write_message(&mut record, msg).unwrap();
    record
}

/// Sends `bytes` on the raw Unix stream `s` with one `sendmsg`, `fds` attached.
fn send_raw(s: &std::os::unix::net::UnixStream, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let raw: Vec<_> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [std::io::IoSlice::new(bytes)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    let n = sendmsg::<()>(s.as_raw_fd(), &iov, cmsgs, MsgFlags::empty(), None).unwrap();
    assert_eq!(n, bytes.len());
}

/// Sends `bytes` one byte per `sendmsg`, `fds` attached to each: a hostile peer's way of
/// sending many descriptors with one message.
fn drip(s: &std::os::unix::net::UnixStream, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) {
    for b in bytes.chunks(1) {
        send_raw(s, b, fds);
    }
}

/// Connects to the listener at `path` as a raw peer of `T` and exchanges handshakes.
fn raw_peer<T: ipc::Message>(path: &Path) -> std::os::unix::net::UnixStream {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.write_all(&ipc::codec::hello::<T>()).unwrap();
    let mut header = [0u8; ipc::codec::HEADER_LEN];
    s.read_exact(&mut header).unwrap();
    let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
    s.read_exact(&mut vec![0; len]).unwrap();
    s
}

#[test]
fn descriptors_sent_with_every_piece_of_a_message_refuse_it_and_the_next_arrives() {
    const TEST: &str =
        "fds::descriptors_sent_with_every_piece_of_a_message_refuse_it_and_the_next_arrives";
    if let Some((_, path)) = role() {
        // The receiver, alone in its process, so that its descriptors can be counted.
        let listener = Listener::<u64>::bind(&path).unwrap();
        let mut s = listener.accept().unwrap();
        let before = open_fds();
        let t = Duration::from_secs(10);
        let (m, fds) = s.recv_with_fds_timeout(t).unwrap();
        assert_eq!((m, fds.len()), (1, 1));
        drop(fds);
        // 16 pieces, 16 descriptors with each: refused once more than 16 are held.
        let err = s.recv_with_fds_timeout(t).unwrap_err();
        assert!(
            matches!(err, Error::LimitExceeded { value: 16, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("max_fds()"), "{err}");
        println!("pieces: {err}");
        let held = open_fds() - before;
        assert!(held <= 16, "{held} descriptors held for one message");
        let (m, fds) = s.recv_with_fds_timeout(t).unwrap();
        assert_eq!(
            (m, fds.len()),
            (3, 2),
            "the message after the refused one arrives, with its own descriptors"
        );
        drop(fds);
        assert_eq!(
            open_fds(),
            before,
            "the refused message's descriptors are closed"
        );
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("pieces.sock");
    let child = spawn(TEST, "receiver", &path);
    wait_for(&path);
    let s = raw_peer::<u64>(&path);
    let null = fs::File::open("/dev/null").unwrap();
    send_raw(&s, &record_of(&1u64), &[null.as_fd()]);
    drip(&s, &record_of(&2u64), &[null.as_fd(); 16]);
    send_raw(&s, &record_of(&3u64), &[null.as_fd(), null.as_fd()]);
    common::assert_exit_success(child);
}

#[test]
fn descriptors_sent_with_pieces_of_an_unfinished_message_are_closed_as_they_come() {
    type Big = [u8; 4000];
    const TEST: &str =
        "fds::descriptors_sent_with_pieces_of_an_unfinished_message_are_closed_as_they_come";
    const PIECES: usize = 40;
    if let Some((_, path)) = role() {
        let listener = Listener::<Big>::bind(&path).unwrap();
        let mut s = listener.accept().unwrap();
        let before = open_fds();
        // The peer sends the first 40 bytes of a message, 16 descriptors with each byte,
        // and says so on stdin.
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        assert_eq!(line.trim_end(), "sent");
        // A plain receive, which takes no descriptors, is told at once.
        let err = s.recv_timeout(Duration::from_secs(10)).unwrap_err();
        assert!(matches!(err, Error::LimitExceeded { .. }), "{err}");
        println!("unfinished: {err}");
        // The rest of the pieces is read, each piece's descriptors closed as it comes.
        let err = s.recv_timeout(Duration::from_millis(100)).unwrap_err();
        assert!(err.is_timeout(), "the message is not whole yet: {err}");
        let held = open_fds() - before;
        assert!(
            held <= 16,
            "{held} descriptors held for an unfinished message"
        );
        // Tell the peer, which sends the rest of the message and one more.
        s.send([0; 4000]).unwrap();
        let next = s.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(
            next.iter().all(|&b| b == 2),
            "the refused message is dropped whole"
        );
        assert_eq!(open_fds(), before);
        return;
    }
    let dir = TempDir::new();
    let path = dir.path("unfinished.sock");
    let mut child = spawn(TEST, "receiver", &path);
    wait_for(&path);
    let mut s = raw_peer::<Big>(&path);
    let null = fs::File::open("/dev/null").unwrap();
    let first = record_of(&[1u8; 4000]);
    drip(&s, &first[..PIECES], &[null.as_fd(); 16]);
    writeln!(child.stdin.as_mut().unwrap(), "sent").unwrap();
    // The receiver's go-ahead: the first byte of its message.
    s.read_exact(&mut [0; 1]).unwrap();
    send_raw(&s, &first[PIECES..], &[]);
    send_raw(&s, &record_of(&[2u8; 4000]), &[]);
    common::assert_exit_success(child);
}

#[test]
fn descriptors_stay_with_their_message() {
    // In one process, through a socket pair: descriptors received by a plain `recv` are
    // closed, never handed to a later message.
    let (mut a, mut b) = Stream::<u32>::pair().unwrap();
    let null = fs::File::open("/dev/null").unwrap();
    a.send_with_fds(1, &[null.as_fd()]).unwrap();
    a.send(2).unwrap();
    a.send_with_fds(3, &[null.as_fd(), null.as_fd()]).unwrap();
    assert_eq!(b.recv().unwrap(), 1);
    let (m, fds) = b.recv_with_fds().unwrap();
    assert_eq!((m, fds.len()), (2, 0));
    let (m, fds) = b.recv_with_fds().unwrap();
    assert_eq!((m, fds.len()), (3, 2));
    assert!(matches!(b.try_recv(), Err(Error::Empty)));
}

#[test]
fn a_request_response_client_takes_no_descriptors() {
    const TEST: &str = "fds::a_request_response_client_takes_no_descriptors";
    if let Some((_, path)) = role() {
        // The client, alone in its process, so that its descriptors can be counted.
        let mut client = Client::<u64, u64>::connect(&path).unwrap();
        let before = open_fds();
        let t = Duration::from_secs(10);
        assert_eq!(client.call_timeout(1, t).unwrap(), 2);
        assert_eq!(client.call_timeout(2, t).unwrap(), 3);
        assert_eq!(open_fds(), before, "no descriptor of the server's is held");
        return;
    }
    // A server that sends each answer a byte at a time, 16 descriptors with each byte: a
    // client has no use for them, and every call is answered all the same.
    let dir = TempDir::new();
    let path = dir.path("rpc-fds.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let child = spawn(TEST, "client", &path);
    let (mut s, _) = listener.accept().unwrap();
    s.write_all(&ipc::codec::rpc_hello::<u64, u64>()).unwrap();
    // The client's handshake: two records (what it sends, what it takes).
    for _ in 0..2 {
        let mut header = [0u8; ipc::codec::HEADER_LEN];
        s.read_exact(&mut header).unwrap();
        let len = u32::from_le_bytes(header[4..].try_into().unwrap()) as usize;
        s.read_exact(&mut vec![0; len]).unwrap();
    }
    let null = fs::File::open("/dev/null").unwrap();
    for _ in 0..2 {
        let mut request = record_of(&0u64);
        s.read_exact(&mut request).unwrap();
        let n = u64::from_ne_bytes(request[ipc::codec::HEADER_LEN..].try_into().unwrap());
        drip(&s, &record_of(&(n + 1)), &[null.as_fd(); 16]);
    }
    common::assert_exit_success(child);
}

#[test]
fn an_odd_max_fds_takes_no_more() {
    // One descriptor more than the limit, with one send: the kernel closes it, and the
    // message is refused (an odd limit leaves padding in the control buffer that would
    // hold one more).
    let (mut a, mut b) = Stream::<u32>::pair().unwrap();
    b.set_max_fds(1);
    let null = fs::File::open("/dev/null").unwrap();
    a.send_with_fds(1, &[null.as_fd(), null.as_fd()]).unwrap();
    a.send_with_fds(2, &[null.as_fd()]).unwrap();
    let err = b.recv_with_fds().unwrap_err();
    assert!(
        matches!(err, Error::LimitExceeded { value: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("closed the rest"), "{err}");
    let (m, fds) = b.recv_with_fds().unwrap();
    assert_eq!((m, fds.len()), (2, 1));
}
