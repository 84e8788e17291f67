//! A lifecycle model written in Rust: the subclass-and-`get_transitions` style.
//!
//! `DatabaseReplica` declares its transitions in code and brings one task of its own
//! (`register_replica`, which here records the replica in an in-memory inventory) and one
//! condition of its own (`in_primary_zone`, from an attribute cloud-init wrote).
//!
//! Run it with `cargo run --example rust_model`: it drives one instance from launch to ready
//! through the real handler, on the in-memory store and the recording AWS fake.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::{CallSpec, Machine, Model, ModelSpec, TransitionSpec, TriggerSpec};
use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::tasks::{Condition, ConditionContext, Task, TaskContext, TaskError};
use async_trait::async_trait;
use serde_json::{Value, json};

/// A database replica: joins the replica set on launch, leaves it on terminate.
pub struct DatabaseReplica {
    /// Where `register_replica` records replicas (stands in for a real inventory service).
    pub inventory: Arc<Mutex<Vec<String>>>,
}

/// `register_replica`: adds the instance to the inventory once (idempotent).
struct RegisterReplica(Arc<Mutex<Vec<String>>>);

#[async_trait]
impl Task for RegisterReplica {
    async fn run(&self, ctx: &mut TaskContext<'_>, _args: &Value) -> Result<(), TaskError> {
        let mut inventory = self.0.lock().map_err(|_| TaskError {
            task: "register_replica".into(),
            message: "inventory lock poisoned".into(),
            retryable: false,
        })?;
        if !inventory.contains(&ctx.record.ident) {
            inventory.push(ctx.record.ident.clone());
        }
        Ok(())
    }
}

impl Model for DatabaseReplica {
    fn transitions(&self) -> ModelSpec {
        ModelSpec::new(
            &[
                "new",
                "booted",
                "registered",
                "ready",
                "terminated",
                "failure",
                "abandoned",
            ],
            "booted",
            "failure",
        )
        .pending(&["new"])
        .stable(&["ready"])
        .terminal(&["terminated", "abandoned"])
        .transition(TransitionSpec::new(
            &["booted"],
            Some("registered"),
            vec![
                TriggerSpec::new("register")
                    .when(CallSpec::new("is_launching"))
                    .when(CallSpec::new("in_primary_zone"))
                    .before(CallSpec::new("register_replica")),
            ],
        ))
        .transition(TransitionSpec::new(
            &["registered"],
            Some("ready"),
            vec![TriggerSpec::new("complete").before(CallSpec::with_args(
                "complete_lifecycle_action",
                json!({"result": "CONTINUE"}),
            ))],
        ))
        .transition(TransitionSpec::new(
            &["ready", "registered"],
            Some("terminated"),
            vec![
                TriggerSpec::new("leave")
                    .when(CallSpec::new("is_terminating"))
                    .before(CallSpec::new("complete_lifecycle_action")),
            ],
        ))
        .transition(TransitionSpec::new(
            &["failure"],
            Some("abandoned"),
            vec![TriggerSpec::new("abandon").before(CallSpec::with_args(
                "complete_lifecycle_action",
                json!({"result": "ABANDON"}),
            ))],
        ))
    }

    fn conditions(&self) -> Vec<(String, Arc<dyn Condition>)> {
        let in_primary_zone = |ctx: ConditionContext<'_>, _: &Value| -> Result<bool, String> {
            match ctx.record.attribute_str("AvailabilityZone") {
                Some(zone) => Ok(zone.ends_with('a')),
                None => Err("cloud-init wrote no AvailabilityZone".into()),
            }
        };
        vec![("in_primary_zone".into(), Arc::new(in_primary_zone))]
    }

    fn tasks(&self) -> Vec<(String, Arc<dyn Task>)> {
        vec![(
            "register_replica".into(),
            Arc::new(RegisterReplica(self.inventory.clone())),
        )]
    }
}

/// Builds a handler for the model over a fresh in-memory store.
pub fn handler(model: &DatabaseReplica) -> (LifecycleHandler, Arc<MemoryStore>, Arc<LocalAws>) {
    let machine =
        Machine::from_model(model).unwrap_or_else(|report| panic!("invalid model:\n{report}"));
    let store = Arc::new(MemoryStore::new());
    let aws = Arc::new(LocalAws::new());
    let handler = LifecycleHandler::new(Arc::new(machine), store.clone(), AwsClients::local(&aws));
    (handler, store, aws)
}

/// The table's stream record of an instance's registration reaching `booted` (the model's
/// initial state), with its availability zone when it reported one: the invocation cloud-init's
/// last write brings about.
pub fn registration_event(instance: &str, zone: Option<&str>) -> Value {
    let mut change = asg_lifecycle::event::payload::RecordChange::new("1", instance, "booted");
    if let Some(zone) = zone {
        change = change.with_attribute("AvailabilityZone", zone);
    }
    json!({ "Records": [change.record()] })
}

/// A launch lifecycle event for an instance.
pub fn launch_event(instance: &str) -> Value {
    json!({
        "id": format!("launch-{instance}"), "source": "aws.autoscaling",
        "detail-type": "EC2 Instance-launch Lifecycle Action", "time": "2026-11-20T12:00:00Z",
        "resources": [],
        "detail": {
            "LifecycleActionToken": "token-1", "AutoScalingGroupName": "db-asg",
            "LifecycleHookName": "launch", "EC2InstanceId": instance,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING"
        }
    })
}

#[tokio::main]
#[allow(dead_code)]
async fn main() {
    let model = DatabaseReplica {
        inventory: Arc::default(),
    };
    let (handler, _store, aws) = handler(&model);
    let ctx = InvocationContext::with_budget(Duration::from_secs(60));
    let invoker = Invoker::new(handler);
    // Cloud-init finished (its registration's stream record), then the launch event.
    invoker
        .invoke(&registration_event("i-0db1", Some("eu-west-1a")), &ctx)
        .await;
    let report = invoker.invoke(&launch_event("i-0db1"), &ctx).await;
    for message in report.messages {
        for outcome in message.result.expect("handled") {
            println!("{}", serde_json::to_string_pretty(&outcome).expect("json"));
        }
    }
    println!("inventory: {:?}", model.inventory.lock().expect("lock"));
    println!(
        "AWS calls: {:?}",
        aws.calls().iter().map(|c| c.operation).collect::<Vec<_>>()
    );
}
