//! A subscriber for tools: [`AnySubscriber`] receives the bytes of a topic's samples
//! whatever their type, with the schema the topic carries to decode them.

use std::time::Duration;

use super::subscriber::SubEnd;
use super::SegBoard;
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::schema::AnySample;
use crate::schema::SchemaTree;
use crate::shm::layout::{SegmentKind, Shape};
use crate::shm::options::Options;
use crate::shm::segment::Segment;

/// A subscriber to a topic of any type: each sample arrives as its bytes, to be decoded
/// with the schema the topic carries ([`AnySubscriber::schema`], and
/// [`Value`](crate::schema::Value)). It is what the `ipc tail` command and bridges use;
/// a program that knows its type uses [`Subscriber`](super::Subscriber).
///
/// It joins the topic as any subscriber does (it takes one of the topic's
/// [`max_subscribers`](Options::max_subscribers) places, and under
/// [`Overflow::Block`](super::Overflow::Block) the publisher waits for it as for the
/// others), and it copies each sample out of shared memory before it hands the bytes
/// over: nothing a peer writes later changes them. No bit pattern is checked here; the
/// schema's decoder checks each one.
///
/// ```no_run
/// let mut sub = ipc::shm::AnySubscriber::open("orders")?;
/// println!("{}", sub.schema().declaration());
/// loop {
///     let sample = sub.recv()?;
///     println!("{}", sample.decode()?.to_json());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AnySubscriber {
    end: SubEnd,
    tree: SchemaTree,
    shape: Shape,
    /// A sample's bytes, copied out of its chunk.
    scratch: Box<[u8]>,
}

// SAFETY: as for `Subscriber`: the pointers in its board point into the mapping that its
// own segment keeps, and nothing of it is tied to the thread that opened it.
unsafe impl Send for AnySubscriber {}

impl core::fmt::Debug for AnySubscriber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AnySubscriber")
            .field("schema", &self.tree.name())
            .field("missed", &self.end.missed())
            .finish_non_exhaustive()
    }
}

impl AnySubscriber {
    /// Subscribes to the existing topic `name`, whatever it carries: receives what is
    /// published from now on, after the topic's history.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Corrupt`] if the topic carries no schema that its
    /// header vouches for; [`Error::Busy`] if it has its maximum of subscribers.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`AnySubscriber::open`], with `opts` (wait strategy, open timeout).
    ///
    /// # Errors
    ///
    /// As [`AnySubscriber::open`].
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        let seg = Segment::open(name, &opts, &opts.appear_wait())?;
        let (layout, shape, tree) = seg.check_any(SegmentKind::Topic)?;
        let base = core::ptr::NonNull::new(seg.base())
            .ok_or_else(|| Error::Corrupt("null mapping".into()))?;
        // SAFETY: `check_any` computed the layout locally from the shape that the
        // segment's schema vouches for and the header's capacity and subscriber count,
        // and found the mapping at least `total_size` long; the segment outlives the
        // board (it is the last field of `SubEnd`).
        let board = unsafe { SegBoard::new(base, &layout, &shape) };
        let bytes = match shape.max_len {
            Some(n) => n.saturating_mul(shape.size),
            None => shape.size,
        };
        let scratch = crate::shm::scratch::zeroed_bytes(bytes)?;
        let end = SubEnd::attach(seg, board, &opts, None)?;
        Ok(AnySubscriber {
            end,
            tree,
            shape,
            scratch,
        })
    }

    /// The schema of the topic's messages (of a slice's elements), as the topic carries
    /// it.
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// The most elements a sample holds if the topic carries slices of its schema's type;
    /// `None` if it carries one message per sample.
    pub fn max_len(&self) -> Option<usize> {
        self.shape.max_len.map(|n| n as usize)
    }

    /// Receives the next sample, waiting for it: its bytes (one message, or a slice's
    /// elements back to back, at most [`max_len`](Self::max_len) of them), to decode
    /// with [`AnySample::decode`].
    ///
    /// # Errors
    ///
    /// As [`Subscriber::recv`](super::Subscriber::recv): [`Error::Lagged`],
    /// [`Error::Disconnected`] once the publisher left and every sample is read,
    /// [`Error::Corrupt`], [`Error::Shutdown`].
    pub fn recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::Forever)
    }

    /// Receives a sample if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; as [`AnySubscriber::recv`] otherwise.
    pub fn try_recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::Now)
    }

    /// Receives a sample, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`AnySubscriber::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::timeout(timeout))
    }

    /// Samples this subscriber missed (lagged) since it joined.
    pub fn missed(&self) -> u64 {
        self.end.missed()
    }

    /// Samples published and not yet received by this subscriber (a snapshot).
    pub fn pending(&self) -> u64 {
        self.end.pending()
    }

    /// The position in the topic of the sample the next receive returns (unless that
    /// receive finds this subscriber lagged, and skips): how many samples the publisher
    /// published before it. Positions only grow, whoever subscribes: a bridge that
    /// carries the topic elsewhere numbers its samples by them, so that what it did not
    /// carry (while it was not attached, or lagged) shows as a gap on the other side.
    pub fn position(&self) -> u64 {
        self.end.position()
    }

    fn recv_until(&mut self, until: &Wait) -> Result<AnySample<'_>> {
        let chunk = self.end.next(until)?;
        let len = match self.shape.max_len {
            Some(_) => self.end.slice_len(chunk)? * self.shape.size,
            None => self.shape.size,
        } as usize;
        let src = self.end.board.payload(chunk, self.shape.max_len.is_some());
        // SAFETY: the chunk is published at our cursor and kept for us until the cursor
        // moves (just below); `src` is the start of its message or elements, and `len` is
        // at most one message or `max_len` elements (checked by `slice_len`), all inside
        // the chunk and the mapping, as is `scratch` long enough for them; the scratch is
        // private to this process, so the two do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, self.scratch.as_mut_ptr(), len) };
        self.end.step();
        Ok(AnySample::new(
            &self.scratch[..len],
            &self.tree,
            self.shape.max_len.is_some(),
        ))
    }
}
