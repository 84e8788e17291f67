//! The events the simulated world emits, as the real EventBridge JSON, and the envelopes that
//! carry them (direct, SNS, SQS, and SNS inside SQS).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use asg_lifecycle::event::{CommandEventKind, CommandStatus};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A lifecycle action notification.
#[must_use]
pub fn lifecycle(
    id: &str,
    at: DateTime<Utc>,
    group: &str,
    token: &str,
    ident: &str,
    launching: bool,
) -> Value {
    let (detail_type, transition, hook) = if launching {
        (
            "EC2 Instance-launch Lifecycle Action",
            "autoscaling:EC2_INSTANCE_LAUNCHING",
            "launch-hook",
        )
    } else {
        (
            "EC2 Instance-terminate Lifecycle Action",
            "autoscaling:EC2_INSTANCE_TERMINATING",
            "terminate-hook",
        )
    };
    json!({
        "version": "0", "id": id, "detail-type": detail_type, "source": "aws.autoscaling",
        "account": ACCOUNT, "time": time(at), "region": REGION,
        "resources": [format!("arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:00000000-0000-4000-8000-000000000000:autoScalingGroupName/{group}")],
        "detail": {
            "LifecycleActionToken": token, "AutoScalingGroupName": group, "LifecycleHookName": hook,
            "EC2InstanceId": ident, "LifecycleTransition": transition,
            "NotificationMetadata": "{\"cluster\": \"sim\"}",
            "Origin": if launching { "EC2" } else { "AutoScalingGroup" },
            "Destination": if launching { "AutoScalingGroup" } else { "EC2" },
        }
    })
}

/// An SSM command (or command-invocation) status-change notification.
#[must_use]
pub fn command(
    id: &str,
    at: DateTime<Utc>,
    kind: CommandEventKind,
    command_id: &str,
    ident: &str,
    document: &str,
    status: CommandStatus,
) -> Value {
    let instance_arn = format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{ident}");
    match kind {
        CommandEventKind::Command => json!({
            "version": "0", "id": id, "detail-type": "EC2 Command Status-change Notification",
            "source": "aws.ssm", "account": ACCOUNT, "time": time(at), "region": REGION,
            "resources": [instance_arn],
            "detail": {
                "command-id": command_id, "document-name": document, "expire-after": time(at),
                "parameters": {"commands": ["…"]}, "requested-date-time": time(at), "status": status.as_str(),
            }
        }),
        CommandEventKind::Invocation => json!({
            "version": "0", "id": id, "detail-type": "EC2 Command Invocation Status-change Notification",
            "source": "aws.ssm", "account": ACCOUNT, "time": time(at), "region": REGION,
            "resources": [instance_arn],
            "detail": {
                "command-id": command_id, "document-name": document, "instance-id": ident,
                "requested-date-time": time(at), "status": status.as_str(),
            }
        }),
    }
}

/// A scheduled-rule event.
#[must_use]
pub fn scheduled(id: &str, at: DateTime<Utc>, rule: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT, "time": time(at), "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")], "detail": {}
    })
}

/// How an event reaches the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wrap {
    /// The EventBridge event itself.
    Direct,
    /// An SNS notification.
    Sns,
    /// An SQS message (raw delivery).
    Sqs,
    /// An SNS notification inside an SQS message.
    SqsSns,
}

fn sns_notification(event: &Value, message_id: &str) -> Value {
    json!({
        "Type": "Notification", "MessageId": message_id,
        "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:lifecycle"),
        "Message": event.to_string(), "Timestamp": event.get("time").cloned().unwrap_or(Value::Null),
    })
}

/// The invocation payload carrying `event`.
#[must_use]
pub fn wrap(wrap: Wrap, event: &Value, message_id: &str) -> Value {
    match wrap {
        Wrap::Direct => event.clone(),
        Wrap::Sns => json!({"Records": [{
            "EventSource": "aws:sns", "EventVersion": "1.0",
            "Sns": sns_notification(event, message_id),
        }]}),
        Wrap::Sqs | Wrap::SqsSns => {
            let body = if wrap == Wrap::Sqs {
                event.to_string()
            } else {
                sns_notification(event, message_id).to_string()
            };
            json!({"Records": [{
                "messageId": message_id, "receiptHandle": format!("rh-{message_id}"), "body": body,
                "eventSource": "aws:sqs", "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:lifecycle"),
                "awsRegion": REGION,
            }]})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::event::{Stimulus, decode_event, decode_invocation};

    #[test]
    fn every_envelope_decodes_to_the_same_event() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let event = lifecycle("e-1", at, "g", "tok", "i-1", true);
        let direct = decode_event(&event).unwrap();
        for w in [Wrap::Direct, Wrap::Sns, Wrap::Sqs, Wrap::SqsSns] {
            let invocation = decode_invocation(&wrap(w, &event, "m-1")).unwrap();
            assert_eq!(
                invocation.messages[0].event.as_ref().unwrap(),
                &direct,
                "{w:?}"
            );
        }
    }

    #[test]
    fn both_ssm_notifications_name_the_instance() {
        let at = DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        for kind in [CommandEventKind::Command, CommandEventKind::Invocation] {
            let event = decode_event(&command(
                "e",
                at,
                kind,
                "c-1",
                "i-9",
                "AWS-RunShellScript",
                CommandStatus::Success,
            ))
            .unwrap();
            let Stimulus::Command(c) = event.stimulus else {
                panic!("not a command event")
            };
            assert_eq!(c.instance_ids, ["i-9"]);
        }
    }
}
