//! Kubernetes' `Until` family: run a function periodically until stopped.
//!
//! - [`until`]: the period counts from the end of each run (sliding), like `wait.Until`.
//! - [`non_sliding_until`]: the period counts from the start of each run, like
//!   `wait.NonSlidingUntil`: a slow run does not stretch the schedule.
//! - [`jitter_until`]: either, with each period lengthened by up to `jitter_factor` of itself,
//!   like `wait.JitterUntil`.
//!
//! The stop signal is a [`CancellationToken`]; each run gets a child of it (Go's context), so a
//! run can stop its own work when the loop is stopped. The loop checks the token before every
//! run and while waiting: a stopped loop never starts another run.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Runs `f` every `period` (from the end of each run) until `stop` fires.
pub async fn until<F, Fut>(f: F, period: Duration, stop: &CancellationToken)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    jitter_until(f, period, 0.0, true, stop, &mut rand::rng()).await;
}

/// Runs `f` every `period` (from the start of each run) until `stop` fires.
pub async fn non_sliding_until<F, Fut>(f: F, period: Duration, stop: &CancellationToken)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    jitter_until(f, period, 0.0, false, stop, &mut rand::rng()).await;
}

/// Runs `f` until `stop` fires, waiting `period` plus up to `jitter_factor × period` (drawn
/// from `rng`) between runs, counted from the end of a run when `sliding`, else from its start.
/// A `jitter_factor` of zero or less adds no jitter.
pub async fn jitter_until<F, Fut, R>(
    mut f: F,
    period: Duration,
    jitter_factor: f64,
    sliding: bool,
    stop: &CancellationToken,
    rng: &mut R,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
    R: Rng + ?Sized,
{
    loop {
        if stop.is_cancelled() {
            return;
        }
        let jittered = if jitter_factor > 0.0 {
            period.mul_f64(1.0 + rng.random::<f64>() * jitter_factor)
        } else {
            period
        };
        let started = Instant::now();
        f(stop.child_token()).await;
        let from = if sliding { Instant::now() } else { started };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(from + jittered) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    /// The start times (seconds from the beginning) of runs that each take `work`, stopped after
    /// `runs` runs.
    async fn starts(sliding: bool, work: Duration, runs: usize) -> Vec<u64> {
        let begin = Instant::now();
        let stop = CancellationToken::new();
        let times = Mutex::new(Vec::new());
        let f = |_token: CancellationToken| {
            let mut t = times.lock().unwrap();
            t.push((Instant::now() - begin).as_secs());
            if t.len() == runs {
                stop.cancel();
            }
            async move { tokio::time::sleep(work).await }
        };
        if sliding {
            until(f, Duration::from_secs(5), &stop).await;
        } else {
            non_sliding_until(f, Duration::from_secs(5), &stop).await;
        }
        times.into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn until_counts_the_period_from_the_end_of_each_run() {
        assert_eq!(
            starts(true, Duration::from_secs(2), 4).await,
            [0, 7, 14, 21]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn non_sliding_until_counts_the_period_from_the_start_of_each_run() {
        assert_eq!(
            starts(false, Duration::from_secs(2), 4).await,
            [0, 5, 10, 15]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_lengthens_each_period_by_at_most_its_factor() {
        let stop = CancellationToken::new();
        let begin = Instant::now();
        let times = Mutex::new(Vec::new());
        let mut rng = StdRng::seed_from_u64(7);
        jitter_until(
            |_| {
                let mut t = times.lock().unwrap();
                t.push(Instant::now() - begin);
                if t.len() == 20 {
                    stop.cancel();
                }
                async {}
            },
            Duration::from_secs(10),
            0.5,
            true,
            &stop,
            &mut rng,
        )
        .await;
        let times = times.into_inner().unwrap();
        let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter()
                .all(|g| *g >= Duration::from_secs(10) && *g <= Duration::from_secs(15)),
            "{gaps:?}"
        );
        assert!(
            gaps.iter().any(|g| *g > Duration::from_millis(10_500)),
            "jittered: {gaps:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_during_the_wait_ends_the_loop_and_each_run_sees_a_child_token() {
        let stop = CancellationToken::new();
        let runs = Mutex::new(Vec::new());
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            stopper.cancel();
        });
        let begin = Instant::now();
        until(
            |token| {
                runs.lock().unwrap().push(token.clone());
                async {}
            },
            Duration::from_secs(5),
            &stop,
        )
        .await;
        assert_eq!(Instant::now() - begin, Duration::from_secs(12));
        let runs = runs.into_inner().unwrap();
        assert_eq!(runs.len(), 3, "at 0, 5 and 10 seconds");
        assert!(runs.iter().all(CancellationToken::is_cancelled));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stopped_loop_never_runs() {
        let stop = CancellationToken::new();
        stop.cancel();
        let mut ran = false;
        until(
            |_| {
                ran = true;
                async {}
            },
            Duration::from_secs(1),
            &stop,
        )
        .await;
        assert!(!ran);
    }
}
