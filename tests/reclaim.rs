//! The automatic sweep: a process that creates a channel removes what crashed processes of
//! the same user left, and nothing else; and what a creator killed inside `create` leaves.
//!
//! The test processes of this workspace run with the sweep off (`.cargo/config.toml`), so
//! each test of the sweep runs as a *driver*, a child of the test process with
//! `IPC_RECLAIM` set to a prefix of its own: it and its children sweep only the names the
//! test made. The driver spawns *victims* (this binary again), each of which makes one
//! object of every kind (a channel, a topic, a POSIX and a System V queue, a Unix
//! listener), is SIGKILLed, and is swept away by the driver's next `create`.
//!
//! A creator is killed inside `create` deterministically: it runs with a file size limit
//! (`RLIMIT_FSIZE`) below what it creates, so the kernel stops the write that passes the
//! limit with SIGXFSZ, whose handler says `ready` and waits there to be killed
//! ([`stuck_creating`]). The tests of `create`, `open` and `remove_stale` run in the test
//! process itself (they do not rely on the sweep).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{prefix, Proc};

const ROLE: &str = "IPC_RECLAIM_TEST_ROLE";
/// The prefix every name of a driver and its victims starts with (the driver's scope).
const BASE: &str = "IPC_RECLAIM_TEST_BASE";

/// The environment a driver or victim runs in: the sweep restricted to `base`.
fn scoped(base: &str) -> impl FnOnce(&mut Command) + '_ {
    move |c: &mut Command| {
        c.env("IPC_RECLAIM", base).env(BASE, base);
    }
}

fn base() -> String {
    std::env::var(BASE).expect("a driver or victim knows its base")
}

/// The child entry point: plays the role `IPC_RECLAIM_TEST_ROLE` names, if any.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["victim", i] => victim(i),
        ["keeper"] => keeper(),
        ["leaver"] => leaver(),
        ["crash-cycles", n] => crash_cycles(n.parse().unwrap()),
        ["cost"] => cost(),
        ["stuck-creating", name, backing] => stuck_creating(name, backing),
        ["swept-mid-create"] => swept_mid_create(),
        ["open-waiting", name] => open_waiting(name),
        _ => panic!("unknown role {role}"),
    }
}

/// Makes one object of every kind, attached to each, says so, and waits to be killed.
fn victim(i: &str) {
    let base = base();
    let opts = ipc::shm::Options::new().capacity(8);
    let _rx = ipc::shm::Receiver::<u64>::create(&format!("{base}-chan{i}"), opts.clone()).unwrap();
    let _publisher =
        ipc::shm::Publisher::<u64>::create(&format!("{base}-topic{i}"), opts.clone()).unwrap();
    let _queue = mq_available().then(|| {
        let q = ipc::mq::Options::new().capacity(2);
        ipc::mq::Receiver::<u64>::create(&format!("/{base}-queue{i}"), q).unwrap()
    });
    let sysv =
        ipc::sysv::Receiver::<u64>::create(ipc::sysv::Key::Private, Default::default()).unwrap();
    println!("sysv {}", sysv.id());
    let _listener =
        ipc::socket::Listener::<u64>::bind(std::env::temp_dir().join(format!("{base}-sock{i}")))
            .unwrap();
    common::ready();
    std::thread::sleep(Duration::from_secs(3600));
}

/// Holds a channel alive, and a receiver of it, until killed.
fn keeper() {
    let base = base();
    let _rx =
        ipc::shm::Receiver::<u64>::create(&format!("{base}-live"), Default::default()).unwrap();
    common::ready();
    std::thread::sleep(Duration::from_secs(3600));
}

/// Makes two POSIX queues and leaves them cleanly (its ends dropped, the process exits):
/// one holding a message, one empty. Neither is abandoned by a crash: both must stay.
fn leaver() {
    let base = base();
    // And a System V queue holding a message.
    let mut sysv =
        ipc::sysv::Sender::<u64>::create(ipc::sysv::Key::Private, Default::default()).unwrap();
    sysv.send(6).unwrap();
    println!("sysv {}", sysv.id());
    drop(sysv);
    if !mq_available() {
        return;
    }
    let q = ipc::mq::Options::new().capacity(2);
    let mut full = ipc::mq::Sender::<u64>::create(&format!("/{base}-kept-full"), q).unwrap();
    full.send(5).unwrap();
    drop(full);
    drop(ipc::mq::Sender::<u64>::create(&format!("/{base}-kept-empty"), q).unwrap());
}

/// True if POSIX queues can be made and seen here (`/dev/mqueue` mounted).
fn mq_available() -> bool {
    ipc::mq::list().is_ok()
}

/// The POSIX queues of `base`.
fn in_dev_mqueue(base: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/dev/mqueue")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.contains(base))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// The System V queue ids a child printed (`sysv ID`, at the end of a line).
fn sysv_ids(output: &str) -> Vec<i32> {
    output
        .lines()
        // The harness may have begun the line (`test child ... `).
        .filter_map(|l| Some(l.split_once("sysv ")?.1))
        .map(|id| id.trim().parse().unwrap())
        .collect()
}

/// Which of `ids` name a System V queue, or a registry, now.
fn sysv_left(ids: &[i32]) -> Vec<i32> {
    let table = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    let live: Vec<i32> = table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    ids.iter()
        .copied()
        .filter(|id| {
            live.contains(id) || std::path::Path::new(&format!("/dev/shm/ipc-msg.{id}")).exists()
        })
        .collect()
}

/// The objects of `base` under `/dev/shm` (segments and queue headers).
fn in_dev_shm(base: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.contains(base))
        .collect();
    found.sort();
    found
}

/// The driver: `n` cycles of a victim killed and a fresh channel created. Asserts that
/// nothing of the victims is left, and that the live channel and a channel owed to a
/// receiver were left alone.
fn crash_cycles(n: usize) {
    let base = base();
    let mut keeper = Proc::spawn_with(ROLE, "keeper", scoped(&base));
    keeper.wait_ready();
    // A sender that left a message for a receiver to come: kept for its linger.
    let owed = format!("{base}-owed");
    let mut tx = ipc::shm::Sender::<u64>::create(&owed, Default::default()).unwrap();
    tx.send(7).unwrap();
    drop(tx);
    let leaver = Proc::spawn_with(ROLE, "leaver", scoped(&base));
    let (status, out) = leaver.finish();
    assert!(status.success(), "{out}");
    let kept_sysv = sysv_ids(&out);
    let mut victims_sysv = Vec::new();

    let start = Instant::now();
    let mut swept_at_once = 0;
    for i in 0..n {
        let mut victim = Proc::spawn_with(ROLE, &format!("victim {i}"), scoped(&base));
        victim.wait_ready();
        victims_sysv.extend(sysv_ids(&victim.output()));
        victim.kill();
        let fresh = ipc::shm::Receiver::<u64>::create(&format!("{base}-fresh"), Default::default())
            .unwrap();
        drop(fresh);
        let left = in_dev_shm(&format!("{base}-chan{i}"));
        swept_at_once += usize::from(left.is_empty());
    }
    // The sweep may have been skipped for being too soon after the last one (at most 100
    // times that one's duration): one more create, a moment later, sweeps.
    std::thread::sleep(Duration::from_millis(100));
    drop(ipc::shm::Receiver::<u64>::create(&format!("{base}-last"), Default::default()).unwrap());
    println!(
        "{n} cycles in {:?}; the victim's objects were gone at the next create in {swept_at_once} of them",
        start.elapsed()
    );

    let left = in_dev_shm(&base);
    let mut expected = vec![format!("ipc.{base}-live"), format!("ipc.{owed}")];
    let kept = [format!("{base}-kept-empty"), format!("{base}-kept-full")];
    if mq_available() {
        expected.extend(kept.iter().map(|k| format!("ipc-mq.{k}")));
        expected.sort();
        assert_eq!(
            in_dev_mqueue(&base),
            kept,
            "only the queues left cleanly remain"
        );
        for k in &kept {
            ipc::mq::unlink(&format!("/{k}")).unwrap();
        }
    }
    assert_eq!(left, expected, "only the live and the owed channels remain");
    // The victims' listeners: neither their socket files nor their registries remain.
    let sockets: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|f| f.starts_with(&format!("{base}-sock")))
        .collect();
    assert_eq!(
        sockets,
        Vec::<String>::new(),
        "the victims' socket files are gone"
    );
    let registered: Vec<_> = ipc::socket::list()
        .unwrap()
        .into_iter()
        .filter(|s| s.path.to_string_lossy().contains(&base))
        .collect();
    assert_eq!(registered, [], "the victims' socket registries are gone");
    assert_eq!(victims_sysv.len(), n);
    assert_eq!(
        sysv_left(&victims_sysv),
        [],
        "the victims' System V queues are gone"
    );
    assert_eq!(
        sysv_left(&kept_sysv),
        kept_sysv,
        "the queue left cleanly stays"
    );
    for id in kept_sysv {
        ipc::sysv::remove(id).unwrap();
    }
    let mut rx = ipc::shm::Receiver::<u64>::open(&owed).unwrap();
    assert_eq!(*rx.recv().unwrap(), 7, "the owed message is still there");
    drop(rx);
    drop(keeper);
    ipc::shm::remove_stale_with_prefix(&base).unwrap();
}

/// 200 crashes of a process holding a channel and a topic: the next create after each
/// reclaims them, and nothing accumulates; a live channel and one owed to a receiver stay.
#[test]
fn after_200_crashes_nothing_is_left() {
    let base = format!("{}-rc", prefix());
    let mut driver = Proc::spawn_with(ROLE, "crash-cycles 200", scoped(&base));
    let status = common::wait_at_most(driver.child(), Duration::from_secs(120));
    let (_, out) = driver.finish();
    println!("{out}");
    let (shm_left, mq_left) = (in_dev_shm(&base), in_dev_mqueue(&base));
    // Whatever a failed driver left (its keeper was killed when the driver's `Proc` was
    // dropped in its panic), so that a failure leaves nothing either.
    let _ = ipc::shm::remove_stale_with_prefix(&base);
    let _ = std::fs::remove_file(format!("/dev/shm/ipc.{base}-owed"));
    for q in &mq_left {
        let _ = ipc::mq::unlink(&format!("/{q}"));
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "the driver failed:\n{out}"
    );
    assert!(shm_left.is_empty(), "{shm_left:?}");
    assert!(mq_left.is_empty(), "{mq_left:?}");
}

/// SIGXFSZ's handler in [`stuck_creating`]: says `ready` on stdout and waits to be killed,
/// inside the system call that passed the file size limit.
extern "C" fn say_ready_and_wait(_: libc::c_int) {
    let line = b"ready\n";
    // SAFETY: write(2) and pause(2) are async-signal-safe; `line` is a static buffer of
    // the length given.
    unsafe {
        libc::write(1, line.as_ptr().cast(), line.len());
        loop {
            libc::pause();
        }
    }
}

/// Creates the channel `name` (a ring of 1,024 messages of 4 KiB, `backing` "posix" or
/// "sysv") with a file size limit it passes while it creates it, and stops there, inside
/// `create`, until killed: a POSIX segment while it reserves the ring's pages (1 MiB
/// limit), a System V segment while it writes its 16-byte registry file (0 limit).
fn stuck_creating(name: &str, backing: &str) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let (backing, limit) = match backing {
        "posix" => (ipc::shm::Backing::Posix, 1 << 20),
        "sysv" => (ipc::shm::Backing::SysV, 0),
        _ => panic!("unknown backing {backing}"),
    };
    let opts = ipc::shm::Options::new().capacity(1024).backing(backing);
    let handler = SigAction::new(
        SigHandler::Handler(say_ready_and_wait),
        SaFlags::empty(),
        SigSet::empty(),
    );
    // SAFETY: the handler calls only async-signal-safe functions (see there).
    unsafe { sigaction(Signal::SIGXFSZ, &handler) }.unwrap();
    let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
    setrlimit(Resource::RLIMIT_FSIZE, limit, hard).unwrap();
    let made = ipc::shm::Sender::<[u8; 4096]>::create(name, opts);
    panic!("create returned: {:?}", made.map(drop));
}

/// No names, for comparing with what `remove_stale_with_prefix` returns.
fn none() -> Vec<String> {
    Vec::new()
}

/// Spawns a creator of `name` that stops inside `create` (see [`stuck_creating`]) and
/// waits until it is there.
fn creator_stuck_in_create(name: &str, backing: &str) -> Proc {
    let mut kid = Proc::spawn(ROLE, &format!("stuck-creating {name} {backing}"));
    kid.wait_ready();
    kid
}

/// A creator killed while it reserves the pages of a POSIX segment (its file named, its
/// header not published): while it lives, its name is taken and nothing removes it; once
/// it is dead, `open` says so and what removes it, and `remove_stale_with_prefix`, a
/// `create` and an `open_or_create` of the name each reclaim it at once.
#[test]
fn a_creator_killed_while_it_reserves_the_pages_leaves_a_name_the_next_create_reclaims() {
    use ipc::shm::{Options, Receiver, Sender};
    let name = common::ShmName::new("midcreate");
    let exists = || std::path::Path::new(&name.path()).exists();

    let mut creator = creator_stuck_in_create(&name.0, "posix");
    assert!(exists(), "the creator is stopped after naming its file");
    // Alive: the name is its own.
    assert_eq!(ipc::shm::remove_stale_with_prefix(&name.0).unwrap(), none());
    assert!(exists(), "remove_stale removed a live creator's segment");
    let taken = Sender::<u64>::create(&name.0, Options::new()).map(drop);
    assert!(
        matches!(taken, Err(ipc::Error::AlreadyExists { .. })),
        "{taken:?}"
    );
    let opened = Receiver::<[u8; 4096]>::open_with(
        &name.0,
        Options::new().open_timeout(Duration::from_millis(50)),
    )
    .map(drop);
    match &opened {
        Err(ipc::Error::Corrupt(m)) if m.contains("still creating") => {}
        other => panic!("open of a segment in creation: {other:?}"),
    }
    assert!(exists());

    // Dead: `open` says so at once, and what it says removes it does.
    creator.kill();
    match Receiver::<[u8; 4096]>::open(&name.0).map(drop) {
        Err(ipc::Error::Corrupt(m)) if m.contains("died") && m.contains("remove_stale") => {}
        other => panic!("open of a segment whose creator died: {other:?}"),
    }
    assert_eq!(
        ipc::shm::remove_stale_with_prefix(&name.0).unwrap(),
        vec![name.0.clone()]
    );
    assert!(!exists());

    // The next `create` of the name reclaims it.
    creator_stuck_in_create(&name.0, "posix").kill();
    assert!(exists());
    let mut rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let mut tx = Sender::<u64>::open(&name.0).unwrap();
    tx.send(1).unwrap();
    assert_eq!(*rx.recv().unwrap(), 1);
    drop((tx, rx));
    assert!(!exists());

    // And so does the next `open_or_create`.
    creator_stuck_in_create(&name.0, "posix").kill();
    assert!(exists());
    let rx = Receiver::<u64>::open_or_create(&name.0, Options::new()).unwrap();
    drop(rx);
    assert!(!exists());
}

/// Opens the channel `name` as a receiver that waits for it (a minute at most), and
/// checks that the first message is 7. Says its thread's id and `ready` first.
fn open_waiting(name: &str) {
    use ipc::shm::{Options, Receiver};
    println!("thread {} ready", common::gettid());
    let opts = Options::new().open_timeout(Duration::from_secs(60));
    let mut rx = Receiver::<u64>::open_with(name, opts).expect("the channel made anew");
    assert_eq!(*rx.recv().unwrap(), 7);
}

/// An `open` that may wait (`Options::open_timeout`) takes the file a creator killed
/// inside `create` left for a name not yet made: it waits, another process's `create`
/// reclaims the name and makes the channel anew, and the opener receives from it (rather
/// than failing at once, as an `open` that may not wait does).
#[test]
fn an_open_that_waits_outlasts_a_creator_killed_inside_create() {
    use ipc::shm::{Options, Sender};
    let name = common::ShmName::new("waitdead");
    creator_stuck_in_create(&name.0, "posix").kill();
    let mut opener = Proc::spawn(ROLE, &format!("open-waiting {}", name.0));
    opener.wait_ready();
    // The opener's thread found the dead creator's file and sleeps until the name is
    // made anew (had it failed, it would have exited).
    let out = opener.output();
    let line = out.lines().find(|l| l.ends_with(" ready")).unwrap();
    let tid = line.split(' ').rev().nth(1).unwrap();
    let stat = format!("/proc/{}/task/{tid}/stat", opener.id());
    let start = Instant::now();
    while common::state_in(&stat) != 'S' {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the opener never waited"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut tx = Sender::<u64>::create(&name.0, Options::new()).unwrap();
    tx.send(7).unwrap();
    opener.assert_success();
}

/// A creator of a System V segment killed while it writes the registry file that names
/// it: the name is free, and the next `create` of it works.
#[test]
fn a_creator_killed_while_it_writes_a_system_v_registry_leaves_the_name_free() {
    use ipc::shm::{Backing, Options, Sender};
    let name = common::ShmName::new("midsysv");
    creator_stuck_in_create(&name.0, "sysv").kill();
    assert_eq!(ipc::shm::remove_stale_with_prefix(&name.0).unwrap(), none());
    let tx = Sender::<u64>::create(&name.0, Options::new().backing(Backing::SysV)).unwrap();
    drop(tx);
    assert!(!std::path::Path::new(&name.path()).exists());
}

/// The driver: a victim killed while it reserves a segment's pages is swept away by the
/// driver's first `create` (of another name).
fn swept_mid_create() {
    let base = base();
    let victim = format!("{base}-victim");
    let mut kid = Proc::spawn_with(
        ROLE,
        &format!("stuck-creating {victim} posix"),
        scoped(&base),
    );
    kid.wait_ready();
    kid.kill();
    let path = format!("/dev/shm/ipc.{victim}");
    assert!(std::path::Path::new(&path).exists());
    drop(ipc::shm::Receiver::<u64>::create(&format!("{base}-fresh"), Default::default()).unwrap());
    assert!(
        !std::path::Path::new(&path).exists(),
        "the sweep left {path}"
    );
}

/// The automatic sweep removes what a creator killed inside `create` left.
#[test]
fn the_sweep_removes_what_a_creator_killed_inside_create_left() {
    let base = format!("{}-mc", prefix());
    let mut driver = Proc::spawn_with(ROLE, "swept-mid-create", scoped(&base));
    let status = common::wait_at_most(driver.child(), Duration::from_secs(60));
    let (_, out) = driver.finish();
    // Whatever a failed driver left.
    let left = in_dev_shm(&base);
    for f in &left {
        let _ = std::fs::remove_file(format!("/dev/shm/{f}"));
    }
    assert!(
        status.is_some_and(|s| s.success()),
        "the driver failed:\n{out}"
    );
    assert!(left.is_empty(), "{left:?}");
}

/// The median of `samples` (sorted in place).
fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// What the sweep costs a `create`: with no other segment, and with 1,000 live segments
/// of this user (held by this process, so that each must be examined and left).
fn cost() {
    let base = base();
    let create = |tag: &str| {
        let t = Instant::now();
        let rx = ipc::shm::Receiver::<u64>::create(&format!("{base}-{tag}"), Default::default())
            .unwrap();
        let took = t.elapsed();
        drop(rx);
        took
    };
    // Creates that sweep: each after a pause longer than 100 times the last sweep.
    let swept = |tag: &str, pause: Duration| {
        let mut v: Vec<Duration> = (0..21)
            .map(|i| {
                std::thread::sleep(pause);
                create(&format!("{tag}{i}"))
            })
            .collect();
        median(&mut v)
    };
    // Back to back: most creates skip the sweep, which ran too recently.
    let back_to_back = |tag: &str| {
        let t = Instant::now();
        for i in 0..2000 {
            create(&format!("{tag}{i}"));
        }
        t.elapsed() / 2000
    };
    // 1,000 segments held open need more descriptors than the usual soft limit.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard.min(8192), hard).unwrap();
    // The same pauses without the sweep (`IPC_RECLAIM=off`): a create after a pause finds
    // colder caches than one back to back, sweep or not.
    let off = std::env::var("IPC_RECLAIM").as_deref() == Ok("off");
    let none = swept("a", Duration::from_millis(20));
    let none_run = back_to_back("b");
    let mut held = Vec::new();
    for i in 0..1000 {
        let name = format!("{base}-held{i}");
        held.push(ipc::shm::Shared::<u64>::create(&name, 0, Default::default()).unwrap());
    }
    let many = swept("c", Duration::from_millis(1500));
    let many_run = back_to_back("d");
    let sweep = if off { "IPC_RECLAIM=off" } else { "sweeping" };
    println!("{sweep}: one create, no other segment:       median {none:?}");
    println!("{sweep}: back to back, no other segment:     mean   {none_run:?}");
    println!("{sweep}: one create, 1,000 live segments:    median {many:?}");
    println!("{sweep}: back to back, 1,000 live segments:  mean   {many_run:?}");
}

/// Prints what the sweep costs a `create` (`cargo test --release --test reclaim -- --ignored
/// --nocapture`).
#[test]
#[ignore = "a measurement, not a check: about 70 s"]
fn cost_of_the_sweep_at_create() {
    let base = format!("{}-cost", prefix());
    for sweep in [false, true] {
        let mut driver = Proc::spawn_with(ROLE, "cost", |c| {
            scoped(&base)(c);
            if !sweep {
                c.env("IPC_RECLAIM", "off");
            }
        });
        let status = common::wait_at_most(driver.child(), Duration::from_secs(300));
        let (_, out) = driver.finish();
        println!("{out}");
        assert!(status.is_some_and(|s| s.success()), "{out}");
    }
}
