//! `send_command`: runs an SSM document on the instance, with record values as data only.
//!
//! Command text — the `commands` lines, and the `commands` and `commandLine` parameters of any
//! document — is sent as written and may not contain `${`: templates never reach a shell.
//! Values (`${instance:private_ip}`, `${attr:NAME}`, `${metadata:KEY}`, `${instance_id}`,
//! `${group}`) reach the instance only as data: in the other document parameters, or in `env`,
//! whose variables are set before the commands with the quoting rules of the document's shell.
//!
//! Where each value comes from, and so how far it can be trusted (records are writable by the
//! instances themselves; see `docs/cloud-init.md`, "What the handler trusts"):
//!
//! | reference | source | trust |
//! |---|---|---|
//! | `${instance_id}` | the record's key | AWS: the instance the event or listing named |
//! | `${instance:private_ip}` | SSM `DescribeInstanceInformation` (`IPAddress`), read when the command is built, checked to be an IP address | AWS (as the instance's own SSM agent reported it) |
//! | `${group}` | the lifecycle event, else the record | AWS for an event of this invocation; else instance-written |
//! | `${metadata:KEY}` | the hook's notification metadata, from the event, else the record | as `${group}` |
//! | `${attr:NAME}` | a record attribute | instance-written, untrusted: data for the instance's own commands only, never an address another system acts on |
//!
//! Resolved values are never stored: outputs show the model's arguments, and an AWS error that
//! quotes the resolved lines is scrubbed of them before it becomes the record's `LastError`.
//!
//! The quoting rules:
//!
//! | document | `env: {NAME: value}` becomes |
//! |---|---|
//! | `AWS-RunShellScript` (the default) | `export NAME='value'` (POSIX: `'` is written `'\''`) |
//! | `AWS-RunPowerShellScript` | `$env:NAME = 'value'` (PowerShell: `'` and its typographic forms doubled) |
//! | any other | refused (`env-unsupported-document`): its shell, if it has one, is not known |
//!
//! `env` names match `[A-Za-z_][A-Za-z0-9_]*`; a value holding a NUL character is refused when
//! the command is built (no shell variable can hold one). Model validation reports every
//! problem with a code and the line of the argument at fault; the task checks again before
//! sending, for models written in Rust that no file validation saw.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Map, Value, json};

mod check;
mod shell;

pub use shell::{ShellPlatform, posix_single_quote, powershell_single_quote};

use check::{
    Arguments, COMMAND_TEXT_PARAMETERS, PRIVATE_IP, PRIVATE_IP_REFERENCE, problems, references,
};

use super::builtin_tasks::{effect, held_action, send_error, task_error};
use super::{ArgumentProblem, Task, TaskContext, TaskError};
use crate::aws::{AwsError, AwsErrorKind, SendCommand};
use crate::diag::Code;
use crate::record::PendingCommand;

/// The document `send_command` runs unless `document` names another.
pub const DEFAULT_DOCUMENT: &str = "AWS-RunShellScript";
/// The Windows shell document.
pub(crate) const POWERSHELL_DOCUMENT: &str = "AWS-RunPowerShellScript";

/// Why a `send_command` could not be built: each names the argument at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendCommandError {
    /// The arguments do not have the shape `send_command` reads.
    #[error("{0}")]
    InvalidArguments(String),
    /// Command text holds a `${`: it is sent as written, never templated.
    #[error(
        "`{argument}` of document `{document}` is command text and holds `${{`: command text is sent as written, never templated; pass the value in `env` (e.g. `env: {{NAME: \"${{attr:Role}}\"}}`, then \"$NAME\")"
    )]
    TemplateInCommand {
        /// The document.
        document: String,
        /// The argument, e.g. `commands[0]` or `parameters.commands[1]`.
        argument: String,
    },
    /// An `env` name is not a shell variable name.
    #[error("`env` name `{name}` is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*)")]
    InvalidEnvName {
        /// The name as written.
        name: String,
    },
    /// `env` with a document whose shell is not known.
    #[error(
        "`env` needs a document whose shell is known ({DEFAULT_DOCUMENT} or {POWERSHELL_DOCUMENT}) to quote its values; `{document}` is not one: pass values as document parameters"
    )]
    EnvUnsupportedDocument {
        /// The document.
        document: String,
    },
    /// A resolved `env` value holds a NUL character.
    #[error("the value of `env.{name}` holds a NUL character, which no shell variable can hold")]
    NulInValue {
        /// The variable.
        name: String,
    },
    /// A template could not be resolved.
    #[error("`{argument}`: {reason}")]
    Unresolved {
        /// The argument, e.g. `env.NODE_IP`.
        argument: String,
        /// Why.
        reason: String,
    },
}

impl SendCommandError {
    /// The diagnostic code validation reports for this problem.
    #[must_use]
    pub fn code(&self) -> Code {
        match self {
            Self::TemplateInCommand { .. } => Code::TemplateInCommand,
            Self::InvalidEnvName { .. } => Code::InvalidEnvName,
            Self::EnvUnsupportedDocument { .. } => Code::EnvUnsupportedDocument,
            Self::InvalidArguments(_) | Self::NulInValue { .. } | Self::Unresolved { .. } => {
                Code::InvalidArguments
            }
        }
    }
}

/// What `${instance:…}` references resolve to: read from AWS by the task before it builds the
/// command, never from the record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct InstanceFacts {
    /// The private IP address SSM reports for the instance.
    private_ip: Option<String>,
}

/// True when any `${instance:private_ip}` appears in the arguments.
fn needs_private_ip(args: &Value) -> bool {
    let mut stack = vec![args];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(s) if s.contains(PRIVATE_IP_REFERENCE) => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    false
}

/// The private IP of `instance` as SSM reports it; errors as a failed `SendCommand` would be
/// (an instance SSM does not list yet is [`AwsErrorKind::InstanceNotReady`]).
async fn read_private_ip(ctx: &TaskContext<'_>) -> Result<String, AwsError> {
    let instance = &ctx.record.ident;
    let operation = "DescribeInstanceInformation";
    let reported = ctx.aws.ssm.instance_private_ip(instance).await?;
    let Some(ip) = reported else {
        return Err(AwsError {
            operation: operation.into(),
            kind: AwsErrorKind::InstanceNotReady,
            code: "InstanceNotListed".into(),
            message: format!("SSM lists no instance information for {instance} yet"),
        });
    };
    // SSM's answer is checked anyway: only an address can reach the command.
    ip.parse::<std::net::IpAddr>()
        .map(|_| ip.clone())
        .map_err(|_| AwsError {
            operation: operation.into(),
            kind: AwsErrorKind::Permanent,
            code: "InvalidIpAddress".into(),
            message: format!(
                "SSM reports `{ip}` as the IP address of {instance}: not an IP address"
            ),
        })
}

/// `send_command` — runs an SSM document on the instance; its status event continues the machine.
///
/// Arguments: `document` (default `AWS-RunShellScript`), `commands` (literal lines),
/// `parameters` (document parameters; values other than command text may reference
/// `${instance:private_ip}`, `${attr:NAME}`, `${metadata:KEY}`, `${instance_id}`, `${group}`),
/// `env` (variables set before
/// the commands, quoted for the document's shell; see the module), `timeout_seconds`, `comment`.
///
/// Sent at most once per transition attempt: the handler records the intent (attempt id) first;
/// the command's comment carries the attempt id, and an invocation that takes over an intent
/// finds an earlier command by listing instead of sending again. A freshly written intent is
/// sent without listing: one SSM call per command on the happy path.
pub struct SendCommandTask;

impl SendCommandTask {
    /// Resolves the references in `template`, the value of argument `prefix.name` (named in
    /// an error only: no name is built for a value that resolves).
    fn resolve(
        ctx: &TaskContext<'_>,
        facts: &InstanceFacts,
        (prefix, name): (&str, &str),
        template: &str,
        resolved: &mut Vec<String>,
    ) -> Result<String, SendCommandError> {
        let unresolved = |reason: String| SendCommandError::Unresolved {
            argument: [prefix, ".", name].concat(),
            reason,
        };
        references(template).map_err(unresolved)?;
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').unwrap_or(after.len());
            let value = Self::lookup(ctx, facts, &after[..end]).map_err(unresolved)?;
            out.push_str(&value);
            resolved.push(value);
            rest = after.get(end + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        Ok(out)
    }

    fn lookup(
        ctx: &TaskContext<'_>,
        facts: &InstanceFacts,
        reference: &str,
    ) -> Result<String, String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(fact) = reference.strip_prefix("instance:") {
            return match fact {
                PRIVATE_IP => facts
                    .private_ip
                    .clone()
                    .ok_or_else(|| "the instance's private IP was not read from SSM".to_string()),
                other => Err(format!("unknown instance fact `{other}`")),
            };
        }
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

    /// The `SendCommand` the arguments ask for, with record values resolved into data only.
    ///
    /// # Errors
    /// A [`SendCommandError`] naming the argument at fault; nothing is sent.
    /// `${instance:…}` references are read from AWS only when the task runs: here they are
    /// unresolved errors.
    pub fn build(ctx: &TaskContext<'_>, args: &Value) -> Result<SendCommand, SendCommandError> {
        Self::build_resolving(ctx, args, &InstanceFacts::default()).map(|(input, _)| input)
    }

    /// [`Self::build`], with every value a reference resolved to and every line holding one:
    /// what an error message must not quote.
    fn build_resolving(
        ctx: &TaskContext<'_>,
        args: &Value,
        facts: &InstanceFacts,
    ) -> Result<(SendCommand, Vec<String>), SendCommandError> {
        let mut resolved = Vec::new();
        if let Some((_, first)) = problems(args).into_iter().next() {
            return Err(first);
        }
        let empty = Map::new();
        let map = Arguments::of(args.as_object().unwrap_or(&empty));
        let document = map
            .document
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_DOCUMENT)
            .to_string();
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut parameters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut parameter_commands = Vec::new();
        if let Some(Value::Object(params)) = map.parameters {
            for (name, value) in params {
                let values: Vec<String> = match value {
                    Value::Array(items) => items.iter().map(text).collect(),
                    other => vec![text(other)],
                };
                if COMMAND_TEXT_PARAMETERS.contains(&name.as_str()) {
                    // Command text goes as written (checked above to hold no template).
                    if name == "commands" {
                        parameter_commands = values;
                    } else {
                        parameters.insert(name.clone(), values);
                    }
                    continue;
                }
                let argument = ("parameters", name.as_str());
                let resolved = values
                    .iter()
                    .map(|v| Self::resolve(ctx, facts, argument, v, &mut resolved))
                    .collect::<Result<Vec<_>, _>>()?;
                parameters.insert(name.clone(), resolved);
            }
        }
        let mut lines = Vec::new();
        if let Some(Value::Object(env)) = map.env
            && let Some(shell) = ShellPlatform::of_document(&document)
        {
            for (name, template) in env {
                let template = template.as_str().unwrap_or_default();
                let argument = ("env", name.as_str());
                let value = Self::resolve(ctx, facts, argument, template, &mut resolved)?;
                if value.contains('\0') {
                    return Err(SendCommandError::NulInValue { name: name.clone() });
                }
                let line = shell.assignment(name, &value);
                if template.contains("${") {
                    resolved.push(line.clone());
                }
                lines.push(line);
            }
        }
        lines.extend(parameter_commands);
        if let Some(Value::Array(commands)) = map.commands {
            lines.extend(commands.iter().map(text));
        }
        if !lines.is_empty() {
            parameters.insert("commands".into(), lines);
        }
        let comment = match map.comment.and_then(Value::as_str) {
            Some(c) => [c, " [", ctx.attempt_id, "]"].concat(),
            None => ["asg-lifecycle ", ctx.trigger, " [", ctx.attempt_id, "]"].concat(),
        };
        let input = SendCommand {
            instance_id: ctx.record.ident.clone(),
            document,
            parameters,
            timeout_seconds: map
                .timeout_seconds
                .and_then(Value::as_i64)
                .and_then(|t| i32::try_from(t).ok()),
            // SSM limits comments to 100 characters; the tag is kept whole at the end.
            comment: truncate_front(&comment, 100),
        };
        Ok((input, resolved))
    }
}

/// The shortest resolved value an error message is scrubbed of: shorter ones would blank out
/// ordinary words (and hide little).
const SCRUB_MIN_CHARS: usize = 4;

/// `message` with every resolved value (longest first) replaced by a marker: an AWS error may
/// quote the parameters it refused, and the message is stored (`LastError`) and reported.
fn scrub(message: &str, resolved: &[String]) -> String {
    let mut values: Vec<&String> = resolved
        .iter()
        .filter(|v| v.chars().count() >= SCRUB_MIN_CHARS)
        .collect();
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut out = message.to_string();
    for value in values {
        out = out.replace(value.as_str(), "<resolved value>");
    }
    out
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
        let mut facts = InstanceFacts::default();
        if needs_private_ip(args) {
            let ip = read_private_ip(ctx)
                .await
                .map_err(|e| send_error(name, &e, ctx))?;
            facts.private_ip = Some(ip);
        }
        let (input, resolved) =
            Self::build_resolving(ctx, args, &facts).map_err(|e| fail(e.to_string(), false))?;
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
            None => ctx.aws.ssm.send_command(&input).await.map_err(|e| {
                let mut failed = send_error(name, &e, ctx);
                failed.message = scrub(&failed.message, &resolved);
                failed
            })?,
        };
        // Outputs show the model's arguments (templates unresolved), never resolved values.
        ctx.effects.push(effect(
            "ssm",
            if recovered {
                "SendCommand(recovered)"
            } else {
                "SendCommand"
            },
            {
                let mut details = json!({
                    "instance_id": input.instance_id, "document": input.document,
                    "command_id": command_id, "comment": input.comment,
                });
                // One copy of the arguments, moved in: `json!` would copy them again.
                details["arguments"] = args.clone();
                details
            },
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
        match problems(args).into_iter().next() {
            Some((_, first)) => Err(first.to_string()),
            None => Ok(()),
        }
    }

    fn check_arguments(&self, args: &Value) -> Vec<ArgumentProblem> {
        problems(args)
            .into_iter()
            .map(|(pointer, error)| ArgumentProblem {
                code: error.code(),
                message: error.to_string(),
                pointer,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
