//! The `StateStore` contract: the same cases against `MemoryStore` and `DynamoStore` (moto).

use std::collections::BTreeSet;
use std::sync::Arc;

use asg_lifecycle::record::{
    HISTORY_LIMIT, HistoryEntry, InstanceRecord, LifecycleAction, RECENT_EVENTS_LIMIT,
};
use asg_lifecycle::store::{Activity, Change, Commit, MemoryStore, StateStore, StoreError};
use chrono::Utc;
use serde_json::json;

use asg_lifecycle_aws::testing::moto::{self, attrs};

const GROUP_A: &str = "group-a";
const GROUP_B: &str = "group-b";

type Store = Arc<dyn StateStore>;

async fn memory() -> Store {
    Arc::new(MemoryStore::new())
}

async fn dynamo() -> Store {
    Arc::new(moto::moto_store(&[GROUP_A, GROUP_B]).await.0)
}

async fn read(store: &Store, ident: &str) -> InstanceRecord {
    store
        .get(ident)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{ident} is missing"))
}

fn entry(record: &InstanceRecord, to: &str, event: &str) -> HistoryEntry {
    HistoryEntry {
        from: record.state().to_string().into(),
        to: to.to_string().into(),
        trigger: format!("to_{to}").into(),
        event_id: event.to_string().into(),
        version: record.version + 1,
        at: Utc::now(),
    }
}

/// A transition commit as the handler writes it.
fn transition(record: &InstanceRecord, to: &str, event: &str) -> Commit {
    let mut commit = Commit::expecting(record, Utc::now());
    commit.unprocessed_event = Some(event.to_string());
    commit.status = Some(to.to_string());
    commit.history = vec![entry(record, to, event)];
    commit.mark_processed = Some(event.to_string());
    commit
}

/// Cloud-init registers `ident` at `status`, and the handler takes the registration in (one
/// commit, as its first write of the record does).
async fn registered(store: &Store, ident: &str, status: &str) -> InstanceRecord {
    store
        .cloud_init_update(
            ident,
            &attrs(json!({"ItemStatus": status, "InstanceIp": "10.0.0.7"})),
        )
        .await
        .unwrap();
    let registration = store
        .registration(ident)
        .await
        .unwrap()
        .expect("registered");
    let current = store
        .get(ident)
        .await
        .unwrap()
        .unwrap_or_else(|| InstanceRecord::new(ident));
    let mut commit = Commit::expecting(&current, Utc::now());
    commit.status = registration.status.clone();
    commit.attributes = registration.attributes;
    store.commit(&commit).await.unwrap()
}

async fn collect_active(store: &Store, group: Option<&str>, limit: usize) -> Vec<String> {
    let (mut idents, mut start) = (Vec::new(), None::<String>);
    for _ in 0..100 {
        let page = store
            .query_active(group, start.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.records.len() <= limit, "page larger than its limit");
        idents.extend(page.records.into_iter().map(|r| r.ident));
        match page.next {
            Some(next) => start = Some(next),
            None => return idents,
        }
    }
    panic!("pagination did not end");
}

async fn create_by_cloud_init_then_transition(store: Store) {
    let record = registered(&store, "i-1", "new").await;
    assert_eq!((record.state(), record.version), ("new", 1));
    let record = registered(&store, "i-1", "finished_cloud_init").await;
    assert_eq!((record.state(), record.version), ("finished_cloud_init", 2));
    let mut commit = transition(&record, "join_cluster", "e1");
    commit.group = Some(GROUP_A.into());
    commit.activity = Activity::Active(GROUP_A.into());
    let written = store.commit(&commit).await.unwrap();
    assert_eq!((written.state(), written.version), ("join_cluster", 3));
    assert_eq!(written.attribute_str("InstanceIp"), Some("10.0.0.7"));
    assert!(written.entered_at.is_some());
    assert_eq!(written.history.len(), 1);
    assert!(written.has_processed("e1"));
    assert_eq!(written.active_group.as_deref(), Some(GROUP_A));
    assert_eq!(read(&store, "i-1").await, written);
}

async fn conditional_conflict(store: Store) {
    let stale = registered(&store, "i-2", "finished_cloud_init").await;
    store
        .commit(&transition(&stale, "join_cluster", "e1"))
        .await
        .unwrap();
    let current = read(&store, "i-2").await;
    let err = store
        .commit(&transition(&stale, "failure", "e2"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    // the right version but the wrong status is a conflict too
    let mut wrong_status = transition(&current, "failure", "e2");
    wrong_status.expected_status = Some("ready".into());
    let err = store.commit(&wrong_status).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(
        read(&store, "i-2").await,
        current,
        "a refused write changes nothing"
    );
}

async fn duplicate_event_id(store: Store) {
    let record = registered(&store, "i-3", "finished_cloud_init").await;
    let record = store
        .commit(&transition(&record, "join_cluster", "e1"))
        .await
        .unwrap();
    let err = store
        .commit(&transition(&record, "joined_cluster", "e1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(read(&store, "i-3").await, record);
    let next = store
        .commit(&transition(&record, "joined_cluster", "e2"))
        .await
        .unwrap();
    assert_eq!(*next.recent_events, ["e1", "e2"]);
}

async fn history_bounds(store: Store) {
    let mut record = registered(&store, "i-4", "s0").await;
    let total = HISTORY_LIMIT.max(RECENT_EVENTS_LIMIT) + 5;
    // The writes are lent (`commit`), given (`commit_taking`) or given without an answer
    // (`commit_without_answer`, then read) in turn: the same lists either way.
    for n in 1..=total {
        let mut commit = transition(&record, &format!("s{n}"), &format!("e{n}"));
        record = match n % 3 {
            0 => store.commit(&commit).await.unwrap(),
            1 => store.commit_taking(&mut commit).await.unwrap(),
            _ => {
                store.commit_without_answer(&mut commit).await.unwrap();
                read(&store, "i-4").await
            }
        };
    }
    let stored = read(&store, "i-4").await;
    assert_eq!(stored, record);
    assert_eq!(stored.history.len(), HISTORY_LIMIT);
    assert_eq!(&*stored.history.last().unwrap().to, format!("s{total}"));
    assert_eq!(
        stored.history[0].version,
        (total - HISTORY_LIMIT + 2) as u64,
        "the oldest go first (version 1 took the registration in)"
    );
    assert_eq!(stored.recent_events.len(), RECENT_EVENTS_LIMIT);
    assert_eq!(stored.recent_events.last().unwrap(), &format!("e{total}"));
    // a commit without the lists as read (the store reads them) trims the same way
    let mut commit = transition(&stored, "last", "e-last");
    commit.base = None;
    let written = store.commit(&commit).await.unwrap();
    assert_eq!(written.history.len(), HISTORY_LIMIT);
    assert_eq!(written.history[..HISTORY_LIMIT - 1], stored.history[1..]);
}

async fn active_index_query(store: Store) {
    let mut expected_a = Vec::new();
    for (n, group, active) in [
        (1, GROUP_A, true),
        (2, GROUP_B, true),
        (3, GROUP_A, true),
        (4, GROUP_A, false),
        (5, GROUP_A, true),
        (6, GROUP_B, true),
        (7, GROUP_A, true),
        (8, GROUP_A, true),
    ] {
        let ident = format!("i-q{n}");
        let record = registered(&store, &ident, "finished_cloud_init").await;
        let mut commit = transition(&record, "join_cluster", "e1");
        commit.activity = if active {
            Activity::Active(group.into())
        } else {
            Activity::Inactive { expires_at: 1 }
        };
        store.commit(&commit).await.unwrap();
        if active && group == GROUP_A {
            expected_a.push(ident);
        }
    }
    // a record cloud-init wrote but the handler never touched is not active
    registered(&store, "i-q9", "new").await;
    assert_eq!(collect_active(&store, Some(GROUP_A), 2).await, expected_a);
    assert_eq!(
        collect_active(&store, Some(GROUP_B), 10).await,
        ["i-q2", "i-q6"]
    );
    assert!(collect_active(&store, Some("other"), 10).await.is_empty());
    let all: BTreeSet<String> = collect_active(&store, None, 3).await.into_iter().collect();
    let mut expected: BTreeSet<String> = expected_a.into_iter().collect();
    expected.extend(["i-q2".to_string(), "i-q6".to_string()]);
    assert_eq!(all, expected);
}

async fn terminal_expiry(store: Store) {
    let record = registered(&store, "i-5", "completing_termination").await;
    let mut commit = transition(&record, "completing_termination", "e0");
    commit.status = None;
    commit.activity = Activity::Active(GROUP_A.into());
    let record = store.commit(&commit).await.unwrap();
    assert_eq!(collect_active(&store, Some(GROUP_A), 10).await, ["i-5"]);
    let expires_at = Utc::now().timestamp() + 3600;
    let mut commit = transition(&record, "terminated", "e1");
    commit.activity = Activity::Inactive { expires_at };
    let written = store.commit(&commit).await.unwrap();
    assert_eq!(written.expires_at, Some(expires_at));
    assert_eq!(written.active_group, None);
    assert_eq!(read(&store, "i-5").await, written);
    assert!(collect_active(&store, Some(GROUP_A), 10).await.is_empty());
    assert!(collect_active(&store, None, 10).await.is_empty());
}

async fn cloud_init_merge_keeps_handler_attributes(store: Store) {
    let record = registered(&store, "i-6", "finished_cloud_init").await;
    let mut commit = transition(&record, "join_cluster", "e1");
    commit.lifecycle_action = Change::Set(std::sync::Arc::new(LifecycleAction {
        token: Some("tok".into()),
        hook: "hook".into(),
        group: GROUP_A.into(),
        transition: "autoscaling:EC2_INSTANCE_LAUNCHING".into(),
        event_id: "e1".into(),
        metadata: Some(json!({"role": "worker", "n": 3})),
        started_at: Utc::now(),
        last_heartbeat: None,
        origin: None,
        destination: None,
    }));
    commit.last_error = Change::Set("boom".into());
    commit.group = Some(GROUP_A.into());
    commit.activity = Activity::Active(GROUP_A.into());
    let written = store.commit(&commit).await.unwrap();
    // cloud-init writes its registration again, even trying handler-owned attributes: the
    // handler's record is not touched, and the registration keeps only the instance's own
    let registration = attrs(
        json!({"InstanceIp": "10.0.0.8", "JoinToken": {"k": [1, 2]}, "Version": 99, "History": []}),
    );
    store.cloud_init_update("i-6", &registration).await.unwrap();
    assert_eq!(
        read(&store, "i-6").await,
        written,
        "the record is the handler's"
    );
    let registration = store.registration("i-6").await.unwrap().unwrap();
    assert_eq!(registration.status.as_deref(), Some("finished_cloud_init"));
    assert_eq!(
        serde_json::Value::Object(registration.attributes.clone()),
        json!({"InstanceIp": "10.0.0.8", "JoinToken": {"k": [1, 2]}})
    );
    // taken in: the instance's attributes are copied, nothing else changes
    let mut take_in = Commit::expecting(&written, Utc::now());
    take_in.attributes = registration.attributes;
    take_in.attributes.insert("Version".into(), json!(99));
    let merged = store.commit(&take_in).await.unwrap();
    assert_eq!(merged, read(&store, "i-6").await);
    assert_eq!(merged.attribute_str("InstanceIp"), Some("10.0.0.8"));
    assert_eq!(merged.attributes["JoinToken"], json!({"k": [1, 2]}));
    let mut expected = written.clone();
    expected.attributes = merged.attributes.clone();
    expected.version = written.version + 1;
    assert_eq!(
        merged, expected,
        "handler-owned attributes survive taking a registration in"
    );
    assert!(store.registration("i-nobody").await.unwrap().is_none());
    // clearing removes
    let mut clear = Commit::expecting(&merged, Utc::now());
    clear.lifecycle_action = Change::Clear;
    clear.last_error = Change::Clear;
    let cleared = store.commit(&clear).await.unwrap();
    assert_eq!(
        (
            cleared.lifecycle_action,
            cleared.last_error,
            cleared.version
        ),
        (None, None, 4),
        "registered, a transition, taken in again, cleared"
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(#[tokio::test] async fn $case() { super::$case(super::memory().await).await; })*
        }
        mod dynamo_store {
            $(#[tokio::test] async fn $case() { super::$case(super::dynamo().await).await; })*
        }
    };
}

contract!(
    create_by_cloud_init_then_transition,
    conditional_conflict,
    duplicate_event_id,
    history_bounds,
    active_index_query,
    terminal_expiry,
    cloud_init_merge_keeps_handler_attributes,
);
