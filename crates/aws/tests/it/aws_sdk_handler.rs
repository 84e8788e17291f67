//! The built-in `send_command` and `complete_lifecycle_action` tasks run by the
//! `LifecycleHandler` through the SDK implementations, whose HTTP layer answers from
//! `aws-smithy-mocks` rules: what reaches the SDK is what would reach AWS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asg_lifecycle::event::payload::LifecycleAction;
use asg_lifecycle::event::{CommandStatus, Event};
use asg_lifecycle::handler::HandlerConfig;
use asg_lifecycle::testing::{Harness, INSTANCE_IP, command};
use asg_lifecycle_aws::testing::sdk_mocks::{Seen, clients};
use aws_sdk_autoscaling::operation::complete_lifecycle_action::{
    CompleteLifecycleActionInput, CompleteLifecycleActionOutput,
};
use aws_sdk_ssm::operation::describe_instance_information::DescribeInstanceInformationOutput;
use aws_sdk_ssm::operation::list_commands::ListCommandsOutput;
use aws_sdk_ssm::operation::send_command::{SendCommandInput, SendCommandOutput};
use aws_sdk_ssm::primitives::DateTime;
use aws_sdk_ssm::types::{Command, InstanceInformation};
use aws_smithy_mocks::{Rule, mock};

const INSTANCE: &str = "i-0abc";

fn launch_event(id: &str) -> Event {
    LifecycleAction::launching(id, INSTANCE)
        .token("tok-launch")
        .event()
}

fn command_succeeded(id: &str, command_id: &str) -> Event {
    command(id, INSTANCE, command_id, CommandStatus::Success)
}

/// The harness over SDK clients answering from the rules, with the instance as cloud-init
/// leaves it.
async fn on_sdk_mocks(autoscaling_rules: &[&Rule], ssm_rules: &[&Rule]) -> Harness {
    // The intent lease is zero so that a redelivery recovers an interrupted send at once, as it
    // would after the lease of a crashed invocation ran out.
    let describe = describe_rule();
    let ssm_rules: Vec<&Rule> = ssm_rules.iter().copied().chain([&describe]).collect();
    let h = Harness::builder()
        .clients(clients(autoscaling_rules, &ssm_rules))
        .config(HandlerConfig {
            intent_lease: Duration::ZERO,
            ..HandlerConfig::default()
        })
        .build();
    h.register(INSTANCE, "finished_cloud_init").await;
    h
}

/// `DescribeInstanceInformation` listing the instance with [`INSTANCE_IP`]: where the example
/// model's `${instance:private_ip}` comes from.
fn describe_rule() -> Rule {
    mock!(aws_sdk_ssm::Client::describe_instance_information).then_compute_output(|req| {
        let asked = req.filters()[0].values()[0].clone();
        DescribeInstanceInformationOutput::builder()
            .instance_information_list(
                InstanceInformation::builder()
                    .instance_id(asked)
                    .ip_address(INSTANCE_IP)
                    .build(),
            )
            .build()
    })
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
    let sent = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let h = on_sdk_mocks(&[], &[&send, &list]).await;

    h.deliver(&launch_event("evt-launch")).await.unwrap();

    let record = h.record(INSTANCE).await;
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
        commands.contains(&format!("export NODE_IP='{INSTANCE_IP}'")),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c.contains("/opt/cluster/join.sh")),
        "{commands:?}"
    );
    assert_eq!(
        list.num_calls(),
        0,
        "a freshly written intent is exclusive: sent without listing"
    );
}

#[tokio::test]
async fn crash_after_send_before_write_sends_no_second_command() {
    let sent = Seen::default();
    let (send, list) = ssm_rules(&sent, true);
    let h = on_sdk_mocks(&[], &[&send, &list]).await;

    let first = h.deliver(&launch_event("evt-launch")).await;
    assert!(
        first.is_err(),
        "the lost answer fails the invocation retryably"
    );
    let after_crash = h.record(INSTANCE).await;
    let intent = after_crash
        .pending_command
        .clone()
        .expect("the intent was recorded first");
    assert_eq!(intent.command_id, None, "the command id was never written");

    // EventBridge delivers the event again.
    h.deliver(&launch_event("evt-launch")).await.unwrap();

    assert_eq!(sent.all().len(), 1, "no second SendCommand");
    assert_eq!(send.num_calls(), 1);
    let record = h.record(INSTANCE).await;
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
    let sent = Seen::default();
    let completed = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let complete = complete_rule(&completed, false);
    let h = on_sdk_mocks(&[&complete], &[&send, &list]).await;

    h.deliver(&launch_event("evt-launch")).await.unwrap();
    h.deliver(&command_succeeded("evt-join", "cmd-1"))
        .await
        .unwrap();
    assert_eq!(
        h.record(INSTANCE).await.status.as_deref(),
        Some("updating_dns")
    );
    h.deliver(&command_succeeded("evt-dns", "cmd-2"))
        .await
        .unwrap();

    assert_eq!(h.record(INSTANCE).await.status.as_deref(), Some("ready"));
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
    let sent = Seen::default();
    let completed = Seen::default();
    let (send, list) = ssm_rules(&sent, false);
    let complete = complete_rule(&completed, true);
    let h = on_sdk_mocks(&[&complete], &[&send, &list]).await;

    h.deliver(&launch_event("evt-launch")).await.unwrap();
    h.deliver(&command_succeeded("evt-join", "cmd-1"))
        .await
        .unwrap();
    h.deliver(&command_succeeded("evt-dns", "cmd-2"))
        .await
        .unwrap();

    let record = h.record(INSTANCE).await;
    assert_eq!(
        record.status.as_deref(),
        Some("ready"),
        "{:?}",
        record.last_error
    );
    assert_eq!(completed.all().len(), 1);
    assert!(record.lifecycle_action.is_none());
}
