//! Stored records: any item, and valid records with their stored attributes mutated — always a
//! record, each malformed attribute left out and named, never a panic; a record read back from
//! what it wrote is the same record; and a store of such records through the whole handler
//! (events and a sweep) — outcomes or errors, never a panic.

use asg_lifecycle::event::{ScheduledEvent, Stimulus};
use asg_lifecycle::record::{
    HistoryEntry, InFlight, InstanceRecord, LifecycleAction, PendingCommand, attr,
};
use asg_lifecycle::store::MemoryStore;
use asg_lifecycle::testing::{Harness, launch, scheduled, terminate};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

use super::config;
use super::generators::{json, json_mutations, mutate, string};

const IDENT: &str = "i-0abc";

/// Reads an item: always a record (it names its instance), each malformed attribute left out
/// and named; the record must read back the same from what it writes, with nothing malformed.
fn read(item: &Map<String, Value>) -> Result<(), TestCaseError> {
    let record = InstanceRecord::from_item(IDENT, item);
    prop_assert!(record.is_ok(), "{:?}", record.err());
    let mut record = record.unwrap();
    for malformed in &record.malformed {
        prop_assert!(
            malformed.attribute == attr::ITEM_STATUS
                || attr::HANDLER_OWNED.contains(&malformed.attribute.as_str()),
            "{malformed:?}"
        );
        prop_assert!(!malformed.message.is_empty());
        prop_assert!(item.contains_key(&malformed.attribute));
    }
    record.malformed.clear();
    let again = InstanceRecord::from_item(IDENT, &record.to_item());
    prop_assert_eq!(again.ok(), Some(record));
    Ok(())
}

/// A date a record may hold: mostly near now, sometimes anywhere in the years 0000–9999 (dates
/// outside them are left out when read; mutations put some there).
fn stored_time() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        3 => 1_700_000_000i64..1_900_000_000,
        1 => -62_167_219_200i64..=253_402_300_799,
    ]
    .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

fn state() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "new",
            "finished_cloud_init",
            "join_cluster",
            "joined_cluster",
            "updating_dns",
            "ready",
            "draining",
            "completing_termination",
            "terminated",
            "failure",
            "abandoned",
        ])
        .prop_map(String::from),
        string(),
    ]
}

/// A version a record may hold: small, or just below the largest (which has no successor, and
/// reads as malformed).
fn version() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..10, (u64::MAX - 3)..u64::MAX, 0..u64::MAX]
}

fn lifecycle_action() -> impl Strategy<Value = LifecycleAction> {
    (
        prop::option::of(string()),
        prop::sample::select(vec![
            "autoscaling:EC2_INSTANCE_LAUNCHING",
            "autoscaling:EC2_INSTANCE_TERMINATING",
            "bogus",
        ]),
        // A `null` metadata is stored as no metadata: both mean none.
        prop::option::of(json().prop_filter("metadata, not null", |m| !m.is_null())),
        stored_time(),
        prop::option::of(stored_time()),
    )
        .prop_map(
            |(token, transition, metadata, started_at, last_heartbeat)| LifecycleAction {
                token,
                hook: "launch-hook".into(),
                group: "web-asg".into(),
                transition: transition.into(),
                event_id: "ev-1".into(),
                metadata,
                started_at,
                last_heartbeat,
                origin: None,
                destination: None,
            },
        )
}

fn pending_command() -> impl Strategy<Value = PendingCommand> {
    (
        string(),
        prop::option::of(string()),
        prop::option::of(stored_time()),
        stored_time(),
    )
        .prop_map(
            |(attempt_id, command_id, deadline, intent_at)| PendingCommand {
                attempt_id,
                command_id,
                trigger: "join".into(),
                deadline,
                intent_at,
            },
        )
}

fn history() -> impl Strategy<Value = Vec<HistoryEntry>> {
    prop::collection::vec(
        (state(), state(), version(), stored_time()).prop_map(|(from, to, version, at)| {
            HistoryEntry {
                from: from.into(),
                to: to.into(),
                trigger: "go".into(),
                event_id: "ev-0".into(),
                version,
                at,
            }
        }),
        0..3,
    )
}

/// A record with every field set to something valid, often at the edges of its range.
fn record() -> impl Strategy<Value = InstanceRecord> {
    (
        (
            prop::option::of(state()),
            version(),
            prop::option::of(string()),
        ),
        (
            prop::option::of(lifecycle_action()),
            prop::option::of(pending_command()),
            any::<bool>(),
            prop::option::of(stored_time()),
        ),
        (
            history(),
            prop::option::of(any::<i64>()),
            any::<bool>(),
            prop::collection::vec(string(), 0..3),
        ),
    )
        .prop_map(
            |(
                (status, version, ip),
                (lifecycle_action, pending_command, in_flight, entered_at),
                (history, expires_at, gone, recent_events),
            )| {
                let mut record = InstanceRecord::new(IDENT);
                record.status = status;
                record.version = version;
                if let Some(ip) = ip {
                    std::sync::Arc::make_mut(&mut record.attributes)
                        .insert("InstanceIp".into(), json!(ip));
                }
                record.lifecycle_action = lifecycle_action.map(std::sync::Arc::new);
                record.pending_command = pending_command;
                record.in_flight = in_flight.then(|| {
                    std::sync::Arc::new(InFlight {
                        event_id: "ev-1".into(),
                        stimulus: Stimulus::Scheduled(ScheduledEvent {
                            rule: "reconcile".into(),
                        }),
                        attempt_id: format!("{IDENT}:a:go:v{version}"),
                        pending_after: vec!["send_command".into()],
                        trigger: Some("join".into()),
                        from: Some("finished_cloud_init".into()),
                    })
                });
                record.entered_at = entered_at;
                record.history = history.into();
                record.recent_events = recent_events.into();
                record.expires_at = expires_at;
                record.group = Some("web-asg".into());
                record.active_group = Some("web-asg".into());
                record.gone = gone;
                record
            },
        )
}

/// A record's stored item, mutated; a mutation may also rewrite a date at chrono's limits.
fn stored_item() -> impl Strategy<Value = Map<String, Value>> {
    (record(), prop_oneof![Just(Vec::new()), json_mutations()]).prop_map(|(record, mutations)| {
        let mut item = Value::Object(record.to_item());
        mutate(&mut item, &mutations);
        match item {
            Value::Object(map) => map,
            other => Map::from_iter([(attr::ITEM_STATUS.to_string(), other)]),
        }
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_item_reads_as_a_record_naming_its_malformed_attributes(
        entries in prop::collection::vec((
            prop_oneof![prop::sample::select(attr::HANDLER_OWNED.to_vec()).prop_map(String::from), Just(attr::ITEM_STATUS.to_string()), string()],
            json(),
        ), 0..6)
    ) {
        read(&entries.into_iter().collect())?;
    }

    #[test]
    fn valid_records_with_mutated_attributes_read_without_what_is_malformed(item in stored_item()) {
        read(&item)?;
    }

    #[test]
    fn a_valid_record_reads_back_as_itself(record in record()) {
        prop_assert_eq!(InstanceRecord::from_item(IDENT, &record.to_item()).ok(), Some(record));
    }
}

/// Drives the handler over stored items: a launch, a terminate and a sweep over a store holding
/// the record — outcomes or errors, never a panic. Items the store refuses to load are skipped
/// (reading them is the properties above).
fn drive_the_handler(items: impl Strategy<Value = Map<String, Value>>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(config());
    runner
        .run(&items, |item| {
            let Ok(store) = MemoryStore::from_json(&json!({ IDENT: item })) else {
                return Ok(());
            };
            runtime.block_on(async {
                let h = Harness::builder().store(std::sync::Arc::new(store)).build();
                for event in [
                    launch("ev-launch", IDENT),
                    terminate("ev-terminate", IDENT),
                    scheduled("sweep-1", "reconcile"),
                ] {
                    let _answer = h.deliver(&event).await;
                }
            });
            Ok(())
        })
        .unwrap();
}

/// Stored records of every shape through the whole handler.
#[test]
fn the_handler_answers_over_any_stored_record_without_panicking() {
    drive_the_handler(stored_item());
}

/// The same with versions at the very edge of `u64`: the write after the last version is a
/// typed error (`StoreError::VersionOverflow`), never an overflow.
#[test]
fn the_handler_answers_over_records_at_the_last_versions_without_panicking() {
    drive_the_handler(stored_item().prop_map(|mut item| {
        item.insert(attr::VERSION.into(), json!(u64::MAX - 1));
        item
    }));
}
