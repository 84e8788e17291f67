//! A trigger's `prepare` and `last` tasks, as in the original library: `prepare` runs before
//! the trigger's conditions are evaluated (whether it then fires or not), `last` after its
//! `after` tasks, and also when its tasks failed; a `last` error is never fatal.

use std::sync::{Arc, Mutex};

use asg_lifecycle::handler::OutcomeKind;
use asg_lifecycle::machine::{FileModel, Machine, Model, ModelSpec};
use asg_lifecycle::tasks::{Condition, ConditionContext, Task, TaskContext, TaskError};
use asg_lifecycle::testing::{Harness, launch};
use async_trait::async_trait;
use serde_json::Value;

/// What ran, in order: `task:trigger:arg`.
type Journal = Arc<Mutex<Vec<String>>>;

/// `note: TEXT` records its argument; `fail: {retryable: bool}` fails.
struct Note(Journal);

#[async_trait]
impl Task for Note {
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        self.0
            .lock()
            .unwrap()
            .push(format!("{}:{}", ctx.trigger, args.as_str().unwrap_or("")));
        Ok(())
    }
}

struct Fail(Journal);

#[async_trait]
impl Task for Fail {
    async fn run(&self, ctx: &mut TaskContext<'_>, args: &Value) -> Result<(), TaskError> {
        self.0.lock().unwrap().push(format!("{}:fail", ctx.trigger));
        Err(TaskError {
            task: "fail".into(),
            message: "it broke".into(),
            retryable: args["retryable"].as_bool().unwrap_or(false),
        })
    }
}

/// A condition that records when it is evaluated, so the order against `prepare` shows.
struct Checked(Journal);

impl Condition for Checked {
    fn evaluate(&self, ctx: ConditionContext<'_>, args: &Value) -> Result<bool, String> {
        self.0
            .lock()
            .unwrap()
            .push(format!("{}:checked", ctx.trigger));
        Ok(args.as_bool().unwrap_or(true))
    }
}

struct Callbacks(FileModel, Journal);

impl Model for Callbacks {
    fn transitions(&self) -> ModelSpec {
        self.0.transitions()
    }

    fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
        vec![("checked".into(), Arc::new(Checked(self.1.clone())))]
    }

    fn tasks(&self) -> Vec<(String, Arc<dyn Task>)> {
        vec![
            ("note".into(), Arc::new(Note(self.1.clone()))),
            ("fail".into(), Arc::new(Fail(self.1.clone()))),
        ]
    }
}

const MODEL: &str = r"
initial: booted
failure: failure
terminal: [done, abandoned]
stable: [ready]
states: [booted, ready, done, failure, abandoned]
transitions:
  - source: booted
    dest: done
    triggers:
      - name: never
        prepare: [{note: never-prepare}]
        conditions: [{checked: false}]
        last: [{note: never-last}]
  - source: booted
    dest: ready
    triggers:
      - name: join
        prepare: [{note: prepare}]
        conditions: [is_launching, {checked: true}]
        before: [{note: before}]
        after: [{note: after}]
        last: [{note: last}]
  - source: ready
    dest: done
    triggers: [{name: leave, conditions: [is_terminating]}]
  - source: failure
    dest: abandoned
    triggers: [{name: abandon}]
";

fn harness(model: &str) -> (Harness, Journal) {
    let journal = Journal::default();
    let model = Callbacks(
        FileModel::parse("callbacks.yaml", model).unwrap_or_else(|r| panic!("{r}")),
        journal.clone(),
    );
    let machine = Machine::from_model(&model).unwrap_or_else(|r| panic!("{r}"));
    (Harness::builder().machine(machine).build(), journal)
}

fn journal(journal: &Journal) -> Vec<String> {
    journal.lock().unwrap().clone()
}

#[tokio::test]
async fn prepare_runs_before_the_conditions_and_last_after_the_after_tasks() {
    let (h, j) = harness(MODEL);
    h.seed_registered("i-1", "booted").await;
    let outcome = h.deliver_ok(&launch("l-1", "i-1")).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{outcome:?}");
    assert_eq!(h.state("i-1").await, "ready");
    let ran = journal(&j);
    // Both triggers leaving `booted` are prepared before any condition is evaluated; only the
    // one that fires runs its tasks, `last` after `after`.
    let position = |entry: &str| {
        ran.iter()
            .position(|e| e == entry)
            .unwrap_or_else(|| panic!("`{entry}` did not run: {ran:?}"))
    };
    assert!(
        position("never:never-prepare") < position("never:checked"),
        "{ran:?}"
    );
    assert!(
        position("join:prepare") < position("join:checked"),
        "{ran:?}"
    );
    assert!(
        position("join:checked") < position("join:before"),
        "{ran:?}"
    );
    assert!(position("join:before") < position("join:after"), "{ran:?}");
    assert!(position("join:after") < position("join:last"), "{ran:?}");
    assert!(
        !ran.iter().any(|e| e == "never:never-last"),
        "a trigger that does not fire runs no `last`: {ran:?}"
    );
}

#[tokio::test]
async fn a_failing_prepare_task_fails_the_instance_and_decides_nothing() {
    let (h, j) = harness(&MODEL.replace("prepare: [{note: prepare}]", "prepare: [fail]"));
    h.seed_registered("i-1", "booted").await;
    let outcome = h.deliver_ok(&launch("l-1", "i-1")).await;
    assert_eq!(outcome.outcome, OutcomeKind::Failed, "{outcome:?}");
    assert_eq!(h.state("i-1").await, "abandoned");
    let record = h.record("i-1").await;
    assert!(
        record.last_error.unwrap_or_default().contains("it broke"),
        "the error is kept on the record"
    );
    let ran = journal(&j);
    assert!(!ran.iter().any(|e| e == "join:checked"), "{ran:?}");
    assert!(!ran.iter().any(|e| e == "join:before"), "{ran:?}");
}

#[tokio::test]
async fn last_runs_when_an_after_task_fails_and_its_own_errors_are_not_fatal() {
    let failing_after = MODEL
        .replace("after: [{note: after}]", "after: [fail]")
        .replace(
            "last: [{note: last}]",
            "last: [{note: last}, {fail: {retryable: true}}]",
        );
    let (h, j) = harness(&failing_after);
    h.seed_registered("i-1", "booted").await;
    let outcome = h.deliver_ok(&launch("l-1", "i-1")).await;
    let ran = journal(&j);
    assert!(ran.iter().any(|e| e == "join:last"), "{ran:?}");
    // The `after` failure moves the instance to the failure path; the `last` error is only
    // reported.
    assert_eq!(h.state("i-1").await, "abandoned", "{outcome:?}");
    assert!(
        outcome
            .ignored_errors
            .iter()
            .any(|e| e.contains("it broke")),
        "{outcome:?}"
    );

    let (h, j) = harness(&MODEL.replace("last: [{note: last}]", "last: [fail]"));
    h.seed_registered("i-2", "booted").await;
    let outcome = h.deliver_ok(&launch("l-2", "i-2")).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{outcome:?}");
    assert_eq!(
        h.state("i-2").await,
        "ready",
        "a failing `last` task is not fatal"
    );
    assert!(journal(&j).iter().any(|e| e == "join:fail"));
}

#[tokio::test]
async fn last_runs_when_a_before_task_fails() {
    let (h, j) = harness(&MODEL.replace("before: [{note: before}]", "before: [fail]"));
    h.seed_registered("i-1", "booted").await;
    h.deliver_ok(&launch("l-1", "i-1")).await;
    let ran = journal(&j);
    assert!(ran.iter().any(|e| e == "join:last"), "{ran:?}");
    assert!(!ran.iter().any(|e| e == "join:after"), "{ran:?}");
    assert_eq!(h.state("i-1").await, "abandoned");
}

#[test]
fn a_command_in_prepare_or_last_is_refused_where_it_is_written() {
    for list in ["prepare", "last"] {
        let model = MODEL.replace(
            &format!("{list}: [{{note: {list}}}]"),
            &format!("{list}: [{{send_command: {{commands: [\"true\"]}}}}]"),
        );
        let journal = Journal::default();
        let model = Callbacks(FileModel::parse("callbacks.yaml", &model).unwrap(), journal);
        let report = Machine::from_model(&model).expect_err("refused");
        let text = report.to_string();
        assert!(text.contains("error[command-out-of-place]"), "{text}");
        assert!(text.contains(&format!("not in `{list}`")), "{text}");
        assert!(text.contains("callbacks.yaml:"), "located: {text}");
    }
}
