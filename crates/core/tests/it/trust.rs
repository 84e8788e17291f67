//! Records are instance-writable: nothing read from one selects which lifecycle action the
//! handler completes or heartbeats (see `docs/cloud-init.md`, "What the handler trusts").

use std::time::Duration;

use asg_lifecycle::aws::{AutoScalingApi, CompleteLifecycleAction};
use asg_lifecycle::testing::{Harness, launch};

const VICTIM: &str = "i-0victim";
const ATTACKER: &str = "i-0attacker";

/// Both instances launched: each holds its launch action, its join command sent.
async fn two_launched() -> Harness {
    let h = Harness::builder().manual_clock().build();
    for (event, ident) in [("launch-v", VICTIM), ("launch-a", ATTACKER)] {
        h.register(ident, "finished_cloud_init").await;
        h.deliver_ok(&launch(event, ident)).await;
        assert_eq!(h.state(ident).await, "join_cluster");
    }
    h
}

/// The attacker rewrites its own record: the victim's token in its `LifecycleAction`, and
/// `ItemStatus`, as any `UpdateItem` with the instance's role can.
async fn forge(h: &Harness, status: &str) {
    let victim_token = h
        .record(VICTIM)
        .await
        .lifecycle_action
        .and_then(|a| a.token)
        .expect("the victim's token is on its record");
    assert_eq!(victim_token, "token-launch-v");
    let mut forged = h.record(ATTACKER).await;
    let action = forged.lifecycle_action.as_mut().expect("held");
    action.token = Some(victim_token);
    forged.status = Some(status.to_string());
    h.store.put(forged);
}

#[tokio::test]
async fn a_forged_token_on_the_failure_path_abandons_only_the_records_own_instance() {
    let h = two_launched().await;
    forge(&h, "failure").await;
    h.sweep().await;
    assert_eq!(h.state(ATTACKER).await, "abandoned");
    let completions: Vec<_> = h
        .aws
        .calls()
        .into_iter()
        .filter(|c| c.operation == "CompleteLifecycleAction")
        .collect();
    assert_eq!(completions.len(), 1, "{completions:?}");
    let abandon = &completions[0].input;
    assert_eq!(abandon["result"], "ABANDON");
    assert_eq!(abandon["instance_id"], ATTACKER, "the record's own key");
    assert!(abandon.get("token").is_none(), "never a token: {abandon}");
    assert!(
        !abandon.to_string().contains("token-launch-v"),
        "the forged token reaches no call: {abandon}"
    );
    // The victim's action is still active: completing it now is not "already completed".
    h.aws
        .complete_lifecycle_action(&CompleteLifecycleAction {
            group: "web-asg".into(),
            hook: "launch-hook".into(),
            instance_id: VICTIM.into(),
            result: "CONTINUE".into(),
        })
        .await
        .expect("the victim's launch action was not touched");
    assert_eq!(h.state(VICTIM).await, "join_cluster");
}

#[tokio::test]
async fn a_forged_token_is_never_heartbeated() {
    let h = two_launched().await;
    forge(&h, "join_cluster").await;
    // Long enough that every held action is due (default 3600 s hook).
    h.advance(Duration::from_secs(3000));
    h.sweep().await;
    let heartbeats: Vec<_> = h
        .aws
        .calls()
        .into_iter()
        .filter(|c| c.operation == "RecordLifecycleActionHeartbeat")
        .collect();
    assert!(!heartbeats.is_empty(), "both actions were due");
    for call in &heartbeats {
        assert!(call.input.get("token").is_none(), "{call:?}");
        assert!(
            !call.input.to_string().contains("token-launch-v"),
            "{call:?}"
        );
    }
    let targets: Vec<_> = heartbeats
        .iter()
        .map(|c| c.input["instance_id"].as_str().unwrap().to_string())
        .collect();
    assert!(targets.contains(&ATTACKER.to_string()), "{targets:?}");
}
