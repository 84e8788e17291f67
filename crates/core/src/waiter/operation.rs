//! Operations: what a waiter calls, with its input and output in the AWS API's JSON shape.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

/// An error response of the service: what the `error` and `status` matchers see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationError {
    /// The service's error code (`ResourceNotFoundException`, `InvocationDoesNotExist`, ...).
    pub code: String,
    /// The service's message.
    pub message: String,
    /// The HTTP status of the response, when there was one.
    pub http_status: Option<u16>,
}

impl OperationError {
    /// The error as botocore renders it for waiters: `{"Error": {"Code": .., "Message": ..}}`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({"Error": {"Code": self.code, "Message": self.message}})
    }
}

impl fmt::Display for OperationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(status) = self.http_status {
            write!(f, " (HTTP {status})")?;
        }
        Ok(())
    }
}

/// Why an operation produced no response for the matchers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The service answered with an error response; acceptors may match it.
    #[error("the service answered with an error: {0}")]
    Service(OperationError),
    /// The input does not fit the operation (a missing or mistyped parameter): never retried.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The request could not be made or its response not read (network, timeout, credentials).
    #[error("failed to call the operation: {0}")]
    Dispatch(String),
}

/// One API operation a waiter can call, taking and returning the API's JSON shapes.
///
/// The input uses the API's member names (`{"TableName": "t", "Key": {...}}`); the output is
/// rendered as the API documents it (`{"Item": {"ItemStatus": {"S": "ready"}}}`), which is what a
/// botocore waiter's JMESPath arguments are written against.
#[async_trait]
pub trait Operation: Send + Sync {
    /// Calls the operation once.
    ///
    /// # Errors
    /// [`CallError::Service`] for an error response, the other variants when there was none.
    async fn call(&self, input: &Value) -> Result<Value, CallError>;
}

/// Operations by API name (`GetItem`, `GetCommandInvocation`, ...), as waiter models name them.
#[derive(Clone, Default)]
pub struct Operations {
    by_name: BTreeMap<String, Arc<dyn Operation>>,
}

impl fmt::Debug for Operations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.by_name.keys()).finish()
    }
}

impl Operations {
    /// No operations.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the operation called `name`.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, operation: Arc<dyn Operation>) -> Self {
        self.by_name.insert(name.into(), operation);
        self
    }

    /// Adds (or replaces) every operation of `other`.
    #[must_use]
    pub fn merge(mut self, other: Operations) -> Self {
        self.by_name.extend(other.by_name);
        self
    }

    /// The operation called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<Arc<dyn Operation>> {
        self.by_name.get(name).cloned()
    }

    /// The names of the operations, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Reads a required string member of an operation input.
pub fn required_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, CallError> {
    match input.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(CallError::InvalidInput(format!(
            "`{key}` must be a string, got {other}"
        ))),
        None => Err(CallError::InvalidInput(format!("`{key}` is required"))),
    }
}

/// Reads an optional string member of an operation input.
pub fn optional_str<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, CallError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => required_str(input, key).map(Some),
    }
}

/// Rejects members an operation does not know (a typo must not be silently ignored).
pub fn check_members(input: &Value, known: &[&str]) -> Result<(), CallError> {
    let Some(map) = input.as_object() else {
        return Err(CallError::InvalidInput(
            "the input must be a JSON object".into(),
        ));
    };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            return Err(CallError::InvalidInput(format!(
                "unknown member `{key}` (expected one of: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}
