//! Property tests of the stream codec: round trips (bare and framed messages, handshakes
//! midway), and arbitrary bytes never panic and decode to `Ok` only when they really are
//! frames.

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
    fn bare_and_framed_messages_round_trip_among_handshakes(
        words in prop::collection::vec((0u8..4, any::<u32>(), any::<bool>()), 0..60),
        chunk in 1usize..100,
    ) {
        // First words that are the two tags force framed messages; a `true` puts a
        // second writer's handshake before the message.
        let tags = [
            u32::from_le_bytes(*b"ipcH"),
            codec::message_tag::<[u32; 2]>(),
        ];
        let mut wire = encode::<[u32; 2]>(&[]);
        let mut msgs = Vec::new();
        for (kind, second, hello) in words {
            let first = match kind {
                0 | 1 => tags[kind as usize],
                _ => second.rotate_left(7),
            };
            if hello {
                codec::write_hello::<[u32; 2], _>(&mut wire).unwrap();
            }
            codec::write_message(&mut wire, &[first, second]).unwrap();
            msgs.push([first, second]);
        }
        let (out, err) = decode_all::<[u32; 2]>(&wire, chunk);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(out, msgs);
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
        framed in prop::collection::vec(any::<[bool; 2]>(), 0..3),
        bare in prop::collection::vec(any::<[bool; 4]>(), 0..3),
    ) {
        // [bool; 2] is always framed (smaller than a tag), [bool; 4] goes bare.
        garbage_after_valid_messages(&framed, &body)?;
        garbage_after_valid_messages(&bare, &body)?;
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
        // reserved bits is harmless.
        let h = codec::hello::<[bool; 2]>().len();
        prop_assert!(err.is_some() || (out.len() == msgs.len() && encode(&out)[h..] == bytes[h..]));
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
