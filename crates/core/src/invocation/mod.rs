//! One invocation: decode the payload, handle every message within the deadline, classify each
//! failure retryable or not, and answer the invoking service for the envelope. The Lambda, the
//! CLI `invoke` and the simulator all drive this one loop ([`Invoker::invoke`]).
//!
//! # Guarantees
//! - **A poison event never loops**: an error that no retry can fix (malformed payload, unknown
//!   event kind, unknown instance, a state the model lacks) is acknowledged in the answer; only
//!   retryable failures make the invocation fail.
//! - **SQS: one bad message does not redeliver the batch**: the answer is
//!   `{"batchItemFailures": [{"itemIdentifier": messageId}]}` listing the messages with a
//!   retryable failure only; malformed messages are dropped, since they would fail on every
//!   delivery (with a redrive policy they would end in the queue's dead-letter queue anyway,
//!   after `maxReceiveCount` useless attempts).
//! - **The deadline bounds everything**: a message not started when the deadline is near (the
//!   handler's `deadline_margin`), or still running `hard_margin` before the deadline, is handed
//!   back for a retry; the handler records interrupted chains, so the retry (or the sweep)
//!   finishes them.
//!
//! # Assumptions
//! [`Invoker::invoke`] runs inside a Tokio runtime with time enabled: the hard cut is a Tokio
//! timer.

mod answer;

use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use answer::{Answer, RetryableFailure};

use crate::event::{DecodeError, Envelope, Event, Stimulus, decode_invocation};
use crate::handler::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The handler failed (a message that could not be decoded is a [`HandlerError::Decode`]).
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

    /// The handler's error, when it was one.
    #[must_use]
    pub fn handler_error(&self) -> Option<&HandlerError> {
        match self {
            Self::Handler(e) => Some(e),
            Self::Deadline => None,
        }
    }
}

/// What one message of an invocation produced.
#[derive(Debug)]
pub struct MessageResult {
    /// The SQS or SNS message id (absent for a direct event).
    pub message_id: Option<String>,
    /// The outcomes per instance, or why the message failed.
    pub result: Result<Vec<Outcome>, MessageError>,
    /// How long the message ran, when it was a scheduled event of the sweep rule and started.
    pub sweep_duration: Option<Duration>,
    /// The event id (absent when the message could not be decoded).
    pub event_id: Option<String>,
    /// The instances the event addresses (none for a scheduled event).
    pub instances: Vec<String>,
}

impl MessageResult {
    /// The outcomes per instance, a failure included: every outcome names the event and the
    /// instance when they are known (only a message that could not be decoded has neither).
    #[must_use]
    pub fn outcomes(&self) -> Vec<Outcome> {
        let error = match &self.result {
            Ok(outcomes) => return outcomes.clone(),
            Err(e) => e,
        };
        let event = self.event_id.as_deref();
        let named = |instance: Option<&str>| match error {
            MessageError::Handler(e) => Outcome::of_error(event, instance, e),
            MessageError::Deadline => Outcome::stopped(event, instance, OutcomeKind::Retry, error),
        };
        let by_error = error.handler_error().and_then(HandlerError::ident);
        if by_error.is_some() || self.instances.is_empty() {
            return vec![named(by_error)];
        }
        self.instances.iter().map(|i| named(Some(i))).collect()
    }
}

/// What one invocation produced: the envelope and every message's result, in order.
#[derive(Debug)]
pub struct InvocationReport {
    /// The envelope, or why the payload was no known envelope (or a malformed direct event);
    /// then there are no messages.
    pub envelope: Result<Envelope, DecodeError>,
    /// The messages' results.
    pub messages: Vec<MessageResult>,
}

/// Runs invocations through a [`LifecycleHandler`]. Build it once; cheap to clone.
#[derive(Clone)]
pub struct Invoker {
    handler: LifecycleHandler,
    hard_margin: Duration,
}

impl Invoker {
    /// An invoker over a handler, cutting a message 1 s before the deadline.
    #[must_use]
    pub fn new(handler: LifecycleHandler) -> Self {
        Self {
            handler,
            // Enough to post the answer after abandoning the work.
            hard_margin: Duration::from_secs(1),
        }
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

    /// Decodes a payload (direct, SNS or SQS) and handles its messages in order.
    pub async fn invoke(&self, payload: &Value, ctx: &InvocationContext) -> InvocationReport {
        let invocation = match decode_invocation(payload) {
            Ok(invocation) => invocation,
            Err(e) => {
                return InvocationReport {
                    envelope: Err(e),
                    messages: Vec::new(),
                };
            }
        };
        let mut messages = Vec::with_capacity(invocation.messages.len());
        for message in &invocation.messages {
            let (result, sweep_duration) = match &message.event {
                Err(e) => (Err(HandlerError::Decode(e.clone()).into()), None),
                Ok(event) => self.handle_message(event, ctx).await,
            };
            let event = message.event.as_ref().ok();
            messages.push(MessageResult {
                message_id: message.message_id.clone(),
                result,
                sweep_duration,
                event_id: event.map(|e| e.id.clone()),
                instances: event
                    .map(|e| {
                        e.stimulus
                            .instance_ids()
                            .into_iter()
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        InvocationReport {
            envelope: Ok(invocation.envelope),
            messages,
        }
    }

    async fn handle_message(
        &self,
        event: &Event,
        ctx: &InvocationContext,
    ) -> (Result<Vec<Outcome>, MessageError>, Option<Duration>) {
        let config = self.handler.config();
        if Instant::now() + config.deadline_margin >= ctx.deadline {
            return (Err(MessageError::Deadline), None);
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
        let sweeping =
            matches!(&event.stimulus, Stimulus::Scheduled(s) if s.rule == config.sweep_rule);
        (result, sweeping.then(|| started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use async_trait::async_trait;
    use serde_json::{Map, json};

    use super::*;
    use crate::aws::{AwsClients, LocalAws};
    use crate::machine::Machine;
    use crate::record::InstanceRecord;
    use crate::store::{Commit, MemoryStore, Page, StateStore, StoreError};

    /// A memory store where some instances' reads fail retryably and others never answer.
    #[derive(Default)]
    struct ScriptedStore {
        inner: MemoryStore,
        unavailable: BTreeSet<String>,
        hanging: BTreeSet<String>,
    }

    #[async_trait]
    impl StateStore for ScriptedStore {
        async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>, StoreError> {
            if self.hanging.contains(ident) {
                std::future::pending::<()>().await;
            }
            if self.unavailable.contains(ident) {
                return Err(StoreError::Unavailable {
                    message: "throttled".into(),
                });
            }
            self.inner.get(ident).await
        }

        async fn commit(&self, commit: &Commit) -> Result<InstanceRecord, StoreError> {
            self.inner.commit(commit).await
        }

        async fn query_active(
            &self,
            group: Option<&str>,
            start: Option<&str>,
            limit: usize,
        ) -> Result<Page, StoreError> {
            self.inner.query_active(group, start, limit).await
        }

        async fn cloud_init_update(
            &self,
            ident: &str,
            attributes: &Map<String, Value>,
        ) -> Result<(), StoreError> {
            self.inner.cloud_init_update(ident, attributes).await
        }
    }

    async fn invoker(store: ScriptedStore) -> Invoker {
        let mut attrs = Map::new();
        attrs.insert("ItemStatus".into(), json!("finished_cloud_init"));
        attrs.insert("InstanceIp".into(), json!("10.0.0.5"));
        store.cloud_init_update("i-ok", &attrs).await.unwrap();
        let aws = AwsClients::local(&Arc::new(LocalAws::new()));
        let handler = LifecycleHandler::new(Arc::new(Machine::example()), Arc::new(store), aws);
        Invoker::new(handler)
    }

    fn launch(id: &str, ident: &str) -> Value {
        json!({
            "version": "0", "id": id, "detail-type": "EC2 Instance-launch Lifecycle Action",
            "source": "aws.autoscaling", "account": "123456789012",
            "time": "2026-11-20T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/web-asg"],
            "detail": {
                "LifecycleActionToken": "token", "AutoScalingGroupName": "web-asg",
                "LifecycleHookName": "launch-hook", "EC2InstanceId": ident,
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            }
        })
    }

    fn sqs(messages: &[(&str, String)]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|(id, body)| json!({"messageId": id, "body": body, "eventSource": "aws:sqs"}))
            .collect();
        json!({ "Records": records })
    }

    fn ctx() -> InvocationContext {
        InvocationContext::with_budget(Duration::from_secs(60))
    }

    #[tokio::test]
    async fn an_sqs_batch_hands_back_only_its_retryable_messages() {
        let store = ScriptedStore {
            unavailable: BTreeSet::from(["i-down".to_string()]),
            ..ScriptedStore::default()
        };
        let invoker = invoker(store).await;
        let payload = sqs(&[
            ("m-ok", launch("e-1", "i-ok").to_string()),
            ("m-down", launch("e-2", "i-down").to_string()),
            ("m-bad", "not json".into()),
        ]);
        let report = invoker.invoke(&payload, &ctx()).await;
        assert_eq!(report.envelope.as_ref().ok(), Some(&Envelope::Sqs));
        let [ok, down, bad] = &report.messages[..] else {
            panic!("{report:?}");
        };
        assert_eq!(ok.message_id.as_deref(), Some("m-ok"));
        assert_eq!(
            ok.result.as_ref().unwrap()[0].to.as_deref(),
            Some("join_cluster")
        );
        assert!(down.result.as_ref().unwrap_err().is_retryable(), "{down:?}");
        let bad = bad.result.as_ref().unwrap_err();
        assert!(
            matches!(bad.handler_error(), Some(HandlerError::Decode(_))) && !bad.is_retryable(),
            "{bad:?}"
        );
        assert_eq!(
            report.answer().unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "m-down"}]})
        );
    }

    #[tokio::test]
    async fn a_direct_event_fails_the_invocation_only_when_retryable() {
        let store = ScriptedStore {
            unavailable: BTreeSet::from(["i-down".to_string()]),
            ..ScriptedStore::default()
        };
        let invoker = invoker(store).await;
        let failed = invoker.invoke(&launch("e-1", "i-down"), &ctx()).await;
        let failure = failed.answer().unwrap_err();
        assert!(failure.message.contains("throttled"), "{failure:?}");

        let command = json!({
            "version": "0", "id": "e-2", "detail-type": "EC2 Command Invocation Status-change Notification",
            "source": "aws.ssm", "account": "123456789012", "time": "2026-11-20T12:02:00Z",
            "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-gone"],
            "detail": {"command-id": "c-1", "document-name": "AWS-RunShellScript",
                "instance-id": "i-gone", "status": "Success"}
        });
        let poison = invoker.invoke(&command, &ctx()).await;
        let error = poison.messages[0].result.as_ref().unwrap_err();
        assert!(
            matches!(
                error.handler_error(),
                Some(HandlerError::UnknownInstance { .. })
            ),
            "{error:?}"
        );
        let answer = poison.answer().unwrap();
        assert_eq!(answer["envelope"], "direct");
        assert_eq!(answer["rejected"].as_array().map(Vec::len), Some(1));
    }

    #[tokio::test]
    async fn a_payload_that_is_no_envelope_is_acknowledged_as_poison() {
        let invoker = invoker(ScriptedStore::default()).await;
        let report = invoker.invoke(&json!({"hello": 1}), &ctx()).await;
        assert!(report.envelope.is_err() && report.messages.is_empty());
        let answer = report.answer().unwrap();
        assert_eq!(answer["envelope"], Value::Null);
        assert_eq!(answer["rejected"][0]["messageId"], Value::Null);
    }

    #[tokio::test]
    async fn a_message_is_not_started_within_the_deadline_margin() {
        let invoker = invoker(ScriptedStore::default()).await;
        let ctx = InvocationContext::with_budget(Duration::from_secs(2));
        let report = invoker.invoke(&launch("e-1", "i-ok"), &ctx).await;
        assert!(matches!(
            report.messages[0].result,
            Err(MessageError::Deadline)
        ));
        let record = invoker.handler().store().get("i-ok").await.unwrap();
        assert_eq!(record.unwrap().state(), "finished_cloud_init");
        assert!(report.answer().is_err(), "the deadline is retryable");
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_still_running_at_the_hard_margin_is_cut() {
        let store = ScriptedStore {
            hanging: BTreeSet::from(["i-hung".to_string()]),
            ..ScriptedStore::default()
        };
        let invoker = invoker(store)
            .await
            .with_hard_margin(Duration::from_secs(2));
        let ctx = InvocationContext::with_budget(Duration::from_secs(30));
        let report = invoker.invoke(&launch("e-1", "i-hung"), &ctx).await;
        assert!(matches!(
            report.messages[0].result,
            Err(MessageError::Deadline)
        ));
        let cut_at = ctx.deadline - Instant::now();
        assert_eq!(cut_at, Duration::from_secs(2));
    }

    #[tokio::test]
    async fn only_a_run_of_the_sweep_rule_has_a_sweep_duration() {
        let invoker = invoker(ScriptedStore::default()).await;
        let scheduled = |id: &str, rule: &str| {
            json!({
                "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "123456789012", "time": "2026-11-20T12:00:00Z", "region": "us-east-1",
                "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")], "detail": {}
            })
        };
        let sweep = invoker.invoke(&scheduled("e-1", "reconcile"), &ctx()).await;
        assert!(sweep.messages[0].sweep_duration.is_some(), "{sweep:?}");
        let other = invoker.invoke(&scheduled("e-2", "nightly"), &ctx()).await;
        assert!(other.messages[0].sweep_duration.is_none(), "{other:?}");
        let launch = invoker.invoke(&launch("e-3", "i-ok"), &ctx()).await;
        assert!(launch.messages[0].sweep_duration.is_none());
    }
}
