//! The batched table of the shm bench: `send_all` / `recv_many` beside one message per
//! call, a bare SPSC ring moving batches (packed, and with the channel's slots), and a
//! `BufWriter` over a Unix socket.

use std::sync::atomic::AtomicU64;

use super::*;

// ---------------------------------------------------------------- batched throughput

/// The receiving child of every row, on CPU 0 (the sending parent runs on CPU 1): left
/// to the scheduler, the two share a CPU in some rounds and not in others.
fn spawn(f: impl FnOnce()) -> Pid {
    common::spawn(move || {
        pin(&[0]);
        f()
    })
}

/// Messages per batch in the batched rows: what the sender gives `send_all` (or copies
/// into the bare ring) at a time, and the most the receiver takes at a time. 256, or
/// fewer so that a batch holds at most 64 KiB, the `BufWriter`'s buffer (16 messages of
/// 4 KiB): a batch buffer of a megabyte would be measuring the caches, not the channel.
const fn batch_len<const W: usize>() -> usize {
    let fit = (64 << 10) / (W * 8);
    if fit < 256 {
        fit
    } else {
        256
    }
}

/// Writes message `i`'s sequence number into its first and last words: what every row of
/// the batched table does to each message it sends.
#[inline(always)]
fn stamp<const W: usize>(m: &mut [u64; W], i: u64) {
    m[0] = i;
    m[W - 1] = i;
}

/// Checks that `m` is message `i` (first and last words): what every row of the batched
/// table does to each message it receives.
#[inline(always)]
fn check<const W: usize>(m: &[u64; W], i: u64) {
    assert!(m[0] == i && m[W - 1] == i, "message {i} came as {}", m[0]);
}

/// The typed channel one message at a time, through the contract's per-message copies:
/// `send_ref` (copy in) and `recv_into` (copy out, as `recv_many` copies out).
fn thr_each<const W: usize>(n: u64, cap: usize) -> f64 {
    let name = unique(&format!("each{W}"));
    let opts = Options::new().capacity(cap);
    let done = SharedPage::new(4096);
    let child = spawn(|| {
        let mut rx = Receiver::<[u64; W]>::open_or_create(&name, opts.clone()).unwrap();
        let mut m = Box::new([0u64; W]);
        for i in 0..n {
            rx.recv_into(&mut m).unwrap();
            check(&m, i);
        }
        done.u64_at(1).store(1, Ordering::Release);
    });
    let mut tx = Sender::<[u64; W]>::open_or_create(&name, opts.clone()).unwrap();
    let mut clock = Clock::new(n, 2 * cap as u64);
    let mut m = Box::new([7u64; W]);
    for i in 0..n {
        clock.tick(i);
        stamp(&mut m, i);
        tx.send_ref(&m).unwrap();
    }
    let per_sec = clock.stop(&done);
    reap(child);
    per_sec
}

/// The typed channel in batches: `send_all` of [`batch_len`] messages at a time,
/// `recv_many` into a buffer of as many.
fn thr_batched<const W: usize>(n: u64, cap: usize) -> f64 {
    let batch = batch_len::<W>();
    let name = unique(&format!("batch{W}"));
    let opts = Options::new().capacity(cap);
    let done = SharedPage::new(4096);
    let child = spawn(|| {
        let mut rx = Receiver::<[u64; W]>::open_or_create(&name, opts.clone()).unwrap();
        let mut buf = vec![[0u64; W]; batch];
        let mut got = 0;
        while got < n {
            let k = rx.recv_many(&mut buf).unwrap();
            for m in &buf[..k] {
                check(m, got);
                got += 1;
            }
        }
        done.u64_at(1).store(1, Ordering::Release);
    });
    let mut tx = Sender::<[u64; W]>::open_or_create(&name, opts.clone()).unwrap();
    let mut clock = Clock::new(n, 2 * cap as u64);
    let mut buf = vec![[7u64; W]; batch];
    let mut i = 0;
    while i < n {
        let len = (n - i).min(batch as u64);
        clock.tick_batch(i, len);
        for (m, j) in buf.iter_mut().zip(i..i + len) {
            stamp(m, j);
        }
        tx.send_all(&buf[..len as usize]).unwrap();
        i += len;
    }
    let per_sec = clock.stop(&done);
    reap(child);
    per_sec
}

/// A bare SPSC ring in shared memory that moves batches, written as a user would: slots of
/// `[u64; W]` packed back to back, `head` and `tail` on lines of their own, each side
/// keeping a copy of the other's index (re-read only when it says full or empty). The
/// sender copies a batch ([`batch_len`]) from its buffer into the free slots (one or two
/// `memcpy`s) and stores `tail` once; the receiver copies up to a batch of published ones
/// out and stores `head` once. No liveness, parking, types or validation.
fn thr_spsc_batched<const W: usize>(n: u64, cap: usize) -> f64 {
    let batch = batch_len::<W>();
    let page = SharedPage::new(128 + cap * W * 8);
    let done = SharedPage::new(4096);
    // SAFETY (both uses): the slots start 128 bytes in, 8-aligned, `cap` of them.
    let slots = unsafe { page.ptr.add(128) }.cast::<[u64; W]>();
    // Copies `len` messages between the ring from position `pos` and `buf`, in at most
    // two runs (the ring's end, then its start).
    let copy = |pos: u64, buf: *mut [u64; W], len: usize, into_ring: bool| {
        let at = pos as usize % cap;
        let first = len.min(cap - at);
        for (off, (ring, n)) in [(0, (at, first)), (first, (0, len - first))] {
            // SAFETY: `ring..ring + n` are slots of the mapping, `buf + off..` messages of
            // the caller's buffer; the protocol gives this side the slots (free for the
            // sender, published for the receiver).
            unsafe {
                let (r, b) = (slots.add(ring), buf.add(off));
                if into_ring {
                    std::ptr::copy_nonoverlapping(b, r, n);
                } else {
                    std::ptr::copy_nonoverlapping(r, b, n);
                }
            }
        }
    };
    let child = spawn(|| {
        let (head, tail) = (page.u64_at(0), page.u64_at(1));
        let mut buf = vec![[0u64; W]; batch];
        let (mut h, mut seen_tail) = (0u64, 0u64);
        while h < n {
            while seen_tail == h {
                seen_tail = tail.load(Ordering::Acquire);
                std::hint::spin_loop();
            }
            let len = (seen_tail - h).min(batch as u64) as usize;
            copy(h, buf.as_mut_ptr(), len, false);
            for (m, i) in buf[..len].iter().zip(h..) {
                check(m, i);
            }
            h += len as u64;
            head.store(h, Ordering::Release);
        }
        done.u64_at(1).store(1, Ordering::Release);
    });
    let tail = page.u64_at(1);
    let clock = send_batches::<W>(n, cap, page.u64_at(0), |t, msgs| {
        copy(t, msgs.as_ptr().cast_mut(), msgs.len(), true);
        tail.store(t + msgs.len() as u64, Ordering::Release);
    });
    let per_sec = clock.stop(&done);
    reap(child);
    per_sec
}

/// The bare ring of [`thr_spsc_batched`] laid out as the channel is: each slot an 8-byte
/// `seq` and then the message, published by storing `seq = position + 1` after the
/// message (a batch's first slot last, as `send_all` does), the receiver reading each
/// `seq` with acquire before it copies the message out, and storing `head` once per
/// batch. What the channel's batched row would be without its types, liveness, parking
/// and validation: the same cache lines moved, the same loads made.
fn thr_seq_ring_batched<const W: usize>(n: u64, cap: usize) -> f64 {
    let batch = batch_len::<W>();
    // The channel's slot: the `seq` and the message, a power of two up to a line (never
    // straddling two), else whole lines.
    let stride = match 8 + W * 8 {
        b @ ..=64 => b.next_power_of_two(),
        b => b.next_multiple_of(64),
    };
    // A mask, as the channel's: a `%` by a capacity not known at compile time divides.
    assert!(cap.is_power_of_two());
    let mask = cap - 1;
    let page = SharedPage::new(128 + cap * stride);
    let done = SharedPage::new(4096);
    // Slot `i` of the `cap` starts `128 + i * stride` bytes into the mapping, 8-aligned:
    // its `seq`, then the message, which only the sender writes while the slot is free
    // and only the receiver reads once it is published.
    let seq = |pos: u64| {
        // SAFETY: the masked index is below `cap`, so the word is inside the mapping,
        // 8-aligned, and only ever accessed as an atomic.
        unsafe {
            &*page
                .ptr
                .add(128 + (pos as usize & mask) * stride)
                .cast::<AtomicU64>()
        }
    };
    let msg = |pos: u64| {
        // SAFETY: the masked index is below `cap`, so the message's bytes lie inside the
        // mapping (the pointer is only formed here; its users say why they may access it).
        unsafe {
            page.ptr
                .add(128 + (pos as usize & mask) * stride + 8)
                .cast::<[u64; W]>()
        }
    };
    for i in 0..cap as u64 {
        seq(i).store(
            i.wrapping_add(1).wrapping_sub(cap as u64),
            Ordering::Relaxed,
        );
    }
    let child = spawn(|| {
        let head = page.u64_at(0);
        let mut buf = vec![[0u64; W]; batch];
        let mut h = 0u64;
        while h < n {
            let mut len = 0;
            while len == 0 {
                while len < batch
                    && seq(h + len as u64).load(Ordering::Acquire) == h + len as u64 + 1
                {
                    // SAFETY: published (the acquire above); see `msg`.
                    buf[len] = unsafe { msg(h + len as u64).read() };
                    len += 1;
                }
                std::hint::spin_loop();
            }
            for (m, i) in buf[..len].iter().zip(h..) {
                check(m, i);
            }
            h += len as u64;
            head.store(h, Ordering::Release);
        }
        done.u64_at(1).store(1, Ordering::Release);
    });
    let clock = send_batches::<W>(n, cap, page.u64_at(0), |t, msgs| {
        for i in (1..msgs.len()).chain([0]) {
            let pos = t + i as u64;
            // SAFETY: free (below `head + cap`); see `msg`.
            unsafe { msg(pos).write(msgs[i]) };
            seq(pos).store(pos + 1, Ordering::Release);
        }
    });
    let per_sec = clock.stop(&done);
    reap(child);
    per_sec
}

/// The sending side of the hand-written rings: streams `n` stamped messages a batch
/// ([`batch_len`]) at a time, handing `put(position, messages)` each run of them that
/// fits below `head + cap` (spinning on `head` when none does), and returns the clock
/// for the caller to stop.
fn send_batches<const W: usize>(
    n: u64,
    cap: usize,
    head: &AtomicU64,
    mut put: impl FnMut(u64, &[[u64; W]]),
) -> Clock {
    let batch = batch_len::<W>();
    let mut buf = vec![[7u64; W]; batch];
    let (mut t, mut seen_head) = (0u64, 0u64);
    let mut clock = Clock::new(n, 2 * cap as u64);
    while t < n {
        let len = (n - t).min(batch as u64);
        clock.tick_batch(t, len);
        for (m, i) in buf.iter_mut().zip(t..t + len) {
            stamp(m, i);
        }
        let mut sent = 0;
        while sent < len {
            while t - seen_head >= cap as u64 {
                seen_head = head.load(Ordering::Acquire);
                std::hint::spin_loop();
            }
            let k = (len - sent).min(cap as u64 - (t - seen_head));
            put(t, &buf[sent as usize..(sent + k) as usize]);
            t += k;
            sent += k;
        }
    }
    clock
}

/// A `BufWriter` of 64 KiB over one end of a `UnixStream` pair, a `BufReader` of 64 KiB
/// and `read_exact` of each message on the other: what a user batching by hand over a
/// socket writes. Each message is `W * 8` bytes, stamped and checked as the others.
fn thr_bufwriter<const W: usize>(n: u64) -> f64 {
    use std::io::{BufReader, BufWriter};
    use std::os::unix::net::UnixStream;
    let (a, b) = UnixStream::pair().unwrap();
    let done = SharedPage::new(4096);
    let size = W * 8;
    let word = |bytes: &[u8], at: usize| u64::from_ne_bytes(bytes[at..at + 8].try_into().unwrap());
    let child = spawn(|| {
        let mut r = BufReader::with_capacity(64 << 10, &b);
        let mut m = vec![0u8; size];
        for i in 0..n {
            r.read_exact(&mut m).unwrap();
            assert!(word(&m, 0) == i && word(&m, size - 8) == i, "message {i}");
        }
        done.u64_at(1).store(1, Ordering::Release);
    });
    drop(b);
    let mut w = BufWriter::with_capacity(64 << 10, &a);
    let mut m = vec![7u8; size];
    let mut clock = Clock::new(n, 16);
    for i in 0..n {
        clock.tick(i);
        m[..8].copy_from_slice(&i.to_ne_bytes());
        m[size - 8..].copy_from_slice(&i.to_ne_bytes());
        w.write_all(&m).unwrap();
    }
    w.flush().unwrap();
    let per_sec = clock.stop(&done);
    drop(w);
    reap(child);
    per_sec
}

/// Rounds of the batched table: each round runs the four rows of a size one after the
/// other, and the ratios are the medians of the per-round ratios (as the 8 B rounds).
const BATCH_ROUNDS: usize = 5;

/// One line of the batched table: the median rate of each row over [`BATCH_ROUNDS`]
/// alternating rounds, and the medians of the per-round ratios.
fn batched_size<const W: usize>(n: u64, cap: usize) {
    let mut rates: [Vec<f64>; 5] = Default::default();
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for _ in 0..BATCH_ROUNDS {
        let each = thr_each::<W>(n, cap);
        let batched = thr_batched::<W>(n, cap);
        let ring = thr_spsc_batched::<W>(n, cap);
        let seq_ring = thr_seq_ring_batched::<W>(n, cap);
        let buf = thr_bufwriter::<W>(n);
        for (v, r) in rates.iter_mut().zip([each, batched, ring, seq_ring, buf]) {
            v.push(r);
        }
        for (v, r) in ratios.iter_mut().zip([
            batched / each,
            batched / ring,
            batched / seq_ring,
            batched / buf,
        ]) {
            v.push(r);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let [each, batched, ring, seq_ring, buf] = rates.each_mut().map(median);
    let [to_each, to_ring, to_seq, to_buf] = ratios.each_mut().map(median);
    println!(
        "{:<8} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>9.2}x {:>9.2}x {:>9.2}x {:>9.2}x",
        human(W * 8),
        batch_len::<W>(),
        fmt_rate(each),
        fmt_rate(batched),
        fmt_rate(ring),
        fmt_rate(seq_ring),
        fmt_rate(buf),
        to_each,
        to_ring,
        to_seq,
        to_buf
    );
}

/// Batched one-way throughput between two processes at 8 B, 16 B, 64 B and 4 KiB.
pub(super) fn batched_throughput(k: &dyn Fn(u64) -> u64) {
    println!(
        "\nbatched throughput, one sender process (CPU 1) -> one receiver process (CPU 0) \
         (messages per second; median of {BATCH_ROUNDS} alternating rounds; every message \
         stamped and checked)\n\
         each: typed send_ref / recv_into, one message per call; batched: send_all / \
         recv_many, a batch at a time (256 messages, at most 64 KiB);\n\
         bare ring: hand-written SPSC ring in shared memory moving up to a batch per head / \
         tail store; seq ring: the same with the channel's slots (a seq word before each \
         message, checked by the receiver);\n\
         bufwriter: BufWriter 64 KiB over a UnixStream, BufReader + read_exact\n\
         ratios: rate of batched / rate of the other row, median of the per-round ratios"
    );
    println!(
        "{:<8} {:>6} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10} {:>10}",
        "size",
        "batch",
        "each",
        "batched",
        "bare ring",
        "seq ring",
        "bufwriter",
        "bat/each",
        "bat/ring",
        "bat/seq",
        "bat/bufw"
    );
    pin(&[1]);
    batched_size::<1>(k(4_000_000), 1024);
    // 16 B: the bare ring moves as many bytes per message as the channel's 8 B slots do.
    batched_size::<2>(k(4_000_000), 1024);
    batched_size::<8>(k(2_000_000), 1024);
    batched_size::<512>(k(200_000), 256);
    pin(&[0, 1]);
}
