//! `asg-lifecycle validate FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::machine::{FileModel, Machine};

/// Arguments of `validate`.
#[derive(clap::Args)]
pub struct Args {
    /// Model files (YAML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Exit 0 when every file is valid, 1 otherwise (each problem printed on stdout).
pub fn run(args: &Args) -> ExitCode {
    let mut failed = false;
    for file in &args.files {
        let result = FileModel::load(file).and_then(|model| Machine::from_model(&model));
        match result {
            Ok(machine) => {
                let graph = machine.graph();
                eprintln!(
                    "{}: ok ({} states, {} triggers)",
                    file.display(),
                    graph.states.len(),
                    graph.transitions.len()
                );
            }
            Err(report) => {
                failed = true;
                for problem in &report.problems {
                    println!("{problem}");
                }
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
