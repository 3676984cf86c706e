//! Exponential reconnect backoff, 100 ms → 30 s with jitter: the schedule the peers designed
//! but never wired in (spec §6.7 #9), so a Redis outage is not hammered by every loop at once.

use std::time::Duration;

/// First delay after a failure.
pub(crate) const INITIAL: Duration = Duration::from_millis(100);
/// Longest delay between attempts.
pub(crate) const MAX: Duration = Duration::from_secs(30);

/// Delays grow ×2 per consecutive failure up to [`MAX`]; each is jittered to [0.5, 1.0) of the
/// nominal value (the peers' `ExpBackoff` jitter) so reconnecting loops spread out.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// The reconnect schedule of a transport's loops, as its connection options set it.
    pub(crate) fn reconnect(opts: &crate::options::ConnectionOptions) -> Self {
        let (first, max) = opts.reconnect_backoff();
        Self::new(first, max)
    }

    /// A schedule from `first` to `max` (for retries that a waiting caller cannot afford to
    /// space by [`MAX`]).
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            next: first,
            first,
            max,
        }
    }

    /// The delay to wait now; advances the schedule.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        nominal.mul_f64(0.5 + fastrand::f64() * 0.5)
    }

    /// Back to the first delay after a success.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(INITIAL, MAX);
        let first = b.next_delay();
        assert!(first >= INITIAL / 2 && first < INITIAL);
        let mut last = first;
        for _ in 0..20 {
            last = b.next_delay();
        }
        assert!(last >= MAX / 2 && last < MAX, "{last:?}");
        b.reset();
        assert!(b.next_delay() < INITIAL);
    }
}
