//! The endpoint parser (`endpoint/`: `shm:orders?capacity=64`, `tcp:[::1]:5000`, ...),
//! which reads strings from configuration files, command lines and other programs.
//!
//! Input: the string (bytes that are not UTF-8 are replaced).
//!
//! What must hold: no panic; a refusal is `InvalidEndpoint`; an endpoint that parses is
//! written (`Display`) in the one canonical form, which parses back to the same endpoint
//! and is written the same again.
#![no_main]

use ipc::{Endpoint, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match text.parse::<Endpoint>() {
        Ok(e) => {
            let canonical = e.to_string();
            let again: Endpoint = canonical.parse().unwrap_or_else(|err| {
                panic!("{canonical:?} (from {text:?}) does not parse: {err}")
            });
            assert_eq!(again, e, "{canonical:?} parses to another endpoint");
            assert_eq!(again.to_string(), canonical);
            let _ = e.scheme();
        }
        Err(Error::InvalidEndpoint { .. }) => {}
        Err(e) => panic!("{text:?} refused with {e:?}"),
    }
});
