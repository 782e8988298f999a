//! System limits hit for real, each in a child process that sets the limit up: out of file
//! descriptors (`RLIMIT_NOFILE` lowered and used up), a full /dev/shm (a small tmpfs of
//! the child's own, in a private mount namespace) and a seqpacket datagram larger than the
//! socket's send buffer. Every transport must report each as [`Error::LimitExceeded`]
//! naming the limit and how to raise it, never as a bare `Io`.
//!
//! The tests re-run this binary on themselves with `IPC_LIMITS_ROLE` set; the parent only
//! checks the child's exit status.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;

use ipc::shm::{Backing, Options as ShmOptions, Shared};
use ipc::Error;

mod common;

const ROLE: &str = "IPC_LIMITS_ROLE";

/// Runs test `test` of this binary as a child in role `role`; asserts its success.
fn run(test: &str, role: &str) {
    common::assert_exit_success(common::rerun(test, [(ROLE, OsStr::new(role))]));
}

fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A unique name for one object of these tests (see `common::unique`).
fn unique() -> String {
    common::unique("limits")
}

/// Asserts that `r` failed with `LimitExceeded` whose limit starts with `limit` and whose
/// message contains `hint`. A call that unexpectedly succeeded is dropped first, so what
/// it made is removed.
#[track_caller]
fn assert_limit<T>(what: &str, r: ipc::Result<T>, limit: &str, hint: &str) {
    let e = match r {
        Ok(made) => {
            drop(made);
            panic!("{what}: succeeded, but the limit should stand in the way");
        }
        Err(e) => e,
    };
    println!("{what}: {e}");
    match &e {
        Error::LimitExceeded { limit: l, .. } => {
            assert!(l.starts_with(limit), "{what}: names {l}, not {limit}: {e}")
        }
        e => panic!("{what}: {e:?} is not LimitExceeded[{limit}]"),
    }
    assert!(e.to_string().contains(hint), "{what}: no `{hint}` in {e}");
}

/// Opens descriptors until the (lowered) `RLIMIT_NOFILE` is reached; keep the result.
fn use_up_descriptors() -> Vec<OwnedFd> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, 64, hard).unwrap();
    let mut held = Vec::new();
    loop {
        match nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(fd) => held.push(fd),
            Err(nix::errno::Errno::EMFILE) => return held,
            Err(e) => panic!("open /dev/null: {e}"),
        }
    }
}

#[test]
fn out_of_descriptors_is_rlimit_nofile_on_every_transport() {
    if role().is_none() {
        return run(
            "out_of_descriptors_is_rlimit_nofile_on_every_transport",
            "child",
        );
    }
    let dir = common::TempDir::new("limits");
    let mut held = use_up_descriptors();
    const NOFILE: &str = "RLIMIT_NOFILE";
    const HOW: &str = "ulimit -n";
    for backing in [Backing::Posix, Backing::Memfd, Backing::SysV] {
        let name = unique();
        let opts = ShmOptions::new().backing(backing);
        let r = ipc::shm::Sender::<u64>::create(&name, opts);
        assert_limit(&format!("shm {backing:?}"), r, NOFILE, HOW);
    }
    let r = Shared::<u64>::create(&unique(), 0, ShmOptions::new());
    assert_limit("Shared::create", r, NOFILE, HOW);
    let r = ipc::socket::Stream::<u64>::pair();
    assert_limit("Stream::pair", r, NOFILE, HOW);
    let r = ipc::socket::Listener::<u64>::bind(dir.join("s"));
    assert_limit("socket::Listener::bind", r, NOFILE, HOW);
    let r = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0");
    assert_limit("tcp::Listener::bind", r, NOFILE, HOW);
    let r = ipc::pipe::channel::<u64>();
    assert_limit("pipe::channel", r, NOFILE, HOW);
    // mq_open itself out of descriptors: not RLIMIT_MSGQUEUE's fault.
    let q = format!("/{}", unique());
    let r = ipc::mq::Sender::<u64>::create(&q, ipc::mq::Options::new());
    let _ = ipc::mq::unlink(&q);
    assert_limit("mq create", r, NOFILE, HOW);
    // One descriptor free: the queue opens, its schema header cannot.
    drop(held.pop());
    let q = format!("/{}", unique());
    let r = ipc::mq::Sender::<u64>::create(&q, ipc::mq::Options::new());
    let gone = ipc::mq::unlink(&q);
    assert_limit("mq schema header", r, NOFILE, HOW);
    assert!(
        matches!(gone, Err(Error::NotFound { .. })),
        "the queue was left behind"
    );
    drop(held);
}

#[test]
fn a_full_dev_shm_is_limit_exceeded_naming_it() {
    if role().is_none() {
        return run("a_full_dev_shm_is_limit_exceeded_naming_it", "child");
    }
    // A 64 KiB tmpfs of this process's own on /dev/shm, filled up.
    common::private_dev_shm("64k");
    {
        use std::io::Write;
        let mut f = std::fs::File::create("/dev/shm/filler").unwrap();
        let chunk = [0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
    const SPACE: &str = "free space in /dev/shm";
    const HOW: &str = "df -h /dev/shm";
    for backing in [Backing::SysV, Backing::Posix] {
        let r = ipc::shm::Sender::<u64>::create(&unique(), ShmOptions::new().backing(backing));
        assert_limit(&format!("shm {backing:?}"), r, SPACE, HOW);
    }
    let q = format!("/{}", unique());
    let r = ipc::mq::Sender::<u64>::create(&q, ipc::mq::Options::new());
    let gone = ipc::mq::unlink(&q);
    assert_limit("mq schema header", r, SPACE, HOW);
    assert!(
        matches!(gone, Err(Error::NotFound { .. })),
        "the queue was left behind"
    );
}

#[test]
fn a_seqpacket_message_larger_than_the_send_buffer_names_so_sndbuf() {
    if role().is_none() {
        return run(
            "a_seqpacket_message_larger_than_the_send_buffer_names_so_sndbuf",
            "child",
        );
    }
    use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};
    type Big = [u8; 65536];
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .unwrap();
    // A send buffer far smaller than one message (the kernel doubles it).
    setsockopt(&a, sockopt::SndBuf, &4096).unwrap();
    let peer = std::thread::spawn(move || ipc::socket::SeqPacket::<Big>::from_fd(b).unwrap());
    let mut tx = ipc::socket::SeqPacket::<Big>::from_fd(a).unwrap();
    let _rx = peer.join().unwrap();
    let msg = Box::new([7u8; 65536]);
    assert_limit(
        "seqpacket send",
        tx.send_ref(&msg),
        "SO_SNDBUF",
        "net.core.wmem_default",
    );
}

/// Out of descriptors with a client waiting: `accept` on a Unix and a TCP listener, and a
/// request/response server's loop, report `RLIMIT_NOFILE` (the server returns rather than
/// spin on a connection it cannot take).
#[test]
fn out_of_descriptors_at_accept_is_rlimit_nofile() {
    if role().is_none() {
        let mut kid = common::rerun(
            "out_of_descriptors_at_accept_is_rlimit_nofile",
            [(ROLE, OsStr::new("child"))],
        );
        let status = common::wait_at_most(&mut kid, std::time::Duration::from_secs(60));
        assert!(
            status.is_some(),
            "the child hung (a server spinning on accept?)"
        );
        return common::assert_exit_success(kid);
    }
    let dir = common::TempDir::new("limits-accept");
    const NOFILE: &str = "RLIMIT_NOFILE";
    const HOW: &str = "ulimit -n";
    let unix = ipc::socket::Listener::<u64>::bind(dir.join("l")).unwrap();
    let tcp = ipc::tcp::Listener::<u64>::bind("127.0.0.1:0").unwrap();
    let mut server = ipc::socket::Server::<u64, u64>::bind(dir.join("rpc")).unwrap();
    // The async server's runtime and registration need descriptors: made first.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut async_server = {
        let _in = rt.enter();
        let sync = ipc::socket::Server::<u64, u64>::bind(dir.join("async-rpc")).unwrap();
        ipc::socket::AsyncServer::from_sync(sync).unwrap()
    };
    // Clients the kernel connects at once, waiting in each backlog.
    let _clients = (
        std::os::unix::net::UnixStream::connect(dir.join("l")).unwrap(),
        std::net::TcpStream::connect(tcp.local_addr().unwrap()).unwrap(),
        std::os::unix::net::UnixStream::connect(dir.join("rpc")).unwrap(),
        std::os::unix::net::UnixStream::connect(dir.join("async-rpc")).unwrap(),
    );
    let held = use_up_descriptors();
    assert_limit("socket::Listener::accept", unix.accept(), NOFILE, HOW);
    assert_limit("tcp::Listener::accept", tcp.accept(), NOFILE, HOW);
    let served = server.serve_clients(1, |x| x + 1);
    assert_limit("socket::Server::serve_clients", served, NOFILE, HOW);
    let served = rt.block_on(async_server.serve_clients(1, |x| async move { x + 1 }));
    assert_limit("socket::AsyncServer::serve_clients", served, NOFILE, HOW);
    drop(held);
}

/// An address space too small for a segment's mapping (`RLIMIT_AS` lowered in this
/// child) fails `mmap` with ENOMEM, as running out of `vm.max_map_count` mappings does
/// (a system-wide setting a test may not lower): both are named, with how to raise them.
#[test]
fn a_mapping_refused_for_memory_names_max_map_count_and_rlimit_as() {
    if role().is_none() {
        return run(
            "a_mapping_refused_for_memory_names_max_map_count_and_rlimit_as",
            "child",
        );
    }
    // The address space in use now, and 64 MiB more: a 1 GiB segment cannot be mapped.
    limit_address_space(64 << 20);
    let opts = ShmOptions::new().capacity(1 << 20);
    let r = ipc::shm::Sender::<[u64; 128]>::create(&unique(), opts);
    assert_limit("shm create", r, "vm.max_map_count", "ulimit -v");
    common::remove_stale();
}

/// A receiver of slices whose element type has invalid bit patterns validates each message
/// in a private copy, a buffer of the channel's `max_len`: one this process cannot
/// allocate (`RLIMIT_AS` lowered in this child so that the segment still maps, and the
/// buffer does not fit) is `LimitExceeded` naming it, never an abort. A segment's
/// `max_len` is the creator's choice, or what a hostile peer wrote there.
#[test]
fn a_receive_buffer_this_process_cannot_allocate_is_limit_exceeded() {
    if role().is_none() {
        return run(
            "a_receive_buffer_this_process_cannot_allocate_is_limit_exceeded",
            "child",
        );
    }
    use nix::sys::resource::{setrlimit, Resource};
    // More than a glibc thread arena reserves (64 MiB), from which it could otherwise
    // serve the buffer without a new mapping that the limit counts.
    const MAX_LEN: usize = 80 << 20;
    let name = unique();
    let opts = ShmOptions::new().capacity(1).max_len(MAX_LEN);
    let tx = ipc::shm::Sender::<[bool]>::create(&name, opts).unwrap();
    let mapped = std::fs::metadata(format!("/dev/shm/ipc.{name}"))
        .unwrap()
        .len();
    // Room for a second mapping of the segment (the receiver's) and a little more, not
    // for the 80 MiB buffer as well.
    let hard = limit_address_space(mapped + (8 << 20));
    let r = ipc::shm::Receiver::<[bool]>::open(&name);
    assert_limit("shm open of a [bool] receiver", r, "memory", "max_len");
    let r = ipc::shm::Subscriber::<[bool]>::open(&name);
    assert!(r.is_err(), "a channel is no topic");
    setrlimit(Resource::RLIMIT_AS, hard, hard).unwrap();
    drop(tx);
    common::remove_stale();
}

/// Lowers this process's `RLIMIT_AS` to the address space in use now and `more` bytes;
/// returns the hard limit.
fn limit_address_space(more: u64) -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let (_, hard) = getrlimit(Resource::RLIMIT_AS).unwrap();
    setrlimit(Resource::RLIMIT_AS, (vm_kib << 10) + more, hard).unwrap();
    hard
}

/// A System V queue whose `msg_qbytes` its owner lowered (`IPC_SET`, the per-queue form
/// of `kernel.msgmnb`) below one message: opening it is `LimitExceeded` naming the limit.
#[test]
fn a_sysv_queue_smaller_than_a_message_names_msg_qbytes() {
    type Big = [u8; 1024];
    let rx =
        ipc::sysv::Receiver::<Big>::create(ipc::sysv::Key::Private, Default::default()).unwrap();
    // Removed on drop, even when the test fails (a queue outlives its ends).
    struct Removed(i32);
    impl Drop for Removed {
        fn drop(&mut self) {
            let _ = ipc::sysv::remove(self.0);
        }
    }
    let _removed = Removed(rx.id());
    // SAFETY: msqid_ds is plain data that IPC_STAT fills.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT then IPC_SET on this test's own queue, with a valid msqid_ds.
    unsafe {
        assert_eq!(libc::msgctl(rx.id(), libc::IPC_STAT, &mut ds), 0);
        ds.msg_qbytes = 512;
        assert_eq!(libc::msgctl(rx.id(), libc::IPC_SET, &mut ds), 0);
    }
    let r = ipc::sysv::Sender::<Big>::from_id(rx.id());
    assert_limit("sysv open", r, "msg_qbytes", "kernel.msgmnb");
}

/// `kernel.msgmni`, the number of System V queues, is a setting of the IPC namespace: in
/// a namespace of this child's own (`unshare(CLONE_NEWIPC)`, as root) it is set to 0, so
/// that creating a queue fails as on a machine whose queues are all taken. Nothing of the
/// machine's namespace changes. Skipped, saying so, where a namespace cannot be made.
#[test]
fn no_system_v_queue_left_names_msgmni() {
    if role().is_none() {
        return run("no_system_v_queue_left_names_msgmni", "child");
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC) {
        eprintln!("skipped: no IPC namespace of our own ({e}); run as root to test msgmni");
        return;
    }
    std::fs::write("/proc/sys/kernel/msgmni", "0").unwrap();
    let r = ipc::sysv::Receiver::<u64>::create(ipc::sysv::Key::Private, Default::default());
    assert_limit("sysv create", r, "/proc/sys/kernel/msgmni", "kernel.msgmni");
}

/// `kernel.shmmni`, the number of System V segments, set to 0 in an IPC namespace of this
/// child's own: a channel with the System V backing cannot be created, and says which
/// settings to raise. Skipped, saying so, where a namespace cannot be made.
#[test]
fn no_system_v_segment_left_names_shmmni() {
    if role().is_none() {
        return run("no_system_v_segment_left_names_shmmni", "child");
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC) {
        eprintln!("skipped: no IPC namespace of our own ({e}); run as root to test shmmni");
        return;
    }
    std::fs::write("/proc/sys/kernel/shmmni", "0").unwrap();
    let r = ipc::shm::Sender::<u64>::create(&unique(), ShmOptions::new().backing(Backing::SysV));
    assert_limit("shm create", r, "kernel.shmmni", "kernel.shmmni=N");
}

/// `fs.mqueue.queues_max` is a setting of the IPC namespace too: set to 0 in one of this
/// child's own, then the child gives up root (which may pass the limit) for `nobody`, and
/// creating a POSIX queue fails as on a machine whose queues are all taken. Skipped,
/// saying so, where a namespace cannot be made.
#[test]
fn no_posix_queue_left_names_queues_max() {
    if role().is_none() {
        return run("no_posix_queue_left_names_queues_max", "child");
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC) {
        eprintln!("skipped: no IPC namespace of our own ({e}); run as root to test queues_max");
        return;
    }
    std::fs::write("/proc/sys/fs/mqueue/queues_max", "0").unwrap();
    let nobody = nix::unistd::Uid::from_raw(65534);
    nix::unistd::setgid(nix::unistd::Gid::from_raw(65534)).unwrap();
    nix::unistd::setuid(nobody).unwrap();
    let q = format!("/{}", unique());
    let r = ipc::mq::Receiver::<u64>::create(&q, ipc::mq::Options::new());
    assert_limit(
        "mq create",
        r,
        "/proc/sys/fs/mqueue/queues_max",
        "queues_max",
    );
}
