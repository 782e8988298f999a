//! The stream handshake decoder (`codec/hello.rs`) with the encoded schema tree it
//! carries: a reader of `Order` or of `[Tick]` checks a record whose header is the
//! input's own, or a handshake header followed by the input.
//!
//! Input: one byte (bit 0: the reader's payload; bit 1: put a handshake header of the
//! input's length in front), then the record.
//!
//! What must hold: no panic; an accepted handshake is no longer than the bytes given nor
//! than one atomic write; a stream reader given those bytes then a message record of its
//! type returns that message; a refusal is `SchemaMismatch` (whose `difference`, if any,
//! is not empty) or `Corrupt`.
#![no_main]

use fuzz_common::{take, Order, Sample, Tick};
use ipc::codec::{self, FrameReader};
use ipc::{Error, Payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([mode], rest) = take::<1>(data);
    let mut record = Vec::new();
    if mode & 2 != 0 {
        record.extend_from_slice(b"ipcH");
        record.extend_from_slice(&(rest.len() as u32).to_le_bytes());
    }
    record.extend_from_slice(rest);
    if mode & 1 == 0 {
        check::<Order>(&record, |r, src| {
            let got = r
                .read_from(src)
                .expect("a message after an accepted handshake");
            assert_eq!(got, Order::sample());
        });
    } else {
        check::<[Tick]>(&record, |r, src| {
            let got = r
                .read_slice(src)
                .expect("a slice after an accepted handshake");
            assert_eq!(got, &[Tick::sample(); 3]);
        });
    }
});

fn check<P: ?Sized + Payload>(record: &[u8], read: impl FnOnce(&mut FrameReader<P>, &mut &[u8])) {
    match ipc::fuzzing::decode_hello::<P>(record) {
        Ok(None) => {}
        Ok(Some(n)) => {
            assert!(
                n <= record.len() && n <= codec::ATOMIC_WRITE,
                "accepted {n} bytes"
            );
            let mut stream = record[..n].to_vec();
            if P::IS_SLICE {
                codec::write_slice(&mut stream, &[Tick::sample(); 3]).unwrap();
            } else {
                codec::write_message(&mut stream, &Order::sample()).unwrap();
            }
            read(&mut FrameReader::<P>::new(), &mut &stream[..]);
        }
        Err(Error::SchemaMismatch { difference, .. }) => {
            if let Some(d) = difference {
                assert!(!d.is_empty());
            }
        }
        Err(Error::Corrupt(_)) => {}
        Err(e) => panic!("a handshake refused with {e:?}"),
    }
}
