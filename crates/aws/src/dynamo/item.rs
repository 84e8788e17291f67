//! JSON values ↔ DynamoDB attribute values, and items ↔ records.
//!
//! Maps are `M`, lists `L`, strings `S`, numbers `N`, booleans `BOOL`, null `NULL`. Items that
//! cloud-init wrote with other types read as JSON too: string and number sets as arrays, binary
//! values as arrays of bytes (tasks see them; the handler never writes them back).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};

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

/// Reads a record from an item.
///
/// # Errors
/// When `Ident` is missing or not a string, or a handler-owned attribute is malformed.
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
    InstanceRecord::from_item(&ident, &item_to_json(item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn an_item_without_ident_is_a_format_error() {
        let item: Item = [("ItemStatus".to_string(), AttributeValue::S("new".into()))].into();
        assert_eq!(record_from_item(&item).unwrap_err().attribute, "Ident");
    }
}
