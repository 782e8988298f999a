//! The measurements, both sides: a ping-pong for latency, and one-way streams of the typed
//! message, sent one at a time or in batches, that the child checks for order and loss.
//!
//! The parent leads. The child echoes the ping-pong (a fixed number of round trips), then
//! takes each stream as the parent announces it: a message whose sequence number is the
//! stream's message count, [`BATCHED`] added for a batched stream, and at the end
//! [`DONE`]. The child acknowledges each stream with a message carrying its count.
//!
//! How long a stream is set by calibration: rounds of growing length until one lasts
//! [`CALIBRATED`], whose rate sets the count of a round of about [`ROUND_TIME`]. The short
//! rounds also warm up the caches, the pages of the buffers and the kernel's paths.

use std::time::{Duration, Instant};

use ipc::{Error, Message, Result};

use crate::hand::Round;
use crate::link::Link;

/// The message: a sequence number and `N` bytes of payload.
#[derive(Clone, Copy, Message)]
#[repr(C)]
pub struct Payload<const N: usize> {
    pub seq: u64,
    pub data: [u8; N],
}

impl<const N: usize> Payload<N> {
    pub fn new(seq: u64) -> Self {
        Payload {
            seq,
            data: [seq as u8; N],
        }
    }

    /// `Ok` if this is message `seq` of a stream, intact.
    fn check(&self, seq: u64) -> Result<()> {
        if self.seq == seq && filled_with(&self.data, seq as u8) {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "message {seq} arrived as {} or damaged",
                self.seq
            )))
        }
    }
}

/// True if every byte of `data` is `byte`: eight bytes at a time, with no early exit, so
/// that the compiler makes it a few vector instructions per line. (A loop that stops at
/// the first wrong byte goes a byte at a time: at 4 KiB it cost more than the transport,
/// 1.3 µs a message, and the tour's 4 KiB rows showed the check, not the channel.)
pub fn filled_with(data: &[u8], byte: u8) -> bool {
    let word = u64::from_ne_bytes([byte; 8]);
    let words = data.chunks_exact(8);
    let rest = words.remainder();
    let diff = words.fold(0, |acc, w| {
        acc | (u64::from_ne_bytes(w.try_into().expect("8 bytes")) ^ word)
    });
    diff == 0 && rest.iter().all(|&b| b == byte)
}

/// Round trips before the latency is measured.
const WARM_UP: u64 = 100;
/// Latency rounds, and round trips per round.
pub const PING_ROUNDS: usize = 7;
pub const PINGS: u64 = 1_000;
/// Rounds of each stream after its calibration round.
pub const ROUNDS: usize = 5;
/// How long a stream round should last (times `IPC_TOUR_SCALE`).
const ROUND_TIME: Duration = Duration::from_millis(100);
/// How long the calibration round that sets the count of a round lasts at least.
const CALIBRATED: Duration = Duration::from_millis(20);
/// The message count of the first calibration round; each next one has four times more.
const FIRST_COUNT: u64 = 1_000;
/// The most messages in a round.
const MOST: u64 = 100_000_000;
/// In the sequence number of a stream's announcement: the stream is batched.
const BATCHED: u64 = 1 << 62;
/// The announcement that no stream follows.
const DONE: u64 = u64::MAX;
/// The bytes of messages per `send_all`, and the room `recv_many` is given: 64 KiB, what
/// the hand-written stream's `BufWriter` holds.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Messages per `send_all` of `N`-byte payloads (8192 at 8 B, 16 at 4 KiB).
const fn batch_len<const N: usize>() -> usize {
    let len = BATCH_BYTES / size_of::<Payload<N>>();
    if len == 0 {
        1
    } else {
        len
    }
}

/// How a stream is sent and received.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `send` and `recv`, one message per call.
    PerMessage,
    /// `send_all` of [`BATCH_BYTES`] of messages, `recv_many` into as many slots.
    Batched,
}

/// The figures of one transport at one message size.
pub struct Figures {
    /// One way: half the median round trip.
    pub latency: Duration,
    /// Messages per second, median of the rounds.
    pub per_message: f64,
    pub batched: f64,
    /// For the byte streams, the hand-written stream beside them.
    pub hand: Option<HandFigures>,
}

pub struct HandFigures {
    /// Messages per second, median of the rounds.
    pub rate: f64,
    /// Batched typed / hand-written, median of the per-round ratios.
    pub ratio: f64,
}

/// The parent's side: measures over `link` against the child, and streams over `hand`
/// (if given) between the typed rounds.
pub fn measure<const N: usize>(
    link: &mut impl Link<Payload<N>>,
    mut hand: Option<&mut (dyn Round + 'static)>,
) -> Result<Figures> {
    let latency = ping_pong(link)?;

    let per_count = calibrate(|count| stream(link, Mode::PerMessage, count))?;
    let batch_count = calibrate(|count| stream(link, Mode::Batched, count))?;
    let hand_count = match hand.as_deref_mut() {
        Some(h) => calibrate(|count| h.round(count))?,
        None => 0,
    };

    let (mut per_message, mut batched, mut by_hand, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        per_message.push(rate(per_count, stream(link, Mode::PerMessage, per_count)?));
        let b = rate(batch_count, stream(link, Mode::Batched, batch_count)?);
        batched.push(b);
        if let Some(h) = hand.as_deref_mut() {
            let r = rate(hand_count, h.round(hand_count)?);
            by_hand.push(r);
            ratios.push(b / r);
        }
    }
    link.send(Payload::new(DONE))?;
    Ok(Figures {
        latency,
        per_message: median(per_message),
        batched: median(batched),
        hand: hand.map(|_| HandFigures {
            rate: median(by_hand),
            ratio: median(ratios),
        }),
    })
}

/// The child's side: echoes the ping-pong, then takes every stream the parent announces,
/// checking each message, and acknowledges each.
pub fn serve<const N: usize>(link: &mut impl Link<Payload<N>>) -> Result<()> {
    for _ in 0..WARM_UP + PING_ROUNDS as u64 * PINGS {
        let ping = link.recv()?;
        link.send(ping)?;
    }
    let mut batch = vec![Payload::<N>::new(0); batch_len::<N>()].into_boxed_slice();
    loop {
        let (mode, count) = match link.recv()?.seq {
            DONE => return Ok(()),
            n if n & BATCHED != 0 => (Mode::Batched, n & !BATCHED),
            n => (Mode::PerMessage, n),
        };
        let mut seq = 0;
        while seq < count {
            if mode == Mode::PerMessage {
                link.recv()?.check(seq)?;
                seq += 1;
                continue;
            }
            let room = batch_len::<N>().min((count - seq) as usize);
            let n = link.recv_many(&mut batch[..room])?;
            for msg in &batch[..n] {
                msg.check(seq)?;
                seq += 1;
            }
        }
        link.send(Payload::new(count))?;
    }
}

/// One-way latency: half the median round trip of [`PING_ROUNDS`] rounds.
fn ping_pong<const N: usize>(link: &mut impl Link<Payload<N>>) -> Result<Duration> {
    for i in 0..WARM_UP {
        link.send(Payload::new(i))?;
        link.recv()?;
    }
    let mut one_way = Vec::with_capacity(PING_ROUNDS);
    for _ in 0..PING_ROUNDS {
        let start = Instant::now();
        for i in 0..PINGS {
            link.send(Payload::new(i))?;
            let echo = link.recv()?;
            if echo.seq != i {
                return Err(Error::Corrupt(format!("ping {i} echoed as {}", echo.seq)));
            }
        }
        one_way.push(start.elapsed().as_secs_f64() / (2 * PINGS) as f64);
    }
    Ok(Duration::from_secs_f64(median(one_way)))
}

/// Streams `count` messages to the child in `mode`; returns the time from the first send
/// to the child's acknowledgement.
fn stream<const N: usize>(
    link: &mut impl Link<Payload<N>>,
    mode: Mode,
    count: u64,
) -> Result<Duration> {
    let len = if mode == Mode::Batched {
        batch_len::<N>()
    } else {
        0
    };
    let mut batch = vec![Payload::<N>::new(0); len];
    let start = Instant::now();
    let batched = if mode == Mode::Batched { BATCHED } else { 0 };
    link.send(Payload::new(count | batched))?;
    match mode {
        Mode::PerMessage => {
            for seq in 0..count {
                if seq % 4096 == 0 {
                    interrupted()?;
                }
                link.send(Payload::new(seq))?;
            }
        }
        Mode::Batched => {
            let mut seq = 0;
            while seq < count {
                interrupted()?;
                let n = batch_len::<N>().min((count - seq) as usize);
                for (k, msg) in batch[..n].iter_mut().enumerate() {
                    *msg = Payload::new(seq + k as u64);
                }
                link.send_all(&batch[..n])?;
                seq += n as u64;
            }
        }
    }
    link.flush()?;
    let ack = link.recv()?;
    let elapsed = start.elapsed();
    if ack.seq != count {
        return Err(Error::Corrupt(format!(
            "the child acknowledged {} messages of {count}",
            ack.seq
        )));
    }
    Ok(elapsed)
}

/// The message count of a round of about [`ROUND_TIME`]: `round(count)` streams `count`
/// messages and says how long they took, for counts growing from [`FIRST_COUNT`] until a
/// round lasts [`CALIBRATED`].
fn calibrate(mut round: impl FnMut(u64) -> Result<Duration>) -> Result<u64> {
    let mut count = FIRST_COUNT;
    loop {
        let took = round(count)?;
        if took >= CALIBRATED || count >= MOST {
            let per_second = count as f64 / took.as_secs_f64();
            let count = per_second * ROUND_TIME.as_secs_f64() * crate::scale();
            return Ok((count as u64).clamp(FIRST_COUNT, MOST));
        }
        count *= 4;
    }
}

fn rate(count: u64, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// The median of an odd number of figures (the upper middle one of an even number).
fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

/// `Err(Error::Shutdown)` once SIGINT or SIGTERM has arrived: for loops that may never
/// block (a stream into a channel with room, a buffered writer), which would not see it
/// otherwise.
pub fn interrupted() -> Result<()> {
    if ipc::signal::shutdown_requested() {
        Err(Error::Shutdown)
    } else {
        Ok(())
    }
}
