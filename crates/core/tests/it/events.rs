//! Decoding of every event fixture, with a round trip each, and the typed errors of bad input.

use asg_lifecycle::event::{
    CommandEventKind, CommandStatus, DecodeError, Envelope, Event, LifecycleTransition, Stimulus,
    decode_event, decode_invocation,
};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = crate::repo_root()
        .join("crates/core/tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode(name: &str) -> Event {
    let event = decode_event(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Round trip: the typed event survives serialization unchanged.
    let json = serde_json::to_value(&event).unwrap();
    let back: Event = serde_json::from_value(json).unwrap();
    assert_eq!(back, event, "{name} round trip");
    event
}

#[test]
fn launch_lifecycle_action_decodes_with_json_metadata() {
    let event = decode("events/autoscaling-launch.json");
    let Stimulus::Lifecycle(l) = event.stimulus else {
        panic!("not lifecycle")
    };
    assert_eq!(l.transition, LifecycleTransition::Launching);
    assert_eq!(l.instance_id, "i-0abc1234567890def");
    assert_eq!(l.group, "web-asg");
    assert_eq!(l.hook, "launch-hook");
    assert_eq!(
        l.token.as_deref(),
        Some("87654321-4321-4321-4321-210987654321")
    );
    assert_eq!(l.metadata.unwrap()["cluster"], "blue");
    assert_eq!(l.origin.as_deref(), Some("EC2"));
    assert_eq!(l.destination.as_deref(), Some("AutoScalingGroup"));
}

#[test]
fn launching_wording_is_told_apart_by_lifecycle_transition_not_detail_type() {
    let event = decode("events/autoscaling-launching-wording.json");
    let Stimulus::Lifecycle(l) = event.stimulus else {
        panic!("not lifecycle")
    };
    assert_eq!(l.transition, LifecycleTransition::Launching);
    assert_eq!(
        l.metadata,
        Some(Value::String("plain text metadata".into()))
    );
    assert_eq!(l.origin, None);
}

#[test]
fn terminate_lifecycle_action_decodes_without_metadata() {
    let event = decode("events/autoscaling-terminate.json");
    let Stimulus::Lifecycle(l) = event.stimulus else {
        panic!("not lifecycle")
    };
    assert_eq!(l.transition, LifecycleTransition::Terminating);
    assert_eq!(l.metadata, None);
}

#[test]
fn ssm_command_status_takes_instances_from_resource_arns() {
    let event = decode("events/ssm-command-success.json");
    let Stimulus::Command(c) = event.stimulus else {
        panic!("not a command")
    };
    assert_eq!(c.kind, CommandEventKind::Command);
    assert_eq!(c.status, CommandStatus::Success);
    assert_eq!(c.instance_ids, vec!["i-0abc1234567890def"]);
    let kept = serde_json::to_string(&c).unwrap();
    assert!(
        !kept.contains("join.sh"),
        "the command's parameters are never kept: {kept}"
    );
}

#[test]
fn ssm_parameters_given_as_a_json_string_are_not_kept() {
    let event = decode("events/ssm-command-parameters-string.json");
    let Stimulus::Command(c) = event.stimulus else {
        panic!("not a command")
    };
    assert_eq!(c.status, CommandStatus::TimedOut);
    assert_eq!(c.instance_ids.len(), 2);
    let kept = serde_json::to_string(&c).unwrap();
    assert!(!kept.contains("executionTimeout"), "{kept}");
}

#[test]
fn ssm_invocation_status_takes_the_instance_id_field() {
    let event = decode("events/ssm-invocation-failed.json");
    let Stimulus::Command(c) = event.stimulus else {
        panic!("not a command")
    };
    assert_eq!(c.kind, CommandEventKind::Invocation);
    assert_eq!(c.status, CommandStatus::Failed);
    assert_eq!(c.instance_ids, vec!["i-0abc1234567890def"]);
}

#[test]
fn every_ssm_status_value_decodes_and_only_four_are_terminal() {
    let mut json = fixture("events/ssm-invocation-failed.json");
    let mut terminal = 0;
    for status in CommandStatus::ALL {
        json["detail"]["status"] = Value::String(status.as_str().into());
        let Stimulus::Command(c) = decode_event(&json).unwrap().stimulus else {
            panic!()
        };
        assert_eq!(c.status, status);
        terminal += usize::from(status.is_terminal());
    }
    assert_eq!(terminal, 4);
}

#[test]
fn scheduled_event_rule_is_the_last_arn_segment() {
    let event = decode("events/scheduled-reconcile.json");
    let Stimulus::Scheduled(s) = event.stimulus else {
        panic!("not scheduled")
    };
    assert_eq!(s.rule, "reconcile");
}

#[test]
fn sns_envelope_yields_the_wrapped_event() {
    let invocation = decode_invocation(&fixture("events/sns-launch.json")).unwrap();
    assert_eq!(invocation.envelope, Envelope::Sns);
    assert_eq!(invocation.messages.len(), 1);
    let event = invocation.messages[0].event.as_ref().unwrap();
    assert_eq!(event.id, "12345678-1234-1234-1234-123456789012");
}

#[test]
fn sqs_batch_decodes_each_body_and_keeps_the_bad_one_apart() {
    let invocation = decode_invocation(&fixture("events/sqs-batch.json")).unwrap();
    assert_eq!(invocation.envelope, Envelope::Sqs);
    assert_eq!(invocation.messages.len(), 3);
    assert!(invocation.messages[0].event.is_ok());
    // The second body is an SNS notification (no raw delivery) wrapping an SSM event.
    let second = invocation.messages[1].event.as_ref().unwrap();
    assert!(matches!(second.stimulus, Stimulus::Command(_)));
    let third = invocation.messages[2].event.as_ref().unwrap_err();
    assert!(
        matches!(
            third,
            DecodeError::InRecord {
                envelope: "SQS",
                index: 2,
                ..
            }
        ),
        "{third}"
    );
    assert_eq!(
        invocation.messages[2].message_id.as_deref(),
        Some("3f3b4a9c-0000-4000-8000-00000000000c")
    );
}

#[test]
fn direct_envelope_wraps_one_event() {
    let invocation = decode_invocation(&fixture("events/autoscaling-terminate.json")).unwrap();
    assert_eq!(invocation.envelope, Envelope::Direct);
    assert_eq!(invocation.messages.len(), 1);
}

#[test]
fn unknown_source_is_a_typed_error_naming_it() {
    let err = decode_event(&fixture("invalid/unknown-source.json")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownSource {
            source_name: "aws.ec2".into()
        }
    );
    assert!(err.to_string().contains("aws.ec2"));
}

#[test]
fn lifecycle_event_without_instance_id_names_the_field() {
    let err = decode_event(&fixture("invalid/lifecycle-missing-instance.json")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::MissingField {
            field: "EC2InstanceId"
        }
    );
}

#[test]
fn unknown_ssm_status_names_the_value() {
    let err = decode_event(&fixture("invalid/ssm-unknown-status.json")).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownStatus {
            value: "Exploded".into()
        }
    );
}

#[test]
fn unknown_lifecycle_transition_names_the_value() {
    let mut json = fixture("events/autoscaling-launch.json");
    json["detail"]["LifecycleTransition"] = Value::String("autoscaling:TEST_NOTIFICATION".into());
    let err = decode_event(&json).unwrap_err();
    assert!(
        matches!(err, DecodeError::UnknownTransition { ref value } if value == "autoscaling:TEST_NOTIFICATION")
    );
}

#[test]
fn payload_that_is_no_envelope_is_rejected() {
    let err = decode_invocation(&serde_json::json!({"hello": "world"})).unwrap_err();
    assert!(matches!(err, DecodeError::UnknownEnvelope { .. }));
    let err = decode_invocation(&serde_json::json!([1, 2])).unwrap_err();
    assert!(matches!(err, DecodeError::NotAnObject { found: "a list" }));
}

#[test]
fn malformed_json_file_is_not_parseable() {
    let path = crate::repo_root().join("crates/core/tests/fixtures/invalid/malformed.json");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err());
}
