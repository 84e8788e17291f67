//! `asg-lifecycle waiter list|run`: data-defined waiters, like `aws <service> wait`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::waiter::{Origin, Registry, WaitOptions};
use serde_json::{Map, Value, json};

use crate::cloud;
use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::source::parse_duration;

/// Arguments of `waiter`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// List the built-in waiters and those of the given files.
    #[command(after_help = "Examples:
  asg-lifecycle waiter list
  asg-lifecycle waiter list --waiters my-waiters.yaml --output table --query 'waiters[].{name: name, operation: operation}'")]
    List {
        /// Custom waiter files (botocore model version 2, JSON or YAML); their names win.
        #[arg(long, value_name = "FILE")]
        waiters: Vec<PathBuf>,
    },
    /// Run a waiter; exit 0 on success, 1 on a failure state, 2 when attempts run out, 3 on an
    /// unexpected error.
    #[command(after_help = r#"Examples:
  asg-lifecycle waiter run InstanceInService --param InstanceIds:='["i-0abc"]' --delay 10s
  asg-lifecycle waiter run RecordReachedStatus --param TableName=asg-lifecycle \
      --param Key:='{"Ident":{"S":"i-0abc"}}' --param ItemStatus=ready --max-attempts 40
  asg-lifecycle waiter run RecordReachedStatus ... --output json --query state

`--param K=V` passes V as a string, always (`--param ItemStatus=123` is the string "123");
`--param K:=JSON` passes JSON (numbers, booleans, lists, objects)."#)]
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The waiter's name.
    name: String,
    /// Custom waiter files (botocore model version 2, JSON or YAML); their names win.
    #[arg(long, value_name = "FILE")]
    waiters: Vec<PathBuf>,
    /// An input member of the operation in its API name, or a `${NAME}` of the acceptors:
    /// `KEY=VALUE` gives the string VALUE, `KEY:=JSON` a JSON value (number, boolean, list,
    /// object).
    #[arg(long = "param", value_name = "KEY=VALUE|KEY:=JSON", value_parser = parse_param)]
    params: Vec<(String, Value)>,
    /// Time between attempts (overrides the model's `delay`), e.g. 500ms, 15s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    delay: Option<Duration>,
    /// Number of attempts (overrides the model's `maxAttempts`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_attempts: Option<u32>,
}

/// `KEY=VALUE` (always a string) or `KEY:=JSON` (a JSON value); nothing is guessed.
fn parse_param(text: &str) -> Result<(String, Value), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected KEY=VALUE or KEY:=JSON, got `{text}`"))?;
    let (key, value) = match key.strip_suffix(':') {
        Some(key) => {
            let json = serde_json::from_str(value)
                .map_err(|e| format!("`{key}:=` needs a JSON value, got `{value}`: {e}"))?;
            (key, json)
        }
        None => (key, Value::String(value.to_string())),
    };
    if key.is_empty() {
        return Err(format!("expected KEY=VALUE or KEY:=JSON, got `{text}`"));
    }
    Ok((key.to_string(), value))
}

fn registry(files: &[PathBuf]) -> Result<Registry, ExitCode> {
    let mut registry = Registry::builtin();
    for file in files {
        if let Err(report) = registry.load_file(file) {
            for problem in &report.problems {
                eprintln!("{problem}");
            }
            return Err(exit::code(exit::ERROR));
        }
    }
    Ok(registry)
}

/// Runs `waiter list` or `waiter run`.
pub async fn run(args: Args, global: &Global, out: &Printer) -> ExitCode {
    match args.command {
        Command::List { waiters } => list(&waiters, out),
        Command::Run(args) => run_waiter(args, global).await,
    }
}

/// Lists the waiters (structured: `{"waiters": [{"name", "operation", "delay_seconds",
/// "max_attempts", "origin", "description"}]}`).
fn list(files: &[PathBuf], out: &Printer) -> ExitCode {
    let registry = match registry(files) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut waiters = Vec::new();
    for (config, origin) in registry.iter() {
        let origin = match origin {
            Origin::Builtin => "built-in".to_string(),
            Origin::File(file) => file.clone(),
        };
        waiters.push(json!({"name": config.name, "operation": config.operation,
            "delay_seconds": config.delay.as_secs_f64(), "max_attempts": config.max_attempts,
            "origin": origin, "description": config.description}));
        if !out.is_human() {
            continue;
        }
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
    if !out.print(&json!({ "waiters": waiters })) {
        return exit::code(exit::ERROR);
    }
    exit::code(exit::SUCCESS)
}

/// Runs a waiter; each attempt is a line (structured: `{"waiter", "attempt", "max_attempts",
/// "state", "status"}`).
async fn run_waiter(args: RunArgs, global: &Global) -> ExitCode {
    let registry = match registry(&args.waiters) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let operations = match cloud::sdk_operations(global.endpoint()).await {
        Ok(operations) => operations,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    let registry = registry.with_operations(operations);
    let waiter = match registry.get_waiter(&args.name) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    // The callback outlives this borrow: it builds its own printer (the query was checked).
    let (format, query) = (global.output, global.query.clone());
    let mut options = WaitOptions::default().on_attempt(move |attempt| {
        match Printer::new(format, query.as_deref()) {
            Ok(out) if !out.is_human() => {
                out.print_item(&json!({"waiter": attempt.waiter, "attempt": attempt.number,
                    "max_attempts": attempt.max_attempts,
                    "state": attempt.state.map(|s| s.as_str()), "status": attempt.status}));
            }
            _ => println!("{}", attempt.status),
        }
    });
    if let Some(delay) = args.delay {
        options = options.delay(delay);
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
