//! Waiter files: any text, the built-in waiters with their text mutated, and waiter models
//! generated as JSON with any shape of field — a model or a located report; and every acceptor
//! of a model that loads, evaluated against any response and parameters — a verdict or a typed
//! error, never a panic.

use asg_lifecycle::waiter::OperationError;
use asg_lifecycle::waiter::{BUILTIN_WAITERS, Response, WaiterModel, evaluate};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::config;
use super::generators::{json, json_mutations, mutate, mutate_text, string, text_mutations};

/// Parses a waiter file; a model's acceptors are evaluated against `response` with `params`.
fn check(
    file: &str,
    text: &str,
    response: &Response,
    params: &Map<String, Value>,
) -> Result<(), TestCaseError> {
    match WaiterModel::parse(file, text) {
        Ok(model) => {
            for waiter in model.waiters.values() {
                for acceptor in &waiter.acceptors {
                    let _ = evaluate(acceptor, response, params);
                }
            }
        }
        Err(report) => prop_assert!(!report.problems.is_empty()),
    }
    Ok(())
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        json().prop_map(Response::Output),
        (string(), string(), prop::option::of(any::<u16>())).prop_map(
            |(code, message, http_status)| {
                Response::Error(OperationError {
                    code,
                    message,
                    http_status,
                })
            }
        ),
    ]
}

fn params() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(vec![
                    "ItemStatus",
                    "Ident",
                    "CommandId",
                    "InstanceId",
                    "InstanceIds"
                ])
                .prop_map(String::from),
                string()
            ],
            json(),
        ),
        0..4,
    )
    .prop_map(|entries| entries.into_iter().collect())
}

/// A waiter model as JSON: the right keys with values of the right or any shape.
fn model() -> impl Strategy<Value = Value> {
    let matcher = prop::sample::select(vec![
        "path", "pathAll", "pathAny", "status", "error", "other",
    ]);
    let argument = prop_oneof![
        prop::sample::select(vec![
            "Item.ItemStatus.S",
            "Status",
            "Xs[?Id == ${Id}].S",
            "length(Xs) > `0`",
            "${Id}",
            "Items[?",
            "@",
            "Reservations[].Instances[].State.Name",
        ])
        .prop_map(String::from),
        string(),
    ];
    let acceptor = (
        prop::sample::select(vec!["success", "failure", "retry"]),
        matcher,
        prop::option::of(argument),
        json(),
    )
        .prop_map(|(state, matcher, argument, expected)| {
            json!({"state": state, "matcher": matcher, "argument": argument, "expected": expected})
        });
    let waiter = (
        prop_oneof![json(), (0u32..100).prop_map(Value::from)],
        prop_oneof![json(), (1u32..100).prop_map(Value::from)],
        prop::collection::vec(acceptor, 0..4),
    )
        .prop_map(|(delay, max_attempts, acceptors)| {
            json!({"operation": "GetItem", "delay": delay, "maxAttempts": max_attempts, "acceptors": acceptors})
        });
    prop::collection::vec(("[A-Z][a-z]{1,8}", waiter), 1..3).prop_map(
        |waiters| json!({"version": 2, "waiters": waiters.into_iter().collect::<Map<_, _>>()}),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_a_waiter_model_or_a_located_report(
        text in prop_oneof![any::<String>(), string(), json().prop_map(|v| v.to_string())],
        response in response(),
        params in params(),
    ) {
        check("w.yaml", &text, &response, &params)?;
        check("w.json", &text, &response, &params)?;
    }

    #[test]
    fn the_builtin_waiters_with_their_text_mutated_are_models_or_reports(
        mutations in text_mutations(),
        response in response(),
        params in params(),
    ) {
        check("w.yaml", &mutate_text(BUILTIN_WAITERS, &mutations), &response, &params)?;
    }

    #[test]
    fn generated_waiter_models_with_mutated_fields_are_models_or_reports(
        mut model in model(),
        mutations in prop_oneof![Just(Vec::new()), json_mutations()],
        response in response(),
        params in params(),
    ) {
        mutate(&mut model, &mutations);
        check("w.json", &model.to_string(), &response, &params)?;
    }
}

#[test]
fn a_delay_too_long_for_a_duration_is_a_located_problem() {
    for delay in ["1e300", "18446744073709551616", "3153600001"] {
        let text = format!(
            "version: 2\nwaiters:\n  W:\n    operation: GetItem\n    delay: {delay}\n    maxAttempts: 2\n    acceptors: [{{state: success, matcher: status, expected: 200}}]\n"
        );
        let report = WaiterModel::parse("w.yaml", &text).unwrap_err();
        assert_eq!(
            report.to_string(),
            "w.yaml:5:12: error[invalid-value]: `delay` must be a number of seconds from 0 to 3153600000"
        );
    }
}
