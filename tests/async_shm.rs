//! The async shared-memory receiver (`ipc::shm::AsyncReceiver`) with its senders in
//! another process (this test binary re-run as a child): every message arrives once and
//! in order, waiting costs no thread per channel and no CPU, a receive that finds
//! messages makes no system call, and dropped receives lose nothing.
//!
//! Counts come from the environment, with small defaults: `IPC_ASYNC_SHM_MESSAGES`
//! (streamed messages, default 100,000), `IPC_ASYNC_SHM_CHANNELS` (channels awaited at
//! once, default 200).

use std::ffi::OsStr;
use std::time::Duration;

use ipc::shm::{AsyncReceiver, AsyncSubscriber, Options, Publisher, Receiver, Sender, Subscriber};
use ipc::Error;

mod common;
use common::{rerun, send_invalid_side, Proc, ShmName, Side};

const ROLE: &str = "IPC_ASYNC_SHM_ROLE";

fn env_count(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn messages() -> u64 {
    env_count("IPC_ASYNC_SHM_MESSAGES", 100_000)
}

fn channels() -> u64 {
    env_count("IPC_ASYNC_SHM_CHANNELS", 200)
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}

/// The child entry point: does nothing unless `IPC_ASYNC_SHM_ROLE` is set.
#[test]
fn child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let args: Vec<&str> = role.split(' ').collect();
    match args[..] {
        ["stream", name, n] => {
            let mut tx = Sender::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                tx.send(i).unwrap();
            }
        }
        ["batches", name, n] => {
            // Numbered messages in batches of 1 to 300 (`send_all`: packed, for `u64`).
            let n: u64 = n.parse().unwrap();
            let mut tx = Sender::<u64>::open(name).unwrap();
            let (mut i, mut size) = (0, 1);
            while i < n {
                size = size * 7 % 301;
                let batch: Vec<u64> = (i..(i + size.max(1)).min(n)).collect();
                tx.send_all(&batch).unwrap();
                i += batch.len() as u64;
            }
        }
        ["paced", name, n] => {
            // Numbered messages, a pause every 16: the receiver parks and is rung.
            let mut tx = Sender::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                if i % 16 == 15 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                tx.send(i).unwrap();
            }
        }
        ["publish", name, n] => {
            let mut tx = Publisher::<u64>::open(name).unwrap();
            for i in 0..n.parse::<u64>().unwrap() {
                if i % 16 == 15 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                tx.send(i).unwrap();
            }
        }
        ["idle", name] => {
            let _tx = Sender::<u64>::open(name).unwrap();
            common::ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["ring-out-of-descriptors", name] => {
            // A message to a parked async receiver while this process has no descriptor
            // left: this process's first ring, through the socket it made when it opened
            // the channel. No other message follows to ring again.
            let mut tx = Sender::<u64>::open(name).unwrap();
            let mut go = Receiver::<u64>::open(&format!("{name}-go")).unwrap();
            common::ready();
            go.recv().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let _full = common::OutOfDescriptors::new();
            tx.send(1).unwrap();
            // Leaving would ring too: stay until killed, still out of descriptors.
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["one-then-idle", name] => {
            let mut tx = Sender::<u64>::open(name).unwrap();
            tx.send(7).unwrap();
            common::ready();
            std::thread::sleep(Duration::from_secs(3600));
        }
        ["death-out-of-descriptors", name] => {
            // The receiver: it parks once as a sync end (the death notices' thread starts
            // and opens the sender's pidfd, which stays cached), then as an async one with
            // no descriptor left, and must hear of the sender's death.
            let mut rx = Receiver::<u64>::create(name, Options::new()).unwrap();
            common::ready();
            assert_eq!(*rx.recv().unwrap(), 7);
            // Parks until the sender is watched: its pidfd open (and kept, cached, when
            // the end turns async and registers again).
            for _ in 0..100 {
                if pidfds() > 0 {
                    break;
                }
                assert!(matches!(
                    rx.recv_timeout(Duration::from_millis(20)),
                    Err(Error::Timeout(_))
                ));
            }
            assert_eq!(pidfds(), 1, "the sender is not watched");
            let rt = runtime(1);
            let mut rx = {
                let _in_runtime = rt.enter();
                AsyncReceiver::from_sync(rx).unwrap()
            };
            let full = common::OutOfDescriptors::new();
            common::ready();
            let got = rt.block_on(async {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep(Duration::from_secs(30)) => {
                        panic!("the sender's death was not heard")
                    }
                    got = rx.recv() => got,
                }
            });
            drop(full);
            assert!(matches!(got, Err(Error::Disconnected)), "{got:?}");
        }
        ["many", prefix, n, each] => {
            let n: u64 = n.parse().unwrap();
            let each: u64 = each.parse().unwrap();
            let mut txs: Vec<_> = (0..n)
                .map(|i| Sender::<u64>::open(&format!("{prefix}-{i}")).unwrap())
                .collect();
            for round in 0..each {
                for tx in &mut txs {
                    tx.send(round).unwrap();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        _ => panic!("unknown role {role}"),
    }
}

/// The pidfds this process holds.
fn pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_str() == Some("anon_inode:[pidfd]"))
        .count()
}

fn kid(role: &str) -> common::Kid {
    rerun("child", [(ROLE, OsStr::new(role))])
}

#[test]
fn messages_that_wait_are_received_with_no_park_and_no_futex_call() {
    let name = ShmName::new("async-shm-full");
    let n = 1000;
    let rx = Receiver::<u64>::create(&name.0, Options::new().capacity(1024)).unwrap();
    kid(&format!("stream {} {n}", name.0)).assert_success("sender");
    runtime(1).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        let futex_calls = ipc::sync::futex_syscalls();
        for i in 0..n {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
        // Every message was there: no receive parked, rang or touched a futex.
        assert_eq!(rx.parks(), 0);
        assert_eq!(ipc::sync::futex_syscalls(), futex_calls);
        assert!(matches!(rx.recv().await, Err(Error::Disconnected)));
    });
}

#[test]
fn a_stream_arrives_whole_and_in_order() {
    let name = ShmName::new("async-shm-stream");
    let n = messages();
    let rx = Receiver::<u64>::create(&name.0, Options::new().capacity(4096)).unwrap();
    let sender = kid(&format!("stream {} {n}", name.0));
    let parks = runtime(2).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        for i in 0..n {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
        assert!(matches!(rx.recv().await, Err(Error::Disconnected)));
        rx.parks()
    });
    sender.assert_success("sender");
    eprintln!("{n} messages streamed, {parks} parks (each a few system calls)");
}

#[test]
fn receives_under_random_timeouts_lose_and_duplicate_nothing() {
    let name = ShmName::new("async-shm-cancel");
    let n = env_count("IPC_ASYNC_MESSAGES", 10_000);
    let rx = Receiver::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    let sender = kid(&format!("paced {} {n}", name.0));
    let (cancelled, parks) = runtime(1).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        let (mut next, mut cancelled, mut seed) = (0, 0u64, 0x9e37_79b9_7f4a_7c15u64);
        while next < n {
            let limit = random_limit(&mut seed, 1500);
            match tokio::time::timeout(limit, rx.recv()).await {
                Err(_) => cancelled += 1,
                Ok(got) => {
                    assert_eq!(got.unwrap(), next, "lost or duplicated");
                    next += 1;
                }
            }
        }
        assert!(matches!(rx.recv().await, Err(Error::Disconnected)));
        (cancelled, rx.parks())
    });
    sender.assert_success("sender");
    eprintln!("{n} messages, {cancelled} receives cancelled, {parks} parks");
}

#[test]
fn a_batched_stream_is_received_whole_under_random_timeouts_and_turns_to_sync() {
    // Packed batches, received by an async end whose receives are cancelled at random
    // (it counts a batch ahead, then takes it message by message) and which turns back
    // into the sync end and again into an async one every thousand messages, inside
    // batches as often as not: nothing lost, nothing twice.
    let name = ShmName::new("async-shm-batches");
    let n = env_count("IPC_ASYNC_MESSAGES", 10_000);
    let mut rx = Receiver::<u64>::create(&name.0, Options::new().capacity(256)).unwrap();
    let sender = kid(&format!("batches {} {n}", name.0));
    let rt = runtime(1);
    let (mut next, mut cancelled, mut seed) = (0, 0u64, 0x2545_f491_4f6c_dd1du64);
    while next < n {
        let sync = rt.block_on(async {
            let mut rx = AsyncReceiver::from_sync(rx).unwrap();
            let stop = (next + 1000).min(n);
            while next < stop {
                let limit = random_limit(&mut seed, 500);
                match tokio::time::timeout(limit, rx.recv()).await {
                    Err(_) => cancelled += 1,
                    Ok(got) => {
                        assert_eq!(got.unwrap(), next, "lost or duplicated");
                        next += 1;
                    }
                }
            }
            rx.into_sync()
        });
        rx = sync;
        for _ in 0..3 {
            if next < n {
                let got = *rx.recv_timeout(Duration::from_secs(30)).unwrap();
                assert_eq!(got, next, "lost or duplicated (sync)");
                next += 1;
            }
        }
    }
    assert!(matches!(
        rx.recv_timeout(Duration::from_secs(30)),
        Err(Error::Disconnected)
    ));
    sender.assert_success("sender");
    eprintln!("{n} messages in batches, {cancelled} receives cancelled");
}

/// The next of a run of receive time limits drawn from `seed` (xorshift): zero three
/// times in four, else up to `most_us` microseconds.
fn random_limit(seed: &mut u64, most_us: u64) -> Duration {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    Duration::from_micros(if *seed % 4 == 0 { *seed % most_us } else { 0 })
}

/// Receives `n` numbered samples under random timeouts (a zero one three times in
/// four), then the end of the topic; returns the receives cancelled.
async fn subscribe_all(mut sub: AsyncSubscriber<u64>, n: u64, mut seed: u64) -> u64 {
    let (mut next, mut cancelled) = (0, 0);
    while next < n {
        let limit = random_limit(&mut seed, 1500);
        match tokio::time::timeout(limit, sub.recv()).await {
            Err(_) => cancelled += 1,
            Ok(got) => {
                assert_eq!(got.unwrap(), next, "lost or duplicated");
                next += 1;
            }
        }
    }
    assert!(matches!(sub.recv().await, Err(Error::Disconnected)));
    cancelled
}

#[test]
fn two_async_subscribers_get_every_sample_under_random_timeouts() {
    let name = ShmName::new("async-topic");
    let n = env_count("IPC_ASYNC_MESSAGES", 10_000);
    let s1 = Subscriber::<u64>::open_or_create(&name.0, Options::new().capacity(64)).unwrap();
    let s2 = Subscriber::<u64>::open(&name.0).unwrap();
    let publisher = kid(&format!("publish {} {n}", name.0));
    let (c1, c2) = runtime(1).block_on(async {
        let s1 = AsyncSubscriber::from_sync(s1).unwrap();
        let s2 = AsyncSubscriber::from_sync(s2).unwrap();
        tokio::join!(
            subscribe_all(s1, n, 0x1234_5678),
            subscribe_all(s2, n, 0x8765_4321)
        )
    });
    publisher.assert_success("publisher");
    eprintln!("topic: {n} samples to each of 2 subscribers, {c1} + {c2} receives cancelled");
}

/// CPU time (user + system) this thread has used (the other tests of the process run
/// meanwhile, in other threads).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a writable rusage; getrusage fills it.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    assert_eq!(r, 0);
    // SAFETY: getrusage succeeded and initialised it.
    let u = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[test]
fn an_idle_receiver_costs_no_cpu_and_wakes_for_a_message() {
    let name = ShmName::new("async-shm-idle");
    let rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let mut idle = Proc::spawn(ROLE, &format!("idle {}", name.0));
    idle.wait_ready();
    // On this thread, whose CPU time is measured: the receiver, the reactor, the timers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        // Park (the first look at the peers, its probe, then the doorbell).
        assert!(tokio::time::timeout(Duration::from_millis(50), rx.recv())
            .await
            .is_err());
        let before = cpu_time();
        assert!(tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .is_err());
        let used = cpu_time() - before;
        eprintln!("idle for 1 s: {used:?} of CPU, {} parks", rx.parks());
        // A spinning receiver would use the whole second; parked, it uses microseconds.
        assert!(
            used < Duration::from_millis(100),
            "idle receiver used {used:?}"
        );
        // And it still wakes: a sender in this process, then the other one leaves.
        let mut tx = Sender::<u64>::open(&name.0).unwrap();
        let sending = tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_millis(20));
            tx.send(42).unwrap();
        });
        assert_eq!(rx.recv().await.unwrap(), 42);
        sending.await.unwrap();
    });
    idle.kill();
}

/// A sender out of descriptors still rings the doorbell of a parked async receiver: its
/// process made its ringing socket when it opened the channel. (Made at the first ring
/// instead, out of descriptors, it would not be made: the ring lost, the receiver would
/// sleep its longest sleep, a minute, unless another message came.)
#[test]
fn a_sender_out_of_descriptors_still_rings_the_doorbell() {
    let name = ShmName::new("async-shm-ring");
    let rx = Receiver::<u64>::create(&name.0, Options::new()).unwrap();
    let go_name = ShmName(format!("{}-go", name.0));
    let mut go = Sender::<u64>::create(&go_name.0, Options::new()).unwrap();
    let mut peer = Proc::spawn(ROLE, &format!("ring-out-of-descriptors {}", name.0));
    peer.wait_ready();
    runtime(1).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        // Parked: nothing came, and the receive ended on its doorbell, not a look.
        assert!(tokio::time::timeout(Duration::from_millis(100), rx.recv())
            .await
            .is_err());
        assert!(rx.parks() > 0);
        go.send(0).unwrap();
        // A lost ring would leave it asleep a minute (its longest sleep). The deadline
        // is looked at first: a receive that only a timer's wake-up polled would take
        // the message and pass.
        let got = tokio::select! {
            biased;
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("never rung"),
            got = rx.recv() => got,
        };
        assert_eq!(got.unwrap(), 1);
    });
    peer.kill();
}

/// An async receiver whose process is out of descriptors when its sender dies hears of
/// the death: the death notices' thread rings its doorbell through a socket made before
/// (when the receiver registered), or, where none could be made, the receiver parks in
/// slices and probes. (The thread made its socket at its first ring: out of descriptors,
/// the ring was lost and the receiver slept its longest sleep, a minute.)
#[test]
fn a_death_is_heard_by_an_async_receiver_out_of_descriptors() {
    let name = ShmName::new("async-shm-deaf");
    let mut receiver = Proc::spawn(ROLE, &format!("death-out-of-descriptors {}", name.0));
    receiver.wait_ready();
    let mut sender = Proc::spawn(ROLE, &format!("one-then-idle {}", name.0));
    sender.wait_ready();
    // Out of descriptors, and then parked.
    receiver.wait_ready();
    std::thread::sleep(Duration::from_millis(300));
    sender.kill();
    receiver.assert_success();
}

/// Threads of this process.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn many_channels_are_awaited_without_a_thread_each() {
    let prefix = common::unique("async-shm-many");
    let n = channels();
    let each = 20;
    let names: Vec<ShmName> = (0..n).map(|i| ShmName(format!("{prefix}-{i}"))).collect();
    // Two descriptors per channel (the segment, the doorbell), and the tokio reactor's.
    let _ = nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        4096,
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .unwrap()
            .1,
    );
    let rxs: Vec<Receiver<u64>> = names
        .iter()
        .map(|c| Receiver::create(&c.0, Options::new()).unwrap())
        .collect();
    let rt = runtime(2);
    let before = threads();
    let sender = kid(&format!("many {prefix} {n} {each}"));
    let (during, total) = rt.block_on(async {
        let tasks: Vec<_> = rxs
            .into_iter()
            .map(|rx| {
                tokio::spawn(async move {
                    let mut rx = AsyncReceiver::from_sync(rx).unwrap();
                    for round in 0..each {
                        assert_eq!(rx.recv().await.unwrap(), round);
                    }
                    assert!(matches!(rx.recv().await, Err(Error::Disconnected)));
                    each
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let during = threads();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        (during, total)
    });
    sender.assert_success("senders");
    assert_eq!(total, n * each);
    eprintln!("{n} channels: {before} threads before, {during} while awaiting");
    // At most the death notices' thread (one per process) may have joined.
    assert!(
        during <= before + 1,
        "{before} threads before, {during} during"
    );
}

/// The async receiver counts the messages at the head ahead, one scan for many
/// receives; each stays in the ring until it is received, so the sync end taken back
/// reads on from the next one, and so does the async end made of it again.
#[test]
fn messages_counted_ahead_stay_in_the_ring_until_received() {
    let name = ShmName::new("async-shm-ahead");
    let n = 1000;
    let rx = Receiver::<u64>::create(&name.0, Options::new().capacity(1024)).unwrap();
    kid(&format!("stream {} {n}", name.0)).assert_success("sender");
    let rt = runtime(1);
    let mut rx = rt.block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        for i in 0..10 {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
        assert_eq!(rx.try_recv().unwrap(), 10);
        rx.into_sync()
    });
    assert_eq!(
        rx.len(),
        (n - 11) as usize,
        "only what was received is gone"
    );
    assert_eq!(ipc::Rx::try_recv(&mut rx).unwrap(), 11);
    let mut rx = rt.block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        for i in 12..20 {
            assert_eq!(rx.recv().await.unwrap(), i);
        }
        rx.into_sync()
    });
    for i in 20..n {
        assert_eq!(ipc::Rx::try_recv(&mut rx).unwrap(), i, "lost or duplicated");
    }
    assert!(matches!(
        ipc::Rx::try_recv(&mut rx),
        Err(Error::Disconnected)
    ));
}

/// An async subscriber takes only the samples it returns: each stays in the topic until
/// it is received, so the sync subscriber taken back reads on from the next one.
#[test]
fn samples_stay_in_the_topic_until_received() {
    let name = ShmName::new("async-topic-ahead");
    let opts = Options::new().capacity(64);
    let sub = Subscriber::<u64>::open_or_create(&name.0, opts.clone()).unwrap();
    let mut publisher = Publisher::<u64>::open_or_create(&name.0, opts).unwrap();
    for i in 0..40 {
        publisher.send(i).unwrap();
    }
    let rt = runtime(1);
    let mut sub = rt.block_on(async {
        let mut sub = AsyncSubscriber::from_sync(sub).unwrap();
        for i in 0..5 {
            assert_eq!(sub.recv().await.unwrap(), i);
        }
        assert_eq!(sub.try_recv().unwrap(), 5);
        sub.into_sync()
    });
    assert_eq!(sub.pending(), 34, "only what was received is gone");
    for i in 6..20 {
        assert_eq!(
            ipc::Rx::try_recv(&mut sub).unwrap(),
            i,
            "lost or duplicated"
        );
    }
    let sub = rt.block_on(async {
        let mut sub = AsyncSubscriber::from_sync(sub).unwrap();
        for i in 20..40 {
            assert_eq!(sub.recv().await.unwrap(), i);
        }
        assert!(matches!(sub.try_recv(), Err(Error::Empty)));
        sub.into_sync()
    });
    drop(publisher);
    drop(sub);
}

/// An invalid sample among valid ones is reported in its turn, and the samples around it
/// arrive.
#[test]
fn an_invalid_sample_is_reported_in_its_turn() {
    let name = ShmName::new("async-topic-invalid");
    let opts = Options::new().capacity(16);
    let sub = Subscriber::<Side>::open_or_create(&name.0, opts.clone()).unwrap();
    let mut publisher = Publisher::<Side>::open_or_create(&name.0, opts).unwrap();
    publisher.send(Side::Buy).unwrap();
    let mut loan = publisher.loan().unwrap();
    loan.as_uninit_mut().write(Side::Sell);
    // SAFETY: the byte goes into the sample through a raw pointer and is never read as a
    // `Side` in this process; `assume_init`'s promise is broken on purpose to play a buggy
    // publisher, which the subscriber must refuse.
    unsafe {
        loan.as_uninit_mut().as_mut_ptr().cast::<u8>().write(3);
        loan.assume_init();
    }
    loan.send();
    publisher.send(Side::Sell).unwrap();
    runtime(1).block_on(async {
        let mut sub = AsyncSubscriber::from_sync(sub).unwrap();
        assert_eq!(sub.recv().await.unwrap(), Side::Buy);
        assert!(matches!(sub.recv().await, Err(Error::InvalidMessage(_))));
        assert_eq!(sub.recv().await.unwrap(), Side::Sell);
        assert!(matches!(sub.try_recv(), Err(Error::Empty)));
    });
}

/// A message that is not a valid value, among those counted ahead, is reported in its
/// turn; the messages before and after it arrive, and a slot given back empty is
/// skipped.
#[test]
fn an_invalid_message_among_those_counted_ahead_is_reported_in_its_turn() {
    let name = ShmName::new("async-shm-invalid");
    let rx = Receiver::<Side>::create(&name.0, Options::new().capacity(16)).unwrap();
    let mut tx = Sender::<Side>::open(&name.0).unwrap();
    tx.send_all(&[Side::Buy, Side::Sell]).unwrap();
    send_invalid_side(&mut tx);
    drop(tx.loan().unwrap());
    tx.send_all(&[Side::Sell, Side::Buy]).unwrap();
    send_invalid_side(&mut tx);
    runtime(1).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        assert_eq!(rx.recv().await.unwrap(), Side::Buy);
        assert_eq!(rx.recv().await.unwrap(), Side::Sell);
        assert!(matches!(rx.recv().await, Err(Error::InvalidMessage(_))));
        assert_eq!(rx.recv().await.unwrap(), Side::Sell);
        assert_eq!(rx.recv().await.unwrap(), Side::Buy);
        assert!(matches!(rx.try_recv(), Err(Error::InvalidMessage(_))));
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        drop(tx);
        assert!(matches!(rx.recv().await, Err(Error::Disconnected)));
    });
}

/// The address range of this process's mapping of the segment at `path`
/// (`/proc/self/maps`).
fn mapping_of(path: &str) -> std::ops::Range<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let line = maps
        .lines()
        .find(|l| l.ends_with(path))
        .unwrap_or_else(|| panic!("{path} is not mapped"));
    let (from, to) = line.split(' ').next().unwrap().split_once('-').unwrap();
    usize::from_str_radix(from, 16).unwrap()..usize::from_str_radix(to, 16).unwrap()
}

/// The three ways to receive — a copy (`recv`), into the caller's value (`recv_into`),
/// and lent in place (`recv_sample`, pointing into the segment) — take turns on one
/// stream whose sender pauses (so the receiver parks), under random timeouts: every
/// message once, in order.
#[test]
fn copies_values_into_place_and_samples_in_place_interleave_under_random_timeouts() {
    let name = ShmName::new("async-shm-ways");
    let n = env_count("IPC_ASYNC_MESSAGES", 10_000);
    let rx = Receiver::<u64>::create(&name.0, Options::new().capacity(64)).unwrap();
    let segment = mapping_of(&name.path());
    let sender = kid(&format!("paced {} {n}", name.0));
    let (cancelled, lent) = runtime(1).block_on(async {
        let mut rx = AsyncReceiver::from_sync(rx).unwrap();
        let (mut next, mut cancelled, mut lent, mut rng) = (
            0,
            0u64,
            0u64,
            common::Rng::from_env("IPC_ASYNC_SEED", "receive ways"),
        );
        while next < n {
            let limit = Duration::from_micros(if rng.below(4) == 0 {
                rng.below(1500)
            } else {
                0
            });
            let got = match next % 3 {
                0 => tokio::time::timeout(limit, rx.recv())
                    .await
                    .map(Result::unwrap),
                1 => {
                    let mut out = u64::MAX;
                    tokio::time::timeout(limit, rx.recv_into(&mut out))
                        .await
                        .map(|r| r.map(|()| out).unwrap())
                }
                _ => tokio::time::timeout(limit, async {
                    let sample = rx.recv_sample().await.unwrap();
                    let at = &*sample as *const u64 as usize;
                    assert!(
                        segment.contains(&at),
                        "a sample lent in place, in the segment"
                    );
                    *sample
                })
                .await
                .inspect(|_| lent += 1),
            };
            match got {
                Err(_) => cancelled += 1,
                Ok(got) => {
                    assert_eq!(got, next, "lost or duplicated");
                    next += 1;
                }
            }
        }
        assert!(matches!(rx.recv_sample().await, Err(Error::Disconnected)));
        (cancelled, lent)
    });
    sender.assert_success("sender");
    eprintln!("{n} messages, {lent} lent in place, {cancelled} receives cancelled");
}

/// A subscriber lends its samples in place too, and copies them into place.
#[test]
fn an_async_subscriber_lends_samples_in_place() {
    let name = ShmName::new("async-topic-ways");
    let n = 2_000;
    let sub = Subscriber::<u64>::open_or_create(&name.0, Options::new().capacity(64)).unwrap();
    let publisher = kid(&format!("publish {} {n}", name.0));
    runtime(1).block_on(async {
        let mut sub = AsyncSubscriber::from_sync(sub).unwrap();
        for i in 0..n {
            if i % 2 == 0 {
                assert_eq!(*sub.recv_sample().await.unwrap(), i);
            } else {
                let mut out = 0;
                sub.recv_into(&mut out).await.unwrap();
                assert_eq!(out, i);
            }
        }
        assert!(matches!(sub.recv_sample().await, Err(Error::Disconnected)));
    });
    publisher.assert_success("publisher");
}
