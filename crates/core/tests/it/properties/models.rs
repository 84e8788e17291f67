//! Model files: any text, the shipped model with its text mutated, and models generated as JSON
//! (which YAML reads) with any shape of field — a machine or a located report, never a panic;
//! and `parse_duration` over any text.

use std::time::Duration;

use asg_lifecycle::Machine;
use asg_lifecycle::machine::{EXAMPLE_MODEL, MAX_DURATION, parse_duration};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::config;
use super::generators::{json, json_mutations, mutate, mutate_text, string, text_mutations};

/// Checks a model's text; a report must name a problem.
fn check(text: &str) -> Result<(), TestCaseError> {
    if let Err(report) = Machine::from_yaml("m.yaml", text) {
        prop_assert!(!report.problems.is_empty());
        prop_assert!(!report.to_string().is_empty());
    }
    Ok(())
}

/// A state name from a small pool, so that generated transitions name declared states.
fn state() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "done", "failure", "abandoned"]).prop_map(String::from)
}

/// A task or condition call: built-in names with arguments of any shape.
fn call() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "send_command",
        "complete_lifecycle_action",
        "record_lifecycle_action_heartbeat",
        "log",
        "fail",
        "noop",
        "is_launching",
        "command_succeeded",
        "attribute_equals",
        "has_attribute",
        "is_scheduled",
    ]);
    let send_command = (
        prop::option::of(prop::sample::select(vec![
            "AWS-RunShellScript",
            "AWS-RunPowerShellScript",
            "Custom",
        ])),
        prop::collection::vec(string(), 0..3),
        prop::collection::btree_map(string(), string(), 0..3),
    )
        .prop_map(|(document, commands, env)| {
            json!({"send_command": {"document": document, "commands": commands, "env": env}})
        });
    prop_oneof![
        name.clone().prop_map(|n| Value::String(n.into())),
        (name, json()).prop_map(|(n, args)| json!({ n: args })),
        send_command,
    ]
}

/// A model as JSON: the right keys with values of the right or any shape.
fn model() -> impl Strategy<Value = Value> {
    let states = prop::collection::vec(
        prop_oneof![
            state().prop_map(Value::String),
            (state(), prop_oneof![string(), "[0-9]{1,22}[smhd]"])
                .prop_map(|(name, timeout)| json!({"name": name, "timeout": timeout})),
        ],
        1..7,
    );
    let trigger = (
        "[a-z]{1,6}",
        prop::collection::vec(call(), 0..2),
        prop::collection::vec(call(), 0..2),
        prop::collection::vec(call(), 0..2),
    )
        .prop_map(|(name, conditions, before, after)| {
            json!({"name": name, "conditions": conditions, "before": before, "after": after})
        });
    let transition = (
        prop::collection::vec(state(), 1..3),
        prop::option::of(state()),
        prop::collection::vec(trigger, 1..3),
    )
        .prop_map(|(source, dest, triggers)| {
            json!({"source": source, "dest": dest, "triggers": triggers})
        });
    (
        states,
        state(),
        state(),
        prop::collection::vec(state(), 0..3),
        prop::collection::vec(transition, 0..6),
    )
        .prop_map(|(states, initial, failure, terminal, transitions)| {
            json!({
                "initial": initial, "failure": failure, "terminal": terminal,
                "states": states, "transitions": transitions,
            })
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_a_machine_or_a_located_report(text in prop_oneof![any::<String>(), string()]) {
        check(&text)?;
    }

    #[test]
    fn the_shipped_model_with_its_text_mutated_is_a_machine_or_a_report(mutations in text_mutations()) {
        check(&mutate_text(EXAMPLE_MODEL, &mutations))?;
    }

    #[test]
    fn generated_models_with_mutated_fields_are_machines_or_reports(
        mut model in model(),
        mutations in prop_oneof![Just(Vec::new()), json_mutations()],
    ) {
        mutate(&mut model, &mutations);
        check(&model.to_string())?;
    }

    #[test]
    fn any_duration_text_is_a_duration_of_at_most_the_maximum_or_a_message(
        text in prop_oneof![string(), "[0-9]{0,25}[smhdx]{0,2}([0-9]{0,25}[smhd])?"]
    ) {
        match parse_duration(&text) {
            Ok(duration) => prop_assert!(duration <= MAX_DURATION),
            Err(message) => prop_assert!(message.contains(&text)),
        }
    }

    #[test]
    fn a_number_of_units_parses_to_its_product_or_is_refused_as_too_long(n in any::<u64>(), unit in prop::sample::select(vec![('s', 1u64), ('m', 60), ('h', 3600), ('d', 86_400)])) {
        let parsed = parse_duration(&format!("{n}{}", unit.0));
        match n.checked_mul(unit.1).filter(|s| *s <= MAX_DURATION.as_secs()) {
            Some(seconds) => prop_assert_eq!(parsed, Ok(Duration::from_secs(seconds))),
            None => prop_assert!(parsed.unwrap_err().contains("longer than the longest duration")),
        }
    }
}
