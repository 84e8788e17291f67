//! A deterministic simulator of an Auto Scaling group, its events and their faults, driving the
//! real [`LifecycleHandler`](asg_lifecycle::handler::LifecycleHandler) through the production traits
//! and the deployed function's own invocation loop ([`Invoker`](asg_lifecycle::invocation::Invoker)):
//! what its answer hands back (a failed invocation, an SQS batch item failure) is delivered again.
//!
//! The world is discrete-event: a priority queue of timed jobs (launches, cloud-init writes, SSM
//! commands ending, hook deadlines, scale-ins, deliveries, sweeps) and a simulated clock that
//! jumps from one to the next; nothing sleeps. All randomness comes from
//! `ChaCha8Rng::seed_from_u64(seed)`, and everything iterated is ordered, so one seed gives one
//! run, bit for bit (the report's `wall_ms` aside).
//!
//! The handler runs over the real [`MemoryStore`](asg_lifecycle::store::MemoryStore) (behind a wrapper
//! that injects throttling, crashes and yield points), a simulated Auto Scaling group and a
//! simulated SSM that implement the [`aws`](asg_lifecycle::aws) traits, and the simulated clock.
//!
//! # Faults
//! Deliveries: duplicates, delays that reorder, lost SSM notifications and sweep ticks, SNS, SQS
//! and SNS-in-SQS envelopes. Handler: a crash right after a store write or an AWS call took
//! effect, overlapped invocations for one instance, throttling and 5xx answers (before or after
//! the call took effect). World: SSM commands that fail or time out, cloud-init that never
//! finishes. Faults stop at a set time; from then on every instance must settle within a bound.
//!
//! # Assumptions
//! Lifecycle notifications are delivered at least once (through a queue that keeps them until
//! handled): the handler has no way to learn of a lifecycle action whose every notification was
//! lost. SSM notifications may be lost; both kinds are emitted for every command.
//!
//! # Invariants
//! Checked in every run (`invariants.rs`): transitions are edges and never recorded twice; lifecycle actions are
//! completed at most once with one result and never left to time out while the instance
//! progresses; at most one SSM command per transition attempt; every instance settles, and the
//! group and the store agree (in service ⇔ a stable state); no poison payload disappears (each
//! injected one ends in a dead-letter store with its reason, after a bounded number of
//! attempts: `dead_letters.rs`).

mod adversary;
mod asg;
mod cloud_init;
mod dead_letters;
mod delivery;
mod digits;
mod exec;
mod faults;
pub mod filter;
mod finish;
mod group;
pub mod iam;
mod instances;
mod invariants;
mod latency;
mod report;
mod rules;
mod runner;
mod ssm;
mod store;
mod ticks;
mod trail;
mod world;

use std::sync::Arc;
use std::time::Duration;

pub use asg::SimAutoScaling;
pub use dead_letters::{KeptBy, PoisonCounts, SimDeadLetters};
pub use faults::{FaultProfile, Faults};
pub use invariants::Violation;
pub use latency::{Latencies, Latency};
pub use report::{FaultCounts, Report};
pub use ssm::SimSsm;
pub use store::{Broken, SimStore};
pub use world::{Millis, SimClock};

use asg_lifecycle::machine::Machine;

/// The settings of one run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Instances launched.
    pub instances: usize,
    /// The fault level.
    pub faults: Faults,
    /// The model.
    pub machine: Arc<Machine>,
    /// The lifecycle hooks' heartbeat timeout.
    pub heartbeat_timeout: Duration,
    /// How often the `reconcile` rule fires.
    pub sweep_period: Duration,
    /// Time between two launches (scale out is spread over `instances × launch_interval`).
    pub launch_interval: Duration,
    /// Faults stop this long after the last launch.
    pub fault_window: Duration,
    /// Every instance settles this long after its last lifecycle action started (or after
    /// faults stopped); `None`: the sum of the model's state timeouts, two sweep periods and
    /// ten minutes.
    pub settle_bound: Option<Duration>,
    /// Share of in-service instances scaled in again.
    pub scale_in_fraction: f64,
    /// How long an instance serves before it is scaled in (a range).
    pub lifetime: (Duration, Duration),
    /// Share of launches that go into the group's warm pool first (prepared, then moved into
    /// service by a second launch action); the same share of scale-ins returns instances to it.
    pub warm_pool: f64,
    /// The handler's SSM intent lease.
    pub intent_lease: Duration,
    /// A deliberately broken store (to prove the invariants can fail).
    pub broken: Option<Broken>,
    /// How long store and AWS requests take.
    pub latencies: Latencies,
    /// The function timeout: every invocation's budget (the template's `FunctionTimeout`).
    pub function_timeout: Duration,
    /// The function's reserved concurrency; `None`: the template's (`ReservedConcurrency`).
    pub reserved_concurrency: Option<usize>,
}

impl SimConfig {
    /// The defaults for a seed and a size, on the example model with default faults.
    #[must_use]
    pub fn new(seed: u64, instances: usize) -> Self {
        Self {
            seed,
            instances,
            faults: Faults::Default,
            machine: Arc::new(Machine::example()),
            // The heartbeat timeout the deploy guide recommends (15 minutes): the sweep must keep
            // the hooks alive through the example model's longest path (35 minutes).
            heartbeat_timeout: Duration::from_secs(900),
            // A common `rate(5 minutes)` schedule: each sweep visits every active record.
            sweep_period: Duration::from_secs(300),
            // 10 launches a second: a big scale-out, and the load spread like a real one.
            launch_interval: Duration::from_millis(100),
            // Long enough for every launched instance to go through its launch and most of
            // their terminations under faults.
            fault_window: Duration::from_secs(30 * 60),
            settle_bound: None,
            // Most instances are scaled in again; the rest show that in service ⇔ ready.
            scale_in_fraction: 0.9,
            lifetime: (Duration::from_secs(120), Duration::from_secs(1200)),
            // A group with a warm pool: one launch in five is prepared there first.
            warm_pool: 0.2,
            // Longer than one invocation's SendCommand, shorter than a sweep period.
            intent_lease: Duration::from_secs(60),
            broken: None,
            // Every request takes time, as in AWS: chains and sweeps take as long as they do
            // deployed.
            latencies: Latencies::REALISTIC,
            // The template's default `FunctionTimeout`.
            function_timeout: Duration::from_secs(60),
            reserved_concurrency: None,
        }
    }

    /// With another fault level.
    #[must_use]
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// The `asg-lifecycle simulate` command that reproduces this run (the model path, when not
    /// the example, is the caller's to add).
    #[must_use]
    pub fn command_line(&self) -> String {
        format!(
            "asg-lifecycle simulate --instances {} --seed {} --faults {}",
            self.instances, self.seed, self.faults
        )
    }
}

/// Runs a simulation.
#[must_use]
pub fn simulate(config: SimConfig) -> Report {
    simulate_with_progress(config, &mut |_, _| {})
}

/// Runs a simulation, calling `progress(simulated now, simulated time faults stop)` now and then.
#[must_use]
pub fn simulate_with_progress(
    config: SimConfig,
    progress: &mut dyn FnMut(Millis, Millis),
) -> Report {
    runner::Runner::new(config).run(progress)
}
