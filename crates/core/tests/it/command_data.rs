//! Issue #13, item 3: no template reaches a shell. Model validation refuses `${...}` in command
//! text and bad `env` with located diagnostics; the handler sends record values only as data,
//! quoted for the document's shell.

use asg_lifecycle::Machine;
use asg_lifecycle::event::payload::LifecycleAction;
use asg_lifecycle::testing::Harness;
use serde_json::json;

use crate::repo_root;

const I: &str = "i-0abc";

/// A launch model whose one command is `send_command: {ARGS}` (ARGS in YAML flow style,
/// written at line 8, from column 77).
fn model(args: &str) -> String {
    format!(
        "initial: a\nfailure: failure\nterminal: [done, abandoned]\nstates: [a, b, done, failure, abandoned]\ntransitions:\n  - source: a\n    dest: b\n    triggers: [{{name: join, conditions: [is_launching], after: [{{send_command: {args}}}]}}]\n  - source: b\n    dest: done\n    triggers: [{{name: finish, conditions: [command_succeeded]}}]\n  - source: failure\n    dest: abandoned\n    triggers: [{{name: abandon}}]\n"
    )
}

fn problems(args: &str) -> Vec<String> {
    match Machine::from_yaml("m.yaml", &model(args)) {
        Ok(_) => Vec::new(),
        Err(report) => report.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_template_in_shell_command_text_is_refused_at_the_line_and_column_of_the_command() {
    let found = problems(r#"{parameters: {commands: ["x ${attr:Role}"]}}"#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("m.yaml:8:105: error[template-in-command]: task `send_command`: `parameters.commands[0]` of document `AWS-RunShellScript` is command text"),
        "{found:?}"
    );
    let found = problems(
        r#"{document: AWS-RunPowerShellScript, commands: [ok, "Write-Output ${metadata:Role}"]}"#,
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("error[template-in-command]")
            && found[0].contains("`commands[1]` of document `AWS-RunPowerShellScript`"),
        "{found:?}"
    );
}

#[test]
fn env_names_and_env_documents_are_checked_with_their_own_codes() {
    let found = problems(r#"{env: {"BAD-NAME": "${attr:Role}"}, commands: [x]}"#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(
            "m.yaml:8:87: error[invalid-env-name]: task `send_command`: `env` name `BAD-NAME`"
        ),
        "{found:?}"
    );
    let found = problems(r#"{document: Custom-Doc, env: {A: "${attr:Role}"}, parameters: {p: 1}}"#);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("error[env-unsupported-document]") && found[0].contains("`Custom-Doc`"),
        "{found:?}"
    );
}

#[test]
fn every_model_and_example_of_the_repository_still_validates() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("transitions/cluster-node.yaml")).unwrap();
    Machine::from_yaml("cluster-node.yaml", &text).unwrap_or_else(|r| panic!("{r}"));
}

/// A launch whose notification metadata carries `role` runs `send_command` with `args`; returns
/// the `commands` the handler sent.
async fn commands_sent(args: &str, role: &str) -> Vec<String> {
    let h = Harness::builder().model_yaml(&model(args)).build();
    h.register_with(I, "a", &[("Role", role)]).await;
    let metadata = json!({"Role": role}).to_string();
    let launch = LifecycleAction::launching("launch-1", I)
        .notification_metadata(&metadata)
        .event();
    h.deliver_ok(&launch).await;
    let call = h
        .aws
        .calls()
        .into_iter()
        .find(|c| c.operation == "SendCommand")
        .expect("a command was sent");
    serde_json::from_value(call.input["parameters"]["commands"].clone()).unwrap()
}

#[tokio::test]
async fn a_record_attribute_reaches_a_linux_command_only_as_a_quoted_variable() {
    let sent = commands_sent(
        r#"{env: {ROLE: "${attr:Role}"}, commands: ["/opt/join.sh \"$ROLE\""]}"#,
        "w'; reboot #",
    )
    .await;
    assert_eq!(
        sent,
        ["export ROLE='w'\\''; reboot #'", "/opt/join.sh \"$ROLE\""]
    );
}

#[tokio::test]
async fn notification_metadata_reaches_a_windows_command_only_as_a_powershell_string() {
    let sent = commands_sent(
        r#"{document: AWS-RunPowerShellScript, env: {ROLE: "${metadata:Role}"}, commands: ["C:\\join.ps1 $env:ROLE"]}"#,
        "w'; Restart-Computer #",
    )
    .await;
    assert_eq!(
        sent,
        [
            "$env:ROLE = 'w''; Restart-Computer #'",
            "C:\\join.ps1 $env:ROLE"
        ]
    );
}
