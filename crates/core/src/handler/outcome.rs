//! What handling an event did, per instance.

use crate::record::SharedName;
use serde::Serialize;

use super::HandlerError;
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
    /// The instance went to the failure state, or an error stopped its handling for good
    /// (failure handling failed permanently).
    Failed,
    /// The event was refused: malformed, unknown kind, unknown instance. Bad input only.
    Rejected,
    /// Another invocation is working on the instance (it holds the transition's SSM intent, or
    /// its writes kept winning over ours): nothing was done, and the delivery is retried.
    Busy,
    /// A retryable error stopped the event (throttling, 5xx, the invocation deadline): what the
    /// chain owes is on the record, and the delivery is retried.
    Retry,
}

impl OutcomeKind {
    /// True when the event was handled: the delivery needs no retry and nothing was refused or
    /// failed.
    #[must_use]
    pub fn is_handled(self) -> bool {
        matches!(
            self,
            Self::Advanced | Self::NoOp | Self::Duplicate | Self::Waiting
        )
    }

    /// True when the delivery is to be retried (another invocation is busy, or a retryable
    /// error).
    #[must_use]
    pub fn is_retried(self) -> bool {
        matches!(self, Self::Busy | Self::Retry)
    }
}

/// One transition written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransitionTaken {
    /// Source state.
    pub from: SharedName,
    /// Destination state.
    pub to: SharedName,
    /// The trigger (`error` for a move to the failure state).
    pub trigger: SharedName,
}

/// What handling one event did to one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// The event id (absent when the payload could not be decoded).
    pub event: Option<String>,
    /// The instance (absent only for a payload that could not be decoded, or a scheduled event
    /// that found none).
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
        Self::stopped(event, instance, OutcomeKind::Rejected, error)
    }

    /// An event stopped by `error`, with the kind `kind`.
    #[must_use]
    pub fn stopped(
        event: Option<&str>,
        instance: Option<&str>,
        kind: OutcomeKind,
        error: &dyn std::error::Error,
    ) -> Self {
        let mut outcome = Self::new(event, instance);
        outcome.outcome = kind;
        outcome.error = Some(error.to_string());
        outcome
    }

    /// The outcome of handling `event` for `instance` that ended in `error`: `busy` when another
    /// invocation is on the instance, `retry` for another retryable error, `rejected` for bad
    /// input, else `failed`. The instance is the one the error names, else `instance`.
    #[must_use]
    pub fn of_error(event: Option<&str>, instance: Option<&str>, error: &HandlerError) -> Self {
        let instance = error.ident().or(instance);
        Self::stopped(event, instance, error.outcome_kind(), error)
    }
}
