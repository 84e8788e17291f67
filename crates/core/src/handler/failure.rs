//! Failure handling: a task or condition error moves the instance to the failure state once.
//!
//! # Guarantees
//! - A retryable task error changes no state: it is returned, and the delivery is retried.
//! - Any other error moves the instance to the failure state with one conditional write that
//!   records the error and an `error` transition; the chain goes on with the failure
//!   transitions (e.g. completing the lifecycle action with `ABANDON`).
//! - A retryable error on the failure path (a throttled or 5xx `ABANDON`) changes no state: the
//!   failure tasks stay owed on the record (`InFlight`), and a redelivery, any later event for
//!   the instance or the next sweep re-runs them (they are idempotent) and clears them.
//! - A permanent error on the failure path is not handled again, so failure handling never
//!   loops: it is recorded in `LastError`, the chain is cleared from `InFlight` (never replayed
//!   by a later event) and returned ([`HandlerError::FailureHandling`], not retryable). Later
//!   events and sweeps step the instance as the model says.

use super::run::{ChainRun, Names};
use super::{HandlerError, InvocationContext, LifecycleHandler, Outcome};
use crate::event::Stimulus;
use crate::record::InstanceRecord;
use crate::store::StoreError;
use crate::tasks::TaskError;

impl LifecycleHandler {
    /// Moves a record to the failure state with `message` (unless it changed since it was read)
    /// and runs the failure transitions: how the sweep fails an instance whose state timed out.
    pub(super) async fn fail_instance(
        &self,
        record: InstanceRecord,
        message: String,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let mut outcome = Outcome::new(Some(event_id), Some(&record.ident));
        outcome.from = Some(record.state().to_string());
        let ident = record.ident.clone();
        let mut run = ChainRun::new(self, ctx, (&ident, &record), (event_id, stimulus), outcome);
        match run.execute(record, Some(message)).await {
            // Someone else moved the record first: their move wins; the next sweep looks again.
            Ok(()) | Err(HandlerError::Store(StoreError::Conflict { .. })) => Ok(run.outcome),
            Err(e) => Err(e),
        }
    }
}

impl ChainRun<'_> {
    /// Decides what a failed phase means: a retryable error is returned; any other moves the
    /// instance to the failure state.
    pub(super) async fn phase_failed(
        &mut self,
        record: &mut InstanceRecord,
        error: TaskError,
    ) -> Result<(), HandlerError> {
        if error.retryable {
            // The transitions before the failed task are kept, as if written one by one: the
            // chain is owed from there.
            self.flush_owing(record).await?;
            return Err(HandlerError::TaskRetryable {
                ident: self.ident.to_string(),
                source: error,
            });
        }
        self.fail(record, error.to_string()).await
    }

    /// Moves the instance to the failure state, recording the error; the chain goes on from
    /// there (the failure transitions).
    pub(super) async fn fail(
        &mut self,
        record: &mut InstanceRecord,
        message: String,
    ) -> Result<(), HandlerError> {
        self.forget_clock_reading();
        tracing::error!(instance = %self.ident, state = record.state(), error = %message, "moving to the failure state");
        if self.failure_mode {
            return self.give_up(record, message).await;
        }
        let from = record.state().to_string();
        let failure = self.handler.machine.graph().failure.clone();
        let mut carry = std::mem::take(&mut self.carry);
        let ends = self.would_be_quiescent(record, &mut carry, Some(&failure));
        let owed = self.owed(ends, "failure", None);
        let event_id = self.shared_event_id();
        let machine = &self.handler.machine;
        let (from, to, trigger) = (
            machine.shared_name(&from),
            machine.shared_name(&failure),
            machine.shared_name("error"),
        );
        let names = Names {
            from: &from,
            to: &to,
            trigger: &trigger,
        };
        let group = self.group.take();
        *record = self
            .write(record)
            .for_event(self.event_id)
            .transition(&names, event_id, true)
            .last_error(message.clone())
            .changes(carry)
            .indexed_for(&failure, group.as_deref())
            .group(group)
            .ends_chain_or_owes(self.event_id, owed)
            .commit()
            .await?;
        self.landed();
        self.failure_mode = true;
        self.outcome.error = Some(message);
        self.outcome.transitions.push(names.taken());
        Ok(())
    }

    /// Ends the chain after a permanent error on the failure path: the error is recorded in
    /// `LastError`, the unfinished chain is cleared and the event marked processed, so that no
    /// later event replays it; the instance stays where it is, and the next event or sweep steps
    /// it again (the failure tasks are idempotent).
    async fn give_up(
        &mut self,
        record: &mut InstanceRecord,
        message: String,
    ) -> Result<(), HandlerError> {
        let group = self.group.take();
        let carry_taken = std::mem::take(&mut self.carry);
        *record = self
            .write(record)
            .for_event(self.event_id)
            .last_error(message.clone())
            .changes(carry_taken)
            .indexed_for(record.state(), group.as_deref())
            .group(group)
            .ends_chain_or_owes(self.event_id, None)
            .commit()
            .await?;
        self.landed();
        self.outcome.error = Some(message.clone());
        Err(HandlerError::FailureHandling {
            ident: self.ident.to_string(),
            state: record.state().to_string(),
            message,
            retryable: false,
        })
    }
}
