//! `asg-lifecycle table create --table NAME [--endpoint-url URL] [--region R]`

use std::process::ExitCode;

use crate::cloud::{self, Endpoint};

/// Arguments of `table`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create the table (idempotent) and wait until it is ACTIVE, with its index, stream and TTL.
    Create(Target),
}

/// Which table, where.
#[derive(clap::Args)]
pub struct Target {
    /// The table name.
    #[arg(long)]
    table: String,
    /// A DynamoDB endpoint (DynamoDB Local, moto) instead of AWS.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// The region (default: from the environment).
    #[arg(long)]
    region: Option<String>,
}

/// Runs `table`: exit 0 when the table is ready, 1 when it could not be created.
pub async fn run(args: &Args) -> ExitCode {
    let Action::Create(target) = &args.action;
    let at = Endpoint {
        url: target.endpoint_url.as_deref(),
        region: target.region.as_deref(),
    };
    match cloud::create_table(&target.table, at).await {
        Ok(()) => {
            println!("table {} is ACTIVE", target.table);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
