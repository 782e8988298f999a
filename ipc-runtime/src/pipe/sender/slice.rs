//! A pipe or FIFO [`Sender`] of slices `[E]`: one record per slice, refused above the
//! sender's maximum length.

use std::fmt;
use std::io::IoSlice;
use std::os::fd::AsFd;
use std::time::Duration;

use super::{Sender, PIPE_BUF};
use crate::codec;
use crate::error::{Error, Result};
use crate::fd::{self, Sigpipe, Wait};
use crate::message::Message;

impl<E: Message> Sender<[E]> {
    /// The most elements one slice may hold (by default
    /// [`default_max_len::<E>()`](codec::default_max_len): 4088 bytes of them, so that a
    /// slice record is one atomic `write`).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Sets the most elements one slice may hold (at least 1, at most what a record's
    /// 32-bit length can say); a longer slice is refused by `send_slice`. The receiver has
    /// a maximum of its own ([`Receiver::set_max_len`](crate::pipe::Receiver::set_max_len)),
    /// and refuses what exceeds it.
    ///
    /// A slice record longer than [`PIPE_BUF`] (one of more than 4088 bytes of elements)
    /// cannot be written atomically, so on a FIFO such a sender must have it alone: a FIFO
    /// sender whose new maximum makes its records long takes the exclusive lock that
    /// senders of long messages hold (see [`crate::fifo`]), and one whose records become
    /// short again shares the FIFO again.
    ///
    /// # Errors
    ///
    /// [`Error::Busy`] if this is a FIFO sender, the new maximum makes its records long,
    /// and another sender has the FIFO open (the maximum is then unchanged).
    pub fn set_max_len(&mut self, elements: usize) -> Result<()> {
        let max = elements.clamp(1, codec::max_len_limit::<E>());
        let long = codec::record_len_of(max * size_of::<E>()) > PIPE_BUF;
        if let Some(lock) = &mut self.lock {
            lock.retake(self.fd.as_fd(), long)?;
        }
        self.max_len = max;
        Ok(())
    }

    /// Sends a copy of `elements` as one record, writing the handshake first if it is not
    /// written yet; waits for room as long as it takes. A record of at most [`PIPE_BUF`]
    /// bytes (header and elements) is one atomic `write`; a longer one is sealed, so a
    /// reader tells it apart if this process dies midway through it.
    ///
    /// ```
    /// use ipc::pipe;
    ///
    /// let (mut tx, mut rx) = pipe::channel::<[u32]>()?;
    /// tx.send_slice(&[1, 2, 3])?;
    /// tx.send_slice(&[])?;
    /// assert_eq!(rx.recv_slice()?, &[1, 2, 3]);
    /// assert!(rx.recv_slice()?.is_empty());
    /// // Above the maximum: refused, nothing written.
    /// let too_long = vec![0; tx.max_len() + 1];
    /// assert!(matches!(
    ///     tx.send_slice(&too_long),
    ///     Err(ipc::Error::LimitExceeded { limit: "max_len", .. })
    /// ));
    /// # Ok::<(), ipc::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::LimitExceeded`] (`max_len`) if `elements` is longer than
    /// [`max_len`](Self::max_len) (nothing is written); [`Error::Disconnected`] if every
    /// read end is closed; [`Error::Shutdown`] once shutdown is requested while the pipe is
    /// full; [`Error::Io`] for another failure of `write`.
    #[inline]
    pub fn send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Forever)
    }

    /// [`send_slice`](Self::send_slice) if there is room for the whole record now; never
    /// leaves part of it behind.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] if there is not; [`Error::LimitExceeded`] for a record bigger than
    /// the pipe can ever be made (`/proc/sys/fs/pipe-max-size`); otherwise as
    /// [`send_slice`](Self::send_slice).
    #[inline]
    pub fn try_send_slice(&mut self, elements: &[E]) -> Result<()> {
        self.send_slice_until(elements, &Wait::Now)
    }

    /// [`send_slice`](Self::send_slice), waiting at most `timeout` for room for the whole
    /// record; never leaves part of it behind.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if there was none in time; otherwise as
    /// [`try_send_slice`](Self::try_send_slice).
    #[inline]
    pub fn send_slice_timeout(&mut self, elements: &[E], timeout: Duration) -> Result<()> {
        self.send_slice_until(elements, &Wait::timeout(timeout))
    }

    /// Writes the handshake (if not written yet) and the record of `elements` as the
    /// message path writes a message's: with one `write`, atomic, when both fit
    /// [`PIPE_BUF`]; else the handshake, then the record (sealed if it is long). A bounded
    /// wait first waits for room for all of it.
    fn send_slice_until(&mut self, elements: &[E], wait: &Wait) -> Result<()> {
        if elements.len() > self.max_len {
            return Err(Error::too_long(elements.len(), self.max_len as u64));
        }
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let hello = self.hello();
        let env = codec::SliceEnvelope::new(elements);
        let (head, payload, tail) = (env.head(), codec::elements_as_bytes(elements), env.tail());
        let record = head.len() + payload.len() + tail.len();
        let total = hello.len() + record;
        if !matches!(wait, Wait::Forever) {
            self.wait_for_room(total, wait)?;
        }
        let fd = self.fd.as_fd();
        if total <= PIPE_BUF {
            // One write: atomic, so records of several writers never interleave (a record
            // this short is not sealed: `tail` is empty).
            let mut bufs = [
                IoSlice::new(&hello),
                IoSlice::new(head),
                IoSlice::new(payload),
            ];
            fd::write_all(fd, &mut bufs, sigpipe)?;
        } else {
            if !hello.is_empty() {
                fd::write_all(fd, &mut [IoSlice::new(&hello)], sigpipe)?;
                self.hello_sent = true;
            }
            let mut bufs = [
                IoSlice::new(head),
                IoSlice::new(payload),
                IoSlice::new(tail),
            ];
            fd::write_all(fd, &mut bufs, sigpipe)?;
        }
        self.hello_sent = true;
        self.sent += 1;
        self.written.note(hello.len(), 0);
        self.written.note(record, 1);
        Ok(())
    }
}

impl<E: Message> fmt::Debug for Sender<[E]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("type", &format_args!("[{}]", E::SCHEMA.name))
            .field("max_len", &self.max_len)
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}
