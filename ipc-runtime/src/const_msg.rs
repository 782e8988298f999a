//! [`ConstMsg`]: an error message assembled in a `const fn`, which cannot format, for
//! the panics that become compile errors (the derive's layout checks, `fixed_str!`).

/// A message built at compile time (const fns cannot format).
pub(crate) struct ConstMsg {
    buf: [u8; 512],
    len: usize,
}

impl ConstMsg {
    pub(crate) const fn new() -> Self {
        ConstMsg {
            buf: [0; 512],
            len: 0,
        }
    }

    pub(crate) const fn push(mut self, s: &str) -> Self {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() && self.len < self.buf.len() {
            self.buf[self.len] = b[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    pub(crate) const fn num(self, mut n: usize) -> Self {
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

    pub(crate) const fn as_str(&self) -> &str {
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
