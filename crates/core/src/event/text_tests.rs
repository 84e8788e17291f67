//! The fast path against the general way: on the fixtures, on every built event in every
//! envelope, and on every one-field mutation of them.

use serde_json::{Value, json};

use super::decode_text;
use crate::event::payload::{
    CommandStatusChange, LifecycleAction, RecordChange, Scheduled, Wrap, sqs_batch_text, wrap_text,
};
use crate::event::{CommandEventKind, CommandStatus, decode_invocation};

/// Checks that the fast path, when it answers, answers as the general way; returns whether it
/// answered.
fn same(text: &str) -> bool {
    let Some(fast) = decode_text(text) else {
        return false;
    };
    let general = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|payload| decode_invocation(&payload).ok())
        .unwrap_or_else(|| panic!("the fast path accepted what the general way refuses: {text}"));
    assert_eq!(fast.envelope, general.envelope, "{text}");
    assert_eq!(fast.messages.len(), general.messages.len(), "{text}");
    for (f, g) in fast.messages.iter().zip(&general.messages) {
        assert_eq!(f.message_id, g.message_id, "{text}");
        assert_eq!(f.event, g.event, "{text}");
    }
    true
}

fn built() -> Vec<String> {
    let mut events = vec![
        LifecycleAction::launching("e-1", "i-1").text(),
        LifecycleAction::terminating("e-2", "i-2")
            .group("g")
            .hook("h")
            .token("t-2")
            .notification_metadata("{\"cluster\": \"blue\"}")
            .moves("WarmPool", "AutoScalingGroup")
            .text(),
        LifecycleAction::launching("e-3", "i-3")
            .notification_metadata("plain")
            .text(),
        Scheduled::new("e-4", "reconcile").text(),
    ];
    for kind in [CommandEventKind::Command, CommandEventKind::Invocation] {
        for status in CommandStatus::ALL {
            events.push(
                CommandStatusChange::new("e-5", "i-5", "c-1", status)
                    .kind(kind)
                    .text(),
            );
        }
    }
    events
}

/// Every one-field change of `value`'s objects, to a depth of `depth`: each key removed, set to
/// a value of each JSON type and to an escaped or empty string.
fn mutations(value: &Value, depth: usize) -> Vec<Value> {
    let replacements = [
        Value::Null,
        json!(1),
        json!(true),
        json!(""),
        json!("x\u{e9}\"y"),
        json!([]),
        json!(["a"]),
        json!({}),
    ];
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (key, inner) in map {
            let mut removed = map.clone();
            removed.shift_remove(key);
            out.push(Value::Object(removed));
            for replacement in &replacements {
                let mut changed = map.clone();
                changed.insert(key.clone(), replacement.clone());
                out.push(Value::Object(changed));
            }
            if depth > 0 {
                let nested = if let Value::Array(items) = inner {
                    items.first().map(|first| (first, true))
                } else {
                    Some((inner, false))
                };
                if let Some((nested, in_list)) = nested {
                    for changed_inner in mutations(nested, depth - 1) {
                        let mut changed = map.clone();
                        let new = if in_list {
                            json!([changed_inner])
                        } else {
                            changed_inner
                        };
                        changed.insert(key.clone(), new);
                        out.push(Value::Object(changed));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_fixtures_decode_by_the_fast_path_as_the_general_way_decodes_them() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/events");
    let mut answered = 0;
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        answered += usize::from(same(&text));
    }
    assert!(answered >= 8, "the fast path answered {answered} fixtures");
}

#[test]
fn every_built_event_in_every_envelope_takes_the_fast_path() {
    for event in built() {
        for wrap in [Wrap::Direct, Wrap::Sns, Wrap::Sqs, Wrap::SqsSns] {
            let text = wrap_text(wrap, &event, "m-1");
            assert!(same(&text), "the fast path refused {text}");
        }
        let batch = sqs_batch_text(&[("m-1", event.as_str()), ("m-2", "{not json"), ("m-3", "[]")]);
        assert!(same(&batch), "{batch}");
    }
}

#[test]
fn every_mutation_of_an_event_or_its_envelope_decodes_as_the_general_way_decodes_it() {
    let mut checked = 0;
    for event in built() {
        let tree: Value = serde_json::from_str(&event).unwrap();
        for changed in mutations(&tree, 1) {
            let changed = changed.to_string();
            for wrap in [Wrap::Direct, Wrap::Sns, Wrap::SqsSns] {
                same(&wrap_text(wrap, &changed, "m-1"));
                checked += 1;
            }
        }
        for wrap in [Wrap::Sns, Wrap::Sqs, Wrap::SqsSns] {
            let envelope: Value = serde_json::from_str(&wrap_text(wrap, &event, "m-1")).unwrap();
            for changed in mutations(&envelope, 3) {
                same(&changed.to_string());
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

/// Stream records as the table's stream delivers them: an insert, a change, with attributes.
fn stream_records() -> Vec<Value> {
    vec![
        RecordChange::new("1", "i-0abc", "finished_cloud_init").record(),
        RecordChange::new("2", "i-0abd", "finished_cloud_init")
            .from("pending")
            .with_attribute("InstanceIp", "10.0.0.5")
            .with_attribute("Role", "web \"front\"")
            .record(),
    ]
}

#[test]
fn stream_batches_take_the_fast_path_and_every_mutation_decodes_as_the_general_way() {
    let mut checked = 0;
    for record in stream_records() {
        let text = wrap_text(Wrap::Stream, &record.to_string(), "");
        assert!(same(&text), "the fast path refused {text}");
        let batch: Value = serde_json::from_str(&text).unwrap();
        for changed in mutations(&batch, 5) {
            same(&changed.to_string());
            checked += 1;
        }
        // Attribute values of every DynamoDB type, and odd ones.
        for value in [
            json!({"N": "3"}),
            json!({"N": "2.5"}),
            json!({"N": "x"}),
            json!({"BOOL": true}),
            json!({"NULL": true}),
            json!({"SS": ["a", "b"]}),
            json!({"L": [{"S": "a"}, {"N": "1"}]}),
            json!({"M": {"k": {"S": "v"}}}),
            json!({"S": "a", "N": "1"}),
            json!("bare"),
        ] {
            let mut changed = record.clone();
            changed["dynamodb"]["NewImage"]["Extra"] = value;
            let text = wrap_text(Wrap::Stream, &changed.to_string(), "");
            assert!(same(&text), "the fast path refused {text}");
        }
    }
    let records: Vec<String> = stream_records().iter().map(Value::to_string).collect();
    let two = format!("{{\"Records\":[{}]}}", records.join(","));
    assert!(same(&two));
    assert!(checked > 400, "{checked}");
}

#[test]
fn odd_texts_go_the_general_way() {
    let launch = LifecycleAction::launching("e-1", "i-1").text();
    let duplicate_id = launch.replacen("\"id\":\"e-1\"", "\"id\":\"e-1\",\"id\":\"e-2\"", 1);
    let escaped = launch.replace("\"i-1\"", "\"i-\\u0031\"");
    let list = format!("[{launch}]");
    let notification_of_a_list = format!(
        "{{\"Records\":[{{\"Sns\":{{\"Message\":{}}}}}]}}",
        serde_json::to_string(&format!("[{launch}]")).unwrap()
    );
    let records_as_a_list = "{\"Records\":[[null,\"m-1\",\"{}\"]]}".to_string();
    for text in [
        duplicate_id,
        escaped,
        list,
        records_as_a_list,
        "{\"Records\":[]}".into(),
        "{\"Records\":null}".into(),
        "{\"Records\":[{\"Sns\":null,\"body\":\"{}\"}]}".into(),
        "null".into(),
        launch[..launch.len() - 1].to_string(),
    ] {
        assert!(!same(&text), "the fast path answered {text}");
    }
    // A regular envelope whose event is malformed: the record's error is the general way's.
    assert!(same(&notification_of_a_list));
    let invocation = decode_text(&notification_of_a_list).unwrap();
    assert!(invocation.messages[0].event.is_err());
}
