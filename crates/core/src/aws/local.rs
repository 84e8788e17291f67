//! A local, recording implementation of the AWS traits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{
    AutoScalingApi, AwsError, AwsErrorKind, CommandInvocation, CompleteLifecycleAction,
    LifecycleHeartbeat, LifecycleHook, SendCommand, SsmApi, WaitingInstance,
};

/// One call recorded by [`LocalAws`].
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedCall {
    /// `autoscaling` or `ssm`.
    pub service: &'static str,
    /// The operation name.
    pub operation: &'static str,
    /// The input, as JSON.
    pub input: Value,
}

#[derive(Default)]
struct State {
    calls: Vec<RecordedCall>,
    completed: BTreeSet<(String, String, String)>,
    commands: BTreeMap<String, (String, String, String)>,
    /// Command ids by instance, so that `find_command` does not scan every command.
    commands_by_instance: BTreeMap<String, Vec<String>>,
    command_status: BTreeMap<String, String>,
    hook_timeouts: BTreeMap<(String, String), std::time::Duration>,
    members: Option<BTreeSet<String>>,
    /// Per group: the instances its hooks hold and its hooks (`DescribeAutoScalingGroups`,
    /// `DescribeLifecycleHooks`), when set.
    groups: BTreeMap<String, (Vec<WaitingInstance>, Vec<LifecycleHook>)>,
    /// Lifecycle states `DescribeAutoScalingInstances` reports, when set.
    lifecycle_states: BTreeMap<String, String>,
    /// Private IPs `DescribeInstanceInformation` reports, by instance (`None`: not listed).
    private_ips: BTreeMap<String, Option<String>>,
    /// The private IP of every instance not set one by one, when set.
    default_private_ip: Option<String>,
}

/// Records every call and answers deterministically: lifecycle actions complete once (a second
/// completion answers "No active Lifecycle Action found"), command ids are derived from the
/// comment tag, command invocations report the status set with [`LocalAws::set_command_status`]
/// (`InProgress` by default), and instances report the private IP set for them (by default
/// [`LocalAws::private_ip_for`]).
#[derive(Default)]
pub struct LocalAws {
    state: Mutex<State>,
}

impl LocalAws {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, in order.
    #[must_use]
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.lock().calls.clone()
    }

    /// Removes and returns the calls recorded so far.
    pub fn take_calls(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut self.lock().calls)
    }

    /// Sets what `GetCommandInvocation` answers for a command.
    pub fn set_command_status(&self, command_id: &str, status: &str) {
        self.lock()
            .command_status
            .insert(command_id.to_string(), status.to_string());
    }

    /// Sets the heartbeat timeout `DescribeLifecycleHooks` reports for a hook.
    pub fn set_hook_timeout(&self, group: &str, hook: &str, timeout: std::time::Duration) {
        self.lock()
            .hook_timeouts
            .insert((group.to_string(), hook.to_string()), timeout);
    }

    /// Sets which instances `DescribeAutoScalingInstances` finds (`None`: membership unknown).
    pub fn set_group_members(&self, members: Option<BTreeSet<String>>) {
        self.lock().members = members;
    }

    /// Sets the instances `group`'s hooks hold and the group's hooks; until then the group
    /// reports neither (and no call is recorded).
    pub fn set_waiting(
        &self,
        group: &str,
        waiting: Vec<WaitingInstance>,
        hooks: Vec<LifecycleHook>,
    ) {
        self.lock()
            .groups
            .insert(group.to_string(), (waiting, hooks));
    }

    /// Sets what `DescribeInstanceInformation` reports as `instance`'s IP address (`None`: SSM
    /// does not list the instance).
    pub fn set_private_ip(&self, instance: &str, ip: Option<&str>) {
        self.lock()
            .private_ips
            .insert(instance.to_string(), ip.map(str::to_string));
    }

    /// Sets the IP address reported for every instance not given one with
    /// [`Self::set_private_ip`] (`None`, the default: each gets [`Self::private_ip_for`]).
    pub fn set_default_private_ip(&self, ip: Option<&str>) {
        self.lock().default_private_ip = ip.map(str::to_string);
    }

    /// The private IP [`LocalAws`] reports for an instance nothing was set for: an address in
    /// `10.0.0.0/8` derived from the instance id, stable across runs.
    #[must_use]
    pub fn private_ip_for(instance_id: &str) -> String {
        let hash = fnv1a(instance_id);
        format!(
            "10.{}.{}.{}",
            (hash >> 16) & 0xff,
            (hash >> 8) & 0xff,
            (hash & 0xff).max(1)
        )
    }

    /// Sets the lifecycle state `DescribeAutoScalingInstances` reports for an instance.
    pub fn set_lifecycle_state(&self, instance_id: &str, state: &str) {
        self.lock()
            .lifecycle_states
            .insert(instance_id.to_string(), state.to_string());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The command id [`LocalAws`] gives a command with this comment tag.
    #[must_use]
    pub fn command_id_for(tag: &str) -> String {
        format!("cmd-{:016x}", fnv1a(tag))
    }
}

/// FNV-1a: stable across runs and platforms, unlike `DefaultHasher`.
fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A lifecycle action's identity: group, hook, and the token (or the instance without one).
fn action_key(
    group: &str,
    hook: &str,
    token: Option<&String>,
    instance_id: &str,
) -> (String, String, String) {
    let id = token.map_or(instance_id, String::as_str);
    (group.to_string(), hook.to_string(), id.to_string())
}

/// What Auto Scaling answers for an action already completed or timed out.
fn no_active_action(operation: &str) -> AwsError {
    AwsError {
        operation: operation.into(),
        kind: AwsErrorKind::NoActiveLifecycleAction,
        code: "ValidationError".into(),
        message: "No active Lifecycle Action found with token".into(),
    }
}

#[async_trait]
impl AutoScalingApi for LocalAws {
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "CompleteLifecycleAction",
            input: serde_json::to_value(input).unwrap_or(Value::Null),
        });
        let key = action_key(
            &input.group,
            &input.hook,
            input.token.as_ref(),
            &input.instance_id,
        );
        if state.completed.insert(key) {
            Ok(())
        } else {
            Err(no_active_action("CompleteLifecycleAction"))
        }
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "RecordLifecycleActionHeartbeat",
            input: serde_json::to_value(input).unwrap_or(Value::Null),
        });
        let key = action_key(
            &input.group,
            &input.hook,
            input.token.as_ref(),
            &input.instance_id,
        );
        if state.completed.contains(&key) {
            return Err(no_active_action("RecordLifecycleActionHeartbeat"));
        }
        Ok(())
    }

    async fn heartbeat_timeout(
        &self,
        group: &str,
        hook: &str,
    ) -> Result<Option<std::time::Duration>, AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "DescribeLifecycleHooks",
            input: json!({"group": group, "hook": hook}),
        });
        Ok(state
            .hook_timeouts
            .get(&(group.to_string(), hook.to_string()))
            .copied())
    }

    async fn waiting_instances(&self, group: &str) -> Result<Vec<WaitingInstance>, AwsError> {
        let mut state = self.lock();
        let Some((waiting, _)) = state.groups.get(group).cloned() else {
            return Ok(Vec::new());
        };
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "DescribeAutoScalingGroups",
            input: json!({"group": group}),
        });
        Ok(waiting)
    }

    async fn lifecycle_state(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let mut state = self.lock();
        let Some(known) = state.lifecycle_states.get(instance_id).cloned() else {
            return Ok(None);
        };
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "DescribeAutoScalingInstances",
            input: json!({"instance_ids": [instance_id]}),
        });
        Ok(Some(known))
    }

    async fn lifecycle_hooks(&self, group: &str) -> Result<Vec<LifecycleHook>, AwsError> {
        let mut state = self.lock();
        let Some((_, hooks)) = state.groups.get(group).cloned() else {
            return Ok(Vec::new());
        };
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "DescribeLifecycleHooks",
            input: json!({"group": group}),
        });
        Ok(hooks)
    }

    async fn group_members(
        &self,
        instance_ids: &[String],
    ) -> Result<Option<BTreeSet<String>>, AwsError> {
        let mut state = self.lock();
        let Some(members) = state.members.clone() else {
            return Ok(None);
        };
        state.calls.push(RecordedCall {
            service: "autoscaling",
            operation: "DescribeAutoScalingInstances",
            input: json!({"instance_ids": instance_ids}),
        });
        Ok(Some(
            instance_ids
                .iter()
                .filter(|i| members.contains(*i))
                .cloned()
                .collect(),
        ))
    }
}

#[async_trait]
impl SsmApi for LocalAws {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "ssm",
            operation: "SendCommand",
            input: serde_json::to_value(input).unwrap_or(Value::Null),
        });
        let id = Self::command_id_for(&input.comment);
        state
            .commands_by_instance
            .entry(input.instance_id.clone())
            .or_default()
            .push(id.clone());
        state.commands.insert(
            id.clone(),
            (
                input.instance_id.clone(),
                input.comment.clone(),
                input.document.clone(),
            ),
        );
        Ok(id)
    }

    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "ssm",
            operation: "ListCommands",
            input: json!({"instance_id": instance_id, "tag": tag}),
        });
        let ids = state.commands_by_instance.get(instance_id);
        Ok(ids.into_iter().flatten().find_map(|id| {
            let (_, comment, _) = state.commands.get(id)?;
            comment.ends_with(&format!("[{tag}]")).then(|| id.clone())
        }))
    }

    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "ssm",
            operation: "GetCommandInvocation",
            input: json!({"command_id": command_id, "instance_id": instance_id}),
        });
        if !state.commands.contains_key(command_id) {
            return Err(AwsError {
                operation: "GetCommandInvocation".into(),
                kind: AwsErrorKind::Permanent,
                code: "InvocationDoesNotExist".into(),
                message: format!("no invocation of {command_id} on {instance_id}"),
            });
        }
        let status = state
            .command_status
            .get(command_id)
            .cloned()
            .unwrap_or_else(|| "InProgress".into());
        Ok(CommandInvocation {
            command_id: command_id.to_string(),
            instance_id: instance_id.to_string(),
            status,
        })
    }

    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let mut state = self.lock();
        state.calls.push(RecordedCall {
            service: "ssm",
            operation: "DescribeInstanceInformation",
            input: json!({"instance_id": instance_id}),
        });
        Ok(match state.private_ips.get(instance_id) {
            Some(ip) => ip.clone(),
            None => Some(
                state
                    .default_private_ip
                    .clone()
                    .unwrap_or_else(|| Self::private_ip_for(instance_id)),
            ),
        })
    }
}
