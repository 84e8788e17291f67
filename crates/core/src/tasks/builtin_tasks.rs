//! Built-in tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Task, TaskContext, TaskError};
use crate::aws::{
    AwsError, AwsErrorKind, CompleteLifecycleAction, Effect, LifecycleHeartbeat, SendCommand,
};
use crate::event::Stimulus;
use crate::record::{LifecycleAction, PendingCommand};

fn task_error(task: &str, error: &AwsError) -> TaskError {
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
fn send_error(task: &str, error: &AwsError, ctx: &TaskContext<'_>) -> TaskError {
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
fn held_action(ctx: &TaskContext<'_>) -> Option<LifecycleAction> {
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
        });
    }
    ctx.record.lifecycle_action.clone()
}

fn effect(service: &str, operation: &str, details: Value) -> Effect {
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
        ctx.changes.lifecycle_action = Some(Some(action));
        Ok(())
    }
}

/// `send_command` — runs an SSM document on the instance; its status event continues the machine.
///
/// Arguments: `document` (default `AWS-RunShellScript`), `commands` (literal lines),
/// `parameters` (document parameters; values may reference `${attr:NAME}`, `${metadata:KEY}`,
/// `${instance_id}`, `${group}`), `env` (for shell documents: variables exported, single-quoted,
/// before the commands), `timeout_seconds`, `comment`.
///
/// Sent at most once per transition attempt: the handler records the intent (attempt id) first;
/// the command's comment carries the attempt id, and an invocation that takes over an intent
/// finds an earlier command by listing instead of sending again. A freshly written intent is
/// sent without listing: one SSM call per command on the happy path.
pub struct SendCommandTask;

const DEFAULT_DOCUMENT: &str = "AWS-RunShellScript";

impl SendCommandTask {
    fn resolve(ctx: &TaskContext<'_>, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in `{template}`"))?;
            let reference = &after[..end];
            out.push_str(&Self::lookup(ctx, reference)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(ctx: &TaskContext<'_>, reference: &str) -> Result<String, String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(name) = reference.strip_prefix("attr:") {
            return ctx
                .record
                .attributes
                .get(name)
                .map(text)
                .ok_or_else(|| format!("the record has no attribute `{name}`"));
        }
        if let Some(key) = reference.strip_prefix("metadata:") {
            let metadata = held_action(ctx).and_then(|a| a.metadata);
            return metadata
                .as_ref()
                .and_then(|m| m.get(key))
                .map(text)
                .ok_or_else(|| format!("the notification metadata has no key `{key}`"));
        }
        match reference {
            "instance_id" => Ok(ctx.record.ident.clone()),
            "group" => held_action(ctx)
                .map(|a| a.group)
                .or_else(|| ctx.record.group.clone())
                .ok_or_else(|| "the group is not known".to_string()),
            other => Err(format!("unknown reference `${{{other}}}`")),
        }
    }

    fn shell_quote(value: &str) -> String {
        format!("'{}'", value.replace('\'', r"'\''"))
    }

    fn build(ctx: &TaskContext<'_>, args: &Value) -> Result<SendCommand, String> {
        Self::check(args)?;
        let document = args
            .get("document")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_DOCUMENT)
            .to_string();
        let mut parameters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        if let Some(Value::Object(params)) = args.get("parameters") {
            for (name, value) in params {
                let values = match value {
                    Value::Array(items) => items
                        .iter()
                        .map(|v| v.as_str().unwrap_or_default())
                        .map(|t| Self::resolve(ctx, t))
                        .collect::<Result<Vec<_>, _>>()?,
                    Value::String(t) => vec![Self::resolve(ctx, t)?],
                    other => vec![other.to_string()],
                };
                parameters.insert(name.clone(), values);
            }
        }
        let mut lines = Vec::new();
        if let Some(Value::Object(env)) = args.get("env") {
            for (name, template) in env {
                let value = Self::resolve(ctx, template.as_str().unwrap_or_default())?;
                lines.push(format!("export {name}={}", Self::shell_quote(&value)));
            }
        }
        if let Some(Value::Array(commands)) = args.get("commands") {
            lines.extend(
                commands
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string),
            );
        }
        if !lines.is_empty() {
            parameters
                .entry("commands".into())
                .or_default()
                .extend(lines);
        }
        let comment = match args.get("comment").and_then(Value::as_str) {
            Some(c) => format!("{c} [{}]", ctx.attempt_id),
            None => format!("asg-lifecycle {} [{}]", ctx.trigger, ctx.attempt_id),
        };
        Ok(SendCommand {
            instance_id: ctx.record.ident.clone(),
            document,
            parameters,
            timeout_seconds: args
                .get("timeout_seconds")
                .and_then(Value::as_i64)
                .and_then(|t| i32::try_from(t).ok()),
            // SSM limits comments to 100 characters; the tag is kept whole at the end.
            comment: truncate_front(&comment, 100),
        })
    }

    fn check(args: &Value) -> Result<(), String> {
        let Value::Object(map) = args else {
            return if args.is_null() {
                Err("expects `commands` or `parameters`".into())
            } else {
                Err("expects a mapping of arguments".into())
            };
        };
        for key in map.keys() {
            if ![
                "document",
                "commands",
                "parameters",
                "env",
                "timeout_seconds",
                "comment",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("unknown argument `{key}`"));
            }
        }
        if let Some(c) = map.get("commands")
            && !c.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err("`commands` must be a list of strings".into());
        }
        if map.get("commands").is_none() && map.get("parameters").is_none() {
            return Err("expects `commands` or `parameters`".into());
        }
        Ok(())
    }
}

fn truncate_front(text: &str, limit: usize) -> String {
    let count = text.chars().count();
    if count <= limit {
        text.to_string()
    } else {
        text.chars().skip(count - limit).collect()
    }
}

#[async_trait]
impl Task for SendCommandTask {
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        let name = "send_command";
        let fail = |message: String, retryable: bool| TaskError {
            task: name.into(),
            message,
            retryable,
        };
        let pending = ctx
            .record
            .pending_command
            .as_ref()
            .filter(|p| p.attempt_id == ctx.attempt_id);
        let Some(pending) = pending else {
            return Err(fail(
                "the intent was not recorded before sending".into(),
                false,
            ));
        };
        let mut command_id = pending.command_id.clone();
        let pending = pending.clone();
        let input = Self::build(ctx, args).map_err(|m| fail(m, false))?;
        // Look for an earlier command only when the intent was taken over: one this invocation
        // wrote itself with a conditional write is exclusive, and nothing can have been sent.
        if command_id.is_none() && !ctx.fresh_intent {
            command_id = ctx
                .aws
                .ssm
                .find_command(&ctx.record.ident, ctx.attempt_id)
                .await
                .map_err(|e| task_error(name, &e))?;
        }
        let recovered = command_id.is_some();
        let command_id = match command_id {
            Some(id) => id,
            None => ctx
                .aws
                .ssm
                .send_command(&input)
                .await
                .map_err(|e| send_error(name, &e, ctx))?,
        };
        // Outputs show the model's arguments (templates unresolved), never resolved values.
        ctx.effects.push(effect(
            "ssm",
            if recovered {
                "SendCommand(recovered)"
            } else {
                "SendCommand"
            },
            json!({
                "instance_id": input.instance_id, "document": input.document,
                "command_id": command_id, "comment": input.comment,
                "arguments": args.clone(),
            }),
        ));
        let deadline = input
            .timeout_seconds
            .map(|t| ctx.now + chrono::Duration::seconds(i64::from(t)));
        ctx.changes.pending_command = Some(Some(PendingCommand {
            attempt_id: ctx.attempt_id.to_string(),
            command_id: Some(command_id),
            trigger: ctx.trigger.to_string(),
            deadline,
            intent_at: pending.intent_at,
        }));
        Ok(())
    }

    fn starts_async_work(&self) -> bool {
        true
    }

    fn needs_intent(&self) -> bool {
        true
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        Self::check(args)
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
