//! Small traits over the Auto Scaling and SSM calls the built-in tasks make.
//!
//! [`LocalAws`] records every call and answers deterministically (command ids derived from the
//! transition attempt); the SDK implementations are in the `asg-lifecycle-aws` crate.

mod extensions;
mod local;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::LifecycleTransition;

pub use extensions::Extensions;
pub use local::{LocalAws, RecordedCall};

/// An AWS call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed ({kind:?}): {code}: {message}")]
pub struct AwsError {
    /// The operation that failed.
    pub operation: String,
    /// How the handler should treat it.
    pub kind: AwsErrorKind,
    /// The service's error code.
    pub code: String,
    /// The service's message.
    pub message: String,
}

/// The classes of AWS errors the handler tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// "No active Lifecycle Action found": the action was completed or timed out already.
    NoActiveLifecycleAction,
    /// Throttling: retry later.
    Throttled,
    /// A 5xx or network error: retry later.
    Transient,
    /// The instance is not (yet) managed by SSM (`InvalidInstanceId`): its agent may still be
    /// registering, so the caller retries for a bounded time after the instance started.
    InstanceNotReady,
    /// Anything else: retrying will not help.
    Permanent,
}

impl AwsError {
    /// True for errors worth retrying.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, AwsErrorKind::Throttled | AwsErrorKind::Transient)
    }
}

/// `CompleteLifecycleAction` input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteLifecycleAction {
    /// The group.
    pub group: String,
    /// The hook.
    pub hook: String,
    /// The token, when known.
    pub token: Option<String>,
    /// The instance (used when there is no token).
    pub instance_id: String,
    /// `CONTINUE` or `ABANDON`.
    pub result: String,
}

/// `RecordLifecycleActionHeartbeat` input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleHeartbeat {
    /// The group.
    pub group: String,
    /// The hook.
    pub hook: String,
    /// The token, when known.
    pub token: Option<String>,
    /// The instance.
    pub instance_id: String,
}

/// An instance a lifecycle hook holds (`Pending:Wait` or `Terminating:Wait`), as
/// `DescribeAutoScalingGroups` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingInstance {
    /// The instance.
    pub instance_id: String,
    /// The transition its hooks hold it in.
    pub transition: LifecycleTransition,
    /// Where the action takes it, as far as the group tells: `AutoScalingGroup` for a launch;
    /// for a termination `WarmPool` when the group returns scaled-in instances to its warm pool
    /// (`ReuseOnScaleIn`), else `EC2`.
    pub destination: Option<String>,
}

/// A lifecycle hook of a group, as `DescribeLifecycleHooks` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleHook {
    /// The hook's name.
    pub name: String,
    /// The transition it holds instances in.
    pub transition: LifecycleTransition,
    /// Its heartbeat timeout, when reported.
    pub heartbeat_timeout: Option<std::time::Duration>,
}

/// `SendCommand` input for one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendCommand {
    /// The instance.
    pub instance_id: String,
    /// The SSM document (e.g. `AWS-RunShellScript`).
    pub document: String,
    /// Document parameters: name → list of values.
    pub parameters: std::collections::BTreeMap<String, Vec<String>>,
    /// Timeout in seconds.
    pub timeout_seconds: Option<i32>,
    /// The comment, which carries the transition attempt tag.
    pub comment: String,
}

/// What `GetCommandInvocation` answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandInvocation {
    /// The command.
    pub command_id: String,
    /// The instance.
    pub instance_id: String,
    /// The status name (`Success`, `InProgress`, ...).
    pub status: String,
}

/// The Auto Scaling calls the tasks make.
#[async_trait]
pub trait AutoScalingApi: Send + Sync {
    /// `CompleteLifecycleAction`.
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError>;
    /// `RecordLifecycleActionHeartbeat`.
    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError>;

    /// `DescribeLifecycleHooks`: the hook's heartbeat timeout. `None` when unknown (the handler
    /// then uses its configured default).
    async fn heartbeat_timeout(
        &self,
        _group: &str,
        _hook: &str,
    ) -> Result<Option<std::time::Duration>, AwsError> {
        Ok(None)
    }

    /// `DescribeAutoScalingGroups` (and `DescribeWarmPool` for a group with a warm pool): the
    /// instances of `group` its lifecycle hooks hold. Empty when not known (the sweep then adopts
    /// no action whose event has not come).
    async fn waiting_instances(&self, _group: &str) -> Result<Vec<WaitingInstance>, AwsError> {
        Ok(Vec::new())
    }

    /// `DescribeLifecycleHooks`: every lifecycle hook of `group`. Empty when not known.
    async fn lifecycle_hooks(&self, _group: &str) -> Result<Vec<LifecycleHook>, AwsError> {
        Ok(Vec::new())
    }

    /// `DescribeAutoScalingInstances`: the instance's lifecycle state (`Pending:Wait`,
    /// `Warmed:Pending:Wait`, `InService`, ...). `None` when not known.
    async fn lifecycle_state(&self, _instance_id: &str) -> Result<Option<String>, AwsError> {
        Ok(None)
    }

    /// `DescribeAutoScalingInstances`: which of these instances still belong to a group.
    /// `None` when membership cannot be told (the sweep then never marks a record gone).
    async fn group_members(
        &self,
        _instance_ids: &[String],
    ) -> Result<Option<std::collections::BTreeSet<String>>, AwsError> {
        Ok(None)
    }
}

/// The SSM calls the tasks make.
#[async_trait]
pub trait SsmApi: Send + Sync {
    /// `SendCommand`; returns the command id.
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError>;
    /// `ListCommands` for the instance, returning the id of the command whose comment carries
    /// `tag`, if any: how a command sent before a crash is found again.
    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError>;
    /// `GetCommandInvocation`.
    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError>;

    /// `DescribeInstanceInformation` filtered by instance id: the IP address SSM reports for
    /// the instance (`IPAddress`), `None` when SSM lists no such instance (its agent has not
    /// registered yet). What `${instance:private_ip}` resolves to.
    ///
    /// # Errors
    /// By default, a permanent error: the client cannot describe instances.
    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        Err(AwsError {
            operation: "DescribeInstanceInformation".into(),
            kind: AwsErrorKind::Permanent,
            code: "Unsupported".into(),
            message: format!(
                "this SSM client cannot describe instances, so the private IP of {instance_id} is unknown"
            ),
        })
    }
}

/// The AWS clients handed to tasks.
#[derive(Clone)]
pub struct AwsClients {
    /// Auto Scaling.
    pub autoscaling: Arc<dyn AutoScalingApi>,
    /// SSM.
    pub ssm: Arc<dyn SsmApi>,
    /// The clients of other services a model needs, by type ([`Extensions`]).
    pub extensions: Extensions,
}

impl AwsClients {
    /// Both clients from one local recorder.
    #[must_use]
    pub fn local(local: &Arc<LocalAws>) -> Self {
        Self {
            autoscaling: local.clone(),
            ssm: local.clone(),
            extensions: Extensions::default(),
        }
    }
}

/// One AWS call a task made, as reported in outputs (secret-looking values redacted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// `autoscaling` or `ssm`.
    pub service: String,
    /// The operation name.
    pub operation: String,
    /// The call's parameters.
    #[serde(flatten)]
    pub details: serde_json::Map<String, Value>,
}
