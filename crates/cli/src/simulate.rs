//! `asg-lifecycle simulate [--transitions FILE] [--instances N] [--seed S] [--seeds N [--jobs J]]
//! [--faults LEVEL] [--output json]`: runs the deterministic simulator and checks the invariants.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle_sim::{Broken, Faults, Latencies, SimConfig, simulate_with_progress};

use crate::exit;
use crate::output::Printer;
use crate::progress;
use crate::source::parse_duration;

/// Arguments of `simulate`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle simulate
  asg-lifecycle simulate --instances 300 --seed 7 --faults harsh
  asg-lifecycle simulate --instances 2000 --output json --query violation_count
  asg-lifecycle simulate --faults harsh --seeds 100 --jobs 2 --output json --query failing_seeds")]
pub struct Args {
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// Instances launched (and most of them terminated again).
    #[arg(long, default_value_t = 300)]
    instances: usize,
    /// The seed: one seed, one run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run this many seeds, from `--seed` on: independent worlds spread over `--jobs` threads.
    /// The summary (totals, and each run in seed order) is the same for any number of threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Threads for `--seeds` (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    jobs: Option<u64>,
    /// Fault level: none, default, harsh, or hostile (default faults and one instance in five
    /// with a compromised workload).
    #[arg(long, default_value = "default", value_parser = parse_faults)]
    faults: Faults,
    /// The lifecycle hooks' heartbeat timeout (e.g. 15m, 1h); the deploy guide's 15 minutes by
    /// default.
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    heartbeat_timeout: Duration,
    /// How often the `reconcile` rule fires.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    sweep_period: Duration,
    /// Share of launches that go into the group's warm pool first (0 to 1; with a warm pool,
    /// scale-ins return instances to it while it has room). 0 simulates a group without one.
    #[arg(long, default_value_t = 0.2, value_parser = parse_share)]
    warm_pool: f64,
    /// Request latencies: `realistic` (DynamoDB ≈ 5 ms, Auto Scaling and SSM ≈ 60 ms median,
    /// long tails) or `none` (every request instantaneous).
    #[arg(long, value_enum, default_value = "realistic")]
    latency: LatencyLevel,
    /// Run over a store that ignores the conditional check (proves the invariants can fail).
    #[arg(long, hide = true)]
    broken_store: bool,
}

/// How long requests take in the simulated world.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LatencyLevel {
    /// Medians and tails of in-region AWS calls.
    Realistic,
    /// No time at all.
    None,
}

fn parse_share(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|share| (0.0..=1.0).contains(share))
        .ok_or_else(|| format!("`{text}` is not a share from 0 to 1"))
}

fn parse_faults(text: &str) -> Result<Faults, String> {
    text.parse()
}

/// Runs the simulation: exit 0 when every invariant held, 1 when one was violated, 3 when the
/// model cannot be loaded. A progress bar of simulated time shows on a terminal (it only reads
/// the simulator's clock: the run stays deterministic).
pub fn run(args: &Args, out: &Printer) -> ExitCode {
    let machine = match &args.transitions {
        Some(path) => FileModel::load(path).and_then(|m| Machine::from_model(&m)),
        None => Ok(Machine::example()),
    };
    let machine = match machine {
        Ok(m) => Arc::new(m),
        Err(report) => {
            eprintln!("{report}");
            return exit::code(exit::ERROR);
        }
    };
    let mut config = SimConfig::new(args.seed, args.instances).with_faults(args.faults);
    config.machine = machine;
    config.broken = args.broken_store.then_some(Broken::UnconditionalWrites);
    let mut command = config.command_line();
    if let Some(path) = &args.transitions {
        command.push_str(&format!(" --transitions {}", path.display()));
    }
    if args.heartbeat_timeout != config.heartbeat_timeout
        || args.sweep_period != config.sweep_period
    {
        command.push_str(&format!(
            " --heartbeat-timeout {}s --sweep-period {}s",
            args.heartbeat_timeout.as_secs(),
            args.sweep_period.as_secs()
        ));
    }
    if args.broken_store {
        command.push_str(" --broken-store");
    }
    if (args.warm_pool - config.warm_pool).abs() > f64::EPSILON {
        command.push_str(&format!(" --warm-pool {}", args.warm_pool));
        config.warm_pool = args.warm_pool;
    }
    if args.latency == LatencyLevel::None {
        command.push_str(" --latency none");
        config.latencies = Latencies::NONE;
    }
    config.heartbeat_timeout = args.heartbeat_timeout;
    config.sweep_period = args.sweep_period;
    if args.seeds > 1 {
        return run_seeds(args, &config, &command, out);
    }
    let bar = progress::bar(0, "{bar:30} {percent:>3}% simulated {msg} [{elapsed}]");
    let mut progress = |now: i64, end: i64| {
        let (now, end) = (
            u64::try_from(now).unwrap_or(0),
            u64::try_from(end).unwrap_or(0),
        );
        if bar.length() != Some(end) {
            bar.set_length(end);
        }
        // Redraw at most every simulated second: the callback runs at every simulated event.
        if now / 1000 != bar.position() / 1000 {
            bar.set_position(now.min(end));
            bar.set_message(format!("{} s", now / 1000));
        }
    };
    if !std::io::stderr().is_terminal() && out.is_human() {
        eprintln!(
            "simulating {} instances (seed {}, faults {})...",
            args.instances, args.seed, args.faults
        );
    }
    // The handler logs every injected fault; keep the report readable unless logs were asked for.
    let report = if std::env::var_os("ASG_LIFECYCLE_LOG").is_some() {
        simulate_with_progress(config, &mut progress)
    } else {
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            simulate_with_progress(config, &mut progress)
        })
    };
    bar.finish_and_clear();
    if out.is_human() {
        print!("{}", report.render());
    } else {
        match serde_json::to_value(&report) {
            Ok(document) => {
                if !out.print(&document) {
                    return exit::code(exit::ERROR);
                }
            }
            Err(e) => return exit::fail(exit::ERROR, format!("failed to render the report: {e}")),
        }
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} invariant violation(s); reproduce with: {command}",
            report.violation_count
        );
        exit::code(exit::FAILED)
    }
}

/// `--seeds N`: the runs of N seeds on `--jobs` threads, summarized in seed order; exit 1 when a
/// run had a violation, naming how to reproduce each.
fn run_seeds(args: &Args, config: &SimConfig, command: &str, out: &Printer) -> ExitCode {
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        |j| usize::try_from(j).unwrap_or(usize::MAX),
    );
    let bar = progress::bar(args.seeds, "{bar:30} {pos}/{len} seeds [{elapsed}]");
    let summary = crate::seeds::run_seeds(config, (args.seed, args.seeds), jobs, &bar);
    bar.finish_and_clear();
    if out.is_human() {
        print!("{}", summary.render());
    } else {
        match serde_json::to_value(&summary) {
            Ok(document) => {
                if !out.print(&document) {
                    return exit::code(exit::ERROR);
                }
            }
            Err(e) => return exit::fail(exit::ERROR, format!("failed to render the summary: {e}")),
        }
    }
    if summary.failing_seeds.is_empty() {
        return ExitCode::SUCCESS;
    }
    for seed in &summary.failing_seeds {
        eprintln!(
            "error: seed {seed} violated invariants; reproduce with: {}",
            command.replacen(
                &format!("--seed {}", args.seed),
                &format!("--seed {seed}"),
                1
            )
        );
    }
    exit::code(exit::FAILED)
}
