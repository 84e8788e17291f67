//! Where poison payloads end up in the deployed world, and the invariant "no poison payload
//! disappears".
//!
//! The world is `template.yaml`'s: the function sends a poison payload to the stack's
//! dead-letter queue itself ([`SimDeadLetters`], checked against the function role and subject
//! to throttling and 5xx like every call) and acknowledges it. When that send fails, the payload
//! is handed back: an asynchronous invocation (direct, SNS) is retried by Lambda at most
//! `MaximumRetryAttempts` times (read from the template's `EventInvokeConfig`), then its
//! on-failure destination (the same queue) keeps it with the error; an SQS message is received
//! again at most [`MAX_RECEIVE_COUNT`] times, then the source queue's redrive policy moves it to
//! its dead-letter queue (the reason is in the function's log line, keyed by the message id).
//!
//! The run injects poison payloads of several kinds (malformed JSON, no envelope, an unknown
//! source, a lifecycle event without its transition, an SSM event for an unknown instance) in
//! every envelope while faults are on; at the end each must be in a dead-letter store with a
//! reason, after a bounded number of attempts.
//!
//! # Assumptions
//! Only poison deliveries follow Lambda's bounded async retries here; other deliveries keep the
//! simulator's own retry model (`delivery.rs`).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{Value, json};

use super::exec::{Target, authorize, before_call, gate};
use super::iam::template_json;
use super::world::{Millis, Shared};
use asg_lifecycle::aws::AwsError;
use asg_lifecycle::event::CommandStatus;
use asg_lifecycle::event::payload::{self as events, CommandStatusChange, LifecycleAction, Wrap};
use asg_lifecycle::invocation::{DeadLetter, DeadLetters};

/// The source queue's `maxReceiveCount` (the redrive policy `docs/deploy.md` asks for).
pub const MAX_RECEIVE_COUNT: u32 = 5;

/// Lambda's `MaximumRetryAttempts` for asynchronous invocations, from the template.
///
/// # Panics
/// When the template's function has no `EventInvokeConfig.MaximumRetryAttempts` number.
#[must_use]
pub fn maximum_retry_attempts() -> u32 {
    template_json()["Resources"]["LifecycleFunction"]["Properties"]["EventInvokeConfig"]
        ["MaximumRetryAttempts"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .expect("template.yaml's function sets EventInvokeConfig.MaximumRetryAttempts")
}

/// Who kept a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeptBy {
    /// The function (`SendMessage` to the dead-letter queue), with the reason.
    Function,
    /// Lambda's on-failure destination after its retries, with the error message.
    Destination,
    /// The source queue's redrive after `maxReceiveCount` receives (reason in the log).
    Redrive,
}

/// One payload in a dead-letter store.
#[derive(Clone, Debug)]
pub struct Letter {
    /// Who kept it.
    pub by: KeptBy,
    /// Why it failed.
    pub reason: String,
    /// The payload kept, as JSON text.
    pub payload: String,
}

/// The stack's dead-letter queue as the function reaches it, and what the platform adds to it.
pub struct SimDeadLetters {
    shared: Arc<Shared>,
    letters: Mutex<Vec<Letter>>,
}

impl SimDeadLetters {
    /// An empty queue in the simulated world.
    #[must_use]
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            letters: Mutex::new(Vec::new()),
        }
    }

    /// Keeps a letter the platform delivered (on-failure destination or redrive).
    pub fn platform(&self, by: KeptBy, reason: &str, payload: &Value) {
        self.push(Letter {
            by,
            reason: reason.to_string(),
            payload: payload.to_string(),
        });
    }

    fn push(&self, letter: Letter) {
        self.letters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(letter);
    }

    /// Every letter kept so far.
    #[must_use]
    pub fn letters(&self) -> Vec<Letter> {
        self.letters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl DeadLetters for SimDeadLetters {
    async fn keep(&self, letter: &DeadLetter) -> Result<(), AwsError> {
        gate(&self.shared).await;
        authorize(
            &self.shared,
            "-",
            "sqs:SendMessage",
            &Target::DeadLetterQueue,
        )?;
        before_call(&self.shared, "-", "SendMessage").await?;
        self.push(Letter {
            by: KeptBy::Function,
            reason: letter.reason.clone(),
            payload: letter.payload.to_string(),
        });
        Ok(())
    }
}

/// A poison payload the run injected.
#[derive(Clone, Debug)]
pub struct Injected {
    /// The text every copy of it contains (`poison-000007`).
    pub marker: String,
    /// What is wrong with it.
    pub kind: &'static str,
    /// The envelope it came in.
    pub wrap: Wrap,
    /// Invocations that carried it.
    pub attempts: u32,
}

/// What became of the injected poison payloads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PoisonCounts {
    /// Poison payloads injected.
    pub injected: u64,
    /// Kept by the function itself (tried once).
    pub kept_by_function: u64,
    /// Kept by Lambda's on-failure destination after its bounded retries.
    pub kept_by_destination: u64,
    /// Kept by the source queue's redrive after `maxReceiveCount` receives.
    pub redriven: u64,
    /// The most invocations one poison payload took.
    pub max_attempts: u32,
}

const KINDS: [&str; 5] = [
    "malformed JSON",
    "no envelope",
    "unknown source",
    "lifecycle event without LifecycleTransition",
    "SSM event for an unknown instance",
];

/// Plans `count` poison payloads at times in `[0, until)`: (time, payload, wrap, injected).
#[must_use]
pub fn plan(seed: u64, count: usize, until: Millis) -> Vec<(Millis, Value, Wrap, Injected)> {
    // An rng of its own: injecting poison does not change the draws of the rest of the world.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9015_0000_dead_1e77);
    (0..count)
        .map(|n| {
            let marker = format!("poison-{n:06}");
            let kind = KINDS[n % KINDS.len()];
            let wrap = match rng.random_range(0..4) {
                0 => Wrap::Direct,
                1 => Wrap::Sns,
                2 => Wrap::Sqs,
                _ => Wrap::SqsSns,
            };
            let at = rng.random_range(0..until.max(1));
            let message_id = format!("m-{marker}");
            let payload = payload(kind, &marker, wrap, &message_id);
            let injected = Injected {
                marker,
                kind,
                wrap,
                attempts: 0,
            };
            (at, payload, wrap, injected)
        })
        .collect()
}

/// The invocation payload of one poison kind in one envelope.
fn payload(kind: &str, marker: &str, wrap: Wrap, message_id: &str) -> Value {
    let event = match kind {
        "malformed JSON" => {
            let text = format!("{{\"id\": \"{marker}\", \"source\": ");
            return match wrap {
                // A direct invocation is JSON by construction: its payload is no envelope.
                Wrap::Direct | Wrap::Sns => events::wrap(wrap, &Value::String(text), message_id),
                Wrap::Sqs | Wrap::SqsSns | Wrap::Stream => events::sqs_batch(&[(message_id, text)]),
            };
        }
        "no envelope" => json!({"id": marker, "hello": "world"}),
        "unknown source" => json!({
            "version": "0", "id": marker, "detail-type": "EC2 Instance State-change Notification",
            "source": "aws.ec2", "account": "123456789012", "time": "2026-11-20T12:00:00Z",
            "region": "us-east-1", "resources": [], "detail": {"state": "running"}
        }),
        "lifecycle event without LifecycleTransition" => {
            let mut event = LifecycleAction::launching(marker, "i-0fffffffffff00001").json();
            if let Some(detail) = event.get_mut("detail").and_then(Value::as_object_mut) {
                detail.remove("LifecycleTransition");
            }
            event
        }
        _ => CommandStatusChange::new(
            marker,
            "i-0fffffffffff00002",
            &format!("c-{marker}"),
            CommandStatus::Success,
        )
        .json(),
    };
    events::wrap(wrap, &event, message_id)
}

/// The invariant: every injected payload is in a dead-letter store with a reason, after at most
/// `bound(wrap)` invocations. Returns the counts and the problems, per marker.
#[must_use]
pub fn check(
    injected: &[Injected],
    letters: &[Letter],
    bound: impl Fn(Wrap) -> u32,
) -> (PoisonCounts, Vec<(String, String)>) {
    let mut counts = PoisonCounts {
        injected: injected.len() as u64,
        ..PoisonCounts::default()
    };
    let mut problems = Vec::new();
    for poison in injected {
        counts.max_attempts = counts.max_attempts.max(poison.attempts);
        // Markers have a fixed width: none is part of another.
        let kept = letters
            .iter()
            .find(|l| l.payload.contains(&poison.marker) && !l.reason.is_empty());
        match kept.map(|l| l.by) {
            Some(KeptBy::Function) => counts.kept_by_function += 1,
            Some(KeptBy::Destination) => counts.kept_by_destination += 1,
            Some(KeptBy::Redrive) => counts.redriven += 1,
            None => problems.push((
                poison.marker.clone(),
                format!(
                    "poison payload ({}, {:?}) disappeared: no dead-letter store holds it with a reason",
                    poison.kind, poison.wrap
                ),
            )),
        }
        if poison.attempts > bound(poison.wrap) {
            problems.push((
                poison.marker.clone(),
                format!(
                    "poison payload ({}, {:?}) was tried {} times (bound {})",
                    poison.kind,
                    poison.wrap,
                    poison.attempts,
                    bound(poison.wrap)
                ),
            ));
        }
    }
    (counts, problems)
}

impl super::runner::Runner {
    /// Schedules the run's poison payloads while faults are on: one per 25 instances, at
    /// least five (one of each kind).
    pub(super) fn inject_poison(&mut self) {
        let count = (self.config.instances / 25).max(KINDS.len());
        for (at, payload, wrap, injected) in plan(self.config.seed, count, self.fault_end) {
            let delivery = super::delivery::Delivery {
                event: Arc::from(payload.to_string()),
                id: String::new(),
                wrap,
                ident: injected.marker.clone(),
                label: format!("{} ({})", injected.marker, injected.kind),
                attempt: 0,
                poison: Some(self.injected.len()),
                throttled: 0,
            };
            self.injected.push(injected);
            self.push(at, super::world::Job::Deliver(vec![delivery]));
        }
    }

    /// The invariant "no poison payload disappears", checked at the end of the run.
    pub(super) fn check_poison(&self, now: Millis) -> PoisonCounts {
        let letters = self.dead_letters.letters();
        let (counts, problems) = check(&self.injected, &letters, super::delivery::poison_attempts);
        let mut s = self.shared.lock();
        for (marker, problem) in problems {
            s.checker.violation(&marker, now, problem);
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asg_lifecycle::event::decode_invocation;

    #[test]
    fn the_template_bounds_lambdas_async_retries() {
        assert_eq!(maximum_retry_attempts(), 2);
    }

    #[test]
    fn every_planned_payload_is_poison_and_carries_its_marker() {
        for (_, payload, _, injected) in plan(7, 40, 1_000) {
            let text = payload.to_string();
            assert!(text.contains(&injected.marker), "{text}");
            let decoded = decode_invocation(&payload);
            if let Ok(invocation) = decoded {
                let ok = invocation.messages.iter().any(|m| m.event.is_ok());
                // Only the unknown-instance event decodes: the handler refuses it.
                assert!(
                    !ok || injected.kind == "SSM event for an unknown instance",
                    "{} decoded: {text}",
                    injected.kind
                );
            }
        }
    }

    #[test]
    fn a_payload_without_a_letter_or_tried_too_often_is_a_violation() {
        let injected = |marker: &str, attempts| Injected {
            marker: marker.into(),
            kind: "no envelope",
            wrap: Wrap::Direct,
            attempts,
        };
        let letters = vec![Letter {
            by: KeptBy::Function,
            reason: "not an envelope".into(),
            payload: json!({"id": "poison-000001"}).to_string(),
        }];
        let (counts, problems) = check(
            &[injected("poison-000001", 1), injected("poison-000002", 9)],
            &letters,
            |_| 3,
        );
        assert_eq!(counts.kept_by_function, 1);
        assert_eq!(counts.max_attempts, 9);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|(m, _)| m == "poison-000002"));
    }
}
