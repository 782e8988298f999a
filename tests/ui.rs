//! Compile-fail cases for `#[derive(Message)]`: every refusal, with the span and message
//! the user sees (`tests/ui/<topic>/<mistake>.rs` and its `.stderr`).
//!
//! Regenerate the expected output after a deliberate change with
//! `TRYBUILD=overwrite cargo test --test ui`, then read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
}
