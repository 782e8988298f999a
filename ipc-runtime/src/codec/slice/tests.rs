//! Slice records through a [`FrameReader`]: exact round trips, the maximum enforced from
//! the header alone, and slice and message writers refusing each other.

use std::io::Read;

use super::super::*;
use crate::error::Error;

/// A stream of a writer of `[E]`: its handshake, then `slices`.
fn slice_stream<E: Message>(slices: &[&[E]]) -> Vec<u8> {
    let mut w = hello::<[E]>();
    for s in slices {
        write_slice(&mut w, s).unwrap();
    }
    w
}

/// The `n`th test slice: `n` elements.
fn elements(n: u32) -> Vec<u32> {
    (0..n).map(|j| j.wrapping_mul(7) ^ n).collect()
}

#[test]
fn slices_of_any_length_round_trip_exactly_the_long_ones_sealed() {
    // 1022 u32s are 4088 bytes: with the header, one atomic write; 1023 are sealed.
    let lens = [0, 1, 2, 1021, 1022, 1023, 20_000, 0, 3];
    let slices: Vec<Vec<u32>> = lens.iter().map(|&n| elements(n)).collect();
    let refs: Vec<&[u32]> = slices.iter().map(|s| &s[..]).collect();
    let wire = slice_stream(&refs);
    let short = hello::<[u32]>().len() + record_len_of(4 * 1022);
    assert_eq!(record_len_of(4 * 1022), ATOMIC_WRITE);
    assert_eq!(
        record_len_of(4 * 1023),
        HEADER_LEN + SEAL_LEN + 4 * 1023 + SEAL_LEN
    );
    assert!(wire.len() > short);

    let mut r = FrameReader::<[u32]>::new();
    r.set_max_len(20_000);
    assert_eq!(r.max_len(), 20_000);
    let mut src = wire.as_slice();
    let mut one_at_a_time = |buf: &mut [u8]| Ok(src.read(&mut buf[..1]).unwrap());
    for want in &slices {
        assert_eq!(r.recv_slice_with(&mut one_at_a_time).unwrap(), &want[..]);
    }
    assert!(r
        .recv_slice_with(&mut one_at_a_time)
        .unwrap_err()
        .is_disconnected());
}

#[test]
fn a_slice_above_the_maximum_is_refused_from_its_header_and_skipped_by_count() {
    let wire = slice_stream::<u16>(&[&[1; 100], &[2; 3], &[9; 3000], &[3; 4]]);
    let mut r = FrameReader::<[u16]>::new();
    r.set_max_len(10);
    let cap = r.capacity();
    let mut src = &wire[..];
    for (i, want) in [&[2u16; 3][..], &[3; 4][..]].iter().enumerate() {
        let e = r.read_slice(&mut src).unwrap_err();
        let len = [100, 3000][i];
        assert!(
            matches!(
                e,
                Error::LimitExceeded {
                    limit: "max_len",
                    value: 10,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("at most 10"), "{e}");
        assert!(e.to_string().contains(&format!("{len} elements")), "{e}");
        assert_eq!(r.read_slice(&mut src).unwrap(), *want);
    }
    assert!(r.read_slice(&mut src).unwrap_err().is_disconnected());
    assert_eq!(
        r.capacity(),
        cap,
        "nothing was allocated for the refused slices"
    );
}

/// A source of `n` bytes of `byte`, then end of stream: a hostile writer's payload that
/// nobody holds in memory whole.
fn repeat(byte: u8, n: usize) -> impl Read {
    std::io::repeat(byte).take(n as u64)
}

#[test]
fn a_huge_length_is_skipped_without_allocating_it_and_later_records_arrive() {
    // A header claiming 256 MiB of `u64`s (sealed, as a long record must be), its bytes
    // streamed past the reader, then a good record.
    let claimed = 256usize << 20;
    let mut head = hello::<[u64]>();
    head.extend_from_slice(&payload_tag::<[u64]>().to_le_bytes());
    head.extend_from_slice(&(claimed as u32).to_le_bytes());
    head.extend_from_slice(&[0xAB; SEAL_LEN]); // opening seal
    let mut tail = vec![0xAB; SEAL_LEN]; // closing seal, equal
    write_slice(&mut tail, &[5u64, 6]).unwrap();
    let mut src = (&head[..]).chain(repeat(0, claimed)).chain(&tail[..]);

    let mut r = FrameReader::<[u64]>::new();
    let cap = r.capacity();
    let e = r.read_slice(&mut src).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LimitExceeded {
                limit: "max_len",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&format!("{} elements", claimed / 8)),
        "{e}"
    );
    assert_eq!(r.read_slice(&mut src).unwrap(), &[5, 6]);
    assert_eq!(r.capacity(), cap);
    assert!(r.read_slice(&mut src).unwrap_err().is_disconnected());
}

#[test]
fn a_length_that_is_not_a_whole_number_of_elements_is_corrupt_and_skipped() {
    let mut wire = hello::<[u32]>();
    wire.extend_from_slice(&payload_tag::<[u32]>().to_le_bytes());
    wire.extend_from_slice(&6u32.to_le_bytes());
    wire.extend_from_slice(&[1; 6]);
    write_slice(&mut wire, &[7u32]).unwrap();
    let mut r = FrameReader::<[u32]>::new();
    let mut src = &wire[..];
    let e = r.read_slice(&mut src).unwrap_err();
    assert!(
        matches!(e, Error::Corrupt(ref m) if m.contains("whole number")),
        "{e:?}"
    );
    assert_eq!(r.read_slice(&mut src).unwrap(), &[7]);
}

#[test]
fn slice_and_message_ends_refuse_each_other_naming_both() {
    let slices = slice_stream::<u8>(&[b"abc"]);
    let e = FrameReader::<u8>::new()
        .read_from(&mut &slices[..])
        .unwrap_err();
    match &e {
        Error::SchemaMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected.name, "u8");
            assert_eq!(found.name, "[u8]");
        }
        e => panic!("{e:?}"),
    }
    let mut messages = hello::<u8>();
    write_message(&mut messages, &7u8).unwrap();
    let e = FrameReader::<[u8]>::new()
        .read_slice(&mut &messages[..])
        .unwrap_err();
    match &e {
        Error::SchemaMismatch {
            expected, found, ..
        } => {
            assert_eq!(expected.name, "[u8]");
            assert_eq!(found.name, "u8");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_refused_writer_of_slices_is_skipped_exactly_even_past_the_buffer() {
    // A `[u16]` writer, then a `[u8]` writer, then a `u8` writer, on one stream (a FIFO).
    let mut wire = slice_stream::<u16>(&[&[1; 3], &[2; 100_000], &[]]);
    wire.extend(slice_stream::<u8>(&[b"mine", &[8; 5000]]));
    let mut messages = hello::<u8>();
    write_message(&mut messages, &9u8).unwrap();
    wire.extend(&messages);
    wire.extend(slice_stream::<u8>(&[b"again"]));
    let mut r = FrameReader::<[u8]>::new();
    r.set_max_len(5000);
    let mut src = &wire[..];
    assert!(matches!(
        r.read_slice(&mut src),
        Err(Error::SchemaMismatch { .. })
    ));
    assert_eq!(r.read_slice(&mut src).unwrap(), b"mine");
    assert_eq!(r.read_slice(&mut src).unwrap(), &[8; 5000][..]);
    assert!(matches!(
        r.read_slice(&mut src),
        Err(Error::SchemaMismatch { .. })
    ));
    assert_eq!(r.read_slice(&mut src).unwrap(), b"again");
    assert!(r.read_slice(&mut src).unwrap_err().is_disconnected());

    // And a reader of messages skips a writer of slices of its type exactly.
    let mut wire = hello::<u64>();
    write_message(&mut wire, &1u64).unwrap();
    wire.extend(slice_stream::<u64>(&[&[7; 3], &[7; 20_000]]));
    wire.extend(hello::<u64>());
    write_message(&mut wire, &2u64).unwrap();
    let mut r = FrameReader::<u64>::new();
    let mut src = &wire[..];
    assert_eq!(r.read_from(&mut src).unwrap(), 1);
    assert!(matches!(
        r.read_from(&mut src),
        Err(Error::SchemaMismatch { .. })
    ));
    assert_eq!(r.read_from(&mut src).unwrap(), 2);
    assert!(r.read_from(&mut src).unwrap_err().is_disconnected());
}

#[test]
fn invalid_elements_drop_their_slice_alone() {
    let mut wire = slice_stream::<bool>(&[&[true, false]]);
    let bad_at = wire.len() + HEADER_LEN + 1;
    write_slice(&mut wire, &[true, true, false]).unwrap();
    wire[bad_at] = 2;
    write_slice(&mut wire, &[false]).unwrap();
    let mut r = FrameReader::<[bool]>::new();
    let mut src = &wire[..];
    assert_eq!(r.read_slice(&mut src).unwrap(), &[true, false]);
    assert!(matches!(
        r.read_slice(&mut src),
        Err(Error::InvalidMessage(_))
    ));
    assert_eq!(r.read_slice(&mut src).unwrap(), &[false]);
}

#[test]
fn elements_aligned_to_more_than_eight_are_lent_aligned() {
    assert_eq!(
        align_of::<u128>() % 16,
        0,
        "u128 is 16-aligned on this target"
    );
    let slices: Vec<Vec<u128>> = (0..6u128)
        .map(|n| (0..n).map(|j| j << 64 | n).collect())
        .collect();
    let refs: Vec<&[u128]> = slices.iter().map(|s| &s[..]).collect();
    let wire = slice_stream(&refs);
    let mut r = FrameReader::<[u128]>::new();
    let mut src = &wire[..];
    for want in &slices {
        let got = r.read_slice(&mut src).unwrap();
        assert_eq!(got.as_ptr() as usize % align_of::<u128>(), 0);
        assert_eq!(got, &want[..]);
    }
}

#[test]
fn the_buffer_grows_only_for_an_accepted_slice_and_at_most_to_one_record() {
    let big = vec![3u8; 300_000];
    let wire = slice_stream::<u8>(&[&big, b"x"]);
    let mut r = FrameReader::<[u8]>::new();
    r.set_max_len(300_000);
    let mut src = &wire[..];
    assert_eq!(r.read_slice(&mut src).unwrap(), &big[..]);
    assert!(r.capacity() <= record_len_of(300_000) + 64);
    assert_eq!(r.read_slice(&mut src).unwrap(), b"x");
    // The maximum is clamped to what a record can say.
    r.set_max_len(usize::MAX);
    assert_eq!(r.max_len(), u32::MAX as usize);
    r.set_max_len(0);
    assert_eq!(r.max_len(), 1);
}

#[test]
fn default_maximum_is_one_atomic_record_and_the_limit_what_a_length_can_say() {
    assert_eq!(default_max_len::<u8>(), DEFAULT_MAX_SLICE_BYTES);
    assert_eq!(record_len_of(DEFAULT_MAX_SLICE_BYTES), ATOMIC_WRITE);
    assert_eq!(default_max_len::<u32>(), 1022);
    assert_eq!(default_max_len::<[u8; 5000]>(), 1);
    assert_eq!(max_len_limit::<u64>(), u32::MAX as usize / 8);
    assert_eq!(FrameReader::<[u32]>::new().max_len(), 1022);
}
