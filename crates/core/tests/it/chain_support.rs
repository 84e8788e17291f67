//! What the chain tests share: a launch model with its exits and one launch event run through the handler on
//! an in-memory store.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::event::payload::LifecycleAction;
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler, Outcome};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::{CallSpec, Machine, Model, ModelSpec, TransitionSpec, TriggerSpec};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{MemoryStore, StateStore};

/// `from → to` by trigger `name`, when `condition` holds.
pub fn guarded(from: &str, to: &str, name: &str, condition: CallSpec) -> TransitionSpec {
    TransitionSpec::new(
        &[from],
        Some(to),
        vec![TriggerSpec::new(name).when(condition)],
    )
}

/// A model whose launch chain goes through `chain` (its first state the initial one, its last
/// `ready`), with `ready` stable and left on termination, and the failure path to `abandoned`;
/// the chain's transitions are the caller's.
pub fn launch_model(chain: &[&str]) -> ModelSpec {
    let states: Vec<&str> = chain
        .iter()
        .copied()
        .chain(["terminated", "failure", "abandoned"])
        .collect();
    ModelSpec::new(&states, chain[0], "failure")
        .stable(&["ready"])
        .terminal(&["terminated", "abandoned"])
        .transition(TransitionSpec::new(
            &["ready"],
            Some("terminated"),
            vec![TriggerSpec::new("leave").when(CallSpec::new("is_terminating"))],
        ))
        .transition(TransitionSpec::new(
            &["failure"],
            Some("abandoned"),
            vec![TriggerSpec::new("abandon")],
        ))
}

/// Runs a fresh launch event with `token` for `instance`, whose record is in `state`, through a
/// handler of `model` with `budget` left: the event's outcome and the record as stored.
pub async fn launch(
    model: &impl Model,
    (instance, state): (&str, &str),
    token: &str,
    budget: Duration,
) -> (Outcome, InstanceRecord) {
    let machine = Machine::from_model(model).unwrap_or_else(|r| panic!("invalid model:\n{r}"));
    let store = Arc::new(MemoryStore::new());
    let mut record = InstanceRecord::new(instance);
    record.status = Some(state.into());
    store.put(record);
    let aws = AwsClients::local(&Arc::new(LocalAws::new()));
    let handler = LifecycleHandler::new(Arc::new(machine), store.clone(), aws);
    let event = LifecycleAction::launching(&format!("launch-{token}"), instance)
        .token(token)
        .at(chrono::Utc::now())
        .json();
    let ctx = InvocationContext::with_budget(budget);
    let mut report = Invoker::new(handler).invoke(&event, &ctx).await;
    let mut outcomes = report
        .messages
        .remove(0)
        .result
        .expect("the event is handled");
    let record = store
        .get(instance)
        .await
        .unwrap()
        .expect("the record exists");
    (outcomes.remove(0), record)
}
