//! The loom models of the ring, on a [`HeapRegion`]: every interleaving of a few
//! senders and the receiver, for slot reuse, order, mode changes and dead claimers
//! (`RUSTFLAGS="--cfg ipc_loom" cargo test --release -p typed-ipc-runtime --lib loom`). The
//! same operations on real threads are the job of `tests`.

use super::heap::HeapRegion;
use super::*;
use loom::sync::Arc;

fn model(f: impl Fn() + Sync + Send + 'static) {
    // Unbounded: every interleaving (and every weak-memory outcome loom models) of these
    // small scenarios is explored; the threads never spin, so the search is finite.
    loom::model::Builder::new().check(f);
}

/// Explores the interleavings with at most `bound` preemptions (for the scenarios too
/// large for the unbounded search to finish in CI's time).
fn model_bounded(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}

/// One attempt; true if sent. No spinning, so the model stays finite. `cache` is the
/// sender's copy of `released`.
fn try_send(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> bool {
    match r.send_once(me, cache, v, false) {
        Ok(()) => true,
        Err(RingError::Full) => false,
        Err(e) => panic!("{e:?}"),
    }
}

/// One receive attempt at `head`: Some(value) when a message (or, as `u64::MAX`, a
/// skipped abandoned slot) was consumed. Releases each slot at once (the batch of a
/// two-slot ring is 1).
fn try_recv(r: &Ring<HeapRegion>, head: &mut u64, alive: &dyn Fn(usize) -> bool) -> Option<u64> {
    match r.peek_full(*head).expect("corrupt") {
        Peek::Ready { pos, cancelled } => {
            let v = if cancelled {
                u64::MAX
            } else {
                // SAFETY: published, and this thread is the only receiver.
                unsafe { r.region().read(r.index(pos), false) }
            };
            *head += 1;
            r.set_head(*head);
            r.release(*head);
            Some(v)
        }
        Peek::Pending(pos) => {
            if r.skip_abandoned(pos, alive) {
                try_recv(r, head, alive)
            } else {
                None
            }
        }
        Peek::Empty => None,
        Peek::Packed(_) => panic!("a packed batch where none was sent"),
    }
}

/// [`try_recv`] that follows packed batches: `packed` is the receiver's record of the
/// last one it began (see the ring's docs).
fn try_recv_packed(
    r: &Ring<HeapRegion>,
    head: &mut u64,
    packed: &mut PackedRun,
    alive: &dyn Fn(usize) -> bool,
) -> Option<u64> {
    let (pos, v) = if packed.contains(*head) {
        // SAFETY: inside a batch whose head is published; the only receiver.
        (*head, unsafe { r.region().read(r.index(*head), true) })
    } else {
        match r.peek_full(*head).expect("corrupt") {
            Peek::Packed(run) => {
                *packed = run;
                // SAFETY: the head of a published batch; the only receiver.
                (run.start, unsafe {
                    r.region().read(r.index(run.start), true)
                })
            }
            Peek::Ready { pos, cancelled } => {
                let v = if cancelled {
                    u64::MAX
                } else {
                    // SAFETY: published, and this thread is the only receiver.
                    unsafe { r.region().read(r.index(pos), false) }
                };
                (pos, v)
            }
            Peek::Pending(pos) if r.skip_abandoned(pos, alive) => {
                return try_recv_packed(r, head, packed, alive);
            }
            Peek::Pending(_) | Peek::Empty => return None,
        }
    };
    *head = pos + 1;
    r.set_head(*head);
    r.release(*head);
    Some(v)
}

/// One batched receive at `head`, as the channel's `recv_many` takes one: a run of
/// published messages (skipping cancelled slots), then one record of progress and one
/// release. No waiting, so the model stays finite.
fn try_recv_many(
    r: &Ring<HeapRegion>,
    head: &mut u64,
    packed: &mut PackedRun,
    max: u64,
) -> Vec<u64> {
    let mut got = Vec::new();
    while (got.len() as u64) < max {
        let run = r.receive_run(*head, max - got.len() as u64, packed, |_, at, n, packed| {
            for p in at..at + n {
                // SAFETY: `p` is published (in a packed batch if `packed`), and this
                // thread is the only receiver.
                got.push(unsafe { r.region().read(r.index(p), packed) });
            }
            n
        });
        *head += run.len;
        match run.end {
            RunEnd::Cancelled => *head += 1,
            RunEnd::Packed => {}
            RunEnd::Refused | RunEnd::Corrupt => panic!("{:?}", run.end),
            RunEnd::Limit | RunEnd::Empty => break,
        }
    }
    r.set_head(*head);
    r.release(*head);
    got
}

/// One batched send attempt of a prefix of `vs`; how many went (0 if the ring was full).
fn try_send_many(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, vs: &[u64]) -> usize {
    match r.send_many_once(me, cache, vs, false) {
        Ok(n) => n,
        Err(RingError::Full) => 0,
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn loom_one_sender_reuses_slots_the_receiver_released() {
    // Three messages through two slots: the third needs the receiver's `released`,
    // and loom checks that the sender's write of the reused slot cannot race the
    // receiver's read of it.
    model(|| {
        let r = Arc::new(Ring::new(HeapRegion::new(2)));
        r.init();
        let tx = Arc::clone(&r);
        let s = loom::thread::spawn(move || {
            let mut cache = 0;
            (0..3u64)
                .filter(|&v| try_send(&tx, 1, &mut cache, v))
                .collect::<Vec<_>>()
        });
        let mut head = 0;
        let mut got = Vec::new();
        for _ in 0..2 {
            got.extend(try_recv(&r, &mut head, &|_| true));
        }
        let sent = s.join().unwrap();
        while let Some(v) = try_recv(&r, &mut head, &|_| true) {
            got.push(v);
        }
        assert_eq!(got, sent);
        assert!(sent.len() >= 2);
    });
}

#[test]
fn loom_two_senders_one_receiver_in_order_no_loss_no_duplicate() {
    model_bounded(3, || {
        let r = Arc::new(Ring::new(HeapRegion::new(2)));
        r.init();
        let senders: Vec<_> = [(1u64, 2u64), (2, 2)]
            .into_iter()
            .map(|(id, n)| {
                let r = Arc::clone(&r);
                loom::thread::spawn(move || {
                    let mut cache = 0;
                    (0..n)
                        .map(|k| id * 10 + k)
                        .filter(|&v| try_send(&r, id as usize, &mut cache, v))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut head = 0;
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(try_recv(&r, &mut head, &|_| true));
        }
        let sent: Vec<Vec<u64>> = senders.into_iter().map(|h| h.join().unwrap()).collect();
        while let Some(v) = try_recv(&r, &mut head, &|_| true) {
            got.push(v);
        }
        for (i, id) in [1u64, 2].into_iter().enumerate() {
            let mine: Vec<_> = got.iter().copied().filter(|v| v / 10 == id).collect();
            assert_eq!(mine, sent[i]);
        }
    });
}

#[test]
fn loom_three_senders_contend_for_two_slots() {
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(2)));
        r.init();
        let senders: Vec<_> = (1..=3u64)
            .map(|id| {
                let r = Arc::clone(&r);
                loom::thread::spawn(move || try_send(&r, id as usize, &mut 0, id))
            })
            .collect();
        let mut head = 0;
        let mut got = Vec::new();
        got.extend(try_recv(&r, &mut head, &|_| true));
        let sent: Vec<u64> = senders
            .into_iter()
            .zip(1..)
            .filter_map(|(h, id)| h.join().unwrap().then_some(id))
            .collect();
        while let Some(v) = try_recv(&r, &mut head, &|_| true) {
            got.push(v);
        }
        got.sort_unstable();
        assert_eq!(got, sent);
        assert!(sent.len() >= 2);
    });
}

/// Everybody alive; the heavy barrier as loom can model it, a `SeqCst` fence (the
/// claimers here are unfenced, so their side is a `SeqCst` fence too).
struct LoomPeers;

impl Peers for LoomPeers {
    fn alive(&self, _: usize) -> bool {
        true
    }
    fn heavy(&self) -> bool {
        loom::sync::atomic::fence(Ordering::SeqCst);
        true
    }
}

/// A send that settles the mode when told `Busy` (three attempts at most, so the
/// model stays finite); true if sent.
fn send_settling(r: &Ring<HeapRegion>, me: usize, cache: &mut u64, v: u64) -> bool {
    for _ in 0..3 {
        match r.send_once(me, cache, v, false) {
            Ok(()) => return true,
            Err(RingError::Busy(mode)) => {
                r.settle(me, mode, &LoomPeers);
            }
            Err(RingError::Full) => return false,
            Err(RingError::Corrupt) => panic!("corrupt"),
        }
    }
    false
}

/// Receives what is left after the senders joined; checks it is what they sent, in
/// each sender's order (values `10 * id + k`).
fn check_all_received(
    r: &Ring<HeapRegion>,
    mut head: u64,
    mut packed: PackedRun,
    mut got: Vec<u64>,
    sent: &[u64],
) {
    while let Some(v) = try_recv_packed(r, &mut head, &mut packed, &|_| true) {
        got.push(v);
    }
    for id in [1, 2] {
        let mine = |vs: &[u64]| {
            vs.iter()
                .copied()
                .filter(|v| v / 10 == id)
                .collect::<Vec<_>>()
        };
        assert_eq!(mine(&got), mine(sent), "sender {id}");
    }
    assert_eq!(got.len(), sent.len(), "nothing duplicated");
}

#[test]
fn loom_revoking_a_bias_mid_claim_loses_and_duplicates_nothing() {
    // Sender 1 holds the bias and sends with plain `tail` stores while sender 2 revokes
    // it and sends by CAS: no position may be claimed twice or lost.
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        r.region()
            .control()
            .mode
            .store(Mode::Biased(1).encode(), Ordering::SeqCst);
        let holder = Arc::clone(&r);
        let h = loom::thread::spawn(move || {
            let mut cache = 0;
            (10..12u64)
                .filter(|&v| send_settling(&holder, 1, &mut cache, v))
                .collect::<Vec<_>>()
        });
        let rival = Arc::clone(&r);
        let v = loom::thread::spawn(move || send_settling(&rival, 2, &mut 0, 20));
        let mut head = 0;
        let got: Vec<u64> = try_recv(&r, &mut head, &|_| true).into_iter().collect();
        let mut sent = h.join().unwrap();
        assert!(v.join().unwrap(), "the revoker gets through");
        sent.push(20);
        check_all_received(&r, head, PackedRun::default(), got, &sent);
    });
}

#[test]
fn loom_a_grant_waits_for_a_shared_claim_in_flight() {
    // Sender 1 biases the ring to itself and sends with a plain store while sender 2
    // claims by CAS (or, once the bias is there, revokes it): the CAS and the plain
    // store must not take the same position.
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        let granter = Arc::clone(&r);
        let g = loom::thread::spawn(move || {
            assert!(granter.take_bias(1, &LoomPeers), "nobody else moves");
            send_settling(&granter, 1, &mut 0, 10)
        });
        let other = Arc::clone(&r);
        let s = loom::thread::spawn(move || send_settling(&other, 2, &mut 0, 20));
        let mut sent = Vec::new();
        if g.join().unwrap() {
            sent.push(10);
        }
        if s.join().unwrap() {
            sent.push(20);
        }
        // Either may give up (a live mover makes the other wait, and each tries three
        // times): what matters is that what was sent arrives once.
        check_all_received(&r, 0, PackedRun::default(), Vec::new(), &sent);
    });
}

#[test]
fn loom_dead_claimer_is_skipped_and_live_one_is_not() {
    model(|| {
        let r = Arc::new(Ring::new(HeapRegion::new(2)));
        r.init();
        // Participant 2 claims a slot and dies without publishing.
        let dead = Arc::clone(&r);
        let d = loom::thread::spawn(move || dead.try_claim(2, &mut 0, false).is_ok());
        let live = Arc::clone(&r);
        let l = loom::thread::spawn(move || try_send(&live, 1, &mut 0, 7));
        let alive = |i: usize| i != 2;
        let mut head = 0;
        let mut got = Vec::new();
        for _ in 0..2 {
            got.extend(try_recv(&r, &mut head, &alive));
        }
        let claimed = d.join().unwrap();
        let sent = l.join().unwrap();
        while let Some(v) = try_recv(&r, &mut head, &alive) {
            got.push(v);
        }
        got.sort_unstable();
        let mut want = Vec::new();
        if sent {
            want.push(7);
        }
        if claimed {
            want.push(u64::MAX);
        }
        assert_eq!(got, want);
    });
}

#[test]
fn loom_a_batch_races_a_single_sender_and_a_batched_receiver() {
    // Sender 1 claims and publishes three messages in one batch (or as many as fit in
    // the four slots), sender 2 sends one by CAS, and the receiver takes a batch while
    // they run: the batch's claim and its first-last publish must neither overlap the
    // single claim nor let the receiver read a slot before it is written.
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        let batcher = Arc::clone(&r);
        let b = loom::thread::spawn(move || {
            let vs = [10, 11, 12];
            let n = try_send_many(&batcher, 1, &mut 0, &vs);
            vs[..n].to_vec()
        });
        let single = Arc::clone(&r);
        let s = loom::thread::spawn(move || try_send(&single, 2, &mut 0, 20));
        let mut head = 0;
        let got = try_recv_many(&r, &mut head, &mut PackedRun::default(), 4);
        let mut sent = b.join().unwrap();
        assert!(
            !sent.is_empty(),
            "four slots hold at least one of the batch"
        );
        if s.join().unwrap() {
            sent.push(20);
        }
        check_all_received(&r, head, PackedRun::default(), got, &sent);
    });
}

/// A batched send that settles the mode when told `Busy` (three attempts at most);
/// what it sent.
fn send_many_settling(r: &Ring<HeapRegion>, me: usize, vs: &[u64]) -> Vec<u64> {
    let mut cache = 0;
    for _ in 0..3 {
        match r.send_many_once(me, &mut cache, vs, false) {
            Ok(n) => return vs[..n].to_vec(),
            Err(RingError::Busy(mode)) => {
                r.settle(me, mode, &LoomPeers);
            }
            Err(RingError::Full) => return Vec::new(),
            Err(RingError::Corrupt) => panic!("corrupt"),
        }
    }
    Vec::new()
}

#[test]
fn loom_a_batch_claimed_with_the_bias_while_a_rival_revokes_it() {
    // Sender 1 holds the bias and claims a batch of two with one plain store of `tail`
    // while sender 2 revokes the bias and claims by CAS: the batch is in flight until
    // that store, and no position may be claimed twice or lost.
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        r.region()
            .control()
            .mode
            .store(Mode::Biased(1).encode(), Ordering::SeqCst);
        let holder = Arc::clone(&r);
        let h = loom::thread::spawn(move || send_many_settling(&holder, 1, &[10, 11]));
        let rival = Arc::clone(&r);
        let v = loom::thread::spawn(move || send_settling(&rival, 2, &mut 0, 20));
        let mut head = 0;
        let got = try_recv_many(&r, &mut head, &mut PackedRun::default(), 4);
        let mut sent = h.join().unwrap();
        if v.join().unwrap() {
            sent.push(20);
        }
        check_all_received(&r, head, PackedRun::default(), got, &sent);
    });
}

#[test]
fn loom_a_dead_batch_claimer_is_skipped_and_a_live_batch_is_not() {
    // Participant 2 claims a batch of two and dies without publishing; participant 1
    // sends a batch of two. The receiver skips only the dead one's positions.
    model_bounded(3, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        let dead = Arc::clone(&r);
        let d = loom::thread::spawn(move || {
            dead.try_claim_many(2, &mut 0, false, 2)
                .map_or(0, |(_, n)| n)
        });
        let live = Arc::clone(&r);
        let l = loom::thread::spawn(move || {
            let vs = [7, 8];
            let n = try_send_many(&live, 1, &mut 0, &vs);
            vs[..n].to_vec()
        });
        let alive = |i: usize| i != 2;
        let mut head = 0;
        let mut got = Vec::new();
        // Two looks while the batch may be half published: a receiver that read the
        // first position of the live batch must not take the second for abandoned.
        for _ in 0..2 {
            got.extend(try_recv(&r, &mut head, &alive));
        }
        let claimed = d.join().unwrap();
        let sent = l.join().unwrap();
        while let Some(v) = try_recv(&r, &mut head, &alive) {
            got.push(v);
        }
        let skipped = got.iter().filter(|&&v| v == u64::MAX).count() as u64;
        got.retain(|&v| v != u64::MAX);
        assert_eq!(got, sent, "the live batch, whole and in order");
        assert_eq!(
            skipped, claimed,
            "each of the dead claimer's positions, skipped"
        );
    });
}

/// One attempt at a packed batch of a prefix of `vs`; what went.
fn try_send_packed(r: &Ring<HeapRegion>, me: usize, vs: &[u64]) -> Vec<u64> {
    match r.send_packed_once(me, &mut 0, vs, false) {
        Ok(n) => vs[..n].to_vec(),
        Err(RingError::Full) => Vec::new(),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn loom_a_packed_batch_races_a_single_sender_and_a_batched_receiver() {
    // Sender 1 sends three messages as one packed batch (or as many as fit), sender 2
    // one by CAS, and the receiver takes a batch while they run, then the rest: it may
    // read the packed array only once the head is published, and every message arrives
    // once, each sender's in order.
    model_bounded(2, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        let batcher = Arc::clone(&r);
        let b = loom::thread::spawn(move || try_send_packed(&batcher, 1, &[10, 11, 12]));
        let single = Arc::clone(&r);
        let s = loom::thread::spawn(move || try_send(&single, 2, &mut 0, 20));
        let mut head = 0;
        let mut packed = PackedRun::default();
        let got = try_recv_many(&r, &mut head, &mut packed, 4);
        let mut sent = b.join().unwrap();
        assert!(
            !sent.is_empty(),
            "four slots hold at least one of the batch"
        );
        if s.join().unwrap() {
            sent.push(20);
        }
        check_all_received(&r, head, packed, got, &sent);
    });
}

#[test]
fn loom_a_dead_packed_claimer_loses_its_whole_batch_and_no_other() {
    // Participant 2 claims two positions for a packed batch and dies having written its
    // messages and length but not published the head; participant 1 sends a packed
    // batch of two. The receiver, looking while both run, skips exactly the dead one's
    // positions (its interior ones carry an earlier lap's `seq`) and takes the live
    // batch whole.
    model_bounded(3, || {
        let r = Arc::new(Ring::new(HeapRegion::new(4)));
        r.init();
        let dead = Arc::clone(&r);
        let d = loom::thread::spawn(move || {
            dead.try_claim_many(2, &mut 0, false, 2)
                .map_or(0, |(pos, n)| {
                    // Written, never published.
                    for at in pos..pos + n {
                        // SAFETY: claimed by this thread.
                        unsafe { dead.region().write(dead.index(at), 99, true) };
                    }
                    dead.region()
                        .run_len(dead.index(pos))
                        .unwrap()
                        .store(n, Ordering::Relaxed);
                    n
                })
        });
        let live = Arc::clone(&r);
        let l = loom::thread::spawn(move || try_send_packed(&live, 1, &[7, 8]));
        let alive = |i: usize| i != 2;
        let (mut head, mut packed) = (0, PackedRun::default());
        let mut got = Vec::new();
        for _ in 0..2 {
            got.extend(try_recv_packed(&r, &mut head, &mut packed, &alive));
        }
        let claimed = d.join().unwrap();
        let sent = l.join().unwrap();
        while let Some(v) = try_recv_packed(&r, &mut head, &mut packed, &alive) {
            got.push(v);
        }
        let skipped = got.iter().filter(|&&v| v == u64::MAX).count() as u64;
        got.retain(|&v| v != u64::MAX);
        assert_eq!(got, sent, "the live batch, whole and in order");
        assert_eq!(
            skipped, claimed,
            "each of the dead claimer's positions, skipped"
        );
    });
}

#[test]
fn loom_slots_inside_packed_batches_are_reused_one_lap_later() {
    // Two slots: a packed batch of two, then single messages that reuse both slots
    // (the second slot's `seq` was never written by the batch: two laps old), then a
    // packed batch again, all while the receiver takes them one by one.
    model_bounded(3, || {
        let r = Arc::new(Ring::new(HeapRegion::new(2)));
        r.init();
        let tx = Arc::clone(&r);
        let s = loom::thread::spawn(move || {
            let mut sent = try_send_packed(&tx, 1, &[10, 11]);
            for v in [12, 13] {
                if try_send(&tx, 1, &mut 0, v) {
                    sent.push(v);
                }
            }
            sent
        });
        let (mut head, mut packed) = (0, PackedRun::default());
        let mut got = Vec::new();
        for _ in 0..3 {
            got.extend(try_recv_packed(&r, &mut head, &mut packed, &|_| true));
        }
        let sent = s.join().unwrap();
        check_all_received(&r, head, packed, got, &sent);
    });
}
