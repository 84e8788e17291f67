//! The simulated Auto Scaling group: lifecycle hooks that hold instances in `Pending:Wait`,
//! `Terminating:Wait` and, with a warm pool, `Warmed:Pending:Wait`; heartbeat and global timeouts
//! with a default result, and "No active Lifecycle Action found" once an action is completed or
//! timed out. Instances launched into the warm pool wait there (`Warmed:Stopped`) until they are
//! moved into service by a second launch action; scale-ins may return instances to the pool.

use std::collections::BTreeMap;
use std::sync::Arc;

use asg_lifecycle::store::StateStore;
use async_trait::async_trait;
use futures::FutureExt;
use rand::Rng;

use super::exec::{Target, after_call, authorize, before_call};
use super::world::{Job, Millis, Shared, secs};
use asg_lifecycle::aws::{
    AutoScalingApi, AwsError, AwsErrorKind, CompleteLifecycleAction, LifecycleHeartbeat,
    LifecycleHook, WaitingInstance,
};
use asg_lifecycle::event::LifecycleTransition;

/// Where an instance is in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Held by the launch hook on its way into the warm pool.
    WarmedPendingWait,
    /// In the warm pool (stopped), not in service.
    Warmed,
    /// Held by the launch hook.
    PendingWait,
    /// In service.
    InService,
    /// Held by the terminate hook.
    TerminatingWait,
    /// Gone.
    Terminated,
}

/// How a lifecycle action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionEnd {
    /// Still held.
    Active,
    /// Completed by a `CompleteLifecycleAction` call.
    Completed {
        /// `CONTINUE` or `ABANDON`.
        result: String,
        /// When.
        at: Millis,
    },
    /// Timed out; the default result applied.
    TimedOut {
        /// When.
        at: Millis,
    },
}

/// One lifecycle action (a hook holding the instance).
#[derive(Clone, Debug)]
pub struct HookAction {
    /// The token.
    pub token: String,
    /// Launch (true) or terminate.
    pub launching: bool,
    /// True when the action moves the instance into the warm pool (`Destination: WarmPool`).
    pub into_pool: bool,
    /// When it started.
    pub started: Millis,
    /// The heartbeat deadline.
    pub deadline: Millis,
    /// The global deadline (100 heartbeat timeouts or 48 hours, whichever is less).
    pub global: Millis,
    /// How it ended.
    pub end: ActionEnd,
}

/// One instance of the group.
#[derive(Clone, Debug)]
pub struct SimInstance {
    /// Where it is.
    pub lifecycle: Lifecycle,
    /// Its lifecycle actions, oldest first.
    pub actions: Vec<HookAction>,
    /// When the launch started.
    pub launched_at: Millis,
    /// True when cloud-init never finishes on it.
    pub cloud_init_never: bool,
}

/// Group settings.
#[derive(Clone, Debug)]
pub struct GroupConfig {
    /// The group name.
    pub name: String,
    /// The hooks' heartbeat timeout.
    pub heartbeat_timeout_ms: Millis,
    /// The launch hook's default result.
    pub launch_default_result: String,
    /// Share of in-service instances scaled in again.
    pub scale_in_fraction: f64,
    /// How long an instance serves before it is scaled in: a range in milliseconds.
    pub lifetime_ms: (Millis, Millis),
    /// Share of launches that go into the warm pool first.
    pub warm_pool_fraction: f64,
    /// True when scale-ins return instances to the warm pool (`ReuseOnScaleIn`), while it holds
    /// fewer than `pool_capacity`.
    pub reuse_on_scale_in: bool,
    /// How many instances the warm pool holds at most: a scale-in beyond it terminates.
    pub pool_capacity: usize,
    /// How long a prepared instance waits in the warm pool before it is moved into service: a
    /// range in milliseconds.
    pub pool_stay_ms: (Millis, Millis),
}

/// The group's state.
#[derive(Clone, Debug)]
pub struct Group {
    /// Settings.
    pub config: GroupConfig,
    /// Instances by id.
    pub instances: BTreeMap<String, SimInstance>,
    /// Warm-pool places taken: by instances on their way into the pool or in it.
    pool_slots: usize,
}

impl Group {
    /// An empty group.
    #[must_use]
    pub fn new(config: GroupConfig) -> Self {
        Self {
            config,
            instances: BTreeMap::new(),
            pool_slots: 0,
        }
    }

    fn start_action(&self, token: String, launching: bool, now: Millis) -> HookAction {
        let hb = self.config.heartbeat_timeout_ms;
        HookAction {
            token,
            launching,
            into_pool: false,
            started: now,
            deadline: now + hb,
            global: now + (hb * 100).min(48 * 3600 * 1000),
            end: ActionEnd::Active,
        }
    }

    /// Launches an instance into `Pending:Wait`, or `Warmed:Pending:Wait` when it goes `into_pool`;
    /// returns the action's heartbeat deadline.
    pub fn launch(
        &mut self,
        ident: &str,
        token: String,
        cloud_init_never: bool,
        into_pool: bool,
        now: Millis,
    ) -> Millis {
        let action = HookAction {
            into_pool,
            ..self.start_action(token, true, now)
        };
        let deadline = action.deadline;
        self.pool_slots += usize::from(into_pool);
        self.instances.insert(
            ident.to_string(),
            SimInstance {
                lifecycle: if into_pool {
                    Lifecycle::WarmedPendingWait
                } else {
                    Lifecycle::PendingWait
                },
                actions: vec![action],
                launched_at: now,
                cloud_init_never,
            },
        );
        deadline
    }

    /// Moves a warm-pool instance into service: a new launch action holds it in `Pending:Wait`;
    /// the heartbeat deadline, or `None` when the instance is not in the pool.
    pub fn leave_pool(&mut self, ident: &str, token: String, now: Millis) -> Option<Millis> {
        let action = self.start_action(token, true, now);
        let instance = self.instances.get_mut(ident)?;
        if instance.lifecycle != Lifecycle::Warmed {
            return None;
        }
        let deadline = action.deadline;
        instance.lifecycle = Lifecycle::PendingWait;
        instance.actions.push(action);
        self.pool_slots = self.pool_slots.saturating_sub(1);
        Some(deadline)
    }

    /// Moves an in-service instance to `Terminating:Wait`, on its way to termination or back into
    /// the warm pool (when the group reuses instances and the pool has room); the heartbeat
    /// deadline and whether it returns to the pool, or `None` when the instance is not in service.
    pub fn scale_in(&mut self, ident: &str, token: String, now: Millis) -> Option<(Millis, bool)> {
        let into_pool =
            self.config.reuse_on_scale_in && self.pool_slots < self.config.pool_capacity;
        let action = HookAction {
            into_pool,
            ..self.start_action(token, false, now)
        };
        let instance = self.instances.get_mut(ident)?;
        if instance.lifecycle != Lifecycle::InService {
            return None;
        }
        let deadline = action.deadline;
        instance.lifecycle = Lifecycle::TerminatingWait;
        instance.actions.push(action);
        self.pool_slots += usize::from(into_pool);
        Some((deadline, into_pool))
    }

    /// The instance's active action matching `token` (any active one when no token is given).
    fn active_mut(
        &mut self,
        ident: &str,
        token: Option<&str>,
    ) -> Option<(&mut Lifecycle, &mut HookAction)> {
        let instance = self.instances.get_mut(ident)?;
        let action = instance.actions.last_mut()?;
        let matches = action.end == ActionEnd::Active && token.is_none_or(|t| t == action.token);
        matches.then_some((&mut instance.lifecycle, action))
    }

    /// Applies a lifecycle action's result to the instance: `CONTINUE` takes it where the action
    /// goes (into service, into the warm pool, or out); `ABANDON` terminates it.
    fn conclude(lifecycle: &mut Lifecycle, action: &HookAction, result: &str) {
        let continues = result == "CONTINUE";
        *lifecycle = match (action.launching, action.into_pool, continues) {
            (_, true, true) => Lifecycle::Warmed,
            (true, false, true) => Lifecycle::InService,
            _ => Lifecycle::Terminated,
        };
    }

    /// Times the action out when its deadline passed; returns whether it did.
    pub fn expire(&mut self, ident: &str, token: &str, now: Millis) -> bool {
        let default = self.config.launch_default_result.clone();
        let Some((lifecycle, action)) = self.active_mut(ident, Some(token)) else {
            return false;
        };
        if now < action.deadline.min(action.global) {
            return false;
        }
        action.end = ActionEnd::TimedOut { at: now };
        Self::conclude(lifecycle, action, &default);
        true
    }
}

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
            let (token, at, launching) = (
                action.token.clone(),
                action.deadline.min(action.global),
                action.launching,
            );
            (now >= at && s.group.expire(ident, &token, at)).then_some((at, launching))
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
            s.checker.trail(
                ident,
                now,
                format!("{OP} {} completed the action", input.result),
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
                format!("heartbeat: deadline now {}", secs(deadline)),
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
        let idents: Vec<String> = self.shared.lock().group.instances.keys().cloned().collect();
        for ident in &idents {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn group() -> Group {
        Group::new(GroupConfig {
            name: "g".into(),
            heartbeat_timeout_ms: 1000,
            launch_default_result: "ABANDON".into(),
            scale_in_fraction: 1.0,
            lifetime_ms: (10, 20),
            warm_pool_fraction: 0.0,
            reuse_on_scale_in: false,
            pool_capacity: 0,
            pool_stay_ms: (10, 20),
        })
    }

    #[test]
    fn an_action_times_out_with_the_default_result_only_after_its_deadline() {
        let mut g = group();
        g.launch("i-1", "t1".into(), false, false, 0);
        assert!(!g.expire("i-1", "t1", 999));
        assert!(g.expire("i-1", "t1", 1000));
        assert_eq!(g.instances["i-1"].lifecycle, Lifecycle::Terminated);
        assert!(
            !g.expire("i-1", "t1", 2000),
            "an ended action does not time out twice"
        );
    }

    #[test]
    fn scale_in_needs_an_instance_in_service() {
        let mut g = group();
        g.launch("i-1", "t1".into(), false, false, 0);
        assert_eq!(g.scale_in("i-1", "t2".into(), 5), None);
        let (lifecycle, _) = g.active_mut("i-1", Some("t1")).unwrap();
        *lifecycle = Lifecycle::InService;
        assert_eq!(g.scale_in("i-1", "t2".into(), 5), Some((1005, false)));
    }
}
