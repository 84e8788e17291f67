//! The invocation loop: the SQS and direct answers, poison payloads kept, the deadline cut.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Map, json};

use super::*;
use crate::aws::{AwsClients, AwsError, AwsErrorKind, LocalAws};
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
    async fn registration(
        &self,
        instance: &str,
    ) -> crate::store::Result<Option<crate::registration::Registration>> {
        self.inner.registration(instance).await
    }
    async fn sweep_cursor(&self) -> Result<Option<String>, StoreError> {
        self.inner.sweep_cursor().await
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<(), StoreError> {
        self.inner.save_sweep_cursor(cursor).await
    }
}

async fn invoker(store: ScriptedStore) -> Invoker {
    // `i-ok`'s registration was taken in already (its stream event fired nothing).
    let mut registered = InstanceRecord::new("i-ok");
    registered.status = Some("finished_cloud_init".into());
    registered.version = 1;
    std::sync::Arc::make_mut(&mut registered.attributes)
        .insert("InstanceIp".into(), json!("10.0.0.5"));
    store.inner.put(registered);
    let aws = AwsClients::local(&Arc::new(LocalAws::new()));
    let handler = LifecycleHandler::new(Arc::new(Machine::example()), Arc::new(store), aws);
    Invoker::new(handler)
}

/// A dead-letter queue that records its letters, or refuses them all.
#[derive(Default)]
struct Recorded {
    letters: Mutex<Vec<DeadLetter>>,
    refuse: bool,
}

#[async_trait]
impl DeadLetters for Recorded {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AwsError> {
        if self.refuse {
            return Err(AwsError {
                operation: "SendMessage".into(),
                kind: AwsErrorKind::Throttled,
                code: "RequestThrottled".into(),
                message: "slow down".into(),
            });
        }
        self.letters.lock().unwrap().push(letter.clone());
        Ok(())
    }
}

impl Recorded {
    fn letters(&self) -> Vec<DeadLetter> {
        self.letters.lock().unwrap().clone()
    }
}

/// An invoker keeping poison payloads in `dead_letters`.
async fn keeping(store: ScriptedStore, dead_letters: &Arc<Recorded>) -> Invoker {
    invoker(store).await.with_dead_letters(dead_letters.clone())
}

fn unknown_instance_command() -> Value {
    json!({
        "version": "0", "id": "e-2", "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm", "account": "123456789012", "time": "2026-11-20T12:02:00Z",
        "region": "us-east-1", "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-gone"],
        "detail": {"command-id": "c-1", "document-name": "AWS-RunShellScript",
            "instance-id": "i-gone", "status": "Success"}
    })
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
async fn an_sqs_batch_hands_back_its_retryable_messages_and_keeps_its_poison_ones() {
    let store = ScriptedStore {
        unavailable: BTreeSet::from(["i-down".to_string()]),
        ..ScriptedStore::default()
    };
    let dead_letters = Arc::new(Recorded::default());
    let invoker = keeping(store, &dead_letters).await;
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
    let [letter] = &dead_letters.letters()[..] else {
        panic!("one letter: {:?}", dead_letters.letters());
    };
    assert_eq!(letter.payload, payload["Records"][2], "the record at fault");
    assert_eq!(letter.message_id.as_deref(), Some("m-bad"));
    assert_eq!(letter.envelope, Some(Envelope::Sqs));
    assert_eq!(letter.reason, bad.to_string());
}

#[tokio::test]
async fn a_direct_event_fails_the_invocation_when_retryable_and_is_kept_when_poison() {
    let store = ScriptedStore {
        unavailable: BTreeSet::from(["i-down".to_string()]),
        ..ScriptedStore::default()
    };
    let dead_letters = Arc::new(Recorded::default());
    let invoker = keeping(store, &dead_letters).await;
    let failed = invoker.invoke(&launch("e-1", "i-down"), &ctx()).await;
    let failure = failed.answer().unwrap_err();
    assert!(
        failure.message.contains("throttled") && !failure.poison,
        "{failure:?}"
    );
    assert!(
        dead_letters.letters().is_empty(),
        "a retryable failure is no poison"
    );

    let command = unknown_instance_command();
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
    assert_eq!(answer["rejected"][0]["kept"], true);
    let [letter] = &dead_letters.letters()[..] else {
        panic!("one letter: {:?}", dead_letters.letters());
    };
    assert_eq!(letter.payload, command);
    assert_eq!(letter.envelope, Some(Envelope::Direct));
    assert!(letter.reason.contains("i-gone"), "{letter:?}");
    assert_eq!(letter.request_id, ctx().request_id);
}

#[tokio::test]
async fn a_payload_that_is_no_envelope_is_kept_whole_then_acknowledged() {
    let dead_letters = Arc::new(Recorded::default());
    let invoker = keeping(ScriptedStore::default(), &dead_letters).await;
    let report = invoker.invoke(&json!({"hello": 1}), &ctx()).await;
    assert!(report.envelope.is_err() && report.messages.is_empty());
    let answer = report.answer().unwrap();
    assert_eq!(answer["envelope"], Value::Null);
    assert_eq!(answer["rejected"][0]["messageId"], Value::Null);
    let [letter] = &dead_letters.letters()[..] else {
        panic!("one letter: {:?}", dead_letters.letters());
    };
    assert_eq!(letter.payload, json!({"hello": 1}));
    assert_eq!(letter.envelope, None);
    assert_eq!(letter.reason, report.envelope.unwrap_err().to_string());
}

#[tokio::test]
async fn without_a_dead_letter_queue_a_poison_payload_is_handed_back_as_poison() {
    let invoker = invoker(ScriptedStore::default()).await;
    let direct = invoker.invoke(&unknown_instance_command(), &ctx()).await;
    assert_eq!(direct.messages[0].kept, Some(Kept::No(None)));
    let failure = direct.answer().unwrap_err();
    assert!(
        failure.poison && failure.message.contains("i-gone"),
        "{failure:?}"
    );
    let batch = invoker
        .invoke(&sqs(&[("m-bad", "not json".into())]), &ctx())
        .await;
    assert_eq!(
        batch.answer().unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-bad"}]})
    );
}

#[tokio::test]
async fn a_poison_payload_the_dead_letter_queue_refuses_is_handed_back() {
    let dead_letters = Arc::new(Recorded {
        refuse: true,
        ..Recorded::default()
    });
    let invoker = keeping(ScriptedStore::default(), &dead_letters).await;
    let report = invoker.invoke(&unknown_instance_command(), &ctx()).await;
    let Some(Kept::No(Some(why))) = &report.messages[0].kept else {
        panic!("{report:?}");
    };
    assert!(why.contains("RequestThrottled"), "{why}");
    let failure = report.answer().unwrap_err();
    assert!(failure.poison, "{failure:?}");
    let envelope = invoker.invoke(&json!([1, 2]), &ctx()).await;
    assert!(envelope.answer().unwrap_err().poison);
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
    assert_eq!(record.unwrap().version, 1, "nothing was written");
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

#[tokio::test]
async fn the_text_of_a_payload_is_handled_as_the_payload() {
    let dead_letters = Arc::new(Recorded::default());
    let by_text = keeping(ScriptedStore::default(), &dead_letters).await;
    let by_value = invoker(ScriptedStore::default()).await;
    let payloads = [
        launch("e-1", "i-ok"),
        sqs(&[("m-ok", launch("e-2", "i-ok").to_string())]),
        unknown_instance_command(),
    ];
    for payload in &payloads {
        let text = by_text.invoke_text(&payload.to_string(), &ctx()).await;
        let value = by_value.invoke(payload, &ctx()).await;
        assert_eq!(text.envelope, value.envelope, "{payload}");
        let outcomes = |r: &InvocationReport| -> Vec<Vec<Outcome>> {
            r.messages.iter().map(MessageResult::outcomes).collect()
        };
        assert_eq!(outcomes(&text), outcomes(&value), "{payload}");
    }
    let [letter] = &dead_letters.letters()[..] else {
        panic!(
            "the unknown instance's command is kept: {:?}",
            dead_letters.letters()
        );
    };
    assert_eq!(letter.payload, payloads[2], "kept as received");
}

#[tokio::test]
async fn text_that_is_not_json_is_kept_as_poison() {
    let dead_letters = Arc::new(Recorded::default());
    let invoker = keeping(ScriptedStore::default(), &dead_letters).await;
    let report = invoker.invoke_text("{not json", &ctx()).await;
    assert!(
        matches!(report.envelope, Err(DecodeError::Json { .. })),
        "{report:?}"
    );
    assert!(report.kept.as_ref().is_some_and(Kept::is_kept));
    assert_eq!(dead_letters.letters()[0].payload, json!("{not json"));
}
