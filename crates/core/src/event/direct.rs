//! The typed fast path of decoding an EventBridge event: its JSON text decoded into its [`Event`]
//! without building a JSON tree, its strings borrowed from the text until the event takes them.
//! Auto Scaling lifecycle actions, SSM command notifications and scheduled events, the three
//! sources the function accepts, all have it.
//!
//! # Guarantees
//! The fast path only answers when the general way ([`super::decode_event`] over the parsed
//! event) would decode the same text into the same event; anything else (another source, a
//! missing, empty or oddly typed field, an escaped string, a duplicate key, text that is not JSON,
//! an SNS notification or an envelope) gets `None` and goes the general way, which names what is
//! wrong. The tests compare both ways on the fixtures and on malformed variants.

use chrono::{DateTime, Utc};
use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{
    CommandEvent, CommandEventKind, CommandStatus, Envelope, Event, Invocation, LifecycleEvent,
    LifecycleTransition, Message, ScheduledEvent, Stimulus,
};

/// The fields of an event that decoding reads; others are skipped.
#[derive(Deserialize)]
struct Direct<'a> {
    source: &'a str,
    #[serde(rename = "detail-type")]
    detail_type: &'a str,
    id: &'a str,
    #[serde(default)]
    time: Option<&'a str>,
    /// Read as a list of strings only by the sources that use it (a lifecycle action needs
    /// none: it is only checked to be a list, or null).
    #[serde(default, borrow)]
    resources: Option<&'a RawValue>,
    /// Read in the same pass, and only from an object (serde would read a struct from a list).
    #[serde(default, borrow, deserialize_with = "detail_object")]
    detail: Option<Detail<'a>>,
    /// Present (whatever its value): an SNS or SQS envelope, not an event.
    #[serde(default, rename = "Records", deserialize_with = "present")]
    records: bool,
    /// Present: maybe an SNS notification, which the general way unwraps.
    #[serde(default, rename = "Message", deserialize_with = "present")]
    message: bool,
}

/// The fields of a `detail` that decoding reads, of any of the three sources.
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
    command_id: Option<&'a str>,
    status: Option<&'a str>,
    command_instance_id: Option<&'a str>,
    document_name: Option<&'a str>,
}

/// The number of `detail` keys read.
const DETAIL_KEYS: usize = 12;

/// The position of a `detail` key among [`Detail`]'s fields.
fn detail_slot(key: &str) -> Option<usize> {
    Some(match key {
        "LifecycleTransition" => 0,
        "EC2InstanceId" => 1,
        "AutoScalingGroupName" => 2,
        "LifecycleHookName" => 3,
        "LifecycleActionToken" => 4,
        "NotificationMetadata" => 5,
        "Origin" => 6,
        "Destination" => 7,
        "command-id" => 8,
        "status" => 9,
        "instance-id" => 10,
        "document-name" => 11,
        _ => return None,
    })
}

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
        f.write_str("the detail object of an event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Detail<'de>, A::Error> {
        let mut detail = Detail::default();
        let mut seen = [false; DETAIL_KEYS];
        while let Some(key) = map.next_key::<&'de str>()? {
            let Some(slot) = detail_slot(key) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let text = match slot {
                0 => &mut detail.lifecycle_transition,
                1 => &mut detail.instance_id,
                2 => &mut detail.auto_scaling_group_name,
                3 => &mut detail.lifecycle_hook_name,
                4 => &mut detail.lifecycle_action_token,
                5 => {
                    detail.notification_metadata = map.next_value()?;
                    continue;
                }
                6 => &mut detail.origin,
                7 => &mut detail.destination,
                8 => &mut detail.command_id,
                9 => &mut detail.status,
                10 => &mut detail.command_instance_id,
                _ => &mut detail.document_name,
            };
            *text = map.next_value()?;
        }
        Ok(detail)
    }
}

pub(super) fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// A JSON object's text (a struct must not be read from a list, as serde would).
pub(super) fn is_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// A required string: present and not empty.
fn required(value: Option<&str>) -> Option<String> {
    value.filter(|s| !s.is_empty()).map(str::to_string)
}

/// Decodes `text` when it is an event of an accepted source that decodes without error; `None`
/// sends it the general way.
pub(super) fn decode_direct_event(text: &str) -> Option<Event> {
    if !is_object(text) {
        return None;
    }
    let direct: Direct<'_> = serde_json::from_str(text).ok()?;
    if direct.records || direct.message || direct.id.is_empty() {
        return None;
    }
    let time = match direct.time {
        Some(t) => Some(DateTime::parse_from_rfc3339(t).ok()?.with_timezone(&Utc)),
        None => None,
    };
    // `resources`: a list or null, as the general way requires of every event.
    let resources = match direct.resources.map(RawValue::get) {
        None | Some("null") => None,
        Some(list) if list.starts_with('[') => Some(list),
        Some(_) => return None,
    };
    // The ARNs, for the sources that read them: strings only (else the general way decides).
    let arns = || -> Option<Vec<&str>> {
        resources.map_or(Some(Vec::new()), |list| serde_json::from_str(list).ok())
    };
    let stimulus = match direct.source {
        "aws.autoscaling" if direct.detail_type.ends_with("Lifecycle Action") => {
            Stimulus::Lifecycle(lifecycle(direct.detail?, time)?)
        }
        "aws.ssm" => Stimulus::Command(command(direct.detail_type, direct.detail?, &arns()?)?),
        "aws.events" if direct.detail_type == "Scheduled Event" => {
            let resources = arns()?;
            let arn = resources.first()?;
            let rule = arn
                .rsplit('/')
                .next()
                .filter(|r| !r.is_empty() && r != arn)?;
            Stimulus::Scheduled(ScheduledEvent {
                rule: rule.to_string(),
            })
        }
        _ => return None,
    };
    Some(Event {
        id: direct.id.to_string(),
        time,
        stimulus,
    })
}

fn lifecycle(detail: Detail<'_>, time: Option<DateTime<Utc>>) -> Option<LifecycleEvent> {
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
    Some(LifecycleEvent {
        transition,
        instance_id: required(detail.instance_id)?,
        group: required(detail.auto_scaling_group_name)?,
        hook: required(detail.lifecycle_hook_name)?,
        token: detail.lifecycle_action_token.map(str::to_string),
        metadata,
        origin: detail.origin.map(str::to_string),
        destination: detail.destination.map(str::to_string),
        time,
    })
}

fn command(detail_type: &str, detail: Detail<'_>, resources: &[&str]) -> Option<CommandEvent> {
    let kind = match detail_type {
        "EC2 Command Status-change Notification" => CommandEventKind::Command,
        "EC2 Command Invocation Status-change Notification" => CommandEventKind::Invocation,
        _ => return None,
    };
    let command_id = required(detail.command_id)?;
    let status = CommandStatus::parse(detail.status?).ok()?;
    let instance_ids = match kind {
        CommandEventKind::Invocation => vec![required(detail.command_instance_id)?],
        CommandEventKind::Command => {
            let ids: Vec<String> = resources
                .iter()
                .filter_map(|arn| super::ssm::instance_from_arn(arn))
                .collect();
            if ids.is_empty() {
                return None;
            }
            ids
        }
    };
    Some(CommandEvent {
        kind,
        command_id,
        instance_ids,
        status,
        document_name: detail.document_name.map(str::to_string),
    })
}

/// Decodes `text` when it is a direct event of an accepted source that decodes without error;
/// `None` sends it the general way.
#[must_use]
pub(super) fn decode_direct(text: &str) -> Option<Invocation> {
    Some(Invocation {
        envelope: Envelope::Direct,
        messages: vec![Message {
            message_id: None,
            event: Ok(decode_direct_event(text)?),
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
        let fast = decode_direct(text);
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
        assert!(decode_direct(LAUNCH).is_some());
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
        assert!(decode_direct(&variants[8]).is_none(), "an escaped string");
        assert!(decode_direct(&variants[20]).is_none(), "a duplicate key");
    }
}
