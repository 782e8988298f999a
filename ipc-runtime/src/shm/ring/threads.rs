//! The ring under real threads: three senders and a receiver keep every sender's order
//! while the mode moves (the bias taken and revoked), with single and batched sends and
//! receives. (The protocol's single steps are `tests`; every interleaving, `loom_tests`.)

use super::heap::HeapRegion;
use super::tests::{peers, ring, Rx};
use super::*;
use crate::sync::atomic::fence;

/// The process's real barriers: claims fenced by a compiler barrier and movers'
/// `membarrier` when this process is registered, `SeqCst` fences otherwise.
struct ProcessPeers;

impl Peers for ProcessPeers {
    fn alive(&self, _: usize) -> bool {
        true
    }
    fn heavy(&self) -> bool {
        if crate::sync::fence::registered() {
            crate::sync::fence::heavy()
        } else {
            fence(Ordering::SeqCst);
            true
        }
    }
}

/// Sends `v` as participant `me`, yielding while the ring is full and settling the
/// mode when told `Busy`; returns the number of biases it revoked on the way.
fn send_settling(
    r: &Ring<HeapRegion>,
    me: usize,
    cache: &mut u64,
    v: u64,
    fenced: bool,
    peers: &impl Peers,
) -> u32 {
    let mut revoked = 0;
    loop {
        match r.send_once(me, cache, v, fenced) {
            Ok(()) => return revoked,
            Err(RingError::Busy(m)) => {
                if r.settle(me, m, peers) == Settle::Revoked {
                    revoked += 1;
                }
            }
            Err(RingError::Full) => std::thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// Sends `vs` as participant `me` in batched sends (`packed`: as packed batches),
/// yielding while the ring is full and settling the mode when told `Busy`; returns the
/// number of biases it revoked.
fn send_many_settling(
    r: &Ring<HeapRegion>,
    me: usize,
    cache: &mut u64,
    vs: &[u64],
    (fenced, packed): (bool, bool),
    peers: &impl Peers,
) -> u32 {
    let (mut revoked, mut sent) = (0, 0);
    while sent < vs.len() {
        let once = if packed {
            r.send_packed_once(me, cache, &vs[sent..], fenced)
        } else {
            r.send_many_once(me, cache, &vs[sent..], fenced)
        };
        match once {
            Ok(n) => sent += n,
            Err(RingError::Busy(m)) => {
                if r.settle(me, m, peers) == Settle::Revoked {
                    revoked += 1;
                }
            }
            Err(RingError::Full) => std::thread::yield_now(),
            Err(e) => panic!("{e:?}"),
        }
    }
    revoked
}

/// Receives `n` messages `id << 32 | i` from each of senders `1..=senders`, checking
/// each sender's order, then that nothing more arrives. `batch` 0: one message at a
/// time; else batched receives of 1, 2, ... `batch` messages in turn.
fn receive_in_order(r: &Ring<HeapRegion>, senders: usize, n: u64, batch: usize) {
    let mut rx = Rx::new();
    let mut next = vec![0u64; senders + 1];
    let mut got = 0;
    let mut check = |v: u64| {
        let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
        assert_eq!(i, next[id], "sender {id}");
        next[id] += 1;
    };
    let mut k = 0;
    while got < senders as u64 * n {
        if batch > 0 {
            k = k % batch + 1;
            let vs = rx.recv_many(r, k);
            if vs.is_empty() {
                std::thread::yield_now();
            }
            got += vs.len() as u64;
            vs.into_iter().for_each(&mut check);
            continue;
        }
        match rx.recv(r) {
            Some(Some(v)) => {
                check(v);
                got += 1;
            }
            Some(None) => panic!("nothing was cancelled"),
            None => std::thread::yield_now(),
        }
    }
    assert_eq!(rx.recv(r), None, "nothing more than was sent");
}

/// Runs `send(ring, id)` on threads `1..=3` beside a receiver that checks each
/// sender's order; returns what the senders returned.
fn three_senders<T: Send + 'static>(
    r: Ring<HeapRegion>,
    n: u64,
    send: fn(&Ring<HeapRegion>, u64, u64) -> T,
) -> (std::sync::Arc<Ring<HeapRegion>>, Vec<T>) {
    three_senders_receiving(r, n, 0, send)
}

/// [`three_senders`], with the receiver taking batches as `receive_in_order` says.
fn three_senders_receiving<T: Send + 'static>(
    r: Ring<HeapRegion>,
    n: u64,
    batch: usize,
    send: fn(&Ring<HeapRegion>, u64, u64) -> T,
) -> (std::sync::Arc<Ring<HeapRegion>>, Vec<T>) {
    use std::sync::Arc;
    let r = Arc::new(r);
    let senders: Vec<_> = (1..=3u64)
        .map(|id| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || send(&r, id, n))
        })
        .collect();
    receive_in_order(&r, 3, n, batch);
    let results = senders.into_iter().map(|s| s.join().unwrap()).collect();
    (r, results)
}

#[test]
fn threads_preserve_per_sender_order() {
    three_senders(ring(64), 20_000, |r, id, n| {
        let mut cache = 0;
        for i in 0..n {
            send_settling(r, id as usize, &mut cache, id << 32 | i, false, &peers(&[]));
        }
    });
}

#[test]
fn threads_preserve_per_sender_order_while_a_bias_is_revoked() {
    let r = ring(64);
    assert!(r.take_bias(1, &peers(&[])));
    let (r, revoked) = three_senders(r, 20_000, |r, id, n| {
        let mut cache = 0;
        (0..n)
            .map(|i| send_settling(r, id as usize, &mut cache, id << 32 | i, false, &peers(&[])))
            .sum::<u32>()
    });
    assert_eq!(revoked.iter().sum::<u32>(), 1);
    assert_eq!(r.mode(), Some(Mode::Shared));
}

/// The mode changes on real processors with the real barriers (`membarrier` when this
/// process can register). A race in the protocol's nanosecond windows is rarely hit
/// this way (removing the mover's wait still passed five runs): the loom models are
/// what check the protocol; this checks the barriers and the plumbing.
#[test]
fn threads_keep_order_while_the_bias_is_taken_and_revoked_over_and_over() {
    let (_, counts) = three_senders(ring(64), 30_000, |r, id, n| {
        let fenced = crate::sync::fence::registered();
        let mut cache = 0;
        let (mut took, mut revoked) = (0u32, 0u32);
        for i in 0..n {
            // Grab the bias now and then, as a sender that thinks it is alone would:
            // the others revoke it at their next claim.
            if i % 500 == 0 && r.take_bias(id as usize, &ProcessPeers) {
                took += 1;
            }
            revoked += send_settling(
                r,
                id as usize,
                &mut cache,
                id << 32 | i,
                fenced,
                &ProcessPeers,
            );
        }
        (took, revoked)
    });
    let (took, revoked) = counts
        .into_iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(took > 0 && revoked > 0, "took {took}, revoked {revoked}");
}

#[test]
fn threads_sending_and_receiving_in_batches_keep_order_while_the_bias_moves() {
    // Batches of 1 to 97 messages (larger than the ring, smaller, one), every other one
    // packed, from three senders that now and then grab the bias, into a receiver
    // taking 1 to 40 at a time.
    let (_, counts) = three_senders_receiving(ring(64), 30_000, 40, |r, id, n| {
        let fenced = crate::sync::fence::registered();
        let mut cache = 0;
        let (mut took, mut revoked) = (0u32, 0u32);
        let (mut i, mut size) = (0, id);
        while i < n {
            size = size * 7 % 97 + 1;
            let vs: Vec<u64> = (i..(i + size).min(n)).map(|i| id << 32 | i).collect();
            if i % 8 == 0 && r.take_bias(id as usize, &ProcessPeers) {
                took += 1;
            }
            let packed = size % 2 == 0;
            revoked += send_many_settling(
                r,
                id as usize,
                &mut cache,
                &vs,
                (fenced, packed),
                &ProcessPeers,
            );
            i += vs.len() as u64;
        }
        (took, revoked)
    });
    let (took, revoked) = counts
        .into_iter()
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(took > 0 && revoked > 0, "took {took}, revoked {revoked}");
}

#[test]
fn batched_packed_and_single_senders_share_a_ring_in_order() {
    // Sender 1 packs its batches, sender 3 writes them into the slots, sender 2 sends
    // one at a time.
    three_senders_receiving(ring(16), 20_000, 7, |r, id, n| {
        let mut cache = 0;
        if id == 2 {
            for i in 0..n {
                send_settling(r, 2, &mut cache, 2 << 32 | i, false, &peers(&[]));
            }
            return;
        }
        for chunk in (0..n).collect::<Vec<_>>().chunks(id as usize * 5) {
            let vs: Vec<u64> = chunk.iter().map(|&i| id << 32 | i).collect();
            let packed = id == 1;
            send_many_settling(
                r,
                id as usize,
                &mut cache,
                &vs,
                (false, packed),
                &peers(&[]),
            );
        }
    });
}
