//! Ends for tools: [`AnySender`] and [`AnyReceiver`] move the bytes of a channel's
//! messages whatever their type, checked by the schema the channel carries.
//!
//! They are a [`Sender`] and a [`Receiver`] whose type parameter (`[u8]`) is only a
//! carrier: the channel was checked and laid out by the shape its own header and schema
//! give (`Segment::check_any`), and only the untyped parts of those ends are used here
//! (claiming and publishing positions, waiting, releasing, joining and leaving); the
//! bytes are read and written by that shape.

use std::time::Duration;

use super::receiver::release;
use super::{Chan, Receiver, Role, Sender};
use crate::deadline::Wait;
use crate::error::{Error, Result};
use crate::schema::AnySample;
use crate::schema::{SchemaTree, Value, ValueError, ValueProblem};
use crate::shm::layout::{SegmentKind, Shape};
use crate::shm::options::Options;
use crate::shm::ring::Peek;
use crate::shm::segment::Segment;
use crate::sync::atomic::Ordering;

/// Opens `name` and joins it in `role` by the shape its header and schema give.
fn open_any(name: &str, opts: &Options, role: Role) -> Result<(Chan, Shape, SchemaTree)> {
    let mut last = None;
    for _ in 0..16 {
        let seg = Segment::open(name, opts, &opts.appear_wait())?;
        let (layout, shape, tree) = seg.check_any(SegmentKind::Channel)?;
        match Chan::join(seg, layout, &shape, opts, role) {
            // As `Chan::open`: the name went to another segment between open and join.
            Err(e @ Error::NotFound { .. }) => last = Some(e),
            Err(e) => return Err(e),
            Ok(chan) => return Ok((chan, shape, tree)),
        }
    }
    Err(last.expect("the loop ran"))
}

/// Checks that `bytes` are one message of `tree` (a slice channel: a whole number of
/// elements, at most `shape.max_len`), each value valid for its type.
fn check_bytes(tree: &SchemaTree, shape: &Shape, bytes: &[u8]) -> Result<u64> {
    let size = shape.size as usize;
    let len = match shape.max_len {
        None => {
            if bytes.len() != size {
                let length = ValueProblem::Length {
                    expected: size,
                    found: bytes.len(),
                };
                return Err(ValueError::new(tree.name().to_owned(), length).into());
            }
            1
        }
        Some(max) => {
            if size == 0 || bytes.len() % size != 0 {
                let length = ValueProblem::Length {
                    expected: (bytes.len() / size.max(1) + 1) * size,
                    found: bytes.len(),
                };
                return Err(ValueError::new(format!("[{}]", tree.name()), length).into());
            }
            let len = (bytes.len() / size) as u64;
            if len > max {
                return Err(Error::too_long(len as usize, max));
            }
            len
        }
    };
    for element in bytes.chunks(size.max(1)) {
        Value::from_bytes(tree, element)?;
    }
    Ok(len)
}

/// A sender to a channel of any type: sends messages given as bytes, each checked by the
/// schema the channel carries before it is sent. It is what the `ipc send` command uses;
/// a program that knows its type uses [`Sender`].
///
/// ```no_run
/// use ipc::schema::Value;
///
/// let mut tx = ipc::shm::AnySender::open("orders")?;
/// let order = Value::from_json(tx.schema(), r#"{"id": 7, "qty": 100}"#)?;
/// tx.send(&order.to_bytes(tx.schema())?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AnySender {
    tx: Sender<[u8]>,
    tree: SchemaTree,
    shape: Shape,
}

impl core::fmt::Debug for AnySender {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AnySender")
            .field("schema", &self.tree.name())
            .finish_non_exhaustive()
    }
}

impl AnySender {
    /// Opens the existing channel `name`, whatever it carries, and joins it as a sender.
    ///
    /// # Errors
    ///
    /// As [`Sender::open`]; [`Error::Corrupt`] if the channel carries no schema that its
    /// header vouches for.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`AnySender::open`], with `opts` (wait strategy, open timeout, linger).
    ///
    /// # Errors
    ///
    /// As [`AnySender::open`].
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        let (chan, shape, tree) = open_any(name, &opts, Role::Sender)?;
        Ok(AnySender {
            tx: Sender::from_chan(chan),
            tree,
            shape,
        })
    }

    /// The schema of the channel's messages (of a slice's elements).
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// The most elements a message holds if the channel carries slices; `None` if it
    /// carries one message of its schema's type each.
    pub fn max_len(&self) -> Option<usize> {
        self.shape.max_len.map(|n| n as usize)
    }

    /// Sends `bytes`, waiting for room: one message (exactly the schema's size), or a
    /// slice's elements back to back.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidValue`] if the bytes are not a message of the schema (a length
    /// that does not fit, a value invalid for its type: an enum discriminant no variant
    /// has, a `bool` that is neither 0 nor 1, ...), and nothing is sent;
    /// [`Error::LimitExceeded`] for a slice above the maximum; as [`Sender::send`]
    /// otherwise.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.send_until(bytes, &Wait::Forever)
    }

    /// Sends `bytes` if there is room now.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is none; as [`AnySender::send`] otherwise.
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<()> {
        self.send_until(bytes, &Wait::Now)
    }

    /// Sends `bytes`, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`AnySender::send`] otherwise.
    pub fn send_timeout(&mut self, bytes: &[u8], timeout: Duration) -> Result<()> {
        self.send_until(bytes, &Wait::timeout(timeout))
    }

    fn send_until(&mut self, bytes: &[u8], until: &Wait) -> Result<()> {
        let len = check_bytes(&self.tree, &self.shape, bytes)?;
        let pos = self.tx.claim(until).map_err(|e| match e {
            Error::Empty => Error::Full,
            e => e,
        })?;
        let ring = &self.tx.chan.ring;
        let region = ring.region();
        let index = ring.index(pos);
        let slice = self.shape.max_len.is_some();
        let dst = region.bytes(index, slice);
        // SAFETY: we hold the claim on `pos`, so nobody else writes or reads the slot
        // until we publish it; the channel's layout gives its payload room for one
        // message of the shape, or `max_len` elements after the length word, and
        // `check_bytes` kept `bytes` within that; `bytes` is the caller's, apart from the
        // mapping.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        if slice {
            region.slice_len(index).store(len, Ordering::Relaxed);
        }
        self.tx.publish(pos, false);
        Ok(())
    }
}

/// The receiver of a channel of any type: takes each message out of the channel as its
/// bytes, to be decoded with the schema the channel carries. It is what `ipc tail --take`
/// uses; it joins as the channel's one receiver, so the channel must have none.
///
/// ```no_run
/// let mut rx = ipc::shm::AnyReceiver::open("orders")?;
/// while let Ok(message) = rx.recv() {
///     println!("{}", message.decode()?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AnyReceiver {
    rx: Receiver<[u8]>,
    tree: SchemaTree,
    shape: Shape,
    /// A message's bytes, copied out of its slot.
    buf: Box<[u8]>,
}

impl core::fmt::Debug for AnyReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AnyReceiver")
            .field("schema", &self.tree.name())
            .finish_non_exhaustive()
    }
}

impl AnyReceiver {
    /// Opens the existing channel `name`, whatever it carries, and joins it as its
    /// receiver.
    ///
    /// # Errors
    ///
    /// As [`Receiver::open`]: [`Error::Busy`] while the channel has a receiver;
    /// [`Error::Corrupt`] if it carries no schema that its header vouches for.
    pub fn open(name: &str) -> Result<Self> {
        Self::open_with(name, Options::new())
    }

    /// As [`AnyReceiver::open`], with `opts` (wait strategy, open timeout).
    ///
    /// # Errors
    ///
    /// As [`AnyReceiver::open`].
    pub fn open_with(name: &str, opts: Options) -> Result<Self> {
        let (chan, shape, tree) = open_any(name, &opts, Role::Receiver)?;
        let bytes = match shape.max_len {
            Some(n) => n.saturating_mul(shape.size),
            None => shape.size,
        };
        Ok(AnyReceiver {
            rx: Receiver::from_chan(chan)?,
            tree,
            shape,
            buf: crate::shm::scratch::zeroed_bytes(bytes)?,
        })
    }

    /// The schema of the channel's messages (of a slice's elements).
    pub fn schema(&self) -> &SchemaTree {
        &self.tree
    }

    /// The most elements a message holds if the channel carries slices; `None` if it
    /// carries one message of its schema's type each.
    pub fn max_len(&self) -> Option<usize> {
        self.shape.max_len.map(|n| n as usize)
    }

    /// Messages waiting (a snapshot).
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// True if no message is waiting (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }

    /// Takes the next message out of the channel, waiting for one: its bytes (one
    /// message, or a slice's elements back to back), copied out of shared memory. They
    /// are not checked here; [`AnySample::decode`] checks every value.
    ///
    /// # Errors
    ///
    /// As [`Receiver::recv`]: [`Error::Disconnected`] once every sender left and no
    /// message is left, [`Error::Corrupt`], [`Error::Shutdown`].
    pub fn recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::Forever)
    }

    /// Takes a message if one is waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Empty`] if none is; as [`AnyReceiver::recv`] otherwise.
    pub fn try_recv(&mut self) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::Now)
    }

    /// Takes a message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none came; as [`AnyReceiver::recv`] otherwise.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<AnySample<'_>> {
        self.recv_until(&Wait::timeout(timeout))
    }

    fn recv_until(&mut self, until: &Wait) -> Result<AnySample<'_>> {
        let rx = &mut self.rx;
        let pos = match rx.peek_head() {
            Ok(Peek::Ready {
                pos,
                cancelled: false,
            }) => {
                rx.head = pos.wrapping_add(1);
                pos
            }
            _ => rx.wait_for_message(until)?,
        };
        let region = rx.chan.ring.region();
        let index = rx.chan.ring.index(pos);
        let slice = self.shape.max_len.is_some();
        let len = if slice {
            // One read, checked before use (as `Receiver` does).
            let len = region.slice_len(index).load(Ordering::Relaxed);
            if len > region.max_len {
                let max = region.max_len;
                release(&rx.chan, &mut rx.read, pos);
                return Err(Error::Corrupt(format!(
                    "a message claims {len} elements, above the channel's maximum of {max}: \
                     its sender does not follow the protocol, or another process wrote over \
                     the channel; the message is skipped"
                )));
            }
            (len * self.shape.size) as usize
        } else {
            self.shape.size as usize
        };
        let src = if rx.packed.contains(pos) {
            // Never a slice: slices have no packed array.
            region.packed().at(pos)
        } else {
            region.bytes(index, slice)
        };
        // SAFETY: the slot at `pos` is published and ours until we release it (just
        // below); `src` is its message or elements, `len` bytes at most one message or
        // `max_len` elements (checked above), inside the mapping; `buf` is as long and
        // private to this process.
        unsafe { core::ptr::copy_nonoverlapping(src, self.buf.as_mut_ptr(), len) };
        release(&rx.chan, &mut rx.read, pos);
        Ok(AnySample::new(&self.buf[..len], &self.tree, slice))
    }
}
