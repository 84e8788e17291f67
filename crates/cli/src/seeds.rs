//! `asg-lifecycle simulate --seeds N [--jobs J]`: N independent runs (seeds `--seed` onwards)
//! spread over J threads. Each run is one seed's deterministic world; the summary lists the runs
//! in seed order, so it is the same whatever the number of threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use asg_lifecycle_sim::{Report, SimConfig, simulate};
use indicatif::ProgressBar;
use serde::Serialize;

/// One seed's run, as the summary lists it.
#[derive(Debug, Serialize)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Lifecycles the run completed.
    pub lifecycles: usize,
    /// Transitions written.
    pub transitions: u64,
    /// Invariant violations.
    pub violation_count: u64,
    /// Store requests per transition (all requests, the sweep's included).
    pub store_requests_per_transition: f64,
}

/// Every run of a seed range, in seed order.
#[derive(Debug, Serialize)]
pub struct SeedSummary {
    /// The first seed.
    pub first_seed: u64,
    /// How many seeds ran.
    pub seeds: u64,
    /// Instances per run.
    pub instances: usize,
    /// The fault level.
    pub faults: String,
    /// Lifecycles over every run.
    pub lifecycles: usize,
    /// Transitions over every run.
    pub transitions: u64,
    /// Violations over every run.
    pub violation_count: u64,
    /// The seeds whose run had a violation.
    pub failing_seeds: Vec<u64>,
    /// Each run.
    pub runs: Vec<SeedRun>,
}

impl SeedSummary {
    /// The summary as text: the totals, then each run with a violation.
    #[must_use]
    pub fn render(&self) -> String {
        let last = self.first_seed + self.seeds - 1;
        let mut text = format!(
            "seeds {}..={last}: {} runs of {} instances, faults {}\n  lifecycles      {}\n  transitions     {}\n  violations      {}\n",
            self.first_seed,
            self.seeds,
            self.instances,
            self.faults,
            self.lifecycles,
            self.transitions,
            self.violation_count
        );
        for run in self.runs.iter().filter(|r| r.violation_count > 0) {
            text.push_str(&format!(
                "  seed {}: {} violation(s)\n",
                run.seed, run.violation_count
            ));
        }
        text
    }
}

/// Runs seeds `first..first + count` of `base` on `jobs` threads, advancing `bar` per run.
#[must_use]
pub fn run_seeds(
    base: &SimConfig,
    (first, count): (u64, u64),
    jobs: usize,
    bar: &ProgressBar,
) -> SeedSummary {
    let next = AtomicU64::new(0);
    let done: Mutex<Vec<(u64, Report)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let mut config = base.clone();
                    config.seed = first + index;
                    // The handler logs every injected fault: quiet, as a single run is.
                    let report = tracing::subscriber::with_default(
                        tracing::subscriber::NoSubscriber::default(),
                        || simulate(config),
                    );
                    done.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push((index, report));
                    bar.inc(1);
                }
            });
        }
    });
    let mut reports = done
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    reports.sort_by_key(|(index, _)| *index);
    let runs: Vec<SeedRun> = reports
        .iter()
        .map(|(_, r)| SeedRun {
            seed: r.seed,
            lifecycles: r.lifecycles,
            transitions: r.transitions,
            violation_count: r.violation_count,
            store_requests_per_transition: r.store_requests_per_transition,
        })
        .collect();
    SeedSummary {
        first_seed: first,
        seeds: count,
        instances: base.instances,
        faults: base.faults.to_string(),
        lifecycles: runs.iter().map(|r| r.lifecycles).sum(),
        transitions: runs.iter().map(|r| r.transitions).sum(),
        violation_count: runs.iter().map(|r| r.violation_count).sum(),
        failing_seeds: runs
            .iter()
            .filter(|r| r.violation_count > 0)
            .map(|r| r.seed)
            .collect(),
        runs,
    }
}
