//! Simulated time, the queue of timed jobs and the state every simulated part shares.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::asg::Group;
use super::faults::FaultProfile;
use super::iam::{Deployment, Policy};
use super::invariants::Checker;
use super::latency::Latencies;
use super::ssm::Commands;
use asg_lifecycle::handler::{Clock, InstanceWork};
use asg_lifecycle::machine::Machine;
use asg_lifecycle::store::MemoryStore;
use std::future::Future;
use std::task::{Context, Poll};

/// Simulated time: milliseconds since the start of the run.
pub type Millis = i64;

/// Formats simulated time as seconds with one decimal, for trails and reports.
#[must_use]
pub fn secs(at: Millis) -> String {
    format!("{}.{}s", at / 1000, (at % 1000) / 100)
}

/// The simulated clock: the handler reads it through [`Clock`]. The runner moves the world's
/// time from job to job; inside an invocation, requests add their latency to that invocation's
/// own elapsed time (invocations run side by side, as Lambda runs them), so the handler sees
/// time pass while it works.
#[derive(Debug)]
pub struct SimClock {
    base: DateTime<Utc>,
    now: AtomicI64,
    elapsed: Arc<AtomicI64>,
    latest: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock at the start of the run (a fixed date, so runs are reproducible).
    #[must_use]
    pub fn new() -> Self {
        Self {
            base: DateTime::parse_from_rfc3339("2026-11-20T12:00:00Z")
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            now: AtomicI64::new(0),
            elapsed: Arc::new(AtomicI64::new(0)),
            latest: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Simulated milliseconds since the start, as the running invocation sees them.
    #[must_use]
    pub fn millis(&self) -> Millis {
        self.now.load(Ordering::Relaxed) + self.elapsed.load(Ordering::Relaxed)
    }

    /// The world's time, without the running invocation's elapsed time.
    #[must_use]
    pub fn world_millis(&self) -> Millis {
        self.now.load(Ordering::Relaxed)
    }

    /// The running invocation's elapsed time.
    #[must_use]
    pub fn elapsed(&self) -> Millis {
        self.elapsed.load(Ordering::Relaxed)
    }

    /// The running invocation's latest elapsed time over all its concurrent tasks: how long it
    /// has run.
    #[must_use]
    pub fn latest(&self) -> Millis {
        self.latest
            .load(Ordering::Relaxed)
            .max(self.elapsed.load(Ordering::Relaxed))
    }

    /// Switches to an invocation that has run for `elapsed` (0 outside invocations).
    pub fn set_elapsed(&self, elapsed: Millis) {
        self.elapsed.store(elapsed, Ordering::Relaxed);
        self.latest.store(elapsed, Ordering::Relaxed);
    }

    /// Lets the running invocation's time pass (a request's latency).
    pub fn pass(&self, ms: Millis) {
        self.elapsed.fetch_add(ms, Ordering::Relaxed);
    }

    /// Moves the clock (never backwards).
    pub fn set(&self, at: Millis) {
        self.now.fetch_max(at, Ordering::Relaxed);
    }

    /// The wall-clock form of a simulated time.
    #[must_use]
    pub fn at(&self, at: Millis) -> DateTime<Utc> {
        self.base + chrono::Duration::milliseconds(at)
    }
}

impl Default for SimClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        self.at(self.millis())
    }

    fn pause(&self, duration: std::time::Duration) -> futures::future::BoxFuture<'static, ()> {
        self.pass(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
        Box::pin(std::future::ready(()))
    }

    fn concurrently<'a>(&self, work: InstanceWork<'a>) -> InstanceWork<'a> {
        Box::pin(Lane {
            clock: self.elapsed.clone(),
            latest: self.latest.clone(),
            at: self.elapsed(),
            work,
        })
    }
}

/// One of several tasks an invocation runs at once, with its own elapsed time: its requests
/// take time on it alone. When it ends, the invocation goes on from its end (the next task takes
/// its place in the pool, as a worker would), and the invocation's latest end is kept.
struct Lane<'a> {
    clock: Arc<AtomicI64>,
    latest: Arc<AtomicI64>,
    at: Millis,
    work: InstanceWork<'a>,
}

impl Future for Lane<'_> {
    type Output = <InstanceWork<'static> as Future>::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let outer = self.clock.swap(self.at, Ordering::Relaxed);
        let polled = self.work.as_mut().poll(cx);
        self.at = self.clock.load(Ordering::Relaxed);
        self.latest.fetch_max(self.at, Ordering::Relaxed);
        let resumed = if polled.is_ready() { self.at } else { outer };
        self.clock.store(resumed, Ordering::Relaxed);
        polled
    }
}

/// A queued item's place in the heap: its time, its insertion number and where the item waits
/// (the heap moves these small entries, never the items).
#[derive(Clone, Copy)]
struct Entry {
    at: Millis,
    seq: u64,
    slot: usize,
}

impl Entry {
    /// Earlier time first, ties in insertion order (`seq` is unique: a total order).
    fn before(&self, other: &Self) -> bool {
        (self.at, self.seq) < (other.at, other.seq)
    }
}

/// Children per node of the heap: a shallower tree than a binary heap, whose children sit
/// side by side in memory (the queue holds tens of thousands of jobs in a large run).
const ARITY: usize = 4;

/// A priority queue of timed items: earliest first, ties in insertion order (deterministic).
pub struct Queue<T> {
    /// A min-heap of entries, `ARITY` children per node.
    heap: Vec<Entry>,
    /// The items, by slot; `None` for a free slot.
    slots: Vec<Option<T>>,
    /// Free slots, reused before new ones are added.
    free: Vec<usize>,
    seq: u64,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self {
            heap: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<T> Queue<T> {
    /// Schedules `item` at `at`.
    pub fn push(&mut self, at: Millis, item: T) {
        self.seq += 1;
        let slot = if let Some(slot) = self.free.pop() {
            self.slots[slot] = Some(item);
            slot
        } else {
            self.slots.push(Some(item));
            self.slots.len() - 1
        };
        let entry = Entry {
            at,
            seq: self.seq,
            slot,
        };
        // Sift up: move parents down until the entry's place is found.
        let mut at_index = self.heap.len();
        self.heap.push(entry);
        while at_index > 0 {
            let parent = (at_index - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[at_index] = self.heap[parent];
            at_index = parent;
        }
        self.heap[at_index] = entry;
    }

    /// Takes the earliest item.
    pub fn pop(&mut self) -> Option<(Millis, T)> {
        let last = self.heap.pop()?;
        let top = if self.heap.is_empty() {
            last
        } else {
            let top = self.heap[0];
            // Sift down: move the earliest child up until the last entry's place is found.
            let len = self.heap.len();
            let mut hole = 0;
            loop {
                let first = hole * ARITY + 1;
                if first >= len {
                    break;
                }
                let mut child = first;
                for c in first + 1..(first + ARITY).min(len) {
                    if self.heap[c].before(&self.heap[child]) {
                        child = c;
                    }
                }
                if !self.heap[child].before(&last) {
                    break;
                }
                self.heap[hole] = self.heap[child];
                hole = child;
            }
            self.heap[hole] = last;
            top
        };
        let item = self.slots[top.slot].take()?;
        self.free.push(top.slot);
        Some((top.at, item))
    }
}

/// Work the runner does at a simulated time.
#[derive(Clone, Debug)]
pub enum Job {
    /// Auto Scaling launches an instance (scale out).
    Launch {
        /// The instance.
        ident: String,
    },
    /// Cloud-init writes a state.
    CloudInit {
        /// The instance.
        ident: String,
        /// The state it writes.
        status: String,
    },
    /// An SSM command ends.
    CommandDone {
        /// The command.
        command_id: String,
    },
    /// A lifecycle action's heartbeat deadline may have passed.
    HookDeadline {
        /// The instance.
        ident: String,
        /// The action's token.
        token: String,
    },
    /// Auto Scaling scales an in-service instance in.
    ScaleIn {
        /// The instance.
        ident: String,
    },
    /// An invocation of the handler (several run overlapped).
    Deliver(Vec<super::runner::Delivery>),
    /// The scheduled `reconcile` rule fires (`attempt` 0), or a sweep is delivered again:
    /// EventBridge retrying a failed invoke, or Lambda retrying a failed asynchronous
    /// invocation (up to two retries, about one and two minutes later).
    Sweep {
        /// Lambda's attempt: 0 for the first invocation (the tick, or the tick EventBridge
        /// delivered late), then its two retries.
        attempt: u32,
        /// True for the schedule's tick itself (EventBridge may deliver it late).
        tick: bool,
        /// True for the rule's keepalive target, false for the sweep.
        keepalive: bool,
    },
    /// A warm-pool instance is moved into service.
    LeavePool {
        /// The instance.
        ident: String,
    },
    /// A hostile instance attacks its neighbours (`adversary.rs`).
    Attack {
        /// The hostile instance.
        ident: String,
    },
    /// The instance must have settled by now.
    SettleCheck {
        /// The instance.
        ident: String,
        /// The lifecycle action (count) the deadline belongs to.
        generation: usize,
    },
}

impl Job {
    /// True for jobs that keep the run going; the others (sweeps, deadlines, settle checks)
    /// only matter while some instance has not settled.
    #[must_use]
    pub fn is_work(&self) -> bool {
        !matches!(
            self,
            Self::Sweep { .. }
                | Self::HookDeadline { .. }
                | Self::SettleCheck { .. }
                | Self::Attack { .. }
        )
    }
}

/// What every simulated part shares, behind one lock (the run is single-threaded; the lock only
/// satisfies the `Send + Sync` bounds of the production traits).
pub struct WorldState {
    /// The fault random stream.
    pub rng: ChaCha8Rng,
    /// The fault probabilities in force (all zero once faults stop).
    pub faults: FaultProfile,
    /// The Auto Scaling group.
    pub group: Group,
    /// SSM commands.
    pub commands: Commands,
    /// Invariants, trails and counters.
    pub checker: Checker,
    /// Jobs the fakes scheduled, drained by the runner.
    pub outbox: Vec<(Millis, Job)>,
    /// AWS calls by operation.
    pub aws_calls: BTreeMap<String, u64>,
    /// Overlapped invocations: yield at every store or AWS call so that others can run.
    pub interleave: bool,
    /// The invocation being polled.
    pub current: usize,
    /// Per invocation being run: crash after this many more effects.
    pub crash_after: Vec<Option<u32>>,
    /// Invocations that crashed (their futures are dropped).
    pub crashed: Vec<usize>,
    /// Crashes injected.
    pub crashes: u64,
    /// AWS and store errors injected.
    pub injected_errors: u64,
    /// Request latencies.
    pub latencies: Latencies,
    /// The longest invocation, simulated milliseconds.
    pub longest_invocation_ms: Millis,
    /// Where the stack is deployed.
    pub deployment: Deployment,
    /// The function role of `template.yaml`: calls it does not allow are denied.
    pub iam: Policy,
    /// Calls the role denied, by action.
    pub denied_calls: BTreeMap<String, u64>,
    /// The calls the role allowed so far, by `action`, what the call touches and the instance
    /// for a command, joined by NUL characters: evaluating the policy on every simulated call
    /// dominated the run time.
    pub iam_allowed: foldhash::HashSet<String>,
    /// The key being looked up in `iam_allowed` (a buffer reused from call to call).
    pub iam_key: String,
    /// The instance profile's registration policy of `template.yaml`.
    pub instance_iam: Policy,
    /// What hostile instances tried.
    pub adversary: super::adversary::AdversaryCounts,
    /// True while the sweep's invocation runs.
    pub sweeping: bool,
    /// How long each invocation of the last batch run took, simulated milliseconds.
    pub last_elapsed: Vec<Millis>,
    /// The handler's store requests, by who made them (`event` or `sweep`) and operation.
    pub store_requests: BTreeMap<String, u64>,
}

/// The shared world: the clock, the in-memory store and the locked state.
pub struct Shared {
    /// The simulated clock.
    pub clock: Arc<SimClock>,
    /// The real in-memory store under the fault wrapper.
    pub memory: Arc<MemoryStore>,
    /// The model.
    pub machine: Arc<Machine>,
    state: Mutex<WorldState>,
}

impl Shared {
    /// A world for a seed.
    #[must_use]
    pub fn new(seed: u64, machine: Arc<Machine>, faults: FaultProfile, group: Group) -> Self {
        let checker = Checker::new(&machine);
        let deployment = Deployment::for_groups(&[group.config.name.as_str()]);
        let iam = Policy::from_template(&deployment)
            .unwrap_or_else(|e| panic!("template.yaml's role cannot be evaluated: {e}"));
        let instance_iam = Policy::instance_from_template(&deployment).unwrap_or_else(|e| {
            panic!("template.yaml's instance registration policy cannot be evaluated: {e}")
        });
        Self {
            clock: Arc::new(SimClock::new()),
            memory: Arc::new(MemoryStore::without_change_log()),
            machine,
            state: Mutex::new(WorldState {
                // A stream apart from the scenario's, so that fault draws do not shift it.
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17),
                faults,
                group,
                commands: Commands::default(),
                checker,
                outbox: Vec::new(),
                aws_calls: BTreeMap::new(),
                interleave: false,
                current: 0,
                crash_after: Vec::new(),
                crashed: Vec::new(),
                crashes: 0,
                injected_errors: 0,
                latencies: Latencies::NONE,
                longest_invocation_ms: 0,
                iam,
                deployment,
                denied_calls: BTreeMap::new(),
                iam_allowed: foldhash::HashSet::default(),
                iam_key: String::new(),
                instance_iam,
                adversary: super::adversary::AdversaryCounts::default(),
                sweeping: false,
                last_elapsed: Vec::new(),
                store_requests: BTreeMap::new(),
            }),
        }
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, WorldState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Now, in simulated milliseconds.
    #[must_use]
    pub fn now(&self) -> Millis {
        self.clock.millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_pops_earliest_first_and_ties_in_insertion_order() {
        let mut q = Queue::default();
        q.push(5, "b");
        q.push(1, "a");
        q.push(5, "c");
        assert_eq!(q.pop(), Some((1, "a")));
        assert_eq!(q.pop(), Some((5, "b")));
        assert_eq!(q.pop(), Some((5, "c")));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn queue_pops_in_time_then_insertion_order_whatever_the_pushes() {
        use rand::Rng;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut q = Queue::default();
        let mut expected = Vec::new();
        let mut popped = Vec::new();
        for n in 0..5_000_u32 {
            let at = rng.random_range(0..300);
            q.push(at, n);
            expected.push((at, n));
            if rng.random_range(0..3) == 0 {
                popped.extend(q.pop());
            }
        }
        while let Some(item) = q.pop() {
            popped.push(item);
        }
        // Pops interleaved with pushes: check against a queue that sorts each time.
        let mut reference = Vec::new();
        let mut pending: Vec<(Millis, u32)> = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in 0..5_000_u32 {
            let at = rng.random_range(0..300);
            pending.push((at, n));
            if rng.random_range(0..3) == 0 {
                pending.sort_by_key(|&(at, n)| std::cmp::Reverse((at, n)));
                reference.extend(pending.pop());
            }
        }
        pending.sort_by_key(|&(at, n)| std::cmp::Reverse((at, n)));
        while let Some(item) = pending.pop() {
            reference.push(item);
        }
        assert_eq!(popped, reference);
        assert_eq!(popped.len(), expected.len());
    }

    #[test]
    fn clock_never_goes_backwards() {
        let clock = SimClock::new();
        clock.set(10);
        clock.set(5);
        assert_eq!(clock.millis(), 10);
    }
}
