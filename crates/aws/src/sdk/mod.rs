//! The AWS traits over the AWS SDK for Rust: [`SdkAutoScaling`], [`SdkSsm`] and the dead-letter
//! queue ([`SqsDeadLetters`]).
//!
//! Build the clients once per process (in `main`, before the Lambda loop) and hand them to the
//! handler: [`aws_clients`] when the caller already loaded an `SdkConfig` (and shares it with the
//! DynamoDB store), [`aws_clients_from_env`] otherwise.
//!
//! ```no_run
//! # async fn example() {
//! use std::sync::Arc;
//! use asg_lifecycle_aws::sdk;
//! use asg_lifecycle::{LifecycleHandler, Machine, MemoryStore};
//!
//! // Once per process: the default credential chain, the region from the environment.
//! let config = sdk::load_sdk_config(None, None).await;
//! let aws = sdk::aws_clients(&config);
//! let handler = LifecycleHandler::new(
//!     Arc::new(Machine::example()),
//!     Arc::new(MemoryStore::new()),
//!     aws,
//! );
//! # }
//! ```
//!
//! # Retries and timeouts
//! The SDK retries by itself; nothing in this crate wraps its calls in another retry loop.
//! Clients use the SDK's **standard** retry mode with [`MAX_ATTEMPTS`] attempts (exponential
//! backoff with jitter, a client-side token bucket against retry storms). The SDK retries
//! throttling errors, 5xx responses, timeouts and connection failures. The one exception is
//! `SendCommand`, sent once per call because it is not idempotent (see [`SdkSsm`]). What remains
//! after the last attempt reaches the task as an [`AwsError`](asg_lifecycle::aws::AwsError) classified
//! by [`classify`]: retryable errors fail the invocation retryably with the state unchanged, so
//! the event is delivered again (or the sweep continues); permanent ones take the failure path.
//!
//! [`load_sdk_config`] also bounds every attempt ([`ATTEMPT_TIMEOUT`]) so a hung connection
//! cannot hold the Lambda until its own deadline.

mod autoscaling;
mod errors;
mod sqs;
mod ssm;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use autoscaling::SdkAutoScaling;
pub use errors::classify;
pub use sqs::{MAX_REASON_ATTRIBUTE_CHARS, SqsDeadLetters};
pub use ssm::{MAX_COMMENT_CHARS, SdkSsm};

use asg_lifecycle::aws::AwsClients;

/// Attempts per call, the first included: the SDK's standard default, stated here so that it is
/// a decision rather than an accident. More would hold the invocation longer than the event's
/// own redelivery would.
pub const MAX_ATTEMPTS: u32 = 3;

/// The bound on one attempt of one call: Auto Scaling and SSM answer these calls in well under a
/// second; 10 s leaves room for a slow answer while three attempts still fit a short Lambda.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection timeout: the SDK's default for the latest behaviour version.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// The retry configuration the clients use when the `SdkConfig` carries none: standard mode,
/// [`MAX_ATTEMPTS`] attempts.
#[must_use]
pub fn default_retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Loads the shared configuration with the default credential chain and region provider.
///
/// `endpoint_url` points every client at a local server (tests, `--endpoint-url`); `region`
/// overrides the region chain. Retries are [`default_retry_config`], each attempt bounded by
/// [`ATTEMPT_TIMEOUT`].
pub async fn load_sdk_config(endpoint_url: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(default_retry_config())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(DEFAULT_CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    loader.load().await
}

/// The Auto Scaling client configuration built from a shared configuration, with
/// [`default_retry_config`] when it carries no retry configuration.
#[must_use]
pub fn autoscaling_config(sdk: &SdkConfig) -> aws_sdk_autoscaling::config::Builder {
    let mut builder = aws_sdk_autoscaling::config::Builder::from(sdk);
    if sdk.retry_config().is_none() {
        builder = builder.retry_config(default_retry_config());
    }
    builder
}

/// The SSM client configuration built from a shared configuration, with
/// [`default_retry_config`] when it carries no retry configuration.
#[must_use]
pub fn ssm_config(sdk: &SdkConfig) -> aws_sdk_ssm::config::Builder {
    let mut builder = aws_sdk_ssm::config::Builder::from(sdk);
    if sdk.retry_config().is_none() {
        builder = builder.retry_config(default_retry_config());
    }
    builder
}

/// SDK clients for Auto Scaling and SSM from one shared configuration (its region, credentials,
/// endpoint, retry and timeout settings).
#[must_use]
pub fn aws_clients(sdk: &SdkConfig) -> AwsClients {
    aws_clients_from(
        aws_sdk_autoscaling::Client::from_conf(autoscaling_config(sdk).build()),
        aws_sdk_ssm::Client::from_conf(ssm_config(sdk).build()),
    )
}

/// SDK clients from already built SDK clients (e.g. with test interceptors).
#[must_use]
pub fn aws_clients_from(
    autoscaling: aws_sdk_autoscaling::Client,
    ssm: aws_sdk_ssm::Client,
) -> AwsClients {
    AwsClients {
        autoscaling: Arc::new(SdkAutoScaling::new(autoscaling)),
        ssm: Arc::new(SdkSsm::new(ssm)),
        extensions: Default::default(),
    }
}

/// SDK clients from [`load_sdk_config`]: the default credential chain, `endpoint_url` for a
/// local server, `region` overriding the region chain.
pub async fn aws_clients_from_env(endpoint_url: Option<&str>, region: Option<&str>) -> AwsClients {
    aws_clients(&load_sdk_config(endpoint_url, region).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn clients_retry_in_standard_mode_three_times() {
        let retry = default_retry_config();
        assert_eq!(retry.mode(), RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 3);
    }

    #[test]
    fn a_config_without_retry_settings_gets_the_default() {
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        let conf = ssm_config(&sdk).build();
        assert_eq!(
            conf.retry_config().map(RetryConfig::max_attempts),
            Some(MAX_ATTEMPTS)
        );
        let conf = autoscaling_config(&sdk).build();
        assert_eq!(
            conf.retry_config().map(RetryConfig::mode),
            Some(RetryMode::Standard)
        );
    }
}
