//! The `json` protocol (DynamoDB, SSM, ECS): `POST /`, `X-Amz-Target: PREFIX.Operation`, the
//! input as a JSON body (timestamps as epoch seconds, blobs base64).

use serde_json::{Map, Value};

use super::super::model::{OperationModel, ServiceModel, ShapeType};
use super::super::timestamp;
use super::super::{Error, Result};
use super::Request;

pub(super) fn serialize(
    model: &ServiceModel,
    op: &OperationModel,
    input: &Value,
) -> Result<Request> {
    let metadata = model.metadata();
    let target = format!(
        "{}.{}",
        metadata.target_prefix.as_deref().unwrap_or_default(),
        op.name
    );
    let version = metadata.json_version.as_deref().unwrap_or("1.0");
    let body = match &op.input {
        Some(input_ref) => json_value(model, &input_ref.shape, input, "")?,
        None => Value::Object(Map::new()),
    };
    Ok(Request {
        method: op.http.method.clone(),
        path: "/".into(),
        headers: vec![
            ("X-Amz-Target".into(), target),
            (
                "Content-Type".into(),
                format!("application/x-amz-json-{version}"),
            ),
        ],
        body: serde_json::to_vec(&body).map_err(|e| Error::Serialize {
            path: String::new(),
            reason: e.to_string(),
        })?,
    })
}

/// `value` of shape `shape_name` as the JSON body carries it: members under their wire names,
/// timestamps as epoch seconds (or the member's `timestampFormat`), blobs base64.
pub(crate) fn json_value(
    model: &ServiceModel,
    shape_name: &str,
    value: &Value,
    path: &str,
) -> Result<Value> {
    json_value_with_format(model, shape_name, None, value, path)
}

fn json_value_with_format(
    model: &ServiceModel,
    shape_name: &str,
    format: Option<&str>,
    value: &Value,
    path: &str,
) -> Result<Value> {
    let shape = model.shape(shape_name)?;
    Ok(match (shape.kind, value) {
        (ShapeType::Structure, Value::Object(map)) if !shape.document => {
            let mut out = Map::new();
            for (key, item) in map {
                let Some(member) = shape.members.get(key) else {
                    continue;
                };
                let name = member.location_name.as_deref().unwrap_or(key);
                let format = member
                    .timestamp_format
                    .as_deref()
                    .or(shape.timestamp_format.as_deref());
                let child = format!("{path}.{key}");
                out.insert(
                    name.to_string(),
                    json_value_with_format(model, &member.shape, format, item, &child)?,
                );
            }
            Value::Object(out)
        }
        (ShapeType::List, Value::Array(items)) => {
            let member = shape.member.as_ref().map(|m| m.shape.as_str());
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(match member {
                    Some(member) => {
                        json_value_with_format(model, member, None, item, &format!("{path}[{i}]"))?
                    }
                    None => item.clone(),
                });
            }
            Value::Array(out)
        }
        (ShapeType::Map, Value::Object(map)) => {
            let mut out = Map::new();
            for (key, item) in map {
                let item = match &shape.value {
                    Some(v) => json_value_with_format(
                        model,
                        &v.shape,
                        None,
                        item,
                        &format!("{path}.{key}"),
                    )?,
                    None => item.clone(),
                };
                out.insert(key.clone(), item);
            }
            Value::Object(out)
        }
        (ShapeType::Timestamp, _) => {
            let time = timestamp::from_value(value).ok_or_else(|| Error::Serialize {
                path: path.trim_start_matches('.').to_string(),
                reason: "not a timestamp".into(),
            })?;
            let format = format.or(shape.timestamp_format.as_deref());
            match format {
                Some("iso8601") => Value::String(timestamp::iso8601(time)),
                Some("rfc822") => Value::String(time.to_rfc2822()),
                _ => timestamp::epoch(time),
            }
        }
        (ShapeType::Blob, Value::String(text)) => {
            Value::String(aws_smithy_types::base64::encode(text.as_bytes()))
        }
        _ => value.clone(),
    })
}
