//! Building the JSON that AWS delivers: the EventBridge events of the three accepted sources and
//! the SNS and SQS envelopes that carry them — the inverse of [`decode_event`] and
//! [`decode_invocation`](super::decode_invocation).
//!
//! The simulator emits its world's events with these builders, and tests build their events with
//! them, so both speak the payloads the deployed function receives. Every builder starts from
//! what identifies the event — the event id first, then the instance it concerns, then what is
//! specific to the source — and has `#[must_use]` setters for the rest, whose defaults are
//! documented on each builder. Payloads are reproducible: the same builder gives the same JSON
//! (the default time is fixed, [`DEFAULT_TIME`], not the wall clock).
//!
//! ```
//! use asg_lifecycle::event::payload::{CommandStatusChange, LifecycleAction, Scheduled, Wrap, wrap};
//! use asg_lifecycle::event::{CommandStatus, decode_invocation};
//!
//! let launch = LifecycleAction::launching("ev-1", "i-0abc").group("web-asg").token("t-1");
//! assert_eq!(launch.event().id, "ev-1");
//! let done = CommandStatusChange::new("ev-2", "i-0abc", "cmd-1", CommandStatus::Success);
//! let sweep = Scheduled::new("ev-3", "reconcile");
//! let payload = wrap(Wrap::Sns, &done.json(), "m-1");
//! assert_eq!(decode_invocation(&payload).unwrap().messages.len(), 1);
//! # let _ = sweep.json();
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::{CommandEventKind, CommandStatus, Event, LifecycleTransition, decode_event};

pub use super::record_change::RecordChange;

/// The account id in every built payload.
pub const ACCOUNT: &str = "123456789012";
/// The region in every built payload.
pub const REGION: &str = "us-east-1";
/// The Auto Scaling group of a [`LifecycleAction`] unless one is set.
pub const DEFAULT_GROUP: &str = "web-asg";
/// The SSM document of a [`CommandStatusChange`] unless one is set.
pub const DEFAULT_DOCUMENT: &str = "AWS-RunShellScript";
/// The time of every built event unless one is set: `2026-11-20T12:00:00Z`.
pub const DEFAULT_TIME: &str = "2026-11-20T12:00:00Z";

pub(crate) fn default_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(DEFAULT_TIME)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Decodes a payload built here; they all decode (each kind is tested below).
fn decoded(payload: &Value) -> Event {
    decode_event(payload).unwrap_or_else(|e| panic!("a built payload does not decode: {e}"))
}

/// An Auto Scaling lifecycle action notification (`aws.autoscaling`, "EC2 Instance-launch
/// Lifecycle Action" or "EC2 Instance-terminate Lifecycle Action").
///
/// Defaults: group [`DEFAULT_GROUP`], hook `launch-hook` or `terminate-hook`, token
/// `token-{id}` (one token per event, as Auto Scaling gives one per action), time
/// [`DEFAULT_TIME`], no notification metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleAction {
    id: String,
    instance: String,
    transition: LifecycleTransition,
    group: String,
    hook: Option<String>,
    token: Option<String>,
    at: DateTime<Utc>,
    notification_metadata: Option<String>,
    moves: Option<(String, String)>,
}

impl LifecycleAction {
    /// The event `id` of a `transition` of `instance`.
    #[must_use]
    pub fn new(id: &str, instance: &str, transition: LifecycleTransition) -> Self {
        Self {
            id: id.to_string(),
            instance: instance.to_string(),
            transition,
            group: DEFAULT_GROUP.to_string(),
            hook: None,
            token: None,
            at: default_time(),
            notification_metadata: None,
            moves: None,
        }
    }

    /// `Origin` and `Destination` (default: `EC2` → `AutoScalingGroup` for a launch,
    /// `AutoScalingGroup` → `EC2` for a termination; groups with a warm pool also move instances
    /// from and to `WarmPool`).
    #[must_use]
    pub fn moves(mut self, origin: &str, destination: &str) -> Self {
        self.moves = Some((origin.to_string(), destination.to_string()));
        self
    }

    /// The event `id` of the launch of `instance` (`autoscaling:EC2_INSTANCE_LAUNCHING`).
    #[must_use]
    pub fn launching(id: &str, instance: &str) -> Self {
        Self::new(id, instance, LifecycleTransition::Launching)
    }

    /// The event `id` of the termination of `instance` (`autoscaling:EC2_INSTANCE_TERMINATING`).
    #[must_use]
    pub fn terminating(id: &str, instance: &str) -> Self {
        Self::new(id, instance, LifecycleTransition::Terminating)
    }

    /// The Auto Scaling group.
    #[must_use]
    pub fn group(mut self, group: &str) -> Self {
        self.group = group.to_string();
        self
    }

    /// The lifecycle hook's name.
    #[must_use]
    pub fn hook(mut self, hook: &str) -> Self {
        self.hook = Some(hook.to_string());
        self
    }

    /// The lifecycle action token.
    #[must_use]
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    /// When the event happened.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The hook's `NotificationMetadata` (a string, often JSON).
    #[must_use]
    pub fn notification_metadata(mut self, metadata: &str) -> Self {
        self.notification_metadata = Some(metadata.to_string());
        self
    }

    /// The EventBridge event.
    #[must_use]
    pub fn json(&self) -> Value {
        let launching = self.transition == LifecycleTransition::Launching;
        let (detail_type, default_hook) = if launching {
            ("EC2 Instance-launch Lifecycle Action", "launch-hook")
        } else {
            ("EC2 Instance-terminate Lifecycle Action", "terminate-hook")
        };
        let token = self
            .token
            .clone()
            .unwrap_or_else(|| format!("token-{}", self.id));
        let mut detail = Map::new();
        detail.insert("LifecycleActionToken".into(), json!(token));
        detail.insert("AutoScalingGroupName".into(), json!(self.group));
        detail.insert(
            "LifecycleHookName".into(),
            json!(self.hook.as_deref().unwrap_or(default_hook)),
        );
        detail.insert("EC2InstanceId".into(), json!(self.instance));
        detail.insert(
            "LifecycleTransition".into(),
            json!(self.transition.api_name()),
        );
        if let Some(metadata) = &self.notification_metadata {
            detail.insert("NotificationMetadata".into(), json!(metadata));
        }
        let (origin, destination) = self.moves.clone().unwrap_or_else(|| {
            let (origin, destination) = if launching {
                ("EC2", "AutoScalingGroup")
            } else {
                ("AutoScalingGroup", "EC2")
            };
            (origin.to_string(), destination.to_string())
        });
        detail.insert("Origin".into(), json!(origin));
        detail.insert("Destination".into(), json!(destination));
        let mut event = json!({
            "version": "0", "id": self.id, "detail-type": detail_type, "source": "aws.autoscaling",
            "account": ACCOUNT, "time": time(self.at), "region": REGION,
            "resources": [format!("arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{}", self.group)],
        });
        // Moved in last (as `json!` would place it), not copied: `json!` serializes a value it
        // is given into a new tree.
        event["detail"] = Value::Object(detail);
        event
    }

    /// The decoded event.
    ///
    /// # Panics
    /// Never for a built payload: each kind is decoded by this module's tests.
    #[must_use]
    pub fn event(&self) -> Event {
        decoded(&self.json())
    }
}

/// An SSM status-change notification (`aws.ssm`) of a command on one instance.
///
/// Defaults: the invocation notification ([`CommandEventKind::Invocation`], "EC2 Command
/// Invocation Status-change Notification"), document [`DEFAULT_DOCUMENT`], time
/// [`DEFAULT_TIME`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandStatusChange {
    id: String,
    instance: String,
    command_id: String,
    status: CommandStatus,
    kind: CommandEventKind,
    document: String,
    at: DateTime<Utc>,
}

impl CommandStatusChange {
    /// The event `id` saying that command `command_id` on `instance` reached `status`.
    #[must_use]
    pub fn new(id: &str, instance: &str, command_id: &str, status: CommandStatus) -> Self {
        Self {
            id: id.to_string(),
            instance: instance.to_string(),
            command_id: command_id.to_string(),
            status,
            kind: CommandEventKind::Invocation,
            document: DEFAULT_DOCUMENT.to_string(),
            at: default_time(),
        }
    }

    /// Which of the two notifications: the command's or the invocation's.
    #[must_use]
    pub fn kind(mut self, kind: CommandEventKind) -> Self {
        self.kind = kind;
        self
    }

    /// The SSM document the command ran.
    #[must_use]
    pub fn document(mut self, document: &str) -> Self {
        self.document = document.to_string();
        self
    }

    /// When the event happened.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The EventBridge event.
    #[must_use]
    pub fn json(&self) -> Value {
        let instance_arn = format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{}", self.instance);
        let at = time(self.at);
        match self.kind {
            CommandEventKind::Command => json!({
                "version": "0", "id": self.id, "detail-type": "EC2 Command Status-change Notification",
                "source": "aws.ssm", "account": ACCOUNT, "time": at, "region": REGION,
                "resources": [instance_arn],
                "detail": {
                    "command-id": self.command_id, "document-name": self.document, "expire-after": at,
                    "parameters": {"commands": ["…"]}, "requested-date-time": at, "status": self.status.as_str(),
                }
            }),
            CommandEventKind::Invocation => json!({
                "version": "0", "id": self.id, "detail-type": "EC2 Command Invocation Status-change Notification",
                "source": "aws.ssm", "account": ACCOUNT, "time": at, "region": REGION,
                "resources": [instance_arn],
                "detail": {
                    "command-id": self.command_id, "document-name": self.document, "instance-id": self.instance,
                    "requested-date-time": at, "status": self.status.as_str(),
                }
            }),
        }
    }

    /// The decoded event.
    ///
    /// # Panics
    /// Never for a built payload: each kind is decoded by this module's tests.
    #[must_use]
    pub fn event(&self) -> Event {
        decoded(&self.json())
    }
}

/// A scheduled-rule event (`aws.events`, "Scheduled Event"); the sweep's trigger.
///
/// Default: time [`DEFAULT_TIME`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scheduled {
    id: String,
    rule: String,
    at: DateTime<Utc>,
}

impl Scheduled {
    /// The event `id` of the scheduled rule `rule`.
    #[must_use]
    pub fn new(id: &str, rule: &str) -> Self {
        Self {
            id: id.to_string(),
            rule: rule.to_string(),
            at: default_time(),
        }
    }

    /// When the event happened.
    #[must_use]
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = at;
        self
    }

    /// The EventBridge event.
    #[must_use]
    pub fn json(&self) -> Value {
        json!({
            "version": "0", "id": self.id, "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": time(self.at), "region": REGION,
            "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{}", self.rule)], "detail": {}
        })
    }

    /// The decoded event.
    ///
    /// # Panics
    /// Never for a built payload: each kind is decoded by this module's tests.
    #[must_use]
    pub fn event(&self) -> Event {
        decoded(&self.json())
    }
}

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
    /// A DynamoDB stream batch: the "event" is a stream record ([`RecordChange::record`]).
    Stream,
}

fn sns_notification(event: &Value, message_id: &str) -> Value {
    json!({
        "Type": "Notification", "MessageId": message_id,
        "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:lifecycle"),
        "Message": text(event), "Timestamp": event.get("time").unwrap_or(&Value::Null),
    })
}

/// `value` as compact JSON text, the same text as its `Display` without going through
/// `fmt::Write` for every token.
fn text(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON tree always serializes")
}

/// The invocation payload carrying `event` in one message `message_id`.
#[must_use]
pub fn wrap(wrap: Wrap, event: &Value, message_id: &str) -> Value {
    match wrap {
        Wrap::Direct => event.clone(),
        Wrap::Sns => {
            let mut record = json!({
                "EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:lifecycle:0b1f"),
            });
            // Moved in, not copied through `json!`'s serializer.
            record["Sns"] = sns_notification(event, message_id);
            records(record)
        }
        Wrap::Sqs => sqs_batch(&[(message_id, text(event))]),
        Wrap::SqsSns => sqs_batch(&[(message_id, text(&sns_notification(event, message_id)))]),
        Wrap::Stream => records(event.clone()),
    }
}

/// `{"Records": [record]}`.
fn records(record: Value) -> Value {
    let mut batch = Map::with_capacity(1);
    batch.insert("Records".into(), Value::Array(vec![record]));
    Value::Object(batch)
}

/// An SQS batch of `(message id, body)` messages; a body need not be valid JSON (a poison
/// message is one).
#[must_use]
pub fn sqs_batch<S: AsRef<str>>(messages: &[(&str, S)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(message_id, body)| {
            json!({
                "messageId": message_id, "receiptHandle": format!("rh-{message_id}"), "body": body.as_ref(),
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:lifecycle"),
                "awsRegion": REGION,
            })
        })
        .collect();
    let mut batch = Map::with_capacity(1);
    batch.insert("Records".into(), Value::Array(records));
    Value::Object(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Stimulus, decode_invocation};

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T12:30:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_envelope_decodes_to_the_same_event() {
        let event = LifecycleAction::launching("e-1", "i-1")
            .group("g")
            .token("tok")
            .at(at())
            .json();
        let direct = decode_event(&event).unwrap();
        for w in [Wrap::Direct, Wrap::Sns, Wrap::Sqs, Wrap::SqsSns] {
            let invocation = decode_invocation(&wrap(w, &event, "m-1")).unwrap();
            assert_eq!(
                invocation.messages[0].event.as_ref().unwrap(),
                &direct,
                "{w:?}"
            );
        }
    }

    #[test]
    fn both_ssm_notifications_name_the_instance() {
        for kind in [CommandEventKind::Command, CommandEventKind::Invocation] {
            let event = CommandStatusChange::new("e", "i-9", "c-1", CommandStatus::Success)
                .kind(kind)
                .at(at())
                .event();
            let Stimulus::Command(c) = event.stimulus else {
                panic!("not a command event")
            };
            assert_eq!(c.instance_ids, ["i-9"]);
        }
    }

    #[test]
    fn a_lifecycle_action_decodes_with_everything_it_was_built_with() {
        for transition in [
            LifecycleTransition::Launching,
            LifecycleTransition::Terminating,
        ] {
            let event = LifecycleAction::new("e-2", "i-2", transition)
                .group("g-2")
                .hook("h-2")
                .token("t-2")
                .notification_metadata("{}")
                .at(at())
                .event();
            assert_eq!(event.id, "e-2");
            assert_eq!(event.time, Some(at()));
            let Stimulus::Lifecycle(l) = event.stimulus else {
                panic!("not a lifecycle event")
            };
            assert_eq!(
                (l.instance_id.as_str(), l.group.as_str(), l.hook.as_str()),
                ("i-2", "g-2", "h-2")
            );
            assert_eq!(l.token.as_deref(), Some("t-2"));
            assert_eq!(l.transition, transition);
        }
    }

    #[test]
    fn a_lifecycle_action_defaults_to_a_token_per_event_and_the_hook_of_its_transition() {
        let event = LifecycleAction::terminating("e-3", "i-3").event();
        let Stimulus::Lifecycle(l) = event.stimulus else {
            panic!("not a lifecycle event")
        };
        assert_eq!(l.token.as_deref(), Some("token-e-3"));
        assert_eq!(l.hook, "terminate-hook");
        assert_eq!(l.group, DEFAULT_GROUP);
        assert_eq!(event.time.map(time).as_deref(), Some(DEFAULT_TIME));
    }

    #[test]
    fn a_scheduled_event_names_its_rule() {
        let event = Scheduled::new("e-4", "reconcile").at(at()).event();
        let Stimulus::Scheduled(s) = event.stimulus else {
            panic!("not a scheduled event")
        };
        assert_eq!(s.rule, "reconcile");
    }

    #[test]
    fn an_sqs_batch_keeps_every_message_in_order_even_a_malformed_one() {
        let good = Scheduled::new("e-5", "reconcile").json().to_string();
        let payload = sqs_batch(&[("m-1", good.as_str()), ("m-2", "{not json")]);
        let invocation = decode_invocation(&payload).unwrap();
        assert_eq!(invocation.messages.len(), 2);
        assert!(invocation.messages[0].event.is_ok());
        assert!(invocation.messages[1].event.is_err());
    }
}
