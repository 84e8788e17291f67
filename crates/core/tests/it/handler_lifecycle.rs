//! The example model's lifecycles end to end, through the handler: SSM events continuing or
//! failing the chain, duplicates, pending instances, early launch events, crashes and races.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::handler::{HandlerConfig, HandlerError, OutcomeKind};
use asg_lifecycle::store::{MemoryStore, StateStore};
use asg_lifecycle::testing::{Crash, FaultyStore, Harness, command, launch, scheduled, terminate};

const I: &str = "i-0abc";

async fn launched_to_ready(h: &Harness) {
    h.register(I, "finished_cloud_init").await;
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced);
    assert_eq!(outcome.to.as_deref(), Some("join_cluster"));
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Success))
        .await;
    assert_eq!(h.state(I).await, "updating_dns");
    let dns = h.last_command_id();
    assert_ne!(join, dns);
    let outcome = h
        .deliver_ok(&command("ssm-2", I, &dns, CommandStatus::Success))
        .await;
    assert_eq!(outcome.to.as_deref(), Some("ready"));
}

#[tokio::test]
async fn launch_chain_is_driven_to_ready_by_ssm_success_events() {
    let h = Harness::builder().build();
    launched_to_ready(&h).await;
    assert_eq!(
        h.path(I).await,
        [
            "finished_cloud_init>join_cluster",
            "join_cluster>joined_cluster",
            "joined_cluster>updating_dns",
            "updating_dns>dns_updated",
            "dns_updated>completing_lifecycle",
            "completing_lifecycle>ready",
        ]
    );
    assert_eq!(
        h.operations(),
        [
            "DescribeInstanceInformation",
            "SendCommand",
            "DescribeInstanceInformation",
            "SendCommand",
            "CompleteLifecycleAction"
        ],
        "per command on the happy path, the address from SSM and the send: a fresh intent is sent without listing"
    );
    let complete = h.aws.calls().pop().unwrap();
    assert_eq!(complete.input["result"], "CONTINUE");
    assert_eq!(
        complete.input["token"], "token-launch-1",
        "the token remembered from the launch event"
    );
    let record = h.record(I).await;
    assert!(
        record.lifecycle_action.is_none(),
        "completed actions are cleared"
    );
    assert!(record.in_flight.is_none());
    assert_eq!(record.active_group.as_deref(), Some("web-asg"));
}

#[tokio::test]
async fn terminate_chain_drains_leaves_completes_and_expires_the_record() {
    let h = Harness::builder().build();
    launched_to_ready(&h).await;
    h.deliver_ok(&terminate("term-1", I)).await;
    assert_eq!(h.state(I).await, "draining");
    h.deliver_ok(&command(
        "ssm-3",
        I,
        &h.last_command_id(),
        CommandStatus::Success,
    ))
    .await;
    assert_eq!(h.state(I).await, "leaving_cluster");
    let outcome = h
        .deliver_ok(&command(
            "ssm-4",
            I,
            &h.last_command_id(),
            CommandStatus::Success,
        ))
        .await;
    assert_eq!(outcome.to.as_deref(), Some("terminated"));
    let record = h.record(I).await;
    assert!(
        record.active_group.is_none(),
        "terminal records leave the active index"
    );
    assert!(record.expires_at.is_some(), "terminal records get a TTL");
    let complete = h.aws.calls().pop().unwrap();
    assert_eq!(complete.operation, "CompleteLifecycleAction");
    assert_eq!(complete.input["token"], "token-term-1");
}

#[tokio::test]
async fn a_failed_ssm_command_abandons_the_lifecycle_action() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let outcome = h
        .deliver_ok(&command(
            "ssm-1",
            I,
            &h.last_command_id(),
            CommandStatus::Failed,
        ))
        .await;
    assert_eq!(outcome.to.as_deref(), Some("abandoned"));
    assert_eq!(
        h.path(I).await[1..],
        ["join_cluster>failure", "failure>abandoned"]
    );
    let abandon = h.aws.calls().pop().unwrap();
    assert_eq!(
        (abandon.operation, abandon.input["result"].as_str()),
        ("CompleteLifecycleAction", Some("ABANDON"))
    );
}

#[tokio::test]
async fn stale_and_non_terminal_ssm_events_change_nothing() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let before = h.record(I).await;
    let in_progress = h
        .deliver_ok(&command(
            "ssm-1",
            I,
            &h.last_command_id(),
            CommandStatus::InProgress,
        ))
        .await;
    let stale = h
        .deliver_ok(&command(
            "ssm-2",
            I,
            "cmd-from-someone-else",
            CommandStatus::Success,
        ))
        .await;
    for outcome in [in_progress, stale] {
        assert_eq!(outcome.outcome, OutcomeKind::NoOp, "{outcome:?}");
    }
    assert_eq!(h.record(I).await, before);
}

#[tokio::test]
async fn duplicate_event_fires_no_second_transition() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let record = h.record(I).await;
    let calls = h.aws.calls().len();
    let again = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(again.outcome, OutcomeKind::Duplicate);
    assert_eq!(h.record(I).await, record);
    assert_eq!(h.aws.calls().len(), calls, "no second command");
}

#[tokio::test]
async fn pending_instance_waits_and_the_sweep_continues_it_once_cloud_init_is_done() {
    let h = Harness::builder().build();
    h.register(I, "new").await;
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Waiting);
    let record = h.record(I).await;
    assert_eq!(
        record.state(),
        "",
        "no state until a registration is taken in"
    );
    assert_eq!(
        record.lifecycle_action.as_ref().unwrap().event_id,
        "launch-1"
    );
    assert!(h.aws.calls().is_empty());
    h.register(I, "finished_cloud_init").await;
    let outcomes = h.deliver(&scheduled("sweep-1", "reconcile")).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn launch_event_before_registration_loses_nothing() {
    let h = Harness::builder().build();
    // 1. The launch event comes first: no record yet.
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Waiting);
    // 2. cloud-init registers (merge: the remembered action survives), then finishes.
    h.register(I, "new").await;
    assert!(
        h.record(I).await.lifecycle_action.is_some(),
        "update-item keeps the handler's attributes"
    );
    h.deliver(&scheduled("sweep-1", "reconcile")).await.unwrap();
    assert_eq!(
        h.state(I).await,
        "",
        "still pending: nothing fires, nothing is taken in"
    );
    h.register(I, "finished_cloud_init").await;
    h.deliver(&scheduled("sweep-2", "reconcile")).await.unwrap();
    // 3. Progress to ready, completing with the token of the first event.
    h.deliver_ok(&command(
        "ssm-1",
        I,
        &h.last_command_id(),
        CommandStatus::Success,
    ))
    .await;
    h.deliver_ok(&command(
        "ssm-2",
        I,
        &h.last_command_id(),
        CommandStatus::Success,
    ))
    .await;
    assert_eq!(h.state(I).await, "ready");
    assert_eq!(
        h.aws.calls().pop().unwrap().input["token"],
        "token-launch-1"
    );
}

#[tokio::test(start_paused = true)]
async fn launch_event_waits_within_the_invocation_for_cloud_init_when_configured_to() {
    // Off by default (the registration's stream record continues the instance); a deployment
    // without the stream may still wait.
    let h = Harness::builder()
        .config(HandlerConfig {
            initial_wait: Duration::from_secs(20),
            ..HandlerConfig::default()
        })
        .build();
    h.register(I, "new").await;
    let store = h.store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut attrs = serde_json::Map::new();
        attrs.insert("ItemStatus".into(), "finished_cloud_init".into());
        // No stream here: the launch event's wait polls the registration.
        store.cloud_init_update(I, &attrs).await.unwrap();
    });
    let outcome = h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced);
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn ssm_event_for_an_unknown_instance_is_a_typed_error_that_changes_nothing() {
    let h = Harness::builder().build();
    let err = h
        .deliver(&command(
            "ssm-1",
            "i-nobody",
            "cmd-1",
            CommandStatus::Success,
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HandlerError::UnknownInstance { ref ident } if ident == "i-nobody"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert!(h.store.all().is_empty());
}

#[tokio::test]
async fn crash_after_the_write_before_the_after_tasks_resumes_them_once() {
    let memory = Arc::new(MemoryStore::new());
    let h = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::AfterWrite, &[2]))
        .manual_clock()
        .build();
    h.register(I, "finished_cloud_init").await;
    let err = h.deliver(&launch("launch-1", I)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let record = memory.get(I).await.unwrap().unwrap();
    assert_eq!(record.state(), "join_cluster");
    assert_eq!(
        record.in_flight.as_ref().unwrap().pending_after,
        ["send_command"]
    );
    assert!(h.aws.calls().is_empty(), "crashed before the after task");
    // A redelivery within the intent lease cannot tell a crash from a concurrent invocation
    // that is sending the command right now: it leaves the command to that invocation and asks
    // to be retried (never acknowledged, so the event is not lost).
    let err = h.deliver(&launch("launch-1", I)).await.unwrap_err();
    assert!(
        matches!(err, HandlerError::Busy { .. }) && err.is_retryable(),
        "{err}"
    );
    assert!(h.aws.calls().is_empty());
    // Past the lease, the redelivery finishes the after tasks: one command, and the event is done.
    h.advance(Duration::from_secs(61));
    h.deliver(&launch("launch-1", I)).await.unwrap();
    assert_eq!(h.count("SendCommand"), 1);
    let record = memory.get(I).await.unwrap().unwrap();
    assert!(record.in_flight.is_none() && record.has_processed("launch-1"));
    assert!(record.pending_command.unwrap().command_id.is_some());
}

#[tokio::test]
async fn crash_after_send_command_before_the_write_sends_no_second_command() {
    let memory = Arc::new(MemoryStore::new());
    // Commit 1 takes the registration in; commit 2: the transition with the intent. Commit 3
    // (the command id) never happens.
    let h = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::BeforeWrite, &[3]))
        .config(HandlerConfig {
            intent_lease: Duration::ZERO,
            ..HandlerConfig::default()
        })
        .build();
    h.register(I, "finished_cloud_init").await;
    assert!(h.deliver(&launch("launch-1", I)).await.is_err());
    assert_eq!(h.count("SendCommand"), 1);
    // The retry (past the intent lease) takes the intent over and finds the command by its tag
    // instead of sending again.
    h.deliver(&launch("launch-1", I)).await.unwrap();
    assert_eq!(h.count("SendCommand"), 1);
    assert_eq!(h.count("ListCommands"), 1, "only the takeover lists");
    let record = memory.get(I).await.unwrap().unwrap();
    assert_eq!(
        record.pending_command.unwrap().command_id,
        Some(h.last_command_id())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_of_one_event_fire_one_transition() {
    let h = Arc::new(Harness::builder().build());
    h.register(I, "finished_cloud_init").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            h.deliver(&launch("launch-1", I)).await
        }));
    }
    for task in tasks {
        // A delivery that finds another one sending the command is told to retry later.
        match task.await.unwrap() {
            Ok(_) | Err(HandlerError::Busy { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(h.path(I).await, ["finished_cloud_init>join_cluster"]);
    assert_eq!(
        h.aws
            .calls()
            .iter()
            .filter(|c| c.operation == "SendCommand")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_late_launch_event_does_not_replace_a_held_terminate_action() {
    let h = Harness::builder().build();
    launched_to_ready(&h).await;
    h.deliver_ok(&terminate("term-1", I)).await;
    assert_eq!(h.state(I).await, "draining");
    // The launch event comes again, very late (a new id: e.g. redelivered through another path).
    h.deliver_ok(&launch("launch-late", I)).await;
    let held = h.record(I).await.lifecycle_action.unwrap();
    assert_eq!(
        held.event_id, "term-1",
        "the terminate hook is the one still waiting"
    );
    h.deliver_ok(&command(
        "ssm-3",
        I,
        &h.last_command_id(),
        CommandStatus::Success,
    ))
    .await;
    h.deliver_ok(&command(
        "ssm-4",
        I,
        &h.last_command_id(),
        CommandStatus::Success,
    ))
    .await;
    assert_eq!(h.state(I).await, "terminated");
    assert_eq!(h.aws.calls().pop().unwrap().input["token"], "token-term-1");
}

#[tokio::test]
async fn a_command_event_for_several_instances_processes_each_even_if_one_is_unknown() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let id = h.last_command_id();
    let event = asg_lifecycle::event::decode_event(&serde_json::json!({
        "id": "ssm-multi", "source": "aws.ssm", "detail-type": "EC2 Command Status-change Notification",
        "resources": ["arn:aws:ec2:us-east-1:1:instance/i-unknown", format!("arn:aws:ec2:us-east-1:1:instance/{I}")],
        "detail": {"command-id": id, "status": "Success"}
    }))
    .unwrap();
    let outcomes = h.deliver(&event).await.unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].outcome, OutcomeKind::Rejected);
    assert_eq!(outcomes[1].outcome, OutcomeKind::Advanced);
    assert_eq!(h.state(I).await, "updating_dns");
}

#[tokio::test]
async fn a_terminate_event_before_the_lifecycle_started_completes_the_hook_at_once() {
    let h = Harness::builder().build();
    // No record at all: cloud-init never registered.
    let outcome = h.deliver_ok(&terminate("term-0", "i-never")).await;
    assert_eq!(outcome.outcome, OutcomeKind::NoOp);
    assert_eq!(h.operations(), ["CompleteLifecycleAction"]);
    assert!(h.store.all().is_empty(), "nothing is created for it");
    // A record still pending (cloud-init never finished) leaves the active index.
    h.register(I, "new").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    h.deliver_ok(&terminate("term-1", I)).await;
    let record = h.record(I).await;
    assert!(record.active_group.is_none() && record.expires_at.is_some());
    assert!(record.lifecycle_action.is_none());
    let last = h.aws.calls().pop().unwrap();
    assert_eq!(
        (last.operation, last.input["result"].as_str()),
        ("CompleteLifecycleAction", Some("CONTINUE"))
    );
}

#[tokio::test]
async fn a_terminate_event_for_an_instance_whose_lifecycle_ended_completes_the_hook() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Failed))
        .await;
    assert_eq!(h.state(I).await, "abandoned");
    let version = h.record(I).await.version;
    let outcome = h.deliver_ok(&terminate("term-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::NoOp, "{outcome:#?}");
    let last = h.aws.calls().pop().unwrap();
    assert_eq!(
        (last.operation, last.input["result"].as_str()),
        ("CompleteLifecycleAction", Some("ABANDON")),
        "the hook is released at once, as the failure path would, instead of timing out"
    );
    assert_eq!(
        h.record(I).await.version,
        version,
        "the record is not touched"
    );
}
