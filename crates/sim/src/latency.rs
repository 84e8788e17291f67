//! How long requests take in the simulated world: every store and AWS call takes simulated time
//! drawn from a log-normal distribution (most answers fast, a long tail), so that a sweep over
//! many records, a slow chain and the function timeout meet as they do in AWS.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::world::Millis;

/// The latency of one kind of request: log-normal around a median, capped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    /// The median, milliseconds.
    pub median_ms: f64,
    /// The spread (σ of the underlying normal): 0.9 puts the 99th percentile at about 8× the
    /// median.
    pub sigma: f64,
    /// No request takes longer (the SDK's attempt timeout cuts it).
    pub cap_ms: Millis,
}

impl Latency {
    /// No time at all.
    pub const ZERO: Self = Self {
        median_ms: 0.0,
        sigma: 0.0,
        cap_ms: 0,
    };

    /// One draw, whole milliseconds.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Millis {
        if self.median_ms <= 0.0 {
            return 0;
        }
        let sigma = self.sigma.max(f64::MIN_POSITIVE);
        LogNormal::new(self.median_ms.ln(), sigma).map_or(0, |d| {
            // A draw is a positive float far below i64::MAX once capped.
            #[allow(clippy::cast_possible_truncation, reason = "capped below i64::MAX")]
            let ms = d.sample(rng).min(self.cap_ms as f64).round() as Millis;
            ms.max(1)
        })
    }
}

/// Request latencies of the simulated services.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latencies {
    /// DynamoDB `GetItem`, `UpdateItem`, `Query` (single-digit milliseconds, a tail to seconds).
    pub store: Latency,
    /// Auto Scaling and SSM control-plane calls (tens of milliseconds, a tail to seconds).
    pub aws: Latency,
}

impl Latencies {
    /// Published medians for in-region calls from Lambda: DynamoDB about 5 ms, Auto Scaling
    /// and SSM control-plane calls about 60 ms, both with a long tail.
    pub const REALISTIC: Self = Self {
        store: Latency {
            median_ms: 5.0,
            sigma: 0.9,
            cap_ms: 3_000,
        },
        aws: Latency {
            median_ms: 60.0,
            sigma: 0.9,
            cap_ms: 10_000,
        },
    };

    /// Every request instantaneous.
    pub const NONE: Self = Self {
        store: Latency::ZERO,
        aws: Latency::ZERO,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn draws_centre_on_the_median_with_a_capped_tail() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let latency = Latencies::REALISTIC.store;
        let mut draws: Vec<Millis> = (0..10_000).map(|_| latency.draw(&mut rng)).collect();
        draws.sort_unstable();
        let median = draws[5_000];
        let p99 = draws[9_900];
        assert!((4..=6).contains(&median), "median {median}");
        assert!(p99 > 5 * median, "p99 {p99} has a tail");
        assert!(draws.iter().all(|d| (1..=3_000).contains(d)));
        assert_eq!(Latency::ZERO.draw(&mut rng), 0);
    }
}
