//! Mapping SDK errors onto [`AwsError`].
//!
//! The SDK has already retried what its standard retry strategy considers retryable when one of
//! these errors reaches us; the mapping only tells the handler how to treat what is left.

use aws_sdk_ssm::config::http::HttpResponse;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use asg_lifecycle::aws::{AwsError, AwsErrorKind};

/// The text Auto Scaling puts in the `ValidationError` it answers when the lifecycle action was
/// already completed, abandoned or timed out.
const NO_ACTIVE_LIFECYCLE_ACTION: &str = "no active lifecycle action found";

/// Error codes meaning "slow down" across Auto Scaling (awsQuery) and SSM (awsJson).
/// SSM's answer for an instance its agent has not registered (yet).
const INSTANCE_NOT_READY_CODE: &str = "InvalidInstanceId";

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyUpdates",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "TooManyRequestsException",
    // Auto Scaling: "You already have a pending update to an Auto Scaling resource".
    "ResourceContention",
];

/// Error codes of server-side faults that a later attempt may not meet.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an error from its code, message and HTTP status.
///
/// "No active Lifecycle Action found" (a `ValidationError` from Auto Scaling) wins over everything
/// else; then throttling codes, then transient codes or a 5xx status; anything else is permanent.
#[must_use]
pub fn classify(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> AwsErrorKind {
    if message.is_some_and(|m| m.to_ascii_lowercase().contains(NO_ACTIVE_LIFECYCLE_ACTION)) {
        return AwsErrorKind::NoActiveLifecycleAction;
    }
    if let Some(code) = code {
        if code == INSTANCE_NOT_READY_CODE {
            return AwsErrorKind::InstanceNotReady;
        }
        if THROTTLING_CODES.contains(&code) || status == Some(429) {
            return AwsErrorKind::Throttled;
        }
        if TRANSIENT_CODES.contains(&code) {
            return AwsErrorKind::Transient;
        }
    }
    match status {
        Some(429) => AwsErrorKind::Throttled,
        Some(500..=599) => AwsErrorKind::Transient,
        _ => AwsErrorKind::Permanent,
    }
}

/// Maps the error of one SDK call, keeping the service's code and message.
///
/// Timeouts and dispatch failures (connection refused, reset, DNS) are transient, except a
/// dispatch failure the connector blames on the caller (e.g. an invalid endpoint), which is
/// permanent. Errors without a service code get a descriptive one (`TimeoutError`,
/// `DispatchFailure`, `ResponseError`, `ConstructionFailure`).
pub(crate) fn from_sdk_error<E>(operation: &str, error: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let text = DisplayErrorContext(error).to_string();
    let status = error.raw_response().map(|r| r.status().as_u16());
    let (kind, code, message) = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let kind = classify(err.code(), err.message(), status);
            let code = err
                .code()
                .map_or_else(|| format!("HTTP {}", status.unwrap_or(0)), str::to_string);
            let message = err
                .message()
                .map_or_else(|| DisplayErrorContext(err).to_string(), str::to_string);
            (kind, code, message)
        }
        SdkError::TimeoutError(_) => (AwsErrorKind::Transient, "TimeoutError".into(), text),
        SdkError::DispatchFailure(failure) => {
            let kind = if failure.is_user() {
                AwsErrorKind::Permanent
            } else {
                AwsErrorKind::Transient
            };
            (kind, "DispatchFailure".into(), text)
        }
        SdkError::ResponseError(_) => (classify(None, None, status), "ResponseError".into(), text),
        SdkError::ConstructionFailure(_) => {
            (AwsErrorKind::Permanent, "ConstructionFailure".into(), text)
        }
        _ => (AwsErrorKind::Permanent, "Unknown".into(), text),
    };
    AwsError {
        operation: operation.to_string(),
        kind,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_active_lifecycle_action_is_recognised_by_its_message() {
        let kind = classify(
            Some("ValidationError"),
            Some("No active Lifecycle Action found with instance ID i-0123"),
            Some(400),
        );
        assert_eq!(kind, AwsErrorKind::NoActiveLifecycleAction);
    }

    #[test]
    fn other_validation_errors_are_permanent() {
        let kind = classify(Some("ValidationError"), Some("Group not found"), Some(400));
        assert_eq!(kind, AwsErrorKind::Permanent);
    }

    #[test]
    fn every_throttling_code_is_throttled() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "TooManyUpdates",
            "RequestLimitExceeded",
            "ThrottledException",
        ] {
            assert_eq!(
                classify(Some(code), Some("Rate exceeded"), Some(400)),
                AwsErrorKind::Throttled,
                "{code}"
            );
        }
    }

    #[test]
    fn server_errors_are_transient_and_client_errors_permanent() {
        assert_eq!(classify(None, None, Some(500)), AwsErrorKind::Transient);
        assert_eq!(
            classify(Some("InternalServerError"), None, Some(400)),
            AwsErrorKind::Transient
        );
        assert_eq!(classify(None, None, Some(429)), AwsErrorKind::Throttled);
        assert_eq!(
            classify(Some("InvalidDocument"), None, Some(400)),
            AwsErrorKind::Permanent
        );
    }

    #[test]
    fn an_instance_ssm_does_not_know_yet_is_not_ready_rather_than_permanent() {
        assert_eq!(
            classify(Some("InvalidInstanceId"), None, Some(400)),
            AwsErrorKind::InstanceNotReady
        );
    }
}
