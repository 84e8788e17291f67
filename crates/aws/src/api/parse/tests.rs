//! Responses read into the API's JSON shape, and error responses, per protocol.

use serde_json::json;

use super::super::model::ServiceModel;
use super::{Response, parse_error, parse_output};

fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    Response {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn a_query_response_is_read_from_its_result_wrapper_with_member_lists() {
    let model = ServiceModel::builtin("autoscaling").unwrap();
    let body = r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>web</AutoScalingGroupName>
        <MinSize>1</MinSize>
        <CreatedTime>2024-05-01T10:00:00.000Z</CreatedTime>
        <NewInstancesProtectedFromScaleIn>false</NewInstancesProtectedFromScaleIn>
        <Instances>
          <member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState></member>
          <member><InstanceId>i-2</InstanceId><LifecycleState>Pending</LifecycleState></member>
        </Instances>
        <AvailabilityZones/>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</DescribeAutoScalingGroupsResponse>"#;
    let output = parse_output(
        &model,
        "DescribeAutoScalingGroups",
        &response(200, &[], body),
    )
    .unwrap();
    assert_eq!(
        output,
        json!({"AutoScalingGroups": [{
            "AutoScalingGroupName": "web", "MinSize": 1,
            "AvailabilityZones": [],
            "Instances": [{"InstanceId": "i-1", "LifecycleState": "InService"},
                          {"InstanceId": "i-2", "LifecycleState": "Pending"}],
            "CreatedTime": "2024-05-01T10:00:00Z",
            "NewInstancesProtectedFromScaleIn": false}]})
    );
}

#[test]
fn an_ec2_response_maps_location_names_and_item_lists() {
    let model = ServiceModel::builtin("ec2").unwrap();
    let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r-1</requestId>
  <reservationSet>
    <item>
      <reservationId>r-0</reservationId>
      <instancesSet>
        <item>
          <instanceId>i-1</instanceId>
          <instanceState><code>16</code><name>running</name></instanceState>
          <tagSet><item><key>Name</key><value>web</value></item></tagSet>
        </item>
      </instancesSet>
    </item>
  </reservationSet>
</DescribeInstancesResponse>"#;
    let output = parse_output(&model, "DescribeInstances", &response(200, &[], body)).unwrap();
    assert_eq!(
        output,
        json!({"Reservations": [{"ReservationId": "r-0", "Instances": [{
            "InstanceId": "i-1", "State": {"Code": 16, "Name": "running"},
            "Tags": [{"Key": "Name", "Value": "web"}]}]}]})
    );
}

#[test]
fn a_json_response_keeps_modelled_members_and_renders_epoch_timestamps() {
    let model = ServiceModel::builtin("dynamodb").unwrap();
    let body = r#"{"Table": {"TableName": "t", "TableStatus": "ACTIVE",
        "CreationDateTime": 1714557600.25, "Unmodelled": 1}}"#;
    let output = parse_output(&model, "DescribeTable", &response(200, &[], body)).unwrap();
    assert_eq!(
        output,
        json!({"Table": {"TableName": "t", "TableStatus": "ACTIVE",
            "CreationDateTime": "2024-05-01T10:00:00.250Z"}})
    );
}

#[test]
fn error_responses_give_code_message_and_status_in_every_protocol() {
    let query = ServiceModel::builtin("autoscaling").unwrap();
    let error = parse_error(
        &query,
        &response(
            400,
            &[],
            "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>\
             <Message>bad</Message></Error><RequestId>r</RequestId></ErrorResponse>",
        ),
    );
    assert_eq!(
        (
            error.code.as_str(),
            error.message.as_str(),
            error.http_status
        ),
        ("ValidationError", "bad", Some(400))
    );
    let ec2 = ServiceModel::builtin("ec2").unwrap();
    let error = parse_error(
        &ec2,
        &response(
            400,
            &[],
            "<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code>\
             <Message>gone</Message></Error></Errors><RequestID>r</RequestID></Response>",
        ),
    );
    assert_eq!(error.code, "InvalidInstanceID.NotFound");
    let json_protocol = ServiceModel::builtin("dynamodb").unwrap();
    let error = parse_error(
        &json_protocol,
        &response(
            400,
            &[],
            r#"{"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "no table"}"#,
        ),
    );
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("ResourceNotFoundException", "no table")
    );
    let rest = ServiceModel::builtin("eks").unwrap();
    let error = parse_error(
        &rest,
        &response(
            404,
            &[(
                "x-amzn-errortype",
                "ResourceNotFoundException:http://internal",
            )],
            r#"{"message": "No cluster found"}"#,
        ),
    );
    assert_eq!(
        (
            error.code.as_str(),
            error.message.as_str(),
            error.http_status
        ),
        ("ResourceNotFoundException", "No cluster found", Some(404))
    );
    let error = parse_error(&rest, &response(503, &[], ""));
    assert_eq!(error.code, "503");
}
