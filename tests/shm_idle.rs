//! Idle shared-memory ends cost nothing: receivers and subscribers blocked in `recv`, a
//! sender blocked on a full ring and a publisher waiting for a subscriber sleep without
//! waking until a message, or their peer's death, arrives.
//! The peer is a real process (this test binary re-run as `child`), killed with SIGKILL.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ipc::shm::{Options, Publisher, Receiver, Sender, Subscriber};
use ipc::Error;

mod common;
use common::{gettid, ready, Proc, ShmName as Name};

const ROLE: &str = "SHM_IDLE_ROLE";

/// The child entry point: does nothing unless `SHM_IDLE_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["idle-peers", prefix, n] => {
            // A sender on each of `n` channels that never sends, and the receiver of the
            // full channel that never reads: alive, and idle, until killed.
            let n: usize = n.parse().unwrap();
            let _senders: Vec<_> = (0..n)
                .map(|i| Sender::<u64>::open(&format!("{prefix}-{i}")).unwrap())
                .collect();
            let _rx = Receiver::<u64>::open(&format!("{prefix}-full")).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["idle-topic-peers", prefix, n] => {
            // A publisher on each of `n` topics that never publishes, and a subscriber of
            // the last topic that never reads: alive, and idle, until killed.
            let n: usize = n.parse().unwrap();
            let _publishers: Vec<_> = (0..n)
                .map(|i| Publisher::<u64>::open(&format!("{prefix}-{i}")).unwrap())
                .collect();
            let _rx = Subscriber::<u64>::open(&format!("{prefix}-full")).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["idle-sender", name] => {
            let _tx = Sender::<u64>::open(name).unwrap();
            ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["fork-then-receive", name] => {
            // Park once, so that this process has its death notices' thread, then fork
            // (single-threaded but for that thread, which sleeps in `poll` holding no
            // lock): the child inherits the parent's memory but not the thread.
            let private = format!("{name}-private");
            let mut warm = Receiver::<u64>::create(&private, Options::new()).unwrap();
            assert!(matches!(
                warm.recv_timeout(Duration::from_millis(5)),
                Err(Error::Timeout(_))
            ));
            // SAFETY: the child runs only code that takes no lock another thread of this
            // process could hold (the notices' thread holds none while it polls), and
            // leaves through `_exit`.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    // If the test's watchdog kills our parent, we go with it.
                    // SAFETY: prctl with an integer option and a signal number.
                    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
                    let code = std::panic::catch_unwind(|| {
                        let mut rx = Receiver::<u64>::create(name, Options::new()).unwrap();
                        ready();
                        // Its only sender is killed: the child must hear of it.
                        assert!(matches!(rx.recv(), Err(Error::Disconnected)));
                    })
                    .map_or(1, |()| 0);
                    // SAFETY: ends the child at once, dropping nothing it inherited.
                    unsafe { libc::_exit(code) }
                }
                nix::unistd::ForkResult::Parent { child } => {
                    let status = nix::sys::wait::waitpid(child, None).unwrap();
                    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
                }
            }
        }
        ["out-of-descriptors", name] => {
            // Parks first with no descriptor free: the death notices' thread cannot be
            // made (its eventfd), and the receiver parks in slices. A second later, with
            // descriptors again, its next park makes it.
            let mut rx = Receiver::<u64>::open(name).unwrap();
            let full = common::OutOfDescriptors::new();
            let timed_out = |r: Result<_, Error>| matches!(r, Err(Error::Timeout(_)));
            assert!(timed_out(
                rx.recv_timeout(Duration::from_millis(30)).map(|_| ())
            ));
            drop(full);
            // (Looked at once the descriptors are back: reading /proc takes one.)
            assert_eq!(thread_named("ipc-deaths"), None, "made out of descriptors");
            std::thread::sleep(Duration::from_millis(1200));
            assert!(timed_out(
                rx.recv_timeout(Duration::from_millis(30)).map(|_| ())
            ));
            assert!(
                thread_named("ipc-deaths").is_some(),
                "the notices' thread is made once descriptors are back"
            );
        }
        ["unwatched-for-a-moment", name] => {
            // A second sender joins while this receiver is out of descriptors: the park
            // that looks at it cannot open its pidfd, and the notice watches no one (the
            // park sleeps in 20 ms slices). With descriptors back, a look a second later
            // watches them again, and an idle park sleeps through.
            let mut rx = Receiver::<u64>::open(name).unwrap();
            let mut ack = Sender::<u64>::open(&format!("{name}-ack")).unwrap();
            let mut go = Receiver::<u64>::open(&format!("{name}-go")).unwrap();
            let timed_out = |r: Result<(), Error>| matches!(r, Err(Error::Timeout(_)));
            let mut park = |ms| timed_out(rx.recv_timeout(Duration::from_millis(ms)).map(|_| ()));
            assert!(park(30));
            let full = common::OutOfDescriptors::new();
            ack.send(1).unwrap();
            assert_eq!(*go.recv().unwrap(), 1);
            assert!(park(50));
            drop(full);
            std::thread::sleep(Duration::from_millis(1200));
            assert!(park(100));
            let tid = gettid();
            let before = switches(tid);
            assert!(park(1000));
            let woke = switches(tid) - before;
            println!("idle 1 s after the peers were watched again: {woke} wake-ups");
            // Parked in slices, it would wake about fifty times.
            assert!(woke < 20, "{woke} wake-ups in 1 s: still parked in slices");
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Context switches of thread `tid` of this process so far (voluntary + involuntary):
/// each time it slept or was put off its CPU.
fn switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap();
    status
        .lines()
        .filter(|l| l.contains("ctxt_switches:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap())
        .sum()
}

/// The state letter of thread `tid` (`S`: sleeping).
fn state(tid: i32) -> char {
    common::state_in(&format!("/proc/self/task/{tid}/stat"))
}

/// The thread of this process named `name`, if any.
fn thread_named(name: &str) -> Option<i32> {
    std::fs::read_dir("/proc/self/task").unwrap().find_map(|e| {
        let tid = e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .parse::<i32>()
            .ok()?;
        let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
        (comm.trim() == name).then_some(tid)
    })
}

/// The idle tests count the wake-ups of this process's death-notice thread, which every
/// test of the process shares: one at a time, so that one's deaths are not the other's
/// wake-ups.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits (without a limit that could fail the test on a slow machine, up to a minute) until
/// every thread in `tids` sleeps.
fn until_all_sleep(tids: &[i32]) {
    let start = Instant::now();
    while !tids.iter().all(|&t| state(t) == 'S') {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "threads never slept"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn idle_receivers_and_a_sender_blocked_on_a_full_ring_sleep_until_their_peer_dies() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const CHANNELS: usize = 100;
    let prefix = Name::new("idle");
    let names: Vec<Name> = (0..CHANNELS)
        .map(|i| Name(format!("{}-{i}", prefix.0)))
        .collect();
    let full = Name(format!("{}-full", prefix.0));
    let receivers: Vec<_> = names
        .iter()
        .map(|n| Receiver::<u64>::create(&n.0, Options::new()).unwrap())
        .collect();
    // No linger: what it leaves unread when its receiver is killed goes with it.
    let opts = Options::new().capacity(2).linger(Duration::ZERO);
    let mut tx = Sender::<u64>::create(&full.0, opts).unwrap();
    let mut peer = Proc::spawn(ROLE, &format!("idle-peers {} {CHANNELS}", prefix.0));
    peer.wait_ready();

    // One thread per receiver, blocked in `recv`, and one sender blocked on a full ring:
    // each reports its thread id, then how its wait ended.
    let (tids_tx, tids) = mpsc::channel();
    let (ends_tx, ends) = mpsc::channel::<(Result<(), Error>, Instant)>();
    let mut threads = Vec::new();
    for mut rx in receivers {
        let (tids_tx, ends_tx) = (tids_tx.clone(), ends_tx.clone());
        threads.push(std::thread::spawn(move || {
            tids_tx.send(gettid()).unwrap();
            let r = rx.recv().map(|_| ());
            ends_tx.send((r, Instant::now())).unwrap();
        }));
    }
    threads.push(std::thread::spawn(move || {
        tids_tx.send(gettid()).unwrap();
        let r = (0..).try_for_each(|i| tx.send(i).map_err(|e| e.into_error()));
        ends_tx.send((r, Instant::now())).unwrap();
    }));
    let tids: Vec<i32> = tids.iter().take(CHANNELS + 1).collect();
    until_all_sleep(&tids);
    // Whoever tells them of a death: the death notices' thread, if this system has pidfds.
    let notices = thread_named("ipc-deaths");
    let watched: Vec<i32> = tids.iter().copied().chain(notices).collect();

    let before: Vec<u64> = watched.iter().map(|&t| switches(t)).collect();
    std::thread::sleep(Duration::from_secs(5));
    let after: Vec<u64> = watched.iter().map(|&t| switches(t)).collect();
    let woke: u64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
    println!(
        "{} idle threads (and the notices' thread: {}), 5 s: {woke} wake-ups",
        CHANNELS + 1,
        notices.is_some()
    );
    if notices.is_some() {
        assert_eq!(woke, 0, "idle ends woke up: {before:?} -> {after:?}");
    }

    // The peer dies: every receiver learns that its only sender is gone, and the blocked
    // sender that its receiver is.
    let killed = peer.kill();
    let mut slowest = Duration::ZERO;
    for _ in 0..CHANNELS + 1 {
        let (r, at) = ends.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
        slowest = slowest.max(at.saturating_duration_since(killed));
    }
    println!("the last of them heard of the SIGKILL after {slowest:?}");
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn idle_subscribers_and_a_publisher_waiting_for_room_sleep_until_their_peer_dies() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    const TOPICS: usize = 20;
    let prefix = Name::new("idle-topic");
    let names: Vec<Name> = (0..TOPICS)
        .map(|i| Name(format!("{}-{i}", prefix.0)))
        .collect();
    let full = Name(format!("{}-full", prefix.0));
    let subscribers: Vec<_> = names
        .iter()
        .map(|n| Subscriber::<u64>::open_or_create(&n.0, Options::new()).unwrap())
        .collect();
    let mut tx = Publisher::<u64>::create(&full.0, Options::new().capacity(2)).unwrap();
    let mut peer = Proc::spawn(ROLE, &format!("idle-topic-peers {} {TOPICS}", prefix.0));
    peer.wait_ready();

    let (tids_tx, tids) = mpsc::channel();
    let (ends_tx, ends) = mpsc::channel::<(Result<u64, Error>, Instant)>();
    let mut threads = Vec::new();
    for mut rx in subscribers {
        let (tids_tx, ends_tx) = (tids_tx.clone(), ends_tx.clone());
        threads.push(std::thread::spawn(move || {
            tids_tx.send(gettid()).unwrap();
            let r = rx.recv().map(|_| 0);
            ends_tx.send((r, Instant::now())).unwrap();
        }));
    }
    threads.push(std::thread::spawn(move || {
        tids_tx.send(gettid()).unwrap();
        // The subscriber never reads: the third send waits for it until it dies, and then
        // goes on without it (a dead subscriber never wedges the publisher).
        let r = (0..3u64)
            .try_for_each(|i| tx.send(i).map_err(|e| e.into_error()))
            .map(|()| tx.published());
        ends_tx.send((r, Instant::now())).unwrap();
    }));
    let tids: Vec<i32> = tids.iter().take(TOPICS + 1).collect();
    until_all_sleep(&tids);
    let notices = thread_named("ipc-deaths");
    let watched: Vec<i32> = tids.iter().copied().chain(notices).collect();

    let before: Vec<u64> = watched.iter().map(|&t| switches(t)).collect();
    std::thread::sleep(Duration::from_secs(2));
    let after: Vec<u64> = watched.iter().map(|&t| switches(t)).collect();
    let woke: u64 = after.iter().zip(&before).map(|(a, b)| a - b).sum();
    println!(
        "{} idle threads (and the notices' thread: {}), 2 s: {woke} wake-ups",
        TOPICS + 1,
        notices.is_some()
    );
    if notices.is_some() {
        assert_eq!(woke, 0, "idle ends woke up: {before:?} -> {after:?}");
    }

    let killed = peer.kill();
    let mut slowest = Duration::ZERO;
    let (mut disconnected, mut published) = (0, None);
    for _ in 0..TOPICS + 1 {
        let (r, at) = ends.recv_timeout(Duration::from_secs(30)).unwrap();
        match r {
            Err(Error::Disconnected) => disconnected += 1,
            Ok(n) => published = Some(n),
            Err(e) => panic!("{e:?}"),
        }
        slowest = slowest.max(at.saturating_duration_since(killed));
    }
    assert_eq!((disconnected, published), (TOPICS, Some(3)));
    println!("the last of them heard of the SIGKILL after {slowest:?}");
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_child_forked_after_its_parent_parked_hears_of_deaths_too() {
    let name = Name::new("forked");
    let _private = Name(format!("{}-private", name.0));
    let mut forker = Proc::spawn(ROLE, &format!("fork-then-receive {}", name.0));
    // The forked child's receiver is there.
    forker.wait_ready();
    let mut sender = Proc::spawn(ROLE, &format!("idle-sender {}", name.0));
    sender.wait_ready();
    // Let the forked child park, watching the sender, then kill the sender.
    std::thread::sleep(Duration::from_millis(100));
    sender.kill();
    // A hang here would be a forked child that never heard: bounded, so it fails instead.
    let status = common::wait_at_most(forker.child(), Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        forker.output()
    );
}

/// A process that could not start its death notices' thread (out of descriptors at its
/// first park) starts it at a later park, once it can: the failure is not kept for the
/// life of the process.
#[test]
fn death_notices_that_could_not_start_start_at_a_later_park() {
    let name = Name::new("notices-retry");
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    Proc::spawn(ROLE, &format!("out-of-descriptors {}", name.0)).assert_success();
}

/// Peers that a park could not watch (a `pidfd_open` out of descriptors) are watched
/// again at a look a second later, once it can: the end does not park in slices for the
/// rest of its life.
#[test]
fn peers_that_could_not_be_watched_are_watched_again_later() {
    let name = Name::new("watch-again");
    let _tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    let ack_name = Name(format!("{}-ack", name.0));
    let go_name = Name(format!("{}-go", name.0));
    let mut ack = Receiver::<u64>::create(&ack_name.0, Options::new()).unwrap();
    let mut go = Sender::<u64>::create(&go_name.0, Options::new()).unwrap();
    let child = Proc::spawn(ROLE, &format!("unwatched-for-a-moment {}", name.0));
    // The child is out of descriptors: another sender process joins its channel.
    assert_eq!(*ack.recv_timeout(Duration::from_secs(60)).unwrap(), 1);
    let mut joiner = Proc::spawn(ROLE, &format!("idle-sender {}", name.0));
    joiner.wait_ready();
    go.send(1).unwrap();
    child.assert_success();
    joiner.kill();
}
