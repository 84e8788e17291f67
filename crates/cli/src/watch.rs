//! `asg-lifecycle watch (--table T | --store FILE) [--group G] [--since TOKEN] [--output json]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::status::StatusRules;
use asg_lifecycle::watch::{Config, ResumeToken, WatchError, WatchEvent, watcher};
use futures::StreamExt;
use serde_json::json;

use crate::source::{Source, SourceArgs, load_machine, parse_duration};

/// Output format.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// One line per change.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `watch`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Only this Auto Scaling group.
    #[arg(long)]
    group: Option<String>,
    /// Resume after this token (printed by an earlier watch) instead of listing first.
    #[arg(long)]
    since: Option<ResumeToken>,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// The model file, for the status column (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: OutputFormat,
}

fn line(event: &WatchEvent, rules: &StatusRules, output: OutputFormat) -> String {
    let record_json = |r: &InstanceRecord| json!({"instance": r.ident, "state": r.status, "status": rules.status_of(r), "record": asg_lifecycle::redact::public_record(r)});
    let record_text = |r: &InstanceRecord| {
        format!(
            "{} {} {}",
            r.ident,
            r.status.as_deref().unwrap_or("-"),
            rules.status_of(r)
        )
    };
    match (output, event) {
        (OutputFormat::Json, WatchEvent::Init) => json!({"event": "init"}).to_string(),
        (OutputFormat::Json, WatchEvent::InitApply(r)) => {
            let mut v = record_json(r);
            v["event"] = json!("init-apply");
            v.to_string()
        }
        (OutputFormat::Json, WatchEvent::InitDone { token }) => {
            json!({"event": "init-done", "token": token.to_string()}).to_string()
        }
        (OutputFormat::Json, WatchEvent::Apply { record, token }) => {
            let mut v = record_json(record);
            v["event"] = json!("apply");
            v["token"] = json!(token.to_string());
            v.to_string()
        }
        (OutputFormat::Json, WatchEvent::Delete { ident, token, .. }) => {
            json!({"event": "delete", "instance": ident, "token": token.to_string()}).to_string()
        }
        (OutputFormat::Json, WatchEvent::Closed { token, reason }) => {
            json!({"event": "closed", "reason": format!("{reason:?}").to_lowercase(), "token": token.as_ref().map(ToString::to_string)})
                .to_string()
        }
        (OutputFormat::Text, WatchEvent::Init) => "-- listing".into(),
        (OutputFormat::Text, WatchEvent::InitApply(r)) => format!("{} (listed)", record_text(r)),
        (OutputFormat::Text, WatchEvent::InitDone { token }) => format!("-- following from {token}"),
        (OutputFormat::Text, WatchEvent::Apply { record, token }) => format!("{}  @{token}", record_text(record)),
        (OutputFormat::Text, WatchEvent::Delete { ident, token, .. }) => format!("{ident} deleted  @{token}"),
        (OutputFormat::Text, WatchEvent::Closed { token, reason }) => match token {
            Some(token) => format!("-- closed ({reason:?}); resume token: {token}"),
            None => format!("-- closed ({reason:?}); no resume token"),
        },
    }
}

/// Lists, then prints one line per change until the timeout; the last line holds the resume
/// token (each change line carries its own, for a watch ended by an interrupt). Exit 0 when the
/// watch closed, 1 on a permanent error, 3 when the source or model cannot be opened.
pub async fn run(args: &Args) -> ExitCode {
    let opened = async {
        let machine = load_machine(args.transitions.as_deref())?;
        let source = Source::open(&args.source).await?;
        Ok::<_, String>((StatusRules::new(machine.graph()), source.store()?, source))
    };
    let (rules, store, source) = match opened.await {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let mut config = Config::default();
    config.group.clone_from(&args.group);
    config.timeout = args.timeout;
    source.follow_file(config.poll_interval);
    let mut events = Box::pin(watcher(store, source.feed(), args.since.clone(), config));
    let mut last: Option<ResumeToken> = args.since.clone();
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                match &event {
                    WatchEvent::InitDone { token }
                    | WatchEvent::Apply { token, .. }
                    | WatchEvent::Delete { token, .. } => {
                        last = Some(token.clone());
                    }
                    _ => {}
                }
                println!("{}", line(&event, &rules, args.output));
            }
            Err(WatchError::Failed { message }) => {
                eprintln!("error: {message}");
                if let Some(token) = last {
                    eprintln!("resume token: {token}");
                }
                return ExitCode::from(1);
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    ExitCode::SUCCESS
}
