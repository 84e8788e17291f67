//! `asg-lifecycle wait`, `status` and `watch` against a JSON store file: exit codes and output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn write_store(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("state.json");
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

fn member(state: &str) -> Value {
    json!({"ItemStatus": state, "GroupName": "web", "ActiveGroup": "web"})
}

fn cli(args: &[&str], store: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(args)
        .arg("--store")
        .arg(store)
        .output()
        .unwrap()
}

fn wait(store: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["wait", "--group", "web", "--interval", "1s"];
    args.extend_from_slice(extra);
    cli(&args, store)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn wait_exits_0_when_every_instance_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-1": member("ready"), "i-2": member("ready")}),
    );
    let output = wait(&store, &["--timeout", "10s"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("completed"), "{}", stdout(&output));
}

#[test]
fn wait_exits_1_when_the_aggregate_is_failed() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-1": member("ready"), "i-2": member("failure")}),
    );
    let output = wait(&store, &["--timeout", "10s"]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("failed: i-2 is Failed"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn wait_exits_2_on_timeout_and_names_the_laggards() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-1": member("ready"), "i-2": member("join_cluster")}),
    );
    let output = wait(&store, &["--timeout", "1s"]);
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(text.contains("timed out"), "{text}");
    assert!(
        text.contains("  i-2 InProgress: in `join_cluster`"),
        "{text}"
    );
}

#[test]
fn wait_for_terminated_completes_when_the_group_has_no_active_instance() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(
        dir.path(),
        &json!({"i-1": {"ItemStatus": "terminated", "GroupName": "web"}}),
    );
    let output = wait(&store, &["--for", "terminated", "--timeout", "5s"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
}

#[test]
fn wait_sees_a_change_another_process_writes_to_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(dir.path(), &json!({"i-1": member("completing_lifecycle")}));
    let child = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args([
            "wait",
            "--group",
            "web",
            "--interval",
            "1s",
            "--timeout",
            "30s",
            "--store",
        ])
        .arg(&store)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    write_store(dir.path(), &json!({"i-1": member("ready")}));
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("i-1 Current"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn wait_without_a_source_is_a_usage_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(["wait", "--group", "web"])
        .env_remove("ASG_LIFECYCLE_TABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--table TABLE or --store FILE"));
}

#[test]
fn status_prints_a_table_and_the_aggregate_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut failing = member("join_cluster");
    failing["LastError"] = json!("SendCommand throttled");
    let store = write_store(dir.path(), &json!({"i-1": member("ready"), "i-2": failing}));
    let output = cli(&["status", "--group", "web"], &store);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("INSTANCE  STATE"), "{text}");
    assert!(
        lines[2].contains("join_cluster  InProgress")
            && lines[2].ends_with("SendCommand throttled"),
        "{text}"
    );
    assert_eq!(lines[3], "aggregate: InProgress (1 InProgress, 1 Current)");
    let json: Value =
        serde_json::from_slice(&cli(&["status", "--output", "json"], &store).stdout).unwrap();
    assert_eq!(json["aggregate"], "InProgress");
    assert_eq!(json["instances"][1]["last_error"], "SendCommand throttled");
}

#[test]
fn watch_lists_and_prints_the_resume_token_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let store = write_store(dir.path(), &json!({"i-1": member("ready")}));
    let output = cli(&["watch", "--timeout", "1s", "--output", "json"], &store);
    assert_eq!(output.status.code(), Some(0));
    let events: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["init", "init-apply", "init-done", "closed"]);
    assert_eq!(events[1]["status"], "Current");
    assert_eq!(events[3]["token"], "memory/0");
}
