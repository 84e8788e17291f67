//! The answer the invoking service gets, per envelope: what Lambda, EventBridge, SNS and SQS
//! read to decide whether (and which messages) to deliver again.

use serde_json::{Value, json};

use super::dead_letter::envelope_name;
use super::{InvocationReport, Kept, MessageResult};
use crate::event::Envelope;

/// The invocation must fail so that the service delivers it again: a retryable failure, or a
/// poison payload that could not be kept in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RetryableFailure {
    /// The errors handed back, joined with `; ` (for a poison payload: its reason, which the
    /// on-failure destination keeps as the error message).
    pub message: String,
    /// True when every error handed back is a poison payload not kept (reported with
    /// [`POISON_ERROR_TYPE`](super::POISON_ERROR_TYPE), so that the on-failure destination
    /// tells it from a retryable failure).
    pub poison: bool,
}

/// The response body of a handled invocation, or the failure that makes it delivered again.
pub type Answer = Result<Value, RetryableFailure>;

impl InvocationReport {
    /// The answer for the envelope:
    /// - SQS: `{"batchItemFailures": [{"itemIdentifier": messageId}]}` naming the messages with
    ///   a retryable failure or a poison payload not kept;
    /// - direct and SNS: `{"envelope", "outcomes", "rejected"}`, where `rejected` lists the
    ///   poison messages acknowledged without effect, each kept in the dead-letter queue
    ///   (`"kept": true`);
    /// - a payload that is no envelope: acknowledged once kept, with its decoding error in
    ///   `rejected`.
    ///
    /// # Errors
    /// A [`RetryableFailure`] for a direct or SNS invocation with a retryable failure or a
    /// poison payload not kept, a payload that is no envelope and not kept, or an SQS message
    /// to hand back without a message id to report it by (then the whole batch is delivered
    /// again: safe, since handling is idempotent).
    pub fn answer(&self) -> Answer {
        let failures = self.redelivery()?;
        match &self.envelope {
            Ok(Envelope::Sqs | Envelope::Stream) => {
                let failures: Vec<Value> = failures
                    .iter()
                    .map(|id| json!({ "itemIdentifier": id }))
                    .collect();
                Ok(json!({ "batchItemFailures": failures }))
            }
            Ok(envelope) => Ok(body(*envelope, &self.messages)),
            Err(e) => Ok(json!({
                "envelope": Value::Null,
                "outcomes": [],
                "rejected": [{"messageId": Value::Null, "error": e.to_string(), "kept": true}],
            })),
        }
    }

    /// What the invoking service delivers again, as [`Self::answer`] tells it, without building
    /// the answer's body: the ids of the SQS (or stream) messages its `batchItemFailures`
    /// names (none for a direct or SNS invocation that succeeded).
    ///
    /// # Errors
    /// The [`RetryableFailure`] of [`Self::answer`].
    pub fn redelivery(&self) -> Result<Vec<&str>, RetryableFailure> {
        match &self.envelope {
            Ok(envelope) => redelivery(*envelope, &self.messages),
            Err(_) if self.kept.as_ref().is_some_and(Kept::is_kept) => Ok(Vec::new()),
            Err(e) => Err(RetryableFailure {
                message: e.to_string(),
                poison: true,
            }),
        }
    }
}

fn redelivery(
    envelope: Envelope,
    results: &[MessageResult],
) -> Result<Vec<&str>, RetryableFailure> {
    let handed_back: Vec<&MessageResult> = results.iter().filter(|r| r.is_handed_back()).collect();
    let batch = matches!(envelope, Envelope::Sqs | Envelope::Stream);
    if batch {
        let ids: Option<Vec<&str>> = handed_back
            .iter()
            .map(|r| r.message_id.as_deref())
            .collect();
        if let Some(ids) = ids {
            return Ok(ids);
        }
    }
    if !handed_back.is_empty() {
        let messages: Vec<String> = handed_back
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(ToString::to_string))
            .collect();
        return Err(RetryableFailure {
            message: messages.join("; "),
            poison: handed_back.iter().all(|r| r.is_poison()),
        });
    }
    Ok(Vec::new())
}

/// The body of a direct or SNS invocation's answer: the outcomes and the poison messages kept.
fn body(envelope: Envelope, results: &[MessageResult]) -> Value {
    let mut outcomes = Vec::new();
    let mut rejected = Vec::new();
    for r in results {
        match &r.result {
            Ok(o) => outcomes.extend(o.iter().cloned()),
            Err(e) => rejected
                .push(json!({"messageId": r.message_id, "error": e.to_string(), "kept": true})),
        }
    }
    json!({"envelope": envelope_name(envelope), "outcomes": outcomes, "rejected": rejected})
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
            kept: None,
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
            kept: None,
        }
    }

    /// A poison message, kept in the dead-letter queue.
    fn poison(id: &str) -> MessageResult {
        MessageResult {
            message_id: Some(id.into()),
            result: Err(MessageError::Handler(HandlerError::UnknownInstance {
                ident: "i-9".into(),
            })),
            sweep_duration: None,
            event_id: None,
            instances: Vec::new(),
            kept: Some(Kept::Yes),
        }
    }

    /// A poison message the dead-letter queue did not take.
    fn poison_not_kept(id: &str) -> MessageResult {
        MessageResult {
            kept: Some(Kept::No(Some("SendMessage failed (Throttled)".into()))),
            ..poison(id)
        }
    }

    fn answer_of(envelope: Envelope, results: Vec<MessageResult>) -> Answer {
        InvocationReport {
            envelope: Ok(envelope),
            messages: results,
            kept: None,
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
    fn a_stream_batch_reports_the_sequence_numbers_of_its_retryable_records() {
        let results = vec![ok("100"), retryable(Some("101")), poison("102")];
        assert_eq!(
            answer_of(Envelope::Stream, results).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "101"}]})
        );
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
    fn a_kept_poison_message_is_acknowledged_and_listed_as_kept() {
        let answer = answer_of(Envelope::Sns, vec![ok("s"), poison("p")]).unwrap();
        assert_eq!(answer["rejected"][0]["messageId"], "p");
        assert_eq!(answer["rejected"][0]["kept"], true);
        assert!(
            answer["rejected"][0]["error"]
                .as_str()
                .unwrap()
                .contains("i-9")
        );
    }

    #[test]
    fn a_poison_message_not_kept_is_handed_back_as_poison() {
        let failure = answer_of(Envelope::Direct, vec![poison_not_kept("x")]).unwrap_err();
        assert!(failure.poison, "{failure:?}");
        assert!(failure.message.contains("i-9"), "{failure:?}");
        let sqs = answer_of(Envelope::Sqs, vec![poison("a"), poison_not_kept("b")]).unwrap();
        assert_eq!(sqs, json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
    }

    #[test]
    fn a_retryable_failure_beside_a_poison_one_is_not_reported_as_poison() {
        let failure =
            answer_of(Envelope::Sns, vec![poison_not_kept("x"), retryable(None)]).unwrap_err();
        assert!(!failure.poison, "{failure:?}");
        assert!(failure.message.contains("conflicting writes") && failure.message.contains("i-9"));
    }

    #[test]
    fn a_payload_that_is_no_envelope_is_acknowledged_only_once_kept() {
        let report = |kept| InvocationReport {
            envelope: Err(crate::event::DecodeError::UnknownEnvelope {
                message: "neither".into(),
            }),
            messages: Vec::new(),
            kept: Some(kept),
        };
        let kept = report(Kept::Yes).answer().unwrap();
        assert_eq!(kept["rejected"][0]["kept"], true);
        let failure = report(Kept::No(None)).answer().unwrap_err();
        assert!(
            failure.poison && failure.message.contains("neither"),
            "{failure:?}"
        );
    }

    #[test]
    fn the_deadline_is_retryable() {
        assert!(MessageError::Deadline.is_retryable());
    }
}
