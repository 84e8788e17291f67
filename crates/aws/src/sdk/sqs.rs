//! [`DeadLetters`] over `aws_sdk_sqs`: poison payloads kept in the deployment's dead-letter
//! queue with their reason.

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sqs::types::MessageAttributeValue;

use super::default_retry_config;
use super::errors::from_sdk_error;
use asg_lifecycle::aws::{AwsError, AwsErrorKind};
use asg_lifecycle::invocation::{DeadLetter, DeadLetters, POISON_ERROR_TYPE};

/// The longest reason copied into the `ErrorMessage` attribute (the body has it whole).
pub const MAX_REASON_ATTRIBUTE_CHARS: usize = 1024;

/// The dead-letter queue through the AWS SDK: one `SendMessage` per poison payload.
///
/// The body is [`DeadLetter::body`] (the payload, the reason, the envelope, the message and
/// request ids); the attributes `ErrorType` ([`POISON_ERROR_TYPE`]) and `ErrorMessage` (the
/// reason) let an operator filter the queue without parsing bodies. The client keeps its SDK
/// retries: a retried `SendMessage` may keep a letter twice, which is harmless (a letter changes
/// no state), whereas a letter not kept would be handed back for a whole redelivery.
///
/// # Errors
/// A failed send maps with the crate's classification; the invocation loop then hands the
/// payload back to the invoking service rather than acknowledging it.
#[derive(Clone, Debug)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    /// Wraps a client and the queue's URL (what `Ref: DeadLetterQueue` gives in the template).
    #[must_use]
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// A client from the shared configuration, with [`default_retry_config`] when it carries
    /// none.
    #[must_use]
    pub fn from_config(sdk: &SdkConfig, queue_url: impl Into<String>) -> Self {
        let mut builder = aws_sdk_sqs::config::Builder::from(sdk);
        if sdk.retry_config().is_none() {
            builder = builder.retry_config(default_retry_config());
        }
        Self::new(aws_sdk_sqs::Client::from_conf(builder.build()), queue_url)
    }

    /// The queue's URL.
    #[must_use]
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }
}

fn string_attribute(value: &str) -> Result<MessageAttributeValue, AwsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| AwsError {
            operation: "SendMessage".into(),
            kind: AwsErrorKind::Permanent,
            code: "InvalidAttribute".into(),
            message: e.to_string(),
        })
}

#[async_trait]
impl DeadLetters for SqsDeadLetters {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AwsError> {
        let reason: String = letter
            .reason
            .chars()
            .take(MAX_REASON_ATTRIBUTE_CHARS)
            .collect();
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(letter.body())
            .message_attributes("ErrorType", string_attribute(POISON_ERROR_TYPE)?)
            .message_attributes("ErrorMessage", string_attribute(&reason)?)
            .send()
            .await
            .map_err(|e| from_sdk_error("SendMessage", &e))?;
        Ok(())
    }
}
