//! Handler errors, each classified retryable or not.

use super::OutcomeKind;
use crate::event::DecodeError;
use crate::store::StoreError;
use crate::tasks::TaskError;

/// Handling an event failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload could not be decoded.
    #[error("failed to decode the event: {0}")]
    Decode(#[from] DecodeError),
    /// The store failed.
    #[error("failed to access the store: {0}")]
    Store(#[from] StoreError),
    /// An SSM event named an instance that has no record.
    #[error("failed to find instance `{ident}`: no record (has cloud-init registered it?)")]
    UnknownInstance {
        /// The instance id.
        ident: String,
    },
    /// The record's state is not a state of the model.
    #[error("failed to step instance `{ident}`: state `{state}` is not in the model")]
    UnknownState {
        /// The instance id.
        ident: String,
        /// The state found.
        state: String,
    },
    /// A task failed in a way worth retrying (throttling, 5xx); the state is unchanged.
    #[error("failed to run a task for `{ident}` (will retry): {source}")]
    TaskRetryable {
        /// The instance id.
        ident: String,
        /// The task's error.
        #[source]
        source: TaskError,
    },
    /// An error inside failure handling.
    #[error("failed while handling a failure of `{ident}` in state `{state}`: {message}")]
    FailureHandling {
        /// The instance id.
        ident: String,
        /// The state it was in.
        state: String,
        /// The error.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// Another invocation holds a fresh intent to send this transition's SSM command (or crashed
    /// holding it less than the intent lease ago): retry later rather than send a second one.
    #[error(
        "failed to continue `{ident}`: another invocation is sending this transition's command (retry later)"
    )]
    Busy {
        /// The instance id.
        ident: String,
    },
    /// Conflicting writes kept winning over ours.
    #[error("failed to write `{ident}`: {attempts} conflicting writes in a row")]
    Contention {
        /// The instance id.
        ident: String,
        /// How many times we tried.
        attempts: usize,
    },
    /// A scheduled run (other than the sweep, which resumes by itself) ran out of time before
    /// reaching every active record: retried, never reported as done.
    #[error("failed to reach every active record before the deadline ({visited} visited)")]
    DeadlineNear {
        /// Records visited before the deadline.
        visited: usize,
    },
}

impl HandlerError {
    /// True when retrying the invocation may succeed; false for poison events, which must never
    /// loop.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Decode(_) | Self::UnknownInstance { .. } | Self::UnknownState { .. } => false,
            Self::Store(e) => e.is_retryable(),
            Self::TaskRetryable { .. }
            | Self::Contention { .. }
            | Self::Busy { .. }
            | Self::DeadlineNear { .. } => true,
            Self::FailureHandling { retryable, .. } => *retryable,
        }
    }

    /// True when another invocation is working on the instance: nothing was done, and a retry
    /// (or the next sweep) finds the work done or continues it.
    #[must_use]
    pub fn is_busy(&self) -> bool {
        matches!(self, Self::Busy { .. } | Self::Contention { .. })
    }

    /// The instance the error is about, when it names one.
    #[must_use]
    pub fn ident(&self) -> Option<&str> {
        match self {
            Self::Decode(_) | Self::Store(_) | Self::DeadlineNear { .. } => None,
            Self::UnknownInstance { ident }
            | Self::UnknownState { ident, .. }
            | Self::TaskRetryable { ident, .. }
            | Self::FailureHandling { ident, .. }
            | Self::Busy { ident }
            | Self::Contention { ident, .. } => Some(ident),
        }
    }

    /// The outcome an event stopped by this error has: `busy` when another invocation is on the
    /// instance, `retry` for any other retryable error, `rejected` for bad input (the payload,
    /// an unknown instance or state), else `failed`.
    #[must_use]
    pub fn outcome_kind(&self) -> OutcomeKind {
        if self.is_busy() {
            OutcomeKind::Busy
        } else if self.is_retryable() {
            OutcomeKind::Retry
        } else if matches!(
            self,
            Self::Decode(_) | Self::UnknownInstance { .. } | Self::UnknownState { .. }
        ) {
            OutcomeKind::Rejected
        } else {
            OutcomeKind::Failed
        }
    }
}
