//! `FrameReader<T>` reading arbitrary bytes as a stream of messages, through `read_from`
//! and `read_into` in turns, in chunks whose sizes the input picks, with receives that
//! time out in between: a reader of a short (`Order`), a page-sized bare (`Page`) or a
//! long sealed (`Big`) message.
//!
//! Input: one byte choosing the type, one the chunk size, one the timeouts, then the
//! stream.
//!
//! What must hold: no panic; the stream ends (`Disconnected`) after a bounded number of
//! receives; every message returned validates; `read_into` leaves its destination
//! unchanged on any error; the messages are the same, in the same order, whatever the
//! chunks and timeouts (a receive that times out loses nothing); every error is one a
//! stream reader reports for bad bytes.
#![no_main]

use std::time::Duration;

use fuzz_common::{check_valid, take, Big, Order, Page, Sample};
use ipc::codec::FrameReader;
use ipc::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([ty, chunk, stalls], stream) = take::<3>(data);
    match ty % 3 {
        0 => run::<Order>(stream, chunk, stalls),
        1 => run::<Page>(stream, chunk, stalls),
        _ => run::<Big>(stream, chunk, stalls),
    }
});

/// What a receive gave, to compare two readings of one stream.
#[derive(Debug, PartialEq)]
enum Got {
    Message(Vec<u8>),
    Error(&'static str),
}

fn run<T: Sample>(stream: &[u8], chunk: u8, stalls: u8) {
    let whole = read_all::<T>(stream, usize::MAX, 0);
    let pieces = read_all::<T>(stream, usize::from(chunk % 64) + 1, stalls);
    let messages = |got: &[Got]| {
        got.iter()
            .filter(|g| matches!(g, Got::Message(_)))
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        messages(&whole),
        messages(&pieces),
        "the chunks a stream arrives in changed the messages read from it"
    );
}

/// Reads `stream` to its end, `chunk` bytes at most per read; every `stalls + 1`-th read
/// times out instead (0: none).
fn read_all<T: Sample>(stream: &[u8], chunk: usize, stalls: u8) -> Vec<Got> {
    let mut reader = FrameReader::<T>::new();
    let mut src = stream;
    let mut reads = 0u32;
    let mut fill = |buf: &mut [u8]| -> ipc::Result<usize> {
        reads += 1;
        if stalls != 0 && reads % (u32::from(stalls) + 1) == 0 {
            return Err(Error::Timeout(Duration::ZERO));
        }
        let n = buf.len().min(chunk).min(src.len());
        buf[..n].copy_from_slice(&src[..n]);
        src = &src[n..];
        Ok(n)
    };
    let mut got = Vec::new();
    // Each record, or each byte of garbage, ends a receive at most twice (an error, then
    // the resynchronised record), plus the timeouts.
    let bound = 2 * stream.len() + 2 * (stream.len() / chunk.max(1) + 2) + 16;
    for turn in 0.. {
        assert!(
            turn < bound,
            "the reader does not reach the end of the stream"
        );
        let result = if turn % 2 == 0 {
            reader.recv_with(&mut fill).map(|m| {
                check_valid(&m);
                ipc::as_bytes(&m).to_vec()
            })
        } else {
            let mut out = T::sample();
            let before = ipc::as_bytes(&out).to_vec();
            let r = reader.recv_into_with(&mut out, &mut fill);
            if r.is_err() {
                assert_eq!(
                    ipc::as_bytes(&out),
                    &before[..],
                    "recv_into changed its destination on an error"
                );
            } else {
                check_valid(&out);
            }
            r.map(|()| ipc::as_bytes(&out).to_vec())
        };
        match result {
            Ok(bytes) => got.push(Got::Message(bytes)),
            Err(Error::Disconnected) => break,
            Err(Error::Timeout(_)) => {}
            Err(e) => got.push(Got::Error(kind(&e))),
        }
    }
    got
}

/// The kind of error a stream reader reports for bad bytes; anything else fails.
fn kind(e: &Error) -> &'static str {
    match e {
        Error::Corrupt(_) => "corrupt",
        Error::SchemaMismatch { .. } => "schema mismatch",
        Error::InvalidMessage(_) => "invalid message",
        e => panic!("a stream reader reported {e:?} for bytes in a buffer"),
    }
}
