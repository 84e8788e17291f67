//! One invocation: decode the payload, handle every message within the deadline, classify each
//! failure retryable or not, and answer the invoking service for the envelope. The Lambda, the
//! CLI `invoke` and the simulator all drive this one loop ([`Invoker::invoke`]).
//!
//! # Guarantees
//! - **A poison payload is kept with its reason, never retried forever, never dropped**: an
//!   error that no retry can fix (malformed payload, unknown event kind, unknown instance, a
//!   state the model lacks) sends the payload and the error's message to the dead-letter queue
//!   ([`DeadLetters`], see [`dead_letter`]) and is then acknowledged: tried once. When it cannot
//!   be kept (no queue configured, or the send failed), it is handed back like a retryable
//!   failure (a failed invocation of type [`POISON_ERROR_TYPE`], or an SQS batch item failure),
//!   so the invoking service's bounded retries end in the function's on-failure destination or
//!   the source queue's redrive: kept either way.
//! - **SQS: one bad message does not redeliver the batch**: the answer is
//!   `{"batchItemFailures": [{"itemIdentifier": messageId}]}` listing the messages with a
//!   retryable failure or a poison payload not kept, and nothing else.
//! - **The deadline bounds everything**: a message not started when the deadline is near (the
//!   handler's `deadline_margin`), or still running `hard_margin` before the deadline, is handed
//!   back for a retry; the handler records interrupted chains, so the retry (or the sweep)
//!   finishes them.
//!
//! # Assumptions
//! [`Invoker::invoke`] runs inside a Tokio runtime with time enabled: the hard cut is a Tokio
//! timer.

mod answer;
pub mod dead_letter;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

pub use answer::{Answer, RetryableFailure};
pub use dead_letter::{DeadLetter, DeadLetters, Kept, POISON_ERROR_TYPE};

use crate::event::{DecodeError, Envelope, Event, Stimulus, decode_invocation};
use crate::handler::{HandlerError, InvocationContext, LifecycleHandler, Outcome, OutcomeKind};

/// Why a message was not handled.
#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    /// The handler failed (a message that could not be decoded is a [`HandlerError::Decode`]).
    #[error(transparent)]
    Handler(#[from] HandlerError),
    /// The deadline came first: the message was not started, or was cut.
    #[error("failed to handle the message before the invocation deadline")]
    Deadline,
}

impl MessageError {
    /// True when a retry may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Handler(e) => e.is_retryable(),
            Self::Deadline => true,
        }
    }

    /// The handler's error, when it was one.
    #[must_use]
    pub fn handler_error(&self) -> Option<&HandlerError> {
        match self {
            Self::Handler(e) => Some(e),
            Self::Deadline => None,
        }
    }
}

/// What one message of an invocation produced.
#[derive(Debug)]
pub struct MessageResult {
    /// The SQS or SNS message id (absent for a direct event).
    pub message_id: Option<String>,
    /// The outcomes per instance, or why the message failed.
    pub result: Result<Vec<Outcome>, MessageError>,
    /// How long the message ran, when it was a scheduled event of the sweep rule and started.
    pub sweep_duration: Option<Duration>,
    /// The event id (absent when the message could not be decoded).
    pub event_id: Option<String>,
    /// The instances the event addresses (none for a scheduled event).
    pub instances: Vec<String>,
    /// For a poison message (an error no retry fixes): whether it is in the dead-letter queue.
    pub kept: Option<Kept>,
}

impl MessageResult {
    /// True when the message failed for good (poison).
    #[must_use]
    pub fn is_poison(&self) -> bool {
        self.result.as_ref().is_err_and(|e| !e.is_retryable())
    }

    /// True when the invoking service must deliver the message again: a retryable failure, or
    /// a poison message that is not kept.
    #[must_use]
    pub fn is_handed_back(&self) -> bool {
        match &self.result {
            Ok(_) => false,
            Err(e) if e.is_retryable() => true,
            Err(_) => !self.kept.as_ref().is_some_and(Kept::is_kept),
        }
    }

    /// The outcomes per instance, a failure included: every outcome names the event and the
    /// instance when they are known (only a message that could not be decoded has neither).
    #[must_use]
    pub fn outcomes(&self) -> Vec<Outcome> {
        let error = match &self.result {
            Ok(outcomes) => return outcomes.clone(),
            Err(e) => e,
        };
        let event = self.event_id.as_deref();
        let named = |instance: Option<&str>| match error {
            MessageError::Handler(e) => Outcome::of_error(event, instance, e),
            MessageError::Deadline => Outcome::stopped(event, instance, OutcomeKind::Retry, error),
        };
        let by_error = error.handler_error().and_then(HandlerError::ident);
        if by_error.is_some() || self.instances.is_empty() {
            return vec![named(by_error)];
        }
        self.instances.iter().map(|i| named(Some(i))).collect()
    }
}

/// What one invocation produced: the envelope and every message's result, in order.
#[derive(Debug)]
pub struct InvocationReport {
    /// The envelope, or why the payload was no known envelope (or a malformed direct event);
    /// then there are no messages.
    pub envelope: Result<Envelope, DecodeError>,
    /// The messages' results.
    pub messages: Vec<MessageResult>,
    /// When the payload was no envelope (poison as a whole): whether it is in the dead-letter
    /// queue.
    pub kept: Option<Kept>,
}

/// Runs invocations through a [`LifecycleHandler`]. Build it once; cheap to clone.
#[derive(Clone)]
pub struct Invoker {
    handler: LifecycleHandler,
    hard_margin: Duration,
    dead_letters: Option<Arc<dyn DeadLetters>>,
}

impl Invoker {
    /// An invoker over a handler, cutting a message 1 s before the deadline.
    #[must_use]
    pub fn new(handler: LifecycleHandler) -> Self {
        Self {
            handler,
            // Enough to post the answer after abandoning the work.
            hard_margin: Duration::from_secs(1),
            dead_letters: None,
        }
    }

    /// Keeps poison payloads in `dead_letters` (then acknowledges them). Without it a poison
    /// payload is handed back to the invoking service, whose bounded retries keep it.
    #[must_use]
    pub fn with_dead_letters(mut self, dead_letters: Arc<dyn DeadLetters>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Sets the time kept free before the deadline when bounding a whole message.
    #[must_use]
    pub fn with_hard_margin(mut self, margin: Duration) -> Self {
        self.hard_margin = margin;
        self
    }

    /// The lifecycle handler.
    #[must_use]
    pub fn handler(&self) -> &LifecycleHandler {
        &self.handler
    }

    /// Decodes a payload (direct, SNS or SQS) and handles its messages in order, keeping each
    /// poison message in the dead-letter queue.
    pub async fn invoke(&self, payload: &Value, ctx: &InvocationContext) -> InvocationReport {
        match decode_invocation(payload) {
            Ok(invocation) => self.run(invocation, Payload::Value(payload), ctx).await,
            Err(e) => self.refuse(e, payload.clone(), ctx).await,
        }
    }

    /// [`Self::invoke`] on the payload's JSON text. A direct event or an SNS or SQS batch is
    /// decoded straight into its typed events ([`crate::event::decode_text`]), with no JSON tree
    /// built; any other payload is parsed and invoked as it is. Text that is not
    /// JSON is a poison payload (a [`DecodeError::Json`], kept as a string).
    pub async fn invoke_text(&self, text: &str, ctx: &InvocationContext) -> InvocationReport {
        if let Some(invocation) = crate::event::decode_text(text) {
            return self.run(invocation, Payload::Text(text), ctx).await;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(payload) => self.invoke(&payload, ctx).await,
            Err(e) => {
                let error = DecodeError::Json {
                    message: e.to_string(),
                };
                self.refuse(error, Value::String(text.to_string()), ctx)
                    .await
            }
        }
    }

    /// The report on a payload that is no known envelope: kept as a whole.
    async fn refuse(
        &self,
        error: DecodeError,
        payload: Value,
        ctx: &InvocationContext,
    ) -> InvocationReport {
        let letter = DeadLetter {
            reason: error.to_string(),
            envelope: None,
            message_id: None,
            request_id: ctx.request_id.clone(),
            payload,
        };
        InvocationReport {
            envelope: Err(error),
            messages: Vec::new(),
            kept: Some(self.keep(&letter, ctx).await),
        }
    }

    /// Handles the messages of a decoded invocation in order, keeping each poison message.
    async fn run(
        &self,
        invocation: crate::event::Invocation,
        payload: Payload<'_>,
        ctx: &InvocationContext,
    ) -> InvocationReport {
        let mut messages = Vec::with_capacity(invocation.messages.len());
        let envelope = invocation.envelope;
        // Each message is taken: its event's id and instances move into its result.
        for (index, message) in invocation.messages.into_iter().enumerate() {
            let (result, sweep_duration) = match &message.event {
                Err(e) => (Err(HandlerError::Decode(e.clone()).into()), None),
                Ok(event) => self.handle_message(event, ctx).await,
            };
            let kept = match &result {
                Err(e) if !e.is_retryable() => {
                    let letter = DeadLetter {
                        reason: e.to_string(),
                        envelope: Some(envelope),
                        message_id: message.message_id.clone(),
                        request_id: ctx.request_id.clone(),
                        payload: payload.record(envelope, index),
                    };
                    Some(self.keep(&letter, ctx).await)
                }
                _ => None,
            };
            let (event_id, instances) = match message.event {
                Ok(event) => (Some(event.id), event.stimulus.into_instance_ids()),
                Err(_) => (None, Vec::new()),
            };
            messages.push(MessageResult {
                message_id: message.message_id,
                result,
                sweep_duration,
                event_id,
                instances,
                kept,
            });
        }
        InvocationReport {
            envelope: Ok(envelope),
            messages,
            kept: None,
        }
    }

    /// Sends a letter to the dead-letter queue, within the invocation's hard deadline.
    async fn keep(&self, letter: &DeadLetter, ctx: &InvocationContext) -> Kept {
        let Some(dead_letters) = &self.dead_letters else {
            return Kept::No(None);
        };
        let hard_deadline = ctx
            .deadline
            .checked_sub(self.hard_margin)
            .unwrap_or(ctx.deadline);
        match tokio::time::timeout_at(hard_deadline, dead_letters.keep(letter)).await {
            Ok(Ok(())) => Kept::Yes,
            Ok(Err(e)) => Kept::No(Some(e.to_string())),
            Err(_) => Kept::No(Some(MessageError::Deadline.to_string())),
        }
    }

    async fn handle_message(
        &self,
        event: &Event,
        ctx: &InvocationContext,
    ) -> (Result<Vec<Outcome>, MessageError>, Option<Duration>) {
        let config = self.handler.config();
        let started = Instant::now();
        if started + config.deadline_margin >= ctx.deadline {
            return (Err(MessageError::Deadline), None);
        }
        let hard_deadline = ctx
            .deadline
            .checked_sub(self.hard_margin)
            .unwrap_or(ctx.deadline);
        let result = tokio::time::timeout_at(hard_deadline, self.handler.handle_event(event, ctx))
            .await
            .map_err(|_| MessageError::Deadline)
            .and_then(|r| r.map_err(MessageError::from));
        let sweeping =
            matches!(&event.stimulus, Stimulus::Scheduled(s) if s.rule == config.sweep_rule);
        (result, sweeping.then(|| started.elapsed()))
    }
}

/// An invocation's payload as received: parsed, or its text (parsed only to keep a poison
/// message).
#[derive(Clone, Copy)]
enum Payload<'a> {
    Value(&'a Value),
    Text(&'a str),
}

impl Payload<'_> {
    /// The payload of one message as received: the SNS or SQS record, or the direct event.
    fn record(self, envelope: Envelope, index: usize) -> Value {
        let parsed;
        let payload = match self {
            Self::Value(payload) => payload,
            Self::Text(text) => {
                parsed = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()));
                &parsed
            }
        };
        match envelope {
            Envelope::Direct => payload.clone(),
            Envelope::Sns | Envelope::Sqs | Envelope::Stream => payload
                .get("Records")
                .and_then(|r| r.get(index))
                .cloned()
                .unwrap_or(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests;
