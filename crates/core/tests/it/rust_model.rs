//! The Rust model example (`examples/rust_model.rs`) driven through the handler.

#[path = "../../examples/rust_model.rs"]
#[allow(dead_code)]
mod example;

use std::time::Duration;

use asg_lifecycle::handler::{InvocationContext, OutcomeKind};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::store::StateStore;
use example::{DatabaseReplica, handler, launch_event, registration_event};

async fn run(
    zone: Option<&str>,
) -> (
    DatabaseReplica,
    Vec<asg_lifecycle::handler::Outcome>,
    asg_lifecycle::record::InstanceRecord,
    Vec<&'static str>,
) {
    let model = DatabaseReplica {
        inventory: Default::default(),
    };
    let (handler, store, aws) = handler(&model);
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    let invoker = Invoker::new(handler);
    let registered = invoker
        .invoke(&registration_event("i-0db1", zone), &ctx)
        .await;
    assert!(registered.answer().is_ok(), "{registered:?}");
    let mut report = invoker.invoke(&launch_event("i-0db1"), &ctx).await;
    let outcomes = report.messages.remove(0).result.unwrap();
    let record = store.get("i-0db1").await.unwrap().unwrap();
    (
        model,
        outcomes,
        record,
        aws.calls().iter().map(|c| c.operation).collect(),
    )
}

#[tokio::test]
async fn custom_condition_and_task_take_a_primary_zone_replica_to_ready() {
    let (model, outcomes, record, calls) = run(Some("eu-west-1a")).await;
    assert_eq!(outcomes[0].outcome, OutcomeKind::Advanced);
    assert_eq!(record.state(), "ready");
    assert_eq!(*model.inventory.lock().unwrap(), ["i-0db1"]);
    assert_eq!(calls, ["CompleteLifecycleAction"]);
}

#[tokio::test]
async fn custom_condition_false_leaves_the_replica_waiting() {
    let (model, outcomes, record, calls) = run(Some("eu-west-1b")).await;
    assert_eq!(outcomes[0].outcome, OutcomeKind::NoOp);
    assert_eq!(record.state(), "booted");
    assert!(model.inventory.lock().unwrap().is_empty());
    assert!(calls.is_empty());
}

#[tokio::test]
async fn custom_condition_error_sends_the_replica_down_the_failure_path() {
    let (_, outcomes, record, calls) = run(None).await;
    assert_eq!(outcomes[0].outcome, OutcomeKind::Failed);
    assert_eq!(record.state(), "abandoned");
    assert!(record.last_error.unwrap().contains("AvailabilityZone"));
    assert_eq!(calls, ["CompleteLifecycleAction"]);
}
