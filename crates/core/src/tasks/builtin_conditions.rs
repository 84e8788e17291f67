//! Built-in conditions.

use std::sync::Arc;

use serde_json::Value;

use super::{Condition, ConditionContext};
use crate::event::{CommandStatus, LifecycleTransition, Stimulus};

/// The lifecycle transition this stimulus announces, or else the one the record holds open.
fn lifecycle_transition(ctx: ConditionContext<'_>) -> Option<LifecycleTransition> {
    if let Stimulus::Lifecycle(event) = ctx.stimulus {
        return Some(event.transition);
    }
    let action = ctx.record.lifecycle_action.as_ref()?;
    LifecycleTransition::from_api_name(&action.transition).ok()
}

/// The warm-pool value of Auto Scaling's lifecycle events.
const WARM_POOL: &str = "WarmPool";

/// `(Origin, Destination)` of the lifecycle action this stimulus announces, or else of the one
/// the record holds.
fn lifecycle_move(ctx: ConditionContext<'_>) -> (Option<String>, Option<String>) {
    if let Stimulus::Lifecycle(event) = ctx.stimulus {
        return (event.origin.clone(), event.destination.clone());
    }
    ctx.record
        .lifecycle_action
        .as_ref()
        .map_or((None, None), |a| (a.origin.clone(), a.destination.clone()))
}

/// The status of the command the record waits for, when the stimulus reports on it.
fn pending_command_status(ctx: ConditionContext<'_>) -> Option<CommandStatus> {
    let Stimulus::Command(event) = ctx.stimulus else {
        return None;
    };
    let pending = ctx.record.pending_command.as_ref()?;
    (pending.command_id.as_deref() == Some(event.command_id.as_str())
        && event.instance_ids.contains(&ctx.record.ident))
    .then_some(event.status)
}

fn attribute_name(args: &Value) -> Result<&str, String> {
    args.get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| "expects `name: ATTRIBUTE`".to_string())
}

struct AttributeEquals;

impl Condition for AttributeEquals {
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String> {
        let name = attribute_name(args)?;
        let expected = args.get("value").ok_or("expects `value`")?;
        Ok(ctx.record.attributes.get(name) == Some(expected))
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        attribute_name(args)?;
        args.get("value")
            .map(|_| ())
            .ok_or_else(|| "expects `value`".to_string())
    }
}

struct HasAttribute;

impl Condition for HasAttribute {
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String> {
        Ok(ctx.record.attributes.contains_key(attribute_name(args)?))
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        attribute_name(args).map(|_| ())
    }
}

type Named = (&'static str, Arc<dyn Condition>);

fn status_is(
    statuses: &'static [CommandStatus],
) -> impl Fn(ConditionContext<'_>, &Value) -> Result<bool, String> + Send + Sync {
    move |ctx, _| Ok(pending_command_status(ctx).is_some_and(|s| statuses.contains(&s)))
}

/// The built-in conditions, by name:
///
/// | name | true when |
/// |---|---|
/// | `is_launching` | the stimulus (or the lifecycle action the record holds) is a launch |
/// | `is_terminating` | likewise, a termination |
/// | `into_warm_pool` | that lifecycle action moves the instance into the warm pool (`Destination: WarmPool`): a launch into the pool, or a scale-in that returns it there |
/// | `from_warm_pool` | that lifecycle action moves it out of the warm pool (`Origin: WarmPool`): into service, or to termination |
/// | `is_scheduled` | the stimulus is a scheduled event whose rule is named after the trigger or its destination (or `rule: NAME`) |
/// | `command_succeeded` | the stimulus reports `Success` for the record's pending command |
/// | `command_failed` | ... `Failed` or `Cancelled` |
/// | `command_timed_out` | ... `TimedOut` |
/// | `command_finished` | ... any terminal status |
/// | `has_attribute` | the record has attribute `name` |
/// | `attribute_equals` | attribute `name` equals `value` |
#[must_use]
pub fn builtin_conditions() -> Vec<Named> {
    vec![
        (
            "is_launching",
            Arc::new(|ctx: ConditionContext<'_>, _: &Value| {
                Ok(lifecycle_transition(ctx) == Some(LifecycleTransition::Launching))
            }),
        ),
        (
            "is_terminating",
            Arc::new(|ctx: ConditionContext<'_>, _: &Value| {
                Ok(lifecycle_transition(ctx) == Some(LifecycleTransition::Terminating))
            }),
        ),
        (
            "into_warm_pool",
            Arc::new(|ctx: ConditionContext<'_>, _: &Value| {
                Ok(lifecycle_move(ctx).1.as_deref() == Some(WARM_POOL))
            }),
        ),
        (
            "from_warm_pool",
            Arc::new(|ctx: ConditionContext<'_>, _: &Value| {
                Ok(lifecycle_move(ctx).0.as_deref() == Some(WARM_POOL))
            }),
        ),
        (
            "is_scheduled",
            Arc::new(|ctx: ConditionContext<'_>, args: &Value| {
                let Stimulus::Scheduled(event) = ctx.stimulus else {
                    return Ok(false);
                };
                Ok(match args.get("rule").and_then(Value::as_str) {
                    Some(rule) => rule == event.rule,
                    None => event.rule == ctx.trigger || Some(event.rule.as_str()) == ctx.dest,
                })
            }),
        ),
        (
            "command_succeeded",
            Arc::new(status_is(&[CommandStatus::Success])),
        ),
        (
            "command_failed",
            Arc::new(status_is(&[
                CommandStatus::Failed,
                CommandStatus::Cancelled,
            ])),
        ),
        (
            "command_timed_out",
            Arc::new(status_is(&[CommandStatus::TimedOut])),
        ),
        (
            "command_finished",
            Arc::new(status_is(&[
                CommandStatus::Success,
                CommandStatus::Failed,
                CommandStatus::Cancelled,
                CommandStatus::TimedOut,
            ])),
        ),
        ("has_attribute", Arc::new(HasAttribute)),
        ("attribute_equals", Arc::new(AttributeEquals)),
    ]
}
