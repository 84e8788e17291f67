//! The simulated Auto Scaling API over the group model (`group.rs`): lifecycle hooks that hold instances in `Pending:Wait`,
//! `Terminating:Wait` and, with a warm pool, `Warmed:Pending:Wait`; heartbeat and global timeouts
//! with a default result, and "No active Lifecycle Action found" once an action is completed or
//! timed out. Instances launched into the warm pool wait there (`Warmed:Stopped`) until they are
//! moved into service by a second launch action; scale-ins may return instances to the pool.

use std::sync::Arc;

use asg_lifecycle::store::StateStore;
use async_trait::async_trait;
use futures::FutureExt;
use rand::Rng;

use super::exec::{Target, after_call, authorize, before_call};
pub use super::group::{ActionEnd, Group, GroupConfig, HookAction, Lifecycle, SimInstance};
use super::trail::TrailLine;
use super::world::{Job, Shared, secs};
use asg_lifecycle::aws::{
    AutoScalingApi, AwsError, AwsErrorKind, CompleteLifecycleAction, LifecycleHeartbeat,
    LifecycleHook, WaitingInstance,
};
use asg_lifecycle::event::LifecycleTransition;

fn no_active(operation: &str, ident: &str) -> AwsError {
    AwsError {
        operation: operation.to_string(),
        kind: AwsErrorKind::NoActiveLifecycleAction,
        code: "ValidationError".into(),
        message: format!("No active Lifecycle Action found with instance ID {ident}"),
    }
}

/// The simulated Auto Scaling API.
pub struct SimAutoScaling {
    shared: Arc<Shared>,
}

impl SimAutoScaling {
    /// Over the shared world.
    #[must_use]
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Times out the instance's action if its deadline passed before this call (the world's
    /// deadline job may not have run yet while an invocation's own time ran ahead), exactly as
    /// the deadline job would have.
    fn expire_due(&self, ident: &str) {
        let now = self.shared.now();
        let expired = {
            let mut s = self.shared.lock();
            let Some(action) = s.group.instances.get(ident).and_then(|i| i.actions.last()) else {
                return;
            };
            let (at, launching) = (action.deadline.min(action.global), action.launching);
            if now < at || action.end != ActionEnd::Active {
                // Not due, or already ended: `expire` would change nothing.
                return;
            }
            let token = action.token.clone();
            s.group.expire(ident, &token, at).then_some((at, launching))
        };
        if let Some((at, launching)) = expired {
            let record = self
                .shared
                .memory
                .get(ident)
                .now_or_never()
                .and_then(Result::ok)
                .flatten();
            self.shared
                .lock()
                .checker
                .on_timeout(ident, at, launching, record.as_ref());
        }
    }
}

#[async_trait]
impl AutoScalingApi for SimAutoScaling {
    async fn complete_lifecycle_action(
        &self,
        input: &CompleteLifecycleAction,
    ) -> Result<(), AwsError> {
        const OP: &str = "CompleteLifecycleAction";
        let ident = input.instance_id.as_str();
        authorize(
            &self.shared,
            ident,
            "autoscaling:CompleteLifecycleAction",
            &Target::Group,
        )?;
        before_call(&self.shared, ident, OP).await?;
        self.expire_due(ident);
        let now = self.shared.now();
        {
            let mut guard = self.shared.lock();
            let s = &mut *guard;
            if let Some(token) = input.token.as_deref()
                && let Some(owner) = s.group.owner_of_foreign_token(ident, token)
            {
                let message = format!(
                    "{OP} for {ident} with a lifecycle token of {owner}: completed because of a forged record"
                );
                s.checker.violation(ident, now, message);
            }
            let Some((lifecycle, action)) = s.group.active_mut(ident, input.token.as_deref())
            else {
                // A second completion with another result means the machine went both ways.
                let earlier = s.group.instances.get(ident).and_then(|i| {
                    i.actions
                        .iter()
                        .rev()
                        .find(|a| input.token.as_deref().is_none_or(|t| t == a.token))
                        .cloned()
                });
                if let Some(HookAction {
                    end: ActionEnd::Completed { result, .. },
                    ..
                }) = earlier
                    && result != input.result
                {
                    {
                        s.checker.violation(
                            ident,
                            now,
                            format!(
                                "lifecycle action completed with {result}, then {} was requested",
                                input.result
                            ),
                        );
                    }
                }
                s.checker.trail(
                    ident,
                    now,
                    format!("{OP} {}: no active lifecycle action", input.result),
                );
                return Err(no_active(OP, ident));
            };
            action.end = ActionEnd::Completed {
                result: input.result.clone(),
                at: now,
            };
            Group::conclude(lifecycle, action, &input.result);
            let in_service = *lifecycle == Lifecycle::InService;
            let prepared = *lifecycle == Lifecycle::Warmed && action.launching;
            let result = input.result.clone();
            s.checker.trail(
                ident,
                now,
                TrailLine::lazy(move |f| write!(f, "{OP} {result} completed the action")),
            );
            if in_service {
                let config = &s.group.config;
                let (fraction, (low, high)) = (config.scale_in_fraction, config.lifetime_ms);
                if s.rng.random_bool(fraction.clamp(0.0, 1.0)) {
                    let at = now + s.rng.random_range(low..=high.max(low));
                    s.outbox.push((
                        at,
                        Job::ScaleIn {
                            ident: ident.to_string(),
                        },
                    ));
                }
            }
            if prepared {
                // Prepared in the pool: moved into service when the group needs it.
                let (low, high) = s.group.config.pool_stay_ms;
                let at = now + s.rng.random_range(low..=high.max(low));
                s.outbox.push((
                    at,
                    Job::LeavePool {
                        ident: ident.to_string(),
                    },
                ));
            }
        }
        after_call(&self.shared, ident, OP).await
    }

    async fn record_lifecycle_action_heartbeat(
        &self,
        input: &LifecycleHeartbeat,
    ) -> Result<(), AwsError> {
        const OP: &str = "RecordLifecycleActionHeartbeat";
        let ident = input.instance_id.as_str();
        authorize(
            &self.shared,
            ident,
            "autoscaling:RecordLifecycleActionHeartbeat",
            &Target::Group,
        )?;
        before_call(&self.shared, ident, OP).await?;
        self.expire_due(ident);
        self.expire_due(ident);
        let now = self.shared.now();
        {
            let mut guard = self.shared.lock();
            let s = &mut *guard;
            let hb = s.group.config.heartbeat_timeout_ms;
            let Some((_, action)) = s.group.active_mut(ident, input.token.as_deref()) else {
                return Err(no_active(OP, ident));
            };
            action.deadline = (now + hb).min(action.global);
            let (deadline, token) = (action.deadline, action.token.clone());
            s.checker.trail(
                ident,
                now,
                TrailLine::lazy(move |f| write!(f, "heartbeat: deadline now {}", secs(deadline))),
            );
            s.outbox.push((
                deadline,
                Job::HookDeadline {
                    ident: ident.to_string(),
                    token,
                },
            ));
        }
        after_call(&self.shared, ident, OP).await
    }

    async fn waiting_instances(&self, group: &str) -> Result<Vec<WaitingInstance>, AwsError> {
        authorize(
            &self.shared,
            "-",
            "autoscaling:DescribeAutoScalingGroups",
            &Target::Any,
        )?;
        before_call(&self.shared, "-", "DescribeAutoScalingGroups").await?;
        // `expire_due` changes nothing for an instance whose last action is not active and due
        // (and one instance timing out changes no other's): only those are visited.
        let now = self.shared.now();
        let due: Vec<String> = self
            .shared
            .lock()
            .group
            .instances
            .iter()
            .filter(|(_, i)| {
                i.actions
                    .last()
                    .is_some_and(|a| a.end == ActionEnd::Active && now >= a.deadline.min(a.global))
            })
            .map(|(ident, _)| ident.clone())
            .collect();
        for ident in &due {
            self.expire_due(ident);
        }
        let (ours, warm_pool) = {
            let s = self.shared.lock();
            (
                group == s.group.config.name,
                s.group.config.warm_pool_fraction > 0.0,
            )
        };
        if !ours {
            return Ok(Vec::new());
        }
        if warm_pool {
            // DescribeWarmPool: the instances on their way into the pool.
            authorize(
                &self.shared,
                "-",
                "autoscaling:DescribeWarmPool",
                &Target::Any,
            )?;
            before_call(&self.shared, "-", "DescribeWarmPool").await?;
        }
        let s = self.shared.lock();
        // The group tells its reuse policy, not where each instance goes.
        let scale_in_to = if s.group.config.reuse_on_scale_in {
            "WarmPool"
        } else {
            "EC2"
        };
        Ok(s.group
            .instances
            .iter()
            .filter_map(|(ident, instance)| {
                // Warm-pool instances are not listed by DescribeAutoScalingGroups (only by
                // DescribeWarmPool), as in AWS.
                let (transition, destination) = match instance.lifecycle {
                    Lifecycle::PendingWait => (LifecycleTransition::Launching, "AutoScalingGroup"),
                    Lifecycle::TerminatingWait => (LifecycleTransition::Terminating, scale_in_to),
                    Lifecycle::WarmedPendingWait if warm_pool => {
                        (LifecycleTransition::Launching, "WarmPool")
                    }
                    Lifecycle::WarmedPendingWait
                    | Lifecycle::Warmed
                    | Lifecycle::InService
                    | Lifecycle::Terminated => return None,
                };
                Some(WaitingInstance {
                    instance_id: ident.clone(),
                    transition,
                    destination: Some(destination.to_string()),
                })
            })
            .collect())
    }

    async fn lifecycle_state(&self, instance_id: &str) -> Result<Option<String>, AwsError> {
        authorize(
            &self.shared,
            instance_id,
            "autoscaling:DescribeAutoScalingInstances",
            &Target::Any,
        )?;
        before_call(&self.shared, instance_id, "DescribeAutoScalingInstances").await?;
        self.expire_due(instance_id);
        let s = self.shared.lock();
        Ok(s.group.instances.get(instance_id).and_then(|i| {
            let state = match i.lifecycle {
                Lifecycle::WarmedPendingWait => "Warmed:Pending:Wait",
                Lifecycle::Warmed => "Warmed:Stopped",
                Lifecycle::PendingWait => "Pending:Wait",
                Lifecycle::InService => "InService",
                Lifecycle::TerminatingWait => "Terminating:Wait",
                // Gone from the group: DescribeAutoScalingInstances no longer lists it.
                Lifecycle::Terminated => return None,
            };
            Some(state.to_string())
        }))
    }

    async fn lifecycle_hooks(&self, group: &str) -> Result<Vec<LifecycleHook>, AwsError> {
        authorize(
            &self.shared,
            "-",
            "autoscaling:DescribeLifecycleHooks",
            &Target::Any,
        )?;
        before_call(&self.shared, "-", "DescribeLifecycleHooks").await?;
        let s = self.shared.lock();
        let config = &s.group.config;
        if group != config.name {
            return Ok(Vec::new());
        }
        let timeout = Some(std::time::Duration::from_millis(
            u64::try_from(config.heartbeat_timeout_ms).unwrap_or(0),
        ));
        Ok(vec![
            LifecycleHook {
                name: "launch-hook".into(),
                transition: LifecycleTransition::Launching,
                heartbeat_timeout: timeout,
            },
            LifecycleHook {
                name: "terminate-hook".into(),
                transition: LifecycleTransition::Terminating,
                heartbeat_timeout: timeout,
            },
        ])
    }

    async fn heartbeat_timeout(
        &self,
        group: &str,
        hook: &str,
    ) -> Result<Option<std::time::Duration>, AwsError> {
        Ok(self
            .lifecycle_hooks(group)
            .await?
            .into_iter()
            .find(|h| h.name == hook)
            .and_then(|h| h.heartbeat_timeout))
    }

    async fn group_members(
        &self,
        instance_ids: &[String],
    ) -> Result<Option<std::collections::BTreeSet<String>>, AwsError> {
        authorize(
            &self.shared,
            "-",
            "autoscaling:DescribeAutoScalingInstances",
            &Target::Any,
        )?;
        before_call(&self.shared, "-", "DescribeAutoScalingInstances").await?;
        let s = self.shared.lock();
        Ok(Some(
            instance_ids
                .iter()
                .filter(|id| {
                    s.group
                        .instances
                        .get(id.as_str())
                        .is_some_and(|i| i.lifecycle != Lifecycle::Terminated)
                })
                .cloned()
                .collect(),
        ))
    }
}
