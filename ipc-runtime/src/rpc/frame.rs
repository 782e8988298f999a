//! The frames of a generated service ([`Frame`]), and the steps of a call and of a
//! dispatch that every service shares. Only [`Frame`] is public API; the rest is used by
//! the code `#[ipc::service]` generates.
//!
//! A request and a response are each one `#[repr(C)]` message: a header (sequence
//! number, method id, outcome), padding up to the largest alignment of the argument (or
//! result) types, a zero-sized struct of zero-length arrays that puts every method's
//! name and types into the schema, and a body of bytes as long as the largest argument
//! struct (or result) rounded up to that alignment. The body holds the bytes of the
//! called method's argument struct (or result), which are copied out of the frame and
//! validated as that type when they are read: a frame read in place in shared memory may
//! still be written by its sender, so its bytes are never validated where they lie.
//!
//! A frame written in place (a slot of a ring, lent again and again) holds the bytes of
//! an earlier frame: [`fill`] writes every byte of it, the header, the value and zeros
//! after it, so nothing stale is sent.

use core::mem::size_of;
use std::time::Duration;

use super::{AsyncCall, Call, Reply};
use crate::error::{Error, Result};
use crate::message::{as_bytes, from_shared_bytes, Message};

/// The call succeeded: the body holds the method's result (or the `Ok` of a `Result`).
pub const OK: u16 = 0;
/// The handler returned `Err`: the body holds the error.
pub const ERR: u16 = 1;
/// The request named no method of the service; the connection is closed.
pub const UNKNOWN_METHOD: u16 = 2;
/// The request's argument bytes are no value of the method's arguments; the connection
/// is closed.
pub const INVALID_ARGS: u16 = 3;

/// A request or response of a service that `#[ipc::service]` generates: a header (call
/// number, method id, outcome) and a body of bytes. [`Call::call_in_place`] and
/// [`Serve::serve_in_place`](super::Serve::serve_in_place) lend them in place. Implemented
/// by the generated frames only.
pub trait Frame: Message {
    /// A frame with this header and a zeroed body.
    fn new(seq: u32, method: u16, outcome: u16) -> Self;
    /// Writes the header, the padding after it zeroed; the body is left as it is.
    fn set_header(&mut self, seq: u32, method: u16, outcome: u16);
    /// The sequence number of the call.
    fn seq(&self) -> u32;
    /// The method id (1 for the trait's first method).
    fn method(&self) -> u16;
    /// `OK`, `ERR`, `UNKNOWN_METHOD` or `INVALID_ARGS` (always `OK` in a request).
    fn outcome(&self) -> u16;
    /// The body.
    fn body(&self) -> &[u8];
    /// The body, to write.
    fn body_mut(&mut self) -> &mut [u8];
}

/// Writes every byte of `out`: the header, `value`'s bytes at the start of the body and
/// zeros after them, so that nothing of what `out` held before (an earlier frame, in a
/// slot that is reused) is sent.
#[inline]
pub fn fill<F: Frame, T: Message>(out: &mut F, seq: u32, method: u16, outcome: u16, value: &T) {
    out.set_header(seq, method, outcome);
    let (head, tail) = out.body_mut().split_at_mut(size_of::<T>());
    head.copy_from_slice(as_bytes(value));
    tail.fill(0);
}

/// Calls `method` with `args` through `transport`, the request written and the answer
/// read in place ([`Call::call_in_place`]); returns what `decode` makes of the answer,
/// once it is checked to answer this call without a refusal.
///
/// # Errors
///
/// The transport's; [`Error::Corrupt`] for an answer to another call;
/// [`Error::Refused`] if the server refused the call; `decode`'s.
#[inline]
pub fn call<Req, Resp, A, T, Tr>(
    transport: &mut Tr,
    seq: &mut u32,
    method: u16,
    args: &A,
    timeout: Option<Duration>,
    decode: impl Fn(&Resp) -> Result<T>,
) -> Result<T>
where
    Req: Frame,
    Resp: Frame,
    A: Message,
    Tr: Call<Req, Resp> + ?Sized,
{
    *seq = seq.wrapping_add(1);
    let this = *seq;
    let mut out = None;
    transport.call_in_place(
        &mut |req: &mut Req| fill(req, this, method, OK, args),
        &mut |resp: &Resp| {
            answer_to(resp, this, method)?;
            out = Some(decode(resp)?);
            Ok(())
        },
        timeout,
    )?;
    out.ok_or_else(|| {
        Error::Corrupt("the transport's call returned without reading an answer".into())
    })
}

/// As [`call`], through an async transport (by value: the request is built on the stack,
/// the answer returned).
///
/// # Errors
///
/// As [`call`].
pub async fn call_async<Req, Resp, A, T, Tr>(
    transport: &mut Tr,
    seq: &mut u32,
    method: u16,
    args: &A,
    timeout: Option<Duration>,
    decode: impl Fn(&Resp) -> Result<T>,
) -> Result<T>
where
    Req: Frame,
    Resp: Frame,
    A: Message,
    Tr: AsyncCall<Req, Resp> + ?Sized,
{
    *seq = seq.wrapping_add(1);
    let mut req = Req::new(0, 0, 0);
    fill(&mut req, *seq, method, OK, args);
    let resp = match timeout {
        None => transport.call(req).await?,
        Some(t) => transport.call_timeout(req, t).await?,
    };
    answer_to(&resp, *seq, method)?;
    decode(&resp)
}

/// Checks that `resp` answers call `seq` of `method` without a refusal. Each header
/// field is read once (the frame may lie in shared memory).
#[inline]
fn answer_to<Resp: Frame>(resp: &Resp, seq: u32, method: u16) -> Result<()> {
    let (got_seq, got_method, outcome) = (resp.seq(), resp.method(), resp.outcome());
    if got_seq != seq {
        return Err(Error::Corrupt(format!(
            "the answer to call {seq} is the answer to call {got_seq}: the server does not \
             follow the service's protocol"
        )));
    }
    let refused = |reason| Error::Refused {
        method: got_method.into(),
        reason,
    };
    match outcome {
        UNKNOWN_METHOD => return Err(refused("the service has no method with this id")),
        INVALID_ARGS => return Err(refused("the arguments are not valid values of their types")),
        OK | ERR => {}
        other => {
            return Err(Error::Corrupt(format!(
                "an answer with outcome {other}, which no server of this version sends"
            )))
        }
    }
    if got_method != method {
        return Err(Error::Corrupt(format!(
            "call {seq} of method #{method} was answered as method #{got_method}: the server \
             does not follow the service's protocol"
        )));
    }
    Ok(())
}

/// The `T` at the start of `frame`'s body, copied out, then validated (the frame may lie
/// in shared memory, where its sender could still write it).
///
/// # Errors
///
/// [`Error::InvalidMessage`] if the bytes are no `T`.
#[inline]
pub fn value<T: Message, F: Frame>(frame: &F) -> Result<T> {
    Ok(from_shared_bytes::<T>(&frame.body()[..size_of::<T>()])?)
}

/// The `Result<T, E>` a response holds: `E` if its outcome is [`ERR`], else `T`.
///
/// # Errors
///
/// [`Error::InvalidMessage`] if the bytes are no `T` (or no `E`).
#[inline]
pub fn result<T: Message, E: Message, F: Frame>(frame: &F) -> Result<core::result::Result<T, E>> {
    Ok(if frame.outcome() == ERR {
        Err(value::<E, F>(frame)?)
    } else {
        Ok(value::<T, F>(frame)?)
    })
}

/// The argument struct `A` a request holds, copied out, then validated (as [`value`]);
/// `None` if its bytes are no `A`.
#[inline]
pub fn args<A: Message, Req: Frame>(req: &Req) -> Option<A> {
    from_shared_bytes::<A>(&req.body()[..size_of::<A>()]).ok()
}

/// Writes into `out` the answer to call `seq` of `method`, with `outcome` ([`OK`] or
/// [`ERR`]) and `value` in its body.
#[inline]
pub fn answer<Resp: Frame, T: Message>(
    out: &mut Resp,
    seq: u32,
    method: u16,
    outcome: u16,
    value: &T,
) -> Reply<()> {
    fill(out, seq, method, outcome, value);
    Reply::Answer(())
}

/// Writes into `out` the refusal of call `seq` of `method` ([`UNKNOWN_METHOD`] or
/// [`INVALID_ARGS`], the body zeroed), after which the connection is closed.
#[inline]
pub fn refuse<Resp: Frame>(out: &mut Resp, seq: u32, method: u16, outcome: u16) -> Reply<()> {
    fill(out, seq, method, outcome, &[0u8; 0]);
    Reply::Close(())
}

/// The largest of `sizes` (0 if none).
pub const fn max(sizes: &[usize]) -> usize {
    let mut max = 0;
    let mut i = 0;
    while i < sizes.len() {
        if sizes[i] > max {
            max = sizes[i];
        }
        i += 1;
    }
    max
}

/// `n` rounded up to a multiple of `align` (a power of two).
pub const fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// The padding to put after field `i` of a `#[repr(C)]` struct whose fields have the
/// `(size, align)` of `fields` and are each followed by their padding: up to the next
/// field's alignment, or after the last field, up to the struct's (the largest).
pub const fn pad_after(fields: &[(usize, usize)], i: usize) -> usize {
    let mut end = 0;
    let mut max_align = 1;
    let mut k = 0;
    while k <= i {
        let (size, align) = fields[k];
        end = round_up(end, align) + size;
        if align > max_align {
            max_align = align;
        }
        k += 1;
    }
    let next = if i + 1 < fields.len() {
        fields[i + 1].1
    } else {
        while k < fields.len() {
            if fields[k].1 > max_align {
                max_align = fields[k].1;
            }
            k += 1;
        }
        max_align
    };
    round_up(end, next) - end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_goes_up_to_the_next_alignment_and_the_struct_end() {
        let fields = [(16, 1), (4, 4), (1, 1), (8, 8)];
        assert_eq!(pad_after(&fields, 0), 0);
        assert_eq!(pad_after(&fields, 1), 0);
        assert_eq!(pad_after(&fields, 2), 3);
        assert_eq!(pad_after(&fields, 3), 0);
        let fields = [(8, 8), (1, 1)];
        assert_eq!(pad_after(&fields, 1), 7);
    }
}
