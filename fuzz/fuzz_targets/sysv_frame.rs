//! The System V queue's record check (`sysv/frame.rs`, `Frame::<T>::check`): what a
//! receiver of `Order` or of `Big` makes of the bytes `msgrcv` returned.
//!
//! Input: one byte choosing the type, then the record (8 bytes of fingerprint, then the
//! message).
//!
//! What must hold: no panic; a record is accepted exactly when it is the fingerprint of
//! the type followed by bytes `from_bytes` accepts; a refusal is `SchemaMismatch`,
//! `InvalidMessage` or `Corrupt`.
#![no_main]

use fuzz_common::{take, Big, Order};
use ipc::{Error, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let ([ty], record) = take::<1>(data);
    if ty & 1 == 0 {
        check::<Order>(record);
    } else {
        check::<Big>(record);
    }
});

fn check<T: Message>(record: &[u8]) {
    let expected = record.len() == 8 + size_of::<T>()
        && record[..8] == T::FINGERPRINT.to_le_bytes()
        && ipc::from_bytes::<T>(&record[8..]).is_ok();
    match ipc::fuzzing::sysv_check::<T>(record) {
        Ok(()) => assert!(expected, "a record accepted that is not one of T"),
        Err(Error::SchemaMismatch { .. } | Error::InvalidMessage(_) | Error::Corrupt(_)) => {
            assert!(!expected, "a record of T refused")
        }
        Err(e) => panic!("a record refused with {e:?}"),
    }
}
