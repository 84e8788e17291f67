//! Built-in tasks.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::send_command::SendCommandTask;
use super::{Task, TaskContext, TaskError};
use crate::aws::{AwsError, AwsErrorKind, CompleteLifecycleAction, Effect, LifecycleHeartbeat};
use crate::event::{LifecycleTransition, Stimulus};
use crate::record::LifecycleAction;

pub(super) fn task_error(task: &str, error: &AwsError) -> TaskError {
    TaskError {
        task: task.to_string(),
        message: error.to_string(),
        retryable: error.is_retryable(),
    }
}

/// How long after an instance entered its state an SSM agent that has not registered yet
/// (`InvalidInstanceId`) is waited for: the agent registers within a minute or two of boot.
pub const SSM_REGISTRATION_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// A failed `SendCommand`: `InvalidInstanceId` is retryable for [`SSM_REGISTRATION_GRACE`] after
/// the instance entered its state (or after the lifecycle action started), permanent after.
pub(super) fn send_error(task: &str, error: &AwsError, ctx: &TaskContext<'_>) -> TaskError {
    let mut failed = task_error(task, error);
    if error.kind == AwsErrorKind::InstanceNotReady {
        let since = ctx
            .record
            .entered_at
            .or_else(|| ctx.record.lifecycle_action.as_ref().map(|a| a.started_at))
            .unwrap_or(ctx.now);
        let waited = (ctx.now - since).to_std().unwrap_or_default();
        failed.retryable = waited < SSM_REGISTRATION_GRACE;
    }
    failed
}

/// The lifecycle action this task should act on: the stimulus's, else the one on the record.
pub(super) fn held_action(ctx: &TaskContext<'_>) -> Option<LifecycleAction> {
    if let Stimulus::Lifecycle(event) = ctx.stimulus {
        return Some(LifecycleAction {
            token: event.token.clone(),
            hook: event.hook.clone(),
            group: event.group.clone(),
            transition: event.transition.api_name().to_string(),
            event_id: String::new(),
            metadata: event.metadata.clone(),
            started_at: ctx.now,
            last_heartbeat: None,
            origin: event.origin.clone(),
            destination: event.destination.clone(),
        });
    }
    ctx.record.lifecycle_action.as_deref().cloned()
}

pub(super) fn effect(service: &str, operation: &str, details: Value) -> Effect {
    Effect {
        service: service.into(),
        operation: operation.into(),
        details: match details {
            Value::Object(map) => map,
            _ => Map::new(),
        },
    }
}

/// `complete_lifecycle_action` — `result: CONTINUE | ABANDON` (default `CONTINUE`).
///
/// "No active Lifecycle Action found" means it was completed already (or timed out): success.
/// Clears the lifecycle action from the record.
struct CompleteLifecycleActionTask;

fn result_arg(args: &Value) -> Result<String, String> {
    match args.get("result") {
        None | Some(Value::Null) => Ok("CONTINUE".into()),
        Some(Value::String(r)) if r == "CONTINUE" || r == "ABANDON" => Ok(r.clone()),
        Some(other) => Err(format!(
            "`result` must be CONTINUE or ABANDON, found {other}"
        )),
    }
}

#[async_trait]
impl Task for CompleteLifecycleActionTask {
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        let name = "complete_lifecycle_action";
        let result = result_arg(args).map_err(|message| TaskError {
            task: name.into(),
            message,
            retryable: false,
        })?;
        let Some(action) = held_action(ctx) else {
            tracing::info!(instance = %ctx.record.ident, "no lifecycle action held: nothing to complete");
            return Ok(());
        };
        if action.token.is_none() && !still_waits(ctx, &action).await? {
            // Without a token, group + hook + instance name whatever action the hook holds
            // now: with a warm pool that may be the next one (out of the pool after into it).
            tracing::info!(instance = %ctx.record.ident, "the instance is past this action: not completing the next one");
            ctx.changes.lifecycle_action = Some(None);
            return Ok(());
        }
        let input = CompleteLifecycleAction {
            group: action.group.clone(),
            hook: action.hook.clone(),
            token: action.token.clone(),
            instance_id: ctx.record.ident.clone(),
            result: result.clone(),
        };
        let outcome = ctx.aws.autoscaling.complete_lifecycle_action(&input).await;
        let already = match outcome {
            Ok(()) => false,
            Err(e) if e.kind == AwsErrorKind::NoActiveLifecycleAction => {
                tracing::info!(instance = %ctx.record.ident, "lifecycle action already completed");
                true
            }
            Err(e) => return Err(task_error(name, &e)),
        };
        ctx.effects.push(effect(
            "autoscaling",
            "CompleteLifecycleAction",
            json!({
                "group": input.group, "hook": input.hook, "instance_id": input.instance_id,
                "token": input.token, "result": result, "already_completed": already,
            }),
        ));
        ctx.changes.lifecycle_action = Some(None);
        Ok(())
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        result_arg(args).map(|_| ())
    }
}

/// The Auto Scaling lifecycle state an instance is in while `action` holds it.
fn waiting_state(action: &LifecycleAction) -> &'static str {
    let warm = |place: &Option<String>| place.as_deref() == Some("WarmPool");
    let launching = action.transition == LifecycleTransition::Launching.api_name();
    match (launching, warm(&action.destination), warm(&action.origin)) {
        (true, true, _) => "Warmed:Pending:Wait",
        (true, false, _) => "Pending:Wait",
        (false, _, true) => "Warmed:Terminating:Wait",
        (false, _, false) => "Terminating:Wait",
    }
}

/// For an action held without a token (adopted by the sweep): true while the instance is still
/// in the wait state that action puts it in, or when its state cannot be told.
async fn still_waits(ctx: &TaskContext<'_>, action: &LifecycleAction) -> Result<bool, TaskError> {
    match ctx.aws.autoscaling.lifecycle_state(&ctx.record.ident).await {
        Ok(None) => Ok(true),
        Ok(Some(state)) => Ok(state == waiting_state(action)),
        Err(e) => Err(task_error("complete_lifecycle_action", &e)),
    }
}

/// `record_lifecycle_action_heartbeat` — extends the held lifecycle action's timeout.
struct HeartbeatTask;

#[async_trait]
impl Task for HeartbeatTask {
    async fn run(&self, ctx: &mut TaskContext<'_>, _args: &Value) -> Result<(), TaskError> {
        let Some(action) = held_action(ctx) else {
            return Ok(());
        };
        let input = LifecycleHeartbeat {
            group: action.group.clone(),
            hook: action.hook.clone(),
            token: action.token.clone(),
            instance_id: ctx.record.ident.clone(),
        };
        match ctx
            .aws
            .autoscaling
            .record_lifecycle_action_heartbeat(&input)
            .await
        {
            Ok(()) => {}
            Err(e) if e.kind == AwsErrorKind::NoActiveLifecycleAction => {
                ctx.changes.lifecycle_action = Some(None);
                return Ok(());
            }
            Err(e) => return Err(task_error("record_lifecycle_action_heartbeat", &e)),
        }
        ctx.effects.push(effect(
            "autoscaling",
            "RecordLifecycleActionHeartbeat",
            json!({"group": input.group, "hook": input.hook, "instance_id": input.instance_id, "token": input.token}),
        ));
        let mut action = action;
        action.last_heartbeat = Some(ctx.now);
        ctx.changes.lifecycle_action = Some(Some(std::sync::Arc::new(action)));
        Ok(())
    }
}

/// `log` — writes `message` to the log.
struct LogTask;

#[async_trait]
impl Task for LogTask {
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        let message = args.get("message").and_then(Value::as_str).unwrap_or("");
        tracing::info!(instance = %ctx.record.ident, from = ctx.from, to = ctx.to, "{message}");
        Ok(())
    }
}

/// `fail` — always fails with `message`: for failure paths in tests and drills.
struct FailTask;

#[async_trait]
impl Task for FailTask {
    async fn run(&self, _ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        Err(TaskError {
            task: "fail".into(),
            message: args
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("failed on purpose")
                .to_string(),
            retryable: false,
        })
    }
}

/// `noop` — does nothing.
struct NoopTask;

#[async_trait]
impl Task for NoopTask {
    async fn run(&self, _ctx: &mut TaskContext<'_>, _args: &Value) -> Result<(), TaskError> {
        Ok(())
    }
}

/// The built-in tasks, by name: `complete_lifecycle_action`, `record_lifecycle_action_heartbeat`,
/// `send_command`, `log`, `fail`, `noop`.
#[must_use]
pub fn builtin_tasks() -> Vec<(&'static str, Arc<dyn Task>)> {
    vec![
        (
            "complete_lifecycle_action",
            Arc::new(CompleteLifecycleActionTask),
        ),
        ("record_lifecycle_action_heartbeat", Arc::new(HeartbeatTask)),
        ("send_command", Arc::new(SendCommandTask)),
        ("log", Arc::new(LogTask)),
        ("fail", Arc::new(FailTask)),
        ("noop", Arc::new(NoopTask)),
    ]
}
