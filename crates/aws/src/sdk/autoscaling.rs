//! [`AutoScalingApi`] over `aws_sdk_autoscaling`.

use async_trait::async_trait;

use super::errors::from_sdk_error;
use asg_lifecycle::aws::{
    AutoScalingApi, AwsError, CompleteLifecycleAction, LifecycleHeartbeat, LifecycleHook,
    WaitingInstance,
};
use asg_lifecycle::event::LifecycleTransition;
use aws_sdk_autoscaling::types::LifecycleState;

/// Auto Scaling through the AWS SDK.
///
/// A lifecycle action is addressed by its token when known, otherwise by the instance id (both
/// are accepted by the API; the token is preferred because it names one action exactly).
///
/// # Errors
/// Every call maps SDK errors with the crate's classification: "No active Lifecycle Action found"
/// becomes [`AwsErrorKind::NoActiveLifecycleAction`](asg_lifecycle::aws::AwsErrorKind), throttling and
/// server faults are retryable, the rest permanent.
#[derive(Clone, Debug)]
pub struct SdkAutoScaling {
    client: aws_sdk_autoscaling::Client,
}

impl SdkAutoScaling {
    /// Wraps a client, built once (e.g. by
    /// [`aws_clients`](crate::aws_clients)).
    #[must_use]
    pub fn new(client: aws_sdk_autoscaling::Client) -> Self {
        Self { client }
    }

    /// The wrapped client.
    #[must_use]
    pub fn client(&self) -> &aws_sdk_autoscaling::Client {
        &self.client
    }
}

#[async_trait]
impl AutoScalingApi for SdkAutoScaling {
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .complete_lifecycle_action()
            .auto_scaling_group_name(&input.group)
            .lifecycle_hook_name(&input.hook)
            .lifecycle_action_result(&input.result);
        let request = match &input.token {
            Some(token) => request.lifecycle_action_token(token),
            None => request.instance_id(&input.instance_id),
        };
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk_error("CompleteLifecycleAction", &e))
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(&input.group)
            .lifecycle_hook_name(&input.hook);
        let request = match &input.token {
            Some(token) => request.lifecycle_action_token(token),
            None => request.instance_id(&input.instance_id),
        };
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| from_sdk_error("RecordLifecycleActionHeartbeat", &e))
    }

    async fn heartbeat_timeout(
        &self,
        group: &str,
        hook: &str,
    ) -> Result<Option<std::time::Duration>, AwsError> {
        let output = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(group)
            .lifecycle_hook_names(hook)
            .send()
            .await
            .map_err(|e| from_sdk_error("DescribeLifecycleHooks", &e))?;
        Ok(output
            .lifecycle_hooks()
            .iter()
            .find(|h| h.lifecycle_hook_name() == Some(hook))
            .and_then(|h| h.heartbeat_timeout())
            .and_then(|seconds| u64::try_from(seconds).ok())
            .map(std::time::Duration::from_secs))
    }

    async fn waiting_instances(&self, group: &str) -> Result<Vec<WaitingInstance>, AwsError> {
        let mut waiting = Vec::new();
        let mut has_warm_pool = false;
        let mut pages = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| from_sdk_error("DescribeAutoScalingGroups", &e))?;
            for asg in page
                .auto_scaling_groups()
                .iter()
                .filter(|g| g.auto_scaling_group_name() == Some(group))
            {
                has_warm_pool |= asg.warm_pool_configuration().is_some();
                let reuse = asg
                    .warm_pool_configuration()
                    .and_then(|w| w.instance_reuse_policy())
                    .and_then(|p| p.reuse_on_scale_in())
                    .unwrap_or(false);
                waiting.extend(asg.instances().iter().filter_map(|instance| {
                    held(instance.instance_id(), instance.lifecycle_state(), reuse)
                }));
            }
        }
        if has_warm_pool {
            // Instances on their way into the warm pool are listed by DescribeWarmPool only.
            let mut next: Option<String> = None;
            loop {
                let output = self
                    .client
                    .describe_warm_pool()
                    .auto_scaling_group_name(group)
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| from_sdk_error("DescribeWarmPool", &e))?;
                waiting.extend(output.instances().iter().filter_map(|instance| {
                    held(instance.instance_id(), instance.lifecycle_state(), false)
                }));
                match output.next_token() {
                    Some(token) if !token.is_empty() => next = Some(token.to_string()),
                    _ => break,
                }
            }
        }
        Ok(waiting)
    }

    async fn lifecycle_state(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        let output = self
            .client
            .describe_auto_scaling_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| from_sdk_error("DescribeAutoScalingInstances", &e))?;
        Ok(output
            .auto_scaling_instances()
            .iter()
            .find(|i| i.instance_id() == Some(instance_id))
            .and_then(|i| i.lifecycle_state())
            .map(str::to_string))
    }

    async fn lifecycle_hooks(&self, group: &str) -> Result<Vec<LifecycleHook>, AwsError> {
        let output = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(group)
            .send()
            .await
            .map_err(|e| from_sdk_error("DescribeLifecycleHooks", &e))?;
        Ok(output
            .lifecycle_hooks()
            .iter()
            .filter_map(|h| {
                Some(LifecycleHook {
                    name: h.lifecycle_hook_name()?.to_string(),
                    transition: LifecycleTransition::from_api_name(h.lifecycle_transition()?)
                        .ok()?,
                    heartbeat_timeout: h
                        .heartbeat_timeout()
                        .and_then(|seconds| u64::try_from(seconds).ok())
                        .map(std::time::Duration::from_secs),
                })
            })
            .collect())
    }

    async fn group_members(
        &self,
        instance_ids: &[String],
    ) -> Result<Option<std::collections::BTreeSet<String>>, AwsError> {
        let mut members = std::collections::BTreeSet::new();
        // DescribeAutoScalingInstances takes at most 50 instance ids per call.
        for chunk in instance_ids.chunks(50) {
            let output = self
                .client
                .describe_auto_scaling_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| from_sdk_error("DescribeAutoScalingInstances", &e))?;
            members.extend(
                output
                    .auto_scaling_instances()
                    .iter()
                    .filter_map(|i| i.instance_id().map(str::to_string)),
            );
        }
        Ok(Some(members))
    }
}

/// An instance a hook holds, from its lifecycle state (`reuse`: the group returns scaled-in
/// instances to its warm pool); `None` for any other state.
fn held(
    instance_id: Option<&str>,
    state: Option<&LifecycleState>,
    reuse: bool,
) -> Option<WaitingInstance> {
    let (transition, destination) = match state? {
        LifecycleState::PendingWait => (LifecycleTransition::Launching, "AutoScalingGroup"),
        LifecycleState::TerminatingWait => (
            LifecycleTransition::Terminating,
            if reuse { "WarmPool" } else { "EC2" },
        ),
        LifecycleState::WarmedPendingWait => (LifecycleTransition::Launching, "WarmPool"),
        LifecycleState::WarmedTerminatingWait => (LifecycleTransition::Terminating, "EC2"),
        _ => return None,
    };
    Some(WaitingInstance {
        instance_id: instance_id?.to_string(),
        transition,
        destination: Some(destination.to_string()),
    })
}
