//! The measurements, both sides: a ping-pong for latency, and one-way streams of the typed
//! message, sent one at a time or in batches, that the child checks for order and loss.
//!
//! Both sides follow one schedule, known to both, so the child needs no instructions: the
//! ping-pong, then for each stream mode a calibration round and [`ROUNDS`] rounds. Every
//! stream round starts with a message whose sequence number is the round's message count
//! and ends with the child's acknowledgement carrying that count.

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
        if self.seq == seq && self.data.iter().all(|&b| b == seq as u8) {
            Ok(())
        } else {
            Err(Error::Corrupt(format!(
                "message {seq} arrived as {} or damaged",
                self.seq
            )))
        }
    }
}

/// Round trips before the latency is measured.
const WARM_UP: u64 = 100;
/// Latency rounds, and round trips per round.
pub const PING_ROUNDS: usize = 7;
pub const PINGS: u64 = 1_000;
/// Rounds of each stream after its calibration round.
pub const ROUNDS: usize = 5;
/// How long a stream round should last: the calibration round sets its count.
const ROUND_TIME: Duration = Duration::from_millis(100);
/// Messages per `send_all`, and the room `recv_many` is given.
pub const BATCH: usize = 256;

/// How a stream is sent and received.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `send` and `recv`, one message per call.
    PerMessage,
    /// `send_all` of [`BATCH`] messages, `recv_many` into [`BATCH`] slots.
    Batched,
}

/// The typed streams, in order: a calibration round of each mode, then the rounds,
/// the modes alternating.
fn schedule() -> impl Iterator<Item = Mode> {
    std::iter::repeat_n([Mode::PerMessage, Mode::Batched], 1 + ROUNDS).flatten()
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

    let size = size_of::<Payload<N>>();
    let first = calibration_count(size);
    let per_count = round_count(first, stream(link, Mode::PerMessage, first)?);
    let batch_count = round_count(first, stream(link, Mode::Batched, first)?);
    let hand_count = match hand.as_deref_mut() {
        Some(h) => round_count(first, h.round(first)?),
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

/// The child's side: echoes the ping-pong, then takes every stream of the schedule,
/// checking each message, and acknowledges each.
pub fn serve<const N: usize>(link: &mut impl Link<Payload<N>>) -> Result<()> {
    for _ in 0..WARM_UP + PING_ROUNDS as u64 * PINGS {
        let ping = link.recv()?;
        link.send(ping)?;
    }
    // On the heap: 1 MiB at 4 KiB messages.
    let mut batch = vec![Payload::<N>::new(0); BATCH].into_boxed_slice();
    for mode in schedule() {
        let count = link.recv()?.seq;
        let mut seq = 0;
        while seq < count {
            if mode == Mode::PerMessage {
                link.recv()?.check(seq)?;
                seq += 1;
                continue;
            }
            let room = BATCH.min((count - seq) as usize);
            let n = link.recv_many(&mut batch[..room])?;
            for msg in &batch[..n] {
                msg.check(seq)?;
                seq += 1;
            }
        }
        link.send(Payload::new(count))?;
    }
    Ok(())
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
    let mut batch = vec![Payload::<N>::new(0); if mode == Mode::Batched { BATCH } else { 0 }];
    let start = Instant::now();
    link.send(Payload::new(count))?;
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
                let n = BATCH.min((count - seq) as usize);
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

/// The message count of a calibration round: 20,000 messages or 4 MB.
pub fn calibration_count(size: usize) -> u64 {
    (4_000_000 / size as u64).min(20_000)
}

/// The count that makes a round last about [`ROUND_TIME`], after `count` messages took
/// `took`.
pub fn round_count(count: u64, took: Duration) -> u64 {
    let per_second = count as f64 / took.as_secs_f64().max(1e-6);
    (per_second * ROUND_TIME.as_secs_f64()).clamp(1_000.0, 50_000_000.0) as u64
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
