//! Loom models of the topic protocol: every interleaving of a publisher and subscribers on
//! a two-entry board. Loom's cells fail a model in which the publisher writes a chunk
//! while a subscriber reads it, which is the slot-reuse rule under test.

use super::heap::{HeapBoard, Lag};
use super::*;
use loom::sync::Arc;
use loom::thread;

fn alive(_: usize) -> bool {
    true
}

/// Explores the interleavings with at most `bound` preemptions: the threads make a fixed
/// number of attempts (no spinning), so the search is finite.
fn model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(bound);
    b.check(f);
}

/// `DropOldest`: the publisher laps a subscriber that is reading; the subscriber sees
/// samples in order, none twice, and counts the rest.
#[test]
fn drop_oldest_never_writes_a_chunk_being_read() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 1));
        let mut cursor = b.subscribe(0, 0);
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
                for v in 1..=4 {
                    b.publish(&mut p, v, &mut alive).unwrap();
                }
            })
        };
        let (mut last, mut accounted) = (0, 0);
        for _ in 0..3 {
            match b.read(0, &mut cursor, Overflow::DropOldest) {
                Ok(Some(v)) => {
                    assert!(v > last, "{v} after {last}");
                    last = v;
                    accounted += 1;
                }
                Ok(None) => {}
                Err(Lag::Skipped(n)) => accounted += n,
                Err(Lag::Corrupt) => panic!("corrupt"),
            }
        }
        publisher.join().unwrap();
        assert_eq!(accounted, cursor, "every position read or counted");
    });
}

/// What subscriber `me` reads in `tries` looks from `cursor` on: samples in order, none
/// twice, lags counted; returns the last sample.
fn read_on(b: &HeapBoard, me: usize, cursor: &mut u64, mut last: u64, tries: usize) -> u64 {
    for _ in 0..tries {
        match b.read(me, cursor, Overflow::DropOldest) {
            Ok(Some(v)) => {
                assert!(v > last, "{v} after {last}");
                last = v;
            }
            Ok(None) | Err(Lag::Skipped(_)) => {}
            Err(Lag::Corrupt) => panic!("corrupt"),
        }
    }
    last
}

/// `DropOldest`: two subscribers hold one sample when the publisher replaces it; one moves
/// on, and the publisher laps it again while the other still reads the first sample: that
/// chunk is written into only after both moved on.
#[test]
fn drop_oldest_keeps_a_chunk_until_every_reader_moved_on() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 2));
        let mut first = b.subscribe(0, 0);
        let mut second = b.subscribe(1, 0);
        let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
        for v in 1..=2 {
            b.publish(&mut p, v, &mut alive).unwrap();
        }
        // Both hold position 0 while position 2 replaces it.
        let Peek::Ready(held) = peek(&*b, first, Overflow::DropOldest) else {
            panic!("published")
        };
        assert_eq!(peek(&*b, second, Overflow::DropOldest), Peek::Ready(held));
        b.publish(&mut p, 3, &mut alive).unwrap();
        // The second moves on to position 1 and holds it while position 3 replaces it.
        advance(&*b, 1, second, second + 1, false, Overflow::DropOldest);
        second += 1;
        let Peek::Ready(held2) = peek(&*b, second, Overflow::DropOldest) else {
            panic!("published")
        };
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                for v in 4..=5 {
                    b.publish(&mut p, v, &mut alive).unwrap();
                }
            })
        };
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                assert_eq!(b.value(held2), 2);
                advance(&*b, 1, second, second + 1, false, Overflow::DropOldest);
                second += 1;
                read_on(&b, 1, &mut second, 2, 2);
            })
        };
        assert_eq!(b.value(held), 1);
        advance(&*b, 0, first, first + 1, false, Overflow::DropOldest);
        first += 1;
        read_on(&b, 0, &mut first, 1, 2);
        publisher.join().unwrap();
        other.join().unwrap();
    });
}

/// `DropOldest`: a publisher attaches to a topic whose first publisher published a lap
/// and left, while the subscriber holds position 0 and then reads on: the new publisher
/// evicts before it writes, as the first one would.
#[test]
fn a_publisher_that_attaches_never_writes_a_chunk_being_read() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 1));
        let mut cursor = b.subscribe(0, 0);
        let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
        for v in 1..=2 {
            b.publish(&mut p, v, &mut alive).unwrap();
        }
        drop(p);
        let Peek::Ready(held) = peek(&*b, cursor, Overflow::DropOldest) else {
            panic!("published")
        };
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
                for v in 3..=5 {
                    b.publish(&mut p, v, &mut alive).unwrap();
                }
            })
        };
        assert_eq!(b.value(held), 1);
        advance(&*b, 0, cursor, cursor + 1, false, Overflow::DropOldest);
        cursor += 1;
        read_on(&b, 0, &mut cursor, 1, 3);
        publisher.join().unwrap();
    });
}

/// `DropOldest`: the first publisher kept position 0's chunk out of the ring for the
/// subscriber that holds it, and left; another subscriber holds position 2. A publisher
/// that attaches and replaces position 2 keeps that one's chunk too, and takes the spare
/// nobody reads, never the first subscriber's.
#[test]
fn a_publisher_that_attaches_keeps_what_the_last_one_kept() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 2));
        let mut first = b.subscribe(0, 0);
        let mut second = b.subscribe(1, 0);
        let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
        for v in 1..=2 {
            b.publish(&mut p, v, &mut alive).unwrap();
        }
        let Peek::Ready(held) = peek(&*b, first, Overflow::DropOldest) else {
            panic!("published")
        };
        assert_eq!(read_on(&b, 1, &mut second, 0, 2), 2);
        for v in 3..=4 {
            b.publish(&mut p, v, &mut alive).unwrap();
        }
        drop(p);
        let Peek::Ready(held2) = peek(&*b, second, Overflow::DropOldest) else {
            panic!("published")
        };
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                let mut p = Publishing::attach(&*b, Overflow::DropOldest).unwrap();
                for v in 5..=6 {
                    b.publish(&mut p, v, &mut alive).unwrap();
                }
            })
        };
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                assert_eq!(b.value(held2), 3);
                advance(&*b, 1, second, second + 1, false, Overflow::DropOldest);
                second += 1;
                read_on(&b, 1, &mut second, 3, 2);
            })
        };
        assert_eq!(b.value(held), 1);
        advance(&*b, 0, first, first + 1, false, Overflow::DropOldest);
        first += 1;
        read_on(&b, 0, &mut first, 1, 2);
        publisher.join().unwrap();
        other.join().unwrap();
    });
}

/// `Block`: nothing is lost or read twice, and the publisher never overwrites what the
/// subscriber has not read.
#[test]
fn block_delivers_everything_in_order() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 1));
        let mut cursor = b.subscribe(0, 0);
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                let mut p = Publishing::attach(&*b, Overflow::Block).unwrap();
                let mut v = 1;
                for _ in 0..4 {
                    match b.publish(&mut p, v, &mut alive) {
                        Ok(()) => v += 1,
                        Err(TopicError::Full) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
            })
        };
        let mut next = 1;
        for _ in 0..4 {
            match b.read(0, &mut cursor, Overflow::Block) {
                Ok(Some(v)) => {
                    assert_eq!(v, next);
                    next += 1;
                }
                Ok(None) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        publisher.join().unwrap();
    });
}

/// A subscriber that joins with history while the publisher runs reads only whole
/// samples, in order: the publisher, which read the cursors when nobody was attached,
/// must notice the join before it replaces a position of the history.
#[test]
fn a_joiner_with_history_never_reads_a_chunk_being_written() {
    model(3, || {
        let b = Arc::new(HeapBoard::new(2, 1));
        let publisher = {
            let b = b.clone();
            thread::spawn(move || {
                let mut p = Publishing::attach(&*b, Overflow::Block).unwrap();
                let mut v = 1;
                for _ in 0..5 {
                    match b.publish(&mut p, v, &mut alive) {
                        Ok(()) => v += 1,
                        Err(TopicError::Full) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
            })
        };
        let mut cursor = b.subscribe(0, 1);
        let mut last = 0;
        for _ in 0..2 {
            match b.read(0, &mut cursor, Overflow::Block) {
                Ok(Some(v)) => {
                    assert!(v > last);
                    last = v;
                }
                Ok(None) => {}
                Err(Lag::Skipped(_)) => {}
                Err(Lag::Corrupt) => panic!("corrupt"),
            }
        }
        publisher.join().unwrap();
    });
}
