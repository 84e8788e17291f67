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
    h.register(I, "finished_cloud_init").await;
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
    h.register(I, "finished_cloud_init").await;
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
    h.register(I, "finished_cloud_init").await;
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
