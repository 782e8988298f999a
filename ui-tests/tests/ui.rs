//! Compile-fail cases for `#[derive(Message)]`, `#[ipc::service]` and `fixed_str!`: every
//! refusal, with the span and message the user sees (`tests/ui/<topic>/<mistake>.rs` and
//! its `.stderr`).
//!
//! Regenerate the expected output after a deliberate change with
//! `TRYBUILD=overwrite cargo test -p typed-ipc-ui-tests`, then read every changed `.stderr`.
//!
//! The `.stderr` files hold rustc 1.95's rendering of the errors (spans, notes, the
//! wording of rustc's own errors), which other compilers change; on them the test is
//! ignored (and says why) rather than failing on a fresh machine with a newer stable.
//! `ipc-derive`'s unit tests, which run on every compiler, cover only some refusals: the
//! layout checks happen in the user's crate, at compile time, and only this suite sees
//! them.
//!
//! The cases in `tests/ui-pass` must compile and run. Having one also makes trybuild
//! build every case rather than only check it, which the `fixed_str` cases need: the
//! `const { }` block that `fixed_str!` expands to is evaluated when code is generated,
//! not by `cargo check`.

#[test]
#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files are rustc 1.95's rendering; regenerate them for this compiler"
)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
