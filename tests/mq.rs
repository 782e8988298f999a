//! POSIX message queues across real processes: priority order, no loss, schema refusal,
//! system limits, permissions, timeouts, and arbitrary bytes from a raw writer.
//!
//! Child processes re-run this binary on the test `child_role` with `IPC_TEST_ROLE` naming
//! what to do; the parent always asserts their exit status.

use std::os::fd::AsFd;
use std::process::Command;
use std::time::Duration;

use ipc::mq::{self, Options, Receiver, Sender};
use ipc::Error;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, ipc::Message)]
#[repr(C)]
struct Order {
    id: u64,
    symbol: ipc::FixedStr<8>,
    qty: u32,
    side: Side,
    _pad: [u8; 3],
}

const ROLE: &str = "IPC_TEST_ROLE";
const QUEUE: &str = "IPC_TEST_QUEUE";

mod common;
use common::{Kid, MqName as Name};

/// A child process playing `role` on queue `name`.
fn child(role: &str, name: &str) -> Kid {
    Kid::spawn(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_role", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(QUEUE, name),
    )
}

/// Runs `role` in a child process on queue `name` and asserts that it succeeded.
fn run_child(role: &str, name: &str) {
    child(role, name).assert_success(role);
}

fn drop_privileges() {
    become_uid(65534);
}

/// Drops this (root) child process to `uid` (and the group of the same number).
fn become_uid(uid: u32) {
    nix::unistd::setgid(nix::unistd::Gid::from_raw(uid)).unwrap();
    nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).unwrap();
}

/// Where the schema header of queue `name` lives.
fn header_of(name: &str) -> String {
    format!("/dev/shm/ipc-mq.{}", &name[1..])
}

/// The entry point of child processes; does nothing in a normal test run.
#[test]
fn child_role() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let name = std::env::var(QUEUE).unwrap();
    match role.as_str() {
        "recv-priorities" => {
            let rx = Receiver::<u64>::open(&name).unwrap();
            let got: Vec<(u64, u32)> = (0..5).map(|_| rx.recv_with_priority().unwrap()).collect();
            assert_eq!(got, [(2, 5), (4, 5), (3, 3), (1, 1), (5, 0)]);
        }
        "recv-stream" => {
            let mut rx = Receiver::<u64>::open(&name).unwrap();
            for i in 0..1000 {
                assert_eq!(rx.recv().unwrap(), i);
            }
        }
        "send-order" => {
            let tx = Sender::<Order>::open(&name).unwrap();
            let symbol = ipc::FixedStr::try_from("ACME").unwrap();
            let order = Order {
                id: 9,
                symbol,
                qty: 100,
                side: Side::Sell,
                _pad: [0; 3],
            };
            tx.send_with_priority(order, 3).unwrap();
        }
        "open-as-u64" => {
            let e = Sender::<u64>::open(&name).unwrap_err();
            println!("{e}");
            assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
            assert!(
                e.to_string().contains("`f64`"),
                "names the queue's type: {e}"
            );
        }
        "open-as-nobody" => {
            drop_privileges();
            let e = Receiver::<u64>::open(&name).unwrap_err();
            assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
            assert!(e.to_string().contains("check its owner and mode"), "{e}");
        }
        "overflow-as-nobody" => {
            drop_privileges();
            let msg_max: usize = std::fs::read_to_string("/proc/sys/fs/mqueue/msg_max")
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let e = Sender::<u64>::create(&name, Options::new().capacity(msg_max + 1)).unwrap_err();
            println!("{e}");
            match &e {
                Error::LimitExceeded { limit, value, .. } => {
                    assert_eq!(*limit, "/proc/sys/fs/mqueue/msg_max");
                    assert_eq!(*value as usize, msg_max);
                }
                e => panic!("{e}"),
            }
            assert!(
                e.to_string().contains("sysctl -w fs.mqueue.msg_max="),
                "{e}"
            );
            let e = Sender::<[u8; 8193]>::create(&name, Options::new().capacity(1)).unwrap_err();
            println!("{e}");
            assert!(
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: "/proc/sys/fs/mqueue/msgsize_max",
                        ..
                    }
                ),
                "{e}"
            );
            assert!(
                e.to_string().contains("sysctl -w fs.mqueue.msgsize_max="),
                "{e}"
            );
        }
        "rlimit" => {
            use nix::sys::resource::{setrlimit, Resource};
            setrlimit(Resource::RLIMIT_MSGQUEUE, 4096, 4096).unwrap();
            let e = Sender::<[u8; 1024]>::create(&name, Options::new().capacity(8)).unwrap_err();
            println!("{e}");
            assert!(
                matches!(
                    e,
                    Error::LimitExceeded {
                        limit: "RLIMIT_MSGQUEUE",
                        value: 4096,
                        ..
                    }
                ),
                "{e}"
            );
            assert!(e.to_string().contains("ulimit -q"), "{e}");
        }
        "plant-as-nobody" => {
            // A queue open to everyone, with a forged message waiting in it.
            drop_privileges();
            let mut tx = Sender::<u64>::create(&name, Options::new().mode(0o666)).unwrap();
            tx.send(0xBAD).unwrap();
        }
        "squat-header-as-nobody" => {
            drop_privileges();
            std::fs::write(header_of(&name), "not yours\n").unwrap();
        }
        "create-as-65533" => {
            become_uid(65533);
            let e = Sender::<u64>::create(&name, Options::new()).unwrap_err();
            println!("{e}");
            match &e {
                Error::Untrusted { owner, .. } => assert_eq!(*owner, 65534, "{e}"),
                e => panic!("a squatted header must be reported as such: {e}"),
            }
            assert!(
                e.to_string().contains(&format!("rm {}", header_of(&name))),
                "{e}"
            );
            // The queue made before the header failed is not left behind.
            assert!(matches!(
                Receiver::<u64>::open(&name),
                Err(Error::NotFound { .. })
            ));
        }
        "temporary-names" => {
            // A valid queue named like the temporary file of this process's next header
            // (it used to be `ipc-mq.tmp-<pid>-<n>`) must not break later creates.
            let pid = std::process::id();
            let first = format!("/tmp-{pid}-1");
            let _a = Sender::<u64>::create(&first, Options::new()).unwrap();
            let r = Sender::<u64>::create(&name, Options::new());
            let _ = mq::unlink(&first);
            let _ = mq::unlink(&name);
            r.unwrap();
        }
        r => panic!("unknown role {r}"),
    }
}

#[test]
fn a_queue_planted_by_another_user_is_refused_naming_its_owner() {
    let name = Name::new("mq");
    run_child("plant-as-nobody", &name.0);
    let e = Receiver::<u64>::open(&name.0).unwrap_err();
    println!("{e}");
    match &e {
        Error::Untrusted { owner, mode, .. } => assert_eq!((*owner, *mode), (65534, 0o666)),
        e => panic!("a planted queue must be refused: {e}"),
    }
    assert!(e.to_string().contains("uid 65534"), "{e}");
    assert!(matches!(
        Sender::<u64>::open_or_create(&name.0, Options::new()),
        Err(Error::Untrusted { owner: 65534, .. })
    ));
    // Trusted explicitly, by a mode that grants what the queue grants, it opens.
    let mut rx = Receiver::<u64>::open_with(&name.0, Options::new().mode(0o666)).unwrap();
    assert_eq!(rx.try_recv().unwrap(), 0xBAD);
}

#[test]
fn a_header_squatted_by_another_user_is_reported_with_its_owner() {
    let name = Name::new("mq");
    run_child("squat-header-as-nobody", &name.0);
    run_child("create-as-65533", &name.0);
    // Root is refused the same way: the file is another user's.
    let e = Sender::<u64>::create(&name.0, Options::new()).unwrap_err();
    assert!(matches!(e, Error::Untrusted { owner: 65534, .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(header_of(&name.0)).unwrap(),
        "not yours\n"
    );
    // Once removed, the name can be created.
    std::fs::remove_file(header_of(&name.0)).unwrap();
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
}

#[test]
fn a_queue_named_like_a_temporary_header_does_not_break_later_creates() {
    let name = Name::new("mq");
    let kid = child("temporary-names", &name.0);
    // The child's queue `/tmp-<its pid>-1` (a name the test needs exactly: it is what a
    // header's temporary file used to be called) goes even if the child fails.
    let _planted = Name(format!("/tmp-{}-1", kid.id()));
    kid.assert_success("temporary-names");
}

#[test]
fn messages_cross_processes_highest_priority_first() {
    let name = Name::new("mq");
    let tx = Sender::<u64>::create(&name.0, Options::new().capacity(8)).unwrap();
    for (msg, prio) in [(1, 1), (2, 5), (3, 3), (4, 5), (5, 0)] {
        tx.send_with_priority(msg, prio).unwrap();
    }
    assert_eq!(tx.len().unwrap(), 5);
    run_child("recv-priorities", &name.0);
    assert!(tx.is_empty().unwrap());
}

#[test]
fn a_stream_larger_than_the_queue_crosses_in_order_without_loss() {
    let name = Name::new("mq");
    let mut tx = Sender::<u64>::create(&name.0, Options::new().capacity(4)).unwrap();
    let child = std::thread::spawn({
        let n = name.0.clone();
        move || run_child("recv-stream", &n)
    });
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    child.join().unwrap();
}

#[test]
fn created_queue_gets_the_mode_asked_for_whatever_the_umask() {
    let name = Name::new("mq");
    let tx = Sender::<u8>::create(&name.0, Options::new()).unwrap();
    let mode = nix::sys::stat::fstat(tx.as_fd()).unwrap().st_mode & 0o777;
    assert_eq!(mode, 0o600);
    let other = Name::new("mq");
    let tx = Sender::<u8>::create(&other.0, Options::new().mode(0o666)).unwrap();
    let mode = nix::sys::stat::fstat(tx.as_fd()).unwrap().st_mode & 0o777;
    assert_eq!(mode, 0o666, "the umask must not apply");
}

#[test]
fn creating_twice_is_already_exists_and_open_or_create_opens() {
    let name = Name::new("mq");
    let _tx = Sender::<u8>::create(&name.0, Options::new()).unwrap();
    let e = Sender::<u8>::create(&name.0, Options::new()).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let rx = Receiver::<u8>::open_or_create(&name.0, Options::new()).unwrap();
    assert_eq!(rx.name(), name.0);
}

#[test]
fn a_missing_queue_is_not_found_and_says_to_create_it() {
    let name = Name::new("mq");
    let e = Receiver::<u64>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("create it first"), "{e}");
    assert!(matches!(mq::unlink(&name.0), Err(Error::NotFound { .. })));
}

#[test]
fn bad_names_are_refused_before_any_syscall() {
    for bad in ["jobs", "/a/b", "/", &format!("/{}", "q".repeat(300))] {
        let e = Sender::<u8>::create(bad, Options::new()).unwrap_err();
        assert!(matches!(e, Error::InvalidName { .. }), "{bad}: {e}");
    }
}

#[test]
fn a_queue_of_mode_0600_refuses_another_user() {
    let name = Name::new("mq");
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    run_child("open-as-nobody", &name.0);
}

#[test]
fn capacity_above_msg_max_is_limit_exceeded_naming_it() {
    // As an unprivileged user the limit is /proc/sys/fs/mqueue/msg_max ...
    let name = Name::new("mq");
    if nix::unistd::geteuid().is_root() {
        run_child("overflow-as-nobody", &name.0);
    }
    // ... and for everyone the kernel's hard cap.
    let e = Sender::<u64>::create(&name.0, Options::new().capacity(70_000)).unwrap_err();
    println!("{e}");
    assert!(
        matches!(e, Error::LimitExceeded { value: 65536, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("at most 65536"), "{e}");
}

#[test]
fn a_queue_beyond_rlimit_msgqueue_is_limit_exceeded_naming_ulimit() {
    let name = Name::new("mq");
    run_child("rlimit", &name.0);
}

#[test]
fn a_message_too_large_for_any_queue_is_limit_exceeded() {
    let name = Name::new("mq");
    let e =
        Sender::<[u8; (16 << 20) + 1]>::create(&name.0, Options::new().capacity(1)).unwrap_err();
    println!("{e}");
    assert!(matches!(e, Error::LimitExceeded { .. }), "{e}");
    assert!(e.to_string().contains("use shared memory"), "{e}");
}

#[test]
fn a_queue_made_for_another_size_is_refused_at_open() {
    let name = Name::new("mq");
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let e = Receiver::<[u8; 64]>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
    assert!(e.to_string().contains("same definition"), "{e}");
}

#[test]
fn a_queue_made_for_another_type_of_the_same_size_is_refused_at_open() {
    let name = Name::new("mq");
    let _rx = Receiver::<f64>::create(&name.0, Options::new()).unwrap();
    run_child("open-as-u64", &name.0);
}

#[test]
fn a_queue_made_by_another_program_is_refused_saying_what_to_do() {
    use nix::mqueue::{mq_open, MQ_OFlag, MqAttr};
    let name = Name::new("mq");
    let attr = MqAttr::new(0, 4, 8, 0);
    let flags = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
    let q = mq_open(
        name.0.as_str(),
        flags,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
        Some(&attr),
    )
    .unwrap();
    nix::mqueue::mq_close(q).unwrap();
    let e = Receiver::<u64>::open(&name.0).unwrap_err();
    assert!(matches!(e, Error::Corrupt(_)), "{e}");
    assert!(e.to_string().contains("ipc::mq::unlink"), "{e}");
}

/// A queue removed by a program not of this crate (`mq_unlink`, as a C peer does) leaves
/// its schema header in `/dev/shm`: once no end has it open, the next sweep removes it,
/// however the queue's ends left (here cleanly).
#[test]
fn a_header_whose_queue_a_foreign_program_removed_is_swept() {
    let name = Name::new("mq");
    drop(Sender::<u64>::create(&name.0, Options::new()).unwrap());
    let header = format!("/dev/shm/ipc-mq.{}", &name.0[1..]);
    assert!(std::path::Path::new(&header).exists());
    let c = std::ffi::CString::new(name.0.as_str()).unwrap();
    nix::mqueue::mq_unlink(c.as_c_str()).unwrap();
    let removed = mq::remove_stale_with_prefix(&name.0).unwrap();
    assert_eq!(removed, std::slice::from_ref(&name.0));
    assert!(!std::path::Path::new(&header).exists());
}

#[test]
fn unlink_removes_the_queue_and_its_schema_header() {
    let name = Name::new("mq");
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let header = format!("/dev/shm/ipc-mq.{}", &name.0[1..]);
    let mode = std::fs::metadata(&header).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    mq::unlink(&name.0).unwrap();
    assert!(!std::path::Path::new(&header).exists());
    assert!(matches!(
        Receiver::<u64>::open(&name.0),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn a_derived_message_crosses_and_a_bad_discriminant_is_refused_by_field() {
    let name = Name::new("mq");
    let mut rx = Receiver::<Order>::create(&name.0, Options::new()).unwrap();
    run_child("send-order", &name.0);
    let (order, prio) = rx
        .recv_timeout_with_priority(Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        (order.id, order.symbol.as_str(), order.qty, order.side, prio),
        (9, "ACME", 100, Side::Sell, 3)
    );

    // The same order with `side` = 3, written by a raw writer.
    let mut bytes = ipc::as_bytes(&order).to_vec();
    bytes[std::mem::offset_of!(Order, side)] = 3;
    raw_send(&name.0, &bytes);
    let e = rx.recv_timeout(Duration::from_secs(5)).unwrap_err();
    match &e {
        Error::InvalidMessage(m) => assert_eq!(m.field(), "side"),
        e => panic!("{e}"),
    }
}

#[test]
fn in_place_sends_and_receives_check_like_the_others() {
    let name = Name::new("mq");
    let mut tx = Sender::<[u8; 64]>::create(&name.0, Options::new()).unwrap();
    let mut rx = Receiver::<[u8; 64]>::open(&name.0).unwrap();
    tx.send_ref_with_priority(&[5; 64], 9).unwrap();
    tx.send_ref(&[6; 64]).unwrap();
    let mut out = [0; 64];
    rx.recv_into(&mut out).unwrap();
    assert_eq!(out, [5; 64], "priority 9 first");
    rx.recv_into(&mut out).unwrap();
    assert_eq!(out, [6; 64]);
    assert!(matches!(
        tx.send_ref_with_priority(&[1; 64], 40_000),
        Err(Error::Unsupported { .. })
    ));
    raw_send(&name.0, &[1, 2, 3]);
    let e = rx.recv_into(&mut out).unwrap_err();
    assert!(matches!(e, Error::InvalidMessage(_)), "{e}");

    let name = Name::new("mq");
    let mut rx = Receiver::<Order>::create(&name.0, Options::new()).unwrap();
    let symbol = ipc::FixedStr::try_from("X").unwrap();
    let good = Order {
        id: 1,
        symbol,
        qty: 2,
        side: Side::Buy,
        _pad: [0; 3],
    };
    let mut bad = ipc::as_bytes(&good).to_vec();
    bad[std::mem::offset_of!(Order, side)] = 9;
    raw_send(&name.0, &bad);
    let mut out = good;
    out.id = 77;
    assert!(matches!(
        rx.recv_into(&mut out),
        Err(Error::InvalidMessage(_))
    ));
    assert_eq!(out.id, 77, "a refused message leaves *out alone");
}

#[test]
fn timeouts_and_non_blocking_calls_return_their_errors() {
    let name = Name::new("mq");
    let mut tx = Sender::<u32>::create(&name.0, Options::new().capacity(1)).unwrap();
    let mut rx = Receiver::<u32>::open(&name.0).unwrap();
    assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    let e = rx.recv_timeout(Duration::from_millis(20)).unwrap_err();
    assert!(
        matches!(e, Error::Timeout(d) if d == Duration::from_millis(20)),
        "{e}"
    );
    tx.try_send(1).unwrap();
    let e = tx.try_send(2).unwrap_err();
    assert!(e.is_full());
    assert_eq!(e.into_inner(), 2, "the message is handed back");
    let e = tx.send_timeout(3, Duration::from_millis(20)).unwrap_err();
    assert!(matches!(e.error(), Error::Timeout(_)), "{e}");
    let e = tx.send_with_priority(4, 40_000).unwrap_err();
    assert!(matches!(e.error(), Error::Unsupported { .. }), "{e}");
    assert_eq!(
        rx.recv_timeout_with_priority(Duration::from_secs(1))
            .unwrap(),
        (1, 0)
    );
}

fn raw_send(name: &str, bytes: &[u8]) {
    use nix::mqueue::{mq_open, mq_send, MQ_OFlag};
    let q = mq_open(
        name,
        MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .unwrap();
    mq_send(&q, bytes, 0).unwrap();
    nix::mqueue::mq_close(q).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Whatever a raw `mq_send` puts in the queue, the receiver returns an error or a valid
    /// value, never panics, and moves on to the next message.
    #[test]
    fn arbitrary_bytes_from_a_raw_writer_give_errors_only(
        bytes in proptest::collection::vec(0u8..4, 0..=8),
    ) {
        // Up to the queue's message size (the kernel refuses longer ones), mostly valid
        // bools so that both outcomes occur.
        type T = [bool; 8];
        let name = Name::new("mq");
        let mut rx = Receiver::<T>::create(&name.0, Options::new().capacity(2)).unwrap();
        raw_send(&name.0, &bytes);
        let valid = bytes.len() == 8 && bytes.iter().all(|b| *b <= 1);
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(v) => {
                prop_assert!(valid);
                let got = v.map(u8::from);
                prop_assert_eq!(&got[..], &bytes[..]);
            }
            Err(e) => {
                prop_assert!(!valid, "{}", e);
                prop_assert!(matches!(e, Error::InvalidMessage(_)), "{}", e);
            }
        }
        prop_assert!(matches!(rx.try_recv(), Err(Error::Empty)));
    }
}
