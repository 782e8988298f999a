//! Every end that owns a descriptor lends it (`AsFd`, `AsRawFd`), so it can join a
//! `poll(2)` set or an event loop beside other descriptors.

use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

/// True if `fd` becomes readable (or hung up) within `ms` milliseconds.
fn readable(fd: &impl AsFd, ms: u16) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
}

/// Compiles only for a type that lends its descriptor both ways.
fn lends_its_fd<T: AsFd + AsRawFd>() {}

#[test]
fn every_end_with_a_descriptor_lends_it() {
    use ipc::{mq, pipe, signal, socket, tcp};
    lends_its_fd::<pipe::Sender<u64>>();
    lends_its_fd::<pipe::Receiver<u64>>();
    lends_its_fd::<ipc::fifo::Sender<u64>>();
    lends_its_fd::<ipc::fifo::Receiver<u64>>();
    lends_its_fd::<mq::Sender<u64>>();
    lends_its_fd::<mq::Receiver<u64>>();
    lends_its_fd::<socket::Listener<u64>>();
    lends_its_fd::<socket::Stream<u64>>();
    lends_its_fd::<socket::Sender<u64>>();
    lends_its_fd::<socket::Receiver<u64>>();
    lends_its_fd::<socket::SeqPacketListener<u64>>();
    lends_its_fd::<socket::SeqPacket<u64>>();
    lends_its_fd::<socket::Client<u64, u64>>();
    lends_its_fd::<tcp::Listener<u64>>();
    lends_its_fd::<tcp::Stream<u64>>();
    lends_its_fd::<tcp::Client<u64, u64>>();
    lends_its_fd::<signal::Signals>();

    // The raw descriptor is the borrowed one, and stays the same.
    let (tx, rx) = pipe::channel::<u64>().unwrap();
    assert_eq!(rx.as_raw_fd(), rx.as_fd().as_raw_fd());
    assert_eq!(tx.as_raw_fd(), tx.as_fd().as_raw_fd());
    assert_ne!(tx.as_raw_fd(), rx.as_raw_fd());
}

#[test]
fn a_pipe_receiver_polled_by_its_raw_fd_is_readable_once_a_message_is_sent() {
    let (mut tx, mut rx) = ipc::pipe::channel::<u64>().unwrap();
    let raw = |fd: i32, ms: i32| {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd, and the count says one.
        let n = unsafe { libc::poll(&mut p, 1, ms) };
        assert!(n >= 0, "poll: {}", std::io::Error::last_os_error());
        n == 1
    };
    // The sender's handshake comes with its first message: nothing to read yet.
    assert!(!raw(rx.as_raw_fd(), 0));
    tx.send(7).unwrap();
    assert!(raw(rx.as_raw_fd(), 5000));
    assert_eq!(rx.recv().unwrap(), 7);
    assert!(!raw(rx.as_raw_fd(), 0));
}

/// A handler that answers slowly to request 1, so that the call gives up first.
fn slow_on_one(req: u64) -> u64 {
    if req == 1 {
        thread::sleep(Duration::from_millis(300));
    }
    req * 10
}

/// A fresh directory of this run, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_unix_client_is_readable_when_a_late_answer_arrives() {
    let dir = TempDir(std::env::temp_dir().join(format!("ipc-as-fd-{}", std::process::id())));
    std::fs::create_dir(&dir.0).unwrap();
    let path = dir.0.join("rpc.sock");
    let mut server = ipc::socket::Server::<u64, u64>::bind(&path).unwrap();
    let serving = thread::spawn(move || server.serve_clients(1, slow_on_one));

    let mut client = ipc::socket::Client::<u64, u64>::connect(&path).unwrap();
    assert!(!readable(&client, 0));
    let late = client.call_timeout(1, Duration::from_millis(20));
    assert!(matches!(late, Err(ipc::Error::Timeout(_))), "{late:?}");
    assert!(readable(&client, 5000), "the late answer never came");
    // The next call skips the late answer.
    assert_eq!(client.call(2).unwrap(), 20);
    assert!(!readable(&client, 0));

    drop(client);
    serving.join().unwrap().unwrap();
}

#[test]
fn a_tcp_client_is_readable_when_a_late_answer_arrives() {
    let mut server = ipc::tcp::Server::<u64, u64>::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let serving = thread::spawn(move || server.serve_clients(1, slow_on_one));

    let mut client = ipc::tcp::Client::<u64, u64>::connect(addr).unwrap();
    assert!(!readable(&client, 0));
    let late = client.call_timeout(1, Duration::from_millis(20));
    assert!(matches!(late, Err(ipc::Error::Timeout(_))), "{late:?}");
    assert!(readable(&client, 5000), "the late answer never came");
    assert_eq!(client.call(3).unwrap(), 30);
    assert!(!readable(&client, 0));
    drop(client);
    serving.join().unwrap().unwrap();
}
