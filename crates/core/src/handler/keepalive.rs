//! The keepalive pass: the sweep rule's second target, a pass that only heartbeats.
//!
//! # Guarantees
//! - Every sweep tick invokes the function twice, independently (two targets of the rule, each
//!   with its own delivery and Lambda retries): the sweep, and this pass under the rule name
//!   `<sweep rule>-keepalive`. A tick lost whole for the sweep (every retry crashed) still
//!   heartbeats the held actions, so hooks shorter than two sweep periods survive it.
//! - The pass heartbeats exactly what the sweep would (held actions of records past their
//!   pending states, when due) and writes nothing: it never conflicts with the sweep or events.
//! - It lists the whole active index within the invocation's time, from the first record (no
//!   cursor: it makes no request for records with nothing due).

use super::heartbeat::heartbeat_due;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::{HandlerError, InstanceWork, LifecycleHandler, Outcome, OutcomeKind};
use crate::aws::LifecycleHeartbeat;
use crate::event::Event;
use crate::record::{InstanceRecord, LifecycleAction};

/// The suffix of the keepalive pass's rule name.
pub const KEEPALIVE_SUFFIX: &str = "-keepalive";

impl LifecycleHandler {
    /// The keepalive pass (see the module doc); one outcome per heartbeat made.
    pub(super) async fn keepalive(
        &self,
        event: &Event,
        spent: &(dyn Fn() -> bool + Sync),
    ) -> Result<Vec<Outcome>, HandlerError> {
        let graph = self.machine.graph();
        let mut outcomes = Vec::new();
        let mut start: Option<String> = None;
        loop {
            if spent() {
                tracing::warn!(
                    heartbeats = outcomes.len(),
                    "deadline near: the keepalive pass stops; the sweep covers the rest"
                );
                return Ok(outcomes);
            }
            let page = match self.list_page(start.as_deref()).await {
                Ok(page) => page,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, heartbeats = outcomes.len(), "keepalive: failed to list a page of active records; the sweep covers the rest");
                    return Ok(outcomes);
                }
                Err(e) => return Err(e.into()),
            };
            // The page's due heartbeats, `sweep_concurrency` at a time.
            let mut due = Vec::new();
            for record in &page.records {
                let Some(action) = record
                    .lifecycle_action
                    .as_ref()
                    .filter(|_| !graph.is_pending(record.state()))
                else {
                    continue;
                };
                let timeout = self.hook_timeout(&action.group, &action.hook).await;
                if heartbeat_due(action, timeout, self.clock.now(), &self.config) {
                    due.push((record, action));
                }
            }
            let mut due = due.into_iter();
            let mut running = FuturesUnordered::new();
            loop {
                while running.len() < self.config.sweep_concurrency.max(1) && !spent() {
                    let Some((record, action)) = due.next() else {
                        break;
                    };
                    let work: InstanceWork<'_> =
                        Box::pin(async move { Ok(self.keep_alive(event, record, action).await) });
                    running.push(self.clock.concurrently(work));
                }
                match running.next().await {
                    Some(Ok(outcome)) => outcomes.push(outcome),
                    Some(Err(_)) => {}
                    None => break,
                }
            }
            if spent() {
                tracing::warn!(
                    heartbeats = outcomes.len(),
                    "deadline near: the keepalive pass stops; the sweep covers the rest"
                );
                return Ok(outcomes);
            }
            match page.next {
                Some(next) => start = Some(next),
                None => return Ok(outcomes),
            }
        }
    }

    /// Heartbeats `record`'s held `action`; the outcome says how it went.
    async fn keep_alive(
        &self,
        event: &Event,
        record: &InstanceRecord,
        action: &LifecycleAction,
    ) -> Outcome {
        let input = LifecycleHeartbeat {
            group: action.group.clone(),
            hook: action.hook.clone(),
            token: action.token.clone(),
            instance_id: record.ident.clone(),
        };
        let mut outcome = Outcome::new(Some(&event.id), Some(&record.ident));
        outcome.from = Some(record.state().to_string());
        outcome.to = outcome.from.clone();
        outcome.outcome = OutcomeKind::NoOp;
        match self.send_heartbeat(&input).await {
            Ok(()) => {
                outcome.effects.push(super::sweep::heartbeat_effect(&input));
                outcome.reason = Some("keepalive heartbeat".into());
            }
            Err(e) => {
                tracing::warn!(instance = %record.ident, error = %e, "keepalive heartbeat failed; the sweep tries too");
                outcome.error = Some(e.to_string());
            }
        }
        outcome
    }
}
