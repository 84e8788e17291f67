//! JSON responses (`json`, `rest-json`): the body read through the output shape, REST members
//! from headers and the status; errors from `x-amzn-errortype` or the body's `__type`/`code`.

use serde_json::{Map, Value};

use super::super::model::{ServiceModel, ShapeType};
use super::super::{Error, Result, timestamp};
use super::Response;

pub(super) fn parse_output(
    model: &ServiceModel,
    shape_name: &str,
    response: &Response,
) -> Result<Value> {
    let body: Value = if response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&response.body).map_err(|e| Error::ParseResponse {
            reason: format!("the body is not JSON: {e}"),
        })?
    };
    let shape = model.shape(shape_name)?;
    let mut out = Map::new();
    if let Some(payload) = &shape.payload {
        if let Some(member) = shape.members.get(payload) {
            out.insert(payload.clone(), convert(model, &member.shape, &body)?);
        }
        return Ok(Value::Object(out));
    }
    for (name, member) in &shape.members {
        let wire = member.location_name.as_deref().unwrap_or(name);
        match member.location.as_deref() {
            Some("header") => {
                if let Some(text) = response.header(wire) {
                    out.insert(name.clone(), scalar(model, &member.shape, text)?);
                }
            }
            Some("headers") => {
                let prefix = wire.to_ascii_lowercase();
                let entries: Map<String, Value> = response
                    .headers
                    .iter()
                    .filter_map(|(k, v)| {
                        k.to_ascii_lowercase()
                            .strip_prefix(&prefix)
                            .map(|rest| (rest.to_string(), Value::String(v.clone())))
                    })
                    .collect();
                if !entries.is_empty() {
                    out.insert(name.clone(), Value::Object(entries));
                }
            }
            Some("statusCode") => {
                out.insert(name.clone(), Value::from(response.status));
            }
            _ => {
                if let Some(value) = body.get(wire) {
                    out.insert(name.clone(), convert(model, &member.shape, value)?);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// A header's text as the member's type.
fn scalar(model: &ServiceModel, shape_name: &str, text: &str) -> Result<Value> {
    Ok(match model.shape(shape_name)?.kind {
        ShapeType::Integer | ShapeType::Long => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        ShapeType::Boolean => Value::Bool(text == "true"),
        ShapeType::Timestamp => {
            Value::String(timestamp::parse(text).map_or_else(|| text.into(), timestamp::render))
        }
        _ => Value::String(text.into()),
    })
}

/// A body value through its shape: modelled members only, timestamps as text.
pub(super) fn convert(model: &ServiceModel, shape_name: &str, value: &Value) -> Result<Value> {
    let shape = model.shape(shape_name)?;
    Ok(match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(map)) if !shape.document => {
            let mut out = Map::new();
            for (name, member) in &shape.members {
                let wire = member.location_name.as_deref().unwrap_or(name);
                if let Some(item) = map.get(wire) {
                    out.insert(name.clone(), convert(model, &member.shape, item)?);
                }
            }
            Value::Object(out)
        }
        (ShapeType::List, Value::Array(items)) => match &shape.member {
            Some(member) => Value::Array(
                items
                    .iter()
                    .map(|i| convert(model, &member.shape, i))
                    .collect::<Result<_>>()?,
            ),
            None => value.clone(),
        },
        (ShapeType::Map, Value::Object(map)) => match &shape.value {
            Some(member) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), convert(model, &member.shape, v)?)))
                    .collect::<Result<_>>()?,
            ),
            None => value.clone(),
        },
        (ShapeType::Timestamp, _) => timestamp::from_value(value)
            .map_or_else(|| value.clone(), |t| Value::String(timestamp::render(t))),
        _ => value.clone(),
    })
}

/// The code and message of a JSON error response.
pub(super) fn parse_error(response: &Response) -> (Option<String>, Option<String>) {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| body.get(*k).and_then(Value::as_str))
            .map(ToString::to_string)
    };
    let code = response
        .header("x-amzn-errortype")
        .map(ToString::to_string)
        .or_else(|| text(&["__type", "code", "Code"]))
        .map(|code| clean_code(&code));
    (code, text(&["message", "Message", "errorMessage"]))
}

/// `aws.dynamodb#ResourceNotFoundException:http://...` → `ResourceNotFoundException`.
fn clean_code(code: &str) -> String {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim().to_string()
}
