//! System V message queues across real processes: selective retrieval by type, removal
//! as disconnect, schema refusal, limits, permissions, timeouts, and arbitrary bytes from
//! a raw `msgsnd`.
//!
//! Child processes re-run this binary on the test `child_role` with `IPC_TEST_ROLE` naming
//! what to do; the parent always asserts their exit status.

use std::process::Command;
use std::time::Duration;

use ipc::sysv::{Key, Options, Receiver, Sender};
use ipc::Error;
use proptest::prelude::*;

const ROLE: &str = "IPC_TEST_ROLE";
const ID: &str = "IPC_TEST_QUEUE_ID";

/// A queue removed on drop (if the test has not removed it).
struct Guard(i32);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID ignores the buffer; a stale id just fails.
        unsafe { libc::msgctl(self.0, libc::IPC_RMID, std::ptr::null_mut()) };
        // And its registry, which a raw removal leaves (the crate's `remove` takes it).
        let _ = std::fs::remove_file(format!("/dev/shm/ipc-msg.{}", self.0));
    }
}

fn private<T: ipc::Message>() -> (Sender<T>, Guard) {
    let tx = Sender::<T>::create(Key::Private, Options::new()).unwrap();
    let g = Guard(tx.id());
    (tx, g)
}

mod common;

fn child(role: &str, id: i32) -> common::Kid {
    common::Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(ID, id.to_string()),
    )
}

/// Runs `role` in a child process on queue `id` and asserts that it succeeded.
fn run_child(role: &str, id: i32) {
    child(role, id).assert_success(role);
}

/// The entry point of child processes; does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let id: i32 = std::env::var(ID).unwrap().parse().unwrap();
    match role.as_str() {
        "select-by-type" => {
            let rx = Receiver::<u32>::from_id(id).unwrap();
            assert_eq!(rx.recv_type(2).unwrap(), (20, 2), "only type 2");
            assert_eq!(rx.recv_type(-3).unwrap(), (10, 1), "lowest type <= 3");
            assert_eq!(rx.recv_type(-3).unwrap(), (11, 1));
            assert_eq!(rx.recv_type(0).unwrap(), (30, 3), "then any");
            assert!(matches!(rx.try_recv_type(2), Err(Error::Empty)));
        }
        "recv-until-removed" => {
            let mut rx = Receiver::<u64>::from_id(id).unwrap();
            assert_eq!(rx.recv().unwrap(), 1);
            let e = rx.recv().unwrap_err();
            assert!(e.is_disconnected(), "{e}");
        }
        "send-u64" => {
            let mut tx = Sender::<u64>::from_id(id).unwrap();
            tx.send(7).unwrap();
        }
        "open-as-nobody" => {
            nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).unwrap();
            nix::unistd::setuid(nix::unistd::Uid::from_raw(65534)).unwrap();
            let e = Receiver::<u64>::open(Key::Value(id)).unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            assert!(e.to_string().contains("check its owner and mode"), "{e}");
        }
        "key-zero" => {
            // Key 0 is IPC_PRIVATE to the kernel: each of these would make a new queue.
            let results = [
                Receiver::<u64>::open(Key::Value(0)).map(|q| q.id()),
                Sender::<u64>::open(Key::Value(0)).map(|q| q.id()),
                Sender::<u64>::create(Key::Value(0), Options::new()).map(|q| q.id()),
                Receiver::<u64>::open_or_create(Key::Value(0), Options::new()).map(|q| q.id()),
            ];
            let leaked: Vec<i32> = results
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .copied()
                .collect();
            for id in &leaked {
                drop(Guard(*id));
            }
            assert!(leaked.is_empty(), "key 0 made queues {leaked:?}");
            for r in results {
                let e = r.unwrap_err();
                assert!(matches!(e, Error::InvalidName { .. }), "{e}");
                assert!(e.to_string().contains("Key::Private"), "{e}");
            }
        }
        "key-under-file" => {
            let dir = common::TempDir::new("sysv");
            let file = dir.join("file");
            std::fs::write(&file, b"").unwrap();
            let e = Key::from_path(file.join("x"), 1).unwrap_err();
            assert!(matches!(e, Error::NotFound { .. }), "{e}");
        }
        r => panic!("unknown role {r}"),
    }
}

#[test]
fn key_zero_is_refused_and_never_makes_a_queue() {
    run_child("key-zero", 0);
}

#[test]
fn a_key_under_a_regular_file_is_not_found() {
    run_child("key-under-file", 0);
}

#[test]
fn a_receiver_in_another_process_selects_messages_by_type() {
    let (mut tx, _g) = private::<u32>();
    tx.send_with_type(30, 3).unwrap();
    tx.send_with_type(10, 1).unwrap();
    tx.send_with_type(20, 2).unwrap();
    tx.send(11).unwrap(); // default type 1
    assert_eq!(tx.len().unwrap(), 4);
    run_child("select-by-type", tx.id());
}

#[test]
fn removing_the_queue_wakes_a_blocked_receiver_with_disconnected() {
    let (mut tx, _g) = private::<u64>();
    let mut c = child("recv-until-removed", tx.id());
    tx.send(1).unwrap();
    // Give the child time to block on the empty queue; it gets Disconnected either way.
    std::thread::sleep(Duration::from_millis(100));
    let start = std::time::Instant::now();
    while !tx.is_empty().unwrap() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = c.kill();
            panic!("the child never took its message");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    tx.remove().unwrap();
    c.assert_success("recv-until-removed");
    assert!(tx.send(2).unwrap_err().is_disconnected());
}

#[test]
fn a_message_of_another_type_of_the_same_size_is_refused() {
    // A queue this crate did not make (it has no registry naming a type), so both ends
    // open it and the message is checked as it comes. (A queue this crate made refuses
    // an end of another type at open: tests/queue_schema.rs.)
    // SAFETY: msgget takes plain integers.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
    let _g = Guard(id);
    let mut rx = Receiver::<f64>::from_id(id).unwrap();
    run_child("send-u64", id);
    let e = rx.recv_timeout(Duration::from_secs(5)).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    assert!(rx.is_empty().unwrap(), "the bad message is consumed");
}

#[test]
fn a_queue_of_mode_0600_refuses_another_user() {
    let key = common::sysv_key();
    let tx = Sender::<u64>::create(Key::Value(key), Options::new()).unwrap();
    let _g = Guard(tx.id());
    run_child("open-as-nobody", key);
}

#[test]
fn keys_find_queues_and_a_missing_one_is_not_found() {
    // `ftok` of a directory of this test's own: no other program derives its key from it.
    let dir = common::TempDir::new("sysv");
    let key = Key::from_path(dir.path(), 1).unwrap();
    let e = Receiver::<u64>::open(key).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("create it first"), "{e}");
    let tx = Sender::<u64>::create(key, Options::new()).unwrap();
    let _g = Guard(tx.id());
    let e = Sender::<u64>::create(key, Options::new()).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let rx = Receiver::<u64>::open(key).unwrap();
    assert_eq!(rx.id(), tx.id());
    assert!(matches!(
        Receiver::<u64>::from_id(-5),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_message_larger_than_msgmax_is_limit_exceeded() {
    let e = Sender::<[u8; 8192]>::create(Key::Private, Options::new()).unwrap_err();
    println!("{e}");
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: "/proc/sys/kernel/msgmax",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("sysctl -w kernel.msgmax="), "{e}");
}

#[test]
fn type_zero_or_negative_is_refused_with_the_message_back() {
    let (tx, _g) = private::<u8>();
    for t in [0, -4] {
        let e = tx.send_with_type(9, t).unwrap_err();
        assert!(matches!(e.error(), Error::Unsupported { .. }), "{e}");
        assert_eq!(e.into_inner(), 9);
    }
}

#[test]
fn timeouts_and_non_blocking_calls_return_their_errors() {
    let (mut tx, _g) = private::<u32>();
    let mut rx = Receiver::<u32>::from_id(tx.id()).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    let e = rx.recv_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    let e = rx
        .recv_type_timeout(5, Duration::from_millis(5))
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // Fill the queue (msgmnb bytes) to see Full and a send timeout.
    let mut n = 0;
    while tx.try_send(n).is_ok() {
        n += 1;
        assert!(n < 1_000_000);
    }
    let e = tx.try_send(1).unwrap_err();
    assert!(e.is_full());
    let e = tx.send_timeout(2, Duration::from_millis(20)).unwrap_err();
    assert!(matches!(e.error(), Error::Timeout(_)), "{e}");
    assert_eq!(e.into_inner(), 2);
    assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), 0);
    // A timeout too long for an `Instant` waits for ever instead (it used to panic on the
    // overflow before looking at the queue).
    assert_eq!(rx.recv_timeout(Duration::MAX).unwrap(), 1);
    tx.send_timeout(n, Duration::MAX).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Whatever a raw `msgsnd` puts in the queue (any type, any length up to well past a
    /// frame), the receiver returns an error or a valid value and moves on.
    #[test]
    fn arbitrary_bytes_from_a_raw_writer_give_errors_only(
        body in proptest::collection::vec(any::<u8>(), 0..=40),
        with_fingerprint in any::<bool>(),
        mtype in 1i64..5,
    ) {
        type T = [bool; 8];
        let (tx, _g) = private::<T>();
        let mut rx = Receiver::<T>::from_id(tx.id()).unwrap();
        let mut bytes = Vec::new();
        if with_fingerprint {
            bytes.extend_from_slice(&<T as ipc::Message>::FINGERPRINT.to_le_bytes());
        }
        bytes.extend_from_slice(&body);
        // A raw msgbuf: the type, then the text.
        let mut raw = (mtype as libc::c_long).to_ne_bytes().to_vec();
        raw.extend_from_slice(&bytes);
        // SAFETY: `raw` is a c_long followed by `bytes.len()` bytes, as msgsnd reads.
        let r = unsafe { libc::msgsnd(tx.id(), raw.as_ptr().cast(), bytes.len(), 0) };
        prop_assert_eq!(r, 0);
        let valid = bytes.len() == 16 && with_fingerprint && bytes[8..].iter().all(|b| *b <= 1);
        match rx.recv_type_timeout(0, Duration::from_secs(5)) {
            Ok((v, t)) => {
                prop_assert!(valid);
                prop_assert_eq!(t, mtype);
                let got = v.map(u8::from);
                prop_assert_eq!(&got[..], &bytes[8..]);
            }
            Err(e) => {
                prop_assert!(!valid, "{}", e);
                prop_assert!(matches!(
                    e,
                    Error::SchemaMismatch { .. } | Error::InvalidMessage(_) | Error::Corrupt(_)
                ), "{}", e);
            }
        }
        prop_assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    }
}
