//! What a sample carries besides the message's bytes: the tag in its attachment, and the
//! key under which a publisher answers with its whole schema.
//!
//! # The tag
//!
//! 29 bytes, little-endian: `ipc` and a format version (`1`), a flags byte (bit 0: the
//! payload is a slice of the schema's type), the schema's fingerprint (of the element,
//! for a slice), the publisher's source id, and the sample's sequence number in that
//! source (0, 1, 2, ...).
//!
//! The fingerprint travels in the attachment rather than in the key expression
//! (`…/@ipc/<fingerprint>`) because a subscriber must *see* a sample of another schema
//! to report it: with the fingerprint in the key, a subscriber would subscribe to its own
//! fingerprint's key and another schema's samples would never reach it — the mismatch
//! would pass silently as silence. In the attachment the key stays the user's own (the
//! same key expressions, access-control rules and storages as untyped Zenoh), every
//! subscriber of the key sees every sample and checks it, and the same tag carries the
//! sequence number that lets a subscriber count what it missed.

/// The tag's length in bytes.
pub(crate) const TAG_LEN: usize = 29;

const MAGIC: [u8; 4] = *b"ipc\x01";

/// The tag of one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tag {
    /// The fingerprint of the schema (of a slice's element).
    pub(crate) fingerprint: u64,
    /// True if the payload is a slice of elements of the schema.
    pub(crate) slice: bool,
    /// Who published it: a publisher's own id, unique in practice.
    pub(crate) source: u64,
    /// Its position in its source's stream.
    pub(crate) seq: u64,
}

impl Tag {
    /// The tag's bytes.
    pub(crate) fn encode(&self) -> [u8; TAG_LEN] {
        let mut b = [0u8; TAG_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4] = u8::from(self.slice);
        b[5..13].copy_from_slice(&self.fingerprint.to_le_bytes());
        b[13..21].copy_from_slice(&self.source.to_le_bytes());
        b[21..29].copy_from_slice(&self.seq.to_le_bytes());
        b
    }

    /// Reads a tag; `None` if `b` is not one (another length, magic or version, or
    /// unknown flags).
    pub(crate) fn decode(b: &[u8]) -> Option<Tag> {
        if b.len() != TAG_LEN || b[..4] != MAGIC || b[4] > 1 {
            return None;
        }
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        Some(Tag {
            slice: b[4] == 1,
            fingerprint: word(5),
            source: word(13),
            seq: word(21),
        })
    }
}

/// The key under which the publishers of `key` answer with the encoded schema tree of
/// `fingerprint` (a verbatim `@ipc` chunk: wildcards of other subscribers and queriers,
/// `key/**`, never match it).
pub(crate) fn schema_key(key: &str, fingerprint: u64) -> String {
    format!("{key}/@ipc/schema/{fingerprint:016x}")
}

/// A 64-bit id from anything hashable, the same in every process of one build
/// (`DefaultHasher::new` has fixed keys; `RandomState` would differ per process).
pub(crate) fn id_of(parts: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// A new source id for a publisher of `key`: random (each `RandomState` has keys of its
/// own), so that two publishers, in one process or on two hosts, never share one in
/// practice.
pub(crate) fn new_source(key: &str) -> u64 {
    use std::hash::BuildHasher;
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one((std::process::id(), n, key))
}

/// Each source's next expected sequence number (the last source's at hand, the others in
/// a map: a stream usually comes from one publisher).
#[derive(Debug, Default)]
pub(crate) struct Sequences {
    last: Option<(u64, u64)>,
    others: std::collections::HashMap<u64, u64>,
}

impl Sequences {
    /// Records sample `seq` of `source`; returns how many of that source's samples were
    /// skipped just before it (0 for the first one seen of a source).
    pub(crate) fn gap(&mut self, source: u64, seq: u64) -> u64 {
        let next = seq.wrapping_add(1);
        let expected = match &mut self.last {
            Some((s, e)) if *s == source => Some(core::mem::replace(e, next)),
            last => {
                if let Some((s, e)) = last.replace((source, next)) {
                    self.others.insert(s, e);
                }
                self.others.remove(&source)
            }
        };
        match expected {
            Some(e) if seq > e => seq - e,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_per_source() {
        let mut s = Sequences::default();
        assert_eq!(s.gap(1, 5), 0); // the first of source 1
        assert_eq!(s.gap(1, 6), 0);
        assert_eq!(s.gap(2, 0), 0); // the first of source 2
        assert_eq!(s.gap(1, 9), 2); // 7 and 8 skipped
        assert_eq!(s.gap(2, 1), 0);
        assert_eq!(s.gap(2, 4), 2);
        assert_eq!(s.gap(1, 10), 0);
    }

    #[test]
    fn a_tag_reads_back_and_nothing_else_reads_as_one() {
        let tag = Tag {
            fingerprint: 0x0123_4567_89ab_cdef,
            slice: true,
            source: 42,
            seq: u64::MAX,
        };
        assert_eq!(Tag::decode(&tag.encode()), Some(tag));
        let mut bad = tag.encode();
        bad[3] = 2; // another version
        assert_eq!(Tag::decode(&bad), None);
        let mut bad = tag.encode();
        bad[4] = 2; // unknown flags
        assert_eq!(Tag::decode(&bad), None);
        assert_eq!(Tag::decode(&tag.encode()[..TAG_LEN - 1]), None);
        assert_eq!(Tag::decode(b""), None);
    }
}
