//! `ipc tail` and `ipc send` against real channels of a nested type (an enum, a
//! `FixedStr`, arrays, a nested struct): the command decodes and encodes by the schema the
//! channel carries, without this test's types. Every name starts with this process's
//! prefix; every channel is removed when its ends drop, even when a test fails.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipc::shm::{Options, Publisher, Receiver, Sender};
use ipc::FixedStr;
use serde_json::{json, Value};

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(u8)]
enum Side {
    Buy = 1,
    Sell = 2,
}

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Level {
    price: i64,
    qty: u32,
    venue: u16,
    side: Side,
    live: bool,
}

#[derive(ipc::Message, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Quote {
    id: u64,
    symbol: FixedStr<8>,
    levels: [Level; 3],
    best: Level,
    seq: [u16; 4],
}

fn name(tag: &str) -> String {
    let base = std::env::var("IPC_TEST_PREFIX").unwrap_or_else(|_| "ipc-t".to_owned());
    format!("{base}-{}-cli-{tag}", std::process::id())
}

const SYMBOLS: [&str; 4] = ["AAPL", "MSFT", "", "BRK.B"];

fn quote(i: u64) -> Quote {
    let level = |k: u64| Level {
        price: (i as i64 - 5_000) * 100 + k as i64,
        qty: (i * 7 + k) as u32,
        venue: (i % 65_536) as u16,
        side: if (i + k) % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        },
        live: (i + k) % 3 == 0,
    };
    Quote {
        id: i,
        symbol: FixedStr::try_from(SYMBOLS[i as usize % 4]).unwrap(),
        levels: [level(0), level(1), level(2)],
        best: level(9),
        seq: [i as u16, (i >> 16) as u16, 0, u16::MAX],
    }
}

/// What `ipc tail --format json` must print for `q`, written out by hand from the values.
fn expected(q: &Quote) -> Value {
    let level = |l: &Level| {
        json!({
            "price": l.price,
            "qty": l.qty,
            "venue": l.venue,
            "side": format!("{:?}", l.side),
            "live": l.live,
        })
    };
    json!({
        "id": q.id,
        "symbol": q.symbol.as_str(),
        "levels": q.levels.iter().map(level).collect::<Vec<_>>(),
        "best": level(&q.best),
        "seq": q.seq,
    })
}

fn ipc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ipc"))
}

/// `ipc tail`, its standard output read line by line on a thread; killed on drop.
struct Tail {
    child: Child,
    lines: std::thread::JoinHandle<Vec<String>>,
}

impl Tail {
    fn start(args: &[&str]) -> Tail {
        let mut child = ipc()
            .arg("tail")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        Tail { child, lines }
    }

    /// Waits for it to exit: its code, what it printed, what it said on stderr.
    fn finish(mut self) -> (i32, Vec<String>, String) {
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err).unwrap();
        let lines = std::mem::replace(&mut self.lines, std::thread::spawn(Vec::new));
        (status.code().unwrap_or(-1), lines.join().unwrap(), err)
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the topic `name` has `n` live subscribers (the tail process joined).
fn wait_for_subscribers(publisher: &Publisher<Quote>, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    // Joined, not only attached to the segment: a subscriber listed while it opens the
    // topic would miss what is published before its join.
    while publisher.subscribers() < n {
        assert!(Instant::now() < deadline, "the tail never subscribed");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn tail_decodes_ten_thousand_nested_messages_to_json_exactly_as_sent() {
    const N: u64 = 10_000;
    let topic = name("tail-json");
    let opts = Options::new().capacity(64);
    let mut publisher = Publisher::<Quote>::create(&topic, opts).unwrap();
    let endpoint = format!("shm:{topic}");
    let tail = Tail::start(&[&endpoint, "-n", &N.to_string()]);
    wait_for_subscribers(&publisher, 1);
    // Under `Block` (the default) the publisher waits for the tail: nothing is lost.
    for i in 0..N {
        publisher.send(quote(i)).unwrap();
    }
    let (code, lines, err) = tail.finish();
    assert_eq!(code, 0, "ipc tail failed: {err}");
    assert_eq!(lines.len() as u64, N, "{err}");
    for (i, line) in lines.iter().enumerate() {
        let got: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(got, expected(&quote(i as u64)), "message {i}");
    }
}

#[test]
fn tail_prints_lines_as_debug_would_and_ends_when_the_publisher_leaves() {
    let topic = name("tail-line");
    let mut publisher = Publisher::<Quote>::create(&topic, Options::new().capacity(8)).unwrap();
    let endpoint = format!("shm:{topic}");
    let tail = Tail::start(&[&endpoint, "--format", "line"]);
    wait_for_subscribers(&publisher, 1);
    for i in 0..20 {
        publisher.send(quote(i * 977)).unwrap();
    }
    drop(publisher);
    let (code, lines, err) = tail.finish();
    assert_eq!(code, 0, "ipc tail failed: {err}");
    let want: Vec<String> = (0..20).map(|i| format!("{:?}", quote(i * 977))).collect();
    assert_eq!(lines, want);
}

#[test]
fn tail_takes_from_a_channel_only_when_asked() {
    let chan = name("tail-take");
    let endpoint = format!("shm:{chan}");
    // Three messages sent, then the channel's receiver left without reading them (the
    // sender still holds the channel open).
    let rx = Receiver::<Quote>::create(&chan, Options::new().capacity(8)).unwrap();
    let mut tx = Sender::<Quote>::open(&chan).unwrap();
    for i in 0..3 {
        tx.send(quote(i)).unwrap();
    }
    drop(rx);
    let refused = ipc().args(["tail", &endpoint]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--take") && err.lines().count() == 1, "{err}");

    let tail = Tail::start(&[&endpoint, "--take", "-n", "3"]);
    let (code, lines, err) = tail.finish();
    assert_eq!(code, 0, "ipc tail --take failed: {err}");
    let got: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<Value> = (0..3).map(|i| expected(&quote(i))).collect();
    assert_eq!(got, want);
}

#[test]
fn send_encodes_json_by_the_channel_schema_and_refuses_bad_json_naming_the_field() {
    let chan = name("send");
    let endpoint = format!("shm:{chan}");
    let mut rx = Receiver::<Quote>::create(&chan, Options::new().capacity(8)).unwrap();
    let q = quote(4242);
    let text = expected(&q).to_string();
    let out = ipc().args(["send", &endpoint, &text]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)).unwrap().get(), q);

    let wrong = |field: &[&str], value: Value, named: &str| {
        let mut v = expected(&q);
        let mut at = &mut v;
        for step in field {
            at = match step.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*step],
            };
        }
        *at = value;
        let out = ipc()
            .args(["send", &endpoint, &v.to_string()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(named), "`{named}` is not named in: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(rx.len(), 0, "something was sent");
    };
    wrong(&["levels", "1", "side"], json!("Hold"), "side");
    wrong(&["best", "qty"], json!(5_000_000_000u64), "qty");
    wrong(&["symbol"], json!("TOO-LONG-NAME"), "symbol");
    wrong(&["seq"], json!([1, 2, 3]), "seq");
    wrong(&["id"], json!(-1), "id");
}

/// A slice longer than the channel's maximum is refused with that maximum stated, not the
/// slice's length, and what to do; nothing is sent.
#[test]
fn send_of_a_slice_too_long_states_the_channels_maximum() {
    let chan = name("send-long");
    let endpoint = format!("shm:{chan}");
    let mut rx = Receiver::<[u32]>::create(&chan, Options::new().capacity(8).max_len(3)).unwrap();
    let out = ipc()
        .args(["send", &endpoint, "[1, 2, 3, 4]"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("max_len is 3,"), "{err}");
    assert!(err.contains("4 elements"), "{err}");
    assert!(err.contains("at most 3"), "{err}");
    assert!(err.contains("max_len"), "{err}");
    assert!(matches!(rx.try_recv(), Err(ipc::Error::Empty)));
    let out = ipc()
        .args(["send", &endpoint, "[1, 2, 3]"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&*rx.try_recv().unwrap(), &[1, 2, 3]);
}

/// Removes a POSIX queue (and its schema header) at the end of a test, even a failed one.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = ipc::mq::unlink(&self.0);
    }
}

#[test]
fn send_and_tail_take_work_on_a_posix_queue_by_the_schema_its_header_carries() {
    let queue = Unlink(format!("/{}", name("mq")));
    let endpoint = format!("mq:{}", queue.0);
    let opts = ipc::mq::Options::new().capacity(8);
    let mut rx = ipc::mq::Receiver::<Quote>::create(&queue.0, opts).unwrap();
    let mut tx = ipc::mq::Sender::<Quote>::open(&queue.0).unwrap();

    let q = quote(77);
    let out = ipc()
        .args([
            "send",
            &endpoint,
            &expected(&q).to_string(),
            "--priority",
            "3",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (got, prio) = rx.recv_with_priority().unwrap();
    assert_eq!((got, prio), (q, 3));

    let mut bad = expected(&q);
    bad["levels"][0]["side"] = json!("Hold");
    let out = ipc()
        .args(["send", &endpoint, &bad.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("side"));
    assert!(
        matches!(rx.try_recv(), Err(ipc::Error::Empty)),
        "nothing was sent"
    );

    let refused = ipc().args(["tail", &endpoint]).output().unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--take"));
    for i in 0..2 {
        tx.send(quote(i)).unwrap();
    }
    drop(rx);
    let (code, lines, err) = Tail::start(&[&endpoint, "--take", "-n", "2"]).finish();
    assert_eq!(code, 0, "{err}");
    let got: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got, vec![expected(&quote(0)), expected(&quote(1))]);

    let out = ipc().args(["show", &endpoint]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pub struct Quote {"), "{text}");
}

#[test]
fn a_system_v_queue_of_this_crate_is_listed_and_shown_with_its_type() {
    let opts = ipc::sysv::Options::new();
    let tx = ipc::sysv::Sender::<Quote>::create(ipc::sysv::Key::Private, opts).unwrap();
    struct Remove(ipc::sysv::Sender<Quote>);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = self.0.remove();
        }
    }
    let tx = Remove(tx);
    let endpoint = format!("sysv-id:{}", tx.0.id());
    let out = ipc().args(["list", "--json"]).output().unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = all
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["endpoint"] == endpoint.as_str())
        .unwrap_or_else(|| panic!("{endpoint} not listed"));
    assert_eq!(row["schema"]["name"], "Quote", "{row}");
    let out = ipc().args(["show", &endpoint]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("pub struct Quote {"), "{text}");
}
