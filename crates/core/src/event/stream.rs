//! DynamoDB stream records of the instance table: an instance's registration item (keyed by the
//! instance's ARN) reaching the initial state.
//!
//! The template's event source mapping lets through only the change of a registration item's
//! `ItemStatus` to the initial state (its filter); this decoder still checks what it reads (a key
//! that is not an EC2 instance ARN is refused: the handler's own records never register), and
//! each record carries its own result, so one bad record does not hide the others.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::envelope::Message;
use super::{DecodeError, Event, RegistrationEvent, Stimulus};

/// The name of the instance table's key attribute.
const KEY: &str = "Ident";
/// The name of the state attribute.
const STATUS: &str = "ItemStatus";

/// Decodes one stream record (`index` in its batch).
pub(super) fn decode_stream_record(index: usize, record: &Value) -> Message {
    let parts = StreamParts {
        event_id: record.get("eventID").and_then(Value::as_str),
        event_name: record.get("eventName").and_then(Value::as_str),
        image: record.pointer("/dynamodb/NewImage"),
        created: record
            .pointer("/dynamodb/ApproximateCreationDateTime")
            .and_then(Value::as_f64),
    };
    let message_id = record
        .pointer("/dynamodb/SequenceNumber")
        .and_then(Value::as_str);
    stream_message(index, message_id, &parts)
}

/// What decoding reads of a stream record.
pub(super) struct StreamParts<'a> {
    /// `eventID`.
    pub event_id: Option<&'a str>,
    /// `eventName`.
    pub event_name: Option<&'a str>,
    /// `dynamodb.NewImage`.
    pub image: Option<&'a Value>,
    /// `dynamodb.ApproximateCreationDateTime`.
    pub created: Option<f64>,
}

/// The message of stream record `index`, whose sequence number is `message_id`.
pub(super) fn stream_message(
    index: usize,
    message_id: Option<&str>,
    parts: &StreamParts<'_>,
) -> Message {
    let event = decode(parts).map_err(|inner| DecodeError::InRecord {
        envelope: "DynamoDB stream",
        index,
        inner: Box::new(inner),
    });
    Message {
        message_id: message_id.map(str::to_string),
        event,
    }
}

fn string_attribute<'a>(image: &'a Value, name: &'static str) -> Result<&'a str, DecodeError> {
    image
        .get(name)
        .ok_or(DecodeError::MissingField { field: name })?
        .get("S")
        .and_then(Value::as_str)
        .ok_or_else(|| DecodeError::InvalidField {
            field: name,
            message: "expected a DynamoDB string (`{\"S\": ...}`)".into(),
        })
}

fn decode(record: &StreamParts<'_>) -> Result<Event, DecodeError> {
    let id = record
        .event_id
        .ok_or(DecodeError::MissingField { field: "eventID" })?;
    let name = record
        .event_name
        .ok_or(DecodeError::MissingField { field: "eventName" })?;
    if !matches!(name, "INSERT" | "MODIFY") {
        return Err(DecodeError::InvalidField {
            field: "eventName",
            message: format!("`{name}`: only an insert or a change registers an instance"),
        });
    }
    let image = record.image.ok_or(DecodeError::MissingField {
        field: "dynamodb.NewImage",
    })?;
    let key = string_attribute(image, KEY)?;
    let instance_id = crate::registration::instance_of_key(key)
        .ok_or_else(|| DecodeError::InvalidField {
            field: KEY,
            message: format!(
                "`{key}` is not a registration key (an EC2 instance ARN, \
                 `arn:aws:ec2:REGION:ACCOUNT:instance/i-...`)"
            ),
        })?
        .to_string();
    let status = string_attribute(image, STATUS)?.to_string();
    let attributes = image
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(name, _)| crate::registration::is_instance_attribute(name))
                .filter_map(|(name, value)| Some((name.clone(), plain(value)?)))
                .collect()
        })
        .unwrap_or_default();
    let time = record.created.and_then(|seconds| {
        #[allow(clippy::cast_possible_truncation)]
        DateTime::<Utc>::from_timestamp_millis((seconds * 1000.0) as i64)
    });
    Ok(Event {
        // Stream event ids are unique per change: a redelivered batch repeats them.
        id: format!("stream:{id}"),
        time,
        stimulus: Stimulus::Registered(RegistrationEvent {
            instance_id,
            status,
            attributes,
        }),
    })
}

/// A stream image attribute (`{"S": "x"}`, `{"N": "1"}`, ...) as plain JSON; `None` for a shape
/// that is not a DynamoDB attribute value (left out).
fn plain(value: &Value) -> Option<Value> {
    let map = value.as_object().filter(|m| m.len() == 1)?;
    let (kind, inner) = map.iter().next()?;
    Some(match kind.as_str() {
        "S" | "B" => Value::String(inner.as_str()?.to_string()),
        "N" => {
            let text = inner.as_str()?;
            text.parse::<i64>().map(Value::from).ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            })?
        }
        "BOOL" => Value::Bool(inner.as_bool()?),
        "NULL" => Value::Null,
        "SS" | "NS" | "BS" => Value::Array(inner.as_array()?.clone()),
        "L" => Value::Array(inner.as_array()?.iter().filter_map(plain).collect()),
        "M" => Value::Object(
            inner
                .as_object()?
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), plain(v)?)))
                .collect(),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::event::{Envelope, Stimulus, decode_invocation};

    const KEY: &str = "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc";

    fn record(seq: &str, image: serde_json::Value) -> serde_json::Value {
        json!({
            "eventID": format!("e-{seq}"), "eventName": "MODIFY", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {"ApproximateCreationDateTime": 1_800_000_000.0,
                "Keys": {"Ident": {"S": KEY}}, "NewImage": image,
                "SequenceNumber": seq, "SizeBytes": 90, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
        })
    }

    #[test]
    fn a_stream_batch_decodes_each_record_on_its_own() {
        let good = record(
            "100",
            json!({"Ident": {"S": KEY}, "ItemStatus": {"S": "finished_cloud_init"},
                "InstanceIp": {"S": "10.0.0.5"}, "Weight": {"N": "3"},
                "LifecycleAction": {"M": {"Token": {"S": "forged"}}}}),
        );
        let bad = record("101", json!({"Ident": {"S": KEY}}));
        let handler_record = record(
            "102",
            json!({"Ident": {"S": "i-0abc"}, "ItemStatus": {"S": "finished_cloud_init"}}),
        );
        let invocation =
            decode_invocation(&json!({"Records": [good, bad, handler_record]})).unwrap();
        assert_eq!(invocation.envelope, Envelope::Stream);
        let first = invocation.messages[0].event.as_ref().unwrap();
        assert_eq!(first.id, "stream:e-100");
        assert!(matches!(&first.stimulus, Stimulus::Registered(r)
            if r.instance_id == "i-0abc" && r.status == "finished_cloud_init"
                && serde_json::Value::Object(r.attributes.clone())
                    == json!({"InstanceIp": "10.0.0.5", "Weight": 3})));
        assert_eq!(invocation.messages[0].message_id.as_deref(), Some("100"));
        let err = invocation.messages[1]
            .event
            .as_ref()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("DynamoDB stream") && err.contains("ItemStatus"),
            "{err}"
        );
        let err = invocation.messages[2]
            .event
            .as_ref()
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a registration key"), "{err}");
    }
}
