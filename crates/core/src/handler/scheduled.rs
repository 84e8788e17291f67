//! Scheduled events: the sweep and other scheduled flows over every active record.
//!
//! # Guarantees
//! - The sweep goes round the whole active index: when the invocation's time runs out it stores
//!   where it stopped (the store's sweep cursor) and the next sweep goes on from there, so every
//!   active record is visited within a bounded number of sweeps however many there are.
//! - `sweep_concurrency` records are worked on at once; the next page is listed while they run.
//! - A failure on one record never fails the sweep (the next sweep is its retry); another
//!   scheduled flow cut short by the deadline fails retryably instead of reporting success.
//! - Time is counted on both clocks: the process's deadline and the handler's [`Clock`](super::Clock), which a
//!   simulated world moves as its requests take time.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::Instant;

use super::sweep::FailedHeartbeats;
use super::{HandlerError, InstanceWork, InvocationContext, LifecycleHandler, Outcome};
use crate::event::{Event, Stimulus};
use crate::record::InstanceRecord;

impl LifecycleHandler {
    pub(super) async fn handle_scheduled(
        &self,
        event: &Event,
        ctx: &InvocationContext,
    ) -> Result<Vec<Outcome>, HandlerError> {
        let sweeping =
            matches!(&event.stimulus, Stimulus::Scheduled(s) if s.rule == self.config.sweep_rule);
        let budget = Budget::start(self, ctx);
        if matches!(&event.stimulus, Stimulus::Scheduled(s) if s.rule == self.config.keepalive_rule())
        {
            return self.keepalive(event, &|| budget.spent(self, ctx)).await;
        }
        // The sweep goes on where the last one ran out of time, round the whole index; other
        // scheduled flows start at the first record and fail retryably when cut short.
        let resumed = if sweeping {
            self.store.sweep_cursor().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "failed to read the sweep cursor; starting at the first record");
                None
            })
        } else {
            None
        };
        let concurrency = if sweeping {
            self.config.sweep_concurrency.max(1)
        } else {
            1
        };
        let failed = FailedHeartbeats::default();
        let failed_heartbeats = &failed;
        let mut outcomes = Vec::new();
        // The lifecycle actions the listed records hold: which held instances need adopting.
        let mut held = BTreeSet::new();
        let mut start = resumed.clone();
        let mut wrapped = resumed.is_none();
        let mut more_pages = true;
        let mut first: Option<String> = None;
        // Records listed and not started yet, each with the key of the page it came from (where
        // the next sweep resumes when this one stops before it).
        let mut queue: VecDeque<Listed> = VecDeque::new();
        let mut running = FuturesUnordered::new();
        let mut first_retryable = None;
        let mut stopped_at: Option<Option<String>> = None;
        let mut round_done = false;
        loop {
            // Keep `concurrency` records in work, listing the next page when the queue runs dry.
            while running.len() < concurrency && stopped_at.is_none() && !round_done {
                let Some((record, page_key, gone)) = queue.pop_front() else {
                    if !more_pages {
                        break;
                    }
                    if budget.spent(self, ctx) {
                        stopped_at = Some(start.clone());
                        break;
                    }
                    let page = match self.list_page(start.as_deref()).await {
                        Ok(page) => page,
                        Err(e) if start.is_some() && start == resumed && !e.is_retryable() => {
                            tracing::warn!(error = %e, "the sweep cursor is no longer valid; starting at the first record");
                            start = None;
                            wrapped = true;
                            continue;
                        }
                        // The sweep stops at the page it cannot list, as when its time runs out:
                        // what it did counts, and the next sweep goes on from there.
                        Err(e) if sweeping && e.is_retryable() => {
                            tracing::warn!(error = %e, "failed to list a page of active records; the next sweep goes on from it");
                            stopped_at = Some(start.clone());
                            break;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let gone = if sweeping {
                        self.gone_of(&page.records).await.map(Arc::new)
                    } else {
                        None
                    };
                    held.extend(page.records.iter().filter_map(|r| {
                        let action = r.lifecycle_action.as_ref()?;
                        Some((r.ident.clone(), action.transition.clone()))
                    }));
                    let page_key = start.clone();
                    match page.next {
                        Some(next) => start = Some(next),
                        None if !wrapped => {
                            wrapped = true;
                            start = None;
                        }
                        None => more_pages = false,
                    }
                    queue.extend(
                        page.records
                            .into_iter()
                            .map(|r| (Box::new(r), page_key.clone(), gone.clone())),
                    );
                    continue;
                };
                if resumed.is_some() && first.as_deref() == Some(record.ident.as_str()) {
                    // Round the whole index: every record was visited once.
                    round_done = true;
                    break;
                }
                if budget.spent(self, ctx) {
                    stopped_at = Some(page_key);
                    break;
                }
                first.get_or_insert_with(|| record.ident.clone());
                let ident = record.ident.clone();
                // One boxed future per kind of visit: a block holding both would be as large as
                // the larger (a whole chain's), allocated and copied at every sweep visit.
                let work: InstanceWork<'_> = if sweeping {
                    Box::pin(async move {
                        self.sweep_instance(&record, gone.as_deref(), event, ctx, failed_heartbeats)
                            .await
                    })
                } else {
                    Box::pin(async move {
                        self.process_instance(&record.ident, &event.id, &event.stimulus, ctx)
                            .await
                    })
                };
                let work = self.clock.concurrently(work);
                running.push(async move { (ident, work.await) });
            }
            let Some((ident, result)) = running.next().await else {
                break;
            };
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    tracing::error!(instance = %ident, error = %e, "instance failed during a scheduled run");
                    outcomes.push(Outcome::of_error(Some(&event.id), Some(&ident), &e));
                    // The sweep is its own retry: failing it would have Lambda run it all again.
                    // Busy: another invocation is on it; the next sweep looks again.
                    if e.is_retryable() && !e.is_busy() && !sweeping && first_retryable.is_none() {
                        first_retryable = Some(e);
                    }
                }
            }
        }
        drop(running);
        if sweeping {
            outcomes.extend(self.retry_heartbeats(failed).await);
            // Round the whole index, the listing tells which held instances no record holds;
            // else each is read.
            let listed = stopped_at.is_none().then_some(&held);
            outcomes.extend(
                self.adopt_waiting(ctx, listed, &|| budget.spent(self, ctx))
                    .await,
            );
            let cursor = stopped_at.clone().flatten();
            if (cursor.is_some() || resumed.is_some())
                && let Err(e) = self.store.save_sweep_cursor(cursor.as_deref()).await
            {
                tracing::warn!(error = %e, "failed to save the sweep cursor; the next sweep starts over");
            }
            if stopped_at.is_some() {
                tracing::warn!(
                    visited = outcomes.len(),
                    "deadline near: the sweep stops; the next one goes on from here"
                );
            }
        } else if stopped_at.is_some() && first_retryable.is_none() {
            // Cut short, a scheduled flow must not report success for records it never reached.
            return Err(HandlerError::DeadlineNear {
                visited: outcomes.len(),
            });
        }
        match first_retryable {
            Some(e) => Err(e),
            None => Ok(outcomes),
        }
    }
}

impl LifecycleHandler {
    /// A page of active records from `start`, tried three times in a row while the store fails
    /// retryably: one throttled page must not cost the sweep the rest of the index.
    pub(super) async fn list_page(
        &self,
        start: Option<&str>,
    ) -> Result<crate::store::Page, crate::store::StoreError> {
        let mut answer = self
            .store
            .query_active(None, start, self.config.page_size)
            .await;
        for _ in 1..3 {
            if !answer
                .as_ref()
                .is_err_and(crate::store::StoreError::is_retryable)
            {
                break;
            }
            answer = self
                .store
                .query_active(None, start, self.config.page_size)
                .await;
        }
        answer
    }
}

/// A listed record not started yet: the record, the key of the page it came from (where the
/// next sweep resumes when this one stops before it) and the page's instances gone from their
/// groups. The record is boxed: it moves through the queue and into its work's future.
type Listed = (
    Box<InstanceRecord>,
    Option<String>,
    Option<Arc<BTreeSet<String>>>,
);

/// What is left of an invocation's time, on both clocks: the process's (the Lambda deadline)
/// and the handler's [`Clock`], which a simulated world moves as its requests take time.
struct Budget {
    started: DateTime<Utc>,
    budget: Duration,
}

impl Budget {
    fn start(handler: &LifecycleHandler, ctx: &InvocationContext) -> Self {
        Self {
            started: handler.clock.now(),
            budget: ctx.deadline.saturating_duration_since(Instant::now()),
        }
    }

    fn spent(&self, handler: &LifecycleHandler, ctx: &InvocationContext) -> bool {
        let elapsed = (handler.clock.now() - self.started)
            .to_std()
            .unwrap_or_default();
        handler.near_deadline(ctx) || elapsed + handler.config.deadline_margin >= self.budget
    }
}
