//! Writes the seed corpus of every fuzz target into `fuzz/corpus/<target>/`: a few
//! well-formed inputs each (and some near misses), from which libFuzzer mutates.
//!
//! Run from the repository's root (it makes and removes a few shared-memory segments,
//! whose headers are the `shm_header` seeds):
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --no-default-features --example seeds
//! ```

use std::fs;
use std::path::Path;

use fuzz_common::{Big, Level, Order, Page, Sample, Side, Tick, Wide};
use ipc::codec::{self, hello, write_message, write_slice};
use ipc::fuzzing::SHM_HEADER_LEN;
use ipc::schema::{SchemaTree, Value};
use ipc::{FixedStr, Message};

/// `Order` as another version of a program has it: a reader of `Order` refuses it and
/// names the first field that differs.
#[derive(Clone, Copy, Debug, ipc::Message)]
#[repr(C)]
#[ipc(name = "Order")]
struct OrderV2 {
    id: u64,
    price: f64,
    qty: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let out = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(name), bytes).unwrap();
    };

    // Streams of messages: [type, chunk, stalls] then the stream.
    for (ty, name, stream) in [
        (0u8, "order", messages::<Order>()?),
        (1, "page", messages::<Page>()?),
        (2, "big", messages::<Big>()?),
    ] {
        out(
            "stream_messages",
            name,
            &[&[ty, 7, 3][..], &stream].concat(),
        );
    }
    let mut mixed = hello::<OrderV2>();
    write_message(
        &mut mixed,
        &OrderV2 {
            id: 1,
            price: 2.0,
            qty: 3,
        },
    )?;
    mixed.extend_from_slice(&messages::<Order>()?);
    mixed.extend_from_slice(b"garbage!");
    write_message(&mut mixed, &Order::sample())?;
    out(
        "stream_messages",
        "mixed",
        &[&[0u8, 5, 0][..], &mixed].concat(),
    );

    // Streams of slices: [max_len (2 bytes), chunk] then the stream.
    let mut slices = hello::<[Tick]>();
    for n in [0, 1, 3, 9] {
        write_slice(&mut slices, &vec![Tick::sample(); n])?;
    }
    out(
        "stream_slices",
        "slices",
        &[&[8u8, 0, 5][..], &slices].concat(),
    );
    let mut long = hello::<[Tick]>();
    write_slice(&mut long, &vec![Tick::sample(); 600])?;
    write_slice(&mut long, &[Tick::sample(); 2])?;
    out(
        "stream_slices",
        "long",
        &[&[0u8, 4, 60][..], &long].concat(),
    );

    // Handshakes: [mode] then the record.
    out(
        "handshake",
        "order",
        &[&[0u8][..], &hello::<Order>()].concat(),
    );
    out(
        "handshake",
        "order-v2",
        &[&[0u8][..], &hello::<OrderV2>()].concat(),
    );
    out("handshake", "big", &[&[0u8][..], &hello::<Big>()].concat());
    out(
        "handshake",
        "ticks",
        &[&[1u8][..], &hello::<[Tick]>()].concat(),
    );
    out(
        "handshake",
        "order-for-ticks",
        &[&[1u8][..], &hello::<[Order]>()].concat(),
    );

    // System V records: [type] then the fingerprint and the message.
    out("sysv_frame", "order", &frame(0, &Order::sample()));
    out("sysv_frame", "big", &frame(1, &Big::sample()));

    // POSIX queue headers.
    for (name, id) in [
        ("order", ipc::SchemaId::of::<Order>()),
        ("array", ipc::SchemaId::of::<[u16; 3]>()),
    ] {
        let text = format!(
            "ipc-mq-schema 1 {:#018x} {} {} {}\n",
            id.fingerprint, id.size, id.align, id.name
        );
        out("mq_header", name, text.as_bytes());
    }

    // Messages: [type] then the bytes (the types are `validate.rs`'s).
    out(
        "validate",
        "order",
        &[&[0u8][..], ipc::as_bytes(&Order::sample())].concat(),
    );
    out(
        "validate",
        "tick",
        &[&[1u8][..], ipc::as_bytes(&Tick::sample())].concat(),
    );
    out(
        "validate",
        "big",
        &[&[3u8][..], ipc::as_bytes(&Big::sample())].concat(),
    );
    out(
        "validate",
        "level",
        &[&[5u8][..], ipc::as_bytes(&Level::High)].concat(),
    );
    let s: FixedStr<5> = ipc::fixed_str!("héé");
    out("validate", "str", &[&[6u8][..], ipc::as_bytes(&s)].concat());
    out(
        "validate",
        "chars",
        &[&[7u8][..], ipc::as_bytes(&['a', 'é', '\u{10ffff}'])].concat(),
    );

    // Trees, and trees with a message: [tree length (2 bytes)] then the tree, the message.
    let trees = [
        (
            "order",
            tree::<Order>(),
            ipc::as_bytes(&Order::sample()).to_vec(),
        ),
        ("big", tree::<Big>(), ipc::as_bytes(&Big::sample()).to_vec()),
        ("wide", tree::<Wide>(), ipc::as_bytes(&wide()).to_vec()),
        (
            "ticks",
            tree::<[Tick; 3]>(),
            ipc::as_bytes(&[Tick::sample(); 3]).to_vec(),
        ),
        ("side", tree::<Side>(), vec![2]),
    ];
    for (name, tree, bytes) in &trees {
        out("schema_tree", name, tree);
        let len = (tree.len() as u16).to_le_bytes();
        out("schema_value", name, &[&len[..], tree, bytes].concat());
    }

    // JSON: [type] then the text (the types are `schema_json.rs`'s).
    for (ty, name, json) in [
        (0u8, "order", json(&Order::sample())),
        (1, "tick", json(&Tick::sample())),
        (3, "level", "\"Low\"".to_owned()),
        (4, "str", "\"h\\u00e9\\n\"".to_owned()),
        (6, "wide", json(&wide())),
    ] {
        out("schema_json", name, &[&[ty][..], json.as_bytes()].concat());
    }

    // Segment headers: [mode, file length (4 bytes)], the header's first 256 bytes, the
    // schema after the header.
    let pid = std::process::id();
    let channel = format!("fuzz-seed-{pid}-channel");
    let rx = ipc::shm::Receiver::<Order>::create(&channel, ipc::shm::Options::new().capacity(4))?;
    out(
        "shm_header",
        "channel-order",
        &segment(1, &channel, &tree::<Order>())?,
    );
    drop(rx);
    let slices = format!("fuzz-seed-{pid}-slices");
    let rx = ipc::shm::Receiver::<[Tick]>::create(&slices, ipc::shm::Options::new().capacity(2))?;
    out(
        "shm_header",
        "channel-ticks",
        &segment(1 | 1 << 2, &slices, &tree::<Tick>())?,
    );
    drop(rx);
    let shared = format!("fuzz-seed-{pid}-shared");
    let value = ipc::shm::Shared::<Big>::create(&shared, Big::sample(), ipc::shm::Options::new())?;
    out(
        "shm_header",
        "shared-big",
        &segment(2 | 2 << 2, &shared, &tree::<Big>())?,
    );
    drop(value);
    let topic = format!("fuzz-seed-{pid}-topic");
    let publisher =
        ipc::shm::Publisher::<Order>::create(&topic, ipc::shm::Options::new().capacity(2))?;
    out(
        "shm_header",
        "topic-order",
        &segment(3, &topic, &tree::<Order>())?,
    );
    drop(publisher);

    for (name, text) in [
        ("pipe", "pipe:"),
        ("fifo", "fifo:/tmp/a%3Fb%25c"),
        ("shm", "shm:orders?capacity=1024"),
        ("mq", "mq:/orders?capacity=10"),
        ("sysv", "sysv:0x1234"),
        ("unix", "unix:/run/x.sock"),
        ("seqpacket", "unix-seqpacket:/run/y"),
        ("tcp", "tcp:127.0.0.1:5000"),
        ("tcp6", "tcp:[::1]:80"),
    ] {
        out("endpoint", name, text.as_bytes());
    }
    Ok(())
}

/// A stream of `T`: its handshake and two messages.
fn messages<T: Sample>() -> ipc::Result<Vec<u8>> {
    let mut s = hello::<T>();
    write_message(&mut s, &T::sample())?;
    write_message(&mut s, &T::sample())?;
    assert!(s.len() > codec::HEADER_LEN);
    Ok(s)
}

fn frame<T: Message>(ty: u8, msg: &T) -> Vec<u8> {
    [&[ty][..], &T::FINGERPRINT.to_le_bytes(), ipc::as_bytes(msg)].concat()
}

fn tree<T: Message>() -> Vec<u8> {
    SchemaTree::of::<T>().unwrap().encode()
}

fn json<T: Message>(msg: &T) -> String {
    let tree = SchemaTree::of::<T>().unwrap();
    Value::from_bytes(&tree, ipc::as_bytes(msg))
        .unwrap()
        .to_json()
}

fn wide() -> Wide {
    Wide {
        big: -1 << 100,
        x: -0.0,
        y: f32::NAN,
        c: '\u{7f}',
    }
}

/// The input of `shm_header` for the segment `name`, as its file holds it: mode, file length, the first 256 bytes, the schema.
fn segment(mode: u8, name: &str, schema: &[u8]) -> std::io::Result<Vec<u8>> {
    let file = fs::read(format!("/dev/shm/ipc.{name}"))?;
    let mut input = vec![mode];
    input.extend_from_slice(&(file.len() as u32).to_le_bytes());
    input.extend_from_slice(&file[..256]);
    input.extend_from_slice(&file[SHM_HEADER_LEN..SHM_HEADER_LEN + schema.len()]);
    assert_eq!(&file[SHM_HEADER_LEN..SHM_HEADER_LEN + schema.len()], schema);
    Ok(input)
}
