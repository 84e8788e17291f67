//! Backoff schedules: Kubernetes' exponential [`Backoff`] and the Smithy waiter schedule
//! [`WaiterDelays`].
//!
//! Both take their randomness from a caller-supplied [`rand::Rng`], so tests pass a seeded RNG
//! (or one that always answers the same fraction) and get exact, repeatable delays.

use std::future::Future;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use super::PollError;

/// Exponential backoff with the semantics of Kubernetes' `wait.Backoff`.
///
/// Each [`step`](Backoff::step) returns the current `duration` (plus jitter) and then multiplies
/// it by `factor`; when the product exceeds `cap`, the duration becomes `cap` and the remaining
/// `steps` drop to zero. Once no steps remain, every step returns the (capped) duration with
/// jitter: the schedule never grows further.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// The next delay before jitter.
    pub duration: Duration,
    /// Multiplier applied to `duration` after each step; `0` (or `1`) keeps it constant.
    pub factor: f64,
    /// Jitter: each delay is `duration + random(0..1) * jitter * duration`; `0` disables it.
    pub jitter: f64,
    /// How many steps may still grow the duration; [`Backoff::run`] checks at most this often.
    pub steps: u32,
    /// Upper bound of `duration`; `Duration::ZERO` means no cap.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 10 ms doubling for 5 steps, 10% jitter, no cap: the shape of client-go's
    /// `DefaultRetry`, scaled for DynamoDB conditional-write conflicts.
    fn default() -> Self {
        Self {
            duration: Duration::from_millis(10),
            factor: 2.0,
            jitter: 0.1,
            steps: 5,
            cap: Duration::ZERO,
        }
    }
}

impl Backoff {
    /// A backoff starting at `duration`, growing by `factor` for `steps` steps, without jitter or
    /// cap.
    #[must_use]
    pub fn new(duration: Duration, factor: f64, steps: u32) -> Self {
        Self {
            duration,
            factor,
            jitter: 0.0,
            steps,
            cap: Duration::ZERO,
        }
    }

    /// "Equal jitter": each delay is drawn from the upper half of `first`, `2 × first`,
    /// `4 × first`, … capped at `max` (`first` included), so concurrent clients do not retry in
    /// lockstep and none retries much sooner than planned. The delays never stop growing until
    /// the cap; a zero `max` means zero delays.
    #[must_use]
    pub fn equal_jitter(first: Duration, max: Duration) -> Self {
        let top = first.min(max);
        Self {
            // `top / 2 + random(0..1) * top / 2`: half the step plus jitter of 1 on that half.
            duration: top / 2,
            factor: 2.0,
            jitter: 1.0,
            steps: u32::MAX,
            // A zero cap would mean "no cap"; a zero duration stays zero without one.
            cap: max / 2,
        }
    }

    /// Sets the jitter factor.
    #[must_use]
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the cap.
    #[must_use]
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// The next delay, advancing the schedule (Kubernetes `Backoff.Step`).
    pub fn step<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        if self.steps < 1 {
            return jittered(self.duration, self.jitter, rng);
        }
        self.steps -= 1;
        let duration = self.duration;
        if self.factor != 0.0 {
            self.duration = self.duration.mul_f64(self.factor);
            if !self.cap.is_zero() && self.duration > self.cap {
                self.duration = self.cap;
                self.steps = 0;
            }
        }
        jittered(duration, self.jitter, rng)
    }

    /// [`Backoff::step`] with the jitter drawn from the thread-local RNG.
    pub fn next_delay(&mut self) -> Duration {
        self.step(&mut rand::rng())
    }

    /// Checks `condition` up to `steps` times, sleeping a step between two checks (Kubernetes
    /// `ExponentialBackoff`), with jitter from the operating system's RNG.
    ///
    /// # Errors
    /// [`PollError::TimedOut`] when the steps run out, [`PollError::Cancelled`] when `cancel`
    /// fires during a sleep, or the condition's own error, returned at once.
    pub async fn run<F, Fut, E>(
        self,
        cancel: Option<&CancellationToken>,
        condition: F,
    ) -> Result<(), PollError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let mut rng = rand::rngs::StdRng::from_os_rng();
        self.run_with_rng(&mut rng, cancel, condition).await
    }

    /// [`Backoff::run`] with the jitter taken from `rng`.
    ///
    /// # Errors
    /// As [`Backoff::run`].
    pub async fn run_with_rng<R, F, Fut, E>(
        mut self,
        rng: &mut R,
        cancel: Option<&CancellationToken>,
        mut condition: F,
    ) -> Result<(), PollError<E>>
    where
        R: Rng + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        while self.steps > 0 {
            if condition().await.map_err(PollError::Condition)? {
                return Ok(());
            }
            if self.steps == 1 {
                break;
            }
            let delay = self.step(rng);
            match cancel {
                Some(token) => tokio::select! {
                    () = token.cancelled() => return Err(PollError::Cancelled),
                    () = tokio::time::sleep(delay) => {}
                },
                None => tokio::time::sleep(delay).await,
            }
        }
        Err(PollError::TimedOut)
    }
}

/// `duration + random(0..1) * factor * duration` (Kubernetes `wait.Jitter`, without its
/// "factor ≤ 0 means 1" rule: here a factor ≤ 0 means no jitter).
fn jittered<R: Rng + ?Sized>(duration: Duration, factor: f64, rng: &mut R) -> Duration {
    if factor <= 0.0 {
        return duration;
    }
    duration + duration.mul_f64(rng.random::<f64>() * factor)
}

/// The delay schedule of Smithy waiters: exponential from `min_delay` to `max_delay` with full
/// jitter, bounded by a total `max_wait`.
///
/// The delay before attempt `n + 1` (after attempt `n`, counted from 1) is drawn uniformly from
/// `[min_delay, min(max_delay, min_delay * 2^(n-1))]`. When what remains of `max_wait` after that
/// delay would be no more than `min_delay`, the delay is clamped to the whole remaining time, so
/// the last attempt happens exactly at `max_wait` (as the AWS SDK for Rust does; the spec's
/// "remaining − minDelay" would end the wait `min_delay` early). When no time remains, there is no
/// next attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaiterDelays {
    /// The smallest delay, and the first one.
    pub min_delay: Duration,
    /// The largest delay.
    pub max_delay: Duration,
    /// The total time the waiter may take.
    pub max_wait: Duration,
}

impl WaiterDelays {
    /// A schedule from `min_delay` to `max_delay`, giving up after `max_wait`.
    #[must_use]
    pub fn new(min_delay: Duration, max_delay: Duration, max_wait: Duration) -> Self {
        Self {
            min_delay,
            max_delay: max_delay.max(min_delay),
            max_wait,
        }
    }

    /// The delay after attempt `attempt` (1-based) when `elapsed` has passed since the first
    /// attempt, or `None` when the waiter has no time left for another attempt.
    pub fn delay<R: Rng + ?Sized>(
        &self,
        attempt: u32,
        elapsed: Duration,
        rng: &mut R,
    ) -> Option<Duration> {
        let remaining = self
            .max_wait
            .checked_sub(elapsed)
            .filter(|r| !r.is_zero())?;
        let exponent = attempt.saturating_sub(1).min(62);
        let ceiling = self
            .min_delay
            .checked_mul(1u32.checked_shl(exponent).unwrap_or(u32::MAX))
            .map_or(self.max_delay, |d| d.min(self.max_delay));
        let spread = ceiling.saturating_sub(self.min_delay);
        let mut delay = self.min_delay + spread.mul_f64(rng.random::<f64>());
        if remaining.saturating_sub(delay) <= self.min_delay {
            delay = remaining;
        }
        Some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;
    use rand_chacha::ChaCha8Rng;

    /// An RNG whose `random::<f64>()` is always the same fraction (0 for `Const(0)`, 0.5 for
    /// `Const(1 << 63)`).
    struct Const(u64);

    impl RngCore for Const {
        fn next_u32(&mut self) -> u32 {
            (self.0 >> 32) as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
        }
    }

    const HALF: u64 = 1 << 63;

    fn secs(values: &[f64]) -> Vec<Duration> {
        values.iter().map(|s| Duration::from_secs_f64(*s)).collect()
    }

    #[test]
    fn backoff_sequence_doubles_then_stays_when_steps_run_out() {
        let mut backoff = Backoff::new(Duration::from_secs(1), 2.0, 4);
        let delays: Vec<_> = (0..6).map(|_| backoff.step(&mut Const(0))).collect();
        assert_eq!(delays, secs(&[1.0, 2.0, 4.0, 8.0, 16.0, 16.0]));
    }

    #[test]
    fn backoff_cap_stops_growth_and_ends_the_steps() {
        let mut backoff = Backoff::new(Duration::from_secs(1), 3.0, 10).cap(Duration::from_secs(5));
        let delays: Vec<_> = (0..5).map(|_| backoff.step(&mut Const(0))).collect();
        assert_eq!(delays, secs(&[1.0, 3.0, 5.0, 5.0, 5.0]));
        assert_eq!(backoff.steps, 0);
    }

    #[test]
    fn backoff_jitter_adds_up_to_factor_times_duration() {
        let mut backoff = Backoff::new(Duration::from_secs(2), 2.0, 3).jitter(0.5);
        let delays: Vec<_> = (0..3).map(|_| backoff.step(&mut Const(HALF))).collect();
        // 2 + 0.5 * 0.5 * 2, 4 + 0.25 * 4, 8 + 0.25 * 8
        assert_eq!(delays, secs(&[2.5, 5.0, 10.0]));
    }

    #[test]
    fn backoff_with_a_seeded_rng_is_repeatable_and_bounded() {
        let run = || {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut backoff = Backoff::new(Duration::from_secs(1), 2.0, 5).jitter(1.0);
            (0..5).map(|_| backoff.step(&mut rng)).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        for (i, delay) in first.iter().enumerate() {
            let base = Duration::from_secs(1 << i);
            assert!(*delay >= base && *delay < base * 2, "{i}: {delay:?}");
        }
    }

    #[test]
    fn equal_jitter_draws_from_the_upper_half_of_each_step_up_to_the_cap() {
        let mut low = Backoff::equal_jitter(Duration::from_millis(100), Duration::from_millis(400));
        let bottoms: Vec<_> = (0..5).map(|_| low.step(&mut Const(0))).collect();
        let mut high =
            Backoff::equal_jitter(Duration::from_millis(100), Duration::from_millis(400));
        let tops: Vec<_> = (0..5).map(|_| high.step(&mut Const(u64::MAX))).collect();
        let millis = |ms: &[u64]| {
            ms.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        assert_eq!(bottoms, millis(&[50, 100, 200, 200, 200]));
        for (top, step) in tops.iter().zip(millis(&[100, 200, 400, 400, 400])) {
            assert!(*top <= step && *top > step.mul_f64(0.99), "{tops:?}");
        }
        let mut zero = Backoff::equal_jitter(Duration::from_millis(100), Duration::ZERO);
        assert_eq!(zero.next_delay(), Duration::ZERO);
        assert_eq!(zero.next_delay(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_run_checks_steps_times_then_times_out() {
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let result: Result<(), PollError<()>> = Backoff::new(Duration::from_secs(1), 2.0, 4)
            .run_with_rng(&mut Const(0), None, || {
                calls += 1;
                async { Ok(false) }
            })
            .await;
        assert_eq!(result, Err(PollError::TimedOut));
        assert_eq!(calls, 4);
        assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_run_stops_on_cancellation_and_on_condition_error() {
        let token = CancellationToken::new();
        let cancel = token.clone();
        let result: Result<(), PollError<()>> = Backoff::new(Duration::from_secs(10), 1.0, 5)
            .run_with_rng(&mut Const(0), Some(&token), move || {
                cancel.cancel();
                async { Ok(false) }
            })
            .await;
        assert_eq!(result, Err(PollError::Cancelled));
        let result = Backoff::default()
            .run(None, || async { Err::<bool, _>("boom") })
            .await;
        assert_eq!(result, Err(PollError::Condition("boom")));
    }

    #[test]
    fn smithy_delays_grow_from_min_to_max_with_full_jitter() {
        let delays = WaiterDelays::new(
            Duration::from_secs(2),
            Duration::from_secs(120),
            Duration::from_secs(3600),
        );
        let top: Vec<_> = (1..=8)
            .map(|n| {
                delays
                    .delay(n, Duration::ZERO, &mut Const(u64::MAX))
                    .unwrap()
            })
            .map(|d| d.as_secs_f64().round())
            .collect();
        assert_eq!(top, [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0]);
        let bottom = delays.delay(6, Duration::ZERO, &mut Const(0)).unwrap();
        assert_eq!(
            bottom,
            Duration::from_secs(2),
            "full jitter reaches min_delay"
        );
        let middle = delays.delay(3, Duration::ZERO, &mut Const(HALF)).unwrap();
        assert_eq!(middle, Duration::from_secs(5), "halfway between 2 and 8");
    }

    #[test]
    fn smithy_last_delay_is_clamped_to_the_remaining_time() {
        let delays = WaiterDelays::new(
            Duration::from_secs(2),
            Duration::from_secs(120),
            Duration::from_secs(300),
        );
        // 33 s would leave 1 s (≤ min_delay): wait the remaining 34 s instead.
        let d = delays
            .delay(6, Duration::from_secs(266), &mut Const(HALF))
            .unwrap();
        assert_eq!(d, Duration::from_secs(34));
        // Plenty of time left: the drawn delay stands.
        let d = delays
            .delay(2, Duration::from_secs(10), &mut Const(HALF))
            .unwrap();
        assert_eq!(d, Duration::from_secs(3));
        // A delay longer than what remains is cut to what remains.
        let d = delays
            .delay(9, Duration::from_secs(290), &mut Const(HALF))
            .unwrap();
        assert_eq!(d, Duration::from_secs(10));
        // No time left: no further attempt.
        assert_eq!(
            delays.delay(9, Duration::from_secs(300), &mut Const(0)),
            None
        );
    }
}
