//! Firing one transition: `before` tasks, the conditional write, `after` tasks.
//!
//! # Guarantees
//! - `before` tasks run before the write and are re-run after a crash; `after` tasks run after
//!   it, from the record, and a crash between the write and them leaves them owed on the record
//!   (`InFlight::pending_after`) for a redelivery or the sweep.
//! - The write that ends a chain marks the event processed; a write that does not records what
//!   the chain still owes.
//! - A chain stops at a terminal state, after an internal transition, a stop flag, or a task
//!   that started asynchronous work.

use super::HandlerError;
use super::phase::{Phase, PhaseEnd};
use super::run::{ChainRun, Names};
use crate::machine::{LookAhead, StateHint, Transition};
use crate::record::InstanceRecord;

/// What [`ChainRun::try_defer`] did with a transition.
pub(super) enum Deferral {
    /// Fired in memory: the run's next write records it.
    Deferred,
    /// Fired in memory, and nothing fires after it: the chain ends with the write of the
    /// transitions fired in memory ([`ChainRun::settle`]).
    EndsChain,
    /// Not fired: [`ChainRun::fire`] runs its tasks and writes it.
    WriteNow,
}

impl ChainRun<'_> {
    /// Fires `transition` from `from` to `to` in attempt `attempt_id`, writing it (a transition
    /// without tasks that does not stop the chain is fired in memory by [`Self::try_defer`]
    /// instead). Returns whether the chain goes on.
    pub(super) async fn fire(
        &mut self,
        record: &mut InstanceRecord,
        transition: &Transition,
        names: &Names<'_>,
        attempt_id: &str,
    ) -> Result<bool, HandlerError> {
        // Tasks and the store are awaited from here on: the time is read anew.
        self.forget_clock_reading();
        let (from, to) = (&**names.from, &**names.to);
        let trigger = &transition.trigger;
        // 1. before tasks (with an intent written first when one of them sends a command)
        let mut changes = std::mem::take(&mut self.carry);
        let mut before_async = false;
        // Boxed: most transitions have no `before` tasks, and the phase's future inline would
        // make every firing's future larger.
        if !trigger.before.is_empty() {
            let before = (names, attempt_id, &mut changes);
            match Box::pin(self.before_phase(record, transition, before)).await? {
                Some(started_async) => before_async = started_async,
                None => return Ok(true),
            }
        }
        // 2. the transition write (the `last` tasks are owed with the `after` tasks)
        let after: Vec<String> = trigger
            .after
            .iter()
            .chain(&trigger.last)
            .map(|c| c.name.clone())
            .collect();
        self.intend_after(
            record,
            attempt_id,
            &trigger.name,
            &trigger.after,
            &mut changes,
        );
        let internal = transition.dest.is_none();
        // An internal transition ends the chain: stepping again with the same stimulus from the
        // same state would fire the same trigger again.
        let stops = self.stops_after(transition, (to, None), before_async);
        let ends =
            after.is_empty() && (stops || self.would_be_quiescent(record, &mut changes, Some(to)));
        let owed = self.owed(ends, attempt_id, Some((&trigger.name, from, after.clone())));
        let event_id = self.shared_event_id();
        let group_taken = self.group.take();
        *record = self
            .write(record)
            .for_event(self.event_id)
            .transition(names, event_id, !internal)
            .changes(changes)
            .group(group_taken)
            .indexed_for(to, None)
            .ends_chain_or_owes(self.event_id, owed)
            .commit()
            .await?;
        self.landed();
        self.outcome.transitions.push(names.taken());
        tracing::info!(instance = %self.ident, from, to, trigger = %trigger.name, "transition");
        if ends {
            return Ok(false);
        }
        if after.is_empty() {
            return Ok(!stops);
        }
        // 3. after tasks, then the write that settles them
        let goes_on = Box::pin(self.after_phase(record, transition, from, attempt_id)).await?;
        Ok(goes_on && !stops)
    }

    /// Runs `transition`'s `before` tasks (with an intent written first when one of them sends a
    /// command, else the deferred transitions written first), merging their changes into
    /// `changes`. `Some(started_async)` when they ran, `None` when one failed: the failure was
    /// handled and the chain goes on from the failure path.
    async fn before_phase(
        &mut self,
        record: &mut InstanceRecord,
        transition: &Transition,
        (names, attempt_id, changes): (&Names<'_>, &str, &mut crate::tasks::RecordChanges),
    ) -> Result<Option<bool>, HandlerError> {
        let (from, to) = (&**names.from, &**names.to);
        let trigger = &transition.trigger;
        if self.needs_intent(&trigger.before) {
            let intent = (trigger.name.as_str(), from);
            Box::pin(self.hold_intent_before(record, attempt_id, intent, changes)).await?;
        } else {
            // Deferred transitions are written before a task acts on the world: a record
            // behind what AWS already did could be timed out into the failure path.
            self.carry = std::mem::take(changes);
            Box::pin(self.flush_owing(record)).await?;
            *changes = std::mem::take(&mut self.carry);
        }
        let mut working = record.clone();
        changes.apply_to(&mut working);
        let phase = Phase {
            calls: &trigger.before,
            attempt_id,
            transition: (from, to, &trigger.name),
            ignore_errors: trigger.ignore_errors,
            fresh_intent: self.holds_fresh_intent(attempt_id),
        };
        match self.run_phase(&working, &phase).await {
            PhaseEnd::Done {
                changes: task_changes,
                started_async,
            } => {
                changes.merge(task_changes);
                Ok(Some(started_async))
            }
            PhaseEnd::Failed(error) => {
                self.carry = std::mem::take(changes);
                let last =
                    Box::pin(self.run_last(record, transition, (from, to), attempt_id)).await;
                self.carry.merge(last);
                Box::pin(self.phase_failed(record, error)).await?;
                Ok(None)
            }
        }
    }

    /// Fires a transition without tasks that does not stop the chain in memory only
    /// ([`Self::defer`]): [`Deferral::Deferred`] when the chain goes on after it,
    /// [`Deferral::EndsChain`] when nothing fires after it (the record as it will be written,
    /// with what the run carries, is quiescent). [`Deferral::WriteNow`], without firing it, for a
    /// transition with tasks or one that stops the chain: [`Self::fire`] does.
    pub(super) fn try_defer(
        &mut self,
        record: &mut InstanceRecord,
        transition: &Transition,
        names: &Names<'_>,
        entered: StateHint,
    ) -> Deferral {
        let trigger = &transition.trigger;
        let has_tasks =
            !(trigger.before.is_empty() && trigger.after.is_empty() && trigger.last.is_empty());
        if has_tasks || self.stops_after(transition, (names.to, Some(entered)), false) {
            return Deferral::WriteNow;
        }
        self.defer(record, names);
        tracing::info!(instance = %self.ident, from = %names.from, to = %names.to, trigger = %names.trigger, "transition (written with the next)");
        // The record is in the new state already: only the carried changes are swapped in.
        let mut changes = std::mem::take(&mut self.carry);
        let ahead = self.look_ahead_as_written(record, &mut changes, None, Some(entered));
        self.carry = changes;
        match ahead {
            LookAhead::Quiescent => Deferral::EndsChain,
            // The next step sees what this look-ahead saw, unless it awaits something first.
            LookAhead::Fires(found) if !self.steps_await => {
                self.found = Some(found);
                Deferral::Deferred
            }
            LookAhead::Fires(_) | LookAhead::Other => Deferral::Deferred,
        }
    }

    /// Runs a written transition's `after` tasks and settles them. Returns whether the chain
    /// goes on.
    pub(super) async fn after_phase(
        &mut self,
        record: &mut InstanceRecord,
        transition: &Transition,
        from: &str,
        attempt_id: &str,
    ) -> Result<bool, HandlerError> {
        let trigger = &transition.trigger;
        let to = record.state().to_string();
        if self.needs_intent(&trigger.after) {
            Box::pin(self.hold_intent_after(record, attempt_id)).await?;
        }
        let phase = Phase {
            calls: &trigger.after,
            attempt_id,
            transition: (from, &to, &trigger.name),
            ignore_errors: trigger.ignore_errors,
            fresh_intent: self.holds_fresh_intent(attempt_id),
        };
        let (mut changes, started_async) = match self.run_phase(record, &phase).await {
            PhaseEnd::Done {
                changes,
                started_async,
            } => (changes, started_async),
            PhaseEnd::Failed(error) => {
                let last =
                    Box::pin(self.run_last(record, transition, (from, &to), attempt_id)).await;
                self.carry.merge(last);
                Box::pin(self.phase_failed(record, error)).await?;
                return Ok(true);
            }
        };
        if !trigger.last.is_empty() {
            let mut settled = record.clone();
            changes.apply_to(&mut settled);
            let last = Box::pin(self.run_last(&settled, transition, (from, &to), attempt_id)).await;
            changes.merge(last);
        }
        let stops = self.stops_after(transition, (&to, None), started_async);
        let ends = stops || self.would_be_quiescent(record, &mut changes, None);
        let owed = self.owed(ends, attempt_id, None);
        *record = self
            .write(record)
            .for_event(self.event_id)
            .changes(changes)
            .ends_chain_or_owes(self.event_id, owed)
            .commit()
            .await?;
        self.landed();
        Ok(!ends)
    }

    /// True when the chain stops after `transition` into `to` (where `hint` says first, when
    /// given): a terminal state, an internal transition, a stop flag, or asynchronous work
    /// started.
    fn stops_after(
        &self,
        transition: &Transition,
        (to, hint): (&str, Option<StateHint>),
        started_async: bool,
    ) -> bool {
        let trigger = &transition.trigger;
        transition.dest.is_none()
            || self.handler.machine.is_terminal_hinted(to, hint)
            || trigger.stop_after_trigger
            || trigger.stop_after_state_change
            || started_async
    }

    /// Runs a phase of tasks with this run's stimulus, reporting in its outcome.
    pub(super) async fn run_phase(
        &mut self,
        record: &InstanceRecord,
        phase: &Phase<'_>,
    ) -> PhaseEnd {
        self.handler
            .run_phase(record, self.stimulus, phase, &mut self.outcome)
            .await
    }
}
