//! Errors inside failure handling never wedge a record: a retryable one leaves the failure tasks
//! owed and re-run by the next event or sweep; a permanent one is recorded and cleared, and later
//! events (a terminate action included) are handled.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use asg_lifecycle::aws::{
    AutoScalingApi, AwsClients, AwsError, AwsErrorKind, CompleteLifecycleAction,
    LifecycleHeartbeat, LocalAws,
};
use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::handler::{HandlerError, OutcomeKind};
use asg_lifecycle::testing::{Harness, command, launch, terminate};

const I: &str = "i-0fail";

/// Auto Scaling that answers the next `ABANDON` completions with scripted errors, then as the
/// local recorder does.
struct FailingAbandon {
    local: Arc<LocalAws>,
    errors: Mutex<VecDeque<AwsErrorKind>>,
}

#[async_trait]
impl AutoScalingApi for FailingAbandon {
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError> {
        if input.result == "ABANDON"
            && let Some(kind) = self.errors.lock().unwrap().pop_front()
        {
            return Err(AwsError {
                operation: "CompleteLifecycleAction".into(),
                kind,
                code: format!("{kind:?}"),
                message: "scripted".into(),
            });
        }
        self.local.complete_lifecycle_action(input).await
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError> {
        self.local.record_lifecycle_action_heartbeat(input).await
    }
}

/// A harness whose `ABANDON` completions first fail with `errors`, and an instance whose join
/// command failed: it is on the failure path, its `ABANDON` failed once.
async fn failed_join(errors: &[AwsErrorKind]) -> (Harness, Result<(), HandlerError>) {
    let local = Arc::new(LocalAws::new());
    let clients = AwsClients {
        autoscaling: Arc::new(FailingAbandon {
            local: local.clone(),
            errors: Mutex::new(errors.iter().copied().collect()),
        }),
        ssm: AwsClients::local(&local).ssm,
        extensions: Default::default(),
    };
    let h = Harness::builder().aws(local).clients(clients).build();
    h.register(I, "finished_cloud_init").await;
    h.deliver_ok(&launch("launch-1", I)).await;
    let join = h.last_command_id();
    let result = h
        .deliver(&command("ssm-1", I, &join, CommandStatus::Failed))
        .await
        .map(|_| ());
    (h, result)
}

fn abandons(h: &Harness) -> usize {
    h.aws
        .calls()
        .iter()
        .filter(|c| c.operation == "CompleteLifecycleAction" && c.input["result"] == "ABANDON")
        .count()
}

#[tokio::test]
async fn a_throttled_abandon_is_owed_and_the_redelivery_finishes_the_failure_path() {
    let (h, result) = failed_join(&[AwsErrorKind::Throttled]).await;
    let err = result.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let record = h.record(I).await;
    assert_eq!(record.state(), "failure");
    assert!(record.in_flight.is_some(), "the failure tasks are owed");
    let join = record.pending_command.unwrap().command_id.unwrap();
    h.deliver_ok(&command("ssm-1", I, &join, CommandStatus::Failed))
        .await;
    let record = h.record(I).await;
    assert_eq!(record.state(), "abandoned");
    assert!(record.in_flight.is_none());
    assert_eq!(abandons(&h), 1);
}

#[tokio::test]
async fn a_throttled_abandon_is_finished_by_the_next_sweep_when_the_event_is_not_redelivered() {
    let (h, result) = failed_join(&[AwsErrorKind::Transient]).await;
    assert!(result.unwrap_err().is_retryable());
    h.sweep().await;
    let record = h.record(I).await;
    assert_eq!(record.state(), "abandoned", "{:#?}", record.history);
    assert!(record.in_flight.is_none());
    assert!(record.has_processed("ssm-1"));
    assert_eq!(abandons(&h), 1);
}

#[tokio::test]
async fn a_terminate_action_after_a_throttled_abandon_is_retried_never_rejected() {
    let (h, result) = failed_join(&[AwsErrorKind::Throttled, AwsErrorKind::Throttled]).await;
    assert!(result.unwrap_err().is_retryable());
    let err = h.deliver(&terminate("term-1", I)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(err.outcome_kind(), OutcomeKind::Retry);
    // The retry of the terminate action finds the failure path done and is handled.
    let outcome = h.deliver_ok(&terminate("term-1", I)).await;
    assert_ne!(outcome.outcome, OutcomeKind::Rejected, "{outcome:#?}");
    assert_eq!(h.state(I).await, "abandoned");
}

#[tokio::test]
async fn a_permanent_error_in_failure_handling_is_recorded_cleared_and_blocks_no_later_event() {
    let (h, result) = failed_join(&[AwsErrorKind::Permanent, AwsErrorKind::Permanent]).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, HandlerError::FailureHandling { .. }) && !err.is_retryable(),
        "{err}"
    );
    assert_eq!(err.outcome_kind(), OutcomeKind::Failed);
    let record = h.record(I).await;
    assert_eq!(record.state(), "failure");
    assert!(record.in_flight.is_none(), "{:#?}", record.in_flight);
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("Permanent"))
    );
    assert!(record.active_group.is_some(), "still swept");
    // Auto Scaling terminates the instance: its terminate action is handled as the model says
    // (the failure state's `abandon`: ABANDON with the terminate action's token).
    let outcome = h.deliver_ok(&terminate("term-1", I)).await;
    assert_eq!(outcome.outcome, OutcomeKind::Advanced, "{outcome:#?}");
    assert_eq!(h.state(I).await, "abandoned");
    let last = h.aws.calls().pop().unwrap();
    assert_eq!(last.input["result"], "ABANDON");
    assert_eq!(last.input["token"], "token-term-1");
}
