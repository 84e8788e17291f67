//! Warm pools with the example model: a launch into the pool only prepares the instance, the
//! move from the pool into service runs the launch chain, a scale-in that returns the instance to
//! the pool brings it back to `warmed`, and a termination from the pool ends it.

use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::event::payload::LifecycleAction;
use asg_lifecycle::testing::{Harness, command};

const I: &str = "i-0abc";

fn completions(h: &Harness) -> Vec<String> {
    h.aws
        .calls()
        .iter()
        .filter(|c| c.operation == "CompleteLifecycleAction")
        .map(|c| {
            format!(
                "{}:{}",
                c.input["hook"].as_str().unwrap_or_default(),
                c.input["result"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Drives the launch chain's two commands to success.
async fn join_and_register_dns(h: &Harness, n: &str) {
    let join = h.last_command_id();
    h.deliver_ok(&command(
        &format!("ssm-join-{n}"),
        I,
        &join,
        CommandStatus::Success,
    ))
    .await;
    let dns = h.last_command_id();
    h.deliver_ok(&command(
        &format!("ssm-dns-{n}"),
        I,
        &dns,
        CommandStatus::Success,
    ))
    .await;
}

#[tokio::test]
async fn an_instance_goes_through_the_warm_pool_into_service_back_and_out() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    // 1. Launched into the warm pool: prepared, the hook completed, no command.
    let into_pool = LifecycleAction::launching("launch-1", I)
        .moves("EC2", "WarmPool")
        .event();
    h.deliver_ok(&into_pool).await;
    assert_eq!(h.state(I).await, "warmed");
    assert_eq!(h.count("SendCommand"), 0);
    assert_eq!(completions(&h), ["launch-hook:CONTINUE"]);
    // 2. Moved from the pool into service: the launch chain runs.
    let from_pool = LifecycleAction::launching("launch-2", I)
        .moves("WarmPool", "AutoScalingGroup")
        .at(chrono::Utc::now())
        .event();
    h.deliver_ok(&from_pool).await;
    assert_eq!(h.state(I).await, "join_cluster");
    join_and_register_dns(&h, "1").await;
    assert_eq!(h.state(I).await, "ready");
    // 3. Scaled in with ReuseOnScaleIn: drained, left, and back in the pool.
    let back = LifecycleAction::terminating("term-1", I)
        .moves("AutoScalingGroup", "WarmPool")
        .event();
    h.deliver_ok(&back).await;
    assert_eq!(h.state(I).await, "draining");
    let drain = h.last_command_id();
    h.deliver_ok(&command("ssm-drain", I, &drain, CommandStatus::Success))
        .await;
    let leave = h.last_command_id();
    h.deliver_ok(&command("ssm-leave", I, &leave, CommandStatus::Success))
        .await;
    assert_eq!(h.state(I).await, "warmed", "{:?}", h.path(I).await);
    assert!(h.record(I).await.expires_at.is_none(), "still active");
    // 4. Terminated from the pool: the hook is completed, the record ends.
    let out = LifecycleAction::terminating("term-2", I)
        .moves("WarmPool", "EC2")
        .event();
    h.deliver_ok(&out).await;
    assert_eq!(h.state(I).await, "terminated");
    assert_eq!(
        completions(&h),
        [
            "launch-hook:CONTINUE",
            "launch-hook:CONTINUE",
            "terminate-hook:CONTINUE",
            "terminate-hook:CONTINUE"
        ]
    );
}

#[tokio::test]
async fn a_launch_without_a_warm_pool_joins_at_once() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    let launch = LifecycleAction::launching("launch-1", I).event();
    h.deliver_ok(&launch).await;
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn a_late_event_for_an_older_action_never_replaces_the_held_one() {
    use chrono::{Duration, Utc};
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    let now = Utc::now();
    let into_pool = LifecycleAction::launching("launch-1", I)
        .moves("EC2", "WarmPool")
        .at(now - Duration::minutes(10));
    h.deliver_ok(&into_pool.event()).await;
    // Moved out of the pool after it was prepared.
    let from_pool = LifecycleAction::launching("launch-2", I)
        .token("token-from-pool")
        .moves("WarmPool", "AutoScalingGroup")
        .at(Utc::now());
    h.deliver_ok(&from_pool.event()).await;
    assert_eq!(h.state(I).await, "join_cluster");
    // The launch into the pool, redelivered late: the held action stays the newer one.
    h.deliver_ok(
        &LifecycleAction::launching("launch-1-again", I)
            .moves("EC2", "WarmPool")
            .at(now - Duration::minutes(10))
            .event(),
    )
    .await;
    let held = h.record(I).await.lifecycle_action.unwrap();
    assert_eq!(held.token.as_deref(), Some("token-from-pool"));
    assert_eq!(held.origin.as_deref(), Some("WarmPool"));
}

#[tokio::test]
async fn a_launch_for_an_ended_lifecycle_is_abandoned_at_once() {
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&LifecycleAction::launching("launch-1", I).event())
        .await;
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Failed))
        .await;
    assert_eq!(h.state(I).await, "abandoned");
    let from_pool = LifecycleAction::launching("launch-2", I)
        .moves("WarmPool", "AutoScalingGroup")
        .event();
    h.deliver_ok(&from_pool).await;
    assert_eq!(
        completions(&h).last().map(String::as_str),
        Some("launch-hook:ABANDON")
    );
    assert_eq!(h.state(I).await, "abandoned");
}

#[tokio::test]
async fn a_late_delivery_of_an_action_older_than_the_end_of_the_lifecycle_changes_nothing() {
    use chrono::{Duration, Utc};
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&LifecycleAction::launching("launch-1", I).event())
        .await;
    let join = h.last_command_id();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Failed))
        .await;
    assert_eq!(h.state(I).await, "abandoned");
    let before = completions(&h).len();
    // The launch event, delivered again long after: its action ended with the lifecycle.
    let late = LifecycleAction::launching("launch-1-again", I)
        .at(Utc::now() - Duration::hours(1))
        .event();
    let outcome = h.deliver_ok(&late).await;
    assert_eq!(completions(&h).len(), before, "{outcome:#?}");
}

#[tokio::test]
async fn a_late_first_launch_never_restarts_an_instance_back_in_the_pool() {
    use chrono::{Duration, Utc};
    let h = Harness::builder().build();
    h.register(I, "finished_cloud_init").await;
    let long_ago = Utc::now() - Duration::hours(1);
    let first = LifecycleAction::launching("launch-1", I).at(long_ago);
    h.deliver_ok(&first.event()).await;
    join_and_register_dns(&h, "1").await;
    let back = LifecycleAction::terminating("term-1", I)
        .moves("AutoScalingGroup", "WarmPool")
        .event();
    h.deliver_ok(&back).await;
    let drain = h.last_command_id();
    h.deliver_ok(&command("ssm-drain", I, &drain, CommandStatus::Success))
        .await;
    let leave = h.last_command_id();
    h.deliver_ok(&command("ssm-leave", I, &leave, CommandStatus::Success))
        .await;
    assert_eq!(h.state(I).await, "warmed");
    let sent = h.count("SendCommand");
    // The first launch event, delivered again an hour late (another copy, another id).
    let late = LifecycleAction::launching("launch-1-copy", I)
        .at(long_ago)
        .event();
    let outcome = h.deliver_ok(&late).await;
    assert_eq!(h.state(I).await, "warmed", "{outcome:#?}");
    assert_eq!(
        h.count("SendCommand"),
        sent,
        "no join for a launch that is over"
    );
}
