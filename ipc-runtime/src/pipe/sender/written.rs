//! What a pipe sender wrote lately, so that [`Sender::close`](super::Sender::close) can
//! turn the bytes still in the pipe back into a count of messages.

use std::collections::VecDeque;

/// How far back the record goes: the largest pipe an unprivileged process can make by
/// default (`/proc/sys/fs/pipe-max-size`, 1 MiB), with room to spare.
const KEEP: u64 = 2 << 20;

/// The sender's recent writes, as runs of one shape (the same bytes per message: single
/// records, full batch records, a handshake with none), newest last.
#[derive(Debug, Default)]
pub(super) struct Written {
    runs: VecDeque<(u64, u64)>,
    bytes: u64,
}

impl Written {
    /// Notes a write of `bytes` holding `msgs` messages.
    pub(super) fn note(&mut self, bytes: usize, msgs: usize) {
        let (bytes, msgs) = (bytes as u64, msgs as u64);
        if bytes == 0 {
            return;
        }
        match self.runs.back_mut() {
            Some((b, m))
                if u128::from(*b) * u128::from(msgs) == u128::from(bytes) * u128::from(*m) =>
            {
                *b += bytes;
                *m += msgs;
            }
            _ => self.runs.push_back((bytes, msgs)),
        }
        self.bytes += bytes;
        while self.runs.len() > 1 && self.bytes - self.runs[0].0 >= KEEP {
            let (b, _) = self.runs.pop_front().expect("more than one run");
            self.bytes -= b;
        }
    }

    /// How many messages the last `queued` bytes written hold; a message partly read
    /// counts as unread.
    pub(super) fn messages_in_last(&self, mut queued: u64) -> u64 {
        let mut msgs = 0;
        for &(b, m) in self.runs.iter().rev() {
            if queued == 0 {
                break;
            }
            let take = queued.min(b);
            msgs += (u128::from(take) * u128::from(m)).div_ceil(u128::from(b)) as u64;
            queued -= take;
        }
        msgs
    }
}

#[cfg(test)]
mod tests {
    use super::Written;

    #[test]
    fn queued_bytes_are_counted_back_into_messages_across_shapes() {
        let mut w = Written::default();
        w.note(40, 0); // a handshake
        for _ in 0..10 {
            w.note(16, 1); // single records, one run
        }
        w.note(4096, 511); // a full batch record
        w.note(8 + 3 * 8, 3); // a short one
        assert_eq!(w.runs.len(), 4);
        assert_eq!(w.messages_in_last(0), 0);
        assert_eq!(w.messages_in_last(32), 3);
        assert_eq!(w.messages_in_last(33), 4); // one byte of the full record: unread
        assert_eq!(w.messages_in_last(32 + 4096 + 16), 3 + 511 + 1);
        assert_eq!(w.messages_in_last(u64::MAX), 10 + 511 + 3);
    }
}
