//! What a simulation reports: outcomes, latencies, AWS and store costs, faults injected and
//! invariant violations. Everything but `wall_ms` is a function of the seed and the settings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::dead_letters::PoisonCounts;
use super::invariants::Violation;

/// Counts of what the delivery and handler faults did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaultCounts {
    /// Invocations run (each delivery and each retry).
    pub invocations: u64,
    /// Extra copies of events delivered.
    pub duplicated: u64,
    /// Events held back so that later ones overtook them.
    pub delayed: u64,
    /// SSM notifications and sweep ticks lost.
    pub dropped: u64,
    /// Invocations run overlapped with another for the same instance.
    pub overlapped: u64,
    /// Invocations retried after a crash or a retryable error.
    pub retried: u64,
    /// Invocations that died at a random point.
    pub crashes: u64,
    /// Throttling and 5xx answers injected (AWS and store).
    pub injected_errors: u64,
    /// Messages the handler rejected as non-retryable.
    pub rejected: u64,
    /// Sweeps run.
    pub sweeps: u64,
    /// Keepalive passes run (the sweep rule's second target).
    pub keepalives: u64,
    /// Invocations Lambda throttled (the reserved concurrency was in use) and ran later.
    pub throttled: u64,
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The seed.
    pub seed: u64,
    /// Instances launched.
    pub instances: usize,
    /// The fault level.
    pub faults: String,
    /// Instances in service and in a stable state at the end.
    pub ready: usize,
    /// Instances prepared and resting in the warm pool at the end.
    pub warmed: usize,
    /// Instances that reached a terminal state outside the failure path.
    pub terminated: usize,
    /// Instances that reached a terminal state through the failure path.
    pub abandoned: usize,
    /// Instances in neither (cloud-init never finished, or stuck: see the violations).
    pub failed: usize,
    /// Of the failed, those whose cloud-init never finished (their launch hook timed out).
    pub never_initialized: usize,
    /// Lifecycle actions (launches and terminations).
    pub lifecycles: usize,
    /// Invariant violations (the first ones in full; see `violation_count`).
    pub violations: Vec<Violation>,
    /// How many violations there were.
    pub violation_count: u64,
    /// AWS calls by operation.
    pub aws_calls: BTreeMap<String, u64>,
    /// AWS calls per lifecycle action, by operation.
    pub aws_calls_per_lifecycle: BTreeMap<String, f64>,
    /// Transitions written.
    pub transitions: u64,
    /// Store reads (gets and queries).
    pub store_reads: u64,
    /// Store writes (handler commits and cloud-init updates).
    pub store_writes: u64,
    /// Store requests per transition written (the handler's and cloud-init's).
    pub store_requests_per_transition: f64,
    /// The handler's store requests (cloud-init's left out), by who made them (`event`: a
    /// lifecycle or SSM event; `sweep`: the scheduled sweep) and operation.
    pub handler_store_requests: BTreeMap<String, u64>,
    /// The handler's store requests per transition written.
    pub handler_requests_per_transition: f64,
    /// The handler's reads and writes of instance records per transition written: the above
    /// without the periodic requests (index pages listed and the sweep cursor), which grow with
    /// time and group size, not with transitions.
    pub record_requests_per_transition: f64,
    /// Launch to a stable state, median, simulated seconds.
    pub time_to_ready_p50_s: f64,
    /// Launch to a stable state, 99th percentile, simulated seconds.
    pub time_to_ready_p99_s: f64,
    /// What the engine adds to time to ready: time to ready minus the instance's own work
    /// (cloud-init, its commands' run times); p50, p90, p99, simulated seconds.
    pub engine_overhead_launch_s: [f64; 3],
    /// The same for terminations: terminate action to its completion minus the commands' run
    /// times; p50, p90, p99.
    pub engine_overhead_terminate_s: [f64; 3],
    /// What the faults did.
    pub fault_counts: FaultCounts,
    /// When faults stopped, simulated seconds.
    pub faults_stopped_at_s: f64,
    /// Every instance must settle within this many simulated seconds of its last lifecycle
    /// action starting (or of faults stopping, whichever is later).
    pub settle_bound_s: f64,
    /// Simulated duration of the run, seconds.
    pub simulated_s: f64,
    /// The longest invocation (request latencies added up), simulated seconds.
    pub longest_invocation_s: f64,
    /// The longest time between two sweep visits of one active record, simulated seconds (one
    /// sweep period when every sweep reaches every record).
    pub longest_sweep_gap_s: f64,
    /// The injected poison payloads and where each ended up (all in a dead-letter store).
    pub poison: PoisonCounts,
    /// What hostile instances tried (`--faults hostile`; harsh has a few).
    pub adversary: crate::adversary::AdversaryCounts,
    /// Wall time of the run, milliseconds (the only field that differs between equal runs).
    pub wall_ms: u64,
}

impl Report {
    /// The report without its wall time: equal for equal seeds and settings.
    #[must_use]
    pub fn deterministic(&self) -> Self {
        Self {
            wall_ms: 0,
            ..self.clone()
        }
    }

    /// True when no invariant was violated.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.violation_count == 0
    }

    /// The human form.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let f = &self.fault_counts;
        let _ = writeln!(
            out,
            "simulated {} instances, seed {}, faults {}: {:.0} s simulated in {} ms",
            self.instances, self.seed, self.faults, self.simulated_s, self.wall_ms
        );
        let _ = writeln!(
            out,
            "  lifecycles      {} (ready {}, in the warm pool {}, terminated {}, abandoned {}, failed {} of which {} never initialized)",
            self.lifecycles,
            self.ready,
            self.warmed,
            self.terminated,
            self.abandoned,
            self.failed,
            self.never_initialized
        );
        let _ = writeln!(
            out,
            "  time to ready   p50 {:.1} s, p99 {:.1} s (simulated)",
            self.time_to_ready_p50_s, self.time_to_ready_p99_s
        );
        let [l50, l90, l99] = self.engine_overhead_launch_s;
        let [t50, t90, t99] = self.engine_overhead_terminate_s;
        let _ = writeln!(
            out,
            "  engine adds     launch p50 {l50:.1} s, p90 {l90:.1} s, p99 {l99:.1} s; termination p50 {t50:.1} s, p90 {t90:.1} s, p99 {t99:.1} s"
        );
        let _ = writeln!(
            out,
            "  store           {} transitions, {} reads, {} writes: {:.2} requests per transition",
            self.transitions,
            self.store_reads,
            self.store_writes,
            self.store_requests_per_transition
        );
        let by_source = self
            .handler_store_requests
            .iter()
            .map(|(what, n)| format!("{what} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "  handler store   {:.2} requests per transition, {:.2} of them on records ({by_source})",
            self.handler_requests_per_transition, self.record_requests_per_transition
        );
        let _ = writeln!(
            out,
            "  sweep           longest gap between two visits of a record {:.0} s; longest invocation {:.1} s",
            self.longest_sweep_gap_s, self.longest_invocation_s
        );
        let _ = writeln!(out, "  AWS calls per lifecycle");
        for (operation, per) in &self.aws_calls_per_lifecycle {
            let _ = writeln!(
                out,
                "    {operation:<32} {per:>6.2}  ({} calls)",
                self.aws_calls.get(operation).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "  faults          {} invocations, {} retried, {} crashed, {} overlapped; events {} duplicated, {} delayed, {} dropped; {} errors injected; {} rejected; {} sweeps, {} keepalive passes; {} throttled",
            f.invocations,
            f.retried,
            f.crashes,
            f.overlapped,
            f.duplicated,
            f.delayed,
            f.dropped,
            f.injected_errors,
            f.rejected,
            f.sweeps,
            f.keepalives,
            f.throttled
        );
        let p = &self.poison;
        let _ = writeln!(
            out,
            "  poison          {} injected: {} kept by the function, {} by the on-failure destination, {} redriven; at most {} attempts",
            p.injected, p.kept_by_function, p.kept_by_destination, p.redriven, p.max_attempts
        );
        let a = &self.adversary;
        if a.hostile > 0 {
            let _ = writeln!(
                out,
                "  adversary       {} hostile instances: {} writes tried, {} denied by the instance policy, {} allowed (their own registration)",
                a.hostile, a.attempted, a.denied, a.allowed
            );
        }
        let _ = writeln!(
            out,
            "  settling        faults stopped at {:.0} s; bound {:.0} s after the last lifecycle action",
            self.faults_stopped_at_s, self.settle_bound_s
        );
        let _ = writeln!(out, "  violations      {}", self.violation_count);
        for v in &self.violations {
            let _ = writeln!(out, "    {} at {}: {}", v.instance, v.at, v.message);
            for line in &v.trail {
                let _ = writeln!(out, "        {line}");
            }
        }
        out
    }
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank; 0 when empty.
#[must_use]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Rounds to three decimals, so that reports print and compare stably.
#[must_use]
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&values, 0.5) - 50.0).abs() < f64::EPSILON);
        assert!((quantile(&values, 0.99) - 99.0).abs() < f64::EPSILON);
        assert!(quantile(&[], 0.5).abs() < f64::EPSILON);
    }
}
