//! The frames of a generated service, and the steps of a call and of a dispatch that
//! every service shares. Not public API: used by the code `#[ipc::service]` generates.
//!
//! A request and a response are each one `#[repr(C)]` message: a header (sequence
//! number, method id, outcome), padding up to the largest alignment of the argument (or
//! result) types, a zero-sized struct of zero-length arrays that puts every method's
//! name and types into the schema, and a body of bytes as long as the largest argument
//! struct (or result) rounded up to that alignment. The body holds the bytes of the
//! called method's argument struct (or result), which are validated as that type when
//! they are read.

use core::mem::size_of;
use std::time::Duration;

use super::{AsyncCall, Call, Reply};
use crate::error::{Error, Result};
use crate::message::{as_bytes, from_bytes, InvalidMessage, Message};

/// The call succeeded: the body holds the method's result (or the `Ok` of a `Result`).
pub const OK: u16 = 0;
/// The handler returned `Err`: the body holds the error.
pub const ERR: u16 = 1;
/// The request named no method of the service; the connection is closed.
pub const UNKNOWN_METHOD: u16 = 2;
/// The request's argument bytes are no value of the method's arguments; the connection
/// is closed.
pub const INVALID_ARGS: u16 = 3;

/// A generated request or response: a header and a body of bytes.
pub trait Frame: Message {
    /// A frame with this header and a zeroed body.
    fn new(seq: u32, method: u16, outcome: u16) -> Self;
    /// The sequence number of the call.
    fn seq(&self) -> u32;
    /// The method id (1 for the trait's first method).
    fn method(&self) -> u16;
    /// [`OK`], [`ERR`], [`UNKNOWN_METHOD`] or [`INVALID_ARGS`] (always [`OK`] in a
    /// request).
    fn outcome(&self) -> u16;
    /// The body.
    fn body(&self) -> &[u8];
    /// The body, to write.
    fn body_mut(&mut self) -> &mut [u8];
}

/// A frame holding `value`'s bytes at the start of its body.
#[inline]
fn frame<F: Frame, T: Message>(seq: u32, method: u16, outcome: u16, value: &T) -> F {
    let mut f = F::new(seq, method, outcome);
    f.body_mut()[..size_of::<T>()].copy_from_slice(as_bytes(value));
    f
}

/// Calls `method` with `args` through `transport`; returns the response after checking
/// that it answers this call, and that the server did not refuse it.
///
/// # Errors
///
/// The transport's; [`Error::Corrupt`] for an answer to another call;
/// [`Error::Refused`] if the server refused the call.
#[inline]
pub fn call<Req: Frame, Resp: Frame, A: Message, Tr: Call<Req, Resp> + ?Sized>(
    transport: &mut Tr,
    seq: &mut u32,
    method: u16,
    args: &A,
    timeout: Option<Duration>,
) -> Result<Resp> {
    let req: Req = next_request(seq, method, args);
    let resp = match timeout {
        None => transport.call(req)?,
        Some(t) => transport.call_timeout(req, t)?,
    };
    answer_to(resp, *seq, method)
}

/// As [`call`], through an async transport.
///
/// # Errors
///
/// As [`call`].
pub async fn call_async<Req, Resp, A, Tr>(
    transport: &mut Tr,
    seq: &mut u32,
    method: u16,
    args: &A,
    timeout: Option<Duration>,
) -> Result<Resp>
where
    Req: Frame,
    Resp: Frame,
    A: Message,
    Tr: AsyncCall<Req, Resp> + ?Sized,
{
    let req: Req = next_request(seq, method, args);
    let resp = match timeout {
        None => transport.call(req).await?,
        Some(t) => transport.call_timeout(req, t).await?,
    };
    answer_to(resp, *seq, method)
}

/// The request of the next call (`*seq` advanced) of `method` with `args`.
#[inline]
fn next_request<Req: Frame, A: Message>(seq: &mut u32, method: u16, args: &A) -> Req {
    *seq = seq.wrapping_add(1);
    frame(*seq, method, OK, args)
}

/// `resp`, once it is checked to answer call `seq` of `method` without a refusal.
#[inline]
fn answer_to<Resp: Frame>(resp: Resp, seq: u32, method: u16) -> Result<Resp> {
    if resp.seq() != seq {
        return Err(Error::Corrupt(format!(
            "the answer to call {seq} is the answer to call {}: the server does not follow \
             the service's protocol",
            resp.seq()
        )));
    }
    let refused = |reason| Error::Refused {
        method: resp.method().into(),
        reason,
    };
    match resp.outcome() {
        UNKNOWN_METHOD => return Err(refused("the service has no method with this id")),
        INVALID_ARGS => return Err(refused("the arguments are not valid values of their types")),
        OK | ERR => {}
        other => {
            return Err(Error::Corrupt(format!(
                "an answer with outcome {other}, which no server of this version sends"
            )))
        }
    }
    if resp.method() != method {
        return Err(Error::Corrupt(format!(
            "call {seq} of method #{method} was answered as method #{}: the server does not \
             follow the service's protocol",
            resp.method()
        )));
    }
    Ok(resp)
}

/// The `T` at the start of `frame`'s body, validated.
///
/// # Errors
///
/// [`Error::InvalidMessage`] if the bytes are no `T`.
#[inline]
pub fn value<T: Message, F: Frame>(frame: &F) -> Result<T> {
    Ok(from_bytes::<T>(&frame.body()[..size_of::<T>()])?)
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

/// The argument struct `A` a request holds, or the refusal to send if its bytes are no
/// `A`.
///
/// # Errors
///
/// A [`Reply::Close`] with outcome [`INVALID_ARGS`].
#[inline]
pub fn args<A: Message, Req: Frame, Resp: Frame>(
    req: &Req,
) -> core::result::Result<A, Reply<Resp>> {
    from_bytes::<A>(&req.body()[..size_of::<A>()])
        .map_err(|_: InvalidMessage| refuse(req, INVALID_ARGS))
}

/// The answer to `req` with `outcome` ([`OK`] or [`ERR`]) and `value` in its body.
#[inline]
pub fn answer<Req: Frame, Resp: Frame, T: Message>(
    req: &Req,
    outcome: u16,
    value: &T,
) -> Reply<Resp> {
    Reply::Answer(frame(req.seq(), req.method(), outcome, value))
}

/// The refusal of `req` ([`UNKNOWN_METHOD`] or [`INVALID_ARGS`]), after which the
/// connection is closed.
#[inline]
pub fn refuse<Req: Frame, Resp: Frame>(req: &Req, outcome: u16) -> Reply<Resp> {
    Reply::Close(Resp::new(req.seq(), req.method(), outcome))
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
