//! Responses into the API's JSON shape (botocore's member names, lists, maps; timestamps as
//! RFC 3339 text, blobs base64) and error responses into [`OperationError`]s, per protocol.

mod json;
mod xml;

use asg_lifecycle::waiter::OperationError;
use serde_json::{Map, Value};

use super::Result;
use super::model::{Protocol, ServiceModel};

/// A raw HTTP response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header of that name (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the service answered with an error (a status of 300 or more).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.status >= 300
    }
}

/// The output of a successful response of `operation`, in the API's JSON shape.
///
/// # Errors
/// [`super::Error::ParseResponse`] when the body is not what the protocol promises.
pub fn parse_output(model: &ServiceModel, operation: &str, response: &Response) -> Result<Value> {
    let op = model.operation(operation)?;
    let Some(output) = &op.output else {
        return Ok(Value::Object(Map::new()));
    };
    match model.protocol() {
        Protocol::Json | Protocol::RestJson => json::parse_output(model, &output.shape, response),
        Protocol::Query => xml::parse_output(
            model,
            &output.shape,
            output.result_wrapper.as_deref(),
            response,
        ),
        Protocol::Ec2 => xml::parse_output(model, &output.shape, None, response),
    }
}

/// The error of an error response: its code, message and HTTP status.
#[must_use]
pub fn parse_error(model: &ServiceModel, response: &Response) -> OperationError {
    let (code, message) = match model.protocol() {
        Protocol::Json | Protocol::RestJson => json::parse_error(response),
        Protocol::Query | Protocol::Ec2 => xml::parse_error(response),
    };
    OperationError {
        code: code.unwrap_or_else(|| response.status.to_string()),
        message: message.unwrap_or_default(),
        http_status: Some(response.status),
    }
}

#[cfg(test)]
mod tests;
