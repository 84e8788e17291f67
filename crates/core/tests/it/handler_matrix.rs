//! The original library's test matrix, on our engine: conditions and `unless`, `ignore_errors`,
//! the failure chain, stop flags, internal transitions, list sources and scheduled flows.

use std::sync::Arc;

use asg_lifecycle::handler::{HandlerError, OutcomeKind};
use asg_lifecycle::machine::{FileModel, Machine, Model, ModelSpec};
use asg_lifecycle::tasks::{Condition, ConditionContext};
use asg_lifecycle::testing::{Harness, launch, scheduled, terminate};

/// A file model plus a condition that always fails to evaluate.
struct WithBrokenCondition(FileModel);

impl Model for WithBrokenCondition {
    fn transitions(&self) -> ModelSpec {
        self.0.transitions()
    }

    fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
        let broken = |_: ConditionContext<'_>, _: &serde_json::Value| -> Result<bool, String> {
            Err("the inventory service is down".into())
        };
        vec![("broken".to_string(), Arc::new(broken))]
    }
}

const HEAD: &str = "initial: a\nfailure: failure\nterminal: [done, abandoned]\n";

fn model(states: &str, transitions: &str) -> Harness {
    let failure = "  - source: failure\n    dest: abandoned\n    triggers:\n      - name: abandon\n        before: [{complete_lifecycle_action: {result: ABANDON}}]\n";
    Harness::builder()
        .model_yaml(&format!(
            "{HEAD}states: [{states}, failure, abandoned]\ntransitions:\n{transitions}{failure}"
        ))
        .build()
}

#[tokio::test]
async fn conditions_all_hold_for_the_trigger_to_fire() {
    let h = model(
        "a, b, c, done",
        "  - source: a\n    dest: b\n    triggers:\n      - name: to_b\n        conditions: [is_launching, {attribute_equals: {name: Role, value: worker}}]\n  - source: a\n    dest: c\n    triggers:\n      - name: to_c\n        conditions: [is_launching]\n  - source: [b, c]\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n",
    );
    h.seed_registered("i-1", "a").await;
    let outcome = h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(
        outcome.to.as_deref(),
        Some("c"),
        "Role is not worker: to_b is blocked, to_c fires"
    );
    assert_eq!(h.path("i-1").await, ["a>c"]);
}

#[tokio::test]
async fn unless_blocks_a_trigger_when_it_holds() {
    let h = model(
        "a, b, c, done",
        "  - source: a\n    dest: b\n    triggers:\n      - name: to_b\n        conditions: [is_launching]\n        unless: [{has_attribute: {name: InstanceIp}}]\n  - source: a\n    dest: c\n    triggers:\n      - name: to_c\n        conditions: [is_launching, {has_attribute: {name: InstanceIp}}]\n  - source: [b, c]\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n",
    );
    h.seed_registered("i-1", "a").await;
    h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(h.path("i-1").await, ["a>c"]);
}

fn error_model(where_: &str, ignore: bool) -> Harness {
    let trigger = match where_ {
        "before" => "before: [{fail: {message: boom}}]".to_string(),
        "after" => "after: [{fail: {message: boom}}]".to_string(),
        "condition" => "conditions: [broken]".to_string(),
        "unless" => "unless: [broken]".to_string(),
        _ => unreachable!(),
    };
    let text = format!(
        "{HEAD}states: [a, b, done, failure, abandoned]\ntransitions:\n  - source: a\n    dest: b\n    triggers:\n      - name: go\n        ignore_errors: {ignore}\n        {trigger}\n  - source: b\n    dest: done\n    triggers: [{{name: finish, conditions: [is_terminating]}}]\n  - source: failure\n    dest: abandoned\n    triggers: [{{name: abandon, before: [{{complete_lifecycle_action: {{result: ABANDON}}}}]}}]\n"
    );
    let model = WithBrokenCondition(FileModel::parse("test.yaml", &text).unwrap());
    Harness::builder()
        .machine(Machine::from_model(&model).unwrap_or_else(|r| panic!("{r}")))
        .build()
}

#[tokio::test]
async fn ignore_errors_lets_the_transition_proceed_past_each_kind_of_error() {
    for where_ in ["before", "after", "condition", "unless"] {
        let h = error_model(where_, true);
        h.seed_registered("i-1", "a").await;
        let outcome = h.deliver_ok(&launch("e1", "i-1")).await;
        assert_eq!(h.path("i-1").await, ["a>b"], "{where_}");
        assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{where_}");
        assert_eq!(outcome.ignored_errors.len(), 1, "{where_}: {outcome:?}");
        assert!(h.record("i-1").await.last_error.is_none(), "{where_}");
    }
}

#[tokio::test]
async fn without_ignore_errors_each_kind_of_error_runs_the_failure_chain() {
    for where_ in ["before", "after", "condition", "unless"] {
        let h = error_model(where_, false);
        h.seed_registered("i-1", "a").await;
        let outcome = h.deliver_ok(&launch("e1", "i-1")).await;
        let expected: &[&str] = if where_ == "after" {
            // The transition was written before its after task failed.
            &["a>b", "b>failure", "failure>abandoned"]
        } else {
            &["a>failure", "failure>abandoned"]
        };
        assert_eq!(h.path("i-1").await, expected, "{where_}");
        assert_eq!(outcome.outcome, OutcomeKind::Failed, "{where_}");
        let record = h.record("i-1").await;
        let error = record.last_error.clone().expect("error recorded");
        let expected = if where_ == "before" || where_ == "after" {
            "boom"
        } else {
            "inventory service is down"
        };
        assert!(error.contains(expected), "{where_}: {error}");
        let abandon = h
            .aws
            .calls()
            .into_iter()
            .find(|c| c.operation == "CompleteLifecycleAction")
            .expect("abandoned");
        assert_eq!(abandon.input["result"], "ABANDON", "{where_}");
        assert!(
            record.in_flight.is_none() && record.has_processed("e1"),
            "{where_}"
        );
    }
}

#[tokio::test]
async fn an_error_inside_failure_handling_is_returned_to_the_caller() {
    let h = Harness::builder().model_yaml(&format!(
        "{HEAD}states: [a, b, done, failure, abandoned]\ntransitions:\n  - source: a\n    dest: b\n    triggers: [{{name: go, before: [fail]}}]\n  - source: b\n    dest: done\n    triggers: [{{name: finish}}]\n  - source: failure\n    dest: abandoned\n    triggers: [{{name: abandon, before: [{{fail: {{message: cannot abandon}}}}]}}]\n"
    )).build();
    h.seed_registered("i-1", "a").await;
    let err = h.deliver(&launch("e1", "i-1")).await.unwrap_err();
    assert!(matches!(err, HandlerError::FailureHandling { .. }), "{err}");
    assert!(err.to_string().contains("cannot abandon"));
    assert!(!err.is_retryable());
    assert_eq!(
        h.state("i-1").await,
        "failure",
        "the move to failure is persisted"
    );
}

#[tokio::test]
async fn stop_after_state_change_ends_the_chain_until_the_next_event() {
    let h = model(
        "a, b, done",
        "  - source: a\n    dest: b\n    triggers: [{name: go, stop_after_state_change: true}]\n  - source: b\n    dest: done\n    triggers: [{name: finish}]\n",
    );
    h.seed_registered("i-1", "a").await;
    h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(h.path("i-1").await, ["a>b"]);
    h.deliver_ok(&scheduled("e2", "tick")).await;
    assert_eq!(h.path("i-1").await, ["a>b", "b>done"]);
}

#[tokio::test]
async fn stop_after_trigger_ends_the_chain_even_for_an_internal_transition() {
    let h = model(
        "a, done",
        "  - source: a\n    triggers: [{name: note, conditions: [is_launching], stop_after_trigger: true, before: [{log: {message: hi}}]}]\n  - source: a\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n",
    );
    h.seed_registered("i-1", "a").await;
    let outcome = h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(h.path("i-1").await, ["a>a"]);
    assert_eq!(outcome.to.as_deref(), Some("a"));
    assert!(h.record("i-1").await.has_processed("e1"));
}

#[tokio::test]
async fn internal_transition_runs_tasks_and_keeps_the_state() {
    let h = model(
        "a, done",
        "  - source: a\n    triggers: [{name: heartbeat, conditions: [is_launching], before: [record_lifecycle_action_heartbeat]}]\n  - source: a\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n",
    );
    h.seed_registered("i-1", "a").await;
    let outcome = h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(h.state("i-1").await, "a");
    assert_eq!(outcome.transitions.len(), 1);
    assert_eq!(h.operations(), ["RecordLifecycleActionHeartbeat"]);
    // The same event again is a duplicate: no second heartbeat.
    assert_eq!(
        h.deliver_ok(&launch("e1", "i-1")).await.outcome,
        OutcomeKind::Duplicate
    );
    assert_eq!(h.operations().len(), 1);
}

#[tokio::test]
async fn a_list_source_lets_the_trigger_leave_any_of_its_states() {
    for start in ["a", "b"] {
        let h = model(
            "a, b, done",
            "  - source: [a, b]\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n  - source: a\n    dest: b\n    triggers: [{name: go, conditions: [is_launching]}]\n",
        );
        // Only a pending or the initial state comes from a registration: `b` is the handler's.
        let mut record = asg_lifecycle::record::InstanceRecord::new("i-1");
        record.status = Some(start.to_string());
        record.version = 1;
        h.store.put(record);
        h.deliver_ok(&terminate("e1", "i-1")).await;
        assert_eq!(h.path("i-1").await, [format!("{start}>done")]);
    }
}

#[tokio::test]
async fn a_scheduled_event_named_after_a_state_runs_that_flow() {
    let h = Harness::builder().model_yaml("initial: ready\nfailure: failure\nterminal: [abandoned, gone]\nstable: [ready]\nstates: [ready, backup, backup_prepare, backing_up, failure, abandoned, gone]\ntransitions:\n  - source: ready\n    dest: backup\n    triggers: [{name: start_backup, conditions: [is_scheduled]}]\n  - source: ready\n    dest: gone\n    triggers: [{name: leave, conditions: [is_terminating]}]\n  - source: backup\n    dest: backup_prepare\n    triggers: [{name: prepare}]\n  - source: backup_prepare\n    dest: backing_up\n    triggers: [{name: run}]\n  - source: backing_up\n    dest: ready\n    triggers: [{name: backed_up, conditions: [command_succeeded]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n").build();
    h.seed_registered("i-1", "ready").await;
    // The record must be in the active index for scheduled events to find it.
    h.deliver_ok(&launch("seed", "i-1")).await;
    assert_eq!(
        h.state("i-1").await,
        "ready",
        "a launch does not start a backup"
    );
    let outcomes = h.deliver(&scheduled("s1", "backup")).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(
        h.path("i-1").await,
        [
            "ready>backup",
            "backup>backup_prepare",
            "backup_prepare>backing_up"
        ]
    );
}

#[tokio::test]
async fn a_scheduled_event_for_another_rule_leaves_a_resting_instance_alone() {
    let h = Harness::builder().build();
    h.seed_registered("i-1", "finished_cloud_init").await;
    h.deliver_ok(&launch("e1", "i-1")).await;
    let before = h.path("i-1").await;
    let outcomes = h.deliver(&scheduled("s1", "nightly-report")).await.unwrap();
    assert!(
        outcomes.iter().all(|o| o.transitions.is_empty()),
        "{outcomes:?}"
    );
    assert_eq!(h.path("i-1").await, before);
}

#[tokio::test]
async fn a_chain_written_once_indexes_the_record_under_the_group_its_event_names() {
    // No tasks: the launch event's whole chain is one write, which also records the group the
    // event names; the record is indexed under that group, not under `-`.
    let h = model(
        "a, b, c, done",
        "  - source: a\n    dest: b\n    triggers: [{name: to_b, conditions: [is_launching]}]\n  - source: b\n    dest: c\n    triggers: [{name: to_c, conditions: [is_launching]}]\n  - source: c\n    dest: done\n    triggers: [{name: finish, conditions: [is_terminating]}]\n",
    );
    h.seed_registered("i-1", "a").await;
    let before = h.record("i-1").await;
    assert_eq!(before.group, None, "cloud-init wrote no group");
    h.deliver_ok(&launch("e1", "i-1")).await;
    assert_eq!(h.path("i-1").await, ["a>b", "b>c"]);
    let record = h.record("i-1").await;
    assert_eq!(record.group.as_deref(), Some("web-asg"));
    assert_eq!(record.active_group.as_deref(), Some("web-asg"));
}
