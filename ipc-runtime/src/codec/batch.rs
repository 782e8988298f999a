//! Batch records: one header for up to a pipe page of messages.
//!
//! A batched send (`send_all`, a buffered sender) writes its messages of up to 2044
//! bytes in batch records rather than one record each: the header (the message tag with
//! [`BATCH_BIT`] flipped, and the length) is followed by `k` messages back to back, and
//! the length is `k * size_of::<T>()` plus at most `size_of::<T>() - 1` bytes of padding.
//! A full batch record is padded to exactly [`BATCH_LEN`] bytes, a pipe page: a `write` of
//! whole pages of them is cut by the kernel, if at all, between pages, so between records
//! (see [`crate::pipe`]). The header costs 8 bytes per page instead of per message, which
//! halves the bytes of a stream of 8-byte messages.
//!
//! A reader enters a batch record only once all of it is buffered, and then hands out its
//! messages one by one; a record cut short by the end of the stream is never entered.

use super::{message_tag, HEADER_LEN};
use crate::message::{self, Message};

/// The bit that tells a batch record's tag from a message record's: flipped in the
/// message tag of the same schema.
pub(crate) const BATCH_BIT: u32 = 0x4000_0000;

/// The most bytes a batch record takes, header included: a pipe page.
pub const BATCH_LEN: usize = 4096;

/// The tag of a batch record of `T`.
// Not part of the API (hidden): tests of the wire format use it to forge or predict raw
// streams; the transports use it inside the crate.
#[doc(hidden)]
pub const fn batch_tag<T: Message>() -> u32 {
    message_tag::<T>() ^ BATCH_BIT
}

/// How many messages of `T` one batch record holds at most.
pub const fn batch_capacity<T: Message>() -> usize {
    if size_of::<T>() == 0 {
        0
    } else {
        (BATCH_LEN - HEADER_LEN) / size_of::<T>()
    }
}

/// Whether messages of `T` are sent in batch records: at least two fit in one.
pub(crate) const fn batches<T: Message>() -> bool {
    batch_capacity::<T>() >= 2
}

/// Whether a batch record of messages of `size` bytes may announce `len` bytes: at least
/// one message, less than one message of padding, within [`BATCH_LEN`].
pub(crate) const fn is_batch_len(size: usize, len: usize) -> bool {
    size > 0 && len >= size && len <= BATCH_LEN - HEADER_LEN && len % size < size
}

/// Builds batch records at the end of a buffer, one message at a time: the last record
/// stays open (more messages join it) until it is full, when it is padded to
/// [`BATCH_LEN`] bytes, or until [`Batcher::close`].
#[derive(Debug, Default)]
pub(crate) struct Batcher {
    /// Where the open record's header is in the buffer, and how many messages it holds.
    open: Option<(usize, usize)>,
}

impl Batcher {
    /// Appends `msg` to the open record, or to a new one.
    #[inline(always)]
    pub(crate) fn push<T: Message>(&mut self, out: &mut Vec<u8>, msg: &T) {
        self.push_many(out, std::slice::from_ref(msg));
    }

    /// Appends a prefix of `msgs` to the open record, or to a new one, with one copy:
    /// as many as the record takes. Returns how many.
    #[inline(always)]
    pub(crate) fn push_many<T: Message>(&mut self, out: &mut Vec<u8>, msgs: &[T]) -> usize {
        let size = size_of::<T>();
        let cap = const { batch_capacity::<T>() };
        let (at, k) = match self.open {
            Some(open) => open,
            None => {
                let at = out.len();
                out.extend_from_slice(&batch_tag::<T>().to_le_bytes());
                out.extend_from_slice(&0u32.to_le_bytes());
                (at, 0)
            }
        };
        let take = msgs.len().min(cap - k);
        out.extend_from_slice(message::slice_as_bytes(&msgs[..take]));
        let k = k + take;
        let mut len = k * size;
        if k == cap {
            let pad = BATCH_LEN - HEADER_LEN - len;
            out.resize(out.len() + pad, 0);
            len += pad;
            self.open = None;
        } else {
            self.open = Some((at, k));
        }
        out[at + 4..at + HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
        take
    }

    /// Reopens the short record at `at` holding `k` messages (the last in the buffer):
    /// the next message joins it.
    pub(crate) fn reopen(&mut self, at: usize, k: usize) {
        self.open = Some((at, k));
    }

    /// Closes the open record as it is: the next message begins a new one. Done before
    /// any of the buffer is written, so that what is written is whole records only.
    #[inline(always)]
    pub(crate) fn close(&mut self) {
        self.open = None;
    }
}

/// How many messages of `T` the whole batch records in `bytes` hold (full records of
/// [`BATCH_LEN`] bytes, then at most one shorter one).
pub(crate) fn messages_in<T: Message>(records: &[u8]) -> usize {
    let full = records.len() / BATCH_LEN;
    let short = records.len() % BATCH_LEN;
    full * batch_capacity::<T>() + short.saturating_sub(HEADER_LEN) / size_of::<T>().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{hello, write_message, FrameReader};
    use crate::{Error, Result};

    /// A stream of `T`: the handshake, then `msgs` in batch records (closed after every
    /// `every` messages, or when full).
    fn batched<T: Message>(msgs: &[T], every: usize) -> Vec<u8> {
        let mut wire = hello::<T>();
        let mut b = Batcher::default();
        for (i, m) in msgs.iter().enumerate() {
            b.push(&mut wire, m);
            if (i + 1) % every == 0 {
                b.close();
            }
        }
        wire
    }

    /// Everything a reader gets from `wire` with `recv_many` into slices of `chunk`,
    /// errors included, until the end of the stream.
    fn drain<T: Message + Copy + Default>(wire: &[u8], chunk: usize) -> Vec<Result<T>> {
        let mut r = FrameReader::<T>::new();
        let mut src = wire;
        let mut out = vec![T::default(); chunk];
        let mut got = Vec::new();
        loop {
            match r.read_many(&mut src, &mut out) {
                Ok(n) => got.extend(out[..n].iter().map(|&m| Ok(m))),
                Err(Error::Disconnected) => return got,
                Err(e) => got.push(Err(e)),
            }
        }
    }

    fn values<T: Copy>(got: &[Result<T>]) -> Vec<T> {
        got.iter()
            .map(|r| *r.as_ref().expect("a message"))
            .collect()
    }

    #[test]
    fn full_records_are_a_page_and_short_ones_are_exact() {
        let msgs: Vec<u64> = (0..1200).collect();
        let wire = batched(&msgs, usize::MAX);
        let body = &wire[hello::<u64>().len()..];
        // 511 messages per page, twice, then a record of the other 178.
        assert_eq!(body.len(), 2 * BATCH_LEN + HEADER_LEN + 178 * 8);
        assert_eq!(messages_in::<u64>(body), 1200);
        assert_eq!(&body[..4], &batch_tag::<u64>().to_le_bytes());
        assert_eq!(&body[4..8], &4088u32.to_le_bytes());
        // 64-byte messages: 63 per page, 56 bytes of padding.
        assert_eq!(batch_capacity::<[u64; 8]>(), 63);
        assert!(!batches::<[u8; 3000]>());
    }

    #[test]
    fn batches_round_trip_through_every_receive_and_slice_length() {
        let msgs: Vec<u32> = (0..5000).collect();
        for every in [1, 7, 1000, usize::MAX] {
            let wire = batched(&msgs, every);
            for chunk in [1, 3, 256, 4096] {
                assert_eq!(values(&drain::<u32>(&wire, chunk)), msgs, "{every} {chunk}");
            }
            // One at a time, by value, in place and lent.
            let mut r = FrameReader::<u32>::new();
            let mut src = &wire[..];
            for &m in &msgs[..100] {
                assert_eq!(r.read_from(&mut src).unwrap(), m);
            }
            let mut out = 0;
            r.read_into(&mut src, &mut out).unwrap();
            assert_eq!(out, 100);
            let lent = *r
                .recv_ref_with(|b| Ok(std::io::Read::read(&mut src, b).unwrap()))
                .unwrap();
            assert_eq!(lent, 101);
        }
    }

    #[test]
    fn batches_mix_with_single_records_and_a_second_writer() {
        let mut wire = batched(&[1u16, 2, 3], usize::MAX);
        write_message(&mut wire, &4u16).unwrap();
        wire.extend_from_slice(&batched(&[5u16, 6], usize::MAX)); // another writer
        write_message(&mut wire, &7u16).unwrap();
        assert_eq!(values(&drain::<u16>(&wire, 10)), [1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn an_invalid_message_mid_batch_ends_the_batch_and_is_reported_next() {
        let mut wire = batched(&[true, false, true, true], usize::MAX);
        let at = wire.len() - 2; // the third message
        wire[at] = 2;
        let got = drain::<bool>(&wire, 10);
        assert_eq!(values(&got[..2]), [true, false]);
        assert!(
            matches!(got[2], Err(Error::InvalidMessage(_))),
            "{:?}",
            got[2]
        );
        assert_eq!(values(&got[3..]), [true]);
    }

    #[test]
    fn a_batch_cut_short_is_never_entered() {
        let msgs: Vec<u64> = (0..600).collect();
        let mut wire = batched(&msgs, usize::MAX);
        wire.truncate(wire.len() - 5); // the second record loses its end
        let got = drain::<u64>(&wire, 256);
        assert_eq!(values(&got[..511]), &msgs[..511]);
        assert!(
            matches!(&got[511], Err(Error::Corrupt(m)) if m.contains("ended")),
            "{:?}",
            got[511]
        );
        assert_eq!(got.len(), 512);
    }

    #[test]
    fn a_batch_before_the_handshake_is_dropped_with_one_error() {
        let wire = batched(&[1u32, 2], usize::MAX);
        let mut forged = wire[hello::<u32>().len()..].to_vec();
        forged.extend_from_slice(&wire);
        let got = drain::<u32>(&forged, 8);
        assert!(matches!(&got[0], Err(Error::Corrupt(m)) if m.contains("before the handshake")));
        assert_eq!(values(&got[1..]), [1, 2]);
    }

    #[test]
    fn a_refused_writers_batches_are_skipped_whole() {
        let mut wire = batched(&[1u32, 2], usize::MAX);
        wire.extend_from_slice(&batched(&(0..2000u64).collect::<Vec<_>>(), usize::MAX));
        wire.extend_from_slice(&batched(&[3u32], usize::MAX));
        let got = drain::<u32>(&wire, 8);
        assert_eq!(values(&got[..2]), [1, 2]);
        assert!(
            matches!(got[2], Err(Error::SchemaMismatch { .. })),
            "{:?}",
            got[2]
        );
        assert_eq!(values(&got[3..]), [3]);
    }

    #[test]
    fn a_batch_header_with_an_impossible_length_is_out_of_step() {
        let mut wire = hello::<u64>();
        wire.extend_from_slice(&batch_tag::<u64>().to_le_bytes());
        wire.extend_from_slice(&5000u32.to_le_bytes()); // longer than a batch record
        wire.extend_from_slice(&[0; 64]);
        write_message(&mut wire, &9u64).unwrap();
        let got = drain::<u64>(&wire, 8);
        assert!(matches!(got[0], Err(Error::Corrupt(_))), "{:?}", got[0]);
        assert_eq!(values(&got[1..]), [9]);
    }
}
