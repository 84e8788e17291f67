//! Invocation envelopes: EventBridge direct, SNS-wrapped, SQS batches, and batches of the table's
//! DynamoDB stream (registrations reaching the initial state).

use serde_json::Value;

use super::{DecodeError, Event, decode_event};

/// How the events reached the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// The EventBridge event itself.
    Direct,
    /// `Records[].Sns.Message` holds the event as a JSON string.
    Sns,
    /// `Records[].body` holds the event (or an SNS notification of it) as a JSON string.
    Sqs,
    /// `Records[]` are DynamoDB stream records of the instance table (`eventSource`
    /// `aws:dynamodb`): each is a registration; its `dynamodb.SequenceNumber` is its message id.
    Stream,
}

/// One message of an invocation, decoded or not.
#[derive(Clone, Debug)]
pub struct Message {
    /// The SQS message id or SNS message id (absent for a direct event).
    pub message_id: Option<String>,
    /// The decoded event, or why it could not be decoded.
    pub event: Result<Event, DecodeError>,
}

/// A decoded invocation: its envelope and its messages in order.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The envelope kind.
    pub envelope: Envelope,
    /// The messages; one for a direct event.
    pub messages: Vec<Message>,
}

/// Decodes an invocation payload.
///
/// A direct event that fails to decode fails the whole invocation; inside SNS and SQS envelopes
/// each record carries its own result, so that one bad message does not hide the good ones.
///
/// # Errors
/// A [`DecodeError`] when the payload is no known envelope or a direct event is malformed.
pub fn decode_invocation(payload: &Value) -> Result<Invocation, DecodeError> {
    let object = payload
        .as_object()
        .ok_or_else(|| DecodeError::NotAnObject {
            found: super::error::kind_of(payload),
        })?;
    if let Some(records) = object.get("Records") {
        let records = records
            .as_array()
            .ok_or_else(|| DecodeError::UnknownEnvelope {
                message: "`Records` is not a list".into(),
            })?;
        let first = records
            .first()
            .ok_or_else(|| DecodeError::UnknownEnvelope {
                message: "`Records` is empty".into(),
            })?;
        let envelope = if first.get("Sns").is_some() {
            Envelope::Sns
        } else if first.get("body").is_some() {
            Envelope::Sqs
        } else if first.get("eventSource").and_then(Value::as_str) == Some("aws:dynamodb") {
            Envelope::Stream
        } else {
            return Err(DecodeError::UnknownEnvelope {
                message:
                    "records are neither SNS (`Sns.Message`), SQS (`body`) nor DynamoDB stream records"
                        .into(),
            });
        };
        let messages = records
            .iter()
            .enumerate()
            .map(|(index, record)| decode_record(envelope, index, record))
            .collect();
        return Ok(Invocation { envelope, messages });
    }
    if object.contains_key("source") {
        let event = decode_event(payload)?;
        return Ok(Invocation {
            envelope: Envelope::Direct,
            messages: vec![Message {
                message_id: None,
                event: Ok(event),
            }],
        });
    }
    Err(DecodeError::UnknownEnvelope {
        message: "neither an EventBridge event (`source`) nor SNS/SQS `Records`".into(),
    })
}

fn decode_record(envelope: Envelope, index: usize, record: &Value) -> Message {
    if envelope == Envelope::Stream {
        return super::stream::decode_stream_record(index, record);
    }
    let (name, message_id, body) = match envelope {
        Envelope::Sns => (
            "SNS",
            record.pointer("/Sns/MessageId").and_then(Value::as_str),
            record.pointer("/Sns/Message"),
        ),
        _ => (
            "SQS",
            record.get("messageId").and_then(Value::as_str),
            record.get("body"),
        ),
    };
    let event = match body.and_then(Value::as_str) {
        None => Err(DecodeError::InRecord {
            envelope: name,
            index,
            inner: Box::new(DecodeError::MissingField {
                field: if envelope == Envelope::Sns {
                    "Sns.Message"
                } else {
                    "body"
                },
            }),
        }),
        Some(text) => decode_body(name, index, text),
    };
    Message {
        message_id: message_id.map(str::to_string),
        event,
    }
}

/// Decodes the event that record `index` of an `envelope` (`SNS` or `SQS`) carries as `text`: the
/// event itself, or an SNS notification of it (an SNS topic delivering to SQS without raw
/// delivery wraps the event once more).
pub(super) fn decode_body(
    envelope: &'static str,
    index: usize,
    text: &str,
) -> Result<Event, DecodeError> {
    let wrap = |inner: DecodeError| DecodeError::InRecord {
        envelope,
        index,
        inner: Box::new(inner),
    };
    let json = |e: serde_json::Error| {
        wrap(DecodeError::Json {
            message: e.to_string(),
        })
    };
    let inner = serde_json::from_str::<Value>(text).map_err(json)?;
    let inner = match (
        inner.get("Type").and_then(Value::as_str),
        inner.get("Message"),
    ) {
        (Some("Notification"), Some(Value::String(m))) => serde_json::from_str(m).map_err(json)?,
        _ => inner,
    };
    decode_event(&inner).map_err(wrap)
}
