//! The POSIX queue's schema header parser (`mq/header.rs`, `parse_header`): what an
//! opener makes of the file beside the queue (any user with write access to it could
//! have written it).
//!
//! Input: the file's text (bytes that are not UTF-8 are replaced, as the opener's read
//! refuses them before the parser).
//!
//! What must hold: no panic; a header that parses names a non-empty schema name without
//! a newline, and written back in the format it parses to the same schema.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(id) = ipc::fuzzing::mq_parse_header(&text) {
        assert!(!id.name.is_empty() && !id.name.contains('\n'));
        let again = format!(
            "ipc-mq-schema 1 {:#018x} {} {} {}\n",
            id.fingerprint, id.size, id.align, id.name
        );
        assert_eq!(ipc::fuzzing::mq_parse_header(&again), Some(id));
    }
});
