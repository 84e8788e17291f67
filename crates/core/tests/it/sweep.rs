//! The sweep: heartbeats only when due, lost SSM events recovered, state timeouts, instances
//! gone from their group, and "no active lifecycle action" accepted.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{HandlerConfig, InvocationContext, LifecycleHandler};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::store::{MemoryStore, StateStore};
use support::{ManualClock, command, launch, scheduled};

const I: &str = "i-0abc";

struct World {
    handler: LifecycleHandler,
    store: Arc<MemoryStore>,
    aws: Arc<LocalAws>,
    clock: Arc<ManualClock>,
    sweeps: std::cell::Cell<u32>,
}

impl World {
    fn new(machine: Machine) -> Self {
        let store = Arc::new(MemoryStore::new());
        let aws = Arc::new(LocalAws::new());
        let clock = Arc::new(ManualClock::new());
        let config = HandlerConfig {
            initial_wait: Duration::ZERO,
            ..HandlerConfig::default()
        };
        let handler =
            LifecycleHandler::new(Arc::new(machine), store.clone(), AwsClients::local(&aws))
                .with_config(config)
                .with_clock(clock.clone());
        Self {
            handler,
            store,
            aws,
            clock,
            sweeps: std::cell::Cell::new(0),
        }
    }

    async fn launched(machine: Machine) -> Self {
        let world = Self::new(machine);
        let mut attrs = serde_json::Map::new();
        attrs.insert("ItemStatus".into(), "finished_cloud_init".into());
        attrs.insert("InstanceIp".into(), "10.0.0.5".into());
        world.store.cloud_init_update(I, &attrs).await.unwrap();
        world.deliver(&launch(I, "launch-1")).await;
        world
    }

    async fn deliver(&self, event: &asg_lifecycle::Event) {
        self.handler
            .handle_event(
                event,
                &InvocationContext::with_budget(Duration::from_secs(60)),
            )
            .await
            .unwrap();
    }

    async fn sweep(&self) {
        self.sweeps.set(self.sweeps.get() + 1);
        self.deliver(&scheduled(
            "reconcile",
            &format!("sweep-{}", self.sweeps.get()),
        ))
        .await;
    }

    fn count(&self, operation: &str) -> usize {
        self.aws
            .calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    async fn state(&self) -> String {
        self.store
            .get(I)
            .await
            .unwrap()
            .unwrap()
            .state()
            .to_string()
    }

    fn command_id(&self) -> String {
        let call = self
            .aws
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.operation == "SendCommand")
            .unwrap();
        LocalAws::command_id_for(call.input["comment"].as_str().unwrap())
    }
}

#[tokio::test]
async fn sweep_heartbeats_only_when_half_the_hook_timeout_is_spent() {
    let world = World::launched(Machine::example()).await;
    world
        .aws
        .set_hook_timeout("web-asg", "hook", Duration::from_secs(200));
    world.clock.advance(Duration::from_secs(50));
    world.sweep().await;
    assert_eq!(
        world.count("RecordLifecycleActionHeartbeat"),
        0,
        "not due at 50 s of 200 s"
    );
    world.clock.advance(Duration::from_secs(51));
    world.sweep().await;
    assert_eq!(
        world.count("RecordLifecycleActionHeartbeat"),
        1,
        "due past 100 s"
    );
    world.sweep().await;
    assert_eq!(
        world.count("RecordLifecycleActionHeartbeat"),
        1,
        "just sent: not due again"
    );
    world.clock.advance(Duration::from_secs(101));
    world.sweep().await;
    assert_eq!(world.count("RecordLifecycleActionHeartbeat"), 2);
    assert_eq!(
        world.count("DescribeLifecycleHooks"),
        1,
        "hook timeouts are cached"
    );
    let record = world.store.get(I).await.unwrap().unwrap();
    assert!(record.lifecycle_action.unwrap().last_heartbeat.is_some());
}

#[tokio::test]
async fn a_heartbeat_answered_no_active_lifecycle_action_clears_the_action() {
    let world = World::launched(Machine::example()).await;
    // Someone completed the action already (the fake then answers "No active Lifecycle Action").
    use asg_lifecycle::aws::{AutoScalingApi, CompleteLifecycleAction};
    world
        .aws
        .complete_lifecycle_action(&CompleteLifecycleAction {
            group: "web-asg".into(),
            hook: "hook".into(),
            token: Some("token-launch-1".into()),
            instance_id: I.into(),
            result: "CONTINUE".into(),
        })
        .await
        .unwrap();
    world.clock.advance(Duration::from_secs(1900));
    world.sweep().await;
    assert!(
        world
            .store
            .get(I)
            .await
            .unwrap()
            .unwrap()
            .lifecycle_action
            .is_none()
    );
}

#[tokio::test]
async fn a_lost_ssm_status_event_is_recovered_by_the_sweep() {
    let world = World::launched(Machine::example()).await;
    let join = world.command_id();
    world.aws.set_command_status(&join, "Success");
    world.clock.advance(Duration::from_secs(30));
    world.sweep().await;
    assert_eq!(
        world.state().await,
        "join_cluster",
        "within the grace period the event may still come"
    );
    assert_eq!(world.count("GetCommandInvocation"), 0);
    world.clock.advance(Duration::from_secs(100));
    world.sweep().await;
    assert_eq!(world.count("GetCommandInvocation"), 1);
    assert_eq!(
        world.state().await,
        "updating_dns",
        "Success fed to the machine as if the event had come"
    );
    // The late real event is a no-op now: the pending command is the DNS one.
    world
        .deliver(&command(I, &join, "Success", "ssm-late"))
        .await;
    assert_eq!(world.state().await, "updating_dns");
}

#[tokio::test]
async fn a_command_still_running_is_left_alone() {
    let world = World::launched(Machine::example()).await;
    world.clock.advance(Duration::from_secs(300));
    world.sweep().await;
    assert_eq!(world.count("GetCommandInvocation"), 1);
    assert_eq!(world.state().await, "join_cluster");
}

#[tokio::test]
async fn a_state_timeout_without_a_timeout_trigger_runs_the_failure_path() {
    let world = World::launched(Machine::example()).await;
    world.clock.advance(Duration::from_secs(9 * 60));
    world.sweep().await;
    assert_eq!(world.state().await, "join_cluster");
    world.clock.advance(Duration::from_secs(2 * 60));
    world.sweep().await;
    assert_eq!(world.state().await, "abandoned");
    let record = world.store.get(I).await.unwrap().unwrap();
    assert!(
        record
            .last_error
            .unwrap()
            .contains("`join_cluster` timed out after 600s")
    );
    let abandon = world
        .aws
        .calls()
        .into_iter()
        .rev()
        .find(|c| c.operation == "CompleteLifecycleAction")
        .unwrap();
    assert_eq!(abandon.input["result"], "ABANDON");
}

#[tokio::test]
async fn a_state_timeout_fires_the_states_timeout_trigger_when_declared() {
    let machine = Machine::from_yaml(
        "t.yaml",
        "initial: a\nfailure: failure\nterminal: [done, late, abandoned]\nstates: [a, {name: waiting, timeout: 5m}, done, late, failure, abandoned]\ntransitions:\n  - source: a\n    dest: waiting\n    triggers: [{name: start, conditions: [is_launching]}]\n  - source: waiting\n    dest: done\n    triggers: [{name: finish, conditions: [command_succeeded]}]\n  - source: waiting\n    dest: late\n    triggers: [{name: timeout, conditions: [is_scheduled]}]\n  - source: failure\n    dest: abandoned\n    triggers: [{name: abandon}]\n",
    )
    .unwrap();
    let world = World::new(machine);
    let mut attrs = serde_json::Map::new();
    attrs.insert("ItemStatus".into(), "a".into());
    world.store.cloud_init_update(I, &attrs).await.unwrap();
    world.deliver(&launch(I, "launch-1")).await;
    assert_eq!(world.state().await, "waiting");
    world.clock.advance(Duration::from_secs(301));
    world.sweep().await;
    assert_eq!(world.state().await, "late");
}

#[tokio::test]
async fn an_instance_gone_from_its_group_is_marked_and_left_to_expire() {
    let world = World::launched(Machine::example()).await;
    world.aws.set_group_members(Some(BTreeSet::new()));
    world
        .aws
        .set_command_status(&world.command_id(), "InProgress");
    world.clock.advance(Duration::from_secs(60));
    world.sweep().await;
    let record = world.store.get(I).await.unwrap().unwrap();
    assert!(!record.gone, "too recent: Auto Scaling's view may lag");
    world.clock.advance(Duration::from_secs(600));
    world.sweep().await;
    let record = world.store.get(I).await.unwrap().unwrap();
    assert!(record.gone);
    assert!(record.active_group.is_none() && record.expires_at.is_some());
    assert_eq!(
        world
            .store
            .query_active(None, None, 10)
            .await
            .unwrap()
            .records
            .len(),
        0
    );
}
