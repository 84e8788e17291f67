//! The sweep: what the scheduled `reconcile` rule does for each active record, so that nothing
//! is forgotten when an event is lost.
//!
//! For each record, in order:
//! 1. **gone** — an instance no longer in any Auto Scaling group (and quiet for `gone_grace`) is
//!    marked gone and left to expire;
//! 2. **heartbeat** — a held lifecycle action that could lapse before the next sweep (one period
//!    plus its lateness, counted from the action's start or last heartbeat: `heartbeat.rs`) gets a
//!    heartbeat (hook timeouts read once with `DescribeLifecycleHooks`); "no active lifecycle
//!    action" clears it; none while the record is still pending (a boot that never ends lets the
//!    hook time out);
//! 3. **lost SSM event** — when the record is stepped with the sweep event (5.), a command the
//!    state waits on, sent more than `status_grace` ago, is asked about with `GetCommandInvocation`
//!    and a terminal answer is fed to the machine as if its event had come (`recovery.rs`);
//! 4. **state timeout** — a state held longer than the model's `timeout` fires the state's
//!    `timeout` trigger, or, when it has none, moves the instance to the failure state;
//! 5. **continue** — the record is stepped with the sweep event: interrupted chains finish and
//!    instances that reached the initial state after their launch event go on.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::heartbeat::{heartbeat_due, shortest_hook};
use super::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};
use crate::aws::{AwsError, AwsErrorKind, Effect, LifecycleHeartbeat};
use crate::event::{Event, LifecycleEvent, ScheduledEvent, Stimulus};
use crate::record::{InstanceRecord, LifecycleAction};
use crate::store::{Change, StoreError};

/// The longest heartbeat timeout Auto Scaling accepts for a lifecycle hook.
const MAX_HOOK_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(7200);

/// Heartbeat attempts per sweep visit.
const HEARTBEAT_ATTEMPTS: usize = 3;

/// The heartbeat as reported in outcomes.
pub(super) fn heartbeat_effect(input: &LifecycleHeartbeat) -> Effect {
    Effect {
        service: "autoscaling".into(),
        operation: "RecordLifecycleActionHeartbeat".into(),
        details:
            json!({"group": input.group, "hook": input.hook, "instance_id": input.instance_id})
                .as_object()
                .cloned()
                .unwrap_or_default(),
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn merge(into: &mut Outcome, from: Outcome) {
    into.transitions.extend(from.transitions);
    into.effects.extend(from.effects);
    into.ignored_errors.extend(from.ignored_errors);
    if from.error.is_some() {
        into.error = from.error;
    }
    if from.reason.is_some() {
        into.reason = from.reason;
    }
    if from.to.is_some() {
        into.to = from.to;
    }
}

/// Heartbeats that failed during a sweep, tried again at its end: the next sweep may come too
/// late for their hooks.
pub(super) type FailedHeartbeats = std::sync::Mutex<Vec<LifecycleHeartbeat>>;

impl LifecycleHandler {
    /// Tries the sweep's failed heartbeats again (each [`HEARTBEAT_ATTEMPTS`] times more); the
    /// heartbeats made.
    pub(super) async fn retry_heartbeats(&self, failed: FailedHeartbeats) -> Vec<Outcome> {
        let failed = failed
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut outcomes = Vec::new();
        for input in failed {
            let mut outcome = Outcome::new(None, Some(&input.instance_id));
            match self.send_heartbeat(&input).await {
                Ok(()) => {
                    outcome.effects.push(heartbeat_effect(&input));
                    outcome.reason = Some("heartbeat tried again at the end of the sweep".into());
                    outcomes.push(outcome);
                }
                Err(e) => {
                    tracing::warn!(instance = %input.instance_id, error = %e, "heartbeat failed again; the next sweep tries again");
                }
            }
        }
        outcomes
    }

    /// Which of a page's quiet instances no longer belong to any group (one call per 50
    /// instances), or `None` when that cannot be told. Only the instances asked about can be
    /// found gone: one that became quiet while the sweep ran is asked about by the next sweep.
    pub(super) async fn gone_of(&self, records: &[InstanceRecord]) -> Option<BTreeSet<String>> {
        let quiet: Vec<String> = records
            .iter()
            .filter(|r| self.is_quiet(r))
            .map(|r| r.ident.clone())
            .collect();
        if quiet.is_empty() {
            return None;
        }
        match self.aws.autoscaling.group_members(&quiet).await {
            Ok(members) => members.map(|members| {
                quiet
                    .into_iter()
                    .filter(|ident| !members.contains(ident))
                    .collect()
            }),
            Err(e) => {
                tracing::warn!(error = %e, "failed to read group membership; no record is marked gone this sweep");
                None
            }
        }
    }

    fn is_quiet(&self, record: &InstanceRecord) -> bool {
        let now = self.clock.now();
        let grace = to_chrono(self.config.gone_grace);
        let entered = record.entered_at.is_none_or(|t| now - t >= grace);
        let action = record
            .lifecycle_action
            .as_ref()
            .is_none_or(|a| now - a.started_at >= grace);
        entered && action
    }

    pub(super) async fn hook_timeout(&self, group: &str, hook: &str) -> Duration {
        let key = (group.to_string(), hook.to_string());
        let cached = self
            .hook_timeouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .copied();
        if let Some(timeout) = cached {
            return timeout;
        }
        let timeout = match self.aws.autoscaling.heartbeat_timeout(group, hook).await {
            Ok(Some(timeout)) => timeout,
            Ok(None) => self.config.heartbeat_timeout,
            Err(e) => {
                // Unknown, the hook is taken to be as short as the schedule can keep alive: its
                // held actions are heartbeated at every sweep until the timeout can be read.
                tracing::warn!(group, hook, error = %e, "failed to read the hook's heartbeat timeout; heartbeating as for the shortest hook");
                return shortest_hook(&self.config);
            }
        };
        if let Err(too_short) = self.config.check_hook(group, hook, timeout) {
            // Said once per hook and process: the operator must change the hook or the schedule.
            tracing::error!(group, hook, error = %too_short, "the sweep cannot keep this hook alive");
        }
        self.hook_timeouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, timeout);
        timeout
    }

    /// Runs the sweep's checks for one active record, then steps it with the sweep event.
    pub(super) async fn sweep_instance(
        &self,
        record: &InstanceRecord,
        gone: Option<&BTreeSet<String>>,
        event: &Event,
        ctx: &InvocationContext,
        failed_heartbeats: &FailedHeartbeats,
    ) -> Result<Outcome, HandlerError> {
        let ident = record.ident.as_str();
        let mut outcome = Outcome::new(Some(&event.id), Some(ident));
        outcome.from = Some(record.state().to_string());
        outcome.to = outcome.from.clone();
        let graph = self.machine.graph();
        let now = self.clock.now();

        if gone.is_some_and(|g| g.contains(ident)) {
            Box::pin(self.mark_gone(record)).await?;
            outcome.reason =
                Some("the instance left its Auto Scaling group: record marked gone".into());
            return Ok(outcome);
        }

        // No heartbeat while cloud-init has not finished: a boot that never ends must let the
        // hook time out (and Auto Scaling apply its default result) rather than hold it forever.
        if let Some(action) = record
            .lifecycle_action
            .as_ref()
            .filter(|_| !graph.is_pending(record.state()))
        {
            let timeout = self.hook_timeout(&action.group, &action.hook).await;
            if heartbeat_due(action, timeout, now, &self.config) {
                Box::pin(self.heartbeat(record, timeout, &mut outcome, failed_heartbeats)).await?;
            }
        }

        // Stepped first: a command status recovered now (its event was lost) or a chain finished
        // now wins over the state's timeout. A step that failed (its side effects may have taken
        // place, e.g. a hook completed before a throttled write) leaves the timeout to the next
        // sweep, which steps again first.
        // Boxed: most visits find the record idle, and the chain's future inline would make every
        // visit's future (copied as the sweep starts it) several kilobytes larger.
        if !self.is_idle(record) {
            let step =
                Box::pin(self.process_instance(ident, &event.id, &event.stimulus, ctx)).await?;
            merge(&mut outcome, step);
        }

        // The listed record tells whether a timeout may be due; only then is it read again.
        let timed_out = |r: &InstanceRecord| {
            graph
                .timeout_of(r.state())
                .zip(r.entered_at)
                .is_some_and(|(timeout, entered)| now - entered > to_chrono(timeout))
                && r.in_flight.is_none()
        };
        if outcome.transitions.is_empty()
            && timed_out(record)
            && let Some(current) = self.store.get(ident).await?
            && let (Some(timeout), Some(entered)) =
                (graph.timeout_of(current.state()), current.entered_at)
            && now - entered > to_chrono(timeout)
            && current.in_flight.is_none()
        {
            let state = current.state().to_string();
            let id = format!("timeout:{ident}:{state}:v{}", current.version);
            let step = if graph.outgoing(&state).any(|t| t.trigger.name == "timeout") {
                let stimulus = Stimulus::Scheduled(ScheduledEvent {
                    rule: "timeout".into(),
                });
                Box::pin(self.process_instance(ident, &id, &stimulus, ctx)).await?
            } else {
                let message = format!("state `{state}` timed out after {}s", timeout.as_secs());
                Box::pin(self.fail_instance(current, message, &id, &event.stimulus, ctx)).await?
            };
            merge(&mut outcome, step);
        }

        if outcome.transitions.is_empty() && self.is_idle(record) {
            outcome.reason =
                Some("nothing to do: no trigger enabled, no chain or command owed".into());
            outcome.outcome = OutcomeKind::NoOp;
            return Ok(outcome);
        }
        outcome.outcome = if outcome.error.is_some() {
            OutcomeKind::Failed
        } else if outcome.transitions.is_empty() {
            OutcomeKind::NoOp
        } else {
            OutcomeKind::Advanced
        };
        Ok(outcome)
    }

    /// Heartbeats the action `event` announced when the event came so late that the action
    /// could lapse before the next sweep; the heartbeat made, if any.
    pub(super) async fn heartbeat_if_late(
        &self,
        event_id: &str,
        event: &LifecycleEvent,
    ) -> Option<Effect> {
        let now = self.clock.now();
        // An event on time leaves the heartbeats to the sweep; one older than the longest hook
        // Auto Scaling allows (two hours) announced an action that has lapsed already.
        let age = (now - LifecycleAction::started_at(event, now))
            .to_std()
            .unwrap_or_default();
        if age < self.config.sweep_lateness || age > MAX_HOOK_HEARTBEAT_TIMEOUT {
            return None;
        }
        let action = LifecycleAction::announced(event, event_id, now);
        let timeout = self.hook_timeout(&action.group, &action.hook).await;
        if !heartbeat_due(&action, timeout, now, &self.config) {
            return None;
        }
        let input = LifecycleHeartbeat {
            group: action.group.clone(),
            hook: action.hook.clone(),
            token: action.token.clone(),
            instance_id: event.instance_id.clone(),
        };
        match self.send_heartbeat(&input).await {
            Ok(()) => Some(heartbeat_effect(&input)),
            Err(e) => {
                tracing::info!(instance = %event.instance_id, error = %e, "heartbeat of a late action failed; the sweep tries again");
                None
            }
        }
    }

    pub(super) async fn send_heartbeat(&self, input: &LifecycleHeartbeat) -> Result<(), AwsError> {
        // A throttled or failed heartbeat is tried again at once (the SDK waits between its own
        // attempts): the next sweep may be too late for this hook.
        let mut answer = self
            .aws
            .autoscaling
            .record_lifecycle_action_heartbeat(input)
            .await;
        for _ in 1..HEARTBEAT_ATTEMPTS {
            if !answer.as_ref().is_err_and(AwsError::is_retryable) {
                break;
            }
            answer = self
                .aws
                .autoscaling
                .record_lifecycle_action_heartbeat(input)
                .await;
        }
        answer
    }

    /// True when stepping the record with the sweep event would do nothing: no chain owed, no
    /// command intent old enough to take over or recover, and no trigger enabled. Read from the
    /// listed record, so the sweep spends no request on it; a record that changed since is
    /// stepped by the event that changed it or by the next sweep.
    fn is_idle(&self, record: &InstanceRecord) -> bool {
        let now = self.clock.now();
        let sweep = Stimulus::Scheduled(ScheduledEvent {
            rule: self.config.sweep_rule.clone(),
        });
        // A sent command may need its status asked for; an unsent intent, taking over.
        let patience = |p: &crate::record::PendingCommand| {
            to_chrono(if p.command_id.is_some() {
                self.config.status_grace
            } else {
                self.config.intent_lease
            })
        };
        // A record waiting on cloud-init with a held action is stepped: its registration may
        // have reached the initial state while the stream event is late or lost.
        let waits_on_registration =
            record.lifecycle_action.is_some() && self.machine.graph().is_pending(record.state());
        !waits_on_registration
            && record.in_flight.is_none()
            && record.pending_command.as_ref().is_none_or(|p| {
                now - p.intent_at < patience(p)
                    || (p.command_id.is_some() && !self.waits_on_command(record))
            })
            && self.machine.is_quiescent(record, &sweep)
    }

    async fn mark_gone(&self, record: &InstanceRecord) -> Result<(), HandlerError> {
        let write = self
            .write(record)
            .gone()
            .last_error("the instance left its Auto Scaling group")
            .leaves_index();
        match write.commit().await {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Heartbeats the held action of `record` (hook heartbeat timeout `timeout`) and records
    /// when, unless the next sweep heartbeats it anyway: the time would only cost a write.
    async fn heartbeat(
        &self,
        record: &InstanceRecord,
        timeout: Duration,
        outcome: &mut Outcome,
        failed_heartbeats: &FailedHeartbeats,
    ) -> Result<(), HandlerError> {
        let Some(action) = record.lifecycle_action.clone() else {
            return Ok(());
        };
        let input = LifecycleHeartbeat {
            group: action.group.clone(),
            hook: action.hook.clone(),
            token: action.token.clone(),
            instance_id: record.ident.clone(),
        };
        let action_change = match self.send_heartbeat(&input).await {
            Ok(()) => {
                outcome.effects.push(heartbeat_effect(&input));
                let now = self.clock.now();
                let mut action = action;
                std::sync::Arc::make_mut(&mut action).last_heartbeat = Some(now);
                let next_sweep = now + to_chrono(self.config.sweep_period);
                if heartbeat_due(&action, timeout, next_sweep, &self.config) {
                    // Due again at the next sweep even from now: recording the time changes
                    // nothing (an older time only makes it more due).
                    return Ok(());
                }
                Change::Set(action)
            }
            // A chain still owed may need the action (where it goes, e.g. back into the warm
            // pool): it is kept until that chain clears it; the record is stepped next.
            Err(e)
                if e.kind == AwsErrorKind::NoActiveLifecycleAction
                    && record.in_flight.is_some() =>
            {
                tracing::info!(instance = %record.ident, "no active lifecycle action; kept for the chain the record owes");
                return Ok(());
            }
            Err(e) if e.kind == AwsErrorKind::NoActiveLifecycleAction => {
                tracing::info!(instance = %record.ident, "no active lifecycle action: it was completed or timed out");
                Change::Clear
            }
            Err(e) => {
                tracing::warn!(instance = %record.ident, error = %e, "heartbeat failed; tried again once the sweep visited the other records");
                failed_heartbeats
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(input);
                return Ok(());
            }
        };
        match self
            .write(record)
            .lifecycle_action(action_change)
            .commit()
            .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => {
                // The heartbeat went through; only its time is not recorded, so the next sweep
                // heartbeats again, earlier than needed. The record's other work goes on.
                tracing::warn!(instance = %record.ident, error = %e, "failed to record a heartbeat");
                Ok(())
            }
        }
    }
}
