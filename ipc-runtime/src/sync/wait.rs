//! How a blocked channel operation waits: spin, yield, park.

use std::time::Duration;

/// How a shared-memory channel waits for a message or for room.
///
/// - `Spin`: busy-waits on the ring (`core::hint::spin_loop`), never sleeping in the kernel.
///   Lowest latency; burns a core while waiting. The peer is still never woken by a system
///   call, and liveness is still re-checked every few milliseconds.
/// - `SpinThenPark` (the default): spins briefly, yields the CPU a few times, then parks
///   on the segment's futex semaphore until the peer posts it.
/// - `Park`: parks at once; the cheapest on CPU, the slowest to wake.
///
/// Parked waits use a timeout of at most 20 ms so the peer's liveness is re-checked even
/// if no wake-up ever comes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitStrategy {
    /// Busy-wait.
    Spin,
    /// Spin, then yield, then park.
    #[default]
    SpinThenPark,
    /// Park at once.
    Park,
}

/// The longest a parked wait sleeps before re-checking the peer's liveness.
pub(crate) const PARK_SLICE: Duration = Duration::from_millis(20);

/// Steps a waiter through spin, yield and park.
#[derive(Debug)]
pub(crate) struct Backoff {
    strategy: WaitStrategy,
    step: u32,
}

/// What the waiter should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Spun or yielded; re-check and call again.
    Retry,
    /// Time to park (the caller parks on its futex).
    Park,
}

const SPINS: u32 = 1 << 12;
const YIELDS: u32 = 8;

impl Backoff {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Backoff { strategy, step: 0 }
    }

    /// True every 1024 steps: time for a spinning waiter to re-check liveness/deadline.
    pub(crate) fn should_check(&self) -> bool {
        self.step % 1024 == 0
    }

    pub(crate) fn snooze(&mut self) -> Step {
        self.step = self.step.wrapping_add(1);
        match self.strategy {
            WaitStrategy::Spin => {
                core::hint::spin_loop();
                Step::Retry
            }
            WaitStrategy::Park => Step::Park,
            WaitStrategy::SpinThenPark => {
                if self.step < SPINS {
                    core::hint::spin_loop();
                    Step::Retry
                } else if self.step < SPINS + YIELDS {
                    std::thread::yield_now();
                    Step::Retry
                } else {
                    Step::Park
                }
            }
        }
    }
}
