//! The handler on `DynamoStore` (moto): races, event orderings and request counts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use asg_lifecycle::event::{CommandStatus, Event};
use asg_lifecycle::handler::{HandlerError, LifecycleHandler, Outcome, OutcomeKind};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{Commit, Page, StateStore, StoreError};
use asg_lifecycle::testing::{
    Harness, INSTANCE_IP, command, invocation_context, launch, terminate,
};
use asg_lifecycle_aws::DynamoStore;
use asg_lifecycle_aws::testing::moto::{attrs, moto_store};
use async_trait::async_trait;
use futures::future::join_all;
use serde_json::{Map, Value, json};

const GROUP: &str = "web-asg";
const HANDLERS: usize = 20;

/// The harness on a fresh moto table whose sweeps list [`GROUP`].
async fn on_moto() -> Harness<DynamoStore> {
    let (store, _) = moto_store(&[GROUP]).await;
    Harness::builder().store(Arc::new(store)).build()
}

/// Runs every (handler, event) pair at once, each on its own task.
/// Delivers concurrently; a delivery told `Busy` (another one is sending the transition's SSM
/// command) is delivered again once the burst is over, as Lambda's retry would.
async fn deliver_concurrently(
    deliveries: Vec<(LifecycleHandler, Event)>,
) -> Vec<Result<Vec<Outcome>, HandlerError>> {
    let tasks = deliveries.into_iter().map(|(handler, event)| {
        tokio::spawn(async move {
            let result = handler.handle_event(&event, &invocation_context()).await;
            (handler, event, result)
        })
    });
    let mut results = Vec::new();
    for joined in join_all(tasks).await {
        let (handler, event, result) = joined.expect("no panic");
        results.push(match result {
            Err(HandlerError::Busy { .. }) => {
                handler.handle_event(&event, &invocation_context()).await
            }
            other => other,
        });
    }
    results
}

/// Every recorded transition continues from the previous one, with versions that never go
/// back (transitions written together share their write's version), and none was recorded
/// twice.
fn assert_history_is_one_path(record: &InstanceRecord) {
    for pair in record.history.windows(2) {
        assert_eq!(
            pair[0].to, pair[1].from,
            "history jumps: {:#?}",
            record.history
        );
        assert!(
            pair[0].version <= pair[1].version,
            "versions go back: {:#?}",
            record.history
        );
    }
    let mut steps: Vec<_> = record
        .history
        .iter()
        .map(|h| (&h.from, &h.to, &h.trigger))
        .collect();
    steps.sort();
    let before = steps.len();
    steps.dedup();
    assert_eq!(
        steps.len(),
        before,
        "a transition was recorded twice: {:#?}",
        record.history
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_handlers_delivering_the_same_launch_event_fire_join_once() {
    let h = on_moto().await;
    h.register("i-race", "finished_cloud_init").await;
    let event = launch("launch-1", "i-race");
    let deliveries = (0..HANDLERS)
        .map(|_| (h.another_handler(), event.clone()))
        .collect();
    let results = deliver_concurrently(deliveries).await;
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .flat_map(|r| r.unwrap_or_else(|e| panic!("a delivery failed: {e}")))
        .collect();
    let advanced = outcomes
        .iter()
        .filter(|o| !o.transitions.is_empty())
        .count();
    assert_eq!(
        advanced, 1,
        "exactly one delivery writes the transition: {outcomes:#?}"
    );
    let stored = h.record("i-race").await;
    assert_eq!(stored.state(), "join_cluster");
    assert_eq!(stored.history.len(), 1, "{:#?}", stored.history);
    assert_eq!(h.count("SendCommand"), 1, "the join command is sent once");
    assert!(
        stored
            .pending_command
            .as_ref()
            .is_some_and(|p| p.command_id.is_some())
    );
    assert_eq!(stored.attribute_str("InstanceIp"), Some(INSTANCE_IP));
    assert!(stored.has_processed("launch-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn competing_command_and_terminate_events_end_terminated_without_lost_updates() {
    let h = on_moto().await;
    h.register("i-comp", "finished_cloud_init").await;
    h.deliver(&launch("launch-1", "i-comp")).await.unwrap();
    let joining = h.record("i-comp").await;
    let command_id = joining
        .pending_command
        .and_then(|p| p.command_id)
        .expect("the join command was sent");
    let success = command("cmd-ok", "i-comp", &command_id, CommandStatus::Success);
    let terminate = terminate("terminate-1", "i-comp");
    let deliveries = (0..HANDLERS)
        .map(|n| {
            let event = if n % 2 == 0 {
                success.clone()
            } else {
                terminate.clone()
            };
            (h.another_handler(), event)
        })
        .collect();
    for result in deliver_concurrently(deliveries).await {
        result.unwrap_or_else(|e| panic!("a delivery failed: {e}"));
    }
    let stored = h.record("i-comp").await;
    assert_eq!(stored.state(), "terminated", "{:#?}", stored.history);
    assert_history_is_one_path(&stored);
    assert_eq!(&*stored.history[0].trigger, "join");
    assert_eq!(&*stored.history.last().unwrap().trigger, "finish");
    assert!(stored.has_processed("terminate-1"));
    assert!(
        stored.version as usize >= stored.history.len(),
        "every transition bumped the version"
    );
    assert_eq!(stored.active_group, None);
    assert!(stored.expires_at.is_some(), "a terminal record expires");
}

#[tokio::test]
async fn a_launch_event_before_registration_waits_and_the_sweep_continues() {
    let h = on_moto().await;
    let outcomes = h.deliver(&launch("launch-1", "i-early")).await.unwrap();
    assert_eq!(outcomes[0].outcome, OutcomeKind::Waiting);
    let waiting = h.record("i-early").await;
    assert_eq!(waiting.status, None);
    let action = waiting
        .lifecycle_action
        .as_ref()
        .expect("the lifecycle action is remembered");
    assert_eq!(
        (action.event_id.as_str(), action.token.as_deref()),
        ("launch-1", Some("token-launch-1"))
    );
    assert_eq!(
        waiting.active_group.as_deref(),
        Some(GROUP),
        "the sweep can find it"
    );
    h.register("i-early", "new").await;
    h.register("i-early", "finished_cloud_init").await;
    let outcomes = h.sweep().await;
    assert_eq!(outcomes.len(), 1, "{outcomes:#?}");
    let stored = h.record("i-early").await;
    assert_eq!(stored.state(), "join_cluster");
    assert_eq!(stored.history.len(), 1);
    assert_eq!(stored.attribute_str("InstanceIp"), Some(INSTANCE_IP));
    assert_eq!(
        stored
            .lifecycle_action
            .as_ref()
            .map(|a| a.event_id.as_str()),
        Some("launch-1")
    );
}

#[tokio::test]
async fn a_registration_between_two_deliveries_advances_once() {
    let h = on_moto().await;
    let launch = launch("launch-1", "i-between");
    let first = h.deliver(&launch).await.unwrap();
    assert_eq!(first[0].outcome, OutcomeKind::Waiting);
    // The registration's stream event continues the instance; the launch redelivered after it
    // changes nothing.
    h.register("i-between", "finished_cloud_init").await;
    assert_eq!(h.state("i-between").await, "join_cluster");
    let second = h.deliver(&launch).await.unwrap();
    assert_ne!(second[0].outcome, OutcomeKind::Advanced, "{second:#?}");
    let stored = h.record("i-between").await;
    assert_eq!(stored.state(), "join_cluster");
    assert_eq!(stored.history.len(), 1);
    assert_eq!(h.count("SendCommand"), 1);
}

/// A store that lets cloud-init write just before the handler's first commit lands.
struct CloudInitRaces {
    inner: DynamoStore,
    write: Map<String, Value>,
    fired: AtomicBool,
    conflicts: AtomicUsize,
}

#[async_trait]
impl StateStore for CloudInitRaces {
    async fn get(&self, ident: &str) -> asg_lifecycle::store::Result<Option<InstanceRecord>> {
        self.inner.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> asg_lifecycle::store::Result<InstanceRecord> {
        if !self.fired.swap(true, Ordering::SeqCst) {
            self.inner
                .cloud_init_update(&commit.ident, &self.write)
                .await?;
        }
        let result = self.inner.commit(commit).await;
        if matches!(result, Err(StoreError::Conflict { .. })) {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
        }
        result
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> asg_lifecycle::store::Result<Page> {
        self.inner.query_active(group, start, limit).await
    }

    async fn cloud_init_update(
        &self,
        ident: &str,
        attributes: &Map<String, Value>,
    ) -> asg_lifecycle::store::Result<()> {
        self.inner.cloud_init_update(ident, attributes).await
    }
    async fn registration(
        &self,
        instance: &str,
    ) -> asg_lifecycle::store::Result<Option<asg_lifecycle::registration::Registration>> {
        self.inner.registration(instance).await
    }
}

#[tokio::test]
async fn cloud_init_writing_while_the_handler_commits_is_another_item_and_is_not_lost() {
    let (store, _) = moto_store(&[GROUP]).await;
    let racing = Arc::new(CloudInitRaces {
        inner: store.clone(),
        write: attrs(json!({"ItemStatus": "finished_cloud_init", "ClusterRole": "worker"})),
        fired: AtomicBool::new(false),
        conflicts: AtomicUsize::new(0),
    });
    let h = Harness::builder().store(racing.clone()).build();
    h.register("i-late", "new").await;
    let outcomes = h.deliver(&launch("launch-1", "i-late")).await.unwrap();
    assert_eq!(
        racing.conflicts.load(Ordering::SeqCst),
        0,
        "the registration is the instance's own item, never the handler's record"
    );
    assert_eq!(outcomes[0].outcome, OutcomeKind::Waiting, "{outcomes:#?}");
    // Its stream event takes it in.
    h.registered_with(
        "i-late",
        "finished_cloud_init",
        &[("ClusterRole", "worker")],
    )
    .await;
    let stored = h.record("i-late").await;
    assert_eq!(stored.state(), "join_cluster");
    assert_eq!(&*stored.history[0].from, "finished_cloud_init");
    assert_eq!(
        stored.attribute_str("ClusterRole"),
        Some("worker"),
        "cloud-init's write is kept"
    );
    assert_eq!(stored.attribute_str("InstanceIp"), Some(INSTANCE_IP));
    let registration = store.registration("i-late").await.unwrap().unwrap();
    assert_eq!(registration.status.as_deref(), Some("finished_cloud_init"));
}

#[tokio::test]
async fn a_transition_costs_one_read_and_one_write_and_nothing_scans() {
    let (store, counter) = moto_store(&[GROUP]).await;
    let h = Harness::builder().store(Arc::new(store)).build();
    h.register("i-count", "finished_cloud_init").await;
    // terminate before joining: terminate_early then finish, two transitions without after tasks
    counter.reset();
    let outcomes = h
        .deliver(&terminate("terminate-1", "i-count"))
        .await
        .unwrap();
    assert_eq!(outcomes[0].transitions.len(), 2, "{outcomes:#?}");
    assert_eq!(counter.count("GetItem"), 1, "{:?}", counter.all());
    assert_eq!(counter.count("UpdateItem"), 2, "{:?}", counter.all());
    assert_eq!(
        counter.all().len(),
        2,
        "only GetItem and UpdateItem: {:?}",
        counter.all()
    );
    // a transition with `after` tasks adds the write that settles them
    h.register("i-count-2", "finished_cloud_init").await;
    counter.reset();
    let outcomes = h.deliver(&launch("launch-2", "i-count-2")).await.unwrap();
    assert_eq!(outcomes[0].transitions.len(), 1);
    assert_eq!(
        (counter.count("GetItem"), counter.count("UpdateItem")),
        (1, 2),
        "{:?}",
        counter.all()
    );
    // the sweep queries the index, one page per group (and the unknown group)
    counter.reset();
    h.sweep().await;
    assert_eq!(counter.count("Query"), 2, "{:?}", counter.all());
    assert_eq!(counter.count("Scan"), 0, "{:?}", counter.all());
}

/// An instance writes malformed handler attributes into its own item (any `UpdateItem` its
/// role allows): the launch is still handled, the write repairs the item, and of two writes
/// that read the malformed `Version` only one wins.
#[tokio::test]
async fn malformed_handler_attributes_are_repaired_by_the_next_write() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let h = on_moto().await;
    let ident = "i-0forged";
    h.register(ident, "finished_cloud_init").await;
    let forge = |version: AttributeValue| {
        h.store
            .client()
            .update_item()
            .table_name(h.store.table())
            .key("Ident", AttributeValue::S(ident.into()))
            .update_expression("SET #v = :v, #f = :f, #h = :h")
            .expression_attribute_names("#v", "Version")
            .expression_attribute_names("#f", "InFlight")
            .expression_attribute_names("#h", "History")
            .expression_attribute_values(":v", version)
            .expression_attribute_values(":f", AttributeValue::S("junk".into()))
            .expression_attribute_values(":h", AttributeValue::N("3".into()))
            .send()
    };
    forge(AttributeValue::S("x".into())).await.unwrap();
    let read = h.store.get(ident).await.unwrap().unwrap();
    assert_eq!(read.malformed.len(), 3, "{:?}", read.malformed);
    // Two writers over the same read: one wins, the other conflicts.
    let mut first = Commit::expecting(&read, chrono::Utc::now());
    first.last_error = asg_lifecycle::store::Change::Set("first".into());
    let second = Commit::expecting(&read, chrono::Utc::now());
    let won = h.store.commit(&first).await.unwrap();
    assert_eq!(won.version, 1);
    assert!(won.malformed.is_empty(), "{:?}", won.malformed);
    assert!(won.in_flight.is_none() && won.history.is_empty());
    assert!(matches!(
        h.store.commit(&second).await,
        Err(StoreError::Conflict { .. })
    ));
    // Forged again: the launch is handled over it, and the item is repaired.
    forge(AttributeValue::Ss(vec!["1".into()])).await.unwrap();
    h.deliver_ok(&launch("launch-1", ident)).await;
    let record = h.store.get(ident).await.unwrap().unwrap();
    assert_eq!(record.state(), "join_cluster");
    assert!(record.malformed.is_empty(), "{:?}", record.malformed);
    assert!(
        record.in_flight.is_none()
            || record
                .in_flight
                .as_ref()
                .is_some_and(|f| f.event_id == "launch-1")
    );
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("`Version`"))
    );
}
