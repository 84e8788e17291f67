//! Data-defined waiters: the botocore waiter model, version 2.
//!
//! A waiter names an [`Operation`], a delay, a number of attempts and a list of acceptors. Each
//! attempt calls the operation and matches its response (rendered in the AWS API's JSON shape,
//! or `{"Error": {"Code", "Message"}}` plus the HTTP status) against the acceptors in order; the
//! first that matches decides: `success`, `failure` or `retry`.
//!
//! The [`Registry`] holds the built-in waiters, the official waiters of service models under
//! `SERVICE.Name` (their operations looked up as `SERVICE.Operation`; the adapters ship those of
//! the services a lifecycle touches and call any operation from its model) and custom ones from
//! files. The core knows a service only as a name: it links no SDK and no HTTP.
//!
//! ```no_run
//! # async fn run(operations: asg_lifecycle::waiter::Operations) -> Result<(), asg_lifecycle::waiter::Error> {
//! use asg_lifecycle::waiter::{Registry, WaitOptions};
//! use serde_json::json;
//!
//! let registry = Registry::builtin().with_operations(operations);
//! let waiter = registry.get_waiter("RecordReachedStatus")?;
//! let params = json!({"TableName": "lifecycle", "Key": {"Ident": {"S": "i-1"}},
//!                     "ConsistentRead": true, "ItemStatus": "ready"});
//! let options = WaitOptions::default()
//!     .max_attempts(10)
//!     .on_attempt(|attempt| eprintln!("{}", attempt.status));
//! waiter.wait(params.as_object().unwrap(), &options).await?;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - Acceptors are tried in order; the first match wins.
//! - `path`, `pathAll` and `pathAny` never match an error response; `pathAll` and `pathAny` need a
//!   non-empty list.
//! - An error response no acceptor matches ends the wait at once ([`Error::UnexpectedError`]);
//!   a normal response no acceptor matches means retry.
//! - A failure state ([`Error::Failure`]) and running out of attempts ([`Error::MaxAttempts`])
//!   are distinct errors, each carrying the last response.
//! - A `${Name}` placeholder whose parameter is missing is an error, never an empty string.

mod matcher;
mod model;
mod operation;
mod registry;
mod runner;

pub use matcher::{Evaluation, MatchError, Response, evaluate};
pub use model::{Acceptor, AcceptorState, Matcher, WaiterConfig, WaiterModel};
pub use operation::{
    CallError, Operation, OperationError, Operations, check_members, optional_str, required_str,
};
pub use registry::{BUILTIN_WAITERS, Entry, Origin, Registry};
pub use runner::{Attempt, Probe, Progress, WaitOptions, Waiter};

/// `Result` of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a wait ended without success.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A failure acceptor matched.
    #[error("waiter {waiter} reached a failure state after {attempts} attempt(s): {reason}")]
    Failure {
        /// The waiter.
        waiter: String,
        /// The status line of the failing attempt.
        reason: String,
        /// Attempts made.
        attempts: u32,
        /// The response that matched.
        last_response: Box<Response>,
    },
    /// The attempts ran out.
    #[error("waiter {waiter} gave up after {attempts} attempt(s); last: {reason}")]
    MaxAttempts {
        /// The waiter.
        waiter: String,
        /// Attempts made.
        attempts: u32,
        /// The status line of the last attempt.
        reason: String,
        /// The last response.
        last_response: Box<Response>,
    },
    /// The deadline would pass before the next attempt.
    #[error("waiter {waiter} ran out of time after {attempts} attempt(s)")]
    TimedOut {
        /// The waiter.
        waiter: String,
        /// Attempts made.
        attempts: u32,
        /// The last response, if any attempt ran.
        last_response: Option<Box<Response>>,
    },
    /// The cancellation token fired.
    #[error("waiter {waiter} was cancelled after {attempts} attempt(s)")]
    Cancelled {
        /// The waiter.
        waiter: String,
        /// Attempts made.
        attempts: u32,
    },
    /// An error response that no acceptor matched.
    #[error("waiter {waiter} failed at attempt {attempts} with an unexpected error: {error}")]
    UnexpectedError {
        /// The waiter.
        waiter: String,
        /// Attempts made.
        attempts: u32,
        /// The error response.
        error: OperationError,
    },
    /// The operation could not be called.
    #[error("waiter {waiter} failed to call {operation}")]
    Call {
        /// The waiter.
        waiter: String,
        /// The operation.
        operation: String,
        /// Why.
        #[source]
        source: CallError,
    },
    /// An acceptor names a parameter that was not given.
    #[error("waiter {waiter} needs the parameter `{parameter}`")]
    MissingParameter {
        /// The waiter.
        waiter: String,
        /// The missing parameter.
        parameter: String,
    },
    /// An acceptor could not be evaluated.
    #[error("waiter {waiter} failed to evaluate acceptor {index}")]
    Acceptor {
        /// The waiter.
        waiter: String,
        /// The acceptor's 0-based index.
        index: usize,
        /// Why.
        #[source]
        source: MatchError,
    },
    /// No waiter of that name.
    #[error("unknown waiter `{name}` (known: {})", known.join(", "))]
    UnknownWaiter {
        /// The name asked for.
        name: String,
        /// The names known.
        known: Vec<String>,
    },
    /// Several services have a waiter of that bare name.
    #[error("waiter name `{name}` is ambiguous: say which one ({})", candidates.join(", "))]
    AmbiguousWaiter {
        /// The name asked for.
        name: String,
        /// The qualified names that have it.
        candidates: Vec<String>,
    },
    /// The waiter's operation is not available.
    #[error("waiter {waiter} calls {operation}, which is not available (available: {})", known.join(", "))]
    UnknownOperation {
        /// The waiter.
        waiter: String,
        /// The operation it names.
        operation: String,
        /// The operations available.
        known: Vec<String>,
    },
}

impl Error {
    /// The CLI's exit code: 1 for a failure state, 2 when attempts or time ran out, 3 otherwise.
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Failure { .. } => 1,
            Self::MaxAttempts { .. } | Self::TimedOut { .. } => 2,
            _ => 3,
        }
    }

    /// The last response, when the wait got one.
    #[must_use]
    pub fn last_response(&self) -> Option<Response> {
        match self {
            Self::Failure { last_response, .. } | Self::MaxAttempts { last_response, .. } => {
                Some((**last_response).clone())
            }
            Self::TimedOut { last_response, .. } => last_response.as_deref().cloned(),
            Self::UnexpectedError { error, .. } => Some(Response::Error(error.clone())),
            _ => None,
        }
    }
}
