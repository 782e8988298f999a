//! The permission matrix: every kind of named object — a shared-memory channel's segment,
//! a FIFO, a POSIX queue and its schema header, a System V queue, a Unix socket file — is
//! created 0600 by default, and a process of another uid (`nobody`) that tries to open,
//! send to, receive from or remove it is refused with `PermissionDenied` (whose message
//! says to check the owner and mode); the object is unharmed. Created with a mode that
//! grants the group (0660), a process of another uid in the owner's group gets in. A Unix
//! listener's peer policy (`allow_gid`, `allow_pid`) refuses a client it does not name.
//!
//! The other-uid processes are this binary re-run as `child` with `CommandExt::uid`/`gid`;
//! that needs root, so without it each test says so and passes without checking.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use common::{MqName, Proc, ShmName, TempDir};
use ipc::Error;

const ROLE: &str = "IPC_PERMISSIONS_ROLE";
/// The uid (and group) of the other user.
const NOBODY: u32 = 65534;
/// Where the objects of one test are: the names (segment, FIFO, queue, System V key and
/// id, socket), space-separated, for the child.
const OBJECTS: &str = "IPC_PERMISSIONS_OBJECTS";
/// The System V key of the objects' queue.
const KEY: &str = "IPC_PERMISSIONS_KEY";

/// True if this process may run children as another uid; says so if not.
fn root_or_skip() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        println!("skipped: running a process as another uid needs root");
    }
    root
}

/// True if POSIX queues can be made here (`/dev/mqueue` mounted).
fn mq_available() -> bool {
    ipc::mq::list().is_ok()
}

/// Removes the System V queue of this id on drop (a queue outlives its ends), even when
/// the test fails.
struct SysvRemoved(i32);

impl Drop for SysvRemoved {
    fn drop(&mut self) {
        let _ = ipc::sysv::remove(self.0);
    }
}

/// The objects of one test, made by this (root) process with `mode`.
struct Objects {
    shm: ShmName,
    _shm_rx: ipc::shm::Receiver<u64>,
    dir: TempDir,
    fifo: Option<ipc::fifo::Fifo>,
    mq: Option<(MqName, ipc::mq::Receiver<u64>)>,
    sysv: ipc::sysv::Receiver<u64>,
    _sysv_removed: SysvRemoved,
    key: i32,
    socket: ipc::socket::Listener<u64>,
}

impl Objects {
    fn new(mode: u32, tag: &str) -> Objects {
        use std::os::unix::fs::PermissionsExt;
        let shm = ShmName::new(tag);
        let rx =
            ipc::shm::Receiver::<u64>::create(&shm.0, ipc::shm::Options::new().mode(mode)).unwrap();
        let dir = TempDir::new(tag);
        // The other user may reach the names in the directory, but neither list nor
        // change it: what refuses it is each object's own mode.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        let fifo = ipc::fifo::Options::new()
            .mode(mode)
            .create(dir.join("fifo"))
            .unwrap();
        let mq = mq_available().then(|| {
            let name = MqName::new(tag);
            let opts = ipc::mq::Options::new().capacity(4).mode(mode);
            let rx = ipc::mq::Receiver::<u64>::create(&name.0, opts).unwrap();
            (name, rx)
        });
        let key = common::sysv_key();
        let sysv = ipc::sysv::Receiver::<u64>::create(
            ipc::sysv::Key::Value(key),
            ipc::sysv::Options::new().mode(mode),
        )
        .unwrap();
        let socket = ipc::socket::Listener::<u64>::bind_with(
            dir.join("sock"),
            ipc::socket::Options::new().mode(mode),
        )
        .unwrap();
        Objects {
            shm,
            _shm_rx: rx,
            dir,
            fifo: Some(fifo),
            mq,
            _sysv_removed: SysvRemoved(sysv.id()),
            sysv,
            key,
            socket,
        }
    }

    /// The names, as the child reads them from `OBJECTS`.
    fn names(&self) -> String {
        let mq = self
            .mq
            .as_ref()
            .map_or("-".to_owned(), |(n, _)| n.0.clone());
        format!(
            "{} {} {mq} {} {}",
            self.shm.0,
            self.dir.join("fifo").display(),
            self.sysv.id(),
            self.dir.join("sock").display()
        )
    }
}

/// Runs this binary's `child` as uid `NOBODY` with primary group `gid`, in `role`, with
/// the objects' names.
fn as_other_user(role: &str, gid: u32, objects: &str, key: i32) -> Proc {
    let mut p = Proc::spawn_with(ROLE, role, |c| {
        c.env(OBJECTS, objects).env(KEY, key.to_string());
        c.uid(NOBODY).gid(gid);
    });
    p.wait_ready();
    p
}

// ---------------------------------------------------------------------------------------
// The other user's side.

/// What a call gave, for the matrix: the error's variant, or `ok`.
fn outcome<T>(r: ipc::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) => {
            let d = format!("{e:?}");
            let v = d.rsplit_once("Error::").map_or("?", |(_, v)| v);
            let v: String = v.chars().take_while(|c| c.is_alphanumeric()).collect();
            // The hint of a refusal: what to check.
            if v == "PermissionDenied" {
                assert!(e.to_string().contains("check its owner and mode"), "{e}");
            }
            v
        }
    }
}

/// A file-system call's outcome, in the same words.
fn fs_outcome<T>(r: std::io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => "PermissionDenied".into(),
        Err(e) => format!("{:?}", e.kind()),
    }
}

/// The child entry point: plays the role `IPC_PERMISSIONS_ROLE` names, if any.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let objects = std::env::var(OBJECTS).unwrap();
    let [shm, fifo, mq, sysv_id, sock] = objects.split(' ').collect::<Vec<_>>()[..] else {
        panic!("objects: {objects}");
    };
    let sysv_id: i32 = sysv_id.parse().unwrap();
    common::ready();
    match role.as_str() {
        "outsider" => outsider(shm, fifo, mq, sysv_id, sock),
        "member" => member(shm, fifo, mq, sysv_id, sock),
        "client" => {
            let r = ipc::socket::Stream::<u64>::connect(sock).and_then(|mut s| {
                s.send(1)?;
                s.recv()
            });
            println!("client {}", outcome(r));
        }
        _ => panic!("unknown role {role}"),
    }
}

/// Prints one cell of the matrix.
fn cell(kind: &str, op: &str, outcome: String) {
    println!("matrix {kind} {op} {outcome}");
}

/// Tries every operation on every object, as a user who was given no access: to open it
/// and send, to open it and receive, to remove it.
fn outsider(shm: &str, fifo: &str, mq: &str, sysv_id: i32, sock: &str) {
    use ipc::{fifo as f, mq as q, shm as s, socket as u, sysv as v};
    let path = format!("/dev/shm/ipc.{shm}");
    let send = |tx: &mut dyn ipc::Tx<u64>| Ok(tx.send(7)?);
    let recv = |rx: &mut dyn ipc::Rx<u64>| rx.try_recv().map(|_| ());
    cell(
        "shm",
        "send",
        outcome(s::Sender::open(shm).and_then(|mut t| send(&mut t))),
    );
    cell(
        "shm",
        "receive",
        outcome(s::Receiver::open(shm).and_then(|mut r| recv(&mut r))),
    );
    cell("shm", "remove", fs_outcome(std::fs::remove_file(&path)));
    cell(
        "fifo",
        "send",
        outcome(f::Sender::open(fifo).and_then(|mut t| send(&mut t))),
    );
    cell(
        "fifo",
        "receive",
        outcome(f::Receiver::open(fifo).and_then(|mut r| recv(&mut r))),
    );
    cell("fifo", "remove", outcome(f::remove(fifo)));
    if mq != "-" {
        let header = format!("/dev/shm/ipc-mq.{}", &mq[1..]);
        cell(
            "mq",
            "send",
            outcome(q::Sender::open(mq).and_then(|mut t| send(&mut t))),
        );
        cell(
            "mq",
            "receive",
            outcome(q::Receiver::open(mq).and_then(|mut r| recv(&mut r))),
        );
        cell("mq", "remove", outcome(q::unlink(mq)));
        cell("mq-header", "read", fs_outcome(std::fs::read(&header)));
        cell(
            "mq-header",
            "remove",
            fs_outcome(std::fs::remove_file(&header)),
        );
    }
    let (id, key) = (sysv_id, v::Key::Value(sysv_key()));
    cell("sysv", "open", outcome(v::Sender::<u64>::open(key)));
    cell(
        "sysv",
        "send",
        outcome(v::Sender::from_id(id).and_then(|mut t| send(&mut t))),
    );
    cell(
        "sysv",
        "receive",
        outcome(v::Receiver::from_id(id).and_then(|mut r| recv(&mut r))),
    );
    cell("sysv", "remove", outcome(v::remove(id)));
    cell(
        "socket",
        "connect",
        outcome(u::Stream::<u64>::connect(sock)),
    );
    cell("socket", "remove", fs_outcome(std::fs::remove_file(sock)));
}

/// The System V key of the objects (`IPC_PERMISSIONS_KEY`).
fn sysv_key() -> i32 {
    std::env::var(KEY).unwrap().parse().unwrap()
}

/// Opens every object as a member of its group (with options that accept another user's
/// object of mode 0660) and sends one message to each.
fn member(shm: &str, fifo: &str, mq: &str, sysv_id: i32, sock: &str) {
    use ipc::{fifo as f, mq as q, shm as s, socket as u, sysv as v};
    let send = |kind: &str, r: ipc::Result<()>| println!("member {kind} {}", outcome(r));
    send(
        "shm",
        s::Sender::<u64>::open_with(shm, s::Options::new().mode(0o660))
            .and_then(|mut tx| Ok(tx.send(7)?)),
    );
    send(
        "fifo",
        f::Sender::<u64>::open(fifo).and_then(|mut tx| Ok(tx.send(7)?)),
    );
    if mq != "-" {
        send(
            "mq",
            q::Sender::<u64>::open_with(mq, q::Options::new().mode(0o660))
                .and_then(|mut tx| Ok(tx.send(7)?)),
        );
    }
    send(
        "sysv",
        v::Sender::<u64>::from_id_with(sysv_id, v::Options::new().mode(0o660))
            .and_then(|mut tx| Ok(tx.send(7)?)),
    );
    send(
        "socket",
        u::Stream::<u64>::connect(sock).and_then(|mut tx| Ok(tx.send(7)?)),
    );
}

// ---------------------------------------------------------------------------------------
// The tests.

/// The cells a child printed: `(kind, op, outcome)`.
fn cells(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .filter_map(|l| l.split_once("matrix ").map(|(_, c)| c))
        .map(|c| {
            let w: Vec<&str> = c.split(' ').collect();
            (w[0].to_owned(), w[1].to_owned(), w[2].to_owned())
        })
        .collect()
}

#[test]
fn another_uid_is_refused_every_object_and_operation() {
    if !root_or_skip() {
        return;
    }
    let objects = Objects::new(0o600, "perm-deny");
    let kid = as_other_user("outsider", NOBODY, &objects.names(), objects.key);
    let (status, out) = kid.finish();
    assert!(
        status.success(),
        "the other user's process: {status}\n{out}"
    );
    let matrix = cells(&out);
    let cells_expected = if objects.mq.is_some() { 17 } else { 12 };
    assert_eq!(matrix.len(), cells_expected, "every cell is there:\n{out}");
    for (kind, op, got) in &matrix {
        println!("{kind:>9} {op:<12} {got}");
    }
    for (kind, op, got) in &matrix {
        assert_eq!(got, "PermissionDenied", "{kind} {op}\n{out}");
    }
    // Nothing was harmed: every object is still there, and still works for its owner.
    assert!(Path::new(&objects.shm.path()).exists());
    assert!(objects.dir.join("fifo").exists() && objects.dir.join("sock").exists());
    let mut tx = ipc::shm::Sender::<u64>::open(&objects.shm.0).unwrap();
    tx.send(1).unwrap();
    if let Some((name, _)) = &objects.mq {
        let mut tx = ipc::mq::Sender::<u64>::open(&name.0).unwrap();
        tx.send(2).unwrap();
    }
    ipc::sysv::Sender::<u64>::from_id(objects.sysv.id())
        .unwrap()
        .send(3)
        .unwrap();
}

#[test]
fn a_group_member_gets_in_when_the_mode_shares_with_the_group() {
    if !root_or_skip() {
        return;
    }
    let mut objects = Objects::new(0o660, "perm-group");
    // The FIFO's reader first (a FIFO sender waits for one); the socket's accept on a
    // thread. The member runs as uid nobody with this process's group (root's, 0).
    let mut fifo_rx = ipc::fifo::Receiver::<u64>::open(objects.dir.join("fifo")).unwrap();
    let socket = std::mem::replace(
        &mut objects.socket,
        ipc::socket::Listener::<u64>::bind(objects.dir.join("unused")).unwrap(),
    );
    let accepted = std::thread::spawn(move || {
        let mut s = socket.accept()?;
        let v = s.recv()?;
        Ok::<u64, Error>(v)
    });
    let kid = as_other_user("member", 0, &objects.names(), objects.key);
    let (status, out) = kid.finish();
    assert!(
        status.success(),
        "the group member's process: {status}\n{out}"
    );
    for line in out.lines().filter(|l| l.contains("member ")) {
        println!("{line}");
        assert!(line.ends_with(" ok"), "{out}");
    }
    let wait = Duration::from_secs(30);
    let mut shm_rx = objects._shm_rx;
    assert_eq!(*shm_rx.recv_timeout(wait).unwrap(), 7);
    assert_eq!(fifo_rx.recv_timeout(wait).unwrap(), 7);
    if let Some((_, rx)) = &mut objects.mq {
        assert_eq!(rx.recv_timeout(wait).unwrap(), 7);
    }
    assert_eq!(objects.sysv.recv_timeout(wait).unwrap(), 7);
    assert_eq!(accepted.join().unwrap().unwrap(), 7);
    drop(objects.fifo.take());
}

/// A listener whose peer policy names another group, or another process, refuses a
/// client that could reach its socket (mode 0666); one whose policy names the client's
/// group serves it.
#[test]
fn a_listener_peer_policy_refuses_clients_it_does_not_name() {
    if !root_or_skip() {
        return;
    }
    let dir = TempDir::new("perm-policy");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let open = ipc::socket::Options::new().mode(0o666);
    let policies = [
        ("allow_gid", open.clone().allow_gid(12345), false),
        ("allow_pid", open.clone().allow_pid(1), false),
        ("allow_uid", open.clone().allow_uid(0), false),
        (
            "allow_gid of its group",
            open.clone().allow_gid(NOBODY),
            true,
        ),
    ];
    for (i, (what, opts, admitted)) in policies.into_iter().enumerate() {
        let path = dir.join(format!("policy{i}.sock"));
        let listener = ipc::socket::Listener::<u64>::bind_with(&path, opts).unwrap();
        let names = format!("- - - 0 {}", path.display());
        let kid = as_other_user("client", NOBODY, &names, 0);
        let accepted = listener.accept();
        if admitted {
            let mut s = accepted.unwrap_or_else(|e| panic!("{what}: {e}"));
            let x = s.recv().unwrap();
            s.send(x + 1).unwrap();
        } else {
            let e = accepted.err().unwrap_or_else(|| panic!("{what}: accepted"));
            assert!(matches!(e, Error::PermissionDenied { .. }), "{what}: {e}");
            assert!(e.to_string().contains(what), "{what}: {e}");
            println!("{what}: {e}");
        }
        let (status, out) = kid.finish();
        assert!(status.success(), "{what}: the client: {status}\n{out}");
        let want = if admitted {
            "client ok"
        } else {
            "client Disconnected"
        };
        assert!(out.contains(want), "{what}: {out}");
    }
}
