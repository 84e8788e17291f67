//! Requests from API-shaped input, one protocol per file, as botocore's serializers write them.

mod json;
mod query;
mod rest_json;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::model::{Protocol, ServiceModel};
use super::{Error, Result};

pub(crate) use json::json_value;

/// An unsigned request: what the protocol puts on the wire for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The HTTP method.
    pub method: String,
    /// The path and query string (`/`, `/clusters/c/node-groups?maxResults=5`).
    pub path: String,
    /// Headers, besides `Host` and the signature's.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Serializes `input` (already validated) for `operation` in the model's protocol.
///
/// # Errors
/// [`Error::UnknownOperation`], [`Error::MissingShape`], or [`Error::Serialize`] for a value
/// the protocol cannot carry.
pub fn serialize(model: &ServiceModel, operation: &str, input: &Value) -> Result<Request> {
    let op = model.operation(operation)?;
    match model.protocol() {
        Protocol::Json => json::serialize(model, op, input),
        Protocol::Query => query::serialize(model, op, input, false),
        Protocol::Ec2 => query::serialize(model, op, input, true),
        Protocol::RestJson => rest_json::serialize(model, op, input),
    }
}

/// Everything but ASCII letters, digits and `-_.~` (RFC 3986 unreserved), as botocore's
/// `percent_encode`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`UNRESERVED`], keeping `/` (greedy URI labels).
const UNRESERVED_PATH: &AsciiSet = &UNRESERVED.remove(b'/');

pub(crate) fn percent_encode(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

pub(crate) fn percent_encode_path(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED_PATH).to_string()
}

/// `k=v&k=v`, both sides percent-encoded, in the given order.
pub(crate) fn encode_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A scalar as query text: strings as they are, booleans `true`/`false`, numbers as written.
pub(crate) fn scalar_text(value: &Value, path: &str) -> Result<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::Serialize {
            path: path.to_string(),
            reason: format!("expected a scalar, got {other}"),
        }),
    }
}

#[cfg(test)]
mod tests;
