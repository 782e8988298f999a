//! `ipc clean --dry-run` says what `ipc clean` then does: for each transport, the objects
//! a dry run plans to remove are exactly those the real clean removes, however the prefix
//! is spelled. Each test makes its objects in child processes (this test binary re-run as
//! `child`, killed to leave them behind), under a name prefix of its own, and removes
//! them at its end even when it fails: it never touches another program's objects.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

mod common;
use common::Kid;

const ROLE: &str = "IPC_CLEAN_PLAN_TEST_ROLE";

/// A test's own name prefix: `$IPC_TEST_PREFIX` (or `ipc-t`), this process's pid, `plan-`
/// and the test's tag.
fn own(tag: &str) -> String {
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    format!("{base}-{}-plan-{tag}-", std::process::id())
}

/// `ipc ARGS --json`, which must succeed, as JSON.
fn json(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .args(args)
        .arg("--json")
        .output()
        .expect("the ipc binary runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "ipc {args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A dry run, then the real clean, of `prefix`: what the dry run planned to remove must
/// be what the clean removed; returns that.
fn plan_then_clean(prefix: &str) -> Value {
    let plan = json(&["clean", "--dry-run", "--prefix", prefix]);
    let done = json(&["clean", "--prefix", prefix]);
    assert_eq!(
        plan["stale"], done["removed"],
        "the dry run of --prefix {prefix} said {plan:#}, the clean did {done:#}"
    );
    done["removed"].clone()
}

/// Runs `f` at the end of a test, even a failed one.
struct Finally<F: FnMut()>(F);

impl<F: FnMut()> Drop for Finally<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// In a child: says it is ready, then holds `what` open until the test kills it.
fn hold<T>(what: T) {
    println!("child-ready");
    std::thread::sleep(Duration::from_secs(3600));
    drop(what);
}

/// The child entry point: does nothing unless `IPC_CLEAN_PLAN_TEST_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["listener", path] => hold(ipc::socket::Listener::<u64>::bind(path).unwrap()),
        ["seqpacket-listener", path] => {
            hold(ipc::socket::SeqPacketListener::<u64>::bind(path).unwrap())
        }
        ["queue", name] => hold(ipc::mq::Sender::<u64>::create(name, Default::default()).unwrap()),
        ["sysv-queue", key] => {
            let key = ipc::sysv::Key::Value(key.parse().unwrap());
            hold(ipc::sysv::Sender::<u64>::create(key, Default::default()).unwrap())
        }
        ["channel", name] => {
            hold(ipc::shm::Receiver::<u64>::create(name, Default::default()).unwrap())
        }
        _ => panic!("unknown role {role}"),
    }
}

/// The socket file that a child playing `role` (a listener) left when it was killed, in
/// a directory of this test's own; the directory as a prefix (with its `/`); and what
/// removes both at the end of the test, even a failed one.
fn dead_listener(role: &str) -> (PathBuf, String, Finally<impl FnMut()>) {
    let dir = std::env::temp_dir().join(own(role));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("sock");
    let prefix = format!("{}/", dir.display());
    let cleanup = {
        let prefix = prefix.clone();
        Finally(move || {
            let _ = ipc::socket::remove_stale_with_prefix(&prefix);
            let _ = std::fs::remove_dir_all(&dir);
        })
    };
    Kid::start(ROLE, &format!("{role} {}", socket.display()), "off").kill();
    (socket, prefix, cleanup)
}

/// A seqpacket socket is named as `ipc list` names it, `unix-seqpacket:PATH`, by the dry
/// run and by the clean.
#[test]
fn a_seqpacket_socket_is_named_by_its_scheme() {
    let (socket, prefix, _cleanup) = dead_listener("seqpacket-listener");
    let listed = json(&["list"]);
    let endpoint = format!("unix-seqpacket:{}", socket.display());
    assert!(
        listed.to_string().contains(&endpoint),
        "ipc list names it {endpoint}: {listed:#}"
    );

    let removed = plan_then_clean(&prefix);
    assert_eq!(removed, json!([endpoint]));
    assert!(!socket.exists());
}

/// (a) A socket prefix given as the directory the sockets lie in.
#[test]
fn a_socket_prefix_spelled_as_a_directory_plans_what_clean_removes() {
    let (socket, prefix, _cleanup) = dead_listener("listener");
    assert!(socket.exists());

    let removed = plan_then_clean(&prefix);
    assert_eq!(removed, json!([format!("unix:{}", socket.display())]));
    assert!(!socket.exists());
}

/// (b) A POSIX queue prefix given with the leading `/` of queue names.
#[test]
fn an_mq_prefix_with_its_slash_plans_what_clean_removes() {
    let own = own("mq");
    let name = format!("/{own}dead");
    let _cleanup = Finally(|| {
        let _ = ipc::mq::unlink(&name);
    });
    Kid::start(ROLE, &format!("queue {name}"), "off").kill();

    let removed = plan_then_clean(&format!("/{own}"));
    assert_eq!(removed, json!([format!("mq:{name}")]));
    assert!(!ipc::mq::list().unwrap().iter().any(|q| q.name == name));
}

/// (c) A System V queue, matched by its creator's `IPC_RECLAIM`.
#[test]
fn a_system_v_queue_is_planned_as_clean_removes_it() {
    let own = own("sysv");
    // A key of this process's own (its pid, in a range of its own).
    let key = 0x4951_0000 ^ (std::process::id() as i32 & 0xffff);
    let _cleanup = Finally(|| {
        for q in ipc::sysv::list().unwrap_or_default() {
            if q.key == key {
                let _ = ipc::sysv::remove(q.id);
            }
        }
        let _ = ipc::sysv::remove_stale_with_prefix(&own);
    });
    // Its creator's sweep is restricted to this test's names, which its registry keeps.
    Kid::start(ROLE, &format!("sysv-queue {key}"), &own).kill();
    let id = ipc::sysv::list()
        .unwrap()
        .into_iter()
        .find(|q| q.key == key)
        .expect("the queue is there")
        .id;

    let removed = plan_then_clean(&own);
    assert_eq!(removed, json!([format!("sysv-id:{id}")]));
    assert!(!ipc::sysv::list().unwrap().iter().any(|q| q.key == key));
}

/// (d) A dead segment whose file was cut short, below its header: clean cannot prove it
/// is this crate's whole segment and keeps it; the dry run says so too, and `ipc list`
/// shows it `cut-short`, not STALE (which clean removes).
#[test]
fn a_cut_short_segment_is_planned_as_clean_treats_it() {
    let own = own("short");
    let name = format!("{own}chan");
    let file = PathBuf::from(format!("/dev/shm/ipc.{name}"));
    let _cleanup = Finally(|| {
        let _ = ipc::shm::remove_stale_with_prefix(&own);
        let _ = std::fs::remove_file(&file);
    });
    Kid::start(ROLE, &format!("channel {name}"), "off").kill();
    // Its magic and metadata stay, the rest of its header goes.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(256)
        .unwrap();
    let all = json(&["list", "--prefix", &own]);
    assert_eq!(all[0]["endpoint"], format!("shm:{name}"), "{all:#}");
    assert_eq!(all[0]["state"], "cut-short", "{all:#}");

    let removed = plan_then_clean(&own);
    assert_eq!(removed, json!([]));
    assert!(file.exists());
}
