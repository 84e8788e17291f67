//! The envelopes an event reaches the function in: itself, an SNS notification, an SQS message
//! (raw, or holding an SNS notification) or a DynamoDB stream batch; as JSON trees
//! ([`wrap`], [`sqs_batch`]) and as the text the function receives ([`wrap_text`],
//! [`sqs_batch_text`]), both serialized from the same shapes.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::shape::{Empty, Records, SnsNotification, SnsRecord, SqsAttributes, SqsRecord};
use super::{ACCOUNT, REGION, text_of, tree};

/// How an event reaches the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// The EventBridge event itself.
    Direct,
    /// An SNS notification.
    Sns,
    /// An SQS message (raw delivery).
    Sqs,
    /// An SNS notification inside an SQS message.
    SqsSns,
    /// A DynamoDB stream batch: the "event" is a stream record ([`super::RecordChange::record`]).
    Stream,
}

/// The notification of the event whose text is `event`, which happened at `time`.
fn sns_notification<'a, T>(event: &'a str, time: T, message_id: &'a str) -> SnsNotification<'a, T> {
    SnsNotification {
        kind: "Notification",
        message_id,
        topic_arn: format!("arn:aws:sns:{REGION}:{ACCOUNT}:lifecycle"),
        message: event,
        timestamp: time,
    }
}

/// The invocation of an SNS subscription with one notification.
fn sns_invocation<'a, T>(
    event: &'a str,
    time: T,
    message_id: &'a str,
) -> Records<[SnsRecord<'a, T>; 1]> {
    Records {
        records: [SnsRecord {
            event_source: "aws:sns",
            event_version: "1.0",
            event_subscription_arn: format!("arn:aws:sns:{REGION}:{ACCOUNT}:lifecycle:0b1f"),
            sns: sns_notification(event, time, message_id),
        }],
    }
}

fn sqs_records<'a, S: AsRef<str>>(messages: &'a [(&'a str, S)]) -> Records<Vec<SqsRecord<'a>>> {
    Records {
        records: messages
            .iter()
            .map(|(message_id, body)| SqsRecord {
                message_id,
                receipt_handle: format!("rh-{message_id}"),
                body: body.as_ref(),
                attributes: SqsAttributes {
                    approximate_receive_count: "1",
                },
                message_attributes: Empty {},
                event_source: "aws:sqs",
                event_source_arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT}:lifecycle"),
                aws_region: REGION,
            })
            .collect(),
    }
}

/// The invocation payload carrying `event` in one message `message_id`.
#[must_use]
pub fn wrap(wrap: Wrap, event: &Value, message_id: &str) -> Value {
    let time = event.get("time").unwrap_or(&Value::Null);
    match wrap {
        Wrap::Direct => event.clone(),
        // Compact text, as `Display` writes it, without going through `fmt::Write` per token.
        Wrap::Sns => tree(&sns_invocation(&text_of(event), time, message_id)),
        Wrap::Sqs => sqs_batch(&[(message_id, text_of(event))]),
        Wrap::SqsSns => {
            let notification = text_of(&sns_notification(&text_of(event), time, message_id));
            sqs_batch(&[(message_id, notification)])
        }
        Wrap::Stream => tree(&Records { records: [event] }),
    }
}

/// [`wrap`] as the function receives it: `event` is the compact JSON text of the event (as
/// [`super::LifecycleAction::text`] writes it, or `serde_json::to_string` of its tree), and the
/// payload is `wrap`'s tree's compact text, written without building the tree.
#[must_use]
pub fn wrap_text(wrap: Wrap, event: &str, message_id: &str) -> String {
    match wrap {
        Wrap::Direct => event.to_string(),
        Wrap::Sns => text_of(&sns_invocation(event, time_in(event), message_id)),
        Wrap::Sqs => sqs_batch_text(&[(message_id, event)]),
        Wrap::SqsSns => {
            let notification = text_of(&sns_notification(event, time_in(event), message_id));
            sqs_batch_text(&[(message_id, notification)])
        }
        Wrap::Stream => format!("{{\"Records\":[{event}]}}"),
    }
}

/// The `time` of the event whose text is `event`, as written there (`None`, written `null`, when
/// it has none or is no object).
fn time_in(event: &str) -> Option<&RawValue> {
    #[derive(Deserialize)]
    struct Time<'a> {
        #[serde(borrow, default)]
        time: Option<&'a RawValue>,
    }
    if !event.trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str::<Time<'_>>(event)
        .ok()
        .and_then(|found| found.time)
}

/// An SQS batch of `(message id, body)` messages; a body need not be valid JSON (a poison
/// message is one).
#[must_use]
pub fn sqs_batch<S: AsRef<str>>(messages: &[(&str, S)]) -> Value {
    tree(&sqs_records(messages))
}

/// [`sqs_batch`]'s compact text, written without building the tree.
#[must_use]
pub fn sqs_batch_text<S: AsRef<str>>(messages: &[(&str, S)]) -> String {
    text_of(&sqs_records(messages))
}

#[cfg(test)]
mod tests {
    use super::super::{CommandStatusChange, LifecycleAction, RecordChange, Scheduled};
    use super::*;
    use crate::event::{CommandEventKind, CommandStatus};

    /// Every kind of event this module builds, with and without its optional parts.
    fn events() -> Vec<(Value, String)> {
        let mut out = Vec::new();
        for launch in [
            LifecycleAction::launching("e-1", "i-1"),
            LifecycleAction::terminating("e-2", "i-2")
                .group("g")
                .hook("h")
                .token("t \"quoted\" \\ é")
                .notification_metadata("{\"cluster\": \"blue\"}")
                .moves("WarmPool", "AutoScalingGroup"),
        ] {
            out.push((launch.json(), launch.text()));
        }
        for kind in [CommandEventKind::Command, CommandEventKind::Invocation] {
            let change = CommandStatusChange::new("e-3", "i-3", "c-1", CommandStatus::Failed)
                .kind(kind)
                .document("doc");
            out.push((change.json(), change.text()));
        }
        let sweep = Scheduled::new("e-4", "reconcile");
        out.push((sweep.json(), sweep.text()));
        out
    }

    #[test]
    fn an_events_text_is_its_trees_compact_text() {
        for (tree, text) in events() {
            assert_eq!(text, serde_json::to_string(&tree).unwrap());
        }
    }

    #[test]
    fn every_wrap_as_text_is_the_wrapped_trees_compact_text() {
        let mut events = events();
        let stream = RecordChange::new("7", "i-5", "registered").record();
        events.push((stream.clone(), serde_json::to_string(&stream).unwrap()));
        // Poison: an event that is a string, an object without a time, a list.
        for odd in [
            Value::String("{\"id\": \"x\", \"source\": ".into()),
            serde_json::json!({"id": "x", "hello": "world"}),
            serde_json::json!({"time": null}),
            serde_json::json!({"time": {"a": [1, 2]}}),
            serde_json::json!([{"time": "t"}]),
        ] {
            let text = serde_json::to_string(&odd).unwrap();
            events.push((odd, text));
        }
        for (event, text) in &events {
            for w in [
                Wrap::Direct,
                Wrap::Sns,
                Wrap::Sqs,
                Wrap::SqsSns,
                Wrap::Stream,
            ] {
                assert_eq!(
                    wrap_text(w, text, "m-1"),
                    serde_json::to_string(&wrap(w, event, "m-1")).unwrap(),
                    "{w:?} {text}"
                );
            }
        }
        let messages = [("m-1", "{not json"), ("m-2", "\"quoted\"")];
        assert_eq!(
            sqs_batch_text(&messages),
            serde_json::to_string(&sqs_batch(&messages)).unwrap()
        );
    }
}
