//! Keeping poison payloads: what the invocation loop hands to the dead-letter queue, and the
//! small trait it hands them through ([`DeadLetters`]). The SQS implementation lives in the
//! adapters (`asg_lifecycle_aws::SqsDeadLetters`); the simulator has its own.
//!
//! # Guarantees
//! - **A poison payload is kept with its reason**: the letter carries the payload as the
//!   function received it (the direct event, or the one SNS/SQS record at fault, or the whole
//!   payload when it was no envelope at all), the reason (the typed error's message), its error
//!   type, the envelope, the message id and the request id.
//! - **A letter always fits one SQS message** (256 KiB): a payload too large to fit is kept as
//!   the start of its JSON text, marked `payloadTruncated`.
//! - **No resolved command parameters are kept**: an SSM notification's `detail.parameters`
//!   (the command lines as sent, resolved `env` values included) is replaced by a marker, in the
//!   payload and in any SNS or SQS message text it carries, as the handler never keeps them
//!   either (only a payload that is not JSON at all is kept as received).

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::aws::AwsError;
use crate::event::Envelope;

/// The error type a poison payload is reported with (in letters and in a failed invocation).
pub const POISON_ERROR_TYPE: &str = "AsgLifecycle.PoisonEvent";

/// The largest letter body kept whole: SQS's 256 KiB message limit, less room for the
/// message attributes.
pub const MAX_LETTER_BYTES: usize = 250 * 1024;

/// A poison payload on its way to the dead-letter queue, with why it was refused.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    /// Why no retry can handle it: the typed error's message.
    pub reason: String,
    /// The envelope it came in (`None`: the payload was no envelope).
    pub envelope: Option<Envelope>,
    /// The SQS or SNS message id (absent for a direct event).
    pub message_id: Option<String>,
    /// The Lambda request id of the invocation that refused it.
    pub request_id: String,
    /// The payload as received: the direct event, the SNS or SQS record, or the whole payload.
    pub payload: Value,
}

impl DeadLetter {
    /// The message body kept in the queue: a JSON object with `errorType`, `reason`,
    /// `envelope`, `messageId`, `requestId` and `payload` (or, when the payload is too large,
    /// `payloadText` with its beginning and `payloadTruncated: true`).
    #[must_use]
    pub fn body(&self) -> String {
        let payload = without_command_parameters(&self.payload);
        let envelope = self.envelope.map(envelope_name);
        let mut letter = json!({
            "errorType": POISON_ERROR_TYPE,
            "reason": self.reason,
            "envelope": envelope,
            "messageId": self.message_id,
            "requestId": self.request_id,
            "payload": payload,
        });
        let whole = letter.to_string();
        if whole.len() <= MAX_LETTER_BYTES {
            return whole;
        }
        let text = payload.to_string();
        let room = MAX_LETTER_BYTES.saturating_sub(whole.len() - text.len() + 64);
        let mut cut = room.min(text.len());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        letter["payload"] = Value::Null;
        letter["payloadText"] = Value::String(text[..cut].to_string());
        letter["payloadTruncated"] = Value::Bool(true);
        letter.to_string()
    }
}

/// What replaces an SSM notification's `detail.parameters` in a letter.
pub const DROPPED_PARAMETERS: &str = "<dropped: the command's resolved parameters>";

/// `value` with every `detail.parameters` replaced by [`DROPPED_PARAMETERS`], also inside JSON
/// object text (an SQS `body`, an SNS `Message`).
fn without_command_parameters(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, v)| {
                    let v = match (key.as_str(), v) {
                        ("detail", Value::Object(detail)) if detail.contains_key("parameters") => {
                            let mut detail = detail.clone();
                            detail.insert("parameters".into(), DROPPED_PARAMETERS.into());
                            without_command_parameters(&Value::Object(detail))
                        }
                        _ => without_command_parameters(v),
                    };
                    (key.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_command_parameters).collect()),
        Value::String(text) if text.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(text) {
                Ok(inner) => {
                    let scrubbed = without_command_parameters(&inner);
                    if scrubbed == inner {
                        value.clone()
                    } else {
                        Value::String(scrubbed.to_string())
                    }
                }
                Err(_) => value.clone(),
            }
        }
        other => other.clone(),
    }
}

/// The name of an envelope in letters and answers.
#[must_use]
pub fn envelope_name(envelope: Envelope) -> &'static str {
    match envelope {
        Envelope::Direct => "direct",
        Envelope::Sns => "sns",
        Envelope::Sqs => "sqs",
        Envelope::Stream => "dynamodb-stream",
    }
}

/// Where poison payloads are kept (the deployment's dead-letter queue).
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Keeps one letter.
    ///
    /// # Errors
    /// The call failed: the payload is not kept, and the invocation hands it back to the
    /// invoking service instead of acknowledging it.
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AwsError>;
}

/// What became of a poison payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// In the dead-letter queue with its reason: acknowledged.
    Yes,
    /// Not kept: no dead-letter queue is configured, or keeping failed (the error, if any).
    /// The payload is handed back to the invoking service, whose bounded retries end in the
    /// on-failure destination (direct and SNS) or the queue's redrive (SQS).
    No(Option<String>),
}

impl Kept {
    /// True when the payload is in the dead-letter queue.
    #[must_use]
    pub fn is_kept(&self) -> bool {
        matches!(self, Self::Yes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(payload: Value) -> DeadLetter {
        DeadLetter {
            reason: "unknown event source `aws.ec2`".into(),
            envelope: Some(Envelope::Sqs),
            message_id: Some("m-1".into()),
            request_id: "req-1".into(),
            payload,
        }
    }

    #[test]
    fn a_letter_carries_the_payload_and_its_reason() {
        let body: Value =
            serde_json::from_str(&letter(json!({"body": "not json"})).body()).unwrap();
        assert_eq!(body["errorType"], POISON_ERROR_TYPE);
        assert_eq!(body["reason"], "unknown event source `aws.ec2`");
        assert_eq!(body["envelope"], "sqs");
        assert_eq!(body["messageId"], "m-1");
        assert_eq!(body["requestId"], "req-1");
        assert_eq!(body["payload"], json!({"body": "not json"}));
    }

    #[test]
    fn resolved_command_parameters_are_not_kept_even_inside_message_text() {
        let event = json!({"source": "aws.ssm", "detail": {
            "status": "Success",
            "parameters": {"commands": ["export DB_PASSWORD='s3cret'", "/opt/join.sh"]}
        }});
        let sqs = json!({"messageId": "m-1", "body": event.to_string()});
        for payload in [
            event.clone(),
            sqs,
            json!({"Records": [{"Sns": {"Message": event.to_string()}}]}),
        ] {
            let body = letter(payload).body();
            assert!(!body.contains("s3cret"), "{body}");
            assert!(
                body.contains("<dropped: the command's resolved parameters>"),
                "{body}"
            );
            assert!(body.contains("Success"), "the rest is kept: {body}");
        }
        let plain = letter(json!({"body": "not json"})).body();
        assert!(plain.contains("not json"));
    }

    #[test]
    fn a_payload_too_large_for_one_message_is_kept_truncated() {
        let huge = "é".repeat(MAX_LETTER_BYTES);
        let body = letter(json!({ "body": huge })).body();
        assert!(body.len() <= MAX_LETTER_BYTES, "{}", body.len());
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["payloadTruncated"], true);
        assert_eq!(body["reason"], "unknown event source `aws.ec2`");
        assert!(
            body["payloadText"]
                .as_str()
                .unwrap()
                .starts_with("{\"body\":\"éé")
        );
    }
}
