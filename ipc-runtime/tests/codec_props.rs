//! Property tests of the stream codec: round trips, any interleaving of several writers'
//! records (of two schemas, some torn by a writer's death), and arbitrary bytes that never
//! panic and decode to `Ok` only when they really are records.

use ipc_runtime::codec::{self, FrameReader};
use ipc_runtime::{Error, FixedStr, Message};
use proptest::prelude::*;

fn encode<T: Message>(msgs: &[T]) -> Vec<u8> {
    let mut w = Vec::new();
    codec::write_hello::<T, _>(&mut w).unwrap();
    for m in msgs {
        codec::write_message(&mut w, m).unwrap();
    }
    w
}

/// Decodes everything in `bytes`, reading in chunks of `chunk` bytes.
fn decode_all<T: Message>(bytes: &[u8], chunk: usize) -> (Vec<T>, Option<Error>) {
    let mut r = FrameReader::<T>::new();
    let mut src = bytes;
    let mut out = Vec::new();
    loop {
        let res = r.recv_with(|buf| {
            let n = chunk.min(buf.len()).min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            src = &src[n..];
            Ok(n)
        });
        match res {
            Ok(m) => out.push(m),
            Err(Error::Disconnected) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

fn fixed_str() -> impl Strategy<Value = FixedStr<12>> {
    "[a-zA-Zé€0-9 ]{0,4}".prop_map(|s| FixedStr::truncating(&s))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn messages_round_trip(msgs in prop::collection::vec(any::<[u64; 3]>(), 0..50), chunk in 1usize..200) {
        let (out, err) = decode_all::<[u64; 3]>(&encode(&msgs), chunk);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(out, msgs);
    }

    #[test]
    fn a_short_good_schema_among_long_strangers_and_torn_records(
        events in prop::collection::vec(event(), 0..40),
        chunk in 1usize..12_000,
    ) {
        interleaving::<[u32; 3], [u8; 5000]>(&events, chunk)?;
    }

    #[test]
    fn a_long_good_schema_among_short_strangers_and_torn_records(
        events in prop::collection::vec(event(), 0..40),
        chunk in 1usize..12_000,
    ) {
        interleaving::<[u8; 4500], [u32; 3]>(&events, chunk)?;
    }

    #[test]
    fn a_page_sized_good_schema_among_short_strangers_and_torn_records(
        events in prop::collection::vec(event(), 0..40),
        chunk in 1usize..12_000,
    ) {
        interleaving::<[u8; 4096], [u32; 3]>(&events, chunk)?;
    }

    #[test]
    fn a_short_good_schema_after_page_sized_strangers_and_torn_records(
        events in prop::collection::vec(event(), 0..40),
        chunk in 1usize..12_000,
    ) {
        interleaving::<[u32; 3], [u8; 4090]>(&events, chunk)?;
    }

    #[test]
    fn a_page_sized_writer_keeps_its_pages_across_a_raw_writers_short_handshakes(
        events in prop::collection::vec(event(), 0..40),
        chunk in 1usize..12_000,
    ) {
        beside_a_raw_writer::<[u8; 4096], [u32; 3]>(&events, chunk)?;
    }

    #[test]
    fn validated_messages_round_trip(msgs in prop::collection::vec((fixed_str(), any::<[bool; 3]>(), any::<char>()), 0..20)) {
        let strs: Vec<FixedStr<12>> = msgs.iter().map(|m| m.0).collect();
        prop_assert_eq!(decode_all::<FixedStr<12>>(&encode(&strs), 7).0, strs);
        let bools: Vec<[bool; 3]> = msgs.iter().map(|m| m.1).collect();
        prop_assert_eq!(decode_all::<[bool; 3]>(&encode(&bools), 5).0, bools);
        let chars: Vec<char> = msgs.iter().map(|m| m.2).collect();
        prop_assert_eq!(decode_all::<char>(&encode(&chars), 3).0, chars);
    }
}

proptest! {
    // 10,000 arbitrary byte strings per property: no panic, and `Ok` only for real frames.
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let (out, _) = decode_all::<[bool; 4]>(&bytes, 64);
        // Anything decoded must be exactly what a real writer would have sent.
        prop_assert!(out.is_empty() || bytes.starts_with(&codec::hello::<[bool; 4]>()));
    }

    #[test]
    fn arbitrary_bytes_after_a_handshake_decode_only_valid_frames(
        body in prop::collection::vec(any::<u8>(), 0..128),
        small in prop::collection::vec(any::<[bool; 2]>(), 0..3),
        larger in prop::collection::vec(any::<[bool; 4]>(), 0..3),
    ) {
        garbage_after_valid_messages(&small, &body)?;
        garbage_after_valid_messages(&larger, &body)?;
    }

    #[test]
    fn corrupting_one_byte_is_caught_or_harmless(
        msgs in prop::collection::vec(any::<[bool; 2]>(), 1..5),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut bytes = encode(&msgs);
        let i = at.index(bytes.len());
        bytes[i] ^= xor;
        let (out, err) = decode_all::<[bool; 2]>(&bytes, 9);
        // Either an error, or every frame after the handshake decoded as exactly what its
        // (possibly flipped, still valid) bytes say: there is no checksum, so a flip from
        // one valid value to another is not detectable, and a flip in the handshake's
        // reserved bits is harmless. So is the one flip that turns a message's tag into
        // the batch tag of its schema: a batch record of one message says the same.
        let h = codec::hello::<[bool; 2]>().len();
        prop_assert!(
            err.is_some()
                || out == msgs
                || (out.len() == msgs.len() && encode(&out)[h..] == bytes[h..])
        );
    }
}

/// A valid prefix gets the decoder past the handshake, so the garbage after it hits the
/// frame and validation paths: every message decoded from it must be what a real writer
/// of those messages would have sent.
fn garbage_after_valid_messages<T: Message + PartialEq + std::fmt::Debug>(
    valid: &[T],
    body: &[u8],
) -> Result<(), TestCaseError> {
    let mut bytes = encode(valid);
    bytes.extend_from_slice(body);
    let (out, _) = decode_all::<T>(&bytes, 16);
    prop_assert!(out.len() >= valid.len());
    prop_assert_eq!(&out[..valid.len()], valid);
    let mut expected = encode(&out);
    expected.truncate(bytes.len().min(expected.len()));
    prop_assert_eq!(&bytes[..expected.len()], &expected[..]);
    Ok(())
}

/// A message type whose value is one byte, repeated: a torn copy of it never contains a
/// record header.
trait Pattern: Message + Copy {
    fn of(seed: u8) -> Self;
    fn seed(&self) -> u8;
}

impl<const N: usize> Pattern for [u8; N] {
    fn of(seed: u8) -> Self {
        [seed; N]
    }
    fn seed(&self) -> u8 {
        self[0]
    }
}

impl Pattern for [u32; 3] {
    fn of(seed: u8) -> Self {
        [u32::from_le_bytes([seed; 4]); 3]
    }
    fn seed(&self) -> u8 {
        self[0] as u8
    }
}

/// What a writer puts on the stream.
#[derive(Clone, Debug)]
enum Event {
    /// A writer of the good schema starts (its handshake).
    GoodHello,
    /// A good writer sends a message.
    Good(u8),
    /// A writer of the other schema starts.
    StrangerHello,
    /// A stranger sends a message.
    Stranger(u8),
    /// A writer dies this far (per mille) into a record of its own; `true` for a good one.
    /// Only a long record can be torn (a short one is one atomic write), and every writer
    /// begins with a handshake, so what follows a torn record is a handshake or the end.
    Torn(bool, u16),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        1 => Just(Event::GoodHello),
        6 => any::<u8>().prop_map(Event::Good),
        1 => Just(Event::StrangerHello),
        3 => any::<u8>().prop_map(Event::Stranger),
        2 => (any::<bool>(), 1u16..1000).prop_map(|(good, at)| Event::Torn(good, at)),
    ]
}

/// One record of `T`, cut `per_mille` of the way through (at least one byte, never all).
/// A page-sized message is made to look tagged, so that it goes as a long record: a bare
/// one is a single atomic write, which no writer's death can cut.
fn torn<T: Pattern>(seed: u8, per_mille: u16) -> Vec<u8> {
    let seed = if codec::is_page::<T>() {
        seed | 0x80
    } else {
        seed
    };
    let mut rec = Vec::new();
    codec::write_message(&mut rec, &T::of(seed)).unwrap();
    let cut = (rec.len() * usize::from(per_mille) / 1000).clamp(1, rec.len() - 1);
    rec.truncate(cut);
    rec
}

/// Builds the stream `events` describe, as real writers would make it (a writer's first
/// record is its handshake; after a torn record comes a new writer's handshake or the
/// end), and checks that a reader of `G` gets every good message in order, one
/// `SchemaMismatch` per stranger's handshake, one `Corrupt` per torn record, and nothing
/// else.
fn interleaving<G: Pattern, S: Pattern>(
    events: &[Event],
    chunk: usize,
) -> Result<(), TestCaseError> {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    // Which writers are alive (have sent their handshake and not died since): [stranger, good].
    let mut live = [false; 2];
    let mut after_torn = false;
    // A writer of page-sized messages has the stream alone (a FIFO sender of such a type
    // takes an exclusive lock): while one of the two types is page-sized, another writer
    // comes only after the current one has gone, and begins with its handshake.
    let alone = codec::is_page::<G>() || codec::is_page::<S>();
    let mut current = true;
    let start =
        |wire: &mut Vec<u8>, expected: &mut Vec<String>, live: &mut [bool; 2], good: bool| {
            if good {
                wire.extend_from_slice(&codec::hello::<G>());
            } else {
                wire.extend_from_slice(&codec::hello::<S>());
                expected.push("mismatch".to_string());
            }
            live[usize::from(good)] = true;
        };
    start(&mut wire, &mut expected, &mut live, true);
    for e in events {
        // A short record cannot be torn: such an event is a whole message.
        let e = match *e {
            Event::Torn(true, at) if !codec::is_long(size_of::<G>()) => Event::Good(at as u8),
            Event::Torn(false, at) if !codec::is_long(size_of::<S>()) => Event::Stranger(at as u8),
            ref other => other.clone(),
        };
        let writer = match e {
            Event::GoodHello | Event::Good(_) | Event::Torn(true, _) => true,
            Event::StrangerHello | Event::Stranger(_) | Event::Torn(false, _) => false,
        };
        let is_hello = matches!(e, Event::GoodHello | Event::StrangerHello);
        if is_hello || !live[usize::from(writer)] || after_torn || (alone && writer != current) {
            // A new writer: it starts with its handshake.
            start(&mut wire, &mut expected, &mut live, writer);
            current = writer;
        }
        after_torn = false;
        match e {
            Event::GoodHello | Event::StrangerHello => {}
            Event::Good(x) => {
                codec::write_message(&mut wire, &G::of(x)).unwrap();
                expected.push(x.to_string());
            }
            Event::Stranger(x) => codec::write_message(&mut wire, &S::of(x)).unwrap(),
            Event::Torn(good, at) => {
                let seed = at as u8;
                let part = if good {
                    torn::<G>(seed, at)
                } else {
                    torn::<S>(seed, at)
                };
                wire.extend_from_slice(&part);
                expected.push("corrupt".to_string());
                live[usize::from(good)] = false;
                after_torn = true;
            }
        }
    }
    let got = read_all::<G>(&wire, chunk);
    prop_assert_eq!(got, expected);
    Ok(())
}

/// A good writer of page-sized messages, announced once, and a raw writer that ignores
/// the lock a FIFO sender of such a type holds: it writes its handshakes (of a type of
/// short records) and records between the good writer's messages. A reader of `G` gets
/// one `SchemaMismatch` per handshake and every good message in order: the bare pages
/// after a stranger's handshake are still the good writer's, since the stranger's
/// records are all tagged.
fn beside_a_raw_writer<G: Pattern, S: Pattern>(
    events: &[Event],
    chunk: usize,
) -> Result<(), TestCaseError> {
    assert!(codec::is_page::<G>() && !codec::is_page::<S>());
    let mut wire = codec::hello::<G>();
    let mut expected = Vec::new();
    let mut stranger = false;
    for e in events {
        match *e {
            Event::Good(x) => {
                codec::write_message(&mut wire, &G::of(x)).unwrap();
                expected.push(x.to_string());
            }
            Event::StrangerHello | Event::Stranger(_) => {
                if !stranger || matches!(e, Event::StrangerHello) {
                    wire.extend_from_slice(&codec::hello::<S>());
                    expected.push("mismatch".to_string());
                    stranger = true;
                }
                if let Event::Stranger(x) = *e {
                    codec::write_message(&mut wire, &S::of(x)).unwrap();
                }
            }
            Event::GoodHello | Event::Torn(..) => {}
        }
    }
    let got = read_all::<G>(&wire, chunk);
    prop_assert_eq!(got, expected);
    Ok(())
}

/// Every outcome of reading `bytes` to its end in chunks of `chunk` bytes: the seed of
/// each message, or the kind of each error.
fn read_all<T: Pattern>(bytes: &[u8], chunk: usize) -> Vec<String> {
    let mut r = FrameReader::<T>::new();
    let mut src = bytes;
    let mut out = Vec::new();
    loop {
        let res = r.recv_with(|buf| {
            let n = chunk.min(buf.len()).min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            src = &src[n..];
            Ok(n)
        });
        out.push(match res {
            Ok(m) => m.seed().to_string(),
            Err(Error::Disconnected) => return out,
            Err(Error::SchemaMismatch { .. }) => "mismatch".to_string(),
            Err(Error::Corrupt(_)) => "corrupt".to_string(),
            Err(e) => format!("unexpected: {e}"),
        });
    }
}
