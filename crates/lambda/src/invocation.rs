//! The `lambda_runtime` adapter of the core's invocation loop ([`Invoker`]): the runtime's
//! deadline becomes the [`InvocationContext`], the core's answer becomes the response or a
//! [`Diagnostic`], and every invocation prints its metrics line.
//!
//! Poison messages are logged and counted (`RejectedEvents`); messages handed back for a retry
//! are logged and counted (`RetriedMessages`). The loop's guarantees are the core's
//! ([`asg_lifecycle::invocation`]).

use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use super::metrics::InvocationMetrics;
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
use asg_lifecycle::invocation::{InvocationReport, Invoker, RetryableFailure};

/// The `errorType` of invocations answered with an error (retryable failures only).
pub const RETRYABLE_ERROR_TYPE: &str = "AsgLifecycle.Retryable";

/// The lifecycle handler behind the Lambda runtime: answers each invocation and prints its
/// metrics. Cheap to clone.
#[derive(Clone)]
pub struct LambdaHandler {
    invoker: Invoker,
    namespace: String,
    service: String,
}

impl LambdaHandler {
    /// Wraps a handler; metrics go to namespace `AsgLifecycle`, service `asg-lifecycle`.
    #[must_use]
    pub fn new(handler: LifecycleHandler) -> Self {
        Self {
            invoker: Invoker::new(handler),
            namespace: super::config::DEFAULT_METRICS_NAMESPACE.into(),
            service: "asg-lifecycle".into(),
        }
    }

    /// Sets the metrics namespace and service dimension.
    #[must_use]
    pub fn with_metrics(
        mut self,
        namespace: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        self.namespace = namespace.into();
        self.service = service.into();
        self
    }

    /// Sets the time kept free before the deadline when bounding a whole message.
    #[must_use]
    pub fn with_hard_margin(mut self, margin: Duration) -> Self {
        self.invoker = self.invoker.with_hard_margin(margin);
        self
    }

    /// The lifecycle handler.
    #[must_use]
    pub fn handler(&self) -> &LifecycleHandler {
        self.invoker.handler()
    }

    /// The `lambda_runtime` entry: converts the deadline, handles the payload, prints the
    /// metrics line and answers.
    ///
    /// # Errors
    /// A [`Diagnostic`] of type [`RETRYABLE_ERROR_TYPE`] when a direct or SNS invocation met a
    /// retryable error (Lambda retries it, then sends it to the on-failure destination).
    pub async fn call(&self, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
        let ctx = InvocationContext {
            deadline: deadline_instant(event.context.deadline()),
            request_id: event.context.request_id.clone(),
        };
        let (answer, metrics) = self.invoke(&event.payload, &ctx).await;
        metrics.emit(&self.namespace, &self.service);
        answer
    }

    /// Handles one invocation payload and returns the answer with the invocation's metrics.
    ///
    /// # Errors
    /// As [`LambdaHandler::call`].
    pub async fn invoke(
        &self,
        payload: &Value,
        ctx: &InvocationContext,
    ) -> (Result<Value, Diagnostic>, InvocationMetrics) {
        let report = self.invoker.invoke(payload, ctx).await;
        let metrics = observe(&report);
        (report.answer().map_err(diagnostic), metrics)
    }
}

/// Logs what the invocation acknowledged or handed back, and counts it.
fn observe(report: &InvocationReport) -> InvocationMetrics {
    let mut metrics = InvocationMetrics::default();
    if let Err(e) = &report.envelope {
        tracing::error!(error = %e, "poison payload acknowledged: no envelope or event could be decoded");
        metrics.record_error(None, false);
    }
    metrics
        .sweep_durations
        .extend(report.messages.iter().filter_map(|m| m.sweep_duration));
    for message in &report.messages {
        let id = message.message_id.as_deref().unwrap_or("-");
        match &message.result {
            Ok(outcomes) => metrics.record_outcomes(outcomes),
            Err(e) if e.is_retryable() => {
                tracing::warn!(message_id = id, error = %e, "message handed back for a retry");
                metrics.record_error(e.handler_error(), true);
            }
            Err(e) => {
                tracing::error!(message_id = id, error = %e, "poison message acknowledged: retrying cannot fix it");
                metrics.record_error(e.handler_error(), false);
            }
        }
    }
    metrics
}

/// The runtime's error for a retryable failure.
fn diagnostic(failure: RetryableFailure) -> Diagnostic {
    Diagnostic {
        error_type: RETRYABLE_ERROR_TYPE.into(),
        error_message: failure.message,
    }
}

/// The Lambda deadline (wall clock) as a tokio instant; a deadline in the past is now.
#[must_use]
pub fn deadline_instant(deadline: SystemTime) -> Instant {
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + remaining
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use asg_lifecycle::event::Envelope;
    use asg_lifecycle::handler::{HandlerError, Outcome, OutcomeKind};
    use asg_lifecycle::invocation::{MessageError, MessageResult};

    fn report(envelope: Envelope, messages: Vec<MessageResult>) -> InvocationReport {
        InvocationReport {
            envelope: Ok(envelope),
            messages,
        }
    }

    fn message(result: Result<Vec<Outcome>, MessageError>) -> MessageResult {
        MessageResult {
            message_id: Some("m".into()),
            result,
            sweep_duration: None,
            event_id: None,
            instances: Vec::new(),
        }
    }

    #[test]
    fn a_retryable_failure_is_a_retryable_diagnostic() {
        let e = diagnostic(RetryableFailure {
            message: "failed to write `i-1`: 8 conflicting writes in a row".into(),
        });
        assert_eq!(e.error_type, RETRYABLE_ERROR_TYPE);
        assert!(e.error_message.contains("conflicting writes"), "{e:?}");
    }

    #[test]
    fn the_sqs_answer_is_the_runtime_batch_response() {
        let retryable = || {
            message(Err(MessageError::Handler(HandlerError::Contention {
                ident: "i-1".into(),
                attempts: 8,
            })))
        };
        let mut first = retryable();
        first.message_id = Some("b".into());
        let mut second = retryable();
        second.message_id = Some("d".into());
        let answer = report(Envelope::Sqs, vec![message(Ok(vec![])), first, second])
            .answer()
            .unwrap();
        let mut expected = aws_lambda_events::sqs::SqsBatchResponse::default();
        expected.add_failure("b");
        expected.add_failure("d");
        assert_eq!(answer, serde_json::to_value(&expected).unwrap());
    }

    #[test]
    fn metrics_count_retried_and_poison_messages_and_sweeps() {
        let mut duplicate = Outcome::new(Some("e"), Some("i-1"));
        duplicate.outcome = OutcomeKind::Duplicate;
        let mut sweep = message(Ok(vec![]));
        sweep.sweep_duration = Some(Duration::from_millis(20));
        let metrics = observe(&report(
            Envelope::Sqs,
            vec![
                message(Ok(vec![duplicate])),
                message(Err(MessageError::Deadline)),
                message(Err(MessageError::Handler(HandlerError::TaskRetryable {
                    ident: "i-1".into(),
                    source: asg_lifecycle::tasks::TaskError {
                        task: "send_command".into(),
                        message: "throttled".into(),
                        retryable: true,
                    },
                }))),
                message(Err(MessageError::Handler(HandlerError::UnknownInstance {
                    ident: "i-9".into(),
                }))),
                sweep,
            ],
        ));
        assert_eq!(metrics.duplicates, 1);
        assert_eq!(metrics.retried_messages, 2);
        assert_eq!(metrics.rejected_events, 1);
        assert_eq!(metrics.task_failures, 1);
        assert_eq!(metrics.sweep_durations, [Duration::from_millis(20)]);
    }

    #[test]
    fn a_payload_that_is_no_envelope_counts_as_one_rejected_event() {
        let report = InvocationReport {
            envelope: Err(asg_lifecycle::event::DecodeError::UnknownEnvelope {
                message: "neither".into(),
            }),
            messages: Vec::new(),
        };
        let metrics = observe(&report);
        assert_eq!(metrics.rejected_events, 1);
        let answer = report.answer().map_err(diagnostic).unwrap();
        assert_eq!(
            answer["rejected"][0]["error"],
            json!(report.envelope.unwrap_err().to_string())
        );
    }

    #[test]
    fn a_past_deadline_is_now() {
        let past = SystemTime::now() - Duration::from_secs(5);
        assert!(deadline_instant(past) <= Instant::now());
        let future = SystemTime::now() + Duration::from_secs(30);
        let remaining = deadline_instant(future) - Instant::now();
        assert!(remaining > Duration::from_secs(28) && remaining <= Duration::from_secs(30));
    }
}
