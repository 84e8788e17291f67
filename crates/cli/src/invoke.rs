//! `asg-lifecycle invoke --transitions FILE (--store STATE.json | --table NAME) EVENT.json...`

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

use crate::cloud;
use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::source::parse_duration;

/// Arguments of `invoke`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("records").required(true).multiple(true).args(["store", "table"])))]
#[command(after_help = "Examples:
  asg-lifecycle invoke --store state.json crates/core/tests/fixtures/events/autoscaling-launch.json
  asg-lifecycle invoke --table asg-lifecycle --group web --aws real sweep.json
  asg-lifecycle invoke --store state.json launch.json --query \"[outcome, transitions[].to]\" --output text")]
pub struct Args {
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// The JSON store file: a map from Ident to the record's attributes. Written back. It wins
    /// over `--table` (so that it overrides ASG_LIFECYCLE_TABLE).
    #[arg(long)]
    store: Option<PathBuf>,
    /// A DynamoDB table holding the records instead of a file (nothing is written to a file).
    #[arg(long, env = "ASG_LIFECYCLE_TABLE")]
    table: Option<String>,
    /// Where the tasks' Auto Scaling and SSM calls go: `local` records them and answers
    /// deterministically; `real` calls AWS with the default credential chain.
    #[arg(long, value_enum, default_value = "local")]
    aws: AwsMode,
    /// With --table: the Auto Scaling groups whose active records a scheduled event sweeps
    /// (repeatable or comma-separated; default: the groups the table knows; records of an
    /// unknown group are always swept).
    #[arg(
        long = "group",
        env = "ASG_LIFECYCLE_GROUPS",
        value_delimiter = ',',
        value_name = "GROUP"
    )]
    groups: Vec<String>,
    /// Event payloads (EventBridge, SNS or SQS JSON), handled in order.
    #[arg(required = true)]
    events: Vec<PathBuf>,
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

/// Prints one outcome: the document `{"event", "instance", "from", "to", "transitions",
/// "effects", "outcome", "reason", "error"}`, or one human line.
fn print(outcome: &Outcome, out: &Printer) {
    match serde_json::to_value(outcome) {
        Ok(document) if !out.is_human() => {
            out.print_item(&document);
        }
        Err(e) if !out.is_human() => eprintln!("error: failed to render an outcome: {e}"),
        _ => {
            let path: Vec<String> = outcome
                .transitions
                .iter()
                .map(|t| format!("{} -[{}]-> {}", t.from, t.trigger, t.to))
                .collect();
            println!(
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
            );
        }
    }
}

/// Runs each event; exit 0 when all were handled, 1 when one was rejected or failed (the store
/// keeps every accepted change; a rejected event changes nothing), 75 (`EX_TEMPFAIL`) when none
/// was but one must be retried (another invocation was busy with the instance, or a retryable
/// error), 3 when the model, the store or AWS cannot be opened.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let at = global.endpoint();
    let machine = match &args.transitions {
        Some(path) => FileModel::load(path).and_then(|m| Machine::from_model(&m)),
        None => Ok(Machine::example()),
    };
    let machine = match machine {
        Ok(m) => Arc::new(m),
        Err(report) => {
            eprintln!("{report}");
            return exit::code(exit::ERROR);
        }
    };
    let mut groups = args.groups.clone();
    let (store, file): (Arc<dyn StateStore>, Option<StoreFile<'_>>) =
        match (&args.store, &args.table) {
            (Some(path), _) => {
                let memory = if path.exists() {
                    match MemoryStore::load(path) {
                        Ok(s) => Arc::new(s),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return exit::code(exit::ERROR);
                        }
                    }
                } else {
                    Arc::new(MemoryStore::new())
                };
                (memory.clone(), Some((memory, path)))
            }
            (None, Some(table)) => match cloud::dynamo_store(table, at, &args.groups).await {
                Ok((store, known)) => {
                    groups = known;
                    (store, None)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::code(exit::ERROR);
                }
            },
            (None, None) => {
                eprintln!("error: give --store FILE or --table NAME");
                return exit::code(exit::ERROR);
            }
        };
    let aws = match args.aws {
        AwsMode::Local => AwsClients::local(&Arc::new(LocalAws::new())),
        AwsMode::Real => match cloud::aws_clients(at).await {
            Ok(clients) => clients,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::code(exit::ERROR);
            }
        },
    };
    let config = HandlerConfig {
        initial_wait: args.initial_wait,
        groups,
        ..HandlerConfig::default()
    };
    let invoker = Invoker::new(LifecycleHandler::new(machine, store, aws).with_config(config));
    let mut exit = Exit::default();
    for path in &args.events {
        let payload = std::fs::read_to_string(path)
            .map_err(|e| format!("failed to read {}: {e}", path.display()))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display())));
        let payload = match payload {
            Ok(p) => p,
            Err(message) => {
                let error = asg_lifecycle::event::DecodeError::Json { message };
                exit.print(&Outcome::rejected(None, None, &error), out);
                continue;
            }
        };
        let ctx = InvocationContext::with_budget(Duration::from_secs(900));
        let report = invoker.invoke(&payload, &ctx).await;
        if let Err(e) = report.envelope {
            let error = HandlerError::Decode(e);
            exit.print(&Outcome::rejected(None, None, &error), out);
        }
        for message in &report.messages {
            for outcome in &message.outcomes() {
                exit.print(outcome, out);
            }
        }
    }
    if let Some((memory, path)) = file {
        if let Err(e) = memory.save(path) {
            eprintln!("error: {e}");
            return exit::code(exit::ERROR);
        }
        // The process ends here: freeing every record one by one would only cost time.
        std::mem::forget(invoker);
        std::mem::forget(memory);
    }
    exit.code()
}

/// What the outcomes printed so far mean for the exit status.
#[derive(Default)]
struct Exit {
    /// An event was rejected or failed.
    failed: bool,
    /// An event must be retried.
    retry: bool,
}

impl Exit {
    /// Prints `outcome` and notes what it means for the exit status.
    fn print(&mut self, outcome: &Outcome, out: &Printer) {
        let kind = outcome.outcome;
        if kind.is_retried() {
            self.retry = true;
        } else if !kind.is_handled() || outcome.error.is_some() {
            self.failed = true;
        }
        print(outcome, out);
    }

    fn code(&self) -> ExitCode {
        if self.failed {
            exit::code(exit::FAILED)
        } else if self.retry {
            exit::code(exit::TEMPFAIL)
        } else {
            ExitCode::SUCCESS
        }
    }
}
