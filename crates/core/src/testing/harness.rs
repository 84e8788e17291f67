//! The harness: a handler wired to its store, AWS fake, clock and configuration by one builder,
//! with the helpers that tests use to drive it and look at what it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, json};

use super::ManualClock;
use super::events::scheduled;
use crate::aws::{AwsClients, LocalAws};
use crate::event::Event;
use crate::handler::{HandlerConfig, HandlerError, InvocationContext, LifecycleHandler, Outcome};
use crate::machine::Machine;
use crate::record::InstanceRecord;
use crate::store::{MemoryStore, StateStore};

/// The `InstanceIp` that [`Harness::register`] writes, as cloud-init would.
pub const INSTANCE_IP: &str = "10.0.0.5";

/// The time budget of every delivery.
const BUDGET: Duration = Duration::from_secs(60);

/// The invocation context of every delivery: a budget of 60 s from now, so that no test meets
/// the deadline by accident.
#[must_use]
pub fn invocation_context() -> InvocationContext {
    InvocationContext::with_budget(BUDGET)
}

/// A handler with its store, AWS fake and clock, and helpers to drive it.
///
/// Build it with [`Harness::builder`]. The handler runs the example model over a fresh
/// [`MemoryStore`] and a fresh [`LocalAws`], on the system clock, with the default
/// [`HandlerConfig`] except `initial_wait` zero (a missing or pending record is answered at once,
/// unless a test configures the wait) and an intent lease of 60 s (a one-minute function). Each part can be replaced; the ones a test replaces are
/// the ones that test is about.
pub struct Harness<S: StateStore + 'static = MemoryStore> {
    /// The handler under test.
    pub handler: LifecycleHandler,
    /// The store the handler reads and writes.
    pub store: Arc<S>,
    /// The recording AWS fake (the handler's clients unless [`HarnessBuilder::clients`] replaced
    /// them; then it records only what those clients forward to it).
    pub aws: Arc<LocalAws>,
    clock: Option<Arc<ManualClock>>,
    machine: Arc<Machine>,
    clients: AwsClients,
    config: HandlerConfig,
    sweeps: AtomicUsize,
    registrations: AtomicUsize,
}

/// Builds a [`Harness`]; every part has the default documented there.
#[must_use = "a builder does nothing until built"]
pub struct HarnessBuilder<S: StateStore + 'static = MemoryStore> {
    store: Arc<S>,
    machine: Option<Machine>,
    aws: Option<Arc<LocalAws>>,
    clients: Option<AwsClients>,
    clock: Option<Arc<ManualClock>>,
    config: HandlerConfig,
}

impl Harness {
    /// A builder with every default: the example model, a fresh memory store, a fresh AWS fake,
    /// the system clock, no initial wait. The AWS fake (given or fresh) reports [`INSTANCE_IP`]
    /// as every instance's private IP unless a test sets another one afterwards.
    pub fn builder() -> HarnessBuilder {
        HarnessBuilder {
            store: Arc::new(MemoryStore::new()),
            machine: None,
            aws: None,
            clients: None,
            clock: None,
            config: HandlerConfig {
                initial_wait: Duration::ZERO,
                // A one-minute function: takeovers of an expired intent happen within a test's
                // few simulated minutes.
                intent_lease: Duration::from_secs(60),
                ..HandlerConfig::default()
            },
        }
    }
}

impl<S: StateStore + 'static> HarnessBuilder<S> {
    /// The store (for example a [`FaultyStore`](super::FaultyStore) over a memory store, or a
    /// DynamoDB store).
    pub fn store<T: StateStore + 'static>(self, store: Arc<T>) -> HarnessBuilder<T> {
        HarnessBuilder {
            store,
            machine: self.machine,
            aws: self.aws,
            clients: self.clients,
            clock: self.clock,
            config: self.config,
        }
    }

    /// The model (default: [`Machine::example`]).
    pub fn machine(mut self, machine: Machine) -> Self {
        self.machine = Some(machine);
        self
    }

    /// The model, from YAML text.
    ///
    /// # Panics
    /// When the model is invalid: the report is the panic message.
    pub fn model_yaml(self, text: &str) -> Self {
        let machine = Machine::from_yaml("test.yaml", text).unwrap_or_else(|r| panic!("{r}"));
        self.machine(machine)
    }

    /// The configuration, whole (default: [`HandlerConfig::default`] with `initial_wait` zero).
    pub fn config(mut self, config: HandlerConfig) -> Self {
        self.config = config;
        self
    }

    /// The AWS fake, shared with another harness or kept by the test.
    pub fn aws(mut self, aws: Arc<LocalAws>) -> Self {
        self.aws = Some(aws);
        self
    }

    /// Other AWS clients than the fake (SDK clients over mocks, a fake wrapped by the test).
    pub fn clients(mut self, clients: AwsClients) -> Self {
        self.clients = Some(clients);
        self
    }

    /// A clock that stands still until the test moves it ([`Harness::advance`]).
    pub fn manual_clock(self) -> Self {
        self.clock(Arc::new(ManualClock::new()))
    }

    /// A manual clock shared with another harness or kept by the test.
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The harness.
    pub fn build(self) -> Harness<S> {
        let aws = self.aws.unwrap_or_else(|| Arc::new(LocalAws::new()));
        // SSM reports the address cloud-init writes (`register`): models reading it either way
        // send the same command.
        aws.set_default_private_ip(Some(INSTANCE_IP));
        let clients = self.clients.unwrap_or_else(|| AwsClients::local(&aws));
        let machine = Arc::new(self.machine.unwrap_or_else(Machine::example));
        let handler = handler(
            &machine,
            &self.store,
            &clients,
            &self.config,
            self.clock.as_ref(),
        );
        Harness {
            handler,
            store: self.store,
            aws,
            clock: self.clock,
            machine,
            clients,
            config: self.config,
            sweeps: AtomicUsize::new(0),
            registrations: AtomicUsize::new(0),
        }
    }
}

fn handler<S: StateStore + 'static>(
    machine: &Arc<Machine>,
    store: &Arc<S>,
    clients: &AwsClients,
    config: &HandlerConfig,
    clock: Option<&Arc<ManualClock>>,
) -> LifecycleHandler {
    let handler = LifecycleHandler::new(machine.clone(), store.clone(), clients.clone())
        .with_config(config.clone());
    match clock {
        Some(clock) => handler.with_clock(clock.clone()),
        None => handler,
    }
}

impl<S: StateStore + 'static> Harness<S> {
    /// Another handler over the same model, store, AWS clients, clock and configuration: a
    /// second Lambda execution environment, for concurrent deliveries.
    #[must_use]
    pub fn another_handler(&self) -> LifecycleHandler {
        handler(
            &self.machine,
            &self.store,
            &self.clients,
            &self.config,
            self.clock.as_ref(),
        )
    }

    /// What cloud-init writes on the instance's registration item (`update-item`): `state` and
    /// the IP [`INSTANCE_IP`]. When `state` is the model's initial state, the table's stream then
    /// delivers the change (the template's filter lets only that one through) and the handler
    /// takes the registration in, as deployed.
    ///
    /// # Panics
    /// When the store fails, or the handler fails on the stream event.
    pub async fn register(&self, ident: &str, state: &str) {
        self.register_with(ident, state, &[]).await;
    }

    /// [`Self::register`] with more attributes of the instance's own (`Role`, ...).
    ///
    /// # Panics
    /// When the store fails, or the handler fails on the stream event.
    pub async fn register_with(&self, ident: &str, state: &str, attributes: &[(&str, &str)]) {
        self.write_registration(ident, state, attributes).await;
        if state == self.machine.graph().initial {
            self.registered_with(ident, state, attributes).await;
        }
    }

    /// Cloud-init's write of the instance's registration: `state`, [`INSTANCE_IP`] and
    /// `attributes`; the attributes written.
    async fn write_registration(
        &self,
        ident: &str,
        state: &str,
        attributes: &[(&str, &str)],
    ) -> Map<String, serde_json::Value> {
        let mut attrs = Map::new();
        attrs.insert("ItemStatus".into(), json!(state));
        attrs.insert("InstanceIp".into(), json!(INSTANCE_IP));
        for (name, value) in attributes {
            attrs.insert((*name).to_string(), json!(value));
        }
        self.store
            .cloud_init_update(ident, &attrs)
            .await
            .unwrap_or_else(|e| panic!("cloud-init's write failed: {e}"));
        attrs
    }

    /// What cloud-init writes, as [`Self::register`], with the table's stream event not delivered
    /// (yet): a test delivers it, or the sweep reads the registration itself.
    ///
    /// # Panics
    /// When the store fails.
    pub async fn register_unannounced(&self, ident: &str, state: &str) {
        self.write_registration(ident, state, &[]).await;
    }

    /// Test setup: the record as the handler leaves it once it took in a registration at
    /// `state` (with the IP [`INSTANCE_IP`]), without stepping the machine: for tests of what
    /// the next event does from there.
    ///
    /// # Panics
    /// When the store fails.
    pub async fn seed_registered(&self, ident: &str, state: &str) {
        let mut attrs = self.write_registration(ident, state, &[]).await;
        let current = self.store.get(ident).await.ok().flatten();
        let record = current.unwrap_or_else(|| InstanceRecord::new(ident));
        let now = self.clock.as_ref().map_or_else(chrono::Utc::now, |clock| {
            crate::handler::Clock::now(clock.as_ref())
        });
        let mut commit = crate::store::Commit::expecting(&record, now);
        commit.status = Some(state.to_string());
        attrs.remove("ItemStatus");
        commit.attributes = attrs;
        self.store
            .commit(&commit)
            .await
            .unwrap_or_else(|e| panic!("seeding the record failed: {e}"));
    }

    /// Delivers the table's stream event of `ident`'s registration reaching `state`, with the
    /// attributes [`Self::register`] writes.
    ///
    /// # Panics
    /// When the handler fails.
    pub async fn registered(&self, ident: &str, state: &str) -> Vec<Outcome> {
        self.registered_with(ident, state, &[]).await
    }

    /// [`Self::registered`] with more attributes in the stream image.
    ///
    /// # Panics
    /// When the handler fails.
    pub async fn registered_with(
        &self,
        ident: &str,
        state: &str,
        attributes: &[(&str, &str)],
    ) -> Vec<Outcome> {
        let sequence = self
            .registrations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut change =
            crate::event::payload::RecordChange::new(&format!("{sequence}"), ident, state)
                .with_attribute("InstanceIp", INSTANCE_IP);
        for (name, value) in attributes {
            change = change.with_attribute(name, value);
        }
        let invocation = crate::event::decode_invocation(&json!({"Records": [change.record()]}))
            .unwrap_or_else(|e| panic!("the stream record does not decode: {e}"));
        let mut outcomes = Vec::new();
        for message in invocation.messages {
            let event = message
                .event
                .unwrap_or_else(|e| panic!("the stream record does not decode: {e}"));
            outcomes.extend(
                self.deliver(&event)
                    .await
                    .unwrap_or_else(|e| panic!("the registration event failed: {e}")),
            );
        }
        outcomes
    }

    /// Delivers one event.
    ///
    /// # Errors
    /// What the handler answers.
    pub async fn deliver(&self, event: &Event) -> Result<Vec<Outcome>, HandlerError> {
        self.handler
            .handle_event(event, &invocation_context())
            .await
    }

    /// Delivers one event that must succeed with exactly one outcome.
    ///
    /// # Panics
    /// When the handler fails or answers another number of outcomes.
    pub async fn deliver_ok(&self, event: &Event) -> Outcome {
        let mut outcomes = self.deliver(event).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(outcomes.len(), 1, "{outcomes:?}");
        outcomes.remove(0)
    }

    /// Delivers the next scheduled event of the configured sweep rule (ids `sweep-1`,
    /// `sweep-2`, ...), which must succeed; returns its outcomes.
    ///
    /// # Panics
    /// When the handler fails.
    pub async fn sweep(&self) -> Vec<Outcome> {
        let n = self.sweeps.fetch_add(1, Ordering::SeqCst) + 1;
        let event = scheduled(&format!("sweep-{n}"), &self.config.sweep_rule);
        self.deliver(&event)
            .await
            .unwrap_or_else(|e| panic!("sweep {n} failed: {e}"))
    }

    /// Moves the manual clock forward.
    ///
    /// # Panics
    /// When the harness was built without [`HarnessBuilder::manual_clock`] or
    /// [`HarnessBuilder::clock`].
    pub fn advance(&self, by: Duration) {
        self.clock
            .as_ref()
            .expect("build the harness with .manual_clock() to move time")
            .advance(by);
    }

    /// The stored record.
    ///
    /// # Panics
    /// When there is none or the store fails.
    pub async fn record(&self, ident: &str) -> InstanceRecord {
        self.store
            .get(ident)
            .await
            .unwrap_or_else(|e| panic!("failed to read {ident}: {e}"))
            .unwrap_or_else(|| panic!("{ident} has no record"))
    }

    /// The stored state.
    ///
    /// # Panics
    /// When there is no record or the store fails.
    pub async fn state(&self, ident: &str) -> String {
        self.record(ident).await.state().to_string()
    }

    /// The recorded path as `from>to` strings.
    ///
    /// # Panics
    /// When there is no record or the store fails.
    pub async fn path(&self, ident: &str) -> Vec<String> {
        self.record(ident)
            .await
            .history
            .iter()
            .map(|h| format!("{}>{}", h.from, h.to))
            .collect()
    }

    /// The operations the AWS fake saw so far, in order.
    #[must_use]
    pub fn operations(&self) -> Vec<&'static str> {
        self.aws.calls().iter().map(|c| c.operation).collect()
    }

    /// How many calls of `operation` the AWS fake saw.
    #[must_use]
    pub fn count(&self, operation: &str) -> usize {
        self.aws
            .calls()
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// The id the AWS fake gave the last command sent.
    ///
    /// # Panics
    /// When no command was sent.
    #[must_use]
    pub fn last_command_id(&self) -> String {
        let call = self
            .aws
            .calls()
            .into_iter()
            .rev()
            .find(|c| c.operation == "SendCommand")
            .expect("a command was sent");
        let tag = call.input["comment"].as_str().expect("a tagged command");
        LocalAws::command_id_for(tag)
    }
}
