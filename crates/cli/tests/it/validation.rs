//! Model validation: one broken file per error code (code and line asserted), the shipped models
//! valid, and the `validate` command's output contract.

use std::path::PathBuf;
use std::process::Command;

use asg_lifecycle::machine::{FileModel, Machine};

fn broken(name: &str) -> PathBuf {
    crate::repo_root()
        .join("crates/core/tests/fixtures/models/broken")
        .join(format!("{name}.yaml"))
}

fn problems(name: &str) -> Vec<(&'static str, usize)> {
    let report = FileModel::load(&broken(name))
        .and_then(|m| Machine::from_model(&m))
        .unwrap_err();
    report
        .problems
        .iter()
        .map(|p| (p.code.as_str(), p.loc.as_ref().map_or(0, |l| l.line)))
        .collect()
}

#[test]
fn each_broken_file_reports_its_code_at_its_line() {
    let cases = [
        ("parse-error", 5),
        ("unknown-key", 10),
        ("missing-key", 6),
        ("invalid-value", 10),
        ("unknown-state", 7),
        ("unknown-condition", 10),
        ("unknown-task", 10),
        ("invalid-arguments", 10),
        ("unreachable-state", 7),
        ("dead-end", 6),
        ("duplicate-trigger", 12),
        ("ambiguous-triggers", 12),
        ("duplicate-state", 7),
        ("missing-failure-path", 2),
        ("multiple-commands", 9),
        ("template-in-command", 12),
        ("invalid-env-name", 12),
        ("env-unsupported-document", 13),
        ("command-out-of-place", 12),
    ];
    for (code, line) in cases {
        let found = problems(code);
        assert!(
            found.contains(&(code, line)),
            "{code}: expected at line {line}, found {found:?}"
        );
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "initial: a\nfailure: failure\nterminal: [done]\nstates: [a, done, failure]\nbogus: 1\ntransitions:\n  - source: a\n    dest: nowhere\n    triggers: [{name: go, conditions: [nope], before: [nada]}]\n";
    let report = Machine::from_yaml("many.yaml", text).unwrap_err();
    let codes = report.codes();
    assert!(codes.contains(&"unknown-key"), "{codes:?}");
    let report = Machine::from_yaml(
        "many.yaml",
        "initial: a\nfailure: failure\nterminal: [done]\nstates: [a, done, failure]\ntransitions:\n  - source: a\n    dest: nowhere\n    triggers: [{name: go, conditions: [nope], before: [nada]}]\n",
    )
    .unwrap_err();
    assert_eq!(
        report.codes(),
        ["unknown-state", "unknown-condition", "unknown-task"]
    );
}

#[test]
fn the_messages_of_every_broken_file_stay_as_written() {
    let dir = crate::repo_root().join("crates/core/tests/fixtures/models/broken");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = String::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let report = Machine::from_yaml(&name, &text).unwrap_err();
        out.push_str(&report.to_string());
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn shipped_models_are_valid() {
    let dir = crate::repo_root().join("transitions");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        FileModel::load(&path)
            .and_then(|m| Machine::from_model(&m))
            .unwrap_or_else(|r| panic!("{r}"));
    }
    let _ = Machine::example();
}

#[test]
fn validate_command_prints_located_problems_and_exits_one() {
    let output = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(["validate"])
        .arg(broken("unknown-state"))
        .arg(crate::repo_root().join("transitions/cluster-node.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout.lines().next().unwrap();
    assert!(line.ends_with("unknown-state.yaml:7:11: error[unknown-state]: dest `finished` is not a declared state (states: a, abandoned, done, failure)"), "{line}");
}

#[test]
fn validate_command_exits_zero_for_valid_models() {
    let status = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args(["validate", "transitions/cluster-node.yaml"])
        .current_dir(crate::repo_root())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn graph_command_renders_mermaid_and_dot() {
    for (format, needle) in [
        ("mermaid", "finished_cloud_init --> join_cluster: join"),
        (
            "dot",
            "\"finished_cloud_init\" -> \"join_cluster\" [label=\"join\"]",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
            .args(["graph", "transitions/cluster-node.yaml", "--format", format])
            .current_dir(crate::repo_root())
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(
            String::from_utf8(output.stdout).unwrap().contains(needle),
            "{format}"
        );
    }
}
