//! What crosses a System V queue: a [`Frame`] (the fingerprint of `T`, then the `T`),
//! behind the `mtype` that `msgsnd`/`msgrcv` need ([`MsgBuf`]), staged on the stack where
//! the one copy of the message runs fast ([`Staging`]).

use std::mem::MaybeUninit;

use crate::error::{Error, Result, SchemaId};
use crate::message::{from_bytes, Message};

/// A message as it crosses a queue: the fingerprint of `T`, then `T`.
///
/// Packed, so it has no padding: its size is exactly `8 + size_of::<T>()` and every byte
/// is initialised (`T: Message` has no padding either).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct Frame<T> {
    pub(super) fingerprint: [u8; 8],
    pub(super) msg: T,
}

impl<T: Message> Frame<T> {
    pub(super) const SIZE: usize = size_of::<Frame<T>>();

    #[cfg(test)]
    fn new(msg: T) -> Self {
        Frame {
            fingerprint: T::FINGERPRINT.to_le_bytes(),
            msg,
        }
    }

    #[cfg(test)]
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Frame<T>` is packed (no padding); its fingerprint is 8 initialised bytes
        // and `T: Message` guarantees every byte of a `T` is initialised; the slice covers
        // exactly `*self` and borrows it.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast::<u8>(), Self::SIZE) }
    }

    /// Checks that `bytes` is a whole frame of `T`: its length, its fingerprint, and the
    /// bit patterns of the `T` (unless every pattern is valid).
    #[inline(always)]
    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        if bytes.len() == Self::SIZE && bytes[..8] == T::FINGERPRINT.to_le_bytes() {
            if const { T::SCHEMA.accepts_any_bits() } {
                return Ok(());
            }
            return T::validate(&bytes[8..]).map_err(Error::from);
        }
        Err(Self::refusal(bytes))
    }

    /// Why `bytes` is not a frame of `T` (the slow path of [`Frame::check`]).
    #[cold]
    #[inline(never)]
    fn refusal(bytes: &[u8]) -> Error {
        let Some((fp, body)) = bytes.split_first_chunk::<8>() else {
            return Error::Corrupt(format!(
                "a {}-byte message, shorter than the 8-byte fingerprint every message of \
                 this crate starts with; was it written by another program?",
                bytes.len()
            ));
        };
        let fp = u64::from_le_bytes(*fp);
        if fp != T::FINGERPRINT {
            return Error::schema_mismatch::<T>(SchemaId {
                name: "<another type>".into(),
                fingerprint: fp,
                size: body.len() as u64,
                align: 0,
            });
        }
        match from_bytes::<T>(body) {
            Err(e) => e.into(),
            Ok(_) => Error::Corrupt("a message refused for no reason (a bug)".into()),
        }
    }

    /// Checks and copies out the message of `bytes`.
    #[cfg(test)]
    fn decode(bytes: &[u8]) -> Result<T> {
        Self::check(bytes)?;
        Ok(from_bytes::<T>(&bytes[8..])?)
    }
}

#[cold]
pub(super) fn oversized<T: Message>() -> Error {
    Error::Corrupt(format!(
        "a message longer than {} bytes (8-byte fingerprint + `{}`) was truncated and \
         dropped; was it written by another program?",
        Frame::<T>::SIZE,
        T::SCHEMA
    ))
}

/// One message as `msgsnd`/`msgrcv` see it: a `c_long` type, then the text (the frame),
/// then one spare byte that an oversized message spills into.
#[repr(C)]
pub(super) struct MsgBuf<T> {
    pub(super) mtype: libc::c_long,
    pub(super) text: Frame<T>,
    extra: u8,
}

/// Stack room for a [`MsgBuf`], placed so that its `T` and the caller's `T` are mutually
/// aligned.
///
/// A message is copied once between the caller's `T` and this buffer. For a large `T` that
/// copy is `rep movsb`, which on current x86 cores runs about 4× slower when the
/// destination lies 1 to 31 bytes after the source modulo 4 KiB (measured here: 168 ns
/// instead of 44 ns for 4 KiB). Where two stack buffers land is luck of the frame layout,
/// and the benchmark had drawn the slow case; placed this way, a copy never is.
#[repr(C, align(64))]
pub(super) struct Staging<T> {
    slack: [u64; 8],
    buf: MsgBuf<T>,
}

impl<T> Staging<T> {
    /// Where a `T` sits in a [`MsgBuf`]: after the type and the fingerprint.
    const T_AT: usize = core::mem::offset_of!(MsgBuf<T>, text) + 8;

    /// The buffer to copy `*src` into: its `T` lies 0 to 7 bytes before `src`, modulo 64.
    #[inline(always)]
    pub(super) fn to_copy_from(this: &mut MaybeUninit<Self>, src: *const T) -> *mut MsgBuf<T> {
        Self::place(this, src as usize, 0)
    }

    /// The buffer to copy a `T` out of into `*dst`: its `T` lies 0 to 7 bytes after `dst`,
    /// modulo 64.
    #[inline(always)]
    pub(super) fn to_copy_to(this: &mut MaybeUninit<Self>, dst: *mut T) -> *mut MsgBuf<T> {
        Self::place(this, dst as usize, 7)
    }

    #[inline(always)]
    fn place(this: &mut MaybeUninit<Self>, peer: usize, round_up: usize) -> *mut MsgBuf<T> {
        let base = this.as_mut_ptr().cast::<u8>();
        let t_at = (base as usize).wrapping_add(Self::T_AT);
        // A multiple of 8 (so the `c_long` stays aligned) below 64 (the slack).
        let off = ((peer.wrapping_sub(t_at) % 64) + round_up) & 56;
        // SAFETY: `off <= 56`, so a `MsgBuf<T>` at `base + off` ends within the 64 bytes of
        // slack plus the `buf` field that follow `base`; `base` is 64-aligned and `off` a
        // multiple of 8, so it is aligned for `MsgBuf<T>` (alignment `c_long`'s, at most 8).
        unsafe { base.add(off).cast() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_fingerprint_and_refuse_others() {
        let f = Frame::new(0x0102_0304u32);
        let b = f.as_bytes();
        assert_eq!(b.len(), 12);
        assert_eq!(Frame::<u32>::decode(b).unwrap(), 0x0102_0304);
        assert!(matches!(
            Frame::<i32>::decode(b),
            Err(Error::SchemaMismatch { .. })
        ));
        assert!(matches!(
            Frame::<u32>::decode(&b[..9]),
            Err(Error::InvalidMessage(_))
        ));
        assert!(matches!(
            Frame::<u32>::decode(&b[..3]),
            Err(Error::Corrupt(_))
        ));
        assert_eq!(Frame::<u128>::SIZE, 24);
    }

    /// Every placement leaves the destination of the copy 0 to 7 bytes *before* its source
    /// modulo 64 (never 1 to 31 bytes after it), keeps the `c_long` aligned, and stays
    /// inside the staging buffer.
    fn check_placement<T: Message>() {
        let mut st = MaybeUninit::<Staging<T>>::uninit();
        let base = st.as_ptr() as usize;
        let end = base + size_of::<Staging<T>>();
        for peer in (0x10_000..0x10_000 + 256usize).map(|a| a as *mut T) {
            for (b, src, dst) in [
                {
                    let b = Staging::to_copy_from(&mut st, peer) as usize;
                    (b, peer as usize, b + Staging::<T>::T_AT)
                },
                {
                    let b = Staging::to_copy_to(&mut st, peer) as usize;
                    (b, b + Staging::<T>::T_AT, peer as usize)
                },
            ] {
                let ahead = dst.wrapping_sub(src) % 64;
                assert!(
                    ahead == 0 || ahead >= 57,
                    "{peer:?}: dst {ahead} bytes after src"
                );
                assert_eq!(b % align_of::<libc::c_long>(), 0);
                assert!(b >= base && b + size_of::<MsgBuf<T>>() <= end);
            }
        }
    }

    #[test]
    fn staging_copies_are_mutually_aligned_and_in_bounds() {
        check_placement::<[u8; 4096]>();
        check_placement::<[u8; 3]>();
        check_placement::<u64>();
        check_placement::<u128>();
    }
}
