//! Bounded exponential backoff with full jitter: pause `n` is uniform in `[0, min(cap, base·2ⁿ)]`.

use std::time::Duration;

use rand::Rng;

/// Default first backoff ceiling.
pub const DEFAULT_BASE: Duration = Duration::from_millis(25);
/// Default largest backoff ceiling.
pub const DEFAULT_CAP: Duration = Duration::from_secs(1);

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first pause.
    pub base: Duration,
    /// Largest ceiling.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
        }
    }
}

impl Backoff {
    /// The ceiling before retry number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random pause before retry number `attempt` (full jitter).
    pub fn pause(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rand::thread_rng().gen_range(0..=micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_pauses_stay_under_them() {
        let backoff = Backoff::default();
        assert_eq!(backoff.ceiling(0), Duration::from_millis(25));
        assert_eq!(backoff.ceiling(1), Duration::from_millis(50));
        assert_eq!(backoff.ceiling(3), Duration::from_millis(200));
        assert_eq!(backoff.ceiling(10), DEFAULT_CAP);
        assert_eq!(backoff.ceiling(u32::MAX), DEFAULT_CAP);
        for attempt in 0..8 {
            for _ in 0..50 {
                assert!(backoff.pause(attempt) <= backoff.ceiling(attempt));
            }
        }
    }
}
