//! Admission: what happens to an event for an instance that has not reached its initial state.
//!
//! # Guarantees
//! - A launch event that arrives before cloud-init finished waits for the initial state within
//!   the invocation (bounded by `initial_wait` and the deadline minus its margin); when it is not
//!   reached, the lifecycle action is remembered on the record and nothing is lost: the sweep or
//!   the next event continues once cloud-init is done.
//! - A terminate event for an instance whose lifecycle never started completes its hook with
//!   `CONTINUE` at once, with the built-in `complete_lifecycle_action` task (idempotent), and the
//!   record, if any, leaves the active index.
//! - A lifecycle event for an instance whose lifecycle already ended (a terminal state), for an
//!   action that started after that end, completes its hook at once too (one that started before
//!   was handled by that end: its late delivery changes nothing): a launch with `ABANDON` (an ended instance never enters service), a
//!   termination with `ABANDON` when the lifecycle ended on the failure path (as that path would
//!   have) and `CONTINUE` otherwise. The machine has nothing left to do, and holding the action
//!   would only delay Auto Scaling by a timeout.
//! - Any other event for such an instance changes nothing; one for an instance with no record is
//!   a non-retryable [`HandlerError::UnknownInstance`].

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::phase::{Phase, PhaseEnd};
use super::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};
use crate::event::{LifecycleEvent, LifecycleTransition, Stimulus};
use crate::machine::Call;
use crate::record::{InstanceRecord, LifecycleAction, UnwrittenRegistration};
use crate::registration::Registration;
use crate::store::{Change, StoreError};
use crate::tasks::RecordChanges;
use crate::wait::Poll;

/// The trigger name the hook completion of an unstarted instance runs under.
const UNSTARTED_TERMINATION: &str = "terminate_unstarted";

/// What admission decided.
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived value returned once per delivery; boxing buys nothing"
)]
pub(super) enum Admission {
    /// The instance is past its pending states: step it.
    Ready(InstanceRecord),
    /// The event was answered without stepping the machine.
    Answered(Outcome),
}

impl LifecycleHandler {
    /// Loads the instance's record and admits the event to the machine, or answers it when the
    /// instance has not reached its initial state.
    pub(super) async fn admit(
        &self,
        ident: &str,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
    ) -> Result<Admission, HandlerError> {
        let graph = self.machine.graph();
        let lifecycle = match stimulus {
            Stimulus::Lifecycle(event) => Some(event.transition),
            _ => None,
        };
        // An action that started before the lifecycle ended was handled by its end (completed on
        // the way, or by the failure path): a late delivery of it changes nothing.
        let started = match stimulus {
            Stimulus::Lifecycle(event) => event.time,
            _ => None,
        };
        let mut existing = self.store.get(ident).await?;
        if existing
            .as_ref()
            .is_none_or(|record| graph.is_pending(record.state()))
        {
            // The instance's own registration may be ahead of the record: the stream event
            // brings it; the sweep reads it for a record that waits with a held action (the
            // stream event may be late or lost). A lifecycle event does not read it: it nearly
            // always comes before cloud-init finishes, and the stream event or the sweep goes on.
            let registration = match stimulus {
                Stimulus::Registered(r) => Some(Registration {
                    status: Some(r.status.clone()),
                    attributes: r.attributes.clone(),
                }),
                Stimulus::Scheduled(_) => self.store.registration(ident).await?,
                Stimulus::Lifecycle(_) | Stimulus::Command(_) => None,
            };
            if let Some(registration) = registration {
                existing = self.take_in(ident, existing, &registration);
            }
        }
        let existing = match existing {
            Some(record) if lifecycle.is_some() && graph.is_terminal(record.state()) => {
                let mut outcome = Outcome::new(Some(event_id), Some(ident));
                let state = record.state().to_string();
                (outcome.from, outcome.to) = (Some(state.clone()), Some(state));
                if started
                    .zip(record.entered_at)
                    .is_some_and(|(started, ended)| started < ended)
                {
                    outcome.reason = Some(
                        "an action older than the end of the lifecycle: handled by that end".into(),
                    );
                    return Ok(Admission::Answered(outcome));
                }
                // A launch never puts an ended instance in service; a termination gets the
                // result the failure path would give when the lifecycle ended there: the
                // instance leaves either way, and the record's own answers never contradict.
                let result = if lifecycle == Some(LifecycleTransition::Launching)
                    || self.machine.is_on_failure_path(record.state())
                {
                    "ABANDON"
                } else {
                    "CONTINUE"
                };
                Box::pin(self.complete_at_once(&record, stimulus, result, &mut outcome)).await?;
                outcome.reason = Some(
                    "the instance's lifecycle already ended: nothing to do, the hook is completed"
                        .into(),
                );
                return Ok(Admission::Answered(outcome));
            }
            Some(record) if !graph.is_pending(record.state()) => {
                return Ok(Admission::Ready(record));
            }
            existing => existing,
        };
        // Built only for an event answered here: an admitted one gets its outcome from its chain.
        let mut outcome = Outcome::new(Some(event_id), Some(ident));
        match stimulus {
            Stimulus::Lifecycle(event) if event.transition == LifecycleTransition::Terminating => {
                Box::pin(self.let_unstarted_instance_go(ident, existing, stimulus, &mut outcome))
                    .await?;
            }
            // An adopted launch (found by the sweep) never holds the sweep up.
            Stimulus::Lifecycle(event) if super::is_adopted(event_id) => {
                let record = existing.unwrap_or_else(|| InstanceRecord::new(ident));
                Box::pin(self.remember_action(record, event_id, event, &mut outcome)).await?;
            }
            Stimulus::Lifecycle(event) => {
                match Box::pin(self.wait_for_initial(ident, ctx)).await? {
                    Ok(record) => return Ok(Admission::Ready(record)),
                    Err(last) => {
                        let record = last
                            .or(existing)
                            .unwrap_or_else(|| InstanceRecord::new(ident));
                        Box::pin(self.remember_action(record, event_id, event, &mut outcome))
                            .await?;
                    }
                }
            }
            _ if existing.is_none() => {
                return Err(HandlerError::UnknownInstance {
                    ident: ident.to_string(),
                });
            }
            _ => {
                let state = existing.map(|r| r.state().to_string()).unwrap_or_default();
                outcome.from = Some(state.clone());
                outcome.to = Some(state);
                outcome.reason = Some("the instance has not reached its initial state".into());
            }
        }
        Ok(Admission::Answered(outcome))
    }

    /// Polls the store until the instance reaches the initial state, first at once, then every
    /// `initial_poll_interval` (counted from the end of each read), within `initial_wait` and the
    /// invocation deadline minus its margin. `Err(last seen)` when it did not.
    async fn wait_for_initial(
        &self,
        ident: &str,
        ctx: &InvocationContext,
    ) -> Result<Result<InstanceRecord, Option<InstanceRecord>>, HandlerError> {
        let now = Instant::now();
        let interval = self
            .config
            .initial_poll_interval
            .max(Duration::from_millis(1));
        let poll = Poll::every(interval)
            .sliding(true)
            .until(now + self.config.initial_wait)
            .within_invocation(ctx.deadline, self.config.deadline_margin);
        if poll.deadline.is_none_or(|deadline| deadline <= now) {
            return Ok(Err(None));
        }
        let initial = self.machine.graph().initial.as_str();
        let reached = poll
            .run(|| async {
                let registration = self.store.registration(ident).await?;
                Ok::<_, StoreError>(
                    registration.is_some_and(|r| r.status.as_deref() == Some(initial)),
                )
            })
            .await;
        match reached {
            Ok(()) => {
                let record = self.store.get(ident).await?;
                let registration = self.store.registration(ident).await?.unwrap_or_default();
                match self.take_in(ident, record, &registration) {
                    Some(record) if !self.machine.graph().is_pending(record.state()) => {
                        Ok(Ok(record))
                    }
                    last => Ok(Err(last)),
                }
            }
            Err(e) => {
                tracing::info!(instance = ident, reason = %e, "the instance did not reach its initial state in time");
                Ok(Err(self.store.get(ident).await?))
            }
        }
    }

    /// Takes the instance's registration into its record when it is ahead: a pending state over
    /// no state, the initial state over a pending one, and the instance's own attributes. Only a
    /// pending or the initial state is ever taken from a registration: any other state an
    /// instance writes is ignored (the handler alone moves a record on from there). In memory:
    /// the next write of the record stores it ([`InstanceRecord::unwritten`]).
    fn take_in(
        &self,
        ident: &str,
        record: Option<InstanceRecord>,
        registration: &Registration,
    ) -> Option<InstanceRecord> {
        let graph = self.machine.graph();
        let current = record.as_ref().and_then(|r| r.status.as_deref());
        let status = registration.status.as_deref().filter(|status| {
            let registrable = graph.pending.contains(*status) || *status == graph.initial;
            if !registrable {
                tracing::warn!(
                    instance = ident,
                    status,
                    "a registration in a state that is neither pending nor initial: ignored"
                );
            }
            registrable
                && match current {
                    None => true,
                    Some(current) => {
                        current != *status
                            && graph.pending.contains(current)
                            && *status == graph.initial
                    }
                }
        });
        let attributes: serde_json::Map<_, _> = registration
            .attributes
            .iter()
            .filter(|(name, value)| {
                record
                    .as_ref()
                    .is_none_or(|r| r.attributes.get(name.as_str()) != Some(*value))
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if status.is_none() && attributes.is_empty() {
            return record;
        }
        let mut taken = record.unwrap_or_else(|| InstanceRecord::new(ident));
        let unwritten = taken.unwritten.get_or_insert_with(|| {
            Box::new(UnwrittenRegistration {
                stored_status: taken.status.clone(),
                attributes: serde_json::Map::new(),
            })
        });
        for (name, value) in attributes {
            unwritten.attributes.insert(name.clone(), value.clone());
            std::sync::Arc::make_mut(&mut taken.attributes).insert(name, value);
        }
        if let Some(status) = status {
            taken.status = Some(status.to_string());
        }
        tracing::info!(
            instance = ident,
            state = taken.state(),
            "registration taken in"
        );
        Some(taken)
    }

    /// A terminate action for an instance whose lifecycle never started (no record, or cloud-init
    /// never finished): there is nothing to drain, so the hook is completed with `CONTINUE` at
    /// once rather than left to time out, and the record (if any) leaves the active index.
    async fn let_unstarted_instance_go(
        &self,
        ident: &str,
        existing: Option<InstanceRecord>,
        stimulus: &Stimulus,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        let record = existing
            .clone()
            .unwrap_or_else(|| InstanceRecord::new(ident));
        let state = record.state().to_string();
        outcome.from = Some(state.clone());
        outcome.to = Some(state);
        let changes = self
            .complete_at_once(&record, stimulus, "CONTINUE", outcome)
            .await?;
        outcome.reason = Some(
            "terminating before its lifecycle started: nothing to drain, the hook is completed"
                .into(),
        );
        if let Some(record) = existing {
            self.write(&record)
                .changes(changes)
                .last_error("terminated before cloud-init finished")
                .leaves_index()
                .commit()
                .await?;
        }
        Ok(())
    }

    /// Completes the terminate action `stimulus` announces with `result`, with the built-in
    /// (idempotent) `complete_lifecycle_action` task; the record changes it asks for.
    async fn complete_at_once(
        &self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        result: &str,
        outcome: &mut Outcome,
    ) -> Result<RecordChanges, HandlerError> {
        let state = record.state().to_string();
        let completion = [Call {
            name: "complete_lifecycle_action".into(),
            args: json!({ "result": result }),
        }];
        let phase = Phase {
            calls: &completion,
            attempt_id: &record.new_attempt_id(&state, UNSTARTED_TERMINATION),
            transition: (&state, &state, UNSTARTED_TERMINATION),
            ignore_errors: false,
            fresh_intent: false,
        };
        match self.run_phase(record, stimulus, &phase, outcome).await {
            PhaseEnd::Done { changes, .. } => Ok(changes),
            PhaseEnd::Failed(error) => Err(HandlerError::TaskRetryable {
                ident: record.ident.clone(),
                source: error,
            }),
        }
    }

    /// Records the lifecycle action on a record that is missing or pending, so that the sweep
    /// (or the next event) continues once cloud-init is done.
    async fn remember_action(
        &self,
        record: InstanceRecord,
        event_id: &str,
        event: &LifecycleEvent,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        outcome.from = Some(record.state().to_string());
        outcome.to = outcome.from.clone();
        outcome.outcome = OutcomeKind::Waiting;
        outcome.reason = Some(
            "waiting for cloud-init to reach the initial state; the lifecycle action is remembered"
                .into(),
        );
        if record
            .lifecycle_action
            .as_ref()
            .is_some_and(|a| a.event_id == event_id)
        {
            return Ok(());
        }
        // A handler write like any other: the version is bumped, so a racing cloud-init write
        // or another delivery conflicts and reloads.
        let write = self.write(&record);
        let action = LifecycleAction::announced(event, event_id, write.now());
        write
            .lifecycle_action(Change::Set(std::sync::Arc::new(action)))
            .group(Some(event.group.clone()))
            .active_in(event.group.clone())
            .commit()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::aws::{AwsClients, LocalAws};
    use crate::handler::HandlerConfig;
    use crate::machine::Machine;
    use crate::store::{MemoryStore, StateStore};

    /// A handler whose only instance, `i-1`, is still booting (`new`).
    async fn handler_of_a_booting_instance(initial_wait: Duration) -> LifecycleHandler {
        let store = Arc::new(MemoryStore::new());
        let mut attributes = serde_json::Map::new();
        attributes.insert("ItemStatus".into(), json!("new"));
        store.cloud_init_update("i-1", &attributes).await.unwrap();
        let config = HandlerConfig {
            initial_wait,
            initial_poll_interval: Duration::from_secs(2),
            deadline_margin: Duration::from_secs(3),
            ..HandlerConfig::default()
        };
        let aws = Arc::new(LocalAws::new());
        LifecycleHandler::new(Arc::new(Machine::example()), store, AwsClients::local(&aws))
            .with_config(config)
    }

    fn launch() -> Stimulus {
        Stimulus::Lifecycle(LifecycleEvent {
            transition: LifecycleTransition::Launching,
            instance_id: "i-1".into(),
            group: "web".into(),
            hook: "launch-hook".into(),
            token: Some("token".into()),
            metadata: None,
            origin: None,
            destination: None,
            time: None,
        })
    }

    /// How long a launch event for the booting instance waits, and what it answers.
    async fn wait_of_a_launch(initial_wait: Duration, budget: Duration) -> (Duration, Outcome) {
        let handler = handler_of_a_booting_instance(initial_wait).await;
        let ctx = InvocationContext::with_budget(budget);
        let start = Instant::now();
        let outcome = handler
            .process_instance("i-1", "launch-1", &launch(), &ctx)
            .await
            .unwrap();
        (start.elapsed(), outcome)
    }

    #[tokio::test(start_paused = true)]
    async fn the_initial_wait_lasts_initial_wait_then_remembers_the_action() {
        let (waited, outcome) =
            wait_of_a_launch(Duration::from_secs(5), Duration::from_secs(60)).await;
        assert_eq!(waited, Duration::from_secs(5));
        assert_eq!(outcome.outcome, OutcomeKind::Waiting);
    }

    #[tokio::test(start_paused = true)]
    async fn the_initial_wait_ends_at_the_invocation_deadline_minus_the_margin() {
        let (waited, outcome) =
            wait_of_a_launch(Duration::from_secs(20), Duration::from_secs(10)).await;
        assert_eq!(waited, Duration::from_secs(7));
        assert_eq!(outcome.outcome, OutcomeKind::Waiting);
    }

    #[tokio::test(start_paused = true)]
    async fn no_initial_wait_when_the_margin_leaves_no_time() {
        let (waited, outcome) =
            wait_of_a_launch(Duration::from_secs(20), Duration::from_secs(2)).await;
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(outcome.outcome, OutcomeKind::Waiting);
    }
}
