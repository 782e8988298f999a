//! Unit and property tests of the ring, on a [`HeapRegion`]: the protocol as a bounded
//! queue, garbage in shared memory, the modes. Order under real threads is `threads`;
//! the same protocol under every interleaving is `loom_tests`.

use super::heap::HeapRegion;
use super::receive::Run;
use super::*;
use crate::sync::atomic::fence;
use proptest::prelude::*;
use std::collections::VecDeque;

pub(super) fn ring(cap: u64) -> Ring<HeapRegion> {
    let r = Ring::new(HeapRegion::new(cap));
    r.init();
    r
}

fn send(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> Result<(), RingError> {
    r.send_once(me, cache, v, false)
}

/// The receiver's side, releasing in batches as the channel does.
pub(super) struct Rx {
    head: u64,
    released: u64,
    /// The last packed batch met (see the ring's docs).
    packed: PackedRun,
}

impl Rx {
    pub(super) fn new() -> Rx {
        Rx {
            head: 0,
            released: 0,
            packed: PackedRun::default(),
        }
    }

    fn release_all(&mut self, r: &Ring<HeapRegion>) {
        if self.released != self.head {
            r.release(self.head);
            self.released = self.head;
        }
    }

    /// Up to `k` messages in one batch, as the channel's `recv_many` takes them: one
    /// run (a cancelled slot is skipped and the scan goes on), one record of progress,
    /// and a release if a batch of slots is due or the ring ran dry.
    pub(super) fn recv_many(&mut self, r: &Ring<HeapRegion>, k: usize) -> Vec<u64> {
        let mut got = Vec::new();
        let mut ran_out = false;
        while got.len() < k {
            let run = r.receive_run(
                self.head,
                (k - got.len()) as u64,
                &mut self.packed,
                |_, at, n, packed| {
                    for p in at..at + n {
                        // SAFETY: `p` is published (in a packed batch if `packed`), and
                        // we are the only receiver.
                        got.push(unsafe { r.region().read(r.index(p), packed) });
                    }
                    n
                },
            );
            self.head += run.len;
            match run.end {
                RunEnd::Cancelled => self.head += 1,
                RunEnd::Packed => {}
                RunEnd::Empty => {
                    ran_out = true;
                    break;
                }
                RunEnd::Limit => break,
                RunEnd::Refused | RunEnd::Corrupt => panic!("{:?} at {}", run.end, self.head),
            }
        }
        r.set_head(self.head);
        if ran_out || self.head - self.released >= r.batch() {
            self.release_all(r);
        }
        got
    }

    /// One message (`Some(None)` for a cancelled slot), or None if the ring is empty
    /// or the head slot is pending.
    pub(super) fn recv(&mut self, r: &Ring<HeapRegion>) -> Option<Option<u64>> {
        let (pos, cancelled, packed) = if self.packed.contains(self.head) {
            (self.head, false, true)
        } else {
            match r.peek(self.head).unwrap() {
                Peek::Ready { pos, cancelled } => (pos, cancelled, false),
                Peek::Packed(run) => {
                    self.packed = run;
                    (run.start, false, true)
                }
                Peek::Empty | Peek::Pending(_) => {
                    self.release_all(r);
                    return None;
                }
            }
        };
        // SAFETY: `pos` is published and we are the only receiver.
        let v = unsafe { r.region().read(r.index(pos), packed) };
        self.head = pos + 1;
        r.set_head(self.head);
        if self.head - self.released >= r.batch() {
            self.release_all(r);
        }
        Some((!cancelled).then_some(v))
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send(u64),
    Recv,
    Abandon,
    /// A batched send of these messages.
    SendMany(Vec<u64>),
    /// A batched send of these messages as one packed batch.
    SendPacked(Vec<u64>),
    /// A batched receive of up to this many messages.
    RecvMany(usize),
}

proptest! {
    #[test]
    fn ring_behaves_like_a_bounded_queue_that_frees_slots_in_batches(
        cap_log in 1u32..7,
        ops in proptest::collection::vec(prop_oneof![
            any::<u64>().prop_map(Op::Send), Just(Op::Recv), Just(Op::Abandon),
            proptest::collection::vec(any::<u64>(), 1..80).prop_map(Op::SendMany),
            proptest::collection::vec(any::<u64>(), 1..80).prop_map(Op::SendPacked),
            (1usize..80).prop_map(Op::RecvMany)], 0..300)
    ) {
        let cap = 1u64 << cap_log;
        let r = ring(cap);
        let mut rx = Rx::new();
        let mut cache = 0;
        // What the ring holds, oldest first: Some(v) sent, None abandoned by a claimer
        // that died.
        let mut model = VecDeque::new();
        let mut tail = 0u64;
        let mut abandoned = VecDeque::new();
        let mut next_dead = 0usize;
        for op in ops {
            // A claim succeeds exactly when the released slots allow it.
            let room = tail - rx.released < cap;
            let packed = matches!(op, Op::SendPacked(_));
            match op {
                Op::Send(v) => {
                    let res = send(&r, 1, &mut cache, v);
                    if room {
                        prop_assert!(res.is_ok());
                        model.push_back(Some(v));
                        tail += 1;
                    } else {
                        prop_assert_eq!(res, Err(RingError::Full));
                    }
                }
                Op::SendMany(vs) | Op::SendPacked(vs) => {
                    // As many as there is room for (the sender looks at the shared
                    // `released` when its copy shows less), at least one.
                    let free = cap - (tail - rx.released);
                    let res = if packed {
                        r.send_packed_once(1, &mut cache, &vs, false)
                    } else {
                        r.send_many_once(1, &mut cache, &vs, false)
                    };
                    if free == 0 {
                        prop_assert_eq!(res, Err(RingError::Full));
                    } else {
                        let n = (vs.len() as u64).min(free);
                        prop_assert_eq!(res, Ok(n as usize));
                        model.extend(vs[..n as usize].iter().copied().map(Some));
                        tail += n;
                    }
                }
                Op::RecvMany(k) => {
                    // The published messages at the front, up to `k`: a run ends at a
                    // slot whose claimer has not published it.
                    let want: Vec<u64> = model.iter().take(k).map_while(|m| *m).collect();
                    for _ in 0..want.len() {
                        model.pop_front();
                    }
                    prop_assert_eq!(rx.recv_many(&r, k), want);
                }
                Op::Abandon => {
                    // A fresh participant (2, 3, ...) claims and "dies" before
                    // publishing.
                    let mut dead_cache = 0;
                    let res = r.try_claim(2 + next_dead % 60, &mut dead_cache, false);
                    prop_assert_eq!(res.is_ok(), room);
                    if let Ok(pos) = res {
                        next_dead += 1;
                        abandoned.push_back(pos);
                        model.push_back(None);
                        tail += 1;
                    }
                }
                Op::Recv => loop {
                    let look = if rx.packed.contains(rx.head) {
                        Peek::Packed(rx.packed)
                    } else {
                        r.peek_full(rx.head).unwrap()
                    };
                    match look {
                        Peek::Empty => {
                            prop_assert!(model.is_empty());
                            prop_assert_eq!(rx.recv(&r), None);
                            // Out of messages: everything read is released.
                            prop_assert_eq!(rx.released, tail);
                            break;
                        }
                        Peek::Pending(pos) => {
                            prop_assert_eq!(model.front(), Some(&None));
                            // The claimer is alive until we say it is dead.
                            prop_assert!(!r.skip_abandoned(pos, |i| i >= 2));
                            prop_assert!(r.skip_abandoned(pos, |_| false));
                            prop_assert_eq!(abandoned.pop_front(), Some(pos));
                            prop_assert_eq!(rx.recv(&r), Some(None));
                            model.pop_front();
                        }
                        Peek::Ready { .. } | Peek::Packed(_) => {
                            let got = rx.recv(&r).unwrap();
                            prop_assert_eq!(got, model.pop_front().flatten());
                            break;
                        }
                    }
                },
            }
            prop_assert_eq!(r.len(rx.head), model.len() as u64);
            prop_assert!(tail - rx.released <= cap);
        }
    }
}

#[test]
fn a_cancelled_position_reads_as_empty_until_its_slot_is_published_again() {
    let r = ring(2);
    let mut rx = Rx::new();
    let mut cache = 0;
    // Position 0 is given back (a dropped loan), position 1 carries a message.
    let pos = r.try_claim(1, &mut cache, false).unwrap();
    r.publish(pos, true, false);
    send(&r, 1, &mut cache, 11).unwrap();
    assert_eq!(rx.recv(&r), Some(None));
    assert_eq!(rx.recv(&r), Some(Some(11)));
    // Slot 0 still holds "position 0, cancelled": for position 2 that is the previous
    // lap, so the ring is empty there, not corrupt.
    assert_eq!(r.peek(2), Ok(Peek::Empty));
    assert!(!r.published(2));
    send(&r, 1, &mut cache, 22).unwrap();
    assert_eq!(
        r.peek(2),
        Ok(Peek::Ready {
            pos: 2,
            cancelled: false
        })
    );
    assert_eq!(rx.recv(&r), Some(Some(22)));
}

#[test]
fn garbage_is_corrupt_not_a_hang() {
    let r = ring(4);
    r.region().slot(0).seq.store(77, Ordering::Relaxed);
    assert_eq!(r.peek(0), Err(RingError::Corrupt));
    assert!(
        r.published(0),
        "a receiver must not sleep on a corrupt slot"
    );
    // `released` beyond `tail` (seen once the sender's copy says full).
    let mut cache = 0;
    for v in 0..4 {
        send(&r, 1, &mut cache, v).unwrap();
    }
    r.region()
        .control()
        .released
        .store(1 << 40, Ordering::Relaxed);
    assert_eq!(r.try_claim(1, &mut cache, false), Err(RingError::Corrupt));
    assert!(r.has_room(), "a sender must not sleep on a corrupt ring");
    // `released` far behind `tail`: full, not a loop.
    r.region().control().tail.store(1 << 41, Ordering::Relaxed);
    assert_eq!(r.try_claim(1, &mut cache, false), Err(RingError::Full));
}

#[test]
fn a_sender_rereads_released_only_when_its_copy_says_full() {
    let r = ring(8);
    let mut rx = Rx::new();
    let mut cache = 0;
    for v in 0..8 {
        send(&r, 1, &mut cache, v).unwrap();
    }
    assert_eq!(send(&r, 1, &mut cache, 8), Err(RingError::Full));
    assert_eq!(rx.recv(&r), Some(Some(0)));
    // batch is 1 at capacity 8: released at once, and the sender sees it.
    assert_eq!(send(&r, 1, &mut cache, 8), Ok(()));
    assert_eq!(cache, 1);

    let r = ring(64);
    let mut rx = Rx::new();
    let mut cache = 0;
    for v in 0..64 {
        send(&r, 1, &mut cache, v).unwrap();
    }
    // batch is 8: seven reads release nothing, the eighth releases eight slots.
    for v in 0..7 {
        assert_eq!(rx.recv(&r), Some(Some(v)));
        assert_eq!(send(&r, 1, &mut cache, 100), Err(RingError::Full));
    }
    assert_eq!(rx.recv(&r), Some(Some(7)));
    for _ in 0..8 {
        send(&r, 1, &mut cache, 100).unwrap();
    }
    assert_eq!(send(&r, 1, &mut cache, 100), Err(RingError::Full));
    assert_eq!(r.head(), 8);
}

#[test]
fn a_batch_claims_as_many_slots_as_are_free_with_one_advance_of_tail() {
    let r = ring(8);
    let ctl = r.region().control();
    let mut rx = Rx::new();
    let mut cache = 0;
    // Larger than the ring: it takes the whole ring, naming its first position.
    let (pos, n) = r.try_claim_many(1, &mut cache, false, 20).unwrap();
    assert_eq!((pos, n), (0, 8));
    assert_eq!(ctl.tail.load(Ordering::Relaxed), 8);
    assert_eq!(ctl.claims[1].load(Ordering::Relaxed), 1);
    r.publish_many(pos, n, false, |i, index| {
        // SAFETY: `pos..pos + n` are claimed by this test.
        unsafe { r.region().write(index, 100 + i, false) }
    });
    // No room at all: Full, for a batch as for one message.
    assert_eq!(
        r.try_claim_many(1, &mut cache, false, 3),
        Err(RingError::Full)
    );
    assert_eq!(rx.recv_many(&r, 3), [100, 101, 102]);
    // batch is 1 at capacity 8: three slots released. Partial room: the sender's copy
    // of `released` says full, it looks at the shared word, and takes the three.
    assert_eq!(send_many(&r, &mut cache, &[1, 2, 3, 4, 5]), Ok(3));
    assert_eq!(ctl.tail.load(Ordering::Relaxed), 11);
    assert_eq!(
        rx.recv_many(&r, 100),
        [103, 104, 105, 106, 107, 1, 2, 3],
        "wrapped around"
    );
    assert_eq!(rx.recv_many(&r, 100), Vec::<u64>::new());
}

fn send_many(r: &Ring<HeapRegion>, cache: &mut u64, vs: &[u64]) -> Result<usize, RingError> {
    r.send_many_once(1, cache, vs, false)
}

#[test]
fn a_batch_wraps_around_the_end_of_the_ring_in_order() {
    let r = ring(8);
    let mut rx = Rx::new();
    let mut cache = 0;
    for lap in 0..5u64 {
        // 6 at a time through 8 slots: every batch but one straddles the end.
        let vs: Vec<u64> = (0..6).map(|i| lap * 10 + i).collect();
        assert_eq!(send_many(&r, &mut cache, &vs), Ok(6));
        assert_eq!(rx.recv_many(&r, 6), vs);
    }
    assert_eq!(r.head(), 30);
    assert_eq!(rx.released, 30);
}

#[test]
fn a_batch_is_seen_only_once_its_first_position_is_published_last() {
    let r = ring(8);
    let mut cache = 0;
    let (pos, n) = r.try_claim_many(1, &mut cache, false, 4).unwrap();
    let mut order = Vec::new();
    r.publish_many(pos, n, false, |i, index| {
        // Until the first position is published, the receiver finds it claimed and
        // not published, whatever the later positions hold.
        assert_eq!(r.peek_full(pos), Ok(Peek::Pending(pos)));
        assert_eq!(scan(&r, pos, 8).len, 0);
        // SAFETY: claimed by this test.
        unsafe { r.region().write(index, i, false) };
        order.push(i);
    });
    assert_eq!(order, [1, 2, 3, 0]);
    assert_eq!(
        scan(&r, pos, 8),
        Run {
            len: 4,
            end: RunEnd::Empty
        }
    );
}

#[test]
fn a_batch_whose_sender_died_is_skipped_position_by_position_keeping_what_it_published() {
    let r = ring(8);
    let mut rx = Rx::new();
    // Participant 2 claims four positions, publishes the second and dies.
    let (pos, n) = r.try_claim_many(2, &mut 0, false, 4).unwrap();
    assert_eq!((pos, n), (0, 4));
    // SAFETY: claimed by participant 2, played by this test.
    unsafe { r.region().write(1, 77, false) };
    r.publish(1, false, false);
    // A live sender's message behind the batch.
    send(&r, 1, &mut 0, 88).unwrap();
    // While participant 2 lives, its first position is not skipped.
    assert_eq!(r.peek_full(0), Ok(Peek::Pending(0)));
    assert!(!r.skip_abandoned(0, |_| true));
    let dead = |i: usize| i != 2;
    assert!(r.skip_abandoned(0, dead));
    assert_eq!(rx.recv(&r), Some(None));
    assert_eq!(rx.recv_many(&r, 8), [77]);
    // The positions it never published name no live claim: skipped too.
    for p in 2..4 {
        assert_eq!(r.peek_full(p), Ok(Peek::Pending(p)));
        assert!(r.skip_abandoned(p, dead));
    }
    assert_eq!(rx.recv_many(&r, 8), [88], "cancelled slots are skipped");
}

/// `tail` at most a capacity ahead of the head is within reach of the senders; further
/// (or behind the head) only a peer that wrote over the ring puts it, and a receiver that
/// skipped dead claims up to it would skip for ever.
#[test]
fn a_tail_further_ahead_than_the_ring_holds_is_out_of_reach() {
    let r = ring(8);
    assert!(!r.tail_beyond_reach(0));
    for v in 0..8 {
        send(&r, 1, &mut 0, v).unwrap();
    }
    assert!(!r.tail_beyond_reach(0), "a full ring");
    let tail = &r.region().control().tail;
    tail.store(9, Ordering::SeqCst);
    assert!(r.tail_beyond_reach(0));
    assert!(!r.tail_beyond_reach(1));
    tail.store(1 << 62, Ordering::SeqCst);
    assert!(r.tail_beyond_reach(0));
    tail.store(3, Ordering::SeqCst);
    assert!(r.tail_beyond_reach(5), "behind the head");
}

/// A run from `from` that takes every message it is offered.
fn scan(r: &Ring<HeapRegion>, from: u64, max: u64) -> Run {
    r.receive_run(from, max, &mut PackedRun::default(), |_, _, n, _| n)
}

#[test]
fn a_run_stops_before_anything_that_is_not_a_message() {
    let r = ring(8);
    let mut cache = 0;
    for v in 0..3 {
        send(&r, 1, &mut cache, v).unwrap();
    }
    let run = |len, end| Run { len, end };
    assert_eq!(scan(&r, 0, 2), run(2, RunEnd::Limit));
    assert_eq!(scan(&r, 0, 8), run(3, RunEnd::Empty));
    // A claimed, unpublished position ends a run as a free one does.
    let claimed = r.try_claim(1, &mut cache, false).unwrap();
    assert_eq!(scan(&r, 0, 8), run(3, RunEnd::Empty));
    r.publish(claimed, true, false);
    assert_eq!(scan(&r, 0, 8), run(3, RunEnd::Cancelled));
    // A message the caller refuses ends the run before it, unconsumed.
    let mut offered = Vec::new();
    let refuse_second = r.receive_run(0, 8, &mut PackedRun::default(), |k, at, _, _| {
        offered.push(at);
        u64::from(k != 1)
    });
    assert_eq!(refuse_second, run(1, RunEnd::Refused));
    assert_eq!(offered, [0, 1]);
    // Garbage: the run stops before it (the next peek reports it).
    r.region().slot(1).seq.store(77, Ordering::Relaxed);
    assert_eq!(scan(&r, 0, 8), run(1, RunEnd::Corrupt));
    assert_eq!(r.peek(1), Err(RingError::Corrupt));
    // A run asked for any number stops after a capacity (a lap on, a slot holds its
    // previous lap), and a `seq` of a later lap is corrupt, not a message.
    let r = ring(4);
    for pos in 0..4 {
        r.region().slot(pos).seq.store(pos + 1, Ordering::Relaxed);
    }
    assert_eq!(scan(&r, 0, u64::MAX), run(4, RunEnd::Limit));
    assert_eq!(scan(&r, 0, 5), run(4, RunEnd::Limit));
    r.region().slot(0).seq.store(5, Ordering::Relaxed);
    assert_eq!(scan(&r, 0, u64::MAX), run(0, RunEnd::Corrupt));
    assert_eq!(scan(&r, 1, u64::MAX), run(4, RunEnd::Limit));
}

/// Participants for the mode tests: the ones listed are dead; the heavy barrier is a
/// `SeqCst` fence (the claimers in these tests are unfenced) or fails.
pub(super) struct TestPeers {
    dead: Vec<usize>,
    barrier: bool,
}

impl Peers for TestPeers {
    fn alive(&self, i: usize) -> bool {
        !self.dead.contains(&i)
    }
    fn heavy(&self) -> bool {
        fence(Ordering::SeqCst);
        self.barrier
    }
}

pub(super) fn peers(dead: &[usize]) -> TestPeers {
    TestPeers {
        dead: dead.to_vec(),
        barrier: true,
    }
}

#[test]
fn a_biased_ring_is_revoked_by_a_second_sender_and_order_holds() {
    let r = ring(8);
    let mut rx = Rx::new();
    let (mut c1, mut c2) = (0, 0);
    assert!(r.take_bias(1, &peers(&[])));
    assert_eq!(r.mode(), Some(Mode::Biased(1)));
    send(&r, 1, &mut c1, 10).unwrap();
    send(&r, 1, &mut c1, 11).unwrap();
    assert_eq!(r.region().control().claims[1].load(Ordering::Relaxed), 2);
    // A second sender is told who holds the bias, and revokes it.
    let busy = send(&r, 2, &mut c2, 20);
    assert_eq!(busy, Err(RingError::Busy(Mode::Biased(1))));
    assert_eq!(r.region().control().claims[2].load(Ordering::Relaxed), 0);
    assert_eq!(r.settle(2, Mode::Biased(1), &peers(&[])), Settle::Revoked);
    assert_eq!(r.mode(), Some(Mode::Shared));
    send(&r, 2, &mut c2, 20).unwrap();
    send(&r, 1, &mut c1, 12).unwrap();
    let got: Vec<_> = std::iter::from_fn(|| rx.recv(&r)).flatten().collect();
    assert_eq!(got, [10, 11, 20, 12]);
    // The holder cannot take the bias back while it is shared with a live sender
    // (the channel looks first), but may once alone; and gives it up when it leaves.
    assert!(r.take_bias(1, &peers(&[2])));
    r.leave(2);
    assert_eq!(r.mode(), Some(Mode::Biased(1)), "only the holder leaves");
    r.leave(1);
    assert_eq!(r.mode(), Some(Mode::Shared));
}

#[test]
fn moves_wait_for_live_movers_take_over_dead_ones_and_undo_without_a_barrier() {
    let r = ring(8);
    let ctl = r.region().control();
    // A live mover is waited for; a dead one's move is finished by the next sender.
    let moving = Mode::Moving {
        mover: 3,
        from: Some(1),
    };
    ctl.mode.store(moving.encode(), Ordering::Relaxed);
    assert_eq!(send(&r, 2, &mut 0, 1), Err(RingError::Busy(moving)));
    assert_eq!(r.settle(2, moving, &peers(&[])), Settle::Wait);
    assert_eq!(r.mode(), Some(moving));
    assert_eq!(r.settle(2, moving, &peers(&[3, 1])), Settle::Revoked);
    assert_eq!(r.mode(), Some(Mode::Shared));
    // A former holder that died in flight (its claim never settled) is not waited for.
    ctl.mode.store(Mode::Biased(1).encode(), Ordering::Relaxed);
    ctl.claims[1].store(7, Ordering::Relaxed);
    assert_eq!(r.settle(2, Mode::Biased(1), &peers(&[1])), Settle::Revoked);
    assert_eq!(r.mode(), Some(Mode::Shared));
    // Nor by a grant: a dead sender's claim in flight stays unsettled for ever.
    assert!(r.take_bias(2, &peers(&[1])));
    assert_eq!(r.mode(), Some(Mode::Biased(2)));
    // A live holder in flight for ever (a stopped process): the revoke is undone after
    // a while, and the caller looks at its deadline before it tries again.
    ctl.claims[2].store(ctl.tail.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    assert_eq!(r.settle(3, Mode::Biased(2), &peers(&[])), Settle::Wait);
    assert_eq!(r.mode(), Some(Mode::Biased(2)));
    ctl.claims[2].store(0, Ordering::Relaxed);
    // Without the heavy barrier no move can prove that nobody is in flight: undone.
    let no_barrier = TestPeers {
        dead: vec![],
        barrier: false,
    };
    assert_eq!(r.settle(3, Mode::Biased(2), &no_barrier), Settle::Wait);
    assert_eq!(r.mode(), Some(Mode::Biased(2)));
    r.leave(2);
    assert!(!r.take_bias(3, &no_barrier));
    assert_eq!(r.mode(), Some(Mode::Shared));
}

#[test]
fn a_joiner_adopts_what_a_dead_holder_of_its_index_left() {
    let r = ring(8);
    let ctl = r.region().control();
    ctl.claims[4].store(9, Ordering::Relaxed);
    ctl.mode.store(Mode::Biased(4).encode(), Ordering::Relaxed);
    r.adopt(4, &peers(&[]));
    assert_eq!(ctl.claims[4].load(Ordering::Relaxed), 0);
    assert_eq!(r.mode(), Some(Mode::Shared));
    let moving = Mode::Moving {
        mover: 4,
        from: Some(1),
    };
    ctl.mode.store(moving.encode(), Ordering::Relaxed);
    r.adopt(4, &peers(&[1]));
    assert_eq!(r.mode(), Some(Mode::Shared));
}

/// A mode word overwritten to name a participant that never claims (a channel's
/// receiver) as mover or holder: the move is taken over as a dead mover's, and sending
/// goes on.
#[test]
fn a_mode_naming_a_participant_that_never_claims_is_taken_over() {
    struct ReceiverAt0(TestPeers);
    impl Peers for ReceiverAt0 {
        fn alive(&self, i: usize) -> bool {
            self.0.alive(i)
        }
        fn heavy(&self) -> bool {
            self.0.heavy()
        }
        fn claims(&self, i: usize) -> bool {
            i != 0
        }
    }
    let receiver_at_0 = ReceiverAt0(peers(&[]));
    let r = ring(8);
    let ctl = r.region().control();
    for mode in [
        Mode::Moving {
            mover: 0,
            from: None,
        },
        Mode::Moving {
            mover: 0,
            from: Some(0),
        },
    ] {
        ctl.mode.store(mode.encode(), Ordering::Relaxed);
        // The receiver "in flight", were it a claimer: never waited for.
        ctl.claims[0].store(ctl.tail.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        assert_eq!(send(&r, 2, &mut 0, 1), Err(RingError::Busy(mode)));
        assert_ne!(r.settle(2, mode, &receiver_at_0), Settle::Wait, "{mode:?}");
        assert_eq!(r.mode(), Some(Mode::Shared));
        assert_eq!(send(&r, 2, &mut 0, 1), Ok(()));
    }
    // A real sender at 0 moving the mode is waited for.
    let moving = Mode::Moving {
        mover: 0,
        from: None,
    };
    ctl.mode.store(moving.encode(), Ordering::Relaxed);
    assert_eq!(r.settle(2, moving, &peers(&[])), Settle::Wait);
}

#[test]
fn a_garbage_mode_is_corrupt() {
    let r = ring(8);
    r.region()
        .control()
        .mode
        .store(0xdead_beef, Ordering::Relaxed);
    assert_eq!(send(&r, 1, &mut 0, 1), Err(RingError::Corrupt));
    assert_eq!(r.mode(), None);
}

#[test]
fn a_packed_batch_is_published_by_its_head_alone() {
    let r = ring(8);
    let mut rx = Rx::new();
    let mut cache = 0;
    assert_eq!(
        r.send_packed_once(1, &mut cache, &[10, 11, 12, 13, 14], false),
        Ok(5)
    );
    // The head says where the batch ends; the other positions' `seq`s are lap -1's.
    let Ok(Peek::Packed(run)) = r.peek(0) else {
        panic!("{:?}", r.peek(0))
    };
    assert_eq!((run.start, run.end), (0, 5));
    for p in 1..5 {
        assert_eq!(r.peek(p), Ok(Peek::Empty));
    }
    assert_eq!(r.messages_between(0, r.tail()), 5);
    assert_eq!(rx.recv(&r), Some(Some(10)));
    assert_eq!(rx.recv_many(&r, 8), [11, 12, 13, 14]);
    // A lap later the same slots carry single messages and a packed batch again.
    for v in 15..18 {
        send(&r, 1, &mut cache, v).unwrap();
    }
    assert_eq!(
        r.send_packed_once(1, &mut cache, &[18, 19, 20], false),
        Ok(3)
    );
    assert_eq!(rx.recv_many(&r, 8), [15, 16, 17, 18, 19, 20]);
}

#[test]
fn a_run_enters_a_packed_batch_only_at_its_first_position() {
    let r = ring(8);
    send(&r, 1, &mut 0, 1).unwrap();
    r.send_packed_once(1, &mut 0, &[2, 3], false).unwrap();
    let mut packed = PackedRun::default();
    let take_all = |_, _, n, _| n;
    let run = r.receive_run(0, 8, &mut packed, take_all);
    assert_eq!(
        run,
        Run {
            len: 1,
            end: RunEnd::Packed
        }
    );
    assert_eq!(
        packed,
        PackedRun::default(),
        "not recorded before the head is there"
    );
    let run = r.receive_run(1, 8, &mut packed, take_all);
    assert_eq!(
        run,
        Run {
            len: 2,
            end: RunEnd::Empty
        }
    );
    assert_eq!((packed.start, packed.end), (1, 3));
    assert_eq!(r.head(), 1, "the head is recorded before the batch");
}

#[test]
fn a_receiver_that_joins_inside_a_packed_batch_resumes_there() {
    let r = ring(8);
    let mut rx = Rx::new();
    r.send_packed_once(1, &mut 0, &[10, 11, 12, 13, 14], false)
        .unwrap();
    send(&r, 1, &mut 0, 15).unwrap();
    assert_eq!(rx.recv_many(&r, 2), [10, 11]);
    // The receiver dies: what a successor finds recorded.
    let head = r.head();
    assert_eq!(head, 2);
    let run = r.packed_run_of(head);
    assert_eq!((run.start, run.end), (0, 5));
    assert_eq!(r.messages_between(head, r.tail()), 4);
    r.release(head);
    let mut next = Rx {
        head,
        released: head,
        packed: r.packed_run_of(head),
    };
    assert_eq!(next.recv_many(&r, 8), [12, 13, 14, 15]);
    assert_eq!(r.packed_run_of(r.head()), PackedRun::default(), "past it");
}

#[test]
fn a_packed_head_whose_length_is_no_batch_is_corrupt() {
    // Nothing, more than the ring holds, beyond what was claimed.
    for len in [0, 9, 4] {
        let r = ring(8);
        r.send_packed_once(1, &mut 0, &[1, 2, 3], false).unwrap();
        r.region().run_len(0).unwrap().store(len, Ordering::Relaxed);
        assert_eq!(r.peek(0), Err(RingError::Corrupt), "length {len}");
        assert_eq!(scan(&r, 0, 8).end, RunEnd::Corrupt, "length {len}");
        // A count for a leaving sender: never more than were claimed.
        assert!(r.messages_between(0, r.tail()) <= 3, "length {len}");
    }
}

#[test]
fn a_seq_laps_old_is_unpublished_and_one_of_no_earlier_lap_is_corrupt() {
    let r = ring(4);
    // Slot 1 as lap -1 left it: position 1 of any later lap reads it as unpublished
    // (a slot that lay inside packed batches since).
    for laps in [0u64, 1, 5, 1000] {
        assert_eq!(r.peek(1 + 4 * laps), Ok(Peek::Empty), "{laps} laps on");
        assert!(!r.published(1 + 4 * laps));
    }
    // A later lap's position, or one that is behind by no whole number of laps: garbage.
    for seq in [published_seq(5, false), published_seq(0, false), PACKED] {
        r.region().slot(1).seq.store(seq, Ordering::Relaxed);
        assert_eq!(r.peek(1), Err(RingError::Corrupt), "seq {seq:#x}");
        assert!(
            r.published(1),
            "a receiver must not sleep on a corrupt slot"
        );
    }
    // Both flags at once fit no state.
    r.region()
        .slot(1)
        .seq
        .store(published_seq(1, true) | PACKED, Ordering::Relaxed);
    assert_eq!(r.peek(1), Err(RingError::Corrupt));
}
