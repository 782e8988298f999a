//! Items used by the code `#[derive(Message)]` generates. Not public API: no semver
//! guarantees, may change in any release.

pub use crate::message::{Field, InvalidMessage, Kind, Message, Problem, Schema, Variant};
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

/// Compiles only if `T` is a [`Message`]. The derive calls it once per field, spanned on
/// the field's type, so a field that is not a `Message` (or not `Copy`) is reported on
/// that field, with the trait's `on_unimplemented` explanation.
#[inline(always)]
pub const fn assert_message<T: Message>() {}

/// A message built at compile time (const fns cannot format).
struct ConstMsg {
    buf: [u8; 512],
    len: usize,
}

impl ConstMsg {
    const fn new() -> Self {
        ConstMsg {
            buf: [0; 512],
            len: 0,
        }
    }

    const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn num(self, mut n: usize) -> Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let (_, tail) = digits.split_at(i);
        match core::str::from_utf8(tail) {
            Ok(s) => self.push(s),
            Err(_) => self,
        }
    }

    const fn as_str(&self) -> &str {
        let (head, _) = self.buf.split_at(self.len);
        match core::str::from_utf8(head) {
            Ok(s) => s,
            // Truncation in the middle of a multi-byte name: keep what is valid.
            Err(e) => match core::str::from_utf8(head.split_at(e.valid_up_to()).0) {
                Ok(s) => s,
                Err(_) => "",
            },
        }
    }
}
