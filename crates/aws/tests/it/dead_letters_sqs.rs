//! The dead-letter queue adapter at the SDK boundary: what `SendMessage` carries, and how its
//! failures reach the invocation loop.

use asg_lifecycle::aws::AwsErrorKind;
use asg_lifecycle::event::Envelope;
use asg_lifecycle::invocation::{DeadLetter, DeadLetters, POISON_ERROR_TYPE};
use asg_lifecycle_aws::sdk::MAX_ATTEMPTS;
use asg_lifecycle_aws::testing::sdk_mocks::{Seen, dead_letters};
use aws_sdk_sqs::operation::send_message::{SendMessageInput, SendMessageOutput};
use aws_smithy_mocks::mock;
use serde_json::{Value, json};

const QUEUE: &str =
    "https://sqs.eu-west-1.amazonaws.com/123456789012/asg-lifecycle-DeadLetterQueue";

fn letter() -> DeadLetter {
    DeadLetter {
        reason: "event `e-9`: unknown event source `aws.ec2`".into(),
        envelope: Some(Envelope::Sqs),
        message_id: Some("m-9".into()),
        request_id: "req-9".into(),
        payload: json!({"messageId": "m-9", "body": "{\"source\": \"aws.ec2\"}"}),
    }
}

#[tokio::test]
async fn a_poison_payload_is_sent_to_the_queue_with_its_reason() {
    let seen = Seen::<SendMessageInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_sqs::Client::send_message).then_compute_output(move |req| {
        s.push(req);
        SendMessageOutput::builder().message_id("dl-1").build()
    });
    dead_letters(&[&rule], QUEUE).keep(&letter()).await.unwrap();
    let calls = seen.all();
    let [req] = &calls[..] else {
        panic!("one SendMessage: {}", calls.len());
    };
    assert_eq!(req.queue_url(), Some(QUEUE));
    let body: Value = serde_json::from_str(req.message_body().unwrap()).unwrap();
    assert_eq!(body["payload"], letter().payload);
    assert_eq!(body["reason"], letter().reason);
    assert_eq!(body["messageId"], "m-9");
    let attributes = req.message_attributes().unwrap();
    assert_eq!(
        attributes["ErrorType"].string_value(),
        Some(POISON_ERROR_TYPE)
    );
    assert_eq!(
        attributes["ErrorMessage"].string_value(),
        Some(letter().reason.as_str())
    );
}

#[tokio::test]
async fn a_queue_that_keeps_failing_answers_a_retryable_error() {
    let rule = mock!(aws_sdk_sqs::Client::send_message)
        .sequence()
        .http_status(503, None)
        .repeatedly()
        .build();
    let err = dead_letters(&[&rule], QUEUE)
        .keep(&letter())
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Transient, "{err:?}");
    assert_eq!(err.operation, "SendMessage");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
}
