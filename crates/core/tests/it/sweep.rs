//! The sweep: heartbeats only when due, lost SSM events recovered, state timeouts, instances
//! gone from their group, and "no active lifecycle action" accepted.

use std::collections::BTreeSet;
use std::time::Duration;

use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::machine::Machine;
use asg_lifecycle::store::StateStore;
use asg_lifecycle::testing::{Harness, command, launch};

const I: &str = "i-0abc";

/// The example model's instance [`I`], registered and launched (its join command sent), on a
/// manual clock.
async fn launched() -> Harness {
    let h = Harness::builder().manual_clock().build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    h
}

#[tokio::test]
async fn sweep_heartbeats_only_when_the_sweep_after_next_could_come_too_late() {
    // Default schedule: a sweep every 300 s that may come 240 s late, 30 s kept in reserve; a
    // 1200 s hook is due for a heartbeat once 1200 - (2 × 300 + 240 + 30) = 330 s are spent.
    let h = launched().await;
    h.aws
        .set_hook_timeout("web-asg", "launch-hook", Duration::from_secs(1200));
    h.advance(Duration::from_secs(300));
    h.sweep().await;
    assert_eq!(
        h.count("RecordLifecycleActionHeartbeat"),
        0,
        "not due at 300 s of 1200 s: the sweep after next comes in time"
    );
    h.advance(Duration::from_secs(30));
    h.sweep().await;
    assert_eq!(
        h.count("RecordLifecycleActionHeartbeat"),
        1,
        "due at 330 s: a lost next sweep and a late one after it could miss the hook"
    );
    h.sweep().await;
    assert_eq!(
        h.count("RecordLifecycleActionHeartbeat"),
        1,
        "just sent: not due again"
    );
    let record = h.record(I).await;
    assert!(record.lifecycle_action.unwrap().last_heartbeat.is_some());
    h.advance(Duration::from_secs(100));
    h.sweep().await;
    assert_eq!(
        h.count("RecordLifecycleActionHeartbeat"),
        1,
        "counted from the last heartbeat: 100 s of 1200 s"
    );
    assert_eq!(
        h.count("DescribeLifecycleHooks"),
        1,
        "hook timeouts are cached"
    );
}

#[tokio::test]
async fn a_hook_due_again_at_the_next_sweep_is_heartbeated_without_a_write() {
    // A 900 s hook (the deploy guide's) is due at every sweep whatever time is recorded: the
    // heartbeat costs no store write.
    let h = launched().await;
    h.aws
        .set_hook_timeout("web-asg", "launch-hook", Duration::from_secs(900));
    let version = h.record(I).await.version;
    for sweep in 1..=2 {
        h.advance(Duration::from_secs(250));
        h.sweep().await;
        assert_eq!(
            h.count("RecordLifecycleActionHeartbeat"),
            sweep,
            "heartbeated at sweep {sweep}"
        );
    }
    let record = h.record(I).await;
    assert_eq!(record.version, version, "no write for the heartbeats");
    assert!(
        record.lifecycle_action.unwrap().last_heartbeat.is_none(),
        "nothing recorded"
    );
}

#[tokio::test]
async fn a_heartbeat_answered_no_active_lifecycle_action_clears_the_action() {
    let h = launched().await;
    // Someone completed the action already (the fake then answers "No active Lifecycle Action").
    use asg_lifecycle::aws::{AutoScalingApi, CompleteLifecycleAction};
    h.aws
        .complete_lifecycle_action(&CompleteLifecycleAction {
            group: "web-asg".into(),
            hook: "launch-hook".into(),
            token: Some("token-launch-1".into()),
            instance_id: I.into(),
            result: "CONTINUE".into(),
        })
        .await
        .unwrap();
    h.advance(Duration::from_secs(1900));
    h.sweep().await;
    assert!(
        h.store
            .get(I)
            .await
            .unwrap()
            .unwrap()
            .lifecycle_action
            .is_none()
    );
}

#[tokio::test]
async fn a_lost_ssm_status_event_is_recovered_by_the_sweep() {
    let h = launched().await;
    let join = h.last_command_id();
    h.aws.set_command_status(&join, "Success");
    h.advance(Duration::from_secs(30));
    h.sweep().await;
    assert_eq!(
        h.state(I).await,
        "join_cluster",
        "within the grace period the event may still come"
    );
    assert_eq!(h.count("GetCommandInvocation"), 0);
    h.advance(Duration::from_secs(100));
    h.sweep().await;
    assert_eq!(h.count("GetCommandInvocation"), 1);
    assert_eq!(
        h.state(I).await,
        "updating_dns",
        "Success fed to the machine as if the event had come"
    );
    // The late real event is a no-op now: the pending command is the DNS one.
    h.deliver(&command("ssm-late", I, &join, CommandStatus::Success))
        .await
        .unwrap();
    assert_eq!(h.state(I).await, "updating_dns");
}

#[tokio::test]
async fn a_command_that_ended_before_the_state_timed_out_wins_over_the_timeout() {
    // The join command succeeded within its 10-minute state, but its event was lost and the
    // first sweep to ask comes after the state's timeout: the success is recovered first.
    let h = launched().await;
    let join = h.last_command_id();
    h.aws.set_command_status(&join, "Success");
    h.advance(Duration::from_secs(11 * 60));
    h.sweep().await;
    assert_eq!(h.state(I).await, "updating_dns");
    assert!(
        !h.path(I).await.iter().any(|step| step.contains("failure")),
        "{:?}",
        h.path(I).await
    );
}

#[tokio::test]
async fn a_command_still_running_is_left_alone() {
    let h = launched().await;
    h.advance(Duration::from_secs(300));
    h.sweep().await;
    assert_eq!(h.count("GetCommandInvocation"), 1);
    assert_eq!(h.state(I).await, "join_cluster");
}

#[tokio::test]
async fn a_state_timeout_without_a_timeout_trigger_runs_the_failure_path() {
    let h = launched().await;
    h.advance(Duration::from_secs(9 * 60));
    h.sweep().await;
    assert_eq!(h.state(I).await, "join_cluster");
    h.advance(Duration::from_secs(2 * 60));
    h.sweep().await;
    assert_eq!(h.state(I).await, "abandoned");
    let record = h.record(I).await;
    assert!(
        record
            .last_error
            .unwrap()
            .contains("`join_cluster` timed out after 600s")
    );
    let abandon = h
        .aws
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.operation == "CompleteLifecycleAction")
        .unwrap();
    assert_eq!(abandon.input["result"], "ABANDON");
}

#[tokio::test]
async fn a_state_timeout_fires_the_states_timeout_trigger_when_declared() {
    let machine = Machine::from_yaml(
        "t.yaml",
        "initial: a\nfailure: failure\nterminal: [done, late, abandoned]\nstates: [a, {name: waiting, timeout: 5m}, done, late, failure, abandoned]\ntransitions:\n  - source: a\n    dest: waiting\n    triggers: [{name: start, conditions: [is_launching]}]\n  - source: waiting\n    dest: done\n    triggers: [{name: finish, conditions: [command_succeeded]}]\n  - source: waiting\n    dest: late\n    triggers: [{name: timeout, conditions: [is_scheduled]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n",
    )
    .unwrap();
    let h = Harness::builder().machine(machine).manual_clock().build();
    h.register(I, "a").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(h.state(I).await, "waiting");
    h.advance(Duration::from_secs(301));
    h.sweep().await;
    assert_eq!(h.state(I).await, "late");
}

#[tokio::test]
async fn an_instance_gone_from_its_group_is_marked_and_left_to_expire() {
    let h = launched().await;
    h.aws.set_group_members(Some(BTreeSet::new()));
    h.aws.set_command_status(&h.last_command_id(), "InProgress");
    h.advance(Duration::from_secs(60));
    h.sweep().await;
    let record = h.record(I).await;
    assert!(!record.gone, "too recent: Auto Scaling's view may lag");
    h.advance(Duration::from_secs(600));
    h.sweep().await;
    let record = h.record(I).await;
    assert!(record.gone);
    assert!(record.active_group.is_none() && record.expires_at.is_some());
    assert_eq!(
        h.store
            .query_active(None, None, 10)
            .await
            .unwrap()
            .records
            .len(),
        0
    );
}
