//! Property tests of the endpoint grammar: display then parse is the identity for every
//! transport, and arbitrary strings give an endpoint or a typed error, never a panic.

use ipc_runtime::{Endpoint, Error};
use proptest::prelude::*;

/// Any text, escapes-worthy characters included, that is not empty.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/._%?&=:\\[\\] é€\\x00-\\x1f-]{1,24}"
}

/// Any endpoint: a plain one, or (on the transports that have the mode) a foreign-peer
/// one.
fn endpoint() -> impl Strategy<Value = Endpoint> {
    (plain(), any::<bool>()).prop_map(|(e, foreign)| {
        if foreign && takes_foreign(&e) {
            Endpoint::Foreign(Box::new(e))
        } else {
            e
        }
    })
}

/// The transports with a foreign-peer mode (`?foreign`).
fn takes_foreign(e: &Endpoint) -> bool {
    matches!(
        e,
        Endpoint::Pipe
            | Endpoint::Fifo { .. }
            | Endpoint::Mq { .. }
            | Endpoint::Sysv { .. }
            | Endpoint::Unix { .. }
            | Endpoint::Tcp { .. }
    )
}

fn plain() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        Just(Endpoint::Pipe),
        text().prop_map(|path| Endpoint::Fifo { path }),
        (text(), proptest::option::of(1usize..1 << 20))
            .prop_map(|(name, capacity)| Endpoint::Shm { name, capacity }),
        (text(), proptest::option::of(1usize..1 << 16)).prop_map(|(name, capacity)| {
            Endpoint::Mq {
                name: format!("/{name}"),
                capacity,
            }
        }),
        any::<i32>()
            .prop_filter("key 0 is IPC_PRIVATE", |k| *k != 0)
            .prop_map(|key| Endpoint::Sysv { key }),
        text().prop_map(|path| Endpoint::Unix { path }),
        text().prop_map(|path| Endpoint::UnixSeqpacket { path }),
        (text(), any::<u16>()).prop_map(|(host, port)| Endpoint::Tcp { host, port }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn display_then_parse_is_the_identity(e in endpoint()) {
        let text = e.to_string();
        let back: Endpoint = text.parse().map_err(|err: Error| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(back, e);
    }

    #[test]
    fn foreign_is_refused_where_the_transport_has_no_such_mode(e in plain()) {
        let text = format!("{e}{}foreign", if e.to_string().contains('?') { '&' } else { '?' });
        match text.parse::<Endpoint>() {
            Ok(Endpoint::Foreign(inner)) => prop_assert!(takes_foreign(&inner) && *inner == e, "{}", text),
            Ok(other) => prop_assert!(false, "{}: parsed as {}", text, other),
            Err(Error::InvalidEndpoint { .. }) => prop_assert!(!takes_foreign(&e), "{}", text),
            Err(other) => prop_assert!(false, "{}: not InvalidEndpoint: {}", text, other),
        }
    }

    #[test]
    fn arbitrary_strings_parse_or_give_a_typed_error(s in "\\PC{0,40}") {
        check_any(&s)?;
    }

    #[test]
    fn strings_after_a_real_scheme_parse_or_give_a_typed_error(
        scheme in prop::sample::select(vec![
            "pipe", "fifo", "shm", "mq", "sysv", "unix", "unix-seqpacket", "tcp",
        ]),
        rest in "([a-z0-9:/\\[\\]?&=%.-]|foreign){0,30}",
    ) {
        check_any(&format!("{scheme}:{rest}"))?;
    }
}

/// `s` parses to an endpoint whose canonical form parses back to it, or is refused with
/// `InvalidEndpoint`.
fn check_any(s: &str) -> Result<(), TestCaseError> {
    match s.parse::<Endpoint>() {
        Ok(e) => {
            let again: Endpoint = e
                .to_string()
                .parse()
                .map_err(|err: Error| TestCaseError::fail(format!("{s} -> {e}: {err}")))?;
            prop_assert_eq!(again, e);
        }
        Err(Error::InvalidEndpoint { .. }) => {}
        Err(other) => prop_assert!(false, "{s}: not InvalidEndpoint: {other}"),
    }
    Ok(())
}
