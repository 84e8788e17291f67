//! Request shapes and error mapping of the SDK implementations of the `aws` traits, at the SDK
//! boundary: real SDK clients whose HTTP layer is replaced by `aws-smithy-mocks` rules, so
//! serialization-independent inputs are checked as the SDK saw them and error responses go
//! through the SDK's own deserializers, retry strategy and our classification.

use asg_lifecycle::aws::{
    AutoScalingApi, AwsErrorKind, CompleteLifecycleAction, LifecycleHeartbeat, SendCommand, SsmApi,
};
use asg_lifecycle_aws::sdk::MAX_ATTEMPTS;
use asg_lifecycle_aws::testing::sdk_mocks::{Seen, autoscaling, ssm};
use aws_sdk_autoscaling::operation::complete_lifecycle_action::{
    CompleteLifecycleActionInput, CompleteLifecycleActionOutput,
};
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::{
    RecordLifecycleActionHeartbeatInput, RecordLifecycleActionHeartbeatOutput,
};
use aws_sdk_ssm::operation::describe_instance_information::{
    DescribeInstanceInformationInput, DescribeInstanceInformationOutput,
};
use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput;
use aws_sdk_ssm::operation::list_commands::{ListCommandsInput, ListCommandsOutput};
use aws_sdk_ssm::operation::send_command::{SendCommandInput, SendCommandOutput};
use aws_sdk_ssm::primitives::DateTime;
use aws_sdk_ssm::types::{Command, CommandInvocationStatus, InstanceInformation};
use aws_smithy_mocks::mock;

/// An awsQuery (Auto Scaling) error body.
fn query_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId>
</ErrorResponse>"#
    )
}

/// An awsJson (SSM) error body.
fn json_error(code: &str, message: &str) -> String {
    format!(r#"{{"__type":"{code}","message":"{message}"}}"#)
}

fn complete_input(token: Option<&str>) -> CompleteLifecycleAction {
    CompleteLifecycleAction {
        group: "web-asg".into(),
        hook: "launch-hook".into(),
        token: token.map(str::to_string),
        instance_id: "i-0abc".into(),
        result: "CONTINUE".into(),
    }
}

fn send_input() -> SendCommand {
    SendCommand {
        instance_id: "i-0abc".into(),
        document: "AWS-RunShellScript".into(),
        parameters: [(
            "commands".to_string(),
            vec![
                "export NODE_IP='10.0.0.7'".to_string(),
                "/opt/join.sh \"$NODE_IP\"".to_string(),
            ],
        )]
        .into_iter()
        .collect(),
        timeout_seconds: Some(600),
        comment: "asg-lifecycle join [att-42]".into(),
    }
}

fn command(id: &str, comment: &str, requested_secs: i64) -> Command {
    Command::builder()
        .command_id(id)
        .comment(comment)
        .instance_ids("i-0abc")
        .requested_date_time(DateTime::from_secs(requested_secs))
        .build()
}

// --- Auto Scaling -------------------------------------------------------------------------------

#[tokio::test]
async fn complete_lifecycle_action_sends_group_hook_token_and_result() {
    let seen = Seen::<CompleteLifecycleActionInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_compute_output(
        move |req| {
            s.push(req);
            CompleteLifecycleActionOutput::builder().build()
        },
    );
    let api = autoscaling(&[&rule]);
    api.complete_lifecycle_action(&complete_input(Some("tok-1")))
        .await
        .unwrap();
    let calls = seen.all();
    assert_eq!(calls.len(), 1);
    let req = &calls[0];
    assert_eq!(req.auto_scaling_group_name(), Some("web-asg"));
    assert_eq!(req.lifecycle_hook_name(), Some("launch-hook"));
    assert_eq!(req.lifecycle_action_token(), Some("tok-1"));
    assert_eq!(req.lifecycle_action_result(), Some("CONTINUE"));
    assert_eq!(
        req.instance_id(),
        None,
        "the token names the action; no instance id"
    );
}

#[tokio::test]
async fn complete_lifecycle_action_without_token_names_the_instance() {
    let seen = Seen::<CompleteLifecycleActionInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action).then_compute_output(
        move |req| {
            s.push(req);
            CompleteLifecycleActionOutput::builder().build()
        },
    );
    let mut input = complete_input(None);
    input.result = "ABANDON".into();
    autoscaling(&[&rule])
        .complete_lifecycle_action(&input)
        .await
        .unwrap();
    let req = &seen.all()[0];
    assert_eq!(req.instance_id(), Some("i-0abc"));
    assert_eq!(req.lifecycle_action_token(), None);
    assert_eq!(req.lifecycle_action_result(), Some("ABANDON"));
}

#[tokio::test]
async fn no_active_lifecycle_action_maps_to_its_own_kind() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "ValidationError",
                "No active Lifecycle Action found with token tok-1",
            )),
        )
        .build();
    let err = autoscaling(&[&rule])
        .complete_lifecycle_action(&complete_input(Some("tok-1")))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::NoActiveLifecycleAction);
    assert_eq!(err.operation, "CompleteLifecycleAction");
    assert_eq!(err.code, "ValidationError");
    assert!(
        err.message.contains("No active Lifecycle Action found"),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(rule.num_calls(), 1, "a validation error is not retried");
}

#[tokio::test]
async fn other_validation_errors_are_permanent_with_code_and_message() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "ValidationError",
                "Unable to find group web-asg",
            )),
        )
        .build();
    let err = autoscaling(&[&rule])
        .complete_lifecycle_action(&complete_input(Some("tok-1")))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Permanent);
    assert_eq!(err.code, "ValidationError");
    assert_eq!(err.message, "Unable to find group web-asg");
}

#[tokio::test]
async fn record_heartbeat_sends_group_hook_and_token() {
    let seen = Seen::<RecordLifecycleActionHeartbeatInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .then_compute_output(move |req| {
            s.push(req);
            RecordLifecycleActionHeartbeatOutput::builder().build()
        });
    let api = autoscaling(&[&rule]);
    let mut input = LifecycleHeartbeat {
        group: "web-asg".into(),
        hook: "launch-hook".into(),
        token: Some("tok-1".into()),
        instance_id: "i-0abc".into(),
    };
    api.record_lifecycle_action_heartbeat(&input).await.unwrap();
    input.token = None;
    api.record_lifecycle_action_heartbeat(&input).await.unwrap();
    let calls = seen.all();
    assert_eq!(calls[0].auto_scaling_group_name(), Some("web-asg"));
    assert_eq!(calls[0].lifecycle_hook_name(), Some("launch-hook"));
    assert_eq!(calls[0].lifecycle_action_token(), Some("tok-1"));
    assert_eq!(calls[1].lifecycle_action_token(), None);
    assert_eq!(calls[1].instance_id(), Some("i-0abc"));
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_then_mapped_throttled() {
    let rule = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .sequence()
        .http_status(400, Some(query_error("Throttling", "Rate exceeded")))
        .repeatedly()
        .build();
    let err = autoscaling(&[&rule])
        .record_lifecycle_action_heartbeat(&LifecycleHeartbeat {
            group: "web-asg".into(),
            hook: "launch-hook".into(),
            token: Some("tok-1".into()),
            instance_id: "i-0abc".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Throttled);
    assert_eq!(err.code, "Throttling");
    assert!(err.is_retryable());
    assert_eq!(
        rule.num_calls(),
        MAX_ATTEMPTS as usize,
        "standard retry: {MAX_ATTEMPTS} attempts"
    );
}

#[tokio::test]
async fn a_500_is_retried_and_succeeds_when_the_service_recovers() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .http_status(500, None)
        .output(|| CompleteLifecycleActionOutput::builder().build())
        .build();
    autoscaling(&[&rule])
        .complete_lifecycle_action(&complete_input(Some("tok-1")))
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn a_persistent_500_maps_to_transient() {
    let rule = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let err = autoscaling(&[&rule])
        .complete_lifecycle_action(&complete_input(Some("tok-1")))
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Transient, "{err:?}");
    assert_eq!(
        err.code, "HTTP 500",
        "no error code in an empty body: the status is kept"
    );
    assert!(err.is_retryable());
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
}

// --- SSM ----------------------------------------------------------------------------------------

#[tokio::test]
async fn send_command_sends_document_parameters_comment_and_instance() {
    let seen = Seen::<SendCommandInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_ssm::Client::send_command).then_compute_output(move |req| {
        s.push(req);
        SendCommandOutput::builder()
            .command(Command::builder().command_id("cmd-1").build())
            .build()
    });
    let id = ssm(&[&rule]).send_command(&send_input()).await.unwrap();
    assert_eq!(id, "cmd-1");
    let req = &seen.all()[0];
    assert_eq!(req.instance_ids(), ["i-0abc".to_string()]);
    assert_eq!(req.document_name(), Some("AWS-RunShellScript"));
    let commands = &req.parameters().unwrap()["commands"];
    assert_eq!(commands, &send_input().parameters["commands"]);
    assert_eq!(req.comment(), Some("asg-lifecycle join [att-42]"));
    assert_eq!(req.timeout_seconds(), Some(600));
    assert!(req.cloud_watch_output_config().is_none());
    assert!(req.output_s3_bucket_name().is_none());
}

#[tokio::test]
async fn instance_private_ip_filters_by_instance_id_and_reads_the_ip_address() {
    let seen = Seen::<DescribeInstanceInformationInput>::default();
    let s = seen.clone();
    let rule =
        mock!(aws_sdk_ssm::Client::describe_instance_information).then_compute_output(move |req| {
            s.push(req);
            DescribeInstanceInformationOutput::builder()
                .instance_information_list(
                    InstanceInformation::builder()
                        .instance_id("i-0abc")
                        .ip_address("10.1.2.3")
                        .build(),
                )
                .build()
        });
    let ip = ssm(&[&rule]).instance_private_ip("i-0abc").await.unwrap();
    assert_eq!(ip.as_deref(), Some("10.1.2.3"));
    let req = &seen.all()[0];
    assert_eq!(req.filters().len(), 1);
    assert_eq!(req.filters()[0].key(), "InstanceIds");
    assert_eq!(req.filters()[0].values(), ["i-0abc".to_string()]);
    assert!(req.instance_information_filter_list().is_empty());
    assert_eq!(req.max_results(), None, "one instance: no paging");
}

#[tokio::test]
async fn an_instance_ssm_does_not_list_has_no_private_ip() {
    let rule = mock!(aws_sdk_ssm::Client::describe_instance_information)
        .then_output(|| DescribeInstanceInformationOutput::builder().build());
    assert_eq!(
        ssm(&[&rule]).instance_private_ip("i-0abc").await.unwrap(),
        None
    );
    // Another instance in the answer is not this one's address.
    let rule = mock!(aws_sdk_ssm::Client::describe_instance_information).then_output(|| {
        DescribeInstanceInformationOutput::builder()
            .instance_information_list(
                InstanceInformation::builder()
                    .instance_id("i-0other")
                    .ip_address("10.9.9.9")
                    .build(),
            )
            .build()
    });
    assert_eq!(
        ssm(&[&rule]).instance_private_ip("i-0abc").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn send_command_cuts_a_long_comment_keeping_the_tag() {
    let seen = Seen::<SendCommandInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_ssm::Client::send_command).then_compute_output(move |req| {
        s.push(req);
        SendCommandOutput::builder()
            .command(Command::builder().command_id("cmd-1").build())
            .build()
    });
    let mut input = send_input();
    input.comment = format!("{} [att-42]", "x".repeat(150));
    ssm(&[&rule]).send_command(&input).await.unwrap();
    let comment = seen.all()[0].comment().unwrap().to_string();
    assert_eq!(comment.chars().count(), 100);
    assert!(comment.ends_with("[att-42]"));
}

#[tokio::test]
async fn send_command_is_not_retried_by_the_sdk() {
    // A 5xx may hide a command that was started: the task's list-before-send is the retry.
    let rule = mock!(aws_sdk_ssm::Client::send_command)
        .sequence()
        .http_status(500, Some(json_error("InternalServerError", "boom")))
        .output(|| SendCommandOutput::builder().build())
        .build();
    let err = ssm(&[&rule]).send_command(&send_input()).await.unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Transient);
    assert_eq!(err.code, "InternalServerError");
    assert_eq!(err.message, "boom");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn ssm_throttling_maps_to_throttled() {
    let rule = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .sequence()
        .http_status(
            400,
            Some(json_error("ThrottlingException", "Rate exceeded")),
        )
        .repeatedly()
        .build();
    let err = ssm(&[&rule])
        .get_command_invocation("cmd-1", "i-0abc")
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Throttled);
    assert_eq!(err.code, "ThrottlingException");
    assert_eq!(err.operation, "GetCommandInvocation");
    assert_eq!(rule.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn get_command_invocation_asks_for_command_and_instance() {
    let rule = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(|req| {
            req.command_id() == Some("cmd-1") && req.instance_id() == Some("i-0abc")
        })
        .then_output(|| {
            GetCommandInvocationOutput::builder()
                .command_id("cmd-1")
                .instance_id("i-0abc")
                .status(CommandInvocationStatus::TimedOut)
                .build()
        });
    let invocation = ssm(&[&rule])
        .get_command_invocation("cmd-1", "i-0abc")
        .await
        .unwrap();
    assert_eq!(invocation.command_id, "cmd-1");
    assert_eq!(invocation.instance_id, "i-0abc");
    assert_eq!(invocation.status, "TimedOut");
}

#[tokio::test]
async fn an_unknown_invocation_is_a_permanent_error() {
    let rule = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .sequence()
        .http_status(400, Some(json_error("InvocationDoesNotExist", "")))
        .build();
    let err = ssm(&[&rule])
        .get_command_invocation("cmd-x", "i-0abc")
        .await
        .unwrap_err();
    assert_eq!(err.kind, AwsErrorKind::Permanent);
    assert_eq!(err.code, "InvocationDoesNotExist");
}

#[tokio::test]
async fn find_command_pages_until_the_tag_and_filters_by_instance() {
    let seen = Seen::<ListCommandsInput>::default();
    let s = seen.clone();
    let rule = mock!(aws_sdk_ssm::Client::list_commands).then_compute_output(move |req| {
        s.push(req);
        match req.next_token() {
            None => ListCommandsOutput::builder()
                .commands(command("cmd-9", "asg-lifecycle drain [att-99]", 900))
                .commands(command("cmd-8", "by hand", 800))
                .next_token("page-2")
                .build(),
            Some("page-2") => ListCommandsOutput::builder()
                .commands(command("cmd-5", "asg-lifecycle join [att-42]", 500))
                .next_token("page-3")
                .build(),
            Some(other) => panic!("unexpected token {other}"),
        }
    });
    let found = ssm(&[&rule])
        .find_command("i-0abc", "att-42")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("cmd-5"));
    let calls = seen.all();
    assert_eq!(calls.len(), 2, "stops at the page holding the tag");
    assert!(calls.iter().all(|c| c.instance_id() == Some("i-0abc")));
    assert_eq!(calls[1].next_token(), Some("page-2"));
}

#[tokio::test]
async fn find_command_picks_the_newest_tagged_command_of_a_page() {
    let rule = mock!(aws_sdk_ssm::Client::list_commands).then_output(|| {
        ListCommandsOutput::builder()
            .commands(command("cmd-old", "join [att-42]", 100))
            .commands(command("cmd-new", "join [att-42]", 200))
            .build()
    });
    let found = ssm(&[&rule])
        .find_command("i-0abc", "att-42")
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("cmd-new"));
}

#[tokio::test]
async fn find_command_answers_none_after_the_last_page() {
    let rule = mock!(aws_sdk_ssm::Client::list_commands).then_compute_output(|req| {
        let builder = ListCommandsOutput::builder().commands(command("cmd-1", "other [att-1]", 1));
        if req.next_token().is_none() {
            builder.next_token("page-2").build()
        } else {
            builder.build()
        }
    });
    let found = ssm(&[&rule])
        .find_command("i-0abc", "att-42")
        .await
        .unwrap();
    assert_eq!(found, None);
    assert_eq!(rule.num_calls(), 2);
}
