//! Shared test harness: a handler over the in-memory store and the recording AWS fake, and
//! builders for events.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::event::{Event, decode_event};
use asg_lifecycle::handler::{
    HandlerConfig, HandlerError, InvocationContext, LifecycleHandler, Outcome,
};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{Commit, MemoryStore, Page, StateStore, StoreError};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

/// A handler with its store and AWS fake.
pub struct Harness {
    pub handler: LifecycleHandler,
    pub store: Arc<MemoryStore>,
    pub aws: Arc<LocalAws>,
}

impl Harness {
    pub fn new(machine: Machine) -> Self {
        Self::with_config(
            machine,
            HandlerConfig {
                initial_wait: Duration::ZERO,
                ..HandlerConfig::default()
            },
        )
    }

    pub fn yaml(text: &str) -> Self {
        Self::new(Machine::from_yaml("test.yaml", text).unwrap_or_else(|r| panic!("{r}")))
    }

    pub fn example() -> Self {
        Self::new(Machine::example())
    }

    pub fn with_config(machine: Machine, config: HandlerConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let aws = Arc::new(LocalAws::new());
        let handler =
            LifecycleHandler::new(Arc::new(machine), store.clone(), AwsClients::local(&aws))
                .with_config(config);
        Self {
            handler,
            store,
            aws,
        }
    }

    /// What cloud-init writes (`update-item`).
    pub async fn register(&self, ident: &str, state: &str) {
        let mut attrs = Map::new();
        attrs.insert("ItemStatus".into(), json!(state));
        attrs.insert("InstanceIp".into(), json!("10.0.0.5"));
        self.store.cloud_init_update(ident, &attrs).await.unwrap();
    }

    pub async fn deliver(&self, event: &Event) -> Result<Vec<Outcome>, HandlerError> {
        self.handler
            .handle_event(
                event,
                &InvocationContext::with_budget(Duration::from_secs(60)),
            )
            .await
    }

    pub async fn deliver_ok(&self, event: &Event) -> Outcome {
        let mut outcomes = self.deliver(event).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcomes.len(), 1, "{outcomes:?}");
        outcomes.remove(0)
    }

    pub async fn record(&self, ident: &str) -> InstanceRecord {
        self.store.get(ident).await.unwrap().expect("record exists")
    }

    pub async fn state(&self, ident: &str) -> String {
        self.record(ident).await.state().to_string()
    }

    /// The recorded path as `from>to` strings.
    pub async fn path(&self, ident: &str) -> Vec<String> {
        self.record(ident)
            .await
            .history
            .iter()
            .map(|h| format!("{}>{}", h.from, h.to))
            .collect()
    }

    /// Operations called so far, in order.
    pub fn operations(&self) -> Vec<&'static str> {
        self.aws.calls().iter().map(|c| c.operation).collect()
    }

    /// The id of the last command sent.
    pub fn last_command_id(&self) -> String {
        let call = self
            .aws
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.operation == "SendCommand")
            .expect("a command was sent");
        LocalAws::command_id_for(call.input["comment"].as_str().unwrap())
    }
}

pub fn launch(ident: &str, id: &str) -> Event {
    lifecycle(ident, id, "autoscaling:EC2_INSTANCE_LAUNCHING")
}

pub fn terminate(ident: &str, id: &str) -> Event {
    lifecycle(ident, id, "autoscaling:EC2_INSTANCE_TERMINATING")
}

fn lifecycle(ident: &str, id: &str, transition: &str) -> Event {
    decode_event(&json!({
        "id": id, "source": "aws.autoscaling", "detail-type": "EC2 Instance-launch Lifecycle Action",
        "time": "2026-11-20T12:00:00Z", "resources": [],
        "detail": {
            "LifecycleActionToken": format!("token-{id}"), "AutoScalingGroupName": "web-asg",
            "LifecycleHookName": "hook", "EC2InstanceId": ident, "LifecycleTransition": transition,
        }
    }))
    .unwrap()
}

pub fn command(ident: &str, command_id: &str, status: &str, id: &str) -> Event {
    decode_event(&json!({
        "id": id, "source": "aws.ssm", "detail-type": "EC2 Command Invocation Status-change Notification",
        "time": "2026-11-20T12:01:00Z", "resources": [],
        "detail": {"command-id": command_id, "instance-id": ident, "status": status, "document-name": "AWS-RunShellScript"}
    }))
    .unwrap()
}

pub fn scheduled(rule: &str, id: &str) -> Event {
    decode_event(&json!({
        "id": id, "source": "aws.events", "detail-type": "Scheduled Event",
        "time": "2026-11-20T12:05:00Z",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")], "detail": {}
    }))
    .unwrap()
}

/// A clock the test moves by hand.
pub struct ManualClock(pub std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl ManualClock {
    pub fn new() -> Self {
        Self(std::sync::Mutex::new(
            chrono::DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
                .unwrap()
                .into(),
        ))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }
}

impl asg_lifecycle::handler::Clock for ManualClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// When a simulated crash strikes, relative to a commit's write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    /// The commit fails without writing.
    BeforeWrite,
    /// The commit writes, then the caller sees an error (its process died after the write).
    AfterWrite,
}

/// A store whose chosen commits (counted from 1) crash before or after their write.
pub struct FaultyStore {
    pub inner: Arc<MemoryStore>,
    pub crash: Crash,
    pub on_commits: Vec<usize>,
    pub commits: AtomicUsize,
}

impl FaultyStore {
    pub fn new(inner: Arc<MemoryStore>, crash: Crash, on_commits: &[usize]) -> Arc<Self> {
        Arc::new(Self {
            inner,
            crash,
            on_commits: on_commits.to_vec(),
            commits: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl StateStore for FaultyStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>, StoreError> {
        self.inner.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord, StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        let strikes = self.on_commits.contains(&n);
        if strikes && self.crash == Crash::BeforeWrite {
            return Err(StoreError::Unavailable {
                message: format!("simulated crash before commit {n}"),
            });
        }
        let written = self.inner.commit(commit).await?;
        if strikes {
            return Err(StoreError::Unavailable {
                message: format!("simulated crash after commit {n}"),
            });
        }
        Ok(written)
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        self.inner.query_active(group, start, limit).await
    }

    async fn cloud_init_update(
        &self,
        ident: &str,
        attributes: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        self.inner.cloud_init_update(ident, attributes).await
    }
}
