//! What handling an event did, per instance.

use serde::Serialize;

use crate::aws::Effect;

/// The kind of outcome, as scripts see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// At least one transition was written.
    Advanced,
    /// Nothing fired.
    NoOp,
    /// The event was processed before.
    Duplicate,
    /// The instance has not reached its initial state; the lifecycle action is remembered.
    Waiting,
    /// The instance went to the failure state (or failure handling failed).
    Failed,
    /// The event was refused: malformed, unknown kind, unknown instance.
    Rejected,
}

/// One transition written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionTaken {
    /// Source state.
    pub from: String,
    /// Destination state.
    pub to: String,
    /// The trigger (`error` for a move to the failure state).
    pub trigger: String,
}

/// What handling one event did to one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// The event id (absent when the payload could not be decoded).
    pub event: Option<String>,
    /// The instance (absent for a rejected payload or a scheduled event that found none).
    pub instance: Option<String>,
    /// The state before.
    pub from: Option<String>,
    /// The state after.
    pub to: Option<String>,
    /// The transitions written, in order.
    pub transitions: Vec<TransitionTaken>,
    /// The AWS calls the tasks made (secret-looking values redacted).
    pub effects: Vec<Effect>,
    /// The outcome.
    pub outcome: OutcomeKind,
    /// Why nothing (more) happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Errors passed over because of `ignore_errors`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_errors: Vec<String>,
}

impl Outcome {
    /// An empty outcome for an instance.
    #[must_use]
    pub fn new(event: Option<&str>, instance: Option<&str>) -> Self {
        Self {
            event: event.map(str::to_string),
            instance: instance.map(str::to_string),
            from: None,
            to: None,
            transitions: Vec::new(),
            effects: Vec::new(),
            outcome: OutcomeKind::NoOp,
            reason: None,
            error: None,
            ignored_errors: Vec::new(),
        }
    }

    /// A rejected event.
    #[must_use]
    pub fn rejected(
        event: Option<&str>,
        instance: Option<&str>,
        error: &dyn std::error::Error,
    ) -> Self {
        let mut outcome = Self::new(event, instance);
        outcome.outcome = OutcomeKind::Rejected;
        outcome.error = Some(error.to_string());
        outcome
    }
}
