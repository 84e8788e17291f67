//! `asg-lifecycle wait (--table T | --store FILE) --group G [--for current|terminated] --timeout 15m`

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::status::{
    AbortReason, InstanceStatus, Resolver, Targets, WaitEvent, format_duration,
};
use asg_lifecycle::wait::Poll;
use futures::StreamExt;
use tokio::time::Instant;

use crate::source::{Source, SourceArgs, load_machine, parse_duration};
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
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// The Auto Scaling group.
    #[arg(long)]
    group: String,
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

/// Waits; exit 0 when completed, 1 when the aggregate is Failed, 2 on timeout, 3 when the source
/// or model cannot be opened. On a terminal, one progress line of counts per status is redrawn
/// on stderr; otherwise each change is a plain line on stdout.
pub async fn run(args: &Args) -> ExitCode {
    let opened = async {
        let machine = load_machine(args.transitions.as_deref())?;
        let source = Source::open(&args.source).await?;
        let mut resolver = Resolver::new(source.store()?, machine.graph());
        if let Some(membership) = source.membership() {
            resolver = resolver.with_membership(membership);
        }
        source.follow_file(args.interval);
        Ok::<_, String>(resolver)
    };
    let resolver = match opened.await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let desired = match args.desired {
        Desired::Current => InstanceStatus::Current,
        Desired::Terminated => InstanceStatus::Terminated,
    };
    let live = std::io::stderr().is_terminal();
    let start = Instant::now();
    let poll = Poll::every(args.interval).timeout(args.timeout);
    let mut events =
        Box::pin(resolver.wait_for_status(Targets::Group(args.group.clone()), desired, poll));
    let clear = |live: bool| {
        if live {
            eprint!("\r\x1b[2K");
        }
    };
    let mut latest = BTreeMap::new();
    while let Some(event) = events.next().await {
        let elapsed = format_duration(start.elapsed());
        match event {
            WaitEvent::ResourceUpdate {
                resource,
                aggregate,
                counts,
            } => {
                if live {
                    let statuses = counts.iter().flat_map(|(s, n)| std::iter::repeat_n(*s, *n));
                    eprint!(
                        "\r\x1b[2K[{elapsed}] {aggregate}: {}",
                        counts_line(statuses)
                    );
                    let _ = std::io::stderr().flush();
                } else {
                    println!(
                        "[{elapsed}] {} {}: {}",
                        resource.instance, resource.status, resource.message
                    );
                }
                latest.insert(resource.instance.clone(), resource);
                // The failed instance's own update may come later in the same check.
                let failed: Vec<_> = latest
                    .values()
                    .filter(|r| r.status == InstanceStatus::Failed)
                    .collect();
                if aggregate == InstanceStatus::Failed && !failed.is_empty() {
                    clear(live);
                    for r in failed {
                        println!("failed: {} is {}: {}", r.instance, r.status, r.message);
                    }
                    return ExitCode::from(1);
                }
            }
            WaitEvent::Completed {
                aggregate,
                resources,
            } => {
                clear(live);
                println!(
                    "completed after {elapsed}: {} instances {aggregate}",
                    resources.len()
                );
                return ExitCode::SUCCESS;
            }
            WaitEvent::Aborted {
                reason,
                aggregate,
                resources,
            } => {
                clear(live);
                let why = match reason {
                    AbortReason::Deadline => "timed out",
                    AbortReason::Cancelled => "cancelled",
                };
                println!(
                    "{why} after {elapsed}: aggregate {aggregate} ({})",
                    counts_line(resources.iter().map(|r| r.status))
                );
                for r in resources.iter().filter(|r| !r.status.reaches(desired)) {
                    println!("  {} {}: {}", r.instance, r.status, r.message);
                }
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::from(2)
}
