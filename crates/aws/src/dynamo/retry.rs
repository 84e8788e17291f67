//! Retrying throttled and transient DynamoDB requests with a bounded exponential backoff.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use asg_lifecycle::store::StoreError;

/// How throttled and transient requests are retried.
///
/// Build the client without the SDK's own retries ([`super::client_config`] does) so that this
/// is the only retry layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub base_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            // The SDK's standard mode also makes 3 attempts; 5 rides out a short throttling burst
            // while staying far inside a Lambda invocation (at most ~1.5 s of waiting).
            max_attempts: 5,
            // DynamoDB's own guidance starts retries in the tens of milliseconds.
            base_delay: Duration::from_millis(50),
            // Keeps a single store call from eating the invocation's deadline.
            max_delay: Duration::from_millis(800),
        }
    }
}

impl RetryPolicy {
    /// No retries at all (tests of the error mapping).
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before retry number `retry` (1-based): exponential, capped, with full jitter
    /// in its upper half so that concurrent handlers do not retry in lockstep.
    #[must_use]
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        half + half.mul_f64(rand::random::<f64>())
    }
}

/// How a failed request is handled.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// `ConditionalCheckFailedException`.
    Conflict,
    /// Throttling, a 5xx, a timeout or a broken connection: worth retrying.
    Transient(String),
    /// Anything else.
    Permanent(String),
}

/// Error codes DynamoDB answers when it is throttling or briefly unable to serve.
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Classifies an SDK error.
pub(super) fn classify<E>(error: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = DisplayErrorContext(error).to_string();
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            if code == "ConditionalCheckFailedException" {
                Failure::Conflict
            } else if TRANSIENT_CODES.contains(&code) || status >= 500 {
                Failure::Transient(message)
            } else {
                Failure::Permanent(message)
            }
        }
        SdkError::TimeoutError(_) => Failure::Transient(message),
        SdkError::DispatchFailure(dispatch) => match dispatch.as_connector_error() {
            Some(c) if c.is_io() || c.is_timeout() => Failure::Transient(message),
            _ => Failure::Permanent(message),
        },
        SdkError::ResponseError(response) if response.raw().status().as_u16() >= 500 => {
            Failure::Transient(message)
        }
        _ => Failure::Permanent(message),
    }
}

/// Runs a request, retrying transient failures; maps the final failure to a [`StoreError`].
pub(super) async fn retrying<T, E, F, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    ident: &str,
    mut request: F,
) -> Result<T, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E>>>,
{
    let mut attempt = 1;
    loop {
        let error = match request().await {
            Ok(output) => return Ok(output),
            Err(e) => e,
        };
        match classify(&error) {
            Failure::Conflict => {
                return Err(StoreError::Conflict {
                    ident: ident.to_string(),
                });
            }
            Failure::Permanent(message) => {
                return Err(StoreError::Other {
                    message: format!("{operation} `{ident}`: {message}"),
                });
            }
            Failure::Transient(message) if attempt >= policy.max_attempts => {
                return Err(StoreError::Unavailable {
                    message: format!("{operation} `{ident}` after {attempt} attempts: {message}"),
                });
            }
            Failure::Transient(message) => {
                let delay = policy.delay(attempt);
                tracing::debug!(operation, ident, attempt, ?delay, error = %message, "transient store error: retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_under_the_cap() {
        let policy = RetryPolicy::default();
        for retry in 1..=10 {
            let d = policy.delay(retry);
            assert!(d <= policy.max_delay, "{d:?}");
        }
        assert!(policy.delay(1) <= policy.base_delay);
        assert!(policy.delay(10) >= policy.max_delay / 2);
    }
}
