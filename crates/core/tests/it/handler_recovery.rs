//! Regressions the simulator found: two invocations taking over one expired SSM intent sent two
//! commands; a command whose status events passed before its id was recorded was waited on forever.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, AwsError, CommandInvocation, LocalAws, SendCommand, SsmApi};
use asg_lifecycle::handler::{HandlerConfig, HandlerError, InvocationContext, LifecycleHandler};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::store::{MemoryStore, StateStore};
use async_trait::async_trait;
use support::{Crash, FaultyStore, ManualClock, command, launch, scheduled};

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
}

async fn registered(memory: &MemoryStore) {
    let mut attrs = serde_json::Map::new();
    attrs.insert("ItemStatus".into(), "finished_cloud_init".into());
    attrs.insert("InstanceIp".into(), "10.0.0.5".into());
    memory.cloud_init_update(I, &attrs).await.unwrap();
}

fn sends(aws: &LocalAws) -> usize {
    aws.calls()
        .iter()
        .filter(|c| c.operation == "SendCommand")
        .count()
}

#[tokio::test]
async fn two_invocations_taking_over_an_expired_intent_send_one_command() {
    let memory = Arc::new(MemoryStore::new());
    let aws = Arc::new(LocalAws::new());
    let clock = Arc::new(ManualClock::new());
    registered(&memory).await;
    // The first invocation writes the transition with the intent, then dies.
    let crashing = FaultyStore::new(memory.clone(), Crash::AfterWrite, &[1]);
    let first = LifecycleHandler::new(
        Arc::new(Machine::example()),
        crashing,
        AwsClients::local(&aws),
    )
    .with_clock(clock.clone());
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    assert!(
        first
            .handle_event(&launch(I, "launch-1"), &ctx)
            .await
            .is_err()
    );
    // Past the lease, two redeliveries take over at once.
    clock.advance(Duration::from_secs(61));
    let clients = AwsClients {
        autoscaling: aws.clone(),
        ssm: Arc::new(YieldingSsm(aws.clone())),
    };
    let handler = LifecycleHandler::new(Arc::new(Machine::example()), memory.clone(), clients)
        .with_clock(clock.clone());
    let event = launch(I, "launch-1");
    let (a, b) = tokio::join!(
        handler.handle_event(&event, &ctx),
        handler.handle_event(&event, &ctx)
    );
    // The one that loses the claim is told to retry later, never to send.
    for result in [a, b] {
        match result {
            Ok(_) | Err(HandlerError::Busy { .. }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        sends(&aws),
        1,
        "one command per transition attempt: {:?}",
        aws.calls()
    );
    let record = memory.get(I).await.unwrap().unwrap();
    assert!(record.pending_command.unwrap().command_id.is_some());
}

#[tokio::test]
async fn the_sweep_recovers_a_command_status_whose_events_passed_before_its_id_was_recorded() {
    let memory = Arc::new(MemoryStore::new());
    let aws = Arc::new(LocalAws::new());
    let clock = Arc::new(ManualClock::new());
    registered(&memory).await;
    // SendCommand went through, the write of its id did not.
    let failing = FaultyStore::new(memory.clone(), Crash::BeforeWrite, &[2]);
    let config = HandlerConfig {
        initial_wait: Duration::ZERO,
        ..HandlerConfig::default()
    };
    let handler = LifecycleHandler::new(
        Arc::new(Machine::example()),
        failing,
        AwsClients::local(&aws),
    )
    .with_config(config)
    .with_clock(clock.clone());
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    assert!(
        handler
            .handle_event(&launch(I, "launch-1"), &ctx)
            .await
            .is_err()
    );
    let sent = aws
        .calls()
        .into_iter()
        .find(|c| c.operation == "SendCommand")
        .unwrap();
    let join = LocalAws::command_id_for(sent.input["comment"].as_str().unwrap());
    // The command ends; its status event comes while the id is not recorded: nothing to match.
    aws.set_command_status(&join, "Success");
    // (Delivered while the interrupted chain's intent is fresh: it is told to retry later.)
    let early = handler
        .handle_event(&command(I, &join, "Success", "ssm-1"), &ctx)
        .await;
    assert!(
        matches!(early, Ok(_) | Err(HandlerError::Busy { .. })),
        "{early:?}"
    );
    // A sweep past the lease records the id; no status event will ever come again.
    clock.advance(Duration::from_secs(61));
    handler
        .handle_event(&scheduled("reconcile", "sweep-1"), &ctx)
        .await
        .unwrap();
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
    clock.advance(Duration::from_secs(61));
    handler
        .handle_event(&scheduled("reconcile", "sweep-2"), &ctx)
        .await
        .unwrap();
    assert_eq!(
        memory.get(I).await.unwrap().unwrap().state(),
        "updating_dns"
    );
    assert_eq!(
        sends(&aws),
        2,
        "the join command once, then the DNS command"
    );
    assert!(
        aws.calls()
            .iter()
            .any(|c| c.operation == "GetCommandInvocation")
    );
}
