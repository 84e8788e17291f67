//! XML responses (`query`, `ec2`): the output read from the result wrapper (`query`) or the
//! root (`ec2`) through the output shape: lists of `member` / `item` elements or flattened,
//! maps of `entry`; errors from the first `<Code>` and `<Message>`.

use roxmltree::{Document, Node};
use serde_json::{Map, Value};

use super::super::model::{MemberRef, ServiceModel, ShapeType};
use super::super::{Error, Result, timestamp};
use super::Response;

pub(super) fn parse_output(
    model: &ServiceModel,
    shape_name: &str,
    result_wrapper: Option<&str>,
    response: &Response,
) -> Result<Value> {
    let text = std::str::from_utf8(&response.body).map_err(|e| Error::ParseResponse {
        reason: format!("the body is not UTF-8: {e}"),
    })?;
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let doc = Document::parse(text).map_err(|e| Error::ParseResponse {
        reason: format!("the body is not XML: {e}"),
    })?;
    let root = doc.root_element();
    let node = match result_wrapper {
        Some(wrapper) => match child(root, wrapper) {
            Some(node) => node,
            None => return Ok(Value::Object(Map::new())),
        },
        None => root,
    };
    structure(model, shape_name, node)
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'input>(
    node: Node<'a, 'input>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The element name of a structure member (botocore's `_member_key_name`).
fn member_key<'a>(model: &'a ServiceModel, member: &'a MemberRef, name: &'a str) -> &'a str {
    if let Ok(shape) = model.shape(&member.shape)
        && shape.kind == ShapeType::List
        && model.flattened(member)
        && let Some(element) = &shape.member
        && let Some(element_name) = model.location_name(element)
    {
        return element_name;
    }
    model.location_name(member).unwrap_or(name)
}

fn structure(model: &ServiceModel, shape_name: &str, node: Node) -> Result<Value> {
    let shape = model.shape(shape_name)?;
    let mut out = Map::new();
    for (name, member) in &shape.members {
        let key = member_key(model, member, name);
        let member_shape = model.shape(&member.shape)?;
        let flattened = model.flattened(member);
        if flattened && member_shape.kind == ShapeType::List {
            let element = member_shape
                .member
                .as_ref()
                .map_or("", |m| m.shape.as_str());
            let items: Vec<Value> = children(node, key)
                .map(|n| value(model, element, n))
                .collect::<Result<_>>()?;
            if !items.is_empty() {
                out.insert(name.clone(), Value::Array(items));
            }
        } else if flattened && member_shape.kind == ShapeType::Map {
            let entries: Vec<Node> = children(node, key).collect();
            if !entries.is_empty() {
                out.insert(name.clone(), map(model, &member.shape, &entries)?);
            }
        } else if let Some(child) = child(node, key) {
            out.insert(name.clone(), value(model, &member.shape, child)?);
        }
    }
    Ok(Value::Object(out))
}

fn map(model: &ServiceModel, shape_name: &str, entries: &[Node]) -> Result<Value> {
    let shape = model.shape(shape_name)?;
    let (Some(key_ref), Some(value_ref)) = (&shape.key, &shape.value) else {
        return Ok(Value::Object(Map::new()));
    };
    let key_name = model.location_name(key_ref).unwrap_or("key");
    let value_name = model.location_name(value_ref).unwrap_or("value");
    let mut out = Map::new();
    for entry in entries {
        let Some(key) = child(*entry, key_name) else {
            continue;
        };
        let item = match child(*entry, value_name) {
            Some(v) => value(model, &value_ref.shape, v)?,
            None => Value::Null,
        };
        out.insert(key.text().unwrap_or_default().to_string(), item);
    }
    Ok(Value::Object(out))
}

fn value(model: &ServiceModel, shape_name: &str, node: Node) -> Result<Value> {
    let shape = model.shape(shape_name)?;
    let text = node.text().unwrap_or_default().trim();
    Ok(match shape.kind {
        ShapeType::Structure => structure(model, shape_name, node)?,
        ShapeType::List => {
            let Some(element) = &shape.member else {
                return Ok(Value::Array(Vec::new()));
            };
            let name = model.location_name(element).unwrap_or("member");
            Value::Array(
                children(node, name)
                    .map(|n| value(model, &element.shape, n))
                    .collect::<Result<_>>()?,
            )
        }
        ShapeType::Map => {
            let entries: Vec<Node> = children(node, "entry").collect();
            map(model, shape_name, &entries)?
        }
        ShapeType::Integer | ShapeType::Long => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        ShapeType::Float | ShapeType::Double => text
            .parse::<f64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
        ShapeType::Boolean => Value::Bool(text.eq_ignore_ascii_case("true")),
        ShapeType::Timestamp => {
            Value::String(timestamp::parse(text).map_or_else(|| text.into(), timestamp::render))
        }
        ShapeType::String | ShapeType::Blob => {
            Value::String(node.text().unwrap_or_default().to_string())
        }
    })
}

/// The code and message of an XML error response (`<ErrorResponse><Error>` or EC2's
/// `<Response><Errors><Error>`).
pub(super) fn parse_error(response: &Response) -> (Option<String>, Option<String>) {
    let Ok(text) = std::str::from_utf8(&response.body) else {
        return (None, None);
    };
    let Ok(doc) = Document::parse(text) else {
        return (None, None);
    };
    let find = |name: &str| {
        doc.descendants()
            .find(|n| n.is_element() && n.tag_name().name() == name)
            .and_then(|n| n.text())
            .map(|t| t.trim().to_string())
    };
    (find("Code"), find("Message"))
}
