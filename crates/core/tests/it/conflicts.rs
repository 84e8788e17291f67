//! Conflicting writes are retried after a jittered exponential backoff, within the invocation.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::handler::{HandlerConfig, HandlerError, OutcomeKind};
use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::testing::{FaultyStore, Harness, launch};

/// A memory store whose first `conflicts` commits are refused as conflicts (another writer won).
fn harness(conflicts: usize) -> Harness<FaultyStore<MemoryStore>> {
    Harness::builder()
        .store(FaultyStore::conflicting(
            Arc::new(MemoryStore::new()),
            conflicts,
        ))
        .config(HandlerConfig {
            max_conflicts: 8,
            ..HandlerConfig::default()
        })
        .build()
}

#[tokio::test(start_paused = true)]
async fn conflicts_are_retried_after_a_growing_jittered_pause() {
    let h = harness(4);
    let started = tokio::time::Instant::now();
    let outcome = h.deliver_ok(&launch("launch-1", "i-0a")).await;
    assert_eq!(outcome.outcome, OutcomeKind::Waiting, "{outcome:?}");
    let waited = started.elapsed();
    // Four pauses of at most 10, 20, 40 and 80 ms (twice that with full jitter), at least the
    // un-jittered base of each.
    assert!(
        waited >= Duration::from_millis(10 + 20 + 40 + 80)
            && waited <= Duration::from_millis(2 * (10 + 20 + 40 + 80)),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn past_the_limit_the_contention_is_retryable_and_the_pauses_are_capped() {
    let h = harness(usize::MAX);
    let started = tokio::time::Instant::now();
    let err = h.deliver(&launch("launch-1", "i-0a")).await.unwrap_err();
    assert!(
        matches!(err, HandlerError::Contention { attempts: 9, .. }) && err.is_retryable(),
        "{err}"
    );
    // Eight pauses, each at most the 200 ms cap (doubled by the jitter at most).
    assert!(
        started.elapsed() <= Duration::from_millis(8 * 400),
        "{:?}",
        started.elapsed()
    );
}
