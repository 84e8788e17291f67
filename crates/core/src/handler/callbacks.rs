//! A trigger's `prepare` and `last` tasks: the callbacks around its attempt, as in the
//! original library.
//!
//! # Guarantees
//! - `prepare` tasks run each time the handler considers the triggers leaving the record's
//!   state, in declaration order, before any of their conditions is evaluated (and before the
//!   model's asynchronous conditions are awaited); a redelivered event runs them again, so they
//!   must be idempotent like every task. Deferred transitions are written first, as before any
//!   task that acts on the world.
//! - A `prepare` task that fails fails the instance like a `before` task (unless
//!   `ignore_errors`); a retryable error ends the invocation for a retry.
//! - `last` tasks run after the `after` tasks (owed on the record with them across a crash), and
//!   also when the trigger's `before` or `after` tasks failed, before the failure transition.
//!   Their errors, retryable or not, are logged and reported, never fatal.
//! - Neither sends SSM commands (validation: `command-out-of-place`).

use super::HandlerError;
use super::phase::{Phase, PhaseEnd};
use super::run::ChainRun;
use crate::machine::Transition;
use crate::record::InstanceRecord;
use crate::tasks::RecordChanges;

impl ChainRun<'_> {
    /// Runs the `prepare` tasks of the triggers leaving the record's state. Returns `false`
    /// when one failed and the instance moved to the failure state.
    pub(super) async fn prepare(
        &mut self,
        record: &mut InstanceRecord,
    ) -> Result<bool, HandlerError> {
        self.forget_clock_reading();
        let graph = self.handler.machine.graph();
        let state = record.state().to_string();
        if !graph
            .outgoing(&state)
            .any(|t| !t.trigger.prepare.is_empty())
        {
            return Ok(true);
        }
        self.flush_owing(record).await?;
        for transition in graph.outgoing(&state) {
            let trigger = &transition.trigger;
            if trigger.prepare.is_empty() {
                continue;
            }
            let to = transition.dest.as_deref().unwrap_or(&state);
            let attempt_id = record.attempt_id(self.event_id, &state, &trigger.name);
            let phase = Phase {
                calls: &trigger.prepare,
                attempt_id: &attempt_id,
                transition: (&state, to, &trigger.name),
                ignore_errors: trigger.ignore_errors,
                fresh_intent: false,
            };
            match self.run_phase(record, &phase).await {
                PhaseEnd::Done { changes, .. } => self.carry.merge(changes),
                PhaseEnd::Failed(error) => {
                    self.phase_failed(record, error).await?;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Runs the `last` tasks of `transition` (from `from` to `to`, attempt `attempt_id`) and
    /// returns the record changes they ask for; their errors are reported, never fatal.
    pub(super) async fn run_last(
        &mut self,
        record: &InstanceRecord,
        transition: &Transition,
        (from, to): (&str, &str),
        attempt_id: &str,
    ) -> RecordChanges {
        let trigger = &transition.trigger;
        if trigger.last.is_empty() {
            return RecordChanges::default();
        }
        let phase = Phase {
            calls: &trigger.last,
            attempt_id,
            transition: (from, to, &trigger.name),
            ignore_errors: true,
            fresh_intent: false,
        };
        match self.run_phase(record, &phase).await {
            PhaseEnd::Done { changes, .. } => changes,
            PhaseEnd::Failed(error) => {
                tracing::warn!(instance = %self.ident, trigger = %trigger.name, error = %error, "`last` task failed; ignored");
                self.outcome.ignored_errors.push(error.to_string());
                RecordChanges::default()
            }
        }
    }
}
