//! Auto Scaling lifecycle action events.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DecodeError;

/// Launch or terminate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleTransition {
    /// `autoscaling:EC2_INSTANCE_LAUNCHING`
    Launching,
    /// `autoscaling:EC2_INSTANCE_TERMINATING`
    Terminating,
}

impl LifecycleTransition {
    /// The API name of the transition.
    #[must_use]
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Launching => "autoscaling:EC2_INSTANCE_LAUNCHING",
            Self::Terminating => "autoscaling:EC2_INSTANCE_TERMINATING",
        }
    }

    /// Parses the API name.
    ///
    /// # Errors
    /// [`DecodeError::UnknownTransition`] for any other value.
    pub fn from_api_name(name: &str) -> Result<Self, DecodeError> {
        match name {
            "autoscaling:EC2_INSTANCE_LAUNCHING" => Ok(Self::Launching),
            "autoscaling:EC2_INSTANCE_TERMINATING" => Ok(Self::Terminating),
            other => Err(DecodeError::UnknownTransition {
                value: other.to_string(),
            }),
        }
    }
}

/// A lifecycle action held open by Auto Scaling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleEvent {
    /// Launch or terminate, from `detail.LifecycleTransition`.
    pub transition: LifecycleTransition,
    /// `detail.EC2InstanceId`.
    pub instance_id: String,
    /// `detail.AutoScalingGroupName`.
    pub group: String,
    /// `detail.LifecycleHookName`.
    pub hook: String,
    /// `detail.LifecycleActionToken` (absent on some test notifications).
    pub token: Option<String>,
    /// `detail.NotificationMetadata`: parsed JSON when the string is JSON, else the string.
    pub metadata: Option<Value>,
    /// `detail.Origin` (e.g. `EC2`, `WarmPool`).
    pub origin: Option<String>,
    /// `detail.Destination` (e.g. `AutoScalingGroup`).
    pub destination: Option<String>,
    /// The event's `time`: when Auto Scaling started the action (its hook's heartbeat timeout
    /// runs from then, however late the event is delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

fn string_field(
    detail: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, DecodeError> {
    match detail.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(DecodeError::InvalidField {
            field: name,
            message: format!("expected a string, found {}", super::error::kind_of(other)),
        }),
    }
}

fn required(
    detail: &serde_json::Map<String, Value>,
    name: &'static str,
) -> Result<String, DecodeError> {
    string_field(detail, name)?
        .filter(|s| !s.is_empty())
        .ok_or(DecodeError::MissingField { field: name })
}

pub(super) fn decode(detail_type: &str, detail: &Value) -> Result<LifecycleEvent, DecodeError> {
    let detail = detail
        .as_object()
        .ok_or(DecodeError::MissingField { field: "detail" })?;
    // Launch vs terminate is decided by LifecycleTransition only: the detail-type wording has
    // varied ("Instance-launch" / "Instance-launching"). The detail-type must still say it is a
    // lifecycle action, so that other Auto Scaling events are not mistaken for one.
    if !detail_type.ends_with("Lifecycle Action") {
        return Err(DecodeError::UnknownDetailType {
            source_name: "aws.autoscaling".into(),
            detail_type: detail_type.to_string(),
        });
    }
    let transition = LifecycleTransition::from_api_name(&required(detail, "LifecycleTransition")?)?;
    let metadata = match detail.get("NotificationMetadata") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(serde_json::from_str(s).unwrap_or(Value::String(s.clone()))),
        Some(other) => Some(other.clone()),
    };
    Ok(LifecycleEvent {
        transition,
        instance_id: required(detail, "EC2InstanceId")?,
        group: required(detail, "AutoScalingGroupName")?,
        hook: required(detail, "LifecycleHookName")?,
        token: string_field(detail, "LifecycleActionToken")?,
        metadata,
        origin: string_field(detail, "Origin")?,
        destination: string_field(detail, "Destination")?,
        time: None,
    })
}
