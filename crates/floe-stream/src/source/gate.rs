//! The prefetch gate: stops acting on hints while they have recently been mostly wrong.
//!
//! On a disk that is bandwidth-bound, a wrong prefetch is not free: it takes bandwidth from the
//! demand reads that follow (measured: a 60%-accurate predictor made stalls nearly twice as
//! long, see docs/streaming.md). The gate keeps an exponential moving average of prefetch outcomes (1 for a
//! prefetched blob that was then asked for, 0 for one dropped unused); while it is below the
//! configured minimum, only one hint in [`PROBE_EVERY`] is acted on, so the average keeps being
//! measured and the gate reopens when hints become useful.

/// While closed, act on one hint in this many.
pub(crate) const PROBE_EVERY: u64 = 8;
/// Weight of the newest outcome in the moving average.
const ALPHA: f64 = 1.0 / 16.0;

pub(crate) struct PrefetchGate {
    min_accuracy: f64,
    score: f64,
    closed_hints: u64,
}

impl PrefetchGate {
    /// A gate requiring `min_accuracy` (0 disables it), open at first.
    pub(crate) fn new(min_accuracy: f64) -> Self {
        Self {
            min_accuracy,
            score: 1.0,
            closed_hints: 0,
        }
    }

    /// `count` prefetched blobs were used.
    pub(crate) fn used(&mut self, count: u64) {
        for _ in 0..count {
            self.score += ALPHA * (1.0 - self.score);
        }
    }

    /// `count` prefetched blobs were dropped unused.
    pub(crate) fn wasted(&mut self, count: u64) {
        for _ in 0..count {
            self.score -= ALPHA * self.score;
        }
    }

    /// Whether to act on the next hint.
    pub(crate) fn admits_hint(&mut self) -> bool {
        if self.score >= self.min_accuracy {
            return true;
        }
        self.closed_hints += 1;
        if self.closed_hints == PROBE_EVERY {
            self.closed_hints = 0;
            return true;
        }
        false
    }

    /// The moving average of outcomes.
    pub(crate) fn score(&self) -> f64 {
        self.score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_on_waste_probes_and_reopens_on_use() {
        let mut gate = PrefetchGate::new(0.5);
        assert!(gate.admits_hint());
        gate.wasted(20);
        assert!(gate.score() < 0.5);
        let admitted = (0..16).filter(|_| gate.admits_hint()).count();
        assert_eq!(admitted, 2, "one probe in eight");
        gate.used(20);
        assert!(gate.admits_hint());
        let mut off = PrefetchGate::new(0.0);
        off.wasted(100);
        assert!(off.admits_hint());
    }
}
