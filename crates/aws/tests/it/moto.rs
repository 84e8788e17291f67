//! Helpers shared by the integration tests: the moto endpoint, DynamoDB tables isolated by
//! name, a request-counting interceptor, event payloads and handlers.
#![allow(dead_code)] // each test binary uses a part of the helpers

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::event::{Event, decode_event};
use asg_lifecycle::handler::{HandlerConfig, InvocationContext, LifecycleHandler};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::store::StateStore;
use asg_lifecycle_aws::{DynamoStore, dynamo, table};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde_json::{Map, Value, json};

/// The moto_server endpoint; `scripts/test.sh` starts the server and exports it.
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "MOTO_ENDPOINT is not set: the DynamoDB tests need a running moto_server. \
             Run scripts/test.sh, or start `target/pyenv/bin/moto_server -H 127.0.0.1 -p 5056` and \
             set MOTO_ENDPOINT=http://127.0.0.1:5056 AWS_ACCESS_KEY_ID=testing \
             AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1"
        )
    })
}

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Counts DynamoDB requests sent, by operation (from the `X-Amz-Target` header); retries count.
#[derive(Clone, Debug, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl RequestCounter {
    /// Requests of one operation (`GetItem`, `UpdateItem`, `Query`, `Scan`, ...).
    pub fn count(&self, operation: &str) -> usize {
        self.counts
            .lock()
            .unwrap()
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Every operation's count.
    pub fn all(&self) -> BTreeMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    /// Forgets the counts so far.
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown");
        let operation = target.rsplit('.').next().unwrap_or(target).to_string();
        *self.counts.lock().unwrap().entry(operation).or_default() += 1;
        Ok(())
    }
}

/// A client of moto with a request counter.
pub async fn moto_client() -> (aws_sdk_dynamodb::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = dynamo::client_config(Some(&moto_endpoint()), Some("us-east-1"))
        .await
        .interceptor(counter.clone())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), counter)
}

/// A fresh table on moto, and a store on it that lists `groups` in sweeps.
pub async fn moto_store(groups: &[&str]) -> (DynamoStore, RequestCounter) {
    let (client, counter) = moto_client().await;
    let name = unique_table("asg");
    table::create_table(&client, &name)
        .await
        .unwrap_or_else(|e| panic!("failed to create table {name} on moto: {e}"));
    counter.reset();
    (
        DynamoStore::new(client, name).with_groups(groups.iter().copied()),
        counter,
    )
}

/// Attributes as a JSON map.
pub fn attrs(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("a JSON object")
}

/// A lifecycle action event.
pub fn lifecycle_event(id: &str, instance: &str, group: &str, launching: bool) -> Event {
    let transition = if launching {
        "autoscaling:EC2_INSTANCE_LAUNCHING"
    } else {
        "autoscaling:EC2_INSTANCE_TERMINATING"
    };
    decode_event(&json!({
        "version": "0", "id": id, "source": "aws.autoscaling",
        "detail-type": if launching { "EC2 Instance-launch Lifecycle Action" } else { "EC2 Instance-terminate Lifecycle Action" },
        "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid:autoScalingGroupName/{group}")],
        "detail": {
            "LifecycleActionToken": format!("token-{id}"), "AutoScalingGroupName": group,
            "LifecycleHookName": "hook", "EC2InstanceId": instance, "LifecycleTransition": transition
        }
    }))
    .expect("a valid lifecycle event")
}

/// An SSM command-invocation status event.
pub fn command_event(id: &str, instance: &str, command_id: &str, status: &str) -> Event {
    decode_event(&json!({
        "version": "0", "id": id, "source": "aws.ssm",
        "detail-type": "EC2 Command Invocation Status-change Notification",
        "account": "123456789012", "time": "2024-05-01T12:01:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1:123456789012:instance/{instance}")],
        "detail": {"command-id": command_id, "instance-id": instance, "status": status, "document-name": "AWS-RunShellScript"}
    }))
    .expect("a valid command event")
}

/// A scheduled (sweep) event.
pub fn sweep_event(id: &str) -> Event {
    decode_event(&json!({
        "version": "0", "id": id, "source": "aws.events", "detail-type": "Scheduled Event",
        "account": "123456789012", "time": "2024-05-01T12:05:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"], "detail": {}
    }))
    .expect("a valid scheduled event")
}

/// A handler of the example model over a store, with the given initial wait.
pub fn handler(
    store: Arc<dyn StateStore>,
    local: &Arc<LocalAws>,
    initial_wait: Duration,
) -> LifecycleHandler {
    let config = HandlerConfig {
        initial_wait,
        initial_poll_interval: Duration::from_millis(50),
        ..HandlerConfig::default()
    };
    LifecycleHandler::new(
        Arc::new(Machine::example()),
        store,
        AwsClients::local(local),
    )
    .with_config(config)
}

/// An invocation context with a generous deadline.
pub fn ctx() -> InvocationContext {
    InvocationContext::with_budget(Duration::from_secs(60))
}
