//! `asg-lifecycle`: validate, render, invoke and observe lifecycle models.

mod api;
mod cloud;
mod duration;
mod exit;
mod global;
mod graph;
mod invoke;
mod output;
mod progress;
mod seeds;
mod signals;
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
#[command(
    name = "asg-lifecycle",
    version,
    about,
    after_help = "Exit codes: 0 success, 1 failed outcome, 2 timeout or attempts exhausted, \
                  3 error, 64 usage error, 75 retry (invoke), 130/143 interrupted (SIGINT/SIGTERM).\n\
                  Environment: ASG_LIFECYCLE_TABLE, ASG_LIFECYCLE_GROUPS, AWS_ENDPOINT_URL, \
                  AWS_REGION, AWS_PROFILE, ASG_LIFECYCLE_LOG (log filter)."
)]
struct Cli {
    #[command(flatten)]
    global: global::Global,
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
    /// List or run data-defined waiters (botocore model version 2): built-in, official
    /// (`SERVICE.Name`) and custom.
    Waiter(waiter::Args),
    /// Call any operation of a service model (shipped or `--service-model FILE`).
    Api(api::Args),
    /// Show each instance's status and the group aggregate.
    Status(status::Args),
    /// Wait until a group's instances are all current (or terminated).
    Wait(wait::Args),
    /// List the records, then follow every change from a resume token.
    Watch(watch::Args),
    /// Simulate a group under faults with the real handler; check the invariants.
    Simulate(simulate::Args),
}

/// mimalloc: the handler's small, short-lived allocations cost about half of glibc's.
#[global_allocator]
static GLOBAL: asg_lifecycle_alloc::Allocator = asg_lifecycle_alloc::Allocator;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout and succeed; every other parse error is a usage
            // error, on a code no command uses for an outcome.
            let _ = e.print();
            return exit::code(if e.use_stderr() { exit::USAGE } else { 0 });
        }
    };
    let printer = match cli.global.printer() {
        Ok(p) => p,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
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
            return exit::fail(
                exit::ERROR,
                format!("failed to start the async runtime: {e}"),
            );
        }
    };
    let global = &cli.global;
    let out = &printer;
    runtime.block_on(async {
        match cli.command {
            Command::Validate(args) => validate::run(&args, out),
            Command::Graph(args) => graph::run(&args, global, out).await,
            Command::Invoke(args) => invoke::run(&args, global, out).await,
            Command::Table(args) => table::run(&args, global, out).await,
            Command::Waiter(args) => waiter::run(args, global, out).await,
            Command::Api(args) => api::run(args, global, out).await,
            Command::Status(args) => status::run(&args, global, out).await,
            Command::Wait(args) => wait::run(&args, global, out).await,
            Command::Watch(args) => watch::run(&args, global, out).await,
            Command::Simulate(args) => simulate::run(&args, out),
        }
    })
}
