//! The invocation deadline inside a chain: transitions fired in memory go on without reading the
//! clock, and a task that spends the time left cuts the chain at the next step, its rest owed on
//! the record for the next event or sweep.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::handler::{Outcome, OutcomeKind};
use asg_lifecycle::machine::{CallSpec, Model, ModelSpec, TransitionSpec, TriggerSpec};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::tasks::{Task, TaskContext, TaskError};
use async_trait::async_trait;
use serde_json::Value;

use crate::chain_support::{guarded, launch, launch_model};

const I: &str = "i-0deadline";

/// `slow`: takes 20 seconds (of the test's paused clock).
struct Slow;

#[async_trait]
impl Task for Slow {
    async fn run(&self, _ctx: &mut TaskContext<'_>, _args: &Value) -> Result<(), TaskError> {
        tokio::time::sleep(Duration::from_secs(20)).await;
        Ok(())
    }
}

/// `booted → working` runs `slow`; `working → joined → tuned → ready` have no tasks; `ready`
/// is left on termination.
struct SlowStart;

impl Model for SlowStart {
    fn transitions(&self) -> ModelSpec {
        let step = |from: &str, to: &str, name: &str| {
            guarded(from, to, name, CallSpec::new("is_launching"))
        };
        launch_model(&["booted", "working", "joined", "tuned", "ready"])
            .transition(TransitionSpec::new(
                &["booted"],
                Some("working"),
                vec![
                    TriggerSpec::new("work")
                        .when(CallSpec::new("is_launching"))
                        .before(CallSpec::new("slow")),
                ],
            ))
            .transition(step("working", "joined", "join"))
            .transition(step("joined", "tuned", "tune"))
            .transition(step("tuned", "ready", "finish"))
    }

    fn tasks(&self) -> Vec<(String, Arc<dyn Task>)> {
        vec![("slow".into(), Arc::new(Slow))]
    }
}

/// Runs the launch event with `budget` left; the outcome and the record as stored.
async fn launch_with(budget: Duration) -> (Outcome, InstanceRecord) {
    launch(&SlowStart, (I, "booted"), "token-1", budget).await
}

#[tokio::test(start_paused = true)]
async fn transitions_fired_in_memory_after_a_task_finish_the_chain_with_time_left() {
    let (outcome, record) = launch_with(Duration::from_secs(60)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{outcome:?}");
    assert_eq!(record.state(), "ready");
    let path: Vec<&str> = record.history.iter().map(|h| &*h.to).collect();
    assert_eq!(path, ["working", "joined", "tuned", "ready"]);
    assert!(record.in_flight.is_none(), "nothing is owed: {record:?}");
}

#[tokio::test(start_paused = true)]
async fn a_task_that_spends_the_time_left_cuts_the_chain_at_the_next_step() {
    // 20 s of task leave 2 s, within the 3 s margin: the step after the task's write is not
    // taken, and the chain stays owed.
    let (outcome, record) = launch_with(Duration::from_secs(22)).await;
    assert_eq!(record.state(), "working", "{outcome:?}");
    assert!(
        outcome
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("deadline is near")),
        "{outcome:?}"
    );
    let owed = record.in_flight.as_ref().expect("the chain is owed");
    assert_eq!(owed.event_id, "launch-token-1");
}
