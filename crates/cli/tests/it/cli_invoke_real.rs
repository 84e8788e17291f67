//! `asg-lifecycle invoke --aws real`: the SDK clients against moto_server's SSM.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

fn moto() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests with scripts/test.sh, which starts moto_server",
    )
}

/// The example model with the instance's address read from the record: moto implements no
/// `DescribeInstanceInformation`, which the shipped model's `${instance:private_ip}` calls.
fn model_for_moto(dir: &Path) -> std::path::PathBuf {
    let shipped =
        std::fs::read_to_string(crate::repo_root().join("transitions/cluster-node.yaml")).unwrap();
    assert!(shipped.contains("${instance:private_ip}"));
    let path = dir.join("model.yaml");
    std::fs::write(
        &path,
        shipped.replace("${instance:private_ip}", "${attr:InstanceIp}"),
    )
    .unwrap();
    path
}

fn invoke(store: &Path, event: &Path) -> Value {
    let model = model_for_moto(store.parent().unwrap());
    let output = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args([
            "invoke",
            "--aws",
            "real",
            "--region",
            "us-east-1",
            "--output",
            "json",
            "--endpoint-url",
        ])
        .arg(moto())
        .arg("--store")
        .arg(store)
        .arg("--transitions")
        .arg(model)
        .arg(event)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn real_ssm_commands_drive_the_launch_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("state.json");
    // A fresh instance id per run: moto keeps its commands for the server's lifetime.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let instance = format!("i-{:017x}", nanos % (1 << 64));
    let records =
        json!({&instance: {"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.5"}});
    std::fs::write(&store, records.to_string()).unwrap();
    let fixtures = crate::repo_root().join("crates/core/tests/fixtures/events");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(name)).unwrap()).unwrap()
    };
    let mut launch = read("autoscaling-launch.json");
    launch["detail"]["EC2InstanceId"] = Value::String(instance.clone());
    let launch_path = dir.path().join("launch.json");
    std::fs::write(&launch_path, launch.to_string()).unwrap();
    let out = invoke(&store, &launch_path);
    assert_eq!(out["to"], "join_cluster");
    let command_id = out["effects"][0]["command_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(out["effects"][0]["operation"], "SendCommand");
    let comment = out["effects"][0]["comment"].as_str().unwrap();
    assert!(
        comment.contains(&format!("[{instance}:finished_cloud_init:join:v0]")),
        "{comment}"
    );
    // The SSM status event for that command moves the machine on and sends the DNS command.
    let mut event = read("ssm-command-success.json");
    event["detail"]["command-id"] = Value::String(command_id.clone());
    event["resources"] = json!([format!(
        "arn:aws:ec2:us-east-1:123456789012:instance/{instance}"
    )]);
    let event_path = dir.path().join("ssm.json");
    std::fs::write(&event_path, event.to_string()).unwrap();
    let out = invoke(&store, &event_path);
    assert_eq!(out["to"], "updating_dns");
    assert_eq!(out["effects"][0]["operation"], "SendCommand");
    assert_ne!(
        out["effects"][0]["command_id"].as_str().unwrap(),
        command_id
    );
}
