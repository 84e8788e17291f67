//! Conditions that ask AWS: a Rust model's predicate that awaits (is the target deregistered
//! from its load balancer? is the node gone from the cluster?), with the AWS clients the model
//! needs ([`crate::aws::Extensions`]) and a cancellation token.
//!
//! The machine decides synchronously; the handler evaluates the asynchronous conditions a
//! decision may need first ([`resolve`]: those of the triggers leaving the record's state, each
//! `(name, arguments)` once, cut at the invocation's deadline), and the decision reads their
//! answers ([`Resolved`]). A decision made without them (a quick "would anything fire?" check)
//! sees an error for such a condition, and the handler steps for real.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{Condition, ConditionContext};
use crate::aws::AwsClients;
use crate::event::Stimulus;
use crate::machine::Machine;
use crate::record::InstanceRecord;

/// What an asynchronous condition sees.
pub struct AsyncConditionContext<'a> {
    /// The instance's record.
    pub record: &'a InstanceRecord,
    /// The stimulus being processed.
    pub stimulus: &'a Stimulus,
    /// The trigger being evaluated.
    pub trigger: &'a str,
    /// Its destination (`None` for an internal transition).
    pub dest: Option<&'a str>,
    /// The AWS clients, with the model's own ([`AwsClients::extensions`]).
    pub aws: &'a AwsClients,
    /// Fires when the invocation's deadline is near: stop asking.
    pub cancel: CancellationToken,
}

/// A named predicate that may await (call AWS). Errors are messages, as for [`Condition`].
#[async_trait]
pub trait AsyncCondition: Send + Sync {
    /// Evaluates the predicate with the arguments given in the model.
    ///
    /// # Errors
    /// A message when the predicate cannot be evaluated.
    async fn evaluate(&self, ctx: AsyncConditionContext<'_>, args: &Value) -> Result<bool, String>;

    /// Checks the arguments when the model is validated.
    ///
    /// # Errors
    /// A message naming what is wrong.
    fn check_args(&self, _args: &Value) -> Result<(), String> {
        Ok(())
    }
}

/// The answers of the asynchronous conditions a decision needs, by `(name, arguments)`.
pub type Resolved = BTreeMap<(String, String), Result<bool, String>>;

/// The key of a condition call.
fn key(name: &str, args: &Value) -> (String, String) {
    (name.to_string(), args.to_string())
}

/// The synchronous face of an asynchronous condition in the registry: it reads the answer the
/// handler resolved for this decision.
pub(super) struct ResolvedCondition {
    pub(super) inner: Arc<dyn AsyncCondition>,
    pub(super) name: String,
}

impl Condition for ResolvedCondition {
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String> {
        ctx.resolved
            .and_then(|resolved| resolved.get(&key(&self.name, args)))
            .cloned()
            .unwrap_or_else(|| {
                Err(format!(
                    "`{}` asks AWS: it is evaluated by the handler before a decision",
                    self.name
                ))
            })
    }

    fn check_args(&self, args: &Value) -> Result<(), String> {
        self.inner.check_args(args)
    }
}

/// Evaluates the asynchronous conditions of the triggers leaving `record`'s state, each call
/// once, within `budget` (a call still running then answers an error, and is told to stop).
pub async fn resolve(
    machine: &Machine,
    record: &InstanceRecord,
    stimulus: &Stimulus,
    aws: &AwsClients,
    budget: Duration,
) -> Resolved {
    let mut resolved = Resolved::new();
    if !machine.registry().has_async_conditions() {
        return resolved;
    }
    let cancel = CancellationToken::new();
    let deadline = tokio::time::Instant::now() + budget;
    for transition in machine.graph().outgoing(record.state()) {
        let trigger = &transition.trigger;
        for call in trigger.conditions.iter().chain(&trigger.unless) {
            let Some(condition) = machine.registry().async_condition(&call.name) else {
                continue;
            };
            let key = key(&call.name, &call.args);
            if resolved.contains_key(&key) {
                continue;
            }
            let ctx = AsyncConditionContext {
                record,
                stimulus,
                trigger: &trigger.name,
                dest: transition.dest.as_deref(),
                aws,
                cancel: cancel.child_token(),
            };
            let answer = tokio::select! {
                answer = condition.evaluate(ctx, &call.args) => answer,
                () = tokio::time::sleep_until(deadline) => {
                    cancel.cancel();
                    Err(format!("`{}` did not answer before the invocation's deadline", call.name))
                }
            };
            resolved.insert(key, answer);
        }
    }
    resolved
}
