//! `asg-lifecycle validate FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

use asg_lifecycle::machine::{FileModel, Machine};
use serde_json::{Value, json};

use crate::exit;
use crate::output::Printer;

/// Arguments of `validate`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle validate transitions/*.yaml
  asg-lifecycle validate model.yaml --query 'files[].problems[].code' --output text")]
pub struct Args {
    /// Model files (YAML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

/// Exit 0 when every file is valid, 1 otherwise. The human form prints each problem on stdout;
/// the structured form is `{"files": [{"file", "valid", "states", "triggers", "problems":
/// [{"code", "message", "location"}]}]}`.
pub fn run(args: &Args, out: &Printer) -> ExitCode {
    let mut failed = false;
    let mut files: Vec<Value> = Vec::new();
    for file in &args.files {
        let result = FileModel::load(file).and_then(|model| Machine::from_model(&model));
        match result {
            Ok(machine) => {
                let graph = machine.graph();
                if out.is_human() {
                    eprintln!(
                        "{}: ok ({} states, {} triggers)",
                        file.display(),
                        graph.states.len(),
                        graph.transitions.len()
                    );
                }
                files.push(json!({"file": file.display().to_string(), "valid": true,
                    "states": graph.states.len(), "triggers": graph.transitions.len(), "problems": []}));
            }
            Err(report) => {
                failed = true;
                let mut problems = Vec::new();
                for problem in &report.problems {
                    if out.is_human() {
                        println!("{problem}");
                    }
                    problems.push(json!({"code": problem.code.to_string(),
                        "message": problem.message, "location": problem.to_string()}));
                }
                files.push(json!({"file": file.display().to_string(), "valid": false,
                    "problems": problems}));
            }
        }
    }
    if !out.print(&json!({ "files": files })) {
        return exit::code(exit::ERROR);
    }
    exit::code(if failed { exit::FAILED } else { exit::SUCCESS })
}
