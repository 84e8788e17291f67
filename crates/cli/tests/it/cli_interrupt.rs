//! SIGINT and SIGTERM on a running `watch` and `wait` (JSON store file, no AWS): the closing
//! resume token, the laggards, and the exit code 128 + signal. Each signal is sent once the
//! command has shown it is running (a line read from its output), never after a sleep.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

fn store(dir: &Path) -> String {
    let path = dir.join("state.json");
    let records = json!({
        "i-1": {"ItemStatus": "ready", "GroupName": "web", "ActiveGroup": "web"},
        "i-2": {"ItemStatus": "join_cluster", "GroupName": "web", "ActiveGroup": "web"},
    });
    std::fs::write(&path, records.to_string()).unwrap();
    path.display().to_string()
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads lines until one satisfies `ready`, sends `signal`, then returns every line and the
/// exit code.
fn interrupt(mut child: Child, signal: &str, ready: impl Fn(&str) -> bool) -> (Vec<String>, i32) {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        assert_ne!(
            reader.read_line(&mut line).unwrap(),
            0,
            "ended early: {lines:?}"
        );
        let line = line.trim_end().to_string();
        let done = ready(&line);
        lines.push(line);
        if done {
            break;
        }
    }
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    lines.extend(rest.lines().map(String::from));
    let code = child.wait().unwrap().code().unwrap();
    (lines, code)
}

#[test]
fn sigint_closes_a_watch_with_its_resume_token_and_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let child = spawn(&["watch", "--store", &store, "--output", "json"]);
    let (lines, code) = interrupt(child, "INT", |l| l.contains("init-done"));
    assert_eq!(code, 130, "{lines:?}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        last,
        json!({"event": "closed", "reason": "interrupted", "token": "memory/0"})
    );
}

#[test]
fn sigterm_closes_a_human_watch_with_exit_143() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let child = spawn(&["watch", "--store", &store]);
    let (lines, code) = interrupt(child, "TERM", |l| l.starts_with("-- following from"));
    assert_eq!(code, 143, "{lines:?}");
    assert_eq!(
        lines.last().unwrap(),
        "-- closed (interrupted); resume token: memory/0"
    );
}

#[test]
fn sigint_ends_a_wait_with_the_laggards_and_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let child = spawn(&[
        "wait",
        "--store",
        &store,
        "--group",
        "web",
        "--interval",
        "1h",
    ]);
    let (lines, code) = interrupt(child, "INT", |l| l.contains("i-2 InProgress"));
    assert_eq!(code, 130, "{lines:?}");
    let closing = &lines[lines.len() - 2..];
    assert!(closing[0].starts_with("interrupted after "), "{lines:?}");
    assert!(closing[0].contains("aggregate InProgress"), "{lines:?}");
    assert_eq!(closing[1], "  i-2 InProgress: in `join_cluster`");

    let child = spawn(&[
        "wait",
        "--store",
        &store,
        "--group",
        "web",
        "--interval",
        "1h",
        "--output",
        "json",
    ]);
    let (lines, code) = interrupt(child, "INT", |l| l.contains("\"i-2\""));
    assert_eq!(code, 130, "{lines:?}");
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["event"], "interrupted");
    assert_eq!(last["aggregate"], "InProgress");
    let laggards: Vec<&str> = last["laggards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["instance"].as_str().unwrap())
        .collect();
    assert_eq!(laggards, ["i-2"]);
}
