//! The `lambda_runtime` adapter of the core's invocation loop ([`Invoker`]): the runtime's
//! deadline becomes the [`InvocationContext`], the core's answer becomes the response or a
//! [`Diagnostic`], and every invocation prints its metrics line.
//!
//! Poison payloads are kept in the dead-letter queue with their reason (when the function has
//! one: [`LambdaHandler::with_dead_letters`]), logged and counted (`RejectedEvents`,
//! `DeadLetteredEvents`); one that could not be kept fails the invocation with type
//! [`POISON_ERROR_TYPE`] (direct, SNS) or is a batch item failure (SQS), so that Lambda's bounded
//! retries end in the on-failure destination, or the source queue's redrive keeps it. Messages
//! handed back for a retry are logged and counted (`RetriedMessages`). The loop's guarantees are
//! the core's ([`asg_lifecycle::invocation`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::metrics::InvocationMetrics;
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
use asg_lifecycle::invocation::{
    DeadLetters, InvocationReport, Invoker, Kept, POISON_ERROR_TYPE, RetryableFailure,
};

/// The `errorType` of invocations failed for a retryable error.
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

    /// Keeps poison payloads in `dead_letters` (the deployment's dead-letter queue).
    #[must_use]
    pub fn with_dead_letters(mut self, dead_letters: Arc<dyn DeadLetters>) -> Self {
        self.invoker = self.invoker.with_dead_letters(dead_letters);
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
    /// retryable error, or [`POISON_ERROR_TYPE`] when its poison payload could not be kept
    /// (Lambda retries it, at most `MaximumRetryAttempts` times, then sends it with the error to
    /// the on-failure destination).
    pub async fn call(&self, event: LambdaEvent<Box<RawValue>>) -> Result<Value, Diagnostic> {
        let ctx = InvocationContext {
            deadline: deadline_instant(event.context.deadline()),
            request_id: event.context.request_id.clone(),
        };
        let (answer, metrics) = self.invoke_text(event.payload.get(), &ctx).await;
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

    /// [`Self::invoke`] on the payload's JSON text, as the Runtime API delivers it: a direct
    /// lifecycle action is decoded straight into its typed event ([`Invoker::invoke_text`]).
    ///
    /// # Errors
    /// As [`LambdaHandler::call`].
    pub async fn invoke_text(
        &self,
        payload: &str,
        ctx: &InvocationContext,
    ) -> (Result<Value, Diagnostic>, InvocationMetrics) {
        let report = self.invoker.invoke_text(payload, ctx).await;
        let metrics = observe(&report);
        (report.answer().map_err(diagnostic), metrics)
    }
}

/// Logs what the invocation acknowledged or handed back, and counts it.
fn observe(report: &InvocationReport) -> InvocationMetrics {
    let mut metrics = InvocationMetrics::default();
    if let Err(e) = &report.envelope {
        poison(&mut metrics, "-", e, report.kept.as_ref(), None);
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
            Err(e) => poison(
                &mut metrics,
                id,
                e,
                message.kept.as_ref(),
                e.handler_error(),
            ),
        }
    }
    metrics
}

/// Logs and counts a poison payload: kept (acknowledged) or handed back.
fn poison(
    metrics: &mut InvocationMetrics,
    id: &str,
    error: &dyn std::fmt::Display,
    kept: Option<&Kept>,
    handler_error: Option<&asg_lifecycle::handler::HandlerError>,
) {
    metrics.record_error(handler_error, false);
    match kept {
        Some(Kept::Yes) => {
            metrics.record_dead_letter();
            tracing::error!(message_id = id, error = %error, "poison payload kept in the dead-letter queue and acknowledged: retrying cannot fix it");
        }
        Some(Kept::No(Some(why))) => {
            tracing::error!(message_id = id, error = %error, dead_letter_error = %why, "poison payload not kept (the dead-letter queue failed): handed back to the invoking service");
        }
        Some(Kept::No(None)) | None => {
            tracing::error!(message_id = id, error = %error, "poison payload handed back to the invoking service (no dead-letter queue configured)");
        }
    }
}

/// The runtime's error for a failure handed back: retryable, or a poison payload not kept.
fn diagnostic(failure: RetryableFailure) -> Diagnostic {
    let error_type = if failure.poison {
        POISON_ERROR_TYPE
    } else {
        RETRYABLE_ERROR_TYPE
    };
    Diagnostic {
        error_type: error_type.into(),
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
            kept: None,
        }
    }

    fn message(result: Result<Vec<Outcome>, MessageError>) -> MessageResult {
        MessageResult {
            message_id: Some("m".into()),
            kept: result
                .as_ref()
                .is_err_and(|e| !e.is_retryable())
                .then_some(Kept::Yes),
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
            poison: false,
        });
        assert_eq!(e.error_type, RETRYABLE_ERROR_TYPE);
        assert!(e.error_message.contains("conflicting writes"), "{e:?}");
    }

    #[test]
    fn a_poison_direct_invocation_not_kept_fails_as_a_poison_event_with_its_reason() {
        let mut unkept = message(Err(MessageError::Handler(HandlerError::UnknownInstance {
            ident: "i-9".into(),
        })));
        unkept.message_id = None;
        unkept.kept = Some(Kept::No(Some("SendMessage failed".into())));
        let report = report(Envelope::Direct, vec![unkept]);
        let e = report.answer().map_err(diagnostic).unwrap_err();
        assert_eq!(e.error_type, POISON_ERROR_TYPE);
        assert!(e.error_message.contains("i-9"), "{e:?}");
        let metrics = observe(&report);
        assert_eq!(
            (metrics.rejected_events, metrics.dead_lettered_events),
            (1, 0)
        );
    }

    #[test]
    fn a_kept_poison_sqs_message_is_no_batch_item_failure_and_counts_as_dead_lettered() {
        let kept = message(Err(MessageError::Handler(HandlerError::UnknownInstance {
            ident: "i-9".into(),
        })));
        let report = report(Envelope::Sqs, vec![kept]);
        assert_eq!(report.answer().unwrap(), json!({"batchItemFailures": []}));
        let metrics = observe(&report);
        assert_eq!(
            (metrics.rejected_events, metrics.dead_lettered_events),
            (1, 1)
        );
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
            kept: Some(Kept::Yes),
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
