//! Typed anonymous pipes: `pipe2(2)` (see `pipe(7)`) carrying frames of the stream codec.
//!
//! [`channel`] makes a one-way pipe, [`duplex()`] a pair of them for two-way talk. Either end
//! can be handed to a child process, as its standard input or output or as any other
//! descriptor: turn it into an [`OwnedFd`] (or straight into a [`Stdio`]) and, in the
//! child, take it back with [`Sender::from_fd`] / [`Receiver::from_fd`], or with
//! [`Receiver::stdin`] / [`Sender::stdout`].
//!
//! ```
//! use std::process::{Command, Stdio};
//! use ipc::pipe;
//!
//! let (mut tx, rx) = pipe::channel::<u64>()?;
//! // The read end becomes the child's standard input (here `cat`, which echoes bytes).
//! let mut cat = Command::new("cat")
//!     .stdin(Stdio::from(rx))
//!     .stdout(Stdio::piped())
//!     .spawn()?;
//! let mut back = pipe::Receiver::<u64>::from_fd(cat.stdout.take().unwrap().into());
//! tx.send(7)?;
//! drop(tx); // end of stream
//! assert_eq!(back.recv()?, 7);
//! assert!(back.recv().unwrap_err().is_disconnected());
//! assert!(cat.wait()?.success());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Besides `send`/`try_send`/`send_timeout` and `recv`/`try_recv`/`recv_timeout`,
//! [`Sender::send_ref`] and [`Receiver::recv_into`] (also on [`Duplex`]) work in place,
//! sparing a large `T` the copy into `send` and out of `recv`.
//!
//! # Slices
//!
//! A channel of `[E]` carries slices of any length up to a maximum instead of messages
//! (see [`crate::Payload`]): [`Sender::send_slice`] (`try_`, `_timeout`) writes
//! one record per slice, and [`Receiver::recv_slice`] (`try_`, `_timeout`) lends the next
//! one from the receive buffer, each element validated in place. Each end has its own
//! maximum (`set_max_len`; by default 4088 bytes of elements, so that a slice record is
//! one atomic `write`): the sender refuses a longer slice, the receiver a record that
//! announces one, from its header, before anything is allocated or read for it (see
//! [`codec`](crate::codec)). A writer of `E` and a reader of `[E]` refuse each other as
//! any two schemas do. Batches, buffered senders and [`Sender::close`] are for messages.
//!
//! ```
//! use ipc::pipe;
//!
//! let (mut tx, mut rx) = pipe::channel::<[u8]>()?;
//! tx.send_slice(b"a line")?;
//! tx.send_slice(b"and a longer one")?;
//! assert_eq!(rx.recv_slice()?, b"a line");
//! let owned: Vec<u8> = rx.recv_slice()?.to_vec(); // the borrow ends at the next receive
//! assert_eq!(owned, b"and a longer one");
//! # Ok::<(), ipc::Error>(())
//! ```
//!
//! # Contract
//!
//! - The wire format is [`crate::codec`]'s: a writer's first bytes are its handshake,
//!   written lazily just before its first message, and a [`Receiver`] refuses a writer of
//!   another schema with [`Error::SchemaMismatch`], whose `difference` names the first
//!   field that differs (the handshake carries the writer's schema tree; see
//!   [`codec`](crate::codec#the-handshake)).
//! - Messages arrive complete, in order, each exactly once.
//! - [`Error::Disconnected`]: for a receiver, once every write end is closed (every writer
//!   exited, or was killed) and everything sent has been received; for a sender, once
//!   every read end is closed. A broken pipe is never a `SIGPIPE` death: when the process
//!   does not ignore `SIGPIPE` (Rust programs do, a library cannot rely on it), the signal
//!   is blocked in the writing thread around each write and the one a broken pipe raises
//!   is consumed.
//! - `EINTR` is retried everywhere, with the time that remains.
//!
//! # Limits
//!
//! - A pipe holds 64 KiB by default (`F_GETPIPE_SZ`; unprivileged processes may grow it
//!   up to `/proc/sys/fs/pipe-max-size`); `send` of a frame bigger than that completes
//!   as the reader drains it.
//! - `try_send` and `send_timeout` never leave part of a frame behind. A frame of at most
//!   `PIPE_BUF` (4096) bytes (a message record is its 8-byte header and the message; see
//!   [`codec::record_len`]) is written with one `write`, which the
//!   kernel makes atomic: it is written once `poll` reports room. A bigger frame
//!   is written only once the free space (`F_GETPIPE_SZ` minus `FIONREAD`, with two pages
//!   of slack) holds it whole, growing the pipe with `F_SETPIPE_SZ` first if it could
//!   never fit; once started it is finished, so with a second writer racing for the same
//!   room the call may wait for the reader past its timeout rather than give up midway.
//! - A receiver reads one message per `read(2)` (a handshake takes a few), as a raw
//!   reader of fixed-size records does, not everything the pipe holds: emptying the pipe
//!   makes the writer's next `write` wake the reader, and with writer and reader on one
//!   CPU that cost more than the reads it saved (`cargo bench --bench stream`: 8-byte
//!   throughput 0.85x raw with large reads, 0.96x with one message per read).
//!   [`Receiver::recv_many`] reads everything the pipe holds that fits its 64 KiB
//!   buffer, with one `read`, and takes every whole message from it.
//!
//! # Throughput: batches and buffers
//!
//! One `send` is one `write` and one `recv` one `read`: the latency of each message is
//! that of the system call, and so is the cost. For a stream of small messages,
//! [`Sender::send_all`] writes a slice of them in batch records (one header for up to a
//! 4 KiB page of messages; see [`codec`](crate::codec)) with one `write` per 64 KiB of
//! whole pages, which the kernel cuts, if at all, between pages, so between records; and
//! [`Receiver::recv_many`]
//! takes what is there with one `read`; a [`Sender::buffered`] sender coalesces single
//! `send`s until its buffer is full or it is flushed. With them the typed stream moves
//! small messages at the rate of a hand-written `BufWriter`/`BufReader` pair over the
//! same pipe (`cargo bench --bench batch`), checked and framed. A writer killed
//! mid-batch leaves whole messages only (but for records longer than `PIPE_BUF`, which
//! are sealed: a kill can cut one, and the reader reports it once as `Corrupt`).
//! - A receive with a timeout polls, then reads; a partial frame stays buffered in the
//!   receiver, so a timeout loses nothing. If another process reads the same pipe end,
//!   that read may wait for data the other process took.
//! - Descriptors are made with `O_CLOEXEC`: a child gets only the ends given to it
//!   explicitly.
//!
//! [`Error::Disconnected`]: crate::Error::Disconnected
//! [`Error::SchemaMismatch`]: crate::Error::SchemaMismatch
//! [`OwnedFd`]: std::os::fd::OwnedFd
//! [`Stdio`]: std::process::Stdio
//! [`codec::record_len`]: crate::codec::record_len

mod duplex;
mod receiver;

/// The async twin of [`Sender`], on tokio (feature `tokio`; see [`crate::aio`]).
#[cfg(feature = "tokio")]
pub type AsyncSender<T> = crate::aio::Async<Sender<T>>;
/// The async twin of [`Receiver`], on tokio (feature `tokio`; see [`crate::aio`]).
#[cfg(feature = "tokio")]
pub type AsyncReceiver<T> = crate::aio::Async<Receiver<T>>;
mod sender;

pub use duplex::Duplex;
pub use receiver::Receiver;
pub use sender::{Sender, PIPE_BUF};

use nix::fcntl::OFlag;

use crate::error::Result;
use crate::message::Message;
use crate::payload::Payload;

/// Creates a one-way pipe carrying messages of `T` (`pipe2` with `O_CLOEXEC`), or slices
/// of `E` for `T = [E]`.
///
/// ```
/// use ipc::pipe;
///
/// let (mut tx, mut rx) = pipe::channel::<[u16]>()?;
/// tx.send_slice(&[1, 2, 3])?;
/// assert_eq!(rx.recv_slice()?, &[1, 2, 3]);
/// # Ok::<(), ipc::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::LimitExceeded`] if the process or the system is out of file descriptors,
/// [`Error::Io`] for other failures of `pipe2`.
///
/// [`Error::LimitExceeded`]: crate::Error::LimitExceeded
/// [`Error::Io`]: crate::Error::Io
pub fn channel<T: ?Sized + Payload>() -> Result<(Sender<T>, Receiver<T>)> {
    let (r, w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| crate::error::new_fd_error("pipe2", e))?;
    Ok((Sender::from_fd(w), Receiver::from_fd(r)))
}

/// Creates a two-way channel out of two pipes: the first end sends `A` and receives `B`,
/// the second sends `B` and receives `A`.
///
/// # Errors
///
/// As [`channel`].
pub fn duplex<A: Message, B: Message>() -> Result<(Duplex<A, B>, Duplex<B, A>)> {
    let (tx_a, rx_a) = channel::<A>()?;
    let (tx_b, rx_b) = channel::<B>()?;
    Ok((
        Duplex::from_parts(tx_a, rx_b),
        Duplex::from_parts(tx_b, rx_a),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::error::Error;
    use crate::FixedStr;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    #[test]
    fn messages_arrive_in_order_then_disconnected() {
        let (mut tx, mut rx) = channel::<u32>().unwrap();
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let got: Vec<u32> = rx.iter().map(|m| m.unwrap()).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn try_recv_is_empty_and_timeout_loses_a_partial_frame_to_no_one() {
        let (tx, mut rx) = channel::<u64>().unwrap();
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        // Write the handshake and half a frame by hand, as a slow writer would.
        let mut raw = File::from(OwnedFd::from(tx));
        let mut wire = codec::hello::<u64>();
        codec::write_message(&mut wire, &0xdead_beef_u64).unwrap();
        let (first, rest) = wire.split_at(wire.len() - 5);
        raw.write_all(first).unwrap();
        assert!(matches!(rx.try_recv(), Err(Error::Empty)));
        let err = rx.recv_timeout(Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, Error::Timeout(d) if d == Duration::from_millis(30)));
        raw.write_all(rest).unwrap();
        assert_eq!(rx.try_recv().unwrap(), 0xdead_beef);
        drop(raw);
        assert!(rx.try_recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn try_send_fills_the_pipe_then_reports_full_and_hands_back() {
        let (mut tx, mut rx) = channel::<[u8; 1000]>().unwrap();
        let mut sent = 0u32;
        let full = loop {
            match tx.try_send([sent as u8; 1000]) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert!(full.is_full(), "{full:?}");
        assert_eq!(full.into_inner(), [sent as u8; 1000]);
        let err = tx
            .send_timeout([0; 1000], Duration::from_millis(20))
            .unwrap_err();
        assert!(matches!(err.error(), Error::Timeout(_)), "{err:?}");
        drop(tx);
        for i in 0..sent {
            assert_eq!(rx.recv().unwrap(), [i as u8; 1000]);
        }
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn big_frames_are_offered_whole_or_not_at_all() {
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| {
                let (mut tx, mut rx) = channel::<[u8; 20_000]>().unwrap();
                let mut sent = 0u32;
                while tx.try_send([sent as u8; 20_000]).is_ok() {
                    sent += 1;
                }
                assert!(sent >= 1);
                drop(tx);
                for i in 0..sent {
                    assert_eq!(rx.recv().unwrap()[19_999], i as u8);
                }
                assert!(rx.recv().unwrap_err().is_disconnected());
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn send_to_a_closed_pipe_is_disconnected() {
        let (mut tx, rx) = channel::<FixedStr<8>>().unwrap();
        drop(rx);
        let msg = FixedStr::try_from("hi").unwrap();
        let err = tx.send(msg).unwrap_err();
        assert!(err.is_disconnected());
        assert_eq!(err.into_inner(), msg);
        assert!(tx.try_send(msg).unwrap_err().is_disconnected());
    }

    #[test]
    fn a_foreign_sender_writes_bare_messages_back_to_back() {
        use std::io::Read;
        let (tx, rx) = channel::<u32>().unwrap();
        let mut tx = tx.foreign();
        tx.send(7).unwrap();
        tx.send_all(&[8, 9]).unwrap();
        tx.buffered(4096).send(10).unwrap(); // not buffered: foreign
        let mut bytes = Vec::new();
        File::from(OwnedFd::from(rx))
            .read_to_end(&mut bytes)
            .unwrap();
        let want: Vec<u8> = [7u32, 8, 9, 10]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        assert_eq!(bytes, want);
    }

    #[test]
    fn a_foreign_receiver_validates_each_bare_message_and_reports_a_short_tail() {
        let (tx, rx) = channel::<bool>().unwrap();
        let mut rx = rx.foreign();
        let mut raw = File::from(OwnedFd::from(tx));
        raw.write_all(&[1, 2, 0]).unwrap();
        drop(raw);
        assert!(rx.recv().unwrap());
        assert!(matches!(rx.recv(), Err(Error::InvalidMessage(_))));
        assert!(!rx.recv().unwrap());
        assert!(rx.recv().unwrap_err().is_disconnected());

        let (tx, rx) = channel::<u32>().unwrap();
        let mut rx = rx.foreign();
        let mut raw = File::from(OwnedFd::from(tx));
        let mut wire: Vec<u8> = [1u32, 2, 3].iter().flat_map(|v| v.to_ne_bytes()).collect();
        wire.push(9); // a short last message
        raw.write_all(&wire).unwrap();
        drop(raw);
        let mut got = [0u32; 8];
        let mut n = 0;
        while n < 3 {
            n += rx.recv_many(&mut got[n..]).unwrap();
        }
        assert_eq!(got[..3], [1, 2, 3]);
        let e = rx.recv().unwrap_err();
        assert!(matches!(e, Error::InvalidMessage(_)), "{e:?}");
        assert!(rx.recv().unwrap_err().is_disconnected());
    }

    #[test]
    fn a_receiver_of_this_crate_names_a_foreign_writer() {
        let (tx, mut rx) = channel::<u64>().unwrap();
        let mut raw = File::from(OwnedFd::from(tx));
        raw.write_all(&0x3f80_0000_0000_0001_u64.to_ne_bytes())
            .unwrap();
        drop(raw);
        let e = rx.recv().unwrap_err();
        assert!(e.to_string().contains("not an `ipc` stream"), "{e}");
        assert!(e.to_string().contains("foreign"), "{e}");
    }

    #[test]
    fn duplex_ends_talk_both_ways() {
        let (mut a, mut b) = duplex::<u32, u64>().unwrap();
        a.send(5).unwrap();
        assert_eq!(b.recv().unwrap(), 5);
        b.send(6).unwrap();
        assert_eq!(a.recv_timeout(Duration::from_secs(5)).unwrap(), 6);
    }
}
