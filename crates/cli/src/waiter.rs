//! `asg-lifecycle waiter list|run`: data-defined waiters, like `aws <service> wait`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::waiter::{Origin, Registry, WaitOptions};

use crate::cloud::{self, Endpoint};
use serde_json::{Map, Value};

/// Arguments of `waiter`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the built-in waiters and those of the given files.
    List {
        /// Custom waiter files (botocore model version 2, JSON or YAML); their names win.
        #[arg(long, value_name = "FILE")]
        waiters: Vec<PathBuf>,
    },
    /// Run a waiter; exit 0 on success, 1 on a failure state, 2 when attempts run out, 3 on an
    /// unexpected error.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The waiter's name.
    name: String,
    /// Custom waiter files (botocore model version 2, JSON or YAML); their names win.
    #[arg(long, value_name = "FILE")]
    waiters: Vec<PathBuf>,
    /// An input member of the operation in its API name, or a `${NAME}` of the acceptors; the
    /// value is parsed as JSON when it is JSON, else taken as a string.
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, Value)>,
    /// Seconds between attempts (overrides the model's `delay`).
    #[arg(long, value_name = "SECONDS")]
    delay: Option<f64>,
    /// Number of attempts (overrides the model's `maxAttempts`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: Option<u32>,
    /// Send the requests to this endpoint (e.g. a local DynamoDB).
    #[arg(long, value_name = "URL")]
    endpoint_url: Option<String>,
    /// The AWS region.
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

fn parse_param(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected KEY=VALUE, got `{text}`"))?;
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

fn registry(files: &[PathBuf]) -> Result<Registry, ExitCode> {
    let mut registry = Registry::builtin();
    for file in files {
        if let Err(report) = registry.load_file(file) {
            for problem in &report.problems {
                eprintln!("{problem}");
            }
            return Err(ExitCode::from(3));
        }
    }
    Ok(registry)
}

/// Runs `waiter list` or `waiter run`.
pub async fn run(args: Args) -> ExitCode {
    match args.command {
        Command::List { waiters } => list(&waiters),
        Command::Run(args) => run_waiter(args).await,
    }
}

fn list(files: &[PathBuf]) -> ExitCode {
    let registry = match registry(files) {
        Ok(r) => r,
        Err(code) => return code,
    };
    for (config, origin) in registry.iter() {
        let origin = match origin {
            Origin::Builtin => "built-in".to_string(),
            Origin::File(file) => file.clone(),
        };
        println!(
            "{}\t{}\tdelay {}s, {} attempts\t{origin}",
            config.name,
            config.operation,
            config.delay.as_secs_f64(),
            config.max_attempts
        );
        if let Some(description) = &config.description {
            println!("    {description}");
        }
    }
    ExitCode::SUCCESS
}

async fn run_waiter(args: RunArgs) -> ExitCode {
    let registry = match registry(&args.waiters) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let at = Endpoint {
        url: args.endpoint_url.as_deref(),
        region: args.region.as_deref(),
    };
    let operations = match cloud::sdk_operations(at).await {
        Ok(operations) => operations,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let registry = registry.with_operations(operations);
    let waiter = match registry.get_waiter(&args.name) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let mut options = WaitOptions::default().on_attempt(|attempt| println!("{}", attempt.status));
    if let Some(delay) = args.delay {
        match Duration::try_from_secs_f64(delay) {
            Ok(d) => options = options.delay(d),
            Err(_) => {
                eprintln!("error: --delay must be a number of seconds ≥ 0, got {delay}");
                return ExitCode::from(3);
            }
        }
    }
    if let Some(n) = args.max_attempts {
        options = options.max_attempts(n);
    }
    let params: Map<String, Value> = args.params.into_iter().collect();
    match waiter.wait(&params, &options).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            eprintln!("error: {message}");
            if let Some(response) = e.last_response() {
                // Responses may hold whole records (GetItem): secret-looking values are redacted.
                eprintln!(
                    "last response: {}",
                    asg_lifecycle::redact::redact(&response.to_json())
                );
            }
            ExitCode::from(e.exit_code())
        }
    }
}
