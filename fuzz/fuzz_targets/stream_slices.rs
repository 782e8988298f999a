//! `FrameReader<[Tick]>` reading arbitrary bytes as a stream of slices
//! (`codec/reader/slice.rs`), with a maximum length the input sets (`set_max_len`), in
//! chunks whose sizes the input picks.
//!
//! Input: two bytes of maximum length (little-endian), one byte of chunk size, then the
//! stream.
//!
//! What must hold: no panic; the stream ends (`Disconnected`) after a bounded number of
//! receives; every slice returned is at most the maximum length and each element
//! validates; the slices are the same whatever the chunks; every error is one a stream
//! reader reports for bad bytes (`LimitExceeded` naming `max_len` for a long slice).
#![no_main]

use fuzz_common::{check_valid, take, Tick};
use ipc::codec::FrameReader;
use ipc::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([lo, hi, chunk], stream) = take::<3>(data);
    let max_len = usize::from(u16::from_le_bytes([lo, hi]));
    let whole = read_all(stream, max_len, usize::MAX);
    let pieces = read_all(stream, max_len, usize::from(chunk % 64) + 1);
    let slices = |got: &[Result<Vec<Tick>, &'static str>]| {
        got.iter()
            .filter_map(|g| g.clone().ok())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        slices(&whole),
        slices(&pieces),
        "the chunks a stream arrives in changed the slices read from it"
    );
});

fn read_all(stream: &[u8], max_len: usize, chunk: usize) -> Vec<Result<Vec<Tick>, &'static str>> {
    let mut reader = FrameReader::<[Tick]>::new();
    reader.set_max_len(max_len);
    let max = reader.max_len();
    assert!(
        max >= 1 && (max_len == 0 || max <= max_len),
        "max_len {max} for {max_len}"
    );
    let mut src = stream;
    let mut got = Vec::new();
    let bound = 2 * stream.len() + 16;
    for turn in 0.. {
        assert!(
            turn < bound,
            "the reader does not reach the end of the stream"
        );
        let r = reader.recv_slice_with(|buf| {
            let n = buf.len().min(chunk).min(src.len());
            buf[..n].copy_from_slice(&src[..n]);
            src = &src[n..];
            Ok(n)
        });
        match r {
            Ok(slice) => {
                assert!(
                    slice.len() <= max,
                    "a slice of {} > max_len {max}",
                    slice.len()
                );
                slice.iter().for_each(check_valid);
                got.push(Ok(slice.to_vec()));
            }
            Err(Error::Disconnected) => break,
            Err(e) => got.push(Err(kind(&e))),
        }
    }
    got
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Corrupt(_) => "corrupt",
        Error::SchemaMismatch { .. } => "schema mismatch",
        Error::InvalidMessage(_) => "invalid message",
        Error::LimitExceeded { limit, .. } => {
            assert!(limit.contains("max_len"), "LimitExceeded about {limit}");
            "limit"
        }
        e => panic!("a stream reader reported {e:?} for bytes in a buffer"),
    }
}
