//! The step loop: step the machine from the record and execute its decision, until quiescent.
//!
//! # Guarantees
//! - A transition whose `after` tasks did not all run (a crash, the deadline) is finished before
//!   anything else fires for its event.
//! - The loop stops when nothing fires, when a transition stops the chain, at the step limit, or
//!   near the invocation deadline; what the chain still owes is on the record.
//! - A chain that ends without a transition still writes what it owes: the carried lifecycle
//!   action and group, and the end of an interrupted chain.

use super::HandlerError;
use super::run::{ChainRun, Names};
use super::transition::Deferral;
use crate::machine::{Decision, Firing};
use crate::record::InstanceRecord;

impl ChainRun<'_> {
    /// Runs the chain on `record`, first moving it to the failure state with `initial_failure`
    /// when given.
    ///
    /// # Errors
    /// The store's errors (a conflict: reload and run again), a retryable task error,
    /// [`HandlerError::Busy`], an unknown state or an error during failure handling.
    pub(super) async fn execute(
        &mut self,
        mut record: InstanceRecord,
        initial_failure: Option<String>,
    ) -> Result<(), HandlerError> {
        if let Some(message) = initial_failure {
            Box::pin(self.fail(&mut record, message)).await?;
        }
        // Futures of the rarer paths are boxed: kept inline they would make every chain's future
        // (and each of its callers') as large as the largest, copied at each call.
        if self.owes_after_tasks(&record) && !Box::pin(self.resume_after_tasks(&mut record)).await?
        {
            self.finish(record);
            return Ok(());
        }
        let handler = self.handler;
        // When a step awaits nothing, the deadline after a transition fired in memory is as
        // near as it was: the clock is not read again before the next step.
        let mut clock_read_since_await = false;
        for _ in 0..handler.config.max_steps {
            if !std::mem::take(&mut clock_read_since_await) && handler.near_deadline(self.ctx) {
                self.outcome.reason = Some("the invocation deadline is near: the chain continues with the next event or sweep".into());
                Box::pin(self.flush_owing(&mut record)).await?;
                self.finish(record);
                return Ok(());
            }
            // The `prepare` tasks of the triggers about to be considered, before their conditions.
            if handler.machine.has_prepare_tasks() && !Box::pin(self.prepare(&mut record)).await? {
                continue;
            }
            // The model's conditions that ask AWS, awaited first (none: nothing to await).
            let resolved = if handler.machine.registry().has_async_conditions() {
                Some(self.resolve_as_written(&mut record).await)
            } else {
                None
            };
            match self.step_as_written(&mut record, resolved.as_ref()) {
                Decision::UnknownState { state } => {
                    return Err(HandlerError::UnknownState {
                        ident: self.ident.to_string(),
                        state,
                    });
                }
                Decision::Stay { reason } => {
                    Box::pin(self.settle(&record)).await?;
                    self.outcome.reason = Some(reason);
                    self.finish(record);
                    return Ok(());
                }
                Decision::ConditionError {
                    trigger,
                    condition,
                    error,
                } => {
                    let message =
                        format!("condition `{condition}` of trigger `{trigger}` failed: {error}");
                    Box::pin(self.fail(&mut record, message)).await?;
                }
                Decision::Fire(firing) => {
                    // The firing's names move into the run's: shared strings, not counted again.
                    let Firing {
                        transition,
                        from,
                        to,
                        trigger_name,
                        ignored_errors,
                        entered,
                    } = firing;
                    self.outcome.ignored_errors.extend(ignored_errors);
                    let names = Names {
                        from,
                        to,
                        trigger: trigger_name,
                    };
                    // A transition without tasks that does not stop the chain: in memory only,
                    // written with the next write or, when the chain ends with it, now.
                    match self.try_defer(&mut record, transition, &names, entered) {
                        Deferral::Deferred => {
                            clock_read_since_await = !self.steps_await;
                            continue;
                        }
                        Deferral::EndsChain => {
                            Box::pin(self.settle(&record)).await?;
                            self.finish(record);
                            return Ok(());
                        }
                        Deferral::WriteNow => {}
                    }
                    // Only tasks use the attempt id (an SSM intent, a command's tag, what the
                    // record owes between the write and the `after` tasks): a transition without
                    // tasks is written with the next write or ends the chain, and owes nothing.
                    let trigger = &transition.trigger;
                    let attempt_id = if trigger.before.is_empty() && trigger.after.is_empty() {
                        String::new()
                    } else {
                        record.attempt_id(self.event_id, names.from, &trigger.name)
                    };
                    if !Box::pin(self.fire(&mut record, transition, &names, &attempt_id)).await? {
                        self.finish(record);
                        return Ok(());
                    }
                }
            }
        }
        self.outcome.reason = Some(format!(
            "stopped after {} steps (step limit)",
            handler.config.max_steps
        ));
        Box::pin(self.flush_owing(&mut record)).await?;
        self.finish(record);
        Ok(())
    }

    /// True when this event's last written transition still owes `after` tasks.
    fn owes_after_tasks(&self, record: &InstanceRecord) -> bool {
        record
            .in_flight
            .as_ref()
            .is_some_and(|f| f.event_id == self.event_id && !f.pending_after.is_empty())
    }

    /// Finishes the `after` tasks of this event's last written transition when some did not
    /// run. Returns whether the chain goes on.
    async fn resume_after_tasks(
        &mut self,
        record: &mut InstanceRecord,
    ) -> Result<bool, HandlerError> {
        self.forget_clock_reading();
        let Some(in_flight) = record
            .in_flight
            .clone()
            .filter(|f| f.event_id == self.event_id && !f.pending_after.is_empty())
        else {
            return Ok(true);
        };
        let from = in_flight
            .from
            .clone()
            .unwrap_or_else(|| record.state().to_string());
        let graph = self.handler.machine.graph();
        let transition = in_flight
            .trigger
            .as_deref()
            .and_then(|t| graph.outgoing(&from).find(|tr| tr.trigger.name == t));
        match transition {
            Some(transition) => {
                self.after_phase(record, transition, &from, &in_flight.attempt_id)
                    .await
            }
            None => Ok(true),
        }
    }

    /// Writes what a chain that ends without writing a transition still owes: the transitions
    /// fired in memory, the carried lifecycle action and group, a registration taken in, or the
    /// end of an interrupted chain. The chain ends with it: `record` is in the state written
    /// already, and is not read back.
    async fn settle(&mut self, record: &InstanceRecord) -> Result<(), HandlerError> {
        let owes_end = record
            .in_flight
            .as_ref()
            .is_some_and(|f| f.event_id == self.event_id);
        if !self.carries_anything()
            && !owes_end
            && !self.has_deferred()
            && record.unwritten.is_none()
        {
            return Ok(());
        }
        let carry_taken = std::mem::take(&mut self.carry);
        let group_taken = self.group.take();
        self.write(record)
            .for_event(self.event_id)
            .changes(carry_taken)
            .group(group_taken)
            .indexed_for(record.state(), None)
            .ends_chain_or_owes(self.event_id, None)
            .commit_without_answer()
            .await?;
        self.landed();
        Ok(())
    }

    /// Writes the deferred transitions of a chain cut short (the deadline, the step limit, a
    /// retryable task error), and what the stimulus brings (its lifecycle action): the chain
    /// stays owed on the record, for the next event or sweep, which heartbeats the action too.
    pub(super) async fn flush_owing(
        &mut self,
        record: &mut InstanceRecord,
    ) -> Result<(), HandlerError> {
        // A registration taken in is not written on its own here: the transition's write stores
        // it, and until then the registration item still holds it for the next event or sweep.
        if !self.has_deferred() && !self.carries_anything() {
            return Ok(());
        }
        let owed = self.owed(false, "chain", None);
        let group = self.group.take();
        let carry_taken = std::mem::take(&mut self.carry);
        *record = self
            .write(record)
            .for_event(self.event_id)
            .changes(carry_taken)
            .group(group)
            .indexed_for(record.state(), None)
            .ends_chain_or_owes(self.event_id, owed)
            .commit()
            .await?;
        self.landed();
        Ok(())
    }
}
