//! What a step's conditions see: the record as the chain will write it. A lifecycle event's
//! action is carried to the chain's first write; before it, the step's conditions (and the
//! look-ahead that decides whether the chain ends) see the record holding it.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler, OutcomeKind};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::{CallSpec, Machine, Model, ModelSpec, TransitionSpec, TriggerSpec};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{MemoryStore, StateStore};
use asg_lifecycle::tasks::{Condition, ConditionContext};
use serde_json::{Value, json};

const I: &str = "i-0view";

/// `booted → checked → ready`, each step guarded by `holds_token` (the record's held action has
/// the token `args.token`).
struct TokenGuarded;

impl Model for TokenGuarded {
    fn transitions(&self) -> ModelSpec {
        let guarded = |from: &str, to: &str, name: &str| {
            TransitionSpec::new(
                &[from],
                Some(to),
                vec![TriggerSpec::new(name).when(CallSpec::with_args(
                    "holds_token",
                    json!({"token": "t-new"}),
                ))],
            )
        };
        ModelSpec::new(
            &[
                "booted",
                "checked",
                "ready",
                "terminated",
                "failure",
                "abandoned",
            ],
            "booted",
            "failure",
        )
        .stable(&["ready"])
        .terminal(&["terminated", "abandoned"])
        .transition(guarded("booted", "checked", "check"))
        .transition(guarded("checked", "ready", "finish"))
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

    fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
        let holds_token = |ctx: ConditionContext<'_>, args: &Value| -> Result<bool, String> {
            let wanted = args["token"].as_str().ok_or("expects `token`")?;
            Ok(ctx
                .record
                .lifecycle_action
                .as_ref()
                .is_some_and(|a| a.token.as_deref() == Some(wanted)))
        };
        vec![("holds_token".into(), Arc::new(holds_token))]
    }
}

fn launch_event(token: &str) -> Value {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "id": format!("launch-{token}"), "source": "aws.autoscaling",
        "detail-type": "EC2 Instance-launch Lifecycle Action", "time": now,
        "resources": [],
        "detail": {
            "LifecycleActionToken": token, "AutoScalingGroupName": "web-asg",
            "LifecycleHookName": "launch", "EC2InstanceId": I,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"
        }
    })
}

async fn launch(token: &str) -> (OutcomeKind, InstanceRecord) {
    let machine = Machine::from_model(&TokenGuarded).unwrap_or_else(|r| panic!("invalid:\n{r}"));
    let store = Arc::new(MemoryStore::new());
    let mut record = InstanceRecord::new(I);
    record.status = Some("booted".into());
    store.put(record);
    let aws = AwsClients::local(&Arc::new(LocalAws::new()));
    let handler = LifecycleHandler::new(Arc::new(machine), store.clone(), aws);
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    let mut report = Invoker::new(handler)
        .invoke(&launch_event(token), &ctx)
        .await;
    let outcomes = report
        .messages
        .remove(0)
        .result
        .expect("the event is handled");
    let record = store.get(I).await.unwrap().expect("the record exists");
    (outcomes[0].outcome, record)
}

#[tokio::test]
async fn a_step_sees_the_lifecycle_action_its_event_brings_before_it_is_written() {
    // The record holds no action when the event arrives: the first step already sees the one the
    // event carries, as the look-ahead after it does, and the chain runs to the end in one write.
    let (outcome, record) = launch("t-new").await;
    assert_eq!(outcome, OutcomeKind::Advanced);
    assert_eq!(record.state(), "ready");
    assert_eq!(record.history.len(), 2);
    let held = record
        .lifecycle_action
        .as_ref()
        .expect("the action is held");
    assert_eq!(held.token.as_deref(), Some("t-new"));
}

#[tokio::test]
async fn another_action_leaves_the_guarded_step_untaken_and_is_still_written() {
    let (outcome, record) = launch("t-other").await;
    assert_eq!(outcome, OutcomeKind::NoOp);
    assert_eq!(record.state(), "booted");
    let held = record
        .lifecycle_action
        .as_ref()
        .expect("the action is held");
    assert_eq!(held.token.as_deref(), Some("t-other"));
}
