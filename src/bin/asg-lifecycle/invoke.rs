//! `asg-lifecycle invoke --transitions FILE --store STATE.json EVENT.json...`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use asg_lifecycle::aws::{AwsClients, LocalAws};
use asg_lifecycle::handler::{HandlerConfig, InvocationContext, LifecycleHandler, Outcome};
use asg_lifecycle::machine::{FileModel, Machine};
use asg_lifecycle::store::MemoryStore;

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
pub struct Args {
    /// The model file (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// The JSON store file: a map from Ident to the record's attributes. Written back.
    #[arg(long)]
    store: PathBuf,
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

fn parse_duration(text: &str) -> Result<Duration, String> {
    asg_lifecycle::machine::parse_duration(text)
}

fn print(outcome: &Outcome, format: OutputFormat) {
    match format {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string(outcome).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        ),
        OutputFormat::Text => {
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
/// keeps every accepted change; a rejected event changes nothing), 3 on a usage error.
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
    let store = if args.store.exists() {
        match MemoryStore::load(&args.store) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(3);
            }
        }
    } else {
        Arc::new(MemoryStore::new())
    };
    let local = Arc::new(LocalAws::new());
    let config = HandlerConfig {
        initial_wait: args.initial_wait,
        ..HandlerConfig::default()
    };
    let handler = LifecycleHandler::new(machine, store.clone(), AwsClients::local(&local))
        .with_config(config);
    let mut failed = false;
    for path in &args.events {
        let payload = std::fs::read_to_string(path)
            .map_err(|e| format!("failed to read {}: {e}", path.display()))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("{}: {e}", path.display())));
        let payload = match payload {
            Ok(p) => p,
            Err(message) => {
                failed = true;
                let error = asg_lifecycle::event::DecodeError::Json { message };
                print(&Outcome::rejected(None, None, &error), args.output);
                continue;
            }
        };
        let ctx = InvocationContext::with_budget(Duration::from_secs(900));
        match handler.handle_payload(&payload, &ctx).await {
            Err(e) => {
                failed = true;
                print(&Outcome::rejected(None, None, &e), args.output);
            }
            Ok((_, reports)) => {
                for report in reports {
                    match report.result {
                        Ok(outcomes) => {
                            for outcome in &outcomes {
                                failed |= outcome.error.is_some();
                                print(outcome, args.output);
                            }
                        }
                        Err(e) => {
                            failed = true;
                            print(&Outcome::rejected(None, None, &e), args.output);
                        }
                    }
                }
            }
        }
    }
    if let Err(e) = store.save(&args.store) {
        eprintln!("error: {e}");
        return ExitCode::from(3);
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
