//! `asg-lifecycle status (--table T | --store FILE) [--group G] [--output json]`

use std::path::PathBuf;
use std::process::ExitCode;

use crate::exit;
use crate::global::Global;
use crate::output::Printer;

use asg_lifecycle::status::{
    InstanceStatus, Resolver, ResourceResult, Targets, aggregate, format_duration,
};
use chrono::Utc;
use serde_json::json;

use crate::source::{self, SourceArgs, load_machine};

/// Arguments of `status`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle status --table asg-lifecycle --group web
  ASG_LIFECYCLE_TABLE=asg-lifecycle ASG_LIFECYCLE_GROUPS=web,api asg-lifecycle status
  asg-lifecycle status --store state.json --query \"instances[?status!='Current'].instance\" --output text")]
pub struct Args {
    /// The records; with `--group`, each group's members joined with its active records.
    #[command(flatten)]
    source: SourceArgs,
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
}

/// Counts per status, in display order, without zeros: `2 Current, 1 InProgress`.
pub fn counts_line(statuses: impl IntoIterator<Item = InstanceStatus>) -> String {
    let statuses: Vec<_> = statuses.into_iter().collect();
    let parts: Vec<String> = InstanceStatus::ALL
        .iter()
        .filter_map(|s| {
            let n = statuses.iter().filter(|x| *x == s).count();
            (n > 0).then(|| format!("{n} {s}"))
        })
        .collect();
    if parts.is_empty() {
        "no instances".into()
    } else {
        parts.join(", ")
    }
}

fn table(results: &[ResourceResult]) -> String {
    let now = Utc::now();
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            [
                r.instance.clone(),
                r.state.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                r.time_in_state(now)
                    .map_or_else(|| "-".into(), format_duration),
                r.last_error.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["INSTANCE", "STATE", "STATUS", "IN STATE", "LAST ERROR"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Prints each instance's status and the aggregate (structured: `{"instances": [...],
/// "aggregate"}`); exit 0, 64 without a source, 3 when the source or model cannot be opened.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let source = match source::open_listed(&args.source, global.endpoint()).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opened = async {
        let machine = load_machine(args.transitions.as_deref())?;
        let mut resolver = Resolver::new(source.store()?, machine.graph());
        if let Some(membership) = source.membership() {
            resolver = resolver.with_membership(membership);
        }
        Ok::<_, String>(resolver)
    };
    let resolver = match opened.await {
        Ok(r) => r,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    // Each group's members joined with its records; on a file without groups, every record.
    let targets: Vec<Targets> = if source.groups().is_empty() {
        vec![Targets::AllActive]
    } else {
        source
            .groups()
            .iter()
            .cloned()
            .map(Targets::Group)
            .collect()
    };
    let mut results = Vec::new();
    for targets in &targets {
        results.extend(resolver.resolve(targets).await);
    }
    let agg = aggregate(results.iter().map(|r| r.status), InstanceStatus::Current);
    if out.is_human() {
        print!("{}", table(&results));
        println!(
            "aggregate: {agg} ({})",
            counts_line(results.iter().map(|r| r.status))
        );
    } else {
        {
            let now = Utc::now();
            let instances: Vec<_> = results
                .iter()
                .map(|r| {
                    let mut value = serde_json::to_value(r).unwrap_or_default();
                    value["time_in_state_seconds"] =
                        json!(r.time_in_state(now).map(|d| d.as_secs()));
                    value
                })
                .collect();
            if !out.print(&json!({"instances": instances, "aggregate": agg})) {
                return exit::code(exit::ERROR);
            }
        }
    }
    ExitCode::SUCCESS
}
