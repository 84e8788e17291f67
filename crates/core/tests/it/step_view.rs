//! What a step's conditions see: the record as the chain will write it. A lifecycle event's
//! action is carried to the chain's first write; before it, the step's conditions (and the
//! look-ahead that decides whether the chain ends) see the record holding it.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::handler::OutcomeKind;
use asg_lifecycle::machine::{CallSpec, Model, ModelSpec};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::tasks::{Condition, ConditionContext};
use serde_json::{Value, json};

use crate::chain_support::{guarded, launch, launch_model};

const I: &str = "i-0view";

/// `booted → checked → ready`, each step guarded by `holds_token` (the record's held action has
/// the token `args.token`).
struct TokenGuarded;

impl Model for TokenGuarded {
    fn transitions(&self) -> ModelSpec {
        let holds_new_token = || CallSpec::with_args("holds_token", json!({"token": "t-new"}));
        launch_model(&["booted", "checked", "ready"])
            .transition(guarded("booted", "checked", "check", holds_new_token()))
            .transition(guarded("checked", "ready", "finish", holds_new_token()))
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

async fn launch_with(token: &str) -> (OutcomeKind, InstanceRecord) {
    let (outcome, record) =
        launch(&TokenGuarded, (I, "booted"), token, Duration::from_secs(60)).await;
    (outcome.outcome, record)
}

#[tokio::test]
async fn a_step_sees_the_lifecycle_action_its_event_brings_before_it_is_written() {
    // The record holds no action when the event arrives: the first step already sees the one the
    // event carries, as the look-ahead after it does, and the chain runs to the end in one write.
    let (outcome, record) = launch_with("t-new").await;
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
    let (outcome, record) = launch_with("t-other").await;
    assert_eq!(outcome, OutcomeKind::NoOp);
    assert_eq!(record.state(), "booted");
    let held = record
        .lifecycle_action
        .as_ref()
        .expect("the action is held");
    assert_eq!(held.token.as_deref(), Some("t-other"));
}
