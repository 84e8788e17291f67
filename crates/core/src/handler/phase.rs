//! Running a phase of tasks (a trigger's `before` or `after` list).
//!
//! # Guarantees
//! - Tasks run in order, each seeing the record changes of the ones before it; the phase stops
//!   at the first error that is retryable or not covered by `ignore_errors`.
//! - Every AWS call a task made is reported in the outcome, with secret-looking values redacted,
//!   even when the phase fails.

use super::{LifecycleHandler, Outcome};
use crate::event::Stimulus;
use crate::machine::Call;
use crate::record::InstanceRecord;
use crate::redact::redact_in_place;
use crate::tasks::{RecordChanges, TaskContext, TaskError};

/// One phase of tasks of a transition attempt.
pub(super) struct Phase<'a> {
    /// The tasks, in order.
    pub(super) calls: &'a [Call],
    /// The transition attempt.
    pub(super) attempt_id: &'a str,
    /// The transition: source state, destination state, trigger.
    pub(super) transition: (&'a str, &'a str, &'a str),
    /// Whether a non-retryable task error is passed over.
    pub(super) ignore_errors: bool,
    /// Whether this invocation wrote the attempt's SSM intent itself (see
    /// [`TaskContext::fresh_intent`]).
    pub(super) fresh_intent: bool,
}

/// How a phase of tasks ended.
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived value returned once per phase; boxing buys nothing"
)]
pub(super) enum PhaseEnd {
    /// Every task ran (or failed and was ignored).
    Done {
        /// The record changes the tasks asked for.
        changes: RecordChanges,
        /// True when a task started asynchronous work (an SSM command).
        started_async: bool,
    },
    /// A task failed.
    Failed(TaskError),
}

impl LifecycleHandler {
    /// Runs `phase` on `record` for `stimulus`, reporting calls and ignored errors in `outcome`.
    pub(super) async fn run_phase(
        &self,
        record: &InstanceRecord,
        stimulus: &Stimulus,
        phase: &Phase<'_>,
        outcome: &mut Outcome,
    ) -> PhaseEnd {
        let (from, to, trigger) = phase.transition;
        let mut working = std::borrow::Cow::Borrowed(record);
        let mut changes = RecordChanges::default();
        let mut started_async = false;
        for call in phase.calls {
            let Some(task) = self.machine.registry().task(&call.name) else {
                return PhaseEnd::Failed(TaskError {
                    task: call.name.clone(),
                    message: "unknown task".into(),
                    retryable: false,
                });
            };
            let mut ctx = TaskContext {
                record: &working,
                stimulus,
                aws: &self.aws,
                attempt_id: phase.attempt_id,
                from,
                to,
                trigger,
                fresh_intent: phase.fresh_intent,
                now: self.clock.now(),
                effects: Vec::new(),
                changes: RecordChanges::default(),
            };
            let result = task.run(&mut ctx, &call.args).await;
            let (effects, task_changes) = (ctx.effects, ctx.changes);
            for mut effect in effects {
                let mut details = serde_json::Value::Object(std::mem::take(&mut effect.details));
                redact_in_place(&mut details);
                if let serde_json::Value::Object(map) = details {
                    effect.details = map;
                }
                outcome.effects.push(effect);
            }
            // The record as the next task sees it, copied only when a task changed it.
            if task_changes != RecordChanges::default() {
                task_changes.apply_to(working.to_mut());
            }
            changes.merge(task_changes);
            match result {
                Ok(()) => started_async |= task.starts_async_work(),
                Err(e) if phase.ignore_errors && !e.retryable => {
                    tracing::warn!(instance = %record.ident, task = %call.name, error = %e, "task failed; ignored (ignore_errors)");
                    outcome.ignored_errors.push(e.to_string());
                }
                Err(e) => return PhaseEnd::Failed(e),
            }
        }
        PhaseEnd::Done {
            changes,
            started_async,
        }
    }
}
