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

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{CommandEventKind, CommandStatus, Event, LifecycleTransition, decode_event};

pub use super::record_change::RecordChange;
pub use envelope::{Wrap, sqs_batch, sqs_batch_text, wrap, wrap_text};

mod envelope;
mod shape;

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

/// A payload's tree, serialized from its shape.
fn tree<T: Serialize + ?Sized>(shape: &T) -> Value {
    serde_json::to_value(shape).expect("a payload's shape always serializes")
}

/// A payload's compact text, serialized from its shape.
fn text_of<T: Serialize + ?Sized>(shape: &T) -> String {
    serde_json::to_string(shape).expect("a payload's shape always serializes")
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

    fn shape(&self) -> shape::Event<'_, shape::LifecycleDetail<'_>> {
        let launching = self.transition == LifecycleTransition::Launching;
        let (detail_type, default_hook) = if launching {
            ("EC2 Instance-launch Lifecycle Action", "launch-hook")
        } else {
            ("EC2 Instance-terminate Lifecycle Action", "terminate-hook")
        };
        let (origin, destination) = match &self.moves {
            Some((origin, destination)) => (origin.as_str(), destination.as_str()),
            None if launching => ("EC2", "AutoScalingGroup"),
            None => ("AutoScalingGroup", "EC2"),
        };
        shape::Event {
            version: "0",
            id: &self.id,
            detail_type,
            source: "aws.autoscaling",
            account: ACCOUNT,
            time: time(self.at),
            region: REGION,
            resources: [format!(
                "arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{}",
                self.group
            )],
            detail: shape::LifecycleDetail {
                lifecycle_action_token: match &self.token {
                    Some(token) => Cow::Borrowed(token.as_str()),
                    None => Cow::Owned(format!("token-{}", self.id)),
                },
                auto_scaling_group_name: &self.group,
                lifecycle_hook_name: self.hook.as_deref().unwrap_or(default_hook),
                instance_id: &self.instance,
                lifecycle_transition: self.transition.api_name(),
                notification_metadata: self.notification_metadata.as_deref(),
                origin,
                destination,
            },
        }
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

    fn shape(&self) -> shape::Event<'_, shape::CommandDetails<'_>> {
        let at = time(self.at);
        let (detail_type, detail) = match self.kind {
            CommandEventKind::Command => (
                "EC2 Command Status-change Notification",
                shape::CommandDetails::Command(shape::CommandDetail {
                    command_id: &self.command_id,
                    document_name: &self.document,
                    expire_after: at.clone(),
                    parameters: shape::Parameters { commands: ["…"] },
                    requested_date_time: at.clone(),
                    status: self.status.as_str(),
                }),
            ),
            CommandEventKind::Invocation => (
                "EC2 Command Invocation Status-change Notification",
                shape::CommandDetails::Invocation(shape::InvocationDetail {
                    command_id: &self.command_id,
                    document_name: &self.document,
                    instance_id: &self.instance,
                    requested_date_time: at.clone(),
                    status: self.status.as_str(),
                }),
            ),
        };
        shape::Event {
            version: "0",
            id: &self.id,
            detail_type,
            source: "aws.ssm",
            account: ACCOUNT,
            time: at,
            region: REGION,
            resources: [format!(
                "arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{}",
                self.instance
            )],
            detail,
        }
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

    fn shape(&self) -> shape::Event<'_, shape::Empty> {
        shape::Event {
            version: "0",
            id: &self.id,
            detail_type: "Scheduled Event",
            source: "aws.events",
            account: ACCOUNT,
            time: time(self.at),
            region: REGION,
            resources: [format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:rule/{}",
                self.rule
            )],
            detail: shape::Empty {},
        }
    }
}

/// The methods every event builder has, from its `shape`: the event's tree, its text, its id and
/// the event it decodes to.
macro_rules! built_event {
    ($builder:ty) => {
        impl $builder {
            /// The EventBridge event.
            #[must_use]
            pub fn json(&self) -> Value {
                tree(&self.shape())
            }

            /// The EventBridge event as JSON text: [`Self::json`]'s compact text, written without
            /// building the tree.
            #[must_use]
            pub fn text(&self) -> String {
                text_of(&self.shape())
            }

            /// The event id.
            #[must_use]
            pub fn id(&self) -> &str {
                &self.id
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
    };
}

built_event!(LifecycleAction);
built_event!(CommandStatusChange);
built_event!(Scheduled);

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
