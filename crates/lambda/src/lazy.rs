//! The function's AWS side (SDK configuration, the DynamoDB store, the Auto Scaling, SSM and SQS
//! clients) built once, when first needed, not before the first event is asked for.
//!
//! Building it reads the TLS root certificates and the SDK's configuration files: several
//! milliseconds that an event needing no AWS call (a poison payload, say) should not wait for.
//! The first call that needs AWS builds it; concurrent callers wait for that one build.
//!
//! Not built in the background at init: on 2 cores that doubled the median time to the first
//! answer (the build competes with the runtime's first `next` and the event), and Lambda
//! freezes the environment after `next` anyway, so a build started then is not done sooner.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;

use asg_lifecycle::aws::{
    AutoScalingApi, AwsClients, AwsError, CommandInvocation, CompleteLifecycleAction,
    LifecycleHeartbeat, LifecycleHook, SendCommand, SsmApi, WaitingInstance,
};
use asg_lifecycle::invocation::{DeadLetter, DeadLetters};
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::{Commit, Page, Result, StateStore};
use asg_lifecycle_aws::{DynamoStore, SqsDeadLetters};

/// What the AWS side is built from.
struct Settings {
    table: String,
    groups: Vec<String>,
    dead_letter_queue_url: Option<String>,
    registration_prefix: Option<String>,
}

/// The built AWS side.
struct Built {
    store: DynamoStore,
    clients: AwsClients,
    dead_letters: Option<SqsDeadLetters>,
}

/// The AWS side of the function, built on first use (see the module).
pub struct LazyAws {
    settings: Settings,
    built: OnceCell<Built>,
    /// The model's own clients ([`AwsClients::extensions`]), built at init when it has any.
    extensions: asg_lifecycle::aws::Extensions,
}

impl LazyAws {
    /// Nothing built yet: the store on `table` (sweeping `groups`), the default credential
    /// chain and region, endpoints from `AWS_ENDPOINT_URL*`, and the dead-letter queue when
    /// there is one.
    #[must_use]
    pub fn new(table: &str, groups: &[String], dead_letter_queue_url: Option<&str>) -> Arc<Self> {
        Self::with_registrations(table, groups, dead_letter_queue_url, None)
    }

    /// As [`Self::new`], with the key prefix instances' registrations are read under.
    #[must_use]
    pub fn with_registrations(
        table: &str,
        groups: &[String],
        dead_letter_queue_url: Option<&str>,
        registration_prefix: Option<&str>,
    ) -> Arc<Self> {
        Self::with_extensions(
            table,
            groups,
            dead_letter_queue_url,
            registration_prefix,
            asg_lifecycle::aws::Extensions::default(),
        )
    }

    /// As [`Self::with_registrations`], with the model's own AWS clients
    /// ([`AwsClients::extensions`], built by the caller).
    #[must_use]
    pub fn with_extensions(
        table: &str,
        groups: &[String],
        dead_letter_queue_url: Option<&str>,
        registration_prefix: Option<&str>,
        extensions: asg_lifecycle::aws::Extensions,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings: Settings {
                table: table.to_string(),
                groups: groups.to_vec(),
                dead_letter_queue_url: dead_letter_queue_url.map(str::to_string),
                registration_prefix: registration_prefix.map(str::to_string),
            },
            built: OnceCell::new(),
            extensions,
        })
    }

    /// True once built.
    #[must_use]
    pub fn is_built(&self) -> bool {
        self.built.initialized()
    }

    async fn get(&self) -> &Built {
        self.built.get_or_init(|| self.build()).await
    }

    async fn build(&self) -> Built {
        let started = tokio::time::Instant::now();
        // The shared configuration, loaded once, and DynamoDB's own derived from it (no SDK
        // retries: the store retries).
        let sdk = asg_lifecycle_aws::load_sdk_config(None, None).await;
        let dynamo = asg_lifecycle_aws::dynamo::client_config_from(&sdk);
        let s = &self.settings;
        let mut store = DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
            &s.table,
        )
        .with_groups(s.groups.iter().cloned());
        if let Some(prefix) = &s.registration_prefix {
            store = store.with_registration_prefix(prefix);
        }
        let built = Built {
            store,
            clients: asg_lifecycle_aws::aws_clients(&sdk),
            dead_letters: s
                .dead_letter_queue_url
                .as_deref()
                .map(|url| SqsDeadLetters::from_config(&sdk, url)),
        };
        tracing::debug!(
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "AWS clients built"
        );
        built
    }

    /// The store, built on first use.
    #[must_use]
    pub fn store(self: &Arc<Self>) -> Arc<dyn StateStore> {
        Arc::new(LazyStore(self.clone()))
    }

    /// The Auto Scaling and SSM clients, built on first use.
    #[must_use]
    pub fn clients(self: &Arc<Self>) -> AwsClients {
        AwsClients {
            autoscaling: Arc::new(LazyAutoScaling(self.clone())),
            ssm: Arc::new(LazySsm(self.clone())),
            extensions: self.extensions.clone(),
        }
    }

    /// The dead-letter queue (built on first use), when the function has one.
    #[must_use]
    pub fn dead_letters(self: &Arc<Self>) -> Option<Arc<dyn DeadLetters>> {
        self.settings
            .dead_letter_queue_url
            .as_ref()
            .map(|_| Arc::new(LazyDeadLetters(self.clone())) as Arc<dyn DeadLetters>)
    }
}

/// [`StateStore`] over the lazily built [`DynamoStore`].
struct LazyStore(Arc<LazyAws>);

#[async_trait]
impl StateStore for LazyStore {
    async fn get(&self, ident: &str) -> Result<Option<InstanceRecord>> {
        self.0.get().await.store.get(ident).await
    }

    async fn commit(&self, commit: &Commit) -> Result<InstanceRecord> {
        self.0.get().await.store.commit(commit).await
    }

    /// DynamoDB is sent a copy of the write whatever it is given: the store's `commit`, without
    /// the default's second boxed future.
    async fn commit_taking(&self, commit: &mut Commit) -> Result<InstanceRecord> {
        self.0.get().await.store.commit(commit).await
    }

    /// The same, the record DynamoDB answers with dropped.
    async fn commit_without_answer(&self, commit: &mut Commit) -> Result<()> {
        self.0.get().await.store.commit(commit).await.map(drop)
    }

    async fn query_active(
        &self,
        group: Option<&str>,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        let store = &self.0.get().await.store;
        store.query_active(group, start, limit).await
    }

    async fn sweep_cursor(&self) -> Result<Option<String>> {
        self.0.get().await.store.sweep_cursor().await
    }

    async fn save_sweep_cursor(&self, cursor: Option<&str>) -> Result<()> {
        self.0.get().await.store.save_sweep_cursor(cursor).await
    }

    async fn cloud_init_update(&self, ident: &str, attributes: &Map<String, Value>) -> Result<()> {
        let store = &self.0.get().await.store;
        store.cloud_init_update(ident, attributes).await
    }

    async fn registration(
        &self,
        instance: &str,
    ) -> Result<Option<asg_lifecycle::registration::Registration>> {
        self.0.get().await.store.registration(instance).await
    }
}

/// [`AutoScalingApi`] over the lazily built SDK client.
struct LazyAutoScaling(Arc<LazyAws>);

impl LazyAutoScaling {
    async fn api(&self) -> &dyn AutoScalingApi {
        self.0.get().await.clients.autoscaling.as_ref()
    }
}

#[async_trait]
impl AutoScalingApi for LazyAutoScaling {
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError> {
        self.api().await.complete_lifecycle_action(input).await
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError> {
        self.api()
            .await
            .record_lifecycle_action_heartbeat(input)
            .await
    }

    async fn heartbeat_timeout(
        &self,
        group: &str,
        hook: &str,
    ) -> Result<Option<Duration>, AwsError> {
        self.api().await.heartbeat_timeout(group, hook).await
    }

    async fn waiting_instances(&self, group: &str) -> Result<Vec<WaitingInstance>, AwsError> {
        self.api().await.waiting_instances(group).await
    }

    async fn lifecycle_hooks(&self, group: &str) -> Result<Vec<LifecycleHook>, AwsError> {
        self.api().await.lifecycle_hooks(group).await
    }

    async fn lifecycle_state(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        self.api().await.lifecycle_state(instance_id).await
    }

    async fn group_members(
        &self,
        instance_ids: &[String],
    ) -> Result<Option<BTreeSet<String>>, AwsError> {
        self.api().await.group_members(instance_ids).await
    }
}

/// [`SsmApi`] over the lazily built SDK client.
struct LazySsm(Arc<LazyAws>);

impl LazySsm {
    async fn api(&self) -> &dyn SsmApi {
        self.0.get().await.clients.ssm.as_ref()
    }
}

#[async_trait]
impl SsmApi for LazySsm {
    async fn send_command(&self, input: &SendCommand) -> Result<String, AwsError> {
        self.api().await.send_command(input).await
    }

    async fn find_command(&self, instance_id: &str, tag: &str) -> Result<Option<String>, AwsError> {
        self.api().await.find_command(instance_id, tag).await
    }

    async fn get_command_invocation(
        &self,
        command_id: &str,
        instance_id: &str,
    ) -> Result<CommandInvocation, AwsError> {
        let ssm = self.api().await;
        ssm.get_command_invocation(command_id, instance_id).await
    }

    async fn instance_private_ip(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        self.api().await.instance_private_ip(instance_id).await
    }
}

/// [`DeadLetters`] over the lazily built SQS client.
struct LazyDeadLetters(Arc<LazyAws>);

#[async_trait]
impl DeadLetters for LazyDeadLetters {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AwsError> {
        match &self.0.get().await.dead_letters {
            Some(queue) => queue.keep(letter).await,
            // Not made without a queue URL (`LazyAws::dead_letters`).
            None => Err(AwsError {
                operation: "SendMessage".into(),
                kind: asg_lifecycle::aws::AwsErrorKind::Permanent,
                code: "NoQueue".into(),
                message: "the function has no dead-letter queue".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::handler::{InvocationContext, LifecycleHandler};
    use asg_lifecycle::invocation::Invoker;
    use asg_lifecycle::machine::Machine;

    #[tokio::test]
    async fn an_event_that_needs_no_aws_call_is_answered_without_building_the_aws_side() {
        let aws = LazyAws::new("table", &["web-asg".to_string()], None);
        assert!(aws.dead_letters().is_none());
        let handler =
            LifecycleHandler::new(Arc::new(Machine::example()), aws.store(), aws.clients());
        let invoker = Invoker::new(handler);
        let ctx = InvocationContext::with_budget(Duration::from_secs(5));
        let poison = serde_json::json!({"source": "aws.ec2", "detail-type": "x", "detail": {}});
        let report = invoker.invoke(&poison, &ctx).await;
        assert!(report.envelope.is_err(), "{report:?}");
        assert!(!aws.is_built(), "nothing was built for a poison payload");
    }
}
