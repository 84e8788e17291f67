//! `asg-lifecycle waiter list|run`: data-defined waiters, like `aws <service> wait`: the
//! project's own, every official waiter of the shipped service models (`SERVICE.Name`), and
//! custom ones from files.

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
    /// List the built-in waiters, the official waiters of the shipped service models
    /// (`SERVICE.Name`) and those of the given files.
    #[command(after_help = "Examples:
  asg-lifecycle waiter list
  asg-lifecycle waiter list --output json --query 'waiters[?service==`ec2`].name'
  asg-lifecycle waiter list --waiters my-waiters.yaml --output table --query 'waiters[].{name: name, operation: operation}'")]
    List {
        /// Custom waiter files (botocore model version 2, JSON or YAML); their names win.
        #[arg(long, value_name = "FILE")]
        waiters: Vec<PathBuf>,
    },
    /// Run a waiter; exit 0 on success, 1 on a failure state, 2 when attempts run out, 3 on an
    /// unexpected error.
    #[command(after_help = r#"Examples:
  asg-lifecycle waiter run ec2.InstanceRunning --param InstanceIds:='["i-0abc"]'
  asg-lifecycle waiter run ssm.CommandExecuted --param CommandId=0c1d... --param InstanceId=i-0abc
  asg-lifecycle waiter run autoscaling.GroupInService --param AutoScalingGroupNames:='["web"]'
  asg-lifecycle waiter run InstanceInService --param InstanceIds:='["i-0abc"]' --delay 10s
  asg-lifecycle waiter run RecordReachedStatus --param TableName=asg-lifecycle \
      --param Key:='{"Ident":{"S":"i-0abc"}}' --param ItemStatus=ready --max-attempts 40
  asg-lifecycle waiter run RecordReachedStatus ... --output json --query state

  asg-lifecycle waiter run --waiters nodegroups.json NodegroupsListed --param clusterName=prod
  asg-lifecycle waiter run --service-model my-service-2.json --waiters my-waiters.json MyWaiter

The official waiters of the shipped models (autoscaling, cloudformation, dynamodb, ec2, ecs, eks,
elbv2, ssm) are named SERVICE.Name; the bare name works when only one service has it. Their
operations are called through the service's model (botocore service-2.json): any operation, the
input checked against the model before anything is sent. A custom waiter calls the operation of
--service-model FILE, of --service NAME, or of the one shipped service that has it.

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
    /// A service model (botocore `service-2.json`, or `.json.gz`) whose operations custom
    /// waiters call; it also replaces the shipped model of the service of the same name.
    #[arg(long, value_name = "FILE")]
    service_model: Option<PathBuf>,
    /// The shipped service whose operations custom waiters call (`ec2`, `eks`, ...), or the
    /// name of --service-model (default: its endpoint prefix).
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
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
pub fn parse_param(text: &str) -> Result<(String, Value), String> {
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

/// The built-in waiters, the shipped services' official ones, then the files' (which win).
fn registry(files: &[PathBuf]) -> Result<Registry, ExitCode> {
    let mut registry = Registry::builtin();
    if let Err(report) = cloud::add_service_waiters(&mut registry) {
        for problem in &report.problems {
            eprintln!("{problem}");
        }
        return Err(exit::code(exit::ERROR));
    }
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

/// Lists the waiters (structured: `{"waiters": [{"name", "service", "operation",
/// "delay_seconds", "max_attempts", "origin", "description"}]}`).
fn list(files: &[PathBuf], out: &Printer) -> ExitCode {
    let registry = match registry(files) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let botocore = cloud::models_version();
    let mut waiters = Vec::new();
    for entry in registry.entries() {
        let config = &entry.config;
        let origin = match &entry.origin {
            Origin::Builtin => "built-in".to_string(),
            Origin::Service => format!("official ({botocore})"),
            Origin::File(file) => file.clone(),
        };
        waiters.push(json!({"name": entry.name, "service": entry.service,
            "operation": config.operation,
            "delay_seconds": config.delay.as_secs_f64(), "max_attempts": config.max_attempts,
            "origin": origin, "description": config.description}));
        if !out.is_human() {
            continue;
        }
        let operation = match &entry.service {
            Some(service) => format!("{service}.{}", config.operation),
            None => config.operation.clone(),
        };
        println!(
            "{}\t{operation}\tdelay {}s, {} attempts\t{origin}",
            entry.name,
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

/// The service model whose operations the waiter calls, `(service, file)`: the waiter's own
/// service (from `file` when it has that name), else `--service-model`, else `--service`, else
/// none when the SDK-backed operations have it, else the one shipped service that has it.
fn model_for<'a>(
    service: Option<&str>,
    operation: &str,
    file: Option<&'a std::path::Path>,
    named: Option<&str>,
) -> Result<Option<(String, Option<&'a std::path::Path>)>, String> {
    let file_service = match file {
        Some(file) => Some(match named {
            Some(name) => name.to_string(),
            None => cloud::file_service_name(file)?,
        }),
        None => None,
    };
    if let Some(service) = service {
        let file = file.filter(|_| file_service.as_deref() == Some(service));
        return Ok(Some((service.to_string(), file)));
    }
    if let Some(name) = file_service {
        return Ok(Some((name, file)));
    }
    if let Some(name) = named {
        let shipped = cloud::shipped_services();
        if !shipped.contains(&name) {
            return Err(format!(
                "no model of the service `{name}` ships with asg-lifecycle (shipped: {}); give \
                 one with --service-model",
                shipped.join(", ")
            ));
        }
        return Ok(Some((name.to_string(), None)));
    }
    if SDK_OPERATIONS.contains(&operation) {
        return Ok(None);
    }
    match cloud::services_with_operation(operation).as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((one.clone(), None))),
        many => Err(format!(
            "several services have the operation {operation} ({}): name one with --service",
            many.join(", ")
        )),
    }
}

/// The operations of the SDK-backed adapters (the built-in waiters' operations).
const SDK_OPERATIONS: &[&str] = &[
    "GetCommandInvocation",
    "DescribeAutoScalingInstances",
    "GetItem",
];

/// Runs a waiter; each attempt is a line (structured: `{"waiter", "attempt", "max_attempts",
/// "state", "status"}`).
async fn run_waiter(args: RunArgs, global: &Global) -> ExitCode {
    let registry = match registry(&args.waiters) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let (service, operation) = match registry.resolve(&args.name) {
        Ok(entry) => (entry.service.clone(), entry.config.operation.clone()),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let model = match model_for(
        service.as_deref(),
        &operation,
        args.service_model.as_deref(),
        args.service.as_deref(),
    ) {
        Ok(model) => model,
        Err(e) => return exit::fail(exit::USAGE, e),
    };
    let mut operations = match cloud::sdk_operations(global.endpoint()).await {
        Ok(operations) => operations,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    if let Some((service, file)) = model {
        match cloud::model_operations(global.endpoint(), &service, file).await {
            Ok(more) => operations = operations.merge(more),
            Err(e) => return exit::fail(exit::ERROR, e),
        }
    }
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
