//! The answer the invoking service gets, per envelope: what Lambda, EventBridge, SNS and SQS
//! read to decide whether (and which messages) to deliver again.

use serde_json::{Value, json};

use super::{InvocationReport, MessageResult};
use crate::event::Envelope;

/// The invocation must fail so that the service delivers it again (retryable failures only).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RetryableFailure {
    /// The retryable errors, joined with `; `.
    pub message: String,
}

/// The response body of a handled invocation, or the failure that makes it delivered again.
pub type Answer = Result<Value, RetryableFailure>;

impl InvocationReport {
    /// The answer for the envelope:
    /// - SQS: `{"batchItemFailures": [{"itemIdentifier": messageId}]}` naming the messages with
    ///   a retryable failure;
    /// - direct and SNS: `{"envelope", "outcomes", "rejected"}`, where `rejected` lists the
    ///   messages acknowledged without effect (poison);
    /// - a payload that is no envelope: acknowledged, with its decoding error in `rejected`.
    ///
    /// # Errors
    /// A [`RetryableFailure`] for a direct or SNS invocation with a retryable failure, or an SQS
    /// message with a retryable failure but no message id to report it by (then the whole batch
    /// is delivered again: safe, since handling is idempotent).
    pub fn answer(&self) -> Answer {
        match &self.envelope {
            Ok(envelope) => answer(*envelope, &self.messages),
            Err(e) => Ok(json!({
                "envelope": Value::Null,
                "outcomes": [],
                "rejected": [{"messageId": Value::Null, "error": e.to_string()}],
            })),
        }
    }
}

fn answer(envelope: Envelope, results: &[MessageResult]) -> Answer {
    let retryable: Vec<&MessageResult> = results
        .iter()
        .filter(|r| {
            r.result
                .as_ref()
                .is_err_and(super::MessageError::is_retryable)
        })
        .collect();
    if envelope == Envelope::Sqs && retryable.iter().all(|r| r.message_id.is_some()) {
        let failures: Vec<Value> = retryable
            .iter()
            .map(|r| json!({"itemIdentifier": r.message_id}))
            .collect();
        return Ok(json!({ "batchItemFailures": failures }));
    }
    if !retryable.is_empty() {
        let messages: Vec<String> = retryable
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(ToString::to_string))
            .collect();
        return Err(RetryableFailure {
            message: messages.join("; "),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::{HandlerError, Outcome};
    use crate::invocation::MessageError;

    fn ok(id: &str) -> MessageResult {
        MessageResult {
            message_id: Some(id.into()),
            result: Ok(vec![Outcome::new(Some(id), Some("i-1"))]),
            sweep_duration: None,
            event_id: None,
            instances: Vec::new(),
        }
    }

    fn retryable(id: Option<&str>) -> MessageResult {
        MessageResult {
            message_id: id.map(str::to_string),
            result: Err(MessageError::Handler(HandlerError::Contention {
                ident: "i-1".into(),
                attempts: 8,
            })),
            sweep_duration: None,
            event_id: None,
            instances: Vec::new(),
        }
    }

    fn poison(id: &str) -> MessageResult {
        MessageResult {
            message_id: Some(id.into()),
            result: Err(MessageError::Handler(HandlerError::UnknownInstance {
                ident: "i-9".into(),
            })),
            sweep_duration: None,
            event_id: None,
            instances: Vec::new(),
        }
    }

    fn answer_of(envelope: Envelope, results: Vec<MessageResult>) -> Answer {
        InvocationReport {
            envelope: Ok(envelope),
            messages: results,
        }
        .answer()
    }

    #[test]
    fn an_sqs_batch_reports_only_its_retryable_messages() {
        let results = vec![
            ok("a"),
            retryable(Some("b")),
            poison("c"),
            retryable(Some("d")),
        ];
        assert_eq!(
            answer_of(Envelope::Sqs, results).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "d"}]})
        );
        let clean = answer_of(Envelope::Sqs, vec![ok("a"), poison("c")]).unwrap();
        assert_eq!(clean, json!({"batchItemFailures": []}));
    }

    #[test]
    fn a_retryable_failure_without_a_message_id_fails_the_whole_batch() {
        let failure = answer_of(Envelope::Sqs, vec![ok("a"), retryable(None)]).unwrap_err();
        assert!(
            failure.message.contains("conflicting writes"),
            "{failure:?}"
        );
    }

    #[test]
    fn a_direct_event_fails_only_when_retryable() {
        let failure = answer_of(Envelope::Direct, vec![retryable(None)]).unwrap_err();
        assert!(
            failure.message.contains("conflicting writes"),
            "{failure:?}"
        );
        let acknowledged = answer_of(Envelope::Direct, vec![poison("x")]).unwrap();
        assert_eq!(acknowledged["rejected"].as_array().map(Vec::len), Some(1));
        assert_eq!(acknowledged["envelope"], "direct");
        let handled = answer_of(Envelope::Sns, vec![ok("s")]).unwrap();
        assert_eq!(handled["outcomes"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn several_retryable_failures_are_named_together() {
        let failure = answer_of(
            Envelope::Sns,
            vec![retryable(None), ok("s"), retryable(None)],
        )
        .unwrap_err();
        assert_eq!(failure.message.matches("conflicting writes").count(), 2);
        assert!(failure.message.contains("; "), "{failure:?}");
    }

    #[test]
    fn the_deadline_is_retryable() {
        assert!(MessageError::Deadline.is_retryable());
    }
}
