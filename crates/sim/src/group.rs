//! The model of an Auto Scaling group the simulator runs: instances, the lifecycle actions that
//! hold them (launch, terminate, into and out of the warm pool), heartbeat and global deadlines,
//! and where a completed or timed-out action takes the instance.

use super::instances::Instances;
use super::world::Millis;

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
    /// Instances by id, in id order.
    pub instances: Instances,
    /// Warm-pool places taken: by instances on their way into the pool or in it.
    pool_slots: usize,
}

impl Group {
    /// The instance a token belongs to, when it is not `ident`'s (only searched when `ident`
    /// has no action of that token).
    #[must_use]
    pub fn owner_of_foreign_token(&self, ident: &str, token: &str) -> Option<String> {
        let own = self
            .instances
            .get(ident)
            .is_some_and(|i| i.actions.iter().any(|a| a.token == token));
        if own {
            return None;
        }
        self.instances
            .iter()
            .find(|(_, i)| i.actions.iter().any(|a| a.token == token))
            .map(|(other, _)| other.clone())
    }

    /// An empty group.
    #[must_use]
    pub fn new(config: GroupConfig) -> Self {
        Self {
            config,
            instances: Instances::default(),
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
    pub(super) fn active_mut(
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
    pub(super) fn conclude(lifecycle: &mut Lifecycle, action: &HookAction, result: &str) {
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
