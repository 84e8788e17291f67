//! The one DynamoDB attribute-value codec, used by the store, the Streams feed and the `GetItem`
//! waiter operation.
//!
//! - Plain JSON ↔ attribute values, and items ↔ records ([`to_attribute`], [`from_attribute`],
//!   [`record_from_item`]): maps are `M`, lists `L`, strings `S`, numbers `N`, booleans `BOOL`,
//!   null `NULL`. Items that cloud-init wrote with other types read as JSON too: string and
//!   number sets as arrays, binary values as arrays of bytes (tasks see them; the handler never
//!   writes them back).
//! - The API's typed JSON form (`{"S": "x"}`, binary as base64), as waiter operations take and
//!   render it ([`parse_attribute`], [`render_attribute`]).
//! - Stream images: the Streams SDK has its own attribute type, converted to the DynamoDB one
//!   ([`from_stream_item`]) and read from there.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::AttributeValue as StreamAttributeValue;
use serde_json::{Map, Number, Value, json};

use asg_lifecycle::record::{InstanceRecord, RecordFormatError, attr};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Converts a JSON value to an attribute value.
#[must_use]
pub fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(items) => AttributeValue::L(items.iter().map(to_attribute).collect()),
        Value::Object(map) => AttributeValue::M(
            map.iter()
                .map(|(k, v)| (k.clone(), to_attribute(v)))
                .collect(),
        ),
    }
}

/// Reads a DynamoDB number (`N`, a decimal string) as a JSON number: an integer when it is one,
/// else a float; a string when it fits neither.
fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(u) = text.parse::<u64>() {
        return Value::from(u);
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(text.to_string()), Value::Number)
}

/// Converts an attribute value to a JSON value.
#[must_use]
pub fn from_attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::N(n) => number(n),
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(from_attribute).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), from_attribute(v)))
                .collect(),
        ),
        AttributeValue::Ss(items) => {
            Value::Array(items.iter().cloned().map(Value::String).collect())
        }
        AttributeValue::Ns(items) => Value::Array(items.iter().map(|n| number(n)).collect()),
        AttributeValue::B(blob) => bytes(blob.as_ref()),
        AttributeValue::Bs(blobs) => {
            Value::Array(blobs.iter().map(|b| bytes(b.as_ref())).collect())
        }
        // A type added to DynamoDB after this SDK version: keep the record readable.
        _ => Value::Null,
    }
}

fn bytes(data: &[u8]) -> Value {
    Value::Array(data.iter().map(|b| Value::from(*b)).collect())
}

/// Converts a DynamoDB item to the flat JSON form of a record.
#[must_use]
pub fn item_to_json(item: &Item) -> Map<String, Value> {
    let mut names: Vec<&String> = item.keys().collect();
    names.sort();
    names
        .into_iter()
        .map(|name| (name.clone(), from_attribute(&item[name])))
        .collect()
}

/// Converts the flat JSON form of a record to a DynamoDB item.
#[must_use]
pub fn json_to_item(map: &Map<String, Value>) -> Item {
    map.iter()
        .map(|(k, v)| (k.clone(), to_attribute(v)))
        .collect()
}

/// Reads a record from an item. A malformed handler-owned attribute is left out and named in
/// the record's `malformed`, with its stored value in the API's typed JSON form (`{"S": "x"}`),
/// on which the next write conditions.
///
/// # Errors
/// When `Ident` is missing or not a string: the item names no instance.
pub fn record_from_item(item: &Item) -> Result<InstanceRecord, RecordFormatError> {
    let ident = match item.get(attr::IDENT) {
        Some(AttributeValue::S(s)) => s.clone(),
        other => {
            return Err(RecordFormatError {
                ident: String::new(),
                attribute: attr::IDENT.into(),
                message: format!("expected a string key, found {other:?}"),
            });
        }
    };
    let mut record = InstanceRecord::from_item(&ident, &item_to_json(item))?;
    // A write conditions on a malformed value exactly as stored: keep its typed form.
    for malformed in &mut record.malformed {
        if let Some(value) = item.get(&malformed.attribute) {
            malformed.raw = render_attribute(value);
        }
    }
    Ok(record)
}

/// A DynamoDB attribute value in the API's JSON form (`{"S": "x"}`), rendered.
#[must_use]
pub fn render_attribute(value: &AttributeValue) -> Value {
    let blob = |b: &Blob| Value::String(aws_smithy_types::base64::encode(b.as_ref()));
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": blob(b)}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(blob).collect::<Vec<_>>()}),
        AttributeValue::L(v) => json!({"L": v.iter().map(render_attribute).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": render_item(m)}),
        _ => json!({}),
    }
}

/// An item in the API's JSON form, its names sorted.
#[must_use]
pub fn render_item(item: &Item) -> Value {
    let mut names: Vec<_> = item.keys().collect();
    names.sort();
    Value::Object(
        names
            .into_iter()
            .map(|name| (name.clone(), render_attribute(&item[name])))
            .collect(),
    )
}

/// A value that is not a DynamoDB attribute value in the API's JSON form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a DynamoDB attribute value: {value}")]
pub struct AttributeError {
    /// The offending value, as JSON text.
    pub value: String,
}

/// Parses a DynamoDB attribute value in the API's JSON form (`{"S": "x"}`, `{"N": "1"}`, ...).
///
/// # Errors
/// [`AttributeError`] naming the value (the whole of it) that does not fit.
pub fn parse_attribute(value: &Value) -> Result<AttributeValue, AttributeError> {
    let invalid = || AttributeError {
        value: value.to_string(),
    };
    let Some((kind, inner)) = value
        .as_object()
        .filter(|m| m.len() == 1)
        .and_then(|m| m.iter().next())
    else {
        return Err(invalid());
    };
    let strings = |v: &Value| -> Result<Vec<String>, AttributeError> {
        v.as_array()
            .and_then(|items| items.iter().map(|i| i.as_str().map(String::from)).collect())
            .ok_or_else(invalid)
    };
    let blob = |s: &str| {
        aws_smithy_types::base64::decode(s)
            .map(Blob::new)
            .map_err(|_| invalid())
    };
    Ok(match (kind.as_str(), inner) {
        ("S", Value::String(s)) => AttributeValue::S(s.clone()),
        ("N", Value::String(s)) => AttributeValue::N(s.clone()),
        ("N", Value::Number(n)) => AttributeValue::N(n.to_string()),
        ("B", Value::String(s)) => AttributeValue::B(blob(s)?),
        ("BOOL", Value::Bool(b)) => AttributeValue::Bool(*b),
        ("NULL", Value::Bool(b)) => AttributeValue::Null(*b),
        ("SS", v) => AttributeValue::Ss(strings(v)?),
        ("NS", v) => AttributeValue::Ns(strings(v)?),
        ("BS", v) => AttributeValue::Bs(
            strings(v)?
                .iter()
                .map(|s| blob(s))
                .collect::<Result<_, _>>()?,
        ),
        ("L", Value::Array(items)) => AttributeValue::L(
            items
                .iter()
                .map(parse_attribute)
                .collect::<Result<_, _>>()?,
        ),
        ("M", Value::Object(map)) => AttributeValue::M(parse_item(map)?),
        _ => return Err(invalid()),
    })
}

/// Parses an item (names to attribute values) in the API's JSON form.
///
/// # Errors
/// [`AttributeError`] for the first value that does not fit.
pub fn parse_item(map: &Map<String, Value>) -> Result<Item, AttributeError> {
    map.iter()
        .map(|(name, value)| parse_attribute(value).map(|a| (name.clone(), a)))
        .collect()
}

/// Converts a Streams attribute value to the DynamoDB one (the two SDKs each define the type).
#[must_use]
pub fn from_stream_attribute(value: &StreamAttributeValue) -> AttributeValue {
    match value {
        StreamAttributeValue::S(s) => AttributeValue::S(s.clone()),
        StreamAttributeValue::N(n) => AttributeValue::N(n.clone()),
        StreamAttributeValue::B(b) => AttributeValue::B(b.clone()),
        StreamAttributeValue::Bool(b) => AttributeValue::Bool(*b),
        StreamAttributeValue::Null(b) => AttributeValue::Null(*b),
        StreamAttributeValue::Ss(v) => AttributeValue::Ss(v.clone()),
        StreamAttributeValue::Ns(v) => AttributeValue::Ns(v.clone()),
        StreamAttributeValue::Bs(v) => AttributeValue::Bs(v.clone()),
        StreamAttributeValue::L(v) => {
            AttributeValue::L(v.iter().map(from_stream_attribute).collect())
        }
        StreamAttributeValue::M(m) => AttributeValue::M(from_stream_item(m)),
        // A type added to Streams after this SDK version: read as null, as `from_attribute` does.
        _ => AttributeValue::Null(true),
    }
}

/// Converts a stream image to a DynamoDB item.
#[must_use]
pub fn from_stream_item(image: &HashMap<String, StreamAttributeValue>) -> Item {
    image
        .iter()
        .map(|(name, value)| (name.clone(), from_stream_attribute(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_attribute_keeps_its_stored_value_in_typed_form() {
        let mut item = Item::new();
        item.insert(attr::IDENT.into(), AttributeValue::S("i-1".into()));
        item.insert(attr::VERSION.into(), AttributeValue::Ss(vec!["1".into()]));
        item.insert(attr::IN_FLIGHT.into(), AttributeValue::N("4".into()));
        let record = record_from_item(&item).unwrap();
        assert_eq!(record.version, 0);
        let raw = |name: &str| {
            record
                .malformed
                .iter()
                .find(|m| m.attribute == name)
                .map(|m| m.raw.clone())
        };
        assert_eq!(raw(attr::VERSION), Some(json!({"SS": ["1"]})));
        assert_eq!(raw(attr::IN_FLIGHT), Some(json!({"N": "4"})));
        assert_eq!(
            parse_attribute(&raw(attr::VERSION).unwrap()).unwrap(),
            item[attr::VERSION],
            "exactly what is stored"
        );
        let mut no_ident = item.clone();
        no_ident.remove(attr::IDENT);
        assert_eq!(
            record_from_item(&no_ident).unwrap_err().attribute,
            attr::IDENT
        );
    }

    #[test]
    fn json_values_round_trip_through_attribute_values() {
        let value = json!({
            "s": "text", "n": 42, "neg": -7, "f": 1.5, "b": true, "z": null,
            "l": [1, "two", {"three": [3]}], "m": {"nested": {"deep": false}}
        });
        assert_eq!(from_attribute(&to_attribute(&value)), value);
    }

    #[test]
    fn maps_become_m_lists_l_numbers_n() {
        let av = to_attribute(&json!({"a": [1]}));
        let AttributeValue::M(map) = av else {
            panic!("expected M, got {av:?}")
        };
        assert_eq!(
            map["a"],
            AttributeValue::L(vec![AttributeValue::N("1".into())])
        );
    }

    #[test]
    fn sets_written_by_the_cli_read_as_arrays() {
        let ss = AttributeValue::Ss(vec!["a".into(), "b".into()]);
        assert_eq!(from_attribute(&ss), json!(["a", "b"]));
        let ns = AttributeValue::Ns(vec!["1".into(), "2.5".into()]);
        assert_eq!(from_attribute(&ns), json!([1, 2.5]));
    }

    #[test]
    fn stream_values_convert_to_the_same_json_as_dynamodb_values() {
        let image: HashMap<String, StreamAttributeValue> = [
            ("s".to_string(), StreamAttributeValue::S("x".into())),
            ("n".to_string(), StreamAttributeValue::N("2.5".into())),
            (
                "l".to_string(),
                StreamAttributeValue::L(vec![StreamAttributeValue::Bool(true)]),
            ),
            (
                "m".to_string(),
                StreamAttributeValue::M(
                    [("z".to_string(), StreamAttributeValue::Null(true))].into(),
                ),
            ),
            (
                "b".to_string(),
                StreamAttributeValue::B(Blob::new(b"hi".to_vec())),
            ),
        ]
        .into();
        assert_eq!(
            Value::Object(item_to_json(&from_stream_item(&image))),
            json!({"b": [104, 105], "l": [true], "m": {"z": null}, "n": 2.5, "s": "x"})
        );
    }

    #[test]
    fn an_item_without_ident_is_a_format_error() {
        let item: Item = [("ItemStatus".to_string(), AttributeValue::S("new".into()))].into();
        assert_eq!(record_from_item(&item).unwrap_err().attribute, "Ident");
    }
}
