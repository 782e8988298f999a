//! The real `ipc` binary against real channels made by other processes: this test binary
//! makes some and re-runs itself as `child` to make the others (killed where a test says
//! so). Every name starts with this run's prefix, and the tests list and clean only that
//! prefix: they never touch another program's channels.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

mod common;
use common::Kid;

const ROLE: &str = "IPC_CLI_TEST_ROLE";

/// This process's name prefix: `$IPC_TEST_PREFIX` (or `ipc-t`), its pid, then `cli-`, so
/// that a leftover check tells this run's objects from anyone else's (as the facade's
/// tests name theirs).
fn prefix() -> String {
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    format!("{base}-{}-cli-", std::process::id())
}

/// The `ipc` binary, with `args`: its exit code and standard output.
fn ipc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(args)
        .output()
        .expect("the ipc binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = ipc(args);
    assert_eq!(code, 0, "ipc {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The listed object whose endpoint is `endpoint`.
fn find<'a>(all: &'a Value, endpoint: &str) -> &'a Value {
    all.as_array()
        .unwrap()
        .iter()
        .find(|o| o["endpoint"] == endpoint)
        .unwrap_or_else(|| panic!("{endpoint} is not listed: {all:#}"))
}

/// A child playing `role` with the automatic sweep off (see `Kid::start`).
fn start_kid(role: &str) -> Kid {
    Kid::start(ROLE, role, "off")
}

/// A child playing `role` with the automatic sweep restricted to `reclaim`.
fn start_kid_with(role: &str, reclaim: &str) -> Kid {
    Kid::start(ROLE, role, reclaim)
}

/// A test's own name prefix (the process's, then the test's tag): the tests of this
/// process run side by side, and each lists and cleans only its own. Its stale segments
/// are removed on drop, even when the test fails.
struct Own(String);

impl Own {
    fn new(tag: &str) -> Own {
        Own(format!("{}{tag}-", prefix()))
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let _ = ipc::shm::remove_stale_with_prefix(&self.0);
    }
}

/// Removes a POSIX queue (and its schema header) at the end of a test, even a failed one.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = ipc::mq::unlink(&self.0);
    }
}

/// The child entry point: does nothing unless `IPC_CLI_TEST_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["subscriber", name] => {
            let _rx = ipc::shm::Subscriber::<u64>::open(name).unwrap();
            println!("child-ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["receiver-with-sender", name] => {
            // A channel this process made and holds both ends of, one message unread
            // that its sender does not keep after it (no linger).
            let opts = ipc::shm::Options::new().capacity(8);
            let _rx = ipc::shm::Receiver::<u32>::create(name, opts).unwrap();
            let no_linger = ipc::shm::Options::new().linger(Duration::ZERO);
            let mut tx = ipc::shm::Sender::<u32>::open_with(name, no_linger).unwrap();
            tx.send(7).unwrap();
            println!("child-ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["listener", path] => {
            let _l = ipc::socket::Listener::<u64>::bind(path).unwrap();
            println!("child-ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["queue", name] => {
            // A POSIX queue this process made and holds open, empty.
            let _tx = ipc::mq::Sender::<u64>::create(name, Default::default()).unwrap();
            println!("child-ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["sysv-queue", key] => {
            let key = ipc::sysv::Key::Value(key.parse().unwrap());
            let _tx = ipc::sysv::Sender::<u64>::create(key, Default::default()).unwrap();
            println!("child-ready");
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["stuck-creating", name] => {
            // A channel whose creation passes this process's file size limit while it
            // reserves the ring's pages: the kernel's SIGXFSZ stops it there, inside
            // `create`, its segment named and not yet published.
            use nix::sys::resource::{getrlimit, setrlimit, Resource};
            // SAFETY: the handler calls only async-signal-safe functions (see there).
            unsafe {
                nix::libc::signal(
                    nix::libc::SIGXFSZ,
                    say_ready_and_wait as extern "C" fn(nix::libc::c_int) as usize,
                )
            };
            let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
            setrlimit(Resource::RLIMIT_FSIZE, 1 << 20, hard).unwrap();
            let opts = ipc::shm::Options::new().capacity(1024);
            let made = ipc::shm::Sender::<[u8; 4096]>::create(name, opts);
            panic!("create returned: {:?}", made.map(drop));
        }
        _ => panic!("unknown role {role}"),
    }
}

/// SIGXFSZ's handler for the role `stuck-creating`: says `child-ready` and waits to be
/// killed, inside the system call that passed the file size limit.
extern "C" fn say_ready_and_wait(_: nix::libc::c_int) {
    let line = b"child-ready\n";
    // SAFETY: write(2) and pause(2) are async-signal-safe; `line` is a static buffer of
    // the length given.
    unsafe {
        nix::libc::write(1, line.as_ptr().cast(), line.len());
        loop {
            nix::libc::pause();
        }
    }
}

#[test]
fn list_reports_each_kind_with_its_schema_capacity_fill_and_participants() {
    let own = Own::new("list");
    let p = own.0.clone();
    let (chan, topic, queue) = (format!("{p}chan"), format!("{p}topic"), format!("/{p}q"));
    let opts = ipc::shm::Options::new().capacity(16);
    let _rx = ipc::shm::Receiver::<[u32; 2]>::create(&chan, opts).unwrap();
    let mut tx = ipc::shm::Sender::<[u32; 2]>::open(&chan).unwrap();
    tx.send([1, 2]).unwrap();
    tx.send([3, 4]).unwrap();
    let topic_opts = ipc::shm::Options::new().capacity(64).max_len(100);
    let mut publisher = ipc::shm::Publisher::<[u8]>::create(&topic, topic_opts).unwrap();
    publisher.send_slice(b"hello").unwrap();
    let topic_u64 = format!("{p}topic64");
    let _p64 = ipc::shm::Publisher::<u64>::create(&topic_u64, Default::default()).unwrap();
    let sub = start_kid(&format!("subscriber {topic_u64}"));
    let mq_opts = ipc::mq::Options::new().capacity(4);
    let mq = ipc::mq::Sender::<u64>::create(&queue, mq_opts);
    let _unlink = Unlink(queue.clone());

    let all = json(&["list", "--json", "--prefix", &p]);
    let me = std::process::id();

    let c = find(&all, &format!("shm:{chan}"));
    assert_eq!(c["kind"], "channel");
    assert_eq!(c["schema"]["name"], "[u32; 2]");
    assert_eq!(
        c["schema"]["fingerprint"],
        format!("{:#018x}", ipc::SchemaId::of::<[u32; 2]>().fingerprint)
    );
    assert_eq!(
        (c["capacity"].as_u64(), c["fill"].as_u64()),
        (Some(16), Some(2))
    );
    let roles: Vec<(&str, u64, bool)> = c["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["role"].as_str().unwrap(),
                p["pid"].as_u64().unwrap(),
                p["alive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("receiver", u64::from(me), true),
            ("sender", u64::from(me), true)
        ]
    );
    assert_eq!(c["state"], "live");
    assert_eq!(c["mode"], "600");

    let t = find(&all, &format!("shm:{topic}"));
    assert_eq!(t["kind"], "topic");
    assert_eq!(
        (t["schema"]["name"].as_str(), t["max_len"].as_u64()),
        (Some("[u8]"), Some(100))
    );
    assert_eq!(t["fill"], 1, "published");

    let t64 = find(&all, &format!("shm:{topic_u64}"));
    let subs: Vec<&Value> = t64["participants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] == "subscriber")
        .collect();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["pid"], sub.pid());

    if mq.is_ok() && ipc::mq::list().is_ok() {
        let q = find(&all, &format!("mq:{queue}"));
        assert_eq!(q["schema"]["name"], "u64");
        assert_eq!(q["capacity"], 4);
        assert_eq!(q["fill"], 0);
    }

    // The table names the same objects.
    let (code, table, _) = ipc(&["list", "--prefix", &p]);
    assert_eq!(code, 0);
    assert!(table.starts_with("KIND"), "{table}");
    assert!(
        table.contains(&format!("shm:{chan}")) && table.contains("[u32; 2]"),
        "{table}"
    );
}

#[test]
fn a_killed_participant_shows_as_dead_and_clean_removes_only_what_is_stale() {
    let own = Own::new("killed");
    let p = own.0.clone();
    let (dead, live) = (format!("{p}dead"), format!("{p}live"));
    let mut kid = start_kid(&format!("receiver-with-sender {dead}"));
    let pid = u64::from(kid.pid());
    kid.kill();
    let mut rx = ipc::shm::Receiver::<u64>::create(&live, Default::default()).unwrap();

    let all = json(&["list", "--json", "--prefix", &p]);
    let d = find(&all, &format!("shm:{dead}"));
    assert_eq!(d["state"], "STALE");
    assert!(d["participants"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["pid"] == pid && x["alive"] == false));
    assert_eq!(find(&all, &format!("shm:{live}"))["state"], "live");

    // A dry run lists the dead one and removes nothing.
    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &p]);
    assert_eq!(plan["stale"], serde_json::json!([format!("shm:{dead}")]));
    assert!(std::path::Path::new(&format!("/dev/shm/ipc.{dead}")).exists());

    // The real clean removes it, and leaves the live one working.
    let done = json(&["clean", "--json", "--prefix", &p]);
    assert_eq!(done["removed"], serde_json::json!([format!("shm:{dead}")]));
    assert!(!std::path::Path::new(&format!("/dev/shm/ipc.{dead}")).exists());
    let mut tx = ipc::shm::Sender::<u64>::open(&live).unwrap();
    tx.send(5).unwrap();
    assert_eq!(*rx.recv().unwrap(), 5, "the live channel still works");
}

#[test]
fn a_segment_whose_creator_died_inside_create_is_stale_and_clean_removes_it() {
    let own = Own::new("midcreate");
    let p = own.0.clone();
    let name = format!("{p}seg");
    let endpoint = format!("shm:{name}");
    let mut kid = start_kid(&format!("stuck-creating {name}"));
    let all = json(&["list", "--json", "--prefix", &p]);
    assert_eq!(find(&all, &endpoint)["state"], "creating");
    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &p]);
    assert_eq!(plan["stale"], serde_json::json!([]));

    kid.kill();
    let all = json(&["list", "--json", "--prefix", &p]);
    assert_eq!(find(&all, &endpoint)["state"], "STALE");
    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &p]);
    assert_eq!(plan["stale"], serde_json::json!([endpoint]));
    let done = json(&["clean", "--json", "--prefix", &p]);
    assert_eq!(done["removed"], serde_json::json!([endpoint]));
    assert!(!std::path::Path::new(&format!("/dev/shm/ipc.{name}")).exists());
}

/// A channel whose sender left a message unread, with its linger (60 s by default), and
/// no receiver: STALE in the list, and what `clean` does with it is what the dry run
/// says: kept for a receiver to come, not removed.
#[test]
fn a_channel_kept_for_its_linger_is_planned_as_kept_and_clean_keeps_it() {
    let own = Own::new("linger");
    let p = own.0.clone();
    let name = format!("{p}unread");
    let endpoint = format!("shm:{name}");
    let mut tx = ipc::shm::Sender::<u64>::create(&name, Default::default()).unwrap();
    tx.send(1).unwrap();
    drop(tx);
    let all = json(&["list", "--json", "--prefix", &p]);
    assert_eq!(find(&all, &endpoint)["state"], "STALE");
    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &p]);
    assert_eq!(plan["stale"], serde_json::json!([]), "{plan:#}");
    assert_eq!(plan["kept"][0]["endpoint"], endpoint, "{plan:#}");
    assert_eq!(plan["kept"][0]["unread"], 1, "{plan:#}");
    let left = plan["kept"][0]["linger_left_secs"].as_f64().unwrap();
    assert!(left > 0.0 && left <= 60.0, "{plan:#}");
    let done = json(&["clean", "--json", "--prefix", &p]);
    assert_eq!(done["removed"], serde_json::json!([]));
    // A receiver still gets the message.
    let mut rx = ipc::shm::Receiver::<u64>::open(&name).unwrap();
    assert_eq!(*rx.recv().unwrap(), 1);
}

#[test]
fn clean_removes_a_dead_segment_that_owes_nobody_a_message() {
    let own = Own::new("drained");
    let p = own.0.clone();
    let name = format!("{p}drained");
    let publisher = ipc::shm::Publisher::<u64>::create(&name, Default::default()).unwrap();
    let mut kid = start_kid(&format!("subscriber {name}"));
    // The publisher leaves; the topic stays with its subscriber, which is then killed.
    drop(publisher);
    kid.kill();
    let done = json(&["clean", "--json", "--prefix", &p]);
    assert_eq!(done["removed"], serde_json::json!([format!("shm:{name}")]));
    assert!(!std::path::Path::new(&format!("/dev/shm/ipc.{name}")).exists());
}

#[test]
fn queues_a_crash_abandoned_empty_show_as_stale_and_clean_removes_only_those() {
    let own = Own::new("queues");
    let p = format!("/{}", own.0);
    let (dead, live, kept) = (format!("{p}dead"), format!("{p}live"), format!("{p}kept"));
    let _unlink = [
        Unlink(dead.clone()),
        Unlink(live.clone()),
        Unlink(kept.clone()),
    ];
    // A System V key of this process's own (its pid, in a range of its own).
    let key = 0x4950_0000 ^ (std::process::id() as i32 & 0xffff);
    let mut kid = start_kid(&format!("queue {dead}"));
    // Its creator runs with the sweep restricted to this test's names, which its registry
    // keeps: `clean --prefix` then matches it (a System V queue has no name).
    // (It sweeps those names as it starts: the other child is still alive then.)
    let mut sysv_kid = start_kid_with(&format!("sysv-queue {key}"), &own.0);
    kid.kill();
    sysv_kid.kill();
    // A live one, and one left cleanly with a message for a receiver to come.
    let _live = ipc::mq::Receiver::<u64>::create(&live, Default::default()).unwrap();
    let mut tx = ipc::mq::Sender::<u64>::create(&kept, Default::default()).unwrap();
    tx.send(1).unwrap();
    drop(tx);

    let all = json(&["list", "--json", "--prefix", &own.0]);
    assert_eq!(
        find(&all, &format!("mq:{dead}"))["state"],
        "STALE",
        "{all:#}"
    );
    assert_eq!(find(&all, &format!("mq:{live}"))["state"], "-");
    assert_eq!(find(&all, &format!("mq:{kept}"))["state"], "-");
    let everything = json(&["list", "--json"]);
    let sysv = find(&everything, &format!("sysv:{key:#x}"));
    assert_eq!(sysv["state"], "STALE", "{sysv:#}");

    let id = sysv["details"]["id"].as_i64().unwrap();
    let stale = serde_json::json!([format!("mq:{dead}"), format!("sysv-id:{id}")]);
    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &own.0]);
    assert_eq!(plan["stale"], stale);
    let done = json(&["clean", "--json", "--prefix", &own.0]);
    assert_eq!(done["removed"], stale);
    let left: Vec<String> = ipc::mq::list()
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .filter(|n| n.starts_with(&p))
        .collect();
    assert_eq!(left, vec![kept.clone(), live.clone()]);
    assert!(!ipc::sysv::list().unwrap().iter().any(|q| q.key == key));
}

/// A queue another program made, without this crate's schema header: its fill is the
/// kernel's count of its messages.
#[test]
fn a_foreign_queue_shows_its_fill_and_capacity() {
    use nix::mqueue::{mq_close, mq_open, mq_send, MQ_OFlag, MqAttr};
    let own = Own::new("foreign-mq");
    let name = format!("/{}q", own.0);
    let _unlink = Unlink(name.clone());
    let attr = MqAttr::new(0, 4, 16, 0);
    let q = mq_open(
        name.as_str(),
        MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        Some(&attr),
    )
    .unwrap();
    mq_send(&q, b"one", 0).unwrap();
    mq_send(&q, b"two", 0).unwrap();
    mq_close(q).unwrap();
    let all = json(&["list", "--json", "--prefix", &own.0]);
    let row = find(&all, &format!("mq:{name}"));
    assert_eq!(row["schema"], Value::Null, "{row:#}");
    assert_eq!(row["fill"], 2, "{row:#}");
    assert_eq!(row["capacity"], 4, "{row:#}");
    let (code, table, _) = ipc(&["list", "--prefix", &own.0]);
    assert_eq!(code, 0);
    let line = table.lines().find(|l| l.contains(&name)).unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&cells[3..5], ["4", "2"], "{table}");
}

#[test]
fn a_dead_listeners_socket_shows_as_stale_and_clean_removes_it() {
    let own = Own::new("sockets");
    let dir = std::env::temp_dir();
    let (dead, live) = (
        dir.join(format!("{}dead", own.0)),
        dir.join(format!("{}live", own.0)),
    );
    struct Remove([std::path::PathBuf; 2]);
    impl Drop for Remove {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
            // The registry of a listener killed before the clean (the sweep's job).
            let _ = ipc::socket::remove_stale_with_prefix(
                self.0[0].file_name().unwrap().to_str().unwrap(),
            );
        }
    }
    let _remove = Remove([dead.clone(), live.clone()]);
    let mut kid = start_kid(&format!("listener {}", dead.display()));
    let pid = u64::from(kid.pid());
    let _live = ipc::socket::Listener::<Fill>::bind(&live).unwrap();
    let (dead_ep, live_ep) = (
        format!("unix:{}", dead.display()),
        format!("unix:{}", live.display()),
    );
    let all = json(&["list", "--json", "--prefix", &own.0]);
    let d = find(&all, &dead_ep);
    assert_eq!(d["state"], "live", "{d:#}");
    assert_eq!(d["schema"]["name"], "u64");
    assert_eq!(d["participants"][0]["pid"], pid);
    assert_eq!(find(&all, &live_ep)["schema"]["name"], "Fill");
    kid.kill();
    let all = json(&["list", "--json", "--prefix", &own.0]);
    assert_eq!(find(&all, &dead_ep)["state"], "STALE");
    assert_eq!(find(&all, &dead_ep)["participants"][0]["alive"], false);
    let (code, out, err) = ipc(&["show", &live_ep]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pub struct Fill {"), "{out}");
    // The path relative to where the command runs names the same listener.
    let relative = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["show", &format!("unix:{}live", own.0)])
        .current_dir(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&relative.stdout);
    assert!(relative.status.success(), "{out}");
    assert!(out.contains("pub struct Fill {"), "{out}");

    let plan = json(&["clean", "--dry-run", "--json", "--prefix", &own.0]);
    assert_eq!(plan["stale"], serde_json::json!([dead_ep.clone()]));
    assert!(dead.exists());
    let done = json(&["clean", "--json", "--prefix", &own.0]);
    assert_eq!(done["removed"], serde_json::json!([dead_ep.clone()]));
    assert!(!dead.exists() && live.exists());
    let all = json(&["list", "--json", "--prefix", &own.0]);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["endpoint"] != dead_ep.as_str()));
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(ipc::Message, Clone, Copy)]
#[repr(C)]
struct Fill {
    id: u64,
    qty: u32,
    side: Side,
    venue: [u8; 3],
}

#[test]
fn show_prints_the_declaration_the_segment_carries() {
    let own = Own::new("show");
    let name = format!("{}fills", own.0);
    let _rx = ipc::shm::Receiver::<Fill>::create(&name, Default::default()).unwrap();
    let (code, out, err) = ipc(&["show", &format!("shm:{name}")]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "channel of `Fill` (16 bytes, align 8",
        "receiver",
        "pub struct Fill {",
        "/* offset  8, size 4, align 4 */ pub qty: u32,",
        "/* offset 12, size 1, align 1 */ pub side: Side,",
        "pub enum Side {",
        "Sell = 2,",
    ] {
        assert!(out.contains(line), "`{line}` missing from:\n{out}");
    }
    let v = json(&["show", "--json", &format!("shm:{name}")]);
    assert!(
        v["declaration"]
            .as_str()
            .unwrap()
            .contains("pub venue: [u8; 3]"),
        "{v:#}"
    );
    let (code, c, err) = ipc(&["show", "--c", &format!("shm:{name}")]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "typedef struct Fill {",
        "    uint32_t qty;",
        "_Static_assert(offsetof(Fill, side) == 12, \"Fill.side: offset\");",
        "#define Side_Sell ((Side)2)",
    ] {
        assert!(c.contains(line), "`{line}` missing from:\n{c}");
    }
    let (code, _, err) = ipc(&["show", &format!("shm:{name}-none")]);
    assert_eq!(code, 1);
    assert!(err.starts_with("ipc: no channel"), "{err}");
}

#[test]
fn doctor_reports_every_check_with_a_value_and_usage_errors_exit_2() {
    let checks = json(&["doctor", "--json"]);
    let names: Vec<&str> = checks
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for want in [
        "/dev/shm",
        "membarrier",
        "pidfd_open",
        "fs.mqueue.msg_max",
        "RLIMIT_MSGQUEUE",
        "kernel.msgmnb",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    assert!(checks.as_array().unwrap().iter().all(
        |c| !c["value"].as_str().unwrap().is_empty() && !c["hint"].as_str().unwrap().is_empty()
    ));
    let (code, _, err) = ipc(&["no-such-command"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("Usage"), "{err}");
}

/// Output to a reader that has gone (`ipc list | head`) ends the command quietly, with
/// success: a broken pipe is no failure of its own.
#[test]
fn output_into_a_pipe_whose_reader_left_ends_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let own = Own::new("epipe");
    let out = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(["list", "--prefix", &own.0])
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// `tail --take` of a POSIX queue says a message a raw writer put there that is no message
/// of its schema (another size) and goes on: the message is taken, and so are the good
/// ones after it.
#[test]
fn tail_take_of_a_queue_goes_on_past_a_raw_writers_message() {
    let queue = format!("/{}tail-raw", prefix());
    let _unlink = Unlink(queue.clone());
    let mut tx = ipc::mq::Sender::<u64>::create(&queue, Default::default()).unwrap();
    tx.send(1).unwrap();
    let name = std::ffi::CString::new(queue.as_str()).unwrap();
    let raw = nix::mqueue::mq_open(
        name.as_c_str(),
        nix::mqueue::MQ_OFlag::O_WRONLY,
        nix::sys::stat::Mode::empty(),
        None,
    )
    .unwrap();
    nix::mqueue::mq_send(&raw, b"short", 0).unwrap();
    tx.send(3).unwrap();
    let (code, out, err) = ipc(&["tail", "--take", "-n", "3", &format!("mq:{queue}")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains('1') && out.contains('3'), "{out}");
    assert!(err.contains("5-byte"), "{err}");
}

/// A message `ipc send` refuses (a value out of its field's range) leaves the channel as
/// it was: the command does not join it, so a receiver with no sender keeps waiting for
/// one instead of being told its last sender left.
#[test]
fn a_refused_send_leaves_the_channel_as_it_was() {
    let own = Own::new("refused");
    let name = format!("{}chan", own.0);
    let mut rx = ipc::shm::Receiver::<u64>::create(&name, Default::default()).unwrap();
    let (code, _, err) = ipc(&["send", &format!("shm:{name}"), "--", "-1"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing was sent"), "{err}");
    let r = rx.recv_timeout(Duration::from_millis(200));
    assert!(
        r.as_ref().is_err_and(|e| e.is_timeout()),
        "{:?}",
        r.map(|s| *s)
    );
}

/// `doctor` exits 1 when a check fails: with `RLIMIT_MSGQUEUE` at 0 (set for the command
/// alone, by `prlimit`) no POSIX queue can be created.
#[test]
fn doctor_fails_when_no_posix_queue_can_be_created() {
    let out = Command::new("prlimit")
        .args(["--msgqueue=0", env!("CARGO_BIN_EXE_ipc"), "doctor"])
        .output()
        .expect("prlimit (util-linux) runs the command with the limit lowered");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("RLIMIT_MSGQUEUE"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("FAIL"), "{line}");
}
