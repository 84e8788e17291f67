//! Regressions the simulator found: two invocations taking over one expired SSM intent sent two
//! commands; a command whose status events passed before its id was recorded was waited on forever.

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{
    AwsClients, AwsError, AwsErrorKind, CommandInvocation, LocalAws, SendCommand, SsmApi,
};
use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::handler::{HandlerConfig, HandlerError};
use asg_lifecycle::store::{MemoryStore, StateStore};
use asg_lifecycle::testing::{Crash, FaultyStore, Harness, ManualClock, command, launch};
use async_trait::async_trait;

const I: &str = "i-0abc";

/// SSM whose `ListCommands` answers, then lets other tasks run before its caller goes on.
struct YieldingSsm(Arc<LocalAws>);

#[async_trait]
impl SsmApi for YieldingSsm {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        self.0.send_command(input).await
    }
    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        let found = self.0.find_command(instance_id, tag).await;
        tokio::task::yield_now().await;
        found
    }
    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        self.0.get_command_invocation(command_id, instance_id).await
    }
    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        self.0.instance_private_ip(instance_id).await
    }
}

/// An SSM whose agent on the instance has not registered: every `SendCommand` answers
/// `InvalidInstanceId`.
struct UnregisteredSsm(Arc<LocalAws>);

#[async_trait]
impl SsmApi for UnregisteredSsm {
    async fn send_command(&self, _input: &SendCommand) -> Result<String, AwsError> {
        Err(AwsError {
            operation: "SendCommand".into(),
            kind: AwsErrorKind::InstanceNotReady,
            code: "InvalidInstanceId".into(),
            message: "Instances not in a valid state for account".into(),
        })
    }
    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        self.0.find_command(instance_id, tag).await
    }
    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        self.0.get_command_invocation(command_id, instance_id).await
    }
    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        self.0.instance_private_ip(instance_id).await
    }
}

#[tokio::test]
async fn an_ssm_agent_not_registered_yet_is_waited_for_then_given_up_on() {
    let clock = Arc::new(ManualClock::new());
    let aws = Arc::new(LocalAws::new());
    let h = Harness::builder()
        .clock(clock.clone())
        .aws(aws.clone())
        .clients(AwsClients {
            autoscaling: aws.clone(),
            ssm: Arc::new(UnregisteredSsm(aws.clone())),
            extensions: Default::default(),
        })
        .build();
    h.register(I, "finished_cloud_init").await;
    // Just booted: InvalidInstanceId means "not yet": the delivery is retried.
    let early = h.deliver(&launch("launch-1", I)).await;
    assert!(
        early.as_ref().is_err_and(HandlerError::is_retryable),
        "{early:?}"
    );
    assert_ne!(h.state(I).await, "failure");
    // Ten minutes on, the agent is not coming: the instance takes the failure path.
    clock.advance(Duration::from_secs(601));
    let late = h.deliver(&launch("launch-1", I)).await;
    assert!(
        !late.as_ref().is_err_and(HandlerError::is_retryable),
        "{late:?}"
    );
    let path = h.path(I).await;
    assert!(path.iter().any(|s| s.ends_with(">failure")), "{path:?}");
}

#[tokio::test]
async fn two_invocations_taking_over_an_expired_intent_send_one_command() {
    let memory = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    // The first invocation writes the transition with the intent, then dies.
    let first = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::AfterWrite, &[2]))
        .clock(clock.clone())
        .build();
    first.register(I, "finished_cloud_init").await;
    assert!(first.deliver(&launch("launch-1", I)).await.is_err());
    // Past the lease, two redeliveries take over at once, through an SSM that lets the other
    // run between its listing and its sending.
    clock.advance(Duration::from_secs(61));
    let aws = first.aws.clone();
    let h = Harness::builder()
        .store(memory.clone())
        .aws(aws.clone())
        .clients(AwsClients {
            autoscaling: aws.clone(),
            ssm: Arc::new(YieldingSsm(aws.clone())),
            extensions: Default::default(),
        })
        .clock(clock)
        .build();
    let event = launch("launch-1", I);
    let (a, b) = tokio::join!(h.deliver(&event), h.deliver(&event));
    // The one that loses the claim is told to retry later, never to send.
    for result in [a, b] {
        match result {
            Ok(_) | Err(HandlerError::Busy { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        h.count("SendCommand"),
        1,
        "one command per transition attempt: {:?}",
        h.aws.calls()
    );
    let record = memory.get(I).await.unwrap().unwrap();
    assert!(record.pending_command.unwrap().command_id.is_some());
}

#[tokio::test]
async fn an_owner_slower_than_a_minute_but_within_the_function_timeout_is_not_taken_over() {
    let memory = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    // A 300 s function: the intent lease is 330 s.
    let config = HandlerConfig {
        initial_wait: Duration::ZERO,
        ..HandlerConfig::default()
    }
    .with_function_timeout(Duration::from_secs(300));
    let first = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::AfterWrite, &[2]))
        .clock(clock.clone())
        .config(config.clone())
        .build();
    first.register(I, "finished_cloud_init").await;
    assert!(first.deliver(&launch("launch-1", I)).await.is_err());
    // Two minutes on, the writer may still be running (a slow SendCommand): hands off.
    clock.advance(Duration::from_secs(120));
    let h = Harness::builder()
        .store(memory.clone())
        .aws(first.aws.clone())
        .clock(clock.clone())
        .config(config)
        .build();
    let busy = h.deliver(&launch("launch-1", I)).await;
    assert!(matches!(busy, Err(HandlerError::Busy { .. })), "{busy:?}");
    assert_eq!(h.count("SendCommand"), 0);
    assert_eq!(h.count("ListCommands"), 0);
    // Past the function timeout and the margin, the writer is dead: the intent is taken over.
    clock.advance(Duration::from_secs(211));
    h.deliver_ok(&launch("launch-1", I)).await;
    assert_eq!(h.count("SendCommand"), 1);
}

#[tokio::test]
async fn the_sweep_recovers_a_command_status_whose_events_passed_before_its_id_was_recorded() {
    let memory = Arc::new(MemoryStore::new());
    // SendCommand went through, the write of its id did not.
    let h = Harness::builder()
        .store(FaultyStore::new(memory.clone(), Crash::BeforeWrite, &[3]))
        .manual_clock()
        .build();
    h.register(I, "finished_cloud_init").await;
    assert!(h.deliver(&launch("launch-1", I)).await.is_err());
    let join = h.last_command_id();
    // The command ends; its status event comes while the id is not recorded: nothing to match.
    h.aws.set_command_status(&join, "Success");
    // (Delivered while the interrupted chain's intent is fresh: it is told to retry later.)
    let early = h
        .deliver(&command("ssm-1", I, &join, CommandStatus::Success))
        .await;
    assert!(
        matches!(early, Ok(_) | Err(HandlerError::Busy { .. })),
        "{early:?}"
    );
    // A sweep past the lease records the id; no status event will ever come again.
    h.advance(Duration::from_secs(61));
    h.sweep().await;
    let record = memory.get(I).await.unwrap().unwrap();
    assert_eq!(record.state(), "join_cluster");
    assert_eq!(
        record
            .pending_command
            .as_ref()
            .unwrap()
            .command_id
            .as_deref(),
        Some(join.as_str())
    );
    // The next sweep asks SSM, and the machine goes on.
    h.advance(Duration::from_secs(61));
    h.sweep().await;
    assert_eq!(
        memory.get(I).await.unwrap().unwrap().state(),
        "updating_dns"
    );
    assert_eq!(
        h.count("SendCommand"),
        2,
        "the join command once, then the DNS command"
    );
    assert!(h.count("GetCommandInvocation") >= 1);
}
