//! Running a waiter: attempts, acceptors, delays, progress and probes.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::matcher::{MatchError, Response, evaluate};
use super::model::{AcceptorState, WaiterConfig};
use super::operation::{CallError, Operation};
use super::{Error, Result};

/// A progress callback, called after every attempt.
pub type Progress = Arc<dyn Fn(&Attempt) + Send + Sync>;

/// Per-call settings of [`Waiter::wait`]; the defaults are the model's.
#[derive(Clone, Default)]
pub struct WaitOptions {
    /// Overrides the model's `delay`.
    pub delay: Option<Duration>,
    /// Overrides the model's `maxAttempts`.
    pub max_attempts: Option<u32>,
    /// Gives up (as [`Error::TimedOut`]) rather than start an attempt after this instant, e.g. a
    /// Lambda invocation's deadline minus a margin.
    pub deadline: Option<Instant>,
    /// Gives up (as [`Error::Cancelled`]) when this fires.
    pub cancel: Option<CancellationToken>,
    /// Called after every attempt.
    pub progress: Option<Progress>,
}

impl fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitOptions")
            .field("delay", &self.delay)
            .field("max_attempts", &self.max_attempts)
            .field("deadline", &self.deadline)
            .field("progress", &self.progress.is_some())
            .finish_non_exhaustive()
    }
}

impl WaitOptions {
    /// Sets the delay between attempts.
    #[must_use]
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Sets the number of attempts.
    #[must_use]
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = Some(max_attempts);
        self
    }

    /// Sets the deadline.
    #[must_use]
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the cancellation token.
    #[must_use]
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Sets the progress callback.
    #[must_use]
    pub fn on_attempt(mut self, progress: impl Fn(&Attempt) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }
}

/// What one attempt found, as given to the progress callback.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// The waiter.
    pub waiter: String,
    /// 1-based attempt number.
    pub number: u32,
    /// The attempts allowed.
    pub max_attempts: u32,
    /// The state of the matching acceptor, `None` when none matched.
    pub state: Option<AcceptorState>,
    /// The index of the matching acceptor.
    pub acceptor: Option<usize>,
    /// The response.
    pub response: Response,
    /// A one-line account: `waiter W attempt 2/40: retry (Item.ItemStatus.S = "new")`.
    pub status: String,
}

/// What a single attempt answers when run as a probe.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// A success acceptor matched.
    Success(Attempt),
    /// A retry acceptor matched, or none matched a normal response: not there yet.
    Retry(Attempt),
    /// A failure acceptor matched: it will never get there.
    Failure(Attempt),
}

/// A waiter ready to run: its configuration and the operation it calls.
#[derive(Clone)]
pub struct Waiter {
    config: WaiterConfig,
    operation: Arc<dyn Operation>,
}

impl fmt::Debug for Waiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Waiter {
    /// A waiter calling `operation` (which must be the one the config names).
    #[must_use]
    pub fn new(config: WaiterConfig, operation: Arc<dyn Operation>) -> Self {
        Self { config, operation }
    }

    /// The waiter's configuration.
    #[must_use]
    pub fn config(&self) -> &WaiterConfig {
        &self.config
    }

    /// Runs one attempt: call the operation with `params`, match the acceptors in order.
    ///
    /// # Errors
    /// A missing parameter, an argument that cannot be evaluated, a call that could not be made,
    /// or an error response no acceptor matches ([`Error::UnexpectedError`]).
    pub async fn probe(&self, params: &Map<String, Value>) -> Result<Probe> {
        let attempt = self.attempt(params, 1, 1).await?;
        self.check_unexpected(&attempt)?;
        Ok(match attempt.state {
            Some(AcceptorState::Success) => Probe::Success(attempt),
            Some(AcceptorState::Failure) => Probe::Failure(attempt),
            Some(AcceptorState::Retry) | None => Probe::Retry(attempt),
        })
    }

    /// Waits: attempts every `delay` until a success or failure acceptor matches, an unmatched
    /// error response arrives, or the attempts (or the deadline) run out.
    ///
    /// # Errors
    /// [`Error::Failure`], [`Error::UnexpectedError`], [`Error::MaxAttempts`],
    /// [`Error::TimedOut`], [`Error::Cancelled`], each with the last response where there was
    /// one, or the errors of [`Waiter::probe`].
    pub async fn wait(
        &self,
        params: &Map<String, Value>,
        options: &WaitOptions,
    ) -> Result<Attempt> {
        // A delay longer than any model may declare (an option given in code or on the command
        // line) is cut to that longest delay, so that adding it to an instant cannot overflow.
        let delay = options
            .delay
            .unwrap_or(self.config.delay)
            .min(crate::machine::MAX_DURATION);
        let max_attempts = options
            .max_attempts
            .unwrap_or(self.config.max_attempts)
            .max(1);
        let name = &self.config.name;
        let mut last: Option<Attempt> = None;
        for number in 1..=max_attempts {
            if number > 1 {
                let next = Instant::now() + delay;
                if options.deadline.is_some_and(|d| next > d) {
                    return Err(Error::TimedOut {
                        waiter: name.clone(),
                        attempts: number - 1,
                        last_response: last.map(|a| Box::new(a.response)),
                    });
                }
                let cancelled = Error::Cancelled {
                    waiter: name.clone(),
                    attempts: number - 1,
                };
                match &options.cancel {
                    Some(token) => tokio::select! {
                        () = token.cancelled() => return Err(cancelled),
                        () = tokio::time::sleep_until(next) => {}
                    },
                    None => tokio::time::sleep_until(next).await,
                }
            }
            let attempt = self.attempt(params, number, max_attempts).await?;
            if let Some(progress) = &options.progress {
                progress(&attempt);
            }
            self.check_unexpected(&attempt)?;
            match attempt.state {
                Some(AcceptorState::Success) => return Ok(attempt),
                Some(AcceptorState::Failure) => {
                    return Err(Error::Failure {
                        waiter: name.clone(),
                        reason: attempt.status.clone(),
                        attempts: number,
                        last_response: Box::new(attempt.response),
                    });
                }
                Some(AcceptorState::Retry) | None => last = Some(attempt),
            }
        }
        let last = last.expect("at least one attempt ran");
        Err(Error::MaxAttempts {
            waiter: name.clone(),
            attempts: max_attempts,
            reason: last.status,
            last_response: Box::new(last.response),
        })
    }

    async fn attempt(
        &self,
        params: &Map<String, Value>,
        number: u32,
        max_attempts: u32,
    ) -> Result<Attempt> {
        let name = &self.config.name;
        let withheld = self.config.acceptor_parameters();
        let input: Map<String, Value> = params
            .iter()
            .filter(|(k, _)| !withheld.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let response = match self.operation.call(&Value::Object(input)).await {
            Ok(output) => Response::Output(output),
            Err(CallError::Service(e)) => Response::Error(e),
            Err(e) => {
                return Err(Error::Call {
                    waiter: name.clone(),
                    operation: self.config.operation.clone(),
                    source: e,
                });
            }
        };
        let mut matched = None;
        let mut observed = Vec::new();
        for (index, acceptor) in self.config.acceptors.iter().enumerate() {
            let evaluation = evaluate(acceptor, &response, params).map_err(|e| match e {
                MatchError::MissingParameter(parameter) => Error::MissingParameter {
                    waiter: name.clone(),
                    parameter,
                },
                other => Error::Acceptor {
                    waiter: name.clone(),
                    index,
                    source: other,
                },
            })?;
            let what = acceptor
                .matcher
                .argument()
                .unwrap_or(acceptor.matcher.kind());
            let shown = format!("{what} = {}", evaluation.observed);
            if !observed.contains(&shown) {
                observed.push(shown);
            }
            if evaluation.matched {
                matched = Some(index);
                break;
            }
        }
        let state = matched.map(|i| self.config.acceptors[i].state);
        let verdict = match (state, &response) {
            (Some(s), _) => s.as_str().to_string(),
            (None, Response::Error(e)) => format!("unexpected error {e}"),
            (None, Response::Output(_)) => "retry (no acceptor matched)".to_string(),
        };
        let detail = match matched {
            Some(_) => observed.last().cloned().unwrap_or_default(),
            None => observed.join(", "),
        };
        Ok(Attempt {
            waiter: name.clone(),
            number,
            max_attempts,
            state,
            acceptor: matched,
            status: format!("waiter {name} attempt {number}/{max_attempts}: {verdict} ({detail})"),
            response,
        })
    }

    /// An error response that no acceptor matched ends the wait at once (botocore).
    fn check_unexpected(&self, attempt: &Attempt) -> Result<()> {
        match (attempt.state, &attempt.response) {
            (None, Response::Error(error)) => Err(Error::UnexpectedError {
                waiter: self.config.name.clone(),
                attempts: attempt.number,
                error: error.clone(),
            }),
            _ => Ok(()),
        }
    }
}
