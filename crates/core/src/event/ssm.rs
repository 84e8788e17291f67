//! SSM command and command-invocation status-change events.
//!
//! `aws_lambda_events`' own type for this event expects `parameters` as a string map and fails on
//! real events (where it is an object of arrays, or a JSON string), so the detail is typed here.
//!
//! # Guarantees
//! - `detail.parameters` is never kept: a command-level notification carries the command's
//!   parameters as sent, i.e. the resolved `env` lines (`export NAME='value'`). The decoded
//!   event, which the handler stores while a chain is in flight (`InFlight`), holds the
//!   command id, instances, status and document name only, so no resolved value reaches the
//!   table, its stream or its backups through it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DecodeError;

/// Every status SSM reports for a command or an invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CommandStatus {
    /// Not yet received by the agent.
    Pending,
    /// Running.
    InProgress,
    /// The system tried to send the command but it was not delivered; it will retry.
    Delayed,
    /// Finished successfully.
    Success,
    /// Cancelled before it finished.
    Cancelled,
    /// Did not finish in time.
    TimedOut,
    /// Finished with a failure.
    Failed,
    /// Being cancelled.
    Cancelling,
}

impl CommandStatus {
    /// Every value, in the documented order.
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::InProgress,
        Self::Delayed,
        Self::Success,
        Self::Cancelled,
        Self::TimedOut,
        Self::Failed,
        Self::Cancelling,
    ];

    /// Parses the API name.
    ///
    /// # Errors
    /// [`DecodeError::UnknownStatus`] for any other value.
    pub fn parse(value: &str) -> Result<Self, DecodeError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| DecodeError::UnknownStatus {
                value: value.to_string(),
            })
    }

    /// The API name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::InProgress => "InProgress",
            Self::Delayed => "Delayed",
            Self::Success => "Success",
            Self::Cancelled => "Cancelled",
            Self::TimedOut => "TimedOut",
            Self::Failed => "Failed",
            Self::Cancelling => "Cancelling",
        }
    }

    /// True for the statuses after which nothing changes any more.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Cancelled | Self::TimedOut | Self::Failed
        )
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the two SSM notifications this was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandEventKind {
    /// "EC2 Command Status-change Notification" (the command as a whole).
    Command,
    /// "EC2 Command Invocation Status-change Notification" (one instance).
    Invocation,
}

/// A status change of an SSM command.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommandEvent {
    /// Command or invocation notification.
    pub kind: CommandEventKind,
    /// `detail.command-id`.
    pub command_id: String,
    /// The instances concerned: from `resources` ARNs, or `detail.instance-id`.
    pub instance_ids: Vec<String>,
    /// `detail.status`.
    pub status: CommandStatus,
    /// `detail.document-name`.
    pub document_name: Option<String>,
}

pub(super) fn instance_from_arn(arn: &str) -> Option<String> {
    let (_, rest) = arn.split_once(":instance/")?;
    (!rest.is_empty()).then(|| rest.to_string())
}

pub(super) fn decode(
    detail_type: &str,
    detail: &Value,
    resources: &[&str],
) -> Result<CommandEvent, DecodeError> {
    let kind = match detail_type {
        "EC2 Command Status-change Notification" => CommandEventKind::Command,
        "EC2 Command Invocation Status-change Notification" => CommandEventKind::Invocation,
        other => {
            return Err(DecodeError::UnknownDetailType {
                source_name: "aws.ssm".into(),
                detail_type: other.to_string(),
            });
        }
    };
    let detail = detail
        .as_object()
        .ok_or(DecodeError::MissingField { field: "detail" })?;
    let text = |name: &'static str| -> Result<Option<String>, DecodeError> {
        match detail.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(DecodeError::InvalidField {
                field: name,
                message: "expected a string".into(),
            }),
        }
    };
    let command_id =
        text("command-id")?
            .filter(|s| !s.is_empty())
            .ok_or(DecodeError::MissingField {
                field: "detail.command-id",
            })?;
    let status = CommandStatus::parse(&text("status")?.ok_or(DecodeError::MissingField {
        field: "detail.status",
    })?)?;
    let instance_ids = match kind {
        CommandEventKind::Invocation => {
            vec![text("instance-id")?.filter(|s| !s.is_empty()).ok_or(
                DecodeError::MissingField {
                    field: "detail.instance-id",
                },
            )?]
        }
        CommandEventKind::Command => {
            let ids: Vec<String> = resources
                .iter()
                .filter_map(|a| instance_from_arn(a))
                .collect();
            if ids.is_empty() {
                return Err(DecodeError::MissingField {
                    field: "resources (instance ARNs)",
                });
            }
            ids
        }
    };
    // `detail.parameters` (the resolved command lines) is deliberately not read: see the module.
    Ok(CommandEvent {
        kind,
        command_id,
        instance_ids,
        status,
        document_name: text("document-name")?,
    })
}
