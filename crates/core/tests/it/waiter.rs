//! Waiter semantics against a scripted operation, with paused time (no real sleeping).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asg_lifecycle::waiter::{
    AcceptorState, CallError, Error, Operation, OperationError, Operations, Origin, Probe,
    Registry, Response, WaitOptions, WaiterModel,
};
use async_trait::async_trait;
use serde_json::{Map, Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Answers from a script (the last answer repeats) and records every input and call time.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<Value, CallError>>>,
    calls: Mutex<Vec<(Value, Instant)>>,
}

impl Scripted {
    fn new(answers: Vec<Result<Value, CallError>>) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into()),
            calls: Mutex::default(),
        })
    }

    fn inputs(&self) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(v, _)| v.clone())
            .collect()
    }

    fn times(&self, start: Instant) -> Vec<u64> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| (*t - start).as_secs())
            .collect()
    }
}

#[async_trait]
impl Operation for Scripted {
    async fn call(&self, input: &Value) -> Result<Value, CallError> {
        self.calls
            .lock()
            .unwrap()
            .push((input.clone(), Instant::now()));
        let mut answers = self.answers.lock().unwrap();
        if answers.len() > 1 {
            answers.pop_front().unwrap()
        } else {
            answers.front().cloned().expect("a scripted answer")
        }
    }
}

fn status(s: &str) -> Result<Value, CallError> {
    Ok(json!({ "Status": s }))
}

fn service_error(code: &str) -> Result<Value, CallError> {
    Err(CallError::Service(OperationError {
        code: code.into(),
        message: "scripted".into(),
        http_status: Some(400),
    }))
}

fn registry_with(name: &str, op: Arc<Scripted>) -> Registry {
    Registry::builtin().with_operations(Operations::new().with(name, op))
}

fn params(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn command_params() -> Map<String, Value> {
    params(json!({"CommandId": "c-1", "InstanceId": "i-1"}))
}

#[tokio::test(start_paused = true)]
async fn command_waiter_retries_until_success_at_the_model_delay() {
    let op = Scripted::new(vec![
        service_error("InvocationDoesNotExist"),
        status("Pending"),
        status("InProgress"),
        status("Success"),
    ]);
    let registry = registry_with("GetCommandInvocation", op.clone());
    let waiter = registry.get_waiter("CommandInvocationComplete").unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let start = Instant::now();
    let done = waiter
        .wait(
            &command_params(),
            &WaitOptions::default()
                .on_attempt(move |a| sink.lock().unwrap().push(a.status.clone())),
        )
        .await
        .unwrap();
    assert_eq!(done.state, Some(AcceptorState::Success));
    assert_eq!(op.times(start), [0, 5, 10, 15]);
    assert_eq!(
        op.inputs()[0],
        json!({"CommandId": "c-1", "InstanceId": "i-1"})
    );
    let lines = lines.lock().unwrap();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0],
        "waiter CommandInvocationComplete attempt 1/60: retry (error = \"InvocationDoesNotExist\")"
    );
    assert_eq!(
        lines[3],
        "waiter CommandInvocationComplete attempt 4/60: success (Status = \"Success\")"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failure_state_ends_the_wait_with_the_last_response() {
    let op = Scripted::new(vec![status("InProgress"), status("Failed")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let err = waiter
        .wait(&command_params(), &WaitOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Failure { attempts: 2, .. }), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert_eq!(
        err.last_response(),
        Some(Response::Output(json!({"Status": "Failed"})))
    );
}

#[tokio::test(start_paused = true)]
async fn running_out_of_attempts_is_distinct_from_failure_and_overrides_apply() {
    let op = Scripted::new(vec![status("InProgress")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let start = Instant::now();
    let options = WaitOptions::default()
        .delay(Duration::from_secs(1))
        .max_attempts(3);
    let err = waiter.wait(&command_params(), &options).await.unwrap_err();
    assert!(
        matches!(err, Error::MaxAttempts { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.last_response(),
        Some(Response::Output(json!({"Status": "InProgress"})))
    );
    assert_eq!(
        op.times(start),
        [0, 1, 2],
        "the delay override replaces the model's 5 s"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unmatched_error_response_fails_at_once() {
    let op = Scripted::new(vec![service_error("AccessDeniedException")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let err = waiter
        .wait(&command_params(), &WaitOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnexpectedError { attempts: 1, .. }),
        "{err}"
    );
    assert_eq!(err.exit_code(), 3);
    assert_eq!(op.inputs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_unmatched_normal_response_means_retry() {
    let op = Scripted::new(vec![status("SomethingNew"), status("Success")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let done = waiter
        .wait(&command_params(), &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(done.number, 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_cannot_be_made_is_an_unexpected_error() {
    let op = Scripted::new(vec![Err(CallError::Dispatch("connection refused".into()))]);
    let waiter = registry_with("GetCommandInvocation", op)
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let err = waiter
        .wait(&command_params(), &WaitOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Call { .. }), "{err}");
    assert_eq!(err.exit_code(), 3);
}

#[tokio::test(start_paused = true)]
async fn record_waiter_substitutes_the_status_and_does_not_send_it() {
    let item = |s: &str| Ok(json!({"Item": {"Ident": {"S": "i-1"}, "ItemStatus": {"S": s}}}));
    let op = Scripted::new(vec![Ok(json!({})), item("new"), item("ready")]);
    let waiter = registry_with("GetItem", op.clone())
        .get_waiter("RecordReachedStatus")
        .unwrap();
    let p =
        params(json!({"TableName": "t", "Key": {"Ident": {"S": "i-1"}}, "ItemStatus": "ready"}));
    let done = waiter.wait(&p, &WaitOptions::default()).await.unwrap();
    assert_eq!(done.number, 3);
    assert_eq!(
        op.inputs()[0],
        json!({"TableName": "t", "Key": {"Ident": {"S": "i-1"}}})
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_parameter_is_an_error_before_any_retry() {
    let op = Scripted::new(vec![Ok(json!({"Item": {"ItemStatus": {"S": ""}}}))]);
    let waiter = registry_with("GetItem", op.clone())
        .get_waiter("RecordReachedStatus")
        .unwrap();
    let p = params(json!({"TableName": "t", "Key": {"Ident": {"S": "i-1"}}}));
    let err = waiter.wait(&p, &WaitOptions::default()).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingParameter { parameter, .. } if parameter == "ItemStatus"),
        "{err}"
    );
    assert_eq!(op.inputs().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_stops_the_wait_before_an_attempt_it_cannot_fit() {
    let op = Scripted::new(vec![status("InProgress")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let start = Instant::now();
    let options = WaitOptions::default().deadline(start + Duration::from_secs(12));
    let err = waiter.wait(&command_params(), &options).await.unwrap_err();
    assert!(matches!(err, Error::TimedOut { attempts: 3, .. }), "{err}");
    assert_eq!(op.times(start), [0, 5, 10]);
    assert_eq!(
        Instant::now() - start,
        Duration::from_secs(10),
        "no sleeping past the last fit"
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_interrupts_the_delay() {
    let op = Scripted::new(vec![status("InProgress")]);
    let waiter = registry_with("GetCommandInvocation", op.clone())
        .get_waiter("CommandInvocationComplete")
        .unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        cancel.cancel();
    });
    let start = Instant::now();
    let err = waiter
        .wait(&command_params(), &WaitOptions::default().cancel_on(token))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { attempts: 2, .. }), "{err}");
    assert_eq!(Instant::now() - start, Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn a_probe_answers_success_retry_or_failure_in_one_attempt() {
    let cases = [
        (status("Success"), "success"),
        (status("InProgress"), "retry"),
        (status("Unheard"), "retry"),
        (status("TimedOut"), "failure"),
    ];
    for (answer, want) in cases {
        let op = Scripted::new(vec![answer]);
        let waiter = registry_with("GetCommandInvocation", op.clone())
            .get_waiter("CommandInvocationComplete")
            .unwrap();
        let got = match waiter.probe(&command_params()).await.unwrap() {
            Probe::Success(_) => "success",
            Probe::Retry(_) => "retry",
            Probe::Failure(_) => "failure",
        };
        assert_eq!(got, want);
        assert_eq!(op.inputs().len(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_waiter_overrides_a_built_in_one_of_the_same_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("waiters.json");
    std::fs::write(
        &path,
        r#"{"version": 2, "waiters": {"CommandInvocationComplete": {
            "operation": "GetCommandInvocation", "delay": 1, "maxAttempts": 2,
            "acceptors": [{"state": "success", "matcher": "path", "argument": "Status",
                           "expected": "InProgress"}]}}}"#,
    )
    .unwrap();
    let op = Scripted::new(vec![status("InProgress")]);
    let mut registry = registry_with("GetCommandInvocation", op);
    registry.load_file(&path).unwrap();
    let (config, origin) = registry
        .iter()
        .find(|(c, _)| c.name == "CommandInvocationComplete")
        .unwrap();
    assert_eq!(config.max_attempts, 2);
    assert_eq!(origin, &Origin::File(path.display().to_string()));
    assert!(
        registry
            .iter()
            .any(|(c, o)| c.name == "InstanceInService" && *o == Origin::Builtin)
    );
    let waiter = registry.get_waiter("CommandInvocationComplete").unwrap();
    let done = waiter
        .wait(&command_params(), &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(done.number, 1);
}

#[test]
fn unknown_waiters_and_operations_are_reported_by_name() {
    let registry = Registry::builtin();
    let err = registry.get_waiter("Nope").unwrap_err();
    assert!(err.to_string().contains("unknown waiter `Nope`"), "{err}");
    let err = registry.get_waiter("InstanceInService").unwrap_err();
    assert!(
        err.to_string().contains("DescribeAutoScalingInstances"),
        "{err}"
    );
}

#[test]
fn a_bad_yaml_waiter_file_gives_every_problem_located() {
    let text = "\
version: 2
waiters:
  Broken:
    operation: GetItem
    delay: -1
    maxAttempts: 3
    acceptors:
      - state: succes
        matcher: path
        argument: Item.ItemStatus.S
        expected: ready
      - state: retry
        matcher: pathAll
        argument: 'Items[?'
        expected: x
      - state: retry
        matcher: error
        expected: 5
        colour: red
";
    let report = WaiterModel::parse("w.yaml", text).unwrap_err();
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "w.yaml:5:12: error[invalid-value]: `delay` must be a number of seconds from 0 to 3153600000",
            "w.yaml:8:16: error[invalid-value]: `state` must be success, failure or retry",
            "w.yaml:14:19: error[invalid-expression]: `Items[?` is not a valid JMESPath expression: \
             Parse error: Unexpected nud token -- found Eof",
            "w.yaml:18:19: error[invalid-value]: `expected` of the `error` acceptor must be an \
             error code, true or false",
            "w.yaml:19:9: error[unknown-key]: unknown key `colour` in an acceptor (expected one of: \
             state, matcher, argument, expected)",
        ]
    );
}

#[test]
fn a_bad_json_waiter_file_gives_a_located_error() {
    let report = WaiterModel::parse("w.json", "{\"version\": 2,\n \"waiters\": {,}}").unwrap_err();
    assert_eq!(report.problems.len(), 1);
    let line = report.problems[0].to_string();
    assert!(
        line.starts_with("w.json:2:14: error[parse-error]: invalid JSON"),
        "{line}"
    );
    let report = WaiterModel::parse(
        "w.json",
        "{\"version\": 1,\n \"waiters\": {\"A\": {\"operation\": \"GetItem\", \"delay\": 1,\n \
         \"maxAttempts\": 1, \"acceptors\": []}}}",
    )
    .unwrap_err();
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "w.json:1:13: error[unsupported-version]: only waiter model `version: 2` is supported",
            "w.json:3:33: error[invalid-value]: `acceptors` must be a non-empty list",
        ]
    );
}

#[test]
fn the_built_in_waiters_are_the_four_the_handler_needs() {
    let names: Vec<_> = Registry::builtin()
        .iter()
        .map(|(c, _)| c.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "CommandInvocationComplete",
            "InstanceInService",
            "InstanceTerminated",
            "RecordReachedStatus"
        ]
    );
}
