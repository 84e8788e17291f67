//! Reading records into statuses, and waiting for a desired status as a stream of events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures::stream::{self, Stream, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use super::{
    GroupMembership, InstanceStatus, MembershipError, ResourceResult, StatusRules, aggregate,
};
use crate::machine::Graph;
use crate::store::{StateStore, StoreError};
use crate::wait::Poll;

/// Which instances to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Exactly these instances.
    Instances(Vec<String>),
    /// The members of an Auto Scaling group (when the resolver has a [`GroupMembership`]) joined
    /// with the group's records in the active index; listed again at every check, so that
    /// replacements are followed and departed instances drop out.
    Group(String),
    /// Every record in the active index.
    AllActive,
}

/// Listing the targets failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Reading the group's members failed.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// Querying the active index failed.
    #[error("failed to query the active index: {0}")]
    Store(#[from] StoreError),
}

/// Why a wait ended without reaching the desired status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AbortReason {
    /// The deadline passed.
    Deadline,
    /// The cancellation token fired.
    Cancelled,
}

/// What [`Resolver::wait_for_status`] reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event")]
pub enum WaitEvent {
    /// An instance's status or message changed (or it appeared, or it left the targets: then its
    /// status is `NotFound`); `aggregate` is the group's aggregate after the check.
    ResourceUpdate {
        /// The instance's new result.
        resource: ResourceResult,
        /// The aggregate of all targets.
        aggregate: InstanceStatus,
        /// How many targets are at each status after the check (for progress displays).
        counts: BTreeMap<InstanceStatus, usize>,
    },
    /// The aggregate reached the desired status; the stream ends.
    Completed {
        /// The aggregate (the desired status).
        aggregate: InstanceStatus,
        /// Every target's result at the last check.
        resources: Vec<ResourceResult>,
    },
    /// The deadline passed or the wait was cancelled; the stream ends.
    Aborted {
        /// Why.
        reason: AbortReason,
        /// The aggregate at the last check.
        aggregate: InstanceStatus,
        /// Every target's result at the last check.
        resources: Vec<ResourceResult>,
    },
}

/// Reads records (and group membership) and computes statuses.
///
/// # Assumptions
/// A record is read with the store's consistent `get`; an instance with no record is `NotFound`,
/// one whose read failed is `Unknown` (the error is kept in its message and `last_error`).
#[derive(Clone)]
pub struct Resolver {
    store: Arc<dyn StateStore>,
    rules: Arc<StatusRules>,
    membership: Option<Arc<dyn GroupMembership>>,
    concurrency: usize,
}

impl Resolver {
    /// Resolves statuses with the rules of `graph`, reading records from `store`.
    #[must_use]
    pub fn new(store: Arc<dyn StateStore>, graph: &Graph) -> Self {
        Self {
            store,
            rules: Arc::new(StatusRules::new(graph)),
            membership: None,
            // 8 reads in flight: quick for groups of hundreds, gentle on provisioned capacity.
            concurrency: 8,
        }
    }

    /// Joins group members from `membership` into [`Targets::Group`] (without it, a group is the
    /// set of its records in the active index, and no instance can be `NotFound`).
    #[must_use]
    pub fn with_membership(mut self, membership: Arc<dyn GroupMembership>) -> Self {
        self.membership = Some(membership);
        self
    }

    /// The rules in use.
    #[must_use]
    pub fn rules(&self) -> &StatusRules {
        &self.rules
    }

    /// The instance ids of `targets`, sorted and without duplicates.
    ///
    /// # Errors
    /// When the membership request or the active-index query fails.
    pub async fn instances(&self, targets: &Targets) -> Result<Vec<String>, ResolveError> {
        let mut ids = BTreeSet::new();
        let group = match targets {
            Targets::Instances(list) => {
                return Ok(list
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect());
            }
            Targets::Group(group) => {
                if let Some(membership) = &self.membership {
                    ids.extend(membership.members(group).await?);
                }
                Some(group.as_str())
            }
            Targets::AllActive => None,
        };
        let mut start: Option<String> = None;
        loop {
            let page = self
                .store
                .query_active(group, start.as_deref(), 100)
                .await?;
            ids.extend(page.records.into_iter().map(|r| r.ident));
            match page.next {
                Some(next) => start = Some(next),
                None => break,
            }
        }
        Ok(ids.into_iter().collect())
    }

    /// Reads each instance's record and computes its status, in the order given.
    pub async fn fetch_and_resolve(&self, instances: &[String]) -> Vec<ResourceResult> {
        stream::iter(instances.iter().cloned())
            .map(|id| async move {
                match self.store.get(&id).await {
                    Ok(Some(record)) => self.rules.resolve(&record),
                    Ok(None) => ResourceResult::not_found(id),
                    Err(e) => ResourceResult::unknown(id, e),
                }
            })
            .buffered(self.concurrency.max(1))
            .collect()
            .await
    }

    /// Lists `targets` and resolves them; a failed listing is one `Unknown` result named after
    /// the targets, so that the aggregate shows it.
    pub async fn resolve(&self, targets: &Targets) -> Vec<ResourceResult> {
        match self.instances(targets).await {
            Ok(ids) => self.fetch_and_resolve(&ids).await,
            Err(e) => {
                let name = match targets {
                    Targets::Group(group) => format!("group:{group}"),
                    _ => "targets".to_string(),
                };
                vec![ResourceResult::unknown(name, e)]
            }
        }
    }

    /// Checks `targets` at once, then every `poll.interval`, until their aggregate reaches
    /// `desired` ([`WaitEvent::Completed`]), `poll.deadline` passes or `poll.cancel` fires
    /// ([`WaitEvent::Aborted`]). Between, a [`WaitEvent::ResourceUpdate`] reports each instance
    /// whose status or message changed since the previous check.
    ///
    /// The first check always happens at once (`poll.immediate` is not consulted); `poll.sliding`
    /// is honoured. A `Failed` aggregate does not end the stream: the caller decides (the CLI
    /// stops at once, since nothing leads out of the failure path).
    pub fn wait_for_status(
        &self,
        targets: Targets,
        desired: InstanceStatus,
        poll: Poll,
    ) -> impl Stream<Item = WaitEvent> + Send + 'static {
        let this = self.clone();
        async_stream::stream! {
            let mut last: BTreeMap<String, ResourceResult> = BTreeMap::new();
            let mut next = Instant::now();
            loop {
                let results = this.resolve(&targets).await;
                let agg = aggregate(results.iter().map(|r| r.status), desired);
                let mut updates: Vec<ResourceResult> = results
                    .iter()
                    .filter(|r| last.get(&r.instance).is_none_or(|p| p.status != r.status || p.message != r.message))
                    .cloned()
                    .collect();
                for (id, previous) in &last {
                    if !results.iter().any(|r| &r.instance == id) {
                        let mut left = ResourceResult::not_found(id.clone());
                        left.group.clone_from(&previous.group);
                        left.message = "no longer a target (left the group or the active index)".into();
                        updates.push(left);
                    }
                }
                last = results.iter().map(|r| (r.instance.clone(), r.clone())).collect();
                let mut counts = BTreeMap::new();
                for r in &results {
                    *counts.entry(r.status).or_insert(0) += 1;
                }
                for resource in updates {
                    yield WaitEvent::ResourceUpdate { resource, aggregate: agg, counts: counts.clone() };
                }
                if agg == desired {
                    yield WaitEvent::Completed { aggregate: agg, resources: results };
                    return;
                }
                next = if poll.sliding { Instant::now() } else { next } + poll.interval;
                let (wake, past_deadline) = match poll.deadline {
                    Some(deadline) if next > deadline => (deadline, true),
                    _ => (next, false),
                };
                let cancelled = match &poll.cancel {
                    Some(token) if token.is_cancelled() => true,
                    Some(token) => tokio::select! {
                        () = token.cancelled() => true,
                        () = tokio::time::sleep_until(wake) => false,
                    },
                    None => {
                        tokio::time::sleep_until(wake).await;
                        false
                    }
                };
                if cancelled || past_deadline {
                    let reason = if cancelled { AbortReason::Cancelled } else { AbortReason::Deadline };
                    yield WaitEvent::Aborted { reason, aggregate: agg, resources: results };
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machine::Machine;
    use crate::record::InstanceRecord;
    use crate::store::MemoryStore;
    use InstanceStatus::*;
    use async_trait::async_trait;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    struct Members(Vec<&'static str>);

    #[async_trait]
    impl GroupMembership for Members {
        async fn members(&self, _group: &str) -> Result<Vec<String>, MembershipError> {
            Ok(self.0.iter().map(|s| (*s).to_string()).collect())
        }
    }

    fn record(id: &str, state: &str) -> InstanceRecord {
        let mut r = InstanceRecord::new(id);
        r.status = Some(state.into());
        r.group = Some("web".into());
        r.active_group = Some("web".into());
        r
    }

    fn setup(records: &[(&str, &str)]) -> (Arc<MemoryStore>, Resolver) {
        let store = Arc::new(MemoryStore::new());
        for (id, state) in records {
            store.put(record(id, state));
        }
        let resolver = Resolver::new(store.clone(), Machine::example().graph());
        (store, resolver)
    }

    fn summary(event: &WaitEvent) -> String {
        match event {
            WaitEvent::ResourceUpdate {
                resource,
                aggregate,
                ..
            } => {
                format!(
                    "update {} {} -> {aggregate}",
                    resource.instance, resource.status
                )
            }
            WaitEvent::Completed { aggregate, .. } => format!("completed {aggregate}"),
            WaitEvent::Aborted {
                reason, aggregate, ..
            } => format!("aborted {reason:?} {aggregate}"),
        }
    }

    async fn collect(stream: impl Stream<Item = WaitEvent>) -> Vec<(Duration, String)> {
        let start = Instant::now();
        stream
            .map(|e| (Instant::now() - start, summary(&e)))
            .collect()
            .await
    }

    #[tokio::test]
    async fn group_members_without_records_are_not_found_and_records_join_in() {
        let (_store, resolver) = setup(&[("i-1", "ready"), ("i-3", "draining")]);
        let resolver = resolver.with_membership(Arc::new(Members(vec!["i-2", "i-1"])));
        let results = resolver.resolve(&Targets::Group("web".into())).await;
        let got: Vec<_> = results
            .iter()
            .map(|r| (r.instance.as_str(), r.status))
            .collect();
        assert_eq!(
            got,
            [("i-1", Current), ("i-2", NotFound), ("i-3", Terminating)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_changes_are_reported_until_completed() {
        let (store, resolver) = setup(&[("i-1", "join_cluster"), ("i-2", "ready")]);
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(25)).await;
            writer.put(record("i-1", "ready"));
        });
        let poll = Poll::every(Duration::from_secs(10)).timeout(Duration::from_secs(120));
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Current, poll)).await;
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            events,
            [
                (secs(0), "update i-1 InProgress -> InProgress".to_string()),
                (secs(0), "update i-2 Current -> InProgress".to_string()),
                (secs(30), "update i-1 Current -> Current".to_string()),
                (secs(30), "completed Current".to_string()),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_change_is_reported_with_the_same_status() {
        let (store, resolver) = setup(&[("i-1", "join_cluster")]);
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut r = record("i-1", "join_cluster");
            r.last_error = Some("throttled".into());
            writer.put(r);
        });
        let poll = Poll::every(Duration::from_secs(10)).timeout(Duration::from_secs(15));
        let events = collect(resolver.wait_for_status(
            Targets::Instances(vec!["i-1".into()]),
            Current,
            poll,
        ))
        .await;
        let names: Vec<_> = events
            .iter()
            .map(|(t, s)| (t.as_secs(), s.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "update i-1 InProgress -> InProgress"),
                (10, "update i-1 InProgress -> InProgress"),
                (15, "aborted Deadline InProgress"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_aborts_with_the_last_aggregate() {
        let (_store, resolver) = setup(&[("i-1", "join_cluster")]);
        let poll = Poll::every(Duration::from_secs(10)).timeout(Duration::from_secs(35));
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Current, poll)).await;
        let names: Vec<_> = events
            .iter()
            .map(|(t, s)| (t.as_secs(), s.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "update i-1 InProgress -> InProgress"),
                (35, "aborted Deadline InProgress")
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_aborts_between_checks() {
        let (_store, resolver) = setup(&[("i-1", "join_cluster")]);
        let token = CancellationToken::new();
        let canceller = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(15)).await;
            canceller.cancel();
        });
        let poll = Poll::every(Duration::from_secs(10)).cancel_on(token);
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Current, poll)).await;
        assert_eq!(
            events.last().unwrap(),
            &(
                Duration::from_secs(15),
                "aborted Cancelled InProgress".to_string()
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_instance_makes_every_update_carry_a_failed_aggregate() {
        let (_store, resolver) = setup(&[("i-1", "failure"), ("i-2", "ready")]);
        let poll = Poll::every(Duration::from_secs(10)).timeout(Duration::from_secs(5));
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Current, poll)).await;
        assert!(
            events[..2].iter().all(|(_, s)| s.ends_with("-> Failed")),
            "{events:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_terminated_completes_when_instances_leave() {
        let (store, resolver) = setup(&[("i-1", "draining")]);
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            let mut r = record("i-1", "terminated");
            r.active_group = None;
            writer.put(r);
        });
        let poll = Poll::every(Duration::from_secs(10)).timeout(Duration::from_secs(60));
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Terminated, poll)).await;
        let names: Vec<_> = events
            .iter()
            .map(|(t, s)| (t.as_secs(), s.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "update i-1 Terminating -> InProgress"),
                (20, "update i-1 NotFound -> Terminated"),
                (20, "completed Terminated"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_group_completes_at_once() {
        let (_store, resolver) = setup(&[]);
        let poll = Poll::every(Duration::from_secs(10));
        let events =
            collect(resolver.wait_for_status(Targets::Group("web".into()), Current, poll)).await;
        assert_eq!(events, [(Duration::ZERO, "completed Current".to_string())]);
    }
}
