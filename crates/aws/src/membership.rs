//! [`GroupMembership`] through Auto Scaling's `DescribeAutoScalingGroups`.

use asg_lifecycle::status::{GroupMembership, MembershipError};
use async_trait::async_trait;
use aws_sdk_autoscaling::error::{ProvideErrorMetadata, SdkError};

/// [`GroupMembership`] through `DescribeAutoScalingGroups`.
#[derive(Clone, Debug)]
pub struct AutoScalingMembership {
    client: aws_sdk_autoscaling::Client,
}

impl AutoScalingMembership {
    /// Uses `client` for every request.
    #[must_use]
    pub fn new(client: aws_sdk_autoscaling::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl GroupMembership for AutoScalingMembership {
    async fn members(&self, group: &str) -> Result<Vec<String>, MembershipError> {
        let output = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| {
                let retryable = match &e {
                    SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
                    SdkError::ServiceError(s) => {
                        s.raw().status().is_server_error()
                            || s.err().is_resource_contention_fault()
                            || e.code().is_some_and(|c| c.contains("Throttl"))
                    }
                    _ => false,
                };
                let message = match (e.code(), e.message()) {
                    (Some(code), Some(message)) => format!("{code}: {message}"),
                    _ => aws_sdk_autoscaling::error::DisplayErrorContext(&e).to_string(),
                };
                MembershipError::Request {
                    group: group.to_string(),
                    message,
                    retryable,
                }
            })?;
        let found = output
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(group))
            .ok_or_else(|| MembershipError::GroupNotFound {
                group: group.to_string(),
            })?;
        Ok(found
            .instances()
            .iter()
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_autoscaling::operation::describe_auto_scaling_groups::{
        DescribeAutoScalingGroupsError, DescribeAutoScalingGroupsOutput,
    };
    use aws_sdk_autoscaling::types::{AutoScalingGroup, Instance};
    use aws_smithy_mocks::{Rule, RuleMode, mock};

    fn client(rules: &[&Rule]) -> aws_sdk_autoscaling::Client {
        let mut interceptor =
            aws_smithy_mocks::MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_autoscaling::Config::builder()
            .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
            .region(aws_sdk_autoscaling::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
                "a", "b", None, None, "test",
            ))
            .retry_config(aws_sdk_autoscaling::config::retry::RetryConfig::disabled())
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor)
            .build();
        aws_sdk_autoscaling::Client::from_conf(config)
    }

    fn group(name: &str, instances: &[&str]) -> AutoScalingGroup {
        let mut builder = AutoScalingGroup::builder().auto_scaling_group_name(name);
        for id in instances {
            builder = builder.instances(Instance::builder().instance_id(*id).build());
        }
        builder.build()
    }

    #[tokio::test]
    async fn members_are_the_instances_of_the_named_group() {
        let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .match_requests(|r| r.auto_scaling_group_names() == ["web"])
            .then_output(|| {
                DescribeAutoScalingGroupsOutput::builder()
                    .auto_scaling_groups(group("web", &["i-1", "i-2"]))
                    .build()
            });
        let members = AutoScalingMembership::new(client(&[&rule]))
            .members("web")
            .await
            .unwrap();
        assert_eq!(members, ["i-1", "i-2"]);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_unknown_group_is_group_not_found() {
        let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups)
            .then_output(|| DescribeAutoScalingGroupsOutput::builder().build());
        let err = AutoScalingMembership::new(client(&[&rule]))
            .members("nope")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            MembershipError::GroupNotFound {
                group: "nope".into()
            }
        );
    }

    #[tokio::test]
    async fn throttling_is_a_retryable_request_error() {
        let rule =
            mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_groups).then_error(|| {
                DescribeAutoScalingGroupsError::ResourceContentionFault(
                    aws_sdk_autoscaling::types::error::ResourceContentionFault::builder()
                        .message("slow down")
                        .build(),
                )
            });
        let err = AutoScalingMembership::new(client(&[&rule]))
            .members("web")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MembershipError::Request {
                    retryable: true,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
