//! Unit tests of `send_command`: command text is never templated, values reach the instance as
//! data quoted for the document's shell.

use std::process::Command;
use std::sync::Arc;

use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::aws::{AwsClients, LocalAws};
use crate::event::{ScheduledEvent, Stimulus};
use crate::record::InstanceRecord;
use crate::tasks::RecordChanges;

fn record() -> InstanceRecord {
    let mut record = InstanceRecord::new("i-1");
    record.group = Some("web-asg".into());
    std::sync::Arc::make_mut(&mut record.attributes).insert("InstanceIp".into(), json!("10.0.0.7"));
    std::sync::Arc::make_mut(&mut record.attributes)
        .insert("Role".into(), json!("x'; rm -rf / #$(id)`id`"));
    record
}

fn build_with(record: &InstanceRecord, args: &Value) -> Result<SendCommand, SendCommandError> {
    let aws = AwsClients::local(&Arc::new(LocalAws::new()));
    let stimulus = Stimulus::Scheduled(ScheduledEvent {
        rule: "reconcile".into(),
    });
    let ctx = TaskContext {
        record,
        stimulus: &stimulus,
        aws: &aws,
        attempt_id: "i-1:a:go:v1",
        from: "a",
        to: "b",
        trigger: "go",
        fresh_intent: true,
        now: Utc::now(),
        effects: Vec::new(),
        changes: RecordChanges::default(),
    };
    SendCommandTask::build(&ctx, args)
}

fn build(args: &Value) -> Result<SendCommand, SendCommandError> {
    build_with(&record(), args)
}

fn codes(args: &Value) -> Vec<(Code, String)> {
    SendCommandTask
        .check_arguments(args)
        .into_iter()
        .map(|p| (p.code, p.pointer))
        .collect()
}

#[test]
fn a_template_in_the_commands_parameter_of_a_shell_document_is_refused_and_never_resolved() {
    let args = json!({"parameters": {"commands": ["x ${attr:Role}"]}});
    assert_eq!(
        codes(&args),
        [(
            Code::TemplateInCommand,
            "/parameters/commands/0".to_string()
        )]
    );
    let err = build(&args).unwrap_err();
    assert_eq!(
        err,
        SendCommandError::TemplateInCommand {
            document: DEFAULT_DOCUMENT.into(),
            argument: "parameters.commands[0]".into()
        }
    );
    assert!(
        !err.to_string().contains("rm -rf"),
        "no resolved value in the error"
    );
}

#[test]
fn a_template_in_literal_commands_is_refused_for_linux_and_windows_and_other_documents() {
    for document in [DEFAULT_DOCUMENT, POWERSHELL_DOCUMENT, "Custom-Doc"] {
        let args = json!({"document": document, "commands": ["ok", "echo ${instance_id}"]});
        assert_eq!(
            codes(&args),
            [(Code::TemplateInCommand, "/commands/1".to_string())],
            "{document}"
        );
        assert!(matches!(
            build(&args),
            Err(SendCommandError::TemplateInCommand { .. })
        ));
    }
    let args = json!({"document": "AWS-RunRemoteScript", "parameters": {"commandLine": "run.sh ${attr:Role}"}});
    assert_eq!(
        codes(&args),
        [(
            Code::TemplateInCommand,
            "/parameters/commandLine".to_string()
        )]
    );
}

#[test]
fn env_values_are_posix_single_quoted_for_the_shell_document() {
    let args = json!({"env": {"ROLE": "${attr:Role}", "IP": "${attr:InstanceIp}"}, "commands": ["/opt/join.sh \"$IP\""]});
    let input = build(&args).unwrap();
    assert_eq!(
        input.parameters["commands"],
        [
            "export ROLE='x'\\''; rm -rf / #$(id)`id`'",
            "export IP='10.0.0.7'",
            "/opt/join.sh \"$IP\"",
        ]
    );
}

#[test]
fn env_values_are_powershell_single_quoted_for_the_powershell_document() {
    let mut record = record();
    std::sync::Arc::make_mut(&mut record.attributes)
        .insert("Role".into(), json!("a'b\u{2019}c$(Get-Date)`n"));
    let args = json!({"document": POWERSHELL_DOCUMENT, "env": {"ROLE": "${attr:Role}"}, "commands": ["C:\\join.ps1 $env:ROLE"]});
    let input = build_with(&record, &args).unwrap();
    assert_eq!(
        input.parameters["commands"],
        [
            "$env:ROLE = 'a''b\u{2019}\u{2019}c$(Get-Date)`n'",
            "C:\\join.ps1 $env:ROLE"
        ]
    );
}

#[test]
fn env_lines_come_before_the_commands_parameter_and_the_literal_commands() {
    let args =
        json!({"env": {"A": "1"}, "parameters": {"commands": ["first"]}, "commands": ["second"]});
    let input = build(&args).unwrap();
    assert_eq!(
        input.parameters["commands"],
        ["export A='1'", "first", "second"]
    );
}

#[test]
fn env_names_must_be_shell_variable_names() {
    for name in ["1A", "A-B", "A B", "", "A;rm", "É"] {
        let args = json!({"env": {name: "v"}, "commands": ["true"]});
        let pointer = format!("/env/{name}");
        assert_eq!(codes(&args), [(Code::InvalidEnvName, pointer)], "{name:?}");
        assert!(matches!(
            build(&args),
            Err(SendCommandError::InvalidEnvName { .. })
        ));
    }
    for name in ["A", "_a1", "NODE_IP"] {
        assert!(codes(&json!({"env": {name: "v"}, "commands": ["true"]})).is_empty());
    }
}

#[test]
fn env_is_refused_for_a_document_whose_shell_is_not_known() {
    let args = json!({"document": "AWS-ApplyPatchBaseline", "env": {"A": "${attr:Role}"}, "parameters": {"Operation": "Scan"}});
    assert_eq!(
        codes(&args),
        [(Code::EnvUnsupportedDocument, "/env".to_string())]
    );
    assert_eq!(
        build(&args).unwrap_err(),
        SendCommandError::EnvUnsupportedDocument {
            document: "AWS-ApplyPatchBaseline".into()
        }
    );
}

#[test]
fn a_nul_in_a_resolved_env_value_is_a_typed_error() {
    let mut record = record();
    std::sync::Arc::make_mut(&mut record.attributes).insert("Bad".into(), json!("a\0b"));
    let args = json!({"env": {"V": "${attr:Bad}"}, "commands": ["true"]});
    assert_eq!(
        build_with(&record, &args).unwrap_err(),
        SendCommandError::NulInValue { name: "V".into() }
    );
}

#[test]
fn parameters_of_other_documents_are_resolved_as_data() {
    let args = json!({"document": "Custom-Configure", "parameters": {"role": "${attr:Role}", "ids": ["${instance_id}", "${group}"], "n": 3}});
    let input = build(&args).unwrap();
    assert_eq!(input.parameters["role"], ["x'; rm -rf / #$(id)`id`"]);
    assert_eq!(input.parameters["ids"], ["i-1", "web-asg"]);
    assert_eq!(input.parameters["n"], ["3"]);
}

#[test]
fn unknown_references_and_bad_shapes_are_invalid_arguments() {
    let invalid = |args: Value, pointer: &str| {
        assert_eq!(
            codes(&args),
            [(Code::InvalidArguments, pointer.to_string())],
            "{args}"
        );
    };
    invalid(
        json!({"env": {"A": "${nope}"}, "commands": ["x"]}),
        "/env/A",
    );
    invalid(json!({"env": {"A": 3}, "commands": ["x"]}), "/env/A");
    invalid(json!({"env": ["A"], "commands": ["x"]}), "/env");
    invalid(json!({"parameters": {"p": "${attr:"}}), "/parameters/p");
    invalid(json!({"parameters": {"p": {"deep": 1}}}), "/parameters/p");
    invalid(json!({"document": 3, "commands": ["x"]}), "/document");
    invalid(
        json!({"commands": ["x"], "timeout_seconds": -1}),
        "/timeout_seconds",
    );
    invalid(json!({"commands": ["x"], "extra": 1}), "/extra");
    invalid(json!({"commands": "x"}), "/commands");
    invalid(Value::Null, "");
}

#[test]
fn a_missing_attribute_is_named_without_sending() {
    let args = json!({"env": {"A": "${attr:Missing}"}, "commands": ["x"]});
    let err = build(&args).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`env.A`: the record has no attribute `Missing`"
    );
}

#[test]
fn the_instance_private_ip_is_an_aws_fact_never_a_record_value() {
    let args = json!({"env": {"IP": "${instance:private_ip}"}, "commands": ["x"]});
    assert!(codes(&args).is_empty());
    invalid_fact_is_refused();
    // `build` alone reads nothing from AWS: the fact is unresolved, whatever the record holds.
    let err = build(&args).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`env.IP`: the instance's private IP was not read from SSM"
    );
    let aws = AwsClients::local(&Arc::new(LocalAws::new()));
    let stimulus = Stimulus::Scheduled(ScheduledEvent {
        rule: "reconcile".into(),
    });
    let record = record();
    let ctx = TaskContext {
        record: &record,
        stimulus: &stimulus,
        aws: &aws,
        attempt_id: "i-1:a:go:v1",
        from: "a",
        to: "b",
        trigger: "go",
        fresh_intent: true,
        now: Utc::now(),
        effects: Vec::new(),
        changes: RecordChanges::default(),
    };
    let facts = InstanceFacts {
        private_ip: Some("10.9.8.7".into()),
    };
    let (input, resolved) = SendCommandTask::build_resolving(&ctx, &args, &facts).unwrap();
    assert_eq!(input.parameters["commands"], ["export IP='10.9.8.7'", "x"]);
    assert!(resolved.contains(&"10.9.8.7".to_string()), "{resolved:?}");
    assert!(needs_private_ip(&args));
    assert!(!needs_private_ip(
        &json!({"env": {"IP": "${attr:InstanceIp}"}})
    ));
}

fn invalid_fact_is_refused() {
    let args = json!({"env": {"IP": "${instance:public_ip}"}, "commands": ["x"]});
    assert_eq!(
        codes(&args),
        [(Code::InvalidArguments, "/env/IP".to_string())]
    );
}

#[test]
fn an_error_message_is_scrubbed_of_resolved_values_longest_first() {
    let resolved = vec![
        "s3cret-value".to_string(),
        "export P='s3cret-value'".to_string(),
        "ab".to_string(),
    ];
    let message = "Value '[export P='s3cret-value', x]' failed; ab s3cret-value";
    assert_eq!(
        scrub(message, &resolved),
        "Value '[<resolved value>, x]' failed; ab <resolved value>"
    );
}

/// Runs `line; printf %s "$V"` in `sh` and returns what it printed.
fn through_sh(line: &str) -> Vec<u8> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{line}\nprintf %s \"$V\""))
        .output()
        .expect("sh runs");
    assert!(output.status.success(), "{output:?}");
    output.stdout
}

#[test]
fn posix_quoting_round_trips_every_byte_but_nul_through_a_real_shell() {
    let every: String = (1u8..=127).map(char::from).collect();
    for value in [
        every.as_str(),
        "'",
        "''",
        "a'b'c",
        "$(id)`id`${HOME}\\n",
        "\n\r\t ",
        "é ✓ \u{2019}",
    ] {
        let line = ShellPlatform::Posix.assignment("V", value);
        assert_eq!(through_sh(&line), value.as_bytes(), "{value:?}");
    }
}

#[test]
fn powershell_quoting_doubles_every_single_quote_character() {
    assert_eq!(powershell_single_quote("it's"), "'it''s'");
    assert_eq!(
        powershell_single_quote("\u{2018}\u{2019}\u{201A}\u{201B}"),
        "'\u{2018}\u{2018}\u{2019}\u{2019}\u{201A}\u{201A}\u{201B}\u{201B}'"
    );
    assert_eq!(powershell_single_quote("$x `n \" "), "'$x `n \" '");
}

#[test]
fn the_private_ip_reference_names_the_private_ip_fact() {
    assert_eq!(
        super::check::PRIVATE_IP_REFERENCE,
        format!("${{instance:{}}}", super::check::PRIVATE_IP)
    );
}

#[test]
fn problems_name_list_items_and_escaped_names_by_pointer() {
    let problems = |args: Value| -> Vec<(Code, String, String)> {
        SendCommandTask
            .check_arguments(&args)
            .into_iter()
            .map(|p| (p.code, p.pointer, p.message))
            .collect()
    };
    let found = problems(json!({
        "commands": ["ok", "echo ${instance_id}"],
        "parameters": {"a/b~c": ["fine", "${nope}"], "commandLine": ["x", "${group}"]},
        "env": {"1BAD": "${attr:}"},
        "unknown/key": true,
    }));
    let pointers: Vec<(Code, &str)> = found.iter().map(|(c, p, _)| (*c, p.as_str())).collect();
    assert_eq!(
        pointers,
        [
            (Code::InvalidArguments, "/unknown~1key"),
            (Code::InvalidArguments, "/parameters/a~1b~0c/1"),
            (Code::TemplateInCommand, "/commands/1"),
            (Code::TemplateInCommand, "/parameters/commandLine/1"),
            (Code::InvalidEnvName, "/env/1BAD"),
            (Code::InvalidArguments, "/env/1BAD"),
        ]
    );
    assert!(
        found[1]
            .2
            .starts_with("`parameters.a/b~c[1]`: unknown reference `${nope}`"),
        "{}",
        found[1].2
    );
    assert!(found[2].2.contains("`commands[1]`"), "{}", found[2].2);
    assert!(
        found[3].2.contains("`parameters.commandLine[1]`"),
        "{}",
        found[3].2
    );
    assert!(
        found[5]
            .2
            .starts_with("`env.1BAD`: unknown reference `${attr:}`"),
        "{}",
        found[5].2
    );
}
