//! The [`LifecycleHandler`]: decode → load → step → execute → persist, until quiescent.
//!
//! # Guarantees
//! - A transition is written at most once: every write is conditional on the state and version
//!   read, and an event id already processed is a no-op.
//! - A chain interrupted by a crash or the deadline is recorded (`InFlight`) and finished by the
//!   next delivery of any event for the instance, or by the sweep.
//! - `before` tasks run before the write and are re-run after a crash; `after` tasks run after it
//!   and are re-run from the record; built-in tasks are idempotent.
//!
//! # Errors
//! Every error is classified retryable or not ([`HandlerError::is_retryable`]).
//!
//! # Layout
//! One file per guarantee, each stated in its module doc: `conflict` (reload on conflict,
//! duplicates), `admission` (instances before their initial state), `steps` (the step loop),
//! `transition` (before tasks, write, after tasks), `phase` (running tasks), `failure`,
//! `intent` (the SSM intent lease), `write` (the one builder of conditional writes) and `run`
//! (the state of a chain run and its outcome); the sweep in `sweep`, `recovery` and `adoption`.

mod admission;
mod adoption;
mod callbacks;
mod conflict;
mod error;
mod failure;
mod heartbeat;
mod intent;
mod keepalive;
mod outcome;
mod phase;
mod recovery;
mod run;
mod scheduled;
mod steps;
mod sweep;
mod transition;
mod write;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

pub use adoption::{ADOPTED_EVENT_PREFIX, is_adopted};
pub use error::HandlerError;
pub use heartbeat::{HookTooShort, heartbeat_due, shortest_hook};
pub use keepalive::KEEPALIVE_SUFFIX;
pub use outcome::{Outcome, OutcomeKind, TransitionTaken};

use crate::aws::AwsClients;
use crate::event::{Event, Stimulus};
use crate::machine::Machine;
use crate::store::StateStore;

/// A source of the current time (simulated in the simulator).
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> DateTime<Utc>;

    /// Runs `work` as one of several tasks the current invocation runs at once (the sweep's
    /// records). The system clock runs it as it is; a simulated clock gives each task its own
    /// time, so that requests made side by side take the time of the slowest, not their sum.
    fn concurrently<'a>(&self, work: InstanceWork<'a>) -> InstanceWork<'a> {
        work
    }

    /// Lets `duration` pass before the invocation goes on (a backoff): the system clock sleeps,
    /// a simulated clock advances the invocation's time.
    fn pause(&self, duration: Duration) -> futures::future::BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The work of one instance within an invocation.
pub type InstanceWork<'a> = futures::future::BoxFuture<'a, Result<Outcome, HandlerError>>;

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Lambda's longest function timeout.
pub const MAX_FUNCTION_TIMEOUT: Duration = Duration::from_secs(900);

/// Kept between the function timeout and the end of an SSM intent's lease.
pub const INTENT_LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Handler settings.
#[derive(Clone, Debug)]
pub struct HandlerConfig {
    /// The scheduled rule that runs the sweep.
    pub sweep_rule: String,
    /// How long a lifecycle event waits for its instance to reach the initial state.
    pub initial_wait: Duration,
    /// How often the store is polled during that wait.
    pub initial_poll_interval: Duration,
    /// Time kept free before the invocation deadline.
    pub deadline_margin: Duration,
    /// Transitions one event may cause in a row.
    pub max_steps: usize,
    /// Conflicting writes tolerated (reload and step again) before giving up.
    pub max_conflicts: usize,
    /// How long a record stays after reaching a terminal state (DynamoDB TTL).
    pub terminal_ttl: Duration,
    /// Page size of active-index queries.
    pub page_size: usize,
    /// How long an SSM command intent written by another invocation is presumed to be that
    /// invocation's to send; past it, the writer is presumed crashed and the command is recovered.
    /// Longer than the function timeout ([`Self::with_function_timeout`]): a live owner, however
    /// slow, is never taken over.
    pub intent_lease: Duration,
    /// How long a sent command may go without its status event before the sweep asks SSM
    /// (`GetCommandInvocation`): the event is presumed lost.
    pub status_grace: Duration,
    /// The heartbeat timeout assumed for a hook whose own cannot be read.
    pub heartbeat_timeout: Duration,
    /// How long a record must have been quiet before the sweep may mark its instance gone
    /// (Auto Scaling's view of a just-launched instance can lag).
    pub gone_grace: Duration,
    /// How often the sweep runs (the `SweepSchedule` rate): held lifecycle actions are
    /// heartbeated so that none lapses before the next sweep.
    pub sweep_period: Duration,
    /// How late a sweep may start or reach a record after its tick (delivery retries, a long
    /// sweep): added to the period when scheduling heartbeats.
    pub sweep_lateness: Duration,
    /// Active records the sweep works on at once.
    pub sweep_concurrency: usize,
    /// The Auto Scaling groups whose held instances the sweep adopts when their lifecycle event
    /// has not come (`DescribeAutoScalingGroups`); none by default.
    pub groups: Vec<String>,
}

impl Default for HandlerConfig {
    fn default() -> Self {
        Self {
            // The rule name the SAM template gives the sweep schedule.
            sweep_rule: "reconcile".into(),
            // No waiting for cloud-init inside an invocation: the registration's change to the
            // initial state (the table's stream) continues the instance, the sweep is the safety
            // net, and a Lambda is never held polling.
            initial_wait: Duration::ZERO,
            initial_poll_interval: Duration::from_secs(2),
            // Enough for one more conditional write after the last step.
            deadline_margin: Duration::from_secs(3),
            // The example model's longest chain is 4; 32 stops a cycle of automatic triggers.
            max_steps: 32,
            // Concurrent deliveries of one event settle within a couple of reloads.
            max_conflicts: 8,
            // A week: long enough to inspect a finished lifecycle, short enough to stay small.
            terminal_ttl: Duration::from_secs(7 * 24 * 3600),
            // DynamoDB returns at most 1 MB per page anyway.
            page_size: 500,
            // Lambda's longest function timeout and a margin: safe whatever the deployment's.
            intent_lease: MAX_FUNCTION_TIMEOUT + INTENT_LEASE_MARGIN,
            // Status events come within seconds; a minute means it was lost.
            status_grace: Duration::from_secs(60),
            // Auto Scaling's default heartbeat timeout for a lifecycle hook.
            heartbeat_timeout: Duration::from_secs(3600),
            // Ten minutes: far beyond DescribeAutoScalingInstances' propagation delay.
            gone_grace: Duration::from_secs(600),
            // The template's default `rate(5 minutes)`.
            sweep_period: Duration::from_secs(300),
            // EventBridge retries a failed invoke within a minute or so; Lambda retries a failed
            // asynchronous invocation after about one and then two more minutes.
            sweep_lateness: Duration::from_secs(240),
            // Enough to heartbeat thousands of held actions within a minute at control-plane
            // latency, few enough to stay well under Auto Scaling's request rate.
            sweep_concurrency: 32,
            groups: Vec::new(),
        }
    }
}

impl HandlerConfig {
    /// The rule name of the keepalive pass: the sweep rule's second target.
    #[must_use]
    pub fn keepalive_rule(&self) -> String {
        format!("{}{KEEPALIVE_SUFFIX}", self.sweep_rule)
    }

    /// With the intent lease fitted to a function `timeout`: an intent outlives the invocation
    /// that wrote it by [`INTENT_LEASE_MARGIN`], never less.
    #[must_use]
    pub fn with_function_timeout(mut self, timeout: Duration) -> Self {
        self.intent_lease = timeout + INTENT_LEASE_MARGIN;
        self
    }
}

/// One invocation's deadline and identity.
#[derive(Clone, Debug)]
pub struct InvocationContext {
    /// When the invocation must have answered.
    pub deadline: Instant,
    /// The request id, for logs.
    pub request_id: String,
}

impl InvocationContext {
    /// A context with a deadline `budget` from now.
    #[must_use]
    pub fn with_budget(budget: Duration) -> Self {
        Self {
            deadline: Instant::now() + budget,
            request_id: "local".into(),
        }
    }
}

/// The lifecycle handler. Build it once (clients, model) and call it for every invocation.
#[derive(Clone)]
pub struct LifecycleHandler {
    machine: Arc<Machine>,
    store: Arc<dyn StateStore>,
    aws: AwsClients,
    clock: Arc<dyn Clock>,
    config: HandlerConfig,
    /// Heartbeat timeouts of lifecycle hooks, by (group, hook), read once.
    hook_timeouts: Arc<std::sync::Mutex<std::collections::BTreeMap<(String, String), Duration>>>,
}

impl LifecycleHandler {
    /// A handler over a machine, a store and AWS clients, with default settings.
    #[must_use]
    pub fn new(machine: Arc<Machine>, store: Arc<dyn StateStore>, aws: AwsClients) -> Self {
        Self {
            machine,
            store,
            aws,
            clock: Arc::new(SystemClock),
            config: HandlerConfig::default(),
            hook_timeouts: Arc::default(),
        }
    }

    /// Replaces the settings.
    #[must_use]
    pub fn with_config(mut self, config: HandlerConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The machine.
    #[must_use]
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &HandlerConfig {
        &self.config
    }

    /// Handles one decoded event: every instance it addresses, or every active record for a
    /// scheduled event.
    ///
    /// # Errors
    /// The first error met for an instance event; for scheduled events, per-instance errors are
    /// reported in the outcomes and the first retryable one is returned after all instances ran.
    pub async fn handle_event(
        &self,
        event: &Event,
        ctx: &InvocationContext,
    ) -> Result<Vec<Outcome>, HandlerError> {
        let span = tracing::info_span!("event", id = %event.id, kind = event.stimulus.kind(), request_id = %ctx.request_id);
        let _guard = span.enter();
        match &event.stimulus {
            Stimulus::Scheduled(_) => self.handle_scheduled(event, ctx).await,
            stimulus => {
                // Every instance is processed even when one fails; the first retryable error is
                // returned at the end, else the first error of a single-instance event.
                let ids = stimulus.instance_ids();
                let mut outcomes = Vec::new();
                let mut first_retryable = None;
                for ident in ids {
                    // A late lifecycle action is kept alive before anything else: the record may
                    // not be readable or writable right now (the token comes from the event, not
                    // from the record). For a launch whose boot never ends this holds the hook
                    // one timeout longer, once: the sweep never heartbeats a pending record.
                    let late_heartbeat = match stimulus {
                        Stimulus::Lifecycle(action) => {
                            self.heartbeat_if_late(&event.id, action).await
                        }
                        _ => None,
                    };
                    match self.process_instance(ident, &event.id, stimulus, ctx).await {
                        Ok(mut outcome) => {
                            outcome.effects.extend(late_heartbeat);
                            outcomes.push(outcome);
                        }
                        Err(e) if e.is_retryable() => {
                            first_retryable.get_or_insert(e);
                        }
                        Err(e) if ids.len() == 1 => return Err(e),
                        Err(e) => {
                            tracing::warn!(instance = %ident, error = %e, "instance rejected");
                            outcomes.push(Outcome::of_error(Some(&event.id), Some(ident), &e));
                        }
                    }
                }
                match first_retryable {
                    Some(e) => Err(e),
                    None => Ok(outcomes),
                }
            }
        }
    }

    pub(super) fn near_deadline(&self, ctx: &InvocationContext) -> bool {
        Instant::now() + self.config.deadline_margin >= ctx.deadline
    }

    /// The time left before the invocation's deadline minus its margin (zero once past it).
    pub(super) fn time_left(&self, ctx: &InvocationContext) -> Duration {
        ctx.deadline
            .checked_duration_since(Instant::now())
            .and_then(|left| left.checked_sub(self.config.deadline_margin))
            .unwrap_or_default()
    }
}
