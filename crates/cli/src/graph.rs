//! `asg-lifecycle graph FILE [--format mermaid|dot] [--table T | --store FILE]`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::machine::{FileModel, Format, Machine, render};
use asg_lifecycle::store::StateStore;

use crate::source::{Source, SourceArgs};

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
async fn counts(store: &dyn StateStore) -> Result<BTreeMap<String, usize>, String> {
    let mut counts = BTreeMap::new();
    let mut start: Option<String> = None;
    loop {
        let page = store
            .query_active(None, start.as_deref(), 100)
            .await
            .map_err(|e| e.to_string())?;
        for record in &page.records {
            *counts.entry(record.state().to_string()).or_insert(0) += 1;
        }
        match page.next {
            Some(next) => start = Some(next),
            None => return Ok(counts),
        }
    }
}

/// Prints the diagram; exit 1 when the model is invalid, 3 when the records cannot be read.
pub async fn run(args: &Args) -> ExitCode {
    let machine = match FileModel::load(&args.file).and_then(|m| Machine::from_model(&m)) {
        Ok(m) => m,
        Err(report) => {
            eprintln!("{report}");
            return ExitCode::from(1);
        }
    };
    let format = match args.format {
        DiagramFormat::Mermaid => Format::Mermaid,
        DiagramFormat::Dot => Format::Dot,
    };
    let counts = if args.source.is_set() {
        let read = async { counts(Source::open(&args.source).await?.store()?.as_ref()).await };
        match read.await {
            Ok(counts) => Some(counts),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(3);
            }
        }
    } else {
        None
    };
    print!("{}", render(machine.graph(), format, counts.as_ref()));
    ExitCode::SUCCESS
}
