//! Registration: the table's stream tells the handler the moment cloud-init reaches the initial
//! state, and the instance continues at once instead of waiting for the sweep.

use asg_lifecycle::event::payload::RecordChange;
use asg_lifecycle::handler::OutcomeKind;
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::testing::{Harness, invocation_context, launch};

const I: &str = "i-0abc";

#[tokio::test]
async fn the_registration_change_continues_an_instance_whose_launch_came_first() {
    let h = Harness::builder().build();
    h.register(I, "new").await;
    let early = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(
        early.outcome,
        OutcomeKind::Waiting,
        "no wait inside the invocation"
    );
    h.register_unannounced(I, "finished_cloud_init").await;
    let change = RecordChange::new("100", I, "finished_cloud_init").from("new");
    let outcome = h.deliver_ok(&change.event()).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{outcome:#?}");
    assert_eq!(h.state(I).await, "join_cluster");
    assert_eq!(h.count("SendCommand"), 1);
    // Redelivered (the stream retries a batch): a duplicate.
    let again = h.deliver_ok(&change.event()).await;
    assert_eq!(again.outcome, OutcomeKind::Duplicate);
    assert_eq!(h.count("SendCommand"), 1);
}

#[tokio::test]
async fn a_registration_before_the_launch_event_waits_for_it() {
    let h = Harness::builder().build();
    h.register_unannounced(I, "finished_cloud_init").await;
    let change = RecordChange::new("100", I, "finished_cloud_init");
    let outcome = h.deliver_ok(&change.event()).await;
    assert_eq!(h.state(I).await, "finished_cloud_init", "{outcome:#?}");
    h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn a_stream_batch_is_answered_with_the_failed_sequence_numbers() {
    let h = Harness::builder().build();
    h.register(I, "new").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    h.register_unannounced(I, "finished_cloud_init").await;
    let good = RecordChange::new("100", I, "finished_cloud_init")
        .from("new")
        .record();
    // A record whose image lacks its status: poison, kept apart, never a batch failure that
    // blocks the shard forever.
    let mut bad = RecordChange::new("101", "i-other", "finished_cloud_init").record();
    bad["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("ItemStatus");
    let payload = serde_json::json!({ "Records": [good, bad] });
    let report = Invoker::new(h.handler.clone())
        .invoke(&payload, &invocation_context())
        .await;
    assert_eq!(h.state(I).await, "join_cluster");
    let poison = report
        .messages
        .iter()
        .find(|m| m.message_id.as_deref() == Some("101"))
        .unwrap();
    assert!(poison.is_poison());
}

#[tokio::test]
async fn a_registration_gives_only_a_pending_or_initial_state_and_the_instances_own_attributes() {
    use asg_lifecycle::store::StateStore;
    use serde_json::json;
    let h = Harness::builder().build();
    // A hostile instance writes its own registration with a state of the failure path and
    // handler-owned attributes (its policy forbids the latter; the handler ignores them anyway).
    let forged = json!({"ItemStatus": "failure", "InstanceIp": "10.9.9.9",
        "LifecycleAction": {"Token": "another-instance's-token", "Hook": "h", "Group": "g"},
        "ActiveGroup": "g"});
    h.store
        .cloud_init_update(I, forged.as_object().unwrap())
        .await
        .unwrap();
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Waiting, "{outcome:#?}");
    // The sweep reads the registration of a record that waits with a held action.
    h.sweep().await;
    let record = h.record(I).await;
    assert_eq!(
        record.state(),
        "",
        "a failure state is never taken from a registration"
    );
    assert!(
        h.aws
            .calls()
            .iter()
            .all(|c| c.operation != "CompleteLifecycleAction"),
        "nothing was abandoned: {:?}",
        h.operations()
    );
    assert!(!record.attributes.contains_key("LifecycleAction"));
    assert!(!record.attributes.contains_key("ActiveGroup"));
    // The token the record holds is the launch event's, never the registration's.
    assert_ne!(
        record.lifecycle_action.unwrap().token.as_deref(),
        Some("another-instance's-token")
    );
    // Once it registers properly, the instance goes on, with its own attributes.
    h.register(I, "finished_cloud_init").await;
    let record = h.record(I).await;
    assert_eq!(record.state(), "join_cluster");
    assert_eq!(
        record.attributes.get("InstanceIp"),
        Some(&json!(asg_lifecycle::testing::INSTANCE_IP))
    );
    // A registration never moves a record back: cloud-init running again changes nothing.
    h.register(I, "new").await;
    h.registered(I, "new").await;
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn the_example_model_takes_pending_as_a_pending_state() {
    let h = Harness::builder().build();
    h.register(I, "pending").await;
    let early = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(early.outcome, OutcomeKind::Waiting, "{early:#?}");
    h.sweep().await;
    assert_eq!(h.state(I).await, "", "a pending registration waits");
    h.register(I, "finished_cloud_init").await;
    assert_eq!(h.state(I).await, "join_cluster");
}
