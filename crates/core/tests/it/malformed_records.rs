//! Issue #13: an instance cannot wedge its own (or any) record by writing malformed
//! handler-owned attributes. The record loads without them, its events are handled, and the
//! next handler write repairs the item and says so in `LastError`.

use std::sync::Arc;

use asg_lifecycle::store::{Commit, MemoryStore, StateStore, StoreError};
use asg_lifecycle::testing::{Harness, launch};
use chrono::Utc;
use serde_json::json;

const I: &str = "i-0wedged";

fn store(item: serde_json::Value) -> Arc<MemoryStore> {
    Arc::new(MemoryStore::from_json(&json!({ I: item })).expect("every named item loads"))
}

#[tokio::test]
async fn malformed_handler_attributes_do_not_drop_the_instances_events_and_are_repaired() {
    let h = Harness::builder()
        .store(store(json!({
            "ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5",
            "Version": "not-a-number", "InFlight": "garbage", "PendingCommand": [1, 2],
            "LifecycleAction": {"Token": 3}, "RecentEvents": {"x": 1}, "History": "h",
        })))
        .build();
    let before = h.record(I).await;
    let mut named: Vec<&str> = before
        .malformed
        .iter()
        .map(|m| m.attribute.as_str())
        .collect();
    named.sort_unstable();
    assert_eq!(
        named,
        [
            "History",
            "InFlight",
            "LifecycleAction",
            "PendingCommand",
            "RecentEvents",
            "Version"
        ]
    );
    // The launch is handled, not dropped as a format error.
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.to.as_deref(), Some("join_cluster"), "{outcome:#?}");
    assert_eq!(h.count("SendCommand"), 1);
    let after = h.record(I).await;
    assert!(
        after.malformed.is_empty(),
        "repaired: {:?}",
        after.malformed
    );
    assert!(after.version >= 1);
    assert!(after.lifecycle_action.is_some(), "the event's own action");
    let note = after.last_error.clone().unwrap_or_default();
    assert!(
        note.contains("`Version`") && note.contains("`InFlight`"),
        "the write says what it repaired: {note}"
    );
    // What the store holds now reads cleanly.
    let saved = h.store.to_json();
    let again = MemoryStore::from_json(&saved).unwrap();
    assert!(again.all()[0].malformed.is_empty());
}

#[tokio::test]
async fn of_two_writes_over_a_malformed_version_only_one_wins() {
    let memory = store(json!({"ItemStatus": "finished_cloud_init", "Version": "x"}));
    let read = memory.get(I).await.unwrap().unwrap();
    assert_eq!(read.version, 0);
    let mut first = Commit::expecting(&read, Utc::now());
    first.status = Some("a".into());
    let mut second = Commit::expecting(&read, Utc::now());
    second.status = Some("b".into());
    memory.commit(&first).await.unwrap();
    assert!(matches!(
        memory.commit(&second).await,
        Err(StoreError::Conflict { .. })
    ));
    let now = memory.get(I).await.unwrap().unwrap();
    assert_eq!((now.state(), now.version), ("a", 1));
}

#[tokio::test]
async fn a_state_that_is_no_string_reads_as_unregistered_and_the_launch_is_remembered() {
    let h = Harness::builder()
        .store(store(
            json!({"ItemStatus": {"M": 1}, "InstanceIp": "10.0.0.5"}),
        ))
        .build();
    let outcome = h.deliver(&launch("launch-1", I)).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    let record = h.record(I).await;
    assert!(
        record.lifecycle_action.is_some(),
        "held until cloud-init writes a state"
    );
    assert!(record.malformed.is_empty());
    // Cloud-init's next write is read as usual, and the held launch goes on.
    h.register(I, "finished_cloud_init").await;
    h.sweep().await;
    assert_eq!(h.state(I).await, "join_cluster");
}
