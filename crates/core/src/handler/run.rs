//! The state of one chain run: the event being carried through the machine and the outcome it
//! builds.
//!
//! # Guarantees
//! - Every outcome names its event and instance, lists the transitions written in order, and
//!   ends `failed` when an error was recorded, `advanced` when a transition was written.
//! - What the stimulus brings (the lifecycle action, the group) is carried until a write
//!   persists it, and persisted at most once.

use chrono::{DateTime, Utc};

use super::write::{Deferred, Write};
use super::{InvocationContext, LifecycleHandler, Outcome, OutcomeKind, TransitionTaken};
use crate::event::Stimulus;
use crate::machine::{Decision, Found, LookAhead, Machine, StateHint};
use crate::record::{HistoryEntry, InFlight, InstanceRecord, LifecycleAction, SharedName};
use crate::tasks::RecordChanges;

/// A transition's source, destination and trigger names, borrowed from the model: cloned
/// (shared, not copied) only into what keeps them, a history entry or the outcome.
#[derive(Clone, Copy, Debug)]
pub(super) struct Names<'n> {
    pub(super) from: &'n SharedName,
    pub(super) to: &'n SharedName,
    pub(super) trigger: &'n SharedName,
}

impl Names<'_> {
    /// The names as the outcome lists them.
    pub(super) fn taken(&self) -> TransitionTaken {
        TransitionTaken {
            from: self.from.clone(),
            to: self.to.clone(),
            trigger: self.trigger.clone(),
        }
    }
}

/// One event's chain of transitions for one instance, being run.
pub(super) struct ChainRun<'a> {
    pub(super) handler: &'a LifecycleHandler,
    pub(super) ctx: &'a InvocationContext,
    /// The instance.
    pub(super) ident: &'a str,
    /// The event whose chain this is.
    pub(super) event_id: &'a str,
    /// `event_id` shared by the run's history entries ([`Self::shared_event_id`]).
    pub(super) shared_event_id: Option<SharedName>,
    /// A state name's buffer for [`Self::would_be_quiescent`].
    pub(super) status_buffer: String,
    pub(super) stimulus: &'a Stimulus,
    /// Changes from the stimulus still to be written (the lifecycle action).
    pub(super) carry: RecordChanges,
    /// True when a step awaits something (`prepare` tasks, conditions that ask AWS): what a
    /// look-ahead found may not hold by the next step.
    pub(super) steps_await: bool,
    /// What the look-ahead of a transition fired in memory found fires next: the next step, on
    /// the same record with the same carried changes, fires it without deciding again.
    pub(super) found: Option<Found<'a>>,
    /// The group the stimulus names, still to be written.
    pub(super) group: Option<String>,
    /// True once the instance is on the failure path: a further error is not handled again.
    pub(super) failure_mode: bool,
    /// The attempt whose SSM intent this run wrote or claimed itself.
    pub(super) own_intent: Option<String>,
    /// The attempt whose SSM intent this run wrote itself over a record that knew no such
    /// attempt (not taken over): its command is sent without listing first.
    pub(super) fresh_intent: Option<String>,
    /// What the run did so far.
    pub(super) outcome: Outcome,
    /// Transitions fired and not written yet (see [`Deferred`]).
    pub(super) deferred: Option<Deferred>,
    /// A reading of the wall clock taken since the run last awaited anything: the transitions
    /// fired in memory after it and the write that records them share it ([`Self::now`]). The
    /// next write takes it; a step that awaits (tasks, AWS, the store) forgets it first
    /// ([`Self::forget_clock_reading`]).
    pub(super) clock_reading: Option<DateTime<Utc>>,
}

impl<'a> ChainRun<'a> {
    /// A run of `event_id`'s chain on `record` (instance `ident`), adding to `outcome`; it
    /// carries what the stimulus brings the record.
    pub(super) fn new(
        handler: &'a LifecycleHandler,
        ctx: &'a InvocationContext,
        (ident, record): (&'a str, &InstanceRecord),
        (event_id, stimulus): (&'a str, &'a Stimulus),
        outcome: Outcome,
    ) -> Self {
        let mut carry = RecordChanges::default();
        let mut group = None;
        let mut clock_reading = None;
        if let Stimulus::Lifecycle(event) = stimulus {
            // An adopted event (the sweep's, without a token) never replaces an action of its
            // transition that a real event brought.
            let adopted_over_held = super::is_adopted(event_id)
                && record
                    .lifecycle_action
                    .as_ref()
                    .is_some_and(|held| held.transition == event.transition.api_name());
            if !adopted_over_held
                && record
                    .lifecycle_action
                    .as_ref()
                    .is_none_or(|held| held.yields_to(event, event_id))
            {
                let now = handler.clock.now();
                clock_reading = Some(now);
                let action = LifecycleAction::announced(event, event_id, now);
                carry.lifecycle_action = Some(Some(std::sync::Arc::new(action)));
            }
            if record.group.as_deref() != Some(event.group.as_str()) {
                group = Some(event.group.clone());
            }
        }
        Self {
            handler,
            ctx,
            ident,
            event_id,
            shared_event_id: None,
            status_buffer: String::new(),
            stimulus,
            carry,
            steps_await: handler.machine.has_prepare_tasks()
                || handler.machine.registry().has_async_conditions(),
            found: None,
            group,
            failure_mode: handler.machine.is_on_failure_path(record.state()),
            own_intent: None,
            fresh_intent: None,
            outcome,
            deferred: None,
            clock_reading,
        }
    }

    /// The time: the reading taken since the run last awaited anything, else a new one, kept.
    pub(super) fn now(&mut self) -> DateTime<Utc> {
        let clock = &self.handler.clock;
        *self.clock_reading.get_or_insert_with(|| clock.now())
    }

    /// Forgets the clock's reading before the run awaits something: the time after it is read
    /// anew.
    pub(super) fn forget_clock_reading(&mut self) {
        self.clock_reading = None;
    }

    /// A write of `record` as this run holds it, with the transitions deferred so far (their
    /// history entries move into it: a write that fails ends the run); call [`Self::landed`]
    /// once it is committed.
    pub(super) fn write<'b>(&mut self, record: &'b InstanceRecord) -> Write<'b>
    where
        'a: 'b,
    {
        let deferred = self.deferred.as_mut().map(|d| {
            (
                std::mem::take(&mut d.read_status),
                std::mem::take(&mut d.history),
            )
        });
        // The write awaits the store: the reading is used once more, by it.
        let now = self
            .clock_reading
            .take()
            .unwrap_or_else(|| self.handler.clock.now());
        self.handler.write_at(record, now).deferred(deferred)
    }

    /// After a write of this run was committed: the deferred transitions are written.
    pub(super) fn landed(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            // Most chains write once: their transitions move in, not copied into a new list.
            if self.outcome.transitions.is_empty() {
                self.outcome.transitions = deferred.taken;
            } else {
                self.outcome.transitions.extend(deferred.taken);
            }
        }
    }

    /// Fires a transition without tasks in memory only: `record` enters `to`, and the next write
    /// of the run records the transition.
    pub(super) fn defer(&mut self, record: &mut InstanceRecord, names: &Names<'_>) {
        let event_id = self.shared_event_id();
        let now = self.now();
        // The write stamps the entries with its own time.
        let deferred = self.deferred.get_or_insert_with(|| Deferred {
            read_status: record.stored_status().cloned(),
            now,
            // A chain of a few transitions without tasks, as the launch and drain chains are.
            history: Vec::with_capacity(8),
            taken: Vec::with_capacity(8),
        });
        let now = deferred.now;
        deferred.history.push(HistoryEntry {
            from: names.from.clone(),
            to: names.to.clone(),
            trigger: names.trigger.clone(),
            event_id,
            version: record.version.saturating_add(1),
            at: now,
        });
        deferred.taken.push(names.taken());
        let to = &**names.to;
        if record.status.as_deref() != Some(to) {
            record.entered_at = Some(now);
        }
        // The state's buffer is reused: no allocation per transition.
        match &mut record.status {
            Some(status) => {
                status.clear();
                status.push_str(to);
            }
            None => record.status = Some(to.to_string()),
        }
    }

    /// The event id as a shared string, made once per run: every history entry of the chain
    /// holds it.
    pub(super) fn shared_event_id(&mut self) -> SharedName {
        self.shared_event_id
            .get_or_insert_with(|| SharedName::from(self.event_id))
            .clone()
    }

    /// True when transitions wait for a write.
    pub(super) fn has_deferred(&self) -> bool {
        self.deferred.is_some()
    }

    /// True when the carried stimulus changes or group still wait for a write.
    pub(super) fn carries_anything(&self) -> bool {
        self.carry != RecordChanges::default() || self.group.is_some()
    }

    /// True when nothing would fire from `record` with `changes` applied and, when given, in
    /// state `to`: the record as it would be written is quiescent, asked without copying
    /// it (the changes are swapped in for the question and swapped back).
    pub(super) fn would_be_quiescent(
        &mut self,
        record: &mut InstanceRecord,
        changes: &mut RecordChanges,
        to: Option<&str>,
    ) -> bool {
        matches!(
            self.look_ahead_as_written(record, changes, to, None),
            LookAhead::Quiescent
        )
    }

    /// What would fire next from `record` with `changes` applied and, when given, in state `to`
    /// ([`crate::machine::Machine::look_ahead`] of the record as it would be written). `hint`:
    /// where the record's state probably is among the model's.
    pub(super) fn look_ahead_as_written(
        &mut self,
        record: &mut InstanceRecord,
        changes: &mut RecordChanges,
        to: Option<&str>,
        hint: Option<StateHint>,
    ) -> LookAhead<'a> {
        let machine: &'a Machine = &self.handler.machine;
        swap_changes(record, changes);
        // The state `to` is written into a buffer kept by the run: no allocation per question.
        let mut original = None;
        if let Some(to) = to.filter(|to| record.status.as_deref() != Some(*to)) {
            let mut buffer = std::mem::take(&mut self.status_buffer);
            buffer.clear();
            buffer.push_str(to);
            original = Some(record.status.replace(buffer));
        }
        let ahead = machine.look_ahead(record, self.stimulus, hint);
        if let Some(original) = original
            && let Some(buffer) = std::mem::replace(&mut record.status, original)
        {
            self.status_buffer = buffer;
        }
        // Swapping again restores both.
        swap_changes(record, changes);
        ahead
    }

    /// The answers of the model's conditions that ask AWS, for `record` as it will be written
    /// (as [`Self::step_as_written`] sees it), within the time left.
    pub(super) async fn resolve_as_written(
        &mut self,
        record: &mut InstanceRecord,
    ) -> crate::tasks::Resolved {
        self.forget_clock_reading();
        let handler = self.handler;
        let budget = handler.time_left(self.ctx);
        let mut carry = std::mem::take(&mut self.carry);
        swap_changes(record, &mut carry);
        let resolved = crate::tasks::resolve(
            &handler.machine,
            record,
            self.stimulus,
            &handler.aws,
            budget,
        )
        .await;
        swap_changes(record, &mut carry);
        self.carry = carry;
        resolved
    }

    /// The step from `record` as it will be written: with the changes the run carries swapped
    /// in, as its look-aheads see it (the stimulus's lifecycle action before the chain's first
    /// write, what `prepare` tasks changed); `resolved`: the answers of conditions that ask AWS.
    pub(super) fn step_as_written(
        &mut self,
        record: &mut InstanceRecord,
        resolved: Option<&crate::tasks::Resolved>,
    ) -> Decision<'a> {
        let machine: &'a Machine = &self.handler.machine;
        if let Some(found) = self.found.take() {
            return machine.fire_found(found);
        }
        let mut carry = std::mem::take(&mut self.carry);
        swap_changes(record, &mut carry);
        let decision = machine.step_resolved(record, self.stimulus, resolved);
        swap_changes(record, &mut carry);
        self.carry = carry;
        decision
    }

    /// What a write leaves owed on the record: `None` when the chain `ends` with it, else the
    /// attempt in progress and, for a transition, its trigger, source state and the `after`
    /// tasks still to run.
    pub(super) fn owed(
        &self,
        ends: bool,
        attempt_id: &str,
        pending: Option<(&str, &str, Vec<String>)>,
    ) -> Option<InFlight> {
        if ends {
            return None;
        }
        let (trigger, from, pending_after) = match pending {
            Some((trigger, from, after)) => {
                (Some(trigger.to_string()), Some(from.to_string()), after)
            }
            None => (None, None, Vec::new()),
        };
        Some(InFlight {
            event_id: self.event_id.to_string(),
            stimulus: self.stimulus.clone(),
            attempt_id: attempt_id.to_string(),
            pending_after,
            trigger,
            from,
        })
    }

    /// Closes the outcome on the record as last written, which the run is done with (its state
    /// moves into the outcome).
    pub(super) fn finish(&mut self, mut record: InstanceRecord) {
        let outcome = &mut self.outcome;
        // `state()` of a record without a status is empty.
        outcome.to = Some(record.status.take().unwrap_or_default());
        if outcome.error.is_some() {
            outcome.outcome = OutcomeKind::Failed;
        } else if !outcome.transitions.is_empty() {
            outcome.outcome = OutcomeKind::Advanced;
        }
    }
}

/// Swaps the changes' pending command and lifecycle action (those they change) with the
/// record's: once to see the record as it would be written, again to restore both.
fn swap_changes(record: &mut InstanceRecord, changes: &mut RecordChanges) {
    if let Some(pending) = changes.pending_command.as_mut() {
        std::mem::swap(pending, &mut record.pending_command);
    }
    if let Some(action) = changes.lifecycle_action.as_mut() {
        std::mem::swap(action, &mut record.lifecycle_action);
    }
}
