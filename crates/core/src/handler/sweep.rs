//! The sweep: what the scheduled `reconcile` rule does for each active record, so that nothing
//! is forgotten when an event is lost.
//!
//! For each record, in order:
//! 1. **gone** — an instance no longer in any Auto Scaling group (and quiet for `gone_grace`) is
//!    marked gone and left to expire;
//! 2. **heartbeat** — a held lifecycle action whose hook timeout is half spent gets a heartbeat
//!    (hook timeouts read once with `DescribeLifecycleHooks`); "no active lifecycle action" clears
//!    it; none while the record is still pending (a boot that never ends lets the hook time out);
//! 3. **lost SSM event** — when the record is stepped with the sweep event (5.), a command the
//!    state waits on, older than the intent lease, is asked about with `GetCommandInvocation`
//!    and a terminal answer is fed to the machine as if its event had come (`recovery.rs`);
//! 4. **state timeout** — a state held longer than the model's `timeout` fires the state's
//!    `timeout` trigger, or, when it has none, moves the instance to the failure state;
//! 5. **continue** — the record is stepped with the sweep event: interrupted chains finish and
//!    instances that reached the initial state after their launch event go on.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use super::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};
use crate::aws::{AwsErrorKind, Effect, LifecycleHeartbeat};
use crate::event::{Event, ScheduledEvent, Stimulus};
use crate::record::InstanceRecord;
use crate::store::{Change, StoreError};

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

impl LifecycleHandler {
    /// Which of a page's instances still belong to a group (one call per 50 instances), or
    /// `None` when that cannot be told.
    pub(super) async fn members_of(&self, records: &[InstanceRecord]) -> Option<BTreeSet<String>> {
        let quiet: Vec<String> = records
            .iter()
            .filter(|r| self.is_quiet(r))
            .map(|r| r.ident.clone())
            .collect();
        if quiet.is_empty() {
            return None;
        }
        match self.aws.autoscaling.group_members(&quiet).await {
            Ok(members) => members,
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

    async fn hook_timeout(&self, group: &str, hook: &str) -> Duration {
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
                tracing::warn!(group, hook, error = %e, "failed to read the hook's heartbeat timeout; using the default");
                return self.config.heartbeat_timeout;
            }
        };
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
        members: Option<&BTreeSet<String>>,
        event: &Event,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let ident = record.ident.as_str();
        let mut outcome = Outcome::new(Some(&event.id), Some(ident));
        outcome.from = Some(record.state().to_string());
        outcome.to = outcome.from.clone();
        let graph = self.machine.graph();
        let now = self.clock.now();

        if members.is_some_and(|m| !m.contains(ident)) && self.is_quiet(record) {
            self.mark_gone(record).await?;
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
            let last = action.last_heartbeat.unwrap_or(action.started_at);
            if now - last >= to_chrono(timeout / 2) {
                self.heartbeat(record, &mut outcome).await?;
            }
        }

        if let Some(current) = self.store.get(ident).await?
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
                self.process_instance(ident, &id, &stimulus, ctx).await?
            } else {
                let message = format!("state `{state}` timed out after {}s", timeout.as_secs());
                self.fail_instance(current, message, &id, &event.stimulus, ctx)
                    .await?
            };
            merge(&mut outcome, step);
        }

        let step = self
            .process_instance(ident, &event.id, &event.stimulus, ctx)
            .await?;
        merge(&mut outcome, step);
        outcome.outcome = if outcome.error.is_some() {
            OutcomeKind::Failed
        } else if outcome.transitions.is_empty() {
            OutcomeKind::NoOp
        } else {
            OutcomeKind::Advanced
        };
        Ok(outcome)
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

    async fn heartbeat(
        &self,
        record: &InstanceRecord,
        outcome: &mut Outcome,
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
        let action_change = match self
            .aws
            .autoscaling
            .record_lifecycle_action_heartbeat(&input)
            .await
        {
            Ok(()) => {
                let mut action = action;
                action.last_heartbeat = Some(self.clock.now());
                outcome.effects.push(Effect {
                    service: "autoscaling".into(),
                    operation: "RecordLifecycleActionHeartbeat".into(),
                    details: json!({"group": input.group, "hook": input.hook, "instance_id": input.instance_id})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                });
                Change::Set(action)
            }
            Err(e) if e.kind == AwsErrorKind::NoActiveLifecycleAction => {
                tracing::info!(instance = %record.ident, "no active lifecycle action: it was completed or timed out");
                Change::Clear
            }
            Err(e) => {
                tracing::warn!(instance = %record.ident, error = %e, "heartbeat failed; the next sweep tries again");
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
            Err(e) => Err(e.into()),
        }
    }
}
