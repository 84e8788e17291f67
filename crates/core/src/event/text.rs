//! The typed fast path of decoding a whole invocation from its JSON text: a direct event
//! ([`super::direct`]), an SNS or SQS batch whose records are read without building a JSON tree
//! and whose events go through the direct fast path (or, one by one, the general way), or a
//! DynamoDB stream batch, of which only each change's new image is parsed into a tree.
//!
//! # Guarantees
//! [`decode_text`] only answers when the general way ([`super::decode_invocation`] over the
//! parsed payload) would decode the same text into the same invocation: the same envelope and,
//! per record, the same message id and the same event or error. Anything unusual in the envelope
//! (a record that is not an object, a field of an unexpected type, a duplicate key, a record
//! without the field its envelope carries the event in) gets `None` and goes the general way. The
//! tests compare both ways.

use std::borrow::Cow;

use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::direct::{decode_direct, decode_direct_event, is_object};
use super::envelope::decode_body;
use super::stream::{StreamParts, stream_message};
use super::{Envelope, Event, Invocation, Message};

/// A JSON string, borrowed from the text unless it has escapes.
struct Text<'a>(Cow<'a, str>);

/// String slots filled from an object's keys.
type Slots<'a, const N: usize> = [Option<Cow<'a, str>>; N];

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Reads an object's keys among `KEYS` into string slots (`null` leaves a slot empty); a
/// duplicate key, a value of another type or anything but an object is an error.
fn string_slots<'de, A: MapAccess<'de>, const N: usize>(
    map: A,
    keys: [&str; N],
    nested: impl FnMut(&mut A, &str) -> Result<bool, A::Error>,
) -> Result<Slots<'de, N>, A::Error> {
    string_slots_seen(map, keys, nested).map(|(slots, _)| slots)
}

/// [`string_slots`], and which of the keys were present (`null` included).
fn string_slots_seen<'de, A: MapAccess<'de>, const N: usize>(
    mut map: A,
    keys: [&str; N],
    mut nested: impl FnMut(&mut A, &str) -> Result<bool, A::Error>,
) -> Result<(Slots<'de, N>, [bool; N]), A::Error> {
    let mut slots: [Option<Cow<'de, str>>; N] = std::array::from_fn(|_| None);
    let mut seen = [false; N];
    while let Some(key) = map.next_key::<&'de str>()? {
        if nested(&mut map, key)? {
            continue;
        }
        let Some(slot) = keys.iter().position(|k| *k == key) else {
            map.next_value::<IgnoredAny>()?;
            continue;
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
        }
        slots[slot] = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0);
    }
    Ok((slots, seen))
}

/// What the function reads of an SNS, SQS or DynamoDB stream record.
#[derive(Default)]
struct Record<'a> {
    /// `Sns` was present: `(MessageId, Message)`.
    sns: Option<[Option<Cow<'a, str>>; 2]>,
    /// `messageId`, `body` (SQS), `eventID`, `eventName` and `eventSource` (a stream's).
    fields: [Option<Cow<'a, str>>; 5],
    /// `body` was present (even `null`).
    has_body: bool,
    /// `dynamodb` (a stream record's change).
    dynamodb: Option<Change<'a>>,
}

/// What the function reads of a stream record's `dynamodb`.
#[derive(Default)]
struct Change<'a> {
    sequence_number: Option<Cow<'a, str>>,
    created: Option<f64>,
    new_image: Option<&'a RawValue>,
}

impl<'de> Deserialize<'de> for Change<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ChangeVisitor;
        impl<'de> Visitor<'de> for ChangeVisitor {
            type Value = Change<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a stream record's change object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Change<'de>, A::Error> {
                let mut change = Change::default();
                let mut seen = [false; 2];
                let [sequence_number] = string_slots(map, ["SequenceNumber"], |map, key| {
                    let slot = match key {
                        "ApproximateCreationDateTime" => 0,
                        "NewImage" => 1,
                        _ => return Ok(false),
                    };
                    if std::mem::replace(&mut seen[slot], true) {
                        return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    if slot == 0 {
                        change.created = map.next_value()?;
                    } else {
                        change.new_image = Some(map.next_value()?);
                    }
                    Ok(true)
                })?;
                change.sequence_number = sequence_number;
                Ok(change)
            }
        }
        deserializer.deserialize_map(ChangeVisitor)
    }
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SnsVisitor;
        impl<'de> Visitor<'de> for SnsVisitor {
            type Value = [Option<Cow<'de, str>>; 2];
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an SNS notification object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                string_slots(map, ["MessageId", "Message"], |_, _| Ok(false))
            }
        }
        struct SnsObject<'a>([Option<Cow<'a, str>>; 2]);
        impl<'de> Deserialize<'de> for SnsObject<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_map(SnsVisitor).map(SnsObject)
            }
        }
        struct RecordVisitor;
        impl<'de> Visitor<'de> for RecordVisitor {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an SNS, SQS or DynamoDB stream record object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Record<'de>, A::Error> {
                let (mut sns, mut dynamodb) = (None, None);
                let keys = ["messageId", "body", "eventID", "eventName", "eventSource"];
                let (fields, seen) = string_slots_seen(map, keys, |map, key| match key {
                    "Sns" if sns.is_some() => Err(A::Error::custom("duplicate field `Sns`")),
                    "Sns" => {
                        sns = Some(map.next_value::<SnsObject<'de>>()?.0);
                        Ok(true)
                    }
                    "dynamodb" if dynamodb.is_some() => {
                        Err(A::Error::custom("duplicate field `dynamodb`"))
                    }
                    "dynamodb" => {
                        dynamodb = Some(map.next_value::<Change<'de>>()?);
                        Ok(true)
                    }
                    _ => Ok(false),
                })?;
                Ok(Record {
                    sns,
                    fields,
                    has_body: seen[1],
                    dynamodb,
                })
            }
        }
        deserializer.deserialize_map(RecordVisitor)
    }
}

/// `{"Records": [...]}`, read from an object only.
struct Batch<'a>(Vec<Record<'a>>);

impl<'de> Deserialize<'de> for Batch<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BatchVisitor;
        impl<'de> Visitor<'de> for BatchVisitor {
            type Value = Batch<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an invocation object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Batch<'de>, A::Error> {
                let mut records = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key != "Records" {
                        map.next_value::<IgnoredAny>()?;
                    } else if records.is_some() {
                        return Err(A::Error::custom("duplicate field `Records`"));
                    } else {
                        // A list only (serde reads a `Vec` from nothing else), of objects only.
                        records = Some(map.next_value::<Vec<Record<'de>>>()?);
                    }
                }
                records
                    .map(Batch)
                    .ok_or_else(|| A::Error::missing_field("Records"))
            }
        }
        deserializer.deserialize_map(BatchVisitor)
    }
}

/// Decodes an SNS, SQS or DynamoDB stream batch when its envelope is regular; `None` sends it
/// the general way.
fn decode_batch(text: &str) -> Option<Invocation> {
    let Batch(records) = serde_json::from_str(text).ok()?;
    let first = records.first()?;
    let envelope = if first.sns.is_some() {
        Envelope::Sns
    } else if first.has_body {
        Envelope::Sqs
    } else if first.fields[4].as_deref() == Some("aws:dynamodb") {
        Envelope::Stream
    } else {
        return None;
    };
    if envelope == Envelope::Stream {
        return decode_stream(records);
    }
    let messages = records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let ([message_id, body], name) = match envelope {
                Envelope::Sns => (record.sns?, "SNS"),
                _ => {
                    let [message_id, body, ..] = record.fields;
                    ([message_id, body], "SQS")
                }
            };
            let body = body?;
            Some(Message {
                message_id: message_id.map(Cow::into_owned),
                event: match decode_event_text(&body) {
                    Some(event) => Ok(event),
                    None => decode_body(name, index, &body),
                },
            })
        })
        .collect::<Option<Vec<Message>>>()?;
    Some(Invocation { envelope, messages })
}

/// The registrations of a stream batch, each decoded as the general way decodes it (from what
/// it reads of the record: the change's new image is parsed, the rest of the record skipped).
fn decode_stream(records: Vec<Record<'_>>) -> Option<Invocation> {
    let messages = records
        .into_iter()
        .enumerate()
        .map(|(index, record)| {
            let change = record.dynamodb.unwrap_or_default();
            let image = match change.new_image {
                Some(raw) => Some(serde_json::from_str::<serde_json::Value>(raw.get()).ok()?),
                None => None,
            };
            let [_, _, event_id, event_name, _] = &record.fields;
            let parts = StreamParts {
                event_id: event_id.as_deref(),
                event_name: event_name.as_deref(),
                image: image.as_ref(),
                created: change.created,
            };
            Some(stream_message(
                index,
                change.sequence_number.as_deref(),
                &parts,
            ))
        })
        .collect::<Option<Vec<Message>>>()?;
    Some(Invocation {
        envelope: Envelope::Stream,
        messages,
    })
}

/// The event a record's body holds, itself or in an SNS notification, by the fast path.
fn decode_event_text(body: &str) -> Option<Event> {
    if let Some(event) = decode_direct_event(body) {
        return Some(event);
    }
    #[derive(Deserialize)]
    struct Notification<'a> {
        #[serde(rename = "Type", borrow)]
        kind: Option<Cow<'a, str>>,
        #[serde(rename = "Message", borrow)]
        message: Option<Cow<'a, str>>,
    }
    if !is_object(body) {
        return None;
    }
    match serde_json::from_str::<Notification<'_>>(body).ok()? {
        Notification {
            kind: Some(kind),
            message: Some(message),
        } if kind == "Notification" => decode_direct_event(&message),
        _ => None,
    }
}

/// Decodes an invocation from its JSON text by the fast path: a direct event of an accepted
/// source, or an SNS or SQS batch; `None` sends it the general way (parse, then
/// [`super::decode_invocation`]), which decodes everything else and names what is wrong.
#[must_use]
pub fn decode_text(text: &str) -> Option<Invocation> {
    if !is_object(text) {
        return None;
    }
    let batch = text.trim_start()[1..]
        .trim_start()
        .starts_with("\"Records\"");
    if batch {
        decode_batch(text)
    } else {
        decode_direct(text)
    }
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
