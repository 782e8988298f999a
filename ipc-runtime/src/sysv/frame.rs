//! What crosses a System V queue: a [`Frame`] (the fingerprint of `T`, then the `T`; or
//! for a foreign peer the bare `T`), behind the `mtype` that `msgsnd`/`msgrcv` need
//! ([`MsgBuf`]), staged on the stack where the one copy of the message runs fast
//! ([`Staging`]).

use std::mem::MaybeUninit;

use crate::error::{Error, Result, SchemaId};
use crate::message::{from_bytes, InvalidMessage, Message};

/// The prefix of a frame of this crate: the 8-byte fingerprint.
pub(super) const TYPED: usize = 8;
/// The prefix of a foreign peer's frame: none (see `Options::foreign`).
pub(super) const FOREIGN: usize = 0;

/// A message as it crosses a queue: a prefix of `P` bytes (the fingerprint of `T` when
/// `P` is [`TYPED`], nothing for a foreign peer), then `T`.
///
/// Packed, so it has no padding: its size is exactly `P + size_of::<T>()` and every byte
/// is initialised (`T: Message` has no padding either).
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub(crate) struct Frame<T, const P: usize = TYPED> {
    pub(super) prefix: [u8; P],
    pub(super) msg: T,
}

impl<T: Message, const P: usize> Frame<T, P> {
    pub(super) const SIZE: usize = size_of::<Frame<T, P>>();

    /// Checks that `bytes` is a whole frame of `T`: its length, its fingerprint (for a
    /// frame of this crate), and the bit patterns of the `T` (unless every pattern is
    /// valid).
    #[inline(always)]
    pub(crate) fn check(bytes: &[u8]) -> Result<()> {
        if bytes.len() == Self::SIZE
            && (P == FOREIGN || bytes[..P] == T::FINGERPRINT.to_le_bytes()[..P])
        {
            if const { T::SCHEMA.accepts_any_bits() } {
                return Ok(());
            }
            return T::validate(&bytes[P..]).map_err(Error::from);
        }
        Err(Self::refusal(bytes))
    }

    /// Why `bytes` is not a frame of `T` (the slow path of [`Frame::check`]).
    #[cold]
    #[inline(never)]
    fn refusal(bytes: &[u8]) -> Error {
        if P == FOREIGN {
            return match from_bytes::<T>(bytes) {
                Err(e) => e.into(),
                Ok(_) => Error::Corrupt("a message refused for no reason (a bug)".into()),
            };
        }
        let not_ours = |why: String| {
            Error::Corrupt(format!(
                "not an `ipc` message (a foreign writer? see `Options::foreign`): {why}"
            ))
        };
        let Some((fp, body)) = bytes.split_first_chunk::<8>() else {
            return not_ours(format!(
                "{} bytes, shorter than the 8-byte fingerprint every message of this crate \
                 starts with",
                bytes.len()
            ));
        };
        let fp = u64::from_le_bytes(*fp);
        if fp != T::FINGERPRINT {
            if bytes.len() == size_of::<T>() {
                // The size of a bare `T`: what a program not built on ipc sends.
                return not_ours(format!(
                    "{} bytes, the size of a bare `{}` without the 8-byte fingerprint every \
                     message of this crate starts with",
                    bytes.len(),
                    T::SCHEMA.name
                ));
            }
            return Error::schema_mismatch::<T>(SchemaId {
                name: "<another type, or not an `ipc` message: a foreign writer? see \
                       `Options::foreign`>"
                    .into(),
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
}

#[cfg(test)]
impl<T: Message> Frame<T> {
    fn new(msg: T) -> Self {
        Frame {
            prefix: T::FINGERPRINT.to_le_bytes(),
            msg,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `Frame<T>` is packed (no padding); its fingerprint is 8 initialised bytes
        // and `T: Message` guarantees every byte of a `T` is initialised; the slice covers
        // exactly `*self` and borrows it.
        unsafe { core::slice::from_raw_parts((self as *const Self).cast::<u8>(), Self::SIZE) }
    }

    /// Checks and copies out the message of `bytes`.
    fn decode(bytes: &[u8]) -> Result<T> {
        Self::check(bytes)?;
        Ok(from_bytes::<T>(&bytes[8..])?)
    }
}

#[cold]
pub(super) fn oversized<T: Message, const P: usize>() -> Error {
    if P == FOREIGN {
        return InvalidMessage::length(T::SCHEMA.name, size_of::<T>(), size_of::<T>() + 1).into();
    }
    Error::Corrupt(format!(
        "a message longer than {} bytes (8-byte fingerprint + `{}`) was truncated and \
         dropped; was it written by another program?",
        Frame::<T, P>::SIZE,
        T::SCHEMA
    ))
}

/// One message as `msgsnd`/`msgrcv` see it: a `c_long` type, then the text (the frame),
/// then one spare byte that an oversized message spills into.
#[repr(C)]
pub(super) struct MsgBuf<T, const P: usize = TYPED> {
    pub(super) mtype: libc::c_long,
    pub(super) text: Frame<T, P>,
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
pub(super) struct Staging<T, const P: usize = TYPED> {
    slack: [u64; 8],
    buf: MsgBuf<T, P>,
}

impl<T, const P: usize> Staging<T, P> {
    /// Where a `T` sits in a [`MsgBuf`]: after the type and the prefix.
    const T_AT: usize = core::mem::offset_of!(MsgBuf<T, P>, text) + P;

    /// The buffer to copy `*src` into: its `T` lies 0 to 7 bytes before `src`, modulo 64.
    #[inline(always)]
    pub(super) fn to_copy_from(this: &mut MaybeUninit<Self>, src: *const T) -> *mut MsgBuf<T, P> {
        Self::place(this, src as usize, 0)
    }

    /// The buffer to copy a `T` out of into `*dst`: its `T` lies 0 to 7 bytes after `dst`,
    /// modulo 64.
    #[inline(always)]
    pub(super) fn to_copy_to(this: &mut MaybeUninit<Self>, dst: *mut T) -> *mut MsgBuf<T, P> {
        Self::place(this, dst as usize, 7)
    }

    #[inline(always)]
    fn place(this: &mut MaybeUninit<Self>, peer: usize, round_up: usize) -> *mut MsgBuf<T, P> {
        let base = this.as_mut_ptr().cast::<u8>();
        let t_at = (base as usize).wrapping_add(Self::T_AT);
        // A multiple of 8 (so the `c_long` stays aligned) below 64 (the slack).
        let off = ((peer.wrapping_sub(t_at) % 64) + round_up) & 56;
        // SAFETY: `off <= 56`, so a `MsgBuf<T, P>` at `base + off` ends within the 64 bytes of
        // slack plus the `buf` field that follow `base`; `base` is 64-aligned and `off` a
        // multiple of 8, so it is aligned for `MsgBuf<T, P>` (alignment `c_long`'s, at most 8).
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

    #[test]
    fn foreign_frames_are_the_bare_message_and_still_checked() {
        assert_eq!(Frame::<u32, FOREIGN>::SIZE, 4);
        Frame::<u32, FOREIGN>::check(&7u32.to_ne_bytes()).unwrap();
        let short = Frame::<u32, FOREIGN>::check(&[1, 2, 3]).unwrap_err();
        assert!(matches!(short, Error::InvalidMessage(_)), "{short:?}");
        let bad = Frame::<bool, FOREIGN>::check(&[2]).unwrap_err();
        assert!(matches!(bad, Error::InvalidMessage(_)), "{bad:?}");
        // A bare value read by a receiver of this crate is named for what it is.
        for bytes in [&5u64.to_ne_bytes()[..], &[1, 2, 3][..]] {
            let e = Frame::<u64>::check(bytes).unwrap_err();
            assert!(e.to_string().contains("not an `ipc` message"), "{e}");
            assert!(e.to_string().contains("Options::foreign"), "{e}");
        }
    }

    /// Every placement leaves the destination of the copy 0 to 7 bytes *before* its source
    /// modulo 64 (never 1 to 31 bytes after it), keeps the `c_long` aligned, and stays
    /// inside the staging buffer.
    fn check_placement<T: Message, const P: usize>() {
        let mut st = MaybeUninit::<Staging<T, P>>::uninit();
        let base = st.as_ptr() as usize;
        let end = base + size_of::<Staging<T, P>>();
        for peer in (0x10_000..0x10_000 + 256usize).map(|a| a as *mut T) {
            for (b, src, dst) in [
                {
                    let b = Staging::to_copy_from(&mut st, peer) as usize;
                    (b, peer as usize, b + Staging::<T, P>::T_AT)
                },
                {
                    let b = Staging::to_copy_to(&mut st, peer) as usize;
                    (b, b + Staging::<T, P>::T_AT, peer as usize)
                },
            ] {
                let ahead = dst.wrapping_sub(src) % 64;
                assert!(
                    ahead == 0 || ahead >= 57,
                    "{peer:?}: dst {ahead} bytes after src"
                );
                assert_eq!(b % align_of::<libc::c_long>(), 0);
                assert!(b >= base && b + size_of::<MsgBuf<T, P>>() <= end);
            }
        }
    }

    #[test]
    fn staging_copies_are_mutually_aligned_and_in_bounds() {
        check_placement::<[u8; 4096], TYPED>();
        check_placement::<[u8; 3], TYPED>();
        check_placement::<u64, TYPED>();
        check_placement::<u128, TYPED>();
        check_placement::<[u8; 4096], FOREIGN>();
        check_placement::<[u8; 3], FOREIGN>();
        check_placement::<u128, FOREIGN>();
    }
}
