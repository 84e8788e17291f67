//! `asg-lifecycle watch (--table T | --store FILE) [--group G]... [--since TOKEN]`

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::status::StatusRules;
use asg_lifecycle::watch::{CloseReason, Config, ResumeToken, WatchError, WatchEvent, watcher};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::exit;
use crate::global::Global;
use crate::output::Printer;
use crate::signals::Interrupt;
use crate::source::{self, SourceArgs, load_machine, parse_duration};

/// Arguments of `watch`.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  asg-lifecycle watch --table asg-lifecycle --group web
  asg-lifecycle watch --table asg-lifecycle --since 'shardId-0001/49590338271490256608559692538361571095921575989136588898'
  asg-lifecycle watch --store state.json --output json --query \"[event, instance, status]\" --timeout 30s

Ctrl-C (or SIGTERM) closes the watch: the last line holds the resume token, exit 130 (143).")]
pub struct Args {
    /// The records; with `--group`, only those groups' records.
    #[command(flatten)]
    source: SourceArgs,
    /// Resume after this token (printed by an earlier watch) instead of listing first.
    #[arg(long)]
    since: Option<ResumeToken>,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// The model file, for the status column (default: the embedded example model).
    #[arg(long)]
    transitions: Option<PathBuf>,
}

/// The structured form of one event: `{"event", "instance", "state", "status", "record",
/// "token", "reason"}` (the members that apply).
fn document(event: &WatchEvent, rules: &StatusRules) -> Value {
    let record = |r: &InstanceRecord, kind: &str| {
        json!({"event": kind, "instance": r.ident, "state": r.status, "status": rules.status_of(r),
               "record": asg_lifecycle::redact::public_record(r)})
    };
    match event {
        WatchEvent::Init => json!({"event": "init"}),
        WatchEvent::InitApply(r) => record(r, "init-apply"),
        WatchEvent::InitDone { token } => json!({"event": "init-done", "token": token.to_string()}),
        WatchEvent::Apply { record: r, token } => {
            let mut v = record(r, "apply");
            v["token"] = json!(token.to_string());
            v
        }
        WatchEvent::Delete { ident, token, .. } => {
            json!({"event": "delete", "instance": ident, "token": token.to_string()})
        }
        WatchEvent::Closed { token, reason } => json!({
            "event": "closed",
            "reason": reason_name(*reason),
            "token": token.as_ref().map(ToString::to_string),
        }),
    }
}

fn reason_name(reason: CloseReason) -> &'static str {
    match reason {
        CloseReason::Timeout => "timeout",
        CloseReason::Stopped => "interrupted",
    }
}

/// The human form of one event: one line.
fn line(event: &WatchEvent, rules: &StatusRules) -> String {
    let record = |r: &InstanceRecord| {
        format!(
            "{} {} {}",
            r.ident,
            r.status.as_deref().unwrap_or("-"),
            rules.status_of(r)
        )
    };
    match event {
        WatchEvent::Init => "-- listing".into(),
        WatchEvent::InitApply(r) => format!("{} (listed)", record(r)),
        WatchEvent::InitDone { token } => format!("-- following from {token}"),
        WatchEvent::Apply { record: r, token } => format!("{}  @{token}", record(r)),
        WatchEvent::Delete { ident, token, .. } => format!("{ident} deleted  @{token}"),
        WatchEvent::Closed { token, reason } => {
            let reason = reason_name(*reason);
            match token {
                Some(token) => format!("-- closed ({reason}); resume token: {token}"),
                None => format!("-- closed ({reason}); no resume token"),
            }
        }
    }
}

/// True when `event` concerns one of `groups` (all when empty); deletions always pass (the
/// deleted record's group is not known).
fn in_groups(event: &WatchEvent, groups: &[String]) -> bool {
    let record = match event {
        WatchEvent::InitApply(r) | WatchEvent::Apply { record: r, .. } => r,
        _ => return true,
    };
    groups.is_empty()
        || [record.group.as_deref(), record.active_group.as_deref()]
            .into_iter()
            .flatten()
            .any(|g| groups.iter().any(|x| x == g))
}

/// Lists, then prints one line (or document) per change until the timeout or an interrupt; the
/// last line holds the resume token (each change line carries its own). Exit 0 when the watch
/// timed out, 130/143 when interrupted (SIGINT/SIGTERM), 1 on a permanent error, 64 without a
/// source, 3 when the source or model cannot be opened.
pub async fn run(args: &Args, global: &Global, out: &Printer) -> ExitCode {
    let interrupt = match Interrupt::install() {
        Ok(i) => i,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    // Following from a token lists nothing (until the token is gone: the listing then says).
    let source = if args.since.is_some() {
        source::open(&args.source, global.endpoint()).await
    } else {
        source::open_listed(&args.source, global.endpoint()).await
    };
    let source = match source {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opened = async {
        let machine = load_machine(args.transitions.as_deref())?;
        Ok::<_, String>((StatusRules::new(machine.graph()), source.store()?))
    };
    let (rules, store) = match opened.await {
        Ok(o) => o,
        Err(e) => return exit::fail(exit::ERROR, e),
    };
    let groups = &args.source.groups;
    let mut config = Config::default();
    // One group is filtered by the watcher itself; several here.
    if let [group] = groups.as_slice() {
        config.group = Some(group.clone());
    }
    config.timeout = args.timeout;
    config.cancel = Some(interrupt.token());
    source.follow_file(config.poll_interval);
    let mut events = Box::pin(watcher(store, source.feed(), args.since.clone(), config));
    let mut last: Option<ResumeToken> = args.since.clone();
    let mut interrupted = false;
    while let Some(item) = events.next().await {
        match item {
            Ok(event) => {
                match &event {
                    WatchEvent::InitDone { token }
                    | WatchEvent::Apply { token, .. }
                    | WatchEvent::Delete { token, .. } => {
                        last = Some(token.clone());
                    }
                    WatchEvent::Closed {
                        reason: CloseReason::Stopped,
                        ..
                    } => interrupted = true,
                    _ => {}
                }
                if !in_groups(&event, groups) {
                    continue;
                }
                if out.is_human() {
                    println!("{}", line(&event, &rules));
                } else if !out.print_item(&document(&event, &rules)) {
                    return exit::code(exit::ERROR);
                }
            }
            Err(WatchError::Failed { message }) => {
                eprintln!("error: {message}");
                if let Some(token) = last {
                    eprintln!("resume token: {token}");
                }
                return exit::code(exit::FAILED);
            }
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    if interrupted {
        interrupt.exit_code()
    } else {
        exit::code(exit::SUCCESS)
    }
}
