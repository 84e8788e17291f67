//! Real SDK clients whose HTTP layer answers from `aws-smithy-mocks` rules: what reaches them is
//! what would reach AWS.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sdk::{MAX_ATTEMPTS, autoscaling_config, ssm_config};
use crate::{SdkAutoScaling, SdkSsm, SqsDeadLetters};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ssm::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client};

/// A shared configuration like the Lambda's, with fast backoff so retries do not slow tests.
#[must_use]
pub fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", "secret", None, None, "tests",
        )))
        .http_client(create_mock_http_client())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
        .build()
}

/// An interceptor answering from the first of `rules` that matches each request.
#[must_use]
pub fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny),
        |i, r| i.with_rule(r),
    )
}

/// The Auto Scaling adapter over a client answering from `rules`.
#[must_use]
pub fn autoscaling(rules: &[&Rule]) -> SdkAutoScaling {
    let conf = autoscaling_config(&sdk_config()).interceptor(interceptor(rules));
    SdkAutoScaling::new(aws_sdk_autoscaling::Client::from_conf(conf.build()))
}

/// The SSM adapter over a client answering from `rules`.
#[must_use]
pub fn ssm(rules: &[&Rule]) -> SdkSsm {
    let conf = ssm_config(&sdk_config()).interceptor(interceptor(rules));
    SdkSsm::new(aws_sdk_ssm::Client::from_conf(conf.build()))
}

/// The dead-letter queue adapter over a client answering from `rules`.
#[must_use]
pub fn dead_letters(rules: &[&Rule], queue_url: &str) -> SqsDeadLetters {
    let sdk = sdk_config();
    let conf = aws_sdk_sqs::config::Builder::from(&sdk).interceptor(interceptor(rules));
    SqsDeadLetters::new(aws_sdk_sqs::Client::from_conf(conf.build()), queue_url)
}

/// The inputs a rule saw, in order.
#[derive(Clone)]
pub struct Seen<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T: Clone> Seen<T> {
    /// Records one input.
    ///
    /// # Panics
    /// When another thread panicked while recording.
    pub fn push(&self, value: &T) {
        self.0.lock().unwrap().push(value.clone());
    }
    /// Every input so far, in order.
    ///
    /// # Panics
    /// When another thread panicked while recording.
    #[must_use]
    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// The handler's AWS clients: the SDK adapters over clients answering from
/// `autoscaling_rules` and `ssm_rules`.
#[must_use]
pub fn clients(autoscaling_rules: &[&Rule], ssm_rules: &[&Rule]) -> asg_lifecycle::aws::AwsClients {
    let sdk = sdk_config();
    crate::aws_clients_from(
        aws_sdk_autoscaling::Client::from_conf(
            autoscaling_config(&sdk)
                .interceptor(interceptor(autoscaling_rules))
                .build(),
        ),
        aws_sdk_ssm::Client::from_conf(
            ssm_config(&sdk).interceptor(interceptor(ssm_rules)).build(),
        ),
    )
}
