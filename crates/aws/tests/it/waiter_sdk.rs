//! Request and response shapes of the SDK-backed waiter operations, at the SDK boundary
//! (`aws-smithy-mocks`; error responses go through the SDK's real wire parsing).

use std::collections::HashMap;

use asg_lifecycle::waiter::{CallError, Operation, OperationError};
use asg_lifecycle_aws::{
    DescribeAutoScalingInstances, GetCommandInvocation, GetItem, parse_attribute, render_attribute,
};
use aws_sdk_autoscaling::operation::describe_auto_scaling_instances::DescribeAutoScalingInstancesOutput;
use aws_sdk_autoscaling::types::AutoScalingInstanceDetails;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_ssm::operation::get_command_invocation::GetCommandInvocationOutput;
use aws_sdk_ssm::types::CommandInvocationStatus;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use serde_json::json;

/// `mock_client!` without the SDK crates' `test-util` feature (which would build every SDK crate
/// a second time): the same interceptor and mock HTTP client, with explicit test settings.
macro_rules! client {
    ($sdk:ident, $rules:expr) => {{
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new("us-east-1"))
            .credentials_provider($sdk::config::Credentials::new("x", "x", None, None, "test"))
            .http_client(create_mock_http_client())
            .interceptor(interceptor)
            .build();
        $sdk::Client::from_conf(config)
    }};
}

fn item(status: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("Ident".to_string(), AttributeValue::S("i-1".into())),
        ("ItemStatus".to_string(), AttributeValue::S(status.into())),
        ("Version".to_string(), AttributeValue::N("3".into())),
    ])
}

#[tokio::test]
async fn get_item_sends_the_api_input_and_renders_the_item_in_api_json() {
    let rule: Rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|req| {
            req.table_name() == Some("lifecycle")
                && req.key()
                    == Some(&HashMap::from([(
                        "Ident".to_string(),
                        AttributeValue::S("i-1".into()),
                    )]))
                && req.consistent_read() == Some(true)
        })
        .then_output(|| {
            GetItemOutput::builder()
                .set_item(Some(item("ready")))
                .build()
        });
    let op = GetItem(client!(aws_sdk_dynamodb, [&rule]));
    let out = op
        .call(&json!({"TableName": "lifecycle", "Key": {"Ident": {"S": "i-1"}}, "ConsistentRead": true}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"Item": {"Ident": {"S": "i-1"}, "ItemStatus": {"S": "ready"}, "Version": {"N": "3"}}})
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn get_item_without_an_item_renders_an_empty_object() {
    let rule =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let op = GetItem(client!(aws_sdk_dynamodb, [&rule]));
    let out = op
        .call(&json!({"TableName": "t", "Key": {"Ident": {"S": "i-9"}}}))
        .await
        .unwrap();
    assert_eq!(out, json!({}));
}

#[tokio::test]
async fn get_item_error_becomes_code_message_and_http_status() {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(400, Some(body.to_string()))
        .build();
    let op = GetItem(client!(aws_sdk_dynamodb, [&rule]));
    let err = op
        .call(&json!({"TableName": "nope", "Key": {"Ident": {"S": "i-1"}}}))
        .await
        .unwrap_err();
    let CallError::Service(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        e,
        OperationError {
            code: "ResourceNotFoundException".into(),
            message: "Requested resource not found".into(),
            http_status: Some(400),
        }
    );
    assert_eq!(
        e.to_json(),
        json!({"Error": {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}})
    );
}

#[tokio::test]
async fn bad_input_is_rejected_before_any_request() {
    let rule =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let op = GetItem(client!(aws_sdk_dynamodb, [&rule]));
    for input in [
        json!({"Key": {"Ident": {"S": "i-1"}}}),
        json!({"TableName": "t", "Key": {"Ident": "i-1"}}),
        json!({"TableName": "t", "Key": {"Ident": {"S": "i-1"}}, "Tabel": "x"}),
    ] {
        let err = op.call(&input).await.unwrap_err();
        assert!(
            matches!(err, CallError::InvalidInput(_)),
            "{input}: {err:?}"
        );
    }
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn get_command_invocation_renders_status_and_maps_errors() {
    let ok = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .match_requests(|req| req.command_id() == Some("c-1") && req.instance_id() == Some("i-1"))
        .then_output(|| {
            GetCommandInvocationOutput::builder()
                .command_id("c-1")
                .instance_id("i-1")
                .status(CommandInvocationStatus::InProgress)
                .response_code(-1)
                .build()
        });
    let op = GetCommandInvocation(client!(aws_sdk_ssm, [&ok]));
    let out = op
        .call(&json!({"CommandId": "c-1", "InstanceId": "i-1"}))
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({"CommandId": "c-1", "InstanceId": "i-1", "ResponseCode": -1, "Status": "InProgress"})
    );

    let missing = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"InvocationDoesNotExist","message":"no such"}"#.into()),
        )
        .build();
    let op = GetCommandInvocation(client!(aws_sdk_ssm, [&missing]));
    let err = op
        .call(&json!({"CommandId": "c-1", "InstanceId": "i-1"}))
        .await
        .unwrap_err();
    let CallError::Service(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (e.code.as_str(), e.http_status),
        ("InvocationDoesNotExist", Some(400))
    );
}

#[tokio::test]
async fn describe_auto_scaling_instances_sends_ids_and_renders_instances() {
    let rule = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .match_requests(|req| req.instance_ids() == ["i-1".to_string()])
        .then_output(|| {
            DescribeAutoScalingInstancesOutput::builder()
                .auto_scaling_instances(
                    AutoScalingInstanceDetails::builder()
                        .instance_id("i-1")
                        .auto_scaling_group_name("web")
                        .availability_zone("us-east-1a")
                        .lifecycle_state("InService")
                        .health_status("HEALTHY")
                        .protected_from_scale_in(false)
                        .build(),
                )
                .build()
        });
    let op = DescribeAutoScalingInstances(client!(aws_sdk_autoscaling, [&rule]));
    for input in [
        json!({"InstanceIds": ["i-1"]}),
        json!({"InstanceIds": "i-1"}),
    ] {
        let out = op.call(&input).await.unwrap();
        assert_eq!(
            out,
            json!({"AutoScalingInstances": [{
                "InstanceId": "i-1", "AutoScalingGroupName": "web", "AvailabilityZone": "us-east-1a",
                "LifecycleState": "InService", "HealthStatus": "HEALTHY", "ProtectedFromScaleIn": false
            }]})
        );
    }
    assert_eq!(rule.num_calls(), 2);

    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>\
                <Message>bad id</Message></Error><RequestId>r</RequestId></ErrorResponse>";
    let bad = mock!(aws_sdk_autoscaling::Client::describe_auto_scaling_instances)
        .sequence()
        .http_status(400, Some(body.into()))
        .build();
    let op = DescribeAutoScalingInstances(client!(aws_sdk_autoscaling, [&bad]));
    let err = op.call(&json!({"InstanceIds": ["x"]})).await.unwrap_err();
    let CallError::Service(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("ValidationError", "bad id")
    );
}

#[test]
fn attribute_values_round_trip_through_api_json() {
    let value = json!({"M": {
        "s": {"S": "x"}, "n": {"N": "1.5"}, "b": {"B": "aGk="}, "t": {"BOOL": true},
        "z": {"NULL": true}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1"]}, "bs": {"BS": ["aGk="]},
        "l": {"L": [{"S": "y"}, {"N": "2"}]}
    }});
    let parsed = parse_attribute(&value).unwrap();
    let rendered = render_attribute(&parsed);
    assert_eq!(rendered, value);
    assert!(parse_attribute(&json!({"S": 1})).is_err());
    assert!(parse_attribute(&json!({"S": "a", "N": "1"})).is_err());
}
