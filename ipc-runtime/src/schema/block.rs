//! The encoded schema as a queue's companion file keeps it (a POSIX queue's schema header,
//! a System V queue's registry): a little-endian `u32` length at [`BLOCK_AT`], then the
//! encoded tree, at most [`MAX_BLOCK_BYTES`]. Whoever opens the queue reads it to name the
//! first field that differs from its own type, and the `ipc` command to decode messages.

use std::os::fd::AsFd;

use super::SchemaTree;
use crate::message::Message;

/// Where the block starts: after the record of who has the queue open
/// (`crate::reclaim::record`: its counts at 1024, 16 bytes).
pub(crate) const BLOCK_AT: u64 = crate::reclaim::record::COUNTS + 16;

/// The most bytes of encoded tree a block holds (as a shared-memory segment carries).
pub(crate) const MAX_BLOCK_BYTES: usize = 16 << 10;

/// The block for `T`: its length, then its encoded tree; a length of 0 (no tree) for a
/// type whose tree is larger than [`MAX_BLOCK_BYTES`] or has none.
pub(crate) fn block_of<T: Message>() -> Vec<u8> {
    let tree = SchemaTree::of::<T>()
        .ok()
        .and_then(|t| t.encode_within(MAX_BLOCK_BYTES).ok())
        .unwrap_or_default();
    let mut block = (tree.len() as u32).to_le_bytes().to_vec();
    block.extend_from_slice(&tree);
    block
}

/// The tree the block of file `fd` holds, if it has one that decodes and whose fingerprint
/// is `fingerprint` (what the file says elsewhere): the file is another process's word,
/// read with `pread` within [`MAX_BLOCK_BYTES`] and checked.
pub(crate) fn read_block(fd: impl AsFd, fingerprint: u64) -> Option<SchemaTree> {
    read_any_block(fd).filter(|tree| tree.fingerprint() == fingerprint)
}

/// As [`read_block`], for a file that says nothing else of the type: any tree that
/// decodes.
pub(crate) fn read_any_block(fd: impl AsFd) -> Option<SchemaTree> {
    let mut len = [0u8; 4];
    if nix::sys::uio::pread(&fd, &mut len, BLOCK_AT as libc::off_t).ok()? != 4 {
        return None;
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_BLOCK_BYTES {
        return None;
    }
    let mut bytes = vec![0u8; len];
    if nix::sys::uio::pread(&fd, &mut bytes, (BLOCK_AT + 4) as libc::off_t).ok()? != len {
        return None;
    }
    SchemaTree::decode(&bytes).ok()
}

/// The first field where `T` ("here") differs from `theirs` ("there"), for
/// [`Error::SchemaMismatch`](crate::Error::SchemaMismatch)'s `difference`.
pub(crate) fn difference<T: Message>(theirs: Option<&SchemaTree>) -> Option<Box<str>> {
    let ours = SchemaTree::of::<T>().ok()?;
    let d = ours.first_difference(theirs?)?;
    Some(d.to_string().into_boxed_str())
}
