//! `asg-lifecycle wait (--table T | --store FILE) --group G [--for current|terminated] --timeout 15m`

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::status::{
    AbortReason, InstanceStatus, Resolver, ResourceResult, Targets, WaitEvent, format_duration,
};
use asg_lifecycle::wait::Poll;
use futures::StreamExt;
use serde_json::json;
use tokio::time::Instant;

use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::progress;
use crate::signals::Interrupt;
use crate::source::{self, SourceArgs, load_machine, parse_duration};
use crate::status::counts_line;

/// The status to wait for.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Desired {
    /// Every instance in a stable state (`ready`).
    Current,
    /// Every instance terminated (or gone).
    Terminated,
}

/// Arguments of `wait`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle wait --table asg-lifecycle --group web --timeout 20m
  asg-lifecycle wait --table asg-lifecycle --group web --for terminated --interval 10s
  asg-lifecycle wait --store state.json --group web --output json --query \"[event, instance, status]\"

Exit 0 completed, 1 failed, 2 timed out, 130 (143) interrupted by SIGINT (SIGTERM): the
laggards are printed before leaving.")]
pub struct Args {
    /// The records and the groups to wait for: one group's members are followed as they are
    /// replaced; without `--group`, the groups the table knows (a file: every record).
    #[command(flatten)]
    source: SourceArgs,
    /// The status every instance must reach.
    #[arg(long = "for", value_enum, default_value = "current")]
    desired: Desired,
    /// Give up after this long (exit 2).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    timeout: Duration,
    /// Time between two checks.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    interval: Duration,
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
}

/// The instances that did not reach `desired`.
fn laggards(resources: &[ResourceResult], desired: InstanceStatus) -> Vec<&ResourceResult> {
    resources
        .iter()
        .filter(|r| !r.status.reaches(desired))
        .collect()
}

/// Waits; exit 0 when completed, 1 when the aggregate is Failed, 2 on timeout, 130/143 when
/// interrupted, 64 without a source (or groups, on a table that knows none), 3 when the source
/// or model cannot be opened. On a terminal a progress bar is drawn on stderr; otherwise each change is a line (or
/// document) on stdout.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    let source = match source::open_listed(&args.source, global.endpoint()).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    // One group: its members joined with its records. Several (or none on a file): every
    // active record the source lists (a table lists its groups' records only).
    let targets = match source.groups() {
        [group] => Targets::Group(group.clone()),
        [] => Targets::AllActive,
        _ if source.is_table() => Targets::AllActive,
        _ => {
            return exit::fail(
                exit::USAGE,
                "on a store file, wait follows one group (--group GROUP) or every record",
            );
        }
    };
    let opened = async {
        let machine = load_machine(args.transitions.as_deref())?;
        let mut resolver = Resolver::new(source.store()?, machine.graph());
        if let Some(membership) = source.membership() {
            resolver = resolver.with_membership(membership);
        }
        source.follow_file(args.interval);
        Ok::<_, String>(resolver)
    };
    let resolver = match opened.await {
        Ok(r) => r,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    let desired = match args.desired {
        Desired::Current => InstanceStatus::Current,
        Desired::Terminated => InstanceStatus::Terminated,
    };
    let live = std::io::stderr().is_terminal();
    let bar = progress::bar(0, "{bar:30} {pos}/{len} {msg} [{elapsed}]");
    let start = Instant::now();
    let poll = Poll::every(args.interval)
        .timeout(args.timeout)
        .cancel_on(interrupt.token());
    let mut events = Box::pin(resolver.wait_for_status(targets, desired, poll));
    // Prints a document, or the human line when asked for.
    let emit = |document: serde_json::Value, human: &dyn Fn()| {
        bar.suspend(|| {
            if out.is_human() {
                human();
                true
            } else {
                out.print_item(&document)
            }
        })
    };
    let mut latest = BTreeMap::new();
    while let Some(event) = events.next().await {
        let elapsed = format_duration(start.elapsed());
        let seconds = start.elapsed().as_secs();
        match event {
            WaitEvent::ResourceUpdate {
                resource,
                aggregate,
                counts,
            } => {
                let total: usize = counts.values().sum();
                let reached: usize = counts
                    .iter()
                    .filter(|(s, _)| s.reaches(desired))
                    .map(|(_, n)| n)
                    .sum();
                bar.set_length(total as u64);
                bar.set_position(reached as u64);
                let statuses = counts.iter().flat_map(|(s, n)| std::iter::repeat_n(*s, *n));
                bar.set_message(format!("{aggregate}: {}", counts_line(statuses)));
                let document = json!({"event": "update", "instance": resource.instance,
                    "status": resource.status, "state": resource.state, "message": resource.message,
                    "aggregate": aggregate, "elapsed_seconds": seconds});
                let line = || {
                    println!(
                        "[{elapsed}] {} {}: {}",
                        resource.instance, resource.status, resource.message
                    );
                };
                // On a terminal the bar says it all; elsewhere one line per change.
                if (!live || !out.is_human()) && !emit(document, &line) {
                    return exit::code(exit::ERROR);
                }
                latest.insert(resource.instance.clone(), resource);
                // The failed instance's own update may come later in the same check.
                let failed: Vec<_> = latest
                    .values()
                    .filter(|r| r.status == InstanceStatus::Failed)
                    .collect();
                if aggregate == InstanceStatus::Failed && !failed.is_empty() {
                    bar.finish_and_clear();
                    emit(
                        json!({"event": "failed", "aggregate": aggregate, "failed": failed}),
                        &|| {
                            for r in &failed {
                                println!("failed: {} is {}: {}", r.instance, r.status, r.message);
                            }
                        },
                    );
                    return exit::code(exit::FAILED);
                }
            }
            WaitEvent::Completed {
                aggregate,
                resources,
            } => {
                bar.finish_and_clear();
                emit(
                    json!({"event": "completed", "aggregate": aggregate,
                           "instances": resources.len(), "elapsed_seconds": seconds}),
                    &|| {
                        println!(
                            "completed after {elapsed}: {} instances {aggregate}",
                            resources.len()
                        );
                    },
                );
                return exit::code(exit::SUCCESS);
            }
            WaitEvent::Aborted {
                reason,
                aggregate,
                resources,
            } => {
                bar.finish_and_clear();
                let (why, kind) = match reason {
                    AbortReason::Deadline => ("timed out", "timed-out"),
                    AbortReason::Cancelled => ("interrupted", "interrupted"),
                };
                let late = laggards(&resources, desired);
                emit(
                    json!({"event": kind, "aggregate": aggregate, "laggards": late,
                           "elapsed_seconds": seconds}),
                    &|| {
                        println!(
                            "{why} after {elapsed}: aggregate {aggregate} ({})",
                            counts_line(resources.iter().map(|r| r.status))
                        );
                        for r in &late {
                            println!("  {} {}: {}", r.instance, r.status, r.message);
                        }
                    },
                );
                return match reason {
                    AbortReason::Deadline => exit::code(exit::TIMEOUT),
                    AbortReason::Cancelled => interrupt.exit_code(),
                };
            }
        }
    }
    exit::code(exit::TIMEOUT)
}
