//! `asg-lifecycle invoke --transitions FILE (--store STATE.json | --table NAME) EVENT.json...`

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{
    HandlerConfig, HandlerError, InvocationContext, LifecycleHandler, Outcome,
};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle::store::{MemoryStore, StateStore};

use crate::cloud::{self, Endpoint};

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One line per instance outcome.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `invoke`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("records").required(true).args(["store", "table"])))]
pub struct Args {
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// The JSON store file: a map from Ident to the record's attributes. Written back.
    #[arg(long)]
    store: Option<PathBuf>,
    /// A DynamoDB table holding the records instead of a file (nothing is written to a file).
    #[arg(long)]
    table: Option<String>,
    /// An endpoint (DynamoDB Local, moto, ...) for --table and --aws real instead of AWS.
    #[arg(long)]
    endpoint_url: Option<String>,
    /// Where the tasks' Auto Scaling and SSM calls go: `local` records them and answers
    /// deterministically; `real` calls AWS with the default credential chain.
    #[arg(long, value_enum, default_value = "local")]
    aws: AwsMode,
    /// The region (default: from the environment).
    #[arg(long)]
    region: Option<String>,
    /// With --table: an Auto Scaling group whose active records a scheduled event sweeps
    /// (repeatable; records of an unknown group are always swept).
    #[arg(long = "group", requires = "table")]
    groups: Vec<String>,
    /// Event payloads (EventBridge, SNS or SQS JSON), handled in order.
    #[arg(required = true)]
    events: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
    /// How long a lifecycle event waits for cloud-init (e.g. 0s, 20s).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    initial_wait: Duration,
}

/// Where AWS calls go.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AwsMode {
    /// The recording local implementation.
    Local,
    /// The AWS SDK.
    Real,
}

/// The store file to write back, when the records live in one.
type StoreFile<'a> = (Arc<MemoryStore>, &'a PathBuf);

fn parse_duration(text: &str) -> Result<Duration, String> {
    asg_lifecycle::machine::parse_duration(text)
}

fn print(out: &mut impl Write, outcome: &Outcome, format: OutputFormat) -> std::io::Result<()> {
    match format {
        OutputFormat::Json => writeln!(
            out,
            "{}",
            serde_json::to_string(outcome).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        ),
        OutputFormat::Text => {
            let path: Vec<String> = outcome
                .transitions
                .iter()
                .map(|t| format!("{} -[{}]-> {}", t.from, t.trigger, t.to))
                .collect();
            writeln!(
                out,
                "{} {}: {:?} {}{}{}",
                outcome.event.as_deref().unwrap_or("-"),
                outcome.instance.as_deref().unwrap_or("-"),
                outcome.outcome,
                path.join(", "),
                outcome
                    .reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default(),
                outcome
                    .error
                    .as_deref()
                    .map(|e| format!(" error: {e}"))
                    .unwrap_or_default(),
            )
        }
    }
}

/// Runs each event; exit 0 when all were handled, 1 when one was rejected or failed (the store
/// keeps every accepted change; a rejected event changes nothing), 75 (`EX_TEMPFAIL`) when none
/// was but one must be retried (another invocation was busy with the instance, or a retryable
/// error), 3 on a usage error.
pub async fn run(args: &Args) -> ExitCode {
    let machine = match &args.transitions {
        Some(path) => FileModel::load(path).and_then(|m| Machine::from_model(&m)),
        None => Ok(Machine::example()),
    };
    let machine = match machine {
        Ok(m) => Arc::new(m),
        Err(report) => {
            eprintln!("{report}");
            return ExitCode::from(3);
        }
    };
    let (store, file): (Arc<dyn StateStore>, Option<StoreFile<'_>>) =
        match (&args.store, &args.table) {
            (Some(path), _) => {
                let memory = if path.exists() {
                    match MemoryStore::load(path) {
                        Ok(s) => Arc::new(s),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return ExitCode::from(3);
                        }
                    }
                } else {
                    Arc::new(MemoryStore::new())
                };
                (memory.clone(), Some((memory, path)))
            }
            (None, Some(table)) => {
                match cloud::dynamo_store(table, endpoint(args), &args.groups).await {
                    Ok(store) => (store, None),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(3);
                    }
                }
            }
            (None, None) => {
                eprintln!("error: give --store FILE or --table NAME");
                return ExitCode::from(3);
            }
        };
    let aws = match args.aws {
        AwsMode::Local => AwsClients::local(&Arc::new(LocalAws::new())),
        AwsMode::Real => match cloud::aws_clients(endpoint(args)).await {
            Ok(clients) => clients,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(3);
            }
        },
    };
    let config = HandlerConfig {
        initial_wait: args.initial_wait,
        groups: args.groups.clone(),
        ..HandlerConfig::default()
    };
    let invoker = Invoker::new(LifecycleHandler::new(machine, store, aws).with_config(config));
    let mut exit = Exit {
        out: BufWriter::new(std::io::stdout()),
        failed: false,
        retry: false,
    };
    for path in &args.events {
        let payload = std::fs::read_to_string(path)
            .map_err(|e| format!("failed to read {}: {e}", path.display()))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display())));
        let payload = match payload {
            Ok(p) => p,
            Err(message) => {
                let error = asg_lifecycle::event::DecodeError::Json { message };
                exit.print(&Outcome::rejected(None, None, &error), args.output);
                continue;
            }
        };
        let ctx = InvocationContext::with_budget(Duration::from_secs(900));
        let report = invoker.invoke(&payload, &ctx).await;
        if let Err(e) = report.envelope {
            let error = HandlerError::Decode(e);
            exit.print(&Outcome::rejected(None, None, &error), args.output);
        }
        for message in &report.messages {
            for outcome in &message.outcomes() {
                exit.print(outcome, args.output);
            }
        }
    }
    if let Err(e) = exit.out.flush() {
        eprintln!("error: failed to write the outcomes: {e}");
        return ExitCode::from(3);
    }
    if let Some((memory, path)) = file {
        if let Err(e) = memory.save(path) {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
        // The process ends here: freeing every record one by one would only cost time.
        std::mem::forget(invoker);
        std::mem::forget(memory);
    }
    exit.code()
}

/// What the outcomes printed so far mean for the exit status.
struct Exit {
    /// Standard output, buffered: one write per buffer-full rather than per outcome.
    out: BufWriter<std::io::Stdout>,
    /// An event was rejected or failed.
    failed: bool,
    /// An event must be retried.
    retry: bool,
}

impl Exit {
    /// Prints `outcome` and notes what it means for the exit status.
    fn print(&mut self, outcome: &Outcome, format: OutputFormat) {
        let kind = outcome.outcome;
        if kind.is_retried() {
            self.retry = true;
        } else if !kind.is_handled() || outcome.error.is_some() {
            self.failed = true;
        }
        if let Err(e) = print(&mut self.out, outcome, format) {
            eprintln!("error: failed to write an outcome: {e}");
            self.failed = true;
        }
    }

    fn code(&self) -> ExitCode {
        if self.failed {
            ExitCode::from(1)
        } else if self.retry {
            ExitCode::from(75)
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn endpoint(args: &Args) -> Endpoint<'_> {
    Endpoint {
        url: args.endpoint_url.as_deref(),
        region: args.region.as_deref(),
    }
}
