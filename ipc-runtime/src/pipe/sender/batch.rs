//! Batched and buffered writing for a pipe or FIFO [`Sender`].
//!
//! Messages of up to 2044 bytes go in batch records (see [`codec`]): a full one is
//! exactly a pipe page, 4096 bytes, and a batch is written with one `write` per 64 KiB of
//! full records, then one for the last, shorter record. The kernel fills a pipe page by
//! page, and a write whose length is a multiple of the page starts on a fresh page, so it
//! can only be cut between pages, which are record boundaries: a writer killed mid-batch
//! leaves whole records, and another writer's records can come between two pages, whole.
//! A shorter record is at most [`PIPE_BUF`] bytes and so written atomically.
//!
//! A buffered sender ([`Sender::buffered`]) holds what `send` accepts until its buffer is
//! full, [`Sender::flush`] is called, or it is dropped. It does not flush by itself when
//! the stream goes idle: without a thread or a timer of its own, a message held back
//! because the reader lags would wait for the next `send`. The choice is the caller's:
//! an unbuffered sender (the default) writes each `send` at once, for latency, and
//! `send_all` writes a batch with as few system calls as whole records allow; a buffered
//! one coalesces across calls, for throughput, and flushes when told.

use std::io::IoSlice;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::PollFlags;

use super::{Sender, PIPE_BUF};
use crate::codec::{self, BATCH_LEN, HEADER_LEN};
use crate::deadline::{Patience, DROP_STALL};
use crate::error::{Error, Result};
use crate::fd::{self, Sigpipe, Wait};
use crate::message::Message;

/// How many bytes of full batch records one `write` takes at most, and an unbuffered
/// batch gathers before it writes.
const GATHER: usize = 64 * 1024;

/// The length of the next write from the front of `held` (full batch records, then at
/// most one shorter record): up to [`GATHER`] bytes of full records, or the short record.
fn next_write(held: usize) -> usize {
    let full = held - held % BATCH_LEN;
    if full > 0 {
        full.min(GATHER)
    } else {
        held
    }
}

impl<T: Message> Sender<T> {
    /// Makes this sender buffered: from now on `send` (and `send_all`) add messages to a
    /// buffer of `capacity` bytes (at least one batch record, 4 KiB), written when it is
    /// full, on [`Sender::flush`], on [`Sender::close`] and on drop, in whole batch
    /// records. For streams of small messages where throughput matters more than the
    /// latency of each one: with 8-byte messages, 64 KiB hold about 8000 of them. On the
    /// other side, [`Receiver::recv_many`](crate::pipe::Receiver::recv_many) takes what a
    /// `read` brings; a plain `recv` reads one record at a time.
    ///
    /// A dropped buffered sender writes what it holds while the reader takes it (as
    /// `std::io::BufWriter` does), and gives up once the reader has taken nothing for a
    /// second, is gone, or a shutdown is requested (see
    /// [`shutdown_on`](crate::signal::shutdown_on)): what is left is discarded, and a
    /// record cut short is one [`Error::Corrupt`] for the reader,
    /// never a message. Call [`Sender::flush`] to wait as long as it takes, or
    /// [`Sender::close`] to wait as long as you allow and learn what became of it.
    ///
    /// Messages longer than 2044 bytes do not share a batch record: for them the sender
    /// stays unbuffered (`send_all` still moves page-sized ones 16 per `write`).
    ///
    /// ```
    /// use ipc::pipe;
    ///
    /// let (tx, mut rx) = pipe::channel::<u64>()?;
    /// let mut tx = tx.buffered(64 * 1024);
    /// for n in 0..1000 {
    ///     tx.send(n)?; // into the buffer
    /// }
    /// tx.flush()?; // one write per 64 KiB of batch records
    /// let mut got = [0u64; 1000];
    /// let mut n = 0;
    /// while n < got.len() {
    ///     n += rx.recv_many(&mut got[n..])?;
    /// }
    /// assert!(got.iter().copied().eq(0..1000));
    /// # Ok::<(), ipc::Error>(())
    /// ```
    #[must_use]
    pub fn buffered(mut self, capacity: usize) -> Self {
        if codec::batches::<T>() && !self.foreign {
            self.buffer = capacity.max(BATCH_LEN);
        }
        self
    }

    /// Writes what this sender holds (see [`Sender::buffered`]), waiting for room as long
    /// as it takes.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if every read end is closed, [`Error::Shutdown`],
    /// [`Error::Io`]; what was not written stays held.
    pub fn flush(&mut self) -> Result<()> {
        self.write_out(&Wait::Forever, true)
    }

    /// Bytes accepted and not yet written (by a buffered sender), batch record headers
    /// included.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// How many messages this sender holds unwritten.
    pub(super) fn held_messages(&self) -> u64 {
        codec::messages_in::<T>(&self.out) as u64
    }

    /// Adds `msg` to the buffer if it has room and the handshake went; `false` if not.
    #[inline(always)]
    pub(super) fn try_hold(&mut self, msg: &T) -> bool {
        if !self.hello_sent || self.out.len() + HEADER_LEN + size_of::<T>() > self.buffer {
            return false;
        }
        self.batcher.push(&mut self.out, msg);
        true
    }

    /// Takes a prefix of `msgs` (at least the first, waiting for room as `wait` says,
    /// unless an error comes first) and returns how many. An unbuffered sender writes
    /// them before it returns; a buffered one adds them to its buffer, writing from it
    /// whenever it is full. Only for types that `codec::batches`.
    pub(super) fn send_batch(&mut self, msgs: &[T], mut wait: Wait) -> Result<usize> {
        if msgs.is_empty() {
            return Ok(0);
        }
        let forever = matches!(wait, Wait::Forever);
        if !self.hello_sent {
            self.write_frame(None, &wait)?;
            if !forever {
                wait = Wait::Now;
            }
        }
        let limit = if self.buffer > 0 { self.buffer } else { GATHER };
        let mut taken = 0;
        let mut failed = None;
        while taken < msgs.len() {
            if self.out.len() + HEADER_LEN + size_of::<T>() > limit {
                // Full: write from the front; a bounded wait waits once, for the first
                // write of the call.
                if let Err(e) = self.write_out(&wait, false) {
                    failed = Some(e);
                    break;
                }
                if !forever {
                    wait = Wait::Now;
                }
                if self.out.len() + HEADER_LEN + size_of::<T>() > limit {
                    break;
                }
            }
            // As many as the buffer has room for, a record's worth per copy.
            let room = (limit - self.out.len() - HEADER_LEN) / size_of::<T>();
            let end = msgs.len().min(taken + room.max(1));
            taken += self.batcher.push_many(&mut self.out, &msgs[taken..end]);
        }
        if self.buffer == 0 {
            // Unbuffered: what was taken goes now, and what cannot go without waiting
            // (past a bounded wait's first write) was not sent.
            if failed.is_none() {
                failed = self.write_out(&wait, false).err();
            }
            taken -= codec::messages_in::<T>(&self.out);
            self.out.clear();
            self.batcher.close();
        }
        match failed {
            Some(e) if taken == 0 => Err(e),
            _ if taken == 0 => Err(wait.send_expired()),
            _ => Ok(taken),
        }
    }

    /// Writes the batch records held in `out` from the front: full records up to 64 KiB
    /// per `write`, then the last, shorter one by itself. The first write waits for room
    /// as `wait` says; later ones do too with `all`, and are otherwise made only where
    /// there is room now. What was written leaves `out`; a short record left over stays
    /// open for more messages.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::Timeout`] if the first write found no room in time,
    /// and the errors of writing; what was not written stays in `out`.
    pub(super) fn write_out(&mut self, wait: &Wait, all: bool) -> Result<()> {
        self.batcher.close();
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let mut at = 0;
        let mut result = Ok(());
        while at < self.out.len() {
            let len = next_write(self.out.len() - at);
            let part = at..at + len;
            let written = if matches!(wait, Wait::Forever) {
                fd::write_all(
                    self.fd.as_fd(),
                    &mut [IoSlice::new(&self.out[part])],
                    sigpipe,
                )
                .map(|()| len)
            } else if at == 0 || all {
                // Room for a write of at most PIPE_BUF bytes, then what goes now.
                self.wait_for_room(len.min(PIPE_BUF), wait)
                    .and_then(|()| fd::write_now(self.fd.as_fd(), &self.out[part], sigpipe))
            } else {
                fd::write_now(self.fd.as_fd(), &self.out[part], sigpipe)
            };
            match written {
                Ok(0) => break,
                Ok(n) => {
                    // Full records go in whole pages; a short one all or nothing. A kernel
                    // that wrote part of a page (none does) leaves a record cut: it is
                    // committed, and finished before anything else.
                    let mut n = n;
                    if n < len && n % BATCH_LEN != 0 {
                        let end = n.next_multiple_of(BATCH_LEN).min(len);
                        let tail = &self.out[at + n..at + end];
                        if let Err(e) =
                            fd::write_all(self.fd.as_fd(), &mut [IoSlice::new(tail)], sigpipe)
                        {
                            result = Err(e);
                        }
                        n = end;
                    }
                    let msgs = codec::messages_in::<T>(&self.out[at..at + n]);
                    self.sent += msgs as u64;
                    self.written.note(n, msgs);
                    at += n;
                    if n < len || result.is_err() {
                        break; // the pipe is full
                    }
                }
                // Later writes that find no room in time leave the rest held.
                Err(Error::Full | Error::Timeout(_)) if at > 0 => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.out.drain(..at);
        let short = self.out.len() % BATCH_LEN;
        if short > HEADER_LEN {
            // The short record stays open: messages sent next join it.
            self.batcher.reopen(
                self.out.len() - short,
                (short - HEADER_LEN) / size_of::<T>(),
            );
        }
        result
    }

    /// Sends a batch of page-sized messages (see [`codec`]), which go bare: up to 16 of
    /// them per `write`, straight from `msgs` with no copy. Each is one whole page of the
    /// pipe whatever was written before (the kernel fills a write whose length is a
    /// multiple of the page page by page), so a write cut short is cut between messages;
    /// and a sender of page-sized messages has the stream alone (see [`crate::fifo`]). A
    /// message that must go as a sealed record goes by itself, as `send` writes it.
    pub(super) fn send_pages(&mut self, msgs: &[T], wait: Wait) -> Result<usize> {
        const MAX_PAGES: usize = 16;
        let forever = matches!(wait, Wait::Forever);
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let mut w = wait;
        let mut done = 0;
        while done < msgs.len() {
            let bare = msgs[done..]
                .iter()
                .take(MAX_PAGES)
                .take_while(|m| codec::Envelope::new(*m).head().is_empty())
                .count();
            let sent = if bare < 2 || !self.hello_sent {
                // A sealed record, a lone page, or the handshake still to go: as `send`.
                match self.write_frame(Some(&msgs[done]), &w) {
                    Ok(()) => 1,
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            } else {
                // The pages lie back to back in `msgs`: one buffer, one `write`.
                let pages = crate::message::slice_as_bytes(&msgs[done..done + bare]);
                let n = if forever {
                    fd::write_all(self.fd.as_fd(), &mut [IoSlice::new(pages)], sigpipe)
                        .map(|()| pages.len())
                } else {
                    let room = if done == 0 {
                        self.wait_for_room(size_of::<T>(), &w)
                    } else {
                        Ok(())
                    };
                    room.and_then(|()| fd::write_now(self.fd.as_fd(), pages, sigpipe))
                };
                match n {
                    Ok(0) => break,
                    Ok(n) => {
                        self.written
                            .note(n - n % size_of::<T>(), n / size_of::<T>());
                        let mut whole = n / size_of::<T>();
                        if n % size_of::<T>() != 0 {
                            // Part of a page written: finish that message.
                            let m = crate::message::as_bytes(&msgs[done + whole]);
                            let rest = &m[n % size_of::<T>()..];
                            fd::write_all(self.fd.as_fd(), &mut [IoSlice::new(rest)], sigpipe)?;
                            self.written.note(size_of::<T>(), 1);
                            whole += 1;
                        }
                        // (`write_frame` counts what it writes itself.)
                        self.sent += whole as u64;
                        whole
                    }
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            };
            done += sent;
            if !forever {
                w = Wait::Now;
            }
        }
        Ok(done)
    }
}

impl<T: ?Sized> Sender<T> {
    /// Writes every record held, waiting for room as `patience` says; stops at the first
    /// error (a reader gone, a shutdown requested) or once the wait runs out. For drop
    /// and for giving the descriptor away, where nobody is left to report to.
    fn drain(&mut self, patience: Patience) {
        if self.out.is_empty() {
            return;
        }
        let sigpipe = *self.sigpipe.get_or_insert_with(Sigpipe::detect);
        let fd = self.fd.as_fd();
        let mut wait = patience.start();
        let mut at = 0;
        while at < self.out.len() {
            let len = next_write(self.out.len() - at);
            match fd::write_now(fd, &self.out[at..at + len], sigpipe) {
                Ok(0) => match fd::wait_ready(fd, PollFlags::POLLOUT, &wait) {
                    // Room, or an error the next write reports.
                    Ok(Some(_)) => {}
                    // The wait ran out, or a shutdown was requested.
                    Ok(None) | Err(_) => break,
                },
                Ok(n) => {
                    at += n;
                    wait = patience.taken(wait);
                }
                Err(_) => break,
            }
        }
        self.out.clear();
    }

    /// The descriptor, after writing what this sender holds.
    pub(super) fn into_fd(self) -> OwnedFd {
        let mut tx = ManuallyDrop::new(self);
        tx.drain(Patience::Within(Wait::Forever));
        drop(std::mem::take(&mut tx.out));
        drop(std::mem::take(&mut tx.written));
        // SAFETY: `tx` is never dropped (it is `ManuallyDrop`) and not used after this
        // read, so the descriptor is moved out exactly once and closed by its new owner
        // only. The other fields that own memory, `out` and `written`, were taken and
        // dropped above; the rest are plain values.
        unsafe { std::ptr::read(&tx.fd) }
    }
}

impl<T: ?Sized> Drop for Sender<T> {
    /// Writes what a buffered sender holds while the reader takes it (see
    /// [`Sender::buffered`]).
    fn drop(&mut self) {
        self.drain(Patience::Stall(DROP_STALL));
    }
}

#[cfg(test)]
mod tests {
    use crate::codec::BATCH_LEN;
    use crate::pipe;
    use crate::Error;

    /// A 64-byte message: records of 72 bytes, which do not divide a page.
    type Wide = [u64; 8];

    #[test]
    fn try_send_many_fills_the_pipe_then_says_full_and_loses_nothing() {
        let (mut tx, mut rx) = pipe::channel::<u64>().unwrap();
        let msgs: Vec<u64> = (0..100_000).collect();
        let mut sent = 0;
        loop {
            match tx.try_send_many(&msgs[sent..]) {
                Ok(n) => sent += n,
                Err(Error::Full) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(sent > 0 && sent < msgs.len());
        drop(tx);
        let mut got = vec![0u64; 4096];
        let mut next = 0u64;
        loop {
            match rx.recv_many(&mut got) {
                Ok(k) => {
                    for &m in &got[..k] {
                        assert_eq!(m, next);
                        next += 1;
                    }
                }
                Err(e) if e.is_disconnected() => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(next, sent as u64);
    }

    #[test]
    fn messages_of_any_size_go_in_batch_records_of_a_page() {
        assert_eq!(crate::codec::batch_capacity::<Wide>(), 63); // 63 * 64 + 56 bytes of padding
        assert_eq!(super::next_write(3 * BATCH_LEN + 100), 3 * BATCH_LEN);
        assert_eq!(super::next_write(100), 100);
        assert_eq!(super::next_write(100 * BATCH_LEN), super::GATHER);
        let (mut tx, mut rx) = pipe::channel::<Wide>().unwrap();
        let msgs: Vec<Wide> = (0..500).map(|i| [i; 8]).collect();
        assert_eq!(tx.try_send_many(&msgs).unwrap(), 500);
        drop(tx);
        let mut got = vec![[0u64; 8]; 1000];
        let mut all = Vec::new();
        while let Ok(k) = rx.recv_many(&mut got) {
            all.extend_from_slice(&got[..k]);
        }
        assert_eq!(all, msgs);
    }

    #[test]
    fn a_buffered_sender_writes_when_full_on_flush_and_on_drop() {
        let (tx, mut rx) = pipe::channel::<u64>().unwrap();
        let mut tx = tx.buffered(BATCH_LEN);
        for n in 0..10 {
            tx.send(n).unwrap();
        }
        assert_eq!(tx.pending(), 8 + 10 * 8); // one batch record

        // The handshake went; the messages wait in the buffer.
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        tx.flush().unwrap();
        assert_eq!(tx.pending(), 0);
        assert_eq!(rx.try_recv().unwrap(), 0);
        for n in 10..2000 {
            tx.send(n).unwrap(); // written whenever a page is held
        }
        assert!(tx.pending() <= BATCH_LEN);
        drop(tx);
        let mut next = 1;
        for m in rx.iter() {
            assert_eq!(m.unwrap(), next);
            next += 1;
        }
        assert_eq!(next, 2000);
    }

    #[test]
    fn close_counts_what_a_buffered_sender_could_not_write() {
        let (tx, rx) = pipe::channel::<u64>().unwrap();
        let mut tx = tx.buffered(1 << 20);
        for n in 0..50_000 {
            tx.send(n).unwrap(); // 800 KB: all held
        }
        // The pipe takes 64 KiB (4096 records) of them; nobody reads.
        let unread = tx.close(std::time::Duration::from_millis(20)).unwrap_err();
        assert_eq!(unread.count, 50_000);
        // What the pipe did not take was held, and is gone with the sender.
        assert!(unread.discarded);
        drop(rx);
    }
}
