//! Items used by the code `#[derive(Message)]` generates. Not public API: no semver
//! guarantees, may change in any release.

use crate::const_msg::ConstMsg;
pub use crate::message::{Field, InvalidMessage, Kind, Message, Problem, Schema, Variant};
/// The frames and steps of `#[ipc::service]`'s generated code.
pub use crate::rpc as service;
pub use bytemuck;
pub use core;

/// Fails to compile (via a const-evaluation panic) with a message naming the padding,
/// when a field's end and the next field's start (or the struct's end) are `gap` bytes
/// apart.
///
/// `after` is the field before the gap; `at_end` says the gap is trailing padding.
pub const fn assert_no_padding(ty: &str, after: &str, gap: usize, at_end: bool) {
    if gap == 0 {
        return;
    }
    let mut m = ConstMsg::new();
    m = m.push("`").push(ty).push("` has ").num(gap);
    m = m.push(if gap == 1 { " byte" } else { " bytes" });
    m = m.push(" of implicit padding ");
    m = m.push(if at_end {
        "at the end, after field `"
    } else {
        "after field `"
    });
    m = m
        .push(after)
        .push("`; make it explicit with a field `_pad: [u8; ")
        .num(gap);
    m = m.push("]` there, or reorder the fields from the largest alignment to the smallest");
    panic!("{}", m.as_str());
}

/// Fails to compile if the pinned `#[ipc(size)]` or `#[ipc(align)]` does not hold.
pub const fn assert_pin(ty: &str, what: &str, pinned: usize, actual: usize) {
    if pinned == actual {
        return;
    }
    let mut m = ConstMsg::new();
    m = m
        .push("`")
        .push(ty)
        .push("` has ")
        .push(what)
        .push(" ")
        .num(actual);
    m = m
        .push(", but #[ipc(")
        .push(what)
        .push(" = ")
        .num(pinned)
        .push(")] pins it");
    m = m.push("; change the fields or the pin");
    panic!("{}", m.as_str());
}

/// A type whose all-zero bytes are a value: what a padding field of the `#[ipc(new)]`
/// constructor must be, said in the words of the derive when it is not.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no all-zero value, so #[ipc(new)] cannot zero this padding field",
    label = "a padding field of this type is zeroed by the #[ipc(new)] constructor",
    note = "padding is a field named `_...` of type `[u8; N]`, or one marked #[ipc(pad)] \
            whose type accepts all-zero bytes (integers, floats, arrays of them, FixedStr); \
            make this field a parameter of `new` instead: remove #[ipc(pad)]"
)]
pub trait ZeroPadding: bytemuck::Zeroable {}

impl<T: bytemuck::Zeroable> ZeroPadding for T {}

/// All-zero bytes as a `T`: the value of a padding field in the constructor that
/// `#[ipc(new)]` generates, which is a `const fn`.
#[inline(always)]
pub const fn zeroed<T: ZeroPadding>() -> T {
    // SAFETY: `T: Zeroable` promises that all-zero bytes are a valid `T`.
    unsafe { core::mem::zeroed() }
}

/// Compiles only if `T` is a [`Message`]. The derive calls it once per field, spanned on
/// the field's type, so a field that is not a `Message` (or not `Copy`) is reported on
/// that field, with the trait's `on_unimplemented` explanation.
#[inline(always)]
pub const fn assert_message<T: Message>() {}
