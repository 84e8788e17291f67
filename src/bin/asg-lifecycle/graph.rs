//! `asg-lifecycle graph FILE [--format mermaid|dot]`

use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::machine::{FileModel, Format, Machine, render};

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
}

/// Prints the diagram; exit 1 when the model is invalid.
pub fn run(args: &Args) -> ExitCode {
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
    print!("{}", render(machine.graph(), format, None));
    ExitCode::SUCCESS
}
