//! Decoding errors.

use serde_json::Value;

/// Why an invocation or event could not be decoded. Never retryable: the same bytes fail again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The payload is not JSON.
    #[error("failed to parse the payload as JSON: {message}")]
    Json {
        /// The parser's message.
        message: String,
    },
    /// The event is not a JSON object.
    #[error("failed to decode the event: expected a JSON object, found {found}")]
    NotAnObject {
        /// The JSON kind found.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("failed to decode the event: missing field `{field}`")]
    MissingField {
        /// The field's path.
        field: &'static str,
    },
    /// A field has a value of the wrong shape.
    #[error("failed to decode the event: field `{field}`: {message}")]
    InvalidField {
        /// The field's path.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The `source` is none of the three accepted ones.
    #[error(
        "failed to decode the event: unknown source `{source_name}` (expected aws.autoscaling, aws.ssm or aws.events)"
    )]
    UnknownSource {
        /// The source found.
        source_name: String,
    },
    /// The `detail-type` is not one this source sends that we handle.
    #[error(
        "failed to decode the event: unknown detail-type `{detail_type}` for source `{source_name}`"
    )]
    UnknownDetailType {
        /// The event source.
        source_name: String,
        /// The detail-type found.
        detail_type: String,
    },
    /// A lifecycle transition other than launching or terminating.
    #[error("failed to decode the event: unknown LifecycleTransition `{value}`")]
    UnknownTransition {
        /// The value found.
        value: String,
    },
    /// An SSM status value outside the documented set.
    #[error("failed to decode the event: unknown command status `{value}`")]
    UnknownStatus {
        /// The value found.
        value: String,
    },
    /// The envelope is none of EventBridge, SNS or SQS.
    #[error("failed to decode the invocation: {message}")]
    UnknownEnvelope {
        /// What was found.
        message: String,
    },
    /// A record inside an SNS or SQS envelope failed to decode.
    #[error("failed to decode record {index} of the {envelope} envelope: {inner}")]
    InRecord {
        /// `SNS` or `SQS`.
        envelope: &'static str,
        /// The record's index.
        index: usize,
        /// The record's own error.
        #[source]
        inner: Box<DecodeError>,
    },
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
