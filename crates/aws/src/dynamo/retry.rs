//! Retrying throttled and transient DynamoDB requests with a bounded exponential backoff.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use asg_lifecycle::store::StoreError;
use asg_lifecycle::wait::Backoff;

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

    /// The delays between attempts: `base_delay` doubling up to `max_delay`, each drawn from
    /// the upper half of its step so that concurrent handlers do not retry in lockstep.
    #[must_use]
    pub fn backoff(&self) -> Backoff {
        Backoff::equal_jitter(self.base_delay, self.max_delay)
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
    let mut backoff = policy.backoff();
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
                let delay = backoff.next_delay();
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
        let mut backoff = policy.backoff();
        let delays: Vec<_> = (1..=10).map(|_| backoff.next_delay()).collect();
        for d in &delays {
            assert!(*d <= policy.max_delay, "{d:?}");
        }
        assert!(delays[0] <= policy.base_delay);
        assert!(delays[9] >= policy.max_delay / 2);
    }
}
