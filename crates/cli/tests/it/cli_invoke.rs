//! `asg-lifecycle invoke`: the JSON output contract, the store file, rejected events, secrets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn fixture(name: &str) -> PathBuf {
    crate::repo_root()
        .join("crates/core/tests/fixtures")
        .join(name)
}

fn invoke(store: &Path, events: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .arg("invoke")
        .arg("--store")
        .arg(store)
        .args(["--output", "json"])
        .args(events)
        .output()
        .unwrap()
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_store(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("state.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

#[test]
fn launch_event_advances_and_prints_the_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-0abc1234567890def": {"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}}),
    );
    let output = invoke(&store, &[fixture("events/autoscaling-launch.json")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = &lines(&output)[0];
    assert_eq!(out["instance"], "i-0abc1234567890def");
    assert_eq!(out["from"], "finished_cloud_init");
    assert_eq!(out["to"], "join_cluster");
    assert_eq!(out["outcome"], "advanced");
    assert_eq!(
        out["transitions"],
        json!([{"from": "finished_cloud_init", "to": "join_cluster", "trigger": "join"}])
    );
    assert_eq!(out["effects"][0]["service"], "ssm");
    assert_eq!(out["effects"][0]["operation"], "SendCommand");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    assert_eq!(saved["i-0abc1234567890def"]["ItemStatus"], "join_cluster");
    assert_eq!(
        saved["i-0abc1234567890def"]["Version"], 2,
        "transition write + settle write"
    );
    assert_eq!(
        saved["i-0abc1234567890def"]["InstanceIp"], "10.0.0.5",
        "cloud-init attributes kept"
    );
    // The same event again is a duplicate.
    let again = invoke(&store, &[fixture("events/autoscaling-launch.json")]);
    assert_eq!(lines(&again)[0]["outcome"], "duplicate");
}

#[test]
fn a_rejected_event_exits_non_zero_and_leaves_the_store_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-1": {"ItemStatus": "finished_cloud_init"}}),
    );
    let before = std::fs::read_to_string(&store).unwrap();
    for bad in [
        "invalid/unknown-source.json",
        "invalid/malformed.json",
        "invalid/lifecycle-missing-instance.json",
    ] {
        let output = invoke(&store, &[fixture(bad)]);
        assert_eq!(output.status.code(), Some(1), "{bad}");
        let out = &lines(&output)[0];
        assert_eq!(out["outcome"], "rejected", "{bad}");
        assert!(
            out["error"].as_str().unwrap().starts_with("failed to"),
            "{bad}: {out}"
        );
        let after: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
        assert_eq!(
            after,
            serde_json::from_str::<Value>(&before).unwrap(),
            "{bad}"
        );
    }
}

#[test]
fn sqs_batch_reports_each_message_and_fails_only_the_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-0abc1234567890def": {"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}}),
    );
    let output = invoke(&store, &[fixture("events/sqs-batch.json")]);
    assert_eq!(output.status.code(), Some(1));
    let outs = lines(&output);
    assert_eq!(outs.len(), 3);
    assert_eq!(outs[0]["outcome"], "advanced");
    assert_eq!(
        outs[1]["outcome"], "no-op",
        "a stale command id changes nothing"
    );
    assert_eq!(outs[2]["outcome"], "rejected");
}

#[test]
fn outputs_never_echo_secret_looking_values() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.yaml");
    std::fs::write(
        &model,
        "initial: a\nfailure: failure\nterminal: [done, abandoned]\nstates: [a, b, done, failure, abandoned]\ntransitions:\n  - source: a\n    dest: b\n    triggers:\n      - name: join\n        conditions: [is_launching]\n        after: [{send_command: {env: {JOIN_TOKEN: \"${attr:JoinToken}\"}, commands: [/opt/join.sh]}}]\n  - source: b\n    dest: done\n    triggers: [{name: finish, conditions: [command_succeeded], before: [complete_lifecycle_action]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n",
    )
    .unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-0abc1234567890def": {"ItemStatus": "a", "JoinToken": "s3cret-join-token"}}),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(["invoke", "--output", "json", "--transitions"])
        .arg(&model)
        .arg("--store")
        .arg(&store)
        .arg(fixture("events/autoscaling-launch.json"))
        .env("ASG_LIFECYCLE_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!everything.contains("s3cret-join-token"), "{everything}");
    let out: Value = serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        out["effects"][0]["arguments"]["env"]["JOIN_TOKEN"],
        "<redacted>"
    );
}
