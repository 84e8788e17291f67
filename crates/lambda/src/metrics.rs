//! Metrics in CloudWatch Embedded Metric Format: one JSON line per invocation on stdout, which
//! CloudWatch Logs turns into metrics. No API call, no extra permission.
//!
//! | metric | unit | what |
//! |---|---|---|
//! | `Transitions` | Count | transitions written |
//! | `TaskFailures` | Count | instances sent to the failure path, errors passed over by `ignore_errors`, retryable task errors |
//! | `Duplicates` | Count | events already processed (no-op) |
//! | `RejectedEvents` | Count | poison events (malformed, unknown instance, ...): no effect, never retried forever |
//! | `DeadLetteredEvents` | Count | poison events the function kept in the dead-letter queue with their reason |
//! | `RetriedMessages` | Count | messages handed back for a retry (retryable errors, deadline) |
//! | `SweepDuration` | Milliseconds | how long a run of the sweep rule took (only when one ran) |

use std::time::Duration;

use serde_json::{Map, Value, json};

use asg_lifecycle::handler::{HandlerError, Outcome, OutcomeKind};

/// The counts of one invocation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InvocationMetrics {
    /// Transitions written.
    pub transitions: u64,
    /// Task failures (see the module table).
    pub task_failures: u64,
    /// Duplicate events.
    pub duplicates: u64,
    /// Poison events (kept, or handed back when they could not be kept).
    pub rejected_events: u64,
    /// Poison events kept in the dead-letter queue.
    pub dead_lettered_events: u64,
    /// Messages handed back for a retry.
    pub retried_messages: u64,
    /// Sweep durations, one per sweep run.
    pub sweep_durations: Vec<Duration>,
}

impl InvocationMetrics {
    /// Counts what one message's outcomes did.
    pub fn record_outcomes(&mut self, outcomes: &[Outcome]) {
        for outcome in outcomes {
            self.transitions += outcome.transitions.len() as u64;
            self.task_failures += outcome.ignored_errors.len() as u64;
            match outcome.outcome {
                OutcomeKind::Duplicate => self.duplicates += 1,
                OutcomeKind::Failed => self.task_failures += 1,
                OutcomeKind::Rejected => self.rejected_events += 1,
                OutcomeKind::Advanced
                | OutcomeKind::NoOp
                | OutcomeKind::Waiting
                | OutcomeKind::Busy
                | OutcomeKind::Retry => {}
            }
        }
    }

    /// Counts a poison payload kept in the dead-letter queue.
    pub fn record_dead_letter(&mut self) {
        self.dead_lettered_events += 1;
    }

    /// Counts a message that failed: retried when `retried`, else poison.
    pub fn record_error(&mut self, error: Option<&HandlerError>, retried: bool) {
        if retried {
            self.retried_messages += 1;
        } else {
            self.rejected_events += 1;
        }
        if matches!(error, Some(HandlerError::TaskRetryable { .. })) {
            self.task_failures += 1;
        }
    }

    /// The EMF document: `namespace`, one dimension `Service`, `timestamp_ms` since the epoch.
    #[must_use]
    pub fn to_emf(&self, namespace: &str, service: &str, timestamp_ms: u64) -> Value {
        let mut definitions = Vec::new();
        let mut root = Map::new();
        let mut count = |name: &str, value: u64| {
            definitions.push(json!({"Name": name, "Unit": "Count"}));
            root.insert(name.to_string(), json!(value));
        };
        count("Transitions", self.transitions);
        count("TaskFailures", self.task_failures);
        count("Duplicates", self.duplicates);
        count("RejectedEvents", self.rejected_events);
        count("DeadLetteredEvents", self.dead_lettered_events);
        count("RetriedMessages", self.retried_messages);
        if !self.sweep_durations.is_empty() {
            definitions.push(json!({"Name": "SweepDuration", "Unit": "Milliseconds"}));
            let values: Vec<f64> = self
                .sweep_durations
                .iter()
                .map(|d| d.as_secs_f64() * 1000.0)
                .collect();
            // EMF accepts an array of values for one metric.
            let value = if values.len() == 1 {
                json!(values[0])
            } else {
                json!(values)
            };
            root.insert("SweepDuration".into(), value);
        }
        root.insert("Service".into(), json!(service));
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Service"]],
                    "Metrics": definitions,
                }],
            }),
        );
        Value::Object(root)
    }

    /// Prints the EMF line to stdout, where the Lambda log agent picks it up.
    pub fn emit(&self, namespace: &str, service: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        println!("{}", self.to_emf(namespace, service, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::handler::TransitionTaken;

    #[test]
    fn outcomes_are_counted_by_kind() {
        let mut advanced = Outcome::new(Some("e"), Some("i"));
        advanced.outcome = OutcomeKind::Advanced;
        advanced.transitions = vec![
            TransitionTaken {
                from: "a".into(),
                to: "b".into(),
                trigger: "t".into(),
            };
            2
        ];
        advanced.ignored_errors = vec!["x".into()];
        let mut duplicate = Outcome::new(Some("e"), Some("i"));
        duplicate.outcome = OutcomeKind::Duplicate;
        let mut failed = Outcome::new(Some("e"), Some("j"));
        failed.outcome = OutcomeKind::Failed;
        let mut m = InvocationMetrics::default();
        m.record_outcomes(&[advanced, duplicate, failed]);
        m.record_error(None, false);
        m.record_error(None, true);
        assert_eq!(m.transitions, 2);
        assert_eq!(m.task_failures, 2);
        assert_eq!(m.duplicates, 1);
        assert_eq!(m.rejected_events, 1);
        assert_eq!(m.retried_messages, 1);
    }

    #[test]
    fn the_emf_document_declares_every_value_it_carries() {
        let m = InvocationMetrics {
            transitions: 3,
            sweep_durations: vec![Duration::from_millis(1500)],
            ..InvocationMetrics::default()
        };
        let doc = m.to_emf("Ns", "fn", 42);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 42);
        assert_eq!(directive["Namespace"], "Ns");
        assert_eq!(directive["Dimensions"], json!([["Service"]]));
        assert_eq!(doc["Service"], "fn");
        assert_eq!(doc["Transitions"], 3);
        assert_eq!(doc["SweepDuration"], 1500.0);
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc.get(name).is_some(), "{name} declared without a value");
        }
        let without_sweep = InvocationMetrics::default().to_emf("Ns", "fn", 1);
        assert!(without_sweep.get("SweepDuration").is_none());
    }
}
