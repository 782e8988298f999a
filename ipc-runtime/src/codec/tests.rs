use std::io::Read;

use super::*;
use crate::FixedStr;

fn stream<T: Message>(msgs: &[T]) -> Vec<u8> {
    let mut w = hello::<T>();
    for m in msgs {
        write_message(&mut w, m).unwrap();
    }
    w
}

#[test]
fn round_trip_with_one_byte_reads() {
    let wire = stream(&[1u32, 2, 3]);
    let mut r = FrameReader::<u32>::new();
    let mut src = wire.as_slice();
    let mut one_at_a_time = |buf: &mut [u8]| Ok(src.read(&mut buf[..1]).unwrap());
    for want in [1, 2, 3] {
        assert_eq!(r.recv_with(&mut one_at_a_time).unwrap(), want);
    }
    assert!(r
        .recv_with(&mut one_at_a_time)
        .unwrap_err()
        .is_disconnected());
}

#[test]
fn other_schema_is_refused_naming_both() {
    let wire = stream(&[1u64]);
    let err = FrameReader::<[u32; 2]>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::SchemaMismatch { .. }), "{err}");
    assert!(
        text.contains("`[u32; 2]`") && text.contains("`u64`"),
        "{text}"
    );
}

#[test]
fn message_before_hello_is_refused() {
    let mut wire = Vec::new();
    write_message(&mut wire, &7u16).unwrap();
    let err = FrameReader::<u16>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn truncated_frame_is_corrupt_then_disconnected() {
    let wire = stream(&[9u64]);
    let mut r = FrameReader::<u64>::new();
    let mut src = &wire[..wire.len() - 3];
    assert!(matches!(r.read_from(&mut src), Err(Error::Corrupt(_))));
    assert!(r.read_from(&mut src).unwrap_err().is_disconnected());
}

#[test]
fn invalid_bits_are_refused() {
    let mut wire = hello::<FixedStr<4>>();
    wire.extend_from_slice(&message_header::<FixedStr<4>>());
    wire.extend_from_slice(b"a\xffb\0");
    let err = FrameReader::<FixedStr<4>>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
}

#[test]
fn read_into_round_trips_and_leaves_out_unchanged_on_invalid_bits() {
    let hi = FixedStr::<4>::try_from("hi").unwrap();
    let mut wire = stream(&[hi]);
    wire.extend_from_slice(&message_header::<FixedStr<4>>());
    wire.extend_from_slice(b"a\xffb\0");
    let mut r = FrameReader::<FixedStr<4>>::new();
    let mut src = &wire[..];
    let mut out = FixedStr::<4>::default();
    r.read_into(&mut src, &mut out).unwrap();
    assert_eq!(out, hi);
    let err = r.read_into(&mut src, &mut out).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(out, hi);
}

#[test]
fn oversized_hello_is_refused_before_reading_it() {
    let mut wire = HELLO_TAG.to_le_bytes().to_vec();
    wire.extend_from_slice(&u32::MAX.to_le_bytes());
    let err = decode_hello::<u8>(&wire).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn a_second_hello_midstream_is_accepted() {
    let mut wire = stream(&[1u8]);
    wire.extend_from_slice(&stream(&[2u8]));
    let mut r = FrameReader::<u8>::new();
    let mut src = &wire[..];
    assert_eq!(r.read_from(&mut src).unwrap(), 1);
    assert_eq!(r.read_from(&mut src).unwrap(), 2);
}

#[test]
fn an_older_wire_version_is_refused() {
    let mut wire = stream(&[1u32]);
    wire[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&(VERSION - 1).to_le_bytes());
    let err = FrameReader::<u32>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    let older = format!("version {}", VERSION - 1);
    assert!(err.to_string().contains(&older), "{err}");
}

#[test]
fn a_newer_wire_version_is_refused() {
    let mut wire = stream(&[1u32]);
    wire[HEADER_LEN..HEADER_LEN + 2].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let err = FrameReader::<u32>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn an_invalid_message_drops_only_itself() {
    let mut wire = stream(&[['a'; 1]]);
    wire.extend_from_slice(&message_header::<[char; 1]>());
    wire.extend_from_slice(&0xD800u32.to_le_bytes()); // a surrogate: not a char
    write_message(&mut wire, &['b'; 1]).unwrap();
    let mut r = FrameReader::<[char; 1]>::new();
    let mut src = &wire[..];
    assert_eq!(r.read_from(&mut src).unwrap(), ['a']);
    let err = r.read_from(&mut src).unwrap_err();
    assert!(matches!(err, Error::InvalidMessage(_)), "{err}");
    assert_eq!(r.read_from(&mut src).unwrap(), ['b']);
}

#[test]
fn garbage_before_the_handshake_is_refused() {
    let mut wire = 0xdead_beef_u64.to_le_bytes().to_vec();
    wire.extend_from_slice(&stream(&[1u64]));
    let err = FrameReader::<u64>::new()
        .read_from(&mut &wire[..])
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

/// A `fill` that reads from `src` one byte per call when `slow`, else all it can.
fn feed<'a, 'b>(
    src: &'a mut &'b [u8],
    slow: bool,
) -> impl FnMut(&mut [u8]) -> Result<usize> + use<'a, 'b> {
    move |buf| {
        let n = if slow { 1 } else { buf.len() }.min(src.len());
        buf[..n].copy_from_slice(&src[..n]);
        *src = &src[n..];
        Ok(n)
    }
}

/// Reads `wire` one byte per `read` when `slow`, else all at once, lending each message.
fn refs<T: Message + Copy>(wire: &[u8], slow: bool) -> Vec<Result<T>> {
    let mut r = FrameReader::<T>::new();
    let mut src = wire;
    let mut out = Vec::new();
    loop {
        match r.recv_ref_with(feed(&mut src, slow)) {
            Err(Error::Disconnected) => return out,
            Ok(m) => {
                assert_eq!(m as *const T as usize % align_of::<T>(), 0);
                out.push(Ok(*m));
            }
            Err(e) => out.push(Err(e)),
        }
    }
}

#[test]
fn messages_are_lent_in_place_and_aligned_after_any_handshake() {
    // The handshake's length depends on the schema name and tree: `[u64; 10]` makes it odd.
    assert_ne!(hello::<[u64; 10]>().len() % 8, 0);
    let msg = |first: u64| std::array::from_fn::<u64, 10, _>(|i| first + i as u64);
    let msgs = [msg(1), msg(u64::from(HELLO_TAG)), msg(7)];
    let mut wire = stream(&msgs);
    wire.extend_from_slice(&stream(&msgs)); // a second writer's handshake midway
    for slow in [false, true] {
        let got: Vec<_> = refs::<[u64; 10]>(&wire, slow)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [msgs, msgs].concat());
    }
}

#[test]
fn a_framed_message_of_a_16_aligned_type_is_lent_from_an_aligned_copy() {
    let msgs = [1u128, u128::from(HELLO_TAG), 3];
    let got: Vec<_> = refs::<u128>(&stream(&msgs), false)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, msgs);
}

#[test]
fn an_invalid_message_lent_in_place_drops_only_itself() {
    let mut wire = stream(&[['a'; 2]]);
    wire.extend_from_slice(&message_header::<[char; 2]>());
    wire.extend_from_slice(&[0xD800u32.to_le_bytes(), 0x62u32.to_le_bytes()].concat());
    write_message(&mut wire, &['b'; 2]).unwrap();
    let got = refs::<[char; 2]>(&wire, false);
    assert_eq!(got.len(), 3);
    assert_eq!(*got[0].as_ref().unwrap(), ['a'; 2]);
    assert!(matches!(got[1], Err(Error::InvalidMessage(_))));
    assert_eq!(*got[2].as_ref().unwrap(), ['b'; 2]);
}

#[test]
fn large_messages_fit_the_buffer() {
    // Larger than the default 64 KiB buffer. Debug builds copy a by-value message
    // several times on the stack, so run on a thread with room for that.
    std::thread::Builder::new()
        .stack_size(32 << 20)
        .spawn(|| {
            let big = vec![[7u8; 100_000]; 2];
            let wire = stream(&big);
            let mut r = FrameReader::<[u8; 100_000]>::new();
            let mut src = &wire[..];
            assert_eq!(r.read_from(&mut src).unwrap()[99_999], 7);
            assert_eq!(r.read_from(&mut src).unwrap()[0], 7);
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Every result of reading `wire` to its end, all at once or one byte per read.
fn results<T: Message>(wire: &[u8], slow: bool) -> Vec<Result<T>> {
    let mut r = FrameReader::<T>::new();
    let mut src = wire;
    let mut out = Vec::new();
    loop {
        match r.recv_with(feed(&mut src, slow)) {
            Err(Error::Disconnected) => return out,
            other => out.push(other),
        }
    }
}

/// `Ok` values and error kinds, for comparing whole runs.
fn summary<T: Message + std::fmt::Debug>(got: &[Result<T>]) -> Vec<String> {
    got.iter()
        .map(|r| match r {
            Ok(m) => format!("{m:?}"),
            Err(Error::SchemaMismatch { .. }) => "mismatch".into(),
            Err(Error::Corrupt(_)) => "corrupt".into(),
            Err(e) => format!("{e}"),
        })
        .collect()
}

#[test]
fn every_message_has_a_header_and_only_long_ones_are_sealed() {
    assert_eq!(record_len::<u8>(), HEADER_LEN + 1);
    assert_eq!(record_len::<[u8; 4088]>(), ATOMIC_WRITE);
    assert_eq!(record_len::<[u8; 4089]>(), 4089 + HEADER_LEN + 2 * SEAL_LEN);
    let wire = stream(&[[3u8; 5000]]);
    let rec = &wire[hello::<[u8; 5000]>().len()..];
    assert_eq!(rec.len(), record_len::<[u8; 5000]>());
    assert_eq!(rec[..HEADER_LEN], message_header::<[u8; 5000]>());
    assert_eq!(
        rec[HEADER_LEN..HEADER_LEN + SEAL_LEN],
        rec[rec.len() - SEAL_LEN..]
    );
    // Two records never share a seal.
    let twice = stream(&[[3u8; 5000], [3u8; 5000]]);
    let (a, b) = twice[hello::<[u8; 5000]>().len()..].split_at(rec.len());
    assert_ne!(
        a[HEADER_LEN..HEADER_LEN + SEAL_LEN],
        b[HEADER_LEN..HEADER_LEN + SEAL_LEN]
    );
}

#[test]
fn a_strangers_handshake_and_records_are_skipped_exactly() {
    // A good writer, then a writer of another type (its handshake and two records, the
    // second long), then the good writer again: every good message arrives.
    let mut wire = stream(&[1u64, 2]);
    wire.extend_from_slice(&stream(&[[7u32; 3], [8u32; 3]]));
    write_message(&mut wire, &[9u8; 6000]).unwrap();
    for m in [3u64, 4] {
        write_message(&mut wire, &m).unwrap();
    }
    for slow in [false, true] {
        let got = results::<u64>(&wire, slow);
        assert_eq!(summary(&got), ["1", "2", "mismatch", "corrupt", "3", "4"]);
    }
}

#[test]
fn records_of_a_refused_schema_cost_one_error_in_all() {
    let mut wire = stream(&[1u64]);
    wire.extend_from_slice(&stream(&[[7u32; 3], [8u32; 3], [9u32; 3]]));
    write_message(&mut wire, &2u64).unwrap();
    assert_eq!(
        summary(&results::<u64>(&wire, false)),
        ["1", "mismatch", "2"]
    );
}

#[test]
fn a_torn_long_record_then_a_successor_is_one_corrupt_and_the_successor_is_intact() {
    type Big = [u8; 9000];
    let mut wire = stream::<Big>(&[[1; 9000]]);
    let torn = stream::<Big>(&[[2; 9000]]);
    // The dead writer's record stops 1000 bytes into its message.
    wire.extend_from_slice(&torn[hello::<Big>().len()..][..HEADER_LEN + SEAL_LEN + 1000]);
    wire.extend_from_slice(&stream::<Big>(&[[3; 9000], [4; 9000]]));
    for slow in [false, true] {
        let got: Vec<_> = results::<Big>(&wire, slow)
            .into_iter()
            .map(|r| r.map(|m| m[0]))
            .collect();
        assert_eq!(summary(&got), ["1", "corrupt", "3", "4"], "slow: {slow}");
    }
}

#[test]
fn a_torn_header_then_a_successor_is_one_corrupt() {
    type Big = [u8; 5000];
    let mut wire = stream::<Big>(&[[1; 5000]]);
    wire.extend_from_slice(&message_header::<Big>()[..5]);
    wire.extend_from_slice(&stream::<Big>(&[[3; 5000]]));
    let got: Vec<_> = results::<Big>(&wire, false)
        .into_iter()
        .map(|r| r.map(|m| m[0]))
        .collect();
    assert_eq!(summary(&got), ["1", "corrupt", "3"]);
}

#[test]
fn garbage_between_records_is_one_corrupt_then_the_next_record_arrives() {
    let mut wire = stream(&[1u64]);
    wire.extend_from_slice(b"printf was here\n");
    write_message(&mut wire, &2u64).unwrap();
    assert_eq!(
        summary(&results::<u64>(&wire, false)),
        ["1", "corrupt", "2"]
    );
}

#[test]
fn no_decoding_step_holds_a_message_on_the_stack() {
    // 8 MiB messages through `recv_into_with` and `recv_ref_with` on a 128 KiB stack.
    type Huge = [u8; 8 << 20];
    let mut msg: Box<Huge> = vec![5u8; 8 << 20].into_boxed_slice().try_into().unwrap();
    let mut wire = hello::<Huge>();
    write_message(&mut wire, &*msg).unwrap();
    write_message(&mut wire, &*msg).unwrap();
    msg[0] = 0;
    std::thread::Builder::new()
        .stack_size(128 << 10)
        .spawn(move || {
            let mut r = FrameReader::<Huge>::new();
            let mut src = &wire[..];
            r.read_into(&mut src, &mut msg).unwrap();
            assert_eq!(msg[0], 5);
            let lent = r.recv_ref_with(feed(&mut src, false)).unwrap();
            assert_eq!(lent[(8 << 20) - 1], 5);
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_strangers_record_longer_than_the_buffer_is_skipped_by_count() {
    type Huge = [u8; 100_000];
    let huge: Box<Huge> = vec![1u8; 100_000].into_boxed_slice().try_into().unwrap();
    let mut wire = stream(&[1u64]);
    wire.extend_from_slice(&hello::<Huge>());
    write_message(&mut wire, &*huge).unwrap();
    write_message(&mut wire, &2u64).unwrap();
    assert_eq!(
        summary(&results::<u64>(&wire, false)),
        ["1", "mismatch", "2"]
    );
    // Cut short by its writer's death, then a good writer: one more error, and the good
    // writer's records after the swallowed bytes still arrive.
    let mut wire = stream(&[1u64]);
    wire.extend_from_slice(&hello::<Huge>());
    let mut rec = Vec::new();
    write_message(&mut rec, &*huge).unwrap();
    wire.extend_from_slice(&rec[..50_000]);
    let good: Vec<u64> = (2..8000).collect();
    wire.extend_from_slice(&stream(&good));
    let got = results::<u64>(&wire, false);
    assert_eq!(summary(&got[..3]), ["1", "mismatch", "corrupt"]);
    let tail: Vec<u64> = got[3..].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert!(
        !tail.is_empty() && good.ends_with(&tail),
        "{:?}",
        &tail[..3]
    );
}

/// A refused writer's bare (page-sized) message, or long record, is skipped by count even
/// when it arrives in pieces: a record of `T` inside it is not taken for a message (found
/// by the `stream_messages` fuzz target: the fast path took one from the bytes still to
/// skip after the first piece).
#[test]
fn a_refused_writers_record_is_skipped_whole_when_it_arrives_in_pieces() {
    let record_of = |msg: &dyn Fn(&mut Vec<u8>)| {
        let mut out = Vec::new();
        msg(&mut out);
        out
    };
    let ours = &stream(&[7u64])[hello::<u64>().len()..];
    for (stranger, mut record) in [
        (
            hello::<[u8; 4092]>(),
            record_of(&|w| write_message(w, &[1u8; 4092]).unwrap()),
        ),
        (
            hello::<[u8; 5000]>(),
            record_of(&|w| write_message(w, &[1u8; 5000]).unwrap()),
        ),
    ] {
        let at = record.len() - 100;
        record[at..at + ours.len()].copy_from_slice(ours);
        let mut wire = stream(&[1u64]);
        wire.extend_from_slice(&stranger);
        let cut = wire.len() + at;
        wire.extend_from_slice(&record);
        write_message(&mut wire, &2u64).unwrap();
        // The stream arrives in two pieces: up to the record of `T` inside the stranger's,
        // then the rest.
        let mut src = wire.as_slice();
        let mut pos = 0;
        let mut fill = |buf: &mut [u8]| {
            let until = if pos < cut { cut - pos } else { src.len() };
            let n = buf.len().min(until).min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            src = &src[n..];
            pos += n;
            Ok(n)
        };
        let mut r = FrameReader::<u64>::new();
        assert_eq!(r.recv_with(&mut fill).unwrap(), 1);
        let e = r.recv_with(&mut fill).unwrap_err();
        assert!(matches!(e, Error::SchemaMismatch { .. }), "{e}");
        assert_eq!(r.recv_with(&mut fill).unwrap(), 2);
        assert!(r.recv_with(&mut fill).unwrap_err().is_disconnected());
    }
}

/// A source that gives `wire` one byte per read and refuses, once, the record that begins
/// at stream offset `at`, as soon as the reader holds a byte of it.
struct Refusing<'a> {
    wire: &'a [u8],
    pos: usize,
    at: usize,
    refused: bool,
}

impl<'a> Refusing<'a> {
    fn new(wire: &'a [u8], at: usize) -> Self {
        Refusing {
            wire,
            pos: 0,
            at,
            refused: false,
        }
    }
}

impl Source for &mut Refusing<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = buf.len().min(1).min(self.wire.len() - self.pos);
        buf[..n].copy_from_slice(&self.wire[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    fn before_fill(&mut self, held: usize) -> Result<()> {
        if !self.refused && held > 0 && self.pos - held == self.at {
            self.refused = true;
            return Err(Error::Corrupt("refused".into()));
        }
        Ok(())
    }
}

/// Every result of reading `reader`'s stream `wire` to its end (one byte per read),
/// refusing the record at `at`.
fn refusing<T: Message>(mut r: FrameReader<T>, wire: &[u8], at: usize) -> Vec<Result<T>> {
    let mut src = Refusing::new(wire, at);
    let mut out = Vec::new();
    loop {
        match r.recv_from(&mut src) {
            Err(Error::Disconnected) => return out,
            other => out.push(other),
        }
    }
}

#[test]
fn a_record_the_source_refuses_is_one_error_and_dropped_whole() {
    // Short records: the second refused once its first byte is held.
    let wire = stream(&[1u64, 2, 3]);
    let at = hello::<u64>().len() + record_len::<u64>();
    let got = refusing(FrameReader::<u64>::new(), &wire, at);
    assert_eq!(summary(&got), ["1", "corrupt", "3"]);

    // A long (sealed) record.
    let big = |b: u8| [b; 5000];
    let wire = stream(&[big(1), big(2), big(3)]);
    let at = hello::<[u8; 5000]>().len() + record_len::<[u8; 5000]>();
    let got = refusing(FrameReader::<[u8; 5000]>::new(), &wire, at);
    let firsts: Vec<_> = got.iter().map(|r| r.as_ref().map(|m| m[0])).collect();
    assert!(
        matches!(firsts[..], [Ok(1), Err(Error::Corrupt(_)), Ok(3)]),
        "{firsts:?}"
    );

    // A page-sized message, which goes bare.
    let page = |b: u8| [b; 4096];
    let wire = stream(&[page(1), page(2), page(3)]);
    let at = hello::<[u8; 4096]>().len() + 4096;
    let got = refusing(FrameReader::<[u8; 4096]>::new(), &wire, at);
    let firsts: Vec<_> = got.iter().map(|r| r.as_ref().map(|m| m[0])).collect();
    assert!(
        matches!(firsts[..], [Ok(1), Err(Error::Corrupt(_)), Ok(3)]),
        "{firsts:?}"
    );
}

#[test]
fn a_batch_record_the_source_refuses_is_dropped_with_all_its_messages() {
    let mut wire = stream(&[1u32]);
    let at = wire.len();
    let mut batcher = Batcher::default();
    batcher.push_many(&mut wire, &[2u32, 3, 4]);
    batcher.close();
    write_message(&mut wire, &5u32).unwrap();
    let got = refusing(FrameReader::<u32>::new(), &wire, at);
    assert_eq!(summary(&got), ["1", "corrupt", "5"]);
}

#[test]
fn a_refused_record_cut_short_by_the_end_of_the_stream_is_corrupt_then_disconnected() {
    let wire = stream(&[1u64, 2]);
    let at = hello::<u64>().len() + record_len::<u64>();
    let got = refusing(FrameReader::<u64>::new(), &wire[..wire.len() - 3], at);
    assert_eq!(summary(&got), ["1", "corrupt", "corrupt"]);
}

#[test]
fn a_foreign_message_the_source_refuses_is_dropped_whole() {
    let wire: Vec<u8> = [1u64, 2, 3].iter().flat_map(|m| m.to_ne_bytes()).collect();
    let mut r = FrameReader::<u64>::new();
    r.set_foreign();
    let got = refusing(r, &wire, 8);
    assert_eq!(summary(&got), ["1", "corrupt", "3"]);
}

#[test]
fn a_slice_the_source_refuses_is_dropped_whole() {
    let mut wire = hello::<[u16]>();
    write_slice(&mut wire, &[1u16, 1]).unwrap();
    let at = wire.len();
    write_slice(&mut wire, &[2u16; 3000]).unwrap();
    write_slice(&mut wire, &[3u16; 3]).unwrap();
    let mut r = FrameReader::<[u16]>::new();
    r.set_max_len(3000);
    let mut src = Refusing::new(&wire, at);
    assert_eq!(r.recv_slice_from(&mut src).unwrap(), [1, 1]);
    let err = r.recv_slice_from(&mut src).unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
    assert_eq!(r.recv_slice_from(&mut src).unwrap(), [3, 3, 3]);
    assert!(r.recv_slice_from(&mut src).unwrap_err().is_disconnected());
}
