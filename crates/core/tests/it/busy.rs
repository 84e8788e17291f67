//! Deliveries that find another invocation busy: their own retryable outcome, never `rejected`,
//! and every outcome names its event and instance.

use std::collections::BTreeMap;
use std::sync::Arc;

use asg_lifecycle::event::payload::LifecycleAction;
use asg_lifecycle::handler::{HandlerError, Outcome, OutcomeKind};
use asg_lifecycle::invocation::{Invoker, MessageError, MessageResult};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{Commit, MemoryStore, Page, StateStore, StoreError};
use asg_lifecycle::testing::{Crash, FaultyStore, Harness, invocation_context};
use async_trait::async_trait;
use serde_json::{Map, Value};

/// A memory store whose every request takes a little time, as a real table's do: concurrent
/// deliveries interleave.
#[derive(Default)]
struct SlowStore(MemoryStore);

async fn latency() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

#[async_trait]
impl StateStore for SlowStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>, StoreError> {
        latency().await;
        self.0.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord, StoreError> {
        latency().await;
        self.0.commit(commit).await
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        latency().await;
        self.0.query_active(group, start, limit).await
    }

    async fn cloud_init_update(
        &self,
        ident: &str,
        attributes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        latency().await;
        self.0.cloud_init_update(ident, attributes).await
    }
    async fn registration(
        &self,
        instance: &str,
    ) -> asg_lifecycle::store::Result<Option<asg_lifecycle::registration::Registration>> {
        self.0.registration(instance).await
    }
}

const I: &str = "i-0busy";

/// Delivers `payload` through `n` invocation loops at once, each on its own handler (another
/// Lambda execution environment); the outcomes of every message, errors included.
async fn deliver_at_once(h: &Arc<Harness<SlowStore>>, payload: &Value, n: usize) -> Vec<Outcome> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let invoker = Invoker::new(h.another_handler());
            let payload = payload.clone();
            tokio::spawn(async move { invoker.invoke(&payload, &invocation_context()).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        let report = task.await.expect("no panic");
        outcomes.extend(report.messages.iter().flat_map(MessageResult::outcomes));
    }
    outcomes
}

fn counts(outcomes: &[Outcome]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for o in outcomes {
        *counts.entry(format!("{:?}", o.outcome)).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_advance_once_and_the_rest_are_duplicate_or_busy_never_rejected()
 {
    for round in 0..5 {
        let h = Arc::new(
            Harness::builder()
                .store(Arc::new(SlowStore::default()))
                .build(),
        );
        let ident = format!("{I}{round}");
        h.register(&ident, "finished_cloud_init").await;
        let payload = LifecycleAction::launching("launch-1", &ident).json();
        let outcomes = deliver_at_once(&h, &payload, 20).await;
        let counts = counts(&outcomes);
        eprintln!("round {round}: {counts:?}");
        assert_eq!(outcomes.len(), 20, "{outcomes:#?}");
        assert_eq!(counts.get("Advanced"), Some(&1), "{outcomes:#?}");
        for o in &outcomes {
            assert!(
                matches!(
                    o.outcome,
                    OutcomeKind::Advanced | OutcomeKind::Duplicate | OutcomeKind::Busy
                ),
                "{o:#?}"
            );
            assert_eq!(o.event.as_deref(), Some("launch-1"), "{o:#?}");
            assert_eq!(o.instance.as_deref(), Some(ident.as_str()), "{o:#?}");
        }
        assert_eq!(h.path(&ident).await, ["finished_cloud_init>join_cluster"]);
        assert_eq!(h.count("SendCommand"), 1);
    }
}

#[tokio::test]
async fn a_redelivery_that_finds_the_intent_held_elsewhere_is_busy_and_names_event_and_instance() {
    let memory = Arc::new(MemoryStore::new());
    // Commit 1 (the transition with the intent) lands, then the invocation dies.
    let h = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::AfterWrite, &[2]))
        .manual_clock()
        .build();
    h.register(I, "finished_cloud_init").await;
    let payload = LifecycleAction::launching("launch-1", I).json();
    let invoker = Invoker::new(h.another_handler());
    let first = invoker.invoke(&payload, &invocation_context()).await;
    assert_eq!(first.messages[0].outcomes()[0].outcome, OutcomeKind::Retry);
    // Within the intent lease, the redelivery cannot tell the crash from a live sender.
    let report = invoker.invoke(&payload, &invocation_context()).await;
    let message = &report.messages[0];
    assert!(
        message
            .result
            .as_ref()
            .is_err_and(MessageError::is_retryable)
    );
    let outcomes = message.outcomes();
    assert_eq!(outcomes.len(), 1, "{outcomes:#?}");
    let busy = &outcomes[0];
    assert_eq!(busy.outcome, OutcomeKind::Busy, "{busy:#?}");
    assert_eq!(busy.event.as_deref(), Some("launch-1"));
    assert_eq!(busy.instance.as_deref(), Some(I));
    assert!(
        busy.error
            .as_deref()
            .is_some_and(|e| e.contains("another invocation"))
    );
    // Past the lease it goes on: the command is sent once.
    h.advance(std::time::Duration::from_secs(61));
    let done = invoker.invoke(&payload, &invocation_context()).await;
    assert_eq!(
        done.messages[0].outcomes()[0].event.as_deref(),
        Some("launch-1")
    );
    assert_eq!(h.count("SendCommand"), 1);
}

#[test]
fn a_message_cut_by_the_deadline_is_a_retry_naming_its_event_and_each_instance() {
    let message = MessageResult {
        message_id: Some("m-1".into()),
        result: Err(MessageError::Deadline),
        sweep_duration: None,
        event_id: Some("ssm-1".into()),
        instances: vec!["i-1".into(), "i-2".into()],
        kept: None,
    };
    let outcomes = message.outcomes();
    let named: Vec<_> = outcomes
        .iter()
        .map(|o| (o.outcome, o.event.as_deref(), o.instance.as_deref()))
        .collect();
    assert_eq!(
        named,
        [
            (OutcomeKind::Retry, Some("ssm-1"), Some("i-1")),
            (OutcomeKind::Retry, Some("ssm-1"), Some("i-2")),
        ]
    );
}

#[test]
fn only_bad_input_is_rejected() {
    let busy = HandlerError::Contention {
        ident: "i-1".into(),
        attempts: 9,
    };
    assert_eq!(busy.outcome_kind(), OutcomeKind::Busy);
    let unknown = HandlerError::UnknownInstance {
        ident: "i-1".into(),
    };
    assert_eq!(unknown.outcome_kind(), OutcomeKind::Rejected);
    let store = HandlerError::Store(StoreError::Unavailable {
        message: "throttled".into(),
    });
    let outcome = Outcome::of_error(Some("e-1"), Some("i-1"), &store);
    assert_eq!(outcome.outcome, OutcomeKind::Retry);
    assert_eq!(outcome.instance.as_deref(), Some("i-1"));
}
