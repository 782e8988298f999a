//! The example in the workspace README's "Beyond one machine" is this crate's README
//! example, which runs as this crate's doc test (the workspace README's doc tests are the
//! facade's, which does not depend on this crate): the two must not drift apart.

/// The first Rust block of `text` after `after`, without its fence line.
fn block_after<'a>(text: &'a str, after: &str) -> &'a str {
    let from = text.find(after).expect("the heading") + after.len();
    let rest = &text[from..];
    let open = rest.find("```rust").expect("a rust block");
    let body = &rest[open..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    &body[..body.find("```").expect("a closing fence")]
}

#[test]
fn the_workspace_readme_shows_this_crates_example() {
    let workspace = include_str!("../../README.md");
    let ours = include_str!("../README.md");
    assert_eq!(
        block_after(workspace, "## Beyond one machine"),
        block_after(ours, "# typed-ipc-zenoh"),
        "README.md and ipc-zenoh/README.md show different examples"
    );
}
