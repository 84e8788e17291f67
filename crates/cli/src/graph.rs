//! `asg-lifecycle graph FILE [--format mermaid|dot] [--table T | --store FILE]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::machine::{FileModel, Format, Machine, render};
use asg_lifecycle::store::StateStore;

use serde_json::json;

use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::source::{self, SourceArgs};

/// Diagram format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DiagramFormat {
    /// Mermaid stateDiagram-v2.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Arguments of `graph`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle graph transitions/cluster-node.yaml --format dot | dot -Tsvg > model.svg
  asg-lifecycle graph transitions/cluster-node.yaml --table asg-lifecycle --group web
  asg-lifecycle graph transitions/cluster-node.yaml --store state.json --output json --query counts")]
pub struct Args {
    /// The model file.
    file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: DiagramFormat,
    /// With `--table` or `--store`: label each state with its number of active instances.
    #[command(flatten)]
    source: SourceArgs,
}

/// The number of active records in each state (from the active index: records that reached a
/// terminal state have left it).
/// With `groups`, only theirs.
async fn counts(
    store: &dyn StateStore,
    groups: &[String],
) -> Result<BTreeMap<String, usize>, String> {
    let mut counts = BTreeMap::new();
    let groups: Vec<Option<&str>> = if groups.is_empty() {
        vec![None]
    } else {
        groups.iter().map(|g| Some(g.as_str())).collect()
    };
    for group in groups {
        let mut start: Option<String> = None;
        loop {
            let page = store
                .query_active(group, start.as_deref(), 100)
                .await
                .map_err(|e| e.to_string())?;
            for record in &page.records {
                *counts.entry(record.state().to_string()).or_insert(0) += 1;
            }
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
    }
    Ok(counts)
}

/// Prints the diagram (structured: `{"file", "format", "diagram", "counts"}`); exit 1 when the
/// model is invalid, 3 when the records cannot be read.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let machine = match FileModel::load(&args.file).and_then(|m| Machine::from_model(&m)) {
        Ok(m) => m,
        Err(report) => {
            eprintln!("{report}");
            return exit::code(exit::FAILED);
        }
    };
    let format = match args.format {
        DiagramFormat::Mermaid => Format::Mermaid,
        DiagramFormat::Dot => Format::Dot,
    };
    let counts = if args.source.is_set() {
        let source = match source::open_listed(&args.source, global.endpoint()).await {
            Ok(s) => s,
            Err(code) => return code,
        };
        let read = async { counts(source.store()?.as_ref(), &args.source.groups).await };
        match read.await {
            Ok(counts) => Some(counts),
            Err(e) => return exit::fail(exit::ERROR, e),
        }
    } else {
        None
    };
    let diagram = render(machine.graph(), format, counts.as_ref());
    if out.is_human() {
        print!("{diagram}");
    } else if !out.print(&json!({
        "file": args.file.display().to_string(),
        "format": match args.format { DiagramFormat::Mermaid => "mermaid", DiagramFormat::Dot => "dot" },
        "diagram": diagram,
        "counts": counts,
    })) {
        return exit::code(exit::ERROR);
    }
    exit::code(exit::SUCCESS)
}
