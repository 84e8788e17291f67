//! The built-in `send_command` and `complete_lifecycle_action` tasks run by the
//! `LifecycleHandler` through the SDK implementations, whose HTTP layer answers from
//! `aws-smithy-mocks` rules: what reaches the SDK is what would reach AWS.

use crate::sdk_mocks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asg_lifecycle::aws::AwsClients;
use asg_lifecycle::event::decode_event;
use asg_lifecycle::handler::{HandlerConfig, InvocationContext};
use asg_lifecycle::{InstanceRecord, LifecycleHandler, Machine, MemoryStore, StateStore};
use aws_sdk_autoscaling::operation::complete_lifecycle_action::{
    CompleteLifecycleActionInput, CompleteLifecycleActionOutput,
};
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::{SendCommandInput, SendCommandOutput};
use aws_sdk_ssm::primitives::DateTime;
use aws_sdk_ssm::types::Command;
use aws_smithy_mocks::{Rule, mock};
use sdk_mocks::{Seen, clients};
use serde_json::{Value, json};

const INSTANCE: &str = "i-0abc";

fn launch_event(id: &str) -> Value {
    json!({
        "version": "0", "id": id, "detail-type": "EC2 Instance-launch Lifecycle Action",
        "source": "aws.autoscaling", "account": "123456789012", "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "resources": [
            "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:x:autoScalingGroupName/web-asg"
        ],
        "detail": {
            "LifecycleActionToken": "tok-launch", "AutoScalingGroupName": "web-asg",
            "LifecycleHookName": "launch-hook", "EC2InstanceId": INSTANCE,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
        }
    })
}

fn command_event(id: &str, command_id: &str, status: &str) -> Value {
    json!({
        "version": "0", "id": id,
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "source": "aws.ssm", "account": "123456789012", "time": "2026-01-01T00:01:00Z",
        "region": "eu-west-1",
        "resources": [format!("arn:aws:ec2:eu-west-1:123456789012:instance/{INSTANCE}")],
        "detail": {
            "command-id": command_id, "document-name": "AWS-RunShellScript",
            "instance-id": INSTANCE, "requested-date-time": "2026-01-01T00:00:01Z",
            "status": status, "status-details": status,
        }
    })
}

/// A store holding the instance as cloud-init leaves it.
async fn store_after_cloud_init() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let attributes = json!({"ItemStatus": "finished_cloud_init", "InstanceIp": "10.0.0.7"});
    store
        .cloud_init_update(INSTANCE, attributes.as_object().unwrap())
        .await
        .unwrap();
    store
}

fn handler(store: &Arc<MemoryStore>, aws: AwsClients) -> LifecycleHandler {
    // The intent lease is zero so that a redelivery recovers an interrupted send at once, as it
    // would after the lease of a crashed invocation ran out.
    let config = HandlerConfig {
        intent_lease: Duration::ZERO,
        ..HandlerConfig::default()
    };
    LifecycleHandler::new(Arc::new(Machine::example()), store.clone(), aws).with_config(config)
}

async fn deliver(handler: &LifecycleHandler, event: &Value) -> Result<(), String> {
    let event = decode_event(event).expect("a valid event");
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    handler
        .handle_event(&event, &ctx)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn record(store: &Arc<MemoryStore>) -> InstanceRecord {
    store
        .get(INSTANCE)
        .await
        .unwrap()
        .expect("the record exists")
}

/// `ListCommands` answering from the commands `SendCommand` was asked for so far: SSM's view.
fn ssm_rules(sent: &Seen<SendCommandInput>, fail_first_send: bool) -> (Rule, Rule) {
    let count = Arc::new(AtomicUsize::new(0));
    let sent_for_send = sent.clone();
    let send = mock!(aws_sdk_ssm::Client::send_command).then_compute_response(move |req| {
        use aws_smithy_mocks::MockResponse;
        sent_for_send.push(req);
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if fail_first_send && n == 1 {
            // The command was started, but the answer is lost: a crash between send and write.
            return MockResponse::Http(aws_sdk_ssm::config::http::HttpResponse::new(
                500.try_into().unwrap(),
                r#"{"__type":"InternalServerError","message":"lost"}"#.into(),
            ));
        }
        MockResponse::Output(
            SendCommandOutput::builder()
                .command(Command::builder().command_id(format!("cmd-{n}")).build())
                .build(),
        )
    });
    let sent_for_list = sent.clone();
    let list = mock!(aws_sdk_ssm::Client::list_commands).then_compute_output(move |req| {
        let mut page = ListCommandsOutput::builder();
        for (i, command) in sent_for_list.all().iter().enumerate().rev() {
            if command
                .instance_ids()
                .iter()
                .any(|id| Some(id.as_str()) == req.instance_id())
            {
                page = page.commands(
                    Command::builder()
                        .command_id(format!("cmd-{}", i + 1))
                        .set_comment(command.comment().map(str::to_string))
                        .requested_date_time(DateTime::from_secs(i64::try_from(i).unwrap()))
                        .build(),
                );
            }
        }
        page.build()
    });
    (send, list)
}

fn complete_rule(seen: &Seen<CompleteLifecycleActionInput>, already_done: bool) -> Rule {
    let seen = seen.clone();
    mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_compute_response(
        move |req| {
            use aws_smithy_mocks::MockResponse;
            seen.push(req);
            if already_done {
                MockResponse::Http(aws_sdk_ssm::config::http::HttpResponse::new(
                    400.try_into().unwrap(),
                    "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>\
                 <Message>No active Lifecycle Action found with token tok-launch</Message>\
                 </Error><RequestId>r-1</RequestId></ErrorResponse>"
                        .into(),
                ))
            } else {
                MockResponse::Output(CompleteLifecycleActionOutput::builder().build())
            }
        },
    )
}

#[tokio::test]
async fn launch_event_sends_the_join_command_tagged_with_the_attempt() {
    let store = store_after_cloud_init().await;
    let sent = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let handler = handler(&store, clients(&[], &[&send, &list]));

    deliver(&handler, &launch_event("evt-launch"))
        .await
        .unwrap();

    let record = record(&store).await;
    assert_eq!(record.status.as_deref(), Some("join_cluster"));
    let pending = record.pending_command.expect("a pending command");
    assert_eq!(pending.command_id.as_deref(), Some("cmd-1"));
    let sent = sent.all();
    assert_eq!(sent.len(), 1);
    let req = &sent[0];
    assert_eq!(req.instance_ids(), [INSTANCE.to_string()]);
    assert_eq!(req.document_name(), Some("AWS-RunShellScript"));
    assert_eq!(req.timeout_seconds(), Some(600));
    let comment = req.comment().unwrap();
    assert!(
        comment.contains(&pending.attempt_id),
        "{comment} carries {}",
        pending.attempt_id
    );
    assert!(comment.chars().count() <= 100);
    let commands = &req.parameters().unwrap()["commands"];
    assert!(
        commands.contains(&"export NODE_IP='10.0.0.7'".to_string()),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("/opt/cluster/join.sh")),
        "{commands:?}"
    );
    assert_eq!(list.num_calls(), 1, "listed once, found nothing, sent");
}

#[tokio::test]
async fn crash_after_send_before_write_sends_no_second_command() {
    let store = store_after_cloud_init().await;
    let sent = Seen::default();
    let (send, list) = ssm_rules(&sent, true);
    let handler = handler(&store, clients(&[], &[&send, &list]));

    let first = deliver(&handler, &launch_event("evt-launch")).await;
    assert!(
        first.is_err(),
        "the lost answer fails the invocation retryably"
    );
    let after_crash = record(&store).await;
    let intent = after_crash
        .pending_command
        .clone()
        .expect("the intent was recorded first");
    assert_eq!(intent.command_id, None, "the command id was never written");

    // EventBridge delivers the event again.
    deliver(&handler, &launch_event("evt-launch"))
        .await
        .unwrap();

    assert_eq!(sent.all().len(), 1, "no second SendCommand");
    assert_eq!(send.num_calls(), 1);
    let record = record(&store).await;
    assert_eq!(record.status.as_deref(), Some("join_cluster"));
    let pending = record.pending_command.expect("a pending command");
    assert_eq!(pending.attempt_id, intent.attempt_id);
    assert_eq!(
        pending.command_id.as_deref(),
        Some("cmd-1"),
        "recovered by ListCommands"
    );
}

#[tokio::test]
async fn full_launch_completes_the_lifecycle_action_with_the_token() {
    let store = store_after_cloud_init().await;
    let sent = Seen::default();
    let completed = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let complete = complete_rule(&completed, false);
    let handler = handler(&store, clients(&[&complete], &[&send, &list]));

    deliver(&handler, &launch_event("evt-launch"))
        .await
        .unwrap();
    deliver(&handler, &command_event("evt-join", "cmd-1", "Success"))
        .await
        .unwrap();
    assert_eq!(record(&store).await.status.as_deref(), Some("updating_dns"));
    deliver(&handler, &command_event("evt-dns", "cmd-2", "Success"))
        .await
        .unwrap();

    assert_eq!(record(&store).await.status.as_deref(), Some("ready"));
    assert_eq!(sent.all().len(), 2, "join and DNS, one command each");
    let calls = completed.all();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].auto_scaling_group_name(), Some("web-asg"));
    assert_eq!(calls[0].lifecycle_hook_name(), Some("launch-hook"));
    assert_eq!(calls[0].lifecycle_action_token(), Some("tok-launch"));
    assert_eq!(calls[0].lifecycle_action_result(), Some("CONTINUE"));
}

#[tokio::test]
async fn a_lifecycle_action_completed_already_is_accepted() {
    let store = store_after_cloud_init().await;
    let sent = Seen::default();
    let completed = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let complete = complete_rule(&completed, true);
    let handler = handler(&store, clients(&[&complete], &[&send, &list]));

    deliver(&handler, &launch_event("evt-launch"))
        .await
        .unwrap();
    deliver(&handler, &command_event("evt-join", "cmd-1", "Success"))
        .await
        .unwrap();
    deliver(&handler, &command_event("evt-dns", "cmd-2", "Success"))
        .await
        .unwrap();

    let record = record(&store).await;
    assert_eq!(
        record.status.as_deref(),
        Some("ready"),
        "{:?}",
        record.last_error
    );
    assert_eq!(completed.all().len(), 1);
    assert!(record.lifecycle_action.is_none());
}
