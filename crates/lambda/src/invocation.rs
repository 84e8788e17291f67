//! One invocation: decode, handle every message within the deadline, classify the errors and
//! build the answer the Lambda service expects for the envelope.
//!
//! # Guarantees
//! - **A poison event never loops**: an error that no retry can fix (malformed payload, unknown
//!   event kind, unknown instance, a state the model lacks) is logged, counted
//!   (`RejectedEvents`) and acknowledged; only retryable errors reach the runtime as errors.
//! - **SQS: one bad message does not redeliver the batch**: the answer is
//!   `{"batchItemFailures": [{"itemIdentifier": messageId}]}` listing the messages with a
//!   retryable failure only; malformed messages are logged and dropped, since they would fail on
//!   every delivery (with a redrive policy they would end in the queue's dead-letter queue
//!   anyway, after `maxReceiveCount` useless attempts).
//! - **The deadline bounds everything**: a message not started when the deadline is near, or cut
//!   by it, is handed back for a retry; the handler records interrupted chains, so the retry (or
//!   the sweep) finishes them.

use std::time::{Duration, SystemTime};

use aws_lambda_events::sqs::SqsBatchResponse;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::metrics::InvocationMetrics;
use asg_lifecycle::event::{Envelope, Stimulus, decode_invocation};
use asg_lifecycle::handler::{HandlerError, InvocationContext, LifecycleHandler, Outcome};

/// The `errorType` of invocations answered with an error (retryable failures only).
pub const RETRYABLE_ERROR_TYPE: &str = "AsgLifecycle.Retryable";

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The handler failed.
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The deadline came first: the message was not started, or was cut.
    #[error("failed to handle the message before the invocation deadline")]
    Deadline,
}

impl MessageError {
    /// True when a retry may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Handler(e) => e.is_retryable(),
            Self::Deadline => true,
        }
    }
}

/// What one message produced.
#[derive(Debug)]
pub struct MessageResult {
    /// The SQS or SNS message id (absent for a direct event).
    pub message_id: Option<String>,
    /// The outcomes, or why the message failed.
    pub result: Result<Vec<Outcome>, MessageError>,
}

/// The lifecycle handler behind the Lambda runtime: builds the answer per envelope and the
/// metrics of each invocation. Cheap to clone.
#[derive(Clone)]
pub struct LambdaHandler {
    handler: LifecycleHandler,
    namespace: String,
    service: String,
    hard_margin: Duration,
}

impl LambdaHandler {
    /// Wraps a handler; metrics go to namespace `AsgLifecycle`, service `asg-lifecycle`.
    #[must_use]
    pub fn new(handler: LifecycleHandler) -> Self {
        Self {
            handler,
            namespace: super::config::DEFAULT_METRICS_NAMESPACE.into(),
            service: "asg-lifecycle".into(),
            // Enough to post the answer after abandoning the work.
            hard_margin: Duration::from_secs(1),
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
        self.hard_margin = margin;
        self
    }

    /// The lifecycle handler.
    #[must_use]
    pub fn handler(&self) -> &LifecycleHandler {
        &self.handler
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
        let mut metrics = InvocationMetrics::default();
        let invocation = match decode_invocation(payload) {
            Ok(invocation) => invocation,
            Err(e) => {
                tracing::error!(error = %e, "poison payload acknowledged: no envelope or event could be decoded");
                metrics.record_error(None, false);
                let answer = json!({"envelope": Value::Null, "outcomes": [], "rejected": [{"messageId": Value::Null, "error": e.to_string()}]});
                return (Ok(answer), metrics);
            }
        };
        let mut results = Vec::with_capacity(invocation.messages.len());
        for message in &invocation.messages {
            let result = match &message.event {
                Err(e) => Err(MessageError::Handler(HandlerError::Decode(e.clone()))),
                Ok(event) => self.handle_one(event, ctx, &mut metrics).await,
            };
            results.push(MessageResult {
                message_id: message.message_id.clone(),
                result,
            });
        }
        for r in &results {
            let id = r.message_id.as_deref().unwrap_or("-");
            match &r.result {
                Ok(outcomes) => metrics.record_outcomes(outcomes),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(message_id = id, error = %e, "message handed back for a retry");
                    metrics.record_error(handler_error(e), true);
                }
                Err(e) => {
                    tracing::error!(message_id = id, error = %e, "poison message acknowledged: retrying cannot fix it");
                    metrics.record_error(handler_error(e), false);
                }
            }
        }
        (answer(invocation.envelope, &results), metrics)
    }

    async fn handle_one(
        &self,
        event: &asg_lifecycle::Event,
        ctx: &InvocationContext,
        metrics: &mut InvocationMetrics,
    ) -> Result<Vec<Outcome>, MessageError> {
        let soft = self.handler.config().deadline_margin;
        if Instant::now() + soft >= ctx.deadline {
            return Err(MessageError::Deadline);
        }
        let started = Instant::now();
        let hard_deadline = ctx
            .deadline
            .checked_sub(self.hard_margin)
            .unwrap_or(ctx.deadline);
        let result = tokio::time::timeout_at(hard_deadline, self.handler.handle_event(event, ctx))
            .await
            .map_err(|_| MessageError::Deadline)
            .and_then(|r| r.map_err(MessageError::from));
        if let Stimulus::Scheduled(s) = &event.stimulus
            && s.rule == self.handler.config().sweep_rule
        {
            metrics.sweep_durations.push(started.elapsed());
        }
        result
    }
}

fn handler_error(e: &MessageError) -> Option<&HandlerError> {
    match e {
        MessageError::Handler(h) => Some(h),
        MessageError::Deadline => None,
    }
}

/// The answer for an envelope, from the per-message results.
///
/// # Errors
/// A [`Diagnostic`] for a direct or SNS invocation with a retryable failure, or an SQS message
/// with a retryable failure but no message id to report it by (then the whole batch is retried:
/// safe, since handling is idempotent).
pub fn answer(envelope: Envelope, results: &[MessageResult]) -> Result<Value, Diagnostic> {
    let retryable: Vec<&MessageResult> = results
        .iter()
        .filter(|r| r.result.as_ref().is_err_and(MessageError::is_retryable))
        .collect();
    if envelope == Envelope::Sqs && retryable.iter().all(|r| r.message_id.is_some()) {
        let mut response = SqsBatchResponse::default();
        for r in &retryable {
            response.add_failure(r.message_id.clone().unwrap_or_default());
        }
        return serde_json::to_value(&response).map_err(|e| Diagnostic {
            error_type: RETRYABLE_ERROR_TYPE.into(),
            error_message: format!("failed to serialize the batch response: {e}"),
        });
    }
    if !retryable.is_empty() {
        let messages: Vec<String> = retryable
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(ToString::to_string))
            .collect();
        return Err(Diagnostic {
            error_type: RETRYABLE_ERROR_TYPE.into(),
            error_message: messages.join("; "),
        });
    }
    let mut outcomes = Vec::new();
    let mut rejected = Vec::new();
    for r in results {
        match &r.result {
            Ok(o) => outcomes.extend(o.iter().cloned()),
            Err(e) => rejected.push(json!({"messageId": r.message_id, "error": e.to_string()})),
        }
    }
    let envelope = match envelope {
        Envelope::Direct => "direct",
        Envelope::Sns => "sns",
        Envelope::Sqs => "sqs",
    };
    Ok(json!({"envelope": envelope, "outcomes": outcomes, "rejected": rejected}))
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
    use super::*;

    fn ok(id: &str) -> MessageResult {
        MessageResult {
            message_id: Some(id.into()),
            result: Ok(vec![Outcome::new(Some(id), Some("i-1"))]),
        }
    }

    fn retryable(id: Option<&str>) -> MessageResult {
        MessageResult {
            message_id: id.map(str::to_string),
            result: Err(MessageError::Handler(HandlerError::Contention {
                ident: "i-1".into(),
                attempts: 8,
            })),
        }
    }

    fn poison(id: &str) -> MessageResult {
        MessageResult {
            message_id: Some(id.into()),
            result: Err(MessageError::Handler(HandlerError::UnknownInstance {
                ident: "i-9".into(),
            })),
        }
    }

    #[test]
    fn an_sqs_batch_reports_only_its_retryable_messages() {
        let results = [
            ok("a"),
            retryable(Some("b")),
            poison("c"),
            retryable(Some("d")),
        ];
        let answer = answer(Envelope::Sqs, &results).unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]})
        );
        let clean = answer_of(Envelope::Sqs, &[ok("a"), poison("c")]);
        assert_eq!(clean, json!({"batchItemFailures": []}));
    }

    fn answer_of(envelope: Envelope, results: &[MessageResult]) -> Value {
        answer(envelope, results).unwrap()
    }

    #[test]
    fn a_retryable_failure_without_a_message_id_fails_the_whole_batch() {
        let e = answer(Envelope::Sqs, &[ok("a"), retryable(None)]).unwrap_err();
        assert_eq!(e.error_type, RETRYABLE_ERROR_TYPE);
    }

    #[test]
    fn a_direct_event_fails_only_when_retryable() {
        let e = answer(Envelope::Direct, &[retryable(None)]).unwrap_err();
        assert!(e.error_message.contains("conflicting writes"), "{e:?}");
        let acknowledged = answer_of(Envelope::Direct, &[poison("x")]);
        assert_eq!(acknowledged["rejected"].as_array().map(Vec::len), Some(1));
        assert_eq!(acknowledged["envelope"], "direct");
        let handled = answer_of(Envelope::Sns, &[ok("s")]);
        assert_eq!(handled["outcomes"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn the_deadline_is_retryable_and_a_past_deadline_is_now() {
        assert!(MessageError::Deadline.is_retryable());
        let past = SystemTime::now() - Duration::from_secs(5);
        assert!(deadline_instant(past) <= Instant::now());
        let future = SystemTime::now() + Duration::from_secs(30);
        let remaining = deadline_instant(future) - Instant::now();
        assert!(remaining > Duration::from_secs(28) && remaining <= Duration::from_secs(30));
    }
}
