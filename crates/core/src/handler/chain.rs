//! Running one event's chain of transitions for one instance.

use std::time::Duration;

use chrono::Utc;

use super::{
    HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind, TransitionTaken,
};
use crate::event::{LifecycleEvent, LifecycleTransition, Stimulus};
use crate::machine::{Call, Decision, Transition};
use crate::record::{HistoryEntry, InFlight, InstanceRecord, LifecycleAction, PendingCommand};
use crate::redact::redact;
use crate::store::{Activity, Change, Commit, StoreError};
use crate::tasks::{RecordChanges, TaskContext, TaskError};
use std::sync::Arc;

use serde_json::json;

use crate::waiter::{Registry, StoreGetItem, WaitOptions, Waiter};

/// The built-in `RecordReachedStatus` waiter, parsed once per process rather than per wait.
static RECORD_REACHED_STATUS: std::sync::LazyLock<Option<crate::waiter::WaiterConfig>> =
    std::sync::LazyLock::new(|| Registry::builtin().config("RecordReachedStatus").cloned());

/// How a phase of tasks ended.
#[allow(
    clippy::large_enum_variant,
    reason = "a short-lived value returned once per phase; boxing buys nothing"
)]
enum PhaseEnd {
    Done {
        changes: RecordChanges,
        started_async: bool,
    },
    Failed(TaskError),
}

/// Per-chain state.
struct Chain<'a> {
    ident: &'a str,
    event_id: &'a str,
    stimulus: &'a Stimulus,
    /// Changes from the stimulus still to be written (the lifecycle action, the group).
    carry: RecordChanges,
    group: Option<String>,
    failure_mode: bool,
    wrote: bool,
    /// The attempt whose SSM intent this chain wrote itself.
    own_intent: Option<String>,
}

impl LifecycleHandler {
    /// Processes one stimulus for one instance, reloading and stepping again on conflicts.
    pub(super) async fn process_instance(
        &self,
        ident: &str,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let mut conflicts = 0;
        loop {
            let mut outcome = Outcome::new(Some(event_id), Some(ident));
            match self
                .try_process(ident, event_id, stimulus, ctx, &mut outcome)
                .await
            {
                Err(HandlerError::Store(StoreError::Conflict { .. })) => {
                    conflicts += 1;
                    tracing::debug!(instance = ident, conflicts, "conflicting write: reloading");
                    if conflicts > self.config.max_conflicts {
                        return Err(HandlerError::Contention {
                            ident: ident.to_string(),
                            attempts: conflicts,
                        });
                    }
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(outcome),
            }
        }
    }

    async fn try_process(
        &self,
        ident: &str,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        let graph = self.machine.graph();
        let found = self.store.get(ident).await?;
        let mut record = match found {
            Some(r) if !graph.is_pending(r.state()) => r,
            existing => match stimulus {
                Stimulus::Lifecycle(event)
                    if event.transition == LifecycleTransition::Terminating =>
                {
                    self.let_unstarted_instance_go(ident, existing, event, outcome)
                        .await?;
                    return Ok(());
                }
                Stimulus::Lifecycle(event) => match self.wait_for_initial(ident, ctx).await? {
                    Ok(r) => r,
                    Err(last) => {
                        let last = last.or(existing);
                        self.remember_action(ident, last, event_id, event, outcome)
                            .await?;
                        return Ok(());
                    }
                },
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
                    return Ok(());
                }
            },
        };
        outcome.from = Some(record.state().to_string());
        if record.has_processed(event_id) {
            outcome.outcome = OutcomeKind::Duplicate;
            outcome.to = outcome.from.clone();
            outcome.reason = Some("the event was processed before".into());
            return Ok(());
        }
        if let Some(other) = record.in_flight.clone().filter(|f| f.event_id != event_id) {
            tracing::info!(instance = ident, event = %other.event_id, "finishing an interrupted chain first");
            self.run_chain(record, &other.event_id, &other.stimulus, ctx, outcome)
                .await?;
            record = self
                .store
                .get(ident)
                .await?
                .ok_or_else(|| HandlerError::UnknownInstance {
                    ident: ident.to_string(),
                })?;
            if record.has_processed(event_id) {
                outcome.outcome = OutcomeKind::Duplicate;
                return Ok(());
            }
        }
        if let Some((recovered_id, recovered)) =
            self.recover_command_status(&record, stimulus).await
            && !record.has_processed(&recovered_id)
        {
            return self
                .run_chain(record, &recovered_id, &recovered, ctx, outcome)
                .await;
        }
        self.run_chain(record, event_id, stimulus, ctx, outcome)
            .await
    }

    /// Waits, with the built-in `RecordReachedStatus` waiter over the handler's own store, until
    /// the instance reaches the initial state, within the initial wait and the invocation
    /// deadline. `Err(last seen)` when it did not.
    async fn wait_for_initial(
        &self,
        ident: &str,
        ctx: &InvocationContext,
    ) -> Result<Result<InstanceRecord, Option<InstanceRecord>>, HandlerError> {
        let now = tokio::time::Instant::now();
        let usable = ctx
            .deadline
            .checked_duration_since(now + self.config.deadline_margin)
            .unwrap_or(Duration::ZERO);
        let budget = usable.min(self.config.initial_wait);
        if budget.is_zero() {
            return Ok(Err(None));
        }
        let Some(config) = RECORD_REACHED_STATUS.clone() else {
            return Ok(Err(None));
        };
        let waiter = Waiter::new(config, Arc::new(StoreGetItem::new(self.store.clone())));
        let mut params = serde_json::Map::new();
        params.insert("TableName".into(), json!("records"));
        params.insert("Key".into(), json!({"Ident": {"S": ident}}));
        params.insert("ItemStatus".into(), json!(self.machine.graph().initial));
        let interval = self
            .config
            .initial_poll_interval
            .max(Duration::from_millis(1));
        let attempts = u32::try_from(budget.as_millis() / interval.as_millis()).unwrap_or(u32::MAX);
        let options = WaitOptions::default()
            .delay(interval)
            .max_attempts(attempts.saturating_add(1))
            .deadline(now + budget);
        match waiter.wait(&params, &options).await {
            Ok(_) => match self.store.get(ident).await? {
                Some(record) => Ok(Ok(record)),
                None => Err(HandlerError::UnknownInstance {
                    ident: ident.to_string(),
                }),
            },
            Err(e) => {
                tracing::info!(instance = ident, reason = %e, "the instance did not reach its initial state in time");
                Ok(Err(self.store.get(ident).await?))
            }
        }
    }

    /// A terminate action for an instance whose lifecycle never started (no record, or cloud-init
    /// never finished): there is nothing to drain, so the hook is completed with `CONTINUE` at
    /// once rather than left to time out, and the record (if any) leaves the active index.
    async fn let_unstarted_instance_go(
        &self,
        ident: &str,
        record: Option<InstanceRecord>,
        event: &LifecycleEvent,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        let state = record
            .as_ref()
            .map(|r| r.state().to_string())
            .unwrap_or_default();
        outcome.from = Some(state.clone());
        outcome.to = Some(state);
        let input = crate::aws::CompleteLifecycleAction {
            group: event.group.clone(),
            hook: event.hook.clone(),
            token: event.token.clone(),
            instance_id: ident.to_string(),
            result: "CONTINUE".into(),
        };
        match self.aws.autoscaling.complete_lifecycle_action(&input).await {
            Ok(()) => {}
            Err(e) if e.kind == crate::aws::AwsErrorKind::NoActiveLifecycleAction => {}
            Err(e) => {
                return Err(HandlerError::TaskRetryable {
                    ident: ident.to_string(),
                    source: crate::tasks::TaskError {
                        task: "complete_lifecycle_action".into(),
                        message: e.to_string(),
                        retryable: e.is_retryable(),
                    },
                });
            }
        }
        outcome.effects.push(crate::aws::Effect {
            service: "autoscaling".into(),
            operation: "CompleteLifecycleAction".into(),
            details: json!({"group": input.group, "hook": input.hook, "instance_id": ident, "result": "CONTINUE"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        });
        outcome.reason = Some(
            "terminating before its lifecycle started: nothing to drain, the hook is completed"
                .into(),
        );
        if let Some(record) = record {
            let now = self.clock.now();
            let mut commit = Commit::expecting(&record, now);
            commit.lifecycle_action = Change::Clear;
            commit.last_error = Change::Set("terminated before cloud-init finished".into());
            let ttl = chrono::Duration::from_std(self.config.terminal_ttl).unwrap_or_default();
            commit.activity = Activity::Inactive {
                expires_at: (now + ttl).timestamp(),
            };
            self.store.commit(&commit).await?;
        }
        Ok(())
    }

    /// Records the lifecycle action on a record that is missing or pending, so that the sweep
    /// (or the next event) continues once cloud-init is done.
    async fn remember_action(
        &self,
        ident: &str,
        record: Option<InstanceRecord>,
        event_id: &str,
        event: &LifecycleEvent,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        let record = record.unwrap_or_else(|| InstanceRecord::new(ident));
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
        let now = self.clock.now();
        let mut commit = Commit::expecting(&record, now);
        commit.lifecycle_action = Change::Set(action_of(event, event_id, now));
        commit.group = Some(event.group.clone());
        commit.activity = Activity::Active(event.group.clone());
        // A handler write like any other: the version is bumped, so a racing cloud-init write
        // or another delivery conflicts and reloads.
        self.store.commit(&commit).await?;
        Ok(())
    }

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
        match self
            .run_chain_from(record, event_id, stimulus, ctx, &mut outcome, Some(message))
            .await
        {
            // Someone else moved the record first: their move wins; the next sweep looks again.
            Err(HandlerError::Store(StoreError::Conflict { .. })) => Ok(outcome),
            Err(e) => Err(e),
            Ok(()) => Ok(outcome),
        }
    }

    async fn run_chain(
        &self,
        record: InstanceRecord,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        self.run_chain_from(record, event_id, stimulus, ctx, outcome, None)
            .await
    }

    async fn run_chain_from(
        &self,
        mut record: InstanceRecord,
        event_id: &str,
        stimulus: &Stimulus,
        ctx: &InvocationContext,
        outcome: &mut Outcome,
        initial_failure: Option<String>,
    ) -> Result<(), HandlerError> {
        let graph = self.machine.graph();
        let ident = record.ident.clone();
        let chain = &mut Chain {
            ident: &ident,
            event_id,
            stimulus,
            carry: RecordChanges::default(),
            group: None,
            failure_mode: self.machine.is_on_failure_path(record.state()),
            wrote: false,
            own_intent: None,
        };
        if let Stimulus::Lifecycle(event) = stimulus {
            // A late launch event must not replace a terminate action the record holds: the
            // terminate hook is the one Auto Scaling waits on.
            let supersedes = record.lifecycle_action.as_ref().is_none_or(|held| {
                held.event_id != event_id
                    && !(held.transition == LifecycleTransition::Terminating.api_name()
                        && event.transition == LifecycleTransition::Launching)
            });
            if supersedes {
                chain.carry.lifecycle_action =
                    Some(Some(action_of(event, event_id, self.clock.now())));
            }
            if record.group.as_deref() != Some(event.group.as_str()) {
                chain.group = Some(event.group.clone());
            }
        }
        if let Some(message) = initial_failure {
            self.fail(&mut record, message, chain, outcome, false)
                .await?;
        }
        // A transition whose `after` tasks did not all run: finish them first.
        if let Some(in_flight) = record
            .in_flight
            .clone()
            .filter(|f| f.event_id == event_id && !f.pending_after.is_empty())
        {
            let from = in_flight
                .from
                .clone()
                .unwrap_or_else(|| record.state().to_string());
            let transition = in_flight
                .trigger
                .as_deref()
                .and_then(|t| graph.outgoing(&from).find(|tr| tr.trigger.name == t));
            if let Some(transition) = transition
                && !self
                    .after_phase(
                        &mut record,
                        transition,
                        &from,
                        &in_flight.attempt_id,
                        chain,
                        outcome,
                    )
                    .await?
            {
                return self.finish(record, outcome, chain);
            }
        }
        for _ in 0..self.config.max_steps {
            if self.near_deadline(ctx) {
                outcome.reason = Some("the invocation deadline is near: the chain continues with the next event or sweep".into());
                return self.finish(record, outcome, chain);
            }
            match self.machine.step(&record, stimulus) {
                Decision::UnknownState { state } => {
                    return Err(HandlerError::UnknownState { ident, state });
                }
                Decision::Stay { reason } => {
                    self.settle_if_needed(&mut record, chain).await?;
                    outcome.reason = Some(reason);
                    return self.finish(record, outcome, chain);
                }
                Decision::ConditionError {
                    trigger,
                    condition,
                    error,
                } => {
                    let message =
                        format!("condition `{condition}` of trigger `{trigger}` failed: {error}");
                    self.fail(&mut record, message, chain, outcome, false)
                        .await?;
                }
                Decision::Fire(firing) => {
                    outcome
                        .ignored_errors
                        .extend(firing.ignored_errors.iter().cloned());
                    let transition = firing.transition;
                    let (from, to) = (firing.from.clone(), firing.to.clone());
                    let attempt_id = match &record.in_flight {
                        Some(f)
                            if f.event_id == event_id
                                && f.trigger.as_deref()
                                    == Some(transition.trigger.name.as_str())
                                && f.from.as_deref() == Some(from.as_str()) =>
                        {
                            f.attempt_id.clone()
                        }
                        _ => {
                            attempt_id_for(&ident, &from, &transition.trigger.name, record.version)
                        }
                    };
                    if !self
                        .fire(
                            &mut record,
                            transition,
                            &from,
                            &to,
                            &attempt_id,
                            chain,
                            outcome,
                        )
                        .await?
                    {
                        return self.finish(record, outcome, chain);
                    }
                }
            }
        }
        outcome.reason = Some(format!(
            "stopped after {} steps (step limit)",
            self.config.max_steps
        ));
        self.finish(record, outcome, chain)
    }

    fn finish(
        &self,
        record: InstanceRecord,
        outcome: &mut Outcome,
        chain: &Chain<'_>,
    ) -> Result<(), HandlerError> {
        outcome.to = Some(record.state().to_string());
        if outcome.error.is_some() {
            outcome.outcome = OutcomeKind::Failed;
        } else if !outcome.transitions.is_empty() {
            outcome.outcome = OutcomeKind::Advanced;
        }
        let _ = chain;
        Ok(())
    }

    fn is_quiescent(&self, record: &InstanceRecord, stimulus: &Stimulus) -> bool {
        matches!(self.machine.step(record, stimulus), Decision::Stay { .. })
    }

    fn activity_for(&self, state: &str, record: &InstanceRecord, chain: &Chain<'_>) -> Activity {
        if self.machine.graph().is_terminal(state) {
            let ttl = chrono::Duration::from_std(self.config.terminal_ttl).unwrap_or_default();
            Activity::Inactive {
                expires_at: (self.clock.now() + ttl).timestamp(),
            }
        } else {
            let group = chain
                .group
                .clone()
                .or_else(|| record.group.clone())
                .unwrap_or_else(|| "-".into());
            if record.active_group.as_deref() == Some(group.as_str()) {
                Activity::Keep
            } else {
                Activity::Active(group)
            }
        }
    }

    fn in_flight(
        chain: &Chain<'_>,
        attempt_id: &str,
        trigger: Option<&str>,
        from: Option<&str>,
        pending_after: Vec<String>,
    ) -> InFlight {
        InFlight {
            event_id: chain.event_id.to_string(),
            stimulus: chain.stimulus.clone(),
            attempt_id: attempt_id.to_string(),
            pending_after,
            trigger: trigger.map(str::to_string),
            from: from.map(str::to_string),
        }
    }

    /// Writes what a chain that ends without a transition still owes: the remembered lifecycle
    /// action and group, or the end of an interrupted chain.
    async fn settle_if_needed(
        &self,
        record: &mut InstanceRecord,
        chain: &mut Chain<'_>,
    ) -> Result<(), HandlerError> {
        let owes_carry = chain.carry != RecordChanges::default() || chain.group.is_some();
        let owes_end = record
            .in_flight
            .as_ref()
            .is_some_and(|f| f.event_id == chain.event_id);
        if !owes_carry && !owes_end {
            return Ok(());
        }
        let mut commit = Commit::expecting(record, self.clock.now());
        commit.unprocessed_event = Some(chain.event_id.to_string());
        commit.lifecycle_action = Change::from_option(chain.carry.lifecycle_action.take());
        commit.pending_command = Change::from_option(chain.carry.pending_command.take());
        commit.group = chain.group.take();
        commit.activity = self.activity_for(record.state(), record, chain);
        commit.in_flight = if record.in_flight.is_some() {
            Change::Clear
        } else {
            Change::Keep
        };
        commit.mark_processed = Some(chain.event_id.to_string());
        *record = self.store.commit(&commit).await?;
        chain.wrote = true;
        Ok(())
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "the phase's whole context, passed once"
    )]
    async fn run_tasks(
        &self,
        record: &InstanceRecord,
        calls: &[Call],
        attempt_id: &str,
        (from, to, trigger): (&str, &str, &str),
        ignore_errors: bool,
        chain: &Chain<'_>,
        outcome: &mut Outcome,
    ) -> PhaseEnd {
        let mut working = record.clone();
        let mut changes = RecordChanges::default();
        let mut started_async = false;
        for call in calls {
            let Some(task) = self.machine.registry().task(&call.name) else {
                return PhaseEnd::Failed(TaskError {
                    task: call.name.clone(),
                    message: "unknown task".into(),
                    retryable: false,
                });
            };
            let mut ctx = TaskContext {
                record: &working,
                stimulus: chain.stimulus,
                aws: &self.aws,
                attempt_id,
                from,
                to,
                trigger,
                now: self.clock.now(),
                effects: Vec::new(),
                changes: RecordChanges::default(),
            };
            let result = task.run(&mut ctx, &call.args).await;
            let (effects, task_changes) = (ctx.effects, ctx.changes);
            for mut effect in effects {
                let details = std::mem::take(&mut effect.details);
                if let serde_json::Value::Object(map) = redact(&serde_json::Value::Object(details))
                {
                    effect.details = map;
                }
                outcome.effects.push(effect);
            }
            task_changes.apply_to(&mut working);
            changes.merge(task_changes);
            match result {
                Ok(()) => started_async |= task.starts_async_work(),
                Err(e) if ignore_errors && !e.retryable => {
                    tracing::warn!(instance = chain.ident, task = %call.name, error = %e, "task failed; ignored (ignore_errors)");
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

    /// Decides what a failed phase means: a retryable error or one inside failure handling is
    /// returned; any other moves the instance to the failure state.
    async fn phase_failed(
        &self,
        record: &mut InstanceRecord,
        error: TaskError,
        chain: &mut Chain<'_>,
        outcome: &mut Outcome,
    ) -> Result<(), HandlerError> {
        if error.retryable {
            return Err(HandlerError::TaskRetryable {
                ident: chain.ident.to_string(),
                source: error,
            });
        }
        self.fail(record, error.to_string(), chain, outcome, false)
            .await
    }

    /// Moves the instance to the failure state, recording the error; the chain goes on from
    /// there (the failure transitions).
    async fn fail(
        &self,
        record: &mut InstanceRecord,
        message: String,
        chain: &mut Chain<'_>,
        outcome: &mut Outcome,
        _retryable: bool,
    ) -> Result<(), HandlerError> {
        let graph = self.machine.graph();
        tracing::error!(instance = chain.ident, state = record.state(), error = %message, "moving to the failure state");
        if chain.failure_mode {
            outcome.error = Some(message.clone());
            return Err(HandlerError::FailureHandling {
                ident: chain.ident.to_string(),
                state: record.state().to_string(),
                message,
                retryable: false,
            });
        }
        let from = record.state().to_string();
        let failure = graph.failure.clone();
        let mut hypothetical = record.clone();
        chain.carry.apply_to(&mut hypothetical);
        hypothetical.status = Some(failure.clone());
        let ends = self.is_quiescent(&hypothetical, chain.stimulus);
        let now = self.clock.now();
        let mut commit = Commit::expecting(record, now);
        commit.unprocessed_event = Some(chain.event_id.to_string());
        commit.status = Some(failure.clone());
        commit.history = Some(HistoryEntry {
            from: from.clone(),
            to: failure.clone(),
            trigger: "error".into(),
            event_id: chain.event_id.to_string(),
            version: record.version + 1,
            at: now,
        });
        commit.last_error = Change::Set(message.clone());
        commit.lifecycle_action = Change::from_option(chain.carry.lifecycle_action.take());
        commit.pending_command = Change::from_option(chain.carry.pending_command.take());
        commit.group = chain.group.clone();
        commit.activity = self.activity_for(&failure, record, chain);
        chain.group = None;
        if ends {
            commit.in_flight = Change::Clear;
            commit.mark_processed = Some(chain.event_id.to_string());
        } else {
            commit.in_flight =
                Change::Set(Self::in_flight(chain, "failure", None, None, Vec::new()));
        }
        *record = self.store.commit(&commit).await?;
        chain.wrote = true;
        chain.failure_mode = true;
        outcome.error = Some(message);
        outcome.transitions.push(TransitionTaken {
            from,
            to: failure,
            trigger: "error".into(),
        });
        Ok(())
    }

    fn needs_intent(&self, calls: &[Call]) -> bool {
        calls.iter().any(|c| {
            self.machine
                .registry()
                .task(&c.name)
                .is_some_and(|t| t.needs_intent())
        })
    }

    /// True when another invocation holds a fresh intent for this attempt: it sends the command.
    fn intent_held_elsewhere(
        &self,
        record: &InstanceRecord,
        attempt_id: &str,
        chain: &Chain<'_>,
    ) -> bool {
        let Some(pending) = record
            .pending_command
            .as_ref()
            .filter(|p| p.attempt_id == attempt_id)
        else {
            return false;
        };
        let lease = chrono::Duration::from_std(self.config.intent_lease).unwrap_or_default();
        pending.command_id.is_none()
            && chain.own_intent.as_deref() != Some(attempt_id)
            && self.clock.now() - pending.intent_at < lease
    }

    /// Takes over an intent whose lease expired (its writer presumed crashed) with a conditional
    /// write renewing it, so that of two invocations taking over at once only one sends the
    /// command: the other's write conflicts, and on reload it finds the intent held elsewhere.
    async fn claim_intent(
        &self,
        record: &mut InstanceRecord,
        attempt_id: &str,
        chain: &mut Chain<'_>,
    ) -> Result<(), HandlerError> {
        if chain.own_intent.as_deref() == Some(attempt_id) {
            return Ok(());
        }
        let Some(pending) = record
            .pending_command
            .as_ref()
            .filter(|p| p.attempt_id == attempt_id && p.command_id.is_none())
        else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut commit = Commit::expecting(record, now);
        commit.unprocessed_event = Some(chain.event_id.to_string());
        commit.pending_command = Change::Set(PendingCommand {
            intent_at: now,
            ..pending.clone()
        });
        *record = self.store.commit(&commit).await?;
        chain.own_intent = Some(attempt_id.to_string());
        chain.wrote = true;
        Ok(())
    }

    fn intent(&self, attempt_id: &str, trigger: &str) -> PendingCommand {
        PendingCommand {
            attempt_id: attempt_id.to_string(),
            command_id: None,
            trigger: trigger.to_string(),
            deadline: None,
            intent_at: self.clock.now(),
        }
    }

    /// Fires one transition. Returns whether the chain goes on.
    #[allow(clippy::too_many_arguments)]
    async fn fire(
        &self,
        record: &mut InstanceRecord,
        transition: &Transition,
        from: &str,
        to: &str,
        attempt_id: &str,
        chain: &mut Chain<'_>,
        outcome: &mut Outcome,
    ) -> Result<bool, HandlerError> {
        let graph = self.machine.graph();
        let trigger = &transition.trigger;
        // 1. before tasks (with an intent written first when one of them sends a command)
        let mut changes = std::mem::take(&mut chain.carry);
        let mut before_async = false;
        if !trigger.before.is_empty() {
            if self.needs_intent(&trigger.before) {
                if self.intent_held_elsewhere(record, attempt_id, chain) {
                    return Err(HandlerError::Busy {
                        ident: chain.ident.to_string(),
                    });
                }
                if record
                    .pending_command
                    .as_ref()
                    .is_some_and(|p| p.attempt_id == attempt_id)
                {
                    self.claim_intent(record, attempt_id, chain).await?;
                } else {
                    let mut commit = Commit::expecting(record, self.clock.now());
                    commit.unprocessed_event = Some(chain.event_id.to_string());
                    commit.pending_command = Change::Set(self.intent(attempt_id, &trigger.name));
                    commit.in_flight = Change::Set(Self::in_flight(
                        chain,
                        attempt_id,
                        Some(&trigger.name),
                        Some(from),
                        Vec::new(),
                    ));
                    commit.lifecycle_action = Change::from_option(changes.lifecycle_action.take());
                    commit.group = chain.group.take();
                    commit.activity = self.activity_for(record.state(), record, chain);
                    *record = self.store.commit(&commit).await?;
                    chain.own_intent = Some(attempt_id.to_string());
                    chain.wrote = true;
                }
            }
            let mut working = record.clone();
            changes.apply_to(&mut working);
            match self
                .run_tasks(
                    &working,
                    &trigger.before,
                    attempt_id,
                    (from, to, &trigger.name),
                    trigger.ignore_errors,
                    chain,
                    outcome,
                )
                .await
            {
                PhaseEnd::Done {
                    changes: task_changes,
                    started_async,
                } => {
                    changes.merge(task_changes);
                    before_async = started_async;
                }
                PhaseEnd::Failed(error) => {
                    chain.carry = changes;
                    self.phase_failed(record, error, chain, outcome).await?;
                    return Ok(true);
                }
            }
        }
        // 2. the transition write
        let after: Vec<String> = trigger.after.iter().map(|c| c.name.clone()).collect();
        if self.needs_intent(&trigger.after)
            && record
                .pending_command
                .as_ref()
                .is_none_or(|p| p.attempt_id != attempt_id)
        {
            changes.pending_command = Some(Some(self.intent(attempt_id, &trigger.name)));
            chain.own_intent = Some(attempt_id.to_string());
        }
        let internal = transition.dest.is_none();
        // An internal transition ends the chain: stepping again with the same stimulus from the
        // same state would fire the same trigger again.
        let stops = graph.is_terminal(to)
            || internal
            || trigger.stop_after_trigger
            || trigger.stop_after_state_change
            || before_async;
        let mut hypothetical = record.clone();
        changes.apply_to(&mut hypothetical);
        hypothetical.status = Some(to.to_string());
        let ends = after.is_empty() && (stops || self.is_quiescent(&hypothetical, chain.stimulus));
        let now = self.clock.now();
        let mut commit = Commit::expecting(record, now);
        commit.unprocessed_event = Some(chain.event_id.to_string());
        if !internal {
            commit.status = Some(to.to_string());
        }
        commit.history = Some(HistoryEntry {
            from: from.to_string(),
            to: to.to_string(),
            trigger: trigger.name.clone(),
            event_id: chain.event_id.to_string(),
            version: record.version + 1,
            at: now,
        });
        commit.lifecycle_action = Change::from_option(changes.lifecycle_action.take());
        commit.pending_command = Change::from_option(changes.pending_command.take());
        commit.group = chain.group.take();
        commit.activity = self.activity_for(to, record, chain);
        if ends {
            commit.in_flight = if record.in_flight.is_some() {
                Change::Clear
            } else {
                Change::Keep
            };
            commit.mark_processed = Some(chain.event_id.to_string());
        } else {
            commit.in_flight = Change::Set(Self::in_flight(
                chain,
                attempt_id,
                Some(&trigger.name),
                Some(from),
                after.clone(),
            ));
        }
        *record = self.store.commit(&commit).await?;
        chain.wrote = true;
        outcome.transitions.push(TransitionTaken {
            from: from.to_string(),
            to: to.to_string(),
            trigger: trigger.name.clone(),
        });
        tracing::info!(instance = chain.ident, from, to, trigger = %trigger.name, "transition");
        if ends {
            return Ok(false);
        }
        if after.is_empty() {
            return Ok(!stops);
        }
        // 3. after tasks, then the write that settles them
        let goes_on = self
            .after_phase(record, transition, from, attempt_id, chain, outcome)
            .await?;
        Ok(goes_on && !stops)
    }

    /// Runs a written transition's `after` tasks and settles them. Returns whether the chain
    /// goes on.
    async fn after_phase(
        &self,
        record: &mut InstanceRecord,
        transition: &Transition,
        from: &str,
        attempt_id: &str,
        chain: &mut Chain<'_>,
        outcome: &mut Outcome,
    ) -> Result<bool, HandlerError> {
        let graph = self.machine.graph();
        let trigger = &transition.trigger;
        let to = record.state().to_string();
        if self.needs_intent(&trigger.after) {
            if self.intent_held_elsewhere(record, attempt_id, chain) {
                return Err(HandlerError::Busy {
                    ident: chain.ident.to_string(),
                });
            }
            self.claim_intent(record, attempt_id, chain).await?;
        }
        let (changes, started_async) = match self
            .run_tasks(
                record,
                &trigger.after,
                attempt_id,
                (from, &to, &trigger.name),
                trigger.ignore_errors,
                chain,
                outcome,
            )
            .await
        {
            PhaseEnd::Done {
                changes,
                started_async,
            } => (changes, started_async),
            PhaseEnd::Failed(error) => {
                self.phase_failed(record, error, chain, outcome).await?;
                return Ok(true);
            }
        };
        let stops = graph.is_terminal(&to)
            || transition.dest.is_none()
            || trigger.stop_after_trigger
            || trigger.stop_after_state_change
            || started_async;
        let mut hypothetical = record.clone();
        changes.apply_to(&mut hypothetical);
        let ends = stops || self.is_quiescent(&hypothetical, chain.stimulus);
        let mut commit = Commit::expecting(record, self.clock.now());
        commit.unprocessed_event = Some(chain.event_id.to_string());
        commit.lifecycle_action = Change::from_option(changes.lifecycle_action);
        commit.pending_command = Change::from_option(changes.pending_command);
        if ends {
            commit.in_flight = Change::Clear;
            commit.mark_processed = Some(chain.event_id.to_string());
        } else {
            commit.in_flight =
                Change::Set(Self::in_flight(chain, attempt_id, None, None, Vec::new()));
        }
        *record = self.store.commit(&commit).await?;
        Ok(!ends)
    }
}

/// A stable id of a transition attempt, short enough to stay whole at the end of an SSM comment
/// (100 characters): readable when it fits, else the instance plus a hash of the rest.
fn attempt_id_for(ident: &str, from: &str, trigger: &str, version: u64) -> String {
    let readable = format!("{ident}:{from}:{trigger}:v{version}");
    if readable.len() <= 80 {
        return readable;
    }
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in readable.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{ident}:{hash:016x}:v{version}")
}

fn action_of(
    event: &LifecycleEvent,
    event_id: &str,
    now: chrono::DateTime<Utc>,
) -> LifecycleAction {
    LifecycleAction {
        token: event.token.clone(),
        hook: event.hook.clone(),
        group: event.group.clone(),
        transition: event.transition.api_name().to_string(),
        event_id: event_id.to_string(),
        metadata: event.metadata.clone(),
        started_at: now,
        last_heartbeat: None,
    }
}
