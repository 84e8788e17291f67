//! Polling with a deadline and cancellation: the Kubernetes `wait` contract in async Rust.
//!
//! A condition is polled every interval until it returns `true` (done), until the deadline
//! passes (timed out) or until the cancellation token fires (cancelled). A condition error aborts
//! at once and is returned unchanged. The caller states the deadline; nothing hides a timeout.
//!
//! [`Backoff`] is Kubernetes' exponential backoff (duration, factor, jitter, steps, cap) and
//! [`WaiterDelays`] the Smithy waiter schedule (min/max delay, full jitter, clamped last delay).
//! [`until`], [`non_sliding_until`] and [`jitter_until`] are Kubernetes' periodic loops. A
//! condition polled with [`Poll::run_with_token`] gets a cancellation token, and a slow check is
//! cut by the deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod backoff;
mod until;

pub use backoff::{Backoff, WaiterDelays};
pub use until::{jitter_until, non_sliding_until, until};

/// How a poll ended without the condition becoming true.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError<E> {
    /// The deadline passed.
    #[error("timed out waiting for the condition")]
    TimedOut,
    /// The cancellation token fired.
    #[error("the wait was cancelled")]
    Cancelled,
    /// The condition returned an error.
    #[error("the condition failed: {0}")]
    Condition(E),
}

/// A polling schedule.
#[derive(Clone, Debug)]
pub struct Poll {
    /// Time between two checks.
    pub interval: Duration,
    /// Check once before the first wait (and at least once, even when already cancelled).
    pub immediate: bool,
    /// Measure the interval from the end of a check (sliding) rather than from its start.
    pub sliding: bool,
    /// Give up at this instant.
    pub deadline: Option<Instant>,
    /// Give up when this fires.
    pub cancel: Option<CancellationToken>,
}

impl Poll {
    /// Checks every `interval`, first at once, with no deadline.
    #[must_use]
    pub fn every(interval: Duration) -> Self {
        Self {
            interval,
            // Immediate: the state is usually already reached; don't make callers wait a tick.
            immediate: true,
            // Not sliding: a slow check should not stretch the schedule (Kubernetes default).
            sliding: false,
            deadline: None,
            cancel: None,
        }
    }

    /// Gives up at `deadline`.
    #[must_use]
    pub fn until(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Gives up `timeout` from now.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.until(Instant::now() + timeout)
    }

    /// Gives up when `token` fires.
    #[must_use]
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Sets whether the first check happens before the first wait.
    #[must_use]
    pub fn immediate(mut self, immediate: bool) -> Self {
        self.immediate = immediate;
        self
    }

    /// Sets whether the interval slides (counts from the end of each check).
    #[must_use]
    pub fn sliding(mut self, sliding: bool) -> Self {
        self.sliding = sliding;
        self
    }

    /// Bounds the poll by a Lambda invocation's deadline minus a safety margin.
    #[must_use]
    pub fn within_invocation(self, invocation_deadline: Instant, margin: Duration) -> Self {
        let deadline = invocation_deadline
            .checked_sub(margin)
            .unwrap_or_else(Instant::now);
        match self.deadline {
            Some(d) if d < deadline => self,
            _ => self.until(deadline),
        }
    }

    /// Polls `condition` on this schedule.
    ///
    /// # Errors
    /// [`PollError::TimedOut`], [`PollError::Cancelled`] or the condition's own error.
    pub async fn run<F, Fut, E>(&self, mut condition: F) -> Result<(), PollError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        self.run_with_token(|_| condition()).await
    }

    /// Polls `condition` on this schedule, giving each check a cancellation token (Go's
    /// context): it fires when the poll's own token does, when the deadline passes, and when the
    /// poll ends. A check still running at the deadline is cut there (dropped: the poll times
    /// out on time, whatever the check does).
    ///
    /// # Errors
    /// [`PollError::TimedOut`], [`PollError::Cancelled`] or the condition's own error.
    pub async fn run_with_token<F, Fut, E>(&self, mut condition: F) -> Result<(), PollError<E>>
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let scope = self
            .cancel
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let result = self.poll(&scope, &mut condition).await;
        // The wait is over: a check that is still running somewhere is told to stop.
        scope.cancel();
        result
    }

    async fn poll<F, Fut, E>(
        &self,
        scope: &CancellationToken,
        condition: &mut F,
    ) -> Result<(), PollError<E>>
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let cancelled = || {
            self.cancel
                .as_ref()
                .is_some_and(CancellationToken::is_cancelled)
        };
        let mut next = Instant::now();
        if self.immediate {
            if self.check(scope, condition).await? {
                return Ok(());
            }
            if cancelled() {
                return Err(PollError::Cancelled);
            }
        } else if cancelled() {
            return Err(PollError::Cancelled);
        }
        loop {
            next = if self.sliding { Instant::now() } else { next } + self.interval;
            if self.deadline.is_some_and(|d| next > d) {
                // The next check would come after the deadline: wait for it, then give up.
                self.sleep_until(self.deadline.unwrap_or(next)).await?;
                return Err(PollError::TimedOut);
            }
            self.sleep_until(next).await?;
            if self.check(scope, condition).await? {
                return Ok(());
            }
        }
    }

    /// One check, cut at the deadline or when the poll is cancelled while it runs.
    async fn check<F, Fut, E>(
        &self,
        scope: &CancellationToken,
        condition: &mut F,
    ) -> Result<bool, PollError<E>>
    where
        F: FnMut(CancellationToken) -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let token = scope.child_token();
        let deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            result = condition(token.clone()) => result.map_err(PollError::Condition),
            () = deadline => {
                token.cancel();
                Err(PollError::TimedOut)
            }
            () = scope.cancelled() => Err(PollError::Cancelled),
        }
    }

    async fn sleep_until<E>(&self, at: Instant) -> Result<(), PollError<E>> {
        match &self.cancel {
            Some(token) => tokio::select! {
                () = token.cancelled() => Err(PollError::Cancelled),
                () = tokio::time::sleep_until(at) => Ok(()),
            },
            None => {
                tokio::time::sleep_until(at).await;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn immediate_poll_checks_before_waiting() {
        let start = Instant::now();
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(5))
            .run(|| async { Ok(true) })
            .await;
        assert_eq!(result, Ok(()));
        assert_eq!(Instant::now() - start, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn non_immediate_poll_waits_one_interval_first() {
        let start = Instant::now();
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(5))
            .immediate(false)
            .run(|| async { Ok(true) })
            .await;
        assert_eq!(result, Ok(()));
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_ends_the_poll_as_timed_out() {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(2))
            .timeout(Duration::from_secs(7))
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(false) }
            })
            .await;
        assert_eq!(result, Err(PollError::TimedOut));
        assert_eq!(calls.load(Ordering::SeqCst), 4, "at 0, 2, 4 and 6 seconds");
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn only_a_sliding_interval_counts_from_the_end_of_a_slow_check() {
        async fn check_times(sliding: bool) -> Vec<u64> {
            let start = Instant::now();
            let times = std::sync::Mutex::new(Vec::new());
            let _: Result<(), PollError<()>> = Poll::every(Duration::from_secs(5))
                .sliding(sliding)
                .timeout(Duration::from_secs(20))
                .run(|| {
                    times
                        .lock()
                        .unwrap()
                        .push((Instant::now() - start).as_secs());
                    async {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        Ok(false)
                    }
                })
                .await;
            times.into_inner().unwrap()
        }
        assert_eq!(check_times(false).await, [0, 5, 10, 15, 20]);
        assert_eq!(check_times(true).await, [0, 7, 14]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_error_aborts_at_once() {
        let result = Poll::every(Duration::from_secs(1))
            .run(|| async { Err::<bool, _>("boom") })
            .await;
        assert_eq!(result, Err(PollError::Condition("boom")));
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_still_runs_an_immediate_check_once() {
        let token = CancellationToken::new();
        token.cancel();
        let calls = AtomicU32::new(0);
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(1))
            .cancel_on(token)
            .run(|| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Ok(false) }
            })
            .await;
        assert_eq!(result, Err(PollError::Cancelled));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_check_is_cut_at_the_deadline_and_its_token_fires() {
        let start = Instant::now();
        let seen = std::sync::Mutex::new(None);
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(1))
            .timeout(Duration::from_secs(3))
            .run_with_token(|token| {
                *seen.lock().unwrap() = Some(token.clone());
                async move {
                    // A check that would take a minute: never waited for past the deadline.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(true)
                }
            })
            .await;
        assert_eq!(result, Err(PollError::TimedOut));
        assert_eq!(Instant::now() - start, Duration::from_secs(3));
        assert!(seen.into_inner().unwrap().unwrap().is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancellation_during_a_check_cuts_it_and_reaches_its_token() {
        let cancel = CancellationToken::new();
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            canceller.cancel();
        });
        let start = Instant::now();
        let result: Result<(), PollError<()>> = Poll::every(Duration::from_secs(1))
            .cancel_on(cancel)
            .run_with_token(|token| async move {
                token.cancelled().await;
                Ok(false)
            })
            .await;
        assert_eq!(result, Err(PollError::Cancelled));
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn within_invocation_keeps_a_margin_before_the_lambda_deadline() {
        let now = Instant::now();
        let poll = Poll::every(Duration::from_secs(1))
            .within_invocation(now + Duration::from_secs(30), Duration::from_secs(5));
        assert_eq!(poll.deadline, Some(now + Duration::from_secs(25)));
    }
}
