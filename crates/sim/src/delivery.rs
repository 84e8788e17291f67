//! Getting events to the function: latency, duplicates, delays, losses and envelopes; running
//! invocations (overlapped when asked) through the function's own invocation loop, and
//! delivering again what its answer hands back, as the services that invoke it do.

use std::sync::Arc;

use rand::Rng;
use serde_json::Value;

use super::dead_letters::{KeptBy, MAX_RECEIVE_COUNT, maximum_retry_attempts};
use super::exec::{Invocation, run_all, run_one};
use super::faults::chance;
use super::runner::Runner;
use super::trail::TrailLine;
use super::world::{Job, Millis};
use asg_lifecycle::event::payload as events;
use asg_lifecycle::handler::{HandlerError, InvocationContext};
use asg_lifecycle::invocation::InvocationReport;

/// Attempts after which an event is given up (sent to the dead-letter queue).
const MAX_ATTEMPTS: u32 = 40;

/// One event on its way to the function.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The EventBridge event's JSON text (as AWS delivers it to the function).
    pub event: Arc<str>,
    /// The event's id (empty for a stream record or a poison payload).
    pub id: String,
    /// How it is wrapped.
    pub wrap: events::Wrap,
    /// The instance it concerns.
    pub ident: String,
    /// A short description for trails.
    pub label: String,
    /// 0 for the first delivery.
    pub attempt: u32,
    /// For an injected poison payload: its index among the run's injected ones; `event` is
    /// then the whole invocation payload, already wrapped.
    pub poison: Option<usize>,
    /// How often Lambda throttled it so far (its retry backs off from one second).
    pub throttled: u32,
}

impl Runner {
    /// Decides when (and whether) an event arrives, and how it is wrapped.
    pub(super) fn plan_delivery(
        &mut self,
        (event, id): (String, &str),
        ident: &str,
        label: &str,
        droppable: bool,
    ) -> Option<(Millis, Delivery)> {
        let now = self.shared.now();
        let mut s = self.shared.lock();
        let f = s.faults;
        if droppable && chance(&mut s.rng, f.drop_ssm_event) {
            self.counts.dropped += 1;
            s.checker.trail(ident, now, format!("{label}: lost"));
            return None;
        }
        let mut latency = s.rng.random_range(50..=1500);
        if chance(&mut s.rng, f.delay) {
            self.counts.delayed += 1;
            latency += s.rng.random_range(1_000..=f.max_delay_ms.max(1_000));
        }
        // Most rules target the function directly; the rest come through SNS, SQS or both.
        let wrap = match s.rng.random_range(0..20) {
            0..=13 => events::Wrap::Direct,
            14..=15 => events::Wrap::Sns,
            16..=17 => events::Wrap::Sqs,
            _ => events::Wrap::SqsSns,
        };
        let delivery = Delivery {
            event: Arc::from(event),
            id: id.to_string(),
            wrap,
            ident: ident.to_string(),
            label: label.to_string(),
            attempt: 0,
            poison: None,
            throttled: 0,
        };
        Some((now + latency, delivery))
    }

    /// The table's stream after cloud-init changed `ident`'s status from `old` to `new`: the
    /// change reaches the function when the template's registration filters let it through,
    /// within a second or so (a stream batch may be delivered again).
    pub(super) fn stream_change(
        &mut self,
        ident: &str,
        old: Option<&str>,
        new: &str,
        attributes: &serde_json::Map<String, serde_json::Value>,
    ) {
        if self.registration_filters.is_empty() {
            return;
        }
        let now = self.shared.now();
        self.stream_sequence += 1;
        let mut change = events::RecordChange::new(&self.stream_sequence.to_string(), ident, new)
            .at(self.shared.clock.at(now));
        for (name, value) in attributes {
            if let (true, Some(value)) = (name != "ItemStatus", value.as_str()) {
                change = change.with_attribute(name, value);
            }
        }
        if let Some(old) = old {
            change = change.from(old);
        }
        let record = change.record();
        if !crate::rules::registration_delivered(&self.registration_filters, &record) {
            return;
        }
        let (latency, duplicate) = {
            let mut s = self.shared.lock();
            let f = s.faults;
            (
                s.rng.random_range(100..=1_500),
                chance(&mut s.rng, f.duplicate),
            )
        };
        let delivery = Delivery {
            // `to_string` of a tree writes through `fmt::Write`, token by token.
            event: Arc::from(serde_json::to_string(&record).expect("a JSON tree serializes")),
            id: String::new(),
            wrap: events::Wrap::Stream,
            ident: ident.to_string(),
            label: format!("stream: `{new}` registered"),
            attempt: 0,
            poison: None,
            throttled: 0,
        };
        if duplicate {
            self.counts.duplicated += 1;
            self.push(now + latency + 2_000, Job::Deliver(vec![delivery.clone()]));
        }
        self.push(now + latency, Job::Deliver(vec![delivery]));
    }

    /// Sends an event on its way, maybe duplicated (and maybe overlapped with its duplicate).
    pub(super) fn emit(
        &mut self,
        event: (String, &str),
        ident: &str,
        label: &str,
        droppable: bool,
    ) {
        let Some((at, delivery)) = self.plan_delivery(event, ident, label, droppable) else {
            return;
        };
        let (duplicate, overlap, second) = {
            let mut s = self.shared.lock();
            let f = s.faults;
            let duplicate = chance(&mut s.rng, f.duplicate);
            let overlap = duplicate && chance(&mut s.rng, f.overlap);
            (
                duplicate,
                overlap,
                s.rng.random_range(100..=f.max_delay_ms.max(1_000)),
            )
        };
        if duplicate {
            self.counts.duplicated += 1;
        }
        if overlap {
            self.push(at, Job::Deliver(vec![delivery.clone(), delivery]));
        } else {
            if duplicate {
                self.push(at + second, Job::Deliver(vec![delivery.clone()]));
            }
            self.push(at, Job::Deliver(vec![delivery]));
        }
    }

    pub(super) fn retry(&mut self, mut delivery: Delivery, why: &str) {
        let now = self.shared.now();
        delivery.attempt += 1;
        if delivery.poison.is_some() && delivery.attempt >= poison_attempts(delivery.wrap) {
            self.give_up_poison(&delivery, why);
            return;
        }
        let mut s = self.shared.lock();
        if delivery.attempt >= MAX_ATTEMPTS {
            s.checker.violation(
                &delivery.ident,
                now,
                format!(
                    "{} given up after {MAX_ATTEMPTS} attempts: {why}",
                    delivery.label
                ),
            );
            return;
        }
        let backoff =
            (30_000_i64 << delivery.attempt.min(4)).min(300_000) + s.rng.random_range(0..5_000);
        s.checker.trail(
            &delivery.ident,
            now,
            format!("{} will be retried: {why}", delivery.label),
        );
        drop(s);
        self.counts.retried += 1;
        self.push(now + backoff, Job::Deliver(vec![delivery]));
    }

    /// What the platform does with a poison payload handed back too often: Lambda's on-failure
    /// destination keeps the invocation with its error; an SQS queue's redrive moves the message
    /// to its dead-letter queue (its reason is in the function's log, keyed by message id).
    fn give_up_poison(&mut self, delivery: &Delivery, why: &str) {
        let payload: Value = serde_json::from_str(&delivery.event)
            .unwrap_or_else(|_| Value::String(delivery.event.to_string()));
        match delivery.wrap {
            events::Wrap::Direct | events::Wrap::Sns | events::Wrap::Stream => {
                self.dead_letters
                    .platform(KeptBy::Destination, why, &payload);
            }
            events::Wrap::Sqs | events::Wrap::SqsSns => {
                let record = payload.pointer("/Records/0").unwrap_or(&Value::Null);
                self.dead_letters.platform(KeptBy::Redrive, why, record);
            }
        }
    }

    pub(super) fn deliver(&mut self, mut batch: Vec<Delivery>) {
        let now = self.shared.now();
        let free = self.free_environments(now);
        if batch.len() > free {
            // Beyond the reserved concurrency Lambda throttles: it keeps an asynchronous
            // invocation and tries again (the SQS poller likewise), without an attempt used.
            for mut delivery in batch.split_off(free) {
                self.counts.throttled += 1;
                // Lambda retries a throttled invocation with a backoff from one second up to
                // five minutes.
                let backoff = (1_000_i64 << delivery.throttled.min(8)).min(300_000);
                delivery.throttled += 1;
                let later = backoff + self.shared.lock().rng.random_range(0..=backoff / 2);
                self.shared.lock().checker.trail(
                    &delivery.ident,
                    now,
                    format!(
                        "{} throttled: {} invocations already run (reserved concurrency)",
                        delivery.label, self.concurrency
                    ),
                );
                self.push(now + later, Job::Deliver(vec![delivery]));
            }
            if batch.is_empty() {
                return;
            }
        }
        self.counts.invocations += batch.len() as u64;
        if batch.len() > 1 {
            self.counts.overlapped += batch.len() as u64;
        }
        let payloads: Vec<Arc<str>> = batch
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if let Some(n) = d.poison {
                    self.injected[n].attempts += 1;
                    return d.event.clone();
                }
                let (label, wrap, attempt) = (d.label.clone(), d.wrap, d.attempt + 1);
                self.shared.lock().checker.trail(
                    &d.ident,
                    now,
                    TrailLine::lazy(move |f| {
                        write!(f, "deliver {label} ({wrap:?}, attempt {attempt})")
                    }),
                );
                match d.wrap {
                    // The EventBridge event itself (what `wrap` would copy): shared, not copied.
                    events::Wrap::Direct => d.event.clone(),
                    wrap => {
                        // `m-{id}-{i}-{attempt}`, written without `format!`.
                        let mut message_id = String::with_capacity(d.id.len() + 12);
                        message_id.push_str("m-");
                        message_id.push_str(&d.id);
                        message_id.push('-');
                        crate::digits::push_decimal(&mut message_id, i as u64);
                        message_id.push('-');
                        crate::digits::push_decimal(&mut message_id, u64::from(d.attempt));
                        Arc::from(events::wrap_text(wrap, &d.event, &message_id))
                    }
                }
            })
            .collect();
        let reports = self.invoke(&payloads);
        for (delivery, report) in batch.into_iter().zip(reports) {
            match report {
                None => self.retry(delivery, "the invocation crashed"),
                Some(report) => self.answered(delivery, &report),
            }
        }
    }

    /// Reads an invocation's answer the way the services that delivered it do: EventBridge and
    /// SNS deliver a failed invocation again, whole; SQS delivers again the messages that
    /// `batchItemFailures` names. What the function acknowledged without effect is a violation:
    /// every event the world emits is well-formed.
    fn answered(&mut self, delivery: Delivery, report: &InvocationReport) {
        let now = self.shared.now();
        // The services read the answer's verdict only (not the body of a success).
        match report.redelivery() {
            Err(failure) => self.retry(delivery.clone(), &failure.message),
            Ok(failures) => {
                for id in failures {
                    let why = report
                        .messages
                        .iter()
                        .find(|m| m.message_id.as_deref() == Some(id))
                        .and_then(|m| m.result.as_ref().err())
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    self.retry(delivery.clone(), &why);
                }
            }
        }
        if let Err(e) = &report.envelope {
            self.rejected(&delivery, &HandlerError::Decode(e.clone()));
        }
        if delivery.poison.is_some()
            && report.envelope.is_ok()
            && report.messages.iter().all(|m| m.result.is_ok())
        {
            self.shared.lock().checker.violation(
                &delivery.label,
                now,
                format!("the poison payload {} was accepted", delivery.label),
            );
        }
        for message in &report.messages {
            match &message.result {
                // Handed back above, with the invocation or by its batch item failure.
                Err(e) if e.is_retryable() => {}
                Err(e) => self.rejected(&delivery, e),
                Ok(outcomes) => {
                    let mut s = self.shared.lock();
                    for o in outcomes {
                        let (outcome, to, reason) = (o.outcome, o.to.clone(), o.reason.clone());
                        s.checker.trail(
                            &delivery.ident,
                            now,
                            TrailLine::lazy(move |f| {
                                let to = to.as_deref().unwrap_or("");
                                let reason = reason.as_deref().unwrap_or("");
                                write!(f, "  → {outcome:?} in `{to}` {reason}")
                            }),
                        );
                    }
                }
            }
        }
    }

    pub(super) fn rejected(&mut self, delivery: &Delivery, error: &dyn std::fmt::Display) {
        let now = self.shared.now();
        self.counts.rejected += 1;
        if delivery.poison.is_some() {
            // Expected: where it ends up is checked at the end of the run.
            return;
        }
        self.shared.lock().checker.violation(
            &delivery.ident,
            now,
            format!("a well-formed {} was rejected: {error}", delivery.label),
        );
    }

    /// Runs payloads through the invocation loop, overlapped when there are several; `None` for
    /// an invocation that crashed.
    pub(super) fn invoke<P: std::borrow::Borrow<str>>(
        &mut self,
        payloads: &[P],
    ) -> Vec<Option<InvocationReport>> {
        let now = self.shared.now();
        let ctx = InvocationContext::with_budget(self.config.function_timeout);
        let results = {
            let _timer = self.timer.enter();
            if let [payload] = payloads {
                // One invocation (the usual case): run where it is, not boxed.
                vec![run_one(&self.shared, || {
                    self.invoker.invoke_text(payload.borrow(), &ctx)
                })]
            } else {
                let invocations: Vec<Invocation<'_, InvocationReport>> = payloads
                    .iter()
                    .map(|p| {
                        Box::pin(self.invoker.invoke_text(p.borrow(), &ctx))
                            as Invocation<'_, InvocationReport>
                    })
                    .collect();
                run_all(&self.shared, invocations)
            }
        };
        // Each invocation holds an execution environment for as long as it ran.
        let elapsed = std::mem::take(&mut self.shared.lock().last_elapsed);
        self.busy_until
            .extend(elapsed.into_iter().map(|took| now + took.max(1)));
        results
    }

    /// Execution environments free at `now` under the reserved concurrency.
    pub(super) fn free_environments(&mut self, now: Millis) -> usize {
        self.busy_until.retain(|&until| until > now);
        self.concurrency.saturating_sub(self.busy_until.len())
    }
}

/// The most invocations a poison payload may take in its envelope: Lambda's asynchronous
/// invocation and its `MaximumRetryAttempts` retries, or the source queue's `maxReceiveCount`.
#[must_use]
pub fn poison_attempts(wrap: events::Wrap) -> u32 {
    match wrap {
        events::Wrap::Direct | events::Wrap::Sns => 1 + maximum_retry_attempts(),
        events::Wrap::Stream => 1 + crate::rules::registration_retry_attempts(),
        events::Wrap::Sqs | events::Wrap::SqsSns => MAX_RECEIVE_COUNT,
    }
}
