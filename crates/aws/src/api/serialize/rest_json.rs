//! The `rest-json` protocol (EKS): the method and URI template of the operation, members bound
//! to URI labels (`{name}`, greedy `{name+}`), the query string and headers, the rest as a JSON
//! body.

use serde_json::{Map, Value};

use super::super::model::{OperationModel, ServiceModel, ShapeType};
use super::super::timestamp;
use super::super::{Error, Result};
use super::{Request, encode_pairs, json_value, percent_encode, percent_encode_path, scalar_text};

pub(super) fn serialize(
    model: &ServiceModel,
    op: &OperationModel,
    input: &Value,
) -> Result<Request> {
    let (template, fixed_query) = match op.http.request_uri.split_once('?') {
        Some((path, query)) => (path.to_string(), Some(query.to_string())),
        None => (op.http.request_uri.clone(), None),
    };
    let mut path = template;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut body: Option<Vec<u8>> = None;

    if let Some(input_ref) = &op.input {
        let shape = model.shape(&input_ref.shape)?;
        let empty = Map::new();
        let map = input.as_object().unwrap_or(&empty);
        let mut body_members = Map::new();
        for (key, value) in map {
            let Some(member) = shape.members.get(key) else {
                continue;
            };
            let wire = member.location_name.as_deref().unwrap_or(key);
            let member_shape = model.shape(&member.shape)?;
            match member.location.as_deref() {
                Some("uri") => {
                    let text = label_text(value, member_shape.kind, key)?;
                    path = path
                        .replace(&format!("{{{wire}+}}"), &percent_encode_path(&text))
                        .replace(&format!("{{{wire}}}"), &percent_encode(&text));
                }
                Some("querystring") => match (member_shape.kind, value) {
                    (ShapeType::List, Value::Array(items)) => {
                        for item in items {
                            query.push((wire.to_string(), scalar_text(item, key)?));
                        }
                    }
                    (ShapeType::Map, Value::Object(entries)) => {
                        for (k, v) in entries {
                            match v {
                                Value::Array(items) => {
                                    for item in items {
                                        query.push((k.clone(), scalar_text(item, key)?));
                                    }
                                }
                                other => query.push((k.clone(), scalar_text(other, key)?)),
                            }
                        }
                    }
                    (ShapeType::Timestamp, _) => {
                        let time =
                            timestamp::from_value(value).ok_or_else(|| Error::Serialize {
                                path: key.clone(),
                                reason: "not a timestamp".into(),
                            })?;
                        query.push((wire.to_string(), timestamp::iso8601(time)));
                    }
                    _ => query.push((wire.to_string(), scalar_text(value, key)?)),
                },
                Some("header") => {
                    let text = match (member_shape.kind, value) {
                        (ShapeType::List, Value::Array(items)) => items
                            .iter()
                            .map(|i| scalar_text(i, key))
                            .collect::<Result<Vec<_>>>()?
                            .join(","),
                        (ShapeType::Timestamp, _) => timestamp::from_value(value)
                            .ok_or_else(|| Error::Serialize {
                                path: key.clone(),
                                reason: "not a timestamp".into(),
                            })?
                            .format("%a, %d %b %Y %H:%M:%S GMT")
                            .to_string(),
                        _ => scalar_text(value, key)?,
                    };
                    headers.push((wire.to_string(), text));
                }
                Some("headers") => {
                    if let Value::Object(entries) = value {
                        for (k, v) in entries {
                            headers.push((format!("{wire}{k}"), scalar_text(v, key)?));
                        }
                    }
                }
                _ if shape.payload.as_deref() == Some(key) => {
                    body = Some(match (member_shape.kind, value) {
                        (ShapeType::Blob | ShapeType::String, Value::String(s)) => {
                            s.clone().into_bytes()
                        }
                        _ => to_vec(&json_value(model, &member.shape, value, key)?)?,
                    });
                }
                _ => {
                    body_members.insert(key.clone(), value.clone());
                }
            }
        }
        if body.is_none() && shape.payload.is_none() {
            let has_body_members = shape.members.values().any(|m| m.location.is_none());
            if !body_members.is_empty() || has_body_members {
                let value = Value::Object(body_members);
                body = Some(to_vec(&json_value(model, &input_ref.shape, &value, "")?)?);
            }
        }
    }

    let mut query_text = fixed_query.unwrap_or_default();
    if !query.is_empty() {
        if !query_text.is_empty() {
            query_text.push('&');
        }
        query_text.push_str(&encode_pairs(&query));
    }
    if !query_text.is_empty() {
        path = format!("{path}?{query_text}");
    }
    if body.is_some() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    Ok(Request {
        method: op.http.method.clone(),
        path,
        headers,
        body: body.unwrap_or_default(),
    })
}

fn to_vec(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Serialize {
        path: String::new(),
        reason: e.to_string(),
    })
}

fn label_text(value: &Value, kind: ShapeType, key: &str) -> Result<String> {
    if kind == ShapeType::Timestamp {
        let time = timestamp::from_value(value).ok_or_else(|| Error::Serialize {
            path: key.to_string(),
            reason: "not a timestamp".into(),
        })?;
        return Ok(timestamp::iso8601(time));
    }
    scalar_text(value, key)
}
