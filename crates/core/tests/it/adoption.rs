//! Adoption: the sweep finds in Auto Scaling the lifecycle actions whose event has not come and
//! handles them as if it had.

use std::time::Duration;

use asg_lifecycle::aws::{LifecycleHook, WaitingInstance};
use asg_lifecycle::event::{CommandStatus, LifecycleTransition};
use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle::testing::{Harness, command, launch};

const I: &str = "i-0abc";
const GROUP: &str = "web-asg";

fn hooks() -> Vec<LifecycleHook> {
    vec![
        LifecycleHook {
            name: "launch-hook".into(),
            transition: LifecycleTransition::Launching,
            heartbeat_timeout: Some(Duration::from_secs(900)),
        },
        LifecycleHook {
            name: "terminate-hook".into(),
            transition: LifecycleTransition::Terminating,
            heartbeat_timeout: Some(Duration::from_secs(900)),
        },
    ]
}

fn held(transition: LifecycleTransition) -> Vec<WaitingInstance> {
    let destination = match transition {
        LifecycleTransition::Launching => "AutoScalingGroup",
        LifecycleTransition::Terminating => "EC2",
    };
    vec![WaitingInstance {
        instance_id: I.into(),
        transition,
        destination: Some(destination.into()),
    }]
}

fn harness() -> Harness {
    Harness::builder()
        .manual_clock()
        .config(HandlerConfig {
            groups: vec![GROUP.into()],
            ..HandlerConfig::default()
        })
        .build()
}

#[tokio::test]
async fn a_launch_whose_event_never_came_is_heartbeated_and_started_by_the_sweep() {
    let h = harness();
    h.register(I, "finished_cloud_init").await;
    h.aws
        .set_waiting(GROUP, held(LifecycleTransition::Launching), hooks());
    h.sweep().await;
    let heartbeat = h
        .aws
        .calls()
        .into_iter()
        .find(|c| c.operation == "RecordLifecycleActionHeartbeat")
        .expect("heartbeated at once: when the action started is unknown");
    assert_eq!(heartbeat.input["instance_id"], I);
    assert!(
        heartbeat.input["token"].is_null(),
        "by instance id: {heartbeat:?}"
    );
    assert_eq!(h.state(I).await, "join_cluster", "the chain started");
    assert_eq!(h.count("SendCommand"), 1);
    // The next sweep finds the action on the record: nothing is adopted again.
    h.sweep().await;
    assert_eq!(h.count("SendCommand"), 1);
    let record = h.record(I).await;
    assert!(record.has_processed(&format!(
        "adopted:{I}:launch-hook:autoscaling:EC2_INSTANCE_LAUNCHING"
    )));
    // The real event, late: it brings the token; no second command.
    h.deliver_ok(&launch("launch-late", I)).await;
    assert_eq!(h.count("SendCommand"), 1);
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Success))
        .await;
    assert_eq!(h.state(I).await, "updating_dns");
}

#[tokio::test]
async fn an_adopted_launch_of_an_unregistered_instance_is_remembered_without_waiting() {
    let h = harness();
    h.aws
        .set_waiting(GROUP, held(LifecycleTransition::Launching), hooks());
    h.sweep().await;
    let record = h.record(I).await;
    assert!(
        record.lifecycle_action.is_some(),
        "remembered for cloud-init"
    );
    assert_eq!(h.count("SendCommand"), 0);
    // Cloud-init finishes; the next sweep starts the chain with the adopted action.
    h.register(I, "finished_cloud_init").await;
    h.sweep().await;
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn a_terminate_whose_event_never_came_drains_the_instance() {
    let h = harness();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Success))
        .await;
    let dns = h.last_command_id();
    h.deliver_ok(&command("ssm-2", I, &dns, CommandStatus::Success))
        .await;
    assert_eq!(h.state(I).await, "ready");
    h.aws
        .set_waiting(GROUP, held(LifecycleTransition::Terminating), hooks());
    h.sweep().await;
    assert_eq!(h.state(I).await, "draining");
    let record = h.record(I).await;
    let action = record.lifecycle_action.unwrap();
    assert_eq!(action.hook, "terminate-hook");
    assert!(action.token.is_none(), "completed by instance id later");
}

#[tokio::test]
async fn without_configured_groups_nothing_is_adopted() {
    let h = Harness::builder().manual_clock().build();
    h.register(I, "finished_cloud_init").await;
    h.aws
        .set_waiting(GROUP, held(LifecycleTransition::Launching), hooks());
    h.sweep().await;
    assert_eq!(h.count("DescribeAutoScalingGroups"), 0);
    assert_eq!(h.state(I).await, "finished_cloud_init");
}

#[tokio::test]
async fn an_adopted_action_is_not_completed_once_the_instance_is_past_it() {
    // Adopted on its way into the warm pool; by the time the chain runs the instance has left
    // the pool: completing by instance id would complete the launch out of the pool instead.
    let into_pool = || {
        vec![WaitingInstance {
            instance_id: I.into(),
            transition: LifecycleTransition::Launching,
            destination: Some("WarmPool".into()),
        }]
    };
    let h = harness();
    h.register(I, "finished_cloud_init").await;
    h.aws.set_waiting(GROUP, into_pool(), hooks());
    h.aws.set_lifecycle_state(I, "Pending:Wait");
    h.sweep().await;
    assert_eq!(h.state(I).await, "warmed");
    assert_eq!(
        h.count("CompleteLifecycleAction"),
        0,
        "{:?}",
        h.operations()
    );
    // Still on its way in: completed.
    let h = harness();
    h.register(I, "finished_cloud_init").await;
    h.aws.set_waiting(GROUP, into_pool(), hooks());
    h.aws.set_lifecycle_state(I, "Warmed:Pending:Wait");
    h.sweep().await;
    assert_eq!(h.count("CompleteLifecycleAction"), 1);
}
