//! `asg-lifecycle`: validate, render, invoke and observe lifecycle models.

mod cloud;
mod graph;
mod invoke;
mod simulate;
mod source;
mod status;
mod table;
mod validate;
mod wait;
mod waiter;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Drive EC2 Auto Scaling instances through a declared lifecycle state machine.
#[derive(Parser)]
#[command(name = "asg-lifecycle", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check model files; print every problem as FILE:LINE:COL: error[CODE]: message.
    Validate(validate::Args),
    /// Render a model as a Mermaid or DOT diagram.
    Graph(graph::Args),
    /// Run the handler on event files against a JSON store file.
    Invoke(invoke::Args),
    /// Manage the DynamoDB table (`table create`).
    Table(table::Args),
    /// List or run data-defined waiters (botocore model version 2).
    Waiter(waiter::Args),
    /// Show each instance's status and the group aggregate.
    Status(status::Args),
    /// Wait until a group's instances are all current (or terminated).
    Wait(wait::Args),
    /// List the records, then follow every change from a resume token.
    Watch(watch::Args),
    /// Simulate a group under faults with the real handler; check the invariants.
    Simulate(simulate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASG_LIFECYCLE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Validate(args) => validate::run(&args),
            Command::Graph(args) => graph::run(&args).await,
            Command::Invoke(args) => invoke::run(&args).await,
            Command::Table(args) => table::run(&args).await,
            Command::Waiter(args) => waiter::run(args).await,
            Command::Status(args) => status::run(&args).await,
            Command::Wait(args) => wait::run(&args).await,
            Command::Watch(args) => watch::run(&args).await,
            Command::Simulate(args) => simulate::run(&args),
        }
    })
}
