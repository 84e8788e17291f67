//! Invocation payloads: any bytes, any JSON, and valid events of the three sources with fields
//! mutated, in every envelope — decoded to an invocation or a typed error, and, through the
//! whole handler, to outcomes or errors, never a panic.

use asg_lifecycle::aws::LocalAws;
use asg_lifecycle::event::payload::{CommandStatusChange, LifecycleAction, Scheduled, Wrap, wrap};
use asg_lifecycle::event::{CommandEventKind, CommandStatus, decode_event, decode_invocation};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::testing::{Harness, invocation_context, scheduled};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use super::config;
use super::generators::{JsonMutation, json, json_mutations, mutate, string, time};

const INSTANCE: &str = "i-0abc";

/// A valid event of one of the three sources, before its id, instance and command are chosen.
#[derive(Clone, Debug)]
enum EventSpec {
    Lifecycle {
        terminating: bool,
        group: String,
        token: Option<String>,
        metadata: Option<String>,
        at: DateTime<Utc>,
    },
    Command {
        status: CommandStatus,
        invocation: bool,
        document: String,
        at: DateTime<Utc>,
    },
    Scheduled {
        rule: String,
        at: DateTime<Utc>,
    },
}

fn spec() -> impl Strategy<Value = EventSpec> {
    let status = prop::sample::select(vec![
        CommandStatus::Pending,
        CommandStatus::InProgress,
        CommandStatus::Delayed,
        CommandStatus::Success,
        CommandStatus::Cancelled,
        CommandStatus::TimedOut,
        CommandStatus::Failed,
        CommandStatus::Cancelling,
    ]);
    let metadata = prop::option::of(prop_oneof![json().prop_map(|v| v.to_string()), string()]);
    prop_oneof![
        (
            any::<bool>(),
            "[a-z-]{1,10}",
            prop::option::of(string()),
            metadata,
            time()
        )
            .prop_map(
                |(terminating, group, token, metadata, at)| EventSpec::Lifecycle {
                    terminating,
                    group,
                    token,
                    metadata,
                    at
                }
            ),
        (
            status,
            any::<bool>(),
            prop_oneof![Just("AWS-RunShellScript".to_string()), string()],
            time()
        )
            .prop_map(|(status, invocation, document, at)| EventSpec::Command {
                status,
                invocation,
                document,
                at
            }),
        (
            prop_oneof![Just("reconcile".to_string()), "[.A-Za-z0-9_-]{1,64}"],
            time()
        )
            .prop_map(|(rule, at)| EventSpec::Scheduled { rule, at }),
    ]
}

/// The event `spec` describes, for `instance` (and `command_id` for a command event).
fn build(spec: &EventSpec, id: &str, instance: &str, command_id: &str) -> Value {
    match spec {
        EventSpec::Lifecycle {
            terminating,
            group,
            token,
            metadata,
            at,
        } => {
            let mut event = if *terminating {
                LifecycleAction::terminating(id, instance)
            } else {
                LifecycleAction::launching(id, instance)
            }
            .group(group)
            .at(*at);
            if let Some(token) = token {
                event = event.token(token);
            }
            if let Some(metadata) = metadata {
                event = event.notification_metadata(metadata);
            }
            event.json()
        }
        EventSpec::Command {
            status,
            invocation,
            document,
            at,
        } => CommandStatusChange::new(id, instance, command_id, *status)
            .kind(if *invocation {
                CommandEventKind::Invocation
            } else {
                CommandEventKind::Command
            })
            .document(document)
            .at(*at)
            .json(),
        EventSpec::Scheduled { rule, at } => Scheduled::new(id, rule).at(*at).json(),
    }
}

/// True when the event's time has a four-digit year, as RFC 3339 (and EventBridge) writes.
fn in_rfc3339_years(spec: &EventSpec) -> bool {
    let (EventSpec::Lifecycle { at, .. }
    | EventSpec::Command { at, .. }
    | EventSpec::Scheduled { at, .. }) = spec;
    (0..=9999).contains(&chrono::Datelike::year(at))
}

fn envelope() -> impl Strategy<Value = Wrap> {
    prop::sample::select(vec![Wrap::Direct, Wrap::Sns, Wrap::Sqs, Wrap::SqsSns])
}

/// One delivery: an event, its mutations and its envelope.
type Delivery = (EventSpec, Vec<JsonMutation>, Wrap);

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        spec(),
        prop_oneof![1 => Just(Vec::new()), 3 => json_mutations()],
        envelope(),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_to_an_invocation_or_a_typed_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            let _ = decode_invocation(&value);
        }
    }

    #[test]
    fn any_json_decodes_to_an_invocation_or_a_typed_error(value in json(), wrapping in envelope()) {
        let _ = decode_event(&value);
        let _ = decode_invocation(&value);
        let _ = decode_invocation(&wrap(wrapping, &value, "m-1"));
    }

    #[test]
    fn valid_events_with_mutated_fields_decode_or_fail_with_a_typed_error(
        (spec, mutations, wrapping) in delivery()
    ) {
        let mut event = build(&spec, "ev-1", INSTANCE, "cmd-1");
        let valid = decode_invocation(&wrap(wrapping, &event, "m-1"));
        // RFC 3339 has four-digit years: an event of another year is not valid to begin with.
        if in_rfc3339_years(&spec) {
            prop_assert!(valid.is_ok_and(|i| i.messages.iter().all(|m| m.event.is_ok())), "the generator builds valid events: {event}");
        }
        mutate(&mut event, &mutations);
        let _ = decode_event(&event);
        if let Ok(invocation) = decode_invocation(&wrap(wrapping, &event, "m-1")) {
            for message in invocation.messages {
                if let Err(error) = message.event {
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }
    }
}

/// Mutated events of every source, a few in a row, through the whole handler (the example model,
/// a registered instance, command events naming the command it sent): outcomes or errors, never
/// a panic.
#[test]
fn the_handler_answers_every_sequence_of_mutated_events_without_panicking() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(config());
    let sequences = prop::collection::vec(delivery(), 1..5);
    runner
        .run(&sequences, |deliveries| {
            runtime.block_on(async {
                let h = Harness::builder().build();
                h.register(INSTANCE, "finished_cloud_init").await;
                let invoker = Invoker::new(h.another_handler());
                for (n, (spec, mutations, wrapping)) in deliveries.iter().enumerate() {
                    let command_id = h
                        .aws
                        .calls()
                        .into_iter()
                        .rev()
                        .find(|c| c.operation == "SendCommand")
                        .and_then(|c| c.input["comment"].as_str().map(LocalAws::command_id_for))
                        .unwrap_or_else(|| "cmd-none".into());
                    let mut event = build(spec, &format!("ev-{n}"), INSTANCE, &command_id);
                    mutate(&mut event, mutations);
                    let payload = wrap(*wrapping, &event, &format!("m-{n}"));
                    let _report = invoker.invoke(&payload, &invocation_context()).await;
                }
                // A sweep over whatever the events left, its errors being answers too.
                let _ = h.deliver(&scheduled("sweep-1", "reconcile")).await;
            });
            Ok(())
        })
        .unwrap();
}
