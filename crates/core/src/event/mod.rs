//! Decoding invocations into typed stimuli.
//!
//! Three sources are accepted — `aws.autoscaling` lifecycle actions, `aws.ssm` command and
//! command-invocation status changes, `aws.events` scheduled events — in three envelopes:
//! EventBridge direct, SNS-wrapped and SQS batches. Anything else is a typed [`DecodeError`]
//! naming the field or value at fault.

mod autoscaling;
mod direct;
mod envelope;
mod error;
pub mod payload;
mod record_change;
mod ssm;
mod stream;
mod text;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use autoscaling::{LifecycleEvent, LifecycleTransition};
pub use envelope::{Envelope, Invocation, Message, decode_invocation};
pub use error::DecodeError;
pub use ssm::{CommandEvent, CommandEventKind, CommandStatus};
pub use text::decode_text;

/// One decoded EventBridge event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The EventBridge event id: the deduplication key.
    pub id: String,
    /// When the event happened.
    pub time: Option<DateTime<Utc>>,
    /// What the event asks of the machine.
    pub stimulus: Stimulus,
}

/// A scheduled (cron or rate) event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledEvent {
    /// The rule name: the last path segment of `resources[0]`.
    pub rule: String,
}

/// What an event asks of the machine.
///
/// Stored in records (`InFlight`) as `{"Stimulus": "Command", ...}`: the tag must not be `Kind`,
/// which [`CommandEvent`] uses for its own field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "Stimulus")]
pub enum Stimulus {
    /// An Auto Scaling lifecycle action (launch or terminate).
    Lifecycle(LifecycleEvent),
    /// An SSM command or command-invocation status change.
    Command(CommandEvent),
    /// A scheduled event.
    Scheduled(ScheduledEvent),
    /// An instance's registration reached the initial state (the table's stream).
    Registered(RegistrationEvent),
}

/// An instance's own registration item changed to the model's initial state (cloud-init
/// finished), as the table's stream tells: the instance may continue at once, without waiting
/// for the sweep.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationEvent {
    /// The instance (from the registration item's key, its ARN).
    pub instance_id: String,
    /// `ItemStatus` of the new image.
    pub status: String,
    /// The instance's own attributes in the new image ([`crate::registration::Registration`]).
    /// Never stored with the event (an unfinished chain keeps no registered values): the
    /// handler copies them into the record when it takes the registration in.
    #[serde(default, skip_serializing)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

impl Stimulus {
    /// The instances this stimulus addresses (empty for scheduled events, which address all
    /// active records).
    #[must_use]
    pub fn instance_ids(&self) -> &[String] {
        match self {
            Self::Lifecycle(l) => std::slice::from_ref(&l.instance_id),
            Self::Command(c) => &c.instance_ids,
            Self::Scheduled(_) => &[],
            Self::Registered(r) => std::slice::from_ref(&r.instance_id),
        }
    }

    /// [`Self::instance_ids`], taken.
    #[must_use]
    pub fn into_instance_ids(self) -> Vec<String> {
        match self {
            Self::Lifecycle(l) => vec![l.instance_id],
            Self::Command(c) => c.instance_ids,
            Self::Scheduled(_) => Vec::new(),
            Self::Registered(r) => vec![r.instance_id],
        }
    }

    /// A short name of the kind, for logs and outputs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Lifecycle(l) => match l.transition {
                LifecycleTransition::Launching => "lifecycle-launch",
                LifecycleTransition::Terminating => "lifecycle-terminate",
            },
            Self::Command(_) => "ssm-command",
            Self::Scheduled(_) => "scheduled",
            Self::Registered(_) => "registration",
        }
    }
}

/// Decodes one EventBridge event object.
///
/// # Errors
/// A [`DecodeError`] naming the field or value at fault.
pub fn decode_event(value: &Value) -> Result<Event, DecodeError> {
    let object = value.as_object().ok_or_else(|| DecodeError::NotAnObject {
        found: error::kind_of(value),
    })?;
    let source = object
        .get("source")
        .and_then(Value::as_str)
        .ok_or(DecodeError::MissingField { field: "source" })?;
    let detail_type =
        object
            .get("detail-type")
            .and_then(Value::as_str)
            .ok_or(DecodeError::MissingField {
                field: "detail-type",
            })?;
    let id = object
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(DecodeError::MissingField { field: "id" })?
        .to_string();
    let time = match object.get("time") {
        Some(Value::String(t)) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| DecodeError::InvalidField {
                    field: "time",
                    message: e.to_string(),
                })?
                .with_timezone(&Utc),
        ),
        _ => None,
    };
    let detail = object.get("detail").unwrap_or(&Value::Null);
    let resources: Vec<&str> = match object.get("resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(DecodeError::InvalidField {
                field: "resources",
                message: "expected a list of ARNs".into(),
            });
        }
    };
    let stimulus = match source {
        "aws.autoscaling" => Stimulus::Lifecycle(autoscaling::LifecycleEvent {
            time,
            ..autoscaling::decode(detail_type, detail)?
        }),
        "aws.ssm" => Stimulus::Command(ssm::decode(detail_type, detail, &resources)?),
        "aws.events" => {
            if detail_type != "Scheduled Event" {
                return Err(DecodeError::UnknownDetailType {
                    source_name: source.to_string(),
                    detail_type: detail_type.to_string(),
                });
            }
            let arn = resources.first().ok_or(DecodeError::MissingField {
                field: "resources[0]",
            })?;
            let rule = arn
                .rsplit('/')
                .next()
                .filter(|r| !r.is_empty() && *r != *arn);
            let rule = rule.ok_or_else(|| DecodeError::InvalidField {
                field: "resources[0]",
                message: format!("`{arn}` is not a rule ARN (expected .../rule/NAME)"),
            })?;
            Stimulus::Scheduled(ScheduledEvent {
                rule: rule.to_string(),
            })
        }
        other => {
            return Err(DecodeError::UnknownSource {
                source_name: other.to_string(),
            });
        }
    };
    Ok(Event { id, time, stimulus })
}

#[cfg(test)]
mod stimulus_tests {
    use super::*;

    #[test]
    fn every_stimulus_round_trips_through_json() {
        let stimuli = [
            Stimulus::Command(CommandEvent {
                kind: CommandEventKind::Invocation,
                command_id: "c".into(),
                instance_ids: vec!["i-1".into()],
                status: CommandStatus::Success,
                document_name: None,
            }),
            Stimulus::Scheduled(ScheduledEvent {
                rule: "reconcile".into(),
            }),
        ];
        for stimulus in stimuli {
            let json = serde_json::to_value(&stimulus).unwrap();
            assert_eq!(serde_json::from_value::<Stimulus>(json).unwrap(), stimulus);
        }
    }

    #[test]
    fn the_instances_taken_are_the_instances_named() {
        let stimuli = [
            crate::testing::launch("e-1", "i-1").stimulus,
            Stimulus::Command(CommandEvent {
                kind: CommandEventKind::Command,
                command_id: "c".into(),
                instance_ids: vec!["i-1".into(), "i-2".into()],
                status: CommandStatus::Success,
                document_name: None,
            }),
            Stimulus::Scheduled(ScheduledEvent {
                rule: "reconcile".into(),
            }),
        ];
        for stimulus in stimuli {
            let named = stimulus.instance_ids().to_vec();
            assert_eq!(stimulus.into_instance_ids(), named);
        }
    }
}
