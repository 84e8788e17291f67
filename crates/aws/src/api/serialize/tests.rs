//! Requests compared with botocore's serializers (`tests/fixtures/api/requests.json`, written
//! by `scripts/botocore-request-fixtures.py`).

use serde_json::Value;

use super::super::model::ServiceModel;
use super::serialize;

const FIXTURES: &str = include_str!("../../../tests/fixtures/api/requests.json");

#[test]
fn every_protocol_writes_the_request_botocore_writes() {
    let fixtures: Value = serde_json::from_str(FIXTURES).unwrap();
    let cases = fixtures["requests"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let service = case["service"].as_str().unwrap();
        let operation = case["operation"].as_str().unwrap();
        let what = format!("{service} {operation} {}", case["input"]);
        let model = ServiceModel::builtin(service).unwrap();
        let request = serialize(&model, operation, &case["input"]).unwrap();
        assert_eq!(request.method, case["method"], "{what}");
        assert_eq!(request.path, case["path"], "{what}");
        for (name, value) in case["headers"].as_object().unwrap() {
            let ours = request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            assert_eq!(ours, value.as_str(), "{what}: header {name}");
        }
        let body = std::str::from_utf8(&request.body).unwrap();
        let expected = case["body"].as_str().unwrap();
        if expected.starts_with('{') {
            let ours: Value = serde_json::from_str(body).unwrap();
            let theirs: Value = serde_json::from_str(expected).unwrap();
            assert_eq!(ours, theirs, "{what}");
        } else {
            assert_eq!(body, expected, "{what}");
        }
    }
}

#[test]
fn a_json_body_keeps_the_input_order_and_encodes_timestamps_as_epoch_seconds() {
    let model = ServiceModel::builtin("ssm").unwrap();
    let input = serde_json::json!({"Filters": [{"key": "Status", "value": "Success"}],
        "MaxResults": 5});
    let request = serialize(&model, "ListCommands", &input).unwrap();
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap(),
        r#"{"Filters":[{"key":"Status","value":"Success"}],"MaxResults":5}"#
    );
    let model = ServiceModel::builtin("dynamodb").unwrap();
    let input = serde_json::json!({"TableName": "t", "TimeRangeLowerBound": "2024-05-01T10:00:00Z",
        "TimeRangeUpperBound": 1_714_557_600.5});
    let request = serialize(&model, "ListBackups", &input).unwrap();
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap(),
        r#"{"TableName":"t","TimeRangeLowerBound":1714557600,"TimeRangeUpperBound":1714557600.5}"#
    );
}

#[test]
fn maps_flattened_lists_greedy_labels_and_header_maps_are_written_as_botocore_writes_them() {
    let fixtures: Value = serde_json::from_str(FIXTURES).unwrap();
    let cases = fixtures["synthetic"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let model = serde_json::to_vec(&case["model"]).unwrap();
        let model = ServiceModel::from_json("synthetic", &model).unwrap();
        let operation = case["operation"].as_str().unwrap();
        let what = format!("{operation} {}", case["input"]);
        let request = serialize(&model, operation, &case["input"]).unwrap();
        assert_eq!(request.method, case["method"], "{what}");
        assert_eq!(request.path, case["path"], "{what}");
        assert_eq!(
            std::str::from_utf8(&request.body).unwrap(),
            case["body"],
            "{what}"
        );
        for (name, value) in case["headers"].as_object().unwrap() {
            let ours = request
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str());
            assert_eq!(ours, value.as_str(), "{what}: header {name}");
        }
    }
}
