//! The topic protocol on a heap board, one thread: waiting, lagging, history, holding a
//! sample across laps, and hostile words.

use super::heap::{HeapBoard, Lag};
use super::*;

fn everyone_alive() -> impl FnMut(usize) -> bool {
    |_| true
}

#[test]
fn block_waits_for_the_slowest_subscriber_and_loses_nothing() {
    let b = HeapBoard::new(4, 2);
    let mut p = Publishing::attach(&b, Overflow::Block).unwrap();
    let (mut fast, mut slow) = (b.subscribe(0, 0), b.subscribe(1, 0));
    for v in 0..4 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    assert_eq!(
        b.publish(&mut p, 4, &mut everyone_alive()),
        Err(TopicError::Full)
    );
    for v in 0..4 {
        assert_eq!(b.read(0, &mut fast, Overflow::Block), Ok(Some(v)));
    }
    // The fast one is done; the slow one still holds position 0 back.
    assert_eq!(
        b.publish(&mut p, 4, &mut everyone_alive()),
        Err(TopicError::Full)
    );
    assert_eq!(b.read(1, &mut slow, Overflow::Block), Ok(Some(0)));
    b.publish(&mut p, 4, &mut everyone_alive()).unwrap();
    for v in 1..5 {
        assert_eq!(b.read(1, &mut slow, Overflow::Block), Ok(Some(v)));
    }
    assert_eq!(b.read(0, &mut fast, Overflow::Block), Ok(Some(4)));
    assert_eq!(b.read(0, &mut fast, Overflow::Block), Ok(None));
}

#[test]
fn block_stops_waiting_for_a_dead_subscriber() {
    let b = HeapBoard::new(2, 2);
    let mut p = Publishing::attach(&b, Overflow::Block).unwrap();
    let mut live = b.subscribe(0, 0);
    let _dead = b.subscribe(1, 0);
    let mut alive = |k: usize| k == 0;
    for v in 0..10 {
        b.publish(&mut p, v, &mut alive).unwrap();
        assert_eq!(b.read(0, &mut live, Overflow::Block), Ok(Some(v)));
    }
    assert_eq!(b.sub(1).attached.load(Ordering::Relaxed), 0, "detached");
}

#[test]
fn drop_oldest_never_waits_and_counts_every_sample_it_skips() {
    let b = HeapBoard::new(8, 1);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    let mut c = b.subscribe(0, 0);
    let published = 100;
    for v in 0..published {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    let (mut seen, mut missed, mut last) = (0, 0, None);
    loop {
        match b.read(0, &mut c, Overflow::DropOldest) {
            Ok(Some(v)) => {
                assert!(last.is_none_or(|l| v > l), "in order, none twice");
                last = Some(v);
                seen += 1;
            }
            Ok(None) => break,
            Err(Lag::Skipped(n)) => missed += n,
            Err(Lag::Corrupt) => panic!("corrupt"),
        }
    }
    assert_eq!(seen + missed, published);
    assert_eq!(last, Some(published - 1));
    assert!(missed > 0 && seen >= 7, "seen {seen}, missed {missed}");
}

/// A subscriber that keeps up looks at positions not yet published, in the first lap as
/// in later ones: it finds nothing to read, and never lags.
#[test]
fn a_subscriber_that_keeps_up_never_lags() {
    for overflow in [Overflow::DropOldest, Overflow::Block] {
        let b = HeapBoard::new(8, 1);
        let mut p = Publishing::attach(&b, overflow).unwrap();
        let mut c = b.subscribe(0, 0);
        for v in 0..30 {
            assert_eq!(
                b.read(0, &mut c, overflow),
                Ok(None),
                "{overflow:?} before {v}"
            );
            assert_eq!(
                b.read(0, &mut c, overflow),
                Ok(None),
                "{overflow:?} before {v}"
            );
            b.publish(&mut p, v, &mut everyone_alive()).unwrap();
            assert_eq!(b.read(0, &mut c, overflow), Ok(Some(v)), "{overflow:?}");
        }
    }
}

#[test]
fn a_sample_held_across_laps_keeps_its_bytes() {
    let b = HeapBoard::new(4, 2);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    let c = b.subscribe(0, 0);
    b.publish(&mut p, 1000, &mut everyone_alive()).unwrap();
    // Subscriber 0 holds position 0's sample: it looked, and has not moved on.
    let Peek::Ready(held) = peek(&b, c, Overflow::DropOldest) else {
        panic!("published")
    };
    for v in 1..50 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    let mut chunks = std::collections::HashSet::new();
    for i in 0..4 {
        chunks.insert(b.names(i).load(Ordering::Relaxed));
    }
    assert!(!chunks.contains(&held), "the held chunk is out of the ring");
    assert_eq!(chunks.len(), 4);
    let mut c = c;
    advance(&b, 0, c, c + 1, false, Overflow::DropOldest);
    c += 1;
    assert!(matches!(
        b.read(0, &mut c, Overflow::DropOldest),
        Err(Lag::Skipped(_))
    ));
    // Once it moved on, its old chunk goes back into use.
    for v in 50..200 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    let used: std::collections::HashSet<u64> =
        (0..4).map(|i| b.names(i).load(Ordering::Relaxed)).collect();
    assert_eq!(used.len(), 4);
}

#[test]
fn a_sample_two_subscribers_hold_keeps_its_bytes_until_both_move_on() {
    let b = HeapBoard::new(4, 2);
    let first = b.subscribe(0, 0);
    let mut second = b.subscribe(1, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    b.publish(&mut p, 0, &mut everyone_alive()).unwrap();
    // Both hold position 0's sample, one chunk, while the publisher replaces it.
    let Peek::Ready(held) = peek(&b, first, Overflow::DropOldest) else {
        panic!("published")
    };
    assert_eq!(peek(&b, second, Overflow::DropOldest), Peek::Ready(held));
    for v in 1..5 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    // The second moves on, and holds each next sample while the publisher replaces it:
    // each time a chunk is kept out of the ring for it, and one goes back in.
    for v in 5..40 {
        advance(&b, 1, second, second + 1, false, Overflow::DropOldest);
        second += 1;
        if peek(&b, second, Overflow::DropOldest) == Peek::Lagged {
            assert!(matches!(
                b.read(1, &mut second, Overflow::DropOldest),
                Err(Lag::Skipped(_))
            ));
        }
        let Peek::Ready(_) = peek(&b, second, Overflow::DropOldest) else {
            panic!("published")
        };
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
        assert_eq!(b.value(held), 0, "after publishing {v}");
    }
}

#[test]
fn a_late_subscriber_gets_the_history_first() {
    let b = HeapBoard::new(16, 1);
    let mut p = Publishing::attach(&b, Overflow::Block).unwrap();
    for v in 0..10 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    let mut c = b.subscribe(0, 3);
    for v in 7..10 {
        assert_eq!(b.read(0, &mut c, Overflow::Block), Ok(Some(v)));
    }
    assert_eq!(b.read(0, &mut c, Overflow::Block), Ok(None));
}

#[test]
fn a_publisher_that_attaches_later_goes_on_where_the_last_one_stopped() {
    let b = HeapBoard::new(4, 1);
    let mut c = b.subscribe(0, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    for v in 0..6 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    drop(p);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    assert_eq!(p.next(), 6);
    for v in 6..9 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    let mut got = Vec::new();
    loop {
        match b.read(0, &mut c, Overflow::DropOldest) {
            Ok(Some(v)) => got.push(v),
            Ok(None) => break,
            Err(Lag::Skipped(_)) => {}
            Err(Lag::Corrupt) => panic!("corrupt"),
        }
    }
    assert_eq!(got.last(), Some(&8));
    assert!(got.windows(2).all(|w| w[0] < w[1]));
}

/// What subscriber `me` reads from `cursor` on until nothing is published: the samples,
/// and the count of those it skipped.
fn read_all(b: &HeapBoard, me: usize, cursor: &mut u64) -> (Vec<u64>, u64) {
    let (mut got, mut skipped) = (Vec::new(), 0);
    loop {
        match b.read(me, cursor, Overflow::DropOldest) {
            Ok(Some(v)) => got.push(v),
            Ok(None) => return (got, skipped),
            Err(Lag::Skipped(n)) => skipped += n,
            Err(Lag::Corrupt) => panic!("corrupt"),
        }
    }
}

#[test]
fn a_publisher_that_attaches_never_writes_a_sample_held_across_the_handover() {
    let b = HeapBoard::new(8, 1);
    let mut c = b.subscribe(0, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    for v in 0..8 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    drop(p);
    // The subscriber holds position 0's sample while another publisher takes over.
    let Peek::Ready(held) = peek(&b, c, Overflow::DropOldest) else {
        panic!("published")
    };
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    for v in 8..40 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
        assert_eq!(b.value(held), 0, "after publishing {v}");
    }
    advance(&b, 0, c, c + 1, false, Overflow::DropOldest);
    c += 1;
    let (got, skipped) = read_all(&b, 0, &mut c);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    assert_eq!(got.last(), Some(&39));
    assert_eq!(
        1 + skipped + got.len() as u64,
        40,
        "{got:?}, skipped {skipped}"
    );
}

#[test]
fn a_publisher_that_attaches_evicts_before_it_writes_its_first_lap() {
    let b = HeapBoard::new(8, 1);
    let mut c = b.subscribe(0, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    for v in 0..8 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    drop(p);
    // Another publisher writes position 8, which replaces 0, and does not commit it yet
    // (a loan written, not sent): position 0 is gone, and 8 is not published.
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    b.write(&mut p, 7777, &mut everyone_alive()).unwrap();
    assert_eq!(
        b.read(0, &mut c, Overflow::DropOldest),
        Err(Lag::Skipped(1))
    );
    assert_eq!(read_all(&b, 0, &mut c), ((1..8).collect(), 0));
    p.commit(&b, false);
    assert_eq!(read_all(&b, 0, &mut c), (vec![7777], 0));
}

#[test]
fn a_publisher_that_attaches_knows_which_spare_chunk_a_subscriber_holds() {
    let b = HeapBoard::new(4, 2);
    let first = b.subscribe(0, 0);
    let mut second = b.subscribe(1, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    b.publish(&mut p, 0, &mut everyone_alive()).unwrap();
    // The first subscriber holds position 0 while the publisher laps it: position 0's
    // chunk is kept out of the ring for it.
    let Peek::Ready(held0) = peek(&b, first, Overflow::DropOldest) else {
        panic!("published")
    };
    for v in 1..10 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    drop(p);
    // The second one lagged: it skips to the oldest position still held, and holds it.
    assert!(matches!(
        b.read(1, &mut second, Overflow::DropOldest),
        Err(Lag::Skipped(_))
    ));
    let Peek::Ready(held1) = peek(&b, second, Overflow::DropOldest) else {
        panic!("published")
    };
    assert_eq!(b.value(held1), second);
    // Another publisher replaces the second one's position first: it needs a spare chunk,
    // and must tell the one the first subscriber holds from the free one.
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    for v in 10..40 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
        assert_eq!(b.value(held0), 0, "after publishing {v}");
        assert_eq!(b.value(held1), second, "after publishing {v}");
    }
}

#[test]
fn a_publisher_that_attaches_after_one_died_moving_an_entry_keeps_what_is_held() {
    let b = HeapBoard::new(4, 1);
    let mut c = b.subscribe(0, 0);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    b.publish(&mut p, 0, &mut everyone_alive()).unwrap();
    let Peek::Ready(held) = peek(&b, c, Overflow::DropOldest) else {
        panic!("published")
    };
    for v in 1..4 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
    }
    // Position 4 replaces the held one: the publisher writes it into a spare chunk,
    // stores the spare's number in the chunk map (the first store of its commit) and is
    // killed.
    let moved = b.write(&mut p, 4, &mut everyone_alive()).unwrap();
    assert_ne!(moved, held);
    b.names(0).store(moved, Ordering::Relaxed);
    drop(p);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    b.publish(&mut p, 4, &mut everyone_alive()).unwrap();
    assert_eq!(b.value(held), 0);
    // The subscriber moves on to position 1 and holds it while the publisher goes round.
    advance(&b, 0, c, c + 1, false, Overflow::DropOldest);
    c += 1;
    let Peek::Ready(held) = peek(&b, c, Overflow::DropOldest) else {
        panic!("published")
    };
    for v in 5..20 {
        b.publish(&mut p, v, &mut everyone_alive()).unwrap();
        assert_eq!(b.value(held), 1, "after publishing {v}");
    }
}

#[test]
fn a_publisher_that_attaches_after_one_died_publishing_goes_on_after_that_sample() {
    for overflow in [Overflow::Block, Overflow::DropOldest] {
        let b = HeapBoard::new(4, 1);
        let mut c = b.subscribe(0, 0);
        let mut p = Publishing::attach(&b, overflow).unwrap();
        for v in 0..4 {
            b.publish(&mut p, v, &mut everyone_alive()).unwrap();
            assert_eq!(b.read(0, &mut c, overflow), Ok(Some(v)));
        }
        // Position 4: the publisher writes it, stores its entry (the sample is published)
        // and is killed before it stores `tail`.
        b.write(&mut p, 4, &mut everyone_alive()).unwrap();
        b.entry(0).seq.store(5, Ordering::Release);
        drop(p);
        let Peek::Ready(held) = peek(&b, c, overflow) else {
            panic!("published")
        };
        assert_eq!(b.value(held), 4);
        let mut p = Publishing::attach(&b, overflow).unwrap();
        assert_eq!(p.next(), 5, "{overflow:?}: position 4 is published");
        for v in 5..8 {
            b.publish(&mut p, v, &mut everyone_alive()).unwrap();
            assert_eq!(b.value(held), 4, "{overflow:?}: after publishing {v}");
        }
        advance(&b, 0, c, c + 1, false, overflow);
        c += 1;
        for v in 5..8 {
            assert_eq!(b.read(0, &mut c, overflow), Ok(Some(v)));
        }
    }
}

#[test]
fn hostile_words_are_corrupt_never_out_of_bounds() {
    let b = HeapBoard::new(4, 1);
    let mut p = Publishing::attach(&b, Overflow::DropOldest).unwrap();
    let c = b.subscribe(0, 0);
    b.publish(&mut p, 7, &mut everyone_alive()).unwrap();
    // The chunk map is read under `DropOldest` only (under `Block` entry i is chunk i).
    b.names(0).store(1 << 40, Ordering::Relaxed);
    assert_eq!(peek(&b, c, Overflow::DropOldest), Peek::Corrupt);
    assert_eq!(peek(&b, c, Overflow::Block), Peek::Ready(0));
    b.names(0).store(0, Ordering::Relaxed);
    b.entry(1).seq.store(12345, Ordering::Relaxed);
    assert_eq!(peek(&b, c + 1, Overflow::Block), Peek::Corrupt);
    // A publisher attaching to a board whose entries name a chunk twice refuses it; under
    // `Block` it does not read the map at all.
    b.names(2).store(0, Ordering::Relaxed);
    assert!(matches!(
        Publishing::attach(&b, Overflow::DropOldest),
        Err(TopicError::Corrupt)
    ));
    assert!(Publishing::attach(&b, Overflow::Block).is_ok());
}
