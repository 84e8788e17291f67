//! Exactly-once transitions under at-least-once delivery: the conflict loop and duplicate
//! detection.
//!
//! # Guarantees
//! - A write that conflicts (another invocation or a crash-recovering delivery wrote first)
//!   reloads the record and steps again after a jittered exponential backoff ([`Backoff`]:
//!   from 10 ms, doubling, capped at 200 ms, never past the invocation's deadline margin), at
//!   most `max_conflicts` times in a row, then gives up with the retryable
//!   [`HandlerError::Contention`]. The jitter is drawn from the instance and event, so the
//!   simulator stays deterministic, and it still spreads invocations that met apart.
//! - An event id the record has processed is a no-op (`duplicate`).
//! - A chain of another event interrupted on the record is finished first; a command status the
//!   sweep recovered is processed once, like any redelivery. When that chain fails for good on
//!   the failure path it is cleared, and this event goes on: it is never refused for it.

use super::admission::Admission;
use super::run::ChainRun;
use super::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};
use crate::event::Stimulus;
use crate::record::InstanceRecord;
use crate::store::StoreError;
use crate::wait::Backoff;

use std::hash::{Hash, Hasher};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

/// The backoff between reloads after conflicting writes: 10 ms, doubling, jittered, capped.
fn conflict_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(10), 2.0, u32::MAX)
        .jitter(1.0)
        .cap(Duration::from_millis(200))
}

/// A jitter source seeded from the instance and event: deterministic for a replay, different
/// for two events that met on one record.
fn conflict_rng(ident: &str, event_id: &str) -> StdRng {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (ident, event_id).hash(&mut hasher);
    StdRng::seed_from_u64(hasher.finish())
}

/// Clock skew and event-time rounding tolerated before a launch counts as older than a state.
const STALE_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

impl LifecycleHandler {
    /// True for a launch event, delivered late, that the record does not hold, on a record in
    /// service (a stable state) or that entered its current state beyond the initial one after
    /// the action started: the lifecycle went on without it (e.g. the first launch of an
    /// instance since returned to the warm pool), so it must not start the launch chain again
    /// nor leave its action on the record.
    fn is_stale_launch(
        &self,
        record: &InstanceRecord,
        event_id: &str,
        stimulus: &Stimulus,
    ) -> bool {
        let Stimulus::Lifecycle(event) = stimulus else {
            return false;
        };
        let graph = self.machine.graph();
        let state = record.state();
        event.transition == crate::event::LifecycleTransition::Launching
            && !graph.is_pending(state)
            && state != graph.initial
            // In service, a launch is over; else it must have started before the state.
            && (graph.stable.contains(state)
                || event
                    .time
                    .zip(record.entered_at)
                    .is_some_and(|(started, entered)| started + STALE_MARGIN < entered))
            && record
                .lifecycle_action
                .as_ref()
                .is_none_or(|held| held.event_id != event_id)
    }

    /// Processes one stimulus for one instance, reloading and stepping again on conflicts.
    pub(super) async fn process_instance(
        &self,
        ident: &str,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let mut conflicts = 0;
        let mut backoff = conflict_backoff();
        // Seeded at the first conflict only: most events meet none.
        let mut rng = None;
        loop {
            match self.try_process(ident, event_id, stimulus, ctx).await {
                Err(HandlerError::Store(StoreError::Conflict { .. })) => {
                    conflicts += 1;
                    tracing::debug!(instance = ident, conflicts, "conflicting write: reloading");
                    if conflicts > self.config.max_conflicts {
                        return Err(HandlerError::Contention {
                            ident: ident.to_string(),
                            attempts: conflicts,
                        });
                    }
                    let rng = rng.get_or_insert_with(|| conflict_rng(ident, event_id));
                    let delay = backoff.step(rng);
                    self.clock.pause(delay.min(self.time_left(ctx))).await;
                }
                result => return result,
            }
        }
    }

    /// One attempt at processing the stimulus, from a fresh read of the record.
    async fn try_process(
        &self,
        ident: &str,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let mut record = match self.admit(ident, event_id, stimulus, ctx).await? {
            Admission::Ready(record) => record,
            Admission::Answered(outcome) => return Ok(outcome),
        };
        let mut outcome = Outcome::new(Some(event_id), Some(ident));
        outcome.from = Some(record.state().to_string());
        if record.has_processed(event_id) {
            outcome.outcome = OutcomeKind::Duplicate;
            outcome.to = outcome.from.clone();
            outcome.reason = Some("the event was processed before".into());
            return Ok(outcome);
        }
        if self.is_stale_launch(&record, event_id, stimulus) {
            outcome.outcome = OutcomeKind::NoOp;
            outcome.to = outcome.from.clone();
            outcome.reason = Some(
                "a launch action older than the instance's current state: its lifecycle went on without it".into(),
            );
            return Ok(outcome);
        }
        if let Some(other) = record.in_flight.clone().filter(|f| f.event_id != event_id) {
            tracing::info!(instance = ident, event = %other.event_id, "finishing an interrupted chain first");
            let from = outcome.from.clone();
            let interrupted = (other.event_id.as_str(), &other.stimulus);
            outcome = match Box::pin(self.run_chain((ident, record), interrupted, ctx, outcome))
                .await
            {
                Ok(outcome) => outcome,
                // A permanent error on the failure path cleared the interrupted chain: it
                // never blocks this event, which goes on from the record as it is now.
                Err(HandlerError::FailureHandling {
                    message,
                    retryable: false,
                    ..
                }) => {
                    tracing::warn!(instance = ident, event = %other.event_id, error = %message, "the interrupted chain failed for good; going on with this event");
                    let mut outcome = Outcome::new(Some(event_id), Some(ident));
                    outcome.from = from;
                    outcome.ignored_errors.push(message);
                    outcome
                }
                Err(e) => return Err(e),
            };
            record = self
                .store
                .get(ident)
                .await?
                .ok_or_else(|| HandlerError::UnknownInstance {
                    ident: ident.to_string(),
                })?;
            if record.has_processed(event_id) {
                outcome.outcome = OutcomeKind::Duplicate;
                return Ok(outcome);
            }
            // The finished chain may have taken the instance past this event's launch.
            if self.is_stale_launch(&record, event_id, stimulus) {
                outcome.to = Some(record.state().to_string());
                outcome.reason = Some(
                    "a launch action older than the instance's current state: its lifecycle went on without it".into(),
                );
                return Ok(outcome);
            }
        }
        if let Some((recovered_id, recovered)) =
            self.recover_command_status(&record, stimulus).await
            && !record.has_processed(&recovered_id)
        {
            let recovered = (recovered_id.as_str(), &recovered);
            return Box::pin(self.run_chain((ident, record), recovered, ctx, outcome)).await;
        }
        self.run_chain((ident, record), (event_id, stimulus), ctx, outcome)
            .await
    }

    /// Runs `event`'s chain on `record` (instance `ident`), adding to `outcome`.
    async fn run_chain(
        &self,
        (ident, record): (&str, InstanceRecord),
        event: (&str, &Stimulus),
        ctx: &InvocationContext,
        outcome: Outcome,
    ) -> Result<Outcome, HandlerError> {
        let mut run = ChainRun::new(self, ctx, (ident, &record), event, outcome);
        run.execute(record, None).await?;
        Ok(run.outcome)
    }
}
