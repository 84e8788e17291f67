//! Unit tests of the instance record: the flat item form, attempt ids, checked versions and dates.

use super::*;
use serde_json::json;

#[test]
fn cloud_init_item_reads_as_version_zero_with_attributes() {
    let item = json!({"Ident": "i-1", "ItemStatus": "new", "InstanceIp": "10.0.0.5"});
    let record = InstanceRecord::from_item("i-1", item.as_object().unwrap()).unwrap();
    assert_eq!(record.version, 0);
    assert_eq!(record.state(), "new");
    assert_eq!(record.attribute_str("InstanceIp"), Some("10.0.0.5"));
}

#[test]
fn item_round_trips_through_the_flat_form() {
    let mut record = InstanceRecord::new("i-2");
    record.status = Some("ready".into());
    record.version = 4;
    record.recent_events = vec!["e1".into()].into();
    std::sync::Arc::make_mut(&mut record.attributes).insert("Role".into(), json!("worker"));
    let back = InstanceRecord::from_item("i-2", &record.to_item()).unwrap();
    assert_eq!(back, record);
}

#[test]
fn attempt_ids_are_readable_when_short_and_hashed_when_long() {
    let mut record = InstanceRecord::new("i-1");
    record.version = 3;
    assert_eq!(
        record.new_attempt_id("ready", "drain"),
        "i-1:ready:drain:v3"
    );
    let long = record.new_attempt_id(&"s".repeat(80), "t");
    assert!(long.starts_with("i-1:") && long.ends_with(":v3") && long.len() <= 80);
    assert_eq!(long, record.new_attempt_id(&"s".repeat(80), "t"), "stable");
}

#[test]
fn an_interrupted_attempt_keeps_its_id_for_the_same_event_trigger_and_source() {
    let mut record = InstanceRecord::new("i-1");
    record.version = 5;
    record.in_flight = Some(std::sync::Arc::new(InFlight {
        event_id: "e1".into(),
        stimulus: Stimulus::Scheduled(crate::event::ScheduledEvent {
            rule: "reconcile".into(),
        }),
        attempt_id: "i-1:a:go:v4".into(),
        pending_after: Vec::new(),
        trigger: Some("go".into()),
        from: Some("a".into()),
    }));
    assert_eq!(record.attempt_id("e1", "a", "go"), "i-1:a:go:v4");
    assert_eq!(record.attempt_id("e2", "a", "go"), "i-1:a:go:v5");
    assert_eq!(record.attempt_id("e1", "b", "go"), "i-1:b:go:v5");
}

#[test]
fn a_late_launch_event_does_not_replace_a_held_terminate_action() {
    let event = |transition| LifecycleEvent {
        transition,
        instance_id: "i-1".into(),
        group: "g".into(),
        hook: "h".into(),
        token: None,
        metadata: None,
        origin: None,
        destination: None,
        time: None,
    };
    let now = Utc::now();
    let held = LifecycleAction::announced(&event(LifecycleTransition::Terminating), "t", now);
    assert!(!held.yields_to(&event(LifecycleTransition::Launching), "l"));
    assert!(!held.yields_to(&event(LifecycleTransition::Terminating), "t"));
    assert!(held.yields_to(&event(LifecycleTransition::Terminating), "t2"));
    let launch = LifecycleAction::announced(&event(LifecycleTransition::Launching), "l", now);
    assert!(launch.yields_to(&event(LifecycleTransition::Terminating), "t"));
}

#[test]
fn the_next_version_is_checked() {
    let mut record = InstanceRecord::new("i-1");
    record.version = 41;
    assert_eq!(record.next_version(), Ok(42));
    record.version = u64::MAX;
    assert_eq!(
        record.next_version(),
        Err(VersionOverflow { version: u64::MAX })
    );
    assert_eq!(next_version(u64::MAX - 1), Ok(u64::MAX));
}

fn read(item: &serde_json::Value) -> InstanceRecord {
    let ident = item["Ident"].as_str().unwrap();
    InstanceRecord::from_item(ident, item.as_object().unwrap()).unwrap()
}

fn malformed(record: &InstanceRecord) -> Vec<&str> {
    record
        .malformed
        .iter()
        .map(|m| m.attribute.as_str())
        .collect()
}

#[test]
fn a_stored_version_without_a_successor_restarts_from_the_history() {
    let record = read(&json!({"Ident": "i-4", "Version": u64::MAX}));
    assert_eq!(malformed(&record), ["Version"]);
    assert!(
        record.malformed[0]
            .message
            .contains("cannot be incremented"),
        "{:?}",
        record.malformed
    );
    assert_eq!(
        record.malformed[0].raw,
        json!(u64::MAX),
        "kept to condition on"
    );
    assert_eq!(record.version, 0);
    let ok = read(&json!({"Ident": "i-4", "Version": u64::MAX - 1}));
    assert_eq!(ok.version, u64::MAX - 1);
    assert!(ok.malformed.is_empty());
}

#[test]
fn a_stored_date_beyond_year_9999_leaves_its_attribute_out() {
    let record = read(
        &json!({"Ident": "i-5", "ItemStatus": "ready", "LifecycleAction": {
            "Token": "t", "Hook": "h", "Group": "g",
            "Transition": "autoscaling:EC2_INSTANCE_LAUNCHING", "EventId": "e",
            "StartedAt": "+262142-12-31T23:59:59Z",
        }}),
    );
    assert_eq!(malformed(&record), ["LifecycleAction"]);
    assert!(record.lifecycle_action.is_none());
    assert!(
        record.malformed[0]
            .message
            .contains("outside the years 0000 to 9999"),
        "{:?}",
        record.malformed
    );
    assert_eq!(record.state(), "ready", "the rest is read");
    let record = read(&json!({"Ident": "i-5", "EnteredAt": "+10000-01-01T00:00:00Z"}));
    assert_eq!(malformed(&record), ["EnteredAt"]);
    let record = read(&json!({"Ident": "i-5", "EnteredAt": "9999-12-31T23:59:59Z"}));
    assert!(record.malformed.is_empty());
}

#[test]
fn every_malformed_handler_attribute_is_left_out_and_named() {
    let record = read(&json!({
        "Ident": "i-3", "ItemStatus": "ready", "Version": "three", "InFlight": 7,
        "PendingCommand": "x", "LifecycleAction": [], "History": {"a": 1},
        "RecentEvents": "e1", "LastError": {"no": 1}, "Gone": "yes", "Role": "kept",
        "History2": "not handler-owned",
    }));
    let mut names = malformed(&record);
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Gone",
            "History",
            "InFlight",
            "LastError",
            "LifecycleAction",
            "PendingCommand",
            "RecentEvents",
            "Version",
        ]
    );
    assert_eq!(record.state(), "ready");
    assert_eq!(record.version, 0);
    assert!(record.in_flight.is_none() && record.history.is_empty() && !record.gone);
    assert_eq!(record.attribute_str("Role"), Some("kept"));
    assert_eq!(record.attribute_str("History2"), Some("not handler-owned"));
    let note = InstanceRecord::repair_note(&record.malformed).unwrap();
    assert!(
        note.contains("`InFlight`") && note.contains("`Version`"),
        "{note}"
    );
}

#[test]
fn a_malformed_version_restarts_from_the_newest_version_the_history_names() {
    let record = read(&json!({"Ident": "i-6", "Version": -3, "History": [
        {"From": "a", "To": "b", "Trigger": "t", "EventId": "e", "Version": 4, "At": "2026-01-01T00:00:00Z"},
        {"From": "b", "To": "c", "Trigger": "t", "EventId": "f", "Version": 9, "At": "2026-01-01T00:00:01Z"},
    ]}));
    assert_eq!(malformed(&record), ["Version"]);
    assert_eq!(record.version, 9);
}

#[test]
fn a_state_that_is_no_string_reads_as_none_and_only_an_empty_ident_is_refused() {
    let record = read(&json!({"Ident": "i-7", "ItemStatus": 5}));
    assert_eq!(record.status, None);
    assert_eq!(malformed(&record), ["ItemStatus"]);
    assert_eq!(record.malformed[0].raw, json!(5));
    let err = InstanceRecord::from_item("", &serde_json::Map::new()).unwrap_err();
    assert_eq!(err.attribute, "Ident");
}

#[test]
fn attempt_ids_are_those_formatting_gives() {
    let formatted = |r: &InstanceRecord, from: &str, trigger: &str| {
        let readable = format!("{}:{from}:{trigger}:v{}", r.ident, r.version);
        if readable.len() <= 80 {
            return readable;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in readable.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{}:{hash:016x}:v{}", r.ident, r.version)
    };
    let mut record = InstanceRecord::new("i-0123456789abcdef0");
    for version in [0, 1, 9, 10, 99, 12_345, u64::MAX - 1, u64::MAX] {
        record.version = version;
        for (from, trigger) in [
            ("a", "go"),
            ("finished_cloud_init", "join"),
            ("completing_lifecycle", "completing_lifecycle__to__ready"),
            (&*"s".repeat(80), "t"),
            ("", ""),
        ] {
            assert_eq!(
                record.new_attempt_id(from, trigger),
                formatted(&record, from, trigger)
            );
        }
    }
}
