//! An opener's check of a segment's header: magic, version, kind, the schema (the
//! opener's own, or the one the segment carries for an opener of any type), and a layout
//! computed locally that must be the header's and fit in the file.

use super::{encoded_schema, Layout, Meta, SegmentKind, Shape, MAGIC, VERSION};
use crate::error::{Error, Result};
use crate::payload::Payload;
use crate::schema::SchemaTree;

impl Meta {
    /// Checks a header read from a segment against what this process expects of a
    /// segment of `kind` holding `P`; returns the validated layout and the shape (a
    /// slice's maximum length is the creator's, read from the header and checked against
    /// the mapping's length).
    ///
    /// `file_len` is the segment's length from `fstat` (what is mapped).
    pub(crate) fn check<P: ?Sized + Payload>(
        &self,
        kind: SegmentKind,
        file_len: u64,
        theirs: Option<&[u8]>,
    ) -> Result<(Layout, Shape)> {
        self.check_kind(kind)?;
        let mine = encoded_schema::<P>()?;
        let shape = Shape::of::<P>(self.max_len).with_schema(&mine);
        if self.fingerprint != shape.fingerprint
            || self.msg_size != shape.size
            || self.msg_align != shape.align
        {
            // Name the first field that differs, where the peer's schema decodes.
            let difference = theirs
                .and_then(|bytes| SchemaTree::decode(bytes).ok())
                .zip(SchemaTree::decode(&mine).ok())
                .and_then(|(their, our)| our.first_difference(&their))
                .map(|d| d.to_string().into_boxed_str());
            return Err(Error::mismatch(
                P::schema_id(),
                self.schema_id(),
                difference,
            ));
        }
        if (P::IS_SLICE && self.max_len == 0) || (!P::IS_SLICE && self.max_len != 0) {
            return Err(Error::Corrupt(format!(
                "header max_len {} fits no {}",
                self.max_len,
                if P::IS_SLICE { "slice" } else { "message" }
            )));
        }
        let layout = self.check_layout(kind, file_len, &shape)?;
        Ok((layout, shape))
    }

    /// Checks a header read from a segment of `kind` whose type this process does not
    /// know: the schema the segment carries (`theirs`) must decode, and its fingerprint,
    /// size and alignment must be the header's; the layout is then computed from that
    /// shape and checked as [`Meta::check`] does. Returns the layout, the shape and the
    /// schema tree.
    pub(crate) fn check_any(
        &self,
        kind: SegmentKind,
        file_len: u64,
        theirs: Option<&[u8]>,
    ) -> Result<(Layout, Shape, SchemaTree)> {
        self.check_kind(kind)?;
        let bytes = theirs.ok_or_else(|| {
            Error::Corrupt(
                "the segment carries no schema its header can vouch for (its length is 0, \
                 too large, or beyond the file)"
                    .into(),
            )
        })?;
        let tree = SchemaTree::decode(bytes).map_err(|e| {
            Error::Corrupt(format!(
                "the schema the segment carries does not decode: {e}"
            ))
        })?;
        let slice = self.max_len != 0;
        let fingerprint = if slice {
            crate::message::slice_fingerprint(tree.fingerprint())
        } else {
            tree.fingerprint()
        };
        if fingerprint != self.fingerprint
            || tree.size() as u64 != self.msg_size
            || tree.align() as u64 != self.msg_align
        {
            return Err(Error::Corrupt(format!(
                "the schema the segment carries ({}: fingerprint {fingerprint:#018x}, {} \
                 bytes, align {}) is not the one its header names ({:#018x}, {} bytes, \
                 align {}): another process wrote over the header",
                tree.name(),
                tree.size(),
                tree.align(),
                self.fingerprint,
                self.msg_size,
                self.msg_align
            )));
        }
        if kind == SegmentKind::Shared && slice {
            return Err(Error::Corrupt("a shared value is no slice".into()));
        }
        let shape = Shape {
            fingerprint,
            size: self.msg_size,
            align: self.msg_align,
            max_len: slice.then_some(self.max_len),
            schema_len: bytes.len() as u64,
        };
        let layout = self.check_layout(kind, file_len, &shape)?;
        Ok((layout, shape, tree))
    }

    /// The magic, version and kind of the header.
    fn check_kind(&self, kind: SegmentKind) -> Result<()> {
        if self.magic != MAGIC {
            return Err(Error::Corrupt(format!(
                "not an ipc shared-memory segment (magic {:#018x}); another program owns this name, \
                 or the header was overwritten",
                self.magic
            )));
        }
        if self.version != VERSION {
            return Err(Error::Corrupt(format!(
                "segment format version {} is not the version this build reads ({VERSION}); \
                 build both programs with the same version of ipc",
                self.version
            )));
        }
        if self.kind != kind as u32 {
            return Err(Error::Corrupt(format!(
                "segment holds a {} but a {} was asked for",
                kind_name(self.kind),
                kind_name(kind as u32)
            )));
        }
        Ok(())
    }

    /// The layout of a segment of `kind` holding `shape`, computed locally from the
    /// header's capacity and subscriber count, which must be the header's own layout and
    /// fit in the file's `file_len` bytes.
    fn check_layout(&self, kind: SegmentKind, file_len: u64, shape: &Shape) -> Result<Layout> {
        let expected = match kind {
            SegmentKind::Channel => {
                if self.capacity < 2 || !self.capacity.is_power_of_two() {
                    return Err(Error::Corrupt(format!(
                        "header capacity {} is not a power of two >= 2",
                        self.capacity
                    )));
                }
                Layout::channel(shape, self.capacity)
                    .map_err(|_| Error::Corrupt("header capacity is too large".into()))?
            }
            SegmentKind::Shared => Layout::shared_of(shape)?,
            SegmentKind::Topic => {
                if self.capacity < 2
                    || !self.capacity.is_power_of_two()
                    || !(1..=crate::shm::topic::MAX_SUBSCRIBERS as u32).contains(&self.subscribers)
                {
                    return Err(Error::Corrupt(format!(
                        "header capacity {} or subscriber count {} fits no topic",
                        self.capacity, self.subscribers
                    )));
                }
                Layout::topic(shape, self.capacity, u64::from(self.subscribers))
                    .map_err(|_| Error::Corrupt("header capacity is too large".into()))?
            }
        };
        let found = Layout {
            kind,
            capacity: self.capacity,
            stride: self.stride,
            payload_offset: self.payload_offset,
            body_offset: self.body_offset,
            // Not in the header: it follows from the rest (the total size covers it).
            packed_offset: expected.packed_offset,
            total_size: self.total_size,
            subscribers: u64::from(self.subscribers),
        };
        if found != expected {
            return Err(Error::Corrupt(format!(
                "header layout {found:?} is not the layout of this type, {expected:?}"
            )));
        }
        if file_len < expected.total_size {
            return Err(Error::Corrupt(format!(
                "segment is truncated: {file_len} bytes, its header needs {}",
                expected.total_size
            )));
        }
        Ok(expected)
    }
}

fn kind_name(k: u32) -> String {
    match k {
        1 => "channel".into(),
        2 => "shared value".into(),
        3 => "topic".into(),
        k => format!("segment of unknown kind {k}"),
    }
}
