//! [`FixedStr<N>`]: a string in a fixed number of bytes, like a C `char[N]`, and how it
//! crosses a process boundary (its [`Message`] implementation and the check of its bytes).

use core::fmt;
use core::ops::Deref;

use crate::const_msg::ConstMsg;
use crate::message::{InvalidMessage, Kind, Message, Problem, Schema};

/// At most `N` bytes of UTF-8, NUL-padded, like a C `char[N]`: a string that can live
/// inside a [`Message`].
///
/// The text runs up to the first NUL byte (or all `N` bytes); every byte after it is
/// NUL, so two equal strings have equal bytes. A received `FixedStr` is checked for both
/// before it is handed out.
///
/// Three ways to make one: [`fixed_str!`](crate::fixed_str!) from a literal, checked when
/// the program is compiled; [`FixedStr::from_static`] in a `const`; `TryFrom<&str>` for
/// text known only at run time, which returns an error instead.
///
/// ```
/// use ipc::{fixed_str, FixedStr};
///
/// let sym: FixedStr<8> = fixed_str!("AAPL");
/// assert_eq!(sym, FixedStr::<8>::try_from("AAPL").unwrap());
///
/// let sym = FixedStr::<8>::try_from("AAPL").unwrap();
/// assert_eq!(sym.as_str(), "AAPL");
/// assert_eq!(&*sym, "AAPL"); // derefs to str
/// assert!(FixedStr::<2>::try_from("AAPL").is_err());
/// assert_eq!(FixedStr::<3>::truncating("añb").as_str(), "añ");
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FixedStr<const N: usize>([u8; N]);

/// A string does not fit a [`FixedStr`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FixedStrError {
    /// The string is longer than the capacity.
    #[error("string of {len} bytes does not fit FixedStr<{capacity}>; shorten it, raise the capacity, or use FixedStr::truncating")]
    TooLong {
        /// The string's length in bytes.
        len: usize,
        /// The capacity.
        capacity: usize,
    },
    /// The string contains a NUL byte, which would end it early.
    #[error("string contains a NUL byte at {at}; a FixedStr ends at its first NUL")]
    Nul {
        /// Position of the NUL.
        at: usize,
    },
}

impl<const N: usize> FixedStr<N> {
    /// The empty string.
    pub const fn new() -> Self {
        FixedStr([0; N])
    }

    /// `s` as a `FixedStr`, in a `const` context; panics if `s` is longer than `N` bytes
    /// or contains a NUL byte.
    ///
    /// Evaluated at compile time — in a `const` item, or inside the `const { }` block
    /// that [`fixed_str!`](crate::fixed_str!) expands to — the panic is a compile error
    /// that names the string and the capacity. For text known only at run time use
    /// `FixedStr::try_from`, which returns an error instead.
    ///
    /// ```
    /// use ipc::FixedStr;
    ///
    /// const VENUE: FixedStr<4> = FixedStr::from_static("XNYS");
    /// assert_eq!(VENUE, "XNYS");
    /// ```
    ///
    /// A string that does not fit does not compile:
    ///
    /// ```compile_fail
    /// use ipc::FixedStr;
    ///
    /// const VENUE: FixedStr<4> = FixedStr::from_static("XNASDAQ");
    /// ```
    ///
    /// # Panics
    ///
    /// If `s` is longer than `N` bytes or contains a NUL byte (at compile time, as a
    /// compile error, when called in a `const` context).
    pub const fn from_static(s: &'static str) -> Self {
        let b = s.as_bytes();
        if b.len() > N {
            let m = ConstMsg::new().push("string \"").push(s).push("\" of ");
            let m = m.num(b.len()).push(" bytes does not fit FixedStr<").num(N);
            let m = m.push(">; shorten it or raise the capacity");
            panic!("{}", m.as_str());
        }
        let mut bytes = [0; N];
        let mut i = 0;
        while i < b.len() {
            if b[i] == 0 {
                let m = ConstMsg::new().push("string has a NUL byte at ").num(i);
                let m = m.push("; a FixedStr ends at its first NUL");
                panic!("{}", m.as_str());
            }
            bytes[i] = b[i];
            i += 1;
        }
        FixedStr(bytes)
    }

    /// The longest prefix of `s` that fits in `N` bytes and ends on a character boundary
    /// (and before any NUL).
    pub fn truncating(s: &str) -> Self {
        let s = s.split('\0').next().unwrap_or("");
        let mut end = s.len().min(N);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0; N];
        bytes[..end].copy_from_slice(&s.as_bytes()[..end]);
        FixedStr(bytes)
    }

    /// The text, up to the first NUL.
    pub fn as_str(&self) -> &str {
        let bytes = &self.0[..self.len()];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // Unreachable for values built here or validated on receive; a corrupted value
            // yields its valid prefix rather than undefined behaviour.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.0.iter().position(|&b| b == 0).unwrap_or(N)
    }

    /// True if the text is empty.
    pub fn is_empty(&self) -> bool {
        N == 0 || self.0[0] == 0
    }

    /// The capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// All `N` bytes, NUL padding included.
    pub const fn as_bytes(&self) -> &[u8; N] {
        &self.0
    }

    /// Checks the invariant on raw bytes: UTF-8 up to the first NUL, NUL after it.
    fn check(bytes: &[u8]) -> Result<(), Problem> {
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        if let Err(e) = core::str::from_utf8(&bytes[..len]) {
            return Err(Problem::Utf8 {
                valid_up_to: e.valid_up_to(),
            });
        }
        if bytes[len..].iter().any(|&b| b != 0) {
            return Err(Problem::StrPadding { nul_at: len });
        }
        Ok(())
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TryFrom<&str> for FixedStr<N> {
    type Error = FixedStrError;

    fn try_from(s: &str) -> Result<Self, FixedStrError> {
        if s.len() > N {
            return Err(FixedStrError::TooLong {
                len: s.len(),
                capacity: N,
            });
        }
        if let Some(at) = s.bytes().position(|b| b == 0) {
            return Err(FixedStrError::Nul { at });
        }
        let mut bytes = [0; N];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(FixedStr(bytes))
    }
}

impl<const N: usize> Deref for FixedStr<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> AsRef<str> for FixedStr<N> {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> PartialEq<str> for FixedStr<N> {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl<const N: usize> PartialEq<&str> for FixedStr<N> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

// SAFETY: all-zero bytes are the empty string, which satisfies the invariant.
unsafe impl<const N: usize> bytemuck::Zeroable for FixedStr<N> {}

// SAFETY: `FixedStr<N>` is `repr(transparent)` over `[u8; N]`: N initialised bytes, no
// pointers; `validate` accepts exactly the byte strings its invariant allows (UTF-8 up to
// the first NUL, only NULs after it), which `FixedStr::as_str` relies on only for
// correctness, never for soundness.
unsafe impl<const N: usize> Message for FixedStr<N> {
    const SCHEMA: Schema = Schema {
        name: "FixedStr",
        size: N,
        align: 1,
        kind: Kind::Str { capacity: N },
    };
    fn validate(bytes: &[u8]) -> Result<(), InvalidMessage> {
        if bytes.len() != N {
            return Err(InvalidMessage::length("FixedStr", N, bytes.len()));
        }
        FixedStr::<N>::check(bytes).map_err(|p| InvalidMessage::new(p).of("FixedStr"))
    }
}

/// A [`FixedStr`] made from a string literal when the program is compiled: a literal too
/// long for the capacity, or holding a NUL byte, is a compile error that names it.
///
/// The capacity `N` is inferred from where the value goes (a field, an argument, a
/// `let` with a type). The argument is a string literal or any `&'static str` constant
/// expression (`concat!`, a `const`). It expands to
/// `const { FixedStr::from_static(…) }`: the check is part of building the program
/// (`cargo build`, `cargo test`), which `cargo check` does not do.
///
/// ```
/// use ipc::{fixed_str, FixedStr};
///
/// let symbol: FixedStr<16> = fixed_str!("ACME");
/// assert_eq!(symbol.as_str(), "ACME");
///
/// fn quote(symbol: FixedStr<8>) -> usize { symbol.len() }
/// assert_eq!(quote(fixed_str!("AAPL")), 4);
/// ```
///
/// Too long for the capacity:
///
/// ```compile_fail
/// use ipc::{fixed_str, FixedStr};
///
/// let symbol: FixedStr<4> = fixed_str!("ACME Corporation");
/// ```
#[macro_export]
macro_rules! fixed_str {
    ($s:expr $(,)?) => {
        const { $crate::FixedStr::from_static($s) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_refuses_bad_utf8_and_dirty_padding() {
        assert!(FixedStr::<4>::check(b"ab\0\0").is_ok());
        assert!(FixedStr::<4>::check(b"abcd").is_ok());
        assert_eq!(
            FixedStr::<4>::check(b"a\xff\0\0"),
            Err(Problem::Utf8 { valid_up_to: 1 })
        );
        assert_eq!(
            FixedStr::<4>::check(b"a\0b\0"),
            Err(Problem::StrPadding { nul_at: 1 })
        );
    }

    #[test]
    fn try_from_refuses_nul_and_overflow() {
        assert_eq!(
            FixedStr::<2>::try_from("abc"),
            Err(FixedStrError::TooLong {
                len: 3,
                capacity: 2
            })
        );
        assert_eq!(
            FixedStr::<4>::try_from("a\0"),
            Err(FixedStrError::Nul { at: 1 })
        );
        let s = FixedStr::<4>::try_from("ab").unwrap();
        assert_eq!((s.len(), s.is_empty(), s.capacity()), (2, false, 4));
        assert_eq!(s, "ab");
    }

    #[test]
    fn from_static_matches_try_from() {
        const S: FixedStr<6> = FixedStr::from_static("añb");
        assert_eq!(S, FixedStr::<6>::try_from("añb").unwrap());
        assert_eq!(S.as_bytes(), b"a\xc3\xb1b\0\0");
        let full: FixedStr<3> = crate::fixed_str!("abc");
        assert_eq!((full.len(), full.as_str()), (3, "abc"));
        let empty: FixedStr<0> = crate::fixed_str!("");
        assert!(empty.is_empty());
    }

    #[test]
    #[should_panic(expected = "string \"abcde\" of 5 bytes does not fit FixedStr<4>")]
    fn from_static_at_run_time_panics_when_too_long() {
        let _ = FixedStr::<4>::from_static(core::hint::black_box("abcde"));
    }

    #[test]
    #[should_panic(expected = "string has a NUL byte at 1; a FixedStr ends at its first NUL")]
    fn from_static_at_run_time_panics_on_nul() {
        let _ = FixedStr::<4>::from_static(core::hint::black_box("a\0b"));
    }
}
