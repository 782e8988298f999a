//! The binary form of a [`SchemaTree`] (described in the module docs): writing it, and
//! reading it back from untrusted bytes without panicking, with every count checked
//! against the bytes that remain before anything is allocated for it.

use super::check::{self, Path, MAX_ALIGN};
use super::{Node, Primitive, SchemaError, SchemaTree, TreeField, TreeVariant};

/// The version of the encoding that [`SchemaTree::encode`] writes, its first byte.
pub const FORMAT_VERSION: u8 = 1;

const PRIMITIVE: u8 = 1;
const ARRAY: u8 = 2;
const STR: u8 = 3;
const STRUCT: u8 = 4;
const ENUM: u8 = 5;

/// The fewest bytes a struct field takes: a name's length and a byte of it, an offset,
/// and the smallest node (a `FixedStr`: tag and capacity).
const MIN_FIELD_BYTES: usize = 5;
/// The fewest bytes an enum variant takes: a name's length, a byte of it, a discriminant.
const MIN_VARIANT_BYTES: usize = 3;

impl SchemaTree {
    /// The tree in the compact binary form of the [module docs](super): a version byte,
    /// the tree in pre-order, its fingerprint.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![FORMAT_VERSION];
        write_node(self, &mut out);
        out.extend_from_slice(&self.fingerprint().to_le_bytes());
        out
    }

    /// [`SchemaTree::encode`], if the result fits in `max_bytes` (a header's room, say).
    ///
    /// # Errors
    ///
    /// [`SchemaError::TooLarge`] with the length it would take.
    pub fn encode_within(&self, max_bytes: usize) -> Result<Vec<u8>, SchemaError> {
        let out = self.encode();
        if out.len() > max_bytes {
            return Err(SchemaError::TooLarge {
                name: self.to_string(),
                needed: out.len(),
                budget: max_bytes,
            });
        }
        Ok(out)
    }

    /// Reads a tree written by [`SchemaTree::encode`], checking it as the [module
    /// docs](super) say.
    ///
    /// It never panics, and allocates at most a small multiple of `bytes.len()`: every
    /// count in the input is checked against the bytes left before room is made for it.
    ///
    /// # Errors
    ///
    /// [`SchemaError`]: an unknown version, bytes that do not follow the format (where),
    /// a tree that is too deep or inconsistent (which type or field), or a fingerprint
    /// that is not the tree's.
    pub fn decode(bytes: &[u8]) -> Result<SchemaTree, SchemaError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        let version = r.byte("the format version")?;
        if version != FORMAT_VERSION {
            return Err(SchemaError::Version { found: version });
        }
        let tree = r.node(&mut Path::new(), 1)?;
        let mut stored = [0; 8];
        for b in &mut stored {
            *b = r.byte("the fingerprint")?;
        }
        if r.pos != bytes.len() {
            return Err(r.malformed(
                r.pos,
                format!("{} bytes after the fingerprint", bytes.len() - r.pos),
            ));
        }
        let (stored, computed) = (u64::from_le_bytes(stored), tree.fingerprint());
        if stored != computed {
            return Err(SchemaError::Fingerprint { stored, computed });
        }
        Ok(tree)
    }
}

fn write_node(tree: &SchemaTree, out: &mut Vec<u8>) {
    match &tree.0 {
        Node::Primitive { primitive, align } => {
            out.extend_from_slice(&[PRIMITIVE, primitive.code()]);
            write_align(*align, out);
        }
        Node::Array { element, len, .. } => {
            out.push(ARRAY);
            write_uvarint(*len as u128, out);
            write_node(element, out);
        }
        Node::Str { capacity } => {
            out.push(STR);
            write_uvarint(*capacity as u128, out);
        }
        Node::Struct {
            name,
            size,
            align,
            fields,
        } => {
            out.push(STRUCT);
            write_str(name, out);
            write_uvarint(*size as u128, out);
            write_align(*align, out);
            write_uvarint(fields.len() as u128, out);
            for f in fields {
                write_str(&f.name, out);
                write_uvarint(f.offset as u128, out);
                write_node(&f.tree, out);
            }
        }
        Node::Enum {
            name,
            repr,
            align,
            variants,
        } => {
            out.push(ENUM);
            write_str(name, out);
            out.push(repr.code());
            write_align(*align, out);
            write_uvarint(variants.len() as u128, out);
            for v in variants {
                write_str(&v.name, out);
                // Zigzag: small magnitudes of either sign take few bytes.
                write_uvarint(((v.value << 1) ^ (v.value >> 127)) as u128, out);
            }
        }
    }
}

fn write_uvarint(mut v: u128, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    write_uvarint(s.len() as u128, out);
    out.extend_from_slice(s.as_bytes());
}

fn write_align(align: usize, out: &mut Vec<u8>) {
    out.push(align.trailing_zeros() as u8);
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn malformed(&self, at: usize, problem: impl Into<String>) -> SchemaError {
        SchemaError::Malformed {
            at,
            problem: problem.into(),
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, SchemaError> {
        let Some(&b) = self.buf.get(self.pos) else {
            return Err(SchemaError::Truncated {
                at: self.buf.len(),
                what,
            });
        };
        self.pos += 1;
        Ok(b)
    }

    /// An unsigned LEB128 number of at most `bits` bits, in its shortest form.
    fn varint(&mut self, bits: u32, what: &'static str) -> Result<u128, SchemaError> {
        let start = self.pos;
        let mut v: u128 = 0;
        let mut shift = 0;
        loop {
            let at = self.pos;
            let b = self.byte(what)?;
            let low = u128::from(b & 0x7f);
            if shift >= bits || (bits - shift < 7 && low >> (bits - shift) != 0) {
                return Err(self.malformed(start, format!("{what} does not fit in {bits} bits")));
            }
            v |= low << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(self.malformed(at, format!("{what} is not in its shortest form")));
                }
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn usize(&mut self, what: &'static str) -> Result<usize, SchemaError> {
        let start = self.pos;
        let v = self.varint(64, what)?;
        usize::try_from(v)
            .map_err(|_| self.malformed(start, format!("{what} {v} is too large for this machine")))
    }

    /// A count of items that take at least `min_bytes` each: more than the bytes left can
    /// hold is an error, so that room made for them is bounded by the input.
    fn count(&mut self, min_bytes: usize, what: &'static str) -> Result<usize, SchemaError> {
        let start = self.pos;
        let n = self.usize(what)?;
        if n > self.remaining() / min_bytes {
            return Err(self.malformed(
                start,
                format!("{n} {what}, but only {} bytes are left", self.remaining()),
            ));
        }
        Ok(n)
    }

    fn string(&mut self, what: &'static str) -> Result<String, SchemaError> {
        let len = self.usize(what)?;
        if len > self.remaining() {
            return Err(SchemaError::Truncated {
                at: self.buf.len(),
                what,
            });
        }
        let bytes = &self.buf[self.pos..self.pos + len];
        let s = core::str::from_utf8(bytes).map_err(|e| {
            self.malformed(self.pos + e.valid_up_to(), format!("{what} is not UTF-8"))
        })?;
        self.pos += len;
        Ok(s.to_owned())
    }

    fn align(&mut self) -> Result<usize, SchemaError> {
        let at = self.pos;
        let log2 = self.byte("an alignment")?;
        if log2 > MAX_ALIGN.trailing_zeros() as u8 {
            return Err(self.malformed(at, format!("alignment 2^{log2} is more than 2^29")));
        }
        Ok(1 << log2)
    }

    fn primitive(&mut self) -> Result<Primitive, SchemaError> {
        let at = self.pos;
        let code = self.byte("a primitive kind")?;
        Primitive::from_code(code)
            .ok_or_else(|| self.malformed(at, format!("unknown primitive kind {code}")))
    }

    /// A named type's name, checked before it joins the path; at the root, the path.
    fn type_name(&mut self, path: &mut Path, what: &'static str) -> Result<String, SchemaError> {
        let name = self.string(what)?;
        if path.is_root() {
            check::check_name(path, "type", &name)?;
            path.field(&name);
        }
        Ok(name)
    }

    /// The node at `depth` (the top type is at 1), whose path is `path` unless it is the
    /// root, whose name joins the path once read.
    fn node(&mut self, path: &mut Path, depth: usize) -> Result<SchemaTree, SchemaError> {
        path.too_deep(depth)?;
        let at = self.pos;
        match self.byte("a node's tag")? {
            PRIMITIVE => {
                let p = self.primitive()?;
                if path.is_root() {
                    path.field(p.name());
                }
                let align = self.align()?;
                check::primitive(path, p, align)
            }
            ARRAY => {
                let len = self.usize("an array's length")?;
                if path.is_root() {
                    path.field("array");
                }
                let mark = path.element();
                let element = self.node(path, depth + 1)?;
                path.restore(mark);
                check::array(path, element, len)
            }
            STR => {
                let capacity = self.usize("a FixedStr's capacity")?;
                if path.is_root() {
                    path.field("FixedStr");
                }
                check::string(path, capacity)
            }
            STRUCT => {
                let name = self.type_name(path, "a struct's name")?;
                let size = self.usize("a struct's size")?;
                let align = self.align()?;
                let n = self.count(MIN_FIELD_BYTES, "fields")?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    let fname = self.string("a field's name")?;
                    check::check_name(path, "field", &fname)?;
                    let mark = path.field(&fname);
                    let offset = self.usize("a field's offset")?;
                    let tree = self.node(path, depth + 1)?;
                    path.restore(mark);
                    fields.push(TreeField {
                        name: fname,
                        offset,
                        tree,
                    });
                }
                check::structure(path, name, size, align, fields)
            }
            ENUM => {
                let name = self.type_name(path, "an enum's name")?;
                let repr = self.primitive()?;
                let align = self.align()?;
                let n = self.count(MIN_VARIANT_BYTES, "variants")?;
                let mut variants = Vec::with_capacity(n);
                for _ in 0..n {
                    let vname = self.string("a variant's name")?;
                    let zigzag = self.varint(128, "a discriminant")?;
                    let value = (zigzag >> 1) as i128 ^ -((zigzag & 1) as i128);
                    variants.push(TreeVariant { name: vname, value });
                }
                check::enumeration(path, name, repr, align, variants)
            }
            tag => Err(self.malformed(at, format!("unknown node tag {tag}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], bits: u32) -> Result<u128, SchemaError> {
        Reader { buf: bytes, pos: 0 }.varint(bits, "n")
    }

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0, 1, 127, 128, 300, u64::MAX as u128, u128::MAX] {
            let mut out = Vec::new();
            write_uvarint(v, &mut out);
            assert_eq!(read(&out, 128), Ok(v));
        }
        let mut out = Vec::new();
        write_uvarint(u64::MAX as u128, &mut out);
        assert_eq!(out.len(), 10);
        assert_eq!(read(&out, 64), Ok(u64::MAX as u128));
    }

    #[test]
    fn varints_refuse_overflow_and_long_forms() {
        let mut out = Vec::new();
        write_uvarint(1 << 64, &mut out);
        assert!(read(&out, 64).is_err());
        assert!(read(&[0x80, 0x00], 64).is_err(), "0 in two bytes");
        assert!(read(&[0x81, 0x80, 0x00], 64).is_err());
        assert!(read(&[0xff; 30], 128).is_err());
        assert!(matches!(
            read(&[0x80], 64),
            Err(SchemaError::Truncated { at: 1, .. })
        ));
    }

    #[test]
    fn zigzag_keeps_the_sign() {
        for v in [
            0i128,
            -1,
            1,
            i64::MIN.into(),
            u64::MAX.into(),
            i128::MIN,
            i128::MAX,
        ] {
            let z = ((v << 1) ^ (v >> 127)) as u128;
            assert_eq!((z >> 1) as i128 ^ -((z & 1) as i128), v);
        }
    }
}
