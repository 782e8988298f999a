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
