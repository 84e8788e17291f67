//! `asg-lifecycle table create --table NAME [--endpoint-url URL] [--region R]`

use std::process::ExitCode;

use serde_json::json;

use crate::cloud;
use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::progress;

/// Arguments of `table`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create the table (idempotent) and wait until it is ACTIVE, with its index, stream and TTL.
    #[command(after_help = "Examples:
  asg-lifecycle table create --table asg-lifecycle --region eu-west-1
  asg-lifecycle table create --table asg-lifecycle --endpoint-url http://127.0.0.1:5000 --output json")]
    Create(Target),
}

/// Which table.
#[derive(clap::Args)]
pub struct Target {
    /// The table name.
    #[arg(long, env = "ASG_LIFECYCLE_TABLE")]
    table: String,
}

/// Runs `table` (structured: `{"table", "status"}`): exit 0 when the table is ready, 1 when it
/// could not be created. A spinner shows on a terminal while it is created.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let Action::Create(target) = &args.action;
    let spinner = progress::spinner(format!("creating table {}", target.table));
    let created = cloud::create_table(&target.table, global.endpoint()).await;
    spinner.finish_and_clear();
    match created {
        Ok(()) => {
            if out.is_human() {
                println!("table {} is ACTIVE", target.table);
            } else if !out.print(&json!({"table": target.table, "status": "ACTIVE"})) {
                return exit::code(exit::ERROR);
            }
            exit::code(exit::SUCCESS)
        }
        Err(e) => exit::fail(exit::FAILED, e),
    }
}
