//! Schema fingerprints: the hash of a type's name, layout and fields (see
//! [`Schema::fingerprint`](super::Schema::fingerprint)), computed in `const fn`.

// The fingerprint's recipe, one piece per kind of schema. Two walks use it: the `const fn`
// `Schema::fingerprint` over the static schema, and `ipc::schema::SchemaTree::fingerprint`
// over an owned tree (decoded from a peer's bytes, say); each walk computes the children's
// fingerprints and hands them to these pieces, so both hash the same bytes in the same
// order and agree by construction.

/// The fingerprint of a primitive (`u32`, `bool`, ...) of the given size and alignment.
pub(crate) const fn primitive_fingerprint(name: &str, size: usize, align: usize) -> u64 {
    Fnv::new()
        .byte(b'P')
        .str(name)
        .usize(size)
        .usize(align)
        .finish()
}

/// The fingerprint of `[T; len]`, where `element` is `T`'s.
pub(crate) const fn array_fingerprint(element: u64, len: usize) -> u64 {
    Fnv::new().byte(b'A').u64(element).usize(len).finish()
}

/// The fingerprint of `FixedStr<capacity>`.
pub(crate) const fn str_fingerprint(capacity: usize) -> u64 {
    Fnv::new().byte(b'S').usize(capacity).finish()
}

/// The fingerprint of a struct, fed its fields in declaration order.
#[derive(Clone, Copy)]
pub(crate) struct StructFingerprint(Fnv);

impl StructFingerprint {
    /// A struct named `name` of `size` bytes, aligned to `align`, with `fields` fields.
    pub(crate) const fn new(name: &str, size: usize, align: usize, fields: usize) -> Self {
        let h = Fnv::new().byte(b'T').str(name).usize(size).usize(align);
        StructFingerprint(h.usize(fields))
    }

    /// The next field: its name, its offset, and its type's fingerprint.
    pub(crate) const fn field(self, name: &str, offset: usize, fingerprint: u64) -> Self {
        StructFingerprint(self.0.str(name).usize(offset).u64(fingerprint))
    }

    pub(crate) const fn finish(self) -> u64 {
        self.0.finish()
    }
}

/// The fingerprint of an enum, fed its variants in declaration order.
#[derive(Clone, Copy)]
pub(crate) struct EnumFingerprint(Fnv);

impl EnumFingerprint {
    /// An enum named `name` whose representation has fingerprint `repr`, with `variants`
    /// variants.
    pub(crate) const fn new(name: &str, repr: u64, variants: usize) -> Self {
        EnumFingerprint(Fnv::new().byte(b'E').str(name).u64(repr).usize(variants))
    }

    /// The next variant: its name and discriminant.
    pub(crate) const fn variant(self, name: &str, value: i128) -> Self {
        EnumFingerprint(self.0.str(name).u128(value as u128))
    }

    pub(crate) const fn finish(self) -> u64 {
        self.0.finish()
    }
}

/// FNV-1a, usable in `const fn`. Every integer is written as 8 (or 16) little-endian
/// bytes and every string with its length first, so the encoding is prefix-free and
/// identical on every platform.
#[derive(Clone, Copy)]
struct Fnv(u64);

/// The fingerprint of a slice of the message whose fingerprint is `element`.
pub(crate) const fn slice_fingerprint(element: u64) -> u64 {
    Fnv::new().byte(b'L').u64(element).finish()
}

impl Fnv {
    const fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    const fn byte(self, b: u8) -> Self {
        Fnv((self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    }
    const fn bytes(mut self, b: &[u8]) -> Self {
        let mut i = 0;
        while i < b.len() {
            self = self.byte(b[i]);
            i += 1;
        }
        self
    }
    const fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    const fn u128(self, v: u128) -> Self {
        self.bytes(&v.to_le_bytes())
    }
    const fn usize(self, v: usize) -> Self {
        self.u64(v as u64)
    }
    const fn str(self, s: &str) -> Self {
        self.usize(s.len()).bytes(s.as_bytes())
    }
    /// SplitMix64's finaliser spreads FNV's weak high bits over the whole word.
    const fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
