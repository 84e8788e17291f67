//! The simulator as a test: chaos runs under harsh faults, determinism, a broken handler caught
//! by the invariants, and the `simulate` command's JSON report and exit code.

use std::process::Command;
use std::sync::Mutex;

use asg_lifecycle_sim::{Broken, Faults, SimConfig, simulate};

const CHAOS_SEEDS: u64 = 50;
const CHAOS_INSTANCES: usize = 200;

#[test]
fn fifty_seeds_of_two_hundred_instances_under_harsh_faults_break_no_invariant() {
    let started = std::time::Instant::now();
    let failures = Mutex::new(Vec::new());
    let seeds: Vec<u64> = (1..=CHAOS_SEEDS).collect();
    std::thread::scope(|scope| {
        for chunk in seeds.chunks(seeds.len().div_ceil(2)) {
            let failures = &failures;
            scope.spawn(move || {
                for &seed in chunk {
                    let config = SimConfig::new(seed, CHAOS_INSTANCES).with_faults(Faults::Harsh);
                    let command = config.command_line();
                    let report = simulate(config);
                    assert_eq!(report.ready + report.warmed + report.terminated + report.abandoned + report.failed, CHAOS_INSTANCES);
                    if !report.passed() {
                        let first = report.violations.first().map(|v| format!("{} at {}: {}", v.instance, v.at, v.message)).unwrap_or_default();
                        failures.lock().unwrap().push(format!("seed {seed}: {} violation(s), first: {first}\n  reproduce with: {command}", report.violation_count));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "invariants violated:\n{}",
        failures.join("\n")
    );
    eprintln!(
        "chaos: {CHAOS_SEEDS} seeds × {CHAOS_INSTANCES} instances in {:?}",
        started.elapsed()
    );
}

#[test]
fn invocations_beyond_the_reserved_concurrency_are_throttled_and_run_later() {
    let mut config = SimConfig::new(5, 100).with_faults(Faults::Default);
    // Two execution environments: the sweep and its keepalive take both at every tick.
    config.reserved_concurrency = Some(2);
    let report = simulate(config);
    assert!(report.fault_counts.throttled > 0, "{}", report.render());
    assert!(report.passed(), "{}", report.render());
}

#[test]
fn one_seed_gives_one_report() {
    let run = || simulate(SimConfig::new(7, 120).with_faults(Faults::Harsh)).deterministic();
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
    let other = simulate(SimConfig::new(8, 120).with_faults(Faults::Harsh)).deterministic();
    assert_ne!(a, other, "another seed, another run");
}

#[test]
fn a_fault_free_run_brings_every_instance_to_ready_or_terminated_without_retries() {
    let report = simulate(SimConfig::new(3, 100).with_faults(Faults::None));
    assert!(report.passed(), "{}", report.render());
    assert_eq!(
        report.ready + report.warmed + report.terminated,
        100,
        "{}",
        report.render()
    );
    assert_eq!(
        report.fault_counts.retried
            + report.fault_counts.crashes
            + report.fault_counts.injected_errors,
        0
    );
    assert_eq!(
        report.aws_calls["CompleteLifecycleAction"], report.lifecycles as u64,
        "one completion per lifecycle"
    );
    assert!(
        report.record_requests_per_transition <= 2.0,
        "at most one read and one write of a record per transition on the happy path: {}",
        report.render()
    );
    assert!(
        !report.aws_calls.contains_key("ListCommands"),
        "no ListCommands on the happy path"
    );
    assert!(
        report.engine_overhead_launch_s[2] <= 10.0 && report.engine_overhead_terminate_s[2] <= 10.0,
        "the engine adds seconds, not sweep periods: {}",
        report.render()
    );
    assert!(
        report.time_to_ready_p50_s > 0.0
            && report.time_to_ready_p50_s <= report.time_to_ready_p99_s
    );
}

#[test]
fn hostile_instances_write_only_their_own_registration_and_break_no_invariant() {
    for seed in 1..=6 {
        let config = SimConfig::new(seed, CHAOS_INSTANCES).with_faults(Faults::Hostile);
        let command = config.command_line();
        let report = simulate(config);
        assert!(report.passed(), "{command}\n{}", report.render());
        let a = report.adversary;
        assert!(a.hostile > 0 && a.allowed > 0, "{a:?}");
        assert!(
            a.denied >= 2 * a.allowed,
            "every attack tries more than it may: {a:?}"
        );
        assert_eq!(a.attempted, a.denied + a.allowed);
    }
}

#[test]
fn an_instance_policy_without_conditions_is_caught_by_the_adversary_invariants() {
    let mut config = SimConfig::new(1, CHAOS_INSTANCES).with_faults(Faults::Hostile);
    config.broken = Some(Broken::LaxInstancePolicy);
    let report = simulate(config);
    assert!(!report.passed(), "the lax policy went unnoticed");
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.message.contains("the instance policy let")),
        "{}",
        report.render()
    );
}

#[test]
fn a_handler_without_the_conditional_write_is_caught_by_the_invariants() {
    let mut config = SimConfig::new(1, CHAOS_INSTANCES).with_faults(Faults::Harsh);
    config.broken = Some(Broken::UnconditionalWrites);
    let report = simulate(config);
    assert!(!report.passed(), "the broken store went unnoticed");
    let caught = report.violations.iter().any(|v| {
        v.message.contains("recorded twice")
            || v.message.contains("does not continue")
            || v.message.contains("SSM commands sent")
    });
    assert!(caught, "{}", report.render());
    assert!(
        report.violations.iter().all(|v| !v.trail.is_empty()),
        "every violation carries its trail"
    );
}

#[test]
fn simulate_prints_one_json_object_and_exits_non_zero_on_a_violation() {
    let bin = env!("CARGO_BIN_EXE_asg-lifecycle");
    let ok = Command::new(bin)
        .args([
            "simulate",
            "--instances",
            "30",
            "--seed",
            "2",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    for key in [
        "seed",
        "instances",
        "ready",
        "terminated",
        "failed",
        "abandoned",
        "violations",
        "aws_calls",
        "store_requests_per_transition",
        "time_to_ready_p50_s",
        "time_to_ready_p99_s",
    ] {
        assert!(report.get(key).is_some(), "missing `{key}` in {report}");
    }
    assert_eq!(report["seed"], 2);
    let broken = Command::new(bin)
        .args([
            "simulate",
            "--instances",
            "200",
            "--faults",
            "harsh",
            "--broken-store",
        ])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains(
            "reproduce with: asg-lifecycle simulate --instances 200 --seed 1 --faults harsh"
        ),
        "{stderr}"
    );
}

/// `simulate --seeds N --output json` with `jobs` threads.
fn seed_sweep(jobs: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args([
            "simulate",
            "--instances",
            "40",
            "--seed",
            "3",
            "--seeds",
            "5",
            "--faults",
            "harsh",
            "--jobs",
            jobs,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn several_seeds_spread_over_threads_give_the_same_summary_as_one_thread() {
    let one = seed_sweep("1");
    let three = seed_sweep("3");
    assert_eq!(
        one, three,
        "the summary does not depend on the thread count"
    );
    let seeds: Vec<u64> = one["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [3, 4, 5, 6, 7], "in seed order");
    // Each run is exactly the single run of its seed.
    let single = simulate(SimConfig::new(6, 40).with_faults(Faults::Harsh));
    assert_eq!(one["runs"][3]["lifecycles"], single.lifecycles);
    assert_eq!(one["runs"][3]["transitions"], single.transitions);
    let total: u64 = one["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["lifecycles"].as_u64().unwrap())
        .sum();
    assert_eq!(one["lifecycles"], total);
    assert_eq!(one["violation_count"], 0);
}

#[test]
fn a_seed_sweep_names_each_failing_seed_and_how_to_reproduce_it() {
    let broken = Command::new(env!("CARGO_BIN_EXE_asg-lifecycle"))
        .args([
            "simulate",
            "--instances",
            "200",
            "--faults",
            "harsh",
            "--seed",
            "1",
            "--seeds",
            "2",
            "--broken-store",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    let summary: serde_json::Value = serde_json::from_slice(&broken.stdout).unwrap();
    let failing = summary["failing_seeds"].as_array().unwrap();
    assert!(!failing.is_empty(), "{summary}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    for seed in failing {
        assert!(
            stderr.contains(&format!(
                "reproduce with: asg-lifecycle simulate --instances 200 --seed {seed} --faults harsh --broken-store"
            )),
            "{stderr}"
        );
    }
}
