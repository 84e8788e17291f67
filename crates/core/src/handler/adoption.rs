//! Adoption: lifecycle actions whose event has not come (delayed, throttled, dropped) are found
//! in Auto Scaling by the sweep and handled as if their event had come.
//!
//! # Guarantees
//! - At the end of every sweep, Auto Scaling is asked which instances of the configured groups
//!   its hooks hold (`DescribeAutoScalingGroups`, one call per group) and which hooks the group
//!   has (`DescribeLifecycleHooks`).
//! - A held instance whose record holds no action of that transition (told by the sweep's
//!   listing when it went round the whole index, else by a read) gets, for each of the
//!   group's hooks of the transition, a lifecycle event without a token (Auto Scaling takes the
//!   instance id instead): heartbeated at once, since when the action started is unknown and it
//!   may be about to lapse, then stepped like the real event. Its id is stable per instance, hook
//!   and transition, so adopting it again is a duplicate.
//! - An adopted launch never waits for cloud-init within the sweep: a pending instance has its
//!   action remembered, as for an early event.
//! - The real event, when it comes, replaces the adopted action: it brings the token and the
//!   action's start.

use std::collections::BTreeSet;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::{HandlerError, InstanceWork, InvocationContext, LifecycleHandler, Outcome};
use crate::aws::{AwsError, LifecycleHook, WaitingInstance};
use crate::event::{Event, LifecycleEvent, Stimulus};

/// The id prefix of adopted lifecycle events.
pub const ADOPTED_EVENT_PREFIX: &str = "adopted:";

impl LifecycleHandler {
    /// Adopts the held instances of the configured groups whose action no record holds; the
    /// outcomes of those adopted. Stops adopting when `spent` says the invocation's time is up.
    pub(super) async fn adopt_waiting(
        &self,
        ctx: &InvocationContext,
        listed: Option<&BTreeSet<(String, String)>>,
        spent: &(dyn Fn() -> bool + Sync),
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        for group in &self.config.groups {
            let waiting = match attempts(|| self.aws.autoscaling.waiting_instances(group)).await {
                Ok(waiting) => waiting,
                Err(e) => {
                    tracing::warn!(group, error = %e, "failed to list the instances the group's hooks hold; none adopted this sweep");
                    continue;
                }
            };
            if waiting.is_empty() {
                continue;
            }
            let hooks = match attempts(|| self.aws.autoscaling.lifecycle_hooks(group)).await {
                Ok(hooks) => hooks,
                Err(e) => {
                    tracing::warn!(group, error = %e, "failed to list the group's lifecycle hooks; none adopted this sweep");
                    continue;
                }
            };
            self.remember_hook_timeouts(group, &hooks);
            let mut waiting = waiting.into_iter();
            let mut running = FuturesUnordered::new();
            loop {
                while running.len() < self.config.sweep_concurrency.max(1) && !spent() {
                    let Some(instance) = waiting.next() else {
                        break;
                    };
                    let hooks = &hooks;
                    let work: InstanceWork<'_> =
                        Box::pin(
                            async move { self.adopt(group, &instance, hooks, listed, ctx).await },
                        );
                    running.push(self.clock.concurrently(work));
                }
                let Some(result) = running.next().await else {
                    break;
                };
                match result {
                    // Nothing adopted: the record holds the action.
                    Ok(outcome) if outcome.event.is_none() => {}
                    Ok(outcome) => outcomes.push(outcome),
                    Err(e) => {
                        tracing::warn!(error = %e, "failed to adopt a held instance; the next sweep tries again");
                    }
                }
            }
        }
        outcomes
    }

    /// Keeps the hooks' heartbeat timeouts, as if read one by one (`hook_timeout`).
    fn remember_hook_timeouts(&self, group: &str, hooks: &[LifecycleHook]) {
        let mut cache = self
            .hook_timeouts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for hook in hooks {
            let Some(timeout) = hook.heartbeat_timeout else {
                continue;
            };
            let known = cache.insert((group.to_string(), hook.name.clone()), timeout);
            if known.is_none()
                && let Err(too_short) = self.config.check_hook(group, &hook.name, timeout)
            {
                tracing::error!(group, hook = %hook.name, error = %too_short, "the sweep cannot keep this hook alive");
            }
        }
    }

    /// Adopts one held instance unless its record holds an action of the transition already
    /// (then the outcome names no event).
    async fn adopt(
        &self,
        group: &str,
        instance: &WaitingInstance,
        hooks: &[LifecycleHook],
        listed: Option<&BTreeSet<(String, String)>>,
        ctx: &InvocationContext,
    ) -> Result<Outcome, HandlerError> {
        let ident = instance.instance_id.as_str();
        let transition = instance.transition;
        let held = match listed {
            // An action an event brought since the listing is kept: an adopted event never
            // replaces a held action of its transition (`ChainRun::new`).
            Some(listed) => {
                listed.contains(&(ident.to_string(), transition.api_name().to_string()))
            }
            None => self.store.get(ident).await?.is_some_and(|r| {
                r.lifecycle_action
                    .as_ref()
                    .is_some_and(|a| a.transition == transition.api_name())
            }),
        };
        let mut adopted = Outcome::new(None, Some(ident));
        if held {
            return Ok(adopted);
        }
        let now = self.clock.now();
        for hook in hooks.iter().filter(|h| h.transition == transition) {
            let timeout = hook
                .heartbeat_timeout
                .unwrap_or(self.config.heartbeat_timeout);
            // Started at the latest one timeout ago (or it would have lapsed): taken as that
            // old, so the action is heartbeated now and at every sweep until the real event
            // tells its start.
            let started = now - chrono::Duration::from_std(timeout).unwrap_or_default();
            let event = Event {
                id: format!(
                    "{ADOPTED_EVENT_PREFIX}{ident}:{}:{}",
                    hook.name,
                    transition.api_name()
                ),
                time: Some(started),
                stimulus: Stimulus::Lifecycle(LifecycleEvent {
                    transition,
                    instance_id: ident.to_string(),
                    group: group.to_string(),
                    hook: hook.name.clone(),
                    token: None,
                    metadata: None,
                    origin: None,
                    destination: instance.destination.clone(),
                    time: Some(started),
                }),
            };
            tracing::info!(instance = ident, hook = %hook.name, transition = transition.api_name(), "adopting a lifecycle action whose event has not come");
            let Stimulus::Lifecycle(action) = &event.stimulus else {
                continue;
            };
            // What `handle_event` does for a lifecycle event (it is not called: the sweep would
            // then call itself).
            let late_heartbeat = self.heartbeat_if_late(&event.id, action).await;
            let mut outcome = self
                .process_instance(ident, &event.id, &event.stimulus, ctx)
                .await?;
            outcome.effects.extend(late_heartbeat);
            let mut transitions = std::mem::take(&mut adopted.transitions);
            let mut effects = std::mem::take(&mut adopted.effects);
            transitions.extend(outcome.transitions.iter().cloned());
            effects.extend(outcome.effects.iter().cloned());
            adopted = Outcome {
                transitions,
                effects,
                from: adopted.from.or(outcome.from.clone()),
                ..outcome
            };
        }
        Ok(adopted)
    }
}

/// Calls `call` up to three times in a row while it fails retryably: a listing the sweep skips
/// waits a whole period, which a held action may not survive.
async fn attempts<T, F, Fut>(call: F) -> Result<T, AwsError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut answer = call().await;
    for _ in 1..3 {
        if !answer.as_ref().is_err_and(AwsError::is_retryable) {
            break;
        }
        answer = call().await;
    }
    answer
}

/// True for the id of an adopted lifecycle event.
#[must_use]
pub fn is_adopted(event_id: &str) -> bool {
    event_id.starts_with(ADOPTED_EVENT_PREFIX)
}
