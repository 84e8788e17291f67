//! The end of a run: the final invariant checks and the report (instances by outcome, time to
//! ready and what the engine adds to it, store and AWS requests, faults, poison payloads).

use std::collections::BTreeMap;

use super::report::{Report, quantile, round3};
use super::runner::Runner;
use super::world::Millis;
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::StateStore;

impl Runner {
    /// The sweep keeps its coverage: every item in the active index is the record of an
    /// instance the group launched (hostile instances never add any).
    fn check_active_index(&self, now: Millis) {
        use futures::FutureExt;
        let mut start: Option<String> = None;
        loop {
            let Some(Ok(page)) = self
                .shared
                .memory
                .query_active(None, start.as_deref(), 1000)
                .now_or_never()
            else {
                return;
            };
            let mut s = self.shared.lock();
            for record in &page.records {
                if !s.group.instances.contains_key(&record.ident) {
                    let message = format!(
                        "`{}` is in the active index but no instance of the group",
                        record.ident
                    );
                    s.checker.violation(&record.ident, now, message);
                }
            }
            drop(s);
            match page.next {
                Some(next) => start = Some(next),
                None => return,
            }
        }
    }

    pub(super) fn finish(self, started: std::time::Instant) -> Report {
        let now = self.shared.now();
        let poison = self.check_poison(now);
        let graph = self.config.machine.graph();
        let failure_path = graph.failure_path();
        let (mut ready, mut terminated, mut abandoned, mut failed, mut never) = (0, 0, 0, 0, 0);
        let mut warmed = 0;
        let mut to_ready = Vec::new();
        let (mut launch_overhead, mut terminate_overhead) = (Vec::new(), Vec::new());
        // Taken out for the checks, not copied (the run is over), and put back for the index's.
        let instances = std::mem::take(&mut self.shared.lock().group.instances);
        let commands_by_instance = {
            let s = self.shared.lock();
            let mut by: BTreeMap<String, Vec<(Millis, Millis)>> = BTreeMap::new();
            // In no particular order: only sums of run times are taken.
            for c in s.commands.by_id.values() {
                by.entry(c.instance.clone())
                    .or_default()
                    .push((c.sent, c.ends));
            }
            by
        };
        // The instance's own work within `[from, to]`: its commands' run times.
        let commands_within = |ident: &str, from: Millis, to: Millis| -> Millis {
            commands_by_instance.get(ident).map_or(0, |cs| {
                cs.iter()
                    .filter(|(sent, ends)| *sent >= from && *ends <= to)
                    .map(|(sent, ends)| ends - sent)
                    .sum()
            })
        };
        for (ident, instance) in &instances {
            let record = self.record(ident);
            let state = record.as_ref().map_or("", InstanceRecord::state);
            let mut s = self.shared.lock();
            s.checker.finish(ident, instance, record.as_ref(), now);
            if let Err(problem) = s.checker.settled(instance, record.as_ref()) {
                s.checker
                    .violation(ident, now, format!("at the end of the run: {problem}"));
            }
            if let Some(&at) = s.checker.ready_at.get(ident) {
                // From the launch into service (out of the warm pool, for a pooled instance).
                let start = instance
                    .actions
                    .iter()
                    .find(|a| a.launching && !a.into_pool)
                    .map_or(instance.launched_at, |a| a.started);
                let booting = self
                    .cloud_init_done
                    .get(ident)
                    .map_or(0, |done| (done - start).max(0));
                let own = booting + commands_within(ident, start, at);
                #[allow(clippy::cast_precision_loss)]
                {
                    to_ready.push((at - start) as f64 / 1000.0);
                    launch_overhead.push(((at - start) - own).max(0) as f64 / 1000.0);
                }
            }
            for action in instance.actions.iter().filter(|a| !a.launching) {
                if let crate::asg::ActionEnd::Completed { at, .. } = action.end {
                    let own = commands_within(ident, action.started, at);
                    #[allow(clippy::cast_precision_loss)]
                    terminate_overhead.push(((at - action.started) - own).max(0) as f64 / 1000.0);
                }
            }
            let resting_in_pool = instance.lifecycle == crate::asg::Lifecycle::Warmed
                && s.checker.settled(instance, record.as_ref()).is_ok();
            if graph.stable.contains(state) {
                ready += 1;
            } else if resting_in_pool {
                warmed += 1;
            } else if graph.is_terminal(state) && failure_path.contains(state) {
                abandoned += 1;
            } else if graph.is_terminal(state) {
                terminated += 1;
            } else {
                failed += 1;
                never += usize::from(instance.cloud_init_never);
            }
        }
        self.shared.lock().group.instances = instances;
        self.check_active_index(now);
        to_ready.sort_by(f64::total_cmp);
        launch_overhead.sort_by(f64::total_cmp);
        terminate_overhead.sort_by(f64::total_cmp);
        let (reads, writes) = self.shared.memory.request_counts();
        let s = self.shared.lock();
        let mut counts = self.counts.clone();
        counts.crashes = s.crashes;
        counts.injected_errors = s.injected_errors;
        let lifecycles = self.lifecycles.max(1);
        #[allow(clippy::cast_precision_loss)]
        let per_lifecycle = s
            .aws_calls
            .iter()
            .map(|(op, n)| (op.clone(), round3(*n as f64 / lifecycles as f64)))
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let per_transition = round3((reads + writes) as f64 / s.checker.transitions.max(1) as f64);
        let handler_requests: u64 = s.store_requests.values().sum();
        let record_requests: u64 = s
            .store_requests
            .iter()
            .filter(|(what, _)| what.ends_with(" get") || what.ends_with(" commit"))
            .filter(|(what, _)| !what.contains("cursor"))
            .map(|(_, n)| n)
            .sum();
        #[allow(clippy::cast_precision_loss)]
        let record_per_transition =
            round3(record_requests as f64 / s.checker.transitions.max(1) as f64);
        #[allow(clippy::cast_precision_loss)]
        let handler_per_transition =
            round3(handler_requests as f64 / s.checker.transitions.max(1) as f64);
        #[allow(clippy::cast_precision_loss)]
        let seconds = |ms: Millis| round3(ms as f64 / 1000.0);
        let report = Report {
            seed: self.config.seed,
            instances: self.config.instances,
            faults: self.config.faults.to_string(),
            ready,
            warmed,
            terminated,
            abandoned,
            failed,
            never_initialized: never,
            lifecycles: self.lifecycles,
            violations: s.checker.violations.clone(),
            violation_count: s.checker.violation_count,
            aws_calls: s.aws_calls.clone(),
            aws_calls_per_lifecycle: per_lifecycle,
            transitions: s.checker.transitions,
            store_reads: reads,
            store_writes: writes,
            store_requests_per_transition: per_transition,
            handler_store_requests: s.store_requests.clone(),
            handler_requests_per_transition: handler_per_transition,
            record_requests_per_transition: record_per_transition,
            time_to_ready_p50_s: round3(quantile(&to_ready, 0.5)),
            time_to_ready_p99_s: round3(quantile(&to_ready, 0.99)),
            engine_overhead_launch_s: [0.5, 0.9, 0.99]
                .map(|q| round3(quantile(&launch_overhead, q))),
            engine_overhead_terminate_s: [0.5, 0.9, 0.99]
                .map(|q| round3(quantile(&terminate_overhead, q))),
            fault_counts: counts,
            faults_stopped_at_s: seconds(self.fault_end),
            settle_bound_s: seconds(self.settle_bound),
            simulated_s: seconds(now),
            longest_invocation_s: seconds(s.longest_invocation_ms),
            longest_sweep_gap_s: seconds(self.longest_sweep_gap),
            poison,
            adversary: s.adversary,
            wall_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        drop(s);
        // The world (every record, trail and pending job) is freed on a thread of its own: the
        // report does not wait for it, and a process that exits after the report need not.
        let teardown = std::thread::Builder::new().name("sim-teardown".into());
        // Should no thread start, the world is freed here, when the closure is dropped.
        let _ = teardown.spawn(move || drop(self));
        report
    }
}
