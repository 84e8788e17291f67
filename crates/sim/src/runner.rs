//! The discrete-event loop: pops timed jobs, moves the clock, runs the real handler on the
//! events the world emits, retries failed invocations, and checks the invariants.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::asg::{Group, GroupConfig, Lifecycle};
use super::dead_letters::{Injected, SimDeadLetters};
pub use super::delivery::Delivery;
use super::exec::Timer;
use super::faults::{FaultProfile, chance};
use super::report::{FaultCounts, Report};
use super::trail::TrailLine;
use super::world::{Job, Millis, Queue, Shared, secs};
use super::{Broken, SimAutoScaling, SimConfig, SimSsm, SimStore, adversary, cloud_init};
use asg_lifecycle::aws::AwsClients;
use asg_lifecycle::event::payload::{CommandStatusChange, LifecycleAction};
use asg_lifecycle::event::{CommandEventKind, CommandStatus};
use asg_lifecycle::handler::{HandlerConfig, LifecycleHandler};
use asg_lifecycle::invocation::Invoker;
use asg_lifecycle::record::InstanceRecord;
use asg_lifecycle::store::StateStore;

/// The simulated Auto Scaling group, named in its lifecycle events.
const SIM_GROUP: &str = "sim-asg";
/// The lifecycle hooks' notification metadata.
const SIM_NOTIFICATION_METADATA: &str = "{\"cluster\": \"sim\"}";

/// One run.
pub struct Runner {
    pub(super) config: SimConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) invoker: Invoker,
    pub(super) timer: Timer,
    pub(super) queue: Queue<Job>,
    pub(super) rng: ChaCha8Rng,
    pub(super) quiet: bool,
    pub(super) work: usize,
    pub(super) ids: u64,
    pub(super) fault_end: Millis,
    pub(super) settle_bound: Millis,
    pub(super) counts: FaultCounts,
    pub(super) lifecycles: usize,
    /// When the sweep last visited each record, and the longest gap between two visits.
    pub(super) sweep_visits: foldhash::HashMap<String, Millis>,
    pub(super) longest_sweep_gap: Millis,
    pub(super) dead_letters: Arc<SimDeadLetters>,
    pub(super) injected: Vec<Injected>,
    /// The SSM notifications the template's rule delivers.
    pub(super) notifications: Vec<CommandEventKind>,
    /// True when each sweep tick also invokes the keepalive pass (the template's second target).
    pub(super) keepalive: bool,
    /// The function's reserved concurrency (the template's): invocations beyond it are throttled.
    pub(super) concurrency: usize,
    /// The template's registration filters on the table's stream (none: no such mapping).
    pub(super) registration_filters: Vec<serde_json::Value>,
    /// The last stream sequence number given.
    pub(super) stream_sequence: u64,
    /// When cloud-init wrote the initial state, per instance.
    pub(super) cloud_init_done: foldhash::HashMap<String, Millis>,
    /// Hostile instances (`adversary.rs`).
    pub(super) hostile: foldhash::HashSet<String>,
    /// Until when each busy execution environment runs its invocation.
    pub(super) busy_until: Vec<Millis>,
}

impl Runner {
    /// Sets up the world of a run.
    #[must_use]
    pub fn new(config: SimConfig) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let group = Group::new(GroupConfig {
            name: SIM_GROUP.into(),
            heartbeat_timeout_ms: ms(config.heartbeat_timeout),
            launch_default_result: "ABANDON".into(),
            scale_in_fraction: config.scale_in_fraction,
            lifetime_ms: (ms(config.lifetime.0), ms(config.lifetime.1)),
            warm_pool_fraction: config.warm_pool,
            reuse_on_scale_in: config.warm_pool > 0.0,
            // A pool of a tenth of the group: most scale-ins beyond it terminate.
            pool_capacity: config.instances.div_ceil(10),
            // Moved into service one to ten minutes after it is prepared.
            pool_stay_ms: (60_000, 600_000),
        });
        let shared = Arc::new(Shared::new(
            config.seed,
            config.machine.clone(),
            config.faults.profile(),
            group,
        ));
        shared.lock().latencies = config.latencies;
        if config.broken == Some(Broken::LaxInstancePolicy) {
            let mut s = shared.lock();
            s.instance_iam = super::iam::Policy::update_whole_table(&s.deployment);
        }
        let aws = AwsClients {
            autoscaling: Arc::new(SimAutoScaling::new(shared.clone())),
            ssm: Arc::new(SimSsm::new(shared.clone())),
            extensions: Default::default(),
        };
        let store: Arc<dyn StateStore> = Arc::new(SimStore::new(shared.clone(), config.broken));
        let handler_config = HandlerConfig {
            sweep_rule: "reconcile".into(),
            // The simulated world has no real time to wait in: cloud-init ordering is the job of
            // the remembered lifecycle action and the sweep.
            initial_wait: Duration::ZERO,
            intent_lease: config.intent_lease,
            sweep_period: config.sweep_period,
            groups: vec![SIM_GROUP.into()],
            ..HandlerConfig::default()
        };
        if let Err(too_short) =
            handler_config.check_hook("sim-asg", "launch-hook", config.heartbeat_timeout)
        {
            // Said at start-up, as the deployment says it: the run cannot keep its hooks alive.
            shared
                .lock()
                .checker
                .violation("-", 0, format!("configuration: {too_short}"));
        }
        let dead_letters = Arc::new(SimDeadLetters::new(shared.clone()));
        let invoker = Invoker::new(
            LifecycleHandler::new(config.machine.clone(), store, aws)
                .with_config(handler_config)
                .with_clock(shared.clock.clone()),
        )
        .with_dead_letters(dead_letters.clone());
        let last_launch = ms(config.launch_interval) * i64::try_from(config.instances).unwrap_or(0);
        let fault_end = last_launch + ms(config.fault_window);
        let graph = config.machine.graph();
        let timeouts: Millis = graph.timeouts.iter().map(|(_, d)| ms(*d)).sum();
        let settle_bound = config
            .settle_bound
            .map_or(timeouts + 2 * ms(config.sweep_period) + 600_000, ms);
        Self {
            notifications: crate::rules::delivered_notifications(),
            keepalive: crate::rules::keepalive_target(),
            registration_filters: crate::rules::registration_filters(),
            stream_sequence: 0,
            cloud_init_done: foldhash::HashMap::default(),
            hostile: foldhash::HashSet::default(),
            concurrency: config
                .reserved_concurrency
                .unwrap_or_else(crate::rules::reserved_concurrency),
            busy_until: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            shared,
            invoker,
            timer: Timer::new(),
            queue: Queue::default(),
            quiet: false,
            work: 0,
            ids: 0,
            fault_end,
            settle_bound,
            counts: FaultCounts::default(),
            lifecycles: 0,
            sweep_visits: foldhash::HashMap::default(),
            longest_sweep_gap: 0,
            dead_letters,
            injected: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, at: Millis, job: Job) {
        if job.is_work() {
            self.work += 1;
        }
        self.queue.push(at, job);
    }

    pub(super) fn next_id(&mut self, kind: u16) -> String {
        self.ids += 1;
        crate::digits::event_id(self.config.seed, kind, self.ids)
    }

    pub(super) fn ms(d: Duration) -> Millis {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    /// Runs to the end; `progress(now, expected_end)` is called now and then.
    pub fn run(mut self, progress: &mut dyn FnMut(Millis, Millis)) -> Report {
        let started = std::time::Instant::now();
        let interval = Self::ms(self.config.launch_interval);
        for n in 0..self.config.instances {
            let at = interval * i64::try_from(n).unwrap_or(0);
            self.push(
                at,
                Job::Launch {
                    ident: format!("i-{:017x}", n + 1),
                },
            );
        }
        self.inject_poison();
        let period = Self::ms(self.config.sweep_period);
        self.queue.push(
            period,
            Job::Sweep {
                attempt: 0,
                tick: true,
                keepalive: false,
            },
        );
        let limit = self.fault_end
            + self.settle_bound
            + Self::ms(self.config.heartbeat_timeout) * 2
            + 3_600_000;
        let mut steps = 0_u64;
        let mut changed = true;
        let mut outbox = Vec::new();
        loop {
            if self.work == 0 && changed {
                changed = false;
                if self.all_settled() {
                    break;
                }
            }
            let Some((at, job)) = self.queue.pop() else {
                break;
            };
            changed |= matches!(job, Job::Sweep { .. });
            if at > limit {
                let now = self.shared.now();
                self.shared.lock().checker.violation(
                    "-",
                    now,
                    "the run did not end within its time limit",
                );
                break;
            }
            if !self.quiet && at >= self.fault_end {
                self.quiet = true;
                self.shared.lock().faults = FaultProfile::default();
            }
            self.shared.clock.set(at);
            if job.is_work() {
                self.work -= 1;
            }
            self.step(job);
            // The fakes' jobs, through a buffer kept from step to step.
            std::mem::swap(&mut self.shared.lock().outbox, &mut outbox);
            for (at, job) in outbox.drain(..) {
                self.push(at, job);
            }
            steps += 1;
            if steps.is_multiple_of(2048) {
                progress(at, self.fault_end);
            }
        }
        progress(self.fault_end, self.fault_end);
        self.finish(started)
    }

    /// True when every instance has settled (no hook holds it; group and store agree).
    fn all_settled(&self) -> bool {
        let s = self.shared.lock();
        // Cheap first: an instance still held by a hook has not settled.
        if s.group.instances.values().any(|i| {
            matches!(
                i.lifecycle,
                Lifecycle::PendingWait | Lifecycle::TerminatingWait
            )
        }) {
            return false;
        }
        s.group.instances.iter().all(|(ident, instance)| {
            let record = self
                .shared
                .memory
                .get(ident)
                .now_or_never()
                .and_then(Result::ok)
                .flatten();
            s.checker.settled(instance, record.as_ref()).is_ok()
        })
    }

    pub(super) fn record(&self, ident: &str) -> Option<InstanceRecord> {
        self.shared
            .memory
            .get(ident)
            .now_or_never()
            .and_then(Result::ok)
            .flatten()
    }

    fn step(&mut self, job: Job) {
        let now = self.shared.now();
        match job {
            Job::Launch { ident } => self.launch(&ident, now),
            Job::CloudInit { ident, status } => {
                let old = cloud_init::registered_status(&self.shared.memory, &ident);
                let attributes = if self.hostile.contains(&ident) {
                    let victim =
                        adversary::pick_victim(&self.shared, &ident, cloud_init::address_of);
                    adversary::boot_registration(&ident, &status, victim.as_ref())
                } else {
                    cloud_init::honest_registration(&ident, &status)
                };
                cloud_init::write(&self.shared, &ident, &attributes, now);
                let wrote = status.clone();
                self.shared.lock().checker.trail(
                    &ident,
                    now,
                    TrailLine::lazy(move |f| write!(f, "cloud-init wrote `{wrote}`")),
                );
                if status == self.config.machine.graph().initial {
                    self.cloud_init_done.insert(ident.clone(), now);
                }
                self.stream_change(&ident, old.as_deref(), &status, &attributes);
            }
            Job::CommandDone { command_id } => self.command_done(&command_id),
            Job::HookDeadline { ident, token } => {
                let expired = {
                    let mut s = self.shared.lock();
                    let expired = s.group.expire(&ident, &token, now);
                    expired.then(|| {
                        s.group.instances[&ident]
                            .actions
                            .last()
                            .is_some_and(|a| a.launching)
                    })
                };
                if let Some(launching) = expired {
                    let record = self.record(&ident);
                    self.shared
                        .lock()
                        .checker
                        .on_timeout(&ident, now, launching, record.as_ref());
                }
            }
            Job::ScaleIn { ident } => self.scale_in(&ident, now),
            Job::Attack { ident } => {
                let victim = adversary::pick_victim(&self.shared, &ident, cloud_init::address_of);
                let failure = self.config.machine.graph().failure.clone();
                adversary::attack(&self.shared, &ident, victim.as_ref(), &failure, now);
            }
            Job::LeavePool { ident } => self.leave_pool(&ident, now),
            Job::Deliver(batch) => self.deliver(batch),
            Job::Sweep {
                attempt,
                tick,
                keepalive,
            } => self.sweep(now, attempt, tick, keepalive),
            Job::SettleCheck { ident, generation } => {
                let record = self.record(&ident);
                let mut s = self.shared.lock();
                let instance = &s.group.instances[&ident];
                let unsettled = if instance.actions.len() == generation {
                    s.checker.settled(instance, record.as_ref()).err()
                } else {
                    None
                };
                if let Some(problem) = unsettled {
                    {
                        let bound = secs(self.settle_bound);
                        s.checker.violation(
                            &ident,
                            now,
                            format!("not settled within {bound} after faults stopped: {problem}"),
                        );
                    }
                }
            }
        }
    }

    fn settle_check(&mut self, ident: &str, now: Millis, generation: usize, extra: Millis) {
        let at = now.max(self.fault_end) + self.settle_bound + extra;
        self.push(
            at,
            Job::SettleCheck {
                ident: ident.to_string(),
                generation,
            },
        );
    }

    fn launch(&mut self, ident: &str, now: Millis) {
        let token = self.next_id(0x7000);
        let plan = {
            let s = self.shared.lock();
            let never = s.faults.cloud_init_never;
            cloud_init::plan(&mut self.rng, self.config.machine.graph(), never)
        };
        let into_pool = {
            let mut s = self.shared.lock();
            let p = s.group.config.warm_pool_fraction;
            chance(&mut s.rng, p)
        };
        let hostile = {
            let mut s = self.shared.lock();
            let p = s.faults.adversaries;
            let hostile = chance(&mut s.rng, p);
            if hostile {
                s.adversary.hostile += 1;
                s.checker
                    .trail(ident, now, "hostile: its workload is compromised");
            }
            hostile
        };
        if hostile {
            self.hostile.insert(ident.to_string());
            let at = now + self.rng.random_range(120_000..=900_000);
            self.push(
                at,
                Job::Attack {
                    ident: ident.to_string(),
                },
            );
        }
        let deadline = {
            let mut s = self.shared.lock();
            s.checker.register(ident);
            let place = if into_pool {
                "scale out: launched into the warm pool (Warmed:Pending:Wait)"
            } else {
                "scale out: launched into Pending:Wait"
            };
            s.checker.trail(ident, now, place);
            s.group
                .launch(ident, token.clone(), plan.never_finishes, into_pool, now)
        };
        self.lifecycles += 1;
        self.queue.push(
            deadline,
            Job::HookDeadline {
                ident: ident.to_string(),
                token: token.clone(),
            },
        );
        for (at, job) in cloud_init::jobs(&plan, ident, now) {
            self.push(at, job);
        }
        let extra = if plan.never_finishes {
            Self::ms(self.config.heartbeat_timeout)
        } else {
            0
        };
        self.settle_check(ident, now, 1, extra);
        let id = self.next_id(0x1000);
        let destination = if into_pool {
            "WarmPool"
        } else {
            "AutoScalingGroup"
        };
        let event = LifecycleAction::launching(&id, ident)
            .group(SIM_GROUP)
            .token(&token)
            .notification_metadata(SIM_NOTIFICATION_METADATA)
            .moves("EC2", destination)
            .at(self.shared.clock.at(now));
        self.emit((event.text(), &id), ident, "launch event", false);
    }

    /// Moves a prepared warm-pool instance into service: a second launch action.
    fn leave_pool(&mut self, ident: &str, now: Millis) {
        let token = self.next_id(0x7000);
        let moved = {
            let mut s = self.shared.lock();
            let deadline = s.group.leave_pool(ident, token.clone(), now);
            if deadline.is_some() {
                s.checker
                    .trail(ident, now, "leaves the warm pool: Pending:Wait");
            }
            deadline.map(|d| (d, s.group.instances[ident].actions.len()))
        };
        let Some((deadline, generation)) = moved else {
            return;
        };
        let id = self.next_id(0x1000);
        let event = LifecycleAction::launching(&id, ident).moves("WarmPool", "AutoScalingGroup");
        let started = (now, deadline, generation);
        self.announce(
            ident,
            &token,
            started,
            event,
            "launch event (from the warm pool)",
        );
    }

    /// A lifecycle action Auto Scaling started at `now` (heartbeat deadline, the instance's
    /// action count): its deadline, its settle check, and its event on its way.
    fn announce(
        &mut self,
        ident: &str,
        token: &str,
        (now, deadline, generation): (Millis, Millis, usize),
        event: LifecycleAction,
        label: &str,
    ) {
        self.lifecycles += 1;
        self.queue.push(
            deadline,
            Job::HookDeadline {
                ident: ident.to_string(),
                token: token.to_string(),
            },
        );
        self.settle_check(ident, now, generation, 0);
        let event = event
            .group(SIM_GROUP)
            .token(token)
            .notification_metadata(SIM_NOTIFICATION_METADATA)
            .at(self.shared.clock.at(now));
        self.emit((event.text(), event.id()), ident, label, false);
    }

    fn scale_in(&mut self, ident: &str, now: Millis) {
        let token = self.next_id(0x7000);
        let scaled = {
            let mut s = self.shared.lock();
            let deadline = s.group.scale_in(ident, token.clone(), now);
            let into_pool = deadline.is_some_and(|(_, into_pool)| into_pool);
            if deadline.is_some() {
                let place = if into_pool {
                    "scale in: Terminating:Wait, back to the warm pool"
                } else {
                    "scale in: Terminating:Wait"
                };
                s.checker.trail(ident, now, place);
            }
            deadline.map(|(d, into_pool)| (d, s.group.instances[ident].actions.len(), into_pool))
        };
        let Some((deadline, generation, into_pool)) = scaled else {
            return;
        };
        let id = self.next_id(0x2000);
        let destination = if into_pool { "WarmPool" } else { "EC2" };
        let event = LifecycleAction::terminating(&id, ident).moves("AutoScalingGroup", destination);
        self.announce(
            ident,
            &token,
            (now, deadline, generation),
            event,
            "terminate event",
        );
    }

    fn command_done(&mut self, command_id: &str) {
        let now = self.shared.now();
        let Some(command) = self.shared.lock().commands.by_id.get(command_id).cloned() else {
            return;
        };
        let at = self.shared.clock.at(now);
        let mut deliveries = Vec::new();
        for kind in self.notifications.clone() {
            let id = self.next_id(0x3000);
            let event =
                CommandStatusChange::new(&id, &command.instance, command_id, command.outcome)
                    .kind(kind)
                    .document(&command.document)
                    .at(at);
            let kind_name = match kind {
                CommandEventKind::Command => "Command",
                CommandEventKind::Invocation => "Invocation",
            };
            let label = [
                "SSM ",
                kind_name,
                " ",
                command.outcome.as_str(),
                " ",
                command_id,
            ]
            .concat();
            deliveries.extend(self.plan_delivery(
                (event.text(), &id),
                &command.instance,
                &label,
                true,
            ));
        }
        let overlap = {
            let mut s = self.shared.lock();
            let p = s.faults.overlap;
            chance(&mut s.rng, p)
        };
        if overlap && deliveries.len() == 2 {
            let at = deliveries.iter().map(|(at, _)| *at).max().unwrap_or(now);
            let batch = deliveries.into_iter().map(|(_, d)| d).collect();
            self.push(at, Job::Deliver(batch));
        } else {
            for (at, d) in deliveries {
                self.push(at, Job::Deliver(vec![d]));
            }
        }
        debug_assert!(command.outcome != CommandStatus::InProgress);
    }
}
