//! The `query` protocol (Auto Scaling, ELBv2, CloudFormation) and its `ec2` variant: a
//! form-encoded `POST /` body of `Action`, `Version` and the input flattened into dotted keys.
//!
//! `query` lists are `Name.member.N` (flattened: `Name.N`, or the member's name), maps
//! `Name.entry.N.key/value`, empty lists `Name=`; `ec2` lists are `Name.N`, names come from
//! `queryName` or the capitalised `locationName`, and empty lists are left out.

use serde_json::Value;

use super::super::model::{MemberRef, OperationModel, ServiceModel, ShapeType};
use super::super::timestamp;
use super::super::{Error, Result};
use super::{Request, encode_pairs, scalar_text};

pub(super) fn serialize(
    model: &ServiceModel,
    op: &OperationModel,
    input: &Value,
    ec2: bool,
) -> Result<Request> {
    let mut pairs = vec![
        ("Action".to_string(), op.name.clone()),
        ("Version".to_string(), model.metadata().api_version.clone()),
    ];
    if let Some(input_ref) = &op.input {
        let writer = Writer { model, ec2 };
        writer.value(&mut pairs, input, &input_ref.shape, "")?;
    }
    Ok(Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body: encode_pairs(&pairs).into_bytes(),
    })
}

struct Writer<'a> {
    model: &'a ServiceModel,
    ec2: bool,
}

impl Writer<'_> {
    /// The name of a member on the wire (botocore's `_get_serialized_name`).
    fn name(&self, member: &MemberRef, default: &str) -> String {
        if self.ec2 {
            if let Some(query_name) = &member.query_name {
                return query_name.clone();
            }
            if let Some(name) = self.model.location_name(member) {
                let mut chars = name.chars();
                return chars.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(chars).collect()
                });
            }
            return default.to_string();
        }
        self.model
            .location_name(member)
            .map_or_else(|| default.to_string(), ToString::to_string)
    }

    fn value(
        &self,
        out: &mut Vec<(String, String)>,
        value: &Value,
        shape_name: &str,
        prefix: &str,
    ) -> Result<()> {
        self.value_of(out, value, shape_name, None, prefix)
    }

    fn value_of(
        &self,
        out: &mut Vec<(String, String)>,
        value: &Value,
        shape_name: &str,
        member: Option<&MemberRef>,
        prefix: &str,
    ) -> Result<()> {
        let shape = self.model.shape(shape_name)?;
        match (shape.kind, value) {
            (ShapeType::Structure, Value::Object(map)) => {
                for (key, item) in map {
                    let Some(member) = shape.members.get(key) else {
                        continue;
                    };
                    let name = self.name(member, key);
                    let name = if prefix.is_empty() {
                        name
                    } else {
                        format!("{prefix}.{name}")
                    };
                    self.value_of(out, item, &member.shape, Some(member), &name)?;
                }
            }
            (ShapeType::List, Value::Array(items)) => {
                let element = shape.member.as_ref().ok_or_else(|| Error::MissingShape {
                    service: self.model.name().to_string(),
                    shape: format!("{shape_name}.member"),
                })?;
                let list_prefix = if self.ec2 {
                    prefix.to_string()
                } else if items.is_empty() {
                    out.push((prefix.to_string(), String::new()));
                    return Ok(());
                } else if member.is_some_and(|m| self.model.flattened(m)) || shape.flattened {
                    match self.model.location_name(element) {
                        Some(_) => {
                            let name = self.name(element, "");
                            match prefix.rsplit_once('.') {
                                Some((head, _)) => format!("{head}.{name}"),
                                None => name,
                            }
                        }
                        None => prefix.to_string(),
                    }
                } else {
                    format!("{prefix}.{}", self.name(element, "member"))
                };
                for (i, item) in items.iter().enumerate() {
                    let item_prefix = format!("{list_prefix}.{}", i + 1);
                    self.value_of(out, item, &element.shape, Some(element), &item_prefix)?;
                }
            }
            (ShapeType::Map, Value::Object(map)) => {
                let (Some(key_ref), Some(value_ref)) = (&shape.key, &shape.value) else {
                    return Err(Error::MissingShape {
                        service: self.model.name().to_string(),
                        shape: format!("{shape_name}.key/value"),
                    });
                };
                let flattened = member.is_some_and(|m| self.model.flattened(m)) || shape.flattened;
                let full = if flattened {
                    prefix.to_string()
                } else {
                    format!("{prefix}.entry")
                };
                let key_suffix = self.name(key_ref, "key");
                let value_suffix = self.name(value_ref, "value");
                for (i, (key, item)) in map.iter().enumerate() {
                    let n = i + 1;
                    out.push((format!("{full}.{n}.{key_suffix}"), key.clone()));
                    let value_prefix = format!("{full}.{n}.{value_suffix}");
                    self.value_of(out, item, &value_ref.shape, Some(value_ref), &value_prefix)?;
                }
            }
            (ShapeType::Timestamp, _) => {
                let time = timestamp::from_value(value).ok_or_else(|| Error::Serialize {
                    path: prefix.to_string(),
                    reason: "not a timestamp".into(),
                })?;
                out.push((prefix.to_string(), timestamp::iso8601(time)));
            }
            (ShapeType::Blob, Value::String(text)) => out.push((
                prefix.to_string(),
                aws_smithy_types::base64::encode(text.as_bytes()),
            )),
            _ => out.push((prefix.to_string(), scalar_text(value, prefix)?)),
        }
        Ok(())
    }
}
