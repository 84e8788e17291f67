//! [`AutoScalingApi`] over `aws_sdk_autoscaling`.

use async_trait::async_trait;

use super::errors::from_sdk_error;
use crate::aws::{AutoScalingApi, AwsError, CompleteLifecycleAction, LifecycleHeartbeat};

/// Auto Scaling through the AWS SDK.
///
/// A lifecycle action is addressed by its token when known, otherwise by the instance id (both
/// are accepted by the API; the token is preferred because it names one action exactly).
///
/// # Errors
/// Every call maps SDK errors with the crate's classification: "No active Lifecycle Action found"
/// becomes [`AwsErrorKind::NoActiveLifecycleAction`](crate::aws::AwsErrorKind), throttling and
/// server faults are retryable, the rest permanent.
#[derive(Clone, Debug)]
pub struct SdkAutoScaling {
    client: aws_sdk_autoscaling::Client,
}

impl SdkAutoScaling {
    /// Wraps a client, built once (e.g. by
    /// [`AwsClients::from_sdk_config`](crate::aws::AwsClients::from_sdk_config)).
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
}
