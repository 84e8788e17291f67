//! The typed fast path of decoding: a direct EventBridge Auto Scaling lifecycle action (the
//! commonest payload) decoded from its JSON text into its [`Event`] without building a JSON tree,
//! its strings borrowed from the text until the event takes them.
//!
//! # Guarantees
//! The fast path only answers when the general way ([`super::decode_invocation`] over the parsed
//! payload) would decode the same payload into the same invocation; anything else (another source
//! or envelope, a missing, empty or oddly typed field, an escaped string, a duplicate key, text that
//! is not JSON) gets `None` and goes the general way, which names what is wrong. The tests compare
//! both ways on the fixtures and on malformed variants.

use chrono::{DateTime, Utc};
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{Envelope, Event, Invocation, LifecycleEvent, LifecycleTransition, Message, Stimulus};

/// The fields of a direct event that decoding reads; others are skipped.
#[derive(Deserialize)]
struct Direct<'a> {
    source: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    id: &'a str,
    #[serde(default)]
    time: Option<&'a str>,
    #[serde(default)]
    resources: Option<Vec<IgnoredAny>>,
    /// Read in the same pass, and only from an object (serde would read a struct from a list).
    #[serde(default, borrow, deserialize_with = "detail_object")]
    detail: Option<Detail<'a>>,
    /// Present (whatever its value): an SNS or SQS envelope, not a direct event.
    #[serde(default, rename = "Records", deserialize_with = "present")]
    records: bool,
}

/// The fields of an Auto Scaling lifecycle action's `detail`.
#[derive(Default)]
struct Detail<'a> {
    lifecycle_transition: Option<&'a str>,
    instance_id: Option<&'a str>,
    auto_scaling_group_name: Option<&'a str>,
    lifecycle_hook_name: Option<&'a str>,
    lifecycle_action_token: Option<&'a str>,
    notification_metadata: Option<&'a RawValue>,
    origin: Option<&'a str>,
    destination: Option<&'a str>,
}

/// `detail`'s keys, in the order of [`Detail`]'s fields.
const DETAIL_KEYS: [&str; 8] = [
    "LifecycleTransition",
    "EC2InstanceId",
    "AutoScalingGroupName",
    "LifecycleHookName",
    "LifecycleActionToken",
    "NotificationMetadata",
    "Origin",
    "Destination",
];

fn detail_object<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Detail<'de>>, D::Error> {
    deserializer.deserialize_map(DetailVisitor).map(Some)
}

/// Reads `detail` from a JSON object only; a duplicate key is an error, as for a derived struct.
struct DetailVisitor;

impl<'de> Visitor<'de> for DetailVisitor {
    type Value = Detail<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the detail object of an Auto Scaling lifecycle action")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Detail<'de>, A::Error> {
        let mut detail = Detail::default();
        let mut seen = [false; DETAIL_KEYS.len()];
        while let Some(key) = map.next_key::<&'de str>()? {
            let Some(slot) = DETAIL_KEYS.iter().position(|k| *k == key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            match slot {
                0 => detail.lifecycle_transition = map.next_value()?,
                1 => detail.instance_id = map.next_value()?,
                2 => detail.auto_scaling_group_name = map.next_value()?,
                3 => detail.lifecycle_hook_name = map.next_value()?,
                4 => detail.lifecycle_action_token = map.next_value()?,
                5 => detail.notification_metadata = map.next_value()?,
                6 => detail.origin = map.next_value()?,
                _ => detail.destination = map.next_value()?,
            }
        }
        Ok(detail)
    }
}

fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A JSON object's text (a struct must not be read from a list, as serde would).
fn is_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// A required string: present and not empty.
fn required(value: Option<&str>) -> Option<String> {
    value.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Decodes `text` when it is a direct Auto Scaling lifecycle action that decodes without error;
/// `None` sends it the general way.
#[must_use]
pub fn decode_direct_lifecycle(text: &str) -> Option<Invocation> {
    if !is_object(text) {
        return None;
    }
    let direct: Direct<'_> = serde_json::from_str(text).ok()?;
    if direct.records
        || direct.source != "aws.autoscaling"
        || direct.id.is_empty()
        || !direct.detail_type.ends_with("Lifecycle Action")
    {
        return None;
    }
    // `resources` is read for its shape only (a list, or null): the action needs none.
    let _ = direct.resources;
    let time = match direct.time {
        Some(t) => Some(DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc)),
        None => None,
    };
    let detail = direct.detail?;
    let transition =
        LifecycleTransition::from_api_name(detail.lifecycle_transition.filter(|t| !t.is_empty())?)
            .ok()?;
    let metadata = match detail.notification_metadata {
        None => None,
        Some(raw) => match serde_json::from_str::<Value>(raw.get()).ok()? {
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(serde_json::from_str(&s).unwrap_or(Value::String(s))),
            other => Some(other),
        },
    };
    let event = LifecycleEvent {
        transition,
        instance_id: required(detail.instance_id)?,
        group: required(detail.auto_scaling_group_name)?,
        hook: required(detail.lifecycle_hook_name)?,
        token: detail.lifecycle_action_token.map(str::to_string),
        metadata,
        origin: detail.origin.map(str::to_string),
        destination: detail.destination.map(str::to_string),
        time,
    };
    Some(Invocation {
        envelope: Envelope::Direct,
        messages: vec![Message {
            message_id: None,
            event: Ok(Event {
                id: direct.id.to_string(),
                time,
                stimulus: Stimulus::Lifecycle(event),
            }),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::decode_invocation;

    /// The general way's answer, in the form of the fast path's.
    fn general(text: &str) -> Option<Invocation> {
        let payload: Value = serde_json::from_str(text).ok()?;
        decode_invocation(&payload).ok()
    }

    fn same(text: &str) {
        let fast = decode_direct_lifecycle(text);
        match (&fast, general(text)) {
            (Some(fast), Some(general)) => {
                assert_eq!(fast.envelope, general.envelope, "{text}");
                assert_eq!(fast.messages.len(), general.messages.len(), "{text}");
                for (f, g) in fast.messages.iter().zip(&general.messages) {
                    assert_eq!(f.message_id, g.message_id, "{text}");
                    assert_eq!(f.event, g.event, "{text}");
                }
            }
            (Some(_), None) => {
                panic!("the fast path accepted what the general way refuses: {text}")
            }
            (None, _) => {}
        }
    }

    const LAUNCH: &str = r#"{"version":"0","id":"e-1","source":"aws.autoscaling",
        "detail-type":"EC2 Instance-launch Lifecycle Action","time":"2026-11-20T12:00:00Z",
        "region":"us-east-1","resources":["arn:aws:autoscaling:x"],
        "detail":{"LifecycleActionToken":"t","AutoScalingGroupName":"web-asg",
        "LifecycleHookName":"launch-hook","EC2InstanceId":"i-1",
        "LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING",
        "NotificationMetadata":"{\"cluster\": \"blue\"}","Origin":"EC2","Destination":"AutoScalingGroup"}}"#;

    #[test]
    fn a_direct_lifecycle_action_decodes_as_the_general_way_decodes_it() {
        assert!(decode_direct_lifecycle(LAUNCH).is_some());
        same(LAUNCH);
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
        let mut seen = 0;
        for entry in std::fs::read_dir(fixtures).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            same(&text);
            seen += 1;
        }
        assert!(seen > 0);
    }

    #[test]
    fn anything_unusual_goes_the_general_way() {
        let variants = [
            LAUNCH.replace(r#""id":"e-1""#, r#""id":"""#),
            LAUNCH.replace(r#""id":"e-1""#, r#""id":1"#),
            LAUNCH.replace(r#""time":"2026-11-20T12:00:00Z""#, r#""time":"yesterday""#),
            LAUNCH.replace(r#""time":"2026-11-20T12:00:00Z""#, r#""time":12"#),
            LAUNCH.replace(r#""time":"2026-11-20T12:00:00Z""#, r#""time":null"#),
            LAUNCH.replace(
                r#""resources":["arn:aws:autoscaling:x"]"#,
                r#""resources":"x""#,
            ),
            LAUNCH.replace(
                r#""resources":["arn:aws:autoscaling:x"]"#,
                r#""resources":null"#,
            ),
            LAUNCH.replace(r#""EC2InstanceId":"i-1""#, r#""EC2InstanceId":"""#),
            LAUNCH.replace(r#""EC2InstanceId":"i-1""#, r#""EC2InstanceId":"i-\u0031""#),
            LAUNCH.replace(r#""Origin":"EC2""#, r#""Origin":null"#),
            LAUNCH.replace(r#""Origin":"EC2""#, r#""Origin":3"#),
            LAUNCH.replace(
                r#""LifecycleActionToken":"t""#,
                r#""LifecycleActionToken":"""#,
            ),
            LAUNCH.replace(
                r#""NotificationMetadata":"{\"cluster\": \"blue\"}""#,
                r#""NotificationMetadata":"""#,
            ),
            LAUNCH.replace(
                r#""NotificationMetadata":"{\"cluster\": \"blue\"}""#,
                r#""NotificationMetadata":"plain""#,
            ),
            LAUNCH.replace(
                r#""NotificationMetadata":"{\"cluster\": \"blue\"}""#,
                r#""NotificationMetadata":{"a":1}"#,
            ),
            LAUNCH.replace(
                r#""NotificationMetadata":"{\"cluster\": \"blue\"}""#,
                r#""NotificationMetadata":null"#,
            ),
            LAUNCH.replace(
                "autoscaling:EC2_INSTANCE_LAUNCHING",
                "autoscaling:EC2_INSTANCE_TERMINATING",
            ),
            LAUNCH.replace("autoscaling:EC2_INSTANCE_LAUNCHING", "autoscaling:OTHER"),
            LAUNCH.replace("Lifecycle Action", "State-change Notification"),
            LAUNCH.replace(r#""source":"aws.autoscaling""#, r#""source":"aws.ssm""#),
            LAUNCH.replace(r#""id":"e-1""#, r#""id":"e-1","id":"e-2""#),
            LAUNCH.replace(r#""version":"0""#, r#""Records":null"#),
            LAUNCH.replace(r#""detail":{"#, r#""detail":{"LifecycleTransition":1,"#),
            format!("[{LAUNCH}]"),
            r#"["aws.autoscaling","EC2 Instance-launch Lifecycle Action","e-1"]"#.to_string(),
            LAUNCH[..LAUNCH.len() - 1].to_string(),
            "null".to_string(),
        ];
        for text in &variants {
            same(text);
        }
        assert!(
            decode_direct_lifecycle(&variants[8]).is_none(),
            "an escaped string"
        );
        assert!(
            decode_direct_lifecycle(&variants[20]).is_none(),
            "a duplicate key"
        );
    }
}
